// Counter-based randomness, bit-identical to ts/core/random.ts (keep the two in step), shared by
// the CPU kernels and, compiled for the device too, the CUDA kernels: hash32 is murmur3's 32-bit
// finaliser over (seed, index), in uint32 arithmetic.
#pragma once

#include <cmath>
#include <cstdint>

#ifdef __CUDACC__
#define HYDRANET_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define HYDRANET_HOST_DEVICE inline
#endif

namespace hydranet {

HYDRANET_HOST_DEVICE uint32_t hash32(uint32_t seed, uint32_t index) {
  uint32_t h = (index * 0x9e3779b1u) ^ seed;
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}

// Dropout's per-call constants, as both addons receive them from TypeScript: keep element (or
// row) i ⟺ dropout_keep(seed, i, threshold); a kept value is multiplied by scale = f32(1/(1 − p)).
struct DropoutParams {
  uint32_t seed, threshold;
  float scale;
};

// dropoutKeep(seed, i, p) ⟺ (hash32(seed, i) >> 8) / 2^24 >= p ⟺ (hash32 >> 8) >= threshold, with
// threshold = dropoutThreshold(p) = ⌈p·2^24⌉ formed once in TypeScript (ts/core/random.ts): an exact
// integer comparison whatever the rounding of p.
HYDRANET_HOST_DEVICE bool dropout_keep(uint32_t seed, uint32_t index, uint32_t threshold) {
  return (hash32(seed, index) >> 8) >= threshold;
}

}  // namespace hydranet
