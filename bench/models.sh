#!/usr/bin/env bash
# Whole-model latency: native vs OpenCV DNN vs ONNX Runtime (../shared/peers/ort-peer), same seeded input,
# same threads, ratios from one run, at 1 and 2 threads.   bench/models.sh [runs]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
runs=${1:-100}
peer=()
if [[ -x ../shared/peers/ort-peer ]]; then peer=(--ort-peer ../shared/peers/ort-peer); else echo "no ort-peer: ONNX Runtime left out"; fi
for model in models/blazeface128.onnx models/blazeface256.onnx; do
  for threads in 1 2; do
    ./build/edgecompress bench --model "$model" --backend native,opencv --threads "$threads" --runs "$runs" --warmup 10 "${peer[@]}"
    echo
  done
done
