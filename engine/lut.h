// int8 -> int8 table lookup (QLut, engine/passes.h): y[i] = table[x[i] + 128], with the widest kernel this CPU
// has: AVX-512 VBMI (64 bytes per step, two vpermi2b), NEON (16 bytes per step, tbl/tbx over four 64-byte
// quarters), else a plain loop.
#pragma once
#include <cstddef>
#include <cstdint>

namespace ec {

// y[i] = table[uint8(x[i] + 128)] for i < n; `table` holds 256 values; y may equal x.
void lut_int8(const int8_t* x, const int8_t* table, int8_t* y, size_t n);
// The plain loop (tests compare the SIMD kernels with it).
void lut_int8_scalar(const int8_t* x, const int8_t* table, int8_t* y, size_t n);
// Which kernel lut_int8 uses here: "avx512vbmi", "neon" or "scalar".
const char* lut_int8_kernel();

#if defined(EC_HAVE_LUT_VBMI)
// In lut_vbmi.cpp (built with -mavx512vbmi): call only when the CPU has AVX-512 F, BW and VBMI.
void lut_int8_vbmi(const int8_t* x, const int8_t* table, int8_t* y, size_t n);
#endif

}  // namespace ec
