// The gated mixture of experts of the CUDA backend (MixtureLayout in ts/backends/layouts.ts; the
// reference backend is the spec), for MMoE and CGC:
//   x, dx [E·sx]   expert e's rows [n, D] at e·sx        z, g, dz [n, Z]   task t's gate block of
//   out, dout [T·so]  task t's rows [n, D] at t·so                         k_t columns at off_t
//   forward:  g = softmax(z) per task block (=);  out_t[i] = Σ_j g[i, off_t + j]·x_{e_tj}[i]  (=)
//   backward: dg_j = dout_t[i]·x_{e_tj}[i];  dz = g ⊙ (dg − Σ_j g·dg) per block               (=)
//             dx_e[i] = Σ_{(t, j): e_tj = e, in task order} g[i, off_t + j]·dout_t[i]
//             (=, zero for unused experts; only the first n rows of each block are touched)
//
// The layout is HOST memory; the launchers validate it and pass it by value in the kernel
// parameters (a __grid_constant__ struct, so concurrent launches never share state), with the
// per-expert lists that backward needs. Limits (cudaErrorInvalidValue beyond, or for a malformed
// layout): at most kMaxMixtureTasks = 32 tasks, kMaxMixtureExperts = 64 experts and
// kMaxGateWidth = 512 gate columns (Σ_t k_t).
//
// Kernels (forward: gates, then combine; backward: expert grads and gate grads, independent):
//   gates         one thread per (row, task): max in f32, Σ exp in f64, g = f32(exp/Σ)
//   combine       one thread per element of out (grid.y = task): f64 sum over j in order, as the
//                 reference (products of two f32 are exact in f64): bit-identical given g
//   expert grads  one thread per element of dx (grid.y = expert): f32 accumulation with each
//                 step rounded exactly as the reference's Float32Array +=, in task order
//   gate grads    one warp per (row, task): lanes stride over D (coalesced) for each dg_j in f64,
//                 xor-shuffle reduced; lane j % 32 keeps dg_j (k ≤ 64: two registers per lane)
// No atomics: every output element is written by exactly one thread; the results do not depend
// on the grid.
#include <cstdint>

#include "device_math.cuh"
#include "addon_device.h"

