// Tensors: a dtype, a shape and a byte buffer that is either owned (shared between copies) or borrowed.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace ec {

// Element types the engine knows. Values match nothing external; use onnx_io to convert.
enum class DType : uint8_t { f32, f16, f64, i8, u8, i16, u16, i32, i64, boolean };

// Bytes per element of `t`.
size_t dtype_size(DType t);
// Lower-case name: "float32", "int8", ...
const char* dtype_name(DType t);

using Shape = std::vector<int64_t>;

// Product of the dimensions (1 for a scalar shape {}). Throws ec::Error when it overflows int64.
int64_t numel(const Shape& s);

// Limits on what a model may make the process allocate or walk, checked before the allocation or the walk so
// a hostile or broken file gets a one-line error instead of an out-of-memory kill or a hang. Process-wide,
// set once at start (the commands' --max-tensor-mb, --max-model-mb, --max-nodes) and read everywhere after.
struct LoadLimits {
  uint64_t max_tensor_mb = 2048;  // one tensor (initializer, declared value, intermediate, op workspace), MiB
  uint64_t max_model_mb = 2048;   // one model file, MiB (protobuf cannot parse more than 2 GiB)
  uint64_t max_nodes = 50000;     // nodes in a graph (vision models have 50-3000)
};
// The process's limits, writable (bound to the command-line options).
LoadLimits& load_limits();
// Bytes that a tensor of `dtype` and `shape` needs. Throws ec::Error naming `what` and the shape when a
// dimension is negative, the element count overflows, or the bytes exceed load_limits().max_tensor_mb.
uint64_t checked_tensor_bytes(DType dtype, const Shape& shape, const std::string& what);
// "[1,3,224,224]"
std::string shape_str(const Shape& s);

class Tensor {
 public:
  Tensor() = default;
  // Allocates zeroed storage for `shape` elements of `dtype` (owned). Throws ec::Error for a negative
  // dimension or a size above load_limits() (checked_tensor_bytes) before allocating.
  Tensor(DType dtype, Shape shape);
  // Borrows `data` (not owned; the caller keeps it alive while this tensor is used).
  static Tensor view(DType dtype, Shape shape, void* data);
  // Scalar/1-D helpers for building constants.
  static Tensor from_f32(Shape shape, const std::vector<float>& v);
  static Tensor from_i64(Shape shape, const std::vector<int64_t>& v);

  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int64_t dim(size_t i) const { return shape_[i]; }
  size_t rank() const { return shape_.size(); }
  int64_t numel() const { return ec::numel(shape_); }
  size_t size_bytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }
  bool empty() const { return data_ == nullptr && numel() != 0; }

  void* data() { return data_; }
  const void* data() const { return data_; }
  template <class T> T* ptr() { return static_cast<T*>(data_); }
  template <class T> const T* ptr() const { return static_cast<const T*>(data_); }

  // Changes the shape without touching the bytes; the element count must stay the same.
  void reshape(Shape s);
  // Deep copy with owned storage.
  Tensor clone() const;
  // Values converted to double / int64 (for small shape tensors and attributes).
  std::vector<int64_t> to_i64() const;
  std::vector<double> to_f64() const;

 private:
  DType dtype_ = DType::f32;
  Shape shape_;
  std::shared_ptr<uint8_t[]> owned_;
  void* data_ = nullptr;
};

// IEEE half <-> float conversions (round to nearest even).
float half_to_float(uint16_t h);
uint16_t float_to_half(float f);

}  // namespace ec
