#include "engine/text/chat_template/jinja_interpreter.h"

#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <unordered_map>
#include <unordered_set>

namespace sieve::jinja {
namespace {

struct Scope {
  std::shared_ptr<Scope> parent;
  std::unordered_map<std::string, Value> vars;
};
using ScopePtr = std::shared_ptr<Scope>;

enum class Flow { kNormal, kBreak, kContinue };

[[noreturn]] void operand_error(const std::string& op, const Value& a, const Value& b) {
  throw_type_error("unsupported operand type(s) for " + op + ": '" + a.type_name() + "' and '" +
                   b.type_name() + "'");
}

// Python's floor division and modulo on integers.
int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}
int64_t floor_mod(int64_t a, int64_t b) {
  int64_t r = a % b;
  if (r != 0 && ((r < 0) != (b < 0))) r += b;
  return r;
}

class Interpreter {
 public:
  Interpreter(const Limits& limits, const Clock& clock) : limits_(limits) {
    ctx_.limits = limits;
    ctx_.clock = clock;
    ctx_.filter = [this](const std::string& name, const Value& v, CallArgs& args) {
      return apply_filter(name, v, args, ctx_);
    };
    ctx_.test = [this](const std::string& name, const Value& v, CallArgs& args) {
      return apply_test(name, v, args, ctx_);
    };
  }
  Interpreter(const Interpreter&) = delete;  // ctx_ captures `this`
  Interpreter& operator=(const Interpreter&) = delete;

  std::string run(const Template& tmpl, const Dict& variables) {
    auto root = std::make_shared<Scope>();
    Dict globals;
    add_globals(globals, ctx_);
    for (auto& [k, v] : globals.items)
      root->vars[k] = v;
    for (const auto& [k, v] : variables.items)
      root->vars[k] = v;
    std::string out;
    exec_body(tmpl.body, root, out);
    return out;
  }

 private:
  // ---- statements ----

  Flow exec_body(const Body& body, const ScopePtr& scope, std::string& out) {
    for (const NodePtr& node : body) {
      const Flow flow = exec(*node, scope, out);
      if (flow != Flow::kNormal) return flow;
    }
    return Flow::kNormal;
  }

  Flow exec(const Node& node, const ScopePtr& scope, std::string& out) {
    try {
      return exec_inner(node, scope, out);
    } catch (Error& e) {
      if (e.offset() == Error::kNoOffset) e.set_offset(node.offset);
      throw;
    }
  }

  void append(std::string& out, const std::string& s) {
    check_size(out.size() + s.size(), limits_);
    out += s;
  }

  Flow exec_inner(const Node& node, const ScopePtr& scope, std::string& out) {
    switch (node.kind) {
      case Node::Kind::kText:
        append(out, node.text);
        return Flow::kNormal;
      case Node::Kind::kOutput:
        append(out, eval(*node.expr, scope).str());
        return Flow::kNormal;
      case Node::Kind::kIf:
        for (size_t i = 0; i < node.conditions.size(); ++i) {
          if (eval(*node.conditions[i], scope).truthy())
            return exec_body(node.bodies[i], scope, out);
        }
        return exec_body(node.else_body, scope, out);
      case Node::Kind::kFor:
        return exec_for(node, scope, out);
      case Node::Kind::kSet: {
        Value v = eval(*node.expr, scope);
        if (node.namespace_attr) {
          const Value ns = lookup(node.targets[0], scope);
          if (!ns.is_namespace()) {
            throw_type_error("cannot assign attribute on non-namespace object '" + node.targets[0] +
                             "' (" + ns.type_name() + ")");
          }
          check_storable(v, &ns.as_dict());
          ns.as_dict().set(node.text, std::move(v));
        } else {
          assign_targets(node.targets, v, *scope);
        }
        return Flow::kNormal;
      }
      case Node::Kind::kSetBlock: {
        std::string captured;
        exec_body(node.body, scope, captured);
        scope->vars[node.targets[0]] = Value::string(std::move(captured));
        return Flow::kNormal;
      }
      case Node::Kind::kMacro:
        scope->vars[node.text] = make_macro(node, scope);
        return Flow::kNormal;
      case Node::Kind::kBreak:
        return Flow::kBreak;
      case Node::Kind::kContinue:
        return Flow::kContinue;
      case Node::Kind::kGeneration:
        return exec_body(node.body, scope, out);
    }
    return Flow::kNormal;
  }

