// .npy reading and writing. The header is a Python dict literal ({'descr': '<f4', 'fortran_order': False,
// 'shape': (2, 3), }); it is parsed as the small subset of Python literals NumPy writes, and checked against
// the file's size before any tensor memory is allocated, so a corrupt header cannot ask for terabytes.
#include "attn/Runtime/Npy.h"

#include "LiteralScanner.h"
#include "attn/Runtime/File.h"
#include "attn/Runtime/StoredType.h"

#include <algorithm>
#include <climits>
#include <cstring>
#include <optional>

namespace attn::rt {

namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;

/// The Python literals that appear in .npy headers.
struct PyValue {
  enum class Kind { Str, Int, Bool, None, Tuple, List };
  Kind kind = Kind::None;
  std::string str;
  int64_t integer = 0;
  bool boolean = false;
  std::vector<PyValue> items;
};

class HeaderParser : LiteralScanner {
public:
  explicit HeaderParser(std::string_view text) : LiteralScanner(text, LiteralSyntax::Python) {}

  /// Parses the whole header as a dict with string keys.
  Status parse(std::vector<std::pair<std::string, PyValue>> &dict) {
    if (Status s = expect('{'); !s)
      return s;
    Status entries = sequence('}', "expected '}'", [&]() -> Status {
      PyValue key;
      if (Status s = parseValue(key, 0); !s)
        return s;
      if (key.kind != PyValue::Kind::Str)
        return fail("expected a string key");
      if (Status s = expect(':'); !s)
        return s;
      PyValue value;
      if (Status s = parseValue(value, 0); !s)
        return s;
      dict.emplace_back(key.str, std::move(value));
      return {};
    });
    if (!entries)
      return entries;
    return expectEnd("unexpected text after the dict");
  }

private:
  Status parseValue(PyValue &out, int depth) {
    char c;
    if (Status s = startValue(c, "unexpected end of header"); !s)
      return s;
    if (c == '\'' || c == '"') {
      size_t end = text_.find(c, pos_ + 1);
      if (end == std::string_view::npos)
        return fail("unterminated string");
      out.kind = PyValue::Kind::Str;
      out.str = std::string(text_.substr(pos_ + 1, end - pos_ - 1));
      pos_ = end + 1;
      return {};
    }
    if (c == '(' || c == '[') {
      if (depth >= 8)
        return fail("nested too deeply");
      char close = c == '(' ? ')' : ']';
      out.kind = c == '(' ? PyValue::Kind::Tuple : PyValue::Kind::List;
      ++pos_;
      return sequence(close, std::string("expected ',' or '") + close + "'", [&]() -> Status {
        PyValue item;
        if (Status s = parseValue(item, depth + 1); !s)
          return s;
        out.items.push_back(std::move(item));
        return {};
      });
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
      size_t start = pos_;
      if (c == '-')
        ++pos_;
      int64_t value = 0;
      size_t digits = 0;
      for (; pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9'; ++pos_, ++digits)
        if (__builtin_mul_overflow(value, 10, &value) ||
            __builtin_add_overflow(value, text_[pos_] - '0', &value))
          return fail("integer too large");
      if (digits == 0)
        return fail("bad integer");
      consume('L'); // Python 2 wrote long integers with a suffix
      out.kind = PyValue::Kind::Int;
      out.integer = text_[start] == '-' ? -value : value;
      return {};
    }
    if (std::optional<Keyword> word = keyword()) {
      out.kind = *word == Keyword::Null ? PyValue::Kind::None : PyValue::Kind::Bool;
      out.boolean = *word == Keyword::True;
      return {};
    }
    return fail(std::string("unexpected character '") + c + "'");
  }
};

/// The header as it may be quoted in an error message: without its padding, and not too long.
std::string quoteHeader(std::string header) {
  while (!header.empty() && (header.back() == ' ' || header.back() == '\n'))
    header.pop_back();
  return header.size() > 200 ? header.substr(0, 200) + "..." : header;
}

} // namespace

Expected<Tensor> readNpy(const std::string &path) {
  Expected<InputFile> file = InputFile::open(path);
  if (!file)
    return file.takeError();
  uint64_t fileSize = file->size();
  unsigned char prefix[12] = {};
  if (Status s = file->read(0, prefix, std::min<uint64_t>(fileSize, sizeof prefix)); !s)
    return s.takeError();
  if (fileSize < kMagicSize + 2 || std::memcmp(prefix, kMagic, kMagicSize) != 0)
    return makeError(path, ": not a NumPy .npy file (it does not start with \"\\x93NUMPY\")");
  unsigned major = prefix[6], minor = prefix[7];
  if (major != 1 && major != 2)
    return makeError(path, ": unsupported .npy format version ", major, ".", minor,
                     " (only 1.0 and 2.0 are read)");
  uint64_t headerStart = major == 1 ? 10 : 12;
  if (fileSize < headerStart)
    return makeError(path, ": truncated: the file ends inside the header length (", fileSize, " bytes)");
  uint64_t headerSize = major == 1
                            ? prefix[8] | prefix[9] << 8
                            : prefix[8] | prefix[9] << 8 | prefix[10] << 16 | uint64_t(prefix[11]) << 24;
  if (headerStart + headerSize > fileSize)
    return makeError(path, ": truncated: the header is ", headerSize, " bytes, but the file has only ",
                     fileSize - headerStart, " after the header length");
  std::string header(headerSize, '\0');
  if (Status s = file->read(headerStart, header.data(), headerSize); !s)
    return s.takeError();

  std::vector<std::pair<std::string, PyValue>> dict;
  if (Status s = HeaderParser(header).parse(dict); !s)
    return makeError(path, ": malformed header: ", s.message(), " in ", quoteHeader(header));
  const PyValue *descr = nullptr, *fortran = nullptr, *shapeValue = nullptr;
  for (const auto &[key, value] : dict) {
    const PyValue **slot = key == "descr"           ? &descr
                           : key == "fortran_order" ? &fortran
                           : key == "shape"         ? &shapeValue
                                                    : nullptr;
    if (!slot)
      return makeError(path, ": malformed header: unexpected key '", key, "'");
    if (*slot)
      return makeError(path, ": malformed header: duplicate key '", key, "'");
    *slot = &value;
  }
  if (!descr || !fortran || !shapeValue)
    return makeError(path, ": malformed header: it must have the keys 'descr', 'fortran_order' and 'shape'");
  if (fortran->kind != PyValue::Kind::Bool)
    return makeError(path, ": malformed header: 'fortran_order' must be True or False");
  if (fortran->boolean)
    return makeError(path,
                     ": Fortran-order arrays are not supported; save a C-order array (np.ascontiguousarray)");
  if (shapeValue->kind != PyValue::Kind::Tuple)
    return makeError(path, ": malformed header: 'shape' must be a tuple");
  Shape shape;
  for (const PyValue &d : shapeValue->items) {
    if (d.kind != PyValue::Kind::Int || d.integer < 0)
      return makeError(path, ": malformed header: 'shape' must hold non-negative integers");
    shape.push_back(d.integer);
  }
  if (descr->kind != PyValue::Kind::Str)
    return makeError(path, ": unsupported dtype: structured arrays are not supported");
  const StoredType *info = findStoredType(FileFormat::Npy, descr->str);
  if (!info && !descr->str.empty() && descr->str[0] == '>')
    return makeError(path, ": big-endian data ('", descr->str, "') is not supported; convert it with ",
                     "arr.astype(arr.dtype.newbyteorder('<'))");
  if (!info)
    return makeError(path, ": unsupported dtype '", descr->str,
                     "'; use float32, float64, int32, int64, int8, uint8 or bool");

  int64_t count = countElements(shape);
  uint64_t dataSize;
  if (count < 0 || __builtin_mul_overflow(static_cast<uint64_t>(count), info->itemSize, &dataSize))
    return makeError(path, ": malformed header: shape ", formatShape(shape), " has too many elements");
  uint64_t dataStart = headerStart + headerSize;
  uint64_t available = fileSize - dataStart;
  if (available < dataSize)
    return makeError(path, ": truncated: header says ", dataSize, " bytes of data, file has ", available);
  if (available > dataSize)
    return makeError(path, ": header says ", dataSize, " bytes of data, but the file has ", available,
                     " (trailing bytes)");

  return readStoredTensor(*file, dataStart, *info, std::move(shape), path);
}

Status writeNpy(const std::string &path, const Tensor &tensor) {
  std::string dict =
      std::string("{'descr': '") + storedTypeOf(tensor.dtype()).npy + "', 'fortran_order': False, 'shape': (";
  for (int64_t d : tensor.shape())
    dict += std::to_string(d) + (tensor.rank() == 1 ? "," : ", ");
  if (tensor.rank() > 1)
    dict.resize(dict.size() - 2);
  dict += "), }";
  // NumPy pads the header with spaces and a newline so the data starts at a multiple of 64 bytes. Version
  // 1.0 stores the header length in 16 bits; only a shape of thousands of dimensions needs version 2.0.
  auto headerSizeAfter = [&](size_t prefixSize) {
    return (prefixSize + dict.size() + 1 + 63) / 64 * 64 - prefixSize;
  };
  bool v1 = headerSizeAfter(kMagicSize + 4) <= 0xFFFF;
  size_t headerSize = headerSizeAfter(kMagicSize + (v1 ? 4 : 6));
  dict.resize(headerSize - 1, ' ');
  dict += '\n';
  std::string prefix(kMagic, kMagicSize);
  prefix += static_cast<char>(v1 ? 1 : 2);
  prefix += '\0';
  for (int i = 0; i < (v1 ? 2 : 4); ++i)
    prefix += static_cast<char>((headerSize >> (8 * i)) & 0xFF);
  return writeFileAtomically(
      path, {{prefix.data(), prefix.size()}, {dict.data(), dict.size()}, {tensor.data(), tensor.byteSize()}});
}

} // namespace attn::rt
