// Run statistics of one variant: whole-run distributions of every stage (streaming log histograms, fixed
// memory) and short rolling windows for the overlay's live figures.
#pragma once
#include <cstdint>

#include <nlohmann/json.hpp>

#include "stats.h"

namespace ec {

struct VariantStats {
  LogHistogram pre_ms, infer_ms, dec_ms, e2e_ms, age_ms;  // whole run
  RollingLatency r_pre, r_inf, r_dec, r_e2e;               // the last 300 frames
  int64_t frames = 0;
  double t_first = 0, t_last = 0;  // steady ms of the first and last result

  // One frame's stage times (ms): `t0` when preprocessing started, `t3` when the result was decoded.
  void add(double pre, double infer, double dec, double e2e, double age, double t0, double t3) {
    pre_ms.add(pre);
    infer_ms.add(infer);
    dec_ms.add(dec);
    e2e_ms.add(e2e);
    age_ms.add(age);
    r_pre.add(pre);
    r_inf.add(infer);
    r_dec.add(dec);
    r_e2e.add(e2e);
    if (frames++ == 0) t_first = t0;
    t_last = t3;
  }
  // Engine-only inferences per second from the rolling median (0 before the first frame).
  double live_inference_fps() const {
    const double m = r_inf.pct(0.5);
    return m > 0 ? 1000.0 / m : 0.0;
  }
};

// {"p50", "p95", "p99", "min", "max", "mean", "n"} of a whole-run distribution (null when empty).
inline nlohmann::json dist_json(const LogHistogram& h) {
  if (!h.count()) return nullptr;
  return {{"p50", h.quantile(0.5)}, {"p95", h.quantile(0.95)}, {"p99", h.quantile(0.99)}, {"min", h.min()}, {"max", h.max()}, {"mean", h.mean()},
          {"n", h.count()}};
}

}  // namespace ec
