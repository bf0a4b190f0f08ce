// Labelled image data in IDX format (MNIST, Fashion-MNIST; .gz or raw) and a small multilayer perceptron
// trainer (Eigen, mini-batch SGD with momentum, softmax cross-entropy) that exports ONNX (Gemm + Relu):
// the reference models for compression experiments such as Deep Compression's LeNet-300-100.
#pragma once
#include <Eigen/Core>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "ir.h"

namespace ec::compress {

struct Dataset {
  Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> x;  // n x pixels, scaled to [0, 1]
  std::vector<uint8_t> y;                                                   // labels
  int rows = 0, cols = 0;
};

// Reads <dir>/<split>-images-idx3-ubyte[.gz] and <dir>/<split>-labels-idx1-ubyte[.gz] (split "train" or
// "t10k"), at most max_n samples. Throws ec::Error naming the file for missing or malformed data.
Dataset load_idx(const std::string& dir, const std::string& split, int max_n = -1);

struct MlpOptions {
  std::vector<int> hidden = {300, 100};  // LeNet-300-100
  int epochs = 3;
  int batch = 64;
  float lr = 0.05f;
  float momentum = 0.9f;
  uint32_t seed = 1;
};

// Trains on `train` and returns the model as ONNX IR: input "images" [N, pixels], output "logits" [N, 10].
// `progress(epoch, mean loss)` is called after each epoch. Deterministic for a given seed.
Model train_mlp(const Dataset& train, const MlpOptions& o, const std::function<void(int, double)>& progress);

// LeNet-5 (Caffe's: conv 5x5 20 -> max pool 2 -> conv 5x5 50 -> max pool 2 -> fc 500 -> fc 10, with Relu after
// the convolutions and the first fc; 431,080 parameters) for [N,1,28,28] images, untrained: weights uniform with
// variance 2/fan_in (He), biases 0, from `seed`. Train it with the `finetune` step (libtorch).
Model lenet5_untrained(uint32_t seed);

// The multilayer perceptron of train_mlp (Gemm + Relu, input "images" [N, pixels]), untrained: He uniform
// weights from `seed`, zero biases. For training with the libtorch steps (finetune, distill).
Model mlp_untrained(int pixels, const std::vector<int>& hidden, uint32_t seed);

// A small MobileNet-style CNN for [N,1,28,28] images: 3x3 conv 1 -> 16, then three depthwise-separable
// blocks (3x3 depthwise stride 2 + 1x1 16 -> 32; stride 2, 32 -> 64; stride 1, 64 -> 128), each conv followed
// by BatchNormalization and Relu, global average pooling, fc 10: 14,602 parameters incl. BN. Untrained (He
// uniform from `seed`, BN at identity); train it with `finetune` and `bn: train`.
Model mobilenet_small_untrained(uint32_t seed);

// Top-1 accuracy of a model taking [N, pixels] (or [N,1,H,W]) inputs on `test`, with the native engine.
double classification_accuracy(const Model& m, const Dataset& test, int threads = 2);

}  // namespace ec::compress
