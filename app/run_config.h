// The `run` YAML config -> RunConfig (+ power settings), with file:line:col errors.
#pragma once
#include <string>

#include "monitor.h"
#include "power_setup.h"
#include "runner.h"

namespace ec {

struct RunSetup {
  RunConfig run;
  PowerConfig power;
  MonitorConfig monitor;
};

// Parses a run config file. Throws ec::Error "path:line:col: ..." for syntax errors, unknown keys and bad
// values; relative paths stay relative to the current directory.
RunSetup load_run_config(const std::string& path);
// The resolved config as YAML (saved in sessions).
std::string run_config_yaml(const RunSetup& s);

}  // namespace ec
