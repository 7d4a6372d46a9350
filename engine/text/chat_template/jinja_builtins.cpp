#include "engine/text/chat_template/jinja_builtins.h"

#include <algorithm>
#include <cmath>
#include <ctime>

#include "engine/text/chat_template/jinja_strings.h"
#include "engine/text/chat_template/json_dumps.h"

namespace sieve::jinja {
namespace {

// For CallArgs::get: an argument that can only be given by keyword.
constexpr size_t kKeywordOnly = static_cast<size_t>(-1);

[[noreturn]] void type_error_for(const std::string& what, const Value& v) {
  throw_type_error(what + " got a value of type '" + v.type_name() + "'");
}

std::string need_string(const Value& v, const std::string& what) {
  if (!v.is_string()) type_error_for(what + " expects a string but", v);
  return v.as_string();
}

int64_t need_int(const Value& v, const std::string& what) {
  if (!v.is_int() && !v.is_bool()) type_error_for(what + " expects an integer but", v);
  return v.as_int();
}

std::optional<std::string> optional_string(const Value& v, const std::string& what) {
  if (v.is_undefined() || v.is_none()) return std::nullopt;
  return need_string(v, what);
}

Value string_list(const std::vector<std::string>& parts) {
  List items;
  items.reserve(parts.size());
  for (const auto& p : parts)
    items.push_back(Value::string(p));
  return Value::list(std::move(items));
}

// For selectattr/map: obj.a.b with dotted names and integer parts.
Value attribute_path(const Value& v, const std::string& path) {
  Value cur = v;
  size_t pos = 0;
  for (;;) {
    const size_t dot = path.find('.', pos);
    const std::string part = path.substr(pos, dot == std::string::npos ? dot : dot - pos);
    const bool numeric = !part.empty() && std::all_of(part.begin(), part.end(), ::isdigit);
    cur = numeric ? get_item(cur, Value::integer(std::stoll(part))) : get_attr(cur, part);
    if (dot == std::string::npos) return cur;
    pos = dot + 1;
  }
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&#34;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// Arguments after the first `skip` positional ones, for select('test', args...).
CallArgs rest_args(const CallArgs& args, size_t skip) {
  CallArgs rest;
  for (size_t i = skip; i < args.positional.size(); ++i)
    rest.positional.push_back(args.positional[i]);
  rest.keyword = args.keyword;
  return rest;
}

// select / reject / selectattr / rejectattr.
Value select_items(const Value& operand, CallArgs& args, bool by_attribute, bool keep,
                   const BuiltinContext& ctx) {
  std::string attr;
  size_t next = 0;
  if (by_attribute) {
    attr = need_string(args.get(0, "attribute"), "selectattr attribute");
    next = 1;
  }
  const bool has_test = args.positional.size() > next;
  const std::string test_name =
      has_test ? need_string(args.positional[next], "select test name") : "";
  CallArgs test_args = rest_args(args, next + 1);
  if (by_attribute) test_args.keyword.clear();
  List out;
  for (const Value& item : iterate(operand)) {
    const Value subject = by_attribute ? attribute_path(item, attr) : item;
    const bool pass = has_test ? ctx.test(test_name, subject, test_args) : subject.truthy();
    if (pass == keep) out.push_back(item);
  }
  return Value::list(std::move(out));
}

Value to_int(const Value& v, const Value& fallback, int64_t base) {
  if (v.is_int() || v.is_bool()) return Value::integer(v.as_int());
  if (v.is_float()) {
    const double d = v.as_double();
    if (!std::isfinite(d)) return fallback;
    return Value::integer(static_cast<int64_t>(d));
  }
  if (v.is_string()) {
    std::string s = py_strip(v.as_string(), std::nullopt, StripSide::kBoth);
    s.erase(std::remove(s.begin(), s.end(), '_'), s.end());
    try {
      size_t used = 0;
      const int64_t i = std::stoll(s, &used, static_cast<int>(base));
      if (used == s.size()) return Value::integer(i);
    } catch (const std::exception&) {
    }
    try {
      size_t used = 0;
      const double d = std::stod(s, &used);
      if (used == s.size() && std::isfinite(d)) return Value::integer(static_cast<int64_t>(d));
    } catch (const std::exception&) {
    }
  }
  return fallback;
}

Value to_float(const Value& v, const Value& fallback) {
  if (v.is_number()) return Value::number(v.as_double());
  if (v.is_string()) {
    const std::string s = py_strip(v.as_string(), std::nullopt, StripSide::kBoth);
    try {
      size_t used = 0;
      const double d = std::stod(s, &used);
      if (used == s.size()) return Value::number(d);
    } catch (const std::exception&) {
    }
  }
  return fallback;
}

Value tojson(const Value& operand, CallArgs& args) {
  args.check("tojson", 4, {"ensure_ascii", "indent", "separators", "sort_keys"});
  JsonDumpsOptions opt;
  opt.ensure_ascii = args.get(0, "ensure_ascii", Value::boolean(false)).truthy();
  const Value indent = args.get(1, "indent");
  if (indent.is_int()) {
    opt.indent = std::string(static_cast<size_t>(std::max<int64_t>(0, indent.as_int())), ' ');
  } else if (indent.is_string()) {
    opt.indent = indent.as_string();
  } else if (!indent.is_undefined() && !indent.is_none()) {
    type_error_for("tojson indent", indent);
  }
  const Value separators = args.get(2, "separators");
  if (separators.is_list()) {
    const List& s = separators.as_list();
    if (s.size() != 2) throw_type_error("tojson separators must be a pair");
    opt.item_separator = need_string(s[0], "tojson separators");
    opt.key_separator = need_string(s[1], "tojson separators");
  }
  opt.sort_keys = args.get(3, "sort_keys", Value::boolean(false)).truthy();
  return Value::string(json_dumps(operand, opt));
}

Value join(const Value& operand, CallArgs& args, const BuiltinContext& ctx) {
  args.check("join", 2, {"d", "attribute"});
  const std::string sep = args.get(0, "d", Value::string("")).str();
  const Value attribute = args.get(1, "attribute");
  std::string out;
  bool first = true;
  for (const Value& item : iterate(operand)) {
    if (!first) out += sep;
    first = false;
    out += (attribute.is_undefined() || attribute.is_none())
               ? item.str()
               : attribute_path(item, attribute.str()).str();
    check_size(out.size(), ctx.limits);
  }
  return Value::string(std::move(out));
}

Value sort_items(const Value& operand, CallArgs& args) {
  args.check("sort", 3, {"reverse", "case_sensitive", "attribute"});
  const bool reverse = args.get(0, "reverse").truthy();
  const bool case_sensitive = args.get(1, "case_sensitive").truthy();
  const Value attribute = args.get(2, "attribute");
  List items = iterate(operand);
  auto key = [&](const Value& v) {
    Value k = attribute.is_undefined() ? v : attribute_path(v, attribute.str());
    if (!case_sensitive && k.is_string()) k = Value::string(py_lower(k.as_string()));
    return k;
  };
  std::stable_sort(items.begin(), items.end(), [&](const Value& a, const Value& b) {
    return reverse ? less_than(key(b), key(a)) : less_than(key(a), key(b));
  });
  return Value::list(std::move(items));
}

Value first_or_last(const Value& operand, bool first) {
  if (operand.is_string()) {
    const auto cps = code_points(operand.as_string());
    if (cps.empty()) return {};
    return Value::string(first ? cps.front() : cps.back());
  }
  const List items = iterate(operand);
  if (items.empty()) return {};
  return first ? items.front() : items.back();
}

Value round_value(const Value& operand, CallArgs& args) {
  args.check("round", 2, {"precision", "method"});
  const int64_t precision = need_int(args.get(0, "precision", Value::integer(0)), "round");
  const std::string method = args.get(1, "method", Value::string("common")).str();
  if (!operand.is_number()) type_error_for("round expects a number but", operand);
  const double scale = std::pow(10.0, static_cast<double>(precision));
  const double x = operand.as_double() * scale;
  double r;
  if (method == "common") {
    r = std::round(x);
  } else if (method == "ceil") {
    r = std::ceil(x);
  } else if (method == "floor") {
    r = std::floor(x);
  } else {
    throw_type_error("round method must be 'common', 'ceil' or 'floor'");
  }
  return Value::number(r / scale);
}

}  // namespace

void check_size(size_t size, const Limits& limits) {
  if (size > limits.max_output_bytes) {
    throw_limit("a value or the output exceeds max_output_bytes (" +
                std::to_string(limits.max_output_bytes) + ")");
  }
}

Value apply_filter(const std::string& name, const Value& operand, CallArgs& args,
                   const BuiltinContext& ctx) {
  if (name == "length" || name == "count") {
    if (operand.is_string())
      return Value::integer(static_cast<int64_t>(utf8_boundaries(operand.as_string()).size() - 1));
    if (operand.is_list()) return Value::integer(static_cast<int64_t>(operand.as_list().size()));
    if (operand.is_dict())
      return Value::integer(static_cast<int64_t>(operand.as_dict().items.size()));
    if (operand.is_undefined()) return Value::integer(0);
    type_error_for("length", operand);
  }
  if (name == "tojson") return tojson(operand, args);
  if (name == "join") return join(operand, args, ctx);
  if (name == "string") return Value::string(operand.str());
  if (name == "safe") return operand;
  if (name == "e" || name == "escape") return Value::string(html_escape(operand.str()));
  if (name == "default" || name == "d") {
    args.check(name, 2, {"default_value", "boolean"});
    const bool boolean = args.get(1, "boolean").truthy();
    if (operand.is_undefined() || (boolean && !operand.truthy()))
      return args.get(0, "default_value", Value::string(""));
    return operand;
  }
  if (name == "first" || name == "last") return first_or_last(operand, name == "first");
  if (name == "list") {
    if (operand.is_string()) return string_list(code_points(operand.as_string()));
    return Value::list(iterate(operand));
  }
  if (name == "items") {
    if (operand.is_undefined()) return Value::list();
    if (!operand.is_dict()) type_error_for("items expects a mapping but", operand);
    List out;
    for (const auto& [k, v] : operand.as_dict().items)
      out.push_back(Value::tuple({Value::string(k), v}));
    return Value::list(std::move(out));
  }
  if (name == "int") {
    args.check("int", 2, {"default", "base"});
    return to_int(operand, args.get(0, "default", Value::integer(0)),
                  need_int(args.get(1, "base", Value::integer(10)), "int"));
  }
  if (name == "float") {
    args.check("float", 1, {"default"});
    return to_float(operand, args.get(0, "default", Value::number(0.0)));
  }
  if (name == "abs") {
    if (operand.is_float()) return Value::number(std::fabs(operand.as_double()));
    if (operand.is_int() || operand.is_bool()) {
      const int64_t i = operand.as_int();
      return Value::integer(i < 0 ? -i : i);
    }
    type_error_for("abs", operand);
  }
  if (name == "round") return round_value(operand, args);
  if (name == "reverse") {
    if (operand.is_string()) {
      auto cps = code_points(operand.as_string());
      std::string out;
      for (auto it = cps.rbegin(); it != cps.rend(); ++it)
        out += *it;
      return Value::string(std::move(out));
    }
    List items = iterate(operand);
    std::reverse(items.begin(), items.end());
    return Value::list(std::move(items));
  }
  if (name == "sort") return sort_items(operand, args);
  if (name == "unique") {
    List out;
    for (const Value& v : iterate(operand)) {
      if (std::none_of(out.begin(), out.end(), [&](const Value& o) { return equals(o, v); }))
        out.push_back(v);
    }
    return Value::list(std::move(out));
  }
  if (name == "sum") {
    args.check("sum", 2, {"attribute", "start"});
    const Value attribute = args.get(0, "attribute");
    Value total = args.get(1, "start", Value::integer(0));
    for (const Value& v : iterate(operand)) {
      const Value x = attribute.is_undefined() ? v : attribute_path(v, attribute.str());
      if (!x.is_number() || !total.is_number()) type_error_for("sum", x);
      total = (x.is_float() || total.is_float()) ? Value::number(total.as_double() + x.as_double())
                                                 : Value::integer(total.as_int() + x.as_int());
    }
    return total;
  }
  if (name == "min" || name == "max") {
    const List items = iterate(operand);
    if (items.empty()) return {};
    Value best = items[0];
    for (const Value& v : items) {
      if (name == "min" ? less_than(v, best) : less_than(best, v)) best = v;
    }
    return best;
  }
  if (name == "map") {
    List out;
    const Value attribute = args.get(kKeywordOnly, "attribute");
    if (!attribute.is_undefined()) {
      const Value fallback = args.get(kKeywordOnly, "default");
      for (const Value& v : iterate(operand)) {
        Value x = attribute_path(v, attribute.str());
        out.push_back(x.is_undefined() && !fallback.is_undefined() ? fallback : x);
      }
    } else {
      if (args.positional.empty()) throw_type_error("map needs a filter name or attribute=");
      const std::string filter = need_string(args.positional[0], "map filter name");
      CallArgs filter_args = rest_args(args, 1);
      for (const Value& v : iterate(operand))
        out.push_back(ctx.filter(filter, v, filter_args));
    }
    return Value::list(std::move(out));
  }
  if (name == "select" || name == "reject") {
    return select_items(operand, args, false, name == "select", ctx);
  }
  if (name == "selectattr" || name == "rejectattr") {
    return select_items(operand, args, true, name == "selectattr", ctx);
  }
  if (name == "dictsort") {
    args.check("dictsort", 3, {"case_sensitive", "by", "reverse"});
    if (!operand.is_dict()) type_error_for("dictsort expects a mapping but", operand);
    const bool case_sensitive = args.get(0, "case_sensitive").truthy();
    const bool by_value = args.get(1, "by", Value::string("key")).str() == "value";
    const bool reverse = args.get(2, "reverse").truthy();
    List pairs;
    for (const auto& [k, v] : operand.as_dict().items)
      pairs.push_back(Value::tuple({Value::string(k), v}));
    auto key = [&](const Value& pair) {
      Value k = pair.as_list()[by_value ? 1 : 0];
      if (!case_sensitive && k.is_string()) k = Value::string(py_lower(k.as_string()));
      return k;
    };
    std::stable_sort(pairs.begin(), pairs.end(), [&](const Value& a, const Value& b) {
      return reverse ? less_than(key(b), key(a)) : less_than(key(a), key(b));
    });
    return Value::list(std::move(pairs));
  }
  // String filters.
  if (name == "indent") {
    args.check("indent", 3, {"width", "first", "blank"});
    const Value width = args.get(0, "width", Value::integer(4));
    const std::string pad =
        width.is_string()
            ? width.as_string()
            : std::string(static_cast<size_t>(std::max<int64_t>(0, need_int(width, "indent"))),
                          ' ');
    const bool first = args.get(1, "first").truthy();
    const bool blank = args.get(2, "blank").truthy();
    // Jinja2: lines of text + "\n" (so a trailing newline keeps no indented empty line).
    const std::vector<std::string> lines = py_split(operand.str() + "\n", std::string("\n"), -1);
    std::string out;
    for (size_t i = 0; i + 1 < lines.size(); ++i) {
      if (i > 0) {
        out += "\n";
        if (blank || !lines[i].empty()) out += pad;
      }
      out += lines[i];
    }
    if (first) out = pad + out;
    check_size(out.size(), ctx.limits);
    return Value::string(std::move(out));
  }
  if (name == "upper") return Value::string(py_upper(operand.str()));
  if (name == "lower") return Value::string(py_lower(operand.str()));
  if (name == "capitalize") return Value::string(py_capitalize(operand.str()));
  if (name == "title") return Value::string(jinja_title(operand.str()));
  if (name == "trim") {
    args.check("trim", 1, {"chars"});
    return Value::string(
        py_strip(operand.str(), optional_string(args.get(0, "chars"), "trim"), StripSide::kBoth));
  }
  if (name == "replace") {
    args.check("replace", 3, {"old", "new", "count"});
    const Value count = args.get(2, "count");
    std::string out =
        py_replace(operand.str(), args.get(0, "old").str(), args.get(1, "new").str(),
                   count.is_undefined() || count.is_none() ? -1 : need_int(count, "replace"));
    check_size(out.size(), ctx.limits);
    return Value::string(std::move(out));
  }
  throw_unsupported("filter '" + name + "' is not supported");
}

bool apply_test(const std::string& name, const Value& v, CallArgs& args,
                const BuiltinContext& ctx) {
  const Value arg = args.get(0, "value");
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "none") return v.is_none();
  if (name == "string") return v.is_string();
  if (name == "number") return v.is_number();
  if (name == "integer") return v.is_int();
  if (name == "float") return v.is_float();
  if (name == "boolean") return v.is_bool();
  if (name == "true") return v.is_bool() && v.as_bool();
  if (name == "false") return v.is_bool() && !v.as_bool();
  if (name == "mapping") return v.is_dict() && !v.is_namespace();
  if (name == "iterable") return v.is_list() || v.is_dict() || v.is_string() || v.is_undefined();
  if (name == "sequence") return v.is_list() || v.is_dict() || v.is_string() || v.is_undefined();
  if (name == "callable") return v.is_callable();
  if (name == "in") return contains(arg, v);
  if (name == "equalto" || name == "eq" || name == "==") return equals(v, arg);
  if (name == "ne" || name == "!=") return !equals(v, arg);
  if (name == "lt" || name == "lessthan" || name == "<") return less_than(v, arg);
  if (name == "gt" || name == "greaterthan" || name == ">") return less_than(arg, v);
  if (name == "le" || name == "<=") return !less_than(arg, v);
  if (name == "ge" || name == ">=") return !less_than(v, arg);
  if (name == "sameas") {
    if (v.kind() != arg.kind()) return false;
    if (v.is_list()) return &v.as_list() == &arg.as_list();
    if (v.is_dict()) return &v.as_dict() == &arg.as_dict();
    return equals(v, arg);
  }
  if (name == "odd" || name == "even") {
    const int64_t i = need_int(v, name);
    return (i % 2 != 0) == (name == "odd");
  }
  if (name == "divisibleby") {
    const int64_t d = need_int(arg, "divisibleby");
    if (d == 0) throw_type_error("divisibleby 0");
    return need_int(v, "divisibleby") % d == 0;
  }
  if (name == "lower") return v.is_string() && py_lower(v.as_string()) == v.as_string();
  if (name == "upper") return v.is_string() && py_upper(v.as_string()) == v.as_string();
  throw_unsupported("test '" + name + "' is not supported");
}

bool has_methods(const Value& object) {
  return object.is_string() || object.is_list() || (object.is_dict() && !object.is_namespace());
}

Value call_method(const Value& obj, const std::string& name, CallArgs& args,
                  const BuiltinContext& ctx) {
  if (obj.is_string()) {
    const std::string& s = obj.as_string();
    const std::string what = "str." + name + "()";
    if (name == "strip" || name == "lstrip" || name == "rstrip") {
      args.check(what, 1, {"chars"});
      const StripSide side = name == "strip"    ? StripSide::kBoth
                             : name == "lstrip" ? StripSide::kLeft
                                                : StripSide::kRight;
      return Value::string(py_strip(s, optional_string(args.get(0, "chars"), what), side));
    }
    if (name == "split") {
      args.check(what, 2, {"sep", "maxsplit"});
      const Value maxsplit = args.get(1, "maxsplit", Value::integer(-1));
      return string_list(
          py_split(s, optional_string(args.get(0, "sep"), what), need_int(maxsplit, what)));
    }
    if (name == "startswith" || name == "endswith") {
      args.check(what, 1, {});
      const Value arg = args.get(0, "prefix");
      std::vector<std::string> options;
      if (arg.is_list()) {
        for (const Value& o : arg.as_list())
          options.push_back(need_string(o, what));
      } else {
        options.push_back(need_string(arg, what));
      }
      for (const auto& o : options) {
        const bool hit =
            name == "startswith"
                ? s.compare(0, o.size(), o) == 0 && s.size() >= o.size()
                : s.size() >= o.size() && s.compare(s.size() - o.size(), o.size(), o) == 0;
        if (hit) return Value::boolean(true);
      }
      return Value::boolean(false);
    }
    if (name == "removeprefix" || name == "removesuffix") {
      args.check(what, 1, {});
      const std::string affix = need_string(args.get(0, "affix"), what);
      if (s.size() < affix.size()) return obj;
      if (name == "removeprefix")
        return s.compare(0, affix.size(), affix) == 0 ? Value::string(s.substr(affix.size())) : obj;
      return s.compare(s.size() - affix.size(), affix.size(), affix) == 0
                 ? Value::string(s.substr(0, s.size() - affix.size()))
                 : obj;
    }
    if (name == "splitlines") {
      args.check(what, 0, {});
      std::vector<std::string> lines = py_split(s, std::string("\n"), -1);
      if (!lines.empty() && lines.back().empty()) lines.pop_back();
      return string_list(lines);
    }
    if (name == "upper") return Value::string(py_upper(s));
    if (name == "lower") return Value::string(py_lower(s));
    if (name == "title") return Value::string(py_title(s));
    if (name == "capitalize") return Value::string(py_capitalize(s));
    if (name == "replace") {
      args.check(what, 3, {"count"});
      const Value count = args.get(2, "count", Value::integer(-1));
      std::string out = py_replace(s, need_string(args.get(0, "old"), what),
                                   need_string(args.get(1, "new"), what), need_int(count, what));
      check_size(out.size(), ctx.limits);
      return Value::string(std::move(out));
    }
    if (name == "find" || name == "count") {
      args.check(what, 1, {});
      const std::string sub = need_string(args.get(0, "sub"), what);
      if (name == "find") {
        const size_t hit = s.find(sub);
        if (hit == std::string::npos) return Value::integer(-1);
        return Value::integer(static_cast<int64_t>(utf8_boundaries(s.substr(0, hit)).size() - 1));
      }
      if (sub.empty()) return Value::integer(static_cast<int64_t>(utf8_boundaries(s).size()));
      int64_t n = 0;
      for (size_t p = s.find(sub); p != std::string::npos; p = s.find(sub, p + sub.size()))
        ++n;
      return Value::integer(n);
    }
    if (name == "join") {
      args.check(what, 1, {});
      std::string out;
      bool first = true;
      for (const Value& item : iterate(args.get(0, "iterable"))) {
        if (!first) out += s;
        first = false;
        out += need_string(item, what);
        check_size(out.size(), ctx.limits);
      }
      return Value::string(std::move(out));
    }
    if (name == "isdigit" || name == "isspace" || name == "isalpha" || name == "isalnum") {
      if (s.empty()) return Value::boolean(false);
      for (unsigned char c : s) {
        const bool ok = name == "isdigit"   ? std::isdigit(c) != 0
                        : name == "isspace" ? std::isspace(c) != 0
                        : name == "isalpha" ? std::isalpha(c) != 0
                                            : std::isalnum(c) != 0;
        if (!ok) return Value::boolean(false);
      }
      return Value::boolean(true);
    }
    throw_unsupported("method '" + name + "' of str is not supported");
  }
  if (obj.is_dict() && !obj.is_namespace()) {
    const Dict& d = obj.as_dict();
    const std::string what = "dict." + name + "()";
    if (name == "items" || name == "keys" || name == "values") {
      args.check(what, 0, {});
      List out;
      for (const auto& [k, v] : d.items) {
        if (name == "items") {
          out.push_back(Value::tuple({Value::string(k), v}));
        } else {
          out.push_back(name == "keys" ? Value::string(k) : v);
        }
      }
      return Value::list(std::move(out));
    }
    if (name == "get") {
      args.check(what, 2, {});
      const Value key = args.get(0, "key");
      const Value* hit = key.is_string() ? d.find(key.as_string()) : nullptr;
      return hit ? *hit : args.get(1, "default", Value::none());
    }
    throw_unsupported("method '" + name + "' of dict is not supported");
  }
  if (obj.is_list()) {
    const List& l = obj.as_list();
    if (name == "count") {
      args.check("list.count()", 1, {});
      const Value x = args.get(0, "value");
      return Value::integer(
          std::count_if(l.begin(), l.end(), [&](const Value& v) { return equals(v, x); }));
    }
    if (name == "index") {
      args.check("list.index()", 1, {});
      const Value x = args.get(0, "value");
      for (size_t i = 0; i < l.size(); ++i) {
        if (equals(l[i], x)) return Value::integer(static_cast<int64_t>(i));
      }
      throw_type_error(x.repr() + " is not in list");
    }
    if (name == "append" || name == "extend" || name == "pop" || name == "insert" ||
        name == "remove" || name == "clear" || name == "sort" || name == "reverse") {
      throw_unsupported("method '" + name +
                        "' of list is not supported: lists are immutable in templates");
    }
    throw_unsupported("method '" + name + "' of list is not supported");
  }
  throw_type_error("'" + obj.type_name() + "' object has no method '" + name + "'");
}

void add_globals(Dict& globals, const BuiltinContext& ctx) {
  const Limits limits = ctx.limits;
  globals.set("range", Value::callable("range", [limits](CallArgs& args) {
                args.check("range", 3, {});
                if (args.positional.empty()) throw_type_error("range expected at least 1 argument");
                int64_t start = 0, stop, step = 1;
                if (args.positional.size() == 1) {
                  stop = need_int(args.positional[0], "range");
                } else {
                  start = need_int(args.positional[0], "range");
                  stop = need_int(args.positional[1], "range");
                  if (args.positional.size() == 3) step = need_int(args.positional[2], "range");
                }
                if (step == 0) throw_type_error("range() arg 3 must not be zero");
                const double n =
                    std::max(0.0, std::ceil((static_cast<double>(stop) - start) / step));
                if (n > static_cast<double>(limits.max_loop_iterations)) {
                  throw_limit("range() of " + std::to_string(static_cast<int64_t>(n)) +
                              " items exceeds max_loop_iterations (" +
                              std::to_string(limits.max_loop_iterations) + ")");
                }
                List out;
                for (int64_t i = 0, x = start; i < static_cast<int64_t>(n); ++i, x += step)
                  out.push_back(Value::integer(x));
                return Value::list(std::move(out));
              }));
  auto make_dict = [](CallArgs& args, bool is_namespace) {
    Value d = is_namespace ? Value::namespace_object() : Value::dict();
    for (const Value& p : args.positional) {
      if (!p.is_dict()) throw_type_error("namespace()/dict() positional argument must be a dict");
      for (const auto& [k, v] : p.as_dict().items)
        d.as_dict().set(k, v);
    }
    for (const auto& [k, v] : args.keyword)
      d.as_dict().set(k, v);
    return d;
  };
  globals.set("namespace", Value::callable("namespace", [make_dict](CallArgs& args) {
                return make_dict(args, true);
              }));
  globals.set("dict", Value::callable(
                          "dict", [make_dict](CallArgs& args) { return make_dict(args, false); }));
  globals.set("raise_exception", Value::callable("raise_exception", [](CallArgs& args) -> Value {
                throw Error(ErrorKind::kRaised, args.get(0, "message").str());
              }));
  const Clock clock = ctx.clock;
  globals.set("strftime_now", Value::callable("strftime_now", [clock](CallArgs& args) {
                args.check("strftime_now", 1, {});
                const std::string format = need_string(args.get(0, "format"), "strftime_now");
                if (format.size() > 256) throw_type_error("strftime_now format is too long");
                const auto now = clock ? clock() : std::chrono::system_clock::now();
                const std::time_t t = std::chrono::system_clock::to_time_t(now);
                std::tm tm{};
                gmtime_r(&t, &tm);
                char buf[1024];
                const size_t n = std::strftime(buf, sizeof(buf), format.c_str(), &tm);
                return Value::string(std::string(buf, n));
              }));
}

}  // namespace sieve::jinja
