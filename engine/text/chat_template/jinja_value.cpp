#include "engine/text/chat_template/jinja_value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>

#include "engine/text/chat_template/jinja_strings.h"

namespace sieve::jinja {

void throw_type_error(const std::string& message) {
  throw Error(ErrorKind::kType, message);
}
void throw_unsupported(const std::string& message) {
  throw Error(ErrorKind::kUnsupported, message);
}
void throw_limit(const std::string& message) {
  throw Error(ErrorKind::kLimit, message);
}

Value Value::none() {
  Value v;
  v.data_ = nullptr;
  return v;
}
Value Value::boolean(bool b) {
  Value v;
  v.data_ = b;
  return v;
}
Value Value::integer(int64_t i) {
  Value v;
  v.data_ = i;
  return v;
}
Value Value::number(double d) {
  Value v;
  v.data_ = d;
  return v;
}
Value Value::string(std::string s) {
  Value v;
  v.data_ = std::move(s);
  return v;
}
Value Value::list(List items) {
  Value v;
  v.data_ = std::make_shared<List>(std::move(items));
  return v;
}
Value Value::tuple(List items) {
  Value v = list(std::move(items));
  v.tuple_ = true;
  return v;
}
Value Value::dict() {
  Value v;
  v.data_ = std::make_shared<Dict>();
  return v;
}
Value Value::namespace_object() {
  Value v = dict();
  v.as_dict().is_namespace = true;
  return v;
}
Value Value::callable(std::string name, std::function<Value(CallArgs&)> fn) {
  Value v;
  v.data_ = std::make_shared<const Callable>(Callable{std::move(name), std::move(fn)});
  return v;
}

Value Value::from_json(const nlohmann::ordered_json& j, int depth) {
  using J = nlohmann::ordered_json;
  if (depth > kMaxDepth) {
    throw_type_error("input nested deeper than " + std::to_string(kMaxDepth) + " levels");
  }
  switch (j.type()) {
    case J::value_t::null:
    case J::value_t::discarded:
      return none();
    case J::value_t::boolean:
      return boolean(j.get<bool>());
    case J::value_t::number_integer:
      return integer(j.get<int64_t>());
    case J::value_t::number_unsigned: {
      const uint64_t u = j.get<uint64_t>();
      if (u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        return integer(static_cast<int64_t>(u));
      return number(static_cast<double>(u));
    }
    case J::value_t::number_float:
      return number(j.get<double>());
    case J::value_t::string:
      return string(j.get<std::string>());
    case J::value_t::array: {
      List items;
      items.reserve(j.size());
      for (const auto& e : j)
        items.push_back(from_json(e, depth + 1));
      return list(std::move(items));
    }
    case J::value_t::object: {
      Value d = dict();
      for (const auto& [k, e] : j.items())
        d.as_dict().set(k, from_json(e, depth + 1));
      return d;
    }
    case J::value_t::binary:
      break;
  }
  throw_type_error("binary JSON values are not supported");
}

bool Value::is_namespace() const {
  return is_dict() && as_dict().is_namespace;
}

int64_t Value::as_int() const {
  if (is_bool()) return as_bool() ? 1 : 0;
  return std::get<int64_t>(data_);
}

double Value::as_double() const {
  if (is_float()) return std::get<double>(data_);
  return static_cast<double>(as_int());
}

bool Value::truthy() const {
  switch (kind()) {
    case Kind::kUndefined:
    case Kind::kNone:
      return false;
    case Kind::kBool:
      return as_bool();
    case Kind::kInt:
      return as_int() != 0;
    case Kind::kFloat:
      return as_double() != 0.0;
    case Kind::kString:
      return !as_string().empty();
    case Kind::kList:
      return !as_list().empty();
    case Kind::kDict:
      return is_namespace() || !as_dict().items.empty();
    case Kind::kCallable:
      return true;
  }
  return false;
}

std::string Value::type_name() const {
  switch (kind()) {
    case Kind::kUndefined:
      return "undefined";
    case Kind::kNone:
      return "NoneType";
    case Kind::kBool:
      return "bool";
    case Kind::kInt:
      return "int";
    case Kind::kFloat:
      return "float";
    case Kind::kString:
      return "str";
    case Kind::kList:
      return "list";
    case Kind::kDict:
      return is_namespace() ? "Namespace" : "dict";
    case Kind::kCallable:
      return "function";
  }
  return "?";
}

namespace {

// Python's repr() of a str: single quotes unless the text holds ' and no ".
std::string string_repr(const std::string& s) {
  const bool use_double = s.find('\'') != std::string::npos && s.find('"') == std::string::npos;
  const char quote = use_double ? '"' : '\'';
  std::string out(1, quote);
  for (unsigned char c : s) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c == static_cast<unsigned char>(quote)) {
          out += '\\';
          out += static_cast<char>(c);
        } else if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\x%02x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += quote;
  return out;
}

}  // namespace

std::string Value::str() const {
  switch (kind()) {
    case Kind::kUndefined:
      return "";
    case Kind::kString:
      return as_string();
    default:
      return repr();
  }
}

std::string Value::repr() const {
  switch (kind()) {
    case Kind::kUndefined:
      return "Undefined";  // inside a list, as Jinja2 prints it; str() gives ""
    case Kind::kNone:
      return "None";
    case Kind::kBool:
      return as_bool() ? "True" : "False";
    case Kind::kInt:
      return std::to_string(as_int());
    case Kind::kFloat:
      return python_float_repr(as_double());
    case Kind::kString:
      return string_repr(as_string());
    case Kind::kList: {
      std::string out = tuple_ ? "(" : "[";
      bool first = true;
      for (const Value& v : as_list()) {
        if (!first) out += ", ";
        first = false;
        out += v.repr();
      }
      if (tuple_ && as_list().size() == 1) out += ",";
      return out + (tuple_ ? ")" : "]");
    }
    case Kind::kDict: {
      std::string out = is_namespace() ? "<Namespace {" : "{";
      bool first = true;
      for (const auto& [k, v] : as_dict().items) {
        if (!first) out += ", ";
        first = false;
        out += string_repr(k) + ": " + v.repr();
      }
      return out + (is_namespace() ? "}>" : "}");
    }
    case Kind::kCallable:
      return "<function " + as_callable().name + ">";
  }
  return "";
}

const Value* Dict::find(const std::string& key) const {
  for (const auto& [k, v] : items) {
    if (k == key) return &v;
  }
  return nullptr;
}

void Dict::set(const std::string& key, Value v) {
  for (auto& [k, old] : items) {
    if (k == key) {
      old = std::move(v);
      return;
    }
  }
  items.emplace_back(key, std::move(v));
}

Value CallArgs::get(size_t index, const std::string& name, Value fallback) const {
  if (index < positional.size()) return positional[index];
  for (const auto& [k, v] : keyword) {
    if (k == name) return v;
  }
  return fallback;
}

bool CallArgs::has(size_t index, const std::string& name) const {
  if (index < positional.size()) return true;
  for (const auto& [k, v] : keyword) {
    if (k == name) return true;
  }
  return false;
}

void CallArgs::check(const std::string& what, size_t max_positional,
                     std::initializer_list<const char*> names) const {
  if (positional.size() > max_positional) {
    throw_type_error(what + " takes at most " + std::to_string(max_positional) +
                     " positional argument(s), got " + std::to_string(positional.size()));
  }
  for (const auto& [k, v] : keyword) {
    bool known = false;
    for (const char* n : names)
      known = known || k == n;
    if (!known) throw_type_error(what + " got an unexpected keyword argument '" + k + "'");
  }
}

bool equals(const Value& a, const Value& b) {
  using K = Value::Kind;
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.as_double() == b.as_double();
    return a.as_int() == b.as_int();
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case K::kUndefined:
    case K::kNone:
      return true;
    case K::kString:
      return a.as_string() == b.as_string();
    case K::kList: {
      const List& x = a.as_list();
      const List& y = b.as_list();
      if (x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); ++i) {
        if (!equals(x[i], y[i])) return false;
      }
      return true;
    }
    case K::kDict: {
      if (a.is_namespace() || b.is_namespace()) return &a.as_dict() == &b.as_dict();
      const Dict& x = a.as_dict();
      const Dict& y = b.as_dict();
      if (x.items.size() != y.items.size()) return false;
      for (const auto& [k, v] : x.items) {
        const Value* w = y.find(k);
        if (!w || !equals(v, *w)) return false;
      }
      return true;
    }
    case K::kCallable:
      return &a.as_callable() == &b.as_callable();
    default:
      return false;
  }
}

