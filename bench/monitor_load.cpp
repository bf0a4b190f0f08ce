// Load on the monitoring endpoint of a running `edgecompress run --http` (loopback only): scrapers reading
// /metrics at a fixed rate over keep-alive connections (as Prometheus does), clients watching /stream.mjpg, and
// slow clients that send a request head one byte a second and never finish it. Every loop ends at the deadline.
//   bench_monitor_load PORT [--seconds 30] [--scrapers 200] [--rate 10] [--mjpeg 20] [--slow 20]
// Prints one JSON object: scrapes answered 200 and failed, scrape latency (ms, p50/p95/p99/max), reconnects,
// MJPEG frames per client (min/median) and bytes, and for the slow clients how often and after how long the
// server cut them off (s, min/max) and how long the connections still open at the deadline had been held.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

int g_port = 0;

// A blocking loopback connection with 5 s send/receive timeouts; -1 on failure.
int connect_loopback() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(g_port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool send_all(int fd, const std::string& s) {
  size_t at = 0;
  while (at < s.size()) {
    const ssize_t n = ::send(fd, s.data() + at, s.size() - at, MSG_NOSIGNAL);
    if (n <= 0) return false;
    at += static_cast<size_t>(n);
  }
  return true;
}

// Reads one response with a Content-Length body; returns the status (0 on failure). `keep` false when the
// server said it closes the connection.
int read_response(int fd, bool& keep) {
  std::string buf;
  char chunk[16384];
  size_t head_end = std::string::npos;
  while (head_end == std::string::npos) {
    const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) return 0;
    buf.append(chunk, static_cast<size_t>(n));
    head_end = buf.find("\r\n\r\n");
    if (buf.size() > 65536) return 0;
  }
  int status = 0;
  if (std::sscanf(buf.c_str(), "HTTP/1.%*d %d", &status) != 1) return 0;
  std::string head = buf.substr(0, head_end);
  std::transform(head.begin(), head.end(), head.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const size_t cl = head.find("content-length:");
  if (cl == std::string::npos) return 0;
  const size_t body = std::strtoull(head.c_str() + cl + 15, nullptr, 10);
  keep = head.find("connection: close") == std::string::npos;
  size_t have = buf.size() - head_end - 4;
  while (have < body) {
    const ssize_t n = ::recv(fd, chunk, std::min(sizeof chunk, body - have), 0);
    if (n <= 0) return 0;
    have += static_cast<size_t>(n);
  }
  return status;
}

struct ScrapeStats {
  std::vector<double> ms;
  long failed = 0, reconnects = 0;
};

void scraper(Clock::time_point end, double rate_hz, unsigned seed, ScrapeStats& st) {
  std::mt19937 rng(seed);
  const auto period = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / rate_hz));
  auto next = Clock::now() + std::chrono::duration_cast<Clock::duration>(period * std::uniform_real_distribution<double>(0, 1)(rng));
  int fd = -1;
  const std::string req = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/plain\r\n\r\n";
  while (next < end) {
    std::this_thread::sleep_until(next);
    next += period;
    if (fd < 0) {
      fd = connect_loopback();
      ++st.reconnects;
      if (fd < 0) {
        ++st.failed;
        continue;
      }
    }
    const auto t0 = Clock::now();
    bool keep = true;
    const int status = send_all(fd, req) ? read_response(fd, keep) : 0;
    if (status == 200) {
      st.ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    } else {
      ++st.failed;
      keep = false;
    }
    if (!keep) {
      ::close(fd);
      fd = -1;
    }
  }
  if (fd >= 0) ::close(fd);
  --st.reconnects;  // the first connection is not a reconnect
}

struct StreamStats {
  long frames = 0, bytes = 0, reconnects = 0;
};

void watcher(Clock::time_point end, StreamStats& st) {
  const std::string tag = "--ecframe";
  while (Clock::now() < end) {
    const int fd = connect_loopback();
    ++st.reconnects;
    if (fd < 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      continue;
    }
    timeval tv{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (send_all(fd, "GET /stream.mjpg HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")) {
      std::string carry;
      char chunk[65536];
      while (Clock::now() < end) {
        const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) break;
        if (n < 0) continue;
        st.bytes += n;
        std::string s = carry + std::string(chunk, static_cast<size_t>(n));
        for (size_t at = s.find(tag); at != std::string::npos; at = s.find(tag, at + tag.size())) ++st.frames;
        carry = s.substr(s.size() > tag.size() - 1 ? s.size() - (tag.size() - 1) : 0);
      }
    }
    ::close(fd);
  }
  --st.reconnects;
}

struct SlowStats {
  long cuts = 0;               // connections the server cut off
  double cut_min_s = 1e9, cut_max_s = 0;
  double open_at_end_s = 0;    // how long the connection open at the deadline had been held (0: none)
};

