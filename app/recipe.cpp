#include "recipe.h"

#include <algorithm>

#include "config.h"
#include "error.h"

namespace ec {

static Recipe read_recipe(const std::string& path) {
  YAML::Node y = load_yaml(path);
  check_keys(y, path, {"name", "description", "calibration", "steps"});
  Recipe r;
  r.name = yaml_get<std::string>(y, "name", path, "");
  if (const YAML::Node c = y["calibration"]) {
    check_keys(c, path, {"source", "frames", "every", "start", "input"});
    r.calib_source = yaml_get<std::string>(c, "source", path, "");
    r.calib_frames = yaml_get<int>(c, "frames", path, r.calib_frames);
    r.calib_every = yaml_get<int>(c, "every", path, r.calib_every);
    r.calib_start = yaml_get<int>(c, "start", path, 0);
    if (r.calib_frames < 1 || r.calib_every < 1 || r.calib_start < 0) yaml_fail(path, c, "frames and every must be >= 1, start >= 0");
    parse_task_yaml(c, path, r.task);
  }
  const YAML::Node steps = y["steps"];
  if (!steps || !steps.IsSequence() || steps.size() == 0) throw Error(path + ": 'steps' must list at least one step");
  for (const YAML::Node& s : steps) {
    RecipeStep st;
    st.params.where = path + ":" + std::to_string(s.Mark().line + 1);
    if (s.IsScalar()) {
      st.name = s.as<std::string>();
    } else if (s.IsMap() && s.size() == 1) {
      st.name = s.begin()->first.as<std::string>();
      const YAML::Node p = s.begin()->second;
      if (p && !p.IsNull()) {
        if (!p.IsMap()) yaml_fail(path, p, "parameters of '" + st.name + "' must be a map");
        for (auto it = p.begin(); it != p.end(); ++it) {
          const std::string k = it->first.as<std::string>();
          if (it->second.IsSequence()) st.params.lists[k] = it->second.as<std::vector<std::string>>();
          else if (it->second.IsScalar()) st.params.values[k] = it->second.as<std::string>();
          else yaml_fail(path, it->second, "'" + k + "' must be a value or a list");
        }
      }
    } else {
      yaml_fail(path, s, "a step is a name or {name: {parameters}}");
    }
    if (!compress::passes().count(st.name)) {
      std::string known;
      for (auto& kv : compress::passes()) known += (known.empty() ? "" : ", ") + kv.first;
      yaml_fail(path, s, "unknown step '" + st.name + "' (known: " + known + ")");
    }
    const auto& allowed = compress::passes().at(st.name).params;
    for (auto* m : {&st.params.values}) (void)m;
    for (auto& kv : st.params.values)
      if (std::find(allowed.begin(), allowed.end(), kv.first) == allowed.end())
        yaml_fail(path, s, "step '" + st.name + "' has no parameter '" + kv.first + "'");
    for (auto& kv : st.params.lists)
      if (std::find(allowed.begin(), allowed.end(), kv.first) == allowed.end())
        yaml_fail(path, s, "step '" + st.name + "' has no parameter '" + kv.first + "'");
    r.steps.push_back(st);
  }
  return r;
}

Recipe load_recipe(const std::string& path) {
  return with_yaml_errors(path, [&] { return read_recipe(path); });
}

}  // namespace ec
