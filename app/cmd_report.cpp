// `edgecompress report SESSION... [--html out.html]`: a terminal table of every session's variants and an
// offline HTML report with plots (latency CDF, FPS and power over time, energy per inference, size vs
// latency). Figures come from the per-row files (frames.csv, energy.csv, power.csv), so a session cut
// short by SIGINT or a crash still reports; summary.json adds what only the run knew (dropped frames).
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "commands.h"
#include "error.h"
#include "sampler.h"
#include "svg_plot.h"

namespace ec {
namespace {

struct VariantData {
  std::string name, backend = "?";
  double model_mb = NAN;
  std::string span;  // "removed by a reload at 12.3 s" (summary.json), else ""
  std::string made_by = "original";
  std::string quality = "";  // agreement with the run's reference variant (summary.json), e.g. "mAP50 0.981, IoU 0.952 vs fp32"  // the compression recipe (summary.json), "original" for a model edgecompress did not make
  std::vector<double> infer, e2e, pre, dec, result_t;
  std::vector<double> gross_mj;
};

struct SessionData {
  std::string dir, label, device, status = "no summary.json (interrupted?)";
  double pipeline_fps = NAN;
  int64_t dropped = -1;
  bool replay = false;
  std::string power_sensor;
  std::vector<VariantData> variants;
  std::vector<double> power_t, power_w;
  std::vector<std::string> events;  // "12.3 s reload: ..." (events.csv; the first 50)
  int64_t events_total = 0;
  int bad_rows = 0;
  VariantData& variant(const std::string& n) {
    for (auto& v : variants)
      if (v.name == n) return v;
    variants.push_back(VariantData{});
    variants.back().name = n;
    return variants.back();
  }
};

bool to_d(const std::string& s, double& v) {
  if (s.empty()) return false;
  char* e = nullptr;
  v = std::strtod(s.c_str(), &e);
  return e && *e == '\0';
}

std::string cv_format(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.2f", v);
  return b;
}

// RFC 4648 base64 of `bytes` (the overlay frame embedded in the self-contained report).
std::string base64(const std::string& bytes) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string r;
  r.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    const uint32_t a = static_cast<unsigned char>(bytes[i]);
    const uint32_t b = i + 1 < bytes.size() ? static_cast<unsigned char>(bytes[i + 1]) : 0;
    const uint32_t c = i + 2 < bytes.size() ? static_cast<unsigned char>(bytes[i + 2]) : 0;
    const uint32_t v = (a << 16) | (b << 8) | c;
    r += k[(v >> 18) & 63];
    r += k[(v >> 12) & 63];
    r += i + 1 < bytes.size() ? k[(v >> 6) & 63] : '=';
    r += i + 2 < bytes.size() ? k[v & 63] : '=';
  }
  return r;
}

double pct(std::vector<double> v, double q) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
}

double mean(const std::vector<double>& v) {
  if (v.empty()) return NAN;
  double s = 0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}

