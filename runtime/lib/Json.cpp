// The JSON reader behind safetensors headers. Headers come from files users download, so every malformed
// input, including deep nesting meant to exhaust the stack, ends in an error rather than a crash.
#include "attn/Runtime/Json.h"

#include "LiteralScanner.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <iterator>

namespace attn::rt {

const JsonValue *JsonValue::find(std::string_view key) const {
  for (const auto &[name, value] : object)
    if (name == key)
      return &value;
  return nullptr;
}

const char *jsonKindName(JsonValue::Kind kind) {
  // In the order of JsonValue::Kind.
  static const char *const kNames[] = {"null", "boolean", "number", "string", "array", "object"};
  size_t index = static_cast<size_t>(kind);
  return index < std::size(kNames) ? kNames[index] : "value";
}

namespace {

constexpr int kMaxDepth = 64;

class Parser : LiteralScanner {
public:
  explicit Parser(std::string_view text) : LiteralScanner(text, LiteralSyntax::Json) {}

  Expected<JsonValue> parseDocument() {
    JsonValue value;
    if (Status s = parseValue(value, 0); !s)
      return s.takeError();
    if (Status s = expectEnd("unexpected text after the JSON value"); !s)
      return s.takeError();
    return value;
  }

private:
  Status parseValue(JsonValue &out, int depth) {
    char c;
    if (Status s = startValue(c, "unexpected end of text, expected a value"); !s)
      return s;
    if (c == '{' || c == '[') {
      if (depth >= kMaxDepth)
        return fail("nested more than 64 levels deep");
      return c == '{' ? parseObject(out, depth + 1) : parseArray(out, depth + 1);
    }
    if (c == '"') {
      out.kind = JsonValue::Kind::String;
      return parseString(out.string);
    }
    if (c == '-' || (c >= '0' && c <= '9'))
      return parseNumber(out);
    if (std::optional<Keyword> word = keyword()) {
      out.kind = *word == Keyword::Null ? JsonValue::Kind::Null : JsonValue::Kind::Bool;
      out.boolean = *word == Keyword::True;
      return {};
    }
    return fail(std::string("unexpected character '") + c + "', expected a value");
  }

  Status parseObject(JsonValue &out, int depth) {
    out.kind = JsonValue::Kind::Object;
    ++pos_; // '{'
    return sequence('}', "expected '}' or ',' in an object", [&]() -> Status {
      if (atEnd() || peek() != '"')
        return fail("expected a string key in an object");
      size_t keyPos = pos_;
      std::string key;
      if (Status s = parseString(key); !s)
        return s;
      if (out.find(key)) {
        pos_ = keyPos;
        return fail("duplicate key \"" + key + "\"");
      }
      if (Status s = expect(':', "after an object key"); !s)
        return s;
      JsonValue value;
      if (Status s = parseValue(value, depth); !s)
        return s;
      out.object.emplace_back(std::move(key), std::move(value));
      return {};
    });
  }

  Status parseArray(JsonValue &out, int depth) {
    out.kind = JsonValue::Kind::Array;
    ++pos_; // '['
    return sequence(']', "expected ']' or ',' in an array", [&]() -> Status {
      JsonValue value;
      if (Status s = parseValue(value, depth); !s)
        return s;
      out.array.push_back(std::move(value));
      return {};
    });
  }

  static void appendUtf8(std::string &out, uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  Status parseHex4(uint32_t &out) {
    if (text_.size() - pos_ < 4)
      return fail("truncated \\u escape");
    out = 0;
    for (int i = 0; i < 4; ++i) {
      char c = text_[pos_ + i];
      uint32_t digit;
      if (c >= '0' && c <= '9')
        digit = c - '0';
      else if (c >= 'a' && c <= 'f')
        digit = c - 'a' + 10;
      else if (c >= 'A' && c <= 'F')
        digit = c - 'A' + 10;
      else
        return fail("bad hex digit in \\u escape");
      out = out * 16 + digit;
    }
    pos_ += 4;
    return {};
  }

  Status parseString(std::string &out) {
    ++pos_; // '"'
    for (;;) {
      if (atEnd())
        return fail("unterminated string");
      char c = text_[pos_];
      if (c == '"') {
        ++pos_;
        return {};
      }
      if (static_cast<unsigned char>(c) < 0x20)
        return fail("control character in a string");
      if (c != '\\') {
        out += c;
        ++pos_;
        continue;
      }
      ++pos_;
      if (atEnd())
        return fail("unterminated string");
      char e = text_[pos_++];
      switch (e) {
      case '"':
      case '\\':
      case '/':
        out += e;
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'u': {
        uint32_t cp;
        if (Status s = parseHex4(cp); !s)
          return s;
        if (cp >= 0xDC00 && cp <= 0xDFFF)
          return fail("unpaired low surrogate in \\u escape");
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          uint32_t low;
          if (text_.substr(pos_, 2) != "\\u")
            return fail("unpaired high surrogate in \\u escape");
          pos_ += 2;
          if (Status s = parseHex4(low); !s)
            return s;
          if (low < 0xDC00 || low > 0xDFFF)
            return fail("unpaired high surrogate in \\u escape");
          cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
        }
        appendUtf8(out, cp);
        break;
      }
      default:
        --pos_;
        return fail(std::string("bad escape '\\") + e + "' in a string");
      }
    }
  }

  Status parseNumber(JsonValue &out) {
    size_t start = pos_;
    auto digits = [&] {
      size_t from = pos_;
      while (!atEnd() && peek() >= '0' && peek() <= '9')
        ++pos_;
      return pos_ - from;
    };
    if (peek() == '-')
      ++pos_;
    if (!atEnd() && peek() == '0')
      ++pos_;
    else if (digits() == 0)
      return fail("bad number");
    bool integral = true;
    if (!atEnd() && peek() == '.') {
      ++pos_;
      integral = false;
      if (digits() == 0)
        return fail("bad number: no digits after '.'");
    }
    if (!atEnd() && (peek() == 'e' || peek() == 'E')) {
      ++pos_;
      integral = false;
      if (!atEnd() && (peek() == '+' || peek() == '-'))
        ++pos_;
      if (digits() == 0)
        return fail("bad number: no digits in the exponent");
    }
    std::string literal(text_.substr(start, pos_ - start));
    out.kind = JsonValue::Kind::Number;
    out.number = std::strtod(literal.c_str(), nullptr);
    if (integral) {
      errno = 0;
      long long value = std::strtoll(literal.c_str(), nullptr, 10);
      if (errno != ERANGE)
        out.integer = value;
    }
    return {};
  }
};

} // namespace

Expected<JsonValue> parseJson(std::string_view text) { return Parser(text).parseDocument(); }

std::string quoteJson(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char escape[8];
      std::snprintf(escape, sizeof escape, "\\u%04x", static_cast<unsigned>(c));
      out += escape;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

} // namespace attn::rt
