// Monitoring as users run it: a real Prometheus server scrapes two edgecompress instances on loopback and
// answers a PromQL query with both; promtool accepts the exposition; the web page renders in headless
// Chromium with the video and the numbers; tokens off loopback; TLS.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <chrono>
#include <regex>
#include <thread>

#include <nlohmann/json.hpp>
#include <set>
#include <opencv2/imgcodecs.hpp>

#include "../engine/helpers.h"
#include "cli.h"

using namespace ec::test;

namespace {

bool have(const char* tool) { return std::system((std::string("command -v ") + tool + " >/dev/null 2>&1").c_str()) == 0; }

std::string tmpdir(const std::string& name) {
  std::string d = testing::TempDir() + "/mon-" + name + "-" + std::to_string(getpid());
  std::system(("rm -rf '" + d + "' && mkdir -p '" + d + "'").c_str());
  return d;
}

void write(const std::string& path, const std::string& text) {
  std::ofstream f(path);
  f << text;
}

int port_base() { return 20000 + static_cast<int>(getpid() % 20000); }

// `edgecompress ARGS` in the background (stdout and stderr to files) until stop().
struct Background {
  pid_t pid = -1;
  Background(const std::string& args, const std::string& out_base) {
    pid = fork();
    if (pid == 0) {
      const std::string cmd = std::string("exec '") + EC_BINARY + "' " + args + " >'" + out_base + ".out' 2>'" + out_base + ".err' </dev/null";
      execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
  }
  // SIGINT (a clean end) and the exit code.
  int stop() {
    if (pid <= 0) return -1;
    kill(pid, SIGINT);
    int st = 0;
    waitpid(pid, &st, 0);
    pid = -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  }
  ~Background() { stop(); }
};

// A TCP connection to 127.0.0.1:port from the loopback address `from` (127.0.0.x: another client to the
// server); -1 when connect fails.
int connect_from(const std::string& from, int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  inet_pton(AF_INET, from.c_str(), &a.sin_addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  a.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Sends GET `path` and reads the answer until its body is complete or `timeout_ms` passes; returns the status
// line's code (0: the connection was closed or nothing came) and the body.
int http_get(int fd, const std::string& path, std::string* body = nullptr, int timeout_ms = 20000) {
  const std::string req = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  if (send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) return 0;
  std::string buf;
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < end) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    char chunk[8192];
    const ssize_t n = recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) break;
    buf.append(chunk, static_cast<size_t>(n));
    const size_t he = buf.find("\r\n\r\n");
    std::smatch m;
    if (he != std::string::npos && std::regex_search(buf, m, std::regex("Content-Length: (\\d+)", std::regex::icase)) &&
        buf.size() >= he + 4 + std::stoul(m[1].str()))
      break;
  }
  int status = 0;
  if (std::sscanf(buf.c_str(), "HTTP/1.%*d %d", &status) != 1) return 0;
  if (body) *body = buf.substr(std::min(buf.size(), buf.find("\r\n\r\n") + 4));
  return status;
}

// Whether the server closes `fd` (end of stream or reset) within `timeout_ms` without sending anything.
bool closed_by_server(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, timeout_ms) <= 0) return false;
  char c;
  return recv(fd, &c, 1, 0) <= 0;
}

