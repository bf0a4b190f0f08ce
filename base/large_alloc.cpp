#include "large_alloc.h"

#include <cstdlib>
#include <mutex>
#include <unordered_map>

#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

namespace ec {
namespace {

#if defined(__linux__)
// The buffers mapped on their own, by address: their mapped length (for munmap) and whether madvise took.
struct Mapped {
  size_t len;
  bool advised;
};
std::mutex& mapped_mutex() {
  static std::mutex m;
  return m;
}
std::unordered_map<const void*, Mapped>& mapped() {
  static auto* m = new std::unordered_map<const void*, Mapped>();  // never destroyed: frees may come at exit
  return *m;
}
#endif

}  // namespace

void* large_alloc(size_t bytes, size_t align) {
  if (bytes == 0) bytes = 1;
#if defined(__linux__)
  if (bytes >= kLargeBytes) {
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    const size_t len = (bytes + page - 1) / page * page;
    if (len < bytes || len > SIZE_MAX - kLargeBytes) return nullptr;
    // map 2 MiB more, keep the 2 MiB-aligned part, give back the head and the tail
    void* raw = mmap(nullptr, len + kLargeBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) return nullptr;
    const uintptr_t a = reinterpret_cast<uintptr_t>(raw), start = (a + kLargeBytes - 1) & ~(uintptr_t{kLargeBytes} - 1);
    if (start > a) munmap(raw, start - a);
    const size_t tail = a + len + kLargeBytes - (start + len);
    if (tail > 0) munmap(reinterpret_cast<void*>(start + len), tail);
    void* p = reinterpret_cast<void*>(start);
    bool advised = false;
#ifdef MADV_HUGEPAGE
    advised = madvise(p, len, MADV_HUGEPAGE) == 0;  // advice only: a kernel without transparent huge pages keeps 4 KiB pages
#endif
    const std::lock_guard<std::mutex> lock(mapped_mutex());
    mapped()[p] = {len, advised};
    return p;
  }
#endif
  if (align < sizeof(void*)) align = sizeof(void*);
  void* p = nullptr;
  if (posix_memalign(&p, align, (bytes + align - 1) / align * align) != 0) return nullptr;
  return p;
}

void large_free(void* p) {
  if (!p) return;
#if defined(__linux__)
  {
    const std::lock_guard<std::mutex> lock(mapped_mutex());
    auto it = mapped().find(p);
    if (it != mapped().end()) {
      munmap(p, it->second.len);
      mapped().erase(it);
      return;
    }
  }
#endif
  std::free(p);
}

bool large_is_mapped(const void* p) {
#if defined(__linux__)
  const std::lock_guard<std::mutex> lock(mapped_mutex());
  return mapped().count(p) > 0;
#else
  (void)p;
  return false;
#endif
}

bool large_is_advised(const void* p) {
#if defined(__linux__)
  const std::lock_guard<std::mutex> lock(mapped_mutex());
  auto it = mapped().find(p);
  return it != mapped().end() && it->second.advised;
#else
  (void)p;
  return false;
#endif
}
}  // namespace ec
