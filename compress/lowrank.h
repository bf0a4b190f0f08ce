// Low-rank factorization: SVD for Gemm, MatMul and 1x1 Conv (one layer becomes two thin ones), Tucker-2
// for KxK Conv (1x1 -> KxK core -> 1x1). Ranks come from kept singular-value energy or a target MAC
// reduction; layers where the factorization would not save MACs are left alone.
#pragma once
#include <Eigen/Core>

namespace ec::compress {

// Rank that keeps at least `energy` (0..1] of the squared singular values `s` (descending).
int rank_for_energy(const Eigen::VectorXf& s, double energy);

}  // namespace ec::compress
