#include "monitor.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdarg>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>
#include <unordered_map>

#include "error.h"
#include "monitor_page.h"

// libmicrohttpd 0.9.71 turned the callbacks' int results into enum MHD_Result (Ubuntu 20.04 has 0.9.66).
#if MHD_VERSION >= 0x00097002
using mhd_result = enum MHD_Result;
#else
using mhd_result = int;
#endif

namespace ec {

bool is_loopback_host(const std::string& h) { return h == "localhost" || h == "::1" || h.rfind("127.", 0) == 0; }

bool same_secret(const std::string& given, const std::string& secret) {
  unsigned char diff = given.size() == secret.size() ? 0 : 1;
  for (size_t i = 0; i < secret.size(); ++i)
    diff |= static_cast<unsigned char>((i < given.size() ? given[i] : 0) ^ secret[i]);
  return diff == 0;
}

namespace {

using Clock = std::chrono::steady_clock;

void parse_listen(const std::string& s, std::string& host, int& port) {
  std::string p = s;
  host = "127.0.0.1";
  const auto colon = s.rfind(':');
  if (colon != std::string::npos && s.find(']') == std::string::npos && s.find(':') != colon) {
    // a bare IPv6 address without a port ("::1") is not accepted: the last colon would be read as the port
    throw Error("monitor listen '" + s + "': write an IPv6 address in brackets with a port, e.g. [::1]:9108");
  }
  if (colon != std::string::npos) {
    if (colon > 0) host = s.substr(0, colon);
    p = s.substr(colon + 1);
  }
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (p.empty() || p.size() > 5 || p.find_first_not_of("0123456789") != std::string::npos || std::stoi(p) > 65535)
    throw Error("monitor listen '" + s + "': port '" + p + "' is not a number 0..65535");
  port = std::stoi(p);
}

std::string read_file(const std::string& path, size_t max_bytes) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error("monitor: " + path + ": cannot read");
  std::string text(max_bytes + 1, '\0');
  f.read(&text[0], static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(f.gcount()));
  if (text.size() > max_bytes) throw Error("monitor: " + path + ": larger than " + std::to_string(max_bytes) + " bytes, not a PEM file");
  return text;
}

std::string address_text(const sockaddr* a) {
  char buf[INET6_ADDRSTRLEN] = "?";
  if (!a) return buf;
  if (a->sa_family == AF_INET) inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(a)->sin_addr, buf, sizeof buf);
  if (a->sa_family == AF_INET6) inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(a)->sin6_addr, buf, sizeof buf);
  return buf;
}

// One open connection as the watchdog sees it.
struct Conn {
  int fd = -1;
  std::string client;
  Clock::time_point head_since;  // when the current request head began to be awaited
  bool in_request = false;       // head complete, request being answered
  bool cut = false;              // shut down by the watchdog
};

// The state of one /stream.mjpg response: the part being sent and where.
struct MjpegStream {
  MonitorServer::Impl* impl;
  std::string part;  // boundary, headers, JPEG, CRLF
  size_t at = 0;
  uint64_t seq = 0;
};

}  // namespace

struct MonitorServer::Impl {
  MonitorConfig cfg;
  Pipeline& pl;
  std::string host;
  int port = 0;
  bool tls = false;
  MHD_Daemon* daemon = nullptr;
  std::string tls_key, tls_cert;  // PEM text; libmicrohttpd keeps pointers to it
  std::mutex log_mu;
  std::string last_log;  // libmicrohttpd's last message (for start errors), guarded by log_mu

  std::mutex mu;  // guards conns, per_client, counters, the 401 log state
  std::unordered_map<MHD_Connection*, Conn> conns;
  std::map<std::string, int> per_client;
  MonitorCounters counters;
  uint64_t unauth_unlogged = 0;
  std::string unauth_last;
  Clock::time_point unauth_logged_at{};

  std::mutex metrics_mu;  // the rendered pipeline metrics, reused for 100 ms (200 scrapers at 10 Hz render ~10/s)
  std::string metrics_text;
  Clock::time_point metrics_at{};

  std::atomic<bool> stopping{false};
  std::mutex stop_mu;
  std::condition_variable stop_cv;
  std::thread watchdog;

  Impl(const MonitorConfig& c, Pipeline& p) : cfg(c), pl(p) {}

