#include "config.h"

#include <fstream>

#include "error.h"

namespace ec {

YAML::Node load_yaml(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw Error(path + ": cannot open config file");
  return with_yaml_errors(path, [&] { return YAML::LoadFile(path); });
}

Error yaml_error(const std::string& path, const YAML::Exception& e) {
  std::string msg = e.msg.empty() ? std::string(e.what()) : e.msg;
  if (msg == "bad conversion") msg = "a key or value of the wrong kind here (a list or map where a name or number belongs)";
  if (e.mark.is_null()) return Error(path + ": " + msg);
  return Error(path + ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1) + ": " + msg);
}

bool read_bounded(const std::string& file, size_t max_bytes, std::string& out) {
  std::ifstream f(file, std::ios::binary);
  if (!f) return false;
  out.assign(max_bytes + 1, '\0');
  f.read(&out[0], static_cast<std::streamsize>(max_bytes + 1));
  out.resize(static_cast<size_t>(f.gcount()));
  return out.size() <= max_bytes;
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
