// Shape and data-movement kernels: Shape, Size, Reshape, Flatten, Squeeze, Unsqueeze, Transpose, Concat,
// Split, Slice, Gather, Expand, Tile, ConstantOfShape, Constant, Range, Pad.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>

#include "broadcast.h"
#include "op.h"

#if defined(__AVX__)
#include <immintrin.h>
#elif defined(__aarch64__) && defined(__ARM_NEON)
#include <arm_neon.h>
#endif

namespace ec {
namespace {

// Copies bytes of input 0 into output 0 (reshape-like ops: same bytes, new shape); nothing to copy where the
// planner gave the output the input's buffer (the input dying here: YOLOv8's head reshapes 8 tensors of up to
// 0.9 MB: 0.05 ms a run at 1 thread and 0.08 at 2, the whole model 1.5 % faster at both, Xeon Emerald Rapids).
class CopyLikeOp : public Op {
 public:
  using Op::Op;
  int inplace_input() const override { return 0; }
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, void*) override {
    if (out[0]->data() != in[0]->data()) std::memcpy(out[0]->data(), in[0]->data(), in[0]->size_bytes());
  }
};

class ShapeOp : public Op {
 public:
  using Op::Op;
  bool shape_only() const override { return true; }
  void reshape(const OpInputs& in, std::vector<TensorSpec>& out) override {
    if (!in.has(0)) fail("input is missing");
    int64_t r = static_cast<int64_t>(in.t[0]->rank());
    start_ = node_.attr_i("start", 0);
    end_ = node_.attr_i("end", r);
    if (start_ < 0) start_ += r;
    if (end_ < 0) end_ += r;
    start_ = std::clamp<int64_t>(start_, 0, r);
    end_ = std::clamp<int64_t>(end_, start_, r);
    out[0] = {DType::i64, {end_ - start_}};
  }
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, void*) override {
    for (int64_t i = start_; i < end_; ++i) out[0]->ptr<int64_t>()[i - start_] = in[0]->dim(static_cast<size_t>(i));
  }
  int64_t start_ = 0, end_ = 0;
};

class SizeOp : public Op {
 public:
  using Op::Op;
  bool shape_only() const override { return true; }
  void reshape(const OpInputs&, std::vector<TensorSpec>& out) override { out[0] = {DType::i64, {}}; }
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, void*) override {
    out[0]->ptr<int64_t>()[0] = in[0]->numel();
  }
};

class ReshapeOp : public CopyLikeOp {
 public:
  using CopyLikeOp::CopyLikeOp;
  void reshape(const OpInputs& in, std::vector<TensorSpec>& out) override {
    if (!in.has(0)) fail("input is missing");
    std::vector<int64_t> want = opset_ < 5 ? node_.attr_ints("shape") : need_const(in, 1, "shape").to_i64();
    const Shape& s = in.t[0]->shape();
    bool allowzero = node_.attr_i("allowzero", 0) != 0;
    int64_t infer = -1, known = 1;
    Shape o(want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      if (want[i] == 0 && !allowzero) {
        if (i >= s.size()) fail("shape " + shape_str(want) + " copies dim " + std::to_string(i) + " of " + shape_str(s));
        o[i] = s[i];
      } else if (want[i] == -1) {
        if (infer >= 0) fail("shape " + shape_str(want) + " has more than one -1");
        infer = static_cast<int64_t>(i);
        continue;
      } else {
        o[i] = want[i];
      }
      known *= o[i];
    }
    if (infer >= 0) {
      if (known == 0 || in.t[0]->numel() % known) fail("cannot reshape " + shape_str(s) + " to " + shape_str(want));
      o[static_cast<size_t>(infer)] = in.t[0]->numel() / known;
    }
    if (numel(o) != in.t[0]->numel()) fail("cannot reshape " + shape_str(s) + " to " + shape_str(want));
    out[0] = {in.t[0]->dtype(), o};
  }
};

class FlattenOp : public CopyLikeOp {
 public:
  using CopyLikeOp::CopyLikeOp;
  void reshape(const OpInputs& in, std::vector<TensorSpec>& out) override {
    const Shape& s = in.t[0]->shape();
    int64_t r = static_cast<int64_t>(s.size());
    int64_t axis = node_.attr_i("axis", 1);
    if (axis < 0) axis += r;
    if (axis < 0 || axis > r) fail("axis " + std::to_string(axis) + " out of range for rank " + std::to_string(r));
    int64_t a = 1;
    for (int64_t i = 0; i < axis; ++i) a *= s[static_cast<size_t>(i)];
    out[0] = {in.t[0]->dtype(), {a, a ? in.t[0]->numel() / a : 0}};
  }
};

class SqueezeOp : public CopyLikeOp {
 public:
  SqueezeOp(const Node& n, int64_t o, bool unsq) : CopyLikeOp(n, o), unsqueeze_(unsq) {}
  void reshape(const OpInputs& in, std::vector<TensorSpec>& out) override {
    std::vector<int64_t> axes;
    if (opset_ < 13) axes = node_.attr_ints("axes");
    else if (in.has(1)) axes = need_const(in, 1, "axes").to_i64();
    const Shape& s = in.t[0]->shape();
    Shape o;
    if (unsqueeze_) {
      int64_t r = static_cast<int64_t>(s.size() + axes.size());
      std::vector<bool> ins(static_cast<size_t>(r), false);
      for (int64_t a : axes) ins[static_cast<size_t>(norm_axis(a, r, node_))] = true;
      size_t k = 0;
      for (int64_t i = 0; i < r; ++i) o.push_back(ins[static_cast<size_t>(i)] ? 1 : s[k++]);
    } else {
      int64_t r = static_cast<int64_t>(s.size());
      std::vector<bool> del(s.size(), false);
      if (axes.empty()) {
        for (size_t i = 0; i < s.size(); ++i) del[i] = s[i] == 1;
      } else {
        for (int64_t a : axes) {
          size_t k = static_cast<size_t>(norm_axis(a, r, node_));
          if (s[k] != 1) fail("cannot squeeze axis " + std::to_string(a) + " of shape " + shape_str(s));
          del[k] = true;
        }
      }
      for (size_t i = 0; i < s.size(); ++i)
        if (!del[i]) o.push_back(s[i]);
    }
    out[0] = {in.t[0]->dtype(), o};
  }
  bool unsqueeze_;
};

