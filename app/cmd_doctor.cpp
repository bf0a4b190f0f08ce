// `edgecompress doctor [--json] [--root DIR] [--camera URI]`: what of edgecompress works on this machine.
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "commands.h"
#include "doctor.h"
#include "error.h"

namespace ec {

void add_doctor_command(cli::App& app) {
  struct Opts {
    DoctorOptions d;
    bool json = false, no_engine = false;
  };
  auto o = std::make_shared<Opts>();
  cli::App* sub = app.add_subcommand("doctor", "What works on this machine: board, CPU paths, engine self-check, cameras, GStreamer, power, display, disk");
  sub->add_flag("--json", o->json, "One JSON object (checks with section, name, status pass|warn|fail|info, detail, fix, needed)");
  sub->add_option("--root", o->d.root, "Read /proc, /sys, /etc and /dev under DIR (a board's file tree)")->capture_default_str();
  sub->add_option("--camera", o->d.camera, "Grab one frame from this source URI (v4l2:///dev/video0, csi://0, rtsp://...) and save it");
  sub->add_option("--camera-out", o->d.camera_out, "Where --camera saves its frame")->capture_default_str();
  sub->add_option("--model", o->d.model, "Model for the engine self-check (default: models/blazeface128.onnx)");
  sub->add_option("--sessions", o->d.sessions, "Folder run --record writes to")->capture_default_str();
  sub->add_flag("--no-engine", o->no_engine, "Skip the engine self-check");
  sub->callback([o] {
    o->d.engine_check = !o->no_engine;
    const std::vector<DoctorCheck> checks = run_doctor(o->d);
    if (o->json) std::printf("%s\n", doctor_json(checks).dump(2).c_str());
    else std::fputs(doctor_text(checks).c_str(), stdout);
    std::fflush(stdout);
    if (!doctor_ok(checks)) std::exit(1);  // the verdict was printed: no second error line
  });
}

}  // namespace ec
