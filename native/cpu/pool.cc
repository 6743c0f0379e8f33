// Max-pooling (NCHW), all "=":
//   max_pool2d_forward   y[plane, o] = max of the window, argmax[plane, o] = its flat index h·W + w
//                        in the plane (first maximum in row-major window order; NaN wins)
//   max_pool2d_backward  dx = 0, then dx[plane, argmax] += dy (argmax checked: never out of the plane)
// Threads take whole planes (rows), so every output element has one writer and one summation
// order whatever the thread count.
//
// 2×2 windows with stride 2 (LeNet's pooling) have their own vector loops (AVX-512 and AVX2,
// the copy of the ISA chosen at load: cpu_features.h, HYDRANET_CPU_ISA), with the same results
// bit for bit: the forward takes the four elements of 8 or 16 windows at once, and the backward
// writes every dx element once (dy where argmax points at it, else 0) instead of zeroing dx and
// scattering, when every argmax of the plane lies in its own window (else the plane takes the
// general loop). The portable path runs the general loops.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>

#include "addon_args.h"
#include "isa_prelude.h"
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

// 2×2 windows, stride 2, per output row: the four elements of each window in row-major order
// a, b (row 2·oy) and c, d (row 2·oy + 1), the first maximum kept, NaN winning, exactly as
// max_pool2d_plane (its −∞ start loses to a unless a is −∞, whose index it keeps all the same).
// The backward writes each dx element once: dy where the window's argmax points at it, else 0
// (0 + dy, as the general loop's 0 += dy), and reports whether every argmax of the row lies in
// its own window. Vector copies only (AVX-512: 16 windows a step, AVX2: 8); the portable path
// keeps the general loops.
#if HYDRANET_X86
// GCC 12 reports its own _mm512_undefined_* idiom in avx512fintrin.h as maybe-uninitialized.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
using Pool2x2Forward = void (*)(const float* r0, const float* r1, float* y, float* at, int ow, int32_t top, int w);
using Pool2x2Backward = bool (*)(const float* dy, const float* at, float* d0, float* d1, int ow, int32_t top, int w);

__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")))
void pool2x2_forward_avx512(const float* r0, const float* r1, float* y, float* am, int ow, int32_t top, int w) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  for (int o = 0; o < ow; o += 16) {
    const int n = ow - o < 16 ? ow - o : 16;
    const __mmask16 m = static_cast<__mmask16>((1u << n) - 1);
    const __mmask16 m_lo = static_cast<__mmask16>(2 * n >= 16 ? 0xFFFFu : (1u << (2 * n)) - 1);
    const __mmask16 m_hi = static_cast<__mmask16>(2 * n > 16 ? (1u << (2 * n - 16)) - 1 : 0u);
    const __m512 x0 = _mm512_maskz_loadu_ps(m_lo, r0 + 2 * o), x1 = _mm512_maskz_loadu_ps(m_hi, r0 + 2 * o + 16);
    const __m512 x2 = _mm512_maskz_loadu_ps(m_lo, r1 + 2 * o), x3 = _mm512_maskz_loadu_ps(m_hi, r1 + 2 * o + 16);
    const __m512 v[3] = {_mm512_permutex2var_ps(x0, odd, x1), _mm512_permutex2var_ps(x2, even, x3), _mm512_permutex2var_ps(x2, odd, x3)};
    const int32_t off[3] = {1, w, w + 1};
    __m512 best = _mm512_permutex2var_ps(x0, even, x1);
    __m512i at = _mm512_setzero_si512();
    for (int k = 0; k < 3; ++k) {
      const __mmask16 take = _mm512_cmp_ps_mask(v[k], best, _CMP_GT_OQ) |
                             (_mm512_cmp_ps_mask(v[k], v[k], _CMP_UNORD_Q) & _mm512_cmp_ps_mask(best, best, _CMP_ORD_Q));
      best = _mm512_mask_blend_ps(take, best, v[k]);
      at = _mm512_mask_blend_epi32(take, at, _mm512_set1_epi32(off[k]));
    }
    const __m512i index = _mm512_add_epi32(_mm512_add_epi32(_mm512_set1_epi32(top + 2 * o), even), at);
    _mm512_mask_storeu_ps(y + o, m, best);
    _mm512_mask_storeu_ps(am + o, m, _mm512_cvtepi32_ps(index));
  }
}

