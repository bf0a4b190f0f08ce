// The monitoring endpoint of `run` (GNU libmicrohttpd): /metrics (Prometheus text format), /api/status (JSON),
// /snapshot.jpg and /stream.mjpg (the live overlay), and / (a web page with the video and charts).
// Bound to 127.0.0.1 by default; any other address needs a bearer token; TLS when a certificate and key are
// given. Built to face a network: a connection limit and a per-client limit (refused connections are closed at
// once), a deadline for each request head (a client sending a byte a second is cut off), an idle timeout,
// bounded memory per connection, and unauthorized requests answered 401 with a constant-time token comparison
// and logged at most once per 10 s.
#pragma once
#include <memory>
#include <string>

#include "runner.h"

namespace ec {

struct MonitorConfig {
  std::string listen;    // "HOST:PORT", ":PORT" or "PORT" (host 127.0.0.1); "" = off
  std::string token;     // bearer token; required unless the host is a loopback address
  std::string tls_cert;  // PEM files: both or neither
  std::string tls_key;
  int max_connections = 256;           // open connections at once; more are closed on accept
  int max_connections_per_client = 0;  // per client address; 0: only max_connections applies
  double request_timeout_s = 10;       // a request head must be complete this long after the connection opened
                                       // or the previous response ended (also the idle keep-alive time), seconds
  double stream_idle_s = 10;           // /stream.mjpg ends after this long without a new frame; /snapshot.jpg
                                       // waits at most min(1 s, this) for the first frame, seconds
};

// Counters of the HTTP side (also exported in /metrics as ec_http_*).
struct MonitorCounters {
  uint64_t connections_open = 0;
  uint64_t connections_total = 0;     // accepted
  uint64_t refused_limit = 0;         // closed on accept: max_connections reached
  uint64_t refused_per_client = 0;    // closed on accept: max_connections_per_client reached
  uint64_t head_timeouts = 0;         // cut off: request head not complete in request_timeout_s (a connection
                                      // that sends nothing may be closed by the idle timeout first, not counted)
  uint64_t requests = 0;              // answered (any status)
  uint64_t unauthorized = 0;          // answered 401
};

class MonitorServer {
 public:
  // Binds and starts serving on its own threads. Throws ec::Error (one line) for a bad address or limit, a
  // non-loopback address without a token, unreadable or unusable TLS files, or a port in use.
  MonitorServer(const MonitorConfig& cfg, Pipeline& pipeline);
  ~MonitorServer();
  MonitorServer(const MonitorServer&) = delete;
  MonitorServer& operator=(const MonitorServer&) = delete;
  // The bound port (useful with port 0).
  int port() const;
  // "http://127.0.0.1:9108"
  std::string url() const;
  MonitorCounters counters() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// True for 127.0.0.0/8, ::1 and "localhost".
bool is_loopback_host(const std::string& host);

// Whether `given` equals `secret`, in a time that depends only on the secret's length (not on where the first
// differing byte is), so a client cannot find the token byte by byte from response times.
bool same_secret(const std::string& given, const std::string& secret);

}  // namespace ec
