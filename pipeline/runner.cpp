#include "runner.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <deque>
#include <thread>

#include "engine.h"
#include "error.h"
#include "onnx_io.h"
#include "fidelity.h"
#include "overlay.h"
#include <opencv2/core/version.hpp>
#include <opencv2/imgcodecs.hpp>
#include "recorder.h"
#include "stats.h"

namespace ec {

namespace {

double now_ms() { return power::steady_now_ms(); }

std::string utc_now() {
  char b[32];
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return b;
}

// A whole-run distribution for summary.json (quantiles within 1 % relative: LogHistogram).
nlohmann::json dist(const LogHistogram& h) {
  if (!h.count()) return nullptr;
  return {{"p50", h.quantile(0.5)}, {"p95", h.quantile(0.95)}, {"p99", h.quantile(0.99)}, {"min", h.min()}, {"max", h.max()}, {"mean", h.mean()},
          {"n", h.count()}};
}

// Inference windows waiting for power samples, per variant (a few seconds' worth at any frame rate).
constexpr size_t kMaxPendingEnergy = 4096;

struct EnergyWindow {
  int64_t seq;
  double t0, t1;
};

}  // namespace

struct Pipeline::Variant {
  VariantConfig cfg;
  std::unique_ptr<Engine> engine;
  std::unique_ptr<Preprocessor> pre;
  std::unique_ptr<Decoder> dec;
  size_t model_bytes = 0;
  int64_t params = 0;
  std::string recipe;  // how the model was made: the edgecompress recipe in its metadata, "" for an original
  Result result;
  LogHistogram pre_ms, infer_ms, dec_ms, e2e_ms, age_ms;  // whole run, fixed memory
  RollingLatency r_pre, r_inf, r_dec, r_e2e;
  std::deque<EnergyWindow> pending;
  double gross_mj = 0, net_mj = 0, energy_ms = 0;
  int64_t energy_n = 0;
  int64_t frames = 0;
  double t_first = 0, t_last = 0;  // steady ms of its first and last result
  size_t color = 0;
  FidelityAccumulator quality;  // against the reference variant on the frames both ran (bounded memory)
  std::string quality_ref;      // the reference it was scored against

  // Carries the run's statistics of `o` (the same variant before a reload) over to this one.
  void take_stats(Variant& o) {  // (recipe, model_bytes, params: from the new load)
    pre_ms = o.pre_ms;
    infer_ms = o.infer_ms;
    dec_ms = o.dec_ms;
    e2e_ms = o.e2e_ms;
    age_ms = o.age_ms;
    r_pre = o.r_pre;
    r_inf = o.r_inf;
    r_dec = o.r_dec;
    r_e2e = o.r_e2e;
    pending.swap(o.pending);
    gross_mj = o.gross_mj;
    net_mj = o.net_mj;
    energy_ms = o.energy_ms;
    energy_n = o.energy_n;
    frames = o.frames;
    t_first = o.t_first;
    t_last = o.t_last;
    quality = o.quality;
    quality_ref = o.quality_ref;
  }
};

struct Pipeline::Impl {
  RunMetrics* metrics = nullptr;
  RunConfig cfg;
  std::unique_ptr<power::PowerSampler> sampler;
  std::string power_note;
  std::vector<std::unique_ptr<Variant>> variants;
  std::unique_ptr<FrameSource> source;
  std::unique_ptr<FrameSink> sink;
  std::unique_ptr<SessionRecorder> rec;
  double baseline_w = NAN;
  uint64_t power_cursor = 0;
  LogHistogram read_ms, overlay_ms, output_ms, loop_ms;
  RateMeter fps{2000};
  int64_t frames = 0;
  int64_t reconnects = 0;
  std::string status, started_utc, end_reason = "running";
  double t_start = 0, t_first = 0, t_last = 0;
  cv::Mat composed, canvas;
  cv::Size canvas_size;  // fixed for the run at the first frame: the output never changes size
  std::vector<nlohmann::json> retired;  // variants a reload removed, with their figures (newest kept)
  int64_t retired_dropped = 0;
  int64_t events_total = 0;
  std::deque<nlohmann::json> recent_events;

