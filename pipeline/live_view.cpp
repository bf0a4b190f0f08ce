#include "live_view.h"

#include <opencv2/imgcodecs.hpp>

namespace ec {

void LiveView::offer_frame(const cv::Mat& canvas, double now_ms) {
  if (now_ms - last_jpeg_ < 100 || canvas.empty()) return;
  cv::Mat copy = canvas.clone();
  {
    std::lock_guard<std::mutex> l(mu_);
    raw_ = std::move(copy);
    ++seq_;
  }
  last_jpeg_ = now_ms;
}

nlohmann::json LiveView::status() const {
  std::lock_guard<std::mutex> l(mu_);
  return status_;
}

uint64_t LiveView::jpeg_seq(double now_ms) {
  wanted_until_ = now_ms + 2000;
  return seq_.load();
}

bool LiveView::latest_jpeg(std::vector<unsigned char>& jpeg, uint64_t& seq, double now_ms) {
  wanted_until_ = now_ms + 2000;
  std::lock_guard<std::mutex> e(enc_mu_);
  if (jpeg_seq_ != seq_.load()) {
    cv::Mat frame;
    uint64_t s = 0;
    {
      std::lock_guard<std::mutex> l(mu_);
      frame = raw_;  // shares the pixels: the loop replaces raw_, it never writes into it
      s = seq_.load();
    }
    if (frame.empty()) return false;
    std::vector<unsigned char> buf;
    cv::imencode(".jpg", frame, buf, {cv::IMWRITE_JPEG_QUALITY, 80});
    jpeg_.swap(buf);
    jpeg_seq_ = s;
  }
  if (jpeg_.empty()) return false;
  jpeg = jpeg_;
  seq = jpeg_seq_;
  return true;
}

}  // namespace ec