__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")))
bool pool2x2_backward_avx512(const float* dy, const float* am, float* d0, float* d1, int ow, int32_t top, int w) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i hi = _mm512_add_epi32(lo, _mm512_set1_epi32(8));
  const __m512 one = _mm512_set1_ps(1.0f), fw = _mm512_set1_ps(static_cast<float>(w)), fw1 = _mm512_set1_ps(static_cast<float>(w) + 1.0f);
  bool ok = true;
  for (int o = 0; o < ow; o += 16) {
    const int n = ow - o < 16 ? ow - o : 16;
    const __mmask16 m = static_cast<__mmask16>((1u << n) - 1);
    const __mmask16 m_lo = static_cast<__mmask16>(2 * n >= 16 ? 0xFFFFu : (1u << (2 * n)) - 1);
    const __mmask16 m_hi = static_cast<__mmask16>(2 * n > 16 ? (1u << (2 * n - 16)) - 1 : 0u);
    const __m512 g = _mm512_add_ps(_mm512_setzero_ps(), _mm512_maskz_loadu_ps(m, dy + o));
    const __m512 base = _mm512_cvtepi32_ps(_mm512_add_epi32(_mm512_set1_epi32(top + 2 * o), even));
    const __m512 rel = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, am + o), base);  // exact: integers < 2^24
    const __mmask16 e0 = _mm512_cmp_ps_mask(rel, _mm512_setzero_ps(), _CMP_EQ_OQ), e1 = _mm512_cmp_ps_mask(rel, one, _CMP_EQ_OQ);
    const __mmask16 e2 = _mm512_cmp_ps_mask(rel, fw, _CMP_EQ_OQ), e3 = _mm512_cmp_ps_mask(rel, fw1, _CMP_EQ_OQ);
    ok &= ((e0 | e1 | e2 | e3) & m) == m;
    const __m512 v0 = _mm512_maskz_mov_ps(e0, g), v1 = _mm512_maskz_mov_ps(e1, g);
    const __m512 v2 = _mm512_maskz_mov_ps(e2, g), v3 = _mm512_maskz_mov_ps(e3, g);
    _mm512_mask_storeu_ps(d0 + 2 * o, m_lo, _mm512_permutex2var_ps(v0, lo, v1));
    _mm512_mask_storeu_ps(d0 + 2 * o + 16, m_hi, _mm512_permutex2var_ps(v0, hi, v1));
    _mm512_mask_storeu_ps(d1 + 2 * o, m_lo, _mm512_permutex2var_ps(v2, lo, v3));
    _mm512_mask_storeu_ps(d1 + 2 * o + 16, m_hi, _mm512_permutex2var_ps(v2, hi, v3));
  }
  return ok;
}

// AVX2: lanes [0, count) of a mask vector.
__attribute__((target("avx2,fma"))) inline __m256i lanes_below(int count) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// AVX2: the even and the odd elements of x[0, 16) (lo = x[0, 8), hi = x[8, 16)).
__attribute__((target("avx2,fma"))) inline void deinterleave(__m256 lo, __m256 hi, __m256& ev, __m256& od) {
  ev = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0))), _MM_SHUFFLE(3, 1, 2, 0)));
  od = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(3, 1, 3, 1))), _MM_SHUFFLE(3, 1, 2, 0)));
}

