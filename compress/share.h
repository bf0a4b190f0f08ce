// Weight sharing (Deep Compression §3): per layer, the non-zero weights are clustered by k-means with
// linear initialisation over [min, max] and replaced by their centroid, so a layer holds at most 2^bits
// distinct non-zero values (zeros from pruning stay zero). Archive packing (engine/archive.h) then stores
// the indices Huffman-coded.
#pragma once
#include <vector>

#include "tensor.h"

namespace ec::compress {

// Clusters the non-zero values of `w` into `k` centroids (linear init, Lloyd iterations until no change
// or `iters`); replaces every non-zero by its centroid in place. Returns the centroids, ascending.
std::vector<float> kmeans_share(Tensor& w, int k, int iters = 30);

}  // namespace ec::compress
