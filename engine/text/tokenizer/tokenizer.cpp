// Loading tokenizer.json and running the encode / decode pipelines.
#include "engine/text/tokenizer/tokenizer.h"

#include <fstream>
#include <sstream>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "engine/text/tokenizer/added_tokens.h"
#include "engine/text/tokenizer/bpe_model.h"
#include "engine/text/tokenizer/decoders.h"
#include "engine/text/tokenizer/normalizers.h"
#include "engine/text/tokenizer/post_processors.h"
#include "engine/text/tokenizer/pre_tokenizers.h"
#include "engine/text/tokenizer/utf8.h"

namespace sieve {
namespace {

using nlohmann::json;
using namespace tok;  // NOLINT: this file is the tokenizer's own glue

class HfTokenizer final : public Tokenizer {
 public:
  static Result<std::shared_ptr<const Tokenizer>> build(const json& j, std::string_view origin);

  Result<std::vector<int32_t>> encode(std::string_view text,
                                      bool add_special_tokens) const override;
  Result<std::string> decode(std::span<const int32_t> ids, bool skip_special_tokens) const override;
  int32_t vocab_size() const override { return vocab_size_; }
  std::optional<int32_t> token_to_id(std::string_view token) const override;
  std::optional<std::string> id_to_token(int32_t id) const override;
  bool is_special(int32_t id) const override { return id >= 0 && id < vocab_size_ && special_[id]; }

 private:
  // Normalises, pre-tokenises and encodes text that holds no raw-matched added token.
  void encode_text(std::string_view text, bool at_origin, std::vector<int32_t>& out) const;
  void encode_normalized(std::string_view text, bool at_origin, std::vector<int32_t>& out) const;
  const std::string* token_string(int32_t id) const;