__attribute__((target("avx2,fma")))
void pool2x2_forward_avx2(const float* r0, const float* r1, float* y, float* am, int ow, int32_t top, int w) {
  const __m256i even = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
  for (int o = 0; o < ow; o += 8) {
    const int n = ow - o < 8 ? ow - o : 8;
    const __m256i m_lo = lanes_below(2 * n), m_hi = lanes_below(2 * n - 8);
    __m256 a, v[3];
    deinterleave(_mm256_maskload_ps(r0 + 2 * o, m_lo), _mm256_maskload_ps(r0 + 2 * o + 8, m_hi), a, v[0]);
    deinterleave(_mm256_maskload_ps(r1 + 2 * o, m_lo), _mm256_maskload_ps(r1 + 2 * o + 8, m_hi), v[1], v[2]);
    const int32_t off[3] = {1, w, w + 1};
    __m256 best = a;
    __m256 at = _mm256_castsi256_ps(_mm256_setzero_si256());
    for (int k = 0; k < 3; ++k) {
      const __m256 take = _mm256_or_ps(_mm256_cmp_ps(v[k], best, _CMP_GT_OQ),
                                       _mm256_and_ps(_mm256_cmp_ps(v[k], v[k], _CMP_UNORD_Q), _mm256_cmp_ps(best, best, _CMP_ORD_Q)));
      best = _mm256_blendv_ps(best, v[k], take);
      at = _mm256_blendv_ps(at, _mm256_castsi256_ps(_mm256_set1_epi32(off[k])), take);
    }
    const __m256 index = _mm256_cvtepi32_ps(_mm256_add_epi32(_mm256_add_epi32(_mm256_set1_epi32(top + 2 * o), even), _mm256_castps_si256(at)));
    if (n == 8) {
      _mm256_storeu_ps(y + o, best);
      _mm256_storeu_ps(am + o, index);
    } else {
      const __m256i m = lanes_below(n);
      _mm256_maskstore_ps(y + o, m, best);
      _mm256_maskstore_ps(am + o, m, index);
    }
  }
}

__attribute__((target("avx2,fma")))
bool pool2x2_backward_avx2(const float* dy, const float* am, float* d0, float* d1, int ow, int32_t top, int w) {
  const __m256i even = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
  const __m256 zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f);
  const __m256 fw = _mm256_set1_ps(static_cast<float>(w)), fw1 = _mm256_set1_ps(static_cast<float>(w) + 1.0f);
  bool ok = true;
  for (int o = 0; o < ow; o += 8) {
    const int n = ow - o < 8 ? ow - o : 8;
    const __m256i m = lanes_below(n), m_lo = lanes_below(2 * n), m_hi = lanes_below(2 * n - 8);
    const __m256 g = _mm256_add_ps(zero, _mm256_maskload_ps(dy + o, m));
    const __m256 base = _mm256_cvtepi32_ps(_mm256_add_epi32(_mm256_set1_epi32(top + 2 * o), even));
    const __m256 rel = _mm256_sub_ps(_mm256_maskload_ps(am + o, m), base);  // exact: integers < 2^24
    const __m256 e0 = _mm256_cmp_ps(rel, zero, _CMP_EQ_OQ), e1 = _mm256_cmp_ps(rel, one, _CMP_EQ_OQ);
    const __m256 e2 = _mm256_cmp_ps(rel, fw, _CMP_EQ_OQ), e3 = _mm256_cmp_ps(rel, fw1, _CMP_EQ_OQ);
    const int active = (1 << n) - 1;
    ok &= (_mm256_movemask_ps(_mm256_or_ps(_mm256_or_ps(e0, e1), _mm256_or_ps(e2, e3))) & active) == active;
    const __m256 v[4] = {_mm256_and_ps(e0, g), _mm256_and_ps(e1, g), _mm256_and_ps(e2, g), _mm256_and_ps(e3, g)};
    float* rows[2] = {d0, d1};
    for (int r = 0; r < 2; ++r) {
      const __m256 l = _mm256_unpacklo_ps(v[2 * r], v[2 * r + 1]), h = _mm256_unpackhi_ps(v[2 * r], v[2 * r + 1]);
      _mm256_maskstore_ps(rows[r] + 2 * o, m_lo, _mm256_permute2f128_ps(l, h, 0x20));
      _mm256_maskstore_ps(rows[r] + 2 * o + 8, m_hi, _mm256_permute2f128_ps(l, h, 0x31));
    }
  }
  return ok;
}

