#!/usr/bin/env bash
# The zoo end to end, as a user takes a model through the product: compress to int8 (configs/recipes/int8-full.yaml,
# calibrated on vtest.avi) -> eval fidelity against the original on Megamind.avi -> run both on the video with live
# quality scoring. Models are built in code (build/bench/bench_zoo, random weights, one per architecture kind):
#   mobilenetv3        HardSwish, HardSigmoid, squeeze-excitation; classifier (top-1 agreement)
#   mobilenetv3-const  the same with its weights in Constant nodes and input [1,3,height,width] (PaddlePaddle-style)
#   seghead            ConvTranspose, bilinear Resize, Sigmoid; a probability map (SNR only)
#   yolov8             SiLU, C2f, SPPF, two upsamplings, anchor-free head decoded in the graph (yolov8 decoder)
#   ssd                two outputs, softmax scores and prior-decoded boxes (ssd decoder)
#
#   bench/zoo_e2e.sh [--frames N] [--every K] [--run-frames M] [--threads T] [MODEL...]
# Defaults: eval on 60 frames every 4th, run 120 frames, 2 threads. Writes DIR/<model>/{int8.onnx,compress.json,
# eval.json,run.yaml,session/summary.json} and DIR/zoo_e2e.json; prints a table (python3, when present).
# Environment: EC_BIN (default build/edgecompress), EC_ZOO_BIN (build/bench/bench_zoo), EC_ZOO_DIR (build/zoo/e2e).
# Exit 1 when a command fails (its error is printed); the figures are not judged here (tests/app/test_zoo.cpp does).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bin=${EC_BIN:-$root/build/edgecompress}
zoo=${EC_ZOO_BIN:-$root/build/bench/bench_zoo}
dir=${EC_ZOO_DIR:-$root/build/zoo/e2e}
frames=60 every=4 run_frames=120 threads=2
models=()
while (($#)); do
  case $1 in
    --frames) frames=$2; shift 2 ;;
    --every) every=$2; shift 2 ;;
    --run-frames) run_frames=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    -*) echo "zoo_e2e: unknown option '$1'" >&2; exit 2 ;;
    *) models+=("$1"); shift ;;
  esac
done
((${#models[@]})) || models=(mobilenetv3 mobilenetv3-const seghead yolov8 ssd)
for f in "$bin" "$zoo"; do [[ -x $f ]] || { echo "zoo_e2e: $f: not built (cmake --build build)" >&2; exit 1; }; done
for f in models/vtest.avi models/Megamind.avi; do [[ -f $f ]] || { echo "zoo_e2e: $f: missing (./scripts/setup.sh fetches it)" >&2; exit 1; }; done
mkdir -p "$dir"

task_of() {
  case $1 in
    mobilenetv3*) echo configs/tasks/zoo-classify.yaml ;;
    seghead) echo configs/tasks/zoo-seghead.yaml ;;
    yolov8) echo configs/tasks/zoo-yolov8.yaml ;;
    ssd) echo configs/tasks/zoo-ssd.yaml ;;
    *) echo "zoo_e2e: model '$1': one of mobilenetv3 mobilenetv3-const seghead yolov8 ssd" >&2; exit 2 ;;
  esac
}

for m in "${models[@]}"; do
  task=$(task_of "$m")
  d=$dir/$m
  mkdir -p "$d"
  "$zoo" "$dir" "$m" >/dev/null
  shape=()
  # the Constant-weight model's input is [1,3,height,width]: calibration needs a size (eval and run take it from
  # the task's input size)
  [[ $m == mobilenetv3-const ]] && shape=(--shape 1,3,224,224)
  echo "[zoo] $m: compress int8-full" >&2
  "$bin" compress -m "$dir/$m.onnx" -r configs/recipes/int8-full.yaml "${shape[@]}" -o "$d/int8.onnx" --json >"$d/compress.json"
  echo "[zoo] $m: eval on $frames frames of Megamind.avi" >&2
  "$bin" eval --reference "$dir/$m.onnx" -m "$d/int8.onnx" --video models/Megamind.avi --task "$task" --frames "$frames" \
    --every "$every" --threads "$threads" --json >"$d/eval.json"
  # a run config: the original (the quality reference) and the int8 variant on the same frames, task settings inline
  {
    echo "source: {uri: models/Megamind.avi, realtime: false}"
    echo "variants:"
    for v in fp32:"$dir/$m.onnx" int8:"$d/int8.onnx"; do
      echo "  - name: $m-${v%%:*}"
      echo "    model: ${v#*:}"
      echo "    threads: $threads"
      sed -n 's/^input: /    input: /p; s/^decoder: /    decoder: /p' "$task"
    done
    echo "output: {uri: none://, layout: side-by-side}"
    echo "power: {sensor: none}"
  } >"$d/run.yaml"
  echo "[zoo] $m: run both for $run_frames frames" >&2
  rm -rf "$d/session"
  "$bin" run -c "$d/run.yaml" --record --session-dir "$d/session" --max-frames "$run_frames" --quiet >/dev/null
done

{
  printf '{"cpu": "%s", "threads": %s, "frames": %s, "every": %s, "run_frames": %s, "models": [' \
    "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')" "$threads" "$frames" "$every" "$run_frames"
  sep=
  for m in "${models[@]}"; do
    printf '%s{"name": "%s", "compress": %s, "eval": %s, "summary": %s}' "$sep" "$m" "$(cat "$dir/$m/compress.json")" \
      "$(cat "$dir/$m/eval.json")" "$(cat "$dir/$m/session/summary.json")"
    sep=", "
  done
  printf ']}\n'
} >"$dir/zoo_e2e.json"

command -v python3 >/dev/null || { echo "figures: $dir/zoo_e2e.json"; exit 0; }
python3 - "$dir/zoo_e2e.json" <<'EOF'
import json, sys
z = json.load(open(sys.argv[1]))
print(f"zoo end to end, int8-full, {z['cpu']}, {z['threads']} threads; eval {z['frames']} frames every {z['every']} of Megamind.avi, run {z['run_frames']} frames")
print(f"{'model':18} {'MACs':>7} {'fp32 KB':>8} {'int8 KB':>8} {'ratio':>5}  {'top-1/mAP':>9} {'IoU':>5} {'SNR dB':>6}  {'run: frames':>11} {'live':>6} {'fp32 ms':>7} {'int8 ms':>7}")
def f(x, fmt):
    return fmt % x if isinstance(x, (int, float)) else "-"
for m in z["models"]:
    ev = m["eval"]["models"]
    ref, q = ev[0], ev[1]
    fid = q["fidelity"]
    cls = fid.get("top1_agreement") is not None and fid.get("map50") is None
    score = fid.get("top1_agreement") if cls else fid.get("map50")
    vs = m["summary"]["variants"]
    live = vs[1]["quality"] or {}
    lscore = live.get("top1_agreement") if cls else live.get("map50")
    inf = lambda v: (v["latency_ms"]["inference"] or {}).get("p50")
    print(f"{m['name']:18} {ref['macs']/1e6:6.0f}M {ref['file_bytes']/1024:8.0f} {q['file_bytes']/1024:8.0f} {ref['file_bytes']/q['file_bytes']:5.2f}"
          f"  {f(score, '%9.3f')} {f(fid.get('mean_iou') if not cls else None, '%5.3f')} {f(fid.get('snr_db'), '%6.1f')}"
          f"  {vs[0]['frames']:5d}/{vs[1]['frames']:<5d} {f(lscore, '%6.3f')} {f(inf(vs[0]), '%7.2f')} {f(inf(vs[1]), '%7.2f')}")
EOF
