// Subcommand registration: each adds its options and a callback to the CLI app.
#pragma once
#include <CLI/CLI.hpp>

namespace ec {

// `edgecompress inspect MODEL.onnx [--shape ...] [--json]`
void add_inspect_command(CLI::App& app);
// `edgecompress bench --model M.onnx --backend native,opencv --threads N --runs R ...`
void add_bench_command(CLI::App& app);
// `edgecompress power [--board B] [--rate HZ] [--log F.csv] [--duration S] [--once --json]`
void add_power_command(CLI::App& app);
// `edgecompress run --config C [--record] [--name N]`
void add_run_command(CLI::App& app);
// `edgecompress report SESSION... [--html out.html]`
void add_report_command(CLI::App& app);
// `edgecompress compress --model IN --recipe R [--calib SOURCE] [-o OUT]`
void add_compress_command(CLI::App& app);
// `edgecompress eval --reference ORIG --model A [--model B] --video V --task T`
void add_eval_command(CLI::App& app);
// `edgecompress pack M.onnx [-o M.ecz]` and `edgecompress unpack M.ecz -o M.onnx`
void add_pack_commands(CLI::App& app);
// `edgecompress train --data DIR -o OUT.onnx` (reference MLP)
void add_train_command(CLI::App& app);

}  // namespace ec
