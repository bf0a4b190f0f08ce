// `edgecompress pack MODEL.onnx -o MODEL.ecz` and `edgecompress unpack MODEL.ecz -o MODEL.onnx`: the
// Deep-Compression-style archive (engine/archive.h). Unpacking restores the ONNX bit for bit; the engine
// and every command also load .ecz files directly.
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>

#include "archive.h"
#include "commands.h"
#include "common.h"
#include "error.h"
#include "onnx_io.h"

namespace ec {
namespace {

struct PackOptions {
  std::string in, out;
};

}  // namespace

void add_pack_commands(ec::cli::App& app) {
  auto o = std::make_shared<PackOptions>();
  ec::cli::App* p = app.add_subcommand("pack", "Pack a (pruned, shared) ONNX model into a Huffman-coded .ecz archive");
  p->add_option("model", o->in, "ONNX model")->required();
  p->add_option("-o,--output", o->out, "Archive (default: MODEL.ecz)");
  p->callback([o] {
    const std::string bytes = read_file_bytes(o->in);
    Model m = load_onnx_bytes(bytes, o->in);
    ArchiveStats st;
    const std::string a = pack_archive(m, &st);
    const std::string out = o->out.empty() ? o->in.substr(0, o->in.rfind('.')) + ".ecz" : o->out;
    write_file_bytes(out, a);
    std::printf("%s: %zu bytes -> %s: %zu bytes (%.2fx); %zu tensors coded (%zu values) in %zu bytes, the rest as ONNX in %zu bytes\n",
                o->in.c_str(), bytes.size(), out.c_str(), a.size(), static_cast<double>(bytes.size()) / static_cast<double>(a.size()), st.coded_tensors,
                st.coded_values, st.coded_bytes, st.onnx_bytes);
  });
  auto u = std::make_shared<PackOptions>();
  ec::cli::App* q = app.add_subcommand("unpack", "Unpack a .ecz archive back to ONNX (bit-exact)");
  q->add_option("archive", u->in, ".ecz archive")->required();
  q->add_option("-o,--output", u->out, "ONNX output (default: ARCHIVE.onnx)")->required();
  q->callback([u] {
    Model m = unpack_archive(read_file_bytes(u->in), u->in);
    const std::string bytes = to_onnx_bytes(m);
    write_file_bytes(u->out, bytes);
    std::printf("%s -> %s: %zu bytes\n", u->in.c_str(), u->out.c_str(), bytes.size());
  });
}

}  // namespace ec