  std::unique_ptr<Variant> make_variant(const VariantConfig& vc, size_t index) {
    auto v = std::make_unique<Variant>();
    v->cfg = vc;
    v->color = index;
    Model m = load_onnx(vc.model);
    struct stat st {};
    if (stat(vc.model.c_str(), &st) == 0) v->model_bytes = static_cast<size_t>(st.st_size);
    for (auto& kv : m.graph.initializers) v->params += kv.second.numel();
    auto made = m.metadata.find("edgecompress.recipe");
    if (made != m.metadata.end()) {
      auto src = m.metadata.find("edgecompress.source_model");
      v->recipe = made->second + (src != m.metadata.end() ? " of " + src->second : std::string());
    }
    EngineOptions eo;
    eo.threads = vc.threads;
    eo.device = vc.device;
    eo.yield_threads = true;  // capture and decoding run between inferences on the same cores
    v->engine = create_engine(vc.backend, m, eo);
    std::map<std::string, Shape> shapes;
    if (!vc.shape.empty()) shapes[m.graph.inputs.at(0).name] = vc.shape;
    v->engine->prepare(shapes);
    if (v->engine->num_inputs() != 1) throw Error(vc.model + ": the pipeline feeds single-input image models");
    try {
      v->pre = std::make_unique<Preprocessor>(vc.input, v->engine->input(0).shape());
      v->dec = make_decoder(vc.decoder, v->pre->width(), v->pre->height());
    } catch (const Error& e) {
      throw Error("variant '" + vc.name + "': " + e.what());
    }
    return v;
  }

  // Builds the configured variants (engines loaded again, so edited decoder and input settings apply). On a
  // reload, a variant with the same name, model, backend, threads, device and shape carries its statistics
  // on; the others that ran are kept as retired figures.
  void build_variants() {
    auto same = [](const VariantConfig& a, const VariantConfig& b) {
      return a.name == b.name && a.model == b.model && a.backend == b.backend && a.threads == b.threads && a.device == b.device && a.shape == b.shape;
    };
    std::vector<std::unique_ptr<Variant>> vs;
    for (size_t i = 0; i < cfg.variants.size(); ++i) vs.push_back(make_variant(cfg.variants[i], i));  // throws: the caller keeps the running set
    std::vector<bool> reused(variants.size(), false);
    for (auto& v : vs)
      for (size_t k = 0; k < variants.size(); ++k)
        if (!reused[k] && same(variants[k]->cfg, v->cfg)) {
          reused[k] = true;
          v->take_stats(*variants[k]);
          break;
        }
    for (size_t k = 0; k < variants.size(); ++k)
      if (!reused[k] && variants[k] && variants[k]->frames > 0) {
        retired.push_back(variant_json(*variants[k], true));
        if (retired.size() > 64) {
          retired.erase(retired.begin());
          ++retired_dropped;
        }
      }
    variants = std::move(vs);
    for (auto& v : variants) metrics->set_variant_info(v->cfg.name, v->cfg.model, v->cfg.backend, v->cfg.threads, v->model_bytes);
  }

  // A light live status for monitoring (rolling windows, no full-history sorts).
  nlohmann::json live_status(const Frame& f) const {
    nlohmann::json j;
    j["source"] = cfg.source_uri;
    j["frame"] = f.seq;
    j["frames"] = frames;
    j["pipeline_fps"] = const_cast<RateMeter&>(fps).rate_hz();
    j["dropped_frames"] = source ? source->dropped() : 0;
    j["uptime_s"] = (now_ms() - t_start) / 1000.0;
    j["status"] = status.empty() ? std::string("running") : status;
    j["layout"] = cfg.layout;
    j["session"] = rec ? rec->dir() : std::string();
    for (const auto& v : variants) {
      if (!v->cfg.enabled) continue;
      nlohmann::json vj = {{"name", v->cfg.name}, {"backend", v->cfg.backend}, {"threads", v->cfg.threads}, {"model_bytes", v->model_bytes},
                           {"frames", v->frames}, {"inference_ms_p50", v->r_inf.pct(0.5)}, {"inference_ms_p95", v->r_inf.pct(0.95)},
                           {"e2e_ms_p50", v->r_e2e.pct(0.5)}, {"e2e_ms_p95", v->r_e2e.pct(0.95)},
                           {"inference_fps", v->r_inf.pct(0.5) > 0 ? 1000.0 / v->r_inf.pct(0.5) : 0.0},
                           {"detections", v->result.detections.size()}};
      vj["energy_mj_per_inference"] = v->energy_n ? nlohmann::json(v->gross_mj / static_cast<double>(v->energy_n)) : nlohmann::json(nullptr);
      j["variants"].push_back(vj);
    }
    if (sampler) {
      const power::PowerSample s = sampler->latest();
      j["power"]["sensor"] = sampler->sensor().name();
      j["power"]["replay"] = sampler->sensor().is_replay();
      for (size_t i = 0; i < sampler->rails().size() && i < s.rails.size(); ++i)
        if (s.rails[i].valid)
          j["power"]["rails"].push_back({{"name", sampler->rails()[i].name}, {"total", sampler->rails()[i].is_total}, {"volts", s.rails[i].volts},
                                         {"amps", s.rails[i].amps}, {"watts", s.rails[i].watts}});
      const double bw = power::board_watts(s, sampler->rails());
      j["power"]["board_watts"] = std::isnan(bw) ? nlohmann::json(nullptr) : nlohmann::json(bw);
    } else {
      j["power"] = {{"sensor", nullptr}, {"note", power_note}};
    }
    return j;
  }

