// The fused task heads of the CUDA backend, as GEMM problem lists (the structure of
// ts/backends/webgpu/heads.ts): one gemm() launch per product family — one problem over the
// concatenated weights W [Σout, D] when the input is shared, one problem per task otherwise —
// plus one bias_grad launch for every head's db.
//
// Layout (HeadLayout.packed): [mode (0 segmented, 1 shared, 2 stacked), T, stride, then per task
// in, out, inOff, outOff, wOff]. x_t: rows of ldx elements from x + inOff_t (ldx = D shared,
// Σ in segmented, in stacked); W_t [out_t, in_t] at wOff_t; y/dy [n, Σout].
//   forward   y[:, seg_t] = act(x_t·W_tᵀ + b_t)            (bias per column, activation fused)
//   backward  dW_t += dy_tᵀ·x_t;  db += Σ_rows dy;  dx = Σ_t dy_t·W_t (shared) or dx_t = dy_t·W_t;
//             per_task_dx[t] = dy_t·W_t [n, D] (shared input only)
// Problem lists are built on the stack (≤ kMaxGemmProblems per launch; gemm() splits longer
// lists into several launches itself, so they are built in chunks here too).
#include "addon_device.h"

namespace hydranet::cuda {
namespace {

struct Task {
  int in, out, in_off, out_off, w_off;
};

struct Heads {
  int mode;  // 0 segmented, 1 shared, 2 stacked
  int tasks;
  int ldx;
  int total_out;
  const int32_t* packed;
  bool shared() const { return mode == 1; }
  Task task(int t) const {
    const int32_t* p = packed + 3 + 5 * t;
    return {p[0], p[1], p[2], p[3], p[4]};
  }
};

Heads read_layout(const int32_t* packed) {
  Heads h{packed[0], packed[1], 0, 0, packed};
  const Task last = h.task(h.tasks - 1);
  h.ldx = h.mode == 0 ? last.in_off + last.in : last.in;
  h.total_out = last.out_off + last.out;
  return h;
}


// Runs make(t) for every task t, kMaxGemmProblems problems per gemm() call.
template <typename Make>
cudaError_t per_task(const Heads& h, const GemmLaunch& g, const float* a, const float* b, const float* bias, float* c,
                     cudaStream_t stream, Make make) {
  GemmProblem list[kMaxGemmProblems];
  for (int first = 0; first < h.tasks; first += kMaxGemmProblems) {
    const int count = h.tasks - first < kMaxGemmProblems ? h.tasks - first : kMaxGemmProblems;
    for (int i = 0; i < count; ++i) list[i] = make(first + i);
    const cudaError_t e = gemm(list, count, g, a, b, bias, c, stream);
    if (e != cudaSuccess) return e;
  }
  return cudaSuccess;
}

}  // namespace

// The task heads over a packed HeadLayout (layouts.ts: [mode (0 segmented, 1 shared, 2 stacked),
// T, stride, then per task: inSize, outSize, inOffset, outOffset, weightOffset]); `layout` is HOST
// memory. Built on gemm() (one launch for all heads) and bias_grad.
cudaError_t heads_forward(const int32_t* layout, const float* x, const float* w, const float* b, float* y, int n,
                          Activation act, cudaStream_t stream) {
  const Heads h = read_layout(layout);
  if (n <= 0) return cudaGetLastError();
  GemmLaunch g;
  g.trans_b = true;  // W_t stored [out, in]: op(B) = W_tᵀ
  g.act = act;
  if (h.shared()) {
    // y [n, Σout] = act(x [n, D] · W [Σout, D]ᵀ + b)
    const GemmProblem p = gemm_problem(n, h.total_out, h.ldx, 0, 0, 0, 0, h.ldx, h.ldx, h.total_out);
    return gemm(&p, 1, g, x, w, b, y, stream);
  }
  const cudaError_t e = per_task(h, g, x, w, b, y, stream, [&](int t) {
    const Task s = h.task(t);
    return gemm_problem(n, s.out, s.in, s.in_off, s.w_off, s.out_off, s.out_off, h.ldx, s.in, h.total_out);
  });
  return e != cudaSuccess ? e : cudaGetLastError();
}

cudaError_t heads_backward(const int32_t* layout, const float* x, const float* w, const float* dy, float* dx,
                           float* dw, float* db, float* per_task_dx, int n, cudaStream_t stream) {
  const Heads h = read_layout(layout);
  if (n <= 0) return cudaGetLastError();
  const int out = h.total_out;
  cudaError_t e;

  // dW_t [out_t, in_t] += dy_tᵀ · x_t: op(A) = dyᵀ (dy stored [n, Σout], lda = Σout), B = x_t.
  GemmLaunch gw;
  gw.trans_a = true;
  gw.beta = 1.0f;
  if (h.shared()) {
    const GemmProblem p = gemm_problem(out, h.ldx, n, 0, 0, 0, 0, out, h.ldx, h.ldx);
    e = gemm(&p, 1, gw, dy, x, nullptr, dw, stream);
  } else {
    e = per_task(h, gw, dy, x, nullptr, dw, stream, [&](int t) {
      const Task s = h.task(t);
      return gemm_problem(s.out, s.in, n, s.out_off, s.in_off, s.w_off, 0, out, h.ldx, s.in);
    });
  }
  if (e != cudaSuccess) return e;

  // db [Σout] += Σ_rows dy
  if ((e = bias_grad(dy, db, n, out, stream)) != cudaSuccess) return e;

  // dx = dy_t · W_t (A = dy, B = W_t stored [out_t, in_t] as is).
  const GemmLaunch gx;
  if (dx) {
    if (h.shared()) {
      // dx [n, D] = dy [n, Σout] · W [Σout, D]: the sum over tasks is the k loop.
      const GemmProblem p = gemm_problem(n, h.ldx, out, 0, 0, 0, 0, out, h.ldx, h.ldx);
      e = gemm(&p, 1, gx, dy, w, nullptr, dx, stream);
    } else {
      e = per_task(h, gx, dy, w, nullptr, dx, stream, [&](int t) {
        const Task s = h.task(t);
        return gemm_problem(n, s.in, s.out, s.out_off, s.w_off, s.in_off, 0, out, s.in, h.ldx);
      });
    }
    if (e != cudaSuccess) return e;
  }
  // per_task_dx [T, n, D]: task t's own dy_t · W_t at t·n·D (shared input only: in_t = D).
  if (per_task_dx) {
    e = per_task(h, gx, dy, w, nullptr, per_task_dx, stream, [&](int t) {
      const Task s = h.task(t);
      return gemm_problem(n, s.in, s.out, s.out_off, s.w_off, int64_t{t} * n * s.in, 0, out, s.in, s.in);
    });
    if (e != cudaSuccess) return e;
  }
  return cudaGetLastError();
}

}  // namespace hydranet::cuda