namespace hydranet::cuda {
namespace {

constexpr int kMaxMixtureTasks = 32;
constexpr int kMaxMixtureExperts = 64;
constexpr int kMaxGateWidth = 512;
constexpr int kThreads = 256;
constexpr unsigned int kFullMask = 0xffffffffu;

struct MixtureParams {
  int tasks, experts, width, zw, n;
  int64_t sx, so;
  int16_t k[kMaxMixtureTasks], off[kMaxMixtureTasks];  // per task: gate columns, first column
  uint8_t col_expert[kMaxGateWidth];                   // per gate column: its expert
  uint8_t col_task[kMaxGateWidth];                     // per gate column: its task
  // The gate columns that use expert e, in task order: expert_cols[expert_start[e] .. expert_start[e + 1]).
  uint16_t expert_start[kMaxMixtureExperts + 1];
  uint16_t expert_cols[kMaxGateWidth];
};

// Reads and checks MixtureLayout.packed: [T, E, D, sx, so, Z, per task (k_t, off_t), then the
// expert of every gate column].
bool read_layout(const int32_t* L, int len, int n, MixtureParams& p) {
  if (L == nullptr || len < 6) return false;
  const int T = L[0], E = L[1], D = L[2], sx = L[3], so = L[4], Z = L[5];
  if (T < 1 || T > kMaxMixtureTasks || E < 1 || E > kMaxMixtureExperts || D < 1 || sx < 1 || so < 1 || Z < 1 ||
      Z > kMaxGateWidth || len != 6 + 2 * T + Z) {
    return false;
  }
  p = MixtureParams{};
  p.tasks = T, p.experts = E, p.width = D, p.zw = Z, p.n = n;
  p.sx = sx, p.so = so;
  int col = 0;
  for (int t = 0; t < T; ++t) {
    const int k = L[6 + 2 * t], off = L[7 + 2 * t];
    if (k < 1 || k > E || off != col || k > Z - col) return false;  // the block lies within Z before it is read
    p.k[t] = static_cast<int16_t>(k);
    p.off[t] = static_cast<int16_t>(off);
    for (int j = 0; j < k; ++j, ++col) {
      const int e = L[6 + 2 * T + col];
      if (e < 0 || e >= E) return false;
      p.col_expert[col] = static_cast<uint8_t>(e);
      p.col_task[col] = static_cast<uint8_t>(t);
    }
  }
  if (col != Z) return false;
  // Counting sort of the columns by expert, stable, so each expert's list is in task order.
  int count[kMaxMixtureExperts] = {};
  for (int c = 0; c < Z; ++c) ++count[p.col_expert[c]];
  p.expert_start[0] = 0;
  for (int e = 0; e < E; ++e) p.expert_start[e + 1] = static_cast<uint16_t>(p.expert_start[e] + count[e]);
  int cursor[kMaxMixtureExperts];
  for (int e = 0; e < E; ++e) cursor[e] = p.expert_start[e];
  for (int c = 0; c < Z; ++c) p.expert_cols[cursor[p.col_expert[c]]++] = static_cast<uint16_t>(c);
  return true;
}

// Element r = i·D + d of a block of n rows of width D: the grid-stride loop tracks (i, d) by
// adding the stride's quotient and remainder, so only the first step divides.
struct RowCursor {
  int64_t i, d, step_i, step_d, width;
  __device__ RowCursor(int64_t r, int64_t stride, int64_t D) : width(D) {
    i = r / D;
    d = r - i * D;
    step_i = stride / D;
    step_d = stride - step_i * D;
  }
  __device__ void advance() {
    i += step_i;
    d += step_d;  // < 2·D
    if (d >= width) {
      d -= width;
      ++i;
    }
  }
};

// g[i, off_t + ·] = softmax(z[i, off_t + ·]); blockIdx.y = t.
__global__ void gates_kernel(const __grid_constant__ MixtureParams p, const float* z, float* g) {
  const int t = blockIdx.y;
  const int k = p.k[t];
  const int64_t off = p.off[t];
  for (int64_t i = global_index(); i < p.n; i += global_stride()) {
    const float* zr = z + i * p.zw + off;
    float* gr = g + i * p.zw + off;
    float mx = zr[0];
    for (int j = 1; j < k; ++j) mx = fmaxf(mx, zr[j]);  // a NaN still makes every g NaN (via the sum)
    double sum = 0.0;
    for (int j = 0; j < k; ++j) sum += exp(static_cast<double>(zr[j]) - mx);
    for (int j = 0; j < k; ++j) gr[j] = static_cast<float>(exp(static_cast<double>(zr[j]) - mx) / sum);
  }
}

// out_t[r] = Σ_j g[i, off_t + j]·x_{e_j}[r], r = i·D + d; blockIdx.y = t.
__global__ void combine_kernel(const __grid_constant__ MixtureParams p, const float* x, const float* g, float* out) {
  const int t = blockIdx.y;
  const int k = p.k[t], off = p.off[t];
  const int64_t total = static_cast<int64_t>(p.n) * p.width;
  int64_t r = global_index();
  RowCursor c(r, global_stride(), p.width);
  for (; r < total; r += global_stride(), c.advance()) {
    const float* gr = g + c.i * p.zw + off;
    double acc = 0.0;
    for (int j = 0; j < k; ++j) {
      const float xv = x[static_cast<int64_t>(p.col_expert[off + j]) * p.sx + r];
      acc = __dadd_rn(acc, __dmul_rn(static_cast<double>(gr[j]), static_cast<double>(xv)));
    }
    out[t * p.so + r] = static_cast<float>(acc);
  }
}

// dx_e[r] = Σ over expert e's gate columns c (task order) of g[i, c]·dout_{task(c)}[r]; blockIdx.y = e.
__global__ void expert_grads_kernel(const __grid_constant__ MixtureParams p, const float* g, const float* dout,
                                    float* dx) {
  const int e = blockIdx.y;
  const int q0 = p.expert_start[e], q1 = p.expert_start[e + 1];
  const int64_t total = static_cast<int64_t>(p.n) * p.width;
  int64_t r = global_index();
  RowCursor c(r, global_stride(), p.width);
  for (; r < total; r += global_stride(), c.advance()) {
    float acc = 0.0f;
    for (int q = q0; q < q1; ++q) {
      const int col = p.expert_cols[q];
      const double gv = g[c.i * p.zw + col];
      const double go = dout[p.col_task[col] * p.so + r];
      // the reference's DX += G·go: exact product, f64 sum, rounded to f32 on store
      acc = static_cast<float>(__dadd_rn(static_cast<double>(acc), __dmul_rn(gv, go)));
    }
    dx[e * p.sx + r] = acc;
  }
}

// dz[i, off_t + j] = g_j·(dg_j − Σ_l g_l·dg_l), dg_j = Σ_d dout_t[i, d]·x_{e_j}[i, d]: one warp
// per (row i, task t = blockIdx.y); warps loop over rows warp-uniformly, so the shuffles never diverge.
__global__ void gate_grads_kernel(const __grid_constant__ MixtureParams p, const float* x, const float* g,
                                  const float* dout, float* dz) {
  const int t = blockIdx.y;
  const int k = p.k[t], off = p.off[t];
  const int lane = threadIdx.x & 31;
  const int warps_per_block = blockDim.x >> 5;
  const int64_t D = p.width;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * warps_per_block + (threadIdx.x >> 5); i < p.n;
       i += static_cast<int64_t>(gridDim.x) * warps_per_block) {
    const float* go = dout + t * p.so + i * D;
    double dg_lo = 0.0, dg_hi = 0.0;  // dg_j for j = lane and j = lane + 32
    for (int j = 0; j < k; ++j) {
      const float* xe = x + static_cast<int64_t>(p.col_expert[off + j]) * p.sx + i * D;
      double s = 0.0;
      for (int64_t d = lane; d < D; d += 32) s += static_cast<double>(go[d]) * static_cast<double>(xe[d]);
      for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(kFullMask, s, o);
      if (j == lane) dg_lo = s;
      if (j == lane + 32) dg_hi = s;
    }
    const int64_t row = i * p.zw + off;
    const double g_lo = lane < k ? static_cast<double>(g[row + lane]) : 0.0;
    const double g_hi = lane + 32 < k ? static_cast<double>(g[row + lane + 32]) : 0.0;
    double dot = g_lo * dg_lo + g_hi * dg_hi;
    for (int o = 16; o > 0; o >>= 1) dot += __shfl_xor_sync(kFullMask, dot, o);
    if (lane < k) dz[row + lane] = static_cast<float>(g_lo * (dg_lo - dot));
    if (lane + 32 < k) dz[row + lane + 32] = static_cast<float>(g_hi * (dg_hi - dot));
  }
}

}  // namespace

