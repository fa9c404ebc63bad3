// A small strict JSON (RFC 8259) reader and string quoter, enough for safetensors headers. The runtime
// depends on no JSON library; it needs exact 64-bit integers for tensor offsets (which doubles cannot
// hold), objects in file order, duplicate keys rejected, and errors that say at which byte the text broke.
#ifndef ATTN_RUNTIME_JSON_H
#define ATTN_RUNTIME_JSON_H

#include "attn/Runtime/Error.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace attn::rt {

struct JsonValue {
  enum class Kind { Null, Bool, Number, String, Array, Object };

  Kind kind = Kind::Null;
  bool boolean = false;
  double number = 0;
  std::optional<int64_t> integer; // set for numbers written as integers that fit in int64
  std::string string;
  std::vector<JsonValue> array;
  std::vector<std::pair<std::string, JsonValue>> object; // in file order, keys unique

  /// The member named `key` of an object, or null.
  const JsonValue *find(std::string_view key) const;
};

/// "object", "string", ...: for messages such as "expected an array, found a string".
const char *jsonKindName(JsonValue::Kind kind);

/// Parses one JSON value; only whitespace may follow it. Errors read "at byte 17: expected ':' after an
/// object key". Nesting is limited to 64 levels.
Expected<JsonValue> parseJson(std::string_view text);

/// `text` as a JSON string literal, quotes included.
std::string quoteJson(std::string_view text);

} // namespace attn::rt

#endif // ATTN_RUNTIME_JSON_H
