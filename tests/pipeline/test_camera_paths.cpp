// The camera and encoder paths of Jetson boards at the launch-string and caps level: CSI through
// nvarguscamerasrc and the board's converter, per option; V4L2 modes chosen from what the device lists (and a
// request it does not list refused with that list); H.264 encoders in the order run tries them. The strings are
// parsed by GStreamer's own caps parser where the elements are not on this machine.
#include <gst/gst.h>
#include <gtest/gtest.h>

#include "error.h"
#include "gst_util.h"
#include "sink.h"
#include "source.h"
#include "v4l2.h"

using namespace ec;

namespace {

std::string err_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// The caps between two " ! " of a launch string that start with `prefix`, parsed by GStreamer.
GstCaps* caps_in(const std::string& launch, const std::string& prefix) {
  size_t p = launch.find(prefix);
  if (p == std::string::npos) return nullptr;
  const size_t end = launch.find(" ! ", p);
  return gst_caps_from_string(launch.substr(p, end == std::string::npos ? std::string::npos : end - p).c_str());
}

int caps_int(GstCaps* c, const char* field) {
  int v = -1;
  gst_structure_get_int(gst_caps_get_structure(c, 0), field, &v);
  return v;
}

// A USB webcam as uvcvideo lists it (a C920's modes, abridged): YUYV up to 1080p but slow at large sizes,
// MJPG fast at every size.
V4l2Device webcam() {
  V4l2Device d;
  d.path = "/dev/video0";
  d.card = "HD Pro Webcam C920";
  d.driver = "uvcvideo";
  d.capture = true;
  for (auto [w, h, f] : {std::tuple{640, 480, 30}, {640, 480, 15}, {1280, 720, 10}, {1920, 1080, 5}}) d.modes.push_back({"YUYV", w, h, f, 1});
  for (auto [w, h, f] : {std::tuple{640, 480, 30}, {1280, 720, 30}, {1920, 1080, 30}}) d.modes.push_back({"MJPG", w, h, f, 1});
  d.modes.push_back({"MJPG", 1280, 720, 30000, 1001});  // 29.97
  return d;
}

}  // namespace

TEST(CameraPaths, CsiLaunchStringPerOption) {
  gst_init_once();
  SourceOptions o;
  std::string l = FrameSource::launch_string("csi://", o);
  EXPECT_EQ(l.rfind("nvarguscamerasrc sensor-id=0 ! ", 0), 0u) << l;
  EXPECT_EQ(l.find("sensor-mode"), std::string::npos) << "the driver picks the mode unless asked";
  GstCaps* nvmm = caps_in(l, "video/x-raw(memory:NVMM)");
  ASSERT_NE(nvmm, nullptr) << l;
  EXPECT_TRUE(gst_caps_features_contains(gst_caps_get_features(nvmm, 0), "memory:NVMM"));
  EXPECT_STREQ(gst_structure_get_string(gst_caps_get_structure(nvmm, 0), "format"), "NV12");
  EXPECT_EQ(caps_int(nvmm, "width"), 1280);
  EXPECT_EQ(caps_int(nvmm, "height"), 720);
  gst_caps_unref(nvmm);
  // converted by nvvidconv to BGRx in system memory, then to BGR for OpenCV
  EXPECT_NE(l.find(" ! nvvidconv flip-method=0 ! video/x-raw,format=BGRx ! videoconvert ! video/x-raw,format=BGR ! appsink"), std::string::npos) << l;

  o.sensor_mode = 4;
  o.width = 1920;
  o.height = 1080;
  o.fps = 60;
  o.flip = "rotate-180";
  l = FrameSource::launch_string("csi://1", o);
  EXPECT_EQ(l.rfind("nvarguscamerasrc sensor-id=1 sensor-mode=4 ! ", 0), 0u) << l;
  nvmm = caps_in(l, "video/x-raw(memory:NVMM)");
  ASSERT_NE(nvmm, nullptr);
  EXPECT_EQ(caps_int(nvmm, "width"), 1920);
  int n = 0, d = 0;
  gst_structure_get_fraction(gst_caps_get_structure(nvmm, 0), "framerate", &n, &d);
  EXPECT_EQ(n / d, 60);
  gst_caps_unref(nvmm);
  // nvvidconv's flip-method numbering: 1 counterclockwise, 2 rotate-180, 3 clockwise, 4 horizontal, 6 vertical
  EXPECT_NE(l.find("flip-method=2"), std::string::npos);
  for (auto [flip, m] : {std::pair{"counterclockwise", 1}, {"clockwise", 3}, {"horizontal", 4}, {"vertical", 6}}) {
    o.flip = flip;
    EXPECT_NE(FrameSource::launch_string("csi://0", o).find("flip-method=" + std::to_string(m)), std::string::npos) << flip;
  }
  EXPECT_NE(err_of([] { FrameSource::launch_string("csi://front", {}); }).find("csi://front: the sensor id 'front' is not a number"), std::string::npos);
}

