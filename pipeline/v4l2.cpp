#include "v4l2.h"

#include <fcntl.h>
#include <linux/videodev2.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>

#include "error.h"

namespace ec {
namespace {

std::string fourcc_name(uint32_t f) {
  std::string s;
  for (int i = 0; i < 4; ++i) {
    const char c = static_cast<char>((f >> (8 * i)) & 0xff);
    if (c != ' ' && c != '\0') s += c;
  }
  return s;
}

// ioctl, retried when a signal interrupts it.
int xioctl(int fd, unsigned long req, void* arg) {
  int r;
  do r = ioctl(fd, req, arg);
  while (r < 0 && errno == EINTR);
  return r;
}

void add_rates(int fd, uint32_t pixfmt, int w, int h, const std::string& name, std::vector<V4l2Mode>& out) {
  v4l2_frmivalenum iv{};
  iv.pixel_format = pixfmt;
  iv.width = static_cast<uint32_t>(w);
  iv.height = static_cast<uint32_t>(h);
  bool any = false;
  for (iv.index = 0; xioctl(fd, VIDIOC_ENUM_FRAMEINTERVALS, &iv) == 0; ++iv.index) {
    if (iv.type == V4L2_FRMIVAL_TYPE_DISCRETE) {
      if (iv.discrete.numerator == 0) continue;
      out.push_back({name, w, h, static_cast<int>(iv.discrete.denominator), static_cast<int>(iv.discrete.numerator)});
    } else {  // a continuous or stepwise range: its fastest and slowest rate
      if (iv.stepwise.min.numerator && iv.stepwise.max.numerator) {
        out.push_back({name, w, h, static_cast<int>(iv.stepwise.min.denominator), static_cast<int>(iv.stepwise.min.numerator)});
        out.push_back({name, w, h, static_cast<int>(iv.stepwise.max.denominator), static_cast<int>(iv.stepwise.max.numerator)});
      }
      any = true;
      break;
    }
    any = true;
  }
  if (!any) out.push_back({name, w, h, 0, 1});
}

bool is_raw(const std::string& f) { return f == "YUYV" || f == "NV12" || f == "GREY" || f == "BGR3" || f == "RGB3" || f == "UYVY"; }

}  // namespace

V4l2Device query_v4l2(const std::string& path) {
  V4l2Device d;
  d.path = path;
  const int fd = ::open(path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) throw Error(path + ": cannot open (" + std::strerror(errno) + ")");
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  v4l2_capability cap{};
  if (xioctl(fd, VIDIOC_QUERYCAP, &cap) != 0) throw Error(path + ": not a V4L2 device (VIDIOC_QUERYCAP: " + std::strerror(errno) + ")");
  d.card = reinterpret_cast<const char*>(cap.card);
  d.driver = reinterpret_cast<const char*>(cap.driver);
  const uint32_t caps = (cap.capabilities & V4L2_CAP_DEVICE_CAPS) ? cap.device_caps : cap.capabilities;
  d.capture = (caps & V4L2_CAP_VIDEO_CAPTURE) != 0;
  if (!d.capture) return d;
  v4l2_fmtdesc fd_desc{};
  fd_desc.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
  for (fd_desc.index = 0; xioctl(fd, VIDIOC_ENUM_FMT, &fd_desc) == 0; ++fd_desc.index) {
    const std::string name = fourcc_name(fd_desc.pixelformat);
    v4l2_frmsizeenum fs{};
    fs.pixel_format = fd_desc.pixelformat;
    for (fs.index = 0; xioctl(fd, VIDIOC_ENUM_FRAMESIZES, &fs) == 0; ++fs.index) {
      if (fs.type == V4L2_FRMSIZE_TYPE_DISCRETE) {
        add_rates(fd, fd_desc.pixelformat, static_cast<int>(fs.discrete.width), static_cast<int>(fs.discrete.height), name, d.modes);
      } else {
        add_rates(fd, fd_desc.pixelformat, static_cast<int>(fs.stepwise.min_width), static_cast<int>(fs.stepwise.min_height), name, d.modes);
        add_rates(fd, fd_desc.pixelformat, static_cast<int>(fs.stepwise.max_width), static_cast<int>(fs.stepwise.max_height), name, d.modes);
        break;
      }
    }
  }
  return d;
}

std::string describe_modes(const std::vector<V4l2Mode>& modes, size_t max_per_format) {
  std::map<std::string, std::vector<const V4l2Mode*>> by;
  std::vector<std::string> order;
  for (const V4l2Mode& m : modes) {
    if (!by.count(m.fourcc)) order.push_back(m.fourcc);
    by[m.fourcc].push_back(&m);
  }
  std::string s;
  for (const std::string& f : order) {
    if (!s.empty()) s += "; ";
    s += f;
    const auto& v = by[f];
    for (size_t i = 0; i < v.size() && i < max_per_format; ++i) {
      char b[64];
      const double fps = v[i]->fps();
      if (fps <= 0) std::snprintf(b, sizeof b, "%s%dx%d", i ? ", " : " ", v[i]->width, v[i]->height);
      else std::snprintf(b, sizeof b, "%s%dx%d@%g", i ? ", " : " ", v[i]->width, v[i]->height, std::round(fps * 100) / 100);
      s += b;
    }
    if (v.size() > max_per_format) s += ", ... (" + std::to_string(v.size()) + " modes)";
  }
  return s.empty() ? "no capture modes" : s;
}

V4l2Mode choose_v4l2_mode(const V4l2Device& dev, const V4l2Request& req) {
  if (req.format != "auto" && req.format != "raw" && req.format != "mjpeg")
    throw Error(dev.path + ": format '" + req.format + "' is not auto, raw or mjpeg");
  auto fits = [&](const V4l2Mode& m, bool want_raw) {
    if (want_raw ? !is_raw(m.fourcc) : m.fourcc != "MJPG") return false;
    if (req.width > 0 && m.width != req.width) return false;
    if (req.height > 0 && m.height != req.height) return false;
    if (req.fps > 0 && std::fabs(m.fps() - req.fps) > 0.5) return false;
    return true;
  };
  // among fitting modes: raw YUYV before other raw formats, sizes up to 1280x720 largest first, then larger
  // ones smallest first, then the highest rate
  auto better = [](const V4l2Mode& a, const V4l2Mode& b) {
    auto rank = [](const V4l2Mode& m) { return m.fourcc == "YUYV" || m.fourcc == "MJPG" ? 0 : 1; };
    if (rank(a) != rank(b)) return rank(a) < rank(b);
    const long pa = static_cast<long>(a.width) * a.height, pb = static_cast<long>(b.width) * b.height, cap = 1280L * 720;
    const bool sa = pa <= cap, sb = pb <= cap;
    if (sa != sb) return sa;
    if (pa != pb) return sa ? pa > pb : pa < pb;
    return a.fps() > b.fps();
  };
  std::vector<bool> kinds;
  if (req.format == "raw") kinds = {true};
  else if (req.format == "mjpeg") kinds = {false};
  else kinds = {true, false};
  for (bool raw : kinds) {
    const V4l2Mode* best = nullptr;
    for (const V4l2Mode& m : dev.modes)
      if (fits(m, raw) && (!best || better(m, *best))) best = &m;
    if (best) return *best;
  }
  std::string want = req.format == "auto" ? "YUYV or MJPG" : req.format == "raw" ? "raw" : "MJPG";
  want += " " + (req.width > 0 ? std::to_string(req.width) : std::string("any")) + "x" + (req.height > 0 ? std::to_string(req.height) : std::string("any")) +
          "@" + (req.fps > 0 ? std::to_string(req.fps) : std::string("any"));
  throw Error(dev.path + (dev.card.empty() ? "" : " (" + dev.card + ")") + ": no mode " + want + "; it offers: " + describe_modes(dev.modes, 64));
}

std::string v4l2_caps(const V4l2Mode& m) {
  std::string c;
  if (m.fourcc == "MJPG") c = "image/jpeg";
  else if (m.fourcc == "YUYV") c = "video/x-raw,format=YUY2";
  else if (m.fourcc == "UYVY") c = "video/x-raw,format=UYVY";
  else if (m.fourcc == "NV12") c = "video/x-raw,format=NV12";
  else if (m.fourcc == "GREY") c = "video/x-raw,format=GRAY8";
  else if (m.fourcc == "BGR3") c = "video/x-raw,format=BGR";
  else if (m.fourcc == "RGB3") c = "video/x-raw,format=RGB";
  else throw Error("V4L2 format " + m.fourcc + " is not one the pipeline reads (YUYV, UYVY, MJPG, NV12, GREY, BGR3, RGB3)");
  c += ",width=" + std::to_string(m.width) + ",height=" + std::to_string(m.height);
  if (m.fps_n > 0) c += ",framerate=" + std::to_string(m.fps_n) + "/" + std::to_string(m.fps_d);
  return c;
}

}  // namespace ec
