// The syntax tree of a Jinja template and the parser that builds it from tokens.
//
// Expressions follow Jinja2's grammar and precedence: conditional (a if c else b) < or < and
// < not < comparisons (==, !=, <, <=, >, >=, in, not in) < + - < ~ < * / // % < ** < unary
// - + < filters (x|f) and tests (x is t) < postfix (x.a, x[i], x[a:b:c], x(...)) < atoms.
// Statements: if/elif/else, for (with else, an `if` filter and tuple targets), set (name,
// tuple, namespace attribute, block set), macro, break, continue, generation.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/text/chat_template/jinja_lexer.h"
#include "engine/text/chat_template/jinja_value.h"

namespace sieve::jinja {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Args {
  std::vector<ExprPtr> positional;
  std::vector<std::pair<std::string, ExprPtr>> keyword;
};

struct Expr {
  enum class Kind {
    kLiteral,    // value
    kName,       // name
    kList,       // items (list literal; a tuple literal when `negated` is set)
    kDict,       // items as key, value pairs
    kAttr,       // operand.name
    kIndex,      // operand[a]
    kSlice,      // operand[a:b:c], each of a, b, c may be null
    kCall,       // operand(args)
    kFilter,     // operand | name(args)
    kTest,       // operand is [not] name(args)
    kNot,        // not a
    kNegate,     // -a
    kPlus,       // +a
    kBinary,     // a op b: + - * / // % ** ~ == != < <= > >= in notin and or
    kCondition,  // b if a else c (c may be null)
  };
  Kind kind;
  size_t offset = 0;
  Value value;
  std::string name;      // name, attribute, filter, test, or the binary operator
  bool negated = false;  // `is not`; for kList, a tuple
  ExprPtr a, b, c;
  std::vector<ExprPtr> items;  // list items; dict keys and values alternate
  Args args;
};

struct Node;
using NodePtr = std::unique_ptr<Node>;
using Body = std::vector<NodePtr>;

struct Node {
  enum class Kind {
    kText,      // text
    kOutput,    // {{ expr }}
    kIf,        // conditions[i] → bodies[i]; else_body
    kFor,       // for targets in expr [if condition]: body; else_body
    kSet,       // targets (or namespace name + attr) = expr
    kSetBlock,  // {% set targets[0] %}body{% endset %}
    kMacro,     // macro name(params) body
    kBreak,
    kContinue,
    kGeneration,  // {% generation %}body{% endgeneration %}: renders body
  };
  Kind kind;
  size_t offset = 0;
  std::string text;                  // kText; macro name; namespace attribute for kSet
  ExprPtr expr;                      // output, for iterable, set value
  ExprPtr condition;                 // for-loop filter
  std::vector<ExprPtr> conditions;   // if / elif
  std::vector<Body> bodies;          // if / elif bodies
  Body body;                         // for, set block, macro, generation
  Body else_body;                    // if, for
  std::vector<std::string> targets;  // for / set names
  bool namespace_attr = false;       // {% set ns.attr = ... %}: targets[0] is ns, text is attr
  std::vector<std::pair<std::string, ExprPtr>> params;  // macro parameters and defaults
};

struct Template {
  Body body;
};

// Parses tokens from tokenize(). Throws jinja::Error: kSyntax for malformed templates,
// kUnsupported (naming the construct) for statements this interpreter does not implement.
Template parse(const std::vector<Token>& tokens);

}  // namespace sieve::jinja
