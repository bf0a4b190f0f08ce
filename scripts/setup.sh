#!/usr/bin/env bash
# One command from a fresh Debian/Ubuntu (Jetson included) to a built edgecompress and its demo:
#   ./scripts/setup.sh            install packages, fetch models, build (Release), run the demo
#   ./scripts/setup.sh --no-demo  the same without the demo
#   ./scripts/setup.sh --deps     only install packages and fetch models
#   ./scripts/setup.sh --packages only install packages (the lanes: scripts/lane.sh)
# Idempotent: installed packages, cached models and an up-to-date build are reused.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
mode=${1:-all}

log() { printf '[setup] %s\n' "$*"; }

# What the project needs, as "package|what it is for" (required: the build stops without it) and optional
# ones with what their absence turns off. Names are the same on Debian and Ubuntu (JetPack); where a release
# lacks a package apt is asked first (apt-cache policy), and setup prints what it skipped and what that turns
# off instead of failing.
required=(
  "build-essential|compiler" "cmake|build" "ninja-build|build" "pkg-config|build" "git|build" "ca-certificates|downloads"
  "libeigen3-dev|reference kernels" "libprotobuf-dev|ONNX files" "protobuf-compiler|ONNX schema"
  "libopencv-dev|images, OpenCV DNN backend" "libgstreamer1.0-dev|capture and outputs" "libgstreamer-plugins-base1.0-dev|capture and outputs"
  "gstreamer1.0-tools|capture and outputs" "gstreamer1.0-plugins-base|capture and outputs" "gstreamer1.0-plugins-good|capture and outputs"
  "libyaml-cpp-dev|configs and recipes" "libi2c-dev|INA3221 over I2C" "nlohmann-json3-dev|sessions and reports"
  "libboost-program-options-dev|command line" "zlib1g-dev|.ecz archives" "libgtest-dev|tests" "libgmock-dev|tests"
  "curl|downloads" "fonts-dejavu-core|overlay text"
)
optional=(
  "libxnnpack-dev|the fast NHWC fp32/int8 kernels (2022 API; without it: reference kernels)"
  "libpthreadpool-dev|the fast NHWC kernels' threads"
  "libonnx-dev|libonnx's checker before writing models (without it: edgecompress's structural checks)"
  "libmicrohttpd-dev|run --http monitoring (/metrics, /stream.mjpg, TLS)"
  "libbenchmark-dev|bench/ kernel microbenchmarks"
  "gstreamer1.0-plugins-bad|H.264 parsing for file/udp outputs"
  "gstreamer1.0-plugins-ugly|x264enc for file/udp outputs on machines without a hardware encoder"
  "gstreamer1.0-libav|decoding H.264/MPEG-4 files"
  "gstreamer1.0-x|display windows (xvimagesink)"
  "opencv-doc|the demo and test videos (Megamind.avi, vtest.avi)"
  "dataset-fashion-mnist|training and accuracy tests (Fashion-MNIST)"
  "xvfb|display tests" "tesseract-ocr|overlay text tests" "prometheus|monitoring tests (real Prometheus scrape)"
  "chromium|monitoring web page test (Ubuntu: chromium-browser)"
)
# libtorch (about 250 MB installed with its libraries) is used only by the training helper edgecompress-train, never by `run`; on
# the device (aarch64: Jetson) it is installed only when asked for: EC_WITH_TORCH=1 ./scripts/setup.sh
# libtorch's matrix products go through the system BLAS: Debian's default is the reference one (about 20x
# slower training here), OpenBLAS takes over the libblas.so.3 alternative when installed.
if [[ $(uname -m) != aarch64 || ${EC_WITH_TORCH:-0} == 1 ]]; then
  optional+=("libtorch-dev|training steps (finetune, distill, qat; edgecompress-train)" "libopenblas0-pthread|fast training BLAS")
fi

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
# True when apt has an installation candidate for the package on this release.
available() { [[ -n $(apt-cache policy "$1" 2>/dev/null | sed -n 's/^ *Candidate: *//p' | grep -v '(none)') ]]; }