SessionData load_session(const std::string& dir) {
  struct stat st {};
  if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) throw Error(dir + ": not a session folder");
  SessionData s;
  s.dir = dir;
  std::string d = dir;
  while (d.size() > 1 && d.back() == '/') d.pop_back();
  s.label = d.substr(d.rfind('/') + 1);
  std::ifstream frames(dir + "/frames.csv");
  if (!frames) throw Error(dir + ": no frames.csv (not an edgecompress session)");
  std::string line;
  std::getline(frames, line);
  if (line.rfind("seq,variant,capture_ms", 0) != 0) throw Error(dir + "/frames.csv: unexpected header");
  while (std::getline(frames, line)) {
    auto c = power::split_csv_line(line);
    double cap, pre, inf, dec, e2e;
    if (c.size() != 11 || !to_d(c[2], cap) || !to_d(c[4], pre) || !to_d(c[5], inf) || !to_d(c[6], dec) || !to_d(c[7], e2e)) {
      ++s.bad_rows;  // a row cut by a crash or a full disk
      continue;
    }
    VariantData& v = s.variant(c[1]);
    v.pre.push_back(pre);
    v.infer.push_back(inf);
    v.dec.push_back(dec);
    v.e2e.push_back(e2e);
    v.result_t.push_back(cap + e2e);
  }
  std::ifstream energy(dir + "/energy.csv");
  if (energy && std::getline(energy, line))
    while (std::getline(energy, line)) {
      auto c = power::split_csv_line(line);
      double g;
      if (c.size() == 7 && to_d(c[4], g)) s.variant(c[0]).gross_mj.push_back(g);
    }
  std::ifstream power(dir + "/power.csv");
  bool header = false;
  while (power && std::getline(power, line)) {
    if (line.empty()) continue;
    if (line[0] == '#') {
      if (line.rfind("# sensor=", 0) == 0) s.power_sensor = line.substr(9);
      if (line.find("(replay)") != std::string::npos) s.replay = true;
      continue;
    }
    if (!header) {
      header = true;
      continue;
    }
    auto c = power::split_csv_line(line);
    double t, w;
    if (c.size() >= 4 && to_d(c[0], t) && to_d(c[c.size() - 2], w)) {
      s.power_t.push_back(t);
      s.power_w.push_back(w);
    }
  }
  std::ifstream sum(dir + "/summary.json");
  if (sum) {
    try {
      nlohmann::json j = nlohmann::json::parse(sum);
      s.status = j["session"].value("status", "?");
      s.pipeline_fps = j["session"].value("pipeline_fps", NAN);
      s.dropped = j["session"].value("dropped_frames", int64_t{-1});
      if (j["session"]["power_sensor"].is_string()) s.power_sensor = j["session"]["power_sensor"];
      for (auto& v : j["variants"]) {
        VariantData& vd = s.variant(v["name"]);
        vd.backend = v.value("backend", "?");
        vd.model_mb = v.value("model_bytes", 0.0) / 1048576.0;
        if (v.contains("made_by") && v["made_by"].is_string()) vd.made_by = v["made_by"].get<std::string>();
        const nlohmann::json q = v.value("quality", nlohmann::json());
        if (q.is_object() && q.value("is_reference", false)) vd.quality = "reference";
        else if (q.is_object() && q["reference"].is_string()) {
          char b[256];
          const std::string ref = q["reference"].get<std::string>();
          if (q["top1_agreement"].is_number())
            std::snprintf(b, sizeof b, "top-1 agreement %.1f %% vs %s", 100 * q["top1_agreement"].get<double>(), ref.c_str());
          else if (q["map50"].is_number())
            std::snprintf(b, sizeof b, "mAP50 %.3f, IoU %.3f vs %s (%lld frames)", q["map50"].get<double>(),
                          q["mean_iou"].is_number() ? q["mean_iou"].get<double>() : 0.0, ref.c_str(), static_cast<long long>(q.value("frames", 0)));
          else
            std::snprintf(b, sizeof b, "no reference boxes (vs %s)", ref.c_str());
          vd.quality = b;
        }
        if (v.value("removed_by_reload", false) && v["span_s"]["to"].is_number())
          vd.span = "removed by a reload at " + cv_format(v["span_s"]["to"].get<double>()) + " s";
      }
    } catch (const std::exception&) {
      s.status = "summary.json unreadable";
    }
  }
  std::ifstream events(dir + "/events.csv");
  if (events && std::getline(events, line))
    while (std::getline(events, line)) {
      auto c = power::split_csv_line(line);
      if (c.size() != 3) continue;
      if (++s.events_total <= 50) s.events.push_back(c[0] + " s " + c[1] + ": " + c[2]);
    }
  std::ifstream dev(dir + "/device.json");
  if (dev) {
    try {
      nlohmann::json j = nlohmann::json::parse(dev);
      std::string b = j.value("board", "");
      s.device = b.empty() ? j.value("cpu", "?") : b;
    } catch (const std::exception&) {
    }
  }
  if (s.variants.empty()) throw Error(dir + ": the session has no frames");
  return s;
}

