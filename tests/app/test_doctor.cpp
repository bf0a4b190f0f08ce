// `edgecompress doctor` on the file trees of four machines (a Nano on JetPack 4, a Xavier NX on JetPack 5, an
// Orin Nano on JetPack 6, a Debian PC) and for real on this one: the board, release, CPU paths, cameras,
// encoder choice and power sensor each get the verdict that machine should get.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "../power/fake_sysfs.h"
#include "cli.h"
#include "doctor.h"

using namespace ec;
using namespace ec::test;

namespace {

std::string cpuinfo_arm(int cores, const std::string& features, const std::string& implementer, const std::string& part) {
  std::string s;
  for (int i = 0; i < cores; ++i)
    s += "processor\t: " + std::to_string(i) + "\nmodel name\t: ARMv8 Processor rev 1 (v8l)\nBogoMIPS\t: 62.50\nFeatures\t: " + features +
         "\nCPU implementer\t: " + implementer + "\nCPU architecture: 8\nCPU variant\t: 0x1\nCPU part\t: " + part + "\nCPU revision\t: 1\n\n";
  return s;
}

void jetson_files(const std::string& root, const std::string& model, const std::string& release, const std::string& os, const std::string& cpuinfo) {
  put(root + "/proc/device-tree/model", model + std::string(1, '\0'));
  put(root + "/etc/nv_tegra_release", release);
  put(root + "/etc/os-release", "NAME=\"Ubuntu\"\nPRETTY_NAME=\"" + os + "\"");
  put(root + "/proc/cpuinfo", cpuinfo);
}

const DoctorCheck* find_check(const std::vector<DoctorCheck>& cs, const std::string& section, const std::string& name) {
  for (const DoctorCheck& c : cs)
    if (c.section == section && c.name == name) return &c;
  return nullptr;
}

std::vector<DoctorCheck> doctor_on(const std::string& root) {
  DoctorOptions o;
  o.root = root;
  o.engine_check = false;  // the engine is this machine's: checked once, in RealMachine
  o.sessions = testing::TempDir();
  return run_doctor(o);
}

#define EXPECT_CHECK(cs, sec_, name_, want_, needle_)                                                     \
  do {                                                                                                    \
    const DoctorCheck* c_ = find_check(cs, sec_, name_);                                                  \
    ASSERT_NE(c_, nullptr) << sec_ << " / " << name_ << " missing:\n" << doctor_text(cs);                 \
    EXPECT_EQ(c_->status, want_) << c_->detail;                                                           \
    EXPECT_NE(c_->detail.find(needle_), std::string::npos) << "'" << needle_ << "' not in: " << c_->detail; \
  } while (0)

}  // namespace

TEST(Doctor, NanoOnJetPack4IsNamedUnsupportedWithItsA57Paths) {
  const std::string root = test::make_nano("doctor-nano");
  jetson_files(root, "NVIDIA Jetson Nano Developer Kit", "# R32 (release), REVISION: 7.4, GCID: 33514132, BOARD: t210ref, EABI: aarch64, DATE: Fri Jun  9 2023",
               "Ubuntu 18.04.6 LTS", cpuinfo_arm(4, "fp asimd evtstrm aes pmull sha1 sha2 crc32", "0x41", "0xd07"));
  put(root + "/dev/video0", "");
  put(root + "/sys/class/video4linux/video0/name", "HD Pro Webcam C920");
  const auto cs = doctor_on(root);
  EXPECT_CHECK(cs, "board", "model", "pass", "Jetson Nano");
  EXPECT_CHECK(cs, "board", "release", "fail", "JetPack 4 (Ubuntu 18.04), not supported");
  EXPECT_FALSE(find_check(cs, "board", "release")->fix.empty());
  EXPECT_CHECK(cs, "cpu", "cpu", "info", "4 cores, aarch64, Cortex-A57");
  EXPECT_CHECK(cs, "cpu", "int8 path", "info", "no dot product");
  EXPECT_CHECK(cs, "cpu", "fp16 path", "info", "no float16 arithmetic");
  EXPECT_CHECK(cs, "board", "power mode", "warn", "unknown");
  EXPECT_CHECK(cs, "camera", "/dev/video0", "info", "HD Pro Webcam C920: open it as v4l2:///dev/video0");
  EXPECT_CHECK(cs, "power", "sensor", "pass", "POM_5V_IN 6.32 W");
  EXPECT_NE(find_check(cs, "power", "sensor")->detail.find("jetson-nano"), std::string::npos);
  EXPECT_FALSE(doctor_ok(cs));
}

