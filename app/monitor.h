// The monitoring endpoint of `run` (cpp-httplib): /metrics (Prometheus text format), /api/status (JSON),
// /snapshot.jpg and /stream.mjpg (the live overlay), and / (a web page with the video and charts).
// Bound to 127.0.0.1 by default; any other address needs a bearer token; TLS when a certificate and key
// are given.
#pragma once
#include <memory>
#include <string>
#include <thread>

#include "runner.h"

namespace httplib {
class Server;
}

namespace ec {

struct MonitorConfig {
  std::string listen;    // "HOST:PORT", ":PORT" or "PORT" (host 127.0.0.1); "" = off
  std::string token;     // bearer token; required unless the host is a loopback address
  std::string tls_cert;  // PEM files: both or neither
  std::string tls_key;
};

class MonitorServer {
 public:
  // Binds and starts serving on its own threads. Throws ec::Error for a bad address, a non-loopback address
  // without a token, unreadable TLS files or a port in use.
  MonitorServer(const MonitorConfig& cfg, Pipeline& pipeline);
  ~MonitorServer();
  // The bound port (useful with port 0).
  int port() const { return port_; }
  // "http://127.0.0.1:9108"
  std::string url() const;

 private:
  std::unique_ptr<httplib::Server> srv_;
  std::thread th_;
  std::string host_;
  int port_ = 0;
  bool tls_ = false;
};

// True for 127.0.0.0/8, ::1 and "localhost".
bool is_loopback_host(const std::string& host);

}  // namespace ec
