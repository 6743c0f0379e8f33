// The gated mixture of experts (MixtureLayout in ts/backends/layouts.ts), for MMoE and CGC.
//   x   [E·sx]   expert e's rows [n, D] at e·sx          z, g, dz [n, Z]  task t's gate block of
//   out [T·so]   task t's rows [n, D] at t·so                             k_t columns at zoff_t
//   forward:  g = softmax(z) per task block (=);  out_t[i] = Σ_j g[i, zoff_t + j]·x_{e_j}[i]  (=)
//   backward: dG[i, j] = dout_t[i]·x_{e_j}[i];  dz = g ⊙ (dG − Σ_j g·dG) per block           (=)
//             dx_e[i] = Σ_{t, j: e_j = e} g[i, zoff_t + j]·dout_t[i]  (=, zero for unused experts)
// Rows are independent, so threads split the batch; sums over D accumulate in double.
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
  // The j-th expert of task t.
  int expert(int t, int j) const { return packed[6 + 2 * tasks + offset(t) + j]; }
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
  parallel_range(n, threads, kRowGrain, [&](int64_t r0, int64_t r1) {
    for (int64_t i = r0; i < r1; ++i) {
      for (int t = 0; t < m.tasks; ++t) {
        const int k = m.count(t);
        const float* zr = z + i * m.gate_width + m.offset(t);
        float* gr = g + i * m.gate_width + m.offset(t);
        float max = zr[0];
        for (int j = 1; j < k; ++j) max = std::max(max, zr[j]);
        double sum = 0;
        for (int j = 0; j < k; ++j) sum += std::exp(double(zr[j]) - max);
        for (int j = 0; j < k; ++j) gr[j] = static_cast<float>(std::exp(double(zr[j]) - max) / sum);
        float* o = out + t * m.so + i * D;
        std::fill(o, o + D, 0.0f);
        for (int j = 0; j < k; ++j) {
          const float w = gr[j];
          const float* xe = x + m.expert(t, j) * m.sx + i * D;
          for (int d = 0; d < D; ++d) o[d] += w * xe[d];
        }
      }
    }
  });
}

void mixture_backward(const int32_t* layout, const float* x, const float* g, const float* dout, float* dx, float* dz,
                      int n, int threads) {
  const Mixture m = read_mixture(layout);
  const int D = m.width;
  // The gate columns that read each expert, in (task, j) order, grouped by expert (a counting
  // sort: uses[first[e] .. first[e + 1]) are expert e's): one pass over an expert's row then
  // writes its dx row once and computes every dG that reads it, instead of one pass per
  // (task, j) over x and over dx (zeroed first).
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
  const auto dot_axpy = isa_extras().dot_axpy;
  parallel_range(n, threads, kRowGrain, [&](int64_t r0, int64_t r1) {
    std::vector<double> dg(m.gate_width);
    for (int64_t i = r0; i < r1; ++i) {
      const float* gr = g + i * m.gate_width;
      for (int e = 0; e < m.experts; ++e) {
        const float* xr = x + e * m.sx + i * D;
        float* dxr = dx + e * m.sx + i * D;
        if (first[e] == first[e + 1]) {
          std::fill(dxr, dxr + D, 0.0f);
          continue;
        }
        for (int u = first[e]; u < first[e + 1]; ++u) {
          // dx accumulates in (task, j) order from 0, as the reference's sum does.
          dg[uses[u].column] = dot_axpy(xr, dout + uses[u].task * m.so + i * D, gr[uses[u].column], dxr, D, u == first[e]);
        }
      }
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
