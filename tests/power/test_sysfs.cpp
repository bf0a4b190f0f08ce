// Fake sysfs trees of both JetPack layouts are discovered by scanning /sys/bus/i2c/devices/*/name and read
// correctly; the total rail is never added to its parts; malformed values, missing sensors and
// root-only files give clear messages.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include "fake_sysfs.h"
#include "sampler.h"
#include "sysfs.h"

using namespace ec::test;

using namespace ec::power;


TEST(Sysfs, NanoJetPack4IioIsDiscoveredAndRead) {
  std::string root = make_nano("nano");
  auto devs = find_sysfs_ina3221({root, {"POM_5V_IN"}, {}});
  ASSERT_EQ(devs.size(), 1u);
  EXPECT_EQ(devs[0].driver, "ina3221x");
  EXPECT_EQ(devs[0].i2c_device, "6-0040");
  auto s = open_sysfs_sensor({root, {"POM_5V_IN"}, {}});
  ASSERT_EQ(s->rails().size(), 3u);
  EXPECT_EQ(s->rails()[0].name, "POM_5V_IN");
  EXPECT_TRUE(s->rails()[0].is_total);
  EXPECT_FALSE(s->rails()[1].is_total);
  PowerSample ps;
  ASSERT_TRUE(s->read(ps)) << ps.error;
  EXPECT_DOUBLE_EQ(ps.rails[0].volts, 5.096);
  EXPECT_DOUBLE_EQ(ps.rails[0].amps, 1.240);
  EXPECT_DOUBLE_EQ(ps.rails[0].watts, 6.319);  // the driver's own power reading
  EXPECT_DOUBLE_EQ(ps.rails[2].watts, 2.840);
  // board power is the total rail, not total + GPU + CPU
  EXPECT_DOUBLE_EQ(board_watts(ps, s->rails()), 6.319);
}

TEST(Sysfs, OrinNanoJetPack6HwmonIsDiscoveredAndRead) {
  std::string root = make_orin("orin");
  auto s = open_sysfs_sensor({root, {"VDD_IN"}, {}});
  ASSERT_EQ(s->rails().size(), 3u);
  EXPECT_EQ(s->rails()[1].name, "VDD_CPU_GPU_CV");
  EXPECT_DOUBLE_EQ(s->update_interval_ms(), 5.0);
  PowerSample ps;
  ASSERT_TRUE(s->read(ps)) << ps.error;
  EXPECT_DOUBLE_EQ(ps.rails[0].volts, 5.024);
  EXPECT_DOUBLE_EQ(ps.rails[0].amps, 1.480);
  EXPECT_NEAR(ps.rails[0].watts, 5.024 * 1.480, 1e-12);
  EXPECT_NEAR(board_watts(ps, s->rails()), 5.024 * 1.480, 1e-12);
  // without a total rail the board power is the sum of the parts
  auto parts = open_sysfs_sensor({root, {}, {"VDD_CPU_GPU_CV", "VDD_SOC"}});
  ASSERT_EQ(parts->rails().size(), 2u);
  ASSERT_TRUE(parts->read(ps));
  EXPECT_NEAR(board_watts(ps, parts->rails()), 5.016 * 0.390 + 5.008 * 0.610, 1e-12);
}

TEST(Sysfs, DisabledChannelIsSkipped) {
  std::string root = make_orin("disabled");
  put(root + "/sys/bus/i2c/devices/1-0040/hwmon/hwmon3/in3_enable", "0");
  auto s = open_sysfs_sensor({root, {"VDD_IN"}, {}});
  EXPECT_EQ(s->rails().size(), 2u);
}

TEST(Sysfs, MalformedValueIsAGapNamingTheFile) {
  std::string root = make_orin("malformed");
  auto s = open_sysfs_sensor({root, {"VDD_IN"}, {}});
  put(root + "/sys/bus/i2c/devices/1-0040/hwmon/hwmon3/curr2_input", "12a4");
  PowerSample ps;
  EXPECT_FALSE(s->read(ps));
  EXPECT_NE(ps.error.find("curr2_input: '12a4' is not a number"), std::string::npos) << ps.error;
  EXPECT_TRUE(ps.rails[0].valid);  // the other rails still read
  EXPECT_FALSE(ps.rails[1].valid);
  // a vanished device is a gap too, not a crash
  std::system(("rm -rf '" + root + "/sys/bus/i2c/devices/1-0040'").c_str());
  EXPECT_FALSE(s->read(ps));
  EXPECT_NE(ps.error.find("No such file"), std::string::npos) << ps.error;
}

TEST(Sysfs, NoSensorSaysSo) {
  std::string root = fresh_root("none");
  put(root + "/sys/bus/i2c/devices/0-0050/name", "24c02");
  try {
    open_sysfs_sensor({root, {}, {}});
    FAIL();
  } catch (const PowerError& e) {
    EXPECT_NE(std::string(e.what()).find("no power sensor"), std::string::npos) << e.what();
  }
}

TEST(Sysfs, RootOnlyFilesGiveAPermissionHint) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to drop to another user (the test plays an unprivileged user)";
  std::string root = make_orin("perm");
  std::system(("chmod -R a+rX '" + root + "' && chmod 0700 '" + root + "/sys/bus/i2c/devices/1-0040/hwmon/hwmon3/in1_input'").c_str());
  chmod(testing::TempDir().c_str(), 01777);
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    std::string msg = "ok";
    if (setegid(65534) != 0 || seteuid(65534) != 0) msg = "cannot drop privileges";
    else {
      try {
        open_sysfs_sensor({root, {"VDD_IN"}, {"VDD_IN"}});
      } catch (const PowerError& e) {
        msg = e.what();
      }
    }
    ssize_t w = write(fds[1], msg.data(), msg.size());
    (void)w;
    _exit(0);
  }
  close(fds[1]);
  char buf[1024];
  ssize_t n = read(fds[0], buf, sizeof buf);
  waitpid(pid, nullptr, 0);
  std::string msg(buf, n > 0 ? static_cast<size_t>(n) : 0);
  EXPECT_NE(msg.find("Permission denied"), std::string::npos) << msg;
  EXPECT_NE(msg.find("sudo"), std::string::npos) << msg;
}
