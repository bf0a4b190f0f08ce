#include "live_view.h"

#include <opencv2/imgcodecs.hpp>

namespace ec {

void LiveView::offer_frame(const cv::Mat& canvas, double now_ms) {
  if (now_ms - last_jpeg_ < 100 || canvas.empty()) return;
  std::vector<unsigned char> buf;
  cv::imencode(".jpg", canvas, buf, {cv::IMWRITE_JPEG_QUALITY, 80});
  std::lock_guard<std::mutex> l(mu_);
  jpeg_.swap(buf);
  ++seq_;
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
  std::lock_guard<std::mutex> l(mu_);
  if (jpeg_.empty()) return false;
  jpeg = jpeg_;
  seq = seq_;
  return true;
}

}  // namespace ec
