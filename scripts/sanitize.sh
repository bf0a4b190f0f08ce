#!/usr/bin/env bash
# Sanitizer lanes: the test suite built with a sanitizer, every finding a failure.
#   ./scripts/sanitize.sh asan [ctest args...]   the whole suite under AddressSanitizer + UndefinedBehaviorSanitizer
#                                                (build-asan/; leaks checked by LeakSanitizer at each test's exit)
#   ./scripts/sanitize.sh tsan [ctest args...]   the threaded parts under ThreadSanitizer (build-tsan/): the
#                                                pipeline, the power sampler, the monitoring server, the engine's
#                                                thread pool; give ctest args to choose other tests
# Installs packages and fetches models first when missing (scripts/setup.sh --deps). Suppressions
# (scripts/sanitizers/*.supp) name third-party libraries only, each with the reason; a finding in our code is
# fixed, with a test.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
kind=${1:-}
[[ $kind == asan || $kind == tsan ]] || { echo "sanitize: kind '$kind': one of asan, tsan" >&2; exit 2; }
shift
./scripts/setup.sh --deps
jobs=$(nproc)
supp=$root/scripts/sanitizers
case $kind in
  asan)
    dir=build-asan
    flags=(-DEC_SANITIZE=address,undefined)
    # halt on the first error with a non-zero exit; protobuf and OpenCV allocate at load time and free at exit
    export ASAN_OPTIONS="abort_on_error=0:halt_on_error=1:detect_leaks=1:detect_stack_use_after_return=0:strict_string_checks=0:allocator_may_return_null=0"
    export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0"
    export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$supp/ubsan.supp"
    # all but the soak: its bound is on resident memory, which ASan's quarantine (256 MB of freed blocks kept
    # on purpose) makes meaningless; leaks are LeakSanitizer's job here
    default_tests=(-E "^Soak\\.")
    ;;
  tsan)
    dir=build-tsan
    flags=(-DEC_SANITIZE=thread)
    # ignore_noninstrumented_modules: the system libraries (GStreamer and its plugins, ORC, FFmpeg, OpenCV, GLib)
    # are not built with TSan, so their own synchronisation is invisible and the interceptors they call (memcpy,
    # writev, pthread_*) report races among their threads; our code is instrumented and its accesses are still
    # checked, against each other and against what those libraries do through it
    export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:ignore_noninstrumented_modules=1:suppressions=$supp/tsan.supp"
    # GLib's slice allocator recycles GstBuffer and other small objects inside slabs it got once from
    # posix_memalign, so TSan never sees them freed and reused: our pad probe reading a new buffer's PTS was
    # reported against an old object's write at the same address. Plain malloc/free makes every reuse visible.
    export G_SLICE=always-malloc
    # the threaded parts: pipeline stages and runner, sources/sinks (GStreamer threads), the power sampler's
    # thread (the Energy, Ina3221 and Sysfs tests run it over the emulator and fake trees), the monitoring
    # server, and the engine's worker pool (the multi-thread engine tests)
    default_tests=(-R "Pipeline|Runner|Source|Sink|Run\.|Energy|Ina3221|Sysfs|Monitor|Dynamic")
    ;;
esac
# Debug-level optimisation keeps the reports' stacks readable and the run a few times slower than Release,
# not tens of times; the kernels' vector paths are kept (-march=native as in Release).
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" \
  -DEC_BUILD_BENCH=OFF -DEC_TEST_TIMEOUT=1800 "${flags[@]}" >/dev/null
cmake --build "$dir" -j "$jobs"
cd "$dir"
if (($# > 0)); then
  ctest --output-on-failure --timeout 1800 "$@"
else
  ctest --output-on-failure --timeout 1800 "${default_tests[@]}"
fi