// Connects until the server answers (it is starting), at most 60 s.
bool wait_listening(int port) {
  for (int i = 0; i < 600; ++i) {
    const int fd = connect_from("127.0.0.1", port);
    if (fd >= 0) {
      close(fd);
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

// The value of a /metrics sample line `name` (-1 when absent).
double sample(const std::string& text, const std::string& name) {
  const size_t at = text.find("\n" + name + " ");
  return at == std::string::npos ? -1 : std::stod(text.substr(at + name.size() + 2));
}

std::string config(const std::string& extra = "") {
  return "source: {uri: 'test://ball', width: 320, height: 240, fps: 30}\nvariants:\n  - name: bf128\n    model: " + models_dir() +
         "/blazeface128.onnx\n    input: {scale: 0.00784313725, mean: [1, 1, 1]}\n    decoder: blazeface\noutput: none://\n" + extra;
}

}  // namespace

// A build without libmicrohttpd has no monitoring endpoint: say so instead of failing.
#ifdef EC_HAVE_HTTP
#define REQUIRE_HTTP()
#else
#define REQUIRE_HTTP() GTEST_SKIP() << "built without libmicrohttpd: run --http is refused by design"
#endif

TEST(Monitor, PrometheusScrapesTwoInstances) {
  REQUIRE_HTTP();
  if (!have("prometheus") || !have("promtool")) GTEST_SKIP() << "prometheus/promtool not installed (Debian package prometheus)";
  const std::string d = tmpdir("prom");
  write(d + "/c.yaml", config());
  const int p1 = port_base(), p2 = p1 + 1, pp = p1 + 2;
  write(d + "/prometheus.yml", "global: {scrape_interval: 1s}\nscrape_configs:\n  - job_name: edgecompress\n    static_configs:\n"
                               "      - targets: ['127.0.0.1:" + std::to_string(p1) + "', '127.0.0.1:" + std::to_string(p2) + "']\n");
  CliResult r = run_shell(
      "\"$bin\" run -c '" + d + "/c.yaml' --quiet --duration 20 --http 127.0.0.1:" + std::to_string(p1) + " & a=$!\n"
      "\"$bin\" run -c '" + d + "/c.yaml' --quiet --duration 20 --http 127.0.0.1:" + std::to_string(p2) + " & b=$!\n"
      "prometheus --config.file='" + d + "/prometheus.yml' --storage.tsdb.path='" + d + "/tsdb' --web.listen-address=127.0.0.1:" + std::to_string(pp) +
      " --log.level=warn >'" + d + "/prom.log' 2>&1 & p=$!\n"
      "waiturl http://127.0.0.1:" + std::to_string(p1) + "/metrics; waiturl http://127.0.0.1:" + std::to_string(p2) + "/metrics\n"
      "curl -sf http://127.0.0.1:" + std::to_string(p1) + "/metrics > '" + d + "/metrics.txt'; promtool check metrics < '" + d +
      "/metrics.txt' && echo PROMTOOL_OK\n"
      "for i in $(seq 1 60); do out=$(curl -sf 'http://127.0.0.1:" + std::to_string(pp) +
      "/api/v1/query?query=ec_variant_frames_total'); n=$(echo \"$out\" | grep -o '\"instance\"' | wc -l); [ \"$n\" -ge 2 ] && break; sleep 1; done\n"
      "echo \"$out\" > '" + d + "/query.json'\n"
      "kill $p; kill -INT $a $b; wait $a $b");
  EXPECT_NE(r.out.find("PROMTOOL_OK"), std::string::npos) << r.out << r.err;
  std::ifstream q(d + "/query.json");
  nlohmann::json j;
  ASSERT_NO_THROW(j = nlohmann::json::parse(q)) << r.err;
  ASSERT_EQ(j["status"], "success");
  std::set<std::string> instances;
  for (auto& s : j["data"]["result"]) {
    instances.insert(s["metric"]["instance"].get<std::string>());
    EXPECT_EQ(s["metric"]["variant"], "bf128");
    EXPECT_GT(std::stod(s["value"][1].get<std::string>()), 0.0);
  }
  EXPECT_EQ(instances.size(), 2u) << j.dump();
  // the shipped fleet config is valid once its token file exists
  std::ifstream fleet(EC_SOURCE_DIR "/configs/monitoring/prometheus.yml");
  std::string text((std::istreambuf_iterator<char>(fleet)), std::istreambuf_iterator<char>());
  text.replace(text.find("/etc/prometheus/edgecompress.token"), 34, d + "/token");
  write(d + "/token", "secret\n");
  // Prometheus before 2.26 (Debian 11 has 2.24) knows only bearer_token_file, the form the config's comment gives
  CliResult pv = run_shell("promtool --version 2>&1 | sed -n 's/.*version 2\\.\\([0-9]*\\).*/\\1/p' | head -1");
  if (!pv.out.empty() && std::atoi(pv.out.c_str()) < 26) {
    const std::string modern = "    authorization:\n      type: Bearer\n      credentials_file: ";
    ASSERT_NE(text.find(modern), std::string::npos) << text;
    text.replace(text.find(modern), modern.size(), "    bearer_token_file: ");
  }
  write(d + "/fleet.yml", text);
  EXPECT_EQ(std::system(("promtool check config '" + d + "/fleet.yml' >/dev/null 2>&1").c_str()), 0);
  std::ifstream dash(EC_SOURCE_DIR "/configs/monitoring/grafana-dashboard.json");
  nlohmann::json dj = nlohmann::json::parse(dash);
  EXPECT_GE(dj["panels"].size(), 6u);
}

TEST(Monitor, WebPageRendersInHeadlessChromium) {
  REQUIRE_HTTP();
  if (!have("chromium")) GTEST_SKIP() << "chromium not installed (Debian package chromium)";
  const std::string d = tmpdir("web");
  write(d + "/c.yaml", config());
  const int p = port_base() + 5;
  CliResult r = run_shell("\"$bin\" run -c '" + d + "/c.yaml' --quiet --duration 25 --http 127.0.0.1:" + std::to_string(p) + " & a=$!\n"
                          "waiturl http://127.0.0.1:" + std::to_string(p) + "/api/status; sleep 1; timeout 90 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
                          "--disable-background-networking --disable-component-update --disable-sync --user-data-dir='" + d +
                          "/chrome' --window-size=1000,900 --virtual-time-budget=6000 --screenshot='" + d + "/page.png' http://127.0.0.1:" +
                          std::to_string(p) + "/ >/dev/null 2>&1; echo chromium=$?\n"
                          "kill -INT $a; wait $a");
  EXPECT_NE(r.out.find("chromium=0"), std::string::npos) << r.out << r.err;
  cv::Mat shot = cv::imread(d + "/page.png");
  ASSERT_FALSE(shot.empty()) << "no screenshot";
  // the video: the overlay's green title text and the white ball of the test pattern inside the image area
  int green = 0, white = 0;
  for (int y = 60; y < 560 && y < shot.rows; ++y)
    for (int x = 16; x < 660 && x < shot.cols; ++x) {
      cv::Vec3b px = shot.at<cv::Vec3b>(y, x);
      green += std::abs(px[0] - 60) < 40 && std::abs(px[1] - 220) < 40 && std::abs(px[2] - 60) < 40;
      white += px[0] > 240 && px[1] > 240 && px[2] > 240;
    }
  EXPECT_GT(green, 25) << "overlay title pixels (small font on a 320x240 frame)";
  // the ball can pass under the overlay's text panel at the moment of the screenshot (one run here saw 176
  // pixels): any clearly visible part of it shows the live video; the dark page has no white there otherwise
  EXPECT_GT(white, 100) << "the test pattern's ball";
  if (!have("tesseract")) GTEST_SKIP() << "tesseract not installed: the numbers were not read";
  CliResult ocr = run_shell("tesseract '" + d + "/page.png' - 2>/dev/null");
  // the page's own figures (the status line), read back from the pixels
  EXPECT_NE(ocr.out.find("edgecompress"), std::string::npos) << ocr.out;
  EXPECT_NE(ocr.out.find("source test://ball"), std::string::npos) << ocr.out;
  EXPECT_NE(ocr.out.find("pipeline"), std::string::npos) << ocr.out;
  EXPECT_NE(ocr.out.find("FPS"), std::string::npos) << ocr.out;
}

TEST(Monitor, TokenRequiredOffLoopbackAndTls) {
  REQUIRE_HTTP();
  const std::string d = tmpdir("auth");
  write(d + "/c.yaml", config());
  const int p = port_base() + 7;
  // any address but loopback without a token: refused at start
  CliResult no_tok = run_cli("run -c '" + d + "/c.yaml' --quiet --duration 5 --http 0.0.0.0:" + std::to_string(p));
  EXPECT_EQ(no_tok.rc, 1);
  EXPECT_NE(no_tok.err.find("needs a bearer token"), std::string::npos) << no_tok.err;
  // with a token: unauthenticated requests are refused, the token opens the door
  CliResult r = run_shell("\"$bin\" run -c '" + d + "/c.yaml' --quiet --duration 15 --http 0.0.0.0:" + std::to_string(p) +
                          " --http-token s3cret & a=$!\nwaiturl http://127.0.0.1:" + std::to_string(p) + "/\n"
                          "echo none=$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:" + std::to_string(p) + "/metrics)\n"
                          "echo wrong=$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer nope' http://127.0.0.1:" + std::to_string(p) + "/api/status)\n"
                          "echo bearer=$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer s3cret' http://127.0.0.1:" + std::to_string(p) + "/metrics)\n"
                          "echo query=$(curl -s -o /dev/null -w '%{http_code}' 'http://127.0.0.1:" + std::to_string(p) + "/?token=s3cret')\n"
                          "echo prefix=$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer s3cre' http://127.0.0.1:" + std::to_string(p) + "/metrics)\n"
                          "echo longer=$(curl -s -o /dev/null -w '%{http_code}' 'http://127.0.0.1:" + std::to_string(p) + "/metrics?token=s3cret0')\n"
                          "kill -INT $a; wait $a");
  EXPECT_NE(r.out.find("none=401"), std::string::npos) << r.out << r.err;
  EXPECT_NE(r.out.find("wrong=401"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("bearer=200"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("query=200"), std::string::npos) << r.out;
  // the comparison takes the whole token: a prefix of it or the token with more after it is refused
  EXPECT_NE(r.out.find("prefix=401"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("longer=401"), std::string::npos) << r.out;
  // a port too long for an int is the one-line error, not an internal one
  CliResult big = run_cli("run -c '" + d + "/c.yaml' --quiet --duration 1 --http 127.0.0.1:99999999999999");
  EXPECT_EQ(big.rc, 1) << big.err;
  EXPECT_NE(big.err.find("port '99999999999999' is not a number 0..65535"), std::string::npos) << big.err;
  if (!have("openssl")) GTEST_SKIP() << "openssl not installed: TLS not tested";
  std::system(("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost -keyout '" + d + "/key.pem' -out '" + d +
               "/cert.pem' >/dev/null 2>&1").c_str());
  write(d + "/tls.yaml", config("monitor: {listen: '127.0.0.1:" + std::to_string(p + 1) + "', tls_cert: '" + d + "/cert.pem', tls_key: '" + d +
                                "/key.pem'}\n"));
  r = run_shell("\"$bin\" run -c '" + d + "/tls.yaml' --quiet --duration 10 & a=$!\nwaiturl https://127.0.0.1:" + std::to_string(p + 1) + "/\n"
                "echo https=$(curl -sk -o '" + d + "/m.txt' -w '%{http_code}' https://127.0.0.1:" + std::to_string(p + 1) + "/metrics)\n"
                "echo plain=$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:" + std::to_string(p + 1) + "/metrics)\n"
                "kill -INT $a; wait $a");
  EXPECT_NE(r.out.find("https=200"), std::string::npos) << r.out << r.err;
  EXPECT_EQ(r.out.find("plain=200"), std::string::npos) << r.out;
  std::ifstream m(d + "/m.txt");
  std::string body((std::istreambuf_iterator<char>(m)), std::istreambuf_iterator<char>());
  EXPECT_NE(body.find("ec_inference_latency_seconds_bucket"), std::string::npos);
  EXPECT_NE(body.find("# TYPE ec_inference_latency_run_seconds summary"), std::string::npos) << body;
  EXPECT_NE(body.find("ec_inference_latency_run_seconds{variant=\"bf128\",quantile=\"0.95\"}"), std::string::npos) << body;
  write(d + "/badtls.yaml", config("monitor: {listen: '127.0.0.1:0', tls_cert: '" + d + "/cert.pem'}\n"));
  CliResult bad = run_cli("run -c '" + d + "/badtls.yaml' --quiet --duration 1");
  EXPECT_NE(bad.err.find("TLS needs both"), std::string::npos) << bad.err;
}

// The limits as a client meets them: two connections per client address, three in all; a fourth from the same
// address and one from a fourth address are closed on accept; /metrics counts both refusals.
TEST(Monitor, ConnectionAndPerClientLimitsRefuseOnAccept) {
  REQUIRE_HTTP();
  const std::string d = tmpdir("limits");
  const int p = port_base() + 9;
  write(d + "/c.yaml", config("monitor: {listen: '127.0.0.1:" + std::to_string(p) +
                              "', max_connections: 3, max_connections_per_client: 2, request_timeout_s: 60}\n"));
  Background run("run -c '" + d + "/c.yaml' --quiet --duration 120", d + "/run");
  ASSERT_TRUE(wait_listening(p)) << slurp(d + "/run.err");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the probe's connection is gone on the server too
  const int a1 = connect_from("127.0.0.1", p), a2 = connect_from("127.0.0.1", p);
  ASSERT_GE(a1, 0);
  ASSERT_GE(a2, 0);
  EXPECT_EQ(http_get(a1, "/api/status"), 200);
  EXPECT_EQ(http_get(a2, "/api/status"), 200) << "keep-alive connections stay open and count";
  const int a3 = connect_from("127.0.0.1", p);
  EXPECT_TRUE(closed_by_server(a3, 20000)) << "a third connection from the same address";
  const int b1 = connect_from("127.0.0.2", p);
  EXPECT_EQ(http_get(b1, "/api/status"), 200) << "another address still gets the third connection";
  const int c1 = connect_from("127.0.0.3", p);
  EXPECT_TRUE(closed_by_server(c1, 20000)) << "a fourth connection in all";
  EXPECT_EQ(http_get(a1, "/api/status"), 200) << "the accepted connections are not disturbed";
  for (int fd : {a2, a3, b1, c1}) close(fd);
  std::string m;
  for (int i = 0; i < 100 && m.empty(); ++i) {  // until the server has seen the closes
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const int fd = connect_from("127.0.0.4", p);
    if (fd >= 0 && http_get(fd, "/metrics", &m) != 200) m.clear();
    if (fd >= 0) close(fd);
  }
  close(a1);
  EXPECT_EQ(sample(m, "ec_http_refused_total{limit=\"max_connections_per_client\"}"), 1) << m.substr(m.find("ec_http"));
  EXPECT_EQ(sample(m, "ec_http_refused_total{limit=\"max_connections\"}"), 1);
  EXPECT_EQ(run.stop(), 0) << slurp(d + "/run.err");
}

// A client that sends its request head a byte at a time and never finishes, and one that sends nothing, are
// cut off after request_timeout_s; a whole request in time is answered.
TEST(Monitor, SlowClientsAreCutOffAfterTheRequestTimeout) {
  REQUIRE_HTTP();
  const std::string d = tmpdir("slow");
  const int p = port_base() + 10;
  write(d + "/c.yaml", config("monitor: {listen: '127.0.0.1:" + std::to_string(p) + "', request_timeout_s: 1}\n"));
  Background run("run -c '" + d + "/c.yaml' --quiet --duration 120", d + "/run");
  ASSERT_TRUE(wait_listening(p)) << slurp(d + "/run.err");
  const int idle = connect_from("127.0.0.1", p);
  const int drip = connect_from("127.0.0.1", p);
  ASSERT_GE(drip, 0);
  const auto t0 = std::chrono::steady_clock::now();
  const std::string head = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
  bool cut = false;
  for (size_t i = 0; i < head.size() && !cut; ++i) {  // 5 bytes a second: the head would take ~25 s
    cut = send(drip, &head[i], 1, MSG_NOSIGNAL) != 1 || closed_by_server(drip, 200);
  }
  const double held = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_TRUE(cut) << "a head sent a byte at a time was never cut off";
  EXPECT_GE(held, 0.9) << "cut off before request_timeout_s (1 s)";
  EXPECT_TRUE(closed_by_server(idle, 20000)) << "a connection that sends nothing";
  close(idle);
  close(drip);
  const int ok = connect_from("127.0.0.1", p);
  std::string m;
  EXPECT_EQ(http_get(ok, "/metrics", &m), 200);
  close(ok);
  // the dripping client is cut by the head deadline (the idle one may be closed by the idle timeout first)
  EXPECT_GE(sample(m, "ec_http_head_timeouts_total"), 1) << m.substr(m.find("ec_http"));
  EXPECT_EQ(run.stop(), 0) << slurp(d + "/run.err");
}

// Wrong tokens are answered 401 and logged without flooding the log: the first at once, then one line per 10 s
// with the count; every one of them is counted. A certificate and key that are not PEM fail at start in one line.
TEST(Monitor, UnauthorizedRequestsAreLoggedRateLimitedAndBadTlsFailsAtStart) {
  REQUIRE_HTTP();
  const std::string d = tmpdir("unauth");
  const int p = port_base() + 11;
  write(d + "/c.yaml", config("monitor: {listen: '127.0.0.1:" + std::to_string(p) + "', token: right}\n"));
  Background run("run -c '" + d + "/c.yaml' --quiet --duration 120", d + "/run");
  ASSERT_TRUE(wait_listening(p)) << slurp(d + "/run.err");
  const int fd = connect_from("127.0.0.1", p);
  int unauthorized = 0;
  for (int i = 0; i < 40; ++i) unauthorized += http_get(fd, i % 2 ? "/metrics" : "/metrics?token=wrong") == 401;
  close(fd);
  EXPECT_EQ(unauthorized, 40);
  EXPECT_EQ(run.stop(), 0);
  const std::string log = slurp(d + "/run.err");
  int lines = 0, counted = 0;
  std::smatch m;
  for (std::string::const_iterator it = log.begin();
       std::regex_search(it, log.end(), m, std::regex("monitor: (\\d+ )?unauthorized requests? \\(401\\)")); it = m.suffix().first) {
    ++lines;
    counted += m[1].matched ? std::stoi(m[1].str()) : 1;
  }
  EXPECT_EQ(counted, 40) << log;
  EXPECT_LE(lines, 6) << "one line per 10 s, not one per request: " << log;
  EXPECT_NE(log.find("127.0.0.1 GET /metrics"), std::string::npos) << log;

  write(d + "/cert.pem", "-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n");
  write(d + "/key.pem", "not a key\n");
  write(d + "/tls.yaml", config("monitor: {listen: '127.0.0.1:0', tls_cert: '" + d + "/cert.pem', tls_key: '" + d + "/key.pem'}\n"));
  CliResult bad = run_cli("run -c '" + d + "/tls.yaml' --quiet --duration 5");
  EXPECT_EQ(bad.rc, 1) << bad.err;
  EXPECT_NE(bad.err.find("not a usable certificate and key"), std::string::npos) << bad.err;
  EXPECT_EQ(std::count(bad.err.begin(), bad.err.end(), '\n'), 1) << bad.err;
}

// Signals that arrive while the source is starting. The monitor listens once the pipeline is built and before
// the source starts, so a storm of SIGHUPs from then on lands in GStreamer's start-up. A signal that
// interrupted the thread waiting for the source to reach PLAYING woke it early and the run ended with
// "test://ball: cannot start (state change failed)" (9 runs in 10 before the signals had a thread of their
// own); a SIGHUP before the handler was installed killed the run. Now the run carries on, reloads, and a
// SIGINT ends it cleanly. The process shows under its own name.
TEST(Run, SignalsWhileTheSourceStartsNeitherFailNorKillTheRun) {
  REQUIRE_HTTP();
  const std::string d = tmpdir("signals");
  const int p = port_base() + 12;
  write(d + "/c.yaml", config("monitor: {listen: '127.0.0.1:" + std::to_string(p) + "'}\n"));
  for (int round = 0; round < 3; ++round) {
    Background run("run -c '" + d + "/c.yaml' --duration 120", d + "/run");
    bool listening = false;  // polled every 2 ms (wait_listening's 100 ms would miss the source's start)
    for (int i = 0; i < 30000 && !listening; ++i) {
      const int fd = connect_from("127.0.0.1", p);
      listening = fd >= 0;
      if (fd >= 0) close(fd);
      else std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    ASSERT_TRUE(listening) << slurp(d + "/run.err");
    // `run` re-executes itself (main.cpp, OpenMP's wait policy) under its own name, not "exe"
    if (round == 0) {
      EXPECT_EQ(slurp("/proc/" + std::to_string(run.pid) + "/comm"), "edgecompress\n");
    }
    for (int i = 0; i < 300; ++i) {  // 300 SIGHUPs, 1 ms apart
      ASSERT_EQ(kill(run.pid, SIGHUP), 0) << "the run ended during the SIGHUPs: " << slurp(d + "/run.err");
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    int64_t frames = 0;  // frames keep coming (polled: any CPU)
    for (int i = 0; i < 600 && frames < 5; ++i) {
      const int fd = connect_from("127.0.0.1", p);
      std::string body;
      if (fd >= 0 && http_get(fd, "/api/status", &body) == 200) frames = nlohmann::json::parse(body).value("frames", int64_t{0});
      if (fd >= 0) close(fd);
      if (frames < 5) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    EXPECT_GE(frames, 5) << slurp(d + "/run.err");
    EXPECT_EQ(run.stop(), 0) << slurp(d + "/run.err");
    const std::string err = slurp(d + "/run.err"), out = slurp(d + "/run.out");
    EXPECT_EQ(err.find("cannot start"), std::string::npos) << err;
    EXPECT_NE(out.find(", stopped"), std::string::npos) << out << err;
  }
}
