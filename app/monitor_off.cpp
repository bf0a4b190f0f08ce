// The monitoring endpoint in a build without cpp-httplib (Debian 11, Ubuntu 20.04): `run --http` is refused
// with the reason before the pipeline starts; nothing else changes.
#include "error.h"
#include "monitor.h"

namespace httplib {
class Server {};
}  // namespace httplib

namespace ec {

bool is_loopback_host(const std::string& h) { return h == "localhost" || h == "::1" || h.rfind("127.", 0) == 0; }

MonitorServer::MonitorServer(const MonitorConfig& cfg, Pipeline&) {
  throw Error("--http " + cfg.listen +
              ": this build has no monitoring endpoint (cpp-httplib was not found when it was built: install "
              "libcpp-httplib-dev where the release has it and rebuild)");
}

MonitorServer::~MonitorServer() = default;

std::string MonitorServer::url() const { return ""; }

}  // namespace ec