install_packages() {
  local sudo=""
  if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
  local missing=() opt_missing=() entry p
  for entry in "${required[@]}"; do p=${entry%%|*}; installed "$p" || missing+=("$p"); done
  # Node.js and npm fetch the models (npm pack) and run the ONNX Runtime peer; keep an existing install.
  if [[ $mode != --packages ]] && ! command -v npm >/dev/null 2>&1; then missing+=(nodejs npm); fi
  for entry in "${optional[@]}"; do p=${entry%%|*}; installed "$p" || opt_missing+=("$entry"); done
  if [[ ${#missing[@]} -eq 0 && ${#opt_missing[@]} -eq 0 ]]; then
    log "packages: all present"
    return
  fi
  $sudo apt-get update -q
  if [[ ${#missing[@]} -gt 0 ]]; then
    local absent=()
    for p in "${missing[@]}"; do available "$p" || absent+=("$p"); done
    if [[ ${#absent[@]} -gt 0 ]]; then
      echo "[setup] this release has no ${absent[*]}: edgecompress cannot be built here (README: supported releases)" >&2
      exit 1
    fi
    log "packages: installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
  local skipped=() want=()
  for entry in "${opt_missing[@]}"; do
    p=${entry%%|*}
    if available "$p"; then want+=("$p")
    elif [[ $p == chromium ]] && available chromium-browser; then want+=(chromium-browser)
    else skipped+=("$entry"); fi
  done
  if [[ ${#want[@]} -gt 0 ]]; then
    log "optional packages: installing ${want[*]}"
    if ! DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${want[@]}" >/dev/null 2>&1; then
      for p in "${want[@]}"; do  # one at a time, so one broken package does not keep the others out
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "$p" >/dev/null 2>&1 ||
          skipped+=("$p|(failed to install)")
      done
    fi
  fi
  for entry in "${skipped[@]}"; do
    log "skipped ${entry%%|*} (not in this release's archive): off: ${entry#*|}"
  done
}

sha_ok() { [[ $2 == "-" ]] || [[ $(sha256sum "$1" | cut -d' ' -f1) == "$2" ]]; }

fetch_assets() {
  local cache="$root/.cache/npm"
  mkdir -p "$cache" "$root/models"
  while IFS=$'\t' read -r kind src inner sha dest; do
    [[ -z $kind || $kind == \#* ]] && continue
    if [[ -f $dest ]] && sha_ok "$dest" "$sha"; then continue; fi
    case $kind in
      npm)
        local tgz
        tgz=$(ls "$cache"/*.tgz 2>/dev/null | grep -F "$(echo "${src%@*}" | tr '/' '-')-${src##*@}.tgz" || true)
        if [[ -z $tgz ]]; then
          log "fetching $src (npm pack)"
          (cd "$cache" && npm pack --silent "$src" >/dev/null)
          tgz=$(ls "$cache"/*.tgz | grep -F "${src##*@}.tgz" | head -n 1)
        fi
        local tmp
        tmp=$(mktemp -d)
        tar -xzf "$tgz" -C "$tmp" "$inner"
        mv "$tmp/$inner" "$dest"
        rm -rf "$tmp"
        ;;
      deb)
        if [[ ! -f $inner ]]; then
          echo "[setup] $inner is missing: install Debian package $src" >&2
          exit 1
        fi
        cp "$inner" "$dest"
        ;;
    esac
    if ! sha_ok "$dest" "$sha"; then
      echo "[setup] $dest: SHA-256 $(sha256sum "$dest" | cut -d' ' -f1) differs from the expected $sha" >&2
      rm -f "$dest"
      exit 1
    fi
    log "ok $dest"
  done <configs/assets.tsv
  log "models and videos checked (configs/assets.tsv)"
}

build() {
  local jobs
  jobs=$(nproc)
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build build -j "$jobs"
}

# The demo's compressed variant, made here from the fetched original (not fetched, not committed): BlazeFace-128
# through configs/recipes/int8-full.yaml (int8 QDQ, ~8 s). Made again when the model or the recipe changes.
demo_models() {
  local out=models/blazeface128-int8.onnx
  if [[ -s $out && ! models/blazeface128.onnx -nt $out && ! configs/recipes/int8-full.yaml -nt $out ]]; then return; fi
  log "compressing BlazeFace-128 for the demo: $out (configs/recipes/int8-full.yaml)"
  ./build/edgecompress compress --model models/blazeface128.onnx --recipe configs/recipes/int8-full.yaml --output "$out.tmp.onnx" >/dev/null
  mv "$out.tmp.onnx" "$out"
}

# With the training helper (libtorch), a third variant: BlazeFace-128 with 30 % of its channel groups pruned and
# distilled from the original on 48 unlabelled frames (configs/recipes/prune-ch30-distill-quick.yaml, ~30 s).
demo_distilled() {
  local out=models/blazeface128-pruned-distilled.onnx recipe=configs/recipes/prune-ch30-distill-quick.yaml
  [[ -x build/edgecompress-train ]] || return 0
  if [[ -s $out && ! models/blazeface128.onnx -nt $out && ! $recipe -nt $out ]]; then return; fi
  log "pruning and distilling BlazeFace-128 for the demo: $out ($recipe)"
  ./build/edgecompress compress --model models/blazeface128.onnx --recipe "$recipe" --output "$out.tmp.onnx" >/dev/null
  mv "$out.tmp.onnx" "$out"
}

demo() {
  local config=configs/demo.yaml what="its int8 compression"
  if [[ -x build/edgecompress-train && -s models/blazeface128-pruned-distilled.onnx ]]; then
    config=configs/demo-distilled.yaml what="its int8 compression and a pruned + distilled one"
  fi
  log "demo: BlazeFace-128 on Megamind.avi, the original float32 model against $what, recorded as a session"
  ./build/edgecompress inspect models/blazeface128-int8.onnx --no-layers
  ./build/edgecompress bench --model models/blazeface128.onnx --backend native --threads "$(nproc)" --runs 50
  ./build/edgecompress bench --model models/blazeface128-int8.onnx --backend native --threads "$(nproc)" --runs 50
  ./build/edgecompress run --config "$config" --record </dev/null
  local last
  last=$(ls -td sessions/*/ | head -n 1)
  ./build/edgecompress report "$last" --html "${last%/}/report.html"
}

install_packages
[[ $mode == --packages ]] && exit 0
fetch_assets
[[ $mode == --deps ]] && exit 0
build
demo_models
demo_distilled
[[ $mode == --no-demo ]] && exit 0
demo