// Sends a request head one byte a second and never finishes it; when the server cuts the connection off,
// comes back with a new one (as an attacker would) until the deadline.
void slow_client(Clock::time_point end, SlowStats& st) {
  const std::string head = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
  while (Clock::now() < end) {
    const int fd = connect_loopback();
    if (fd < 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      continue;
    }
    const auto t0 = Clock::now();
    bool cut = false;
    for (size_t i = 0; Clock::now() < end; ++i) {
      const char c = i < head.size() ? head[i] : 'a';
      pollfd p{fd, POLLIN, 0};
      // the server closed the connection (or answered an error, also the end of the request): cut off
      cut = ::send(fd, &c, 1, MSG_NOSIGNAL) != 1 || ::poll(&p, 1, 1000) > 0;
      if (cut) break;
    }
    const double held = std::chrono::duration<double>(Clock::now() - t0).count();
    if (cut) {
      ++st.cuts;
      st.cut_min_s = std::min(st.cut_min_s, held);
      st.cut_max_s = std::max(st.cut_max_s, held);
    } else {
      st.open_at_end_s = held;
    }
    ::close(fd);
  }
}

double quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_monitor_load PORT [--seconds 30] [--scrapers 200] [--rate 10] [--mjpeg 20] [--slow 20]\n");
    return 2;
  }
  g_port = std::atoi(argv[1]);
  double seconds = 30, rate = 10;
  int scrapers = 200, mjpeg = 20, slow = 20;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const double v = std::atof(argv[i + 1]);
    if (k == "--seconds") seconds = v;
    else if (k == "--scrapers") scrapers = static_cast<int>(v);
    else if (k == "--rate") rate = v;
    else if (k == "--mjpeg") mjpeg = static_cast<int>(v);
    else if (k == "--slow") slow = static_cast<int>(v);
    else {
      std::fprintf(stderr, "bench_monitor_load: unknown option %s\n", k.c_str());
      return 2;
    }
  }
  if (g_port <= 0 || g_port > 65535 || seconds <= 0 || seconds > 3600 || rate <= 0 || rate > 1000 || scrapers < 0 || scrapers > 2000 ||
      mjpeg < 0 || mjpeg > 200 || slow < 0 || slow > 500) {
    std::fprintf(stderr, "bench_monitor_load: a value out of range (port 1..65535, seconds <= 3600, rate <= 1000, scrapers <= 2000, mjpeg <= 200, slow <= 500)\n");
    return 2;
  }
  const auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  std::vector<ScrapeStats> ss(static_cast<size_t>(scrapers));
  std::vector<StreamStats> ws(static_cast<size_t>(mjpeg));
  std::vector<SlowStats> sl(static_cast<size_t>(slow));
  std::vector<std::thread> th;
  for (int i = 0; i < scrapers; ++i) th.emplace_back(scraper, end, rate, 1000u + static_cast<unsigned>(i), std::ref(ss[static_cast<size_t>(i)]));
  for (int i = 0; i < mjpeg; ++i) th.emplace_back(watcher, end, std::ref(ws[static_cast<size_t>(i)]));
  for (int i = 0; i < slow; ++i) th.emplace_back(slow_client, end, std::ref(sl[static_cast<size_t>(i)]));
  for (auto& t : th) t.join();

  std::vector<double> ms;
  long ok = 0, failed = 0, reconnects = 0;
  for (auto& s : ss) {
    ok += static_cast<long>(s.ms.size());
    failed += s.failed;
    reconnects += s.reconnects;
    ms.insert(ms.end(), s.ms.begin(), s.ms.end());
  }
  std::vector<double> frames;
  long bytes = 0, wreconnects = 0;
  for (auto& w : ws) {
    frames.push_back(static_cast<double>(w.frames));
    bytes += w.bytes;
    wreconnects += w.reconnects;
  }
  long cuts = 0;
  double cut_min = 1e9, cut_max = 0, open_max = 0;
  for (auto& s : sl) {
    cuts += s.cuts;
    cut_min = std::min(cut_min, s.cut_min_s);
    cut_max = std::max(cut_max, s.cut_max_s);
    open_max = std::max(open_max, s.open_at_end_s);
  }
  std::printf("{\"seconds\": %.1f, \"scrapers\": %d, \"rate_hz\": %.1f, \"scrapes_ok\": %ld, \"scrapes_failed\": %ld, \"scrape_reconnects\": %ld, "
              "\"scrape_ms\": {\"p50\": %.3f, \"p95\": %.3f, \"p99\": %.3f, \"max\": %.3f}, "
              "\"mjpeg_clients\": %d, \"mjpeg_frames_min\": %.0f, \"mjpeg_frames_median\": %.0f, \"mjpeg_bytes\": %ld, \"mjpeg_reconnects\": %ld, "
              "\"slow_clients\": %d, \"slow_cuts\": %ld, \"slow_cut_s_min\": %.2f, \"slow_cut_s_max\": %.2f, \"slow_open_at_end_s_max\": %.2f}\n",
              seconds, scrapers, rate, ok, failed, reconnects, quantile(ms, 0.5), quantile(ms, 0.95), quantile(ms, 0.99),
              ms.empty() ? 0.0 : *std::max_element(ms.begin(), ms.end()), mjpeg, frames.empty() ? 0.0 : *std::min_element(frames.begin(), frames.end()),
              quantile(frames, 0.5), bytes, wreconnects, slow, cuts, cuts ? cut_min : 0.0, cut_max, open_max);
  return 0;
}