// A permutation as a batched 2-D transpose: size-1 dimensions dropped, output dimensions whose input
// dimensions are adjacent and in order merged. True when y[b][c][r] = x[b][r][c] for sizes b, r, c (r = 1 or
// c = 1: a plain copy); false for permutations that need more than one swap (e.g. [2,0,1] of rank 3 is one
// swap, [0,3,2,1] of rank 4 with every size > 1 is not).
bool as_batched_transpose(const Shape& s, const std::vector<int64_t>& perm, int64_t& b, int64_t& r, int64_t& c) {
  const int64_t rank = static_cast<int64_t>(s.size());
  std::vector<int64_t> p;  // input dims in output order, size-1 dims dropped
  for (int64_t q : perm) {
    if (q < 0) q += rank;
    if (s[static_cast<size_t>(q)] != 1) p.push_back(q);
  }
  std::vector<std::pair<int64_t, int64_t>> groups;  // (first input dim, size) in output order
  for (size_t i = 0; i < p.size(); ++i) {
    if (i > 0) {
      // the next kept input dim after p[i-1] (skipping size-1 dims)
      int64_t nx = p[i - 1] + 1;
      while (nx < rank && s[static_cast<size_t>(nx)] == 1) ++nx;
      if (nx == p[i]) {
        groups.back().second *= s[static_cast<size_t>(p[i])];
        continue;
      }
    }
    groups.push_back({p[i], s[static_cast<size_t>(p[i])]});
  }
  b = r = c = 1;
  if (groups.size() <= 1) {
    if (!groups.empty()) c = groups[0].second;
    return true;
  }
  if (groups.size() == 2 && groups[0].first > groups[1].first) {
    c = groups[0].second;  // output [c][r] from input [r][c]
    r = groups[1].second;
    return true;
  }
  if (groups.size() == 3 && groups[0].first < groups[2].first && groups[2].first < groups[1].first) {
    b = groups[0].second;
    c = groups[1].second;
    r = groups[2].second;
    return true;
  }
  return false;
}

// y[bi][j][i] = x[bi][i][j] for i < r, j < c, in 16 x 16 tiles (each tile's reads and writes stay in L1), the
// batches and row tiles split over `threads` (one thread below 64 Ki elements).
// Few rows (an image's 3 or 4 channels into NHWC): each output pixel interleaves R rows, in one pass the
// compiler vectorises (x86 permutes, ARM st3/st4).
template <typename T, int R>
void interleave_rows(const T* x, T* y, int64_t b, int64_t c) {
  for (int64_t bi = 0; bi < b; ++bi) {
    const T* xb = x + bi * R * c;
    T* yb = y + bi * R * c;
    for (int64_t j = 0; j < c; ++j)
      for (int i = 0; i < R; ++i) yb[j * R + i] = xb[i * c + j];
  }
}

// A square block of 4-byte elements transposed in registers: y[j * ys + i] = x[i * xs + j] for i, j < kRegBlock
// (AVX: 8 x 8 by unpack / shuffle / lane permutes; NEON: 4 x 4 by trn and combine; else 4 x 4 plain copies).
#if defined(__AVX__)
constexpr int64_t kRegBlock = 8;
template <typename T>
inline void transpose_reg_block(const T* x, int64_t xs, T* y, int64_t ys) {
  static_assert(sizeof(T) == 4, "4-byte elements");
  const float* xf = reinterpret_cast<const float*>(x);
  float* yf = reinterpret_cast<float*>(y);
  __m256 a[8], t[8], s[8];
  for (int k = 0; k < 8; ++k) a[k] = _mm256_loadu_ps(xf + k * xs);
  for (int k = 0; k < 8; k += 2) {
    t[k] = _mm256_unpacklo_ps(a[k], a[k + 1]);      // a0k a1k pairs of columns 0,1 | 4,5
    t[k + 1] = _mm256_unpackhi_ps(a[k], a[k + 1]);  // columns 2,3 | 6,7
  }
  for (int k = 0; k < 8; k += 4) {
    s[k] = _mm256_shuffle_ps(t[k], t[k + 2], 0x44);      // column 0 | 4 of four rows
    s[k + 1] = _mm256_shuffle_ps(t[k], t[k + 2], 0xEE);  // column 1 | 5
    s[k + 2] = _mm256_shuffle_ps(t[k + 1], t[k + 3], 0x44);  // column 2 | 6
    s[k + 3] = _mm256_shuffle_ps(t[k + 1], t[k + 3], 0xEE);  // column 3 | 7
  }
  for (int k = 0; k < 4; ++k) {
    _mm256_storeu_ps(yf + k * ys, _mm256_permute2f128_ps(s[k], s[k + 4], 0x20));
    _mm256_storeu_ps(yf + (k + 4) * ys, _mm256_permute2f128_ps(s[k], s[k + 4], 0x31));
  }
}
#elif defined(__aarch64__) && defined(__ARM_NEON)
constexpr int64_t kRegBlock = 4;
template <typename T>
inline void transpose_reg_block(const T* x, int64_t xs, T* y, int64_t ys) {
  static_assert(sizeof(T) == 4, "4-byte elements");
  const uint32_t* xu = reinterpret_cast<const uint32_t*>(x);
  uint32_t* yu = reinterpret_cast<uint32_t*>(y);
  const uint32x4x2_t p = vtrnq_u32(vld1q_u32(xu), vld1q_u32(xu + xs));           // a00 a10 a02 a12 | a01 a11 a03 a13
  const uint32x4x2_t q = vtrnq_u32(vld1q_u32(xu + 2 * xs), vld1q_u32(xu + 3 * xs));  // rows 2, 3 alike
  vst1q_u32(yu, vcombine_u32(vget_low_u32(p.val[0]), vget_low_u32(q.val[0])));
  vst1q_u32(yu + ys, vcombine_u32(vget_low_u32(p.val[1]), vget_low_u32(q.val[1])));
  vst1q_u32(yu + 2 * ys, vcombine_u32(vget_high_u32(p.val[0]), vget_high_u32(q.val[0])));
  vst1q_u32(yu + 3 * ys, vcombine_u32(vget_high_u32(p.val[1]), vget_high_u32(q.val[1])));
}
#else
constexpr int64_t kRegBlock = 4;
template <typename T>
inline void transpose_reg_block(const T* x, int64_t xs, T* y, int64_t ys) {
  for (int64_t i = 0; i < 4; ++i)
    for (int64_t j = 0; j < 4; ++j) y[j * ys + i] = x[i * xs + j];
}
#endif