  // Namespace attributes are the only way to grow a value after it is built, so checking
  // them keeps every value acyclic and at most Value::kMaxDepth deep.
  static void check_storable(const Value& v, const Dict* target) {
    std::unordered_set<const void*> seen;
    struct Walk {
      const Dict* target;
      std::unordered_set<const void*>& seen;
      void operator()(const Value& v, int depth) {
        if (!v.is_list() && !v.is_dict()) return;
        if (depth > Value::kMaxDepth) {
          throw_limit("a namespace value would nest deeper than " +
                      std::to_string(Value::kMaxDepth) + " levels");
        }
        const void* id = v.is_list() ? static_cast<const void*>(&v.as_list())
                                     : static_cast<const void*>(&v.as_dict());
        if (id == target) throw_type_error("a namespace cannot contain itself");
        if (!seen.insert(id).second) return;
        if (v.is_list()) {
          for (const Value& item : v.as_list())
            (*this)(item, depth + 1);
        } else {
          for (const auto& [k, item] : v.as_dict().items)
            (*this)(item, depth + 1);
        }
      }
    };
    Walk{target, seen}(v, 1);
  }

  void assign_targets(const std::vector<std::string>& targets, const Value& v, Scope& scope) {
    if (targets.size() == 1) {
      scope.vars[targets[0]] = v;
      return;
    }
    const List items = iterate(v);
    if (items.size() != targets.size()) {
      throw_type_error("cannot unpack " + std::to_string(items.size()) + " values into " +
                       std::to_string(targets.size()) + " names");
    }
    for (size_t i = 0; i < targets.size(); ++i)
      scope.vars[targets[i]] = items[i];
  }

  void count_iteration() {
    if (++iterations_ > limits_.max_loop_iterations) {
      throw_limit("loops ran more than max_loop_iterations (" +
                  std::to_string(limits_.max_loop_iterations) + ") iterations");
    }
  }

  Flow exec_for(const Node& node, const ScopePtr& scope, std::string& out) {
    List items = iterate(eval(*node.expr, scope));
    if (node.condition) {
      List kept;
      for (Value& item : items) {
        count_iteration();
        auto probe = std::make_shared<Scope>();
        probe->parent = scope;
        assign_targets(node.targets, item, *probe);
        if (eval(*node.condition, probe).truthy()) kept.push_back(std::move(item));
      }
      items = std::move(kept);
    }
    if (items.empty()) {
      auto inner = std::make_shared<Scope>();
      inner->parent = scope;
      exec_body(node.else_body, inner, out);
      return Flow::kNormal;
    }
    const auto n = static_cast<int64_t>(items.size());
    for (int64_t i = 0; i < n; ++i) {
      count_iteration();
      auto inner = std::make_shared<Scope>();
      inner->parent = scope;
      assign_targets(node.targets, items[static_cast<size_t>(i)], *inner);
      Value loop = Value::dict();
      Dict& l = loop.as_dict();
      l.is_loop = true;
      l.set("index", Value::integer(i + 1));
      l.set("index0", Value::integer(i));
      l.set("revindex", Value::integer(n - i));
      l.set("revindex0", Value::integer(n - i - 1));
      l.set("first", Value::boolean(i == 0));
      l.set("last", Value::boolean(i == n - 1));
      l.set("length", Value::integer(n));
      l.set("depth", Value::integer(1));
      l.set("depth0", Value::integer(0));
      if (i > 0) l.set("previtem", items[static_cast<size_t>(i - 1)]);
      if (i + 1 < n) l.set("nextitem", items[static_cast<size_t>(i + 1)]);
      inner->vars["loop"] = std::move(loop);
      if (exec_body(node.body, inner, out) == Flow::kBreak) break;
    }
    return Flow::kNormal;
  }