void print_table(const std::vector<SessionData>& ss) {
  std::printf("%-32s %-22s %-7s %6s %9s %9s %9s %8s %9s %8s\n", "session", "variant", "backend", "frames", "infer p50", "infer p95", "e2e p95",
              "inf FPS", "mJ/inf", "size MB");
  for (const auto& s : ss) {
    for (const auto& v : s.variants) {
      const double m = mean(v.infer);
      std::string mj = v.gross_mj.empty() ? "n/a" : cv_format(mean(v.gross_mj));
      std::printf("%-32.32s %-22.22s %-7s %6zu %9.2f %9.2f %9.2f %8.1f %9s %8.2f\n", s.label.c_str(), v.name.c_str(), v.backend.c_str(),
                  v.infer.size(), pct(v.infer, 0.5), pct(v.infer, 0.95), pct(v.e2e, 0.95), m > 0 ? 1000.0 / m : 0.0, mj.c_str(), v.model_mb);
    }
    for (const auto& v : s.variants) {
      if (v.made_by != "original") std::printf("  %s: made by %s\n", v.name.c_str(), v.made_by.c_str());
      if (!v.quality.empty() && v.quality != "reference") std::printf("  %s: %s\n", v.name.c_str(), v.quality.c_str());
      if (!v.span.empty()) std::printf("  %s: %s\n", v.name.c_str(), v.span.c_str());
    }
    if (s.events_total) std::printf("  %lld events (events.csv)%s%s\n", static_cast<long long>(s.events_total), s.events.empty() ? "" : ", first: ", s.events.empty() ? "" : s.events[0].c_str());
    std::printf("  %s | %s | pipeline %.1f FPS | dropped %lld | power: %s%s%s\n", s.device.c_str(), s.status.c_str(), s.pipeline_fps,
                static_cast<long long>(s.dropped), s.power_sensor.empty() ? "none" : s.power_sensor.c_str(), s.replay ? " [replay]" : "",
                s.bad_rows ? (" | " + std::to_string(s.bad_rows) + " cut rows skipped").c_str() : "");
  }
}