// y[bi][j][i] = x[bi][i][j] for i < r, j < c, in 16 x 16 tiles (each tile's reads and writes stay in L1); one
// call per (batch, row tile, column chunk): `for_each(jobs, fn)` runs them (on the op's threads above 64 Ki
// elements). Fewer than 8 (batch, row tile) pairs: the columns in up to 8 chunks as well, so a long [16][8400]
// transpose (YOLOv8's DFL bins to NHWC) is not one job (0.031 ms at 2 threads on one of them, 0.018 at 1).
template <typename T, typename ForEach>
void batched_transpose(const T* x, T* y, int64_t b, int64_t r, int64_t c, ForEach&& for_each) {
  if (r == 3) return interleave_rows<T, 3>(x, y, b, c);
  if (r == 4) return interleave_rows<T, 4>(x, y, b, c);
  constexpr int64_t kT = 16;
  const int64_t rt = (r + kT - 1) / kT, ct = (c + kT - 1) / kT;
  const int64_t chunks = b * rt >= 8 ? 1 : std::min<int64_t>(ct, 8), per = (ct + chunks - 1) / chunks * kT;  // columns a chunk
  for_each(b * rt * chunks, [=](int64_t job) {
    const int64_t row_job = job / chunks, cj = job % chunks;
    const int64_t bi = row_job / rt, i0 = (row_job % rt) * kT, i1 = std::min(r, i0 + kT);
    const T* xb = x + bi * r * c;
    T* yb = y + bi * r * c;
    for (int64_t j0 = cj * per; j0 < std::min(c, (cj + 1) * per); j0 += kT) {
      const int64_t j1 = std::min(c, j0 + kT);
      int64_t iv = i0, jv = j0;  // the part covered by register blocks (4-byte elements only)
      if constexpr (sizeof(T) == 4) {
        iv = i0 + (i1 - i0) / kRegBlock * kRegBlock;
        jv = j0 + (j1 - j0) / kRegBlock * kRegBlock;
        for (int64_t i = i0; i < iv; i += kRegBlock)
          for (int64_t j = j0; j < jv; j += kRegBlock) transpose_reg_block(xb + i * c + j, c, yb + j * r + i, r);
      }
      // the edges: rows past iv for every column, and columns past jv for the block's rows
      for (int64_t j = j0; j < j1; ++j)
        for (int64_t i = (j < jv ? iv : i0); i < i1; ++i) yb[j * r + i] = xb[i * c + j];
    }
  });
}

