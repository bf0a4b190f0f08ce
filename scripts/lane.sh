#!/usr/bin/env bash
# Builds and tests edgecompress as the users' machines would, on this x86 Debian machine (as root):
#   scripts/lane.sh old     Debian 11 (bullseye) amd64 chroot: the package ages of JetPack 5/6 (Ubuntu 20.04/22.04)
#   scripts/lane.sh new     Debian 13 (trixie) amd64 chroot: the generation of JetPack 7 (Ubuntu 24.04)
#   scripts/lane.sh arm64   Debian 12 arm64 sysroot, cross-compiled, tests under qemu-aarch64 twice:
#                           -cpu cortex-a57 (Nano/TX2: ARMv8.0, no fp16 arithmetic, no dot product) and -cpu max
#                           (Orin class: dot product, fp16, i8mm)
# Options: --subset (arm64: the engine/power/compress/run subset CI runs; old/new: all tests anyway)
#          --ctest "ARGS" (extra ctest arguments, e.g. -R Blaze)
# One mechanism for all lanes: a root made once with mmdebstrap and cached outside the repo
# (EC_LANES_DIR, default /var/cache/edgecompress/lanes), the working tree's files copied in, the fetched models
# and videos copied from models/ (run ./scripts/setup.sh --deps first: the lane fetches nothing itself), the
# release's packages installed by the project's own scripts/setup.sh --packages (chroot lanes), then CMake,
# the build and ctest. Exit status: ctest's.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
lane=${1:?usage: scripts/lane.sh old|new|arm64 [--subset] [--ctest ARGS]}
shift
subset=0
ctest_args=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --subset) subset=1 ;;
    --ctest) read -r -a ctest_args <<<"$2"; shift ;;
    *) echo "lane: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
cache=${EC_LANES_DIR:-/var/cache/edgecompress/lanes}
jobs=$(nproc)
log() { printf '[lane %s] %s\n' "$lane" "$*"; }
t_start=$(date +%s)
elapsed() { echo "$(( $(date +%s) - t_start )) s"; }

if [[ $(id -u) -ne 0 ]]; then echo "lane: needs root (chroot, mounts, mmdebstrap)" >&2; exit 2; fi
if [[ ! -f $root/models/blazeface128.onnx ]]; then
  echo "lane: models/ is empty: run ./scripts/setup.sh --deps first" >&2
  exit 2
fi

