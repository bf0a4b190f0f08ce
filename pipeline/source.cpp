#include "source.h"

#include <gst/app/gstappsink.h>
#include <gst/video/video.h>
#include <sys/stat.h>

#include <array>
#include <atomic>
#include <mutex>
#include <chrono>
#include <cstring>

#include "error.h"
#include "gst_util.h"
#include "v4l2.h"

namespace ec {
namespace {

double now_steady_ms() {
  using namespace std::chrono;
  return duration<double, std::milli>(steady_clock::now().time_since_epoch()).count();
}

std::string videoflip_method(const std::string& flip) {
  if (flip == "none" || flip.empty()) return "";
  if (flip == "horizontal") return "horizontal-flip";
  if (flip == "vertical") return "vertical-flip";
  if (flip == "rotate-180" || flip == "clockwise" || flip == "counterclockwise") return flip;
  throw Error("flip '" + flip + "' is not one of none, horizontal, vertical, rotate-180, clockwise, counterclockwise");
}

int nvvidconv_flip(const std::string& flip) {
  if (flip == "none" || flip.empty()) return 0;
  if (flip == "counterclockwise") return 1;
  if (flip == "rotate-180") return 2;
  if (flip == "clockwise") return 3;
  if (flip == "horizontal") return 4;
  if (flip == "vertical") return 6;
  throw Error("flip '" + flip + "' is not known");
}

std::string raw_caps(const SourceOptions& o) {
  std::string c = "video/x-raw";
  if (o.width > 0) c += ",width=" + std::to_string(o.width);
  if (o.height > 0) c += ",height=" + std::to_string(o.height);
  if (o.fps > 0) c += ",framerate=" + std::to_string(o.fps) + "/1";
  return c;
}

// Scaling, flipping and conversion to BGR in front of the appsink.
std::string tail(const SourceOptions& o, bool scale) {
  std::string t;
  if (scale && (o.width > 0 || o.height > 0)) {
    t += " ! videoscale ! video/x-raw";
    if (o.width > 0) t += ",width=" + std::to_string(o.width);
    if (o.height > 0) t += ",height=" + std::to_string(o.height);
  }
  const std::string m = videoflip_method(o.flip);
  if (!m.empty()) t += " ! videoflip method=" + m;
  t += " ! videoconvert ! video/x-raw,format=BGR ! appsink name=ecsink";
  return t;
}

std::string quote(const std::string& s) {
  std::string r = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') r += '\\';
    r += c;
  }
  return r + "\"";
}

bool starts_with(const std::string& s, const char* p) { return s.rfind(p, 0) == 0; }

class GstSource : public FrameSource {
 public:
  GstSource(const std::string& uri, const std::string& launch, bool live, const SourceOptions& o)
      : live_(live), loop_(o.loop), realtime_(!live && o.realtime) {
    uri_ = uri;
    gst_init_once();
    pipeline_ = gst_launch(launch, uri, "capture");
    GstElement* s = gst_bin_get_by_name(GST_BIN(pipeline_), "ecsink");
    if (!s) {  // gst:// strings name their appsink as they like: take the first appsink
      GstIterator* it = gst_bin_iterate_sinks(GST_BIN(pipeline_));
      GValue v = G_VALUE_INIT;
      while (gst_iterator_next(it, &v) == GST_ITERATOR_OK) {
        GstElement* e = GST_ELEMENT(g_value_get_object(&v));
        if (GST_IS_APP_SINK(e)) {
          s = GST_ELEMENT(gst_object_ref(e));
          g_value_reset(&v);
          break;
        }
        g_value_reset(&v);
      }
      g_value_unset(&v);
      gst_iterator_free(it);
    }
    if (!s || !GST_IS_APP_SINK(s)) {
      gst_object_unref(pipeline_);
      throw Error(uri + ": the pipeline has no appsink (end a gst:// launch string with '! appsink')");
    }
    sink_ = GST_APP_SINK(s);
    GstCaps* caps = gst_caps_from_string("video/x-raw,format=BGR");
    gst_app_sink_set_caps(sink_, caps);
    gst_caps_unref(caps);
    // Live: keep only the newest frame. Files: every frame, paced by the clock only when realtime.
    gst_app_sink_set_max_buffers(sink_, live ? 1 : 4);
    gst_app_sink_set_drop(sink_, live);
    g_object_set(G_OBJECT(sink_), "sync", (gboolean)(live ? FALSE : o.realtime), "emit-signals", FALSE, nullptr);
    GstPad* pad = gst_element_get_static_pad(GST_ELEMENT(sink_), "sink");
    gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, &GstSource::count_probe, this, nullptr);
    gst_object_unref(pad);
    std::string e = gst_set_state_wait(pipeline_, GST_STATE_PLAYING, 10000);
    if (e.empty()) e = gst_pop_error(pipeline_, 0);
    if (!e.empty()) {
      close();
      throw Error(uri + ": cannot start (" + e + ")");
    }
  }

