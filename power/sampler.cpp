#include "sampler.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>

namespace ec::power {

namespace {
double sample_watts(const PowerSample& s, const std::vector<RailInfo>& rails, int rail) {
  if (!s.ok) return NAN;
  if (rail < 0) return board_watts(s, rails);
  size_t r = static_cast<size_t>(rail);
  return r < s.rails.size() && s.rails[r].valid ? s.rails[r].watts : NAN;
}
}  // namespace

EnergyResult integrate_energy(const std::vector<PowerSample>& samples, const std::vector<RailInfo>& rails, double t0_ms,
                              double t1_ms, int rail) {
  EnergyResult r;
  r.window_ms = std::max(0.0, t1_ms - t0_ms);
  for (size_t i = 1; i < samples.size(); ++i) {
    const double ta = samples[i - 1].t_ms, tb = samples[i].t_ms;
    if (tb <= ta || tb <= t0_ms || ta >= t1_ms) continue;
    const double pa = sample_watts(samples[i - 1], rails, rail), pb = sample_watts(samples[i], rails, rail);
    if (std::isnan(pa) || std::isnan(pb)) continue;  // gap: not covered
    const double lo = std::max(ta, t0_ms), hi = std::min(tb, t1_ms);
    auto at = [&](double t) { return pa + (pb - pa) * (t - ta) / (tb - ta); };
    r.joules += 0.5 * (at(lo) + at(hi)) * (hi - lo) / 1000.0;
    r.covered_ms += hi - lo;
  }
  return r;
}

void EnergyAccumulator::add(const std::vector<PowerSample>& samples) {
  for (const PowerSample& s : samples) {
    if (have_prev_ && s.t_ms > prev_.t_ms) {
      const double dt = s.t_ms - prev_.t_ms;
      for (size_t r = 0; r < rails_.size(); ++r) {
        const double a = sample_watts(prev_, rails_, static_cast<int>(r)), b = sample_watts(s, rails_, static_cast<int>(r));
        if (std::isnan(a) || std::isnan(b)) continue;
        rail_j_[r] += 0.5 * (a + b) * dt / 1000.0;
        rail_ms_[r] += dt;
      }
      const double a = sample_watts(prev_, rails_, -1), b = sample_watts(s, rails_, -1);
      if (!std::isnan(a) && !std::isnan(b)) {
        board_j_ += 0.5 * (a + b) * dt / 1000.0;
        board_ms_ += dt;
      }
    }
    prev_ = s;
    have_prev_ = true;
  }
}

PowerSampler::PowerSampler(std::unique_ptr<PowerSensor> sensor, const SamplerOptions& opts)
    : sensor_(std::move(sensor)), capacity_(std::max<size_t>(opts.capacity, 16)) {
  const double max_rate = std::min(1000.0, 1000.0 / std::max(sensor_->update_interval_ms(), 1e-3));
  rate_hz_ = opts.rate_hz > 0 ? std::min(opts.rate_hz, max_rate) : max_rate;
  ring_.resize(capacity_);
}

PowerSampler::~PowerSampler() { stop(); }

void PowerSampler::start() {
  if (running_.exchange(true)) return;
  thread_ = std::thread([this] { loop(); });
}

void PowerSampler::stop() {
  if (!running_.exchange(false)) return;
  if (thread_.joinable()) thread_.join();
}

void PowerSampler::loop() {
  using clock = std::chrono::steady_clock;
  const auto period = std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(1.0 / rate_hz_));
  auto next = clock::now();
  PowerSample s;
  while (running_.load()) {
    bool ok = sensor_->read(s);  // sensors report failures as gaps, never throw
    s.t_ms = steady_now_ms();
    if (!ok) gaps_.fetch_add(1);
    {
      std::lock_guard<std::mutex> lock(mu_);
      ring_[count_.load() % capacity_] = s;
      count_.fetch_add(1);
    }
    next += period;
    const auto now = clock::now();
    if (next < now) next = now;  // fell behind (slow sensor): do not burst
    std::this_thread::sleep_until(next);
  }
}