TEST(Doctor, XavierNxOnJetPack5HasFloat16ButNoDotProduct) {
  const std::string root = test::fresh_root("doctor-xnx");
  const std::string h = root + "/sys/bus/i2c/devices/7-0040/hwmon/hwmon1";
  put(root + "/sys/bus/i2c/devices/7-0040/name", "ina3221");
  const char* rails[] = {"VDD_IN", "VDD_CPU_GPU_CV", "VDD_SOC"};
  for (int k = 1; k <= 3; ++k) {
    put(h + "/in" + std::to_string(k) + "_label", rails[k - 1]);
    put(h + "/in" + std::to_string(k) + "_input", "5000");
    put(h + "/curr" + std::to_string(k) + "_input", std::to_string(400 * k));
    put(h + "/in" + std::to_string(k) + "_enable", "1");
  }
  // Carmel as L4T reports it: ARMv8.2 with float16, without the dot-product instructions
  jetson_files(root, "NVIDIA Jetson Xavier NX Developer Kit", "# R35 (release), REVISION: 4.1, GCID: 33958178, BOARD: t186ref, EABI: aarch64, DATE: Tue Aug  1 2023",
               "Ubuntu 20.04.6 LTS", cpuinfo_arm(6, "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm dcpop", "0x4e", "0x004"));
  put(root + "/var/lib/nvpmodel/status", "pmode:0008 fmode:quiet");
  put(root + "/dev/i2c-1", "");
  put(root + "/dev/i2c-7", "");
  put(root + "/etc/nvpmodel.conf", "< POWER_MODEL ID=2 NAME=MODE_15W_6CORE >\nCPU_ONLINE CORE_0 1\n< POWER_MODEL ID=8 NAME=MODE_20W_6CORE >\n");
  const auto cs = doctor_on(root);
  EXPECT_CHECK(cs, "board", "release", "pass", "L4T R35.4.1: JetPack 5 (Ubuntu 20.04)");
  EXPECT_CHECK(cs, "board", "os", "info", "Ubuntu 20.04.6 LTS");
  EXPECT_CHECK(cs, "board", "power mode", "info", "nvpmodel mode 8 (MODE_20W_6CORE)");
  EXPECT_CHECK(cs, "cpu", "cpu", "info", "6 cores, aarch64, NVIDIA Carmel");
  EXPECT_CHECK(cs, "cpu", "int8 path", "info", "no dot product");
  EXPECT_CHECK(cs, "cpu", "fp16 path", "pass", "run in float16");
  EXPECT_CHECK(cs, "camera", "cameras", "warn", "no camera");
  EXPECT_CHECK(cs, "power", "sensor", "pass", "VDD_IN 2.00 W");
  EXPECT_CHECK(cs, "power", "i2c buses", "info", "i2c-1 i2c-7");
  EXPECT_NE(find_check(cs, "power", "sensor")->detail.find("jetson-xavier-nx"), std::string::npos);
  EXPECT_TRUE(doctor_ok(cs)) << doctor_text(cs);
}

TEST(Doctor, OrinNanoOnJetPack6HasNoHardwareEncoderAndACsiSensor) {
  const std::string root = test::make_orin("doctor-orin");
  jetson_files(root, "NVIDIA Jetson Orin Nano Developer Kit", "# R36 (release), REVISION: 3.0, GCID: 36923193, BOARD: generic, EABI: aarch64, DATE: Fri Jul 19 2024",
               "Ubuntu 22.04.4 LTS",
               cpuinfo_arm(6, "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp uscat ilrcpc flagm paca pacg",
                           "0x41", "0xd42"));
  put(root + "/var/lib/nvpmodel/status", "pmode:0000 fmode:fanNull");
  put(root + "/etc/nvpmodel.conf", "< POWER_MODEL ID=0 NAME=15W >\n< POWER_MODEL ID=1 NAME=7W >\n");
  put(root + "/dev/video0", "");
  put(root + "/sys/class/video4linux/video0/name", "vi-output, imx219 9-0010");
  const auto cs = doctor_on(root);
  EXPECT_CHECK(cs, "board", "release", "pass", "JetPack 6 (Ubuntu 22.04)");
  EXPECT_CHECK(cs, "board", "power mode", "info", "nvpmodel mode 0 (15W)");
  EXPECT_CHECK(cs, "cpu", "cpu", "info", "Cortex-A78AE");
  EXPECT_CHECK(cs, "cpu", "int8 path", "pass", "dot-product");
  EXPECT_CHECK(cs, "cpu", "fp16 path", "pass", "float16");
  EXPECT_CHECK(cs, "camera", "/dev/video0", "info", "a CSI sensor, open it as csi://N");
  // this machine has no nvv4l2h264enc, so the prediction is the CPU encoder, said as the board's lack of NVENC
  const DoctorCheck* enc = find_check(cs, "gstreamer", "H.264 encoding");
  ASSERT_NE(enc, nullptr);
  EXPECT_NE(enc->detail.find("no hardware encoder"), std::string::npos) << enc->detail;
  EXPECT_CHECK(cs, "power", "sensor", "pass", "VDD_IN");
  EXPECT_EQ(find_check(cs, "power", "i2c buses"), nullptr) << "no /dev/i2c-* in this tree";
  EXPECT_TRUE(doctor_ok(cs)) << doctor_text(cs);
}

