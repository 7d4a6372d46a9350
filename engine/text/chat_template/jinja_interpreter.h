// Renders a parsed template: scopes as Jinja2 has them (a for-loop iteration and a macro call
// each get their own; if does not), the loop object, macros as closures over the scope that
// defined them, namespace attribute assignment, break/continue.
//
// Bounded: macro call depth (Limits::max_call_depth), total loop iterations
// (Limits::max_loop_iterations) and the size of the output and of every string or list built
// (Limits::max_output_bytes). Errors are thrown as jinja::Error with the source offset of the
// innermost expression or statement that failed.
#pragma once

#include <string>

#include "engine/text/chat_template/jinja_builtins.h"
#include "engine/text/chat_template/jinja_parser.h"
#include "engine/text/chat_template/jinja_value.h"

namespace sieve::jinja {

// `variables` become the template's globals, beside range(), namespace(), raise_exception(),
// strftime_now() and dict().
std::string render(const Template& tmpl, const Dict& variables, const Limits& limits,
                   const Clock& clock);

}  // namespace sieve::jinja
