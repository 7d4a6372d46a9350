// CPU backend ops that are not whole kernels of kernels/cpu: combine_rows against a plain loop,
// copy_from_host.
#include "engine/backends/cpu_backend.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace sieve {
namespace {

TEST(CpuBackend, CombineRowsIsTheWeightedSumInJOrder) {
  CpuBackend be(2);
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> val(-2.f, 2.f);
  for (const auto& [tokens, k, hidden, src_rows] :
       std::vector<std::tuple<int64_t, int64_t, int64_t, int64_t>>{
           {0, 2, 8, 3}, {1, 1, 5, 1}, {7, 3, 33, 10}, {64, 8, 128, 512}}) {
    SCOPED_TRACE(testing::Message() << tokens << "x" << k << " hidden " << hidden);
    Tensor src = be.alloc({src_rows, hidden}, DType::kF32);
    for (int64_t i = 0; i < src.numel(); ++i)
      src.data<float>()[i] = val(rng);
    Tensor rows = be.alloc({tokens * k}, DType::kI32);
    Tensor weights = be.alloc({tokens, k}, DType::kF32);
    std::uniform_int_distribution<int32_t> pick(0, static_cast<int32_t>(src_rows - 1));
    for (int64_t i = 0; i < tokens * k; ++i) {
      rows.data<int32_t>()[i] = pick(rng);
      weights.data<float>()[i] = val(rng);
    }
    Tensor out = be.alloc({tokens, hidden}, DType::kF32);
    be.combine_rows(src, rows, weights, out);
    for (int64_t t = 0; t < tokens; ++t) {
      for (int64_t h = 0; h < hidden; ++h) {
        float want = 0.f;
        for (int64_t j = 0; j < k; ++j) {
          want += weights.data<float>()[t * k + j] *
                  src.data<float>()[rows.data<int32_t>()[t * k + j] * hidden + h];
        }
        ASSERT_EQ(out.data<float>()[t * hidden + h], want) << "token " << t << " feature " << h;
      }
    }
  }
}

TEST(CpuBackend, CopyFromHost) {
  CpuBackend be(1);
  const std::vector<int32_t> host = {3, -1, 7, 1 << 30};
  Tensor t = be.alloc({2, 2}, DType::kI32);
  be.copy_from_host(host.data(), t);
  std::vector<int32_t> back(4);
  be.copy_to_host(t, back.data());
  EXPECT_EQ(back, host);
  Tensor empty = be.alloc({0}, DType::kI32);
  be.copy_from_host(nullptr, empty);  // nothing to copy, nothing read
}

}  // namespace
}  // namespace sieve
