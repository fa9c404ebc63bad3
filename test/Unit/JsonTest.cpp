// The JSON reader behind safetensors headers: values, escapes, exact 64-bit integers, and an error with a
// byte offset for malformed text.
#include "attn/Runtime/Json.h"

#include <gtest/gtest.h>

using namespace attn::rt;

namespace {

std::string parseError(std::string_view text) {
  Expected<JsonValue> v = parseJson(text);
  EXPECT_FALSE(v.ok()) << text;
  return v.ok() ? "" : v.message();
}

TEST(Json, ParsesEveryKindOfValue) {
  Expected<JsonValue> v =
      parseJson(R"( {"a": [1, -2.5, 3e2, true, false, null], "b": {"c": "d"}, "e": []} )");
  ASSERT_TRUE(v.ok()) << v.message();
  ASSERT_EQ(v->kind, JsonValue::Kind::Object);
  ASSERT_EQ(v->object.size(), 3u);
  EXPECT_EQ(v->object[0].first, "a"); // file order is kept
  const JsonValue *a = v->find("a");
  ASSERT_TRUE(a && a->kind == JsonValue::Kind::Array && a->array.size() == 6);
  EXPECT_EQ(a->array[0].integer, 1);
  EXPECT_EQ(a->array[1].number, -2.5);
  EXPECT_FALSE(a->array[1].integer);
  EXPECT_EQ(a->array[2].number, 300);
  EXPECT_FALSE(a->array[2].integer); // written with an exponent
  EXPECT_TRUE(a->array[3].boolean);
  EXPECT_EQ(a->array[4].kind, JsonValue::Kind::Bool);
  EXPECT_EQ(a->array[5].kind, JsonValue::Kind::Null);
  EXPECT_EQ(v->find("b")->find("c")->string, "d");
  EXPECT_TRUE(v->find("e")->array.empty());
  EXPECT_EQ(v->find("zzz"), nullptr);
}

TEST(Json, IntegersAreExact) {
  Expected<JsonValue> v = parseJson("[9007199254740993, -9223372036854775808, 9223372036854775808]");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->array[0].integer, int64_t(9007199254740993));
  EXPECT_EQ(v->array[1].integer, INT64_MIN);
  EXPECT_FALSE(v->array[2].integer); // beyond int64: only the double is kept
}

TEST(Json, StringEscapes) {
  Expected<JsonValue> v = parseJson(R"("q\"b\\s\/n\nt\tu\u00e9\ud83d\ude00")");
  ASSERT_TRUE(v.ok()) << v.message();
  EXPECT_EQ(v->string, "q\"b\\s/n\nt\tu\xc3\xa9\xf0\x9f\x98\x80");
}

TEST(Json, Errors) {
  EXPECT_EQ(parseError(""), "at byte 0: unexpected end of text, expected a value");
  EXPECT_EQ(parseError("{\"a\" 1}"), "at byte 5: expected ':' after an object key");
  EXPECT_EQ(parseError("{\"a\":1,}"), "at byte 7: expected a string key in an object");
  EXPECT_EQ(parseError("[1 2]"), "at byte 3: expected ']' or ',' in an array");
  EXPECT_EQ(parseError("{\"a\":1} x"), "at byte 8: unexpected text after the JSON value");
  EXPECT_EQ(parseError("\"abc"), "at byte 4: unterminated string");
  EXPECT_EQ(parseError("\"a\x01\""), "at byte 2: control character in a string");
  EXPECT_EQ(parseError(R"("\x")"), "at byte 2: bad escape '\\x' in a string");
  EXPECT_EQ(parseError(R"("\u12")"), "at byte 3: truncated \\u escape");
  EXPECT_EQ(parseError(R"("\ud83d")"), "at byte 7: unpaired high surrogate in \\u escape");
  EXPECT_EQ(parseError("01"), "at byte 1: unexpected text after the JSON value");
  EXPECT_EQ(parseError("-"), "at byte 1: bad number");
  EXPECT_EQ(parseError("1."), "at byte 2: bad number: no digits after '.'");
  EXPECT_EQ(parseError("tru"), "at byte 0: unexpected character 't', expected a value");
  EXPECT_EQ(parseError("{\"k\":1,\"k\":2}"), "at byte 7: duplicate key \"k\"");
  EXPECT_EQ(parseError(std::string(100, '[')), "at byte 64: nested more than 64 levels deep");
}

TEST(Json, Quote) {
  EXPECT_EQ(quoteJson("a\"b\\c\n\x01\xc3\xa9"), "\"a\\\"b\\\\c\\u000a\\u0001\xc3\xa9\"");
  Expected<JsonValue> back = parseJson(quoteJson("x\"\n\x1f"));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->string, "x\"\n\x1f");
}

} // namespace