  // A macro is a callable closing over the scope that defined it (held weakly: the scope
  // holds the macro, so a strong reference would be a cycle).
  Value make_macro(const Node& node, const ScopePtr& scope) {
    std::weak_ptr<Scope> weak = scope;
    const Node* def = &node;
    return Value::callable(node.text, [this, def, weak](CallArgs& args) {
      ScopePtr defining = weak.lock();
      if (!defining) throw_type_error("macro '" + def->text + "' outlived its scope");
      return call_macro(*def, defining, args);
    });
  }

  struct DepthGuard {
    explicit DepthGuard(int& depth) : depth_(depth) { ++depth_; }
    ~DepthGuard() { --depth_; }
    int& depth_;
  };

  Value call_macro(const Node& def, const ScopePtr& defining, CallArgs& args) {
    DepthGuard guard(call_depth_);
    if (call_depth_ > limits_.max_call_depth) {
      throw_limit("macro calls nested deeper than max_call_depth (" +
                  std::to_string(limits_.max_call_depth) + ")");
    }
    if (args.positional.size() > def.params.size()) {
      throw_type_error("macro '" + def.text + "' takes not more than " +
                       std::to_string(def.params.size()) + " argument(s)");
    }
    for (const auto& [k, v] : args.keyword) {
      bool known = false;
      for (const auto& p : def.params)
        known = known || p.first == k;
      if (!known)
        throw_type_error("macro '" + def.text + "' takes no keyword argument '" + k + "'");
    }
    auto scope = std::make_shared<Scope>();
    scope->parent = defining;
    for (size_t i = 0; i < def.params.size(); ++i) {
      const auto& [name, fallback] = def.params[i];
      if (args.has(i, name)) {
        scope->vars[name] = args.get(i, name);
      } else if (fallback) {
        scope->vars[name] = eval(*fallback, scope);
      } else {
        scope->vars[name] = Value();
      }
    }
    std::string out;
    exec_body(def.body, scope, out);
    return Value::string(std::move(out));
  }

  // ---- expressions ----

  Value lookup(const std::string& name, const ScopePtr& scope) const {
    for (const Scope* s = scope.get(); s != nullptr; s = s->parent.get()) {
      auto it = s->vars.find(name);
      if (it != s->vars.end()) return it->second;
    }
    return {};
  }

  Value eval(const Expr& e, const ScopePtr& scope) {
    try {
      return eval_inner(e, scope);
    } catch (Error& err) {
      if (err.offset() == Error::kNoOffset) err.set_offset(e.offset);
      throw;
    }
  }

  CallArgs eval_args(const Args& args, const ScopePtr& scope) {
    CallArgs out;
    for (const ExprPtr& a : args.positional)
      out.positional.push_back(eval(*a, scope));
    for (const auto& [k, a] : args.keyword)
      out.keyword.emplace_back(k, eval(*a, scope));
    return out;
  }

  std::optional<int64_t> slice_bound(const ExprPtr& e, const ScopePtr& scope) {
    if (!e) return std::nullopt;
    const Value v = eval(*e, scope);
    if (v.is_none() || v.is_undefined()) return std::nullopt;
    if (!v.is_int() && !v.is_bool()) throw_type_error("slice indices must be integers or None");
    return v.as_int();
  }

