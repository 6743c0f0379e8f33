// Elementwise ops, all "=" except bias_grad ("+=", a parameter gradient):
//   activation_forward   y[n]  = act(x[n])                       (y may alias x)
//   activation_backward  dx[n] = dy[n]·act'(y or x)              (dx may alias dy)
//   bias_grad        db[c] += Σ_r dy[r, c]
//   mul_forward          out[n] = a[n] ⊙ b[n]
//   add_forward          out[n] = a[n] + b[n]
//   dropout_forward      mask[n] = keep ? scale : 0, y[n] = x[n] ⊙ mask[n]   (scale = 1/(1−p))
// Memory-bound: one vectorized pass (the per-ISA loops of isa_kernels.inc), split across
// threads only when the arrays are large enough to pay for it.
#include <algorithm>
#include <cmath>

#include "kernels.h"
#include "../random.h"
#include "threadpool.h"

namespace hydranet {
namespace {

// Elements per thread below which splitting does not pay.
constexpr int64_t kGrain = 1 << 15;

}  // namespace

void activation_forward(Activation kind, const float* x, float* y, int64_t n, int threads) {
  const IsaKernels& K = isa_kernels();
  parallel_range(n, threads, kGrain, [&](int64_t b, int64_t e) { K.activation_forward(kind, x + b, y + b, e - b); });
}

void activation_backward(Activation kind, const float* y, const float* dy, float* dx, const float* x, int64_t n,
                         int threads) {
  const IsaKernels& K = isa_kernels();
  parallel_range(n, threads, kGrain, [&](int64_t b, int64_t e) {
    K.activation_backward(kind, y + b, dy + b, dx + b, x ? x + b : nullptr, e - b);
  });
}

void bias_grad(const float* dy, float* db, int64_t rows, int64_t cols, int threads) {
  // Threads take strips of 16 columns (a cache line), each summed in double and added once.
  constexpr int64_t kStrip = 16;
  const int64_t strips = (cols + kStrip - 1) / kStrip;
  parallel_range(strips, threads, std::max<int64_t>(1, kGrain / (kStrip * rows)), [&](int64_t s0, int64_t s1) {
    for (int64_t s = s0; s < s1; ++s) {
      const int64_t c0 = s * kStrip, width = std::min(kStrip, cols - c0);
      double sum[kStrip] = {};
      for (int64_t r = 0; r < rows; ++r) {
        const float* row = dy + r * cols + c0;
        for (int64_t c = 0; c < width; ++c) sum[c] += row[c];
      }
      for (int64_t c = 0; c < width; ++c) db[c0 + c] = static_cast<float>(db[c0 + c] + sum[c]);
    }
  });
}

void add_forward(const float* a, const float* b, float* out, int64_t n, int threads) {
  parallel_range(n, threads, kGrain, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) out[i] = a[i] + b[i];
  });
}

void mul_forward(const float* a, const float* b, float* out, int64_t n, int threads) {
  parallel_range(n, threads, kGrain, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) out[i] = a[i] * b[i];
  });
}

void dropout_forward(const float* x, float* y, float* mask, int64_t n, const DropoutParams& d, int threads) {
  const IsaKernels& K = isa_kernels();
  parallel_range(n, threads, kGrain, [&](int64_t b, int64_t e) {
    K.dropout_forward(x + b, y + b, mask + b, e - b, static_cast<uint32_t>(b), d.seed, d.threshold, d.scale);
  });
}

}  // namespace hydranet
