#include "tensor.h"

#include <cstring>
#include <sstream>

#include "error.h"

namespace ec {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::f32: return 4;
    case DType::f16: return 2;
    case DType::f64: return 8;
    case DType::i8: return 1;
    case DType::u8: return 1;
    case DType::i16: return 2;
    case DType::u16: return 2;
    case DType::i32: return 4;
    case DType::i64: return 8;
    case DType::boolean: return 1;
  }
  return 0;
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "float32";
    case DType::f16: return "float16";
    case DType::f64: return "float64";
    case DType::i8: return "int8";
    case DType::u8: return "uint8";
    case DType::i16: return "int16";
    case DType::u16: return "uint16";
    case DType::i32: return "int32";
    case DType::i64: return "int64";
    case DType::boolean: return "bool";
  }
  return "?";
}

int64_t numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s)
    if (__builtin_mul_overflow(n, d, &n)) throw Error("tensor: shape " + shape_str(s) + " has more elements than int64 holds");
  return n;
}

LoadLimits& load_limits() {
  static LoadLimits limits;
  return limits;
}

uint64_t checked_tensor_bytes(DType dtype, const Shape& shape, const std::string& what) {
  uint64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) throw Error(what + ": negative dimension " + std::to_string(d) + " in shape " + shape_str(shape));
    if (__builtin_mul_overflow(n, static_cast<uint64_t>(d), &n))
      throw Error(what + ": shape " + shape_str(shape) + " has more elements than 64 bits hold");
  }
  uint64_t bytes = 0;
  if (__builtin_mul_overflow(n, static_cast<uint64_t>(dtype_size(dtype)), &bytes))
    throw Error(what + ": shape " + shape_str(shape) + " needs more bytes than 64 bits hold");
  const uint64_t limit_mb = load_limits().max_tensor_mb;
  if (bytes > limit_mb * 1024 * 1024)
    throw Error(what + ": shape " + shape_str(shape) + " of " + dtype_name(dtype) + " needs " +
                std::to_string(bytes / (1024 * 1024)) + " MiB, above the limit of " + std::to_string(limit_mb) +
                " MiB per tensor (--max-tensor-mb)");
  return bytes;
}

std::string shape_str(const Shape& s) {
  std::ostringstream o;
  o << '[';
  for (size_t i = 0; i < s.size(); ++i) o << (i ? "," : "") << s[i];
  o << ']';
  return o.str();
}

Tensor::Tensor(DType dtype, Shape shape) : dtype_(dtype), shape_(std::move(shape)) {
  const size_t bytes = static_cast<size_t>(checked_tensor_bytes(dtype_, shape_, "tensor"));
  owned_.reset(new uint8_t[bytes ? bytes : 1]());
  data_ = owned_.get();
}

Tensor Tensor::view(DType dtype, Shape shape, void* data) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.data_ = data;
  return t;
}

Tensor Tensor::from_f32(Shape shape, const std::vector<float>& v) {
  Tensor t(DType::f32, std::move(shape));
  if (static_cast<int64_t>(v.size()) != t.numel()) throw Error("tensor: value count does not match shape");
  std::memcpy(t.data(), v.data(), v.size() * 4);
  return t;
}

Tensor Tensor::from_i64(Shape shape, const std::vector<int64_t>& v) {
  Tensor t(DType::i64, std::move(shape));
  if (static_cast<int64_t>(v.size()) != t.numel()) throw Error("tensor: value count does not match shape");
  std::memcpy(t.data(), v.data(), v.size() * 8);
  return t;
}

void Tensor::reshape(Shape s) {
  if (ec::numel(s) != numel())
    throw Error("tensor: cannot reshape " + shape_str(shape_) + " to " + shape_str(s));
  shape_ = std::move(s);
}

Tensor Tensor::clone() const {
  Tensor t(dtype_, shape_);
  if (size_bytes()) std::memcpy(t.data(), data_, size_bytes());
  return t;
}

template <class Out>
static std::vector<Out> convert_all(const Tensor& t) {
  std::vector<Out> r(static_cast<size_t>(t.numel()));
  for (size_t i = 0; i < r.size(); ++i) {
    switch (t.dtype()) {
      case DType::f32: r[i] = static_cast<Out>(t.ptr<float>()[i]); break;
      case DType::f16: r[i] = static_cast<Out>(half_to_float(t.ptr<uint16_t>()[i])); break;
      case DType::f64: r[i] = static_cast<Out>(t.ptr<double>()[i]); break;
      case DType::i8: r[i] = static_cast<Out>(t.ptr<int8_t>()[i]); break;
      case DType::u8: r[i] = static_cast<Out>(t.ptr<uint8_t>()[i]); break;
      case DType::i16: r[i] = static_cast<Out>(t.ptr<int16_t>()[i]); break;
      case DType::u16: r[i] = static_cast<Out>(t.ptr<uint16_t>()[i]); break;
      case DType::i32: r[i] = static_cast<Out>(t.ptr<int32_t>()[i]); break;
      case DType::i64: r[i] = static_cast<Out>(t.ptr<int64_t>()[i]); break;
      case DType::boolean: r[i] = static_cast<Out>(t.ptr<uint8_t>()[i] != 0); break;
    }
  }
  return r;
}

std::vector<int64_t> Tensor::to_i64() const { return convert_all<int64_t>(*this); }
std::vector<double> Tensor::to_f64() const { return convert_all<double>(*this); }

float half_to_float(uint16_t h) {
  uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ffu, bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do { ++e; mant <<= 1; } while ((mant & 0x400u) == 0);
      bits = sign | ((127 - 15 - e) << 23) | ((mant & 0x3ffu) << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t float_to_half(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000u;
  int32_t exp = static_cast<int32_t>((x >> 23) & 0xff) - 127 + 15;
  uint32_t mant = x & 0x7fffffu;
  if (((x >> 23) & 0xff) == 0xff) return static_cast<uint16_t>(sign | 0x7c00u | (mant ? 0x200u : 0));
  if (exp >= 31) return static_cast<uint16_t>(sign | 0x7c00u);
  if (exp <= 0) {
    if (exp < -10) return static_cast<uint16_t>(sign);
    mant |= 0x800000u;
    uint32_t shift = static_cast<uint32_t>(14 - exp);
    uint32_t half = mant >> shift, rem = mant & ((1u << shift) - 1), mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1))) ++half;
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t half = sign | (static_cast<uint32_t>(exp) << 10) | (mant >> 13);
  uint32_t rem = mant & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (half & 1))) ++half;
  return static_cast<uint16_t>(half);
}

}  // namespace ec
