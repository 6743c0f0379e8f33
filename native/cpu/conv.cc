// 2-D convolution (NCHW, cross-correlation as in PyTorch) by im2col + the GEMM of gemm.cc.
// Per sample i, with K = C·kh·kw rows and P = outH·outW columns:
//   col_i [K, P]      col_i[(c·kh + ky)·kw + kx, oy·outW + ox] = x_i[c, oy·s − p + ky, ox·s − p + kx] (0 off the image)
//   forward:  y_i [outC, P] = act(W [outC, K] · col_i + b)                                      "="
//   backward: dW += dy_i · col_iᵀ,  db += Σ_P dy_i,  dx_i = col2im(Wᵀ · dy_i)                    "+=", "+=", "="
// y_i and dy_i are already NCHW ([outC, P] per sample), so no transposes are needed anywhere.
//
// Bias: it is per output channel, i.e. per ROW of y_i, which the GEMM epilogue's bias (per
// column) does not cover. Each row of y_i is therefore pre-filled with b[o] and the GEMM runs
// with beta = 1 and the activation in its epilogue: y_i = act(W·col_i + 1·b), still one pass
// over y_i and no separate bias/activation sweep. Without a bias, beta = 0.
//
// A 1×1 kernel with stride 1 and no padding needs no im2col: col_i is x_i itself, and the dx
// GEMM writes dx_i directly.
//
// AVX-512 paths for LeNet-like shapes (stride 1, no padding; the ISA chosen at load, see
// cpu_features.h): the forward without im2col (rows of 17–32 pixels, or of 8 with two rows per
// vector), conv2's dx without the dcol matrix (8-pixel rows, 20 channels), both with the GEMM
// path's arithmetic and so its bits; and dW by a kernel of its own for 5-column kernels over
// 8-pixel rows (conv2), summed in another order (the paths whose bits differ, within the parity
// tolerance; still the same bits for any thread count, the chunks being those below). AVX2
// paths (8-lane copies of the same structure, for any stride-1 unpadded shape in their range):
// the forward for rows of up to 32 pixels and dx for rows of up to 8 (at most 5 kernel
// columns), both with the GEMM path's bits, and dW for at most 5 kernel columns (LeNet's conv1
// and conv2; on AVX-512 machines too for a 1-channel 5×5 layer: conv1), in its own order. The
// stride-1 im2col and the bias gradient's sums run on AVX-512 or AVX2 vectors, with the same bits.
//
// Threads: tasks are samples (forward) or fixed chunks of samples (backward), each running
// serial GEMMs on its own thread's workspace [GEMM packing | col | dcol], grow-only and reserved
// by the thread pool on the calling thread, so no allocation happens per call in steady state.
// With fewer samples than threads the forward runs its samples one by one on the threaded GEMM
// instead (the same bits: gemm splits only C, never k). Backward chunks depend only on
// the shapes, never on the thread count: each chunk accumulates its own dW (and db in double),
// and the chunks are summed in chunk order, so results are identical for any thread count.
#include <algorithm>
#include <cstring>
#include <vector>

#include "addon_args.h"
#include "isa_prelude.h"
#include "threadpool.h"

namespace hydranet {
namespace {

bool is_direct(const ConvShape& s) { return s.kh == 1 && s.kw == 1 && s.stride == 1 && s.padding == 0; }

// The output columns [lo, hi) whose input coordinate o·stride − padding + k lies in [0, extent).
void valid_range(int out, int extent, int stride, int padding, int k, int& lo, int& hi) {
  const int a = padding - k;
  lo = a <= 0 ? 0 : (a + stride - 1) / stride;
  const int b = extent - 1 + padding - k;
  hi = b < 0 ? 0 : std::min(out, b / stride + 1);
  if (lo > hi) lo = hi;
}

// dst[0, n) = src[0, n) for the short runs of im2col (a LeNet row is 8 to 24 floats): fixed-size
// copies the compiler inlines, instead of a call to memcpy per run.
inline void copy_run(float* dst, const float* src, int n) {
  int i = 0;
  for (; i + 8 <= n; i += 8) std::memcpy(dst + i, src + i, 8 * sizeof(float));
  for (; i < n; ++i) dst[i] = src[i];
}

// Σ r[0, n) in double, in eight interleaved partial sums (one running sum is a chain of
// dependent additions, four cycles each), added in a fixed order: the same bits on every run.
inline double sum_run(const float* r, int64_t n) {
  double part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t p = 0;
  for (; p + 8 <= n; p += 8)
    for (int l = 0; l < 8; ++l) part[l] += r[p + l];
  for (int l = 0; p < n; ++p, ++l) part[l] += r[p];
  return ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
}

// The vector copies of the stride-1, unpadded im2col and col2im rows and of sum_run, for the
// ISA chosen at load (cpu_features.h; HYDRANET_CPU_ISA forces a lower one): the same copies,
// the same additions in the same order (sum_run's eight partial sums are the eight lanes of one
// vector of doubles), so the same bits as the portable loops above, which the scalar path runs.
#if HYDRANET_X86
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // GCC 12's own _mm512_undefined_* idiom
#pragma GCC diagnostic ignored "-Wuninitialized"
#define HYDRANET_AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")))
#define HYDRANET_AVX2 __attribute__((target("avx2,fma")))

// dst[0, n) = src[0, n).
HYDRANET_AVX512 inline void run_avx512(float* dst, const float* src, int n) {
  int i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(dst + i, _mm512_loadu_ps(src + i));
  if (i + 8 <= n) _mm256_storeu_ps(dst + i, _mm256_loadu_ps(src + i)), i += 8;
  if (i < n) {  // fewer than 8 left: masked
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1);
    _mm512_mask_storeu_ps(dst + i, m, _mm512_maskz_loadu_ps(m, src + i));
  }
}
HYDRANET_AVX2 inline void run_avx2(float* dst, const float* src, int n) {
  int i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, _mm256_loadu_ps(src + i));
  for (; i < n; ++i) dst[i] = src[i];
}

// The stride-1, unpadded im2col: row (c, ky, kx) of col holds out_h runs of out_w pixels.
#define HYDRANET_IM2COL_BODY(RUN)                                                                 \
  const int64_t P = s.pixels();                                                                   \
  float* row = col;                                                                               \
  for (int c = 0; c < s.c; ++c) {                                                                 \
    const float* plane = x + int64_t{c} * s.h * s.w;                                              \
    for (int ky = 0; ky < s.kh; ++ky) {                                                           \
      for (int kx = 0; kx < s.kw; ++kx, row += P) {                                               \
        const float* img = plane + int64_t{ky} * s.w + kx;                                        \
        for (int oy = 0; oy < s.out_h; ++oy) RUN(row + int64_t{oy} * s.out_w, img + int64_t{oy} * s.w, s.out_w);        \
      }                                                                                           \
    }                                                                                             \
  }
