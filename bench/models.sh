#!/usr/bin/env bash
# Whole-model latency and peak memory of the native engine against ONNX Runtime (../shared/peers/ort-peer), for
# every model the project benchmarks, float32 and int8, at 1 and 2 threads. Each row comes from one `bench` run:
# the native engine and ONNX Runtime on the same seeded input, the timed runs in 5 blocks alternating between the
# two (a fresh peer process per block, warmed up by 30 runs), and the ratio the median over the blocks of the two
# blocks' medians, so the ratios hold on a noisy machine even when the absolute times do not. Each row is run
# EC_BENCH_REPS times (default 3; the rounds go over every model before repeating, so a burst of another tenant's
# load lands in one round) and the round with the median ratio is shown.
#   bench/models.sh [runs] [MODEL...]            (default 50 runs; models: all of those below)
# Models: BlazeFace-128 and -256 (models/, fetched by setup.sh), and the zoo built in code with random weights
# (build/bench/bench_zoo): MobileNetV2-, ResNet-18- and YOLO-shaped, MobileNetV3-style (HardSwish, SE), a
# segmentation head (ConvTranspose, bilinear Resize), YOLOv8-style (SiLU, C2f, SPPF, DFL) and SSD-style.
# int8: each model compressed by configs/recipes/int8-full.yaml (calibrated on models/vtest.avi) into
# build/bench-models/; ONNX Runtime runs the float32 original in the same `bench` (the goal is against its fp32).
# Memory: the peak resident memory that loading, preparing and 3 runs add, each engine in a fresh process
# (`bench --memory`, first round; ONNX Runtime's: the peer's peak RSS minus the same peer's on a one-node model).
# Prints a Markdown table with the CPU's name, then the 2-thread speedup of each model (fp32; native: one `bench` run
# of native@1,native@2 alternating in blocks, per round, the median over the rounds; goal 1.7x from 100 M MACs); the
# raw JSON of every run goes to build/bench-models/.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
runs=${1:-50}
shift || true
bin=./build/edgecompress
peer=../shared/peers/ort-peer
out=build/bench-models
[[ -x $peer ]] || { echo "models.sh: $peer not found: ONNX Runtime is the peer of every row" >&2; exit 1; }
command -v python3 >/dev/null || { echo "models.sh: python3 is needed to read the JSON of each run" >&2; exit 1; }
mkdir -p "$out" build/zoo
if [[ ! -f build/zoo/yolov8.onnx ]]; then
  cmake --build build --target bench_zoo >/dev/null
  ./build/bench/bench_zoo build/zoo >/dev/null
fi

declare -A path=(
  [blazeface128]=models/blazeface128.onnx [blazeface256]=models/blazeface256.onnx
  [mobilenetv2]=build/zoo/mobilenetv2.onnx [resnet18]=build/zoo/resnet18.onnx [yolo]=build/zoo/yolo.onnx
  [mobilenetv3]=build/zoo/mobilenetv3.onnx [seghead]=build/zoo/seghead.onnx [yolov8]=build/zoo/yolov8.onnx [ssd]=build/zoo/ssd.onnx)
