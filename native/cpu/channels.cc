// The channel-wise ops (NCHW viewed as [rows = N·C, plane]), all "=":
//   dropout2d_forward    mask[r] = keep(seed, r) ? scale : 0, y[r, :] = x[r, :]·mask[r]
//   scale_channels       out[r, :] = x[r, :]·s[r]   (out may alias x)
// Threads take whole rows, so every output element has one writer whatever the thread count.
#include <algorithm>

#include "kernels.h"
#include "../random.h"
#include "threadpool.h"

namespace hydranet {
namespace {

// Elements per thread below which splitting does not pay.
constexpr int64_t kGrain = 1 << 15;

int64_t rows_grain(int64_t row_elements) { return std::max<int64_t>(1, kGrain / std::max<int64_t>(1, row_elements)); }

}  // namespace

void scale_channels(const float* x, const float* s, float* out, int64_t rows, int64_t plane, int threads) {
  parallel_range(rows, threads, rows_grain(plane), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float v = s[r];
      const float* xr = x + r * plane;
      float* o = out + r * plane;
      for (int64_t k = 0; k < plane; ++k) o[k] = xr[k] * v;
    }
  });
}

void dropout2d_forward(const float* x, float* y, float* mask, int64_t rows, int64_t plane, const DropoutParams& d,
                       int threads) {
  for (int64_t r = 0; r < rows; ++r) mask[r] = dropout_keep(d.seed, static_cast<uint32_t>(r), d.threshold) ? d.scale : 0.0f;
  scale_channels(x, mask, y, rows, plane, threads);
}

}  // namespace hydranet
