#include "sink.h"

#include <gst/app/gstappsrc.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <vector>

#include "error.h"
#include "gst_util.h"

namespace ec {

std::vector<std::string> h264_encoders(int kbps, const std::function<bool(const std::string&)>& has_element) {
  std::vector<std::string> out;
  // Jetson's NVENC takes NV12 in NVMM memory: the board's converter (VIC) puts it there
  if (has_element("nvv4l2h264enc") && has_element("nvvidconv"))
    out.push_back("nvvidconv ! video/x-raw(memory:NVMM),format=NV12 ! nvv4l2h264enc bitrate=" + std::to_string(kbps * 1000) +
                  " insert-sps-pps=true idrinterval=30");
  if (has_element("x264enc")) out.push_back("x264enc tune=zerolatency speed-preset=ultrafast bitrate=" + std::to_string(kbps) + " key-int-max=30");
  if (has_element("openh264enc")) out.push_back("openh264enc bitrate=" + std::to_string(kbps * 1000));
  return out;
}

std::string h264_encoder_name(const std::string& fragment) {
  for (const char* e : {"nvv4l2h264enc", "x264enc", "openh264enc"})
    if (fragment.find(e) != std::string::npos) return e;
  return fragment.substr(0, fragment.find(' '));
}

namespace {

// The encoders this machine has, as launch fragments; a clear error when it has none.
std::vector<std::string> encoders_here(const std::string& uri, int kbps) {
  std::vector<std::string> e = h264_encoders(kbps, [](const std::string& n) { return gst_has_element(n.c_str()); });
  if (e.empty()) throw Error(uri + ": no H.264 encoder (install gstreamer1.0-plugins-ugly for x264enc)");
  return e;
}

bool starts_with(const std::string& s, const char* p) { return s.rfind(p, 0) == 0; }

// The first word of a launch fragment: the element's name.
std::string first_element(const std::string& tail) { return tail.substr(0, tail.find(' ')); }

class NullSink : public FrameSink {
 public:
  void write(const cv::Mat&, double) override {}
  void close() override {}
  bool discards() const override { return true; }
  std::string describe() const override { return "none://"; }
};

class GstSink : public FrameSink {
 public:
  // `tails` are alternatives tried in order until one starts (video sinks that need X extensions).
  GstSink(std::string uri, std::vector<std::string> tails, const SinkOptions& o, bool is_file, bool is_encoder)
      : uri_(std::move(uri)), tails_(std::move(tails)), o_(o), is_file_(is_file), is_encoder_(is_encoder) {
    gst_init_once();
  }
  ~GstSink() override { close(); }

  void write(const cv::Mat& bgr, double t_ms) override {
    if (!pipeline_) start(bgr.cols, bgr.rows, t_ms);
    if (bgr.cols != w_ || bgr.rows != h_) throw Error(uri_ + ": frame size changed mid-stream");
    const size_t bytes = static_cast<size_t>(w_) * h_ * 3;
    GstBuffer* buf = gst_buffer_new_allocate(nullptr, bytes, nullptr);
    GstMapInfo map;
    gst_buffer_map(buf, &map, GST_MAP_WRITE);
    if (bgr.isContinuous()) std::memcpy(map.data, bgr.data, bytes);
    else
      for (int y = 0; y < h_; ++y) std::memcpy(map.data + static_cast<size_t>(y) * w_ * 3, bgr.ptr(y), static_cast<size_t>(w_) * 3);
    gst_buffer_unmap(buf, &map);
    // Files get evenly spaced timestamps at the nominal rate; live outputs the wall clock since start.
    const GstClockTime pts = is_file_ ? static_cast<GstClockTime>(frames_ * GST_SECOND / o_.fps)
                                      : static_cast<GstClockTime>((t_ms - t0_ms_) * GST_MSECOND);
    GST_BUFFER_PTS(buf) = pts;
    GST_BUFFER_DURATION(buf) = static_cast<GstClockTime>(GST_SECOND / o_.fps);
    ++frames_;
    if (gst_app_src_push_buffer(src_, buf) != GST_FLOW_OK) {
      std::string e = gst_pop_error(pipeline_, 0);
      throw Error(uri_ + ": cannot write a frame" + (e.empty() ? std::string() : " (" + e + ")"));
    }
    std::string e = gst_pop_error(pipeline_, 0);
    if (!e.empty()) throw Error(uri_ + ": " + e);
  }

