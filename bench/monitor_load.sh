#!/usr/bin/env bash
# The monitoring endpoint under load, on loopback: does a live run keep its frame rate while it is watched,
# scraped and attacked by slow clients?
#   bench/monitor_load.sh [seconds] [pairs]
# A live run (test source 640x480 at 200 fps, one BlazeFace-128 variant, 1 thread, output none://, --http) is
# run 2*PAIRS times (default 2 pairs) for SECONDS each (default 40): every pair once without clients and once
# with bench_monitor_load's clients (200 scrapers of /metrics at 10 Hz on keep-alive connections, 20
# /stream.mjpg watchers, 20 clients sending a request head one byte a second), in alternating order so a drift
# of the shared machine counts against both. Over the same window of each run (from 4 s after the start to 4 s
# before the end) the frames processed are read from /metrics, the run's CPU time from /proc, and at the end
# of the window its peak RSS (VmHWM). Figures: processed frames per second without and with clients (bound:
# at most 5 % lower with clients), peak RSS (bound: at most 64 MB more with clients: 220 client threads'
# stacks and buffers), scrape latency, MJPEG frames per watcher, how long slow clients held on (bound: each
# cut off within request_timeout_s + 1 s).
# Printed as a table and as JSON (monitor_load.json in the work folder). Exit status 1 when a bound fails.
# EC_BIN (default build/edgecompress), EC_LOAD_BIN (default build/bench/bench_monitor_load), EC_LOAD_DIR
# (default a new temp folder), EC_LOAD_PORT (default 18290).
set -euo pipefail
seconds=${1:-40}
pairs=${2:-2}
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${EC_BIN:-$root/build/edgecompress}
load=${EC_LOAD_BIN:-$root/build/bench/bench_monitor_load}
work=${EC_LOAD_DIR:-$(mktemp -d /tmp/ec-monload.XXXXXX)}
port=${EC_LOAD_PORT:-18290}
model=$root/models/blazeface128.onnx
timeout_s=5
[[ -x $bin && -x $load ]] || { echo "monitor_load: $bin or $load: not built (./scripts/setup.sh)" >&2; exit 2; }
[[ -f $model ]] || { echo "monitor_load: $model: missing (./scripts/setup.sh)" >&2; exit 2; }
command -v curl >/dev/null || { echo "monitor_load: curl is needed" >&2; exit 2; }
"$bin" --version | grep -q '^  monitoring: libmicrohttpd' || { echo "monitor_load: this build has no monitoring (run --http): skipped" >&2; exit 77; }
[[ $seconds =~ ^[0-9]+$ && $seconds -ge 20 && $pairs =~ ^[0-9]+$ && $pairs -ge 1 ]] ||
  { echo "monitor_load: seconds '$seconds' (whole number >= 20) or pairs '$pairs' (>= 1)" >&2; exit 2; }
mkdir -p "$work"
cat >"$work/c.yaml" <<EOF
source: {uri: 'test://ball', width: 640, height: 480, fps: 200}
variants:
  - name: bf128
    model: $model
    threads: 1
    input: {resize: stretch, color: rgb, scale: 0.00784313725, mean: [1, 1, 1], std: [1, 1, 1]}
    decoder: {type: blazeface, score_threshold: 0.75, nms_iou: 0.3}
output: none://
monitor: {listen: '127.0.0.1:$port', max_connections: 512, max_connections_per_client: 0, request_timeout_s: $timeout_s}
EOF
window=$((seconds - 8))
frames() { curl -s --max-time 5 "http://127.0.0.1:$port/metrics" | awk '$1 == "ec_frames_total" { print $2 }'; }
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# one_run LABEL WITH_CLIENTS: appends "label fps cpu_ms_per_frame hwm_kb" to results, the client JSON to load.jsonl
one_run() {
  local label=$1 clients=$2 pid f0 f1 c0 c1 t0 t1 hwm lp=""
  "$bin" run -c "$work/c.yaml" --quiet --duration "$seconds" >"$work/$label.out" 2>"$work/$label.log" &
  pid=$!
  sleep 4
  f0=$(frames); c0=$(ticks $pid); t0=$(date +%s.%N)
  if [[ $clients == 1 ]]; then
    "$load" "$port" --seconds "$window" >>"$work/load.jsonl" &
    lp=$!
  fi
  sleep "$window"
  f1=$(frames); c1=$(ticks $pid); t1=$(date +%s.%N)
  hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/$pid/status")
  [[ -n $lp ]] && wait "$lp"
  wait "$pid" || { echo "monitor_load: the run failed: $(tail -2 "$work/$label.log")" >&2; exit 1; }
  [[ -n $f0 && -n $f1 ]] || { echo "monitor_load: /metrics did not answer in $label" >&2; exit 1; }
  awk -v l="$label" -v f0="$f0" -v f1="$f1" -v c0="$c0" -v c1="$c1" -v t0="$t0" -v t1="$t1" -v h="$hwm" -v hz="$(getconf CLK_TCK)" \
    'BEGIN { printf "%s %.2f %.4f %d\n", l, (f1 - f0) / (t1 - t0), 1000 * (c1 - c0) / hz / (f1 - f0), h }' >>"$work/results"
}

