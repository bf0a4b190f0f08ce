#!/usr/bin/env bash
# Fuzzing: every harness of tests/fuzz/targets.h under libFuzzer with AddressSanitizer and UBSan.
#   bench/fuzz.sh [minutes]          total fuzzing time (default 20), shared equally by the targets, two at a time
#   bench/fuzz.sh [minutes] TARGET…  only these (onnx archive config power_csv sysfs http)
# Builds build-fuzz/ with clang (Debian's clang-14 + libfuzzer-14-dev, installed when missing), writes the seed
# corpora (tests/fuzz/seeds.cpp, plus the real files: BlazeFace and the int8 model, configs/*.yaml, the
# recipes and task files), then runs each target with: -timeout=1 (an input taking over 1 s is a finding),
# -rss_limit_mb=2048 and -malloc_limit_mb=2048 (out-of-memory is a finding), leak detection on.
# Prints per target: executions, executions/s, corpus size, and findings by kind (crash, leak, timeout, oom);
# JSON in build-fuzz/fuzz.json. Each finding's input is in build-fuzz/artifacts/<target>/; once fixed, copy it
# (small) to tests/fuzz/regressions/<target>/ where test_fuzz_regressions replays it. Exit 1 on any finding.
# The corpora persist in build-fuzz/corpus, so runs add up.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
minutes=${1:-20}
shift || true
[[ $minutes =~ ^[0-9]+$ && $minutes -ge 1 ]] || { echo "fuzz: minutes '$minutes': a whole number >= 1" >&2; exit 2; }
all=(onnx archive config power_csv sysfs http)
targets=("$@")
((${#targets[@]})) || targets=("${all[@]}")
for t in "${targets[@]}"; do
  [[ " ${all[*]} " == *" $t "* ]] || { echo "fuzz: target '$t': one of ${all[*]}" >&2; exit 2; }
done

./scripts/setup.sh --deps >/dev/null
need=()
command -v clang++-14 >/dev/null || need+=(clang-14)
dpkg -s libfuzzer-14-dev >/dev/null 2>&1 || need+=(libfuzzer-14-dev)
if ((${#need[@]})); then
  echo "[fuzz] installing ${need[*]}"
  sudo_cmd=(); [[ $(id -u) == 0 ]] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get install -y -q "${need[@]}" >/dev/null
fi

dir=$root/build-fuzz
CC=clang-14 CXX=clang++-14 cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" \
  -DEC_BUILD_TESTS=OFF -DEC_BUILD_BENCH=OFF -DEC_FUZZ=ON -DEC_SANITIZE=fuzzer-no-link,address,undefined >/dev/null
cmake --build "$dir" -j "$(nproc)" --target fuzz_seeds $(printf 'fuzz_%s ' "${targets[@]}")

corpus=$dir/corpus
mkdir -p "$corpus" "$dir/artifacts"
for t in "${all[@]}"; do mkdir -p "$corpus/$t" "$dir/artifacts/$t"; done
seeds=$(mktemp -d)
trap 'rm -rf "$seeds"' EXIT
"$dir/fuzz/fuzz_seeds" "$seeds"
for t in onnx archive power_csv sysfs http; do cp -n "$seeds/$t"/* "$corpus/$t/" 2>/dev/null || true; done
for m in blazeface128.onnx blazeface128-int8.onnx; do [[ -f models/$m ]] && cp -n "models/$m" "$corpus/onnx/" || true; done
# configs: the first byte picks the reader (0 run config, 1 recipe, 2 task file)
i=0
for f in configs/*.yaml; do { printf '\x00'; cat "$f"; } >"$corpus/config/seed_run_$i"; i=$((i + 1)); done
for f in configs/recipes/*.yaml; do { printf '\x01'; cat "$f"; } >"$corpus/config/seed_recipe_$i"; i=$((i + 1)); done
for f in configs/tasks/*.yaml; do { printf '\x02'; cat "$f"; } >"$corpus/config/seed_task_$i"; i=$((i + 1)); done
# the committed regressions are seeds too: the mutations around a fixed bug are where the next one hides
for t in "${all[@]}"; do [[ -d tests/fuzz/regressions/$t ]] && cp -n tests/fuzz/regressions/$t/* "$corpus/$t/" 2>/dev/null || true; done

per=$((minutes * 60 * 2 / ${#targets[@]}))  # two at a time
((per >= 10)) || per=10
export ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
run_one() {
  local t=$1 extra=()
  [[ $t == onnx || $t == http ]] && extra=(-dict="$root/tests/fuzz/$t.dict")
  # fork mode: a finding is saved and counted, and fuzzing goes on (in-process mode stops at the first)
  "$dir/fuzz/fuzz_$t" "$corpus/$t" -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 -max_total_time="$per" \
    -timeout=1 -rss_limit_mb=2048 -malloc_limit_mb=2048 -artifact_prefix="$dir/artifacts/$t/" -close_fd_mask=3 \
    "${extra[@]}" >"$dir/fuzz_$t.log" 2>&1 || true
}
echo "[fuzz] ${#targets[@]} targets, ${per} s each, two at a time ($(nproc) cores: $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo))"
pids=()
for t in "${targets[@]}"; do
  run_one "$t" &
  pids+=($!)
  if ((${#pids[@]} >= 2)); then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
done
wait

total=0 bad=0
json="["
printf '%-10s %12s %9s %8s %6s %5s %8s %4s  %s\n' target executions exec/s corpus crash leak timeout oom what
for t in "${targets[@]}"; do
  log=$dir/fuzz_$t.log
  # the fork-mode status line of the last finished job: "#N: cov: … exec/s E oom/timeout/crash: O/T/C time: …"
  last=$(grep -E '^#[0-9]+: cov:' "$log" | tail -1)
  execs=$(sed -E 's/^#([0-9]+):.*/\1/' <<<"$last")
  secs=$(sed -E 's/.* exec\/s ([0-9]+) .*/\1/' <<<"$last")
  counts=$(sed -E 's|.*oom/timeout/crash: ([0-9]+)/([0-9]+)/([0-9]+).*|\1 \2 \3|' <<<"$last")
  read -r oom timeout crash_all <<<"${counts:-0 0 0}"
  [[ -n $last ]] || { execs=0 secs=0 oom=0 timeout=0 crash_all=0; }
  n_corpus=$(find "$corpus/$t" -type f | wc -l)
  leak=$(grep -c 'ERROR: LeakSanitizer' "$log" || true)
  crash=$((crash_all > leak ? crash_all - leak : 0))  # fork mode counts leaks among the crashes
  what=$(awk -v t="$t" 'BEGIN { w["onnx"] = "ONNX loader + native prepare"; w["archive"] = ".ecz archive reader"; w["config"] = "run configs, recipes, task files"; w["power_csv"] = "power CSV replay"; w["sysfs"] = "INA3221 sysfs/IIO values"; w["http"] = "monitoring endpoint requests"; print w[t] }')
  printf '%-10s %12s %9s %8s %6s %5s %8s %4s  %s\n' "$t" "${execs:-0}" "${secs:-0}" "$n_corpus" "$crash" "$leak" "$timeout" "$oom" "$what"
  total=$((total + ${execs:-0}))
  bad=$((bad + crash + leak + timeout + oom))
  json+="{\"target\": \"$t\", \"executions\": ${execs:-0}, \"exec_per_s\": ${secs:-0}, \"corpus\": $n_corpus, \"crash\": $crash, \"leak\": $leak, \"timeout\": $timeout, \"oom\": $oom},"
done
json="${json%,}]"
echo "$json" >"$dir/fuzz.json"
echo "total: $total executions, $bad findings (logs: $dir/fuzz_<target>.log, inputs: $dir/artifacts/<target>/)"
((bad == 0))