  ~GstSource() override { close(); }

  ReadStatus read(Frame& f, int timeout_ms) override {
    for (;;) {
      GstSample* s = gst_app_sink_try_pull_sample(sink_, static_cast<GstClockTime>(timeout_ms) * GST_MSECOND);
      if (!s) {
        std::string e = gst_pop_error(pipeline_, 0);
        if (!e.empty()) {
          error_ = uri_ + ": " + e;
          return ReadStatus::error;
        }
        if (gst_app_sink_is_eos(sink_)) {
          if (loop_ && delivered_ > 0) {
            if (!gst_element_seek_simple(pipeline_, GST_FORMAT_TIME, GstSeekFlags(GST_SEEK_FLAG_FLUSH | GST_SEEK_FLAG_KEY_UNIT), 0)) {
              error_ = uri_ + ": cannot seek back to the start for --loop";
              return ReadStatus::error;
            }
            continue;
          }
          return ReadStatus::end_of_stream;
        }
        return ReadStatus::timeout;
      }
      return to_frame(s, f) ? ReadStatus::ok : ReadStatus::error;  // to_frame owns the sample
    }
  }

  bool is_live() const override { return live_; }
  int64_t dropped() const override {
    if (!live_) return 0;  // files deliver every frame; buffers queued ahead are not drops
    const int64_t d = arrived_.load() - delivered_ - 1;  // at most one buffer waits in the appsink
    return d > 0 ? d : 0;
  }
  std::string error() const override { return error_; }
  double nominal_fps() const override { return fps_; }

 private:
  // Counts buffers reaching the appsink and remembers when each arrived (the frame's capture time as far
  // as software can see it), keyed by PTS.
  static GstPadProbeReturn count_probe(GstPad*, GstPadProbeInfo* info, gpointer self) {
    auto* me = static_cast<GstSource*>(self);
    me->arrived_.fetch_add(1);
    GstBuffer* b = GST_PAD_PROBE_INFO_BUFFER(info);
    std::lock_guard<std::mutex> l(me->arrival_mu_);
    me->arrivals_[me->arrival_head_++ % me->arrivals_.size()] = {b ? GST_BUFFER_PTS(b) : GST_CLOCK_TIME_NONE, now_steady_ms()};
    return GST_PAD_PROBE_OK;
  }

  double arrival_ms(GstClockTime pts) {
    std::lock_guard<std::mutex> l(arrival_mu_);
    for (auto& a : arrivals_)
      if (a.first == pts && pts != GST_CLOCK_TIME_NONE) return a.second;
    return now_steady_ms();
  }

  // A mapped sample whose pixels a Frame views without copying; unmapped and released with the last holder.
  struct MappedSample {
    GstSample* sample = nullptr;
    GstBuffer* buffer = nullptr;
    GstMapInfo map{};
    ~MappedSample() {
      if (buffer) gst_buffer_unmap(buffer, &map);
      if (sample) gst_sample_unref(sample);
    }
  };

