// The value model of the Jinja interpreter: Python-like values (None, bool, int, float, str,
// list, dict, namespace, callable) plus Jinja's Undefined, with Python semantics for
// truthiness, equality and str()/repr().
//
// Lists, dicts and namespaces are shared by reference, as in Python: `{% set ns.x = 1 %}`
// changes the namespace every holder sees. Dicts keep insertion order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

namespace sieve::jinja {

// What an error is, so that chat_template.cpp maps it to a StatusCode.
enum class ErrorKind {
  kSyntax,       // the template does not parse
  kType,         // a value of the wrong type, an undefined value where one is needed, ...
  kRaised,       // raise_exception() from the template
  kUnsupported,  // a construct this interpreter does not implement
  kLimit,        // output size, recursion depth, loop iterations
};

// Thrown inside the lexer, parser and interpreter; ChatTemplate turns it into a Status, so it
// never leaves engine/chat_template. `offset` is the byte offset in the (newline-normalised)
// source, or kNoOffset until the innermost expression that sees the error fills it in.
class Error : public std::runtime_error {
 public:
  static constexpr size_t kNoOffset = static_cast<size_t>(-1);
  Error(ErrorKind kind, const std::string& message, size_t offset = kNoOffset)
      : std::runtime_error(message), kind_(kind), offset_(offset) {}
  ErrorKind kind() const { return kind_; }
  size_t offset() const { return offset_; }
  void set_offset(size_t offset) { offset_ = offset; }

 private:
  ErrorKind kind_;
  size_t offset_;
};

[[noreturn]] void throw_type_error(const std::string& message);
[[noreturn]] void throw_unsupported(const std::string& message);
[[noreturn]] void throw_limit(const std::string& message);

// Bounds that keep a template from running away.
struct Limits {
  size_t max_output_bytes = 16u << 20;    // also caps every string or list a template builds
  int max_call_depth = 64;                // nested macro calls
  int64_t max_loop_iterations = 1 << 20;  // all loop iterations of one render; range() length
};

class Value;
using List = std::vector<Value>;
struct Dict;
struct Callable;
struct CallArgs;

class Value {
 public:
  enum class Kind { kUndefined, kNone, kBool, kInt, kFloat, kString, kList, kDict, kCallable };

  Value() = default;  // Undefined
  static Value none();
  static Value boolean(bool b);
  static Value integer(int64_t i);
  static Value number(double d);
  static Value string(std::string s);
  static Value list(List items = {});
  // A Python tuple: a list that prints as (a, b) (tuple literals, dict.items() pairs).
  static Value tuple(List items);
  static Value dict();  // a new empty dict
  static Value namespace_object();
  static Value callable(std::string name, std::function<Value(CallArgs&)> fn);
  // Fails (type error) on input nested deeper than kMaxDepth.
  static Value from_json(const nlohmann::ordered_json& j, int depth = 0);
  // How deep lists and dicts may nest: input JSON and namespace assignments are checked, so
  // printing, comparing and freeing values never recurses deeper than this.
  static constexpr int kMaxDepth = 512;

  Kind kind() const { return static_cast<Kind>(data_.index()); }
  bool is_undefined() const { return kind() == Kind::kUndefined; }
  bool is_none() const { return kind() == Kind::kNone; }
  bool is_bool() const { return kind() == Kind::kBool; }
  bool is_int() const { return kind() == Kind::kInt; }
  bool is_float() const { return kind() == Kind::kFloat; }
  bool is_number() const { return is_int() || is_float() || is_bool(); }  // Python: bool is int
  bool is_string() const { return kind() == Kind::kString; }
  bool is_list() const { return kind() == Kind::kList; }  // lists and tuples
  bool is_tuple() const { return is_list() && tuple_; }
  bool is_dict() const { return kind() == Kind::kDict; }
  bool is_namespace() const;
  bool is_callable() const { return kind() == Kind::kCallable; }

  bool as_bool() const { return std::get<bool>(data_); }
  int64_t as_int() const;    // bool or int
  double as_double() const;  // bool, int or float
  const std::string& as_string() const { return std::get<std::string>(data_); }
  List& as_list() const { return *std::get<std::shared_ptr<List>>(data_); }
  Dict& as_dict() const { return *std::get<std::shared_ptr<Dict>>(data_); }
  const Callable& as_callable() const { return *std::get<std::shared_ptr<const Callable>>(data_); }

  bool truthy() const;
  // Python str(): None → "None", True → "True", 1.0 → "1.0", lists and dicts as repr().
  // Undefined prints as "".
  std::string str() const;
  std::string repr() const;
  // Python's type name, for error messages: 'str', 'int', 'NoneType', 'undefined', ...
  std::string type_name() const;

 private:
  std::variant<std::monostate, std::nullptr_t, bool, int64_t, double, std::string,
               std::shared_ptr<List>, std::shared_ptr<Dict>, std::shared_ptr<const Callable>>
      data_;
  bool tuple_ = false;
};

// An insertion-ordered dict with string keys (all a chat template needs: JSON objects,
// namespace(), loop, dict literals with string keys).
struct Dict {
  std::vector<std::pair<std::string, Value>> items;
  bool is_namespace = false;
  bool is_loop = false;  // the `loop` object of a for loop (it has loop.cycle())

  const Value* find(const std::string& key) const;
  void set(const std::string& key, Value v);
};

struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;

  // The argument at `index` or named `name`, else `fallback`. Marks nothing; see check_known.
  Value get(size_t index, const std::string& name, Value fallback = {}) const;
  bool has(size_t index, const std::string& name) const;
  // Fails when more than `max_positional` positional or any keyword outside `names` is given.
  void check(const std::string& what, size_t max_positional,
             std::initializer_list<const char*> names) const;
};

struct Callable {
  std::string name;
  std::function<Value(CallArgs&)> fn;
};

// obj.name and obj[key] as Jinja2's environment resolves them: Undefined when missing.
Value get_attr(const Value& object, const std::string& name);
Value get_item(const Value& object, const Value& key);
// obj[start:stop:step] on str and list, Python semantics.
Value slice(const Value& object, std::optional<int64_t> start, std::optional<int64_t> stop,
            std::optional<int64_t> step);
// Python `item in container` (substring, list element, dict key); Undefined holds nothing.
bool contains(const Value& container, const Value& item);
// The items `for` sees: list elements, dict keys, string characters; Undefined is empty.
List iterate(const Value& value);
// Python <, for numbers and strings.
bool less_than(const Value& a, const Value& b);
// Python ==, with 1 == 1.0 == True and element-wise lists and dicts; Undefined equals only
// Undefined.
bool equals(const Value& a, const Value& b);
// repr() of a float as Python writes it: shortest round-trip digits, "1.0", "1e+16", "inf".
std::string python_float_repr(double d);
// Number of code points in UTF-8 text, and the code point boundaries (byte offsets, size+1).
std::vector<size_t> utf8_boundaries(const std::string& s);

}  // namespace sieve::jinja
