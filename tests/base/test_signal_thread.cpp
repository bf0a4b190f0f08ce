// SignalThread (base/signal_thread.h): signals become calls on its own thread; every thread started after it
// has them blocked, so none of ours is interrupted; a signal that lands on a thread started before it is passed
// on, not lost; an inherited "ignore" does not swallow them; the previous actions come back at the end.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "signal_thread.h"

using namespace ec;

namespace {

// The signals blocked in thread `tid` of this process, from /proc (the SigBlk mask, bit n-1 for signal n).
uint64_t blocked_in(long tid) {
  std::ifstream f("/proc/self/task/" + std::to_string(tid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("SigBlk:", 0) == 0) return std::stoull(line.substr(7), nullptr, 16);
  ADD_FAILURE() << "no SigBlk for thread " << tid;
  return 0;
}
bool has(uint64_t mask, int sig) { return (mask >> (sig - 1)) & 1; }
long gettid_() { return static_cast<long>(syscall(SYS_gettid)); }

// Signal numbers seen by the callback, waited for without a fixed sleep.
struct Seen {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<int> sigs;
  void add(int s) {
    std::lock_guard<std::mutex> l(mu);
    sigs.push_back(s);
    cv.notify_all();
  }
  bool wait_for_count(size_t n) {
    std::unique_lock<std::mutex> l(mu);
    return cv.wait_for(l, std::chrono::seconds(30), [&] { return sigs.size() >= n; });
  }
};

}  // namespace

TEST(SignalThread, SignalsBecomeCallsOnItsThreadAndEveryLaterThreadHasThemBlocked) {
  // a thread started before, as OpenBLAS starts its pool when it is loaded: it keeps the signals unblocked
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  std::atomic<long> early_tid{0};
  std::thread early([&] {
    early_tid = gettid_();
    std::unique_lock<std::mutex> l(mu);
    cv.wait(l, [&] { return release; });
  });
  while (!early_tid) std::this_thread::yield();
  // an inherited "ignore" on one of them
  struct sigaction ign {}, before {};
  ign.sa_handler = SIG_IGN;
  ASSERT_EQ(sigaction(SIGUSR2, &ign, &before), 0);

  Seen seen;
  std::atomic<long> called_on{0};
  {
    SignalThread st({SIGUSR1, SIGUSR2}, [&](int s) {
      called_on = gettid_();
      seen.add(s);
    });
    std::atomic<long> later_tid{0};
    std::thread later([&] {
      later_tid = gettid_();
      std::unique_lock<std::mutex> l(mu);
      cv.wait(l, [&] { return release; });
    });
    while (!later_tid) std::this_thread::yield();

    for (long tid : {gettid_(), later_tid.load()}) {
      EXPECT_TRUE(has(blocked_in(tid), SIGUSR1)) << "thread " << tid;
      EXPECT_TRUE(has(blocked_in(tid), SIGUSR2)) << "thread " << tid;
    }
    EXPECT_FALSE(has(blocked_in(early_tid), SIGUSR1)) << "the thread started before keeps its mask";

    ASSERT_EQ(kill(getpid(), SIGUSR1), 0);  // to the process: the kernel picks a thread with it unblocked
    ASSERT_TRUE(seen.wait_for_count(1));
    ASSERT_EQ(syscall(SYS_tgkill, static_cast<long>(getpid()), early_tid.load(), static_cast<long>(SIGUSR2)), 0);  // onto the early thread
    ASSERT_TRUE(seen.wait_for_count(2)) << "a signal on a thread started before was lost";
    ASSERT_EQ(kill(getpid(), SIGUSR2), 0);  // was ignored before
    ASSERT_TRUE(seen.wait_for_count(3)) << "an inherited SIG_IGN swallowed it";
    {
      std::lock_guard<std::mutex> l(seen.mu);
      EXPECT_EQ(seen.sigs, (std::vector<int>{SIGUSR1, SIGUSR2, SIGUSR2}));
    }
    EXPECT_EQ(called_on.load(), st.waiting_thread_id()) << "the callback runs on the waiting thread";
    {
      std::lock_guard<std::mutex> l(mu);
      release = true;
    }
    cv.notify_all();
    later.join();
  }
  early.join();
  struct sigaction now {};
  ASSERT_EQ(sigaction(SIGUSR2, nullptr, &now), 0);
  EXPECT_EQ(now.sa_handler, SIG_IGN) << "the previous action is put back";
  sigaction(SIGUSR2, &before, nullptr);
  sigset_t unblock;
  sigemptyset(&unblock);
  sigaddset(&unblock, SIGUSR1);
  sigaddset(&unblock, SIGUSR2);
  pthread_sigmask(SIG_UNBLOCK, &unblock, nullptr);
}

TEST(SignalThread, NoSignalsIsAnError) {
  try {
    SignalThread st({}, [](int) {});
    FAIL() << "constructed with no signals";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("no signals"), std::string::npos) << e.what();
  }
}
