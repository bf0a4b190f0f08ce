// The live view for monitoring, shared between the pipeline's loop and the HTTP server's threads: a status
// object (refreshed about four times a second) and the newest overlay frame, taken only while someone watches
// (at most 10 a second) and encoded as JPEG by the first server thread that asks for it, not by the loop.
#pragma once
#include <atomic>
#include <cstdint>
#include <mutex>
#include <vector>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

namespace ec {

class LiveView {
 public:
  // --- the loop's side
  // True while a viewer asked for frames in the last 2 s (the loop then draws the overlay even for none://).
  bool watched(double now_ms) const { return now_ms < wanted_until_.load(); }
  // True when a new JPEG would be taken now (none in the last 100 ms): the loop draws the overlay only for
  // the frames it will offer, not for each frame (a 200 fps run watched at 10 fps draws 10 a second).
  bool frame_due(double now_ms) const { return now_ms - last_jpeg_ >= 100; }
  // Takes a copy of `canvas` as the newest frame unless one was taken less than 100 ms ago (~0.1 ms for
  // 640x480; the JPEG encoding, ~3 ms, happens in latest_jpeg on a server thread).
  void offer_frame(const cv::Mat& canvas, double now_ms);
  // Replaces the status unless it was replaced less than 250 ms ago; `make` builds it only when due.
  template <class F>
  void offer_status(double now_ms, F&& make) {
    if (now_ms - last_status_ < 250) return;
    nlohmann::json s = make();
    std::lock_guard<std::mutex> l(mu_);
    status_ = std::move(s);
    last_status_ = now_ms;
  }

  // --- the server's side (any thread)
  nlohmann::json status() const;
  // The newest frame as JPEG (encoded here once per frame, whichever thread asks first) and its sequence
  // number (increasing); false before the first. Marks the view watched.
  bool latest_jpeg(std::vector<unsigned char>& jpeg, uint64_t& seq, double now_ms);
  // The newest JPEG's sequence number (0 before the first), without copying it; marks the view watched. For
  // stream readers polling for a new frame.
  uint64_t jpeg_seq(double now_ms);

 private:
  mutable std::mutex mu_;    // status_, raw_ (held only to swap them)
  nlohmann::json status_;
  cv::Mat raw_;              // the newest frame taken, never written after it is published
  std::atomic<uint64_t> seq_{0};
  std::mutex enc_mu_;        // jpeg_, jpeg_seq_ (held while encoding)
  std::vector<unsigned char> jpeg_;
  uint64_t jpeg_seq_ = 0;
  double last_jpeg_ = -1e18, last_status_ = -1e18;  // loop thread only
  std::atomic<double> wanted_until_{0};
};

}  // namespace ec