std::string python_float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  if (d == 0) return std::signbit(d) ? "-0.0" : "0.0";
  // Shortest round-trip digits, in scientific form: [-]d[.ddd]e±XX.
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), d, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  std::string sign;
  if (sci[0] == '-') {
    sign = "-";
    sci.erase(0, 1);
  }
  const size_t e_pos = sci.find('e');
  std::string digits = sci.substr(0, e_pos);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  const int exp = std::stoi(sci.substr(e_pos + 1));
  if (exp >= -4 && exp < 16) {
    std::string out;
    if (exp >= 0) {
      if (static_cast<int>(digits.size()) <= exp + 1) {
        out = digits + std::string(exp + 1 - digits.size(), '0') + ".0";
      } else {
        out = digits.substr(0, exp + 1) + "." + digits.substr(exp + 1);
      }
    } else {
      out = "0." + std::string(-exp - 1, '0') + digits;
    }
    return sign + out;
  }
  std::string out = digits.substr(0, 1);
  if (digits.size() > 1) out += "." + digits.substr(1);
  char ebuf[16];
  std::snprintf(ebuf, sizeof(ebuf), "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
  return sign + out + ebuf;
}

std::vector<size_t> utf8_boundaries(const std::string& s) {
  std::vector<size_t> b;
  b.reserve(s.size() + 1);
  for (size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) b.push_back(i);
  }
  b.push_back(s.size());
  return b;
}

