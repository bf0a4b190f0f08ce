// Statistics for live runs that last for days: whole-run distributions in fixed memory (LogHistogram),
// latency percentiles over the last N values for the overlay, and rates over a time window.
#pragma once
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <deque>
#include <limits>
#include <vector>

namespace ec {

// Streaming distribution of non-negative values (ms, mJ, W) over a whole run in fixed memory (~9 KB, no
// allocation after construction): count, sum, min and max exact; quantiles from log-spaced buckets 2 % wide,
// reported at the bucket's geometric centre and clamped to [min, max], so within 1 % of the exact
// nearest-rank value for values from 1e-3 to ~3e6. Values below 1e-3 share the first bucket, above the
// range the last; negative values count as 0.
class LogHistogram {
 public:
  static constexpr double kLow = 1e-3;   // lower edge of bucket 1 (bucket 0 holds everything below)
  static constexpr double kRatio = 1.02;  // upper / lower edge of a bucket
  static constexpr size_t kBuckets = 1100;

  void add(double v) {
    if (!(v >= 0)) v = 0;  // NaN and negatives
    ++n_;
    sum_ += v;
    min_ = std::min(min_, v);
    max_ = std::max(max_, v);
    ++b_[bucket(v)];
  }
  int64_t count() const { return n_; }
  double sum() const { return sum_; }
  double mean() const { return n_ ? sum_ / static_cast<double>(n_) : 0; }
  double min() const { return n_ ? min_ : 0; }
  double max() const { return n_ ? max_ : 0; }
  // The value of nearest rank floor(q * n) (q in [0, 1]) within 1 % relative; 0 when empty.
  double quantile(double q) const {
    if (!n_) return 0;
    const int64_t rank = std::min<int64_t>(n_ - 1, static_cast<int64_t>(std::max(0.0, q) * static_cast<double>(n_)));
    int64_t seen = 0;
    for (size_t i = 0; i < kBuckets; ++i) {
      seen += b_[i];
      if (seen > rank) return std::clamp(centre(i), min_, max_);
    }
    return max_;
  }
  // Adds another histogram's values (e.g. a variant's spans across reloads).
  void merge(const LogHistogram& o) {
    for (size_t i = 0; i < kBuckets; ++i) b_[i] += o.b_[i];
    n_ += o.n_;
    sum_ += o.sum_;
    min_ = std::min(min_, o.min_);
    max_ = std::max(max_, o.max_);
  }

 private:
  static size_t bucket(double v) {
    if (v < kLow) return 0;
    const double k = std::floor(std::log(v / kLow) / std::log(kRatio)) + 1;
    return k >= static_cast<double>(kBuckets - 1) ? kBuckets - 1 : static_cast<size_t>(k);
  }
  static double centre(size_t i) { return i == 0 ? kLow / 2 : kLow * std::pow(kRatio, static_cast<double>(i) - 0.5); }

  std::array<int64_t, kBuckets> b_{};
  int64_t n_ = 0;
  double sum_ = 0, min_ = std::numeric_limits<double>::infinity(), max_ = -std::numeric_limits<double>::infinity();
};

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