HYDRANET_AVX512 void im2col_s1_avx512(const ConvShape& s, const float* x, float* col) { HYDRANET_IM2COL_BODY(run_avx512) }
HYDRANET_AVX2 void im2col_s1_avx2(const ConvShape& s, const float* x, float* col) { HYDRANET_IM2COL_BODY(run_avx2) }
#undef HYDRANET_IM2COL_BODY

// The stride-1, unpadded col2im on dx zeroed by the caller, for image rows of at most 16
// pixels (LeNet's conv2: 12): each image row (c, oy + ky) is loaded once per (c, ky, oy), gets
// the kw runs of row (c, ky, kx) of dcol, shifted kx lanes, added in kx order, and is stored.
// Every dx element receives its terms in the general loop's order ((ky, kx) ascending): the same bits.
HYDRANET_AVX512 void col2im_s1_avx512(const ConvShape& s, const float* dcol, float* dx) {
  const int64_t P = s.pixels();
  const __mmask16 mw = static_cast<__mmask16>((1u << s.w) - 1), mo = static_cast<__mmask16>((1u << s.out_w) - 1);
  for (int c = 0; c < s.c; ++c) {
    float* plane = dx + int64_t{c} * s.h * s.w;
    for (int ky = 0; ky < s.kh; ++ky) {
      const float* rows = dcol + (int64_t{c} * s.kh + ky) * s.kw * P;
      for (int oy = 0; oy < s.out_h; ++oy) {
        float* img = plane + int64_t{oy + ky} * s.w;
        __m512 acc = _mm512_maskz_loadu_ps(mw, img);
        for (int kx = 0; kx < s.kw; ++kx) {
          // Lanes [kx, kx + out_w) from the run of row (c, ky, kx): lane kx + ox = run[ox].
          acc = _mm512_add_ps(acc, _mm512_maskz_loadu_ps(static_cast<__mmask16>(mo << kx), rows + kx * P + int64_t{oy} * s.out_w - kx));
        }
        _mm512_mask_storeu_ps(img, mw, acc);
      }
    }
  }
}

HYDRANET_AVX512 double sum_run_avx512(const float* r, int64_t n) {
  __m512d acc = _mm512_setzero_pd();
  int64_t p = 0;
  for (; p + 8 <= n; p += 8) acc = _mm512_add_pd(acc, _mm512_cvtps_pd(_mm256_loadu_ps(r + p)));
  alignas(64) double part[8];
  _mm512_store_pd(part, acc);
  for (int l = 0; p < n; ++p, ++l) part[l] += r[p];
  return ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
}
HYDRANET_AVX2 double sum_run_avx2(const float* r, int64_t n) {
  __m256d lo = _mm256_setzero_pd(), hi = _mm256_setzero_pd();
  int64_t p = 0;
  for (; p + 8 <= n; p += 8) {
    lo = _mm256_add_pd(lo, _mm256_cvtps_pd(_mm_loadu_ps(r + p)));
    hi = _mm256_add_pd(hi, _mm256_cvtps_pd(_mm_loadu_ps(r + p + 4)));
  }
  alignas(32) double part[8];
  _mm256_store_pd(part, lo);
  _mm256_store_pd(part + 4, hi);
  for (int l = 0; p < n; ++p, ++l) part[l] += r[p];
  return ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
}
// The forward without im2col on AVX-512, for stride 1, no padding and K ≤ the GEMM's k block:
// y[o, oy, ·] = act(Σ_k w[o, k]·x[k's pixel row] + b[o]), the sum one FMA chain per output in
// im2col row order (c, ky, kx) from 0, the bias added after it and ReLU as max(0, ·): the GEMM
// path's arithmetic exactly (its micro-kernel's chain over one k block, then alpha·acc + beta·C
// with C pre-filled with b), so the same bits. Filters go in blocks of OB, each block's
// accumulators in registers. Two shapes: rows of 17 to 32 pixels (two vectors a row: LeNet's
// conv1, 24) and rows of 8 (one vector holds two rows: LeNet's conv2).
template <int OB, bool kPair>
HYDRANET_AVX512 void conv_block_avx512(const ConvShape& s, const float* x, const float* w, const float* b, float* y, bool relu) {
  const int64_t K = s.patch(), P = s.pixels();
  const int ow = s.out_w;
  // kPair: lanes 0-7 are row oy, lanes 8-15 row oy + 1 (absent past the last row).
  for (int oy = 0; oy < s.out_h; oy += kPair ? 2 : 1) {
    const bool second = kPair && oy + 1 < s.out_h;
    const __mmask16 m0 = kPair ? static_cast<__mmask16>(second ? 0xFFFFu : 0xFFu) : static_cast<__mmask16>(0xFFFFu);
    const __mmask16 m1 = kPair ? 0 : static_cast<__mmask16>((1u << (ow - 16)) - 1);
    __m512 a0[OB], a1[OB];
    for (int o = 0; o < OB; ++o) a0[o] = a1[o] = _mm512_setzero_ps();
    int64_t k = 0;
    for (int c = 0; c < s.c; ++c) {
      for (int ky = 0; ky < s.kh; ++ky) {
        const float* xr = x + (int64_t{c} * s.h + oy + ky) * s.w;
        for (int kx = 0; kx < s.kw; ++kx, ++k) {
          __m512 x0, x1 = _mm512_setzero_ps();
          if (kPair) {
            const __m256 lo = _mm256_loadu_ps(xr + kx);
            const __m256 hi = second ? _mm256_loadu_ps(xr + s.w + kx) : _mm256_setzero_ps();
            x0 = _mm512_insertf32x8(_mm512_castps256_ps512(lo), hi, 1);
          } else {
            x0 = _mm512_loadu_ps(xr + kx);
            x1 = _mm512_maskz_loadu_ps(m1, xr + kx + 16);
          }
          for (int o = 0; o < OB; ++o) {
            const __m512 wv = _mm512_set1_ps(w[o * K + k]);
            a0[o] = _mm512_fmadd_ps(wv, x0, a0[o]);
            if (!kPair) a1[o] = _mm512_fmadd_ps(wv, x1, a1[o]);
          }
        }
      }
    }
    for (int o = 0; o < OB; ++o) {
      float* yr = y + o * P + int64_t{oy} * ow;
      __m512 v0 = a0[o], v1 = a1[o];
      if (b) {
        const __m512 bv = _mm512_set1_ps(b[o]);
        v0 = _mm512_add_ps(v0, bv);
        v1 = _mm512_add_ps(v1, bv);
      }
      if (relu) {
        v0 = _mm512_max_ps(_mm512_setzero_ps(), v0);  // NaN (the second operand) passes through
        v1 = _mm512_max_ps(_mm512_setzero_ps(), v1);
      }
      _mm512_mask_storeu_ps(yr, m0, v0);  // kPair: rows oy and oy + 1 are contiguous in y
      if (!kPair) _mm512_mask_storeu_ps(yr + 16, m1, v1);
    }
  }
}

