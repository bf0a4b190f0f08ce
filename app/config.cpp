#include "config.h"

#include <fstream>

#include "error.h"

namespace ec {

YAML::Node load_yaml(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw Error(path + ": cannot open config file");
  try {
    return YAML::LoadFile(path);
  } catch (const YAML::ParserException& e) {
    throw Error(path + ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
}

void yaml_fail(const std::string& path, const YAML::Node& n, const std::string& msg) {
  const YAML::Mark m = n.Mark();
  if (m.line < 0) throw Error(path + ": " + msg);
  throw Error(path + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1) + ": " + msg);
}

void check_keys(const YAML::Node& n, const std::string& path, std::initializer_list<const char*> allowed) {
  if (!n) return;
  if (!n.IsMap()) yaml_fail(path, n, "expected a map of settings");
  for (auto it = n.begin(); it != n.end(); ++it) {
    const std::string k = it->first.as<std::string>();
    bool ok = false;
    for (const char* a : allowed) ok = ok || k == a;
    if (!ok) {
      std::string list;
      for (const char* a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      yaml_fail(path, it->first, "unknown key '" + k + "' (expected: " + list + ")");
    }
  }
}

std::string config_dir() { return EC_CONFIG_DIR; }

}  // namespace ec
