#include "signal_thread.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <future>
#include <string>

#include "error.h"

namespace ec {
namespace {

// The waiting thread's kernel id, for the forwarding handler (one SignalThread at a time per process).
std::atomic<long> g_waiting_tid{0};
static_assert(std::atomic<long>::is_always_lock_free, "read from a signal handler");

// Runs on a thread that had the signal unblocked (started before the SignalThread): hands it to the waiting
// thread, where it is blocked and so stays pending until sigwait takes it. Only async-signal-safe calls.
void forward(int sig) {
  const int saved = errno;
  const long tid = g_waiting_tid.load();
  if (tid > 0) syscall(SYS_tgkill, static_cast<long>(getpid()), tid, static_cast<long>(sig));
  errno = saved;
}

}  // namespace

SignalThread::SignalThread(std::initializer_list<int> signals, std::function<void(int)> on_signal) : on_signal_(std::move(on_signal)) {
  if (signals.size() == 0) throw Error("SignalThread: no signals to wait for");
  sigemptyset(&set_);
  for (int s : signals) sigaddset(&set_, s);
  if (const int e = pthread_sigmask(SIG_BLOCK, &set_, nullptr); e != 0) throw Error(std::string("cannot block signals: ") + std::strerror(e));
  std::promise<long> started;
  std::future<long> tid = started.get_future();
  th_ = std::thread([this, &started] {
    started.set_value(static_cast<long>(syscall(SYS_gettid)));
    loop();
  });
  tid_ = tid.get();
  g_waiting_tid = tid_.load();
  for (int s : signals) {
    struct sigaction sa {}, old {};
    sa.sa_handler = forward;
    sigfillset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    if (sigaction(s, &sa, &old) != 0) {
      const std::string e = std::strerror(errno);
      stop(s);
      throw Error("cannot handle signal " + std::to_string(s) + ": " + e);
    }
    previous_.emplace_back(s, old);
  }
}

SignalThread::~SignalThread() { stop(previous_.front().first); }

void SignalThread::stop(int wake) {
  for (auto& [s, old] : previous_) sigaction(s, &old, nullptr);
  g_waiting_tid = 0;
  quit_ = true;
  // Directed at the waiting thread, where the signal is blocked: it stays pending there and sigwait takes it.
  pthread_kill(th_.native_handle(), wake);
  th_.join();
}

void SignalThread::loop() {
  for (;;) {
    int sig = 0;
    if (sigwait(&set_, &sig) != 0) continue;
    if (quit_) return;
    on_signal_(sig);
  }
}

}  // namespace ec
