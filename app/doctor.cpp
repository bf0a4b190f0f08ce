#include "doctor.h"

#include <dirent.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <opencv2/core/utility.hpp>
#include <opencv2/dnn.hpp>
#include <opencv2/imgcodecs.hpp>
#include <set>
#include <sstream>

#include "build_features.h"
#include "common.h"
#include "config.h"
#include "engine.h"
#include "error.h"
#include "gst_util.h"
#include "onnx_io.h"
#include "power_setup.h"
#include "qgemm.h"
#include "sensor.h"
#include "sink.h"
#include "source.h"
#include "v4l2.h"
#include "xnn.h"

namespace ec {
namespace {

std::string join_root(const std::string& root, const std::string& path) { return root == "/" ? path : root + path; }

// The whole file, trailing NULs and newlines removed; "" when absent.
std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return "";
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  while (!s.empty() && (s.back() == '\0' || s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

bool exists(const std::string& p) {
  struct stat st {};
  return stat(p.c_str(), &st) == 0;
}

std::vector<std::string> list_dir(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d))
      if (e->d_name[0] != '.') out.push_back(e->d_name);
    closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string fmt(const char* f, double a) {
  char b[64];
  std::snprintf(b, sizeof b, f, a);
  return b;
}

// The CPU as /proc/cpuinfo of `root` describes it.
struct CpuInfo {
  int cores = 0;
  std::string arch, model;
  std::set<std::string> features;
};

std::string arm_core_name(const std::string& implementer, const std::string& part) {
  static const std::map<std::string, std::string> arm = {{"0xd03", "Cortex-A53"}, {"0xd07", "Cortex-A57"}, {"0xd08", "Cortex-A72"},
                                                         {"0xd0b", "Cortex-A76"}, {"0xd41", "Cortex-A78"}, {"0xd42", "Cortex-A78AE"},
                                                         {"0xd4f", "Neoverse-V2"}, {"0xd84", "Neoverse-V3"}, {"0xd83", "Neoverse-V3AE"}};
  if (implementer == "0x4e" && part == "0x004") return "NVIDIA Carmel";
  auto it = arm.find(part);
  if (implementer == "0x41" && it != arm.end()) return it->second;
  return "ARM implementer " + implementer + " part " + part;
}

CpuInfo read_cpu(const std::string& root) {
  CpuInfo c;
  std::ifstream f(join_root(root, "/proc/cpuinfo"));
  std::string line, implementer, part, flags;
  while (std::getline(f, line)) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = line.substr(0, colon), val = colon + 2 <= line.size() ? line.substr(colon + 2) : "";
    while (!key.empty() && (key.back() == ' ' || key.back() == '\t')) key.pop_back();
    if (key == "processor") ++c.cores;
    if (c.model.empty() && key == "model name") c.model = val;
    if (implementer.empty() && key == "CPU implementer") implementer = val;
    if (part.empty() && key == "CPU part") part = val;
    if (flags.empty() && (key == "flags" || key == "Features")) {
      flags = val;
      c.arch = key == "flags" ? "x86_64" : "aarch64";
    }
  }
  if (!part.empty()) c.model = arm_core_name(implementer, part);  // ARM's "model name" is only "ARMv8 Processor rev 1 (v8l)"
  std::istringstream ss(flags);
  for (std::string w; ss >> w;) c.features.insert(w);
  return c;
}

}  // namespace

BoardInfo read_board(const std::string& root) {
  BoardInfo b;
  b.model = slurp(join_root(root, "/proc/device-tree/model"));
  b.jetson = b.model.find("Jetson") != std::string::npos;
  if (b.model.empty()) {
    const std::string vendor = slurp(join_root(root, "/sys/class/dmi/id/sys_vendor")), product = slurp(join_root(root, "/sys/class/dmi/id/product_name"));
    b.model = vendor + (vendor.empty() || product.empty() ? "" : " ") + product;
  }
  // "# R36 (release), REVISION: 3.0, GCID: ..., BOARD: generic, EABI: aarch64, DATE: ..."
  const std::string rel = slurp(join_root(root, "/etc/nv_tegra_release"));
  const auto r = rel.find("# R");
  if (r != std::string::npos) {
    b.l4t_major = std::atoi(rel.c_str() + r + 3);
    const auto rev = rel.find("REVISION: ");
    std::string revision = rev == std::string::npos ? "" : rel.substr(rev + 10, rel.find(',', rev) - rev - 10);
    b.l4t = "R" + std::to_string(b.l4t_major) + (revision.empty() ? "" : "." + revision);
    b.jetpack = b.l4t_major == 32 ? 4 : b.l4t_major == 35 ? 5 : b.l4t_major == 36 ? 6 : b.l4t_major >= 38 ? 7 : 0;
  }
  std::ifstream osr(join_root(root, "/etc/os-release"));
  for (std::string line; std::getline(osr, line);)
    if (line.rfind("PRETTY_NAME=", 0) == 0) {
      b.os = line.substr(12);
      if (b.os.size() >= 2 && b.os.front() == '"') b.os = b.os.substr(1, b.os.size() - 2);
    }
  b.has_nvenc = !(b.jetson && b.model.find("Orin Nano") != std::string::npos);
  return b;
}

std::vector<DoctorCheck> run_doctor(const DoctorOptions& o) {
  if (!exists(o.root)) throw Error("--root " + o.root + ": no such folder");
  const bool here = o.root == "/";
  std::vector<DoctorCheck> out;
  auto add = [&](const std::string& section, const std::string& name, const std::string& status, const std::string& detail,
                 const std::string& fix = "", bool needed = false) { out.push_back({section, name, status, detail, fix, needed}); };

  if (!here)
    add("board", "tree", "info", "board, release, CPU, cameras and power read from " + o.root +
                                     "; the engine, GStreamer elements, OpenCV, display and disk are this machine's");
  // ---- board
  const BoardInfo b = read_board(o.root);
  if (b.jetson) add("board", "model", "pass", b.model);
  else add("board", "model", "info", (b.model.empty() ? std::string("not a Jetson (no device-tree model)") : b.model + " (not a Jetson)"));
  if (b.l4t_major) {
    static const char* ubuntu[] = {"", "", "", "", "18.04", "20.04", "22.04", "24.04"};
    const std::string jp = b.jetpack ? "JetPack " + std::to_string(b.jetpack) + " (Ubuntu " + ubuntu[b.jetpack] + ")" : "an unknown JetPack";
    if (b.jetpack == 4)
      add("board", "release", "fail", "L4T " + b.l4t + ": " + jp + ", not supported: GCC 7 has no std::filesystem and CMake is 3.10",
          "flash a JetPack 5 or newer image (Xavier, Orin), or build with a newer GCC and CMake at your own risk", true);
    else if (b.jetpack == 0)
      add("board", "release", "warn", "L4T " + b.l4t + ": " + jp, "edgecompress is tested on JetPack 5, 6 and 7");
    else
      add("board", "release", "pass", "L4T " + b.l4t + ": " + jp);
  } else if (b.jetson) {
    add("board", "release", "warn", "no /etc/nv_tegra_release: the L4T release is unknown", "cat /etc/nv_tegra_release (is this NVIDIA's L4T image?)");
  }
  if (!b.os.empty()) add("board", "os", "info", b.os);
  if (b.jetson) {
    // nvpmodel keeps the current mode in its status file; the names are in the board's nvpmodel.conf
    const std::string st = slurp(join_root(o.root, "/var/lib/nvpmodel/status"));
    const auto p = st.find("pmode:");
    if (p == std::string::npos) {
      add("board", "power mode", "warn", "unknown (no /var/lib/nvpmodel/status)", "sudo nvpmodel -q");
    } else {
      const int mode = std::atoi(st.c_str() + p + 6);
      std::string name;
      std::ifstream conf(join_root(o.root, "/etc/nvpmodel.conf"));
      const std::string want = "ID=" + std::to_string(mode) + " ";
      for (std::string line; std::getline(conf, line);)
        if (line.find("POWER_MODEL") != std::string::npos && line.find(want) != std::string::npos) {
          const auto n = line.find("NAME=");
          if (n != std::string::npos) name = line.substr(n + 5, line.find_first_of(" >", n + 5) - n - 5);
        }
      add("board", "power mode", "info", "nvpmodel mode " + std::to_string(mode) + (name.empty() ? "" : " (" + name + ")") +
                                             ": latency and energy figures hold for this mode only");
    }
  }

  // ---- cpu and the engine paths it picks
  const CpuInfo c = read_cpu(o.root);
  std::string feats;
  for (const char* f : {"avx2", "fma", "avx512f", "avx512vl", "avx512_vnni", "asimd", "asimddp", "fphp", "asimdhp", "i8mm"})
    if (c.features.count(f)) feats += std::string(feats.empty() ? "" : " ") + f;
  add("cpu", "cpu", "info", std::to_string(c.cores) + " cores, " + (c.arch.empty() ? "unknown" : c.arch) + ", " + (c.model.empty() ? "unknown model" : c.model) +
                                " (" + (feats.empty() ? "no listed features" : feats) + ")");
  const std::string xs = xnnpack_status();
  if (xs.empty()) add("cpu", "XNNPACK", "pass", "XNNPACK " + xnnpack_build() + " (this build)");
  else add("cpu", "XNNPACK", "warn", "reference kernels only (" + xs + "): several times slower", "sudo apt install libxnnpack-dev && ./scripts/setup.sh");
  if (c.arch == "aarch64") {
    const bool dot = c.features.count("asimddp") > 0, fp16 = c.features.count("fphp") && c.features.count("asimdhp");
    add("cpu", "int8 path", dot ? "pass" : "info",
        dot ? "dot-product instructions (asimddp): XNNPACK's int8 kernels use SDOT" : "no dot product (ARMv8.0): int8 runs on XNNPACK's plain NEON kernels");
    add("cpu", "fp16 path", fp16 ? "pass" : "info",
        fp16 ? "float16 arithmetic (fphp, asimdhp): fp16-recipe models run in float16 (--precision auto)"
             : "no float16 arithmetic: fp16-recipe models run in float32 (smaller files, same speed)");
  } else if (c.arch == "x86_64") {
    const bool vnni = here ? qgemm_vnni_available() : (c.features.count("avx512_vnni") && c.features.count("avx512vl"));
    add("cpu", "int8 path", "info", vnni ? "AVX-512 VNNI: int8 GEMM on VNNI" : "no AVX-512 VNNI: int8 on XNNPACK's AVX2 kernels");
    add("cpu", "fp16 path", "info", "no float16 arithmetic on x86 here: fp16-recipe models run in float32");
  }

  // ---- engine self-check on this machine
  std::string model = o.model.empty() ? config_dir() + "/../models/blazeface128.onnx" : o.model;
  if (!o.engine_check) {
  } else if (!exists(model)) {
    add("engine", "self-check", "warn", model + " is not fetched", "./scripts/setup.sh (fetches and checks the models)");
  } else {
    try {
      const Model m = load_onnx(model);
      EngineOptions fast, ref;
      ref.xnnpack = false;
      auto e = create_engine("native", m, fast);
      auto r = create_engine("native", m, ref);
      e->prepare({});
      r->prepare({});
      for (size_t i = 0; i < e->num_inputs(); ++i) {
        fill_seeded(e->input(i), 7 + static_cast<uint32_t>(i));
        fill_seeded(r->input(i), 7 + static_cast<uint32_t>(i));
      }
      e->run();
      r->run();
      double worst = 0, mag = 0;
      for (size_t i = 0; i < e->num_outputs(); ++i) {
        const Tensor &a = e->output(i), &q = r->output(i);
        if (a.dtype() != DType::f32) continue;
        for (int64_t k = 0; k < q.numel(); ++k) {
          worst = std::max(worst, static_cast<double>(std::fabs(a.ptr<float>()[k] - q.ptr<float>()[k])));
          mag = std::max(mag, static_cast<double>(std::fabs(q.ptr<float>()[k])));
        }
      }
      std::vector<double> ms;
      for (int k = 0; k < 23; ++k) {
        const double t0 = now_ms();
        e->run();
        if (k >= 3) ms.push_back(now_ms() - t0);
      }
      const LatencyStats s = summarize_ms(ms);
      // the fast kernels sum in another order: differences scale with the outputs' magnitude
      const bool same = worst <= 1e-3 * std::max(1.0, mag);
      add("engine", "self-check", same ? "pass" : "fail",
          model.substr(model.rfind('/') + 1) + ": outputs match the reference kernels (max difference " + fmt("%.2g", worst) + " at magnitude " +
              fmt("%.3g", mag) + "); median " + fmt("%.2f", s.median_ms) + " ms per inference, 1 thread, 20 runs" + (here ? "" : " (this machine)"),
          same ? "" : "report it with the output of `edgecompress --version`", true);
    } catch (const std::exception& ex) {
      add("engine", "self-check", "fail", ex.what(), "./scripts/setup.sh fetches the models again", true);
    }
  }

  // ---- cameras
  gst_init_once();
  const bool argus = gst_has_element("nvarguscamerasrc");
  int cams = 0;
  for (const std::string& n : list_dir(join_root(o.root, "/dev"))) {
    if (n.rfind("video", 0) != 0) continue;
    const std::string node = "/dev/" + n, path = join_root(o.root, node);
    struct stat st {};
    stat(path.c_str(), &st);
    if (here && S_ISCHR(st.st_mode)) {
      try {
        const V4l2Device d = query_v4l2(path);
        if (!d.capture) continue;  // metadata nodes of UVC cameras
        ++cams;
        if (d.is_csi())
          add("camera", node, argus ? "pass" : "warn", d.card + ": a CSI sensor, open it as csi://N (nvarguscamerasrc)",
              argus ? "" : "nvarguscamerasrc is missing: install nvidia-l4t-gstreamer");
        else add("camera", node, "pass", d.card + " (" + d.driver + "): " + describe_modes(d.modes, 6) + "; open it as v4l2://" + node);
      } catch (const Error& e) {
        add("camera", node, "warn", e.what(), access(path.c_str(), R_OK | W_OK) != 0 ? "sudo usermod -aG video $USER (then log in again)" : "");
      }
    } else {
      // a tree without device nodes (tests, chroots): the kernel's name for it
      const std::string name = slurp(join_root(o.root, "/sys/class/video4linux/" + n + "/name"));
      ++cams;
      const bool csi = name.rfind("vi-output", 0) == 0;
      add("camera", node, "info", (name.empty() ? std::string("unnamed") : name) + (csi ? ": a CSI sensor, open it as csi://N" : ": open it as v4l2://" + node) +
                                      " (modes not read: not a device node here)");
    }
  }
  if (!cams) add("camera", "cameras", b.jetson ? "warn" : "info", "no camera (/dev/video*): run works on files, rtsp:// and test://",
                 b.jetson ? "plug in a USB camera or connect a CSI sensor, then ls /dev/video*" : "");
  if (!o.camera.empty()) {
    try {
      auto src = FrameSource::open(o.camera, {});
      Frame f;
      const ReadStatus st = src->read(f, 5000);
      if (st != ReadStatus::ok) throw Error(o.camera + ": no frame in 5 s" + (src->error().empty() ? "" : " (" + src->error() + ")"));
      if (!cv::imwrite(o.camera_out, f.bgr)) throw Error(o.camera_out + ": cannot write the frame");
      add("camera", o.camera, "pass", "one frame " + std::to_string(f.bgr.cols) + "x" + std::to_string(f.bgr.rows) + " saved to " + o.camera_out, "", true);
    } catch (const std::exception& e) {
      add("camera", o.camera, "fail", e.what(), "edgecompress doctor lists the cameras found; check the URI", true);
    }
  }

  // ---- GStreamer elements per path
  auto has = [](const std::string& e) { return gst_has_element(e.c_str()); };
  std::string missing;
  for (const char* e : {"appsrc", "appsink", "videoconvert", "videoscale", "filesrc", "decodebin", "videotestsrc"})
    if (!has(e)) missing += std::string(missing.empty() ? "" : ", ") + e;
  add("gstreamer", "core", missing.empty() ? "pass" : "fail", missing.empty() ? "appsrc, appsink, videoconvert, videoscale, filesrc, decodebin, videotestsrc" : "missing: " + missing,
      missing.empty() ? "" : "sudo apt install gstreamer1.0-plugins-base gstreamer1.0-plugins-good", true);
  const bool dec = has("avdec_h264") || has("nvv4l2decoder") || has("openh264dec");
  add("gstreamer", "H.264 decoding", dec ? "pass" : "warn",
      dec ? std::string(has("nvv4l2decoder") ? "nvv4l2decoder (NVDEC)" : "") + (has("nvv4l2decoder") && has("avdec_h264") ? ", " : "") +
                (has("avdec_h264") ? "avdec_h264" : "") + (!has("nvv4l2decoder") && !has("avdec_h264") ? "openh264dec" : "")
          : "no H.264 decoder: MP4 files and RTSP cameras will not play",
      dec ? "" : "sudo apt install gstreamer1.0-libav");
  add("gstreamer", "camera elements", has("v4l2src") && has("jpegdec") ? "pass" : "warn",
      std::string("v4l2src ") + (has("v4l2src") ? "yes" : "no") + ", jpegdec " + (has("jpegdec") ? "yes" : "no") + ", nvarguscamerasrc " +
          (argus ? "yes" : "no") + ", nvvidconv " + (has("nvvidconv") ? "yes" : "no"),
      has("v4l2src") && has("jpegdec") ? "" : "sudo apt install gstreamer1.0-plugins-good");
  if (b.jetson && (!argus || !has("nvvidconv")))
    add("gstreamer", "Jetson elements", "warn", "nvarguscamerasrc or nvvidconv is missing: no CSI cameras, no hardware conversion",
        "sudo apt install nvidia-l4t-gstreamer");
  {
    std::string sinks;
    for (const char* e : {"nveglglessink", "xvimagesink", "ximagesink", "autovideosink"})
      if (has(e)) sinks += std::string(sinks.empty() ? "" : ", ") + e;
    add("gstreamer", "display elements", sinks.empty() ? "warn" : "pass", sinks.empty() ? "no video sink: display:// cannot open a window" : sinks + " (tried in this order)",
        sinks.empty() ? "sudo apt install gstreamer1.0-x" : "");
  }
  const std::vector<std::string> encs = h264_encoders(4000, has);
  if (encs.empty()) {
    add("gstreamer", "H.264 encoding", "warn", "no H.264 encoder: file:// and udp:// outputs cannot start", "sudo apt install gstreamer1.0-plugins-ugly");
  } else {
    std::string pick = h264_encoder_name(encs.front());
    std::string detail = "file:// and udp:// outputs use " + pick;
    if (pick == "nvv4l2h264enc" && !b.has_nvenc) {
      // the element is installed on every L4T image; the Orin Nano has no NVENC block for it to drive
      detail = "this board has no hardware encoder (" + b.model + "): nvv4l2h264enc will not start, outputs fall back to " +
               (encs.size() > 1 ? h264_encoder_name(encs[1]) : std::string("nothing"));
      pick = encs.size() > 1 ? h264_encoder_name(encs[1]) : "";
    } else if (b.jetson && !b.has_nvenc) {
      detail = "this board has no hardware encoder (" + b.model + "): outputs use " + pick + " on the CPU";
    } else if (pick == "nvv4l2h264enc") {
      detail += " (NVENC, through nvvidconv into NVMM)";
    } else if (b.jetson && b.has_nvenc) {
      detail += " on the CPU (nvv4l2h264enc is missing)";
    }
    add("gstreamer", "H.264 encoding", pick.empty() ? "warn" : "pass", detail, pick.empty() ? "sudo apt install gstreamer1.0-plugins-ugly" : "");
  }

  // ---- power
  try {
    PowerConfig pc;
    pc.root = o.root;
    const std::string preset = detect_board(o.root);
    if (!preset.empty()) apply_board(pc, preset);
    std::string why;
    auto sensor = open_power_sensor(pc, &why);
    if (!sensor) {
      add("power", "sensor", b.jetson ? "warn" : "info", why + ": energy per inference is n/a",
          b.jetson ? "edgecompress power --list; a board preset in configs/boards or a power: section (sensor: i2c)" : "");
    } else {
      power::PowerSample s;
      sensor->read(s);
      std::string rails;
      for (size_t i = 0; i < sensor->rails().size() && i < s.rails.size(); ++i)
        if (s.rails[i].valid) rails += (rails.empty() ? "" : ", ") + sensor->rails()[i].name + " " + fmt("%.2f W", s.rails[i].watts);
      add("power", "sensor", s.ok ? "pass" : "warn",
          sensor->name() + (preset.empty() ? std::string(", no board preset") : ", board preset " + preset) + ": " + (s.ok ? rails : "read failed: " + s.error),
          s.ok ? "" : "edgecompress power --once");
    }
  } catch (const std::exception& e) {
    add("power", "sensor", "warn", e.what(), "sudo chmod a+r the files named above, or run as a member of the group that owns them");
  }
  {
    // raw I2C buses, for an INA3221 wired to the header (power: {sensor: i2c, bus: N})
    std::string buses;
    for (const std::string& n : list_dir(join_root(o.root, "/dev")))
      if (n.rfind("i2c-", 0) == 0) buses += (buses.empty() ? "" : " ") + n;
    if (!buses.empty()) {
      const std::string first = join_root(o.root, "/dev/" + buses.substr(0, buses.find(' ')));
      const bool rw = access(first.c_str(), R_OK | W_OK) == 0;
      add("power", "i2c buses", rw ? "info" : "warn", buses + (rw ? "" : ": not readable and writable by this user"),
          rw ? "" : "sudo usermod -aG i2c $USER (then log in again)");
    }
  }

  // ---- OpenCV, training helper, display, disk
  {
    std::string cuda = "no CUDA targets";
    try {
      const auto t = cv::dnn::getAvailableTargets(cv::dnn::DNN_BACKEND_CUDA);
      if (!t.empty()) cuda = std::to_string(t.size()) + " CUDA targets (opencv backend: device cuda / cuda_fp16)";
    } catch (const cv::Exception&) {
    }
    add("opencv", "opencv", "info", std::string("OpenCV ") + CV_VERSION + " with dnn; " + cuda);
  }
  {
    std::string train;
    for (const char* const* f = kBuildFeatures; *f; ++f)
      if (std::string(*f).rfind("training:", 0) == 0) train = std::string(*f).substr(10);
    const bool on = train.find("libtorch") != std::string::npos && train.find("off") == std::string::npos;
    add("training", "training helper", on ? "pass" : "info", train.empty() ? "unknown" : train,
        on ? "" : "distillation and QAT need libtorch (Debian 12/13 libtorch-dev); everything else works without it");
  }
  {
    const char* disp = std::getenv("DISPLAY");
    const char* way = std::getenv("WAYLAND_DISPLAY");
    const bool egl = gst_has_element("nveglglessink");
    if ((disp && *disp) || (way && *way))
      add("display", "display", "pass", std::string("$") + (disp && *disp ? "DISPLAY=" + std::string(disp) : "WAYLAND_DISPLAY=" + std::string(way)) +
                                            (egl ? ", nveglglessink (EGL)" : ""));
    else
      add("display", "display", "info", std::string("no $DISPLAY") + (egl ? " (nveglglessink present: needs a display too)" : "") +
                                            ": display:// writes edgecompress-display.mp4 instead",
          "watch in a browser: run --http 0.0.0.0:8080, or export DISPLAY=:0 on the board's desktop");
  }
  {
    // the folder itself when it exists, else the folder run would create it in (doctor changes nothing)
    std::string dir = o.sessions;
    if (!exists(dir)) {
      const auto slash = dir.find_last_of('/');
      dir = slash == std::string::npos ? "." : slash == 0 ? "/" : dir.substr(0, slash);
    }
    std::string err;
    if (access(dir.c_str(), W_OK) != 0) err = "cannot write in " + dir + " (" + std::strerror(errno) + ")";
    if (!err.empty()) {
      add("disk", "sessions", "fail", err, "run from a folder you own, or give run --session-dir DIR", true);
    } else {
      struct statvfs v {};
      statvfs(dir.c_str(), &v);
      const double free_gb = static_cast<double>(v.f_bavail) * static_cast<double>(v.f_frsize) / 1e9;
      // a recorded session costs ~0.85 GB a day per variant at 30 fps (docs/live.md)
      add("disk", "sessions", free_gb < 1 ? "warn" : "pass", o.sessions + (dir == o.sessions ? "" : " (created by run in " + dir + ")") + " writable, " + fmt("%.1f", free_gb) + " GB free",
          free_gb < 1 ? "free some space, or set session.max_mb in the run config" : "");
    }
  }
  return out;
}

std::string doctor_text(const std::vector<DoctorCheck>& checks) {
  std::string s;
  for (const DoctorCheck& c : checks) {
    s += "[" + c.status + "] " + std::string(c.status.size() < 4 ? " " : "") + c.section + " / " + c.name + ": " + c.detail + "\n";
    if (!c.fix.empty()) s += std::string(c.status == "info" ? "       tip: " : "       fix: ") + c.fix + "\n";
  }
  int warn = 0, fail = 0;
  for (const DoctorCheck& c : checks) {
    warn += c.status == "warn";
    fail += c.status == "fail";
  }
  s += doctor_ok(checks) ? "doctor: the default config can run here" : "doctor: the default config cannot run here (see fail above)";
  s += " (" + std::to_string(fail) + " fail, " + std::to_string(warn) + " warn)\n";
  return s;
}

nlohmann::json doctor_json(const std::vector<DoctorCheck>& checks) {
  nlohmann::json j;
  j["ok"] = doctor_ok(checks);
  j["checks"] = nlohmann::json::array();
  for (const DoctorCheck& c : checks)
    j["checks"].push_back({{"section", c.section}, {"name", c.name}, {"status", c.status}, {"detail", c.detail}, {"fix", c.fix}, {"needed", c.needed}});
  return j;
}

bool doctor_ok(const std::vector<DoctorCheck>& checks) {
  for (const DoctorCheck& c : checks)
    if (c.needed && c.status == "fail") return false;
  return true;
}

}  // namespace ec