  void update_metrics() {
    metrics->set_pipeline(fps.rate_hz(), source ? source->dropped() : 0, static_cast<uint64_t>(frames));
    for (const auto& v : variants)
      if (v.get() != reference() && !v->quality_ref.empty())
        metrics->set_quality(v->cfg.name, v->quality_ref, v->quality.map50(), v->quality.mean_iou(), v->quality.top1_agreement());
    if (!sampler) return;
    const power::PowerSample s = sampler->latest();
    std::map<std::string, RailMetrics> rails;
    for (size_t i = 0; i < sampler->rails().size() && i < s.rails.size(); ++i)
      rails[sampler->rails()[i].name] = {s.rails[i].volts, s.rails[i].amps, s.rails[i].watts, s.rails[i].valid, sampler->rails()[i].is_total};
    const double bw = power::board_watts(s, sampler->rails());
    metrics->set_power(sampler->sensor().name(), sampler->sensor().is_replay(), rails, std::isnan(bw) ? -1 : bw);
  }

  void log(const std::string& s) const {
    if (!cfg.quiet) std::fprintf(stderr, "%s\n", s.c_str());
  }

  // Energy of inference windows the sampler has moved past.
  void resolve_energy(bool final_pass) {
    if (!sampler) return;
    const double have = sampler->latest().t_ms;
    const double margin = 2.0 * 1000.0 / sampler->rate_hz();
    for (auto& v : variants) {
      // a sensor that stopped answering leaves windows nobody can resolve: keep the newest only
      while (v->pending.size() > kMaxPendingEnergy) v->pending.pop_front();
      while (!v->pending.empty() && (final_pass || v->pending.front().t1 + margin < have)) {
        const EnergyWindow w = v->pending.front();
        v->pending.pop_front();
        const power::EnergyResult e = sampler->energy(w.t0, w.t1);
        if (e.coverage() < 0.5) continue;  // mostly a gap: not attributable
        const double gross = e.joules * 1000.0 / e.coverage();
        const double net = std::isnan(baseline_w) ? NAN : gross - baseline_w * (w.t1 - w.t0);
        v->gross_mj += gross;
        if (!std::isnan(net)) v->net_mj += net;
        v->energy_ms += w.t1 - w.t0;
        ++v->energy_n;
        metrics->record_energy(v->cfg.name, gross / 1000.0);
        if (rec) rec->energy(v->cfg.name, w.seq, w.t0, w.t1, gross, net, e.coverage());
      }
    }
    if (rec) rec->power(sampler->since(power_cursor));
  }

  nlohmann::json summary() const {
    nlohmann::json j;
    const double dur = t_last > t_first ? (t_last - t_first) / 1000.0 : 0;
    j["session"] = {{"name", cfg.session_name},
                    {"dir", rec ? rec->dir() : std::string()},
                    {"source", cfg.source_uri},
                    {"started_utc", started_utc},
                    {"duration_s", dur},
                    {"frames", frames},
                    {"pipeline_fps", dur > 0 && frames > 1 ? static_cast<double>(frames - 1) / dur : 0.0},
                    {"dropped_frames", source ? source->dropped() : 0},
                    {"reconnects", reconnects},
                    {"status", end_reason},
                    {"recording", rec ? nlohmann::json{{"bytes", rec->bytes()},
                                                       {"max_mb", cfg.session_max_mb > 0 ? nlohmann::json(cfg.session_max_mb) : nlohmann::json(nullptr)},
                                                       {"stopped", rec->stopped().empty() ? nlohmann::json(nullptr) : nlohmann::json(rec->stopped())}}
                                      : nlohmann::json(nullptr)},
                    {"layout", cfg.layout},
                    {"power_sensor", sampler ? sampler->sensor().name() : power_note},
                    {"power_replay", sampler ? sampler->sensor().is_replay() : false},
                    {"baseline_w", std::isnan(baseline_w) ? nlohmann::json(nullptr) : nlohmann::json(baseline_w)}};
    j["stages_ms"] = {{"capture_read", dist(read_ms)}, {"overlay", dist(overlay_ms)}, {"output", dist(output_ms)}, {"loop", dist(loop_ms)}};
    for (const auto& v : variants) j["variants"].push_back(variant_json(*v, false));
    for (const auto& r : retired) j["variants"].push_back(r);
    if (retired_dropped) j["variants_not_listed"] = retired_dropped;
    nlohmann::json last = nlohmann::json::array();
    for (const auto& e : recent_events) last.push_back(e);
    j["events"] = {{"count", events_total}, {"last", last}};
    return j;
  }

