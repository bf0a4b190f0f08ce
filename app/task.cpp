#include "task.h"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <sstream>

#include "config.h"
#include "error.h"

namespace ec {

// A labels file (one class name per line) larger than this is not a labels file: 1 MiB holds ~50,000 names.
constexpr size_t kMaxLabelsBytes = 1 << 20;

void parse_input(const YAML::Node& n, const std::string& path, PreprocessSpec& p) {
  check_keys(n, path, {"size", "resize", "color", "layout", "scale", "mean", "std", "pad_value"});
  if (n["size"]) {
    auto v = yaml_get<std::vector<int>>(n, "size", path, {});
    if (v.size() != 2 || v[0] <= 0 || v[1] <= 0) yaml_fail(path, n["size"], "size is [width, height] in pixels");
    p.width = v[0];
    p.height = v[1];
  }
  p.resize = yaml_get<std::string>(n, "resize", path, p.resize);
  if (p.resize != "stretch" && p.resize != "letterbox") yaml_fail(path, n["resize"], "resize '" + p.resize + "' is not stretch or letterbox");
  p.color = yaml_get<std::string>(n, "color", path, p.color);
  if (p.color != "rgb" && p.color != "bgr") yaml_fail(path, n["color"], "color '" + p.color + "' is not rgb or bgr");
  p.layout = yaml_get<std::string>(n, "layout", path, p.layout);
  if (p.layout != "auto" && p.layout != "nchw" && p.layout != "nhwc") yaml_fail(path, n["layout"], "layout '" + p.layout + "' is not auto, nchw or nhwc");
  p.scale = yaml_get<double>(n, "scale", path, p.scale);
  for (const char* key : {"mean", "std"}) {
    if (!n[key]) continue;
    auto v = yaml_get<std::vector<double>>(n, key, path, {});
    if (v.size() == 1) v.assign(3, v[0]);
    if (v.size() != 3) yaml_fail(path, n[key], std::string(key) + " needs 1 or 3 values");
    if (std::string(key) == "std")
      for (double x : v)
        if (x == 0) yaml_fail(path, n[key], "std must not be 0");
    auto& dst = std::string(key) == "mean" ? p.mean : p.std;
    for (size_t i = 0; i < 3; ++i) dst[i] = v[i];
  }
  p.pad_value = yaml_get<int>(n, "pad_value", path, p.pad_value);
}

void parse_decoder(const YAML::Node& n, const std::string& path, DecoderOptions& d) {
  if (n.IsScalar()) {
    d.type = n.as<std::string>();
  } else {
    check_keys(n, path, {"type", "score_threshold", "nms_iou", "top_k", "max_detections", "labels", "labels_file"});
    d.type = yaml_get<std::string>(n, "type", path, d.type);
    d.score_threshold = yaml_get<float>(n, "score_threshold", path, d.score_threshold);
    d.nms_iou = yaml_get<float>(n, "nms_iou", path, d.nms_iou);
    d.top_k = yaml_get<int>(n, "top_k", path, d.top_k);
    d.max_detections = yaml_get<int>(n, "max_detections", path, d.max_detections);
    d.labels = yaml_get<std::vector<std::string>>(n, "labels", path, d.labels);
    if (n["labels_file"]) {
      const std::string lf = n["labels_file"].as<std::string>();
      std::string text;
      if (!read_bounded(lf, kMaxLabelsBytes, text)) {
        if (!std::ifstream(lf)) yaml_fail(path, n["labels_file"], "labels_file '" + lf + "' cannot be opened");
        yaml_fail(path, n["labels_file"], "labels_file '" + lf + "' is larger than " + std::to_string(kMaxLabelsBytes) + " bytes (one label per line)");
      }
      std::istringstream lines(text);
      std::string line;
      while (std::getline(lines, line)) d.labels.push_back(line);
    }
  }
  static const char* known[] = {"blazeface", "ssd", "yolov5", "yolov8", "classify", "none"};
  bool ok = false;
  for (const char* k : known) ok = ok || d.type == k;
  if (!ok) yaml_fail(path, n.IsScalar() ? n : n["type"], "decoder '" + d.type + "' is not one of blazeface, ssd, yolov5, yolov8, classify, none");
  if (d.score_threshold < 0 || d.score_threshold > 1) yaml_fail(path, n["score_threshold"], "score_threshold must be in [0, 1]");
}

static void read_task_yaml(const YAML::Node& n, const std::string& path, TaskSpec& t) {
  if (const YAML::Node in = n["input"]) parse_input(in, path, t.input);
  if (const YAML::Node d = n["decoder"]) parse_decoder(d, path, t.decoder);
}

void parse_task_yaml(const YAML::Node& n, const std::string& path, TaskSpec& t) {
  with_yaml_errors(path, [&] { read_task_yaml(n, path, t); });
}

}  // namespace ec
