#!/usr/bin/env bash
# One command from a fresh Debian/Ubuntu (Jetson included) to a built edgecompress and its demo:
#   ./scripts/setup.sh            install packages, fetch models, build (Release), run the demo
#   ./scripts/setup.sh --no-demo  the same without the demo
#   ./scripts/setup.sh --deps     only install packages and fetch models
# Idempotent: installed packages, cached models and an up-to-date build are reused.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
mode=${1:-all}

log() { printf '[setup] %s\n' "$*"; }

packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libeigen3-dev libonnx-dev libprotobuf-dev
  libopencv-dev opencv-doc
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev gstreamer1.0-tools
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav
  libyaml-cpp-dev libi2c-dev libcli11-dev nlohmann-json3-dev libcpp-httplib-dev
  libgtest-dev libgmock-dev libbenchmark-dev libssl-dev
  gstreamer1.0-x fonts-dejavu-core curl openssl
)
# XNNPACK (with pthreadpool) gives the native engine its fast NHWC fp32/int8 kernels; where a distribution
# lacks it the engine builds with its reference kernels only and says so (`edgecompress bench`). libtorch
# (CPU) builds the training helper (finetune, distill, qat, ...); without it those steps say what they need.
# The rest is used by some tests and demos only; a distribution without one of them still builds and runs,
# and the tests that need it are skipped with a printed reason. (Ubuntu ships Chromium as chromium-browser.)
optional=(libxnnpack-dev libpthreadpool-dev dataset-fashion-mnist xvfb tesseract-ocr prometheus chromium)
# libtorch (about 250 MB installed with its libraries) is used only by the training helper edgecompress-train, never by `run`; on
# the device (aarch64: Jetson) it is installed only when asked for: EC_WITH_TORCH=1 ./scripts/setup.sh
# libtorch's matrix products go through the system BLAS: Debian's default is the reference one (about 20x
# slower training here), OpenBLAS takes over the libblas.so.3 alternative when installed.
if [[ $(uname -m) != aarch64 || ${EC_WITH_TORCH:-0} == 1 ]]; then optional+=(libtorch-dev libopenblas0-pthread); fi

install_packages() {
  local sudo=""
  if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
  local missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  # Node.js and npm fetch the models (npm pack) and run the ONNX Runtime peer; keep an existing install.
  if ! command -v npm >/dev/null 2>&1; then missing+=(nodejs npm); fi
  local opt_missing=()
  for p in "${optional[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || opt_missing+=("$p")
  done
  if [[ ${#missing[@]} -eq 0 && ${#opt_missing[@]} -eq 0 ]]; then
    log "packages: all present"
    return
  fi
  $sudo apt-get update -q
  if [[ ${#missing[@]} -gt 0 ]]; then
    log "packages: installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
  for p in "${opt_missing[@]}"; do
    if ! DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "$p" >/dev/null 2>&1; then
      if [[ $p == chromium ]] && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends chromium-browser >/dev/null 2>&1; then
        continue
      fi
      log "optional package $p is not available here: the tests that need it will be skipped"
    fi
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

demo() {
  log "demo: BlazeFace-128 on Megamind.avi, native engine vs OpenCV DNN side by side, recorded as a session"
  ./build/edgecompress inspect models/blazeface128.onnx --no-layers
  ./build/edgecompress bench --model models/blazeface128.onnx --backend native,opencv --threads "$(nproc)" --runs 50 --compare-outputs
  ./build/edgecompress run --config configs/demo.yaml --record </dev/null
  local last
  last=$(ls -td sessions/*/ | head -n 1)
  ./build/edgecompress report "$last" --html "${last%/}/report.html"
}

install_packages
fetch_assets
[[ $mode == --deps ]] && exit 0
build
[[ $mode == --no-demo ]] && exit 0
demo
