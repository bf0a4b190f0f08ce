// Energy attribution: variants run one after another on each frame (never concurrently), so every inference
// window [t0, t1] belongs to exactly one variant. Its energy is the trapezoid integral of board power over the
// window (gross); net energy subtracts the idle baseline power (measured before the first frame) times the
// window length. A window is resolved once the sampler has samples past its end.
#pragma once
#include <cstdint>
#include <deque>
#include <functional>

#include "sampler.h"

namespace ec {

struct EnergyWindow {
  int64_t seq;
  double t0, t1;  // steady ms
};

class VariantEnergy {
 public:
  // Windows waiting for samples are kept up to this many (a few seconds' worth at any frame rate): a sensor
  // that stops answering leaves windows nobody can resolve, and only the newest are kept.
  static constexpr size_t kMaxPending = 4096;

  // One inference window to attribute.
  void add_window(int64_t seq, double t0_ms, double t1_ms) { pending_.push_back({seq, t0_ms, t1_ms}); }
  // Resolves the windows `s` has moved past (all of them when `final_pass`); windows mostly in a sensor gap
  // (coverage < 50 %) are skipped. `done(window, gross_mJ, net_mJ (NaN without a baseline), coverage)` is
  // called for each resolved window. `baseline_w`: idle watts or NaN.
  void resolve(const power::PowerSampler& s, double baseline_w, bool final_pass,
               const std::function<void(const EnergyWindow&, double, double, double)>& done);

  int64_t inferences() const { return n_; }
  double gross_mj() const { return gross_mj_; }
  double net_mj() const { return net_mj_; }
  double window_ms() const { return window_ms_; }  // total length of the measured windows
  size_t pending() const { return pending_.size(); }

 private:
  std::deque<EnergyWindow> pending_;
  double gross_mj_ = 0, net_mj_ = 0, window_ms_ = 0;
  int64_t n_ = 0;
};

}  // namespace ec