std::vector<PowerSample> PowerSampler::since(uint64_t& cursor, uint64_t* lost) const {
  std::lock_guard<std::mutex> lock(mu_);
  const uint64_t n = count_.load();
  std::vector<PowerSample> r;
  uint64_t first = cursor;
  if (n > capacity_ && first < n - capacity_) {
    if (lost) *lost += n - capacity_ - first;
    first = n - capacity_;
  }
  for (uint64_t i = first; i < n; ++i) r.push_back(ring_[i % capacity_]);
  cursor = n;
  return r;
}

std::vector<PowerSample> PowerSampler::window(double t0_ms, double t1_ms) const {
  std::lock_guard<std::mutex> lock(mu_);
  const uint64_t n = count_.load();
  const uint64_t first = n > capacity_ ? n - capacity_ : 0;
  std::vector<PowerSample> r;
  for (uint64_t i = first; i < n; ++i) {
    const PowerSample& s = ring_[i % capacity_];
    const bool before = s.t_ms < t0_ms, after = s.t_ms > t1_ms;
    if (before) {
      r.clear();  // keep only the last sample before the window
      r.push_back(s);
      continue;
    }
    r.push_back(s);
    if (after) break;  // one sample after the window
  }
  return r;
}

EnergyResult PowerSampler::energy(double t0_ms, double t1_ms, int rail) const {
  return integrate_energy(window(t0_ms, t1_ms), rails(), t0_ms, t1_ms, rail);
}

PowerSample PowerSampler::latest() const {
  std::lock_guard<std::mutex> lock(mu_);
  const uint64_t n = count_.load();
  if (n == 0) {
    PowerSample s;
    s.error = "no sample yet";
    return s;
  }
  return ring_[(n - 1) % capacity_];
}

// ---- CSV ----

PowerCsvWriter::PowerCsvWriter(const std::string& path, const PowerSensor& sensor) : path_(path), rails_(sensor.rails()) {
  f_ = std::fopen(path.c_str(), "w");
  if (!f_) throw PowerError(path + ": cannot write (" + std::strerror(errno) + ")");
  std::string total;
  for (auto& r : rails_)
    if (r.is_total) total = r.name;
  std::string head = "# edgecompress power log v1\n# sensor=" + sensor.name() + (sensor.is_replay() ? " (replay)" : "") + "\n";
  if (!total.empty()) head += "# total=" + total + "\n";
  head += "t_ms,ok";
  for (auto& r : rails_) head += "," + r.name + "_V," + r.name + "_A," + r.name + "_W";
  head += ",board_W,error\n";
  if (std::fputs(head.c_str(), f_) < 0 || std::fflush(f_) != 0) throw PowerError(path + ": write failed (" + std::strerror(errno) + ")");
}

PowerCsvWriter::~PowerCsvWriter() {
  if (f_) std::fclose(f_);
}

void PowerCsvWriter::write(const std::vector<PowerSample>& samples) {
  std::string buf;
  char num[64];
  for (const PowerSample& s : samples) {
    std::snprintf(num, sizeof num, "%.3f,%d", s.t_ms, s.ok ? 1 : 0);
    buf += num;
    for (size_t i = 0; i < rails_.size(); ++i) {
      const RailReading* r = i < s.rails.size() && s.rails[i].valid ? &s.rails[i] : nullptr;
      if (r) std::snprintf(num, sizeof num, ",%.4f,%.5f,%.5f", r->volts, r->amps, r->watts);
      else std::snprintf(num, sizeof num, ",,,");
      buf += num;
    }
    const double bw = board_watts(s, rails_);
    if (std::isnan(bw)) buf += ",";
    else {
      std::snprintf(num, sizeof num, ",%.5f", bw);
      buf += num;
    }
    std::string err = s.error;
    std::replace(err.begin(), err.end(), '"', '\'');
    buf += ",\"" + err + "\"\n";
  }
  if (std::fwrite(buf.data(), 1, buf.size(), f_) != buf.size() || std::fflush(f_) != 0)
    throw PowerError(path_ + ": write failed (" + std::strerror(errno) + ")");
}

// ---- replay ----

std::vector<std::string> split_csv_line(const std::string& line) {
  std::vector<std::string> r;
  std::string cur;
  bool quoted = false;
  for (char c : line) {
    if (c == '"') quoted = !quoted;
    else if (c == ',' && !quoted) {
      r.push_back(cur);
      cur.clear();
    } else cur += c;
  }
  r.push_back(cur);
  return r;
}

