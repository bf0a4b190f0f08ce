#include "sensor.h"

#include <chrono>

namespace ec::power {

double board_watts(const PowerSample& s, const std::vector<RailInfo>& rails) {
  if (!s.ok && s.rails.empty()) return NAN;
  for (size_t i = 0; i < rails.size() && i < s.rails.size(); ++i)
    if (rails[i].is_total) return s.rails[i].valid ? s.rails[i].watts : NAN;
  double sum = 0;
  for (size_t i = 0; i < rails.size() && i < s.rails.size(); ++i) {
    if (!s.rails[i].valid) return NAN;
    sum += s.rails[i].watts;
  }
  return rails.empty() ? NAN : sum;
}

}  // namespace ec::power
