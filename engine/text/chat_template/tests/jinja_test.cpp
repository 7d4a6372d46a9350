// The Jinja interpreter on small templates. The table's expected outputs are what Python
// Jinja2 3.1 prints with transformers' settings (ImmutableSandboxedEnvironment, trim_blocks,
// lstrip_blocks, loopcontrols, tojson = json.dumps(ensure_ascii=False)).
#include <chrono>
#include <string>

#include <gtest/gtest.h>

#include "engine/text/chat_template/chat_template.h"

namespace sieve {
namespace {

using json = nlohmann::ordered_json;

Result<std::string> render(const std::string& source, const json& vars = json::object(),
                           ChatTemplateOptions options = {}) {
  SIEVE_ASSIGN_OR_RETURN(ChatTemplate tmpl,
                         ChatTemplate::from_source(source, json::object(), std::move(options)));
  ChatTemplateInput input;
  input.kwargs = vars;
  return tmpl.render(input);
}

// The error a template gives; fails the test when it renders.
Status render_error(const std::string& source, const json& vars = json::object(),
                    ChatTemplateOptions options = {}) {
  auto r = render(source, vars, std::move(options));
  EXPECT_FALSE(r.ok()) << "rendered: " << (r.ok() ? *r : "");
  return r.ok() ? Status::Ok() : r.status();
}

struct Case {
  const char* name;
  const char* source;
  const char* vars;  // JSON object of template variables
  const char* expected;
};

const Case kCases[] = {
    {"trim_blocks",
     "{% if true %}\n"
     "A\n"
     "{% endif %}\n"
     "B",
     "{}",
     "A\n"
     "B"},
    {"lstrip_blocks",
     "x\n"
     "    {% if true %}\n"
     "    A\n"
     "    {% endif %}\n"
     "y",
     "{}",
     "x\n"
     "    A\n"
     "y"},
    {"lstrip_not_vars",
     "x\n"
     "    {{ 1 }}\n"
     "  {# c #}\n"
     "y",
     "{}",
     "x\n"
     "    1\n"
     "y"},
    {"plus_disables_lstrip",
     "x\n"
     "    {%+ if true %}A{% endif %}",
     "{}",
     "x\n"
     "    A"},
    {"plus_disables_trim",
     "{% if true +%}\n"
     "A{% endif %}",
     "{}",
     "\n"
     "A"},
    {"minus_strips",
     "a  \n"
     "  {%- if true -%}  \n"
     "  b  \n"
     "  {{- 'c' -}}  \n"
     " d {#- x -#}  e{% endif %}",
     "{}", "abcde"},
    {"var_no_trim",
     "{{ 'a' }}\n"
     "b",
     "{}",
     "a\n"
     "b"},
    {"comment_trim",
     "a\n"
     "  {# c #}\n"
     "b",
     "{}",
     "a\n"
     "b"},
    {"trailing_newline", "a\n", "{}", "a"},
    {"two_trailing_newlines",
     "a\n"
     "\n",
     "{}", "a\n"},
    {"crlf",
     "a\r\n"
     "b\r\n",
     "{}",
     "a\n"
     "b"},
    {"inline_tags_no_lstrip", "a {% if true %}b{% endif %} c", "{}", "a b c"},
    {"loop_vars",
     "{% for x in ['a','b','c'] %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ "
     "loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}|{{ loop.previtem }}|{{ "
     "loop.nextitem }};{% endfor %}",
     "{}", "1032TrueFalse3||b;2121FalseFalse3|a|c;3210FalseTrue3|b|;"},
    {"for_else", "{% for x in [] %}x{% else %}empty{% endfor %}", "{}", "empty"},
    {"for_if_filter",
     "{% for x in [1,2,3,4,5] if x is odd %}{{ x }}{{ loop.length }}{{ loop.last }} {% endfor %}",
     "{}", "13False 33False 53True "},
    {"for_items", "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}",
     "{\"d\": {\"b\": 1, \"a\": [1, \"x\"], \"c\": null}}", "b=1;a=[1, 'x'];c=None;"},
    {"for_dict_keys", "{% for k in d %}{{ k }}{% endfor %}", "{\"d\": {\"z\": 1, \"y\": 2}}", "zy"},
    {"for_string", "{% for c in 'héy' %}[{{ c }}]{% endfor %}", "{}", "[h][é][y]"},
    {"loop_scope",
     "{% set x = 1 %}{% for i in [1,2] %}{% set x = x + i %}{{ x }}{% endfor %}{{ x }}", "{}",
     "231"},
    {"break_continue",
     "{% for i in range(10) %}{% if i == 2 %}{% continue %}{% endif %}{% if i == 5 %}{% break %}{% "
     "endif %}{{ i }}{% endfor %}",
     "{}", "0134"},
    {"nested_loop",
     "{% for a in [1,2] %}{% for b in 'xy' %}{{ a }}{{ b }}{{ loop.index }}{% endfor %}{{ "
     "loop.index }} {% endfor %}",
     "{}", "1x11y21 2x12y22 "},
    {"macro_defaults",
     "{% macro greet(name, greeting='Hello', punct='!') %}{{ greeting }}, {{ name }}{{ punct }}{% "
     "endmacro %}{{ greet('Ann') }}|{{ greet('Bob', 'Hi') }}|{{ greet('Cy', punct='?') }}|{{ "
     "greet(greeting='Yo', name='Di') }}",
     "{}", "Hello, Ann!|Hi, Bob!|Hello, Cy?|Yo, Di!"},
    {"macro_recursion",
     "{% macro fact(n) %}{% if n <= 1 %}1{% else %}{{ n }}*{{ fact(n - 1) }}{% endif %}{% endmacro "
     "%}{{ fact(5) }}",
     "{}", "5*4*3*2*1"},
    {"macro_sees_globals",
     "{% macro m() %}{{ g }}{% set g = 'local' %}{{ g }}{% endmacro %}{{ m() }}{{ g }}",
     "{\"g\": \"global\"}", "globallocalglobal"},
    {"macro_missing_arg",
     "{% macro m(a, b) %}[{{ a }}][{{ b }}][{{ b is defined }}]{% endmacro %}{{ m(1) }}", "{}",
     "[1][][False]"},
    {"macro_result_is_string", "{% macro m() %}abc{% endmacro %}{{ m()|length }}{{ m() + 'd' }}",
     "{}", "3abcd"},
    {"namespace",
     "{% set ns = namespace(n=0, items=[]) %}{% for i in [1,2,3] %}{% set ns.n = ns.n + i %}{% "
     "endfor %}{{ ns.n }}{{ ns.items }}{{ ns.missing is defined }}",
     "{}", "6[]False"},
    {"set_block", "{% set x %}a{{ 1 + 1 }}b{% endset %}[{{ x }}]", "{}", "[a2b]"},
    {"set_tuple", "{% set a, b = 1, 'two' %}{{ a }}{{ b }}", "{}", "1two"},
    {"slicing",
     "{{ [1,2,3,4,5][::-1] }}{{ [1,2,3,4,5][1:3] }}{{ [1,2,3,4,5][-2:] }}{{ [1,2,3,4,5][::2] }}{{ "
     "'héllo'[1:4] }}{{ 'abc'[::-1] }}{{ [1,2,3][5:] }}{{ [1,2,3,4][-1:0:-1] }}{{ 'abcdef'[:-2] }}",
     "{}", "[5, 4, 3, 2, 1][2, 3][4, 5][1, 3, 5]éllcba[][4, 3, 2]abcd"},
    {"indexing",
     "{{ [1,2,3][-1] }}{{ 'héy'[1] }}{{ d['k'] }}{{ d.k }}{{ [1][5] is defined }}{{ d.nope is "
     "defined }}",
     "{\"d\": {\"k\": \"v\"}}", "3évvFalseFalse"},
    {"printing",
     "{{ none }}|{{ None }}|{{ true }}|{{ False }}|{{ 1 }}|{{ 1.0 }}|{{ 2.5 }}|{{ 1e20 }}|{{ [1, "
     "'a', none, true, 1.5] }}|{{ {'a': 1, 'b': 'c'} }}|{{ undefined_thing }}|{{ 10 / 4 }}|{{ 10 "
     "// 4 }}|{{ -7 // 2 }}|{{ -7 % 3 }}|{{ 2 ** 10 }}|{{ 7 / 7 }}|{{ \"it's\" }}|{{ ['it\\'s'] }}",
     "{}",
     "None|None|True|False|1|1.0|2.5|1e+20|[1, 'a', None, True, 1.5]|{'a': 1, 'b': "
     "'c'}||2.5|2|-4|2|1024|1.0|it's|[\"it's\"]"},
    {"truthiness",
     "{% for v in [0, 1, '', 'a', [], [0], {}, {'a': 1}, none, 0.0, true, false] %}{{ 'T' if v "
     "else 'F' }}{% endfor %}{{ 'T' if undefined_thing else 'F' }}",
     "{}", "FTFTFTFTFFTFF"},
    {"concat",
     "{{ 'a' + 'b' }}{{ 'a' ~ 1 ~ none ~ true }}{{ [1] + [2] }}{{ 1 + 2.5 }}{{ true + 1 }}", "{}",
     "aba1NoneTrue[1, 2]3.52"},
    {"in_operator",
     "{{ 'b' in 'abc' }}{{ 2 in [1,2] }}{{ 'k' in d }}{{ 'v' in d }}{{ 3 not in [1,2] }}{{ 'x' not "
     "in 'abc' }}",
     "{\"d\": {\"k\": \"v\"}}", "TrueTrueTrueFalseTrueTrue"},
    {"comparisons",
     "{{ 1 == 1.0 }}{{ 1 != 2 }}{{ 'a' < 'b' }}{{ 2 >= 2 }}{{ [1,2] == [1,2] }}{{ none == none "
     "}}{{ 1 == true }}{{ 'a' == 1 }}",
     "{}", "TrueTrueTrueTrueTrueTrueTrueFalse"},
    {"and_or_values",
     "{{ 0 or 'x' }}|{{ 'a' and 'b' }}|{{ '' and 'b' }}|{{ none or none }}|{{ not 0 }}", "{}",
     "x|b||None|True"},
    {"conditional_expr",
     "{{ 'y' if true else 'n' }}{{ 'y' if false else 'n' }}[{{ 'y' if false }}]", "{}", "yn[]"},
    {"string_methods",
     "{{ '  ab  '.strip() }}|{{ 'xxabxx'.strip('x') }}|{{ '\\n\\nab\\n'.lstrip('\\n') }}|{{ 'ab  "
     "'.rstrip() }}|{{ 'a,b,,c'.split(',') }}|{{ '  a  b c '.split() }}|{{ 'a,b,c'.split(',', 1) "
     "}}|{{ 'a b c'.split(none, 1) }}|{{ 'hello'.startswith('he') }}|{{ 'hello'.endswith(('x', "
     "'lo')) }}|{{ 'Hello'.upper() }}{{ 'Hello'.lower() }}|{{ 'aaa'.replace('a', 'b', 2) }}|{{ "
     "'hello world'.title() }}|{{ 'hELLO'.capitalize() }}|{{ '-'.join(['a','b']) }}|{{ "
     "'abcabc'.find('c') }}{{ 'abcabc'.count('bc') }}",
     "{}",
     "ab|ab|ab\n"
     "|ab|['a', 'b', '', 'c']|['a', 'b', 'c']|['a', 'b,c']|['a', 'b "
     "c']|True|True|HELLOhello|bba|Hello World|Hello|a-b|22"},
    {"think_split",
     "{% set c = '<think>\\nreason\\n</think>\\n\\nanswer' %}[{{ "
     "c.split('</think>')[-1].lstrip('\\n') }}][{{ "
     "c.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') }}]",
     "{}", "[answer][reason]"},
    {"filters_basic",
     "{{ [1,2,3]|length }}{{ 'hé'|length }}{{ d|length }}{{ ['a','b']|join(', ') }}{{ '  x  '|trim "
     "}}{{ 'ab'|upper }}{{ 'AB'|lower }}{{ undefined_thing|default('dflt') }}{{ ''|default('e', "
     "true) }}{{ none|default('n') }}{{ [3,4]|first }}{{ [3,4]|last }}{{ 'abc'|list }}{{ 5|string "
     "~ 'x' }}{{ '42'|int + 1 }}{{ 'x'|int }}{{ '2.5'|float }}{{ 'hello world'|capitalize }}{{ "
     "'a-b'|replace('-', '+') }}{{ '<a&b>'|e }}{{ [1,2]|count }}",
     "{\"d\": {\"a\": 1, \"b\": 2}}",
     "322a, bxABabdflteNone34['a', 'b', 'c']5x4302.5Hello worlda+b&lt;a&amp;b&gt;2"},
    {"filters_items_map",
     "{% for k, v in d|items %}{{ k }}{{ v }}{% endfor %}{{ users|map(attribute='name')|join(',') "
     "}}{{ users|selectattr('admin')|map(attribute='name')|list }}{{ "
     "users|rejectattr('admin')|map(attribute='name')|list }}{{ users|selectattr('name', "
     "'equalto', 'b')|list|length }}{{ [1,2,3,4]|select('even')|list }}{{ "
     "['a','B']|map('upper')|list }}{{ [3,1,2]|sort }}{{ [1,2,3]|reverse|list }}{{ "
     "[1,1,2]|unique|list }}{{ [1,2,3]|sum }}",
     "{\"d\": {\"x\": 1, \"y\": [2]}, \"users\": [{\"name\": \"a\", \"admin\": true}, {\"name\": "
     "\"b\", \"admin\": false}]}",
     "x1y[2]a,b['a']['b']1[2, 4]['A', 'B'][1, 2, 3][3, 2, 1][1, 2]6"},
    {"tests",
     "{{ x is defined }}{{ y is defined }}{{ y is undefined }}{{ none is none }}{{ 'a' is string "
     "}}{{ 1 is number }}{{ 1.5 is number }}{{ 1 is integer }}{{ 1.5 is integer }}{{ 1.5 is float "
     "}}{{ d is mapping }}{{ [] is mapping }}{{ [] is iterable }}{{ 'a' is iterable }}{{ 1 is "
     "iterable }}{{ [] is sequence }}{{ true is boolean }}{{ 1 is boolean }}{{ true is true }}{{ 1 "
     "is true }}{{ false is false }}{{ 2 is in [1,2] }}{{ 2 is equalto 2 }}{{ 3 is odd }}{{ 4 is "
     "even }}{{ 9 is divisibleby 3 }}{{ x is not none }}{{ 'ab' is lower }}",
     "{\"x\": 1, \"d\": {}}",
     "TrueFalseTrueTrueTrueTrueTrueTrueFalseTrueTrueFalseTrueTrueFalseTrueTrueFalseTrueFalseTrueTru"
     "eTrueTrueTrueTrueTrueTrue"},
    {"tojson_filter",
     "{{ d|tojson }}|{{ d|tojson(indent=2) }}|{{ 'café \"q\"'|tojson }}|{{ [1.0, 2, none, "
     "true]|tojson }}",
     "{\"d\": {\"name\": \"中文 😀\", \"n\": 1.5, \"i\": 3, \"ok\": false, \"nested\": {\"list\": "
     "[1, {\"z\": null}], \"empty\": {}}}}",
     "{\"name\": \"中文 😀\", \"n\": 1.5, \"i\": 3, \"ok\": false, \"nested\": {\"list\": [1, "
     "{\"z\": null}], \"empty\": {}}}|{\n"
     "  \"name\": \"中文 😀\",\n"
     "  \"n\": 1.5,\n"
     "  \"i\": 3,\n"
     "  \"ok\": false,\n"
     "  \"nested\": {\n"
     "    \"list\": [\n"
     "      1,\n"
     "      {\n"
     "        \"z\": null\n"
     "      }\n"
     "    ],\n"
     "    \"empty\": {}\n"
     "  }\n"
     "}|\"café \\\"q\\\"\"|[1.0, 2, null, true]"},
    {"dict_literal_and_get",
     "{% set d = {'a': 1, 'b': [1, 2]} %}{{ d.get('a') }}{{ d.get('z') }}{{ d.get('z', 'dflt') "
     "}}{{ d.keys()|list }}{{ d.values()|list }}{{ d['b'][1] }}",
     "{}", "1Nonedflt['a', 'b'][1, [1, 2]]2"},
    {"range", "{{ range(3)|list }}{{ range(1, 10, 3)|list }}{{ range(5, 0, -2)|list }}", "{}",
     "[0, 1, 2][1, 4, 7][5, 3, 1]"},
    {"filter_precedence",
     "{{ [1,2,3]|length - 1 }}{{ -1|abs }}{{ 'a' + 'bc'|upper }}{{ not 'x' is defined }}", "{}",
     "21aBCFalse"},
    {"string_escapes", "{{ 'a\\tb\\\\c\\'d\\u00e9\\x41\\n' }}|{{ \"raw\\d\" }}", "{}",
     "a\tb\\c'déA\n"
     "|raw\\d"},
    {"adjacent_strings", "{{ 'a' 'b' \"c\" }}", "{}", "abc"},
    {"whitespace_in_macro",
     "{%- macro m(x) -%}\n"
     "  [{{ x }}]\n"
     "{%- endmacro -%}\n"
     "{{ m(1) }}\n"
     "{{ m(2) }}",
     "{}",
     "[1]\n"
     "[2]"},
    {"strings_with_newlines",
     "{{ 'line1\n"
     "line2' }}",
     "{}",
     "line1\n"
     "line2"},
    {"generation_like_if_nesting",
     "{%- for m in msgs %}\n"
     "    {%- if m.role == 'user' %}\n"
     "        {{- 'U:' + m.content + '\\n' }}\n"
     "    {%- elif m.role == 'assistant' %}\n"
     "        {{- 'A:' + m.content }}\n"
     "    {%- else %}\n"
     "        {{- 'O' }}\n"
     "    {%- endif %}\n"
     "{%- endfor %}",
     "{\"msgs\": [{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", "
     "\"content\": \"yo\"}, {\"role\": \"x\", \"content\": \"\"}]}",
     "U:hi\n"
     "A:yoO"},
    {"indent_filter",
     "[{{ 'a\\nb\\n\\nc\\n'|indent }}][{{ 'a\\nb'|indent(2, true) }}][{{ "
     "'a\\n\\nb'|indent(width='> ', blank=true) }}]",
     "{}",
     "[a\n"
     "    b\n"
     "\n"
     "    c\n"
     "][  a\n"
     "  b][a\n"
     "> \n"
     "> b]"},
    {"dictsort_filter",
     "{% for k, v in d|dictsort %}{{ k }}{{ v }}{% endfor %}|{% for k, v in d|dictsort(by='value', "
     "reverse=true) %}{{ k }}{% endfor %}",
     "{\"d\": {\"b\": 1, \"a\": 3, \"C\": 2}}", "a3b1C2|aCb"},
    {"loop_cycle", "{% for i in range(5) %}{{ loop.cycle('odd', 'even') }} {% endfor %}", "{}",
     "odd even odd even odd "},
    {"more_str_methods",
     "{{ 'a\\nb\\n'.splitlines() }}{{ 'prefix-x'.removeprefix('prefix-') }}{{ "
     "'x.txt'.removesuffix('.txt') }}{{ 'ab'.removeprefix('zz') }}",
     "{}", "['a', 'b']xxab"},
    {"tojson_args",
     "{{ d|tojson(sort_keys=true) }}|{{ d|tojson(separators=(',', ':')) }}|{{ "
     "'é'|tojson(ensure_ascii=true) }}",
     "{\"d\": {\"b\": [1, 2], \"a\": null}}",
     "{\"a\": null, \"b\": [1, 2]}|{\"b\":[1,2],\"a\":null}|\"\\u00e9\""},
    {"is_not_mapping_string",
     "{% set t = ['object', 'null'] %}{% if t is defined and t is iterable and t is not string and "
     "t is not mapping and t[0] is defined %}{{ t|join(' | ') }}{% endif %}",
     "{}", "object | null"},
    {"tuples",
     "{{ (1, 2) }}{{ (1,) }}{{ () }}{{ d.items()|list }}{{ d|dictsort }}{{ (1, 'a')|tojson }}{{ "
     "'a' in ('a', 'b') }}",
     "{\"d\": {\"b\": 1, \"a\": 2}}",
     "(1, 2)(1,)()[('b', 1), ('a', 2)][('a', 2), ('b', 1)][1, \"a\"]True"},
    {"title_filter_vs_method",
     "{{ 'the%re hello-wORLD (x) it\\'s'|title }}|{{ 'the%re hello-wORLD (x) it\\'s'.title() }}",
     "{}", "The%re Hello-World (X) It's|The%Re Hello-World (X) It'S"},
    {"float_mod_and_undefined_in_list",
     "{{ (1.5 // -1.5) % 1 }}|{{ -1.5 % 1 }}|{{ 1.5 % -1 }}|{{ 4.0 % 2 }}|{{ -4.0 % 2 }}|{{ [1, "
     "nope] }}|{{ nope }}|",
     "{}", "0.0|0.5|-0.5|0.0|0.0|[1, Undefined]||"},
    {"raw_block",
     "a{% raw %}{{ not }}{% x %}{% endraw %}b\n"
     "  {% raw %}\n"
     "  [{{ y }}]\n"
     "  {% endraw %}\n"
     "c{%- raw -%}  {# z #}  {%- endraw -%}  d",
     "{}",
     "a{{ not }}{% x %}b\n"
     "\n"
     "  [{{ y }}]\n"
     "c{# z #}d"},
    {"bare_tuples",
     "{{ 1, 'a' }}|{{ 2, }}|{% set t = 1, 2 %}{{ t }}|{% set a, b = 'xy' %}{{ b }}{{ a }}", "{}",
     "(1, 'a')|(2,)|(1, 2)|yx"},
};

class JinjaCaseTest : public ::testing::TestWithParam<Case> {};

TEST_P(JinjaCaseTest, RendersAsJinja2) {
  const Case& c = GetParam();
  auto r = render(c.source, json::parse(c.vars));
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(*r, c.expected);
}

INSTANTIATE_TEST_SUITE_P(Jinja2, JinjaCaseTest, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(JinjaUndefined, BehavesLikeJinja2DefaultUndefined) {
  EXPECT_EQ(*render("[{{ nope }}][{{ nope is defined }}][{{ 'y' if nope else 'n' }}]"),
            "[][False][n]");
  // Lenient attribute access: an attribute or item of Undefined is Undefined.
  EXPECT_EQ(*render("[{{ nope.attr }}][{{ nope.attr is defined }}][{{ nope['k'] }}]"),
            "[][False][]");
  EXPECT_EQ(*render("{{ nope|length }}{% for x in nope %}x{% endfor %}{{ nope == nope }}"),
            "0True");
  Status st = render_error("{{ nope() }}");
  EXPECT_NE(st.message().find("'nope' is undefined"), std::string::npos) << st.message();
  st = render_error("{{ nope + 'x' }}");
  EXPECT_NE(st.message().find("'undefined' and 'str'"), std::string::npos) << st.message();
}

TEST(JinjaErrors, SyntaxErrorsNameLineAndColumn) {
  Status st = render_error("line one\n{% if x %}\nno end");
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("expected 'elif' or 'else' or 'endif'"), std::string::npos)
      << st.message();

  st = render_error("ab\ncd {{ 1 + }}");
  EXPECT_EQ(st.message(), "jinja: unexpected '}}' (line 2, column 11)");

  st = render_error("{% frobnicate %}");
  EXPECT_EQ(st.message(), "jinja: unknown statement 'frobnicate' (line 1, column 4)");

  st = render_error("{{ 'unterminated }}");
  EXPECT_EQ(st.message(), "jinja: unterminated string (line 1, column 4)");
}

TEST(JinjaErrors, RaiseExceptionCarriesMessageAndPosition) {
  Status st = render_error("ok\n  {{- raise_exception('Conversation roles must alternate') }}");
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message(),
            "jinja: template raised an error: Conversation roles must alternate (line 2, "
            "column 7)");
}

TEST(JinjaErrors, TypeErrorsNamePosition) {
  Status st = render_error("{% set x = 1 %}\n{{ 'a' + x }}");
  EXPECT_EQ(st.message(),
            "jinja: unsupported operand type(s) for +: 'str' and 'int' (line 2, column 8)");
  st = render_error("{% set x = 5 %}{% set x.y = 1 %}");
  EXPECT_NE(st.message().find("cannot assign attribute on non-namespace object 'x'"),
            std::string::npos)
      << st.message();
  st = render_error("{{ none|tojson }}{{ nope|tojson }}");
  EXPECT_NE(st.message().find("not JSON serializable (line 1, column 26)"), std::string::npos)
      << st.message();
  st = render_error("{% for x in 5 %}{% endfor %}");
  EXPECT_NE(st.message().find("'int' object is not iterable"), std::string::npos);
}

TEST(JinjaErrors, UnsupportedConstructsNameThemselves) {
  Status st = render_error("a\nb\n{{ x | wordwrap }}");
  EXPECT_EQ(st.code(), StatusCode::kUnimplemented);
  EXPECT_EQ(st.message(), "jinja: filter 'wordwrap' is not supported (line 3, column 8)");

  st = render_error("{% include 'other.jinja' %}");
  EXPECT_EQ(st.code(), StatusCode::kUnimplemented);
  EXPECT_EQ(st.message(), "jinja: statement 'include' is not supported (line 1, column 4)");

  st = render_error("{{ 'x{}'.format(1) }}");
  EXPECT_EQ(st.code(), StatusCode::kUnimplemented);
  EXPECT_NE(st.message().find("method 'format' of str is not supported"), std::string::npos);

  st = render_error("{% raw %}never closed");
  EXPECT_NE(st.message().find("unterminated raw block (line 1, column 1)"), std::string::npos)
      << st.message();

  st = render_error("{{ 1 is prime }}");
  EXPECT_NE(st.message().find("test 'prime' is not supported"), std::string::npos);

  st = render_error("{% set l = [] %}{{ l.append(1) }}");
  EXPECT_NE(st.message().find("lists are immutable"), std::string::npos);
}

TEST(JinjaLimits, RecursionIsBounded) {
  ChatTemplateOptions options;
  options.max_call_depth = 10;
  const std::string src = "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}";
  Status st = render_error(src, json::object(), options);
  EXPECT_EQ(st.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(st.message().find("max_call_depth (10)"), std::string::npos) << st.message();
  // Ten levels are fine.
  EXPECT_TRUE(render("{% macro f(n) %}{% if n < 10 %}{{ f(n + 1) }}{% else %}{{ n }}{% endif %}"
                     "{% endmacro %}{{ f(1) }}",
                     json::object(), options)
                  .ok());
}

TEST(JinjaLimits, OutputIsBounded) {
  ChatTemplateOptions options;
  options.max_output_bytes = 100;
  Status st =
      render_error("{% for i in range(50) %}0123456789{% endfor %}", json::object(), options);
  EXPECT_EQ(st.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(st.message().find("max_output_bytes (100)"), std::string::npos) << st.message();
  // Strings built without printing are bounded too (doubling 100 times).
  st = render_error(
      "{% set ns = namespace(s='x') %}{% for i in range(100) %}{% set ns.s = ns.s + ns.s %}"
      "{% endfor %}",
      json::object(), options);
  EXPECT_EQ(st.code(), StatusCode::kResourceExhausted);
  st = render_error("{{ 'x' * 1000 }}", json::object(), options);
  EXPECT_EQ(st.code(), StatusCode::kResourceExhausted);
}

TEST(JinjaLimits, LoopsAreBounded) {
  ChatTemplateOptions options;
  options.max_loop_iterations = 1000;
  Status st = render_error(
      "{% for i in range(100) %}{% for j in range(100) %}{% endfor %}"
      "{% endfor %}",
      json::object(), options);
  EXPECT_EQ(st.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(st.message().find("max_loop_iterations (1000)"), std::string::npos) << st.message();
  st = render_error("{{ range(1000000000)|length }}");
  EXPECT_EQ(st.code(), StatusCode::kResourceExhausted);
}

TEST(JinjaLimits, NamespacesCannotHoldThemselves) {
  Status st = render_error("{% set ns = namespace(a=1) %}{% set ns.self = [ns] %}{{ ns }}");
  EXPECT_NE(st.message().find("a namespace cannot contain itself"), std::string::npos)
      << st.message();
  st =
      render_error("{% set a = namespace() %}{% set b = namespace(a=a) %}{% set a.b = {'x': b} %}");
  EXPECT_NE(st.message().find("a namespace cannot contain itself"), std::string::npos);
  // Nesting grown through a namespace is bounded.
  st = render_error(
      "{% set ns = namespace(l=[]) %}{% for i in range(2000) %}{% set ns.l = [ns.l] %}"
      "{% endfor %}");
  EXPECT_EQ(st.code(), StatusCode::kResourceExhausted);
}

TEST(JinjaLimits, DeeplyNestedInputIsRefused) {
  json deep = json::array();
  for (int i = 0; i < 2000; ++i)
    deep = json::array({deep});
  Status st = render_error("{{ x|length }}", json{{"x", deep}});
  EXPECT_NE(st.message().find("nested deeper than 512"), std::string::npos) << st.message();
}

TEST(JinjaLimits, DeepNestingIsASyntaxErrorNotACrash) {
  const std::string src = "{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}";
  Status st = render_error(src);
  EXPECT_NE(st.message().find("nested too deeply"), std::string::npos) << st.message();
}

TEST(JinjaGlobals, StrftimeNowUsesTheInjectedClock) {
  ChatTemplateOptions options;
  const auto fixed =
      std::chrono::sys_days{std::chrono::year{2025} / 1 / 15} + std::chrono::hours{13};
  options.clock = [fixed] { return fixed; };
  EXPECT_EQ(*render("{{ strftime_now('%Y-%m-%d') }}|{{ strftime_now('%d %b %Y %H') }}",
                    json::object(), options),
            "2025-01-15|15 Jan 2025 13");
}

TEST(JinjaGlobals, SpecialTokensAndKwargsReachTheTemplate) {
  auto tmpl = ChatTemplate::from_source("{{ bos_token }}{{ enable_thinking }}{{ eos_token }}",
                                        json{{"bos_token", "<s>"}, {"eos_token", "</s>"}});
  ASSERT_TRUE(tmpl.ok());
  ChatTemplateInput input;
  input.kwargs["enable_thinking"] = false;
  EXPECT_EQ(*tmpl->render(input), "<s>False</s>");
}

}  // namespace
}  // namespace sieve
