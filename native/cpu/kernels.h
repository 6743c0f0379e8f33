// The CPU backend's kernels: the C++ surface that native/addon.cc exposes to JavaScript. Shapes
// and rules are those of ts/backends/backend.ts: tensors are dense row-major f32, "=" for
// activations and activation gradients, "+=" for parameter gradients (dw, db). Every function
// takes `threads`, the most threads it may use (1 = the calling thread only). Arguments are
// trusted: the addon has checked every length against the dimensions.
#pragma once

#include <cstddef>
#include <cstdint>

#include "cpu_features.h"
#include "../geometry.h"
#include "../random.h"

namespace hydranet {

// C[m, n] = act(alpha·op(A)·op(B) + beta·C + bias), op(A) [m, k], op(B) [k, n]. Leading
// dimensions make sub-matrices (one task's columns) usable in place. beta = 0 never reads C.
struct GemmArgs {
  int m = 0, n = 0, k = 0;
  const float* a = nullptr;
  int64_t lda = 0;
  bool trans_a = false;  // A stored [k, m]
  const float* b = nullptr;
  int64_t ldb = 0;
  bool trans_b = false;  // B stored [n, k]
  float* c = nullptr;
  int64_t ldc = 0;
  float alpha = 1.0f, beta = 0.0f;
  const float* bias = nullptr;  // [n] or null
  Activation act = Activation::none;
};
void gemm_forward(const GemmArgs& g, int threads);

// The arguments of C [m, n] (row stride ldc) = op(A)·op(B) + beta·C on strided sub-matrices
// (alpha 1, no bias, no activation).
inline GemmArgs product(int m, int n, int k, const float* a, int64_t lda, bool trans_a, const float* b, int64_t ldb,
                        bool trans_b, float* c, int64_t ldc, float beta) {
  GemmArgs g;
  g.m = m, g.n = n, g.k = k;
  g.a = a, g.lda = lda, g.trans_a = trans_a;
  g.b = b, g.ldb = ldb, g.trans_b = trans_b;
  g.c = c, g.ldc = ldc, g.beta = beta;
  return g;
}
// The same product on the calling thread alone, packing into `workspace` (at least
// gemm_workspace_floats() values): for kernels that thread over their own tasks (conv.cc).
// Gives the same bits as gemm_forward wherever gemm_forward does not take its dot-product path
// (tiny m·n over a long k with A plain and B transposed).
size_t gemm_workspace_floats();
void gemm_serial(const GemmArgs& g, float* workspace);

// y = act(x) [n]; y may alias x.
void activation_forward(Activation kind, const float* x, float* y, int64_t n, int threads);
// dx = dy·act'(·) [n] from y (relu, tanh, sigmoid) or x (gelu); dx may alias dy.
void activation_backward(Activation kind, const float* y, const float* dy, float* dx, const float* x, int64_t n,
                         int threads);
// db[j] += Σ_i dy[i, j]; dy [rows, cols].
void bias_grad(const float* dy, float* db, int64_t rows, int64_t cols, int threads);
// out = a ⊙ b [n]; out may alias either.
void mul_forward(const float* a, const float* b, float* out, int64_t n, int threads);
// out = a + b [n] (out may alias a or b).
void add_forward(const float* a, const float* b, float* out, int64_t n, int threads);
// mask = keep(seed, i) ? scale : 0, y = x ⊙ mask [n] (keep as dropoutKeep in ts/core/random.ts, see DropoutParams).
void dropout_forward(const float* x, float* y, float* mask, int64_t n, const DropoutParams& d, int threads);
// The gated mixture of experts over a packed MixtureLayout (see mixture.cc).
void mixture_forward(const int32_t* layout, const float* x, const float* z, float* g, float* out, int n, int threads);
void mixture_backward(const int32_t* layout, const float* x, const float* g, const float* dout, float* dx, float* dz,
                      int n, int threads);
// GradDrop over per-task gradients g [tasks, m] into out [m] (see graddrop.cc).
void graddrop_apply(const float* g, float* out, int tasks, int64_t m, uint32_t seed, double leak, double epsilon,
                    int threads);

// ---- image ops (NCHW), see conv.cc and pool.cc; ConvShape and PoolShape in native/geometry.h ----
// y [n, outC, outH, outW] = act(conv2d(x [n, C, H, W], w [outC, C, kh, kw]) + b [outC] or 0).
void conv2d_forward(const ConvShape& s, const float* x, const float* w, const float* b, float* y, int n,
                    Activation act, int threads);
// dw += ∂L/∂w, db (may be null) += Σ dy per channel, dx (may be null) = ∂L/∂x, from dy.
void conv2d_backward(const ConvShape& s, const float* x, const float* w, const float* dy, float* dx, float* dw,
                     float* db, int n, int threads);
// y, argmax [n, C, outH, outW] (=): each window's max and its flat index h·W + w in the plane.
void max_pool2d_forward(const PoolShape& s, const float* x, float* y, float* argmax, int n, int threads);
// dx [n, C, H, W] = 0, then dx[plane, argmax] += dy. Returns -1, or the position in argmax of
// the first value that is not an integer index within the plane (those are skipped, never written).
int64_t max_pool2d_backward(const PoolShape& s, const float* dy, const float* argmax, float* dx, int n, int threads);
// ---- channel-wise ops (NCHW as [rows = N·C, plane]), see channels.cc ----
// mask [rows] = keep(seed, row) ? scale : 0, y [rows, plane] = x ⊙ mask per row.
void dropout2d_forward(const float* x, float* y, float* mask, int64_t rows, int64_t plane, const DropoutParams& d,
                       int threads);
// out [rows, plane] = x ⊙ s per row (out may alias x).
void scale_channels(const float* x, const float* s, float* out, int64_t rows, int64_t plane, int threads);

// The task heads (HeadLayout.packed in ts/backends/layouts.ts: [mode (0 segmented, 1 shared, 2 stacked),
// T, stride, then per task: in, out, inOff, outOff, wOff]; decoded and checked by native/layouts.h).
// y[n, Σout] = act(x·W_tᵀ + b_t) per task; one GEMM when the input is shared.
void heads_forward(const int32_t* layout, const float* x, const float* w, const float* b, float* y, int n,
                   Activation act, int threads);
// dw += dy_tᵀ·x_t, db += Σ_rows dy; dx (may be null) = Σ_t dy_t·W_t (shared) or per segment;
// per_task_dx (may be null, shared only) [T, n, D] = dy_t·W_t.
void heads_backward(const int32_t* layout, const float* x, const float* w, const float* dy, float* dx, float* dw,
                    float* db, float* per_task_dx, int n, int threads);

// The fused multi-loss (LossLayout.packed: per task [kind, outOff, width, tgtOff, tgtWidth]).
// logits, dlogits [n, total_out], targets [n, total_tgt], mask [n, T] or null, weights [T],
// losses [T]. Returns -1, or the first unlabelled-class row as task·n + row when a softmax-ce
// target is not an integer class index (nothing is written then).
int64_t loss_forward_backward(const int32_t* layout, int tasks, const float* logits, const float* targets,
                                    const float* mask, const float* weights, float* losses, float* dlogits, int n,
                                    int total_out, int total_tgt, int threads);

// PyTorch SGD (dampening 0) and AdamW over whole parameter arenas [n].
void optim_sgd_step(float* p, const float* g, float* m, int64_t n, const SgdParams& h, int threads);
void optim_adamw_step(float* p, const float* g, float* m, float* v, int64_t n, const AdamwParams& h, int threads);

}  // namespace hydranet
