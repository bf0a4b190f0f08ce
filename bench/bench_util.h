// Small helpers shared by the benchmarks that build models in code.
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

#include "ir.h"

namespace ec::bench {

// An "ints" attribute (kernel_shape, pads, perm, ...).
inline Attribute ints(std::vector<int64_t> v) {
  Attribute a;
  a.kind = Attribute::Kind::ints;
  a.ints = std::move(v);
  return a;
}
// An integer attribute (group, axis, ...).
inline Attribute integer(int64_t v) {
  Attribute a;
  a.kind = Attribute::Kind::i;
  a.i = v;
  return a;
}

}  // namespace ec::bench
