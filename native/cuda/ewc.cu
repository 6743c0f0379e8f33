// The EWC penalty's gradient (Kirkpatrick et al. 2017) on the CUDA backend, over a whole
// parameter arena, "+=" into the gradient (the reference backend is the spec):
//   ewc_penalty   g[i] += λ·F[i]·(p[i] − θ*[i])      p, θ* (anchor), F (fisher), g: [n]
// Only g is written; p, anchor, fisher, g are distinct ranges. A grid-stride loop over float4
// when every pointer is 16-byte aligned (the element tail runs scalar), else over floats. NaN in
// any input makes its g NaN.
#include <cstdint>

#include "device_math.cuh"
#include "addon_device.h"

namespace hydranet::cuda {
namespace {

constexpr int kThreads = 256;

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

__device__ __forceinline__ float ewc_one(float p, float a, float f, float g, float lambda) {
  return g + lambda * f * (p - a);
}

__global__ void ewc_kernel(const float* __restrict__ p, const float* __restrict__ anchor,
                           const float* __restrict__ fisher, float* __restrict__ g, int64_t n, bool vec,
                           float lambda) {
  int64_t start = 0;
  if (vec) {
    const int64_t n4 = n >> 2;
    const float4* p4 = reinterpret_cast<const float4*>(p);
    const float4* a4 = reinterpret_cast<const float4*>(anchor);
    const float4* f4 = reinterpret_cast<const float4*>(fisher);
    float4* g4 = reinterpret_cast<float4*>(g);
    for (int64_t i = global_index(); i < n4; i += global_stride()) {
      const float4 pv = p4[i], av = a4[i], fv = f4[i];
      float4 gv = g4[i];
      gv.x = ewc_one(pv.x, av.x, fv.x, gv.x, lambda);
      gv.y = ewc_one(pv.y, av.y, fv.y, gv.y, lambda);
      gv.z = ewc_one(pv.z, av.z, fv.z, gv.z, lambda);
      gv.w = ewc_one(pv.w, av.w, fv.w, gv.w, lambda);
      g4[i] = gv;
    }
    start = n4 << 2;
  }
  for (int64_t i = start + global_index(); i < n; i += global_stride()) {
    g[i] = ewc_one(p[i], anchor[i], fisher[i], g[i], lambda);
  }
}

}  // namespace

// g [n] += λ·F ⊙ (p − anchor).
cudaError_t ewc_penalty(const float* p, const float* anchor, const float* fisher, float* g, int64_t n, float lambda,
                        cudaStream_t stream) {
  if (n > 0) {
    const bool vec = aligned16(p) && aligned16(anchor) && aligned16(fisher) && aligned16(g);
    ewc_kernel<<<blocks_for(vec ? (n + 3) / 4 : n, kThreads), kThreads, 0, stream>>>(p, anchor, fisher, g, n, vec,
                                                                                     lambda);
  }
  return cudaGetLastError();
}

}  // namespace hydranet::cuda

// ---- N-API entries (native/cuda/addon_device.h) ----------------------------------------

namespace hydranet::cuda_addon {

// ewcPenalty(p, anchor, fisher, g, lambda)
void ewc_penalty(const Args& a) {
  const float* p = a.dev(0, "p", -1);
  const int64_t n = a.last_count();
  const double lambda = a.number_in(4, "lambda", 0, 3.4e38);
  check_cuda(hc::ewc_penalty(p, a.dev(1, "anchor", n), a.dev(2, "fisher", n), a.dev(3, "g", n), n,
      static_cast<float>(lambda), state().stream), "ewcPenalty");
}
const Export<ewc_penalty> export_ewc_penalty("ewcPenalty", 5);

}  // namespace hydranet::cuda_addon