  Value eval_inner(const Expr& e, const ScopePtr& scope) {
    using K = Expr::Kind;
    switch (e.kind) {
      case K::kLiteral:
        return e.value;
      case K::kName:
        return lookup(e.name, scope);
      case K::kList: {
        List items;
        for (const ExprPtr& item : e.items)
          items.push_back(eval(*item, scope));
        return e.negated ? Value::tuple(std::move(items)) : Value::list(std::move(items));
      }
      case K::kDict: {
        Value d = Value::dict();
        for (size_t i = 0; i + 1 < e.items.size(); i += 2) {
          const Value key = eval(*e.items[i], scope);
          if (!key.is_string())
            throw_type_error("dict keys must be strings, got " + key.type_name());
          d.as_dict().set(key.as_string(), eval(*e.items[i + 1], scope));
        }
        return d;
      }
      case K::kAttr:
        return get_attr(eval(*e.a, scope), e.name);
      case K::kIndex:
        return get_item(eval(*e.a, scope), eval(*e.b, scope));
      case K::kSlice: {
        const Value obj = eval(*e.items[0], scope);
        return slice(obj, slice_bound(e.a, scope), slice_bound(e.b, scope),
                     slice_bound(e.c, scope));
      }
      case K::kCall:
        return eval_call(e, scope);
      case K::kFilter: {
        const Value operand = eval(*e.a, scope);
        CallArgs args = eval_args(e.args, scope);
        return apply_filter(e.name, operand, args, ctx_);
      }
      case K::kTest: {
        const Value operand = eval(*e.a, scope);
        CallArgs args = eval_args(e.args, scope);
        return Value::boolean(apply_test(e.name, operand, args, ctx_) != e.negated);
      }
      case K::kNot:
        return Value::boolean(!eval(*e.a, scope).truthy());
      case K::kNegate:
      case K::kPlus: {
        const Value v = eval(*e.a, scope);
        const bool neg = e.kind == K::kNegate;
        if (v.is_float()) return Value::number(neg ? -v.as_double() : v.as_double());
        if (v.is_int() || v.is_bool()) return Value::integer(neg ? -v.as_int() : v.as_int());
        throw_type_error(std::string("bad operand type for unary ") + (neg ? "-" : "+") + ": '" +
                         v.type_name() + "'");
      }
      case K::kBinary:
        return eval_binary(e, scope);
      case K::kCondition:
        if (eval(*e.a, scope).truthy()) return eval(*e.b, scope);
        return e.c ? eval(*e.c, scope) : Value();
    }
    return {};
  }

  Value eval_call(const Expr& e, const ScopePtr& scope) {
    if (e.a->kind == Expr::Kind::kAttr) {
      const Value obj = eval(*e.a->a, scope);
      if (obj.is_dict() && obj.as_dict().is_loop && e.a->name == "cycle") {
        // loop.cycle(a, b, ...): the argument at loop.index0 modulo their count.
        CallArgs args = eval_args(e.args, scope);
        if (args.positional.empty()) throw_type_error("loop.cycle needs at least one argument");
        const int64_t i = obj.as_dict().find("index0")->as_int();
        return args.positional[static_cast<size_t>(i) % args.positional.size()];
      }
      if (has_methods(obj)) {
        CallArgs args = eval_args(e.args, scope);
        return call_method(obj, e.a->name, args, ctx_);
      }
    }
    const Value callee = eval(*e.a, scope);
    if (!callee.is_callable()) {
      const std::string what = e.a->kind == Expr::Kind::kName   ? "'" + e.a->name + "'"
                               : e.a->kind == Expr::Kind::kAttr ? "'" + e.a->name + "'"
                                                                : "the value";
      if (callee.is_undefined()) throw_type_error(what + " is undefined and cannot be called");
      throw_type_error(what + " is a '" + callee.type_name() + "', not callable");
    }
    CallArgs args = eval_args(e.args, scope);
    return callee.as_callable().fn(args);
  }

  Value eval_binary(const Expr& e, const ScopePtr& scope) {
    const std::string& op = e.name;
    if (op == "and") {
      Value a = eval(*e.a, scope);
      return a.truthy() ? eval(*e.b, scope) : a;
    }
    if (op == "or") {
      Value a = eval(*e.a, scope);
      return a.truthy() ? a : eval(*e.b, scope);
    }
    const Value a = eval(*e.a, scope);
    const Value b = eval(*e.b, scope);
    if (op == "in") return Value::boolean(contains(b, a));
    if (op == "notin") return Value::boolean(!contains(b, a));
    if (op == "==") return Value::boolean(equals(a, b));
    if (op == "!=") return Value::boolean(!equals(a, b));
    if (op == "<") return Value::boolean(less_than(a, b));
    if (op == ">") return Value::boolean(less_than(b, a));
    if (op == "<=") return Value::boolean(!less_than(b, a));
    if (op == ">=") return Value::boolean(!less_than(a, b));
    if (op == "~") {
      std::string s = a.str() + b.str();
      check_size(s.size(), limits_);
      return Value::string(std::move(s));
    }
    return arithmetic(op, a, b);
  }