template <bool kPair>
HYDRANET_AVX512 void conv_forward_direct_avx512(const ConvShape& s, const float* x, const float* w, const float* b, float* y, bool relu) {
  const int64_t K = s.patch(), P = s.pixels();
  int o = 0;
  for (; o + 8 <= s.out_c; o += 8) conv_block_avx512<8, kPair>(s, x, w + o * K, b ? b + o : nullptr, y + o * P, relu);
  if (o + 4 <= s.out_c) conv_block_avx512<4, kPair>(s, x, w + o * K, b ? b + o : nullptr, y + o * P, relu), o += 4;
  if (o + 2 <= s.out_c) conv_block_avx512<2, kPair>(s, x, w + o * K, b ? b + o : nullptr, y + o * P, relu), o += 2;
  if (o < s.out_c) conv_block_avx512<1, kPair>(s, x, w + o * K, b ? b + o : nullptr, y + o * P, relu);
}
// dx of one sample without the dcol matrix on AVX-512, for 8-pixel output rows (LeNet's conv2),
// stride 1, no padding, an even out_h and OC output channels: dx = col2im(Wᵀ·dy_i) with the same
// arithmetic, so the same bits: each dcol value one FMA chain over o = 0..OC−1 from 0 (the GEMM's
// micro-kernel over one k block, alpha 1, beta 0), added to dx (zeroed) in col2im's order:
// (ky, kx) ascending for every dx element. One vector holds the dcol values of output rows oy and
// oy + 1 for one (c, ky, kx); they land in the two dx rows oy + ky and oy + ky + 1, held as a
// 2·W-float span in two registers, through a lane permutation per kx.
template <int OC>
HYDRANET_AVX512 void conv_dx_pairs_avx512(const ConvShape& s, const float* w, const float* dy, float* dx) {
  const int64_t P = s.pixels(), K = s.patch();
  const int W = s.w;
  alignas(64) int32_t idx[8][32];
  __mmask16 m_lo[8], m_hi[8];
  for (int kx = 0; kx < s.kw; ++kx) {
    uint32_t bits = 0;
    for (int q = 0; q < 32; ++q) {
      int lane = -1;
      if (q >= kx && q < kx + 8) lane = q - kx;                   // row oy's pixel q − kx
      if (q >= W + kx && q < W + kx + 8) lane = q - W - kx + 8;   // row oy + 1's pixel q − W − kx
      idx[kx][q] = lane < 0 ? 0 : lane;
      if (lane >= 0) bits |= 1u << q;
    }
    m_lo[kx] = static_cast<__mmask16>(bits & 0xFFFFu);
    m_hi[kx] = static_cast<__mmask16>(bits >> 16);
  }
  const __mmask16 span_lo = static_cast<__mmask16>(2 * W >= 16 ? 0xFFFFu : (1u << (2 * W)) - 1);
  const __mmask16 span_hi = static_cast<__mmask16>(2 * W > 16 ? (1u << (2 * W - 16)) - 1 : 0u);
  std::fill(dx, dx + s.in_size(), 0.0f);
  for (int c = 0; c < s.c; ++c) {
    for (int ky = 0; ky < s.kh; ++ky) {
      const float* wk = w + (int64_t{c} * s.kh + ky) * s.kw;
      for (int oy = 0; oy < s.out_h; oy += 2) {
        __m512 g[OC];
#pragma GCC unroll 32
        for (int o = 0; o < OC; ++o) g[o] = _mm512_loadu_ps(dy + o * P + int64_t{oy} * 8);
        float* base = dx + (int64_t{c} * s.h + oy + ky) * W;
        __m512 lo = _mm512_maskz_loadu_ps(span_lo, base), hi = _mm512_maskz_loadu_ps(span_hi, base + 16);
        for (int kx = 0; kx < s.kw; ++kx) {
          __m512 d = _mm512_fmadd_ps(_mm512_set1_ps(wk[kx]), g[0], _mm512_setzero_ps());
#pragma GCC unroll 32
          for (int o = 1; o < OC; ++o) d = _mm512_fmadd_ps(_mm512_set1_ps(wk[o * K + kx]), g[o], d);
          lo = _mm512_mask_add_ps(lo, m_lo[kx], lo, _mm512_permutexvar_ps(_mm512_load_si512(idx[kx]), d));
          hi = _mm512_mask_add_ps(hi, m_hi[kx], hi, _mm512_permutexvar_ps(_mm512_load_si512(idx[kx] + 16), d));
        }
        _mm512_mask_storeu_ps(base, span_lo, lo);
        _mm512_mask_storeu_ps(base + 16, span_hi, hi);
      }
    }
  }
}
// dW of a 5-column convolution with 8-pixel output rows (LeNet's conv2) without im2col on
// AVX-512, for samples [i0, i1): pdw[o, k] = (accumulate ? pdw[o, k] : 0) + Σ_i Σ_oy Σ_ox
// dy_i[o, oy, ox] · x_i[c, oy + ky, ox + kx], k = (c·kh + ky)·5 + kx. One vector holds output
// rows oy and oy + 1; for four filters and one (c, ky) the 4 × 5 sums live in 20 registers over
// every sample of the range, and are reduced once at the end.
HYDRANET_AVX512 void conv_dw_pairs_avx512(const ConvShape& s, const float* x, const float* dy, int i0, int i1, float* pdw,
                                          bool accumulate) {
  const int64_t P = s.pixels(), K = s.patch();
  const int W = s.w;
  for (int o0 = 0; o0 < s.out_c; o0 += 4) {
    for (int c = 0; c < s.c; ++c) {
      for (int ky = 0; ky < s.kh; ++ky) {
        __m512 acc[4][5];
#pragma GCC unroll 4
        for (int oo = 0; oo < 4; ++oo) {
#pragma GCC unroll 5
          for (int kx = 0; kx < 5; ++kx) acc[oo][kx] = _mm512_setzero_ps();
        }
        for (int i = i0; i < i1; ++i) {
          const float* xc = x + i * s.in_size() + (int64_t{c} * s.h + ky) * W;
          const float* g0 = dy + i * s.out_size() + int64_t{o0} * P;
          for (int oy = 0; oy < s.out_h; oy += 2) {
            const float* xr = xc + int64_t{oy} * W;
            __m512 xv[5];
#pragma GCC unroll 5
            for (int kx = 0; kx < 5; ++kx) {
              xv[kx] = _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_loadu_ps(xr + kx)), _mm256_loadu_ps(xr + W + kx), 1);
            }
#pragma GCC unroll 4
            for (int oo = 0; oo < 4; ++oo) {
              const __m512 g = _mm512_loadu_ps(g0 + oo * P + int64_t{oy} * 8);
#pragma GCC unroll 5
              for (int kx = 0; kx < 5; ++kx) acc[oo][kx] = _mm512_fmadd_ps(g, xv[kx], acc[oo][kx]);
            }
          }
        }
#pragma GCC unroll 4
        for (int oo = 0; oo < 4; ++oo) {
          float* r = pdw + (o0 + oo) * K + (int64_t{c} * s.kh + ky) * 5;
#pragma GCC unroll 5
          for (int kx = 0; kx < 5; ++kx) {
            const float v = _mm512_reduce_add_ps(acc[oo][kx]);
            r[kx] = accumulate ? r[kx] + v : v;
          }
        }
      }
    }
  }
}
// ---- AVX2 + FMA copies of the direct kernels (8-lane vectors, 16 registers) ----------------

