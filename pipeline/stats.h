// Rolling statistics for the live overlay and sessions: latency percentiles over the last N values and
// rates over a time window.
#pragma once
#include <algorithm>
#include <deque>
#include <vector>

namespace ec {

// Keeps the last `capacity` values (ms) for percentiles.
class RollingLatency {
 public:
  explicit RollingLatency(size_t capacity = 300) : cap_(capacity) {}
  void add(double v) {
    v_.push_back(v);
    if (v_.size() > cap_) v_.pop_front();
  }
  // Percentile q in [0,1] of the kept values (nearest rank, floor(q*n)); 0 when empty.
  double pct(double q) const {
    if (v_.empty()) return 0;
    std::vector<double> s(v_.begin(), v_.end());
    std::sort(s.begin(), s.end());
    return s[std::min(s.size() - 1, static_cast<size_t>(q * static_cast<double>(s.size())))];
  }
  size_t size() const { return v_.size(); }

 private:
  size_t cap_;
  std::deque<double> v_;
};

// Events per second over the last `window_ms` of event times (steady-clock ms).
class RateMeter {
 public:
  explicit RateMeter(double window_ms = 2000) : win_(window_ms) {}
  void tick(double t_ms) {
    t_.push_back(t_ms);
    while (!t_.empty() && t_.front() < t_ms - win_) t_.pop_front();
  }
  double rate_hz() const {
    if (t_.size() < 2) return 0;
    return static_cast<double>(t_.size() - 1) / ((t_.back() - t_.front()) / 1000.0);
  }

 private:
  double win_;
  std::deque<double> t_;
};

}  // namespace ec