TEST(Doctor, DebianPcIsNotAJetsonAndNeedsNoSensorOrCamera) {
  const std::string root = test::fresh_root("doctor-pc");
  put(root + "/etc/os-release", "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"");
  put(root + "/sys/class/dmi/id/sys_vendor", "LENOVO");
  put(root + "/sys/class/dmi/id/product_name", "ThinkPad T14");
  put(root + "/proc/cpuinfo", "processor\t: 0\nmodel name\t: Intel(R) Core(TM) i7-1185G7\nflags\t\t: fpu sse avx2 fma avx512f avx512vl avx512_vnni\n\n"
                              "processor\t: 1\nmodel name\t: Intel(R) Core(TM) i7-1185G7\nflags\t\t: fpu sse avx2 fma avx512f avx512vl avx512_vnni\n");
  put(root + "/sys/bus/i2c/devices/0-0050/name", "24c02");
  const auto cs = doctor_on(root);
  EXPECT_CHECK(cs, "board", "model", "info", "LENOVO ThinkPad T14 (not a Jetson)");
  EXPECT_EQ(find_check(cs, "board", "release"), nullptr);
  EXPECT_CHECK(cs, "cpu", "cpu", "info", "2 cores, x86_64, Intel(R) Core(TM) i7-1185G7 (avx2 fma avx512f avx512vl avx512_vnni)");
  EXPECT_CHECK(cs, "cpu", "int8 path", "info", "AVX-512 VNNI");
  EXPECT_CHECK(cs, "camera", "cameras", "info", "no camera");
  EXPECT_CHECK(cs, "power", "sensor", "info", "no power sensor");
  EXPECT_TRUE(doctor_ok(cs)) << doctor_text(cs);
}

TEST(Doctor, RealMachineJsonSelfCheckAndExitStatus) {
  CliResult r = run_cli("doctor --json --sessions '" + testing::TempDir() + "'");
  ASSERT_EQ(r.rc, 0) << r.out << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_TRUE(j["ok"].get<bool>());
  std::map<std::string, std::string> status;
  for (const auto& c : j["checks"]) status[c["section"].get<std::string>() + "/" + c["name"].get<std::string>()] = c["status"];
  EXPECT_EQ(status["gstreamer/core"], "pass");
  EXPECT_EQ(status["disk/sessions"], "pass");
  ASSERT_TRUE(status.count("engine/self-check"));
  // with the models fetched (setup.sh), the fast kernels must agree with the reference ones
  if (status["engine/self-check"] != "warn") {
    EXPECT_EQ(status["engine/self-check"], "pass") << r.out;
  }
  // a camera that is not there: a fail naming it, and a non-zero exit
  CliResult cam = run_cli("doctor --no-engine --camera v4l2:///dev/video97 --sessions '" + testing::TempDir() + "'");
  EXPECT_EQ(cam.rc, 1) << cam.out;
  EXPECT_NE(cam.out.find("[fail] camera / v4l2:///dev/video97: v4l2:///dev/video97: no such camera device"), std::string::npos) << cam.out;
  // a test pattern is a camera that is always there: one frame saved
  const std::string jpg = testing::TempDir() + "/doctor-camera.jpg";
  CliResult tp = run_cli("doctor --no-engine --camera test://smpte --camera-out '" + jpg + "' --sessions '" + testing::TempDir() + "'");
  EXPECT_EQ(tp.rc, 0) << tp.out;
  EXPECT_NE(tp.out.find("one frame 640x480 saved to " + jpg), std::string::npos) << tp.out;
  // a Nano on JetPack 4: exit 1, the release named
  const std::string nano = test::make_nano("doctor-cli-nano");
  put(nano + "/etc/nv_tegra_release", "# R32 (release), REVISION: 7.4, GCID: 1, BOARD: t210ref");
  CliResult n = run_cli("doctor --no-engine --root '" + nano + "' --sessions '" + testing::TempDir() + "'");
  EXPECT_EQ(n.rc, 1);
  EXPECT_NE(n.out.find("not supported"), std::string::npos) << n.out;
  CliResult bad = run_cli("doctor --root /nonexistent/tree");
  EXPECT_EQ(bad.rc, 1);
  EXPECT_NE(bad.err.find("--root /nonexistent/tree: no such folder"), std::string::npos) << bad.err;
}
