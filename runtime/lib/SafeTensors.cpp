// safetensors reading and writing. The layout is an 8-byte little-endian header length, a JSON header
// mapping each tensor name to its dtype, shape and [begin, end) byte range in the data section, then the
// data section. Every range is checked against the file's size and against its dtype and shape before
// anything is read, so a truncated download is reported as such instead of yielding garbage weights.
#include "attn/Runtime/SafeTensors.h"

#include "attn/Runtime/File.h"
#include "attn/Runtime/Json.h"
#include "attn/Runtime/StoredType.h"

#include <algorithm>
#include <climits>
#include <cstring>
#include <optional>

#include <zlib.h>

namespace attn::rt {

namespace {

constexpr const char *kMetadataKey = "__metadata__";
constexpr const char *kChecksumKey = "crc32"; // of the data section, in the metadata of files written here

/// One tensor as the header describes it.
struct Entry {
  std::string name;
  const StoredType *type;
  Shape shape;
  uint64_t begin, end;
};

std::optional<uint64_t> nonNegativeInteger(const JsonValue &v) {
  if (v.kind != JsonValue::Kind::Number || !v.integer || *v.integer < 0)
    return std::nullopt;
  return static_cast<uint64_t>(*v.integer);
}

/// Checks one tensor's header entry; `where` is "PATH: tensor 'NAME'".
Expected<Entry> parseEntry(const std::string &where, const std::string &name, const JsonValue &value,
                           uint64_t dataSize) {
  if (value.kind != JsonValue::Kind::Object)
    return makeError(where, ": expected an object with dtype, shape and data_offsets, found a ",
                     jsonKindName(value.kind));
  for (const auto &[key, field] : value.object)
    if (key != "dtype" && key != "shape" && key != "data_offsets")
      return makeError(where, ": unexpected field \"", key, "\"");
  const JsonValue *dtype = value.find("dtype");
  const JsonValue *shape = value.find("shape");
  const JsonValue *offsets = value.find("data_offsets");
  if (!dtype || !shape || !offsets)
    return makeError(where, ": missing field \"", !dtype ? "dtype" : !shape ? "shape" : "data_offsets", "\"");

  Entry entry{name, nullptr, {}, 0, 0};
  if (dtype->kind != JsonValue::Kind::String)
    return makeError(where, ": dtype must be a string");
  entry.type = findStoredType(FileFormat::SafeTensors, dtype->string);
  if (!entry.type)
    return makeError(where, ": unsupported dtype '", dtype->string,
                     "' (supported: F32, I32, F64, F16, BF16, I64)");

  if (shape->kind != JsonValue::Kind::Array)
    return makeError(where, ": shape must be an array of non-negative integers");
  for (const JsonValue &d : shape->array) {
    std::optional<uint64_t> size = nonNegativeInteger(d);
    if (!size)
      return makeError(where, ": shape must be an array of non-negative integers");
    entry.shape.push_back(static_cast<int64_t>(*size));
  }

  std::optional<uint64_t> begin, end;
  if (offsets->kind == JsonValue::Kind::Array && offsets->array.size() == 2) {
    begin = nonNegativeInteger(offsets->array[0]);
    end = nonNegativeInteger(offsets->array[1]);
  }
  if (!begin || !end)
    return makeError(where, ": data_offsets must be an array of two non-negative integers");
  entry.begin = *begin;
  entry.end = *end;
  std::string range = "data_offsets [" + std::to_string(entry.begin) + ", " + std::to_string(entry.end) + "]";
  if (entry.begin > entry.end)
    return makeError(where, ": ", range, " end before they begin");
  if (entry.end > dataSize)
    return makeError(where, ": ", range, " go beyond the end of the data section (", dataSize,
                     " bytes): the file is truncated or corrupt");
  int64_t count = countElements(entry.shape);
  uint64_t bytes = 0;
  bool overflow =
      count < 0 || __builtin_mul_overflow(static_cast<uint64_t>(count), entry.type->itemSize, &bytes);
  if (overflow || bytes != entry.end - entry.begin)
    return makeError(where, ": ", range, " hold ", entry.end - entry.begin, " bytes, but ",
                     entry.type->safetensors, formatShape(entry.shape), " needs ",
                     overflow ? "more than 2^63" : std::to_string(bytes));
  return entry;
}

} // namespace

Expected<SafeTensorsFile> readSafeTensors(const std::string &path, const HeaderCheck &check) {
  Expected<InputFile> file = InputFile::open(path);
  if (!file)
    return file.takeError();
  uint64_t fileSize = file->size();
  if (fileSize < 8)
    return makeError(path, ": truncated: the file has ", fileSize,
                     " bytes, too few for the 8-byte header length a safetensors file starts with");
  unsigned char lengthBytes[8];
  if (Status s = file->read(0, lengthBytes, 8); !s)
    return s.takeError();
  uint64_t headerSize = 0;
  for (int i = 7; i >= 0; --i)
    headerSize = headerSize << 8 | lengthBytes[i];
  if (headerSize > fileSize - 8)
    return makeError(path, ": header length ", headerSize, " goes beyond the end of the file (", fileSize,
                     " bytes): the file is truncated or not a safetensors file");
  std::string header(headerSize, '\0');
  if (Status s = file->read(8, header.data(), headerSize); !s)
    return s.takeError();
  Expected<JsonValue> json = parseJson(header);
  if (!json)
    return makeError(path, ": malformed JSON header: ", json.message());
  if (json->kind != JsonValue::Kind::Object)
    return makeError(path, ": the header is a JSON ", jsonKindName(json->kind), ", not an object");

  uint64_t dataStart = 8 + headerSize;
  uint64_t dataSize = fileSize - dataStart;
  SafeTensorsFile result;
  std::vector<Entry> entries;
  for (const auto &[name, value] : json->object) {
    if (name == kMetadataKey) {
      if (value.kind != JsonValue::Kind::Object)
        return makeError(path, ": __metadata__ must be an object mapping strings to strings");
      for (const auto &[key, item] : value.object) {
        if (item.kind != JsonValue::Kind::String)
          return makeError(path, ": __metadata__ must be an object mapping strings to strings (\"", key,
                           "\" is a ", jsonKindName(item.kind), ")");
        result.metadata[key] = item.string;
      }
      continue;
    }
    Expected<Entry> entry = parseEntry(path + ": tensor '" + name + "'", name, value, dataSize);
    if (!entry)
      return entry.takeError();
    entries.push_back(std::move(*entry));
  }

  // The format lays the tensors' data end to end from byte 0 of the data section to its end: offsets that
  // overlap, leave a gap or stop short of the end mean a damaged or forged header.
  std::vector<const Entry *> byBegin;
  for (const Entry &entry : entries)
    byBegin.push_back(&entry);
  std::stable_sort(byBegin.begin(), byBegin.end(),
                   [](const Entry *a, const Entry *b) { return a->begin < b->begin; });
  uint64_t next = 0;
  for (const Entry *entry : byBegin) {
    if (entry->begin != next)
      return makeError(path, ": tensor '", entry->name, "' starts at byte ", entry->begin,
                       " of the data, but ",
                       next == 0 ? std::string("the data starts at byte 0")
                                 : "the tensor before it ends at byte " + std::to_string(next),
                       ": data_offsets must be contiguous and disjoint");
    next = entry->end;
  }
  if (next != dataSize)
    return makeError(path, ": the tensors' data ends at byte ", next, ", but the file holds ", dataSize,
                     " bytes of data: data_offsets must cover the data exactly");

  if (check) {
    TensorInfoMap header;
    for (const Entry &entry : entries)
      header.emplace(entry.name, TensorInfo{entry.type->dtype, entry.shape});
    if (Status s = check(header); !s)
      return s.takeError();
  }

  // Files this runtime writes carry the CRC-32 of their data; a mismatch means the bytes were damaged.
  if (auto expected = result.metadata.find(kChecksumKey); expected != result.metadata.end()) {
    std::vector<unsigned char> data(dataSize);
    if (Status s = file->read(dataStart, data.data(), dataSize); !s)
      return s.takeError();
    std::string actual = std::to_string(crc32_z(0, data.data(), data.size()));
    if (actual != expected->second)
      return makeError(path, ": the data's checksum is ", actual, ", but the header records ",
                       expected->second, ": the file is corrupt");
    result.metadata.erase(expected);
  }

  for (const Entry &entry : entries) {
    std::string where = path + ": tensor '" + entry.name + "'";
    Expected<Tensor> tensor =
        readStoredTensor(*file, dataStart + entry.begin, *entry.type, entry.shape, where);
    if (!tensor)
      return tensor.takeError();
    result.tensors.emplace(entry.name, std::move(*tensor));
  }
  return result;
}

Status writeSafeTensors(const std::string &path, const TensorMap &tensors,
                        const std::map<std::string, std::string> &metadata) {
  uint32_t checksum = 0;
  for (const auto &[name, tensor] : tensors)
    checksum = crc32_z(checksum, static_cast<const Bytef *>(tensor.data()), tensor.byteSize());
  std::map<std::string, std::string> withChecksum = metadata;
  withChecksum[kChecksumKey] = std::to_string(checksum);
  std::string header = "{";
  {
    header += quoteJson(kMetadataKey) + ":{";
    for (const auto &[key, value] : withChecksum)
      header += quoteJson(key) + ":" + quoteJson(value) + ",";
    header.back() = '}';
    header += ",";
  }
  uint64_t offset = 0;
  std::vector<ByteRange> pieces(2); // the header length and the header, filled in below
  for (const auto &[name, tensor] : tensors) {
    if (name == kMetadataKey)
      return makeError(path, ": a tensor cannot be named __metadata__");
    header +=
        quoteJson(name) + ":{\"dtype\":\"" + storedTypeOf(tensor.dtype()).safetensors + "\",\"shape\":[";
    for (size_t i = 0; i < tensor.shape().size(); ++i)
      header += (i ? "," : "") + std::to_string(tensor.shape()[i]);
    header += "],\"data_offsets\":[" + std::to_string(offset) + "," +
              std::to_string(offset + tensor.byteSize()) + "]},";
    offset += tensor.byteSize();
    pieces.push_back({tensor.data(), tensor.byteSize()});
  }
  if (header.size() > 1)
    header.pop_back(); // the last ','
  header += "}";
  // The data section must start at a multiple of 8 bytes; the format pads the header with spaces.
  header.resize((8 + header.size() + 7) / 8 * 8 - 8, ' ');
  unsigned char length[8];
  for (int i = 0; i < 8; ++i)
    length[i] = static_cast<unsigned char>(static_cast<uint64_t>(header.size()) >> (8 * i));
  pieces[0] = {length, 8};
  pieces[1] = {header.data(), header.size()};
  return writeFileAtomically(path, pieces);
}

} // namespace attn::rt
