// The task heads as one operation (HeadLayout in ts/backends/backend.ts). Task t maps its input
// x_t — rows of ldx elements starting at x + inOff_t: all of x [n, D] when the input is shared,
// columns [inOff_t, inOff_t + in_t) of x [n, Σin] when segmented, the block at t·stride when
// stacked (ldx = in_t) — to output columns [outOff_t, outOff_t + out_t) of y [n, totalOut], with
// W_t [out_t, in_t] at w + wOff_t and b_t = b[outOff_t ...]. Every product is a GEMM on strided
// sub-matrices, no copies.
//   forward:  y_t = act(x_t·W_tᵀ + b_t)                   "="  (shared input: ONE GEMM with W [Σout, D])
//   backward: dW_t += dy_tᵀ·x_t, db += Σ_rows dy          "+=" (shared input: ONE GEMM for all dW)
//             dx = Σ_t dy_t·W_t (shared: ONE GEMM dy[n, Σout]·W[Σout, D]) or dx_t = dy_t·W_t   "="
//             per_task_dx[t] = dy_t·W_t [n, D] (shared only)                                   "="
#include <algorithm>

#include "addon_args.h"
#include "threadpool.h"

namespace hydranet {
namespace {

struct HeadTask {
  int in, out, in_off, out_off, w_off;
};

// Packed layout: [mode (0 segmented, 1 shared, 2 stacked), T, stride, then 5 per task].
constexpr int kHeader = 3;

struct Heads {
  bool shared;
  int tasks;
  int64_t ldx;  // row stride of every x_t (and dx_t)
  int total_out;
  const int32_t* packed;
  HeadTask task(int t) const {
    const int32_t* p = packed + kHeader + 5 * t;
    return {p[0], p[1], p[2], p[3], p[4]};
  }
};

Heads read_layout(const int32_t* packed) {
  Heads h{packed[0] == 1, packed[1], 0, 0, packed};
  const HeadTask last = h.task(h.tasks - 1);
  h.ldx = packed[0] == 0 ? last.in_off + last.in : last.in;
  h.total_out = last.out_off + last.out;
  return h;
}

}  // namespace

// The task heads (HeadLayout.packed in ts/backends/layouts.ts: [mode (0 segmented, 1 shared, 2 stacked),
// T, stride, then per task: in, out, inOff, outOff, wOff]; decoded and checked by native/layouts.h).
// y[n, Σout] = act(x·W_tᵀ + b_t) per task; one GEMM when the input is shared.
void heads_forward(const int32_t* layout, const float* x, const float* w, const float* b, float* y, int n,
                   Activation act, int threads) {
  const Heads h = read_layout(layout);
  const int groups = h.shared ? 1 : h.tasks;
  for (int t = 0; t < groups; ++t) {
    const HeadTask s = h.task(t);
    const int out = h.shared ? h.total_out : s.out;
    GemmArgs g = product(n, out, s.in, x + s.in_off, h.ldx, false, w + s.w_off, s.in, true, y + s.out_off,
                         h.total_out, 0.0f);
    g.bias = b + s.out_off;
    g.act = act;
    gemm(g, threads);
  }
}

namespace {

// A shared input's dW and dx GEMMs are independent and, for small heads, each too small to split
// well across two threads (each thread would pack the other's panels again): on two threads and
// between these sizes (flops of each) they run as the two tasks of ONE hand-off, each GEMM whole
// on one thread. With more threads each GEMM is split as usual. gemm_serial gives the bits gemm
// gives here (neither takes gemm's dot-product path).
constexpr double kPairMinFlops = 1 << 19;
constexpr double kPairMaxFlops = 1 << 23;

bool run_as_pair(const GemmArgs& a, const GemmArgs& b, int threads) {
  const double fa = 2.0 * a.m * a.n * a.k, fb = 2.0 * b.m * b.n * b.k;
  if (threads != 2 || std::min(fa, fb) < kPairMinFlops || std::max(fa, fb) > kPairMaxFlops) return false;
  const GemmArgs pair[2] = {a, b};
  auto task = [&](int t, float* workspace) { gemm_serial(pair[t], workspace); };
  ThreadPool::instance().parallel_for(2, 2, gemm_workspace_floats(), task);
  return true;
}

}  // namespace

// dw += dy_tᵀ·x_t, db += Σ_rows dy; dx (may be null) = Σ_t dy_t·W_t (shared) or per segment;
// per_task_dx (may be null, shared only) [T, n, D] = dy_t·W_t.
void heads_backward(const int32_t* layout, const float* x, const float* w, const float* dy, float* dx, float* dw,
                    float* db, float* per_task_dx, int n, int threads) {
  const Heads h = read_layout(layout);
  const int groups = h.shared ? 1 : h.tasks;
  // Group t's dW += dy_tᵀ·x_t and dx_t = dy_t·W_t (a shared input: one group over every task).
  auto dw_product = [&](int t) {
    const HeadTask s = h.task(t);
    const int out = h.shared ? h.total_out : s.out;
    return product(out, s.in, n, dy + s.out_off, h.total_out, true, x + s.in_off, h.ldx, false, dw + s.w_off, s.in,
                   1.0f);
  };
  auto dx_product = [&](int t) {
    const HeadTask s = h.task(t);
    const int out = h.shared ? h.total_out : s.out;
    return product(n, s.in, out, dy + s.out_off, h.total_out, false, w + s.w_off, s.in, false, dx + s.in_off, h.ldx,
                   0.0f);
  };
  if (h.shared && dx && !per_task_dx && run_as_pair(dw_product(0), dx_product(0), threads)) {
    bias_grad(dy, db, n, h.total_out, threads);
    return;
  }
  for (int t = 0; t < groups; ++t) {
    gemm(dw_product(t), threads);
    if (dx) gemm(dx_product(t), threads);
  }
  if (per_task_dx) {
    for (int t = 0; t < h.tasks; ++t) {
      const HeadTask s = h.task(t);
      gemm(product(n, s.in, s.out, dy + s.out_off, h.total_out, false, w + s.w_off, s.in, false,
                           per_task_dx + static_cast<int64_t>(t) * n * s.in, s.in, 0.0f),
                   threads);
    }
  }
  bias_grad(dy, db, n, h.total_out, threads);
}

}  // namespace hydranet

