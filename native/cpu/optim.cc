// Optimizer steps over a whole parameter arena p, g, m (, v) [n], updated in place:
//   SGD (PyTorch, dampening 0): g' = g + wd·p; m = μ·m + g'; p −= lr·(nesterov ? g' + μ·m : m)
//   AdamW (PyTorch): p ·= decay; m = β1·m + (1−β1)·g; v = β2·v + (1−β2)·g²;
//                    p −= step_size·m / (√(v·inv_bias2) + eps), with the constants of
//                    native/adamw.h (formed once in double by the caller; 1 − β never in f32)
// The gradient g is never written. Memory-bound: vectorized, split across threads when large.
#include "kernels.h"
#include "threadpool.h"

namespace hydranet {
namespace {

constexpr int64_t kGrain = 1 << 15;

}  // namespace

void optim_sgd_step(float* p, const float* g, float* m, int64_t n, const SgdParams& h, int threads) {
  const IsaKernels& K = isa_kernels();
  parallel_range(n, threads, kGrain, [&](int64_t b, int64_t e) { K.sgd_step(p + b, g + b, m + b, e - b, h); });
}

void optim_adamw_step(float* p, const float* g, float* m, float* v, int64_t n, const AdamwParams& h, int threads) {
  const IsaKernels& K = isa_kernels();
  parallel_range(n, threads, kGrain,
                 [&](int64_t b, int64_t e) { K.adamw_step(p + b, g + b, m + b, v + b, e - b, h); });
}

}  // namespace hydranet