void write_html(const std::vector<SessionData>& ss, const std::string& path) {
  std::vector<Series> cdf, fps, pw, scatter;
  std::vector<std::string> bar_labels, bar_colors;
  std::vector<double> bar_values;
  size_t k = 0;
  for (const auto& s : ss) {
    for (const auto& v : s.variants) {
      const std::string name = (ss.size() > 1 ? s.label + " / " : std::string()) + v.name;
      Series c{name, {}, {}, palette(k)};
      std::vector<double> sorted = v.infer;
      std::sort(sorted.begin(), sorted.end());
      for (size_t i = 0; i < sorted.size(); ++i) {
        c.x.push_back(sorted[i]);
        c.y.push_back(static_cast<double>(i + 1) / static_cast<double>(sorted.size()));
      }
      cdf.push_back(c);
      if (!v.result_t.empty()) {  // results per second in 1 s bins
        Series f{name, {}, {}, palette(k)};
        const double t0 = v.result_t.front();
        std::map<int64_t, int> bins;
        for (double t : v.result_t) ++bins[static_cast<int64_t>((t - t0) / 1000.0)];
        for (auto& b : bins)
          if (b.first < static_cast<int64_t>((v.result_t.back() - t0) / 1000.0)) {  // the last bin is partial
            f.x.push_back(static_cast<double>(b.first));
            f.y.push_back(b.second);
          }
        fps.push_back(f);
      }
      bar_labels.push_back(name);
      bar_values.push_back(v.gross_mj.empty() ? NAN : mean(v.gross_mj));
      bar_colors.push_back(palette(k));
      if (std::isfinite(v.model_mb)) scatter.push_back(Series{name, {pct(v.infer, 0.5)}, {v.model_mb}, palette(k)});
      ++k;
    }
    if (!s.power_t.empty()) {
      Series p{s.label + (s.replay ? " [replay]" : ""), {}, {}, palette(pw.size())};
      for (size_t i = 0; i < s.power_t.size(); ++i) {
        p.x.push_back((s.power_t[i] - s.power_t.front()) / 1000.0);
        p.y.push_back(s.power_w[i]);
      }
      pw.push_back(p);
    }
  }
  std::ofstream f(path);
  if (!f) throw Error(path + ": cannot write the report");
  f << "<!doctype html><html><head><meta charset='utf-8'><title>edgecompress report</title>"
       "<style>body{font-family:sans-serif;margin:24px;color:#222}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;"
       "text-align:right}th{background:#f3f3f3}td:first-child,td:nth-child(2){text-align:left}.charts{display:flex;flex-wrap:wrap;gap:16px}</style>"
       "</head><body><h1>edgecompress report</h1>";
  f << "<table><tr><th>session</th><th>variant</th><th>backend</th><th>frames</th><th>inference p50 ms</th><th>p95 ms</th><th>capture&rarr;result p95 ms</th>"
       "<th>inference FPS (engine only)</th><th>energy mJ/inference</th><th>model MB</th><th>made by</th><th>agreement with the reference</th></tr>";
  for (const auto& s : ss)
    for (const auto& v : s.variants) {
      const double m = mean(v.infer);
      char row[2048];
      std::snprintf(row, sizeof row,
                    "<tr><td>%s</td><td>%s</td><td>%s</td><td>%zu</td><td>%.2f</td><td>%.2f</td><td>%.2f</td><td>%.1f</td><td>%s</td><td>%.2f</td>"
                    "<td style='text-align:left'>%s</td><td style='text-align:left'>%s</td></tr>",
                    html_escape(s.label).c_str(), html_escape(v.name).c_str(), html_escape(v.backend).c_str(), v.infer.size(), pct(v.infer, 0.5),
                    pct(v.infer, 0.95), pct(v.e2e, 0.95), m > 0 ? 1000.0 / m : 0.0,
                    v.gross_mj.empty() ? "n/a" : cv_format(mean(v.gross_mj)).c_str(), v.model_mb, html_escape(v.made_by).c_str(), html_escape(v.quality).c_str());
      f << row;
      if (!v.span.empty()) f << "<tr><td></td><td colspan='11'>&uarr; " << html_escape(v.span) << "</td></tr>";
    }
  f << "</table><ul>";
  for (const auto& s : ss)
    f << "<li><b>" << html_escape(s.label) << "</b>: " << html_escape(s.device) << "; " << html_escape(s.status) << "; pipeline "
      << cv_format(s.pipeline_fps) << " FPS; dropped " << s.dropped << "; power: "
      << html_escape(s.power_sensor.empty() ? std::string("none") : s.power_sensor) << (s.replay ? " <b>[replay]</b>" : "") << "</li>";
  for (const auto& s : ss) {
    if (s.events.empty()) continue;
    f << "<li><b>" << html_escape(s.label) << "</b>: " << s.events_total << " events (reloads, toggles, layout changes)<ul>";
    for (const auto& e : s.events) f << "<li>" << html_escape(e) << "</li>";
    if (s.events_total > static_cast<int64_t>(s.events.size())) f << "<li>&hellip; the rest in events.csv</li>";
    f << "</ul></li>";
  }
  f << "</ul>";
  for (const auto& s : ss) {  // the overlay as the run drew it (overlay.jpg, when the run drew one)
    std::ifstream img(s.dir + "/overlay.jpg", std::ios::binary);
    if (!img) continue;
    const std::string bytes((std::istreambuf_iterator<char>(img)), std::istreambuf_iterator<char>());
    f << "<figure><img style='max-width:100%' alt='overlay' src='data:image/jpeg;base64," << base64(bytes) << "'><figcaption>"
      << html_escape(s.label) << ": a frame of the live overlay</figcaption></figure>";
  }
  f << "<div class='charts'>";
  f << svg_xy({"Inference latency CDF", "ms", "fraction of frames", 640, 320, false}, cdf);
  f << svg_xy({"Results per second over time", "s", "FPS", 640, 320, false}, fps);
  f << svg_xy({"Board power over time", "s", "W", 640, 320, false}, pw);
  f << svg_bars({"Energy per inference (gross)", "", "mJ", 640, 320, false}, bar_labels, bar_values, bar_colors);
  f << svg_xy({"Model size vs median inference latency", "ms", "MB", 640, 320, true}, scatter);
  f << "</div><p>Latency: engine run only; capture&rarr;result includes queueing, preprocessing and decoding. Energy: board power integrated "
       "over each variant's inference windows (variants take turns on each frame).</p></body></html>\n";
}

struct ReportOptions {
  std::vector<std::string> sessions;
  std::string html;
};

}  // namespace

void add_report_command(ec::cli::App& app) {
  auto o = std::make_shared<ReportOptions>();
  ec::cli::App* c = app.add_subcommand("report", "Tables and an offline HTML report of recorded sessions");
  c->add_option("sessions", o->sessions, "Session folders")->required();
  c->add_option("--html", o->html, "Write an HTML report with plots");
  c->callback([o] {
    std::vector<SessionData> ss;
    for (const auto& s : o->sessions) ss.push_back(load_session(s));
    print_table(ss);
    if (!o->html.empty()) {
      write_html(ss, o->html);
      std::printf("report: %s\n", o->html.c_str());
    }
  });
}

}  // namespace ec