  std::unique_ptr<Normalizer> normalizer_;
  PreTokenizerConfig pre_;
  std::unique_ptr<BpeModel> model_;
  std::unique_ptr<PostProcessor> post_;
  std::unique_ptr<Decoder> decoder_;
  AddedTokenMatcher raw_added_;         // matched on the input, before normalisation
  AddedTokenMatcher normalized_added_;  // matched on normalised text
  std::unordered_map<int32_t, std::string> added_by_id_;
  StringIdMap added_by_content_;
  std::vector<bool> special_;
  int32_t vocab_size_ = 0;
};

// Truncation and padding change what encode returns; sieve does neither, so a file that asks
// for them is refused rather than silently ignored.
Status check_top_level(const json& j, const std::string& where) {
  for (const char* key : {"truncation", "padding"}) {
    if (j.contains(key) && !j.at(key).is_null()) {
      return unimplemented(where + ": " + key + " is not supported (set it to null)");
    }
  }
  return Status::Ok();
}

Result<std::shared_ptr<const Tokenizer>> HfTokenizer::build(const json& j,
                                                            std::string_view origin) {
  const std::string where(origin);
  SIEVE_RETURN_IF_ERROR(check_top_level(j, where));
  auto t = std::make_shared<HfTokenizer>();
  SIEVE_ASSIGN_OR_RETURN(t->normalizer_, parse_normalizer(j.value("normalizer", json()), origin));
  SIEVE_ASSIGN_OR_RETURN(t->pre_, parse_pre_tokenizer(j.value("pre_tokenizer", json()), origin));
  if (!j.contains("model")) return invalid_argument(where + ": no model");
  SIEVE_ASSIGN_OR_RETURN(t->model_, BpeModel::from_json(j.at("model"), origin));
  if (t->pre_.byte_level_last) t->model_->use_raw_bytes();
  SIEVE_ASSIGN_OR_RETURN(t->post_, parse_post_processor(j.value("post_processor", json()), origin));
  SIEVE_ASSIGN_OR_RETURN(t->decoder_, parse_decoder(j.value("decoder", json()), origin));

  std::vector<AddedToken> raw, normalized;
  int32_t max_id = t->model_->vocab_size() - 1;
  if (j.contains("added_tokens")) {
    for (const json& a : j.at("added_tokens")) {
      AddedToken tok;
      tok.id = a.at("id").get<int32_t>();
      tok.content = a.at("content").get<std::string>();
      tok.special = a.value("special", false);
      tok.lstrip = a.value("lstrip", false);
      tok.rstrip = a.value("rstrip", false);
      tok.normalized = a.value("normalized", !tok.special);
      tok.single_word = a.value("single_word", false);
      if (tok.id < 0) return invalid_argument(where + ": added token with negative id");
      if (!is_valid_utf8(tok.content)) {
        return invalid_argument(where + ": added token " + std::to_string(tok.id) +
                                " is not valid UTF-8");
      }
      max_id = std::max(max_id, tok.id);
      t->added_by_id_[tok.id] = tok.content;
      t->added_by_content_[tok.content] = tok.id;
      if (tok.normalized && t->normalizer_) {
        // Matched after normalisation, so in its normalised form.
        t->normalizer_->normalize(tok.content);
        normalized.push_back(std::move(tok));
      } else {
        raw.push_back(std::move(tok));
      }
    }
  }
  t->vocab_size_ = max_id + 1;
  t->special_.assign(t->vocab_size_, false);
  if (j.contains("added_tokens")) {
    for (const json& a : j.at("added_tokens")) {
      if (a.value("special", false)) t->special_[a.at("id").get<int32_t>()] = true;
    }
  }
  t->raw_added_ = AddedTokenMatcher(std::move(raw));
  t->normalized_added_ = AddedTokenMatcher(std::move(normalized));
  return std::shared_ptr<const Tokenizer>(std::move(t));
}

void HfTokenizer::encode_normalized(std::string_view text, bool at_origin,
                                    std::vector<int32_t>& out) const {
  thread_local PreTokens p;
  p.text.assign(text);
  p.pieces.clear();
  if (!text.empty()) p.pieces.push_back({0, static_cast<uint32_t>(text.size()), at_origin});
  if (pre_.pre_tokenizer) pre_.pre_tokenizer->pre_tokenize(p);
  for (const Piece& piece : p.pieces)
    model_->tokenize(p.view(piece), out);
}

void HfTokenizer::encode_text(std::string_view text, bool at_origin,
                              std::vector<int32_t>& out) const {
  if (!normalizer_) {
    encode_normalized(text, at_origin, out);
    return;
  }
  std::string norm(text);
  normalizer_->normalize(norm);
  if (normalized_added_.empty()) {
    encode_normalized(norm, at_origin, out);
    return;
  }
  std::vector<Segment> segs;
  normalized_added_.split(norm, segs);
  for (const Segment& s : segs) {
    if (s.token >= 0) {
      out.push_back(s.token);
    } else {
      encode_normalized(std::string_view(norm).substr(s.begin, s.end - s.begin),
                        at_origin && s.begin == 0, out);
    }
  }
}

Result<std::vector<int32_t>> HfTokenizer::encode(std::string_view text,
                                                 bool add_special_tokens) const {
  if (!is_valid_utf8(text)) return invalid_argument("encode: text is not valid UTF-8");
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  if (raw_added_.empty()) {
    encode_text(text, true, ids);
  } else {
    std::vector<Segment> segs;
    raw_added_.split(text, segs);
    for (const Segment& s : segs) {
      if (s.token >= 0) {
        ids.push_back(s.token);
      } else {
        encode_text(text.substr(s.begin, s.end - s.begin), s.begin == 0, ids);
      }
    }
  }
  if (add_special_tokens && post_) post_->process(ids);
  return ids;
}

const std::string* HfTokenizer::token_string(int32_t id) const {
  if (!added_by_id_.empty()) {
    auto it = added_by_id_.find(id);
    if (it != added_by_id_.end()) return &it->second;
  }
  return model_->id_to_token(id);
}

Result<std::string> HfTokenizer::decode(std::span<const int32_t> ids,
                                        bool skip_special_tokens) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids) {
    if (id < 0 || id >= vocab_size_) {
      return invalid_argument("decode: id " + std::to_string(id) +
                              " is outside the vocabulary [0, " + std::to_string(vocab_size_) +
                              ")");
    }
    if (skip_special_tokens && special_[id]) continue;
    const std::string* s = token_string(id);
    if (s != nullptr) tokens.push_back(*s);
  }
  if (!decoder_) {
    std::string out;
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i > 0) out.push_back(' ');
      out += tokens[i];
    }
    return out;
  }
  decoder_->decode_chain(tokens);
  std::string out;
  for (const std::string& s : tokens)
    out += s;
  return out;
}

std::optional<int32_t> HfTokenizer::token_to_id(std::string_view token) const {
  auto it = added_by_content_.find(token);
  if (it != added_by_content_.end()) return it->second;
  return model_->token_to_id(token);
}

std::optional<std::string> HfTokenizer::id_to_token(int32_t id) const {
  const std::string* s = token_string(id);
  if (s == nullptr) return std::nullopt;
  return *s;
}

}  // namespace

Result<std::shared_ptr<const Tokenizer>> Tokenizer::from_json(std::string_view text,
                                                              std::string_view origin) {
  const std::string where(origin);
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    return data_loss(where + ": not valid JSON: " + e.what());
  }
  try {
    return HfTokenizer::build(j, origin);
  } catch (const json::exception& e) {
    return invalid_argument(where + ": unexpected structure: " + e.what());
  }
}

Result<std::shared_ptr<const Tokenizer>> Tokenizer::load(const std::filesystem::path& path) {
  std::filesystem::path file = path;
  if (std::filesystem::is_directory(file)) file /= "tokenizer.json";
  std::ifstream in(file, std::ios::binary);
  if (!in) return not_found("tokenizer: cannot open " + file.string());
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) return data_loss("tokenizer: read error on " + file.string());
  return from_json(buf.str(), file.string());
}

}  // namespace sieve
