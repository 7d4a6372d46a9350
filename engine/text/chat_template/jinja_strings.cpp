#include "engine/text/chat_template/jinja_strings.h"

#include <utf8proc.h>

#include "engine/text/chat_template/jinja_value.h"

namespace sieve::jinja {
namespace {

// Decodes the code point at s[i] and advances i; an invalid byte decodes as itself.
uint32_t decode(const std::string& s, size_t& i) {
  utf8proc_int32_t cp = 0;
  const auto n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(s.data() + i),
                                  static_cast<utf8proc_ssize_t>(s.size() - i), &cp);
  if (n <= 0) {
    cp = static_cast<unsigned char>(s[i]);
    i += 1;
  } else {
    i += static_cast<size_t>(n);
  }
  return static_cast<uint32_t>(cp);
}

void encode(uint32_t cp, std::string& out) {
  utf8proc_uint8_t buf[4];
  const auto n = utf8proc_encode_char(static_cast<utf8proc_int32_t>(cp), buf);
  out.append(reinterpret_cast<const char*>(buf), static_cast<size_t>(n));
}

template <class F>
std::string map_code_points(const std::string& s, F f) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();)
    encode(f(decode(s, i)), out);
  return out;
}

bool is_cased_letter(uint32_t cp) {
  const auto cat = utf8proc_category(static_cast<utf8proc_int32_t>(cp));
  return cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LL || cat == UTF8PROC_CATEGORY_LT;
}

uint32_t to_upper(uint32_t cp) {
  return static_cast<uint32_t>(utf8proc_toupper(static_cast<utf8proc_int32_t>(cp)));
}
uint32_t to_lower(uint32_t cp) {
  return static_cast<uint32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(cp)));
}

}  // namespace

bool py_isspace(uint32_t cp) {
  if ((cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0)
    return true;
  if (cp < 0x1680) return false;
  const auto cat = utf8proc_category(static_cast<utf8proc_int32_t>(cp));
  return cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL || cat == UTF8PROC_CATEGORY_ZP;
}

std::vector<std::string> code_points(const std::string& s) {
  std::vector<std::string> out;
  for (size_t i = 0; i < s.size();) {
    const size_t start = i;
    decode(s, i);
    out.push_back(s.substr(start, i - start));
  }
  return out;
}

std::string py_strip(const std::string& s, const std::optional<std::string>& chars,
                     StripSide side) {
  std::vector<uint32_t> set;
  if (chars) {
    for (size_t i = 0; i < chars->size();)
      set.push_back(decode(*chars, i));
  }
  auto strip_it = [&](uint32_t cp) {
    if (!chars) return py_isspace(cp);
    for (uint32_t c : set) {
      if (c == cp) return true;
    }
    return false;
  };
  // Code point boundaries, so that stripping never splits a character.
  std::vector<size_t> starts;
  std::vector<uint32_t> cps;
  for (size_t i = 0; i < s.size();) {
    starts.push_back(i);
    cps.push_back(decode(s, i));
  }
  size_t b = 0, e = cps.size();
  if (side != StripSide::kRight) {
    while (b < e && strip_it(cps[b]))
      ++b;
  }
  if (side != StripSide::kLeft) {
    while (e > b && strip_it(cps[e - 1]))
      --e;
  }
  const size_t from = b < starts.size() ? starts[b] : s.size();
  const size_t to = e < starts.size() ? starts[e] : s.size();
  return s.substr(from, to - from);
}

std::vector<std::string> py_split(const std::string& s, const std::optional<std::string>& sep,
                                  int64_t maxsplit) {
  std::vector<std::string> out;
  if (sep) {
    if (sep->empty()) throw_type_error("empty separator");
    size_t pos = 0;
    for (;;) {
      if (maxsplit >= 0 && static_cast<int64_t>(out.size()) >= maxsplit) break;
      const size_t hit = s.find(*sep, pos);
      if (hit == std::string::npos) break;
      out.push_back(s.substr(pos, hit - pos));
      pos = hit + sep->size();
    }
    out.push_back(s.substr(pos));
    return out;
  }
  // Runs of whitespace; leading and trailing whitespace give no empty parts.
  size_t i = 0;
  auto skip_space = [&] {
    while (i < s.size()) {
      size_t j = i;
      if (!py_isspace(decode(s, j))) break;
      i = j;
    }
  };
  skip_space();
  while (i < s.size()) {
    if (maxsplit >= 0 && static_cast<int64_t>(out.size()) >= maxsplit) {
      // The rest, with trailing whitespace removed (as CPython does).
      out.push_back(py_strip(s.substr(i), std::nullopt, StripSide::kRight));
      return out;
    }
    const size_t start = i;
    while (i < s.size()) {
      size_t j = i;
      if (py_isspace(decode(s, j))) break;
      i = j;
    }
    out.push_back(s.substr(start, i - start));
    skip_space();
  }
  return out;
}

std::string py_replace(const std::string& s, const std::string& old_s, const std::string& new_s,
                       int64_t count) {
  std::string out;
  if (old_s.empty()) {
    // Python inserts `new` between every character (and at both ends).
    const auto cps = code_points(s);
    int64_t done = 0;
    for (const auto& cp : cps) {
      if (count < 0 || done < count) {
        out += new_s;
        ++done;
      }
      out += cp;
    }
    if (count < 0 || done < count) out += new_s;
    return out;
  }
  size_t pos = 0;
  int64_t done = 0;
  for (;;) {
    const size_t hit = (count < 0 || done < count) ? s.find(old_s, pos) : std::string::npos;
    if (hit == std::string::npos) break;
    out.append(s, pos, hit - pos);
    out += new_s;
    pos = hit + old_s.size();
    ++done;
  }
  out.append(s, pos, std::string::npos);
  return out;
}

std::string py_upper(const std::string& s) {
  return map_code_points(s, to_upper);
}
std::string py_lower(const std::string& s) {
  return map_code_points(s, to_lower);
}

std::string py_title(const std::string& s) {
  bool prev_cased = false;
  return map_code_points(s, [&](uint32_t cp) {
    const bool cased = is_cased_letter(cp);
    const uint32_t r = cased ? (prev_cased ? to_lower(cp) : to_upper(cp)) : cp;
    prev_cased = cased;
    return r;
  });
}

std::string jinja_title(const std::string& s) {
  bool word_start = true;
  return map_code_points(s, [&](uint32_t cp) {
    const uint32_t r = word_start ? to_upper(cp) : to_lower(cp);
    word_start = py_isspace(cp) || cp == '-' || cp == '(' || cp == '{' || cp == '[' || cp == '<';
    return r;
  });
}

std::string py_capitalize(const std::string& s) {
  bool first = true;
  return map_code_points(s, [&](uint32_t cp) {
    const uint32_t r = first ? to_upper(cp) : to_lower(cp);
    first = false;
    return r;
  });
}

}  // namespace sieve::jinja
