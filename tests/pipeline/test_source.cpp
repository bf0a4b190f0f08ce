// Frame sources on real GStreamer pipelines: every frame of a file then end of stream, looping, a live
// test pattern that keeps only the newest frame for a slow consumer (frame age bounded, drops counted),
// and clear errors for missing files, unknown schemes, absent cameras and non-video files.
#include <gtest/gtest.h>

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <thread>

#include "../engine/helpers.h"
#include "error.h"
#include "sampler.h"
#include "source.h"

using namespace ec;

namespace {
std::string err_of(const std::string& uri, const SourceOptions& o = {}) {
  try {
    FrameSource::open(uri, o);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(Source, FileDeliversEveryFrameThenEndOfStream) {
  auto src = FrameSource::open(test::models_dir() + "/Megamind.avi", {});
  EXPECT_FALSE(src->is_live());
  Frame f;
  int n = 0;
  ReadStatus st;
  while ((st = src->read(f, 5000)) == ReadStatus::ok) {
    ASSERT_EQ(f.seq, n);
    ASSERT_EQ(f.bgr.cols, 720);
    ASSERT_EQ(f.bgr.rows, 528);
    ++n;
  }
  EXPECT_EQ(st, ReadStatus::end_of_stream) << src->error();
  EXPECT_EQ(n, 270);
  EXPECT_EQ(src->dropped(), 0);
  EXPECT_NEAR(src->nominal_fps(), 24000.0 / 1001.0, 0.01);
}

TEST(Source, FileLoopsAndScales) {
  SourceOptions o;
  o.loop = true;
  o.width = 320;
  o.height = 240;
  auto src = FrameSource::open("file://" + test::models_dir() + "/Megamind.avi", o);
  Frame f;
  for (int i = 0; i < 300; ++i) {
    ASSERT_EQ(src->read(f, 5000), ReadStatus::ok) << "frame " << i << ": " << src->error();
    ASSERT_EQ(f.bgr.cols, 320);
  }
}

TEST(Source, LiveTestPatternKeepsOnlyTheNewestFrame) {
  SourceOptions o;
  o.width = 320;
  o.height = 240;
  o.fps = 60;
  auto src = FrameSource::open("test://ball", o);
  EXPECT_TRUE(src->is_live());
  Frame f;
  std::vector<double> age;
  const double period = 1000.0 / 60;
  for (int i = 0; i < 40; ++i) {
    ASSERT_EQ(src->read(f, 2000), ReadStatus::ok) << src->error();
    age.push_back(power::steady_now_ms() - f.capture_ms);  // age when "inference" starts
    std::this_thread::sleep_for(std::chrono::milliseconds(40));  // a consumer slower than 60 fps
  }
  // A queue would show as ages growing by ~23 ms per read (40 ms reads, a frame every 16.7 ms): ~900 ms by the
  // 40th read. Keeping the newest frame holds the age near one period however long the run; the bounds leave
  // room for a loaded machine's scheduling delays (a lane build beside it moved p95 to ~35 ms).
  double first = 0, last = 0;
  for (size_t i = 0; i < 10; ++i) {
    first += age[i] / 10;
    last += age[age.size() - 10 + i] / 10;
  }
  EXPECT_LT(last, first + 2 * period) << "frame age grows: frames queue up";
  std::sort(age.begin(), age.end());
  EXPECT_LT(age[age.size() / 2], 2 * period) << "median frame age must stay under two frame periods";
  EXPECT_LT(age[age.size() * 95 / 100], 4 * period) << "p95 frame age must stay under four frame periods";
  EXPECT_GT(src->dropped(), 40) << "about 1.4 frames are dropped per 40 ms read";
}

// A signal handler that runs on the thread starting a source wakes GStreamer's wait for PLAYING early, and
// gst_element_get_state reports the change still under way as FAILURE. The application takes its signals on
// a thread of its own (base/signal_thread.h); the source's start does not rely on that: here a handler is
// interrupting the starting thread every 200 us, and every start succeeds and delivers a frame. (Before the
// start waited again, most of these starts failed with "test://ball: cannot start (state change failed)".)
namespace {
std::atomic<int> g_interruptions{0};
void count_interruption(int) { g_interruptions.fetch_add(1, std::memory_order_relaxed); }
}  // namespace
TEST(Source, StartsWhileSignalHandlersInterruptTheStartingThread) {
  struct sigaction sa {}, old {};
  sa.sa_handler = count_interruption;
  sa.sa_flags = 0;  // no SA_RESTART: interrupted system calls return EINTR
  ASSERT_EQ(sigaction(SIGUSR1, &sa, &old), 0);
  const pthread_t starter = pthread_self();
  std::atomic<bool> done{false};
  std::thread interrupter([&] {
    while (!done) {
      pthread_kill(starter, SIGUSR1);
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  });
  SourceOptions o;
  o.width = 160;
  o.height = 120;
  o.fps = 30;
  int started = 0;
  std::string first_error;
  for (int i = 0; i < 20; ++i) {
    try {
      auto src = FrameSource::open("test://ball", o);
      Frame f;
      ReadStatus st;
      while ((st = src->read(f, 2000)) == ReadStatus::timeout) {
      }
      if (st == ReadStatus::ok) ++started;
      else if (first_error.empty()) first_error = src->error();
    } catch (const Error& e) {
      if (first_error.empty()) first_error = e.what();
    }
  }
  done = true;
  interrupter.join();
  sigaction(SIGUSR1, &old, nullptr);
  EXPECT_EQ(started, 20) << first_error;
  EXPECT_GT(g_interruptions.load(), 20) << "the handler must have run during the starts";
}

TEST(Source, BadUrisFailClearly) {
  EXPECT_NE(err_of("/nonexistent/clip.mp4").find("/nonexistent/clip.mp4: no such file"), std::string::npos);
  EXPECT_NE(err_of("ftp://host/x.mp4").find("unknown source scheme"), std::string::npos);
  EXPECT_NE(err_of("v4l2:///dev/video97").find("no such camera device"), std::string::npos);
  EXPECT_NE(err_of("csi://0").find("csi://0"), std::string::npos);
  EXPECT_NE(err_of("gst://videotestsrc ! fakesink").find("no appsink"), std::string::npos);
  EXPECT_NE(err_of("test://ball", [] { SourceOptions o; o.flip = "sideways"; return o; }()).find("flip 'sideways'"), std::string::npos);
  const std::string junk = testing::TempDir() + "/junk.avi";
  {
    std::ofstream f(junk, std::ios::binary);
    for (int i = 0; i < 20000; ++i) f.put(static_cast<char>((i * 7919) & 0xff));
  }
  // a file that is not video: either opening or the first read reports an error, never a crash
  try {
    auto src = FrameSource::open(junk, {});
    Frame f;
    ReadStatus st = src->read(f, 5000);
    EXPECT_TRUE(st == ReadStatus::error || st == ReadStatus::end_of_stream);
    if (st == ReadStatus::error) {
      EXPECT_NE(src->error().find("junk.avi"), std::string::npos) << src->error();
    }
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("junk.avi"), std::string::npos) << e.what();
  }
}

TEST(Source, DamagedFileDecodesWhatItCan) {
  auto src = FrameSource::open(test::models_dir() + "/Megamind_bugy.avi", {});
  Frame f;
  int n = 0;
  ReadStatus st;
  while ((st = src->read(f, 5000)) == ReadStatus::ok) ++n;
  EXPECT_TRUE(st == ReadStatus::end_of_stream || st == ReadStatus::error);
  EXPECT_GT(n, 0);
}
