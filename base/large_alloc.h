// Memory for the large buffers an inference streams through on every run: packed weights (ResNet-18's 512-channel
// 3x3 layers hold 9.4 MB each) and the activation arena. From 2 MiB (kLargeBytes) such a buffer is mapped on its
// own at a 2 MiB boundary and, on Linux, marked for transparent huge pages (madvise MADV_HUGEPAGE, which the
// kernel honours in its default "madvise" mode and ignores in "never"). With 4 KiB pages, a 9.4 MB weight stream
// crosses 2300 pages: a TLB walk each, and the hardware prefetchers stop at every page boundary. Measured on an
// AMD EPYC (Zen 5), one thread, the blocked GEMM over 9.4 MB of weights evicted from cache before each run:
// 1.30 ms on 4 KiB pages, 1.09 ms on 2 MiB pages. Smaller buffers come from the C heap.
#pragma once
#include <cstddef>
#include <cstdint>
#include <limits>
#include <new>
#include <vector>

namespace ec {

// Bytes from which large_alloc maps a buffer on its own, 2 MiB aligned, for huge pages (one huge page).
inline constexpr size_t kLargeBytes = size_t{2} << 20;

// `bytes` of zeroed or uninitialised memory aligned to `align` (a power of two, at most 4096; buffers of
// kLargeBytes or more are 2 MiB aligned whatever `align` says); nullptr when the system has none.
void* large_alloc(size_t bytes, size_t align = 64);
// Frees what large_alloc returned (nullptr: nothing).
void large_free(void* p);
// Whether the buffer at p was mapped on its own (tests).
bool large_is_mapped(const void* p);
// Whether the kernel took the huge-page advice for the buffer at p (madvise returned 0; tests).
bool large_is_advised(const void* p);

// A std::allocator for vectors of weights and arenas (large_alloc, 64-byte aligned).
template <class T>
struct LargeAllocator {
  using value_type = T;
  LargeAllocator() noexcept = default;
  template <class U>
  LargeAllocator(const LargeAllocator<U>&) noexcept {}
  T* allocate(size_t n) {
    if (n > std::numeric_limits<size_t>::max() / sizeof(T)) throw std::bad_array_new_length();
    void* p = large_alloc(n * sizeof(T), alignof(T) > 64 ? alignof(T) : 64);
    if (!p) throw std::bad_alloc();
    return static_cast<T*>(p);
  }
  void deallocate(T* p, size_t) noexcept { large_free(p); }
  template <class U>
  bool operator==(const LargeAllocator<U>&) const noexcept { return true; }
  template <class U>
  bool operator!=(const LargeAllocator<U>&) const noexcept { return false; }
};

template <class T>
using LargeVector = std::vector<T, LargeAllocator<T>>;

}  // namespace ec