namespace {

class ReplaySensor : public PowerSensor {
 public:
  ReplaySensor(std::string path, std::vector<RailInfo> rails, std::vector<PowerSample> samples, bool loop)
      : path_(std::move(path)), rails_(std::move(rails)), samples_(std::move(samples)), loop_(loop) {
    std::vector<double> dts;
    for (size_t i = 1; i < samples_.size(); ++i) dts.push_back(samples_[i].t_ms - samples_[i - 1].t_ms);
    std::sort(dts.begin(), dts.end());
    interval_ms_ = dts.empty() ? 10.0 : std::max(0.1, dts[dts.size() / 2]);
  }
  std::string name() const override { return "replay " + path_; }
  const std::vector<RailInfo>& rails() const override { return rails_; }
  double update_interval_ms() const override { return interval_ms_; }
  bool is_replay() const override { return true; }
  bool read(PowerSample& s) override {
    const double now = steady_now_ms();
    if (start_ms_ < 0) start_ms_ = now;
    const double t0 = samples_.front().t_ms, span = samples_.back().t_ms - t0 + interval_ms_;
    double rel = now - start_ms_;
    if (rel >= span && !loop_) {
      s = PowerSample{};
      s.error = "replay " + path_ + ": end of recording";
      return false;
    }
    rel = std::fmod(rel, span);
    while (idx_ + 1 < samples_.size() && samples_[idx_ + 1].t_ms - t0 <= rel) ++idx_;
    if (samples_[idx_].t_ms - t0 > rel) idx_ = 0;  // wrapped
    const double t = s.t_ms;
    s = samples_[idx_];
    s.t_ms = t;
    return s.ok;
  }

 private:
  std::string path_;
  std::vector<RailInfo> rails_;
  std::vector<PowerSample> samples_;
  bool loop_;
  double interval_ms_ = 10;
  double start_ms_ = -1;
  size_t idx_ = 0;
};

}  // namespace

std::unique_ptr<PowerSensor> open_replay_sensor(const std::string& csv_path, bool loop) {
  std::ifstream f(csv_path);
  if (!f) throw PowerError(csv_path + ": cannot open power log (" + std::strerror(errno) + ")");
  std::string line, total;
  std::vector<RailInfo> rails;
  std::vector<PowerSample> samples;
  size_t lineno = 0, ncols = 0;
  bool header = false;
  while (std::getline(f, line)) {
    ++lineno;
    if (line.empty()) continue;
    if (line[0] == '#') {
      if (line.rfind("# total=", 0) == 0) total = line.substr(8);
      continue;
    }
    auto cols = split_csv_line(line);
    if (!header) {
      if (cols.size() < 4 || cols[0] != "t_ms" || cols[1] != "ok" || (cols.size() - 4) % 3 != 0)
        throw PowerError(csv_path + ":" + std::to_string(lineno) + ": not an edgecompress power log header");
      for (size_t c = 2; c + 2 < cols.size(); c += 3) {
        std::string n = cols[c].substr(0, cols[c].size() - 2);
        rails.push_back({n, n == total});
      }
      ncols = cols.size();
      header = true;
      continue;
    }
    if (cols.size() != ncols)
      throw PowerError(csv_path + ":" + std::to_string(lineno) + ": " + std::to_string(cols.size()) + " columns, header has " +
                       std::to_string(ncols));
    PowerSample s;
    try {
      s.t_ms = std::stod(cols[0]);
      s.ok = cols[1] == "1";
      for (size_t r = 0; r < rails.size(); ++r) {
        RailReading rr;
        if (!cols[2 + 3 * r].empty()) {
          rr.volts = std::stod(cols[2 + 3 * r]);
          rr.amps = std::stod(cols[3 + 3 * r]);
          rr.watts = std::stod(cols[4 + 3 * r]);
          rr.valid = true;
        }
        s.rails.push_back(rr);
      }
    } catch (const std::exception&) {
      throw PowerError(csv_path + ":" + std::to_string(lineno) + ": malformed number");
    }
    s.error = cols.back();
    samples.push_back(s);
  }
  if (!header || samples.empty()) throw PowerError(csv_path + ": power log has no samples");
  return std::make_unique<ReplaySensor>(csv_path, rails, samples, loop);
}

}  // namespace ec::power