  void close() override {
    if (!pipeline_) return;
    gst_app_src_end_of_stream(src_);
    GstBus* bus = gst_element_get_bus(pipeline_);
    GstMessage* m = gst_bus_timed_pop_filtered(bus, 10 * GST_SECOND, GstMessageType(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
    if (m) gst_message_unref(m);
    gst_object_unref(bus);
    teardown();
  }

  void teardown() {
    gst_element_set_state(pipeline_, GST_STATE_NULL);
    if (src_) gst_object_unref(src_);
    gst_object_unref(pipeline_);
    pipeline_ = nullptr;
    src_ = nullptr;
  }

  std::string describe() const override { return uri_; }
  std::string element() const override { return started_.empty() ? std::string() : label(started_); }
  std::string fallback_note() const override { return note_; }

 private:
  void start(int w, int h, double t_ms) {
    std::string skipped;
    for (size_t i = 0; i < tails_.size(); ++i) {
      try {
        start_with(tails_[i], w, h, t_ms);
        started_ = tails_[i];
        if (!skipped.empty()) note_ = skipped;
        return;
      } catch (const Error& e) {
        if (i + 1 == tails_.size()) throw;
        skipped += (skipped.empty() ? "" : "; ") + label(tails_[i]) + " did not start (" + e.what() + ")";
      }
    }
  }

  std::string label(const std::string& tail) const { return is_encoder_ ? h264_encoder_name(tail) : first_element(tail); }

  void start_with(const std::string& tail, int w, int h, double t_ms) {
    w_ = w;
    h_ = h;
    t0_ms_ = t_ms;
    const int fps_n = static_cast<int>(std::lround(o_.fps * 1000));
    const std::string launch = "appsrc name=ecsrc is-live=true format=time caps=video/x-raw,format=BGR,width=" + std::to_string(w) +
                               ",height=" + std::to_string(h) + ",framerate=" + std::to_string(fps_n) + "/1000 ! videoconvert ! " + tail;
    pipeline_ = gst_launch(launch, uri_, "output");
    src_ = GST_APP_SRC(gst_bin_get_by_name(GST_BIN(pipeline_), "ecsrc"));
    g_object_set(G_OBJECT(src_), "block", TRUE, "max-bytes", static_cast<guint64>(w) * h * 3 * 4, nullptr);
    // READY opens devices and windows synchronously, so a sink that cannot work here fails fast.
    std::string e = gst_set_state_wait(pipeline_, GST_STATE_READY, 2000);
    if (e.empty()) e = gst_pop_error(pipeline_, 0);
    // PLAYING completes asynchronously once the first frame prerolls the sink: do not wait for it here.
    if (e.empty() && gst_element_set_state(pipeline_, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
      e = gst_pop_error(pipeline_, 100);
      if (e.empty()) e = "state change failed";
    }
    if (!e.empty()) {
      teardown();  // never started: no EOS to wait for
      throw Error(uri_ + ": cannot start (" + e + ")");
    }
  }

  std::string uri_;
  std::vector<std::string> tails_;
  SinkOptions o_;
  bool is_file_, is_encoder_;
  std::string started_, note_;
  GstElement* pipeline_ = nullptr;
  GstAppSrc* src_ = nullptr;
  int w_ = 0, h_ = 0;
  int64_t frames_ = 0;
  double t0_ms_ = 0;
};

std::string quote(const std::string& s) { return "\"" + s + "\""; }

std::unique_ptr<FrameSink> file_sink(const std::string& uri, const std::string& path, const SinkOptions& o) {
  FILE* probe = std::fopen(path.c_str(), "wb");
  if (!probe) throw Error(uri + ": cannot write " + path + " (" + std::strerror(errno) + ")");
  std::fclose(probe);
  const bool mkv = path.size() > 4 && path.substr(path.size() - 4) == ".mkv";
  const std::string mux = mkv ? "matroskamux" : "mp4mux";
  std::vector<std::string> tails;
  for (const std::string& enc : encoders_here(uri, o.bitrate_kbps)) tails.push_back(enc + " ! h264parse ! " + mux + " ! filesink location=" + quote(path));
  return std::make_unique<GstSink>(uri, tails, o, true, true);
}

}  // namespace

std::unique_ptr<FrameSink> FrameSink::open(const std::string& uri, const SinkOptions& o, std::string* note) {
  gst_init_once();
  if (uri == "none://" || uri == "none") return std::make_unique<NullSink>();
  if (starts_with(uri, "file://")) return file_sink(uri, uri.substr(7), o);
  if (starts_with(uri, "udp://")) {
    const std::string hp = uri.substr(6);
    const auto colon = hp.rfind(':');
    if (colon == std::string::npos || colon == 0) throw Error(uri + ": give udp://HOST:PORT");
    const std::string host = hp.substr(0, colon), port = hp.substr(colon + 1);
    if (port.empty() || port.find_first_not_of("0123456789") != std::string::npos || std::stoi(port) > 65535)
      throw Error(uri + ": port '" + port + "' is not a number 1..65535");
    std::vector<std::string> tails;
    for (const std::string& enc : encoders_here(uri, o.bitrate_kbps))
      tails.push_back(enc + " ! h264parse ! rtph264pay config-interval=1 pt=96 ! udpsink host=" + host + " port=" + port + " sync=false");
    return std::make_unique<GstSink>(uri, tails, o, false, true);
  }
  if (starts_with(uri, "display://")) {
    const char* disp = std::getenv("DISPLAY");
    const bool egl = gst_has_element("nveglglessink");
    if ((!disp || !*disp) && !egl) {
      const std::string path = "edgecompress-display.mp4";
      if (note) *note = "no $DISPLAY: writing the display to " + path + " instead";
      return file_sink("file://" + path, path, o);
    }
    // Jetson's EGL sink first; XVideo scales in hardware but needs the Xv extension (absent under Xvfb and
    // some remote displays), so plain X images and autovideosink follow.
    std::vector<std::string> tails;
    for (const char* vs : {"nveglglessink", "xvimagesink", "ximagesink", "autovideosink"})
      if (gst_has_element(vs)) tails.push_back(std::string(vs) + " sync=false");
    if (tails.empty()) throw Error(uri + ": no video sink element installed (gstreamer1.0-x)");
    return std::make_unique<GstSink>(uri, tails, o, false, false);
  }
  throw Error(uri + ": unknown sink scheme (display://, file://, udp://, none://)");
}

}  // namespace ec
