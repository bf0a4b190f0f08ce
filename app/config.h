// YAML configuration: parsed once here into plain structs (libraries never read YAML). Errors name the
// file, line and column: "configs/demo.yaml:12:5: unknown key 'thread' (expected: ...)".
#pragma once
#include <yaml-cpp/yaml.h>

#include <initializer_list>
#include <string>
#include <vector>

#include "error.h"

namespace ec {

// Loads a YAML file; throws ec::Error "path:line:col: message" on syntax errors, naming a missing file.
YAML::Node load_yaml(const std::string& path);
// Throws ec::Error "path:line:col: msg" pointing at `n`.
[[noreturn]] void yaml_fail(const std::string& path, const YAML::Node& n, const std::string& msg);
// Throws for keys of map `n` not in `allowed` (typos are errors, not silently ignored).
void check_keys(const YAML::Node& n, const std::string& path, std::initializer_list<const char*> allowed);
// Reads scalar `key` of map `n` as T, `dflt` when absent; throws naming the key and value when malformed.
template <class T>
T yaml_get(const YAML::Node& n, const char* key, const std::string& path, const T& dflt) {
  const YAML::Node v = n[key];
  if (!v) return dflt;
  try {
    return v.as<T>();
  } catch (const YAML::Exception&) {
    yaml_fail(path, v, std::string("'") + key + "': cannot read '" + (v.IsScalar() ? v.Scalar() : std::string("<") + (v.IsMap() ? "map" : "list") + ">") + "'");
  }
}

// The one-line error for a yaml-cpp exception met while reading file `path`: "path:line:col: message".
Error yaml_error(const std::string& path, const YAML::Exception& e);
// Runs `read` (code that walks the YAML nodes of file `path`) and turns any yaml-cpp exception it lets through
// (a map key that is a list, a node read with as<>() as the wrong kind, a bad-subscript) into yaml_error's
// ec::Error, so no malformed config escapes as an internal error.
template <class F>
auto with_yaml_errors(const std::string& path, F&& read) -> decltype(read()) {
  try {
    return read();
  } catch (const YAML::Exception& e) {
    throw yaml_error(path, e);
  }
}

// Reads file `file` named by a config into `out` when it holds at most `max_bytes`; returns false when it
// cannot be opened or is larger (a config naming /dev/zero or a video must not make the reader run out of
// memory), leaving the message to the caller.
bool read_bounded(const std::string& file, size_t max_bytes, std::string& out);

// Folder of the shipped configs (configs/ of the source tree unless moved).
std::string config_dir();

}  // namespace ec
