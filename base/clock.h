// The one clock of the project's timestamps: steady (monotonic), in milliseconds.
#pragma once

namespace ec {

// Steady-clock now in ms since an arbitrary epoch (boot); differences are durations.
double steady_now_ms();

}  // namespace ec