// Splits a copy of `outer` rows (`bytes` in all) over the op's threads and runs fn(k0, k1, part, parts) for each
// share: rows [k0, k1) whole (part 0 of 1) when there are at least as many rows as threads, else every row's
// bytes [row * part / parts, row * (part + 1) / parts). Thread i takes the i-th contiguous share: on NHWC data,
// the pixels the convolution before it wrote on the same core (XNNPACK and ec-gemm hand out pixel ranges in
// order), so a Concat or Split at 2 threads reads from its own core's cache instead of all from the main
// thread's (YOLOv8's 17 Concats took 0.25 ms at 1 thread and 0.68 at 2 on one thread). Under 64 KiB: one thread.
// n rows of `bytes` bytes: y + k * ys <- x + k * xs. The row sizes an NHWC Concat or Split moves per pixel (16
// to 512 bytes: 4 to 128 float channels) are copied by moves of a size known at compile time, not by a call of
// memcpy per row: YOLO's 80 x 80 Concat of two 16-channel maps (12800 rows of 64 bytes) took 0.060 ms with
// memcpy, 0.040 so (Xeon Emerald Rapids).
template <size_t B>
void copy_rows_of(uint8_t* y, int64_t ys, const uint8_t* x, int64_t xs, int64_t n) {
  for (int64_t k = 0; k < n; ++k) __builtin_memcpy(y + k * ys, x + k * xs, B);
}
void copy_rows(uint8_t* y, int64_t ys, const uint8_t* x, int64_t xs, int64_t n, int64_t bytes) {
  switch (bytes) {
    case 16: return copy_rows_of<16>(y, ys, x, xs, n);
    case 32: return copy_rows_of<32>(y, ys, x, xs, n);
    case 48: return copy_rows_of<48>(y, ys, x, xs, n);
    case 64: return copy_rows_of<64>(y, ys, x, xs, n);
    case 96: return copy_rows_of<96>(y, ys, x, xs, n);
    case 128: return copy_rows_of<128>(y, ys, x, xs, n);
    case 192: return copy_rows_of<192>(y, ys, x, xs, n);
    case 256: return copy_rows_of<256>(y, ys, x, xs, n);
    case 384: return copy_rows_of<384>(y, ys, x, xs, n);
    case 512: return copy_rows_of<512>(y, ys, x, xs, n);
    default:
      for (int64_t k = 0; k < n; ++k) std::memcpy(y + k * ys, x + k * xs, static_cast<size_t>(bytes));
  }
}

template <typename F>
void copy_parts(const Op& op, int64_t outer, int64_t bytes, F&& fn) {
  const int64_t T = op.threads();
  if (T <= 1 || bytes < (int64_t{1} << 16)) return fn(int64_t{0}, outer, int64_t{0}, int64_t{1});
  if (outer >= T) return op.parallel_for(T, [&](int64_t i) { fn(outer * i / T, outer * (i + 1) / T, int64_t{0}, int64_t{1}); });
  op.parallel_for(T, [&](int64_t i) { fn(int64_t{0}, outer, i, T); });
}

class TransposeOp : public Op {
 public:
  using Op::Op;
  void reshape(const OpInputs& in, std::vector<TensorSpec>& out) override {
    const Shape& s = in.t[0]->shape();
    perm_ = node_.attr_ints("perm");
    if (perm_.empty())
      for (size_t i = 0; i < s.size(); ++i) perm_.push_back(static_cast<int64_t>(s.size() - 1 - i));
    if (perm_.size() != s.size()) fail("perm has " + std::to_string(perm_.size()) + " entries for rank " + std::to_string(s.size()));
    Shape o;
    for (int64_t p : perm_) o.push_back(s[static_cast<size_t>(norm_axis(p, static_cast<int64_t>(s.size()), node_))]);
    out[0] = {in.t[0]->dtype(), o};
  }
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, void*) override {
    const Shape& s = in[0]->shape();
    const Shape& o = out[0]->shape();
    const size_t r = s.size(), es = dtype_size(in[0]->dtype());
    const uint8_t* x = in[0]->ptr<uint8_t>();
    uint8_t* y = out[0]->ptr<uint8_t>();
    int64_t tb = 0, tr = 0, tc = 0;
    if (as_batched_transpose(s, perm_, tb, tr, tc)) {  // NCHW <-> NHWC and every other single swap
      if (tr == 1 || tc == 1) {  // the same order in memory (an NHWC map of 1 channel to NCHW): a copy, in shares
        const size_t bytes = in[0]->size_bytes();
        const int64_t T = bytes >= (size_t{1} << 16) ? threads() : 1;
        return parallel_for(T, [&](int64_t t) {
          const size_t b0 = bytes * static_cast<size_t>(t) / static_cast<size_t>(T) / 64 * 64;
          const size_t b1 = t + 1 == T ? bytes : bytes * static_cast<size_t>(t + 1) / static_cast<size_t>(T) / 64 * 64;
          std::memcpy(y + b0, x + b0, b1 - b0);
        });
      }
      if (es == 1 || es == 2 || es == 4 || es == 8) return transpose_batched(*this, x, y, es, tb, tr, tc);
    }
    auto ist = contiguous_strides(s);
    std::vector<int64_t> st(r);  // input stride for each output dim
    for (size_t i = 0; i < r; ++i) st[i] = ist[static_cast<size_t>(perm_[i] < 0 ? perm_[i] + static_cast<int64_t>(r) : perm_[i])];
    const int64_t total = in[0]->numel();
    if (r >= 2 && st[r - 1] == 1 && threads() > 1 && total >= (int64_t{1} << 16) && o[r - 1] > 0) {
      // the last axis stays last (YOLOv8's DFL [1,4,16,N] -> [1,16,4,N]): runs of o[r-1] elements, shares of the
      // runs on the threads (0.027 ms at 2 threads on one of them, 0.019 at 1)
      const int64_t len = o[r - 1], runs = total / len, T = threads();
      const size_t bytes = static_cast<size_t>(len) * es;
      return parallel_for(T, [&](int64_t t) {
        for (int64_t k = runs * t / T, k1 = runs * (t + 1) / T; k < k1; ++k) {
          int64_t off = 0, rest = k;  // the input offset of output run k: its index over o's other axes
          for (size_t d = r - 1; d-- > 0;) {
            off += (rest % o[d]) * st[d];
            rest /= o[d];
          }
          std::memcpy(y + k * bytes, x + off * static_cast<int64_t>(es), bytes);
        }
      });
    }
    std::array<std::vector<int64_t>, 1> strides{st};
    broadcast_for_each<1>(o, strides, [&](int64_t oo, const std::array<int64_t, 1>& off, int64_t n, const std::array<int64_t, 1>& sd) {
      if (sd[0] == 1) {  // the innermost dimension stays innermost (YOLOv8's DFL [1,4,16,N] -> [1,16,4,N]): one run
        std::memcpy(y + oo * es, x + off[0] * es, static_cast<size_t>(n) * es);
        return;
      }
      for (int64_t i = 0; i < n; ++i) std::memcpy(y + (oo + i) * es, x + (off[0] + i * sd[0]) * es, es);
    });
  }
  std::vector<int64_t> perm_;
};

}  // namespace

