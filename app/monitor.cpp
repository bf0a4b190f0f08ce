#include "monitor.h"

#include <httplib.h>

#include <chrono>
#include <fstream>

#include "error.h"
#include "monitor_page.h"

namespace ec {

bool is_loopback_host(const std::string& h) { return h == "localhost" || h == "::1" || h.rfind("127.", 0) == 0; }

namespace {

void parse_listen(const std::string& s, std::string& host, int& port) {
  std::string p = s;
  host = "127.0.0.1";
  const auto colon = s.rfind(':');
  if (colon != std::string::npos) {
    if (colon > 0) host = s.substr(0, colon);
    p = s.substr(colon + 1);
  }
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (p.empty() || p.size() > 5 || p.find_first_not_of("0123456789") != std::string::npos || std::stoi(p) > 65535)
    throw Error("monitor listen '" + s + "': port '" + p + "' is not a number 0..65535");
  port = std::stoi(p);
}

bool readable(const std::string& p) { return std::ifstream(p).good(); }

// Whether `given` equals `secret`, in a time that depends only on the secret's length (not on where the first
// differing byte is), so a client cannot find the token byte by byte from response times.
bool same_secret(const std::string& given, const std::string& secret) {
  unsigned char diff = given.size() == secret.size() ? 0 : 1;
  for (size_t i = 0; i < secret.size(); ++i)
    diff |= static_cast<unsigned char>((i < given.size() ? given[i] : 0) ^ secret[i]);
  return diff == 0;
}

}  // namespace

MonitorServer::MonitorServer(const MonitorConfig& cfg, Pipeline& pl) {
  parse_listen(cfg.listen, host_, port_);
  if (!is_loopback_host(host_) && cfg.token.empty())
    throw Error("monitor listen '" + cfg.listen + "': a non-loopback address needs a bearer token (monitor.token or --http-token)");
  if (cfg.tls_cert.empty() != cfg.tls_key.empty()) throw Error("monitor: TLS needs both tls_cert and tls_key");
  if (!cfg.tls_cert.empty()) {
    for (const std::string& f : {cfg.tls_cert, cfg.tls_key})
      if (!readable(f)) throw Error("monitor: " + f + ": cannot read");
    auto s = std::make_unique<httplib::SSLServer>(cfg.tls_cert.c_str(), cfg.tls_key.c_str());
    if (!s->is_valid()) throw Error("monitor: " + cfg.tls_cert + " / " + cfg.tls_key + ": not a usable certificate and key");
    srv_ = std::move(s);
    tls_ = true;
  } else {
    srv_ = std::make_unique<httplib::Server>();
  }
  const std::string token = cfg.token;
  srv_->set_pre_routing_handler([token](const httplib::Request& req, httplib::Response& res) {
    if (token.empty()) return httplib::Server::HandlerResponse::Unhandled;
    const std::string auth = req.get_header_value("Authorization");
    const bool bearer = auth.rfind("Bearer ", 0) == 0 && same_secret(auth.substr(7), token);
    if (bearer || same_secret(req.get_param_value("token"), token)) return httplib::Server::HandlerResponse::Unhandled;
    res.status = 401;
    res.set_header("WWW-Authenticate", "Bearer");
    res.set_content("unauthorized: send 'Authorization: Bearer <token>'\n", "text/plain");
    return httplib::Server::HandlerResponse::Handled;
  });
  srv_->Get("/metrics", [&pl](const httplib::Request&, httplib::Response& res) {
    res.set_content(pl.metrics().prometheus_text(), "text/plain; version=0.0.4; charset=utf-8");
  });
  srv_->Get("/api/status", [&pl](const httplib::Request&, httplib::Response& res) {
    nlohmann::json s = pl.status();
    if (s.is_null()) s = {{"status", "starting"}};
    res.set_content(s.dump(), "application/json");
  });
  srv_->Get("/snapshot.jpg", [&pl](const httplib::Request&, httplib::Response& res) {
    std::vector<unsigned char> jpg;
    uint64_t seq = 0;
    if (!pl.latest_jpeg(jpg, seq)) {
      res.status = 503;
      res.set_header("Retry-After", "1");
      res.set_content("no frame yet\n", "text/plain");
      return;
    }
    res.set_header("Cache-Control", "no-store");
    res.set_content(std::string(jpg.begin(), jpg.end()), "image/jpeg");
  });
  srv_->Get("/stream.mjpg", [&pl](const httplib::Request&, httplib::Response& res) {
    res.set_content_provider("multipart/x-mixed-replace; boundary=ecframe", [&pl](size_t, httplib::DataSink& sink) {
      uint64_t last = 0;
      for (int idle = 0; idle < 100 && sink.is_writable(); ++idle) {  // ends after 10 s without new frames
        std::vector<unsigned char> jpg;
        uint64_t seq = 0;
        if (pl.latest_jpeg(jpg, seq) && seq != last) {
          last = seq;
          idle = 0;
          const std::string head = "--ecframe\r\nContent-Type: image/jpeg\r\nContent-Length: " + std::to_string(jpg.size()) + "\r\n\r\n";
          if (!sink.write(head.data(), head.size()) || !sink.write(reinterpret_cast<const char*>(jpg.data()), jpg.size()) || !sink.write("\r\n", 2))
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      sink.done();
      return true;
    });
  });
  srv_->Get("/", [](const httplib::Request&, httplib::Response& res) { res.set_content(kMonitorPage, "text/html; charset=utf-8"); });
  if (port_ == 0) {
    port_ = srv_->bind_to_any_port(host_.c_str());
    if (port_ < 0) throw Error("monitor: cannot listen on " + host_);
  } else if (!srv_->bind_to_port(host_.c_str(), port_)) {
    throw Error("monitor: cannot listen on " + host_ + ":" + std::to_string(port_) + " (in use or not an address of this machine)");
  }
  th_ = std::thread([this] { srv_->listen_after_bind(); });
}

MonitorServer::~MonitorServer() {
  if (srv_) srv_->stop();
  if (th_.joinable()) th_.join();
}

std::string MonitorServer::url() const {
  return std::string(tls_ ? "https://" : "http://") + (host_.find(':') != std::string::npos ? "[" + host_ + "]" : host_) + ":" + std::to_string(port_);
}

}  // namespace ec
