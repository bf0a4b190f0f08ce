#!/usr/bin/env bash
# Soak benchmark: a live run as a board left next to a camera has it, compressed into MINUTES (default 60).
#   bench/soak.sh [minutes]
# The test source at 200 fps (640x480), two BlazeFace-128 variants, --record, --http with a scraper reading
# /metrics once a second, and every minute a reload that also switches the second variant off or on again.
# Samples (1 Hz) of the run's resident memory, CPU time and frame counters go to soak.csv; the figures:
#   - RSS after the first minute and at the end (bound: growth < 1 MB, whatever the length);
#   - CPU time per frame in the first and the last window (about 5 minutes, or a quarter of a shorter run; the
#     first minute's warm-up excluded): bound: the last at most 5 % above the first (runs under 10 minutes: 30 %,
#     their windows are too short to average a shared machine's noise: a CI run's three verdicts at 2, 3 and 4
#     minutes were +15.6, +48.1 and +16.6 % against the control with nothing accumulating, so a short run catches
#     only gross accumulation, e.g. per-frame work over what the run has kept, and the hour-long run the rest),
#     after dividing out the change of a
#     control: a fresh `edgecompress bench` process timing the same model every minute (every 5 s, 300 runs, in
#     runs under 10 minutes) beside the run, to control.csv; where the source outruns the machine (over 20 %
#     dropped), the processed frame rate gets that bound instead.
#     A shared machine's load comes in bursts of seconds that a 15-s window does not average out (seen in CI: the
#     control's medians 2.31 -> 1.78 ms between two windows 45 s apart). So each window's CPU per frame is the
#     lower quartile of its 1-s sampling intervals, taken separately for intervals with one variant running and
#     with two (an interval across a reload belongs to neither), and the control is the median of its samples'
#     fastest runs: both are the speed of the window's quieter seconds. Work that accumulates in the run raises
#     every interval, the quiet ones too, so the bound still sees it. Even so a 15-s window can be contended
#     throughout; a run under 10 minutes whose CPU or dropped-frames bound fails goes on for another minute
#     (twice at most) and is judged again with its last window at the new end: accumulated work stays, a
#     neighbour's burst passes;
#   - frames dropped by the realtime source in the same two windows; bound: no drift, the last window's no
#     more than the first's + 2 % of its frames (runs under 10 minutes: + 10 %, a shared machine's load moves
#     drops that much).
# The two windows start on a reload and span an even number of reload periods, so each holds as many minutes
# with the second variant on as off: one variant costs half of what two do, and windows with another on/off
# mix would compare different work (the 25-minute run of docs/benchmarks.md did: 2 "on" minutes of 5 against 3).
# Runs whose window is shorter than two periods keep the old windows (first after the first minute, last at
# the end).
# printed as a table and as JSON (soak.json). Exit status 1 when a bound fails.
# EC_BIN (default build/edgecompress), EC_SOAK_DIR (default a new temp folder), EC_SOAK_PORT (default 18090),
# EC_SOAK_RELOAD_S (seconds between reloads, default 60).
set -euo pipefail
minutes=${1:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${EC_BIN:-$root/build/edgecompress}
work=${EC_SOAK_DIR:-$(mktemp -d /tmp/ec-soak.XXXXXX)}
port=${EC_SOAK_PORT:-18090}
model=$root/models/blazeface128.onnx
[[ -x $bin ]] || { echo "soak: $bin: not built (./scripts/setup.sh)" >&2; exit 2; }
[[ -f $model ]] || { echo "soak: $model: missing (./scripts/setup.sh)" >&2; exit 2; }
command -v curl >/dev/null || { echo "soak: curl is needed for the /metrics scraper" >&2; exit 2; }
# exit 77 (ctest: skipped) where this build has no monitoring endpoint to scrape
"$bin" --version | grep -q '^  monitoring: libmicrohttpd' || { echo "soak: this build has no monitoring (run --http): skipped" >&2; exit 77; }
[[ $minutes =~ ^[0-9]+$ && $minutes -ge 2 ]] || { echo "soak: minutes '$minutes': a whole number >= 2" >&2; exit 2; }
mkdir -p "$work"
rm -rf "$work/session"

config() {  # config ENABLED_OF_SECOND
  cat <<EOF
source: {uri: 'test://ball', width: 640, height: 480, fps: 200}
variants:
  - name: bf128-a
    model: $model
    threads: 1
    input: {resize: stretch, color: rgb, scale: 0.00784313725, mean: [1, 1, 1], std: [1, 1, 1]}
    decoder: {type: blazeface, score_threshold: 0.75, nms_iou: 0.3}
  - name: bf128-b
    model: $model
    threads: 1
    enabled: $1
    input: {resize: stretch, color: rgb, scale: 0.00784313725, mean: [1, 1, 1], std: [1, 1, 1]}
    decoder: {type: blazeface, score_threshold: 0.75, nms_iou: 0.3}
output: none://
EOF
}
config true >"$work/c.yaml"
seconds=$((minutes * 60))
# Runs under 10 minutes may be lengthened twice by a minute to confirm a failed CPU or dropped-frames bound (see
# the end); the run is given that time and stopped with SIGTERM, as a service manager stops it, when the
# verdict is in.
extra_max=$((minutes < 10 ? 120 : 0))
ext_s=60
# The run's exit status goes to a file from a small subshell that waits for it alone: the sampling loop below
# starts thousands of short processes, and a shell may forget a background job's status among them ("wait:
# pid N is not a child of this shell", seen in the Debian 13 lane).
rm -f "$work/run.pid" "$work/run.rc"
( "$bin" run -c "$work/c.yaml" --quiet --session-dir "$work/session" --http "127.0.0.1:$port" --duration "$((seconds + extra_max + 60))" >"$work/run.out" 2>"$work/run.log" &
  echo $! >"$work/run.pid"
  wait $!
  echo $? >"$work/run.rc" ) &
while [[ ! -s $work/run.pid ]]; do sleep 0.05; done
pid=$(cat "$work/run.pid")
trap 'kill $pid 2>/dev/null || true' EXIT
start=$(date +%s.%N)
# The control: a fresh process timing the same model's engine (edgecompress bench, 1 thread, ~1 s) every
# CTRL_S seconds while the run goes on, to control.csv. A shared machine's speed drifts by several per cent in an
# hour (seen: -8 % and +7 %); what the soak looks for is the long-lived run slowing *against* a fresh engine
# timed at the same moments, so the CPU-per-frame bound applies to the run's change divided by the control's.
ctrl_s=$((minutes >= 10 ? 60 : 5))
ctrl_runs=$((minutes >= 10 ? 1000 : 300))
echo "t_s,median_ms,min_ms" >"$work/control.csv"
( sleep 5
  while kill -0 $pid 2>/dev/null; do
    t0=$(date +%s.%N)
    j=$("$bin" bench -m "$model" -t 1 -r "$ctrl_runs" -w 50 --json 2>/dev/null || true)
    med=$(grep -o '"median": [0-9.eE+-]*' <<<"$j" | head -n 1 | awk '{ print $2 }')
    mn=$(grep -o '"min": [0-9.eE+-]*' <<<"$j" | head -n 1 | awk '{ print $2 }')
    tc=$(awk -v a="$t0" -v b="$start" 'BEGIN { printf "%.1f", a - b }')
    [[ -n $med && -n $mn ]] && kill -0 $pid 2>/dev/null && echo "$tc,$med,$mn" >>"$work/control.csv"
    sleep "$ctrl_s"
  done ) >/dev/null 2>&1 &
ctrl_pid=$!
trap 'kill $pid $ctrl_pid 2>/dev/null || true' EXIT
hz=$(getconf CLK_TCK)
echo "t_s,rss_kb,cpu_ticks,frames,dropped,infer_a_s,infer_a_n,infer_b_s,infer_b_n" >"$work/soak.csv"
period=${EC_SOAK_RELOAD_S:-60}
next_reload=$period
second_on=true
# sample_until END_S: a sample a second to soak.csv, and the reloads, while the run lives, until END_S seconds
sample_until() {
  local end=$1 now t m frames dropped rss ticks inf
  while kill -0 $pid 2>/dev/null; do
    now=$(date +%s.%N)
    t=$(awk -v a="$now" -v b="$start" 'BEGIN { printf "%.1f", a - b }')
    awk -v t="$t" -v e="$end" 'BEGIN { exit !(t >= e) }' && return 0
    m=$(curl -s --max-time 2 "http://127.0.0.1:$port/metrics" || true)
    frames=$(awk '$1 == "ec_frames_total" { print $2 }' <<<"$m")
    dropped=$(awk '$1 == "ec_dropped_frames_total" { print $2 }' <<<"$m")
    rss=$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
    ticks=$(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null || true)
    # each variant's cumulative engine time and inference count: the windows' mean inference time per variant
    # tells the engine's share of a change in CPU per frame from the rest of the loop's
    inf=$(awk '$1 ~ /^ec_inference_latency_seconds_(sum|count)\{variant="bf128-[ab]"\}$/ { v[$1] = $2 }
               END { printf "%s,%s,%s,%s", v["ec_inference_latency_seconds_sum{variant=\"bf128-a\"}"] + 0, v["ec_inference_latency_seconds_count{variant=\"bf128-a\"}"] + 0,
                     v["ec_inference_latency_seconds_sum{variant=\"bf128-b\"}"] + 0, v["ec_inference_latency_seconds_count{variant=\"bf128-b\"}"] + 0 }' <<<"$m")
    if [[ -n $frames && -n $rss && -n $ticks ]]; then echo "$t,$rss,$ticks,$frames,${dropped:-0},$inf" >>"$work/soak.csv"; fi
    if awk -v t="$t" -v n="$next_reload" 'BEGIN { exit !(t >= n) }' && ((next_reload < end)); then
      if [[ $second_on == true ]]; then second_on=false; else second_on=true; fi
      config $second_on >"$work/c.yaml"
      kill -HUP $pid 2>/dev/null || true
      next_reload=$((next_reload + period))
    fi
    sleep 1
  done
}
cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
# evaluate: the figures and bounds over the samples so far (the last window ends at the last sample); exit status
# 0 when every bound holds, 2 when only the CPU or the dropped-frames bound fails (what a shared machine's load
# can do), 1 otherwise
evaluate() {
awk -F, -v minutes="$minutes" -v extra="$1" -v period="$period" -v hz="$hz" -v cpu="$cpu_model" -v out="$work/soak.json" '
FNR == 1 { next }
FILENAME ~ /control[.]csv$/ { ct[cn] = $1; cm[cn] = $3; cn++; next }
{ t[n] = $1; rss[n] = $2; cpu_t[n] = $3; fr[n] = $4; dr[n] = $5; ia[n] = $6; na[n] = $7; ib[n] = $8; nb[n] = $9; n++ }
function infer_ms(s, c, a, b) { return c[b] > c[a] ? (s[b] - s[a]) * 1000 / (c[b] - c[a]) : -1 }
function at(s,   i) { for (i = 0; i < n; i++) if (t[i] >= s) return i; return n - 1 }
# the median of the control samples (each the fastest of its runs, ms) taken from time a to b (s); the nearest
# one when none falls inside
function ctrl_ms(a, b,   i, k, v, j, x, best) {
  k = 0
  for (i = 0; i < cn; i++) if (ct[i] >= a && ct[i] <= b) v[k++] = cm[i]
  if (k == 0) {
    if (cn == 0) return -1
    best = 0
    for (i = 1; i < cn; i++) if ((ct[i] - (a + b) / 2) ^ 2 < (ct[best] - (a + b) / 2) ^ 2) best = i
    return cm[best]
  }
  for (i = 1; i < k; i++) { x = v[i]; for (j = i - 1; j >= 0 && v[j] > x; j--) v[j + 1] = v[j]; v[j + 1] = x }
  return k % 2 ? v[int(k / 2)] : (v[k / 2 - 1] + v[k / 2]) / 2
}
function per_frame(a, b) { return fr[b] > fr[a] ? (cpu_t[b] - cpu_t[a]) / hz * 1000 / (fr[b] - fr[a]) : -1 }
# the lower quartile of CPU per frame (ms) over the 1-s sampling intervals from sample a to b in which the second
# variant ran on every frame (two = 1) or on none (two = 0); -1 with fewer than 3 such intervals. Sets q_n.
function quiet_per_frame(a, b, two,   i, k, v, j, x, df, db) {
  k = 0
  for (i = a + 1; i <= b; i++) {
    df = fr[i] - fr[i - 1]; db = nb[i] - nb[i - 1]
    if (df <= 0) continue
    if ((two && db >= 0.9 * df) || (!two && db == 0)) v[k++] = (cpu_t[i] - cpu_t[i - 1]) / hz * 1000 / df
  }
  q_n = k
  if (k < 3) return -1
  for (i = 1; i < k; i++) { x = v[i]; for (j = i - 1; j >= 0 && v[j] > x; j--) v[j + 1] = v[j]; v[j + 1] = x }
  return v[int((k - 1) / 4)]
}
END {
  if (n < 60) { print "soak: only " n " samples"; exit 1 }
  total = t[n - 1]
  target = minutes >= 20 ? 300 : (total - 60) / 4
  if (2 * period <= target) {
    # whole pairs of reload periods, from the first reload after the warm-up minute; the last window starts an
    # even number of periods after the first, so the two see the same on/off phases in the same order
    win = 2 * period * int(target / (2 * period))
    f_s = period * int((60 + period - 1) / period)
    l_s = f_s + 2 * period * int((total - win - f_s) / (2 * period))
    aligned = 1
  } else { win = target; f_s = 60; l_s = total - win; aligned = 0 }
  i60 = at(60); rss_growth_mb = (rss[n - 1] - rss[i60]) / 1024
  f0 = at(f_s); f1 = at(f_s + win); l0 = at(l_s); l1 = at(l_s + win)
  cpu_first = per_frame(f0, f1); cpu_last = per_frame(l0, l1)
  # the bounded figure: per phase (one variant, two), the quiet seconds of each window; the larger change of the
  # phases both windows hold; the figure of the whole windows where neither phase is in both
  cpu_change = -1e9; phases = ""
  for (ph = 0; ph <= 1; ph++) {
    qf[ph] = quiet_per_frame(f0, f1, ph); nf[ph] = q_n; ql[ph] = quiet_per_frame(l0, l1, ph); nl[ph] = q_n
    if (qf[ph] > 0 && ql[ph] > 0) {
      c = (ql[ph] - qf[ph]) / qf[ph]; if (c > cpu_change) cpu_change = c
      phases = phases sprintf("%s%s: %.3f ms (%d s) -> %.3f ms (%d s), %+.1f %%", phases == "" ? "" : "; ", ph ? "two variants" : "one variant", qf[ph], nf[ph], ql[ph], nl[ph], 100 * c)
    }
  }
  if (phases == "") { cpu_change = cpu_first > 0 ? (cpu_last - cpu_first) / cpu_first : 0; phases = "no phase in both windows: whole windows" }
  cpu_bound = minutes >= 10 ? 0.05 : 0.30
  # the drift of the machine itself, from the fresh-process control timed in the same windows
  ctrl_first = ctrl_ms(t[f0], t[f1]); ctrl_last = ctrl_ms(t[l0], t[l1])
  ctrl_change = (ctrl_first > 0 && ctrl_last > 0) ? ctrl_last / ctrl_first - 1 : 0
  cpu_vs = (1 + cpu_change) / (1 + ctrl_change) - 1
  # a machine that cannot keep up with the source (over 20 % of its frames dropped) spends CPU on frames it
  # then drops, so CPU per processed frame follows the drop rate; there the steady quantity is the processed
  # frame rate, and that is what gets the bound
  fps_first = (fr[f1] - fr[f0]) / (t[f1] - t[f0]); fps_last = (fr[l1] - fr[l0]) / (t[l1] - t[l0])
  drop_frac_first = (dr[f1] - dr[f0]) / (dr[f1] - dr[f0] + fr[f1] - fr[f0] + 1e-9)
  drop_frac_last = (dr[l1] - dr[l0]) / (dr[l1] - dr[l0] + fr[l1] - fr[l0] + 1e-9)
  saturated = drop_frac_first > 0.2 || drop_frac_last > 0.2
  if (aligned) { wd = win; d_first = dr[f1] - dr[f0]; fr_first = fr[f1] - fr[f0]; d_last = dr[l1] - dr[l0]; fr_last = fr[l1] - fr[l0] }
  else {
    wd = (total - 60) / 2
    d_first = dr[at(60 + wd)] - dr[at(60)]; fr_first = fr[at(60 + wd)] - fr[at(60)]
    d_last = dr[n - 1] - dr[at(total - wd)]; fr_last = fr[n - 1] - fr[at(total - wd)]
  }
  ok_rss = rss_growth_mb < 1.0
  fps_change = fps_first > 0 ? (fps_last - fps_first) / fps_first : 0
  fps_vs = (1 + fps_change) * (1 + ctrl_change) - 1
  # one-sided: what the soak looks for is work that accumulates (a history sorted again, a queue that grows),
  # which can only raise CPU per frame or lower the processed rate; the other direction is the shared machine
  # getting faster (seen: -8 % over an hour, engine and the rest alike)
  ok_cpu = saturated ? (fps_vs > -cpu_bound) : (cpu_vs < cpu_bound)
  # drops depend on what else the machine does: a short run allows 10 points more of its frames, a long one 2;
  # where the source outruns the machine, most offered frames are dropped and the share is of what was offered
  # (the processed rate carries the bound there, as for CPU)
  drop_bound = minutes >= 10 ? 0.02 : 0.10
  ok_drop = d_last <= d_first + drop_bound * (saturated ? fr_last + d_last : fr_last)
  if (extra > 0) printf "soak, lengthened by %d s to confirm the failed bound below:\n", extra
  printf "soak: %d min, %s, test source 640x480 at 200 fps, 2 x BlazeFace-128 (1 thread each), --record, /metrics at 1 Hz, reload + toggle every %d s\n", minutes, cpu, period
  printf "  windows: first %.0f-%.0f s, last %.0f-%.0f s (%s)\n", t[f0], t[f1], t[l0], t[l1], aligned ? "whole pairs of reload periods: the same on/off mix" : "shorter than two reload periods: not aligned"
  printf "  RSS after 1 min %.1f MB, at the end %.1f MB: growth %.3f MB (bound < 1 MB) %s\n", rss[i60] / 1024, rss[n - 1] / 1024, rss_growth_mb, ok_rss ? "ok" : "FAIL"
  if (ctrl_first > 0) printf "  control (a fresh process timing the same engine, 1 thread, median of the fastest run of each of its samples in a window): %.3f ms -> %.3f ms: %+.1f %% (the drift of the machine)\n", ctrl_first, ctrl_last, 100 * ctrl_change
  else printf "  control: no sample (the bound applies to the raw change)\n"
  if (saturated) {
    printf "  CPU per frame: first %.0f s %.3f ms, last %.0f s %.3f ms: %+.1f %% (not bounded: the source outruns this machine, %.0f %% / %.0f %% dropped)\n", win, cpu_first, win, cpu_last, 100 * cpu_change, 100 * drop_frac_first, 100 * drop_frac_last
    printf "  processed frames per second: first %.1f, last %.1f: %+.1f %%, %+.1f %% against the control (bound: no more than %.0f %% lower) %s\n", fps_first, fps_last, 100 * fps_change, 100 * fps_vs, 100 * cpu_bound, ok_cpu ? "ok" : "FAIL"
  } else
    printf "  CPU per frame, whole windows (not bounded): first %.0f s %.3f ms, last %.0f s %.3f ms: %+.1f %%\n", win, cpu_first, win, cpu_last, 100 * (cpu_first > 0 ? (cpu_last - cpu_first) / cpu_first : 0)
    printf "  CPU per frame, lower quartile of the 1-s intervals: %s\n", phases
    printf "    the larger change %+.1f %%, %+.1f %% against the control (bound: at most +%.0f %%) %s\n", 100 * cpu_change, 100 * cpu_vs, 100 * cpu_bound, ok_cpu ? "ok" : "FAIL"
  printf "  mean inference per call (engine only, not bounded): bf128-a %.3f -> %.3f ms, bf128-b %.3f -> %.3f ms\n", infer_ms(ia, na, f0, f1), infer_ms(ia, na, l0, l1), infer_ms(ib, nb, f0, f1), infer_ms(ib, nb, l0, l1)
  if (aligned) printf "  dropped frames: first window %d of %d, last %d of %d (%.1f / %.1f per minute) %s\n", d_first, fr_first, d_last, fr_last, d_first * 60 / wd, d_last * 60 / wd, ok_drop ? "ok" : "FAIL"
  else printf "  dropped frames: first %.0f s after the first minute %d of %d, last %.0f s %d of %d %s\n", wd, d_first, fr_first, wd, d_last, fr_last, ok_drop ? "ok" : "FAIL"
  printf "  frames %d in %.0f s (%.1f fps)\n", fr[n - 1], total, fr[n - 1] / total
  printf "{\"minutes\": %d, \"cpu\": \"%s\", \"rss_mb_after_1min\": %.3f, \"rss_mb_end\": %.3f, \"rss_growth_mb\": %.3f, \"cpu_ms_per_frame_first\": %.4f, \"cpu_ms_per_frame_last\": %.4f, \"cpu_change\": %.4f, \"control_ms_first\": %.4f, \"control_ms_last\": %.4f, \"control_change\": %.4f, \"cpu_change_vs_control\": %.4f, \"saturated\": %s, \"fps_first\": %.2f, \"fps_last\": %.2f, \"window_s\": %.0f, \"first_window_start_s\": %.1f, \"last_window_start_s\": %.1f, \"aligned\": %s, \"drop_window_s\": %.0f, \"dropped_first\": %d, \"dropped_last\": %d, \"frames\": %d, \"ok\": %s}\n", minutes, cpu, rss[i60] / 1024, rss[n - 1] / 1024, rss_growth_mb, cpu_first, cpu_last, cpu_change, ctrl_first, ctrl_last, ctrl_change, cpu_vs, saturated ? "true" : "false", fps_first, fps_last, win, t[f0], t[l0], aligned ? "true" : "false", wd, d_first, d_last, fr[n - 1], (ok_rss && ok_cpu && ok_drop) ? "true" : "false" > out
  exit (ok_rss && ok_cpu && ok_drop) ? 0 : (ok_rss ? 2 : 1)
}' "$work/control.csv" "$work/soak.csv"
}
# The verdict. A short run's windows are 15 s, and a shared machine's load can slow a whole one (seen in CI on
# the Debian 11 lane: the last window's quiet seconds 18 % slower than the first's and its dropped frames 2.3
# times as many, while the fresh process's fastest runs had not changed: +0.1 %). Work that accumulates in the run does not go away, so where only the CPU
# or the dropped-frames bound fails, the run goes on for another minute and is judged again with its last
# window at the new end (and all windows a quarter of the longer run): it passes only when a later window holds
# the bound. The memory bound is never retried.
end=$seconds
sample_until $end
while :; do
  set +e; evaluate $((end - seconds)); verdict=$?; set -e
  if ((verdict == 2 && end < seconds + extra_max)) && kill -0 $pid 2>/dev/null; then
    end=$((end + ext_s))
    echo "soak: a bound that the machine's load can break failed: running to $end s to judge again"
    sample_until $end
    continue
  fi
  break
done
kill -TERM $pid 2>/dev/null || true
kill $ctrl_pid 2>/dev/null || true
wait || true
rc=$(cat "$work/run.rc" 2>/dev/null || echo "unknown")
[[ $rc == 0 ]] || { echo "soak: the run failed (exit status $rc):" >&2; tail -n 5 "$work/run.log" >&2; exit 1; }
trap - EXIT
echo "  samples: $work/soak.csv, figures: $work/soak.json, session: $work/session"
((verdict == 0)) || exit 1
