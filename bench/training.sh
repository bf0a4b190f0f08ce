#!/usr/bin/env bash
# Reproduces the training results of the table "Compression with training" in docs/compression.md on Fashion-MNIST and
# Megamind.avi: Deep Compression with retraining (LeNet-300-100, LeNet-5), Hinton-style distillation (an MLP
# student with and without a LeNet-5 teacher's soft targets), a pruned BlazeFace-128 distilled on unlabelled
# video, QAT against PTQ (LeNet-5, the small MobileNet), and the small MobileNet trained from scratch.
#   bash bench/training.sh [OUT_DIR]          # full: about 20 minutes on 2 cores
#   bash bench/training.sh --short [OUT_DIR]  # the same commands on small data (a test of the script)
# Prints a markdown table and writes it to OUT_DIR/training.md (default build/training). Needs the libtorch
# build (edgecompress-train) and Debian's dataset-fashion-mnist (exit status 77, "skipped", without them).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
short=0
if [[ ${1:-} == --short ]]; then short=1; shift; fi
out=${1:-$root/build/training}
bin=${EC_BIN:-$root/build/edgecompress}
data=/usr/share/datasets/fashion-mnist
mkdir -p "$out"
cd "$root"
[[ -x $bin ]] || { echo "training.sh: $bin not built" >&2; exit 1; }
[[ -x $(dirname "$bin")/edgecompress-train ]] || { echo "training.sh: no edgecompress-train next to $bin (install libtorch-dev and rebuild)" >&2; exit 77; }
[[ -e $data/train-images-idx3-ubyte.gz ]] || { echo "training.sh: $data missing (apt install dataset-fashion-mnist)" >&2; exit 77; }
start_all=$(date +%s)

# epochs (full / short) and a sample cap for --short
if ((short)); then
  E_MLP=1 E_L5=1 E_MN=1 E_ST=1 E_KD=2 CAP="--train-samples 2000" MAXS=2000 KD_FRAMES=16 PLUS=0
else
  E_MLP=3 E_L5=4 E_MN=5 E_ST=5 E_KD=30 CAP="" MAXS=-1 KD_FRAMES=135 PLUS=1
fi
# a recipe copy with every training step limited to MAXS samples (short mode) and the calibration frames set
recipe() {
  sed -e "s/seed: 1}/seed: 1, max_samples: $MAXS}/" -e "s/epochs: 30,/epochs: $E_KD,/" -e "s/frames: 135/frames: $KD_FRAMES/" "configs/recipes/$1" > "$out/$1"
  echo "$out/$1"
}
acc() { "$bin" eval --reference "$1" -m "$2" --idx "$data" --json | python3 -c 'import json,sys; print("%.4f" % json.load(sys.stdin)["models"][-1]["accuracy"])'; }
bytes() { stat -c %s "$1"; }
t() { local s=$(date +%s); "$@" > "$out/last.log" 2>&1 || { cat "$out/last.log" >&2; exit 1; }; echo $(( $(date +%s) - s )); }
rows=()

# 1. Deep Compression with retraining
s=$(t "$bin" train --arch mlp --epochs $E_MLP $CAP -o "$out/lenet300.onnx")
s2=$(t "$bin" compress -m "$out/lenet300.onnx" -r "$(recipe deep-compression-ft.yaml)" -o "$out/lenet300_dc.onnx")
"$bin" pack "$out/lenet300_dc.onnx" -o "$out/lenet300_dc.ecz" > /dev/null
a0=$(acc "$out/lenet300.onnx" "$out/lenet300.onnx"); a1=$(acc "$out/lenet300.onnx" "$out/lenet300_dc.ecz")
r=$(python3 -c "print('%.1f' % ($(bytes "$out/lenet300.onnx") / $(bytes "$out/lenet300_dc.ecz")))")
rows+=("| Deep Compression, LeNet-300-100 (prune 92 % → finetune → 4-bit share → share-finetune → Huffman) | fp32 $a0, $(bytes "$out/lenet300.onnx") B | $a1, $(bytes "$out/lenet300_dc.ecz") B: **${r}×** smaller | $((s + s2)) s |")

s=$(t "$bin" train --arch lenet5 --epochs $E_L5 --lr 0.01 $CAP -o "$out/lenet5.onnx")
s2=$(t "$bin" compress -m "$out/lenet5.onnx" -r "$(recipe deep-compression-lenet5.yaml)" -o "$out/lenet5_dc.onnx")
"$bin" pack "$out/lenet5_dc.onnx" -o "$out/lenet5_dc.ecz" > /dev/null
a0=$(acc "$out/lenet5.onnx" "$out/lenet5.onnx"); a1=$(acc "$out/lenet5.onnx" "$out/lenet5_dc.ecz")
r=$(python3 -c "print('%.1f' % ($(bytes "$out/lenet5.onnx") / $(bytes "$out/lenet5_dc.ecz")))")
rows+=("| Deep Compression, LeNet-5 (the same steps) | fp32 $a0, $(bytes "$out/lenet5.onnx") B | $a1, $(bytes "$out/lenet5_dc.ecz") B: **${r}×** smaller | $((s + s2)) s |")

