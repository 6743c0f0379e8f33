// GradDrop (Chen et al. 2020) of the CUDA backend (the reference backend is the spec):
//   graddrop_apply   out[m] = Σ_t g[t, m]·(leak + (1 − leak)·keep_t), decided in f64   (g [T, M], =)
// epsilon is GRADDROP_EPSILON of ts/backends/backend.ts, passed in by the addon.
#include <cstdint>

#include "device_math.cuh"
#include "addon_device.h"

namespace hydranet::cuda {
namespace {

constexpr int kThreads = 256;

// Per element i, exactly as the reference (f64, task order): S = Σ g_t, A = Σ |g_t|,
// P = ½(1 + S/(A + epsilon)), u = hash24(seed, i)/2^24 (exact in f64), keep_t = (u < P and g_t > 0)
// or (u > P and g_t < 0), out = f32(Σ g_t·(leak + (1 − leak)·keep_t)). Device f64 add, divide and
// multiply are IEEE round-to-nearest; the explicit __d*_rn intrinsics keep nvcc from contracting
// the products into FMAs, so P and every partial sum are the reference's bits.
__global__ void graddrop_kernel(const float* __restrict__ g, float* __restrict__ out, int tasks, int64_t m,
                                uint32_t seed, double leak, double epsilon) {
  // The reference's leak + (1 − leak)·keep: leak + 0 = leak when dropped, leak ⊕ (1 ⊖ leak) when kept.
  const double kept_weight = __dadd_rn(leak, __dadd_rn(1.0, -leak));
  for (int64_t i = global_index(); i < m; i += global_stride()) {
    double sum = 0.0, mag = 0.0;
    for (int t = 0; t < tasks; ++t) {
      const double v = g[t * m + i];
      sum = __dadd_rn(sum, v);
      mag = __dadd_rn(mag, fabs(v));
    }
    const double p = __dmul_rn(0.5, __dadd_rn(1.0, __ddiv_rn(sum, __dadd_rn(mag, epsilon))));
    const double u = __dmul_rn(static_cast<double>(hash24(seed, static_cast<uint32_t>(i))), 1.0 / 16777216.0);
    double o = 0.0;
    for (int t = 0; t < tasks; ++t) {
      const double v = g[t * m + i];
      const bool keep = (u < p && v > 0) || (u > p && v < 0);
      o = __dadd_rn(o, __dmul_rn(v, keep ? kept_weight : leak));
    }
    out[i] = static_cast<float>(o);
  }
}

}  // namespace

// GradDrop over g [tasks, m] into out [m] (=), exactly as the reference decides its keeps
// (epsilon is GRADDROP_EPSILON of ts/backends/backend.ts).
cudaError_t graddrop_apply(const float* g, float* out, int tasks, int64_t m, uint32_t seed, double leak,
                           double epsilon, cudaStream_t stream) {
  if (m > 0) graddrop_kernel<<<blocks_for(m, kThreads), kThreads, 0, stream>>>(g, out, tasks, m, seed, leak, epsilon);
  return cudaGetLastError();
}

}  // namespace hydranet::cuda

// ---- N-API entries (native/cuda/addon_device.h) ----------------------------------------

namespace hydranet::cuda_addon {

// gradDrop(g, out, tasks, m, seed, leak, epsilon)
void grad_drop(const Args& a) {
  const int tasks = a.dim(2, "tasks");
  const int64_t m = a.dim(3, "m");
  const double leak = a.number_in(5, "leak", 0, 1);
  const double epsilon = a.number_in(6, "epsilon", 0, 1);
  check_cuda(hc::graddrop_apply(a.dev(0, "g", elements(a, "g", {tasks, m})), a.dev(1, "out", m), tasks, m, a.u32(4,
      "seed"), leak, epsilon, state().stream), "gradDrop");
}
const Export<grad_drop> export_grad_drop("gradDrop", 7);

}  // namespace hydranet::cuda_addon
