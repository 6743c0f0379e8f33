// The CUDA backend's kernels: the host-side launchers that native/cuda/addon_cuda.cc exposes to
// JavaScript. Shapes and rules are those of ts/backends/backend.ts (the reference backend is the
// spec): dense row-major f32, "=" for activations and activation gradients, "+=" for parameter
// gradients (dw, db). Every launcher enqueues its kernels on `stream` and returns the launch
// status (cudaGetLastError after the launches): nothing here synchronises, allocates per call
// (scratch comes from a Workspace the addon owns), or throws. Arguments are trusted: the addon
// has checked every device range against its allocation and every dimension.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "../adamw.h"
#include "../geometry.h"

namespace hydranet::cuda {

// Indices of ACTIVATIONS in backend.ts: none, relu, gelu (tanh approximation), tanh, sigmoid.
enum class Activation : int { none = 0, relu = 1, gelu = 2, tanh = 3, sigmoid = 4 };

// Device scratch the addon allocates once and grows on demand (never per step): conv im2col
// columns, transposes. `ensure` is called by the addon before a launcher that needs `floats`.
struct Workspace {
  float* data = nullptr;
  size_t floats = 0;
};

// Four words a kernel sets when it finds bad data (a class index out of range): word 0 = 1
// once claimed (atomicCAS), then kernel-specific words (multiLoss: task, row, class bits). The
// addon reads them at the next read/sync and throws a LabelError.
struct Status {
  unsigned int* words = nullptr;  // device, 4 words
};

// ---- GEMM ------------------------------------------------------------------------------------
// One product C = act(alpha·op(A)·op(B) + beta·C + bias) with leading dimensions and element
// offsets (a task head's block of a concatenated weight matrix, say). op(A) [m, k]: A stored
// [m, k] (lda) or, transposed, [k, m]; op(B) [k, n]: B stored [k, n] or [n, k]. beta = 0 never
// reads C. bias: per column of C (or per row with bias_rows), may be null.
struct GemmProblem {
  int m, n, k;
  int64_t off_a, off_b, off_c, off_bias;
  int64_t lda, ldb, ldc;
};

// GemmProblem{...} in argument order, for the launchers that build problem lists.
inline GemmProblem gemm_problem(int m, int n, int k, int64_t off_a, int64_t off_b, int64_t off_c, int64_t off_bias,
                                int64_t lda, int64_t ldb, int64_t ldc) {
  return GemmProblem{m, n, k, off_a, off_b, off_c, off_bias, lda, ldb, ldc};
}

struct GemmLaunch {
  bool trans_a = false, trans_b = false;
  float alpha = 1.0f, beta = 0.0f;
  Activation act = Activation::none;
  bool bias_rows = false;
  // `batches` copies of every problem, copy b shifted by b·batch_* elements (conv images).
  int batches = 1;
  int64_t batch_a = 0, batch_b = 0, batch_c = 0, batch_bias = 0;
};

// Runs `count` problems (and their batches) in one launch: tensor cores in TF32 (mma.sync
// m16n8k8, f32 accumulate) on sm_80+, with the epilogue fused. `problems` is HOST memory; the
// launcher copies it into kernel parameters (at most kMaxGemmProblems per launch; more are
// split into several launches).
constexpr int kMaxGemmProblems = 16;
cudaError_t gemm(const GemmProblem* problems, int count, const GemmLaunch& g, const float* a, const float* b,
                 const float* bias, float* c, cudaStream_t stream);

// ---- elementwise (elementwise.cu) ------------------------------------------------------------
cudaError_t fill(float* x, int64_t n, float value, cudaStream_t stream);
cudaError_t copy(const float* src, float* dst, int64_t n, cudaStream_t stream);
// y = act(x); y may alias x.
cudaError_t activation_forward(Activation kind, const float* x, float* y, int64_t n, cudaStream_t stream);
// dx = dy·act'(y, x): from y for relu/tanh/sigmoid, x for gelu (x may be null otherwise); dx may alias dy.
cudaError_t activation_backward(Activation kind, const float* y, const float* dy, float* dx, const float* x, int64_t n,
                                cudaStream_t stream);
// db[j] += Σ_i dy[i, j], dy [rows, cols].
cudaError_t bias_grad(const float* dy, float* db, int64_t rows, int64_t cols, cudaStream_t stream);
// out = a + b, out = a ⊙ b (out may alias either).
cudaError_t add(const float* a, const float* b, float* out, int64_t n, cudaStream_t stream);
cudaError_t mul(const float* a, const float* b, float* out, int64_t n, cudaStream_t stream);
// mask = hash24(seed, i) >= threshold ? scale : 0, y = x ⊙ mask (y may alias x); threshold =
// ceil(p·2^24) computed on the host, scale = 1/(1−p); hash as ts/core/random.ts (hash32 >> 8).
cudaError_t dropout_forward(const float* x, float* y, float* mask, int64_t n, uint32_t seed, uint32_t threshold,
                            float scale, cudaStream_t stream);

// ---- channel-wise (channels.cu) -------------------------------------------------------------
// mask [rows] from hash24(seed, row); y [rows, plane] = x ⊙ mask per row (y may alias x).
cudaError_t dropout2d_forward(const float* x, float* y, float* mask, int64_t rows, int64_t plane, uint32_t seed,
                              uint32_t threshold, float scale, cudaStream_t stream);
// out [rows, plane] = x ⊙ s per row (out may alias x).
cudaError_t scale_channels(const float* x, const float* s, float* out, int64_t rows, int64_t plane,
                           cudaStream_t stream);

// ---- GradDrop (graddrop.cu) -----------------------------------------------------------------
// GradDrop over g [tasks, m] into out [m] (=), exactly as the reference decides its keeps
// (epsilon is GRADDROP_EPSILON of ts/backends/backend.ts).
cudaError_t graddrop_apply(const float* g, float* out, int tasks, int64_t m, uint32_t seed, double leak,
                           double epsilon, cudaStream_t stream);

// ---- optimizers (optim.cu): PyTorch semantics over whole arenas [n] -------------------------
cudaError_t sgd_step(float* p, const float* g, float* m, int64_t n, float lr, float momentum, float weight_decay,
                     bool nesterov, cudaStream_t stream);
// With the constants of native/adamw.h (formed once in f64 on the host, 1 − β never in f32).
cudaError_t adamw_step(float* p, const float* g, float* m, float* v, int64_t n, const AdamwParams& h,
                       cudaStream_t stream);

// ---- fused multi-task ops --------------------------------------------------------------------
// The task heads over a packed HeadLayout (layouts.ts: [mode (0 segmented, 1 shared, 2 stacked),
// T, stride, then per task: inSize, outSize, inOffset, outOffset, weightOffset]); `layout` is HOST
// memory. Built on gemm() (one launch for all heads) and bias_grad.
cudaError_t heads_forward(const int32_t* layout, const float* x, const float* w, const float* b, float* y, int n,
                          Activation act, cudaStream_t stream);
cudaError_t heads_backward(const int32_t* layout, const float* x, const float* w, const float* dy, float* dx,
                           float* dw, float* db, float* per_task_dx, int n, cudaStream_t stream);
// The fused multi-loss (LossLayout.packed, HOST memory: per task [kind, outOff, width, tgtOff,
// tgtWidth]): one block per task, warp-shuffle reductions; mask [n, T] or null. A softmax-ce
// target that is not an integer class in [0, width) on a labelled row sets `status`
// (words: 1, task, row, class bits).
cudaError_t loss_forward_backward(const int32_t* layout, int tasks, const float* logits, const float* targets, const float* mask,
                       const float* weights, float* losses, float* dlogits, int n, int total_out, int total_tgt,
                       Status status, cudaStream_t stream);
// The gated mixture of experts (MixtureLayout.packed, HOST memory).
cudaError_t mixture_forward(const int32_t* layout, int layout_len, const float* x, const float* z, float* g,
                            float* out, int n, cudaStream_t stream);
cudaError_t mixture_backward(const int32_t* layout, int layout_len, const float* x, const float* g, const float* dout,
                             float* dx, float* dz, int n, cudaStream_t stream);

// ---- image ops (NCHW) --------------------------------------------------------------------------
// The geometry as a ConvShape (native/geometry.h, decoded by the addon), as the CPU kernels take it.
// im2col + gemm(); `ws` must hold conv2d_workspace_floats(s, n) floats.
size_t conv2d_workspace_floats(const ConvShape& s, int n);
cudaError_t conv2d_forward(const ConvShape& s, const float* x, const float* w, const float* b, float* y, int n,
                           Activation act, Workspace ws, cudaStream_t stream);
// dw += ∂L/∂w, db (may be null) += Σ dy per channel, dx (may be null) = ∂L/∂x.
cudaError_t conv2d_backward(const ConvShape& s, const float* x, const float* w, const float* dy, float* dx,
                            float* dw, float* db, int n, Workspace ws, cudaStream_t stream);
// The geometry as a PoolShape (native/geometry.h). argmax as the float
// flat index h·W + w in the plane, first on ties, NaN wins, an all −∞ window gives its first.
cudaError_t max_pool2d_forward(const PoolShape& s, const float* x, float* y, float* argmax, int n,
                               cudaStream_t stream);
// dx = 0 except dx[argmax] += dy (a gather per dx element: no atomics, deterministic).
cudaError_t max_pool2d_backward(const PoolShape& s, const float* dy, const float* argmax, float* dx, int n,
                                cudaStream_t stream);

}  // namespace hydranet::cuda
