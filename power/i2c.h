// The I2C transport seam: 16-bit register access on a device address. LinuxI2c talks to /dev/i2c-N
// through libi2c (SMBus word transfers, byte-swapped: INA3221 registers are big-endian); tests put a
// register emulator behind the same interface.
#pragma once
#include <cstdint>
#include <string>

namespace ec::power {

class I2cTransport {
 public:
  virtual ~I2cTransport() = default;
  // Reads the 16-bit register `reg` of device `addr`; throws PowerError naming the bus, address and errno.
  virtual uint16_t read_reg16(uint8_t addr, uint8_t reg) = 0;
  // Writes the 16-bit register `reg` of device `addr`; throws PowerError on failure.
  virtual void write_reg16(uint8_t addr, uint8_t reg, uint16_t value) = 0;
  // "i2c-1" for messages.
  virtual std::string name() const = 0;
};

class LinuxI2c : public I2cTransport {
 public:
  // Opens /dev/i2c-<bus> (or `path` when it starts with '/'). Throws PowerError with a permission hint.
  explicit LinuxI2c(const std::string& bus_or_path);
  ~LinuxI2c() override;
  uint16_t read_reg16(uint8_t addr, uint8_t reg) override;
  void write_reg16(uint8_t addr, uint8_t reg, uint16_t value) override;
  std::string name() const override { return name_; }

 private:
  void select(uint8_t addr);
  int fd_ = -1;
  int selected_ = -1;
  std::string path_, name_;
};

}  // namespace ec::power
