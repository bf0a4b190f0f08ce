#include "task.h"

#include <yaml-cpp/yaml.h>

#include "config.h"
#include "error.h"

namespace ec {

static void read_task_yaml(const YAML::Node& n, const std::string& path, TaskSpec& t) {
  if (const YAML::Node in = n["input"]) {
    check_keys(in, path, {"size", "resize", "color", "layout", "scale", "mean", "std", "pad_value"});
    t.input.resize = yaml_get<std::string>(in, "resize", path, t.input.resize);
    t.input.color = yaml_get<std::string>(in, "color", path, t.input.color);
    t.input.layout = yaml_get<std::string>(in, "layout", path, t.input.layout);
    t.input.scale = yaml_get<double>(in, "scale", path, t.input.scale);
    for (const char* key : {"mean", "std"}) {
      if (!in[key]) continue;
      auto v = yaml_get<std::vector<double>>(in, key, path, {});
      if (v.size() == 1) v.assign(3, v[0]);
      if (v.size() != 3) yaml_fail(path, in[key], std::string(key) + " needs 1 or 3 values");
      auto& dst = std::string(key) == "mean" ? t.input.mean : t.input.std;
      for (size_t i = 0; i < 3; ++i) dst[i] = v[i];
    }
  }
  if (const YAML::Node d = n["decoder"]) {
    if (d.IsScalar()) {
      t.decoder.type = d.as<std::string>();
    } else {
      check_keys(d, path, {"type", "score_threshold", "nms_iou", "top_k", "max_detections", "labels"});
      t.decoder.type = yaml_get<std::string>(d, "type", path, t.decoder.type);
      t.decoder.score_threshold = yaml_get<float>(d, "score_threshold", path, t.decoder.score_threshold);
      t.decoder.nms_iou = yaml_get<float>(d, "nms_iou", path, t.decoder.nms_iou);
      t.decoder.top_k = yaml_get<int>(d, "top_k", path, t.decoder.top_k);
      t.decoder.max_detections = yaml_get<int>(d, "max_detections", path, t.decoder.max_detections);
      t.decoder.labels = yaml_get<std::vector<std::string>>(d, "labels", path, t.decoder.labels);
    }
  }
}

void parse_task_yaml(const YAML::Node& n, const std::string& path, TaskSpec& t) {
  with_yaml_errors(path, [&] { read_task_yaml(n, path, t); });
}

}  // namespace ec