  void log_unauthorized_locked(bool force) {
    const auto now = Clock::now();
    if (unauth_unlogged == 0 || (!force && now - unauth_logged_at < std::chrono::seconds(10))) return;
    if (unauth_logged_at == Clock::time_point{})
      std::fprintf(stderr, "monitor: unauthorized request (401): %s; more are counted and logged once per 10 s\n", unauth_last.c_str());
    else
      std::fprintf(stderr, "monitor: %llu unauthorized request%s (401) in the last 10 s, the last: %s\n",
                   static_cast<unsigned long long>(unauth_unlogged), unauth_unlogged == 1 ? "" : "s", unauth_last.c_str());
    unauth_unlogged = 0;
    unauth_logged_at = now;
  }

  // Every 100 ms: cuts off connections whose request head is overdue; flushes the 401 log line.
  void watch() {
    const auto limit = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(cfg.request_timeout_s));
    std::unique_lock<std::mutex> sl(stop_mu);
    while (!stopping) {
      stop_cv.wait_for(sl, std::chrono::milliseconds(100));
      const auto now = Clock::now();
      std::lock_guard<std::mutex> l(mu);
      for (auto& [c, s] : conns) {
        if (s.in_request || s.cut || now - s.head_since < limit) continue;
        // libmicrohttpd's thread for this connection is waiting in poll(): the shutdown wakes it with an end of
        // stream and it closes the connection (and tells us, under `mu`, so the fd cannot be reused meanwhile).
        ::shutdown(s.fd, SHUT_RDWR);
        s.cut = true;
        ++counters.head_timeouts;
      }
      log_unauthorized_locked(false);
    }
  }

  std::string metrics() {
    std::string text;
    {
      std::lock_guard<std::mutex> l(metrics_mu);
      const auto now = Clock::now();
      if (metrics_at == Clock::time_point{} || now - metrics_at > std::chrono::milliseconds(100)) {
        metrics_text = pl.metrics().prometheus_text();
        metrics_at = now;
      }
      text = metrics_text;
    }
    MonitorCounters c;
    {
      std::lock_guard<std::mutex> l(mu);
      c = counters;
    }
    std::ostringstream o;
    o << "# HELP ec_http_connections Open connections to the monitoring endpoint.\n# TYPE ec_http_connections gauge\n"
      << "ec_http_connections " << c.connections_open << "\n"
      << "# HELP ec_http_connections_total Connections accepted.\n# TYPE ec_http_connections_total counter\n"
      << "ec_http_connections_total " << c.connections_total << "\n"
      << "# HELP ec_http_refused_total Connections closed on accept by a limit.\n# TYPE ec_http_refused_total counter\n"
      << "ec_http_refused_total{limit=\"max_connections\"} " << c.refused_limit << "\n"
      << "ec_http_refused_total{limit=\"max_connections_per_client\"} " << c.refused_per_client << "\n"
      << "# HELP ec_http_head_timeouts_total Connections cut off because a request head was not complete in time.\n"
      << "# TYPE ec_http_head_timeouts_total counter\nec_http_head_timeouts_total " << c.head_timeouts << "\n"
      << "# HELP ec_http_requests_total Requests answered.\n# TYPE ec_http_requests_total counter\n"
      << "ec_http_requests_total " << c.requests << "\n"
      << "# HELP ec_http_unauthorized_total Requests answered 401.\n# TYPE ec_http_unauthorized_total counter\n"
      << "ec_http_unauthorized_total " << c.unauthorized << "\n";
    return text + o.str();
  }

  // --- libmicrohttpd callbacks (static, `cls` is the Impl)

  static mhd_result accept_policy(void* cls, const sockaddr* addr, socklen_t) {
    auto* self = static_cast<Impl*>(cls);
    const std::string client = address_text(addr);
    std::lock_guard<std::mutex> l(self->mu);
    if (self->conns.size() >= static_cast<size_t>(self->cfg.max_connections)) {
      ++self->counters.refused_limit;
      return MHD_NO;
    }
    if (self->cfg.max_connections_per_client > 0) {
      auto it = self->per_client.find(client);
      if (it != self->per_client.end() && it->second >= self->cfg.max_connections_per_client) {
        ++self->counters.refused_per_client;
        return MHD_NO;
      }
    }
    return MHD_YES;
  }

  static void notify_connection(void* cls, MHD_Connection* c, void**, enum MHD_ConnectionNotificationCode code) {
    auto* self = static_cast<Impl*>(cls);
    std::lock_guard<std::mutex> l(self->mu);
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
      Conn s;
      // Each answer is read before the next call: libmicrohttpd 1.0 returns the same per-connection union for
      // every query, so the address query overwrites the socket (0.9 kept one member per query).
      const MHD_ConnectionInfo* fd = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
      s.fd = fd ? fd->connect_fd : -1;
      const MHD_ConnectionInfo* ad = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
      s.client = address_text(ad ? ad->client_addr : nullptr);
      s.head_since = Clock::now();
      ++self->per_client[s.client];
      self->conns[c] = std::move(s);
      ++self->counters.connections_total;
      self->counters.connections_open = self->conns.size();
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
      auto it = self->conns.find(c);
      if (it == self->conns.end()) return;
      auto pc = self->per_client.find(it->second.client);
      if (pc != self->per_client.end() && --pc->second <= 0) self->per_client.erase(pc);
      self->conns.erase(it);
      self->counters.connections_open = self->conns.size();
    }
  }

  static void request_completed(void* cls, MHD_Connection* c, void**, enum MHD_RequestTerminationCode) {
    auto* self = static_cast<Impl*>(cls);
    std::lock_guard<std::mutex> l(self->mu);
    auto it = self->conns.find(c);
    if (it == self->conns.end()) return;
    it->second.in_request = false;  // the next request head is awaited from now on
    it->second.head_since = Clock::now();
  }

  static void log(void* cls, const char* fmt, va_list ap) {
    char buf[512];
    std::vsnprintf(buf, sizeof buf, fmt, ap);
    std::string m = buf;
    while (!m.empty() && (m.back() == '\n' || m.back() == '\r')) m.pop_back();
    auto* self = static_cast<Impl*>(cls);
    std::lock_guard<std::mutex> l(self->log_mu);
    self->last_log = m;  // read after a failed start; at run time only the latest is kept
  }

  static mhd_result answer(MHD_Connection* c, unsigned status, const std::string& body, const char* type,
                           std::initializer_list<std::pair<const char*, const char*>> headers = {}) {
    MHD_Response* r = MHD_create_response_from_buffer(body.size(), const_cast<char*>(body.data()), MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    for (const auto& h : headers) MHD_add_response_header(r, h.first, h.second);
    const mhd_result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
  }

  static ssize_t mjpeg_read(void* cls, uint64_t, char* buf, size_t max) {
    auto* st = static_cast<MjpegStream*>(cls);
    if (st->at >= st->part.size()) {
      // wait (in this connection's own thread) for a newer frame; the stream ends after stream_idle_s without one
      std::vector<unsigned char> jpg;
      uint64_t seq = 0;
      for (int waited_ms = 0;; waited_ms += 25) {
        if (st->impl->stopping) return MHD_CONTENT_READER_END_OF_STREAM;
        if (st->impl->pl.jpeg_seq() != st->seq && st->impl->pl.latest_jpeg(jpg, seq) && seq != st->seq) break;
        if (waited_ms >= st->impl->cfg.stream_idle_s * 1000) return MHD_CONTENT_READER_END_OF_STREAM;
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
      }
      st->seq = seq;
      st->part = "--ecframe\r\nContent-Type: image/jpeg\r\nContent-Length: " + std::to_string(jpg.size()) + "\r\n\r\n";
      st->part.append(reinterpret_cast<const char*>(jpg.data()), jpg.size());
      st->part += "\r\n";
      st->at = 0;
    }
    const size_t n = std::min(max, st->part.size() - st->at);
    std::memcpy(buf, st->part.data() + st->at, n);
    st->at += n;
    return static_cast<ssize_t>(n);
  }

  static mhd_result handle(void* cls, MHD_Connection* c, const char* url, const char* method, const char*,
                           const char*, size_t* upload_size, void** req) {
    auto* self = static_cast<Impl*>(cls);
    if (*req == nullptr) {  // first call: the head is complete. Answered on the next call: libmicrohttpd closes
      *req = self;          // the connection after a response queued this early (no keep-alive)
      std::lock_guard<std::mutex> l(self->mu);
      auto it = self->conns.find(c);
      if (it != self->conns.end()) it->second.in_request = true;
      ++self->counters.requests;
      return MHD_YES;
    }
    if (*upload_size != 0) {  // a body we do not read: drop it; answered after it ends
      *upload_size = 0;
      return MHD_YES;
    }
    const std::string m = method, path = url;
    if (m != "GET" && m != "HEAD") return answer(c, 405, "method " + m + " not allowed: GET or HEAD\n", "text/plain", {{"Allow", "GET, HEAD"}});
    if (!self->cfg.token.empty()) {
      const char* auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
      const char* query = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "token");
      const std::string a = auth ? auth : "";
      const bool ok = (a.rfind("Bearer ", 0) == 0 && same_secret(a.substr(7), self->cfg.token)) ||
                      (query && same_secret(query, self->cfg.token));
      if (!ok) {
        {
          std::lock_guard<std::mutex> l(self->mu);
          ++self->counters.unauthorized;
          ++self->unauth_unlogged;
          auto it = self->conns.find(c);
          self->unauth_last = (it != self->conns.end() ? it->second.client : std::string("?")) + " " + m + " " + path.substr(0, 80);
          self->log_unauthorized_locked(false);  // the first at once, then one line per 10 s (from the watchdog)
        }
        return answer(c, 401, "unauthorized: send 'Authorization: Bearer <token>'\n", "text/plain", {{"WWW-Authenticate", "Bearer"}});
      }
    }
    if (path == "/metrics") return answer(c, 200, self->metrics(), "text/plain; version=0.0.4; charset=utf-8");
    if (path == "/api/status") {
      nlohmann::json s = self->pl.status();
      if (s.is_null()) s = {{"status", "starting"}};
      return answer(c, 200, s.dump(), "application/json");
    }
    if (path == "/snapshot.jpg") {
      std::vector<unsigned char> jpg;
      uint64_t seq = 0;
      // the first request starts the live view: wait up to 1 s for its first frame before answering 503
      for (int waited_ms = 0; !self->pl.latest_jpeg(jpg, seq); waited_ms += 20) {
        if (waited_ms >= std::min(1000.0, self->cfg.stream_idle_s * 1000) || self->stopping) return answer(c, 503, "no frame yet\n", "text/plain", {{"Retry-After", "1"}});
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      return answer(c, 200, std::string(jpg.begin(), jpg.end()), "image/jpeg", {{"Cache-Control", "no-store"}});
    }
    if (path == "/stream.mjpg") {
      auto* st = new MjpegStream{self, {}, 0, 0};
      MHD_Response* r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, &Impl::mjpeg_read, st,
                                                          [](void* p) { delete static_cast<MjpegStream*>(p); });
      if (!r) {
        delete st;
        return MHD_NO;
      }
      MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "multipart/x-mixed-replace; boundary=ecframe");
      MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
      const mhd_result ret = MHD_queue_response(c, 200, r);
      MHD_destroy_response(r);
      return ret;
    }
    if (path == "/") return answer(c, 200, kMonitorPage, "text/html; charset=utf-8");
    return answer(c, 404, "not found: " + path.substr(0, 200) + " (/, /metrics, /api/status, /snapshot.jpg, /stream.mjpg)\n", "text/plain");
  }
};

