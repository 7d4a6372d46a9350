#include "engine/text/chat_template/jinja_parser.h"

#include <initializer_list>

namespace sieve::jinja {
namespace {

constexpr int kMaxNesting = 256;  // expressions and statements; keeps the C++ stack small

[[noreturn]] void syntax_error(const std::string& message, size_t offset) {
  throw Error(ErrorKind::kSyntax, message, offset);
}

ExprPtr make_expr(Expr::Kind kind, size_t offset) {
  auto e = std::make_unique<Expr>();
  e->kind = kind;
  e->offset = offset;
  return e;
}

ExprPtr make_binary(const std::string& op, ExprPtr a, ExprPtr b, size_t offset) {
  ExprPtr e = make_expr(Expr::Kind::kBinary, offset);
  e->name = op;
  e->a = std::move(a);
  e->b = std::move(b);
  return e;
}

NodePtr make_node(Node::Kind kind, size_t offset) {
  auto n = std::make_unique<Node>();
  n->kind = kind;
  n->offset = offset;
  return n;
}

std::string describe(const Token& t) {
  switch (t.type) {
    case TokenType::kText:
      return "template text";
    case TokenType::kVarBegin:
      return "'{{'";
    case TokenType::kVarEnd:
      return "'}}'";
    case TokenType::kBlockBegin:
      return "'{%'";
    case TokenType::kBlockEnd:
      return "'%}'";
    case TokenType::kString:
      return "string literal";
    case TokenType::kEnd:
      return "end of template";
    default:
      return "'" + t.text + "'";
  }
}

class Parser {
 public:
  explicit Parser(const std::vector<Token>& tokens) : t_(tokens) {}

  Template run() {
    Template tmpl;
    std::string end;
    tmpl.body = parse_body({}, &end);
    return tmpl;
  }

 private:
  // RAII nesting counter.
  struct Nest {
    explicit Nest(Parser& p, size_t offset) : p_(p) {
      if (++p_.depth_ > kMaxNesting) syntax_error("template nested too deeply", offset);
    }
    ~Nest() { --p_.depth_; }
    Parser& p_;
  };

  const Token& cur() const { return t_[i_]; }
  const Token& peek(size_t n = 1) const { return t_[std::min(i_ + n, t_.size() - 1)]; }
  bool is_op(const char* op) const {
    return cur().type == TokenType::kOperator && cur().text == op;
  }
  bool is_name(const char* name) const {
    return cur().type == TokenType::kName && cur().text == name;
  }
  void expect_op(const char* op) {
    if (!is_op(op))
      syntax_error(std::string("expected '") + op + "', got " + describe(cur()), cur().offset);
    ++i_;
  }
  std::string expect_name() {
    if (cur().type != TokenType::kName)
      syntax_error("expected a name, got " + describe(cur()), cur().offset);
    return t_[i_++].text;
  }
  void expect_block_end() {
    if (cur().type != TokenType::kBlockEnd)
      syntax_error("expected '%}', got " + describe(cur()), cur().offset);
    ++i_;
  }

  // Statements and text up to one of `end_tags` ({% endfor %} ...); the end tag's name is
  // consumed and stored in *found, its '%}' is left for the caller.
  Body parse_body(std::initializer_list<const char*> end_tags, std::string* found) {
    Nest nest(*this, cur().offset);
    Body body;
    for (;;) {
      const Token& tok = cur();
      switch (tok.type) {
        case TokenType::kEnd: {
          if (end_tags.size() == 0) return body;
          std::string expected;
          for (const char* tag : end_tags)
            expected += (expected.empty() ? "" : " or ") + std::string("'") + tag + "'";
          syntax_error("unexpected end of template, expected " + expected, tok.offset);
        }
        case TokenType::kText: {
          NodePtr n = make_node(Node::Kind::kText, tok.offset);
          n->text = tok.text;
          body.push_back(std::move(n));
          ++i_;
          break;
        }
        case TokenType::kVarBegin: {
          ++i_;
          NodePtr n = make_node(Node::Kind::kOutput, tok.offset);
          n->expr = parse_tuple_tail(parse_expression(), TokenType::kVarEnd);
          if (cur().type != TokenType::kVarEnd)
            syntax_error("expected '}}', got " + describe(cur()), cur().offset);
          ++i_;
          body.push_back(std::move(n));
          break;
        }
        case TokenType::kBlockBegin: {
          const Token& kw = peek();
          if (kw.type != TokenType::kName) syntax_error("expected a statement name", kw.offset);
          for (const char* tag : end_tags) {
            if (kw.text == tag) {
              i_ += 2;
              *found = tag;
              return body;
            }
          }
          ++i_;
          body.push_back(parse_statement());
          break;
        }
        default:
          syntax_error("unexpected " + describe(tok), tok.offset);
      }
    }
  }

