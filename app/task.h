// Shared by `compress` and `eval`: a task spec (preprocessing + decoder, as in a run variant) read from YAML.
// The frames it preprocesses come from pipeline/samples.h.
#pragma once
#include <string>
#include <vector>

#include "decode.h"
#include "preprocess.h"
#include "samples.h"

namespace YAML {
class Node;
}

namespace ec {

struct TaskSpec {
  PreprocessSpec input;
  DecoderOptions decoder;
};

// Reads an `input:` node (size, resize, color, layout, scale, mean, std, pad_value) into `p`, checking each value;
// throws with file:line:col (shared by tasks, recipes' calibration and run variants).
void parse_input(const YAML::Node& n, const std::string& path, PreprocessSpec& p);
// Reads a `decoder:` node (a type name, or a map with type, score_threshold, nms_iou, top_k, max_detections,
// labels, labels_file) into `d`; throws with file:line:col for an unknown type or a bad value.
void parse_decoder(const YAML::Node& n, const std::string& path, DecoderOptions& d);

// Reads `input:` and `decoder:` of a YAML node (the keys of a run variant). Throws with line numbers.
void parse_task_yaml(const YAML::Node& n, const std::string& path, TaskSpec& t);

}  // namespace ec
