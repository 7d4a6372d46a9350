#include "tools/sieve/tokenize_command.h"

#include <memory>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "engine/text/tokenizer/tokenizer.h"
#include "tools/sieve/jsonl_io.h"

namespace sieve {
namespace {

using json = nlohmann::ordered_json;

struct Opts {
  std::string tokenizer;
  std::string input;
  std::string output = "-";
  bool decode = false;
  bool add_special_tokens = false;
  bool skip_special_tokens = false;
  bool tokens = false;
};

Result<json> encode_line(const Tokenizer& tok, const Opts& o, const json& j) {
  if (!j.contains("text") || !j["text"].is_string()) {
    return invalid_argument("each line needs \"text\": a string (or use --decode for ids)");
  }
  SIEVE_ASSIGN_OR_RETURN(std::vector<int32_t> ids,
                         tok.encode(j["text"].get<std::string>(), o.add_special_tokens));
  json out = json::object();
  if (j.contains("id")) out["id"] = j["id"];
  out["ids"] = ids;
  if (o.tokens) {
    json names = json::array();
    for (int32_t id : ids)
      names.push_back(tok.id_to_token(id).value_or(""));
    out["tokens"] = std::move(names);
  }
  return out;
}

Result<json> decode_line(const Tokenizer& tok, const Opts& o, const json& j) {
  if (!j.contains("ids") || !j["ids"].is_array()) {
    return invalid_argument("each line needs \"ids\": a list of token ids (--decode)");
  }
  std::vector<int32_t> ids;
  for (const json& v : j["ids"]) {
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() >= tok.vocab_size()) {
      return invalid_argument("\"ids\" must hold token ids in [0, " +
                              std::to_string(tok.vocab_size()) + "), got " + v.dump());
    }
    ids.push_back(static_cast<int32_t>(v.get<int64_t>()));
  }
  SIEVE_ASSIGN_OR_RETURN(std::string text, tok.decode(ids, o.skip_special_tokens));
  json out = json::object();
  if (j.contains("id")) out["id"] = j["id"];
  out["text"] = std::move(text);
  return out;
}

void run(const Opts& o) {
  auto tok = Tokenizer::load(o.tokenizer);
  if (!tok.ok()) {
    spdlog::error("{}", tok.status().message());
    throw CLI::RuntimeError(1);
  }
  auto files = JsonlFiles::open(o.input, o.output);
  if (!files.ok()) {
    spdlog::error("{}", files.status().message());
    throw CLI::RuntimeError(1);
  }
  int64_t lines = 0, errors = 0;
  const bool written = (*files)->map_objects(
      [&](const json& j) { return o.decode ? decode_line(**tok, o, j) : encode_line(**tok, o, j); },
      lines, errors);
  if (!written) {
    spdlog::error("writing --output {} failed", o.output);
    throw CLI::RuntimeError(1);
  }
  spdlog::info("{} {} lines ({} errors) with {}", o.decode ? "decoded" : "encoded", lines, errors,
               o.tokenizer);
}

}  // namespace

void add_tokenize_command(CLI::App& app) {
  auto o = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand(
      "tokenize",
      "Encode text to token ids (or --decode ids to text) with a Hugging Face tokenizer.json. "
      "One JSON object per line in, one per line out, in order; a line that fails gets "
      "{\"id\", \"error\"}.");
  cmd->add_option("--tokenizer", o->tokenizer,
                  "tokenizer.json, or a model directory that holds one")
      ->required();
  cmd->add_option("--input", o->input,
                  "JSONL ('-' = stdin): {\"text\": \"...\"} per line, or {\"ids\": [...]} with "
                  "--decode; an \"id\" field is echoed back")
      ->required();
  cmd->add_option("--output", o->output,
                  "JSONL ('-' = stdout): {\"ids\": [...]} per line, or {\"text\": \"...\"} "
                  "with --decode")
      ->capture_default_str();
  cmd->add_flag("--decode", o->decode, "Token ids to text instead of text to ids");
  cmd->add_flag("--add-special-tokens", o->add_special_tokens,
                "Encode: run the tokenizer's post-processor (e.g. prepend BOS), as "
                "transformers' add_special_tokens=True");
  cmd->add_flag("--skip-special-tokens", o->skip_special_tokens,
                "Decode: leave out special tokens (e.g. <|im_end|>)");
  cmd->add_flag("--tokens", o->tokens,
                "Encode: also write \"tokens\", each id's vocabulary string");
  cmd->callback([o]() { run(*o); });
}

}  // namespace sieve
