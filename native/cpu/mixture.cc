// The gated mixture of experts (MixtureLayout in ts/backends/layouts.ts), for MMoE and CGC.
//   x   [E·sx]   expert e's rows [n, D] at e·sx          z, g, dz [n, Z]  task t's gate block of
//   out [T·so]   task t's rows [n, D] at t·so                             k_t columns at zoff_t
//   forward:  g = softmax(z) per task block (=);  out_t[i] = Σ_j g[i, zoff_t + j]·x_{e_j}[i]  (=)
//   backward: dG[i, j] = dout_t[i]·x_{e_j}[i];  dz = g ⊙ (dG − Σ_j g·dG) per block           (=)
//             dx_e[i] = Σ_{t, j: e_j = e} g[i, zoff_t + j]·dout_t[i]  (=, zero for unused experts)
// Rows are independent, so threads split the batch (every row's arithmetic is the same at any
// thread count). The hot loops are the ISA's (isa_extras()): the forward's softmax takes one
// vector exp per logit and sums in double, its gated sums are f32 FMAs in gate-column order; the
// backward's sums over D accumulate in double.
#include <algorithm>
#include <cmath>
#include <vector>

#include "addon_args.h"
#include "kernels.h"
#include "threadpool.h"

namespace hydranet {
namespace {

struct Mixture {
  int tasks, experts, width;
  int64_t sx, so;
  int gate_width;
  const int32_t* packed;
  int count(int t) const { return packed[6 + 2 * t]; }
  int offset(int t) const { return packed[7 + 2 * t]; }
  // The expert of gate column c, and the j-th expert of task t.
  int expert_of(int c) const { return packed[6 + 2 * tasks + c]; }
  int expert(int t, int j) const { return expert_of(offset(t) + j); }
};

Mixture read_mixture(const int32_t* p) {
  return {p[0], p[1], p[2], p[3], p[4], p[5], p};
}

// Rows per thread below which splitting does not pay.
constexpr int64_t kRowGrain = 8;

}  // namespace

// The gated mixture of experts over a packed MixtureLayout (see mixture.cc).
void mixture_forward(const int32_t* layout, const float* x, const float* z, float* g, float* out, int n, int threads) {
  const Mixture m = read_mixture(layout);
  const int D = m.width;
  std::vector<int> counts(m.tasks);
  for (int t = 0; t < m.tasks; ++t) counts[t] = m.count(t);
  const IsaExtras& isa = isa_extras();
  // Each chunk's row and output pointers, made here (workers never allocate: threadpool.h).
  const int chunks = range_chunks(n, threads, kRowGrain);
  std::vector<const float*> row_ptrs(static_cast<size_t>(chunks) * m.gate_width);
  std::vector<float*> out_ptrs(static_cast<size_t>(chunks) * m.tasks);
  parallel_chunks(n, threads, kRowGrain, [&](int chunk, int64_t r0, int64_t r1) {
    const float** rows = row_ptrs.data() + static_cast<size_t>(chunk) * m.gate_width;
    float** outs = out_ptrs.data() + static_cast<size_t>(chunk) * m.tasks;
    for (int64_t i = r0; i < r1; ++i) {
      const float* zr = z + i * m.gate_width;
      float* gr = g + i * m.gate_width;
      for (int t = 0; t < m.tasks; ++t) {
        // Softmax of the block: the max in f32 (a NaN first logit makes it NaN, a later NaN
        // logit its own e; either way the sum and every gate of the block are NaN), one
        // e^(z − max) per logit by the ISA's vector exp (a few ulp) into g, summed in double.
        const int k = m.count(t), off = m.offset(t);
        float max = zr[off];
        for (int j = 1; j < k; ++j) max = std::max(max, zr[off + j]);
        isa.exp_shifted(zr + off, k, max, gr + off);
        double sum = 0;
        for (int j = 0; j < k; ++j) sum += gr[off + j];
        for (int j = 0; j < k; ++j) gr[off + j] = static_cast<float>(gr[off + j] / sum);
        outs[t] = out + t * m.so + i * D;
      }
      for (int c = 0; c < m.gate_width; ++c) rows[c] = x + m.expert_of(c) * m.sx + i * D;
      isa.gated_sums(rows, gr, counts.data(), m.tasks, outs, D);
    }
  });
}

void mixture_backward(const int32_t* layout, const float* x, const float* g, const float* dout, float* dx, float* dz,
                      int n, int threads) {
  const Mixture m = read_mixture(layout);
  const int D = m.width;
  // The gate columns that read each expert, in (task, j) order, grouped by expert (a counting
  // sort: uses[first[e] .. first[e + 1]) are expert e's): one pass over an expert's row
  // (isa_extras().expert_grads, up to 4 uses a pass) then writes its dx row once and computes
  // every dG that reads it, instead of one pass per (task, j) over x and over dx (zeroed first).
  struct Use {
    int task, column;
  };
  std::vector<int> first(m.experts + 1, 0);
  for (int t = 0; t < m.tasks; ++t) {
    for (int j = 0; j < m.count(t); ++j) ++first[m.expert(t, j) + 1];
  }
  for (int e = 0; e < m.experts; ++e) first[e + 1] += first[e];
  std::vector<Use> uses(first[m.experts]);
  {
    std::vector<int> next(first.begin(), first.end() - 1);
    for (int t = 0; t < m.tasks; ++t) {
      for (int j = 0; j < m.count(t); ++j) uses[next[m.expert(t, j)]++] = {t, m.offset(t) + j};
    }
  }
  const auto expert_grads = isa_extras().expert_grads;
  // Per chunk and use, in `uses` order: the task's dOut row, its gate, its dG; and per chunk the
  // dG by gate column. Made here: workers never allocate (threadpool.h).
  const int chunks = range_chunks(n, threads, kRowGrain);
  const size_t U = uses.size(), Z = static_cast<size_t>(m.gate_width);
  std::vector<const float*> row_ptrs(chunks * U);
  std::vector<float> gates(chunks * U);
  std::vector<double> use_dots(chunks * U), column_dots(chunks * Z);
  parallel_chunks(n, threads, kRowGrain, [&](int chunk, int64_t r0, int64_t r1) {
    const float** rows = row_ptrs.data() + chunk * U;
    float* w = gates.data() + chunk * U;
    double* dots = use_dots.data() + chunk * U;
    double* dg = column_dots.data() + chunk * Z;
    for (int64_t i = r0; i < r1; ++i) {
      const float* gr = g + i * m.gate_width;
      for (size_t u = 0; u < uses.size(); ++u) rows[u] = dout + uses[u].task * m.so + i * D, w[u] = gr[uses[u].column];
      for (int e = 0; e < m.experts; ++e) {
        float* dxr = dx + e * m.sx + i * D;
        const int k = first[e + 1] - first[e];
        if (k == 0) {
          std::fill(dxr, dxr + D, 0.0f);
          continue;
        }
        // dx accumulates in (task, j) order from 0, as the reference's sum does.
        const int u = first[e];
        expert_grads(x + e * m.sx + i * D, rows + u, w + u, k, dxr, dots + u, D);
      }
      for (size_t u = 0; u < uses.size(); ++u) dg[uses[u].column] = dots[u];
      for (int t = 0; t < m.tasks; ++t) {
        const int k = m.count(t), off = m.offset(t);
        double dot = 0;
        for (int j = 0; j < k; ++j) dot += gr[off + j] * dg[off + j];
        float* dzr = dz + i * m.gate_width + off;
        for (int j = 0; j < k; ++j) dzr[j] = static_cast<float>(gr[off + j] * (dg[off + j] - dot));
      }
    }
  });
}

}  // namespace hydranet

// ---- N-API entries (native/cpu/addon_args.h) ----------------------------------------

namespace hydranet::cpu_addon {

// mixtureForward(layout, x, z, g, out, n, threads)
void mixture_forward(const Args& a) {
  const layouts::Mixture L = layouts::mixture(a, 0, 5);
  hydranet::mixture_forward(L.packed, a.f32(1, "x", L.x), a.f32(2, "z", L.z), a.f32(3, "g", L.z),
                            a.f32(4, "out", L.out), L.n, a.threads(6));
}
const Export<mixture_forward> export_mixture_forward("mixtureForward", 7);

// mixtureBackward(layout, x, g, dOut, dx, dz, n, threads)
void mixture_backward(const Args& a) {
  const layouts::Mixture L = layouts::mixture(a, 0, 6);
  hydranet::mixture_backward(L.packed, a.f32(1, "x", L.x), a.f32(2, "g", L.z), a.f32(3, "dOut", L.out),
                             a.f32(4, "dx", L.x), a.f32(5, "dz", L.z), L.n, a.threads(7));
}
const Export<mixture_backward> export_mixture_backward("mixtureBackward", 8);

}  // namespace hydranet::cpu_addon
