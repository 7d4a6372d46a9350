#include "engine/text/tokenizer/decoders.h"

#include <nlohmann/json.hpp>

#include "engine/text/tokenizer/byte_level.h"
#include "engine/text/tokenizer/regex.h"
#include "engine/text/tokenizer/utf8.h"

namespace sieve::tok {
namespace {

using nlohmann::json;

class ByteLevelDec final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string bytes;
    for (const std::string& t : tokens) {
      // A token with a character outside the alphabet contributes its own bytes.
      if (!chars_to_bytes(t, bytes)) bytes.append(t);
    }
    tokens.assign(1, utf8_lossy(bytes));
  }
};

class MetaspaceDec final : public Decoder {
 public:
  std::string replacement;
  bool strip_first = true;  // prepend_scheme is not "never"
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string out;
      const std::string& t = tokens[i];
      size_t pos = 0;
      while (pos < t.size()) {
        if (t.compare(pos, replacement.size(), replacement) == 0) {
          // As the reference: every replacement in the first token is dropped.
          if (!(i == 0 && strip_first)) out.push_back(' ');
          pos += replacement.size();
        } else {
          out.push_back(t[pos++]);
        }
      }
      tokens[i].swap(out);
    }
  }
};

class ByteFallbackDec final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    std::string bytes;
    size_t byte_tokens = 0;
    auto flush = [&] {
      if (byte_tokens == 0) return;
      if (is_valid_utf8(bytes)) {
        out.push_back(bytes);
      } else {
        for (size_t k = 0; k < byte_tokens; ++k)
          out.emplace_back("\xEF\xBF\xBD");
      }
      bytes.clear();
      byte_tokens = 0;
    };
    for (std::string& t : tokens) {
      int value = -1;
      if (t.size() == 6 && t.starts_with("<0x") && t.back() == '>') {
        const std::string hex = t.substr(3, 2);
        if (std::isxdigit(static_cast<unsigned char>(hex[0])) &&
            std::isxdigit(static_cast<unsigned char>(hex[1]))) {
          value = std::stoi(hex, nullptr, 16);
        }
      }
      if (value >= 0) {
        bytes.push_back(static_cast<char>(value));
        ++byte_tokens;
      } else {
        flush();
        out.push_back(std::move(t));
      }
    }
    flush();
    tokens.swap(out);
  }
};

class FuseDec final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string all;
    for (const std::string& t : tokens)
      all += t;
    tokens.assign(1, std::move(all));
  }
};

class StripDec final : public Decoder {
 public:
  std::string content;  // one character
  size_t start = 0, stop = 0;
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::string& t : tokens) {
      size_t b = 0, e = t.size();
      for (size_t k = 0; k < start && t.compare(b, content.size(), content) == 0 && b < e; ++k)
        b += content.size();
      for (size_t k = 0; k < stop && e >= b + content.size() &&
                         t.compare(e - content.size(), content.size(), content) == 0;
           ++k)
        e -= content.size();
      t = t.substr(b, e - b);
    }
  }
};

class ReplaceDec final : public Decoder {
 public:
  Regex re;
  std::string content;
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<Span> m;
    for (std::string& t : tokens) {
      m.clear();
      re.find_all(t, m);
      if (m.empty()) continue;
      std::string out;
      size_t prev = 0;
      for (const Span& s : m) {
        out.append(t, prev, s.first - prev);
        out.append(content);
        prev = s.second;
      }
      out.append(t, prev, std::string::npos);
      t.swap(out);
    }
  }
};

class SequenceDec final : public Decoder {
 public:
  std::vector<std::unique_ptr<Decoder>> steps;
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (const auto& d : steps)
      d->decode_chain(tokens);
  }
};

}  // namespace

Result<std::unique_ptr<Decoder>> parse_decoder(const json& j, std::string_view origin) {
  if (j.is_null()) return std::unique_ptr<Decoder>();
  const std::string type = j.at("type").get<std::string>();
  if (type == "ByteLevel") return std::unique_ptr<Decoder>(new ByteLevelDec);
  if (type == "Metaspace") {
    auto m = std::make_unique<MetaspaceDec>();
    m->replacement = j.value("replacement", std::string("\xE2\x96\x81"));
    if (j.contains("prepend_scheme")) {
      m->strip_first = j.at("prepend_scheme").get<std::string>() != "never";
    } else {
      m->strip_first = j.value("add_prefix_space", true);
    }
    return std::unique_ptr<Decoder>(std::move(m));
  }
  if (type == "ByteFallback") return std::unique_ptr<Decoder>(new ByteFallbackDec);
  if (type == "Fuse") return std::unique_ptr<Decoder>(new FuseDec);
  if (type == "Strip") {
    auto s = std::make_unique<StripDec>();
    s->content = j.at("content").get<std::string>();
    s->start = j.value("start", size_t{0});
    s->stop = j.value("stop", size_t{0});
    return std::unique_ptr<Decoder>(std::move(s));
  }
  if (type == "Replace") {
    auto r = std::make_unique<ReplaceDec>();
    const json& pat = j.at("pattern");
    const bool literal = pat.contains("String");
    const std::string text =
        literal ? pat.at("String").get<std::string>() : pat.at("Regex").get<std::string>();
    SIEVE_ASSIGN_OR_RETURN(
        r->re, Regex::compile(text, literal, std::string(origin) + ": Replace decoder"));
    r->content = j.at("content").get<std::string>();
    return std::unique_ptr<Decoder>(std::move(r));
  }
  if (type == "Sequence") {
    auto seq = std::make_unique<SequenceDec>();
    for (const json& d : j.at("decoders")) {
      SIEVE_ASSIGN_OR_RETURN(auto step, parse_decoder(d, origin));
      if (step) seq->steps.push_back(std::move(step));
    }
    return std::unique_ptr<Decoder>(std::move(seq));
  }
  return unimplemented(std::string(origin) + ": decoder type \"" + type + "\" is not supported");
}

}  // namespace sieve::tok
