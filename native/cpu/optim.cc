// Optimizer steps over a whole parameter arena p, g, m (, v) [n], updated in place:
//   SGD (PyTorch, dampening 0): g' = g + wd·p; m = μ·m + g'; p −= lr·(nesterov ? g' + μ·m : m)
//   AdamW (PyTorch): p ·= decay; m = β1·m + (1−β1)·g; v = β2·v + (1−β2)·g²;
//                    p −= step_size·m / (√(v·inv_bias2) + eps), with the constants of
//                    native/adamw.h (formed once in double by the caller; 1 − β never in f32)
// The gradient g is never written. Memory-bound: vectorized, split across threads when large.
#include "addon_args.h"
#include "threadpool.h"

namespace hydranet {
namespace {

constexpr int64_t kGrain = 1 << 15;

}  // namespace

// PyTorch SGD (dampening 0) and AdamW over whole parameter arenas [n].
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

// ---- N-API entries (native/cpu/addon_args.h) ----------------------------------------

namespace hydranet::cpu_addon {

// sgdStep(p, g, m, lr, momentum, weightDecay, nesterov, threads)
void sgd_step(const Args& a) {
  const int64_t n = a.length_of(0, "p");
  const hydranet::SgdParams h{static_cast<float>(a.number(3, "lr")), static_cast<float>(a.number(4, "momentum")),
                              static_cast<float>(a.number(5, "weightDecay")), a.boolean(6, "nesterov")};
  hydranet::optim_sgd_step(a.f32(0, "p", n), a.f32(1, "g", n), a.f32(2, "m", n), n, h, a.threads(7));
}
const Export<sgd_step> export_sgd_step("sgdStep", 8);

// adamwStep(p, g, m, v, decay, beta1, oneMinusBeta1, beta2, oneMinusBeta2, eps, stepSize, invBias2, threads):
// the constants of adamwCoefficients (ts/backends/validate.ts), see native/adamw.h.
void adamw_step(const Args& a) {
  const int64_t n = a.length_of(0, "p");
  hydranet::optim_adamw_step(a.f32(0, "p", n), a.f32(1, "g", n), a.f32(2, "m", n), a.f32(3, "v", n), n, a.adamw(4),
                             a.threads(12));
}
const Export<adamw_step> export_adamw_step("adamwStep", 13);

}  // namespace hydranet::cpu_addon
