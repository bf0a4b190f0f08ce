// edgecompress: one binary, one subcommand per file (cmd_*.cpp). Errors become one line and exit code 1.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "commands.h"
#include "error.h"
#include "sensor.h"

int main(int argc, char** argv) {
  CLI::App app{"edgecompress: make ONNX models smaller and faster, and run them on edge devices"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("edgecompress ") + EC_VERSION);
  ec::add_inspect_command(app);
  ec::add_bench_command(app);
  ec::add_power_command(app);
  ec::add_run_command(app);
  ec::add_report_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const ec::Error& e) {
    std::fprintf(stderr, "edgecompress: %s\n", e.what());
    return 1;
  } catch (const ec::power::PowerError& e) {
    std::fprintf(stderr, "edgecompress: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "edgecompress: internal error: %s\n", e.what());
    return 2;
  }
  return 0;
}