  NodePtr parse_statement() {
    const Token& kw = cur();
    const std::string& name = kw.text;
    if (name == "if") return parse_if();
    if (name == "for") return parse_for();
    if (name == "set") return parse_set();
    if (name == "macro") return parse_macro();
    if (name == "break" || name == "continue") {
      if (loop_depth_ == 0) syntax_error("'" + name + "' outside a loop", kw.offset);
      ++i_;
      expect_block_end();
      return make_node(name == "break" ? Node::Kind::kBreak : Node::Kind::kContinue, kw.offset);
    }
    if (name == "generation") {
      ++i_;
      expect_block_end();
      NodePtr n = make_node(Node::Kind::kGeneration, kw.offset);
      std::string end;
      n->body = parse_body({"endgeneration"}, &end);
      expect_block_end();
      return n;
    }
    static const char* kUnsupported[] = {"include", "import",     "from",   "extends", "block",
                                         "filter",  "call",       "endraw", "with",    "do",
                                         "trans",   "autoescape", "print"};
    for (const char* u : kUnsupported) {
      if (name == u)
        throw Error(ErrorKind::kUnsupported, "statement '" + name + "' is not supported",
                    kw.offset);
    }
    syntax_error("unknown statement '" + name + "'", kw.offset);
  }

  NodePtr parse_if() {
    NodePtr n = make_node(Node::Kind::kIf, cur().offset);
    ++i_;
    std::string end = "elif";
    while (end == "elif") {
      n->conditions.push_back(parse_expression());
      expect_block_end();
      n->bodies.push_back(parse_body({"elif", "else", "endif"}, &end));
    }
    if (end == "else") {
      expect_block_end();
      n->else_body = parse_body({"endif"}, &end);
    }
    expect_block_end();
    return n;
  }

  std::vector<std::string> parse_targets() {
    std::vector<std::string> names;
    const bool paren = is_op("(");
    if (paren) ++i_;
    names.push_back(expect_name());
    while (is_op(",")) {
      ++i_;
      if (cur().type != TokenType::kName || is_name("in")) break;
      names.push_back(expect_name());
    }
    if (paren) expect_op(")");
    return names;
  }

  NodePtr parse_for() {
    NodePtr n = make_node(Node::Kind::kFor, cur().offset);
    ++i_;
    n->targets = parse_targets();
    if (!is_name("in")) syntax_error("expected 'in', got " + describe(cur()), cur().offset);
    ++i_;
    n->expr = parse_expression(/*with_condition=*/false);
    if (is_name("if")) {
      ++i_;
      n->condition = parse_expression();
    }
    if (is_name("recursive"))
      throw Error(ErrorKind::kUnsupported, "recursive for loops are not supported", cur().offset);
    expect_block_end();
    ++loop_depth_;
    std::string end;
    n->body = parse_body({"else", "endfor"}, &end);
    --loop_depth_;
    if (end == "else") {
      expect_block_end();
      n->else_body = parse_body({"endfor"}, &end);
    }
    expect_block_end();
    return n;
  }

  NodePtr parse_set() {
    const size_t offset = cur().offset;
    ++i_;
    NodePtr n = make_node(Node::Kind::kSet, offset);
    n->targets.push_back(expect_name());
    if (is_op(".")) {
      ++i_;
      n->namespace_attr = true;
      n->text = expect_name();
    } else {
      while (is_op(",")) {
        ++i_;
        n->targets.push_back(expect_name());
      }
    }
    if (is_op("=")) {
      ++i_;
      n->expr = parse_tuple_tail(parse_expression(), TokenType::kBlockEnd);  // set a, b = 1, 2
      expect_block_end();
      return n;
    }
    if (n->namespace_attr || n->targets.size() != 1)
      syntax_error("expected '=' in set", cur().offset);
    if (is_op("|"))
      throw Error(ErrorKind::kUnsupported, "filters on block set are not supported", cur().offset);
    expect_block_end();
    n->kind = Node::Kind::kSetBlock;
    std::string end;
    n->body = parse_body({"endset"}, &end);
    expect_block_end();
    return n;
  }

