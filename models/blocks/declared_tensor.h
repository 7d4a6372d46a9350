// What a block says about each tensor it reads: its name and shape as the checkpoint holds it,
// how a random-weight model fills it, and how much of it a token reads. Parameter counts, what
// each rank of an expert-parallel run holds, checkpoint validation and random weights are all
// derived from these declarations, so a new block needs no formula anywhere else.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sieve {

// How a random-weight model initialises the tensor (models/random_init.h gives each its scale).
enum class InitRole : uint8_t {
  kNorm,         // an RMSNorm weight: 1, as at initialisation
  kEmbedding,    // the token embedding table
  kLinear,       // a projection that keeps its input's RMS
  kResidualOut,  // a projection whose output joins the residual stream (o_proj, down): shrunk
                 // with depth so the stream stays O(1)
  kRouter,       // a router's gate [experts, hidden]: filled as kLinear, unless a synthetic
                 // routing skew scales its rows per expert (models/router_skew.h)
  kBias,         // a bias or an attention sink: small values (zero at initialisation in
                 // training code; non-zero here so a random model exercises them)
};

// How much of the tensor one token's forward pass reads.
enum class ParamUse : uint8_t {
  kEveryToken,       // all of it
  kRoutedExpert,     // one routed expert's: a token reads top_k of the layer's experts
  kTableRow,         // an embedding table: one row
  kTableRowAndHead,  // an embedding table that is also the lm_head: one row, then all of it
};

struct DeclaredTensor {
  std::string name;
  std::vector<int64_t> shape;
  InitRole init = InitRole::kLinear;
  ParamUse use = ParamUse::kEveryToken;
  // kRoutedExpert: the expert's number (expert parallelism splits by it), or -1 for a tensor
  // that stacks every expert of the layer along its first dimension.
  int64_t expert = -1;
  // Stored plain as [..., in, out] (multiplied as x @ W, as gpt-oss's stacked experts are); a
  // quantized copy stores the transpose [..., out, in], quantized along the in-features as
  // every quantized matrix is (the released mxfp4 layout).
  bool in_major = false;

  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : shape)
      n *= d;
    return n;
  }
};

// A model's tensors in checkpoint order: the order random weights are numbered in, so a block
// must keep the order it declares them in.
using TensorList = std::vector<DeclaredTensor>;

}  // namespace sieve