# 2. Distillation (Hinton et al.): the same MLP student, seed and epochs, on labels vs with the LeNet-5's soft targets
s=$(t "$bin" train --arch mlp --trainer torch --hidden 300,100 --epochs $E_ST --lr 0.01 $CAP -o "$out/student_labels.onnx")
s2=$(t "$bin" train --arch mlp --trainer torch --hidden 300,100 --epochs $E_ST --lr 0.01 $CAP --teacher "$out/lenet5.onnx" --temperature 8 --alpha 0.5 -o "$out/student_kd.onnx")
a0=$(acc "$out/student_labels.onnx" "$out/student_labels.onnx"); a1=$(acc "$out/student_labels.onnx" "$out/student_kd.onnx")
e0=$(python3 -c "print(round((1 - $a0) * 10000))"); e1=$(python3 -c "print(round((1 - $a1) * 10000))")
rows+=("| Distillation: MLP 784-300-100-10 student, $E_ST epochs, seed 1; teacher LeNet-5 above (T 8, α 0.5) | labels only: $a0 ($e0 errors) | soft targets: **$a1** ($e1 errors) | $((s + s2)) s |")

# 3. A pruned BlazeFace-128 distilled on unlabelled frames 0-134 of Megamind.avi; fidelity on frames 135-269
s=$(t "$bin" compress -m models/blazeface128.onnx -r configs/recipes/prune-ch30.yaml -o "$out/bf_pruned.onnx")
s2=$(t "$bin" compress -m models/blazeface128.onnx -r "$(recipe prune-ch30-distill.yaml)" -o "$out/bf_kd.onnx")
"$bin" eval --reference models/blazeface128.onnx -m "$out/bf_pruned.onnx" -m "$out/bf_kd.onnx" --video models/Megamind.avi \
  --task configs/tasks/blazeface.yaml --start 135 --frames 135 --every 1 --json > "$out/bf_eval.json"
read -r p_map p_iou k_map k_iou < <(python3 -c 'import json,sys; m=json.load(open(sys.argv[1]))["models"]; f=lambda i,k: "%.3f" % m[i]["fidelity"][k]; print(f(1,"map50"), f(1,"mean_iou"), f(2,"map50"), f(2,"mean_iou"))' "$out/bf_eval.json")
rows+=("| BlazeFace-128, 30 % channel groups pruned, distilled from the original on $KD_FRAMES unlabelled frames ($E_KD epochs); fidelity on the 135 later frames | pruning alone: mAP@0.5 $p_map, IoU $p_iou | distilled: mAP@0.5 **$k_map**, IoU $k_iou | $((s + s2)) s |")

# 4. QAT vs PTQ (int8 QDQ, per-channel weights, every activation), and the control: float fine-tuning as long, then PTQ
s=$(t "$bin" train --arch mobilenet --epochs $E_MN --lr 0.05 $CAP -o "$out/mobilenet.onnx")
am=$(acc "$out/mobilenet.onnx" "$out/mobilenet.onnx")
rows+=("| Small MobileNet (depthwise-separable, BN; \`train --arch mobilenet\`, $E_MN epochs) | — | fp32 **$am** | $s s |")
for net in lenet5 mobilenet; do
  s=$(t "$bin" compress -m "$out/$net.onnx" -r configs/recipes/int8-ptq-fmnist.yaml -o "$out/${net}_ptq.onnx")
  s2=$(t "$bin" compress -m "$out/$net.onnx" -r "$(recipe qat-fmnist.yaml)" -o "$out/${net}_qat.onnx")
  cat > "$out/ft-then-ptq.yaml" <<EOR
calibration: {source: "idx:$data", frames: 512, every: 1}
steps:
  - finetune: {data: $data, epochs: 1, lr: 0.001, batch: 64, seed: 1, max_samples: $MAXS}
  - quantize: {method: percentile, percentile: 99.99, weights: per-channel, keep_float: 0, activations: all}
EOR
  t "$bin" compress -m "$out/$net.onnx" -r "$out/ft-then-ptq.yaml" -o "$out/${net}_ftptq.onnx" > /dev/null
  a0=$(acc "$out/$net.onnx" "$out/$net.onnx"); a1=$(acc "$out/$net.onnx" "$out/${net}_ptq.onnx"); a2=$(acc "$out/$net.onnx" "$out/${net}_qat.onnx"); a3=$(acc "$out/$net.onnx" "$out/${net}_ftptq.onnx")
  rows+=("| QAT vs PTQ, $net (fp32 $a0); control: fp32 fine-tuned as long, then PTQ: $a3 | PTQ int8: $a1 | QAT int8 (1 epoch): **$a2** | $((s + s2)) s |")
done

total=$(( $(date +%s) - start_all ))
{
  echo "| experiment | baseline | result | time |"
  echo "|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "Total $total s on $(nproc) cores ($( ((short)) && echo 'short version' || echo 'full version')); accuracies on the 10,000 Fashion-MNIST test images."
} | tee "$out/training.md"