namespace {
int64_t normalize_index(int64_t i, int64_t n) {
  return i < 0 ? i + n : i;
}
}  // namespace

Value get_attr(const Value& object, const std::string& name) {
  if (object.is_dict()) {
    const Value* hit = object.as_dict().find(name);
    return hit ? *hit : Value();
  }
  return {};
}

Value get_item(const Value& object, const Value& key) {
  if (object.is_dict()) {
    if (!key.is_string()) return {};
    return get_attr(object, key.as_string());
  }
  if (!key.is_int() && !key.is_bool()) return {};
  if (object.is_list()) {
    const List& l = object.as_list();
    const int64_t i = normalize_index(key.as_int(), static_cast<int64_t>(l.size()));
    if (i < 0 || i >= static_cast<int64_t>(l.size())) return {};
    return l[static_cast<size_t>(i)];
  }
  if (object.is_string()) {
    const std::string& s = object.as_string();
    const auto b = utf8_boundaries(s);
    const int64_t n = static_cast<int64_t>(b.size()) - 1;
    const int64_t i = normalize_index(key.as_int(), n);
    if (i < 0 || i >= n) return {};
    return Value::string(s.substr(b[i], b[i + 1] - b[i]));
  }
  return {};
}

Value slice(const Value& object, std::optional<int64_t> start, std::optional<int64_t> stop,
            std::optional<int64_t> step_opt) {
  const int64_t step = step_opt.value_or(1);
  if (step == 0) throw_type_error("slice step cannot be zero");
  std::vector<size_t> bounds;
  int64_t n;
  if (object.is_list()) {
    n = static_cast<int64_t>(object.as_list().size());
  } else if (object.is_string()) {
    bounds = utf8_boundaries(object.as_string());
    n = static_cast<int64_t>(bounds.size()) - 1;
  } else if (object.is_undefined()) {
    return {};
  } else {
    throw_type_error("'" + object.type_name() + "' object is not subscriptable with a slice");
  }
  // Python's slice.indices().
  auto clamp = [&](std::optional<int64_t> v, int64_t dflt) {
    if (!v) return dflt;
    int64_t x = *v;
    if (x < 0) {
      x += n;
      if (x < 0) x = step < 0 ? -1 : 0;
    } else if (x >= n) {
      x = step < 0 ? n - 1 : n;
    }
    return x;
  };
  const int64_t b = clamp(start, step < 0 ? n - 1 : 0);
  const int64_t e = clamp(stop, step < 0 ? -1 : n);
  std::vector<int64_t> idx;
  for (int64_t i = b; step > 0 ? i < e : i > e; i += step)
    idx.push_back(i);
  if (object.is_list()) {
    List out;
    for (int64_t i : idx)
      out.push_back(object.as_list()[static_cast<size_t>(i)]);
    return Value::list(std::move(out));
  }
  const std::string& s = object.as_string();
  std::string out;
  for (int64_t i : idx)
    out.append(s, bounds[i], bounds[i + 1] - bounds[i]);
  return Value::string(std::move(out));
}

bool contains(const Value& container, const Value& item) {
  if (container.is_string()) {
    if (!item.is_string())
      throw_type_error("'in <string>' requires string as left operand, not " + item.type_name());
    return container.as_string().find(item.as_string()) != std::string::npos;
  }
  if (container.is_list()) {
    for (const Value& v : container.as_list()) {
      if (equals(v, item)) return true;
    }
    return false;
  }
  if (container.is_dict()) {
    return item.is_string() && container.as_dict().find(item.as_string()) != nullptr;
  }
  if (container.is_undefined()) return false;
  throw_type_error("argument of type '" + container.type_name() + "' is not iterable");
}

List iterate(const Value& value) {
  if (value.is_list()) return value.as_list();
  if (value.is_dict() && !value.is_namespace()) {
    List keys;
    for (const auto& [k, v] : value.as_dict().items)
      keys.push_back(Value::string(k));
    return keys;
  }
  if (value.is_string()) {
    List out;
    for (auto& cp : code_points(value.as_string()))
      out.push_back(Value::string(std::move(cp)));
    return out;
  }
  if (value.is_undefined()) return {};
  throw_type_error("'" + value.type_name() + "' object is not iterable");
}

bool less_than(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.as_double() < b.as_double();
    return a.as_int() < b.as_int();
  }
  if (a.is_string() && b.is_string()) return a.as_string() < b.as_string();
  throw_type_error("'<' not supported between instances of '" + a.type_name() + "' and '" +
                   b.type_name() + "'");
}

}  // namespace sieve::jinja
