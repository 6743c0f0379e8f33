// Device helpers shared by the CUDA kernels: activations (as ts/backends/reference.ts defines
// them; NaN in, NaN out: relu is a compare-select that keeps NaN, never fmaxf, which drops it)
// and the counter-based hash of ts/core/random.ts (bit-identical, so dropout masks match
// every other backend).
#pragma once
#include <cstdint>

#include "../random.h"
#include "kernels.cuh"

namespace hydranet::cuda {

__device__ __forceinline__ float activate(Activation kind, float x) {
  switch (kind) {
    case Activation::relu:
      return x < 0.0f ? 0.0f : x;  // NaN < 0 is false: NaN passes
    case Activation::gelu:
      return 0.5f * x * (1.0f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)));
    case Activation::tanh:
      return tanhf(x);
    case Activation::sigmoid:
      return 1.0f / (1.0f + expf(-x));
    default:
      return x;
  }
}

// act'(.) from the output y (relu, tanh, sigmoid) or the input x (gelu). Callers multiply it
// into dy, so a NaN dy gives a NaN dx (NaN·0 = NaN), as on the reference.
__device__ __forceinline__ float activate_derivative(Activation kind, float y, float x) {
  switch (kind) {
    case Activation::relu:
      return y > 0.0f ? 1.0f : 0.0f;
    case Activation::gelu: {
      const float t = tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x));
      const float du = 0.7978845608028654f * (1.0f + 3.0f * 0.044715f * x * x);
      return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du;
    }
    case Activation::tanh:
      return 1.0f - y * y;
    case Activation::sigmoid:
      return y * (1.0f - y);
    default:
      return 1.0f;
  }
}

// The hash of ts/core/random.ts, shared with the CPU kernels (native/random.h).
using hydranet::hash32;

// The 24 high bits: hashUniform = hash24 / 2^24; keep ⇔ hash24 >= ceil(p·2^24).
__device__ __forceinline__ uint32_t hash24(uint32_t seed, uint32_t index) { return hash32(seed, index) >> 8; }

// Dropout's mask value for element (or row) index: scale when kept, else 0.
__device__ __forceinline__ float keep_scale(uint32_t seed, uint32_t index, uint32_t threshold, float scale) {
  return hash24(seed, index) >= threshold ? scale : 0.0f;
}

// Grid-stride loop bounds for 1-D kernels.
__device__ __forceinline__ int64_t global_index() { return int64_t{blockIdx.x} * blockDim.x + threadIdx.x; }
__device__ __forceinline__ int64_t global_stride() { return int64_t{gridDim.x} * blockDim.x; }

// Blocks for n elements at 256 threads, capped (the kernels loop over the rest).
inline unsigned int blocks_for(int64_t n, int threads = 256) {
  const int64_t b = (n + threads - 1) / threads;
  return static_cast<unsigned int>(b < 1 ? 1 : (b > 65535 * 4 ? 65535 * 4 : b));
}

// Claims the Status words for the first bad input a kernel meets: {code, which (task or field),
// row, the value's bits}. code 1: a multiLoss label; 2: an embedding index. Later reports lose the
// compare-and-swap and write nothing, so the host reads one consistent record.
__device__ inline void report_status(Status status, unsigned int code, int which, int row, float y) {
  if (status.words == nullptr) return;
  if (atomicCAS(status.words, 0u, code) == 0u) {
    atomicExch(status.words + 1, static_cast<unsigned int>(which));
    atomicExch(status.words + 2, static_cast<unsigned int>(row));
    atomicExch(status.words + 3, __float_as_uint(y));
  }
}

}  // namespace hydranet::cuda