// Lanes [0, count) of an AVX2 mask vector.
HYDRANET_AVX2 inline __m256i lanes_below_avx2(int count) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
// The 8 floats at p, or the first `tail` of them (the rest 0, nothing past them read) when tail < 8.
HYDRANET_AVX2 inline __m256 load_tail_avx2(const float* p, int tail, __m256i m) {
  return tail == 8 ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, m);
}
// Σ of the eight lanes, in a fixed order.
HYDRANET_AVX2 inline float hsum_avx2(__m256 v) {
  const __m128 q = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 d = _mm_add_ps(q, _mm_movehl_ps(q, q));
  return _mm_cvtss_f32(_mm_add_ss(d, _mm_movehdup_ps(d)));
}

// The forward without im2col on AVX2 (stride 1, no padding, K ≤ the GEMM's k block, rows of at
// most 32 pixels): the arithmetic of conv_block_avx512, so the GEMM path's bits. A row is NV
// vectors (the last one masked when out_w is not a multiple of 8), R rows a pass (the second one
// of a pass past the last row re-reads the first and is not stored), OB filters a block, the
// OB·R·NV accumulators in registers (at most 12 of the 16).
template <int OB, int NV, int R>
HYDRANET_AVX2 void conv_block_avx2(const ConvShape& s, const float* x, const float* w, const float* b, float* y, bool relu) {
  const int64_t K = s.patch(), P = s.pixels();
  const int ow = s.out_w, tail = ow - 8 * (NV - 1);
  const __m256i mt = lanes_below_avx2(tail);
  for (int oy = 0; oy < s.out_h; oy += R) {
    const int rows = std::min(R, s.out_h - oy);
    __m256 acc[OB][R][NV];
#pragma GCC unroll 8
    for (int o = 0; o < OB; ++o)
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[o][r][v] = _mm256_setzero_ps();
    int64_t k = 0;
    for (int c = 0; c < s.c; ++c) {
      for (int ky = 0; ky < s.kh; ++ky) {
        const float* xr = x + (int64_t{c} * s.h + oy + ky) * s.w;
        for (int kx = 0; kx < s.kw; ++kx, ++k) {
          __m256 xv[R][NV];
#pragma GCC unroll 4
          for (int r = 0; r < R; ++r) {
            const float* p = xr + (r < rows ? r : 0) * s.w + kx;
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) xv[r][v] = v + 1 < NV ? _mm256_loadu_ps(p + 8 * v) : load_tail_avx2(p + 8 * v, tail, mt);
          }
#pragma GCC unroll 8
          for (int o = 0; o < OB; ++o) {
            const __m256 wv = _mm256_set1_ps(w[o * K + k]);
#pragma GCC unroll 4
            for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
              for (int v = 0; v < NV; ++v) acc[o][r][v] = _mm256_fmadd_ps(wv, xv[r][v], acc[o][r][v]);
          }
        }
      }
    }
    // Loops over constants only (unrolled), so the accumulators never leave their registers.
#pragma GCC unroll 8
    for (int o = 0; o < OB; ++o) {
      const __m256 bv = _mm256_set1_ps(b ? b[o] : 0.0f);
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) {
        if (r >= rows) break;
        float* yr = y + o * P + int64_t{oy + r} * ow;
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) {
          __m256 t = acc[o][r][v];
          if (b) t = _mm256_add_ps(t, bv);
          if (relu) t = _mm256_max_ps(_mm256_setzero_ps(), t);  // NaN (the second operand) passes through
          if (v + 1 < NV || tail == 8) {
            _mm256_storeu_ps(yr + 8 * v, t);
          } else {
            _mm256_maskstore_ps(yr + 8 * v, mt, t);
          }
        }
      }
    }
  }
}

// The last `rest` (< M + 1) filters in one block of that many.
template <int NV, int R, int M>
HYDRANET_AVX2 void conv_rest_avx2(int rest, const ConvShape& s, const float* x, const float* w, const float* b, float* y, bool relu) {
  if constexpr (M > 0) {
    if (rest == M) return conv_block_avx2<M, NV, R>(s, x, w, b, y, relu);
    conv_rest_avx2<NV, R, M - 1>(rest, s, x, w, b, y, relu);
  }
}

template <int NV, int R, int OB>
HYDRANET_AVX2 void conv_forward_direct_avx2(const ConvShape& s, const float* x, const float* w, const float* b, float* y, bool relu) {
  const int64_t K = s.patch(), P = s.pixels();
  int o = 0;
  for (; o + OB <= s.out_c; o += OB) conv_block_avx2<OB, NV, R>(s, x, w + o * K, b ? b + o : nullptr, y + o * P, relu);
  conv_rest_avx2<NV, R, OB - 1>(s.out_c - o, s, x, w + o * K, b ? b + o : nullptr, y + o * P, relu);
}