  NodePtr parse_macro() {
    NodePtr n = make_node(Node::Kind::kMacro, cur().offset);
    ++i_;
    n->text = expect_name();
    expect_op("(");
    while (!is_op(")")) {
      std::string param = expect_name();
      ExprPtr fallback;
      if (is_op("=")) {
        ++i_;
        fallback = parse_expression();
      }
      n->params.emplace_back(std::move(param), std::move(fallback));
      if (!is_op(")")) expect_op(",");
    }
    ++i_;
    expect_block_end();
    const int saved_loops = loop_depth_;
    loop_depth_ = 0;
    std::string end;
    n->body = parse_body({"endmacro"}, &end);
    loop_depth_ = saved_loops;
    if (cur().type == TokenType::kName) ++i_;  // {% endmacro name %}
    expect_block_end();
    return n;
  }

  // ---- expressions ----

  // `first, second, ...` up to `end` is a tuple without parentheses (Jinja2's parse_tuple).
  ExprPtr parse_tuple_tail(ExprPtr first, TokenType end) {
    if (!is_op(",")) return first;
    ExprPtr tuple = make_expr(Expr::Kind::kList, first->offset);
    tuple->negated = true;
    tuple->items.push_back(std::move(first));
    while (is_op(",")) {
      ++i_;
      if (cur().type == end) break;
      tuple->items.push_back(parse_expression());
    }
    return tuple;
  }

  ExprPtr parse_expression(bool with_condition = true) {
    Nest nest(*this, cur().offset);
    ExprPtr e = parse_or();
    while (with_condition && is_name("if")) {
      const size_t offset = cur().offset;
      ++i_;
      ExprPtr cond = make_expr(Expr::Kind::kCondition, offset);
      cond->a = parse_or();
      cond->b = std::move(e);
      if (is_name("else")) {
        ++i_;
        cond->c = parse_expression();
      }
      e = std::move(cond);
    }
    return e;
  }

  ExprPtr parse_or() {
    ExprPtr e = parse_and();
    while (is_name("or")) {
      const size_t offset = cur().offset;
      ++i_;
      e = make_binary("or", std::move(e), parse_and(), offset);
    }
    return e;
  }

  ExprPtr parse_and() {
    ExprPtr e = parse_not();
    while (is_name("and")) {
      const size_t offset = cur().offset;
      ++i_;
      e = make_binary("and", std::move(e), parse_not(), offset);
    }
    return e;
  }

  ExprPtr parse_not() {
    if (is_name("not")) {
      Nest nest(*this, cur().offset);
      ExprPtr e = make_expr(Expr::Kind::kNot, cur().offset);
      ++i_;
      e->a = parse_not();
      return e;
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    ExprPtr e = parse_math1();
    int count = 0;
    for (;;) {
      const size_t offset = cur().offset;
      std::string op;
      if (cur().type == TokenType::kOperator &&
          (cur().text == "==" || cur().text == "!=" || cur().text == "<" || cur().text == "<=" ||
           cur().text == ">" || cur().text == ">=")) {
        op = cur().text;
        ++i_;
      } else if (is_name("in")) {
        op = "in";
        ++i_;
      } else if (is_name("not") && peek().type == TokenType::kName && peek().text == "in") {
        op = "notin";
        i_ += 2;
      } else {
        return e;
      }
      if (++count > 1)
        throw Error(ErrorKind::kUnsupported, "chained comparisons are not supported", offset);
      e = make_binary(op, std::move(e), parse_math1(), offset);
    }
  }

  ExprPtr parse_math1() {
    ExprPtr e = parse_concat();
    while (is_op("+") || is_op("-")) {
      const std::string op = cur().text;
      const size_t offset = cur().offset;
      ++i_;
      e = make_binary(op, std::move(e), parse_concat(), offset);
    }
    return e;
  }

  ExprPtr parse_concat() {
    ExprPtr e = parse_math2();
    while (is_op("~")) {
      const size_t offset = cur().offset;
      ++i_;
      e = make_binary("~", std::move(e), parse_math2(), offset);
    }
    return e;
  }

  ExprPtr parse_math2() {
    ExprPtr e = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      const std::string op = cur().text;
      const size_t offset = cur().offset;
      ++i_;
      e = make_binary(op, std::move(e), parse_pow(), offset);
    }
    return e;
  }