  // The variant others are scored against: the one marked `reference`, else the first.
  const Variant* reference() const {
    for (const auto& v : variants)
      if (v->cfg.reference) return v.get();
    return variants.empty() ? nullptr : variants.front().get();
  }

  // Scores every other variant that ran on this frame against the reference's result: detections as ground
  // truth (mAP@0.5, IoU of matches), or top-1 agreement for classifiers.
  void score_quality() {
    const Variant* ref = reference();
    if (!ref || !ref->cfg.enabled) return;
    for (auto& vp : variants) {
      Variant& v = *vp;
      if (&v == ref || !v.cfg.enabled) continue;
      if (v.quality_ref != ref->cfg.name) {  // a new reference (reload): start again
        v.quality = FidelityAccumulator();
        v.quality_ref = ref->cfg.name;
      }
      if (!ref->result.classes.empty() && !v.result.classes.empty()) v.quality.add_classes(ref->result.classes.front().class_id, v.result.classes.front().class_id);
      else v.quality.add_detections(ref->result.detections, v.result.detections);
    }
  }

  static nlohmann::json num_or_null(double x) { return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(nullptr); }

  // {"reference": name, "frames": n, "map50", "mean_iou", "top1_agreement"} (null where it does not apply),
  // or {"is_reference": true}.
  nlohmann::json quality_json(const Variant& v) const {
    if (&v == reference()) return {{"is_reference", true}};
    if (v.quality_ref.empty()) return nullptr;
    const FidelityAccumulator& q = v.quality;
    const int64_t n = q.frames > 0 ? q.frames : 0;
    return {{"reference", v.quality_ref}, {"frames", n}, {"reference_boxes", q.gt}, {"map50", num_or_null(q.map50())},
            {"mean_iou", num_or_null(q.mean_iou())}, {"top1_agreement", num_or_null(q.top1_agreement())}};
  }

  // One variant's whole-run figures; `ended`: it was removed by a reload (its span ends now).
  nlohmann::json variant_json(const Variant& v, bool ended) const {
    const double t0 = v.t_first > 0 ? (v.t_first - t_first) / 1000.0 : 0;
    nlohmann::json vj = {{"name", v.cfg.name},
                         {"model", v.cfg.model},
                         {"backend", v.cfg.backend},
                         {"threads", v.cfg.threads},
                         {"model_bytes", v.model_bytes},
                         {"params", v.params},
                         {"made_by", v.recipe.empty() ? nlohmann::json(nullptr) : nlohmann::json(v.recipe)},
                         {"frames", v.frames},
                         {"enabled", v.cfg.enabled},
                         {"span_s", {{"from", v.frames ? nlohmann::json(t0) : nlohmann::json(nullptr)},
                                     {"to", ended ? nlohmann::json((v.t_last - t_first) / 1000.0) : nlohmann::json(nullptr)}}},
                         {"removed_by_reload", ended},
                         {"quality", quality_json(v)},
                         {"latency_ms", {{"preprocess", dist(v.pre_ms)}, {"inference", dist(v.infer_ms)}, {"decode", dist(v.dec_ms)},
                                         {"e2e", dist(v.e2e_ms)}, {"frame_age", dist(v.age_ms)}}}};
    const double inf_mean = v.infer_ms.mean();
    vj["inference_fps"] = inf_mean > 0 ? 1000.0 / inf_mean : 0.0;
    if (v.energy_n > 0) {
      vj["energy"] = {{"inferences_measured", v.energy_n},
                      {"gross_mj_per_inference", v.gross_mj / static_cast<double>(v.energy_n)},
                      {"net_mj_per_inference", std::isnan(baseline_w) ? nlohmann::json(nullptr) : nlohmann::json(v.net_mj / static_cast<double>(v.energy_n))},
                      {"mean_power_w", v.energy_ms > 0 ? v.gross_mj / v.energy_ms : 0.0}};
    } else {
      vj["energy"] = nullptr;
    }
    return vj;
  }

