// Optimizer steps of the CUDA backend over a whole parameter arena p, g, m (, v) [n], updated in
// place (the reference backend is the spec), in f32 as the CPU backend computes them:
//   SGD (PyTorch, dampening 0): g' = g + wd·p; m = μ·m + g'; p −= lr·(nesterov ? g' + μ·m : m)
//   AdamW (PyTorch): p ·= decay; m = β1·m + (1−β1)·g; v = β2·v + (1−β2)·g²;
//                    p −= step_size·m / (√(v·inv_bias2) + eps), the constants of native/adamw.h
//                    (formed once in f64 on the host; 1 − β is never formed in f32 here)
// The gradient is never written; p, g, m, v are distinct arrays. Grid-stride loops over float4
// when every pointer is 16-byte aligned (the element tail runs scalar), else over floats.
#include <cstdint>

#include "device_math.cuh"
#include "addon_device.h"

namespace hydranet::cuda {
namespace {

constexpr int kThreads = 256;

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

unsigned int step_blocks(int64_t n, bool vec) { return blocks_for(vec ? (n + 3) / 4 : n, kThreads); }

struct Sgd {
  float lr, momentum, weight_decay;
  bool nesterov;
  // One element: p and m updated in place.
  __device__ __forceinline__ void operator()(float& p, float g, float& m) const {
    const float grad = fmaf(weight_decay, p, g);
    const float mv = fmaf(momentum, m, grad);
    const float upd = nesterov ? fmaf(momentum, mv, grad) : mv;
    m = mv;
    p = p - lr * upd;
  }
};

struct AdamW {
  AdamwParams c;
  __device__ __forceinline__ void operator()(float& p, float g, float& m, float& v) const {
    const float mv = fmaf(c.beta1, m, c.one_minus_beta1 * g);
    const float vv = fmaf(c.beta2, v, c.one_minus_beta2 * (g * g));
    m = mv;
    v = vv;
    p = p * c.decay - (c.step_size * mv) / (sqrtf(vv * c.inv_bias2) + c.eps);
  }
};

__global__ void sgd_kernel(float* __restrict__ p, const float* __restrict__ g, float* __restrict__ m, int64_t n,
                           bool vec, Sgd h) {
  int64_t start = 0;
  if (vec) {
    const int64_t n4 = n >> 2;
    float4* p4 = reinterpret_cast<float4*>(p);
    const float4* g4 = reinterpret_cast<const float4*>(g);
    float4* m4 = reinterpret_cast<float4*>(m);
    for (int64_t i = global_index(); i < n4; i += global_stride()) {
      float4 pv = p4[i], mv = m4[i];
      const float4 gv = g4[i];
      h(pv.x, gv.x, mv.x);
      h(pv.y, gv.y, mv.y);
      h(pv.z, gv.z, mv.z);
      h(pv.w, gv.w, mv.w);
      p4[i] = pv;
      m4[i] = mv;
    }
    start = n4 << 2;
  }
  for (int64_t i = start + global_index(); i < n; i += global_stride()) {
    float pv = p[i], mv = m[i];
    h(pv, g[i], mv);
    p[i] = pv;
    m[i] = mv;
  }
}

__global__ void adamw_kernel(float* __restrict__ p, const float* __restrict__ g, float* __restrict__ m,
                             float* __restrict__ v, int64_t n, bool vec, AdamW h) {
  int64_t start = 0;
  if (vec) {
    const int64_t n4 = n >> 2;
    float4* p4 = reinterpret_cast<float4*>(p);
    const float4* g4 = reinterpret_cast<const float4*>(g);
    float4* m4 = reinterpret_cast<float4*>(m);
    float4* v4 = reinterpret_cast<float4*>(v);
    for (int64_t i = global_index(); i < n4; i += global_stride()) {
      float4 pv = p4[i], mv = m4[i], vv = v4[i];
      const float4 gv = g4[i];
      h(pv.x, gv.x, mv.x, vv.x);
      h(pv.y, gv.y, mv.y, vv.y);
      h(pv.z, gv.z, mv.z, vv.z);
      h(pv.w, gv.w, mv.w, vv.w);
      p4[i] = pv;
      m4[i] = mv;
      v4[i] = vv;
    }
    start = n4 << 2;
  }
  for (int64_t i = start + global_index(); i < n; i += global_stride()) {
    float pv = p[i], mv = m[i], vv = v[i];
    h(pv, g[i], mv, vv);
    p[i] = pv;
    m[i] = mv;
    v[i] = vv;
  }
}

}  // namespace

// PyTorch SGD over a whole arena [n].
cudaError_t optim_sgd_step(float* p, const float* g, float* m, int64_t n, float lr, float momentum, float weight_decay,
                           bool nesterov, cudaStream_t stream) {
  if (n > 0) {
    const bool vec = aligned16(p) && aligned16(g) && aligned16(m);
    sgd_kernel<<<step_blocks(n, vec), kThreads, 0, stream>>>(p, g, m, n, vec,
                                                             Sgd{lr, momentum, weight_decay, nesterov});
  }
  return cudaGetLastError();
}

// With the constants of native/adamw.h (formed once in f64 on the host, 1 − β never in f32).
cudaError_t optim_adamw_step(float* p, const float* g, float* m, float* v, int64_t n, const AdamwParams& h,
                             cudaStream_t stream) {
  if (n > 0) {
    const bool vec = aligned16(p) && aligned16(g) && aligned16(m) && aligned16(v);
    adamw_kernel<<<step_blocks(n, vec), kThreads, 0, stream>>>(p, g, m, v, n, vec, AdamW{h});
  }
  return cudaGetLastError();
}

}  // namespace hydranet::cuda

// ---- N-API entries (native/cuda/addon_device.h) ----------------------------------------

namespace hydranet::cuda_addon {

// sgdStep(p, g, m, lr, momentum, weightDecay, nesterov)
void sgd_step(const Args& a) {
  float* p = a.dev(0, "p", -1);
  const int64_t n = a.last_count();
  check_cuda(hc::optim_sgd_step(p, a.dev(1, "g", n), a.dev(2, "m", n), n, static_cast<float>(a.number(3, "lr")),
      static_cast<float>(a.number(4, "momentum")), static_cast<float>(a.number(5, "weightDecay")), a.boolean(6,
      "nesterov"), state().stream), "sgdStep");
}
const Export<sgd_step> export_sgd_step("sgdStep", 7);

// adamwStep(p, g, m, v, decay, beta1, oneMinusBeta1, beta2, oneMinusBeta2, eps, stepSize, invBias2): the
// constants of adamwCoefficients (ts/backends/validate.ts), see native/adamw.h.
void adamw_step(const Args& a) {
  float* p = a.dev(0, "p", -1);
  const int64_t n = a.last_count();
  check_cuda(hc::optim_adamw_step(p, a.dev(1, "g", n), a.dev(2, "m", n), a.dev(3, "v", n), n, a.adamw(4),
      state().stream), "adamwStep");
}
const Export<adamw_step> export_adamw_step("adamwStep", 12);

}  // namespace hydranet::cuda_addon
