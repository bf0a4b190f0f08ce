#include "run_config.h"

#include "config.h"
#include "error.h"
#include "task.h"

namespace ec {

static RunSetup read_run_config(const std::string& path) {
  YAML::Node y = load_yaml(path);
  if (!y.IsMap()) throw Error(path + ": a run config is a map with source, variants, output, power, session, run");
  check_keys(y, path, {"source", "variants", "output", "power", "session", "run", "monitor"});
  RunSetup s;
  RunConfig& r = s.run;
  const YAML::Node src = y["source"];
  if (!src) throw Error(path + ": 'source' is missing (a URI or a map with uri)");
  if (src.IsScalar()) {
    r.source_uri = src.as<std::string>();
  } else {
    check_keys(src, path, {"uri", "width", "height", "fps", "flip", "loop", "realtime", "latency_ms", "format", "sensor_mode"});
    r.source_uri = yaml_get<std::string>(src, "uri", path, "");
    if (r.source_uri.empty()) yaml_fail(path, src, "source needs a uri");
    r.source.width = yaml_get<int>(src, "width", path, 0);
    r.source.height = yaml_get<int>(src, "height", path, 0);
    r.source.fps = yaml_get<int>(src, "fps", path, 0);
    r.source.flip = yaml_get<std::string>(src, "flip", path, "none");
    r.source.loop = yaml_get<bool>(src, "loop", path, false);
    r.source.realtime = yaml_get<bool>(src, "realtime", path, false);
    r.source.latency_ms = yaml_get<int>(src, "latency_ms", path, 200);
    r.source.format = yaml_get<std::string>(src, "format", path, "auto");
    r.source.sensor_mode = yaml_get<int>(src, "sensor_mode", path, -1);
    if (r.source.width < 0 || r.source.height < 0 || r.source.fps < 0) yaml_fail(path, src, "width, height and fps must be >= 0");
  }
  const YAML::Node vs = y["variants"];
  if (!vs || !vs.IsSequence() || vs.size() == 0) throw Error(path + ": 'variants' must list at least one model");
  for (size_t i = 0; i < vs.size(); ++i) {
    const YAML::Node v = vs[i];
    check_keys(v, path, {"name", "model", "backend", "device", "threads", "enabled", "reference", "shape", "input", "decoder"});
    VariantConfig vc;
    vc.model = yaml_get<std::string>(v, "model", path, "");
    if (vc.model.empty()) yaml_fail(path, v, "variant needs a model");
    vc.name = yaml_get<std::string>(v, "name", path, vc.model.substr(vc.model.rfind('/') + 1));
    vc.backend = yaml_get<std::string>(v, "backend", path, vc.backend);
    if (vc.backend != "native" && vc.backend != "native-ref" && vc.backend != "opencv")
      yaml_fail(path, v["backend"], "backend '" + vc.backend + "' is not native, native-ref or opencv");
    vc.device = yaml_get<std::string>(v, "device", path, vc.device);
    vc.threads = yaml_get<int>(v, "threads", path, vc.threads);
    if (vc.threads < 1 || vc.threads > 64) yaml_fail(path, v["threads"], "threads must be 1..64");
    vc.enabled = yaml_get<bool>(v, "enabled", path, true);
    vc.reference = yaml_get<bool>(v, "reference", path, false);
    for (auto& other : r.variants)
      if (vc.reference && other.reference) yaml_fail(path, v["reference"], "two variants are marked reference: '" + other.name + "' and this one");
    if (v["shape"]) {
      auto sh = yaml_get<std::vector<int64_t>>(v, "shape", path, {});
      for (int64_t d : sh)
        if (d <= 0) yaml_fail(path, v["shape"], "shape dimensions must be positive");
      vc.shape = sh;
    }
    if (v["input"]) parse_input(v["input"], path, vc.input);
    if (v["decoder"]) parse_decoder(v["decoder"], path, vc.decoder);
    for (auto& other : r.variants)
      if (other.name == vc.name) yaml_fail(path, v["name"] ? v["name"] : v, "two variants are named '" + vc.name + "'");
    r.variants.push_back(vc);
  }
  if (const YAML::Node o = y["output"]) {
    if (o.IsScalar()) {
      r.sink_uri = o.as<std::string>();
    } else {
      check_keys(o, path, {"uri", "layout", "max_width", "bitrate_kbps"});
      r.sink_uri = yaml_get<std::string>(o, "uri", path, r.sink_uri);
      r.layout = yaml_get<std::string>(o, "layout", path, r.layout);
      if (r.layout != "side-by-side" && r.layout != "grid" && r.layout != "overlay")
        yaml_fail(path, o["layout"], "layout '" + r.layout + "' is not side-by-side, grid or overlay");
      r.max_width = yaml_get<int>(o, "max_width", path, r.max_width);
      r.sink.bitrate_kbps = yaml_get<int>(o, "bitrate_kbps", path, r.sink.bitrate_kbps);
    }
  }
  if (const YAML::Node p = y["power"]) parse_power_yaml(p, path, s.power);
  if (const YAML::Node ss = y["session"]) {
    check_keys(ss, path, {"record", "name", "root", "dir", "max_mb"});
    r.record = yaml_get<bool>(ss, "record", path, r.record);
    r.session_name = yaml_get<std::string>(ss, "name", path, r.session_name);
    r.sessions_root = yaml_get<std::string>(ss, "root", path, r.sessions_root);
    r.session_dir = yaml_get<std::string>(ss, "dir", path, r.session_dir);
    r.session_max_mb = yaml_get<double>(ss, "max_mb", path, r.session_max_mb);
    if (r.session_max_mb < 0) yaml_fail(path, ss["max_mb"], "'max_mb' " + ss["max_mb"].Scalar() + ": must be >= 0 (0: no limit)");
  }
  if (const YAML::Node m = y["monitor"]) {
    check_keys(m, path, {"listen", "token", "token_file", "tls_cert", "tls_key", "max_connections", "max_connections_per_client",
                         "request_timeout_s"});
    s.monitor.listen = yaml_get<std::string>(m, "listen", path, "");
    s.monitor.token = yaml_get<std::string>(m, "token", path, "");
    if (m["token_file"]) {
      std::string text;
      if (!read_bounded(m["token_file"].as<std::string>(), 4096, text)) yaml_fail(path, m["token_file"], "token_file cannot be read or is over 4096 bytes");
      s.monitor.token = text.substr(0, text.find('\n'));
    }
    s.monitor.tls_cert = yaml_get<std::string>(m, "tls_cert", path, "");
    s.monitor.tls_key = yaml_get<std::string>(m, "tls_key", path, "");
    s.monitor.max_connections = yaml_get<int>(m, "max_connections", path, s.monitor.max_connections);
    if (s.monitor.max_connections < 1 || s.monitor.max_connections > 65536)
      yaml_fail(path, m["max_connections"], "'max_connections' " + m["max_connections"].Scalar() + ": must be 1..65536");
    s.monitor.max_connections_per_client = yaml_get<int>(m, "max_connections_per_client", path, s.monitor.max_connections_per_client);
    if (s.monitor.max_connections_per_client < 0)
      yaml_fail(path, m["max_connections_per_client"], "'max_connections_per_client' " + m["max_connections_per_client"].Scalar() +
                                                           ": must be >= 0 (0: no per-client limit)");
    s.monitor.request_timeout_s = yaml_get<double>(m, "request_timeout_s", path, s.monitor.request_timeout_s);
    if (!(s.monitor.request_timeout_s >= 0.5 && s.monitor.request_timeout_s <= 3600))
      yaml_fail(path, m["request_timeout_s"], "'request_timeout_s' " + m["request_timeout_s"].Scalar() + ": must be 0.5..3600 seconds");
  }
  if (const YAML::Node rn = y["run"]) {
    check_keys(rn, path, {"max_frames", "duration_s", "baseline_s"});
    r.max_frames = yaml_get<int64_t>(rn, "max_frames", path, 0);
    r.duration_s = yaml_get<double>(rn, "duration_s", path, 0);
    r.baseline_s = yaml_get<double>(rn, "baseline_s", path, r.baseline_s);
  }
  return s;
}

RunSetup load_run_config(const std::string& path) {
  return with_yaml_errors(path, [&] { return read_run_config(path); });
}

std::string run_config_yaml(const RunSetup& s) {
  const RunConfig& r = s.run;
  YAML::Emitter e;
  e << YAML::BeginMap;
  e << YAML::Key << "source" << YAML::Value << YAML::BeginMap << YAML::Key << "uri" << YAML::Value << r.source_uri << YAML::Key << "width"
    << YAML::Value << r.source.width << YAML::Key << "height" << YAML::Value << r.source.height << YAML::Key << "fps" << YAML::Value
    << r.source.fps << YAML::Key << "flip" << YAML::Value << r.source.flip << YAML::Key << "loop" << YAML::Value << r.source.loop
    << YAML::Key << "realtime" << YAML::Value << r.source.realtime << YAML::Key << "latency_ms" << YAML::Value << r.source.latency_ms
    << YAML::Key << "format" << YAML::Value << r.source.format << YAML::Key << "sensor_mode" << YAML::Value << r.source.sensor_mode << YAML::EndMap;
  e << YAML::Key << "variants" << YAML::Value << YAML::BeginSeq;
  for (const VariantConfig& v : r.variants) {
    e << YAML::BeginMap << YAML::Key << "name" << YAML::Value << v.name << YAML::Key << "model" << YAML::Value << v.model << YAML::Key
      << "backend" << YAML::Value << v.backend << YAML::Key << "device" << YAML::Value << v.device << YAML::Key << "threads" << YAML::Value
      << v.threads << YAML::Key << "enabled" << YAML::Value << v.enabled << YAML::Key << "reference" << YAML::Value << v.reference;
    e << YAML::Key << "input" << YAML::Value << YAML::BeginMap << YAML::Key << "resize" << YAML::Value << v.input.resize << YAML::Key << "color"
      << YAML::Value << v.input.color << YAML::Key << "layout" << YAML::Value << v.input.layout << YAML::Key << "scale" << YAML::Value
      << v.input.scale << YAML::Key << "mean" << YAML::Value << YAML::Flow << std::vector<double>(v.input.mean.begin(), v.input.mean.end())
      << YAML::Key << "std" << YAML::Value << YAML::Flow << std::vector<double>(v.input.std.begin(), v.input.std.end()) << YAML::EndMap;
    e << YAML::Key << "decoder" << YAML::Value << YAML::BeginMap << YAML::Key << "type" << YAML::Value << v.decoder.type << YAML::Key
      << "score_threshold" << YAML::Value << v.decoder.score_threshold << YAML::Key << "nms_iou" << YAML::Value << v.decoder.nms_iou
      << YAML::EndMap << YAML::EndMap;
  }
  e << YAML::EndSeq;
  e << YAML::Key << "output" << YAML::Value << YAML::BeginMap << YAML::Key << "uri" << YAML::Value << r.sink_uri << YAML::Key << "layout"
    << YAML::Value << r.layout << YAML::EndMap;
  e << YAML::Key << "power" << YAML::Value << YAML::BeginMap << YAML::Key << "sensor" << YAML::Value << s.power.sensor << YAML::Key << "board"
    << YAML::Value << s.power.board << YAML::Key << "rate_hz" << YAML::Value << s.power.rate_hz << YAML::EndMap;
  e << YAML::Key << "run" << YAML::Value << YAML::BeginMap << YAML::Key << "max_frames" << YAML::Value << r.max_frames << YAML::Key
    << "duration_s" << YAML::Value << r.duration_s << YAML::Key << "baseline_s" << YAML::Value << r.baseline_s << YAML::EndMap;
  e << YAML::EndMap;
  return std::string(e.c_str()) + "\n";
}

}  // namespace ec
