// Elementwise ops, all "=" except bias_grad ("+=", a parameter gradient):
//   activation_forward   y[n]  = act(x[n])                       (y may alias x)
//   activation_backward  dx[n] = dy[n]·act'(y or x)              (dx may alias dy)
//   bias_grad        db[c] += Σ_r dy[r, c]
//   mul                  out[n] = a[n] ⊙ b[n]
//   add                  out[n] = a[n] + b[n]
//   dropout_forward      mask[n] = keep ? scale : 0, y[n] = x[n] ⊙ mask[n]   (scale = 1/(1−p))
// Memory-bound: one vectorized pass (the per-ISA loops of isa_kernels.inc), split across
// threads only when the arrays are large enough to pay for it.
#include <algorithm>
#include <cmath>

#include "addon_args.h"
#include "isa_prelude.h"
#include "../random.h"
#include "threadpool.h"

namespace hydranet {
namespace {

// Elements per thread below which splitting does not pay.
constexpr int64_t kGrain = 1 << 15;

}  // namespace

// y = act(x) [n]; y may alias x.
void activation_forward(Activation kind, const float* x, float* y, int64_t n, int threads) {
  const IsaKernels& K = isa_kernels();
  parallel_range(n, threads, kGrain, [&](int64_t b, int64_t e) { K.activation_forward(kind, x + b, y + b, e - b); });
}

// dx = dy·act'(·) [n] from y (relu, tanh, sigmoid) or x (gelu); dx may alias dy.
void activation_backward(Activation kind, const float* y, const float* dy, float* dx, const float* x, int64_t n,
                         int threads) {
  const IsaKernels& K = isa_kernels();
  parallel_range(n, threads, kGrain, [&](int64_t b, int64_t e) {
    K.activation_backward(kind, y + b, dy + b, dx + b, x ? x + b : nullptr, e - b);
  });
}

const IsaExtras& isa_extras() {
  static const IsaExtras* const chosen = [] {
#if HYDRANET_X86
    if (isa_chosen() == Isa::avx512) return &isa_avx512_extras();
    if (isa_chosen() == Isa::avx2) return &isa_avx2_extras();
#endif
    return &isa_scalar_extras();
  }();
  return *chosen;
}

void bias_grad(const float* dy, float* db, int64_t rows, int64_t cols, int threads) {
  // Threads take strips of up to kStrip columns; each strip walks dy row by row (the ISA's
  // column_sums: blocks of columns held in registers), summing every column in double in row
  // order, and adds its sums once. At least kBiasGrain elements per thread (about 7 µs): a
  // smaller sum is over before a second thread would pay for its hand-off.
  constexpr int64_t kStrip = 256;
  constexpr int64_t kBiasGrain = 1 << 17;
  const auto column_sums = isa_extras().column_sums;
  const int64_t strips = (cols + kStrip - 1) / kStrip;
  parallel_range(strips, threads, std::max<int64_t>(1, kBiasGrain / (std::min(kStrip, cols) * rows)), [&](int64_t s0, int64_t s1) {
    for (int64_t s = s0; s < s1; ++s) {
      const int64_t c0 = s * kStrip, width = std::min(kStrip, cols - c0);
      double sum[kStrip];
      column_sums(dy + c0, cols, rows, static_cast<int>(width), sum);
      for (int64_t c = 0; c < width; ++c) db[c0 + c] = static_cast<float>(db[c0 + c] + sum[c]);
    }
  });
}

// out = a + b [n] (out may alias a or b).
void add(const float* a, const float* b, float* out, int64_t n, int threads) {
  parallel_range(n, threads, kGrain, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) out[i] = a[i] + b[i];
  });
}

// out = a ⊙ b [n]; out may alias either.
void mul(const float* a, const float* b, float* out, int64_t n, int threads) {
  parallel_range(n, threads, kGrain, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) out[i] = a[i] * b[i];
  });
}

// mask = keep(seed, i) ? scale : 0, y = x ⊙ mask [n] (keep as dropoutKeep in ts/core/random.ts, see DropoutParams).
void dropout_forward(const float* x, float* y, float* mask, int64_t n, const DropoutParams& d, int threads) {
  const IsaKernels& K = isa_kernels();
  parallel_range(n, threads, kGrain, [&](int64_t b, int64_t e) {
    K.dropout_forward(x + b, y + b, mask + b, e - b, static_cast<uint32_t>(b), d.seed, d.threshold, d.scale);
  });
}

}  // namespace hydranet

// ---- N-API entries (native/cpu/addon_args.h) ----------------------------------------

namespace hydranet::cpu_addon {

// activationForward(kind, x, y, threads)
void activation_forward(const Args& a) {
  const int64_t n = a.length_of(1, "x");
  hydranet::activation_forward(a.activation(0), a.f32(1, "x", n), a.f32(2, "y", n), n, a.threads(3));
}
const Export<activation_forward> export_activation_forward("activationForward", 4);

// activationBackward(kind, y, dy, dx, x|null, threads)
void activation_backward(const Args& a) {
  const Activation kind = a.activation(0);
  const int64_t n = a.length_of(1, "y");
  const float* x = a.f32_or_null(4, "x", n);
  if (kind == Activation::gelu && x == nullptr) a.type_error("gelu needs the input x");
  hydranet::activation_backward(kind, a.f32(1, "y", n), a.f32(2, "dy", n), a.f32(3, "dx", n), x, n, a.threads(5));
}
const Export<activation_backward> export_activation_backward("activationBackward", 6);

// biasGrad(dy, db, rows, cols, threads)
void bias_grad(const Args& a) {
  const int64_t rows = a.dim(2, "rows"), cols = a.dim(3, "cols");
  hydranet::bias_grad(a.f32(0, "dy", elements(a, "dy", {rows, cols})), a.f32(1, "db", cols), rows, cols,
                          a.threads(4));
}
const Export<bias_grad> export_bias_grad("biasGrad", 5);

// add(a, b, out, threads)
void add(const Args& a) {
  const int64_t n = a.length_of(0, "a");
  hydranet::add(a.f32(0, "a", n), a.f32(1, "b", n), a.f32(2, "out", n), n, a.threads(3));
}
const Export<add> export_add("add", 4);

// mul(a, b, out, threads)
void mul(const Args& a) {
  const int64_t n = a.length_of(0, "a");
  hydranet::mul(a.f32(0, "a", n), a.f32(1, "b", n), a.f32(2, "out", n), n, a.threads(3));
}
const Export<mul> export_mul("mul", 4);

// dropoutForward(x, y, mask, seed, threshold, scale, threads)
void dropout_forward(const Args& a) {
  const int64_t n = a.length_of(0, "x");
  hydranet::dropout_forward(a.f32(0, "x", n), a.f32(1, "y", n), a.f32(2, "mask", n), n, a.dropout(3), a.threads(6));
}
const Export<dropout_forward> export_dropout_forward("dropoutForward", 7);

}  // namespace hydranet::cpu_addon
