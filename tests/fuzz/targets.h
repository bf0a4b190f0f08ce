// Fuzz harnesses: one function per entry point that reads outside data. Each takes arbitrary bytes, feeds them
// through the real code path, and returns normally when that path either accepts the input or refuses it with
// the project's one-line errors (ec::Error, ec::power::PowerError). Anything else escapes: another exception
// (an "internal error" for the user) or, under the sanitizers, a memory or undefined-behaviour fault.
// Linked into the libFuzzer binaries (fuzz_main.cpp, bench/fuzz.sh) and into the regression test that replays
// every committed input that once found a bug (test_fuzz_regressions.cpp).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ec::fuzz {

using Harness = void (*)(const uint8_t* data, size_t size);

struct Target {
  const char* name;   // the binary is fuzz_<name>; seeds and regressions live in folders of this name
  Harness run;
  const char* what;   // for bench/fuzz.sh's table
};

// ONNX bytes -> load_onnx_bytes -> the native engine's prepare with the declared shapes.
void onnx(const uint8_t* data, size_t size);
// .ecz archive bytes -> unpack_archive (Huffman streams, codebooks, the embedded ONNX).
void archive(const uint8_t* data, size_t size);
// YAML text; the first byte picks the reader: run config, compression recipe, or task file (% 3).
void config(const uint8_t* data, size_t size);
// A power CSV log -> the replay sensor, read a few times.
void power_csv(const uint8_t* data, size_t size);
// Fields separated by NUL bytes written into a fake sysfs tree (driver name, rail labels, values,
// update interval; the first byte picks the IIO or the hwmon layout) -> discovery, open and two reads.
void sysfs(const uint8_t* data, size_t size);
// Raw bytes sent as one client's request(s) to the monitoring endpoint (libmicrohttpd and the handlers: paths,
// headers, tokens, query strings), on a loopback port of this process, with a token set; the answer is read
// until the server closes. The server must never crash, hang or answer garbage (the status line is checked).
void http(const uint8_t* data, size_t size);

// Every harness, in the order bench/fuzz.sh runs them.
const std::vector<Target>& targets();

// Tightens the process's model limits to what a fuzzing process can afford (64 MiB per tensor, 5000 nodes):
// inputs above them are refused by the same checks a user's --max-* options drive.
void set_fuzz_limits();

}  // namespace ec::fuzz
