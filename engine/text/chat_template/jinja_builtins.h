// Jinja's filters, tests, globals and the Python methods templates call on str, list and dict.
//
// Anything not listed here fails with a kUnsupported error that names it
// ("filter 'wordwrap' is not supported"). Nothing here touches files, processes or the
// environment; strftime_now reads only the injected clock.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "engine/text/chat_template/jinja_value.h"

namespace sieve::jinja {

using Clock = std::function<std::chrono::system_clock::time_point()>;

// What builtins may need from the render that calls them.
struct BuiltinContext {
  Limits limits;
  Clock clock;  // strftime_now(); the system clock when empty
  // Calls a filter or test by name (map('upper'), selectattr('x', 'defined')).
  std::function<Value(const std::string&, const Value&, CallArgs&)> filter;
  std::function<bool(const std::string&, const Value&, CallArgs&)> test;
};

Value apply_filter(const std::string& name, const Value& operand, CallArgs& args,
                   const BuiltinContext& ctx);
bool apply_test(const std::string& name, const Value& operand, CallArgs& args,
                const BuiltinContext& ctx);
// obj.name(args) for str, list and dict (not namespaces).
bool has_methods(const Value& object);
Value call_method(const Value& object, const std::string& name, CallArgs& args,
                  const BuiltinContext& ctx);
// range, namespace, dict, raise_exception, strftime_now.
void add_globals(Dict& globals, const BuiltinContext& ctx);

// Fails with a kLimit error when a string or list would exceed the output bound.
void check_size(size_t size, const Limits& limits);

}  // namespace sieve::jinja
