// Max-pooling (NCHW), all "=":
//   max_pool2d_forward   y[plane, o] = max of the window, argmax[plane, o] = its flat index h·W + w
//                        in the plane (first maximum in row-major window order; NaN wins)
//   max_pool2d_backward  dx = 0, then dx[plane, argmax] += dy (argmax checked: never out of the plane)
// Threads take whole planes (rows), so every output element has one writer and one summation
// order whatever the thread count.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>

#include "addon_args.h"
#include "../random.h"
#include "threadpool.h"

namespace hydranet {
namespace {

// Elements per thread below which splitting does not pay.
constexpr int64_t kGrain = 1 << 15;

// Outputs of one row taken together by the forward's select loop.
constexpr int kRowBlock = 64;

int64_t rows_grain(int64_t row_elements) { return std::max<int64_t>(1, kGrain / std::max<int64_t>(1, row_elements)); }

}  // namespace

namespace {

// One plane's forward. Each output row is taken in blocks of kRowBlock outputs, window element
// by window element in row-major order (a later equal value never replaces the first maximum),
// with a compare-and-select over the block that the compiler vectorises (a branch per element
// mispredicts half the time on real data). kStride: the stride when known at compile time (0: s.stride).
template <int kStride>
void max_pool2d_plane(const PoolShape& s, const float* xp, float* yp, float* ap) {
  const int st = kStride ? kStride : s.stride;
  for (int oy = 0; oy < s.out_h; ++oy) {
    const int32_t top = oy * st * s.w;  // in-plane indices are < 2^24 (native/layouts.h)
    for (int ox0 = 0; ox0 < s.out_w; ox0 += kRowBlock) {
      const int width = std::min(kRowBlock, s.out_w - ox0);
      float best[kRowBlock];
      int32_t at[kRowBlock];
      for (int o = 0; o < width; ++o) {
        best[o] = -std::numeric_limits<float>::infinity();
        at[o] = top + (ox0 + o) * st;  // the window's first element unless something beats −∞
      }
      for (int ky = 0; ky < s.size; ++ky) {
        for (int kx = 0; kx < s.size; ++kx) {
          const int32_t start = top + ky * s.w + kx + ox0 * st;
          const float* xr = xp + start;
          for (int o = 0; o < width; ++o) {
            const float v = xr[o * st], b = best[o];
            const bool take = (v > b) | ((v != v) & (b == b));  // NaN wins, the first one
            best[o] = take ? v : b;
            at[o] = take ? start + o * st : at[o];
          }
        }
      }
      float* yr = yp + int64_t{oy} * s.out_w + ox0;
      float* ar = ap + int64_t{oy} * s.out_w + ox0;
      for (int o = 0; o < width; ++o) yr[o] = best[o], ar[o] = static_cast<float>(at[o]);
    }
  }
}

}  // namespace

// y, argmax [n, C, outH, outW] (=): each window's max and its flat index h·W + w in the plane.
void max_pool2d_forward(const PoolShape& s, const float* x, float* y, float* argmax, int n, int threads) {
  const int64_t planes = int64_t{n} * s.c, in_plane = int64_t{s.h} * s.w, out_plane = int64_t{s.out_h} * s.out_w;
  const auto plane = s.stride == 2 ? max_pool2d_plane<2> : max_pool2d_plane<0>;
  parallel_range(planes, threads, rows_grain(in_plane), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) plane(s, x + p * in_plane, y + p * out_plane, argmax + p * out_plane);
  });
}

// dx [n, C, H, W] = 0, then dx[plane, argmax] += dy. Returns -1, or the position in argmax of
// the first value that is not an integer index within the plane (those are skipped, never written).
int64_t max_pool2d_backward(const PoolShape& s, const float* dy, const float* argmax, float* dx, int n, int threads) {
  const int64_t planes = int64_t{n} * s.c, in_plane = int64_t{s.h} * s.w, out_plane = int64_t{s.out_h} * s.out_w;
  const double limit = static_cast<double>(in_plane);
  std::atomic<int64_t> first_bad{std::numeric_limits<int64_t>::max()};
  parallel_range(planes, threads, rows_grain(in_plane), [&](int64_t p0, int64_t p1) {
    int64_t bad = std::numeric_limits<int64_t>::max();
    for (int64_t p = p0; p < p1; ++p) {
      float* dxp = dx + p * in_plane;
      std::fill(dxp, dxp + in_plane, 0.0f);
      const float* dyp = dy + p * out_plane;
      const float* ap = argmax + p * out_plane;
      for (int64_t k = 0; k < out_plane; ++k) {
        const double a = ap[k];
        if (!(a >= 0 && a < limit && a == std::floor(a))) {  // NaN fails too
          bad = std::min(bad, p * out_plane + k);
          continue;
        }
        dxp[static_cast<int64_t>(a)] += dyp[k];
      }
    }
    int64_t seen = first_bad.load();
    while (bad < seen && !first_bad.compare_exchange_weak(seen, bad)) {
    }
  });
  const int64_t bad = first_bad.load();
  return bad == std::numeric_limits<int64_t>::max() ? -1 : bad;
}

}  // namespace hydranet

// ---- N-API entries (native/cpu/addon_args.h) ----------------------------------------

namespace hydranet::cpu_addon {

// maxPool2dForward(geometry, x, y, argmax, n, threads)
void max_pool2d_forward(const Args& a) {
  const layouts::Pool G = layouts::pool(a, 0, 4);
  hydranet::max_pool2d_forward(G.shape, a.f32(1, "x", G.x), a.f32(2, "y", G.y),
                               a.f32(3, "argmax", G.y), G.n, a.threads(5));
}
const Export<max_pool2d_forward> export_max_pool2d_forward("maxPool2dForward", 6);

// maxPool2dBackward(geometry, dy, argmax, dx, n, threads); a RangeError names the first argmax
// value that is not an index within its plane (such entries are never written through).
void max_pool2d_backward(const Args& a) {
  const layouts::Pool G = layouts::pool(a, 0, 4);
  const hydranet::PoolShape s = G.shape;
  const float* argmax = a.f32(2, "argmax", G.y);
  const int64_t bad = hydranet::max_pool2d_backward(s, a.f32(1, "dy", G.y), argmax, a.f32(3, "dx", G.x), G.n,
                                                    a.threads(5));
  if (bad >= 0) {
    a.range_error("argmax[" + std::to_string(bad) + "] = " + std::to_string(argmax[bad]) +
                  " is not an index within the " + std::to_string(s.h) + "×" + std::to_string(s.w) + " plane");
  }
}
const Export<max_pool2d_backward> export_max_pool2d_backward("maxPool2dBackward", 6);

}  // namespace hydranet::cpu_addon