host_tools() {
  local need=()
  for t in "$@"; do
    dpkg-query -W -f='${Status}' "$t" 2>/dev/null | grep -q "install ok installed" || need+=("$t")
  done
  if [[ ${#need[@]} -gt 0 ]]; then
    log "installing host tools: ${need[*]}"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
  fi
}

# The working tree's files (tracked and new, not ignored) and the fetched assets, into $1.
copy_source() {
  # Only files whose content changed are rewritten (and get a new mtime): a build cached next to the copy
  # rebuilds exactly what changed. (Copying mtimes from the working tree would leave objects compiled from
  # an older copy looking newer than an edit made before them: a stale, ODR-broken build.)
  local dest=$1 stage=$1.stage
  rm -rf "$stage"
  mkdir -p "$stage" "$dest"
  (cd "$root" && git ls-files -z --cached --others --exclude-standard | xargs -0 -r -I{} sh -c 'test -e "{}" && printf "%s\0" "{}"' |
     tar --null -T - -cf -) | tar -xf - -C "$stage"
  cp -a "$root/models" "$stage/models"
  rsync -r --perms --checksum --delete --links "$stage/" "$dest/"
  rm -rf "$stage"
}

mounts=()
cleanup() {
  local i
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount -l "${mounts[i]}" 2>/dev/null || true; done
}
trap cleanup EXIT
bind() {  # bind SRC DEST [ro]
  mkdir -p "$2"
  mount --bind "$1" "$2"
  mounts+=("$2")
  if [[ ${3:-} == ro ]]; then mount -o remount,bind,ro "$2"; fi
}

chroot_lane() {
  local suite=$1 dir=$cache/$1-amd64
  host_tools mmdebstrap rsync
  if [[ ! -f $dir/.ec-root-ready ]]; then
    log "making the $suite root in $dir (once; cached)"
    rm -rf "$dir"
    mkdir -p "$cache"
    mmdebstrap --variant=apt --include=ca-certificates,apt-utils "$suite" "$dir" "deb http://deb.debian.org/debian $suite main" >/dev/null
    touch "$dir/.ec-root-ready"
  fi
  # the release as published (main), without the security archive: its pool is not reachable here, and
  # the lane is about package generations, not patch levels
  echo "deb http://deb.debian.org/debian $suite main" >"$dir/etc/apt/sources.list"
  rm -f "$dir"/etc/apt/sources.list.d/*
  log "root ready ($(elapsed))"
  copy_source "$dir/src"
  bind /proc "$dir/proc"
  bind /sys "$dir/sys"
  bind /dev "$dir/dev"
  bind /dev/pts "$dir/dev/pts"
  if [[ -d $root/../shared ]]; then bind "$root/../shared" "$dir/shared" ro; fi
  cp /etc/resolv.conf "$dir/etc/resolv.conf" 2>/dev/null || true
  rm -rf "$dir/build"
  local t=("${ctest_args[@]}")
  chroot "$dir" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
    CI="${CI:-}" EC_LANE="$lane" /bin/bash -c "
      set -euo pipefail
      cd /src
      ./scripts/setup.sh --packages
      echo '[lane $lane] cmake' \$(cmake --version | head -n 1) ', g++' \$(g++ -dumpfullversion)
      cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DEC_BUILD_BENCH=OFF
      cmake --build /build -j $jobs
      /build/edgecompress --version
      cd /build && ctest --output-on-failure --timeout 900 ${t[*]:-}
    "
}

arm64_lane() {
  host_tools mmdebstrap rsync qemu-user-static binfmt-support g++-aarch64-linux-gnu protobuf-compiler cmake ninja-build pkg-config
  local sys=$cache/bookworm-arm64-sysroot
  # the -dev packages the project builds against, and what the tests run with (GStreamer plugins, fonts)
  local pkgs=(libc6-dev libstdc++-12-dev libgomp1 libeigen3-dev libprotobuf-dev libopencv-dev libgstreamer1.0-dev
    libgstreamer-plugins-base1.0-dev gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
    gstreamer1.0-plugins-ugly gstreamer1.0-libav libyaml-cpp-dev libi2c-dev nlohmann-json3-dev
    libboost-program-options-dev zlib1g-dev libgtest-dev libgmock-dev libxnnpack-dev libpthreadpool-dev libonnx-dev
    libmicrohttpd-dev fonts-dejavu-core)
  local want="${pkgs[*]}"
  if [[ ! -f $sys/.ec-sysroot-ready || $(cat "$sys/.ec-sysroot-ready") != "$want" ]]; then
    log "making the arm64 sysroot in $sys (once; cached)"
    rm -rf "$sys"
    mkdir -p "$cache"
    mmdebstrap --variant=extract --architectures=arm64 --include="$(IFS=,; echo "${pkgs[*]}")" bookworm "$sys" >/dev/null
    echo "$want" >"$sys/.ec-sysroot-ready"
  fi
  # an extracted root runs no maintainer scripts, so update-alternatives never made these links
  local lib=$sys/usr/lib/aarch64-linux-gnu alt
  for alt in blas/libblas.so.3 lapack/liblapack.so.3; do
    if [[ -e $lib/$alt && ! -e $lib/${alt#*/} ]]; then ln -s "$alt" "$lib/${alt#*/}"; fi
  done
  log "sysroot ready ($(elapsed))"
  # aarch64 programs started by the tests (the edgecompress binary, gst-inspect) run through binfmt_misc
  if [[ ! -e /proc/sys/fs/binfmt_misc/register ]]; then mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc; fi
  update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
  if [[ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]]; then echo "lane: binfmt_misc has no qemu-aarch64 entry" >&2; exit 2; fi
  local src=$cache/arm64-src build=$cache/arm64-build
  copy_source "$src"
  # the tests find ../shared next to the source tree
  ln -sfn "$(cd "$root/.." && pwd)/shared" "$cache/shared"
  local targets=(edgecompress test_engine_kernels test_engine_kernels_reference test_engine_xnnpack test_engine_blazeface
    test_engine_onnx_io test_engine_fp16 test_power_ina3221 test_power_sysfs test_power_energy test_app_compress_cli test_app_run test_compress
    test_base_signal_thread test_pipeline_source test_app_monitor)
  cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DEC_BUILD_BENCH=OFF \
    -DCMAKE_TOOLCHAIN_FILE="$src/cmake/aarch64-linux-gnu.cmake" -DEC_SYSROOT="$sys" -DEC_TEST_TIMEOUT=1800 >/dev/null
  if [[ $subset == 1 ]]; then cmake --build "$build" -j "$jobs" --target "${targets[@]}"
  else cmake --build "$build" -j "$jobs"; fi
  log "built ($(elapsed))"
  local filter=()
  if [[ $subset == 1 ]]; then
    # kernels against naive loops, XNNPACK against the reference, BlazeFace against the x86 outputs, power on the
    # fake trees, a compress int8 recipe, a run over a file into a file, signals (the signal thread, a source
    # started while a handler interrupts it, a run under a storm of SIGHUPs)
    filter=(-R '^(reference\.|no_vnni\.)?(Binary|Conv|ConvTranspose|Gemm|MatMul|Movement|Pad|Pool|Quant|Reduce|Resize|Unary|Xnnpack|BlazeFace|Fp16|OnnxIo|Ina3221|Ina3221Emulator|Sysfs|Energy|Replay|Quantize|QuantizePass)\.|^CompressCli\.BlazeFaceInt8|^Run\.DemoProcesses|^SignalThread\.|^Source\.StartsWhile|^Run\.SignalsWhile')
  fi
  local rc=0 cpu
  for cpu in cortex-a57 max; do
    local f=("${filter[@]}")
    # what the CPU's features change is which kernels XNNPACK dispatches (NEON, dot product, fp16): with
    # --subset the Orin-class run repeats the engine's tests; the app-level ones ran on the A57 already
    if [[ $subset == 1 && $cpu == max ]]; then
      f=(-R '^(reference\.|no_vnni\.)?(Binary|Conv|ConvTranspose|Gemm|MatMul|Movement|Pad|Pool|Quant|Reduce|Resize|Unary|Xnnpack|BlazeFace|Fp16)\.')
    fi
    log "ctest under qemu-aarch64 -cpu $cpu"
    (cd "$build" && QEMU_CPU=$cpu QEMU_LD_PREFIX=$sys EC_LANE_CPU=$cpu ctest --output-on-failure --timeout 1800 "${f[@]}" "${ctest_args[@]}") || rc=1
  done
  return $rc
}

case $lane in
  old) chroot_lane bullseye ;;
  new) chroot_lane trixie ;;
  arm64) arm64_lane ;;
  *) echo "lane: unknown lane '$lane' (old, new, arm64)" >&2; exit 2 ;;
esac
log "passed ($(elapsed))"
