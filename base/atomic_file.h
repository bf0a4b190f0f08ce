// Atomic file replacement: readers see the old file or the new one, never a half-written one (a crash or a
// full disk mid-write leaves the old file in place).
#pragma once
#include <cstddef>
#include <string>

namespace ec {

// Writes `n` bytes to a hidden ".NAME.tmp" in the folder of `path`, flushes it and
// renames it over `path`. Throws ec::Error naming `path` and the system's reason; the temporary file is
// removed on failure.
void write_file_atomic(const std::string& path, const void* data, size_t n);
inline void write_file_atomic(const std::string& path, const std::string& text) { write_file_atomic(path, text.data(), text.size()); }

}  // namespace ec
