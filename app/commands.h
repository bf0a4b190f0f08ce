// Subcommand registration: each adds its options and a callback to the CLI app.
#pragma once
#include <string>

#include "cmdline.h"

namespace ec {

// `edgecompress --version`: the version, then one line per feature of this build and of this CPU (engine
// kernels and XNNPACK API generation, ONNX checker, command line, HTTP monitoring, training helper, OpenCV,
// GStreamer), each with what is off and why.
std::string version_text();

// `edgecompress inspect MODEL.onnx [--shape ...] [--json]`
void add_inspect_command(ec::cli::App& app);
// `edgecompress bench --model M.onnx --backend native,opencv --threads N --runs R ...`
void add_bench_command(ec::cli::App& app);
// `edgecompress power [--board B] [--rate HZ] [--log F.csv] [--duration S] [--once --json]`
void add_power_command(ec::cli::App& app);
// `edgecompress run --config C [--record] [--name N]`
void add_run_command(ec::cli::App& app);
// `edgecompress report SESSION... [--html out.html]`
void add_report_command(ec::cli::App& app);
// `edgecompress compress --model IN --recipe R [--calib SOURCE] [-o OUT]`
void add_compress_command(ec::cli::App& app);
// `edgecompress eval --reference ORIG --model A [--model B] --video V --task T`
void add_eval_command(ec::cli::App& app);
// `edgecompress pack M.onnx [-o M.ecz]` and `edgecompress unpack M.ecz -o M.onnx`
void add_pack_commands(ec::cli::App& app);
// `edgecompress doctor [--json] [--root DIR] [--camera URI]`
void add_doctor_command(ec::cli::App& app);
// `edgecompress train --data DIR -o OUT.onnx` (reference MLP)
void add_train_command(ec::cli::App& app);

}  // namespace ec
