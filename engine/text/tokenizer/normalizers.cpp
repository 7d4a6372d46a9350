#include "engine/text/tokenizer/normalizers.h"

#include <cstdlib>
#include <vector>

#include <utf8proc.h>
#include <nlohmann/json.hpp>

#include "engine/text/tokenizer/regex.h"
#include "engine/text/tokenizer/utf8.h"

namespace sieve::tok {
namespace {

using nlohmann::json;

bool is_ascii(std::string_view s) {
  for (unsigned char c : s)
    if (c >= 0x80) return false;
  return true;
}

// One of the four Unicode normalisation forms.
class UnicodeForm final : public Normalizer {
 public:
  explicit UnicodeForm(int options) : options_(options) {}
  void normalize(std::string& s) const override {
    if (is_ascii(s)) return;  // ASCII is invariant under every form
    utf8proc_uint8_t* out = nullptr;
    const utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(s.data()),
                                            static_cast<utf8proc_ssize_t>(s.size()), &out,
                                            static_cast<utf8proc_option_t>(options_));
    SIEVE_CHECK_MSG(n >= 0, "utf8proc_map failed: " << utf8proc_errmsg(n));
    s.assign(reinterpret_cast<const char*>(out), static_cast<size_t>(n));
    std::free(out);
  }

 private:
  int options_;
};

class Lowercase final : public Normalizer {
 public:
  void normalize(std::string& s) const override {
    if (is_ascii(s)) {
      for (char& c : s)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
      return;
    }
    std::string out;
    out.reserve(s.size());
    size_t i = 0;
    while (i < s.size()) {
      const char32_t c = next_char(s, i);
      if (c == 0x130) {  // 'İ' lowercases to "i̇" (Rust's full mapping)
        out.append("i\xCC\x87");
        continue;
      }
      append_utf8(out, static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c))));
    }
    s.swap(out);
  }
};

class SequenceNorm final : public Normalizer {
 public:
  std::vector<std::unique_ptr<Normalizer>> steps;
  void normalize(std::string& s) const override {
    for (const auto& n : steps)
      n->normalize(s);
  }
};

class Prepend final : public Normalizer {
 public:
  std::string prefix;
  void normalize(std::string& s) const override {
    if (!s.empty()) s.insert(0, prefix);
  }
};

class Replace final : public Normalizer {
 public:
  Regex re;
  std::string content;
  void normalize(std::string& s) const override {
    std::vector<Span> m;
    re.find_all(s, m);
    if (m.empty()) return;
    std::string out;
    size_t prev = 0;
    for (const Span& sp : m) {
      out.append(s, prev, sp.first - prev);
      out.append(content);
      prev = sp.second;
    }
    out.append(s, prev, std::string::npos);
    s.swap(out);
  }
};

class Strip final : public Normalizer {
 public:
  bool left = true, right = true;
  void normalize(std::string& s) const override {
    size_t b = 0, e = s.size();
    if (left) {
      while (b < e) {
        size_t i = b;
        if (!is_whitespace(next_char(s, i))) break;
        b = i;
      }
    }
    if (right) {
      while (e > b) {
        size_t start = e - 1;
        while (start > b && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80)
          --start;
        size_t i = start;
        if (!is_whitespace(next_char(s, i))) break;
        e = start;
      }
    }
    s = s.substr(b, e - b);
  }
};

}  // namespace

Result<std::unique_ptr<Normalizer>> parse_normalizer(const json& j, std::string_view origin) {
  if (j.is_null()) return std::unique_ptr<Normalizer>();
  const std::string type = j.at("type").get<std::string>();
  if (type == "NFC")
    return std::unique_ptr<Normalizer>(new UnicodeForm(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  if (type == "NFD")
    return std::unique_ptr<Normalizer>(new UnicodeForm(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE));
  if (type == "NFKC") {
    return std::unique_ptr<Normalizer>(
        new UnicodeForm(UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT));
  }
  if (type == "NFKD") {
    return std::unique_ptr<Normalizer>(
        new UnicodeForm(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT));
  }
  if (type == "Lowercase") return std::unique_ptr<Normalizer>(new Lowercase);
  if (type == "Sequence") {
    auto seq = std::make_unique<SequenceNorm>();
    for (const json& s : j.at("normalizers")) {
      SIEVE_ASSIGN_OR_RETURN(auto step, parse_normalizer(s, origin));
      if (step) seq->steps.push_back(std::move(step));
    }
    return std::unique_ptr<Normalizer>(std::move(seq));
  }
  if (type == "Prepend") {
    auto p = std::make_unique<Prepend>();
    p->prefix = j.at("prepend").get<std::string>();
    return std::unique_ptr<Normalizer>(std::move(p));
  }
  if (type == "Replace") {
    auto r = std::make_unique<Replace>();
    const json& pat = j.at("pattern");
    const bool literal = pat.contains("String");
    const std::string text =
        literal ? pat.at("String").get<std::string>() : pat.at("Regex").get<std::string>();
    SIEVE_ASSIGN_OR_RETURN(
        r->re, Regex::compile(text, literal, std::string(origin) + ": Replace normalizer"));
    r->content = j.at("content").get<std::string>();
    return std::unique_ptr<Normalizer>(std::move(r));
  }
  if (type == "Strip") {
    auto s = std::make_unique<Strip>();
    s->left = j.value("strip_left", true);
    s->right = j.value("strip_right", true);
    return std::unique_ptr<Normalizer>(std::move(s));
  }
  return unimplemented(std::string(origin) + ": normalizer type \"" + type + "\" is not supported");
}

}  // namespace sieve::tok
