// Element conversions shared by the .npy and safetensors readers.
#include "attn/Runtime/Convert.h"

#include <cstdint>
#include <cstring>

namespace attn::rt {

namespace {

float halfToFloat(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  uint32_t exponent = (h >> 10) & 0x1F;
  uint32_t mantissa = h & 0x3FF;
  uint32_t bits;
  if (exponent == 0x1F) {
    bits = sign | 0x7F800000 | mantissa << 13; // infinity or NaN
  } else if (exponent != 0) {
    bits = sign | (exponent + 127 - 15) << 23 | mantissa << 13;
  } else if (mantissa == 0) {
    bits = sign;
  } else { // subnormal: every half subnormal is a normal float
    int e = 127 - 15 + 1;
    while (!(mantissa & 0x400)) {
      mantissa <<= 1;
      --e;
    }
    bits = sign | static_cast<uint32_t>(e) << 23 | (mantissa & 0x3FF) << 13;
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

float bfloatToFloat(uint16_t h) {
  uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

template <typename T> T load(const unsigned char *raw, int64_t i) {
  T v;
  std::memcpy(&v, raw + sizeof(T) * i, sizeof(T));
  return v;
}

} // namespace

Status convertElements(Conversion conversion, const unsigned char *raw, Tensor &tensor,
                       const std::string &where) {
  for (int64_t i = 0, n = tensor.numElements(); i < n; ++i) {
    switch (conversion) {
    case Conversion::F64ToF32:
      tensor.data<float>()[i] = static_cast<float>(load<double>(raw, i));
      break;
    case Conversion::F16ToF32:
      tensor.data<float>()[i] = halfToFloat(load<uint16_t>(raw, i));
      break;
    case Conversion::BF16ToF32:
      tensor.data<float>()[i] = bfloatToFloat(load<uint16_t>(raw, i));
      break;
    case Conversion::I64ToI32: {
      int64_t v = load<int64_t>(raw, i);
      if (v < INT32_MIN || v > INT32_MAX)
        return makeError(where, ": element ", i, " is ", v, ", which does not fit in int32");
      tensor.data<int32_t>()[i] = static_cast<int32_t>(v);
      break;
    }
    case Conversion::BoolToI32:
      tensor.data<int32_t>()[i] = raw[i] != 0;
      break;
    case Conversion::U8ToI32:
      tensor.data<int32_t>()[i] = raw[i];
      break;
    case Conversion::I8ToI32:
      tensor.data<int32_t>()[i] = static_cast<int8_t>(raw[i]);
      break;
    }
  }
  return {};
}

} // namespace attn::rt
