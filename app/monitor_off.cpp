// The monitoring endpoint in a build without libmicrohttpd: `run --http` is refused with the reason before the
// pipeline starts; nothing else changes.
#include "error.h"
#include "monitor.h"

namespace ec {

struct MonitorServer::Impl {};

bool is_loopback_host(const std::string& h) { return h == "localhost" || h == "::1" || h.rfind("127.", 0) == 0; }

bool same_secret(const std::string& given, const std::string& secret) {
  unsigned char diff = given.size() == secret.size() ? 0 : 1;
  for (size_t i = 0; i < secret.size(); ++i)
    diff |= static_cast<unsigned char>((i < given.size() ? given[i] : 0) ^ secret[i]);
  return diff == 0;
}

MonitorServer::MonitorServer(const MonitorConfig& cfg, Pipeline&) {
  throw Error("--http " + cfg.listen +
              ": this build has no monitoring endpoint (libmicrohttpd was not found when it was built: install "
              "libmicrohttpd-dev and rebuild)");
}

MonitorServer::~MonitorServer() = default;

int MonitorServer::port() const { return 0; }

MonitorCounters MonitorServer::counters() const { return {}; }

std::string MonitorServer::url() const { return ""; }

}  // namespace ec