TEST(CameraPaths, V4l2ModeIsOneTheDeviceLists) {
  const V4l2Device d = webcam();
  // nothing asked: raw YUYV, the largest listed size up to 1280x720, then the fastest rate
  V4l2Mode m = choose_v4l2_mode(d, {});
  EXPECT_EQ(m.fourcc, "YUYV");
  EXPECT_EQ(m.width, 1280);
  EXPECT_EQ(m.fps_n, 10);
  // 640x480 at 30: raw has it
  m = choose_v4l2_mode(d, {"auto", 640, 480, 30});
  EXPECT_EQ(m.fourcc, "YUYV");
  EXPECT_EQ(m.fps_n, 30);
  // 1920x1080 at 30: raw lists 5 fps only, so auto takes MJPG
  m = choose_v4l2_mode(d, {"auto", 1920, 1080, 30});
  EXPECT_EQ(m.fourcc, "MJPG");
  EXPECT_EQ(m.width, 1920);
  // 30 fps matches the listed 29.97 too; the exact 30/1 is preferred as the faster
  m = choose_v4l2_mode(d, {"mjpeg", 1280, 720, 30});
  EXPECT_EQ(m.fourcc, "MJPG");
  EXPECT_EQ(m.fps_n, 30);
  EXPECT_EQ(m.fps_d, 1);
  // raw at a rate the device does not list: refused with what it offers
  const std::string e = err_of([&] { choose_v4l2_mode(d, {"raw", 1920, 1080, 30}); });
  EXPECT_NE(e.find("/dev/video0 (HD Pro Webcam C920): no mode raw 1920x1080@30; it offers: YUYV 640x480@30, 640x480@15, 1280x720@10, 1920x1080@5; MJPG 640x480@30, 1280x720@30, 1920x1080@30, 1280x720@29.97"),
            std::string::npos)
      << e;
  EXPECT_NE(err_of([&] { choose_v4l2_mode(d, {"h264", 0, 0, 0}); }).find("format 'h264' is not auto, raw or mjpeg"), std::string::npos);
}

TEST(CameraPaths, V4l2LaunchAsksForExactlyTheChosenMode) {
  gst_init_once();
  SourceOptions o;
  o.flip = "horizontal";
  std::string l = FrameSource::v4l2_launch_string("/dev/video2", {"YUYV", 640, 480, 30, 1}, o);
  EXPECT_EQ(l.rfind("v4l2src device=\"/dev/video2\" ! video/x-raw,format=YUY2,width=640,height=480,framerate=30/1 ! videoflip method=horizontal-flip", 0), 0u) << l;
  GstCaps* c = caps_in(l, "video/x-raw,format=YUY2");
  ASSERT_NE(c, nullptr);
  EXPECT_TRUE(gst_caps_is_fixed(c)) << "one mode, nothing left to negotiate";
  gst_caps_unref(c);
  l = FrameSource::v4l2_launch_string("/dev/video0", {"MJPG", 1280, 720, 30000, 1001}, {});
  EXPECT_NE(l.find("image/jpeg,width=1280,height=720,framerate=30000/1001 ! jpegdec ! videoconvert"), std::string::npos) << l;
  c = caps_in(l, "image/jpeg");
  ASSERT_NE(c, nullptr);
  EXPECT_TRUE(gst_caps_is_fixed(c));
  gst_caps_unref(c);
  // where v4l2src and jpegdec are installed, the whole string builds a pipeline
  if (gst_has_element("v4l2src") && gst_has_element("jpegdec")) {
    GError* err = nullptr;
    GstElement* p = gst_parse_launch(l.c_str(), &err);
    EXPECT_NE(p, nullptr) << (err ? err->message : "");
    if (p) gst_object_unref(p);
    if (err) g_error_free(err);
  }
  EXPECT_NE(err_of([] { v4l2_caps({"H264", 640, 480, 30, 1}); }).find("V4L2 format H264 is not one the pipeline reads"), std::string::npos);
  // the real ioctls refuse what is not a V4L2 device, naming it
  EXPECT_NE(err_of([] { query_v4l2("/dev/null"); }).find("/dev/null: not a V4L2 device"), std::string::npos);
  EXPECT_NE(err_of([] { query_v4l2("/dev/video97"); }).find("/dev/video97: cannot open"), std::string::npos);
}

TEST(CameraPaths, H264EncodersInTheOrderRunTriesThem) {
  auto only = [](std::set<std::string> s) { return [s](const std::string& e) { return s.count(e) > 0; }; };
  // a Jetson with NVENC: the hardware encoder fed NV12 in NVMM by nvvidconv, x264enc behind it
  auto e = h264_encoders(4000, only({"nvv4l2h264enc", "nvvidconv", "x264enc"}));
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(e[0].rfind("nvvidconv ! video/x-raw(memory:NVMM),format=NV12 ! nvv4l2h264enc bitrate=4000000 ", 0), 0u) << e[0];
  EXPECT_EQ(h264_encoder_name(e[0]), "nvv4l2h264enc");
  EXPECT_EQ(h264_encoder_name(e[1]), "x264enc");
  EXPECT_NE(e[1].find("bitrate=4000 "), std::string::npos) << "x264enc takes kbit/s: " << e[1];
  // without the converter the hardware encoder cannot be fed
  e = h264_encoders(2000, only({"nvv4l2h264enc", "x264enc"}));
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(h264_encoder_name(e[0]), "x264enc");
  e = h264_encoders(2000, only({"openh264enc"}));
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0], "openh264enc bitrate=2000000");
  EXPECT_TRUE(h264_encoders(2000, only({})).empty());
}