void transpose_batched(const Op& op, const void* xv, void* yv, size_t es, int64_t b, int64_t r, int64_t c) {
  const bool threaded = b * r * c >= (int64_t{1} << 16);
  auto for_each = [&](int64_t jobs, const std::function<void(int64_t)>& fn) {
    if (threaded) return op.parallel_for(jobs, fn);
    for (int64_t j = 0; j < jobs; ++j) fn(j);
  };
  switch (es) {
    case 1: return batched_transpose(static_cast<const uint8_t*>(xv), static_cast<uint8_t*>(yv), b, r, c, for_each);
    case 2: return batched_transpose(static_cast<const uint16_t*>(xv), static_cast<uint16_t*>(yv), b, r, c, for_each);
    case 4: return batched_transpose(static_cast<const uint32_t*>(xv), static_cast<uint32_t*>(yv), b, r, c, for_each);
    case 8: return batched_transpose(static_cast<const uint64_t*>(xv), static_cast<uint64_t*>(yv), b, r, c, for_each);
    default: throw Error("transpose_batched: element size " + std::to_string(es) + " is not supported");
  }
}

namespace {

class ConcatOp : public Op {
 public:
  using Op::Op;
  void reshape(const OpInputs& in, std::vector<TensorSpec>& out) override {
    const Tensor* first = nullptr;
    for (size_t i = 0; i < in.size(); ++i)
      if (in.has(i)) { first = in.t[i]; break; }
    if (!first) fail("no inputs");
    int64_t r = static_cast<int64_t>(first->rank());
    axis_ = norm_axis(node_.attr_i("axis", 0), r, node_);
    Shape o = first->shape();
    o[static_cast<size_t>(axis_)] = 0;
    for (size_t i = 0; i < in.size(); ++i) {
      if (!in.has(i)) continue;
      const Shape& s = in.t[i]->shape();
      if (static_cast<int64_t>(s.size()) != r || in.t[i]->dtype() != first->dtype())
        fail("input " + std::to_string(i) + " shape " + shape_str(s) + " does not match " + shape_str(first->shape()));
      for (int64_t d = 0; d < r; ++d)
        if (d != axis_ && s[static_cast<size_t>(d)] != first->shape()[static_cast<size_t>(d)])
          fail("input " + std::to_string(i) + " shape " + shape_str(s) + " does not match " + shape_str(first->shape()));
      o[static_cast<size_t>(axis_)] += s[static_cast<size_t>(axis_)];
    }
    out[0] = {first->dtype(), o};
  }
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, void*) override {
    const Shape& o = out[0]->shape();
    const size_t es = dtype_size(out[0]->dtype());
    int64_t outer = 1, inner = 1;
    for (int64_t d = 0; d < axis_; ++d) outer *= o[static_cast<size_t>(d)];
    for (size_t d = static_cast<size_t>(axis_) + 1; d < o.size(); ++d) inner *= o[d];
    const int64_t orow = o[static_cast<size_t>(axis_)] * inner * static_cast<int64_t>(es);
    uint8_t* y = out[0]->ptr<uint8_t>();
    copy_parts(*this, outer, outer * orow, [&](int64_t k0, int64_t k1, int64_t part, int64_t parts) {
      constexpr int64_t kRows = 64;  // rows per round over the inputs: the output is written nearly in order
      for (int64_t r0 = k0; r0 < k1; r0 += kRows) {
        const int64_t n = std::min(kRows, k1 - r0);
        int64_t off = 0;
        for (const Tensor* t : in) {
          if (!t) continue;
          const int64_t row = t->shape()[static_cast<size_t>(axis_)] * inner * static_cast<int64_t>(es);
          const int64_t b0 = row * part / parts, b1 = row * (part + 1) / parts;  // this part's bytes of each row
          copy_rows(y + r0 * orow + off + b0, orow, t->ptr<uint8_t>() + r0 * row + b0, row, n, b1 - b0);
          off += row;
        }
      }
    });
  }
  int64_t axis_ = 0;
};

