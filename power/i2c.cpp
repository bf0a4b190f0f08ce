#include "i2c.h"

#include <fcntl.h>
#include <linux/i2c-dev.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

extern "C" {
#include <i2c/smbus.h>
}

#include "sensor.h"

namespace ec::power {

namespace {
std::string hex2(unsigned v) {
  char b[8];
  std::snprintf(b, sizeof b, "0x%02x", v);
  return b;
}
}  // namespace

LinuxI2c::LinuxI2c(const std::string& bus_or_path) {
  path_ = !bus_or_path.empty() && bus_or_path[0] == '/' ? bus_or_path : "/dev/i2c-" + bus_or_path;
  name_ = path_.substr(path_.rfind('/') + 1);
  fd_ = ::open(path_.c_str(), O_RDWR | O_CLOEXEC);
  if (fd_ < 0) {
    int e = errno;
    std::string msg = path_ + ": cannot open (" + std::strerror(e) + ")";
    if (e == EACCES) msg += "; add your user to the i2c group or run with sudo";
    if (e == ENOENT) msg += "; no such I2C bus (is i2c-dev loaded?)";
    throw PowerError(msg);
  }
}

LinuxI2c::~LinuxI2c() {
  if (fd_ >= 0) ::close(fd_);
}

void LinuxI2c::select(uint8_t addr) {
  if (selected_ == addr) return;
  if (ioctl(fd_, I2C_SLAVE, addr) < 0) {
    int e = errno;
    std::string msg = name_ + " " + hex2(addr) + ": cannot select device (" + std::strerror(e) + ")";
    if (e == EBUSY) msg += "; a kernel driver owns it: read it through sysfs instead";
    throw PowerError(msg);
  }
  selected_ = addr;
}

uint16_t LinuxI2c::read_reg16(uint8_t addr, uint8_t reg) {
  select(addr);
  int32_t v = i2c_smbus_read_word_data(fd_, reg);
  if (v < 0) throw PowerError(name_ + " " + hex2(addr) + ": read of register " + hex2(reg) + " failed (" + std::strerror(errno) + ")");
  uint16_t w = static_cast<uint16_t>(v);
  return static_cast<uint16_t>((w >> 8) | (w << 8));  // SMBus is little-endian, the chip big-endian
}

void LinuxI2c::write_reg16(uint8_t addr, uint8_t reg, uint16_t value) {
  select(addr);
  uint16_t swapped = static_cast<uint16_t>((value >> 8) | (value << 8));
  if (i2c_smbus_write_word_data(fd_, reg, swapped) < 0)
    throw PowerError(name_ + " " + hex2(addr) + ": write of register " + hex2(reg) + " failed (" + std::strerror(errno) + ")");
}

}  // namespace ec::power
