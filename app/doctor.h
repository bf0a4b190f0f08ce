// `edgecompress doctor`: what of edgecompress works on this machine: board and JetPack, CPU features and the
// engine paths they pick, an engine self-check, cameras, GStreamer elements per path, power sensors,
// OpenCV, training helper, display and disk. One verdict per check, with the fix a user can type.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ec {

struct DoctorOptions {
  std::string root = "/";            // where /proc, /sys, /etc and /dev live (fake trees in tests)
  std::string camera;                // a source URI: grab one frame and save it to camera_out
  std::string camera_out = "doctor-camera.jpg";
  std::string model;                 // the self-check model ("": configs/../models/blazeface128.onnx)
  std::string sessions = "sessions"; // where `run --record` writes
  bool engine_check = true;          // run the engine self-check (BlazeFace-128 when fetched)
};

struct DoctorCheck {
  std::string section;  // board, cpu, engine, camera, gstreamer, power, opencv, training, display, disk
  std::string name;
  std::string status;   // pass | warn | fail | info
  std::string detail;   // what was found
  std::string fix;      // what to type when it is not a pass ("" otherwise)
  bool needed = false;  // the default config (the demo: a video file through the engine into a recorded
                        // session) cannot run without it: a fail here makes doctor exit non-zero
};

// What the board's identity files say (board section, also used to predict other checks).
struct BoardInfo {
  std::string model;          // device-tree model ("NVIDIA Jetson Orin Nano Developer Kit"), or the PC's DMI name
  bool jetson = false;
  int l4t_major = 0;          // 32, 35, 36, 38 (0: not L4T)
  std::string l4t;            // "R36.3.0"
  int jetpack = 0;            // 4, 5, 6, 7 (0: unknown)
  std::string os;             // PRETTY_NAME of etc/os-release
  bool has_nvenc = true;      // the Orin Nano has no hardware video encoder
};

// Reads <root>/proc/device-tree/model, <root>/etc/nv_tegra_release, <root>/etc/os-release and DMI names.
BoardInfo read_board(const std::string& root);

// Runs every check. Never throws for what it finds (each finding is a check); throws ec::Error only for bad
// options (an unreadable --root).
std::vector<DoctorCheck> run_doctor(const DoctorOptions& o);

// One line per check ("[pass] board: ..." and an indented "fix: ..." under warn/fail) and a last line with
// the verdict.
std::string doctor_text(const std::vector<DoctorCheck>& checks);
nlohmann::json doctor_json(const std::vector<DoctorCheck>& checks);
// True when no needed check failed.
bool doctor_ok(const std::vector<DoctorCheck>& checks);

}  // namespace ec
