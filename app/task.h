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

// Reads `input:` and `decoder:` of a YAML node (the keys of a run variant). Throws with line numbers.
void parse_task_yaml(const YAML::Node& n, const std::string& path, TaskSpec& t);

}  // namespace ec
