// Helpers shared by the subcommands: shape options, seeded inputs, latency statistics, process memory.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "ir.h"
#include "tensor.h"

namespace ec {

// Parses --shape values: "1,3,224,224" (first input) or "NAME=1,3,224,224". Throws naming the bad value.
std::map<std::string, Shape> parse_shapes(const std::vector<std::string>& specs, const Model& m);

// Fills a float32 tensor with uniform values in [-1, 1) from the mulberry32 generator seeded with `seed`
// (the same sequence ../shared/peers/ort-bench.mjs uses, so both runtimes see the same input).
void fill_seeded(Tensor& t, uint32_t seed);

struct LatencyStats {
  double min_ms = 0, median_ms = 0, p95_ms = 0, mean_ms = 0;
  size_t runs = 0;
};
// Summarises per-run latencies (ms). Quantile q is the sorted sample at floor(q * n).
LatencyStats summarize_ms(std::vector<double> ms);

// The path of this program's executable (readlink of /proc/self/exe, which qemu-user also answers with the
// emulated program), for running it again as a child; "/proc/self/exe" when it cannot be read.
std::string self_exe_path();

// Peak resident set size of this process so far, in bytes (getrusage).
size_t peak_rss_bytes();
// Current resident set size in bytes (/proc/self/statm), 0 when unavailable.
size_t current_rss_bytes();

// The bytes of a file; throws ec::Error "PATH: cannot open" when unreadable.
std::string read_file_bytes(const std::string& path);
// Writes bytes to a file (truncating); throws ec::Error naming the path on failure.
void write_file_bytes(const std::string& path, const std::string& bytes);

// Monotonic time in milliseconds (steady clock).
double now_ms();

}  // namespace ec