  bool to_frame(GstSample* s, Frame& f) {
    auto held = std::make_shared<MappedSample>();
    held->sample = s;  // released with `held` on every path
    GstCaps* caps = gst_sample_get_caps(s);
    GstVideoInfo info;
    if (!caps || !gst_video_info_from_caps(&info, caps)) {
      error_ = uri_ + ": frame without video caps";
      return false;
    }
    if (info.fps_d > 0) fps_ = static_cast<double>(info.fps_n) / info.fps_d;
    GstBuffer* buf = gst_sample_get_buffer(s);
    if (!buf || !gst_buffer_map(buf, &held->map, GST_MAP_READ)) {
      error_ = uri_ + ": cannot map a frame buffer";
      return false;
    }
    held->buffer = buf;
    const int w = GST_VIDEO_INFO_WIDTH(&info), h = GST_VIDEO_INFO_HEIGHT(&info);
    const int stride = GST_VIDEO_INFO_PLANE_STRIDE(&info, 0);
    f.hold.reset();  // the previous frame's buffer goes back to GStreamer first
    f.bgr = cv::Mat(h, w, CV_8UC3, held->map.data, static_cast<size_t>(stride));
    f.hold = held;
    // Real-time files are presented by the appsink's clock wait: the frame "happens" when it is released.
    f.capture_ms = realtime_ ? now_steady_ms() : arrival_ms(GST_BUFFER_PTS(buf));
    f.seq = delivered_++;
    f.pts_ms = GST_BUFFER_PTS_IS_VALID(buf) ? static_cast<double>(GST_BUFFER_PTS(buf)) / 1e6 : -1;
    return true;
  }

  void close() {
    if (pipeline_) {
      gst_element_set_state(pipeline_, GST_STATE_NULL);
      gst_object_unref(pipeline_);
      pipeline_ = nullptr;
    }
    if (sink_) {
      gst_object_unref(sink_);
      sink_ = nullptr;
    }
  }

  GstElement* pipeline_ = nullptr;
  GstAppSink* sink_ = nullptr;
  bool live_, loop_, realtime_;
  std::atomic<int64_t> arrived_{0};
  std::mutex arrival_mu_;
  std::array<std::pair<GstClockTime, double>, 16> arrivals_{};
  size_t arrival_head_ = 0;
  int64_t delivered_ = 0;
  std::string error_;
  double fps_ = 0;
};

}  // namespace

std::string FrameSource::launch_string(const std::string& uri, const SourceOptions& o) {
  if (starts_with(uri, "csi://")) {
    const std::string id = uri.substr(6);
    if (!id.empty() && id.find_first_not_of("0123456789") != std::string::npos) throw Error(uri + ": the sensor id '" + id + "' is not a number");
    const int w = o.width > 0 ? o.width : 1280, h = o.height > 0 ? o.height : 720, fps = o.fps > 0 ? o.fps : 30;
    std::string l = "nvarguscamerasrc sensor-id=" + (id.empty() ? std::string("0") : id);
    if (o.sensor_mode >= 0) l += " sensor-mode=" + std::to_string(o.sensor_mode);
    // the ISP's NV12 in NVMM memory, converted to BGRx in system memory by the board's converter (VIC)
    return l + " ! video/x-raw(memory:NVMM),width=" + std::to_string(w) + ",height=" + std::to_string(h) + ",format=NV12,framerate=" +
           std::to_string(fps) + "/1 ! nvvidconv flip-method=" + std::to_string(nvvidconv_flip(o.flip)) +
           " ! video/x-raw,format=BGRx ! videoconvert ! video/x-raw,format=BGR ! appsink name=ecsink";
  }
  if (starts_with(uri, "v4l2://")) {
    // without the device's list of modes (see open(), which asks the device): the caps as requested
    std::string dev = uri.substr(7);
    if (dev.empty()) dev = "/dev/video0";
    if (o.format == "mjpeg") {
      std::string caps = raw_caps(o);
      caps.replace(0, 11, "image/jpeg");
      return "v4l2src device=" + quote(dev) + " ! " + caps + " ! jpegdec" + tail(o, false);
    }
    if (o.format != "raw" && o.format != "auto") throw Error(uri + ": format '" + o.format + "' is not auto, raw or mjpeg");
    return "v4l2src device=" + quote(dev) + " ! " + raw_caps(o) + tail(o, false);
  }
  if (starts_with(uri, "rtsp://") || starts_with(uri, "rtsps://"))
    return "rtspsrc location=" + quote(uri) + " latency=" + std::to_string(o.latency_ms) + " ! decodebin" + tail(o, true);
  if (starts_with(uri, "test://")) {
    std::string pattern = uri.substr(7);
    if (pattern.empty()) pattern = "ball";
    SourceOptions t = o;
    if (t.width <= 0) t.width = 640;
    if (t.height <= 0) t.height = 480;
    if (t.fps <= 0) t.fps = 30;
    return "videotestsrc pattern=" + pattern + " is-live=true ! " + raw_caps(t) + tail(t, false);
  }
  if (starts_with(uri, "gst://")) return uri.substr(6);
  std::string path = uri;
  if (starts_with(uri, "file://")) path = uri.substr(7);
  else if (uri.find("://") != std::string::npos)
    throw Error(uri + ": unknown source scheme (csi://, v4l2://, file://, rtsp://, test://, gst:// or a path)");
  std::string t = tail(o, true);
  if (o.fps > 0) t = " ! videorate ! video/x-raw,framerate=" + std::to_string(o.fps) + "/1" + t;
  return "filesrc location=" + quote(path) + " ! decodebin" + t;
}

