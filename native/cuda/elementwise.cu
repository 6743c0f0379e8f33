// Elementwise kernels of the CUDA backend (the reference backend is the spec). All
// "=" except bias_grad ("+=", a parameter gradient):
//   fill, copy            x[n] = value; dst[n] = src[n]
//   activation_forward    y[n]  = act(x[n])                          (y may alias x)
//   activation_backward   dx[n] = dy[n]·act'(y or x)                 (dx may alias dy)
//   bias_grad         db[c] += Σ_r dy[r, c]                      (deterministic, f64 sums)
//   add, mul              out[n] = a + b, a ⊙ b                      (out may alias a or b)
//   dropout_forward       mask[n] = keep ? scale : 0, y = x ⊙ mask   (y may alias x)
// Pointers that may alias carry no __restrict__. The 1-D kernels are grid-stride loops over
// float4 when every pointer is 16-byte aligned (the element tail then runs scalar), else over
// floats; each element is read and written by one thread only, so in-place use is safe.
#include <cstdint>

#include "device_math.cuh"
#include "addon_device.h"

namespace hydranet::cuda {
namespace {

constexpr int kThreads = 256;

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

// ---- generic maps -----------------------------------------------------------------------------

// y[i] = f(x[i]). With vec, x and y are 16-byte aligned: float4 over the first n/4·4 elements.
template <class F>
__global__ void unary_kernel(const float* x, float* y, int64_t n, bool vec, F f) {
  int64_t start = 0;
  if (vec) {
    const int64_t n4 = n >> 2;
    const float4* x4 = reinterpret_cast<const float4*>(x);
    float4* y4 = reinterpret_cast<float4*>(y);
    for (int64_t i = global_index(); i < n4; i += global_stride()) {
      float4 v = x4[i];
      v.x = f(v.x);
      v.y = f(v.y);
      v.z = f(v.z);
      v.w = f(v.w);
      y4[i] = v;
    }
    start = n4 << 2;
  }
  for (int64_t i = start + global_index(); i < n; i += global_stride()) y[i] = f(x[i]);
}

// out[i] = f(a[i], b[i]).
template <class F>
__global__ void binary_kernel(const float* a, const float* b, float* out, int64_t n, bool vec, F f) {
  int64_t start = 0;
  if (vec) {
    const int64_t n4 = n >> 2;
    const float4* a4 = reinterpret_cast<const float4*>(a);
    const float4* b4 = reinterpret_cast<const float4*>(b);
    float4* o4 = reinterpret_cast<float4*>(out);
    for (int64_t i = global_index(); i < n4; i += global_stride()) {
      const float4 u = a4[i];
      const float4 v = b4[i];
      float4 r;
      r.x = f(u.x, v.x);
      r.y = f(u.y, v.y);
      r.z = f(u.z, v.z);
      r.w = f(u.w, v.w);
      o4[i] = r;
    }
    start = n4 << 2;
  }
  for (int64_t i = start + global_index(); i < n; i += global_stride()) out[i] = f(a[i], b[i]);
}

// Blocks for n elements, counted in float4 when vectorized.
unsigned int map_blocks(int64_t n, bool vec) { return blocks_for(vec ? (n + 3) / 4 : n, kThreads); }

template <class F>
cudaError_t launch_unary(const float* x, float* y, int64_t n, F f, cudaStream_t stream) {
  if (n > 0) {
    const bool vec = aligned16(x) && aligned16(y);
    unary_kernel<<<map_blocks(n, vec), kThreads, 0, stream>>>(x, y, n, vec, f);
  }
  return cudaGetLastError();
}

template <class F>
cudaError_t launch_binary(const float* a, const float* b, float* out, int64_t n, F f, cudaStream_t stream) {
  if (n > 0) {
    const bool vec = aligned16(a) && aligned16(b) && aligned16(out);
    binary_kernel<<<map_blocks(n, vec), kThreads, 0, stream>>>(a, b, out, n, vec, f);
  }
  return cudaGetLastError();
}

struct CopyOp {
  __device__ float operator()(float v) const { return v; }
};
template <Activation K>
struct ActOp {
  __device__ float operator()(float v) const { return activate(K, v); }
};
// dx = dy·act'(a): a is y (relu, tanh, sigmoid), x (gelu) or unused (none).
template <Activation K>
struct ActGradOp {
  __device__ float operator()(float a, float dy) const { return dy * activate_derivative(K, a, a); }
};
struct AddOp {
  __device__ float operator()(float a, float b) const { return a + b; }
};
struct MulOp {
  __device__ float operator()(float a, float b) const { return a * b; }
};

__global__ void fill_kernel(float* __restrict__ x, int64_t n, bool vec, float value) {
  int64_t start = 0;
  if (vec) {
    const int64_t n4 = n >> 2;
    float4* x4 = reinterpret_cast<float4*>(x);
    for (int64_t i = global_index(); i < n4; i += global_stride()) x4[i] = make_float4(value, value, value, value);
    start = n4 << 2;
  }
  for (int64_t i = start + global_index(); i < n; i += global_stride()) x[i] = value;
}

// ---- bias gradient ------------------------------------------------------------------------------

// One block per tile of 32 columns: thread (tx, ty) sums rows ty, ty + blockDim.y, ... of column
// c0 + tx in double (each warp reads 32 consecutive floats of a row: coalesced), then thread
// row ty = 0 adds the blockDim.y partials in order and does db += once. Deterministic: the
// partition of the rows depends only on blockDim.y, which depends only on `rows`.
constexpr int kBiasCols = 32;
constexpr int kBiasMaxRowGroups = 32;

__global__ void bias_grad_kernel(const float* __restrict__ dy, float* __restrict__ db, int64_t rows,
                                     int64_t cols) {
  __shared__ double partial[kBiasMaxRowGroups][kBiasCols + 1];
  const int tx = threadIdx.x, ty = threadIdx.y;
  for (int64_t tile = blockIdx.x; tile * kBiasCols < cols; tile += gridDim.x) {
    const int64_t c = tile * kBiasCols + tx;
    double s = 0.0;
    if (c < cols) {
      for (int64_t r = ty; r < rows; r += blockDim.y) s += dy[r * cols + c];
    }
    partial[ty][tx] = s;
    __syncthreads();
    if (ty == 0 && c < cols) {
      double total = 0.0;
      for (int k = 0; k < static_cast<int>(blockDim.y); ++k) total += partial[k][tx];
      db[c] = static_cast<float>(db[c] + total);
    }
    __syncthreads();  // partial is reused by the next tile
  }
}

// ---- dropout ------------------------------------------------------------------

__global__ void dropout_kernel(const float* x, float* y, float* __restrict__ mask, int64_t n, uint32_t seed,
                               uint32_t threshold, float scale) {
  for (int64_t i = global_index(); i < n; i += global_stride()) {
    const float m = keep_scale(seed, static_cast<uint32_t>(i), threshold, scale);
    mask[i] = m;
    y[i] = x[i] * m;
  }
}

}  // namespace

cudaError_t fill(float* x, int64_t n, float value, cudaStream_t stream) {
  if (n > 0) {
    const bool vec = aligned16(x);
    fill_kernel<<<map_blocks(n, vec), kThreads, 0, stream>>>(x, n, vec, value);
  }
  return cudaGetLastError();
}

cudaError_t copy(const float* src, float* dst, int64_t n, cudaStream_t stream) {
  return launch_unary(src, dst, n, CopyOp{}, stream);
}

// y = act(x); y may alias x.
cudaError_t activation_forward(Activation kind, const float* x, float* y, int64_t n, cudaStream_t stream) {
  switch (kind) {
    case Activation::relu:
      return launch_unary(x, y, n, ActOp<Activation::relu>{}, stream);
    case Activation::gelu:
      return launch_unary(x, y, n, ActOp<Activation::gelu>{}, stream);
    case Activation::tanh:
      return launch_unary(x, y, n, ActOp<Activation::tanh>{}, stream);
    case Activation::sigmoid:
      return launch_unary(x, y, n, ActOp<Activation::sigmoid>{}, stream);
    default:
      return launch_unary(x, y, n, ActOp<Activation::none>{}, stream);
  }
}

// dx = dy·act'(y, x): from y for relu/tanh/sigmoid, x for gelu (x may be null otherwise); dx may alias dy.
cudaError_t activation_backward(Activation kind, const float* y, const float* dy, float* dx, const float* x, int64_t n,
                                cudaStream_t stream) {
  switch (kind) {
    case Activation::relu:
      return launch_binary(y, dy, dx, n, ActGradOp<Activation::relu>{}, stream);
    case Activation::gelu:
      return launch_binary(x, dy, dx, n, ActGradOp<Activation::gelu>{}, stream);
    case Activation::tanh:
      return launch_binary(y, dy, dx, n, ActGradOp<Activation::tanh>{}, stream);
    case Activation::sigmoid:
      return launch_binary(y, dy, dx, n, ActGradOp<Activation::sigmoid>{}, stream);
    default:  // dx = dy·1; the first operand is not used
      return launch_binary(dy, dy, dx, n, ActGradOp<Activation::none>{}, stream);
  }
}

cudaError_t bias_grad(const float* dy, float* db, int64_t rows, int64_t cols, cudaStream_t stream) {
  if (rows > 0 && cols > 0) {
    // Row groups: 32 (1024 threads) for tall inputs, 8 for short ones.
    const int groups = rows >= 256 ? kBiasMaxRowGroups : 8;
    const int64_t tiles = (cols + kBiasCols - 1) / kBiasCols;
    const unsigned int blocks = static_cast<unsigned int>(tiles < 65535 ? tiles : 65535);
    bias_grad_kernel<<<blocks, dim3(kBiasCols, groups), 0, stream>>>(dy, db, rows, cols);
  }
  return cudaGetLastError();
}

// out = a + b, out = a ⊙ b (out may alias either).
cudaError_t add(const float* a, const float* b, float* out, int64_t n, cudaStream_t stream) {
  return launch_binary(a, b, out, n, AddOp{}, stream);
}

cudaError_t mul(const float* a, const float* b, float* out, int64_t n, cudaStream_t stream) {
  return launch_binary(a, b, out, n, MulOp{}, stream);
}

// mask = hash24(seed, i) >= threshold ? scale : 0, y = x ⊙ mask (y may alias x); threshold =
// ceil(p·2^24) computed on the host, scale = 1/(1−p); hash as ts/core/random.ts (hash32 >> 8).
cudaError_t dropout_forward(const float* x, float* y, float* mask, int64_t n, uint32_t seed, uint32_t threshold,
                            float scale, cudaStream_t stream) {
  if (n > 0) dropout_kernel<<<blocks_for(n, kThreads), kThreads, 0, stream>>>(x, y, mask, n, seed, threshold, scale);
  return cudaGetLastError();
}

}  // namespace hydranet::cuda

