// libFuzzer entry point of one harness (tests/fuzz/targets.h), chosen at compile time by EC_FUZZ_TARGET.
#include <cstddef>
#include <cstdint>

#include "targets.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  ec::fuzz::set_fuzz_limits();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ec::fuzz::EC_FUZZ_TARGET(data, size);
  return 0;
}
