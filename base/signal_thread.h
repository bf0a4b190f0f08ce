// Process signals (SIGINT, SIGTERM, SIGHUP, ...) taken by one thread of our own instead of interrupting
// whichever thread the kernel picks. A handler that interrupts a thread waiting on a condition variable wakes
// it: glib's g_cond_wait_until returns TRUE when the futex wait ends with EINTR, and GStreamer's
// gst_element_get_state then reports a state change that is still under way as FAILURE ("cannot start").
// With the signals blocked in every thread we start and waited for on one thread, none of ours is ever
// interrupted.
#pragma once

#include <signal.h>

#include <atomic>
#include <functional>
#include <initializer_list>
#include <thread>
#include <vector>

namespace ec {

class SignalThread {
 public:
  // Blocks `signals` in the calling thread, and so in every thread created from it afterwards, and starts a
  // thread that waits for them and calls on_signal(signal number) for each, on that thread (not in a signal
  // handler: it may lock, allocate and print). Threads that libraries started before this (OpenBLAS starts
  // its pool when it is loaded) still have the signals unblocked: a handler passes a signal that lands on one
  // of them on to the waiting thread, so it is neither lost nor acted on there. An inherited "ignore" (a
  // shell's background job ignores SIGINT, nohup SIGHUP) is replaced too. Throws ec::Error when the mask, the
  // handlers or the thread cannot be set up, or when `signals` is empty.
  SignalThread(std::initializer_list<int> signals, std::function<void(int)> on_signal);
  // Stops and joins the waiting thread and puts the signals' previous actions back. The signals stay blocked
  // in the threads that blocked them.
  ~SignalThread();
  SignalThread(const SignalThread&) = delete;
  SignalThread& operator=(const SignalThread&) = delete;

  // The kernel's id of the waiting thread.
  long waiting_thread_id() const { return tid_.load(); }

 private:
  void loop();
  // Puts the previous actions back, then ends the waiting thread by sending it `wake` (one of the signals).
  void stop(int wake);
  sigset_t set_{};
  std::vector<std::pair<int, struct sigaction>> previous_;
  std::function<void(int)> on_signal_;
  std::atomic<bool> quit_{false};
  std::atomic<long> tid_{0};
  std::thread th_;
};

}  // namespace ec
