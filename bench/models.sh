#!/usr/bin/env bash
# Whole-model latency and memory: native (XNNPACK) vs native-ref (reference kernels) vs OpenCV DNN vs ONNX
# Runtime (../shared/peers/ort-peer), same seeded input, same threads, ratios from one run, at 1 and 2 threads.
#   bench/models.sh [runs]
# Models: BlazeFace-128/256 (fp32), BlazeFace-128 int8 QDQ (configs/recipes/int8-full.yaml; ONNX Runtime runs
# the fp32 original in the same run: the int8 target is against ONNX Runtime's fp32), and MobileNetV2-,
# ResNet-18- and YOLO-shaped models built in code (build/bench/bench_zoo, random weights).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
runs=${1:-100}
bin=./build/edgecompress
peer=()
if [[ -x ../shared/peers/ort-peer ]]; then peer=(--ort-peer ../shared/peers/ort-peer); else echo "no ort-peer: ONNX Runtime left out"; fi
int8=models/blazeface128__int8-full.onnx
[[ -f $int8 ]] || "$bin" compress -m models/blazeface128.onnx -r configs/recipes/int8-full.yaml -o "$int8"
mkdir -p build/zoo
[[ -f build/zoo/yolo.onnx ]] || ./build/bench/bench_zoo build/zoo
for threads in 1 2; do
  for model in models/blazeface128.onnx models/blazeface256.onnx; do
    "$bin" bench --model "$model" --backend native,native-ref,opencv --threads "$threads" --runs "$runs" --warmup 10 --memory "${peer[@]}"
    echo
  done
  "$bin" bench --model "$int8" --backend native,native-ref --threads "$threads" --runs "$runs" --warmup 10 --memory \
    "${peer[@]}" ${peer:+--ort-model models/blazeface128.onnx}
  echo
  for model in build/zoo/mobilenetv2.onnx build/zoo/resnet18.onnx build/zoo/yolo.onnx; do
    "$bin" bench --model "$model" --backend native,opencv --threads "$threads" --runs $((runs / 5 + 1)) --warmup 3 "${peer[@]}"
    echo
  done
done
