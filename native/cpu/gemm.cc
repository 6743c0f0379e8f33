// GEMM: C[m, n] = act(alpha·op(A)[m, k]·op(B)[k, n] + beta·C + bias[n]), "=" (beta = 1 for "+=").
//
// BLIS-style: for each nc-wide block of columns and kc-deep slice of k, B is packed into
// nr-wide panels [kc][nr]; for each mc-tall block of rows A is packed into mr-tall panels
// [kc][mr]; the per-ISA micro-kernel then computes mr × nr tiles from the two panels and
// applies the epilogue (beta·C on the first slice, bias and activation on the last). Packing
// makes transposes free: a transposed operand is packed with an in-register transpose.
// Threads split C into a grid of sub-matrices, each running the whole loop nest on its own
// packing buffers; small products run on the calling thread alone.
#include <algorithm>
#include <cmath>

#include "addon_args.h"
#include "threadpool.h"

namespace hydranet {
namespace {

// Below this many flops a second thread costs more than it saves.
constexpr double kParallelFlops = 1 << 21;
// Packing one element costs about this many multiply-adds of the micro-kernel.
constexpr double kPackCost = 16.0;

void gemm_serial(const GemmArgs& g, const IsaKernels& K, float* workspace) {
  float* pack_b = workspace;                                  // [nc / nr][kc][nr]
  float* pack_a = workspace + static_cast<size_t>(K.kc) * K.nc;  // [mc / mr][kc][mr]
  for (int jc = 0; jc < g.n; jc += K.nc) {
    const int nc = std::min(K.nc, g.n - jc);
    for (int pc = 0; pc < g.k; pc += K.kc) {
      const int kc = std::min(K.kc, g.k - pc);
      for (int j = 0; j < nc; j += K.nr) {
        const int valid = std::min(K.nr, nc - j);
        if (g.trans_b) {
          K.pack_transpose(g.b + (jc + j) * g.ldb + pc, g.ldb, valid, K.nr, kc, pack_b + j * kc);
        } else {
          K.pack_copy(g.b + pc * g.ldb + jc + j, g.ldb, valid, K.nr, kc, pack_b + j * kc);
        }
      }
      const bool first = pc == 0;
      const bool last = pc + kc >= g.k;
      TileEpilogue ep{g.alpha, first ? g.beta : 1.0f, !first || g.beta != 0.0f, nullptr,
                      last ? g.act : Activation::none};
      for (int ic = 0; ic < g.m; ic += K.mc) {
        const int mc = std::min(K.mc, g.m - ic);
        for (int i = 0; i < mc; i += K.mr) {
          const int valid = std::min(K.mr, mc - i);
          if (g.trans_a) {
            K.pack_copy(g.a + pc * g.lda + ic + i, g.lda, valid, K.mr, kc, pack_a + i * kc);
          } else {
            K.pack_transpose(g.a + (ic + i) * g.lda + pc, g.lda, valid, K.mr, kc, pack_a + i * kc);
          }
        }
        for (int j = 0; j < nc; j += K.nr) {
          ep.bias = last && g.bias ? g.bias + jc + j : nullptr;
          for (int i = 0; i < mc; i += K.mr) {
            K.micro_kernel(kc, pack_a + i * kc, pack_b + j * kc, g.c + (ic + i) * g.ldc + jc + j, g.ldc,
                           std::min(K.mr, mc - i), std::min(K.nr, nc - j), ep);
          }
        }
      }
    }
  }
}

// The sub-problem of rows [i0, i1) and columns [j0, j1) of C.
GemmArgs sub_problem(const GemmArgs& g, int i0, int i1, int j0, int j1) {
  GemmArgs s = g;
  s.m = i1 - i0;
  s.n = j1 - j0;
  s.a += g.trans_a ? i0 : i0 * g.lda;
  s.b += g.trans_b ? j0 * g.ldb : j0;
  s.c += i0 * g.ldc + j0;
  if (s.bias) s.bias += j0;
  return s;
}

// A tiny output over a long k (a Gram matrix G·Gᵀ of per-task gradients: T×T over k = the
// shared parameter count) with both operands' k runs contiguous (A not transposed, B
// transposed): micro-tiles would be almost all padding, so take plain dot products instead.
constexpr int kSmallOutput = 64;
constexpr int kSmallChunk = 4096;
constexpr int kSmallParts = 8;

// act(x) for one value, as the reference backend defines it (GELU: the tanh approximation).
float activate_scalar(Activation kind, float x) {
  switch (kind) {
    case Activation::relu: return x < 0 ? 0.0f : x;  // NaN stays NaN
    case Activation::tanh: return std::tanh(x);
    case Activation::sigmoid: return 1.0f / (1.0f + std::exp(-x));
    case Activation::gelu: return 0.5f * x * (1.0f + std::tanh(0.7978845608f * (x + 0.044715f * x * x * x)));
    case Activation::none: break;
  }
  return x;
}

bool small_output(const GemmArgs& g) {
  return g.m * g.n <= kSmallOutput && g.k >= 8 * g.m * g.n && !g.trans_a && g.trans_b;
}

// Σ a[i]·b[i] over [0, n): f32 lanes the compiler vectorises, each chunk summed into a double.
double dot(const float* a, const float* b, int64_t n) {
  double total = 0;
  for (int64_t c = 0; c < n; c += kSmallChunk) {
    const int64_t e = std::min<int64_t>(n, c + kSmallChunk);
    float lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = c;
    for (; i + 8 <= e; i += 8)
      for (int l = 0; l < 8; ++l) lanes[l] += a[i + l] * b[i + l];
    float tail = 0;
    for (; i < e; ++i) tail += a[i] * b[i];
    total += double(tail) + lanes[0] + lanes[1] + lanes[2] + lanes[3] + lanes[4] + lanes[5] + lanes[6] + lanes[7];
  }
  return total;
}

void gemm_small_output(const GemmArgs& g, int threads) {
  // The k range is cut into parts by k alone, each part summed by one task, and the caller adds
  // the parts in a fixed order, so the result depends neither on scheduling nor on the thread
  // count (a 1-thread and a 2-thread run give the same bits).
  const int parts = std::max(1, std::min(kSmallParts, static_cast<int>(g.k / kSmallChunk)));
  double partial[kSmallParts][kSmallOutput] = {};
  auto task = [&](int t, float*) {
    const int64_t k0 = int64_t(g.k) * t / parts, k1 = int64_t(g.k) * (t + 1) / parts;
    for (int i = 0; i < g.m; ++i)
      for (int j = 0; j < g.n; ++j)
        partial[t][i * g.n + j] = dot(g.a + i * g.lda + k0, g.b + j * g.ldb + k0, k1 - k0);
  };
  ThreadPool::instance().parallel_for(parts, std::min(threads, parts), 0, task);
  for (int i = 0; i < g.m; ++i) {
    for (int j = 0; j < g.n; ++j) {
      double acc = 0;
      for (int t = 0; t < parts; ++t) acc += partial[t][i * g.n + j];
      float x = g.alpha * static_cast<float>(acc);
      float* c = g.c + i * g.ldc + j;
      if (g.beta != 0.0f) x += g.beta * *c;
      if (g.bias) x += g.bias[j];
      *c = activate_scalar(g.act, x);
    }
  }
}

}  // namespace

size_t gemm_workspace_floats() {
  const IsaKernels& K = isa_kernels();
  return static_cast<size_t>(K.kc) * K.nc + static_cast<size_t>(K.mc) * K.kc;
}

void gemm_serial(const GemmArgs& g, float* workspace) {
  if (g.m <= 0 || g.n <= 0) return;
  gemm_serial(g, isa_kernels(), workspace);
}

void gemm(const GemmArgs& g, int threads) {
  if (g.m <= 0 || g.n <= 0) return;
  if (small_output(g)) return gemm_small_output(g, threads);
  const IsaKernels& K = isa_kernels();
  const int mp = (g.m + K.mr - 1) / K.mr;  // row panels
  const int np = (g.n + K.nr - 1) / K.nr;  // column panels
  if (2.0 * g.m * g.n * g.k < kParallelFlops) threads = 1;
  // The grid tm × tn of threads with the least work on the busiest thread.
  int tm = 1, tn = 1;
  double best = INFINITY;
  for (int r = 1; r <= threads; ++r) {
    if (threads % r != 0) continue;
    const int c = threads / r;
    if (r > mp || c > np) continue;
    const double tiles = std::ceil(double(mp) / r) * std::ceil(double(np) / c) * K.mr * K.nr;
    const double cost = (tiles + kPackCost * (double(g.m) / r + double(g.n) / c)) * g.k;
    if (cost < best) best = cost, tm = r, tn = c;
  }
  const size_t workspace = gemm_workspace_floats();
  auto task = [&](int t, float* ws) {
    const int ti = t / tn, tj = t % tn;
    const int i0 = std::min(g.m, mp * ti / tm * K.mr), i1 = std::min(g.m, mp * (ti + 1) / tm * K.mr);
    const int j0 = std::min(g.n, np * tj / tn * K.nr), j1 = std::min(g.n, np * (tj + 1) / tn * K.nr);
    if (i0 < i1 && j0 < j1) gemm_serial(sub_problem(g, i0, i1, j0, j1), K, ws);
  };
  ThreadPool::instance().parallel_for(tm * tn, tm * tn, workspace, task);
}

}  // namespace hydranet