// ---- N-API entries (native/cuda/addon_device.h) ----------------------------------------

namespace hydranet::cuda_addon {

// activationForward(kind, x, y)
void activation_forward(const Args& a) {
  const float* x = a.dev(1, "x", -1);
  const int64_t n = a.last_count();
  check_cuda(hc::activation_forward(a.activation(0), x, a.dev(2, "y", n), n, state().stream), "activationForward");
}
const Export<activation_forward> export_activation_forward("activationForward", 3);

// activationBackward(kind, y, dy, dx, x|null)
void activation_backward(const Args& a) {
  const hc::Activation kind = a.activation(0);
  const float* y = a.dev(1, "y", -1);
  const int64_t n = a.last_count();
  const float* x = a.dev_or_null(4, "x", n);
  if (kind == hc::Activation::gelu && x == nullptr) a.type_error("gelu needs the input x");
  check_cuda(hc::activation_backward(kind, y, a.dev(2, "dy", n), a.dev(3, "dx", n), x, n, state().stream),
      "activationBackward");
}
const Export<activation_backward> export_activation_backward("activationBackward", 5);

// biasGrad(dy, db, rows, cols)
void bias_grad(const Args& a) {
  const int64_t rows = a.dim(2, "rows"), cols = a.dim(3, "cols");
  check_cuda(hc::bias_grad(a.dev(0, "dy", elements(a, "dy", {rows, cols})), a.dev(1, "db", cols), rows, cols,
      state().stream), "biasGrad");
}
const Export<bias_grad> export_bias_grad("biasGrad", 4);

// add(a, b, out), mul(a, b, out)
template <cudaError_t (*Op)(const float*, const float*, float*, int64_t, cudaStream_t)>
void binary(const Args& a) {
  const float* x = a.dev(0, "a", -1);
  const int64_t n = a.last_count();
  check_cuda(Op(x, a.dev(1, "b", n), a.dev(2, "out", n), n, state().stream), "add/mul");
}
const Export<binary<hc::add>> export_add("add", 3);
const Export<binary<hc::mul>> export_mul("mul", 3);

// dropoutForward(x, y, mask, seed, threshold, scale)
void dropout_forward(const Args& a) {
  const float* x = a.dev(0, "x", -1);
  const int64_t n = a.last_count();
  const hydranet::DropoutParams d = a.dropout(3);
  check_cuda(hc::dropout_forward(x, a.dev(1, "y", n), a.dev(2, "mask", n), n, d.seed, d.threshold, d.scale,
      state().stream), "dropoutForward");
}
const Export<dropout_forward> export_dropout_forward("dropoutForward", 6);

}  // namespace hydranet::cuda_addon