// ---- N-API entries (native/cpu/addon_args.h) ----------------------------------------

namespace hydranet::cpu_addon {

// headsForward(layout, x, w, b, y, n, activation, threads)
void heads_forward(const Args& a) {
  const layouts::Heads L = layouts::heads(a, 0, 5);
  hydranet::heads_forward(L.packed, a.f32(1, "x", L.x), a.f32(2, "w", L.weights), a.f32(3, "b", L.total_out),
                          a.f32(4, "y", L.y), L.n, a.activation(6), a.threads(7));
}
const Export<heads_forward> export_heads_forward("headsForward", 8);

// headsBackward(layout, x, w, dy, dx|null, dw, db, perTaskDx|null, n, threads)
void heads_backward(const Args& a) {
  const layouts::Heads L = layouts::heads(a, 0, 8);
  float* per_task = a.f32_or_null(7, "perTaskDx", L.per_task);
  if (per_task && L.mode != 1) a.range_error("perTaskDx needs a layout with a shared input");
  hydranet::heads_backward(L.packed, a.f32(1, "x", L.x), a.f32(2, "w", L.weights), a.f32(3, "dy", L.y),
                           a.f32_or_null(4, "dx", L.x), a.f32(5, "dw", L.weights), a.f32(6, "db", L.total_out),
                           per_task, L.n, a.threads(9));
}
const Export<heads_backward> export_heads_backward("headsBackward", 10);

}  // namespace hydranet::cpu_addon