std::string FrameSource::v4l2_launch_string(const std::string& dev, const V4l2Mode& m, const SourceOptions& o) {
  return "v4l2src device=" + quote(dev) + " ! " + v4l2_caps(m) + (m.fourcc == "MJPG" ? " ! jpegdec" : "") + tail(o, false);
}

std::unique_ptr<FrameSource> FrameSource::open(const std::string& uri, const SourceOptions& o) {
  const std::string launch = launch_string(uri, o);
  const bool is_file = launch.rfind("filesrc", 0) == 0;
  if (is_file) {
    std::string path = starts_with(uri, "file://") ? uri.substr(7) : uri;
    struct stat st {};
    if (stat(path.c_str(), &st) != 0) throw Error(uri + ": no such file");
    if (!S_ISREG(st.st_mode)) throw Error(uri + ": not a regular file");
  }
  if (starts_with(uri, "v4l2://")) {
    std::string dev = uri.substr(7);
    if (dev.empty()) dev = "/dev/video0";
    struct stat st {};
    if (stat(dev.c_str(), &st) != 0) throw Error(uri + ": no such camera device");
    // ask the device what it offers and request exactly one of its modes
    const V4l2Device d = query_v4l2(dev);
    if (!d.capture) throw Error(uri + ": " + dev + " (" + d.card + ") does not capture video (a metadata or output node)");
    if (d.is_csi()) throw Error(uri + ": " + dev + " is a CSI sensor (" + d.card + "): open it as csi://N through the ISP");
    const V4l2Mode m = choose_v4l2_mode(d, {o.format, o.width, o.height, o.fps});
    return std::make_unique<GstSource>(uri, v4l2_launch_string(dev, m, o), true, o);
  }
  if (starts_with(uri, "csi://") && !gst_has_element("nvarguscamerasrc"))
    throw Error(uri + ": no CSI camera support here (nvarguscamerasrc is a Jetson element)");
  bool live = !is_file;
  if (starts_with(uri, "gst://"))  // a custom string is live when it captures from a device or a network
    live = launch.find("v4l2src") != std::string::npos || launch.find("nvarguscamerasrc") != std::string::npos ||
           launch.find("rtspsrc") != std::string::npos || launch.find("udpsrc") != std::string::npos ||
           launch.find("is-live=true") != std::string::npos;
  return std::make_unique<GstSource>(uri, launch, live, o);
}

}  // namespace ec
