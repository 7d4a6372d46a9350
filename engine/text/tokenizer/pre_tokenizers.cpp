#include "engine/text/tokenizer/pre_tokenizers.h"

#include <nlohmann/json.hpp>

#include "engine/text/tokenizer/byte_level.h"
#include "engine/text/tokenizer/split.h"
#include "engine/text/tokenizer/utf8.h"

namespace sieve::tok {
namespace {

using nlohmann::json;

// GPT-2's pre-tokenisation regex, used by ByteLevel with use_regex.
constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
// Whitespace: words and runs of punctuation (Rust regex `\w+|[^\w\s]+`).
constexpr const char* kWhitespacePattern = R"(\w+|[^\w\s]+)";

// Rebuilds p.text piece by piece: fn(view, at_origin, out) appends a piece's new text.
template <class Fn>
void transform(PreTokens& p, const Fn& fn) {
  std::string text;
  text.reserve(p.text.size() + p.text.size() / 4);
  for (Piece& piece : p.pieces) {
    const auto begin = static_cast<uint32_t>(text.size());
    fn(p.view(piece), piece.at_origin, text);
    piece.begin = begin;
    piece.end = static_cast<uint32_t>(text.size());
  }
  p.text.swap(text);
  std::erase_if(p.pieces, [](const Piece& x) { return x.begin == x.end; });
}

// Matches every character for which pred holds, one match per character.
template <class Pred>
auto char_matcher(Pred pred) {
  return [pred](std::string_view s, std::vector<Span>& out) {
    size_t i = 0;
    while (i < s.size()) {
      const size_t b = i;
      if (pred(next_char(s, i)))
        out.emplace_back(static_cast<uint32_t>(b), static_cast<uint32_t>(i));
    }
  };
}

auto regex_matcher(const Regex& re) {
  return [&re](std::string_view s, std::vector<Span>& out) { re.find_all(s, out); };
}

class SequencePre final : public PreTokenizer {
 public:
  std::vector<std::unique_ptr<PreTokenizer>> steps;
  void pre_tokenize(PreTokens& p) const override {
    for (const auto& s : steps)
      s->pre_tokenize(p);
  }
};

class SplitPre final : public PreTokenizer {
 public:
  Regex re;
  SplitBehavior behavior = SplitBehavior::kIsolated;
  bool invert = false;
  void pre_tokenize(PreTokens& p) const override {
    split_pieces(p, behavior, invert, regex_matcher(re));
  }
};

class ByteLevelPre final : public PreTokenizer {
 public:
  bool add_prefix_space = false;
  std::optional<Regex> re;  // set when use_regex
  bool map_bytes = true;    // false when the model takes raw bytes
  void pre_tokenize(PreTokens& p) const override {
    if (add_prefix_space) {
      transform(p, [](std::string_view s, bool, std::string& out) {
        if (!s.starts_with(' ')) out.push_back(' ');
        out.append(s);
      });
    }
    if (re) split_pieces(p, SplitBehavior::kIsolated, false, regex_matcher(*re));
    if (map_bytes) {
      transform(p, [](std::string_view s, bool, std::string& out) { bytes_to_chars(s, out); });
    }
  }
};

class DigitsPre final : public PreTokenizer {
 public:
  bool individual = false;
  void pre_tokenize(PreTokens& p) const override {
    split_pieces(p, individual ? SplitBehavior::kIsolated : SplitBehavior::kContiguous, false,
                 char_matcher(is_numeric));
  }
};

enum class PrependScheme { kAlways, kFirst, kNever };

class MetaspacePre final : public PreTokenizer {
 public:
  std::string replacement;
  PrependScheme scheme = PrependScheme::kAlways;
  bool split = true;
  std::optional<Regex> replacement_re;
  void pre_tokenize(PreTokens& p) const override {
    transform(p, [this](std::string_view s, bool at_origin, std::string& out) {
      std::string replaced;
      replaced.reserve(s.size() + 8);
      for (char c : s) {
        if (c == ' ') {
          replaced.append(replacement);
        } else {
          replaced.push_back(c);
        }
      }
      const bool prepend =
          scheme == PrependScheme::kAlways || (scheme == PrependScheme::kFirst && at_origin);
      if (prepend && !std::string_view(replaced).starts_with(replacement)) out.append(replacement);
      out.append(replaced);
    });
    if (split)
      split_pieces(p, SplitBehavior::kMergedWithNext, false, regex_matcher(*replacement_re));
  }
};

class WhitespacePre final : public PreTokenizer {
 public:
  Regex re;
  void pre_tokenize(PreTokens& p) const override {
    split_pieces(p, SplitBehavior::kRemoved, true, regex_matcher(re));
  }
};

class WhitespaceSplitPre final : public PreTokenizer {
 public:
  void pre_tokenize(PreTokens& p) const override {
    split_pieces(p, SplitBehavior::kRemoved, false, char_matcher(is_whitespace));
  }
};

Result<std::unique_ptr<PreTokenizer>> parse(const json& j, std::string_view origin,
                                            bool* byte_level_last) {
  const std::string type = j.at("type").get<std::string>();
  *byte_level_last = false;
  if (type == "Sequence") {
    auto seq = std::make_unique<SequencePre>();
    for (const json& s : j.at("pretokenizers")) {
      SIEVE_ASSIGN_OR_RETURN(auto step, parse(s, origin, byte_level_last));
      seq->steps.push_back(std::move(step));
    }
    return std::unique_ptr<PreTokenizer>(std::move(seq));
  }
  if (type == "Split") {
    auto s = std::make_unique<SplitPre>();
    const json& pat = j.at("pattern");
    const bool literal = pat.contains("String");
    const std::string text =
        literal ? pat.at("String").get<std::string>() : pat.at("Regex").get<std::string>();
    SIEVE_ASSIGN_OR_RETURN(
        s->re, Regex::compile(text, literal, std::string(origin) + ": Split pre_tokenizer"));
    SIEVE_ASSIGN_OR_RETURN(s->behavior,
                           parse_split_behavior(j.at("behavior").get<std::string>(), origin));
    s->invert = j.value("invert", false);
    return std::unique_ptr<PreTokenizer>(std::move(s));
  }
  if (type == "ByteLevel") {
    auto b = std::make_unique<ByteLevelPre>();
    b->add_prefix_space = j.value("add_prefix_space", true);
    if (j.value("use_regex", true)) {
      SIEVE_ASSIGN_OR_RETURN(b->re, Regex::compile(kGpt2Pattern, false, "ByteLevel regex"));
    }
    *byte_level_last = true;
    return std::unique_ptr<PreTokenizer>(std::move(b));
  }
  if (type == "Digits") {
    auto d = std::make_unique<DigitsPre>();
    d->individual = j.value("individual_digits", false);
    return std::unique_ptr<PreTokenizer>(std::move(d));
  }
  if (type == "Metaspace") {
    auto m = std::make_unique<MetaspacePre>();
    m->replacement = j.value("replacement", std::string("\xE2\x96\x81"));
    if (j.contains("prepend_scheme")) {
      const std::string s = j.at("prepend_scheme").get<std::string>();
      if (s == "always") {
        m->scheme = PrependScheme::kAlways;
      } else if (s == "first") {
        m->scheme = PrependScheme::kFirst;
      } else if (s == "never") {
        m->scheme = PrependScheme::kNever;
      } else {
        return unimplemented(std::string(origin) + ": Metaspace prepend_scheme \"" + s +
                             "\" is not supported");
      }
    } else {
      m->scheme =
          j.value("add_prefix_space", true) ? PrependScheme::kAlways : PrependScheme::kNever;
    }
    m->split = j.value("split", true);
    SIEVE_ASSIGN_OR_RETURN(m->replacement_re,
                           Regex::compile(m->replacement, true, "Metaspace replacement"));
    return std::unique_ptr<PreTokenizer>(std::move(m));
  }
  if (type == "Whitespace") {
    auto w = std::make_unique<WhitespacePre>();
    SIEVE_ASSIGN_OR_RETURN(w->re, Regex::compile(kWhitespacePattern, false, "Whitespace regex"));
    return std::unique_ptr<PreTokenizer>(std::move(w));
  }
  if (type == "WhitespaceSplit") return std::unique_ptr<PreTokenizer>(new WhitespaceSplitPre);
  return unimplemented(std::string(origin) + ": pre_tokenizer type \"" + type +
                       "\" is not supported");
}

}  // namespace

Result<PreTokenizerConfig> parse_pre_tokenizer(const json& j, std::string_view origin) {
  PreTokenizerConfig c;
  if (j.is_null()) return c;
  SIEVE_ASSIGN_OR_RETURN(c.pre_tokenizer, parse(j, origin, &c.byte_level_last));
  if (c.byte_level_last) {
    // The last step maps bytes to characters; the model takes raw bytes instead.
    PreTokenizer* last = c.pre_tokenizer.get();
    while (auto* seq = dynamic_cast<SequencePre*>(last))
      last = seq->steps.back().get();
    static_cast<ByteLevelPre*>(last)->map_bytes = false;
  }
  return c;
}

}  // namespace sieve::tok
