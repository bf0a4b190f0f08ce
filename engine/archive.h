// The edgecompress model archive (.ecz), Deep Compression style: float weight tensors with few distinct
// values (pruned and shared) are stored as a codebook plus two Huffman-coded streams — relative positions
// of the non-zeros and their codebook indices — next to the rest of the model as ONNX.
//
// Layout (little-endian):
//   "ECZ1"  u32 version (1)
//   u64 n   the ONNX model without the coded tensors (n bytes)
//   u32     number of coded tensors, then for each:
//     u16 + bytes  name;  u8 rank, rank x i64 dims
//     u16 k, k x f32  codebook (distinct non-zero values, ascending)
//     u64 numel, u64 entries (non-zeros plus fillers)
//     u8 gap_bits b: a gap of more than 2^b - 1 zeros is bridged by a filler entry (index 0, value 0)
//     stream  gaps    (alphabet 2^b)
//     stream  indices (alphabet k + 1; 0 = filler)
//   a stream: u16 alphabet size, that many u8 canonical Huffman code lengths, u64 bits, ceil(bits/8) bytes
//   (codes MSB first).
// Unpacking restores every value bit for bit, so the model re-serialises to the same ONNX bytes.
#pragma once
#include <string>
#include <vector>

#include "ir.h"

namespace ec {

struct ArchiveStats {
  size_t onnx_bytes = 0, coded_tensors = 0, coded_values = 0, coded_bytes = 0, total_bytes = 0;
};

// Packs `m`: every float32 initializer with at least `min_elements` values and at most 256 distinct
// non-zero values is coded; the rest stays in the ONNX part. Returns the archive bytes.
std::string pack_archive(const Model& m, ArchiveStats* stats = nullptr, int64_t min_elements = 64);
// Reads an archive (as written by pack_archive); throws ec::Error naming `name` when it is malformed.
Model unpack_archive(const std::string& bytes, const std::string& name);
// True when `bytes` starts with the archive magic.
bool is_archive(const std::string& bytes);

// Canonical Huffman code lengths for symbol frequencies (0 for unused symbols), at most 30 bits.
std::vector<uint8_t> huffman_lengths(const std::vector<uint64_t>& freq);

}  // namespace ec
