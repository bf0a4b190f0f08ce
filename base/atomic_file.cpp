#include "atomic_file.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "error.h"

namespace ec {

void write_file_atomic(const std::string& path, const void* data, size_t n) {
  const auto slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "" : path.substr(0, slash + 1);
  const std::string tmp = dir + "." + path.substr(slash == std::string::npos ? 0 : slash + 1) + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) throw Error(tmp + ": cannot create (" + std::strerror(errno) + ")");
  const bool ok = std::fwrite(data, 1, n, f) == n && std::fflush(f) == 0;
  const int e = errno;
  std::fclose(f);
  if (!ok) {
    std::remove(tmp.c_str());
    throw Error(path + ": write failed (" + std::strerror(e) + ")");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int re = errno;
    std::remove(tmp.c_str());
    throw Error(path + ": cannot replace (" + std::strerror(re) + ")");
  }
}

}  // namespace ec