class SplitOp : public Op {
 public:
  using Op::Op;
  void reshape(const OpInputs& in, std::vector<TensorSpec>& out) override {
    const Shape& s = in.t[0]->shape();
    axis_ = norm_axis(node_.attr_i("axis", 0), static_cast<int64_t>(s.size()), node_);
    std::vector<int64_t> split = opset_ < 13 ? node_.attr_ints("split") : (in.has(1) ? need_const(in, 1, "split").to_i64() : std::vector<int64_t>{});
    const int64_t dim = s[static_cast<size_t>(axis_)];
    const int64_t n = static_cast<int64_t>(out.size());
    if (split.empty()) {
      int64_t each = (dim + n - 1) / n;
      for (int64_t i = 0; i < n; ++i) split.push_back(std::min(each, dim - each * i));
    }
    int64_t sum = 0;
    for (int64_t v : split) sum += v;
    if (static_cast<int64_t>(split.size()) != n || sum != dim)
      fail("split " + shape_str(split) + " does not divide dim " + std::to_string(dim) + " into " + std::to_string(n));
    split_ = split;
    for (size_t i = 0; i < out.size(); ++i) {
      Shape o = s;
      o[static_cast<size_t>(axis_)] = split[i];
      out[i] = {in.t[0]->dtype(), o};
    }
  }
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, void*) override {
    const Shape& s = in[0]->shape();
    const size_t es = dtype_size(in[0]->dtype());
    int64_t outer = 1, inner = static_cast<int64_t>(es);
    for (int64_t d = 0; d < axis_; ++d) outer *= s[static_cast<size_t>(d)];
    for (size_t d = static_cast<size_t>(axis_) + 1; d < s.size(); ++d) inner *= s[d];
    const int64_t irow = s[static_cast<size_t>(axis_)] * inner;
    const uint8_t* x = in[0]->ptr<uint8_t>();
    copy_parts(*this, outer, outer * irow, [&](int64_t k0, int64_t k1, int64_t part, int64_t parts) {
      int64_t off = 0;
      for (size_t i = 0; i < out.size(); ++i) {
        const int64_t row = split_[i] * inner;
        const int64_t b0 = row * part / parts, b1 = row * (part + 1) / parts;  // this part's bytes of each row
        if (out[i]) copy_rows(out[i]->ptr<uint8_t>() + k0 * row + b0, row, x + k0 * irow + off + b0, irow, k1 - k0, b1 - b0);
        off += row;
      }
    });
  }
  int64_t axis_ = 0;
  std::vector<int64_t> split_;
};

class SliceOp : public Op {
 public:
  using Op::Op;
  void reshape(const OpInputs& in, std::vector<TensorSpec>& out) override {
    const Shape& s = in.t[0]->shape();
    const int64_t r = static_cast<int64_t>(s.size());
    std::vector<int64_t> starts, ends, axes, steps;
    if (opset_ < 10) {
      starts = node_.attr_ints("starts");
      ends = node_.attr_ints("ends");
      axes = node_.attr_ints("axes");
    } else {
      starts = need_const(in, 1, "starts").to_i64();
      ends = need_const(in, 2, "ends").to_i64();
      if (in.has(3)) axes = need_const(in, 3, "axes").to_i64();
      if (in.has(4)) steps = need_const(in, 4, "steps").to_i64();
    }
    if (axes.empty())
      for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
    if (steps.empty()) steps.assign(starts.size(), 1);
    if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size())
      fail("starts/ends/axes/steps have different lengths");
    start_.assign(s.size(), 0);
    step_.assign(s.size(), 1);
    Shape o = s;
    for (size_t i = 0; i < starts.size(); ++i) {
      size_t a = static_cast<size_t>(norm_axis(axes[i], r, node_));
      int64_t dim = s[a], st = steps[i];
      if (st == 0) fail("step 0 on axis " + std::to_string(axes[i]));
      int64_t b = starts[i], e = ends[i];
      if (b < 0) b += dim;
      if (e < 0) e += dim;
      if (st > 0) {
        b = std::clamp<int64_t>(b, 0, dim);
        e = std::clamp<int64_t>(e, 0, dim);
        o[a] = e > b ? (e - b + st - 1) / st : 0;
      } else {
        b = std::clamp<int64_t>(b, 0, dim - 1);
        e = std::clamp<int64_t>(e, -1, dim - 1);
        o[a] = b > e ? (b - e - st - 1) / (-st) : 0;
      }
      start_[a] = b;
      step_[a] = st;
    }
    out[0] = {in.t[0]->dtype(), o};
  }
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, void*) override {
    const Shape& s = in[0]->shape();
    const Shape& o = out[0]->shape();
    const size_t es = dtype_size(in[0]->dtype());
    auto ist = contiguous_strides(s);
    std::vector<int64_t> st(s.size());
    int64_t base = 0;
    for (size_t i = 0; i < s.size(); ++i) {
      st[i] = ist[i] * step_[i];
      base += start_[i] * ist[i];
    }
    std::array<std::vector<int64_t>, 1> strides{st};
    const uint8_t* x = in[0]->ptr<uint8_t>() + base * static_cast<int64_t>(es);
    uint8_t* y = out[0]->ptr<uint8_t>();
    broadcast_for_each<1>(o, strides, [&](int64_t oo, const std::array<int64_t, 1>& off, int64_t n, const std::array<int64_t, 1>& sd) {
      if (sd[0] == 1) {
        std::memcpy(y + oo * static_cast<int64_t>(es), x + off[0] * static_cast<int64_t>(es), static_cast<size_t>(n) * es);
        return;
      }
      for (int64_t i = 0; i < n; ++i) std::memcpy(y + (oo + i) * static_cast<int64_t>(es), x + (off[0] + i * sd[0]) * static_cast<int64_t>(es), es);
    });
  }
  std::vector<int64_t> start_, step_;
};