// ---- N-API entries (native/cpu/addon_args.h) ----------------------------------------

namespace hydranet::cpu_addon {

// gemm(a, b, c, bias|null, m, n, k, transA, transB, alpha, beta, activation, threads)
void gemm(const Args& a) {
  hydranet::GemmArgs g;
  g.m = a.dim(4, "m"), g.n = a.dim(5, "n"), g.k = a.dim(6, "k");
  g.trans_a = a.boolean(7, "transA"), g.trans_b = a.boolean(8, "transB");
  g.a = a.f32(0, "a", elements(a, "a", {g.m, g.k}));
  g.b = a.f32(1, "b", elements(a, "b", {g.k, g.n}));
  g.c = a.f32(2, "c", elements(a, "c", {g.m, g.n}));
  g.bias = a.f32_or_null(3, "bias", g.n);
  g.lda = g.trans_a ? g.m : g.k;
  g.ldb = g.trans_b ? g.k : g.n;
  g.ldc = g.n;
  g.alpha = static_cast<float>(a.number(9, "alpha"));
  g.beta = static_cast<float>(a.number(10, "beta"));
  g.act = a.activation(11);
  hydranet::gemm(g, a.threads(12));
}
const Export<gemm> export_gemm("gemm", 13);

}  // namespace hydranet::cpu_addon
