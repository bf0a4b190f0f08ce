#include "energy_attribution.h"

#include <cmath>

namespace ec {

void VariantEnergy::resolve(const power::PowerSampler& s, double baseline_w, bool final_pass,
                            const std::function<void(const EnergyWindow&, double, double, double)>& done) {
  const double have = s.latest().t_ms;
  const double margin = 2.0 * 1000.0 / s.rate_hz();
  while (pending_.size() > kMaxPending) pending_.pop_front();
  while (!pending_.empty() && (final_pass || pending_.front().t1 + margin < have)) {
    const EnergyWindow w = pending_.front();
    pending_.pop_front();
    const power::EnergyResult e = s.energy(w.t0, w.t1);
    if (e.coverage() < 0.5) continue;  // mostly a gap: not attributable
    const double gross = e.joules * 1000.0 / e.coverage();
    const double net = std::isnan(baseline_w) ? NAN : gross - baseline_w * (w.t1 - w.t0);
    gross_mj_ += gross;
    if (!std::isnan(net)) net_mj_ += net;
    window_ms_ += w.t1 - w.t0;
    ++n_;
    if (done) done(w, gross, net, e.coverage());
  }
}

}  // namespace ec