class GatherOp : public Op {
 public:
  using Op::Op;
  void reshape(const OpInputs& in, std::vector<TensorSpec>& out) override {
    if (!in.has(0) || !in.has(1)) fail("expects 2 inputs");
    const Shape& s = in.t[0]->shape();
    axis_ = norm_axis(node_.attr_i("axis", 0), static_cast<int64_t>(s.size()), node_);
    DType it = in.t[1]->dtype();
    if (it != DType::i64 && it != DType::i32) fail("indices dtype " + std::string(dtype_name(it)) + " is not supported");
    Shape o(s.begin(), s.begin() + axis_);
    for (int64_t d : in.t[1]->shape()) o.push_back(d);
    o.insert(o.end(), s.begin() + axis_ + 1, s.end());
    out[0] = {in.t[0]->dtype(), o};
  }
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, void*) override {
    const Shape& s = in[0]->shape();
    const size_t es = dtype_size(in[0]->dtype());
    int64_t outer = 1, inner = static_cast<int64_t>(es);
    for (int64_t d = 0; d < axis_; ++d) outer *= s[static_cast<size_t>(d)];
    for (size_t d = static_cast<size_t>(axis_) + 1; d < s.size(); ++d) inner *= s[d];
    const int64_t dim = s[static_cast<size_t>(axis_)];
    const int64_t ni = in[1]->numel();
    const uint8_t* x = in[0]->ptr<uint8_t>();
    uint8_t* y = out[0]->ptr<uint8_t>();
    for (int64_t j = 0; j < ni; ++j) {
      int64_t idx = in[1]->dtype() == DType::i64 ? in[1]->ptr<int64_t>()[j] : in[1]->ptr<int32_t>()[j];
      if (idx < 0) idx += dim;
      if (idx < 0 || idx >= dim) fail("index " + std::to_string(idx) + " out of range for dim " + std::to_string(dim));
      for (int64_t k = 0; k < outer; ++k)
        std::memcpy(y + (k * ni + j) * inner, x + (k * dim + idx) * inner, static_cast<size_t>(inner));
    }
  }
  int64_t axis_ = 0;
};

class ExpandOp : public Op {
 public:
  using Op::Op;
  void reshape(const OpInputs& in, std::vector<TensorSpec>& out) override {
    Shape want = need_const(in, 1, "shape").to_i64();
    out[0] = {in.t[0]->dtype(), broadcast_shapes(in.t[0]->shape(), want, node_)};
  }
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, void*) override {
    const size_t es = dtype_size(in[0]->dtype());
    std::array<std::vector<int64_t>, 1> st{broadcast_strides(in[0]->shape(), out[0]->shape())};
    const uint8_t* x = in[0]->ptr<uint8_t>();
    uint8_t* y = out[0]->ptr<uint8_t>();
    broadcast_for_each<1>(out[0]->shape(), st, [&](int64_t oo, const std::array<int64_t, 1>& off, int64_t n, const std::array<int64_t, 1>& sd) {
      for (int64_t i = 0; i < n; ++i) std::memcpy(y + (oo + i) * static_cast<int64_t>(es), x + (off[0] + i * sd[0]) * static_cast<int64_t>(es), es);
    });
  }
};

class TileOp : public Op {
 public:
  using Op::Op;
  void reshape(const OpInputs& in, std::vector<TensorSpec>& out) override {
    auto rep = need_const(in, 1, "repeats").to_i64();
    const Shape& s = in.t[0]->shape();
    if (rep.size() != s.size()) fail("repeats " + shape_str(rep) + " does not match rank of " + shape_str(s));
    Shape o = s;
    for (size_t i = 0; i < s.size(); ++i) o[i] *= rep[i];
    out[0] = {in.t[0]->dtype(), o};
  }
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, void*) override {
    const Shape& s = in[0]->shape();
    const Shape& o = out[0]->shape();
    const size_t es = dtype_size(in[0]->dtype());
    auto ist = contiguous_strides(s);
    auto ost = contiguous_strides(o);
    const uint8_t* x = in[0]->ptr<uint8_t>();
    uint8_t* y = out[0]->ptr<uint8_t>();
    for (int64_t i = 0; i < out[0]->numel(); ++i) {
      int64_t rem = i, src = 0;
      for (size_t d = 0; d < o.size(); ++d) {
        int64_t c = rem / ost[d];
        rem %= ost[d];
        src += (c % s[d]) * ist[d];
      }
      std::memcpy(y + i * static_cast<int64_t>(es), x + src * static_cast<int64_t>(es), es);
    }
  }
};

class ConstantOfShapeOp : public Op {
 public:
  using Op::Op;
  void reshape(const OpInputs& in, std::vector<TensorSpec>& out) override {
    Shape s = need_const(in, 0, "shape").to_i64();
    value_ = node_.has("value") ? node_.attr_t("value") : Tensor::from_f32({1}, {0.f});
    if (value_.numel() != 1)
      throw Error(node_.label() + ": value has " + std::to_string(value_.numel()) + " elements, ConstantOfShape needs one");
    out[0] = {value_.dtype(), s};
  }
  void run(const std::vector<const Tensor*>&, const std::vector<Tensor*>& out, void*) override {
    const size_t es = dtype_size(value_.dtype());
    uint8_t* y = out[0]->ptr<uint8_t>();
    for (int64_t i = 0; i < out[0]->numel(); ++i) std::memcpy(y + i * static_cast<int64_t>(es), value_.data(), es);
  }
  Tensor value_;
};

class ConstantOp : public Op {
 public:
  ConstantOp(const Node& n, int64_t o) : Op(n, o) {
    if (n.has("value")) value_ = n.attr_t("value");
    else if (n.has("value_float")) value_ = Tensor::from_f32({}, {n.attr_f("value_float", 0)});
    else if (n.has("value_floats")) { auto v = n.attr_floats("value_floats"); value_ = Tensor::from_f32({static_cast<int64_t>(v.size())}, v); }
    else if (n.has("value_int")) value_ = Tensor::from_i64({}, {n.attr_i("value_int", 0)});
    else if (n.has("value_ints")) { auto v = n.attr_ints("value_ints"); value_ = Tensor::from_i64({static_cast<int64_t>(v.size())}, v); }
    else throw Error(n.label() + ": no supported value attribute (sparse/string constants are not supported)");
  }
  void reshape(const OpInputs&, std::vector<TensorSpec>& out) override { out[0] = {value_.dtype(), value_.shape()}; }
  void run(const std::vector<const Tensor*>&, const std::vector<Tensor*>& out, void*) override {
    std::memcpy(out[0]->data(), value_.data(), value_.size_bytes());
  }
  Tensor value_;
};