// ---- N-API entries (native/cuda/addon_device.h) ----------------------------------------

namespace hydranet::cuda_addon {

// headsForward(layout, x, w, b, y, n, activation)
void heads_forward(const Args& a) {
  const layouts::Heads L = layouts::heads(a, 0, 5);
  check_cuda(hc::heads_forward(L.packed, a.dev(1, "x", L.x), a.dev(2, "w", L.weights), a.dev(3, "b", L.total_out),
      a.dev(4, "y", L.y), L.n, a.activation(6), state().stream), "headsForward");
}
const Export<heads_forward> export_heads_forward("headsForward", 7);

// headsBackward(layout, x, w, dy, dx|null, dw, db, perTaskDx|null, n)
void heads_backward(const Args& a) {
  const layouts::Heads L = layouts::heads(a, 0, 8);
  float* per_task = a.dev_or_null(7, "perTaskDx", L.per_task);
  if (per_task && L.mode != 1) a.range_error("perTaskDx needs a layout with a shared input");
  check_cuda(hc::heads_backward(L.packed, a.dev(1, "x", L.x), a.dev(2, "w", L.weights), a.dev(3, "dy", L.y),
      a.dev_or_null(4, "dx", L.x), a.dev(5, "dw", L.weights), a.dev(6, "db", L.total_out), per_task, L.n, state().stream),
      "headsBackward");
}
const Export<heads_backward> export_heads_backward("headsBackward", 9);

}  // namespace hydranet::cuda_addon