rm -f "$work/results" "$work/load.jsonl"
for ((i = 1; i <= pairs; i++)); do
  if ((i % 2)); then one_run "quiet$i" 0; one_run "load$i" 1; else one_run "load$i" 1; one_run "quiet$i" 0; fi
done
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
fam=$(awk -F': ' '/^cpu family/ { print $2; exit }' /proc/cpuinfo)
python3 - "$work" "$cpu (family ${fam:-?}), $(nproc) cores" "$timeout_s" <<'EOF'
import json, statistics, sys
work, cpu, timeout_s = sys.argv[1], sys.argv[2], float(sys.argv[3])
rows = [l.split() for l in open(work + "/results")]
quiet = [r for r in rows if r[0].startswith("quiet")]
loaded = [r for r in rows if r[0].startswith("load")]
clients = [json.loads(l) for l in open(work + "/load.jsonl")]
fps_q = statistics.median(float(r[1]) for r in quiet)
fps_l = statistics.median(float(r[1]) for r in loaded)
cpu_q = statistics.median(float(r[2]) for r in quiet)
cpu_l = statistics.median(float(r[2]) for r in loaded)
hwm_q = max(int(r[3]) for r in quiet) / 1024
hwm_l = max(int(r[3]) for r in loaded) / 1024
drop = (fps_q - fps_l) / fps_q
ok_fps = drop < 0.05
ok_mem = hwm_l - hwm_q < 64
scr_ok = sum(c["scrapes_ok"] for c in clients); scr_fail = sum(c["scrapes_failed"] for c in clients)
expected = sum(c["scrapers"] * c["rate_hz"] * c["seconds"] for c in clients)
cut_max = max(c["slow_cut_s_max"] for c in clients); cuts = sum(c["slow_cuts"] for c in clients)
held = max(c["slow_open_at_end_s_max"] for c in clients)
ok_slow = cuts > 0 and cut_max <= timeout_s + 1 and held <= timeout_s + 1
ok_scrape = scr_fail == 0 and scr_ok >= 0.95 * expected
out = {"cpu": cpu, "runs": len(rows), "seconds_per_window": clients[0]["seconds"], "fps_quiet": fps_q, "fps_loaded": fps_l,
       "fps_drop": drop, "cpu_ms_per_frame_quiet": cpu_q, "cpu_ms_per_frame_loaded": cpu_l, "peak_rss_mb_quiet": hwm_q,
       "peak_rss_mb_loaded": hwm_l, "scrapes_ok": scr_ok, "scrapes_expected": expected, "scrapes_failed": scr_fail,
       "scrape_ms_p50": max(c["scrape_ms"]["p50"] for c in clients), "scrape_ms_p99": max(c["scrape_ms"]["p99"] for c in clients),
       "mjpeg_frames_min": min(c["mjpeg_frames_min"] for c in clients), "mjpeg_fps_min": min(c["mjpeg_frames_min"] / c["seconds"] for c in clients),
       "slow_cuts": cuts, "slow_cut_s_min": min(c["slow_cut_s_min"] for c in clients), "slow_cut_s_max": cut_max, "slow_held_at_end_s": held,
       "request_timeout_s": timeout_s, "ok": ok_fps and ok_mem and ok_slow and ok_scrape}
json.dump(out, open(work + "/monitor_load.json", "w"), indent=1)
f = lambda ok: "ok" if ok else "FAIL"
print(f"monitor_load: {cpu}; {len(rows)} runs of {clients[0]['seconds']:.0f} s measured (medians); test source 640x480 at 200 fps, BlazeFace-128, 1 thread")
print(f"  processed fps: without clients {fps_q:.1f}, with clients {fps_l:.1f}: {-100 * drop:+.1f} % (bound: less than 5 % lower) {f(ok_fps)}")
print(f"  run CPU per frame: {cpu_q:.3f} ms without, {cpu_l:.3f} ms with clients (server and overlay/JPEG for the watchers included)")
print(f"  peak RSS: {hwm_q:.1f} MB without, {hwm_l:.1f} MB with clients (bound: +64 MB) {f(ok_mem)}")
print(f"  /metrics: {scr_ok} answered of {expected:.0f} scheduled ({clients[0]['scrapers']} scrapers at {clients[0]['rate_hz']:.0f} Hz), {scr_fail} failed, "
      f"latency p50 {out['scrape_ms_p50']:.2f} ms, p99 {out['scrape_ms_p99']:.2f} ms {f(ok_scrape)}")
print(f"  /stream.mjpg: {clients[0]['mjpeg_clients']} watchers, the slowest got {out['mjpeg_frames_min']:.0f} frames ({out['mjpeg_fps_min']:.1f} fps; the view is encoded at most 10 fps)")
print(f"  slow clients (a byte a second, {clients[0]['slow_clients']}, coming back when cut): {cuts} connections cut off after {out['slow_cut_s_min']:.1f}-{cut_max:.1f} s, "
      f"none held longer than {held:.1f} s at the end (request_timeout_s {timeout_s:.0f}; bound: +1 s) {f(ok_slow)}")
print(json.dumps(out))
sys.exit(0 if out["ok"] else 1)
EOF
