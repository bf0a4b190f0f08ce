// Compression recipes: the YAML file `compress` runs (configs/recipes/*.yaml): a name, an optional calibration
// block (frames and the task's preprocessing) and the steps in order, each a registered pass with its
// parameters as text.
#pragma once
#include <string>
#include <vector>

#include "pass.h"
#include "task.h"

namespace ec {

struct RecipeStep {
  std::string name;
  compress::StepParams params;
};

struct Recipe {
  std::string name;
  std::vector<RecipeStep> steps;
  std::string calib_source;
  int calib_frames = 32, calib_every = 8, calib_start = 0;
  TaskSpec task;
};

// Reads and checks a recipe: known keys only, every step a registered pass with only its own parameters,
// calibration counts in range. Throws ec::Error naming the file and the line for anything wrong.
Recipe load_recipe(const std::string& path);

}  // namespace ec