  // A toggle, reload or layout change: logged, kept in the session (events.csv) and the summary's last few.
  void event(const std::string& kind, const std::string& detail) {
    const double t = t_first > 0 ? (now_ms() - t_first) / 1000.0 : 0;
    ++events_total;
    recent_events.push_back({{"t_s", t}, {"kind", kind}, {"detail", detail}});
    while (recent_events.size() > 20) recent_events.pop_front();
    if (rec) rec->event(t, kind, detail);
    log(kind + ": " + detail);
  }

  OverlayHeader header(const Frame& f) const {
    OverlayHeader h;
    const double fps = const_cast<RateMeter&>(this->fps).rate_hz();
    h.lines.push_back(cv::format("pipeline %.1f FPS (whole loop, all variants) | frame %lld | dropped %lld", fps,
                                 static_cast<long long>(f.seq), static_cast<long long>(source ? source->dropped() : 0)));
    if (sampler) {
      const power::PowerSample s = sampler->latest();
      std::string p = sampler->sensor().is_replay() ? "power [replay]:" : "power:";
      for (size_t i = 0; i < sampler->rails().size() && i < s.rails.size(); ++i)
        if (s.rails[i].valid) p += cv::format(" %s %.2f W", sampler->rails()[i].name.c_str(), s.rails[i].watts);
      if (!s.ok) p += " (gap: sensor error)";
      h.lines.push_back(p);
    } else {
      h.lines.push_back("power: n/a (" + power_note + ")");
    }
    if (!status.empty()) h.lines.push_back(status);
    return h;
  }

