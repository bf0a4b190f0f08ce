// Monitoring as users run it: a real Prometheus server scrapes two edgecompress instances on loopback and
// answers a PromQL query with both; promtool accepts the exposition; the web page renders in headless
// Chromium with the video and the numbers; tokens off loopback; TLS.
#include <gtest/gtest.h>

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

std::string config(const std::string& extra = "") {
  return "source: {uri: 'test://ball', width: 320, height: 240, fps: 30}\nvariants:\n  - name: bf128\n    model: " + models_dir() +
         "/blazeface128.onnx\n    input: {scale: 0.00784313725, mean: [1, 1, 1]}\n    decoder: blazeface\noutput: none://\n" + extra;
}

}  // namespace

// A build without cpp-httplib (Debian 11, Ubuntu 20.04) has no monitoring endpoint: say so instead of failing.
#ifdef EC_HAVE_HTTP
#define REQUIRE_HTTP()
#else
#define REQUIRE_HTTP() GTEST_SKIP() << "built without cpp-httplib: run --http is refused by design"
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
      "sleep 2; curl -sf http://127.0.0.1:" + std::to_string(p1) + "/metrics > '" + d + "/metrics.txt'; promtool check metrics < '" + d +
      "/metrics.txt' && echo PROMTOOL_OK\n"
      "for i in $(seq 1 30); do out=$(curl -sf 'http://127.0.0.1:" + std::to_string(pp) +
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
                          "sleep 3; timeout 90 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
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
                          " --http-token s3cret & a=$!\nsleep 2\n"
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
  r = run_shell("\"$bin\" run -c '" + d + "/tls.yaml' --quiet --duration 10 & a=$!\nsleep 2\n"
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