  ExprPtr parse_pow() {
    ExprPtr e = parse_unary();
    while (is_op("**")) {
      const size_t offset = cur().offset;
      ++i_;
      e = make_binary("**", std::move(e), parse_unary(), offset);
    }
    return e;
  }

  ExprPtr parse_unary(bool with_filter = true) {
    Nest nest(*this, cur().offset);
    ExprPtr e;
    if (is_op("-") || is_op("+")) {
      e = make_expr(is_op("-") ? Expr::Kind::kNegate : Expr::Kind::kPlus, cur().offset);
      ++i_;
      e->a = parse_unary(false);
    } else {
      e = parse_primary();
    }
    e = parse_postfix(std::move(e));
    if (with_filter) e = parse_filters(std::move(e));
    return e;
  }

  ExprPtr parse_primary() {
    const Token& tok = cur();
    switch (tok.type) {
      case TokenType::kName: {
        ++i_;
        ExprPtr e = make_expr(Expr::Kind::kLiteral, tok.offset);
        if (tok.text == "true" || tok.text == "True") {
          e->value = Value::boolean(true);
        } else if (tok.text == "false" || tok.text == "False") {
          e->value = Value::boolean(false);
        } else if (tok.text == "none" || tok.text == "None") {
          e->value = Value::none();
        } else {
          e->kind = Expr::Kind::kName;
          e->name = tok.text;
        }
        return e;
      }
      case TokenType::kString: {
        std::string s;
        while (cur().type == TokenType::kString)
          s += t_[i_++].text;
        ExprPtr e = make_expr(Expr::Kind::kLiteral, tok.offset);
        e->value = Value::string(std::move(s));
        return e;
      }
      case TokenType::kInteger:
      case TokenType::kFloat: {
        ++i_;
        ExprPtr e = make_expr(Expr::Kind::kLiteral, tok.offset);
        e->value = tok.type == TokenType::kInteger ? Value::integer(tok.int_value)
                                                   : Value::number(tok.float_value);
        return e;
      }
      case TokenType::kOperator:
        if (tok.text == "(") return parse_paren();
        if (tok.text == "[") return parse_list();
        if (tok.text == "{") return parse_dict();
        break;
      default:
        break;
    }
    syntax_error("unexpected " + describe(tok), tok.offset);
  }

  // (a), (a, b), (): parentheses or a tuple.
  ExprPtr parse_paren() {
    const size_t offset = cur().offset;
    ++i_;
    if (is_op(")")) {
      ++i_;
      ExprPtr empty = make_expr(Expr::Kind::kList, offset);
      empty->negated = true;
      return empty;
    }
    ExprPtr first = parse_expression();
    if (!is_op(",")) {
      expect_op(")");
      return first;
    }
    ExprPtr list = make_expr(Expr::Kind::kList, offset);
    list->negated = true;  // a tuple
    list->items.push_back(std::move(first));
    while (is_op(",")) {
      ++i_;
      if (is_op(")")) break;
      list->items.push_back(parse_expression());
    }
    expect_op(")");
    return list;
  }

  ExprPtr parse_list() {
    ExprPtr list = make_expr(Expr::Kind::kList, cur().offset);
    ++i_;
    while (!is_op("]")) {
      list->items.push_back(parse_expression());
      if (!is_op("]")) expect_op(",");
    }
    ++i_;
    return list;
  }

  ExprPtr parse_dict() {
    ExprPtr dict = make_expr(Expr::Kind::kDict, cur().offset);
    ++i_;
    while (!is_op("}")) {
      dict->items.push_back(parse_expression());
      expect_op(":");
      dict->items.push_back(parse_expression());
      if (!is_op("}")) expect_op(",");
    }
    ++i_;
    return dict;
  }