  PanelInfo panel(const Variant& v) const {
    PanelInfo p;
    p.title = cv::format("%s: %s x%d | %.2f MB", v.cfg.name.c_str(), v.cfg.backend.c_str(), v.cfg.threads, v.model_bytes / 1048576.0);
    const double inf50 = v.r_inf.pct(0.5);
    p.lines.push_back(cv::format("infer %.1f ms p95 %.1f | %.0f FPS engine-only", inf50, v.r_inf.pct(0.95), inf50 > 0 ? 1000.0 / inf50 : 0.0));
    p.lines.push_back(cv::format("pre %.1f | dec %.1f | capture->result %.1f ms p95 %.1f", v.r_pre.pct(0.5), v.r_dec.pct(0.5), v.r_e2e.pct(0.5),
                                 v.r_e2e.pct(0.95)));
    if (!sampler) {
      p.lines.push_back("energy n/a (no power sensor)");
    } else if (v.energy_n == 0) {
      p.lines.push_back("energy: measuring...");
    } else {
      const double g = v.gross_mj / static_cast<double>(v.energy_n);  // mean since the start, as in summary.json
      std::string net = std::isnan(baseline_w) ? std::string() : cv::format(" (net %.1f)", v.net_mj / static_cast<double>(v.energy_n));
      p.lines.push_back(cv::format("energy %.1f mJ/inference%s", g, net.c_str()));
    }
    if (!v.result.classes.empty()) {
      const ClassScore& c = v.result.classes.front();
      std::string name = static_cast<size_t>(c.class_id) < v.cfg.decoder.labels.size() ? v.cfg.decoder.labels[static_cast<size_t>(c.class_id)]
                                                                                        : "class " + std::to_string(c.class_id);
      p.lines.push_back(cv::format("top-1 %s %.2f", name.c_str(), c.score));
    } else {
      p.lines.push_back(cv::format("%zu detections", v.result.detections.size()));
    }
    if (&v == reference()) {
      if (variants.size() > 1) p.lines.push_back("reference for the others' quality");
    } else if (!v.quality_ref.empty() && v.quality.frames > 0) {
      const FidelityAccumulator& q = v.quality;
      if (std::isfinite(q.top1_agreement()))
        p.lines.push_back(cv::format("vs %s: top-1 agreement %.1f%% (%lld frames)", v.quality_ref.c_str(), 100 * q.top1_agreement(), static_cast<long long>(q.frames)));
      else if (q.gt > 0)
        p.lines.push_back(cv::format("vs %s: mAP50 %.3f | IoU %.3f (%lld frames)", v.quality_ref.c_str(), q.map50(), std::isfinite(q.mean_iou()) ? q.mean_iou() : 0.0,
                                     static_cast<long long>(q.frames)));
      else
        p.lines.push_back(cv::format("vs %s: no reference boxes yet (%lld frames)", v.quality_ref.c_str(), static_cast<long long>(q.frames)));
    }
    p.result = &v.result;
    p.labels = v.cfg.decoder.labels;
    return p;
  }
};

Pipeline::Pipeline(RunConfig cfg, std::unique_ptr<power::PowerSampler> sampler, std::string power_note) : impl_(std::make_unique<Impl>()) {
  impl_->metrics = &metrics_;
  metrics_.set_build({{"version", EC_VERSION_STRING}, {"opencv", CV_VERSION}});
  impl_->cfg = std::move(cfg);
  impl_->sampler = std::move(sampler);
  impl_->power_note = std::move(power_note);
  if (impl_->cfg.variants.empty()) throw Error("run: no model variants configured");
  impl_->build_variants();
}

Pipeline::~Pipeline() = default;

std::string Pipeline::session_dir() const { return impl_->rec ? impl_->rec->dir() : std::string(); }

nlohmann::json Pipeline::status() const {
  std::lock_guard<std::mutex> l(live_mu_);
  return status_;
}

bool Pipeline::latest_jpeg(std::vector<unsigned char>& jpeg, uint64_t& seq) {
  jpeg_wanted_until_ = now_ms() + 2000;
  std::lock_guard<std::mutex> l(live_mu_);
  if (jpeg_.empty()) return false;
  jpeg = jpeg_;
  seq = jpeg_seq_;
  return true;
}

nlohmann::json Pipeline::run() {
  Impl& d = *impl_;
  d.started_utc = utc_now();
  if (d.sampler) {
    d.sampler->start();
    if (d.cfg.baseline_s > 0) {  // idle power before capture and inference start
      const double t0 = now_ms();
      std::this_thread::sleep_for(std::chrono::duration<double>(d.cfg.baseline_s));
      d.baseline_w = d.sampler->energy(t0, now_ms()).mean_w();
    }
  }
  d.source = FrameSource::open(d.cfg.source_uri, d.cfg.source);
  std::string note;
  const double fps = d.source->nominal_fps() > 0 ? d.source->nominal_fps() : (d.cfg.source.fps > 0 ? d.cfg.source.fps : 30.0);
  SinkOptions so = d.cfg.sink;
  so.fps = fps;
  d.sink = FrameSink::open(d.cfg.sink_uri, so, &note);
  if (!note.empty()) d.log(note);
  if (d.cfg.record) {
    d.rec = std::make_unique<SessionRecorder>(d.cfg.sessions_root, d.cfg.session_name, d.cfg.session_dir, d.cfg.config_yaml, device_info(),
                                              d.sampler ? &d.sampler->sensor() : nullptr);
    d.rec->set_limit_bytes(static_cast<uint64_t>(std::max(0.0, d.cfg.session_max_mb) * 1e6));
    d.log("recording session " + d.rec->dir());
  }
  bool said_full = false, said_output = false;
  int snapshot_dets = 0;
  double last_snapshot = -1e9;
  d.t_start = now_ms();
  double last_summary = d.t_start, last_jpeg = 0, last_status = 0;
  double backoff_s = 0.5;
  double last_frame_ms = now_ms();
  Frame frame;
  std::string fatal;
  // A live source that drops out is re-opened with back-off (0.5 s doubling to 8 s) until it returns or
  // the run is stopped; returns false when stopped first.
  auto reconnect = [&]() -> bool {
    d.source.reset();
    while (!stop_) {
      std::this_thread::sleep_for(std::chrono::duration<double>(backoff_s));
      backoff_s = std::min(8.0, backoff_s * 2);
      try {
        d.source = FrameSource::open(d.cfg.source_uri, d.cfg.source);
        ++d.reconnects;
        d.status = "source reconnected (" + std::to_string(d.reconnects) + "x)";
        last_frame_ms = now_ms();
        return true;
      } catch (const Error& e) {
        d.log(std::string(e.what()) + "; retrying in " + cv::format("%.1f", backoff_s) + " s");
      }
    }
    return false;
  };
  try {
    while (!stop_) {
      if (reload_.exchange(false) && reload_config) {
        try {
          RunConfig nc = reload_config();
          RunConfig keep = d.cfg;
          d.cfg.variants = nc.variants;
          d.cfg.layout = nc.layout;
          try {
            d.build_variants();
            std::string names;
            for (auto& v : d.variants) names += (names.empty() ? "" : ", ") + v->cfg.name + (v->cfg.enabled ? "" : " (off)");
            d.event("reload", std::to_string(d.variants.size()) + " variants: " + names + "; capture kept running");
#ifdef __GLIBC__
            // the old engines' memory is free now but scattered between the new ones: give the pages back,
            // so a run reloaded every minute for days keeps its resident size
            malloc_trim(0);
#endif
          } catch (const Error& e) {
            d.cfg = keep;
            d.log(std::string("reload failed, keeping the running variants: ") + e.what());
          }
        } catch (const Error& e) {
          d.log(std::string("reload failed, keeping the running variants: ") + e.what());
        }
      }
      const int tg = toggle_.exchange(-1);
      if (tg >= 0 && static_cast<size_t>(tg) < d.variants.size()) {
        VariantConfig& vc = d.variants[static_cast<size_t>(tg)]->cfg;
        vc.enabled = !vc.enabled;
        d.event(vc.enabled ? "enable" : "disable", "variant " + vc.name);
      }
      if (next_layout_.exchange(false)) {
        d.cfg.layout = d.cfg.layout == "side-by-side" ? "grid" : d.cfg.layout == "grid" ? "overlay" : "side-by-side";
        d.event("layout", d.cfg.layout + " (scaled into the run's fixed output size)");
      }
      const double tr = now_ms();
      const ReadStatus st = d.source->read(frame, 500);
      const double read_ms = now_ms() - tr;
      if (st == ReadStatus::timeout) {
        if (d.source->is_live() && now_ms() - last_frame_ms > 5000) {
          d.status = "source silent for 5 s: reconnecting";
          d.log(d.cfg.source_uri + ": no frames for 5 s, reconnecting");
          if (!reconnect()) break;
        }
        continue;
      }
      if (st == ReadStatus::end_of_stream) {
        d.end_reason = "end of stream";
        break;
      }
      if (st == ReadStatus::error) {
        if (!d.source->is_live()) {
          fatal = d.source->error();
          d.end_reason = "error: " + fatal;
          break;
        }
        d.status = "source lost: reconnecting";
        d.log(d.source->error() + ": reconnecting");
        if (!reconnect()) break;
        continue;
      }
      backoff_s = 0.5;
      last_frame_ms = now_ms();
      const double loop0 = now_ms();
      if (d.frames == 0) d.t_first = loop0;
      // every enabled variant in turn on the same frame
      std::vector<FrameRow> rows;
      for (auto& vp : d.variants) {
        Variant& v = *vp;
        if (!v.cfg.enabled) continue;
        const double t0 = now_ms();
        const Letterbox lb = v.pre->run(frame.bgr, v.engine->input(0));
        const double t1 = now_ms();
        v.engine->run();
        const double t2 = now_ms();
        std::vector<const Tensor*> outs;
        for (size_t i = 0; i < v.engine->num_outputs(); ++i) outs.push_back(&v.engine->output(i));
        v.dec->decode(outs, lb, v.result);
        const double t3 = now_ms();
        FrameRow r;
        r.seq = frame.seq;
        r.variant = v.cfg.name;
        r.capture_ms = frame.capture_ms;
        r.age_ms = t0 - frame.capture_ms;
        r.pre_ms = t1 - t0;
        r.infer_ms = t2 - t1;
        r.decode_ms = t3 - t2;
        r.e2e_ms = t3 - frame.capture_ms;
        r.detections = static_cast<int>(v.result.detections.size());
        v.pre_ms.add(r.pre_ms);
        v.infer_ms.add(r.infer_ms);
        v.dec_ms.add(r.decode_ms);
        v.e2e_ms.add(r.e2e_ms);
        v.age_ms.add(r.age_ms);
        v.r_pre.add(r.pre_ms);
        v.r_inf.add(r.infer_ms);
        v.r_dec.add(r.decode_ms);
        v.r_e2e.add(r.e2e_ms);
        if (v.frames++ == 0) v.t_first = t0;
        v.t_last = t3;
        metrics_.record(v.cfg.name, r.infer_ms, r.e2e_ms, r.detections, v.r_inf.pct(0.5) > 0 ? 1000.0 / v.r_inf.pct(0.5) : 0.0);
        if (d.sampler) v.pending.push_back({frame.seq, t1, t2});
        if (d.rec) d.rec->detections(frame.seq, v.cfg.name, t3, v.result);
        rows.push_back(r);
      }
      d.score_quality();
      const double t4 = now_ms();
      const bool streaming = now_ms() < jpeg_wanted_until_.load();
      if (!d.sink->discards() || streaming) {  // with the display off and no web viewer there is nothing to draw
        std::vector<PanelInfo> panels;
        for (auto& vp : d.variants)
          if (vp->cfg.enabled) panels.push_back(d.panel(*vp));
        compose_overlay(frame.bgr, panels, d.header(frame), d.cfg.layout, d.cfg.max_width, d.composed);
        // the output keeps the size of the first frame's layout with every configured variant; toggles,
        // reloads and layout changes are scaled into it, so a recording stays one playable file
        if (d.canvas_size.empty()) d.canvas_size = overlay_size(frame.bgr.size(), std::max<size_t>(1, d.variants.size()), d.cfg.layout, d.cfg.max_width);
        if (d.composed.size() == d.canvas_size) std::swap(d.composed, d.canvas);  // the usual case: no copy
        else fit_to_canvas(d.composed, d.canvas_size, d.canvas);
        // the session's overlay.jpg (the report shows it): a frame with the most detections, at most every 2 s
        int dets = 0;
        for (auto& vp : d.variants)
          if (vp->cfg.enabled) dets += static_cast<int>(vp->result.detections.size()) + !vp->result.classes.empty();
        if (d.rec && dets >= snapshot_dets && now_ms() - last_snapshot >= 2000) {
          std::vector<unsigned char> jpg;
          cv::imencode(".jpg", d.canvas, jpg, {cv::IMWRITE_JPEG_QUALITY, 85});
          d.rec->snapshot(jpg);
          snapshot_dets = dets;
          last_snapshot = now_ms();
        }
      }
      const double t5 = now_ms();
      if (!d.sink->discards()) d.sink->write(d.canvas, t5);
      if (!said_output && !d.sink->element().empty()) {  // which encoder or window the first frame started, in the log and session
        const std::string fb = d.sink->fallback_note();
        d.event("output", d.sink->describe() + " by " + d.sink->element() + (fb.empty() ? "" : " (" + fb + ")"));
        said_output = true;
      }
      const double t6 = now_ms();
      if (streaming && t6 - last_jpeg >= 100) {  // the web view: at most 10 JPEGs a second
        std::vector<unsigned char> buf;
        cv::imencode(".jpg", d.canvas, buf, {cv::IMWRITE_JPEG_QUALITY, 80});
        std::lock_guard<std::mutex> l(live_mu_);
        jpeg_.swap(buf);
        ++jpeg_seq_;
        last_jpeg = t6;
      }
      if (t6 - last_status >= 250) {
        d.update_metrics();
        nlohmann::json st = d.live_status(frame);
        std::lock_guard<std::mutex> l(live_mu_);
        status_ = std::move(st);
        last_status = t6;
      }
      d.read_ms.add(read_ms);
      d.overlay_ms.add(t5 - t4);
      d.output_ms.add(t6 - t5);
      d.loop_ms.add(t6 - loop0);
      d.fps.tick(t6);
      d.t_last = t6;
      ++d.frames;
      if (d.rec)
        for (FrameRow& r : rows) {
          r.overlay_ms = t5 - t4;
          r.output_ms = t6 - t5;
          d.rec->frame(r);
        }
      d.resolve_energy(false);
      if (d.rec && !said_full && !d.rec->stopped().empty()) {
        d.log(d.rec->dir() + ": " + d.rec->stopped() + "; the run goes on");
        said_full = true;
      }
      if (d.rec && t6 - last_summary > 2000) {
        d.rec->summary(d.summary());
        last_summary = t6;
      }
      if (d.cfg.max_frames > 0 && d.frames >= d.cfg.max_frames) {
        d.end_reason = "max frames";
        break;
      }
      if (d.cfg.duration_s > 0 && t6 - d.t_start >= d.cfg.duration_s * 1000) {
        d.end_reason = "duration";
        break;
      }
    }
    if (stop_ && d.end_reason == "running") d.end_reason = "stopped";
  } catch (const Error& e) {
    fatal = e.what();
    d.end_reason = "error: " + fatal;
  }
  // Finish: wait for the sampler to pass the last window, then write everything that is left.
  try {
    if (d.sampler) {
      std::this_thread::sleep_for(std::chrono::duration<double>(3.0 / d.sampler->rate_hz()));
      d.sampler->stop();
      d.resolve_energy(true);
    }
  } catch (const Error& e) {
    if (fatal.empty()) fatal = e.what();
  }
  if (d.sink) d.sink->close();
  nlohmann::json sum = d.summary();
  if (d.rec) {
    try {
      d.rec->summary(sum);
    } catch (const Error& e) {
      if (fatal.empty()) fatal = e.what();
    }
  }
  if (!fatal.empty()) throw Error(fatal);
  return sum;
}

}  // namespace ec