// dx of one sample without the dcol matrix on AVX2, for output rows of at most 8 pixels, stride
// 1, no padding and KW ≤ 5 kernel columns: conv_dx_pairs_avx512's arithmetic, so the GEMM path's
// bits (each dcol value one FMA chain over the filters from 0, added to dx, zeroed, in col2im's
// (ky, kx) order). Two output rows a pass: their KW dcol vectors in 2·KW registers, each then
// shifted kx lanes into its image row (at most 12 pixels: two vectors) and added.
template <int KW>
HYDRANET_AVX2 void conv_dx_rows_avx2(const ConvShape& s, const float* w, const float* dy, float* dx) {
  const int64_t P = s.pixels(), K = s.patch();
  const int W = s.w, ow = s.out_w;
  const __m256i mo = lanes_below_avx2(ow);
  __m256i idx_lo[KW], idx_hi[KW], m_lo[KW], m_hi[KW];
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  for (int kx = 0; kx < KW; ++kx) {
    // Image pixel j (lo) or 8 + j (hi) takes dcol lane j − kx (8 + j − kx) when it lies in [0, ow).
    const __m256i src_lo = _mm256_sub_epi32(lane, _mm256_set1_epi32(kx));
    const __m256i src_hi = _mm256_add_epi32(src_lo, _mm256_set1_epi32(8));
    idx_lo[kx] = _mm256_and_si256(src_lo, _mm256_set1_epi32(7));
    idx_hi[kx] = _mm256_and_si256(src_hi, _mm256_set1_epi32(7));
    m_lo[kx] = _mm256_andnot_si256(_mm256_cmpgt_epi32(_mm256_setzero_si256(), src_lo), _mm256_cmpgt_epi32(_mm256_set1_epi32(ow), src_lo));
    m_hi[kx] = _mm256_cmpgt_epi32(_mm256_set1_epi32(ow), src_hi);
  }
  const __m256i w_lo = lanes_below_avx2(W), w_hi = lanes_below_avx2(W - 8);
  std::fill(dx, dx + s.in_size(), 0.0f);
  for (int c = 0; c < s.c; ++c) {
    for (int ky = 0; ky < s.kh; ++ky) {
      const float* wk = w + (int64_t{c} * s.kh + ky) * KW;
      for (int oy = 0; oy < s.out_h; oy += 2) {
        const int rows = std::min(2, s.out_h - oy);
        const float* g0 = dy + int64_t{oy} * ow;
        const float* g1 = g0 + (rows == 2 ? ow : 0);
        __m256 d[2][KW];
#pragma GCC unroll 5
        for (int kx = 0; kx < KW; ++kx) d[0][kx] = d[1][kx] = _mm256_setzero_ps();
        for (int o = 0; o < s.out_c; ++o) {
          const __m256 a0 = load_tail_avx2(g0 + o * P, ow, mo), a1 = load_tail_avx2(g1 + o * P, ow, mo);
#pragma GCC unroll 5
          for (int kx = 0; kx < KW; ++kx) {
            const __m256 wv = _mm256_set1_ps(wk[o * K + kx]);
            d[0][kx] = _mm256_fmadd_ps(wv, a0, d[0][kx]);
            d[1][kx] = _mm256_fmadd_ps(wv, a1, d[1][kx]);
          }
        }
#pragma GCC unroll 2
        for (int r = 0; r < 2; ++r) {
          if (r >= rows) break;  // a constant index: d stays in registers
          float* img = dx + (int64_t{c} * s.h + oy + r + ky) * W;
          __m256 lo = load_tail_avx2(img, W >= 8 ? 8 : W, w_lo), hi = _mm256_maskload_ps(img + 8, w_hi);
#pragma GCC unroll 5
          for (int kx = 0; kx < KW; ++kx) {
            // + 0 where no dcol value lands: exact, a sum from +0 is never −0.
            lo = _mm256_add_ps(lo, _mm256_and_ps(_mm256_castsi256_ps(m_lo[kx]), _mm256_permutevar8x32_ps(d[r][kx], idx_lo[kx])));
            hi = _mm256_add_ps(hi, _mm256_and_ps(_mm256_castsi256_ps(m_hi[kx]), _mm256_permutevar8x32_ps(d[r][kx], idx_hi[kx])));
          }
          if (W >= 8) {
            _mm256_storeu_ps(img, lo);
          } else {
            _mm256_maskstore_ps(img, w_lo, lo);
          }
          _mm256_maskstore_ps(img + 8, w_hi, hi);
        }
      }
    }
  }
}
// dW of a convolution with KW ≤ 5 kernel columns without im2col on AVX2, for samples [i0, i1)
// and filters [o0, o0 + OB): pdw[o, k] = (accumulate ? pdw[o, k] : 0) + Σ_i Σ_oy Σ_ox
// dy_i[o, oy, ox]·x_i[c, oy + ky, ox + kx], k = (c·kh + ky)·KW + kx. An output row is read 8
// pixels a vector (the last one masked: nothing past the row is read); for OB filters and one
// (c, ky) the OB·KW sums live in registers over every row vector of every sample of the range,
// and are reduced once at the end (a fixed order, its own bits). The KW shifted image vectors
// are loaded once for the OB filters.
template <int KW, int OB>
HYDRANET_AVX2 void conv_dw_rows_avx2(const ConvShape& s, const float* x, const float* dy, int i0, int i1, int o0, float* pdw,
                                     bool accumulate) {
  const int64_t P = s.pixels(), K = s.patch();
  const int W = s.w, ow = s.out_w, nv = (ow + 7) / 8, tail = ow - 8 * (nv - 1);
  const __m256i m = lanes_below_avx2(tail);
  for (int c = 0; c < s.c; ++c) {
    for (int ky = 0; ky < s.kh; ++ky) {
      __m256 acc[OB][KW];
#pragma GCC unroll 2
      for (int oo = 0; oo < OB; ++oo)
#pragma GCC unroll 5
        for (int kx = 0; kx < KW; ++kx) acc[oo][kx] = _mm256_setzero_ps();
      for (int i = i0; i < i1; ++i) {
        const float* xr = x + i * s.in_size() + (int64_t{c} * s.h + ky) * W;
        const float* g0 = dy + i * s.out_size() + int64_t{o0} * P;
        for (int oy = 0; oy < s.out_h; ++oy, xr += W, g0 += ow) {
          for (int v = 0; v < nv; ++v) {
            const int t = v + 1 < nv ? 8 : tail;
            __m256 g[OB];
#pragma GCC unroll 2
            for (int oo = 0; oo < OB; ++oo) g[oo] = load_tail_avx2(g0 + oo * P + 8 * v, t, m);
#pragma GCC unroll 5
            for (int kx = 0; kx < KW; ++kx) {
              __m256 xv = load_tail_avx2(xr + 8 * v + kx, t, m);
              __asm__("" : "+x"(xv));  // one load for the OB filters (GCC would fold it into each FMA)
#pragma GCC unroll 2
              for (int oo = 0; oo < OB; ++oo) acc[oo][kx] = _mm256_fmadd_ps(g[oo], xv, acc[oo][kx]);
            }
          }
        }
      }
#pragma GCC unroll 2
      for (int oo = 0; oo < OB; ++oo) {
        float* r = pdw + (o0 + oo) * K + (int64_t{c} * s.kh + ky) * KW;
#pragma GCC unroll 5
        for (int kx = 0; kx < KW; ++kx) {
          const float v = hsum_avx2(acc[oo][kx]);
          r[kx] = accumulate ? r[kx] + v : v;
        }
      }
    }
  }
}