  Value arithmetic(const std::string& op, const Value& a, const Value& b) {
    if (a.is_number() && b.is_number()) {
      const bool ints = !a.is_float() && !b.is_float();
      if (ints) {
        const int64_t x = a.as_int(), y = b.as_int();
        int64_t r = 0;
        bool overflow = false;
        if (op == "+") {
          overflow = __builtin_add_overflow(x, y, &r);
        } else if (op == "-") {
          overflow = __builtin_sub_overflow(x, y, &r);
        } else if (op == "*") {
          overflow = __builtin_mul_overflow(x, y, &r);
        } else if (op == "/") {
          if (y == 0) throw_type_error("division by zero");
          return Value::number(static_cast<double>(x) / static_cast<double>(y));
        } else if (op == "//" || op == "%") {
          if (y == 0) throw_type_error("integer division or modulo by zero");
          if (x == INT64_MIN && y == -1) throw_type_error("integer overflow");
          return Value::integer(op == "//" ? floor_div(x, y) : floor_mod(x, y));
        } else if (op == "**") {
          if (y < 0) return Value::number(std::pow(static_cast<double>(x), static_cast<double>(y)));
          r = 1;
          for (int64_t i = 0; i < y && !overflow; ++i)
            overflow = __builtin_mul_overflow(r, x, &r);
          if (x == 0 || x == 1) overflow = false, r = (y == 0 ? 1 : x);
        }
        if (overflow) throw_type_error("integer overflow in '" + op + "'");
        return Value::integer(r);
      }
      const double x = a.as_double(), y = b.as_double();
      if (op == "+") return Value::number(x + y);
      if (op == "-") return Value::number(x - y);
      if (op == "*") return Value::number(x * y);
      if (op == "/" || op == "//" || op == "%") {
        if (y == 0) throw_type_error("float division by zero");
        if (op == "/") return Value::number(x / y);
        if (op == "//") return Value::number(std::floor(x / y));
        double m = std::fmod(x, y);
        if (m != 0 && ((m < 0) != (y < 0))) m += y;
        if (m == 0) m = std::copysign(0.0, y);  // Python: a zero remainder takes y's sign
        return Value::number(m);
      }
      if (op == "**") return Value::number(std::pow(x, y));
    }
    if (op == "+") {
      if (a.is_string() && b.is_string()) {
        check_size(a.as_string().size() + b.as_string().size(), limits_);
        return Value::string(a.as_string() + b.as_string());
      }
      if (a.is_list() && b.is_list()) {
        check_size(a.as_list().size() + b.as_list().size(), limits_);
        List items = a.as_list();
        items.insert(items.end(), b.as_list().begin(), b.as_list().end());
        return Value::list(std::move(items));
      }
    }
    if (op == "*") {
      const Value& seq = a.is_int() ? b : a;
      const Value& count = a.is_int() ? a : b;
      if (count.is_int() && (seq.is_string() || seq.is_list())) {
        const int64_t n = std::max<int64_t>(0, count.as_int());
        const size_t unit = seq.is_string() ? seq.as_string().size() : seq.as_list().size();
        if (unit > 0 && static_cast<uint64_t>(n) > limits_.max_output_bytes / unit)
          check_size(limits_.max_output_bytes + 1, limits_);
        if (seq.is_string()) {
          std::string s;
          for (int64_t i = 0; i < n; ++i)
            s += seq.as_string();
          return Value::string(std::move(s));
        }
        List items;
        for (int64_t i = 0; i < n; ++i)
          items.insert(items.end(), seq.as_list().begin(), seq.as_list().end());
        return Value::list(std::move(items));
      }
    }
    if (op == "%" && a.is_string())
      throw_unsupported("string formatting with '%' is not supported");
    operand_error(op, a, b);
  }

  Limits limits_;
  BuiltinContext ctx_;
  int call_depth_ = 0;
  int64_t iterations_ = 0;
};

}  // namespace

std::string render(const Template& tmpl, const Dict& variables, const Limits& limits,
                   const Clock& clock) {
  return Interpreter(limits, clock).run(tmpl, variables);
}

}  // namespace sieve::jinja
