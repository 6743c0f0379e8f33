// The channel-wise ops (NCHW viewed as [rows = N·C, plane]), all "=":
//   dropout2d_forward    mask[r] = keep(seed, r) ? scale : 0, y[r, :] = x[r, :]·mask[r]
//   scale_channels       out[r, :] = x[r, :]·s[r]   (out may alias x)
// Threads take whole rows, so every output element has one writer whatever the thread count.
#include <algorithm>

#include "addon_args.h"
#include "../random.h"
#include "threadpool.h"

namespace hydranet {
namespace {

// Elements per thread below which splitting does not pay.
constexpr int64_t kGrain = 1 << 15;

int64_t rows_grain(int64_t row_elements) { return std::max<int64_t>(1, kGrain / std::max<int64_t>(1, row_elements)); }

}  // namespace

// out [rows, plane] = x ⊙ s per row (out may alias x).
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

// mask [rows] = keep(seed, row) ? scale : 0, y [rows, plane] = x ⊙ mask per row.
void dropout2d_forward(const float* x, float* y, float* mask, int64_t rows, int64_t plane, const DropoutParams& d,
                       int threads) {
  for (int64_t r = 0; r < rows; ++r) mask[r] = dropout_keep(d.seed, static_cast<uint32_t>(r), d.threshold) ? d.scale : 0.0f;
  scale_channels(x, mask, y, rows, plane, threads);
}

}  // namespace hydranet

// ---- N-API entries (native/cpu/addon_args.h) ----------------------------------------

namespace hydranet::cpu_addon {

// dropout2dForward(x, y, mask, rows, plane, seed, threshold, scale, threads)
void dropout2d_forward(const Args& a) {
  const int64_t rows = a.integer(3, "rows", 1, int64_t{1} << 40), plane = a.integer(4, "plane", 1, int64_t{1} << 40);
  const int64_t size = elements(a, "x", {rows, plane});
  hydranet::dropout2d_forward(a.f32(0, "x", size), a.f32(1, "y", size), a.f32(2, "mask", rows), rows, plane, a.dropout(5),
                              a.threads(8));
}
const Export<dropout2d_forward> export_dropout2d_forward("dropout2dForward", 9);

// scaleChannels(x, s, out, rows, plane, threads)
void scale_channels(const Args& a) {
  const int64_t rows = a.integer(3, "rows", 1, int64_t{1} << 40), plane = a.integer(4, "plane", 1, int64_t{1} << 40);
  const int64_t size = elements(a, "x", {rows, plane});
  hydranet::scale_channels(a.f32(0, "x", size), a.f32(1, "s", rows), a.f32(2, "out", size), rows, plane,
                           a.threads(5));
}
const Export<scale_channels> export_scale_channels("scaleChannels", 6);

}  // namespace hydranet::cpu_addon
