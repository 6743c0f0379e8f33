// The CUDA launchers that other files call (gemm: heads.cu and conv.cu build on it; fill, copy,
// bias_grad) and the types every launcher shares. A launcher used only in its own file
// (native/cuda/<family>.cu, beside its N-API entry) is defined there and needs no line here.
// Shapes and rules are those of ts/backends/backend.ts (the reference backend is the spec): dense row-major f32, "=" for activations and activation gradients, "+=" for parameter
// gradients (dw, db). Every launcher enqueues its kernels on `stream` and returns the launch
// status (cudaGetLastError after the launches): nothing here synchronises, allocates per call
// (scratch comes from a Workspace the addon owns), or throws. Arguments are trusted: the entries
// have checked every device range against its allocation and every dimension.
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

// ---- elementwise (elementwise.cu): the device entries fill and copy, conv.cu and heads.cu ----
cudaError_t fill(float* x, int64_t n, float value, cudaStream_t stream);
cudaError_t copy(const float* src, float* dst, int64_t n, cudaStream_t stream);
// db[j] += Σ_i dy[i, j], dy [rows, cols].
cudaError_t bias_grad(const float* dy, float* db, int64_t rows, int64_t cols, cudaStream_t stream);

}  // namespace hydranet::cuda