template <int KW>
HYDRANET_AVX2 void conv_dw_direct_avx2(const ConvShape& s, const float* x, const float* dy, int i0, int i1, float* pdw, bool accumulate) {
  int o = 0;
  for (; o + 2 <= s.out_c; o += 2) conv_dw_rows_avx2<KW, 2>(s, x, dy, i0, i1, o, pdw, accumulate);
  if (o < s.out_c) conv_dw_rows_avx2<KW, 1>(s, x, dy, i0, i1, o, pdw, accumulate);
}
#undef HYDRANET_AVX512
#undef HYDRANET_AVX2
#pragma GCC diagnostic pop
#endif

// The stride-1 unpadded im2col on the chosen ISA's vectors; false: none (the portable loop runs).
bool im2col_s1_vec(const ConvShape& s, const float* x, float* col) {
#if HYDRANET_X86
  const Isa isa = isa_chosen();
  if (isa == Isa::avx512) return im2col_s1_avx512(s, x, col), true;
  if (isa == Isa::avx2) return im2col_s1_avx2(s, x, col), true;
#endif
  (void)s, (void)x, (void)col;
  return false;
}

// The stride-1 unpadded col2im (dx zeroed) on AVX-512 for rows of at most 16 pixels; false: none.
bool col2im_s1_vec(const ConvShape& s, const float* dcol, float* dx) {
#if HYDRANET_X86
  const Isa isa = isa_chosen();
  if (isa == Isa::avx512 && s.w <= 16) return col2im_s1_avx512(s, dcol, dx), true;
#endif
  (void)s, (void)dcol, (void)dx;
  return false;
}

// One sample's forward without im2col on AVX-512 (see conv_block_avx512) or AVX2 (rows of at
// most 32 pixels, conv_block_avx2); false: not this shape, ISA or activation (the im2col + GEMM
// path runs).
bool forward_direct_vec(const ConvShape& s, const float* x, const float* w, const float* b, float* y, Activation act) {
#if HYDRANET_X86
  const Isa isa = isa_chosen();
  if (isa == Isa::scalar || s.stride != 1 || s.padding != 0 || s.patch() > isa_kernels().kc) return false;
  if (act != Activation::none && act != Activation::relu) return false;
  const bool relu = act == Activation::relu;
  if (isa == Isa::avx512) {
    if (s.out_w > 16 && s.out_w <= 32) return conv_forward_direct_avx512<false>(s, x, w, b, y, relu), true;
    if (s.out_w == 8) return conv_forward_direct_avx512<true>(s, x, w, b, y, relu), true;
    return false;
  }
  // AVX2: NV vectors a row, R rows a pass, OB filters a block (OB·R·NV ≤ 12 accumulators).
  if (s.out_w <= 8 && s.out_c % 6 != 0 && s.out_c % 5 == 0) return conv_forward_direct_avx2<1, 2, 5>(s, x, w, b, y, relu), true;
  if (s.out_w <= 8) return conv_forward_direct_avx2<1, 2, 6>(s, x, w, b, y, relu), true;
  if (s.out_w <= 16) return conv_forward_direct_avx2<2, 1, 5>(s, x, w, b, y, relu), true;
  if (s.out_w <= 24) return conv_forward_direct_avx2<3, 1, 4>(s, x, w, b, y, relu), true;
  if (s.out_w <= 32) return conv_forward_direct_avx2<4, 1, 2>(s, x, w, b, y, relu), true;
#endif
  (void)s, (void)x, (void)w, (void)b, (void)y, (void)act;
  return false;
}

// Whether conv_dx_pairs_avx512 computes dx: AVX-512, stride 1, no padding, 8-pixel output rows,
// an even out_h, at most 8 kernel columns, 20 output channels (the one instantiation: LeNet's
// conv2); or conv_dx_rows_avx2: AVX2, stride 1, no padding, output rows of at most 8 pixels, at
// most 5 kernel columns, at most the GEMM's k block of output channels (its bits).
bool dx_pairs_direct(const ConvShape& s) {
#if HYDRANET_X86
  const Isa isa = isa_chosen();
  if (s.stride != 1 || s.padding != 0 || s.out_c > isa_kernels().kc) return false;
  if (isa == Isa::avx2) return s.out_w <= 8 && s.kw <= 5;
  return isa == Isa::avx512 && s.out_w == 8 && s.out_h % 2 == 0 && s.kw <= 8 && s.out_c == 20;
#else
  (void)s;
  return false;
#endif
}

// dx_i = ∂L/∂x_i on the dx_pairs_direct shapes.
void dx_pairs_vec(const ConvShape& s, const float* w, const float* dy, float* dx) {
#if HYDRANET_X86
  const Isa isa = isa_chosen();
  if (isa == Isa::avx512) return conv_dx_pairs_avx512<20>(s, w, dy, dx);
  switch (s.kw) {
    case 1: return conv_dx_rows_avx2<1>(s, w, dy, dx);
    case 2: return conv_dx_rows_avx2<2>(s, w, dy, dx);
    case 3: return conv_dx_rows_avx2<3>(s, w, dy, dx);
    case 4: return conv_dx_rows_avx2<4>(s, w, dy, dx);
    default: return conv_dx_rows_avx2<5>(s, w, dy, dx);
  }
#else
  (void)s, (void)w, (void)dy, (void)dx;
#endif
}

// Whether conv_dw_pairs_avx512 computes dW: AVX-512, stride 1, no padding, 8-pixel output rows,
// an even out_h, 5 kernel columns and a multiple of 4 filters (LeNet's conv2).
#if HYDRANET_X86
bool dw_pairs_avx512(const ConvShape& s) {
  return s.out_w == 8 && s.out_h % 2 == 0 && s.kw == 5 && s.out_c % 4 == 0;
}
#endif

// Whether dW runs without im2col (dw_direct_vec): stride 1, no padding, and on AVX2 at most 5
// kernel columns (conv_dw_direct_avx2: LeNet's conv1 and conv2); on AVX-512 the dw_pairs_avx512
// shapes, or a one-channel 5×5 layer with rows of 17 to 32 pixels (LeNet's conv1), which the
// AVX2 kernel takes there too (faster than a 16-lane kernel on 24-pixel rows, and than the GEMM).
bool dw_direct(const ConvShape& s) {
#if HYDRANET_X86
  const Isa isa = isa_chosen();
  if (s.stride != 1 || s.padding != 0) return false;
  if (isa == Isa::avx2) return s.kw <= 5;
  return isa == Isa::avx512 &&
         (dw_pairs_avx512(s) || (s.c == 1 && s.kh == 5 && s.kw == 5 && s.out_w > 16 && s.out_w <= 32));
#else
  (void)s;
  return false;
#endif
}

