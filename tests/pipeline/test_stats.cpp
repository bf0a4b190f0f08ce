// Whole-run statistics in fixed memory: LogHistogram's quantiles against the exact nearest-rank values of
// the same data, for the shapes latencies really have (log-normal, bimodal, constant, with outliers).
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "stats.h"

using namespace ec;

namespace {

double exact(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
}

void expect_within_1pct(const std::vector<double>& v, const char* what) {
  LogHistogram h;
  for (double x : v) h.add(x);
  ASSERT_EQ(h.count(), static_cast<int64_t>(v.size()));
  for (double q : {0.0, 0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0}) {
    const double e = exact(v, q);
    EXPECT_LE(std::fabs(h.quantile(q) - e), 0.01 * e) << what << " q " << q << ": " << h.quantile(q) << " vs exact " << e;
  }
  EXPECT_EQ(h.min(), *std::min_element(v.begin(), v.end()));
  EXPECT_EQ(h.max(), *std::max_element(v.begin(), v.end()));
  double sum = 0;
  for (double x : v) sum += x;
  EXPECT_NEAR(h.mean(), sum / static_cast<double>(v.size()), 1e-12 * sum);
}

}  // namespace

TEST(Stats, LogHistogramQuantilesWithinOnePercent) {
  std::mt19937 rng(7);
  std::lognormal_distribution<double> lat(std::log(8.0), 0.4);  // ~8 ms inference with a long tail
  std::vector<double> v;
  for (int i = 0; i < 200000; ++i) v.push_back(lat(rng));
  expect_within_1pct(v, "log-normal");
  std::vector<double> bi;  // two modes (a variant switched between threads), plus stalls of seconds
  std::normal_distribution<double> a(2.0, 0.05), b(30.0, 1.0);
  for (int i = 0; i < 50000; ++i) bi.push_back(i % 3 ? a(rng) : b(rng));
  for (int i = 0; i < 20; ++i) bi.push_back(2500.0 + i);
  expect_within_1pct(bi, "bimodal with stalls");
  expect_within_1pct(std::vector<double>(1000, 0.25), "constant");
  expect_within_1pct({0.004, 0.3, 17.0, 90000.0}, "four values across seven decades");
}

TEST(Stats, LogHistogramMemoryIsFixedAndMergeAddsRuns) {
  LogHistogram a, b, all;
  const size_t before = sizeof a;  // no heap: the object is all there is
  for (int i = 1; i <= 100000; ++i) {
    const double x = 0.5 + (i % 997) * 0.01;
    (i % 2 ? a : b).add(x);
    all.add(x);
  }
  EXPECT_EQ(sizeof a, before);
  EXPECT_LT(sizeof a, 10000u);
  a.merge(b);
  EXPECT_EQ(a.count(), all.count());
  for (double q : {0.05, 0.5, 0.95}) EXPECT_EQ(a.quantile(q), all.quantile(q));
  LogHistogram empty;
  EXPECT_EQ(empty.quantile(0.5), 0.0);
  EXPECT_EQ(empty.count(), 0);
  empty.add(-3.0);  // a clock step backwards counts as 0, never as a negative latency
  EXPECT_EQ(empty.min(), 0.0);
}
