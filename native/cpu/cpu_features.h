// Run-time choice of the SIMD path. The same binary carries three copies of the hot kernels
// (AVX-512, AVX2+FMA, portable scalar), compiled from one source (isa_kernels.inc) under
// different target pragmas; the best one the CPU supports is chosen once, at load. The
// environment variable HYDRANET_CPU_ISA=scalar|avx2|avx512 forces a lower path for testing.
#pragma once

#include <cstdint>
#include <string>

#include "../adamw.h"

namespace hydranet {

// Same order as ACTIVATIONS in ts/backends/backend.ts.
enum class Activation : int { none = 0, relu = 1, gelu = 2, tanh = 3, sigmoid = 4 };

// What the GEMM micro-kernel does when it stores its tile:
// C = act(alpha·acc + (load_c ? beta·C : 0) + bias).
struct TileEpilogue {
  float alpha;
  float beta;
  bool load_c;
  const float* bias;  // the tile's first column, or null
  Activation act;
};

struct SgdParams {
  float lr, momentum, weight_decay;
  bool nesterov;
};


// The per-ISA kernels: GEMM blocking, packing and micro-kernel, plus the vector loops of the
// elementwise and optimizer ops. Packed panels hold `width` values per k step:
// pack_copy:      dst[k·width + c] = c < valid ? src[k·ld + c] : 0
// pack_transpose: dst[k·width + r] = r < valid ? src[r·ld + k] : 0
struct IsaKernels {
  const char* name;
  int mr, nr;      // micro-tile: mr rows of C by nr columns
  int mc, kc, nc;  // cache blocks (multiples of mr, -, nr)
  void (*pack_copy)(const float* src, int64_t ld, int valid, int width, int kc, float* dst);
  void (*pack_transpose)(const float* src, int64_t ld, int valid, int width, int kc, float* dst);
  // The rows × cols top-left part of an mr × nr tile of C from packed panels a [kc][mr], b [kc][nr].
  void (*micro_kernel)(int kc, const float* a, const float* b, float* c, int64_t ldc, int rows, int cols,
                       const TileEpilogue& ep);
  void (*activation_forward)(Activation kind, const float* x, float* y, int64_t n);
  void (*activation_backward)(Activation kind, const float* y, const float* dy, float* dx, const float* x,
                              int64_t n);
  // Elements [0, n) of a tensor whose first element has global index `first`.
  void (*dropout_forward)(const float* x, float* y, float* mask, int64_t n, uint32_t first, uint32_t seed,
                          uint32_t threshold, float scale);
  void (*sgd_step)(float* p, const float* g, float* m, int64_t n, const SgdParams& h);
  void (*adamw_step)(float* p, const float* g, float* m, float* v, int64_t n, const AdamwParams& h);
};

enum class Isa : int { scalar = 0, avx2 = 1, avx512 = 2 };

// The kernels chosen at load (best supported, or HYDRANET_CPU_ISA).
const IsaKernels& isa_kernels();
// The ISA of isa_kernels(): the one the hand-vectorized loops beside the table (conv.cc,
// pool.cc, isa_extras) must run, so that HYDRANET_CPU_ISA forces them too.
Isa isa_chosen();
// Whether this CPU (and this build) can run `isa`.
bool isa_supported(Isa isa);
// The problem with HYDRANET_CPU_ISA, or "" when it is unset or valid.
const std::string& isa_env_error();

}  // namespace hydranet