  ExprPtr parse_postfix(ExprPtr e) {
    for (;;) {
      const size_t offset = cur().offset;
      if (is_op(".")) {
        ++i_;
        if (cur().type == TokenType::kInteger) {
          ExprPtr idx = make_expr(Expr::Kind::kIndex, offset);
          idx->a = std::move(e);
          idx->b = make_expr(Expr::Kind::kLiteral, cur().offset);
          idx->b->value = Value::integer(cur().int_value);
          ++i_;
          e = std::move(idx);
        } else {
          ExprPtr attr = make_expr(Expr::Kind::kAttr, offset);
          attr->a = std::move(e);
          attr->name = expect_name();
          e = std::move(attr);
        }
      } else if (is_op("[")) {
        e = parse_subscript(std::move(e));
      } else if (is_op("(")) {
        e = parse_call(std::move(e));
      } else {
        return e;
      }
    }
  }

  ExprPtr parse_subscript(ExprPtr operand) {
    const size_t offset = cur().offset;
    ++i_;
    ExprPtr start;
    if (!is_op(":")) start = parse_expression();
    if (!is_op(":")) {
      expect_op("]");
      ExprPtr idx = make_expr(Expr::Kind::kIndex, offset);
      idx->a = std::move(operand);
      idx->b = std::move(start);
      return idx;
    }
    ExprPtr slice = make_expr(Expr::Kind::kSlice, offset);
    slice->a = std::move(start);
    ++i_;  // ':'
    if (!is_op(":") && !is_op("]")) slice->b = parse_expression();
    if (is_op(":")) {
      ++i_;
      if (!is_op("]")) slice->c = parse_expression();
    }
    expect_op("]");
    // The sliced value goes in items[0] so that a, b, c stay start, stop, step.
    slice->items.push_back(std::move(operand));
    return slice;
  }

  Args parse_args() {
    Args args;
    expect_op("(");
    while (!is_op(")")) {
      if (is_op("*") || is_op("**"))
        throw Error(ErrorKind::kUnsupported, "*args and **kwargs in calls are not supported",
                    cur().offset);
      if (cur().type == TokenType::kName && peek().type == TokenType::kOperator &&
          peek().text == "=") {
        std::string key = t_[i_].text;
        i_ += 2;
        args.keyword.emplace_back(std::move(key), parse_expression());
      } else {
        if (!args.keyword.empty())
          syntax_error("positional argument follows keyword argument", cur().offset);
        args.positional.push_back(parse_expression());
      }
      if (!is_op(")")) expect_op(",");
    }
    ++i_;
    return args;
  }

  ExprPtr parse_call(ExprPtr callee) {
    ExprPtr call = make_expr(Expr::Kind::kCall, callee->offset);  // errors point at the name
    call->a = std::move(callee);
    call->args = parse_args();
    return call;
  }

  ExprPtr parse_filters(ExprPtr e) {
    for (;;) {
      if (is_op("|")) {
        ExprPtr f = make_expr(Expr::Kind::kFilter, cur().offset);
        ++i_;
        f->offset = cur().offset;
        f->name = expect_name();
        while (is_op(".")) {
          ++i_;
          f->name += "." + expect_name();
        }
        if (is_op("(")) f->args = parse_args();
        f->a = std::move(e);
        e = std::move(f);
      } else if (is_name("is")) {
        ExprPtr t = make_expr(Expr::Kind::kTest, cur().offset);
        ++i_;
        if (is_name("not")) {
          t->negated = true;
          ++i_;
        }
        t->offset = cur().offset;
        t->name = expect_name();
        const Token& next = cur();
        const bool arg_start =
            next.type == TokenType::kString || next.type == TokenType::kInteger ||
            next.type == TokenType::kFloat ||
            (next.type == TokenType::kName && next.text != "else" && next.text != "or" &&
             next.text != "and" && next.text != "if") ||
            (next.type == TokenType::kOperator && (next.text == "[" || next.text == "{"));
        if (is_op("(")) {
          t->args = parse_args();
        } else if (arg_start) {
          if (is_name("is")) syntax_error("tests cannot be chained with 'is'", next.offset);
          t->args.positional.push_back(parse_postfix(parse_primary()));
        }
        t->a = std::move(e);
        e = std::move(t);
      } else if (is_op("(")) {
        e = parse_call(std::move(e));
      } else {
        return e;
      }
    }
  }

  const std::vector<Token>& t_;
  size_t i_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;
};

}  // namespace

Template parse(const std::vector<Token>& tokens) {
  return Parser(tokens).run();
}

}  // namespace sieve::jinja
