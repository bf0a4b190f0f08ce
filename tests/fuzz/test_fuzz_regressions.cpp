// Replays every input that once made a fuzz harness fail (tests/fuzz/regressions/<target>/<file>, committed
// when the bug was fixed) through the same harness: each must now be accepted or refused with the project's
// one-line error. Under scripts/sanitize.sh asan the replay also checks memory and undefined behaviour.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>

#include "targets.h"

namespace fs = std::filesystem;

namespace {

std::string read_all(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

}  // namespace

TEST(FuzzRegressions, EveryFolderNamesAHarness) {
  std::set<std::string> names;
  for (const auto& t : ec::fuzz::targets()) names.insert(t.name);
  ASSERT_TRUE(fs::is_directory(EC_FUZZ_REGRESSIONS));
  size_t files = 0;
  for (const auto& d : fs::directory_iterator(EC_FUZZ_REGRESSIONS)) {
    if (!d.is_directory()) continue;
    EXPECT_TRUE(names.count(d.path().filename().string())) << d.path() << " names no harness";
    for (const auto& f : fs::directory_iterator(d.path())) files += f.is_regular_file();
  }
  EXPECT_GT(files, 0u) << "no committed regression inputs";
}

TEST(FuzzRegressions, EveryCommittedInputIsAcceptedOrRefusedCleanly) {
  ec::fuzz::set_fuzz_limits();
  for (const auto& t : ec::fuzz::targets()) {
    const fs::path dir = fs::path(EC_FUZZ_REGRESSIONS) / t.name;
    if (!fs::is_directory(dir)) continue;
    for (const auto& f : fs::directory_iterator(dir)) {
      if (!f.is_regular_file()) continue;
      const std::string bytes = read_all(f.path());
      try {
        t.run(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
      } catch (const std::exception& e) {
        ADD_FAILURE() << t.name << " " << f.path().filename() << ": escaped as " << typeid(e).name() << ": " << e.what();
      } catch (...) {
        ADD_FAILURE() << t.name << " " << f.path().filename() << ": a non-standard exception escaped";
      }
    }
  }
}

// The http harness against its own server: requests a client sends and bytes no client should; the harness
// aborts (fails this test) when the server does not answer with a status line or does not close in time.
TEST(FuzzHarness, HttpServerAnswersEveryRequestWithAStatusLine) {
  const std::vector<std::string> inputs = {
      "GET /metrics HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer fuzz-token\r\n\r\n",
      "GET /api/status?token=fuzz-tokenX HTTP/1.1\r\nHost: a\r\n\r\n",
      "GET /stream.mjpg?token=fuzz-token HTTP/1.1\r\nHost: a\r\n\r\n",
      std::string("\x00\xff\r\n\r\nGET", 8),
      "GET /metrics HTTP/1.1\r\nHost: a\r\nX: " + std::string(100000, 'y') + "\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer fuzz-token\r\n\r\nGET /nope HTTP/1.1\r\nHost: a\r\n\r\n",
  };
  for (const std::string& in : inputs) ec::fuzz::http(reinterpret_cast<const uint8_t*>(in.data()), in.size());
  SUCCEED() << inputs.size() << " requests answered";
}