class RangeOp : public Op {
 public:
  using Op::Op;
  void reshape(const OpInputs& in, std::vector<TensorSpec>& out) override {
    double s = need_const(in, 0, "start").to_f64().at(0), l = need_const(in, 1, "limit").to_f64().at(0),
           d = need_const(in, 2, "delta").to_f64().at(0);
    if (d == 0) fail("delta is 0");
    int64_t n = std::max<int64_t>(0, static_cast<int64_t>(std::ceil((l - s) / d)));
    out[0] = {in.t[0]->dtype(), {n}};
  }
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, void*) override {
    double s = in[0]->to_f64().at(0), d = in[2]->to_f64().at(0);
    for (int64_t i = 0; i < out[0]->numel(); ++i) {
      double v = s + d * static_cast<double>(i);
      switch (out[0]->dtype()) {
        case DType::f32: out[0]->ptr<float>()[i] = static_cast<float>(v); break;
        case DType::i64: out[0]->ptr<int64_t>()[i] = static_cast<int64_t>(v); break;
        case DType::i32: out[0]->ptr<int32_t>()[i] = static_cast<int32_t>(v); break;
        default: fail("dtype not supported");
      }
    }
  }
};

class PadOp : public Op {
 public:
  using Op::Op;
  void reshape(const OpInputs& in, std::vector<TensorSpec>& out) override {
    need_f32(in, 0);
    const Shape& s = in.t[0]->shape();
    mode_ = node_.attr_s("mode", "constant");
    if (mode_ != "constant" && mode_ != "reflect" && mode_ != "edge") fail("mode '" + mode_ + "' is not supported");
    if (opset_ < 11) {
      pads_ = node_.attr_ints(opset_ < 2 ? "paddings" : "pads");
      value_ = node_.attr_f("value", 0);
    } else {
      pads_ = need_const(in, 1, "pads").to_i64();
      value_ = in.has(2) ? static_cast<float>(need_const(in, 2, "constant_value").to_f64().at(0)) : 0.f;
      if (in.has(3)) fail("the axes input is not supported");
    }
    if (pads_.size() != 2 * s.size()) fail("pads " + shape_str(pads_) + " does not match rank " + std::to_string(s.size()));
    Shape o = s;
    for (size_t i = 0; i < s.size(); ++i) {
      o[i] += pads_[i] + pads_[i + s.size()];
      if (o[i] < 0) fail("pads " + shape_str(pads_) + " make a negative dimension");
      if (mode_ == "reflect" && (pads_[i] >= s[i] || pads_[i + s.size()] >= s[i])) fail("reflect pad larger than the dim");
    }
    out[0] = {DType::f32, o};
  }
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, void*) override {
    const Shape& s = in[0]->shape();
    const Shape& o = out[0]->shape();
    const size_t r = s.size();
    auto ist = contiguous_strides(s);
    const float* x = in[0]->ptr<float>();
    float* y = out[0]->ptr<float>();
    std::vector<int64_t> idx(r, 0);
    for (int64_t i = 0; i < out[0]->numel(); ++i) {
      int64_t src = 0;
      bool inside = true;
      for (size_t d = 0; d < r; ++d) {
        int64_t c = idx[d] - pads_[d];
        if (c < 0 || c >= s[d]) {
          if (mode_ == "constant") { inside = false; break; }
          if (mode_ == "edge") c = c < 0 ? 0 : s[d] - 1;
          else c = c < 0 ? -c : 2 * (s[d] - 1) - c;
        }
        src += c * ist[d];
      }
      y[i] = inside ? x[src] : value_;
      for (size_t d = r; d-- > 0;) {
        if (++idx[d] < o[d]) break;
        idx[d] = 0;
      }
    }
  }
  std::string mode_;
  std::vector<int64_t> pads_;
  float value_ = 0;
};

template <class T>
std::unique_ptr<Op> make(const Node& n, int64_t o) { return std::make_unique<T>(n, o); }

}  // namespace

void register_shape_ops(std::map<std::string, OpFactory>& r) {
  r["Shape"] = make<ShapeOp>;
  r["Size"] = make<SizeOp>;
  r["Reshape"] = make<ReshapeOp>;
  r["Flatten"] = make<FlattenOp>;
  r["Squeeze"] = [](const Node& n, int64_t o) -> std::unique_ptr<Op> { return std::make_unique<SqueezeOp>(n, o, false); };
  r["Unsqueeze"] = [](const Node& n, int64_t o) -> std::unique_ptr<Op> { return std::make_unique<SqueezeOp>(n, o, true); };
  r["Transpose"] = make<TransposeOp>;
  r["Concat"] = make<ConcatOp>;
  r["Split"] = make<SplitOp>;
  r["Slice"] = make<SliceOp>;
  r["Gather"] = make<GatherOp>;
  r["Expand"] = make<ExpandOp>;
  r["Tile"] = make<TileOp>;
  r["ConstantOfShape"] = make<ConstantOfShapeOp>;
  r["Constant"] = make<ConstantOp>;
  r["Range"] = make<RangeOp>;
  r["Pad"] = make<PadOp>;
}

}  // namespace ec