// pdw (+)= the dW of samples [i0, i1) on the dw_direct shapes.
void dw_direct_vec(const ConvShape& s, const float* x, const float* dy, int i0, int i1, float* pdw, bool accumulate) {
#if HYDRANET_X86
  const Isa isa = isa_chosen();
  if (isa == Isa::avx512 && dw_pairs_avx512(s)) return conv_dw_pairs_avx512(s, x, dy, i0, i1, pdw, accumulate);
  switch (s.kw) {
    case 1: return conv_dw_direct_avx2<1>(s, x, dy, i0, i1, pdw, accumulate);
    case 2: return conv_dw_direct_avx2<2>(s, x, dy, i0, i1, pdw, accumulate);
    case 3: return conv_dw_direct_avx2<3>(s, x, dy, i0, i1, pdw, accumulate);
    case 4: return conv_dw_direct_avx2<4>(s, x, dy, i0, i1, pdw, accumulate);
    default: return conv_dw_direct_avx2<5>(s, x, dy, i0, i1, pdw, accumulate);
  }
#else
  (void)s, (void)x, (void)dy, (void)i0, (void)i1, (void)pdw, (void)accumulate;
#endif
}

// sum_run on the chosen ISA's vectors.
double sum_run_vec(const float* r, int64_t n) {
#if HYDRANET_X86
  const Isa isa = isa_chosen();
  if (isa == Isa::avx512) return sum_run_avx512(r, n);
  if (isa == Isa::avx2) return sum_run_avx2(r, n);
#endif
  return sum_run(r, n);
}

void im2col(const ConvShape& s, const float* x, float* col) {
  const int64_t P = s.pixels();
  float* row = col;
  if (s.stride == 1 && s.padding == 0) {
    // Every window lies inside the image (LeNet's convolutions): each col row is out_h runs
    // of out_w pixels, no bounds and no zeros.
    if (im2col_s1_vec(s, x, col)) return;
    for (int c = 0; c < s.c; ++c) {
      const float* plane = x + int64_t{c} * s.h * s.w;
      for (int ky = 0; ky < s.kh; ++ky) {
        for (int kx = 0; kx < s.kw; ++kx, row += P) {
          const float* src = plane + int64_t{ky} * s.w + kx;
          for (int oy = 0; oy < s.out_h; ++oy) copy_run(row + int64_t{oy} * s.out_w, src + int64_t{oy} * s.w, s.out_w);
        }
      }
    }
    return;
  }
  for (int c = 0; c < s.c; ++c) {
    const float* plane = x + int64_t{c} * s.h * s.w;
    for (int ky = 0; ky < s.kh; ++ky) {
      for (int kx = 0; kx < s.kw; ++kx, row += P) {
        int lo, hi;
        valid_range(s.out_w, s.w, s.stride, s.padding, kx, lo, hi);
        for (int oy = 0; oy < s.out_h; ++oy) {
          float* dst = row + int64_t{oy} * s.out_w;
          const int iy = oy * s.stride - s.padding + ky;
          if (iy < 0 || iy >= s.h || lo >= hi) {
            std::fill(dst, dst + s.out_w, 0.0f);
            continue;
          }
          std::fill(dst, dst + lo, 0.0f);
          const float* src = plane + int64_t{iy} * s.w + (lo * s.stride - s.padding + kx);
          if (s.stride == 1) {
            copy_run(dst + lo, src, hi - lo);
          } else {
            for (int ox = lo; ox < hi; ++ox) dst[ox] = src[int64_t{ox - lo} * s.stride];
          }
          std::fill(dst + hi, dst + s.out_w, 0.0f);
        }
      }
    }
  }
}

// dx = col2im(dcol): every column entry added back to the input pixel it was read from (=).
void col2im(const ConvShape& s, const float* dcol, float* dx) {
  std::fill(dx, dx + s.in_size(), 0.0f);
  if (s.stride == 1 && s.padding == 0 && col2im_s1_vec(s, dcol, dx)) return;
  const int64_t P = s.pixels();
  const float* row = dcol;
  for (int c = 0; c < s.c; ++c) {
    float* plane = dx + int64_t{c} * s.h * s.w;
    for (int ky = 0; ky < s.kh; ++ky) {
      for (int kx = 0; kx < s.kw; ++kx, row += P) {
        int lo, hi;
        valid_range(s.out_w, s.w, s.stride, s.padding, kx, lo, hi);
        if (lo >= hi) continue;
        for (int oy = 0; oy < s.out_h; ++oy) {
          const int iy = oy * s.stride - s.padding + ky;
          if (iy < 0 || iy >= s.h) continue;
          const float* src = row + int64_t{oy} * s.out_w;
          float* dst = plane + int64_t{iy} * s.w + (lo * s.stride - s.padding + kx);
          if (s.stride == 1) {
            for (int ox = lo; ox < hi; ++ox) dst[ox - lo] += src[ox];
          } else {
            for (int ox = lo; ox < hi; ++ox) dst[int64_t{ox - lo} * s.stride] += src[ox];
          }
        }
      }
    }
  }
}

// One sample's forward: y_i = act(W·col_i + b), with col_i built in `col` (unless direct).
void forward_sample(const ConvShape& s, const float* x, const float* w, const float* b, float* y, Activation act,
                    float* col, float* gemm_ws, int threads) {
  if (forward_direct_vec(s, x, w, b, y, act)) return;
  const int64_t K = s.patch(), P = s.pixels();
  const float* cols = x;
  if (!is_direct(s)) {
    im2col(s, x, col);
    cols = col;
  }
  if (b) {
    for (int o = 0; o < s.out_c; ++o) std::fill(y + o * P, y + (o + 1) * P, b[o]);
  }
  GemmArgs g = product(s.out_c, static_cast<int>(P), static_cast<int>(K), w, K, false, cols, P, false, y, P,
                       b ? 1.0f : 0.0f);
  g.act = act;
  if (gemm_ws) {
    gemm_serial(g, gemm_ws);
  } else {
    gemm(g, threads);
  }
}

// Fixed chunks of samples for the backward pass: a function of the shapes only. Each chunk keeps
// a private dW, so their count is capped by a memory budget.
constexpr int kMaxChunks = 32;
constexpr int64_t kPartialBudget = int64_t{1} << 22;  // floats of private dW in all

int backward_chunks(const ConvShape& s, int n) {
  const int64_t wsize = s.out_c * s.patch();
  const int64_t by_memory = std::max<int64_t>(1, kPartialBudget / wsize);
  return static_cast<int>(std::min<int64_t>({int64_t{n}, kMaxChunks, by_memory}));
}

