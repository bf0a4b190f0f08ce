// The libtorch bridge (what training runs) against the engine's reference kernels (what inference runs): the
// same real models on the same real frames must give the same outputs, or training optimises another network
// than the one that is shipped. Built only with the training helper (libtorch).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "../engine/helpers.h"
#include "onnx_io.h"
#include "torch_bridge.h"

using namespace ec;
using namespace ec::test;

TEST(Bridge, ForwardMatchesTheReferenceKernelsOnBlazeFace) {
  for (const char* file : {"blazeface128.onnx", "blazeface256.onnx"}) {
    Model m = load_onnx(models_dir() + "/" + file);
    const Shape s = m.graph.inputs[0].shape_or(1);
    Tensor x = random_tensor(s, 7);
    const std::vector<Tensor> ref = run_model(m, {x}, "native-ref", 1);
    compress::BridgeOptions bo;
    bo.trainable = false;
    compress::TorchGraph g(m.graph, bo);
    torch::NoGradGuard no_grad;
    std::vector<int64_t> dims(s.begin(), s.end());
    const torch::Tensor in = torch::from_blob(x.ptr<float>(), dims, torch::kFloat32).clone();
    const std::vector<torch::Tensor> out = g.forward(in, false);
    ASSERT_EQ(out.size(), ref.size()) << file;
    for (size_t i = 0; i < ref.size(); ++i) {
      const torch::Tensor o = out[i].contiguous().to(torch::kFloat32);
      ASSERT_EQ(o.numel(), ref[i].numel()) << file << " output " << i;
      Tensor got(DType::f32, ref[i].shape());
      std::memcpy(got.ptr<float>(), o.data_ptr<float>(), got.size_bytes());
      EXPECT_LE(diff_over_range(ref[i], got), 1e-4) << file << " output " << i << " (libtorch " << TORCH_VERSION << ")";
    }
  }
}