MonitorServer::MonitorServer(const MonitorConfig& cfg, Pipeline& pl) : impl_(std::make_unique<Impl>(cfg, pl)) {
  Impl& d = *impl_;
  parse_listen(cfg.listen, d.host, d.port);
  if (!is_loopback_host(d.host) && cfg.token.empty())
    throw Error("monitor listen '" + cfg.listen + "': a non-loopback address needs a bearer token (monitor.token or --http-token)");
  if (cfg.max_connections < 1 || cfg.max_connections > 65536)
    throw Error("monitor max_connections " + std::to_string(cfg.max_connections) + ": must be 1..65536");
  if (cfg.max_connections_per_client < 0)
    throw Error("monitor max_connections_per_client " + std::to_string(cfg.max_connections_per_client) + ": must be >= 0 (0: no per-client limit)");
  if (!(cfg.request_timeout_s >= 0.5 && cfg.request_timeout_s <= 3600))
    throw Error("monitor request_timeout_s " + std::to_string(cfg.request_timeout_s) + ": must be 0.5..3600 seconds");
  if (!(cfg.stream_idle_s >= 0 && cfg.stream_idle_s <= 3600))
    throw Error("monitor stream_idle_s " + std::to_string(cfg.stream_idle_s) + ": must be 0..3600 seconds");
  if (cfg.tls_cert.empty() != cfg.tls_key.empty()) throw Error("monitor: TLS needs both tls_cert and tls_key");

  addrinfo hints{}, *res = nullptr;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  const std::string service = std::to_string(d.port);
  if (getaddrinfo(d.host.c_str(), service.c_str(), &hints, &res) != 0 || !res)
    throw Error("monitor listen '" + cfg.listen + "': host '" + d.host + "' is not an address of this machine");
  sockaddr_storage addr{};
  const addrinfo* pick = res;
  for (const addrinfo* a = res; a; a = a->ai_next)
    if (a->ai_family == AF_INET) { pick = a; break; }  // "localhost": IPv4 first, as clients try it first
  std::memcpy(&addr, pick->ai_addr, pick->ai_addrlen);
  freeaddrinfo(res);

  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL | MHD_USE_ERROR_LOG;
  if (addr.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
  if (!cfg.tls_cert.empty()) {
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
      throw Error("monitor: TLS asked for (" + cfg.tls_cert + ") but this system's libmicrohttpd has no TLS support");
    d.tls_cert = read_file(cfg.tls_cert, 1 << 20);
    d.tls_key = read_file(cfg.tls_key, 1 << 20);
    flags |= MHD_USE_TLS;
    d.tls = true;
  }
  const unsigned timeout_s = static_cast<unsigned>(cfg.request_timeout_s + 0.999);
  std::vector<MHD_OptionItem> opts = {
      {MHD_OPTION_SOCK_ADDR, 0, &addr},
      {MHD_OPTION_EXTERNAL_LOGGER, reinterpret_cast<intptr_t>(&Impl::log), &d},
      {MHD_OPTION_CONNECTION_LIMIT, cfg.max_connections + 8, nullptr},  // a backstop: ours is checked on accept
      {MHD_OPTION_CONNECTION_TIMEOUT, timeout_s, nullptr},               // inactivity, also while sending
      {MHD_OPTION_CONNECTION_MEMORY_LIMIT, 64 * 1024, nullptr},           // request head and buffers
      {MHD_OPTION_THREAD_STACK_SIZE, 512 * 1024, nullptr},
      {MHD_OPTION_NOTIFY_CONNECTION, reinterpret_cast<intptr_t>(&Impl::notify_connection), &d},
      {MHD_OPTION_NOTIFY_COMPLETED, reinterpret_cast<intptr_t>(&Impl::request_completed), &d},
  };
  if (d.tls) {
    opts.push_back({MHD_OPTION_HTTPS_MEM_KEY, 0, const_cast<char*>(d.tls_key.c_str())});
    opts.push_back({MHD_OPTION_HTTPS_MEM_CERT, 0, const_cast<char*>(d.tls_cert.c_str())});
  }
  opts.push_back({MHD_OPTION_END, 0, nullptr});
  d.daemon = MHD_start_daemon(flags, 0, &Impl::accept_policy, &d, &Impl::handle, &d, MHD_OPTION_ARRAY, opts.data(), MHD_OPTION_END);
  if (!d.daemon) {
    if (d.tls)
      throw Error("monitor: " + cfg.tls_cert + " / " + cfg.tls_key + ": not a usable certificate and key (" +
                  (d.last_log.empty() ? "TLS setup failed" : d.last_log) + ")");
    // libmicrohttpd says "Failed to bind to port 0: Address already in use" (the port is in the address we
    // gave it): keep the reason only
    const size_t colon = d.last_log.rfind(": ");
    const std::string why = colon == std::string::npos ? d.last_log : d.last_log.substr(colon + 2);
    throw Error("monitor: cannot listen on " + d.host + ":" + std::to_string(d.port) + " (" +
                (why.empty() ? "in use or not an address of this machine" : why) + ")");
  }
  if (d.port == 0) {
    const MHD_DaemonInfo* li = MHD_get_daemon_info(d.daemon, MHD_DAEMON_INFO_LISTEN_FD);
    sockaddr_storage bound{};
    socklen_t len = sizeof bound;
    if (li && getsockname(li->listen_fd, reinterpret_cast<sockaddr*>(&bound), &len) == 0)
      d.port = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                                 : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  }
  d.watchdog = std::thread([&d] { d.watch(); });
}

MonitorServer::~MonitorServer() {
  Impl& d = *impl_;
  {
    std::lock_guard<std::mutex> l(d.stop_mu);
    d.stopping = true;
  }
  d.stop_cv.notify_all();
  if (d.watchdog.joinable()) d.watchdog.join();
  if (d.daemon) MHD_stop_daemon(d.daemon);  // joins the connection threads (streams end on `stopping`)
  std::lock_guard<std::mutex> l(d.mu);
  d.log_unauthorized_locked(true);
}

int MonitorServer::port() const { return impl_->port; }

MonitorCounters MonitorServer::counters() const {
  std::lock_guard<std::mutex> l(impl_->mu);
  return impl_->counters;
}

std::string MonitorServer::url() const {
  return std::string(impl_->tls ? "https://" : "http://") +
         (impl_->host.find(':') != std::string::npos ? "[" + impl_->host + "]" : impl_->host) + ":" + std::to_string(impl_->port);
}

}  // namespace ec