// Scratch of the calling thread: the forward's col when it runs on the threaded GEMM, and the
// backward's per-chunk partial sums. Grow-only.
thread_local Workspace caller_scratch;
thread_local std::vector<double> caller_doubles;

}  // namespace

// y [n, outC, outH, outW] = act(conv2d(x [n, C, H, W], w [outC, C, kh, kw]) + b [outC] or 0).
void conv2d_forward(const ConvShape& s, const float* x, const float* w, const float* b, float* y, int n,
                    Activation act, int threads) {
  const int64_t col_floats = is_direct(s) ? 0 : s.patch() * s.pixels();
  if (n < threads) {
    // Too few samples to share out: one sample at a time, the GEMM threaded.
    caller_scratch.reserve(static_cast<size_t>(std::max<int64_t>(col_floats, 1)));
    for (int i = 0; i < n; ++i) {
      forward_sample(s, x + i * s.in_size(), w, b, y + i * s.out_size(), act, caller_scratch.data(), nullptr,
                     threads);
    }
    return;
  }
  const size_t gemm_ws = gemm_workspace_floats();
  auto task = [&](int i, float* ws) {
    forward_sample(s, x + i * s.in_size(), w, b, y + i * s.out_size(), act, ws + gemm_ws, ws, 1);
  };
  ThreadPool::instance().parallel_for(n, threads, gemm_ws + static_cast<size_t>(col_floats), task);
}

// dw += ∂L/∂w, db (may be null) += Σ dy per channel, dx (may be null) = ∂L/∂x, from dy.
void conv2d_backward(const ConvShape& s, const float* x, const float* w, const float* dy, float* dx, float* dw,
                     float* db, int n, int threads) {
  const int64_t K = s.patch(), P = s.pixels(), wsize = s.out_c * K;
  const bool direct = is_direct(s);
  const int chunks = backward_chunks(s, n);
  // One chunk accumulates straight into dw; more keep private sums, added in order below.
  if (chunks > 1) caller_scratch.reserve(static_cast<size_t>(chunks * wsize));
  float* partial_dw = caller_scratch.data();
  if (caller_doubles.size() < static_cast<size_t>(chunks) * s.out_c) caller_doubles.resize(size_t(chunks) * s.out_c);
  double* partial_db = caller_doubles.data();

  const size_t gemm_ws = gemm_workspace_floats();
  const bool dw_own = !direct && dw_direct(s);
  const size_t col_floats = direct || dw_own ? 0 : static_cast<size_t>(K * P);
  const bool dx_direct = dx && !direct && dx_pairs_direct(s);
  const size_t dcol_floats = direct || !dx || dx_direct ? 0 : static_cast<size_t>(K * P);
  auto task = [&](int c, float* ws) {
    const int i0 = static_cast<int>(int64_t{n} * c / chunks), i1 = static_cast<int>(int64_t{n} * (c + 1) / chunks);
    float* col = ws + gemm_ws;
    float* dcol = col + col_floats;
    float* pdw = chunks > 1 ? partial_dw + c * wsize : dw;
    double* pdb = partial_db + int64_t{c} * s.out_c;
    std::fill(pdb, pdb + s.out_c, 0.0);
    if (dw_own) dw_direct_vec(s, x, dy, i0, i1, pdw, chunks == 1);
    for (int i = i0; i < i1; ++i) {
      const float* xi = x + i * s.in_size();
      const float* dyi = dy + i * s.out_size();
      if (!dw_own) {
        const float* cols = xi;
        if (!direct) {
          im2col(s, xi, col);
          cols = col;
        }
        // dW [outC, K] (+)= dy_i [outC, P] · col_iᵀ (col_i stored [K, P]).
        const float beta = chunks == 1 || i > i0 ? 1.0f : 0.0f;
        gemm_serial(product(s.out_c, static_cast<int>(K), static_cast<int>(P), dyi, P, false, cols, P, true, pdw, K,
                            beta),
                    ws);
      }
      if (db) {
        for (int o = 0; o < s.out_c; ++o) {
          pdb[o] += sum_run_vec(dyi + o * P, P);
        }
      }
      if (dx_direct) {
        dx_pairs_vec(s, w, dyi, dx + i * s.in_size());
      } else if (dx) {
        // dcol [K, P] = Wᵀ [K, outC] · dy_i [outC, P] (W stored [outC, K]); direct: into dx_i.
        float* dxi = dx + i * s.in_size();
        gemm_serial(product(static_cast<int>(K), static_cast<int>(P), s.out_c, w, K, true, dyi, P, false,
                            direct ? dxi : dcol, P, 0.0f),
                    ws);
        if (!direct) col2im(s, dcol, dxi);
      }
    }
  };
  ThreadPool::instance().parallel_for(chunks, threads, gemm_ws + col_floats + dcol_floats, task);

  if (chunks > 1) {
    parallel_range(wsize, threads, int64_t{1} << 14, [&](int64_t j0, int64_t j1) {
      for (int64_t j = j0; j < j1; ++j) {
        double sum = 0;
        for (int c = 0; c < chunks; ++c) sum += partial_dw[c * wsize + j];
        dw[j] = static_cast<float>(dw[j] + sum);
      }
    });
  }
  if (db) {
    for (int o = 0; o < s.out_c; ++o) {
      double sum = 0;
      for (int c = 0; c < chunks; ++c) sum += partial_db[int64_t{c} * s.out_c + o];
      db[o] = static_cast<float>(db[o] + sum);
    }
  }
}

}  // namespace hydranet

// ---- N-API entries (native/cpu/addon_args.h) ----------------------------------------

namespace hydranet::cpu_addon {

// conv2dForward(geometry, x, w, b|null, y, n, activation, threads)
void conv2d_forward(const Args& a) {
  const layouts::Conv G = layouts::conv(a, 0, 5);
  hydranet::conv2d_forward(G.shape, a.f32(1, "x", G.x), a.f32(2, "w", G.w),
                           a.f32_or_null(3, "b", G.out_c), a.f32(4, "y", G.y), G.n, a.activation(6), a.threads(7));
}
const Export<conv2d_forward> export_conv2d_forward("conv2dForward", 8);

// conv2dBackward(geometry, x, w, dy, dx|null, dw, db|null, n, threads)
void conv2d_backward(const Args& a) {
  const layouts::Conv G = layouts::conv(a, 0, 7);
  hydranet::conv2d_backward(G.shape, a.f32(1, "x", G.x), a.f32(2, "w", G.w),
                            a.f32(3, "dy", G.y), a.f32_or_null(4, "dx", G.x), a.f32(5, "dw", G.w),
                            a.f32_or_null(6, "db", G.out_c), G.n, a.threads(8));
}
const Export<conv2d_backward> export_conv2d_backward("conv2dBackward", 9);

}  // namespace hydranet::cpu_addon