// The gated mixture of experts (MixtureLayout.packed, HOST memory).
cudaError_t mixture_forward(const int32_t* layout, int layout_len, const float* x, const float* z, float* g,
                            float* out, int n, cudaStream_t stream) {
  MixtureParams p;
  if (!read_layout(layout, layout_len, n, p)) return cudaErrorInvalidValue;
  if (n > 0) {
    gates_kernel<<<dim3(blocks_for(n, kThreads), p.tasks), kThreads, 0, stream>>>(p, z, g);
    combine_kernel<<<dim3(blocks_for(static_cast<int64_t>(n) * p.width, kThreads), p.tasks), kThreads, 0, stream>>>(
        p, x, g, out);
  }
  return cudaGetLastError();
}

cudaError_t mixture_backward(const int32_t* layout, int layout_len, const float* x, const float* g, const float* dout,
                             float* dx, float* dz, int n, cudaStream_t stream) {
  MixtureParams p;
  if (!read_layout(layout, layout_len, n, p)) return cudaErrorInvalidValue;
  if (n > 0) {
    expert_grads_kernel<<<dim3(blocks_for(static_cast<int64_t>(n) * p.width, kThreads), p.experts), kThreads, 0,
                          stream>>>(p, g, dout, dx);
    const int warps = kThreads / 32;
    gate_grads_kernel<<<dim3(blocks_for(n, warps), p.tasks), kThreads, 0, stream>>>(p, x, g, dout, dz);
  }
  return cudaGetLastError();
}

}  // namespace hydranet::cuda

// ---- N-API entries (native/cuda/addon_device.h) ----------------------------------------

namespace hydranet::cuda_addon {

// mixtureForward(layout, x, z, g, out, n)
void mixture_forward(const Args& a) {
  const layouts::Mixture L = layouts::mixture(a, 0, 5);
  check_cuda(hc::mixture_forward(L.packed, L.length, a.dev(1, "x", L.x), a.dev(2, "z", L.z), a.dev(3, "g", L.z),
      a.dev(4, "out", L.out), L.n, state().stream), "mixtureForward");
}
const Export<mixture_forward> export_mixture_forward("mixtureForward", 6);

// mixtureBackward(layout, x, g, dOut, dx, dz, n)
void mixture_backward(const Args& a) {
  const layouts::Mixture L = layouts::mixture(a, 0, 6);
  check_cuda(hc::mixture_backward(L.packed, L.length, a.dev(1, "x", L.x), a.dev(2, "g", L.z), a.dev(3, "dOut", L.out),
      a.dev(4, "dx", L.x), a.dev(5, "dz", L.z), L.n, state().stream), "mixtureBackward");
}
const Export<mixture_backward> export_mixture_backward("mixtureBackward", 7);

}  // namespace hydranet::cuda_addon