models=("$@")
((${#models[@]})) || models=(blazeface128 blazeface256 mobilenetv2 resnet18 yolo mobilenetv3 seghead yolov8 ssd)

reps=${EC_BENCH_REPS:-3}
[[ $reps =~ ^[1-9][0-9]*$ ]] || { echo "models.sh: EC_BENCH_REPS must be a positive integer, not '$reps'" >&2; exit 2; }
for m in "${models[@]}"; do
  [[ -n ${path[$m]:-} ]] || { echo "models.sh: unknown model '$m'" >&2; exit 2; }
  f=${path[$m]}
  q=$out/$m.int8.onnx
  if [[ ! -f $q || $q -ot $f || $q -ot $bin ]]; then
    echo "[models] $m: compress int8-full" >&2
    "$bin" compress -m "$f" -r configs/recipes/int8-full.yaml -o "$q" >/dev/null
  fi
done
for ((r = 1; r <= reps; r++)); do
  mem=()
  ((r == 1)) && mem=(--memory)
  for m in "${models[@]}"; do
    f=${path[$m]}
    q=$out/$m.int8.onnx
    for t in 1 2; do
      echo "[models] round $r/$reps: $m, $t thread(s)" >&2
      "$bin" bench --model "$f" --backend native --threads "$t" --runs "$runs" --warmup 5 "${mem[@]}" --ort-peer "$peer" --json >"$out/$m.fp32.t$t.r$r.json"
      "$bin" bench --model "$q" --backend native --threads "$t" --runs "$runs" --warmup 5 "${mem[@]}" --ort-peer "$peer" --ort-model "$f" --json \
        >"$out/$m.int8.t$t.r$r.json"
    done
    echo "[models] round $r/$reps: $m, 1 against 2 threads" >&2
    "$bin" bench --model "$f" --backend native@1,native@2 --runs "$runs" --warmup 5 --json >"$out/$m.fp32.scaling.r$r.json"
  done
done

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
family=$(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
[[ -n $cpu ]] || cpu=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)
for m in "${models[@]}"; do  # multiply-accumulates per inference, for the scaling goal
  echo "$m $("$bin" inspect "${path[$m]}" 2>/dev/null | awk '$1 == "MACs" {print $2}')"
done >"$out/macs.txt"
python3 - "$out" "$cpu${family:+ (family $family)}, $(nproc) cores, $(date -u +%F)" "$runs" "$reps" "${models[@]}" <<'EOF'
import json, sys
out, cpu, runs, reps, models = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5:]
macs_of = {}
for line in open(f"{out}/macs.txt"):
    parts = line.split()
    if len(parts) == 2 and parts[1].isdigit():
        macs_of[parts[0]] = int(parts[1])

def ratio(res):
    """native / ONNX Runtime: the median over the run's alternating blocks of the two blocks' medians."""
    return 1 / res[-1]["paired_ratio_vs_native"]

def pick(kind, m, t):
    """The round whose native/ORT ratio is the median of the rounds, and round 1 (which measured memory)."""
    rounds = [json.load(open(f"{out}/{m}.{kind}.t{t}.r{r}.json"))["results"] for r in range(1, reps + 1)]
    order = sorted(range(reps), key=lambda i: ratio(rounds[i]))
    return rounds[order[(reps - 1) // 2]], rounds[0], [ratio(x) for x in rounds]

print(f"CPU: {cpu}; {runs} runs after 5 warm-up (ONNX Runtime: 30 per block), native and ONNX Runtime in the same `bench` run, alternating in 5 blocks;")
print(f"each row the median-ratio round of {reps} (the other rounds' ratios in build/bench-models/*.r*.json).")
print("ms: native's median over all runs, ONNX Runtime's the median of its block medians; ratio = the median over the blocks of native's")
print("block median / ONNX Runtime fp32's in the same block (goals: fp32 <= 0.90, int8 <= 0.60); memory: peak MiB added by load + prepare + 3 runs.")
print()
print("| model | threads | fp32 native ms | ORT fp32 ms | fp32 ratio | int8 native ms | ORT fp32 ms | int8 ratio | MiB native fp32 / int8 | MiB ORT fp32 |")
print("|---|---|---|---|---|---|---|---|---|---|")
fails = []
for m in models:
    for t in (1, 2):
        f, fm, _ = pick("fp32", m, t)
        q, qm, _ = pick("int8", m, t)
        nf, of = f[0], f[-1]
        nq, oq = q[0], q[-1]
        rf, rq = ratio(f), ratio(q)
        mib = lambda r: r.get("peak_memory_bytes", 0) / 1048576
        mark = lambda ok: "" if ok else " ✗"
        print(f"| {m} | {t} | {nf['latency_ms']['median']:.3f} | {of['latency_ms']['median']:.3f} | {rf:.2f}{mark(rf <= 0.9)} | "
              f"{nq['latency_ms']['median']:.3f} | {oq['latency_ms']['median']:.3f} | {rq:.2f}{mark(rq <= 0.6)} | "
              f"{mib(fm[0]):.1f} / {mib(qm[0]):.1f} | {mib(fm[-1]):.1f}{mark(max(mib(fm[0]), mib(qm[0])) <= mib(fm[-1]))} |")
        if rf > 0.9: fails.append(f"{m} t{t} fp32 {rf:.2f}")
        if rq > 0.6: fails.append(f"{m} t{t} int8 {rq:.2f}")
        if max(mib(fm[0]), mib(qm[0])) > mib(fm[-1]): fails.append(f"{m} t{t} memory")
print()
print("rows off a goal (✗): " + (", ".join(fails) if fails else "none"))

# 2 threads over 1, fp32: per round from the two runs of that round (seconds apart, so one phase of the
# machine's load), the median over the rounds; the goal (>= 1.7x) applies to models of 100 M MACs or more.
print()
print("2 threads over 1 thread, fp32 (native: 1 and 2 threads alternating in 5 blocks of one run, the median over the blocks of t1 / t2,")
print("the median over the rounds; ONNX Runtime: its t1 / t2 medians of the rows above; goal >= 1.70 from 100 M MACs):")
print()
print("| model | M MACs | native | ONNX Runtime | native per round |")
print("|---|---|---|---|---|")
slow = []
for m in models:
    per_n, per_o = [], []
    for r in range(1, reps + 1):
        a = json.load(open(f"{out}/{m}.fp32.t1.r{r}.json"))["results"]
        b = json.load(open(f"{out}/{m}.fp32.t2.r{r}.json"))["results"]
        sc = json.load(open(f"{out}/{m}.fp32.scaling.r{r}.json"))["results"]
        per_n.append(1 / sc[1]["paired_ratio_vs_native@1"])
        per_o.append(a[-1]["latency_ms"]["median"] / b[-1]["latency_ms"]["median"])
    med = lambda v: sorted(v)[(len(v) - 1) // 2]
    macs = macs_of.get(m, 0) / 1e6
    goal = macs >= 100
    mark = " ✗" if goal and med(per_n) < 1.7 else ""
    if mark: slow.append(f"{m} {med(per_n):.2f}")
    print(f"| {m} | {macs:.0f} | {med(per_n):.2f}{mark} | {med(per_o):.2f} | {' / '.join(f'{x:.2f}' for x in per_n)} |")
print()
print("models of 100 M MACs or more below 1.70x (✗): " + (", ".join(slow) if slow else "none"))
EOF
