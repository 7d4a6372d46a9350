// json_dumps against Python's json.dumps(x, ensure_ascii=False) (and the transformers tojson
// options). Expected strings are what CPython 3 prints.
#include "engine/text/chat_template/json_dumps.h"

#include <gtest/gtest.h>

namespace sieve::jinja {
namespace {

using json = nlohmann::ordered_json;

std::string dumps(const std::string& json_text, JsonDumpsOptions opt = {}) {
  return json_dumps(Value::from_json(json::parse(json_text)), opt);
}

TEST(JsonDumps, SeparatorsAndInsertionOrder) {
  EXPECT_EQ(dumps(R"({"b": 1, "a": [1, 2, {"z": null, "y": true}], "c": false})"),
            R"({"b": 1, "a": [1, 2, {"z": null, "y": true}], "c": false})");
  EXPECT_EQ(dumps("[]"), "[]");
  EXPECT_EQ(dumps("{}"), "{}");
  EXPECT_EQ(dumps("[[], {}]"), "[[], {}]");
}

TEST(JsonDumps, StringsKeepUnicodeAndEscapeControls) {
  // json.dumps("中文 😀 é", ensure_ascii=False) == '"中文 😀 é"'
  EXPECT_EQ(dumps(R"("中文 😀 é")"), "\"中文 😀 é\"");
  // json.dumps('a"b\\c\n\t\r\x08\x0c\x01\x1f\x7f/') escapes quote, backslash, the named
  // controls and other C0 controls as \u00XX; DEL and '/' stay as they are.
  EXPECT_EQ(dumps(R"("a\"b\\c\n\t\r\b\f\u0001\u001f\u007f/")"), R"("a\"b\\c\n\t\r\b\f\u0001\u001f)"
                                                                "\x7f"
                                                                R"(/")");
  // Unicode line separators are not escaped by Python.
  EXPECT_EQ(dumps(R"("\u2028")"), "\"\u2028\"");
}

TEST(JsonDumps, EnsureAsciiEscapesWithSurrogatePairs) {
  JsonDumpsOptions opt;
  opt.ensure_ascii = true;
  // json.dumps("é中😀") == '"\\u00e9\\u4e2d\\ud83d\\ude00"'
  EXPECT_EQ(dumps(R"("é中😀")", opt), R"("\u00e9\u4e2d\ud83d\ude00")");
}

TEST(JsonDumps, NumbersPrintAsPython) {
  // json.dumps([1, -2, 1.0, 0.5, 1e16, 1e-05, 0.0001, 123456789.125, 1.5e300, -0.0, 3.14])
  EXPECT_EQ(dumps("[1, -2, 1.0, 0.5, 1e16, 1e-05, 0.0001, 123456789.125, 1.5e300, -0.0, 3.14]"),
            "[1, -2, 1.0, 0.5, 1e+16, 1e-05, 0.0001, 123456789.125, 1.5e+300, -0.0, 3.14]");
  EXPECT_EQ(dumps("[9223372036854775807, 1e15, 0.1, 100.0]"),
            "[9223372036854775807, 1000000000000000.0, 0.1, 100.0]");
}

TEST(JsonDumps, Indent) {
  JsonDumpsOptions opt;
  opt.indent = "  ";
  // json.dumps({"a": [1, {"b": None}], "c": {}, "d": []}, indent=2)
  EXPECT_EQ(dumps(R"({"a": [1, {"b": null}], "c": {}, "d": []})", opt),
            "{\n  \"a\": [\n    1,\n    {\n      \"b\": null\n    }\n  ],\n  \"c\": {},\n"
            "  \"d\": []\n}");
}

TEST(JsonDumps, SortKeysAndSeparators) {
  JsonDumpsOptions opt;
  opt.sort_keys = true;
  opt.item_separator = ",";
  opt.key_separator = ":";
  EXPECT_EQ(dumps(R"({"b": 1, "a": {"d": 2, "c": 3}})", opt), R"({"a":{"c":3,"d":2},"b":1})");
}

TEST(JsonDumps, UndefinedIsNotSerializable) {
  EXPECT_THROW(json_dumps(Value()), Error);
}

}  // namespace
}  // namespace sieve::jinja