// The copies of the ISA chosen at load (isa_chosen()), or null on the portable path.
Pool2x2Forward pool2x2_forward_for_isa() {
  const Isa isa = isa_chosen();
  return isa == Isa::avx512 ? pool2x2_forward_avx512 : isa == Isa::avx2 ? pool2x2_forward_avx2 : nullptr;
}
Pool2x2Backward pool2x2_backward_for_isa() {
  const Isa isa = isa_chosen();
  return isa == Isa::avx512 ? pool2x2_backward_avx512 : isa == Isa::avx2 ? pool2x2_backward_avx2 : nullptr;
}

// One plane of a 2×2, stride-2 forward through `f`.
void pool2x2_forward_plane(Pool2x2Forward f, const PoolShape& s, const float* xp, float* yp, float* ap) {
  for (int oy = 0; oy < s.out_h; ++oy) {
    const float* r0 = xp + int64_t{2 * oy} * s.w;
    f(r0, r0 + s.w, yp + int64_t{oy} * s.out_w, ap + int64_t{oy} * s.out_w, s.out_w, 2 * oy * s.w, s.w);
  }
}

// One plane of a 2×2, stride-2 backward through `f`: false (dx partly written) when some argmax
// is not in its own window. Rows and columns past the last window get 0.
bool pool2x2_backward_plane(Pool2x2Backward f, const PoolShape& s, const float* dyp, const float* ap, float* dxp) {
  bool ok = true;
  for (int oy = 0; oy < s.out_h && ok; ++oy) {
    float* d0 = dxp + int64_t{2 * oy} * s.w;
    ok = f(dyp + int64_t{oy} * s.out_w, ap + int64_t{oy} * s.out_w, d0, d0 + s.w, s.out_w, 2 * oy * s.w, s.w);
    for (int x = 2 * s.out_w; x < s.w; ++x) d0[x] = d0[s.w + x] = 0.0f;
  }
  std::fill(dxp + int64_t{2 * s.out_h} * s.w, dxp + int64_t{s.h} * s.w, 0.0f);
  return ok;
}

bool is_2x2_stride2(const PoolShape& s) { return s.size == 2 && s.stride == 2 && 2 * s.out_w <= s.w && 2 * s.out_h <= s.h; }
#pragma GCC diagnostic pop
#endif

}  // namespace

// y, argmax [n, C, outH, outW] (=): each window's max and its flat index h·W + w in the plane.
void max_pool2d_forward(const PoolShape& s, const float* x, float* y, float* argmax, int n, int threads) {
  const int64_t planes = int64_t{n} * s.c, in_plane = int64_t{s.h} * s.w, out_plane = int64_t{s.out_h} * s.out_w;
#if HYDRANET_X86
  static const Pool2x2Forward fast = pool2x2_forward_for_isa();
  if (fast && is_2x2_stride2(s)) {
    parallel_range(planes, threads, rows_grain(in_plane), [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) pool2x2_forward_plane(fast, s, x + p * in_plane, y + p * out_plane, argmax + p * out_plane);
    });
    return;
  }
#endif
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
#if HYDRANET_X86
  static const Pool2x2Backward fast = pool2x2_backward_for_isa();
  const bool two = fast && is_2x2_stride2(s);
#endif
  parallel_range(planes, threads, rows_grain(in_plane), [&](int64_t p0, int64_t p1) {
    int64_t bad = std::numeric_limits<int64_t>::max();
    for (int64_t p = p0; p < p1; ++p) {
      float* dxp = dx + p * in_plane;
      const float* dyp = dy + p * out_plane;
      const float* ap = argmax + p * out_plane;
#if HYDRANET_X86
      if (two && pool2x2_backward_plane(fast, s, dyp, ap, dxp)) continue;
#endif
      std::fill(dxp, dxp + in_plane, 0.0f);
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
