// The CPU kernels that other kernel files call (gemm.cc's GEMM: heads.cc and conv.cc build on
// it; bias_grad: heads.cc). A kernel used only in its own file (native/cpu/<family>.cc, beside
// its N-API entry) is defined there and needs no line here. Shapes and rules are those of
// ts/backends/backend.ts: tensors are dense row-major f32, "=" for activations and activation
// gradients, "+=" for parameter gradients (dw, db). Every kernel takes `threads`, the most
// threads it may use (1 = the calling thread only). Arguments are trusted: the entries have
// checked every length against the dimensions.
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
void gemm(const GemmArgs& g, int threads);

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
// Gives the same bits as gemm wherever gemm does not take its dot-product path
// (tiny m·n over a long k with A plain and B transposed).
size_t gemm_workspace_floats();
void gemm_serial(const GemmArgs& g, float* workspace);

// Per-ISA loops (isa_kernels.inc) beside the kernel table of cpu_features.h. isa_extras() is the
// copy of the ISA that isa_kernels() runs.
struct IsaExtras {
  // sum[c] = Σ_r x[r·ld + c], c in [0, cols), each column summed in double in row order (the
  // bits of the plain loop): bias_grad's sums.
  void (*column_sums)(const float* x, int64_t ld, int64_t rows, int cols, double* sum);
  // out[j] = e^(z[j] − shift), j in [0, n), by simd.h's vexp (a few ulp; NaN stays NaN; below
  // e^−103 it gives about 1e-45, not 0): the loss's softmax numerators.
  void (*exp_shifted)(const float* z, int n, float shift, float* out);
  // One expert row x [n] of the mixture backward and the `uses` gate columns that read it (task
  // rows g[u], gates w[u]), in one pass over x: dot[u] = Σ_d x[d]·g[u][d] in double (per-lane
  // partial sums, then added in lane order): each column's dG; and y[d] = Σ_u w[u]·g[u][d] in u
  // order from 0 (a multiply-add each): the expert's dx row.
  void (*expert_grads)(const float* x, const float* const* g, const float* w, int uses, float* y, double* dot, int n);
  // For every task t < tasks, its gate block the next counts[t] columns c (from column 0):
  // out[t][d] = Σ_c w[c]·rows[c][d], d in [0, n), f32 FMAs in column order from 0; blocks of d
  // held in registers across a task's columns, so a row several tasks read leaves memory once:
  // the mixture forward's gated sums of one batch row.
  void (*gated_sums)(const float* const* rows, const float* w, const int* counts, int tasks, float* const* out, int n);
};
const IsaExtras& isa_extras();
const IsaExtras& isa_scalar_extras();
const IsaExtras& isa_avx2_extras();
const IsaExtras& isa_avx512_extras();

// db[j] += Σ_i dy[i, j]; dy [rows, cols] (elementwise.cc; heads.cc sums its bias gradients with it).
void bias_grad(const float* dy, float* db, int64_t rows, int64_t cols, int threads);

}  // namespace hydranet
