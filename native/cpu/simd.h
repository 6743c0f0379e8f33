// One SIMD vocabulary for the per-ISA kernels (isa_kernels.inc). This header is included by each
// isa_*.cc after its `#pragma GCC target`, inside that ISA's namespace, with HYDRANET_SIMD set to
// the vector it targets (GCC's target pragma does not define __AVX512F__ and friends):
// 512 = AVX-512 (16 lanes), 256 = AVX2+FMA (8 lanes), 0 = plain floats (1 lane, portable). Every function is defined once per ISA namespace, so the
// per-ISA copies never collide at link time. Standard headers are included by the .cc files
// before the pragma, so no inline std function is ever compiled for a wider ISA than baseline.

#if HYDRANET_SIMD == 512

constexpr int kLanes = 16;
using vf = __m512;
using vi = __m512i;

inline vf vzero() { return _mm512_setzero_ps(); }
inline vf vset(float x) { return _mm512_set1_ps(x); }
inline vf vload(const float* p) { return _mm512_loadu_ps(p); }
inline void vstore(float* p, vf v) { _mm512_storeu_ps(p, v); }
inline __mmask16 lane_mask(int n) { return static_cast<__mmask16>(n <= 0 ? 0u : n >= 16 ? 0xffffu : (1u << n) - 1u); }
inline vf vload_n(const float* p, int n) { return _mm512_maskz_loadu_ps(lane_mask(n), p); }
inline void vstore_n(float* p, vf v, int n) { _mm512_mask_storeu_ps(p, lane_mask(n), v); }
inline vf vadd(vf a, vf b) { return _mm512_add_ps(a, b); }
inline vf vsub(vf a, vf b) { return _mm512_sub_ps(a, b); }
inline vf vmul(vf a, vf b) { return _mm512_mul_ps(a, b); }
inline vf vdiv(vf a, vf b) { return _mm512_div_ps(a, b); }
inline vf vfma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
inline vf vmax(vf a, vf b) { return _mm512_max_ps(a, b); }
inline vf vmin(vf a, vf b) { return _mm512_min_ps(a, b); }
inline vf vsqrt(vf a) { return _mm512_sqrt_ps(a); }
inline vf vabs(vf a) { return _mm512_abs_ps(a); }
inline vf vcopysign(vf mag, vf sign) {
  const vi m = _mm512_set1_epi32(0x7fffffff);
  return _mm512_castsi512_ps(_mm512_ternarylogic_epi32(m, _mm512_castps_si512(mag), _mm512_castps_si512(sign), 0xca));
}
// a > 0 ? b : 0
inline vf vkeep_if_positive(vf a, vf b) {
  return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(a, vzero(), _CMP_GT_OQ), b);
}
// a < lim ? b : c
inline vf vselect_lt(vf a, vf lim, vf b, vf c) { return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, lim, _CMP_LT_OQ), c, b); }
// x · 2^n for integral-valued n (overflow gives inf, underflow 0)
inline vf vscale_pow2(vf x, vf n) { return _mm512_scalef_ps(x, n); }
inline vf vround(vf x) { return _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }

inline vi iset(uint32_t x) { return _mm512_set1_epi32(static_cast<int>(x)); }
inline vi iota_from(uint32_t base) {
  return _mm512_add_epi32(iset(base), _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
}
inline vi imul(vi a, vi b) { return _mm512_mullo_epi32(a, b); }
inline vi ixor(vi a, vi b) { return _mm512_xor_si512(a, b); }
template <int S> inline vi ishr(vi a) { return _mm512_srli_epi32(a, S); }
// a >= b (both below 2^31) ? x : 0
inline vf vkeep_if_ge(vi a, vi b, vf x) { return _mm512_maskz_mov_ps(_mm512_cmpge_epi32_mask(a, b), x); }

// Transposes 16 rows of 16 lanes in place: afterwards r[j] holds lane j of every input row.
inline void transpose_lanes(vf* r) {
  vf t[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    r[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
    r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xee);
    r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xee);
  }
  for (int i = 0; i < 4; ++i) {
    t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
    t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xdd);
    t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
    t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xdd);
  }
  for (int i = 0; i < 4; ++i) {
    r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
    r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd);
    r[i + 4] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0x88);
    r[i + 12] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0xdd);
  }
}

// A vector of floats widened to doubles and accumulated: acc += double(x), lane for lane.
struct vd {
  __m512d lo, hi;
};
inline vd vd_zero() { return {_mm512_setzero_pd(), _mm512_setzero_pd()}; }
inline void vd_add_widened(vd& acc, vf x) {
  acc.lo = _mm512_add_pd(acc.lo, _mm512_cvtps_pd(_mm512_castps512_ps256(x)));
  acc.hi = _mm512_add_pd(acc.hi, _mm512_cvtps_pd(_mm512_extractf32x8_ps(x, 1)));
}
inline void vd_store(double* p, vd v) {
  _mm512_storeu_pd(p, v.lo);
  _mm512_storeu_pd(p + 8, v.hi);
}
// acc += double(a)·double(b), lane for lane (the product of two floats is exact in double, so
// an FMA gives the bits of a multiply then an add).
inline void vd_fma_widened(vd& acc, vf a, vf b) {
  acc.lo = _mm512_fmadd_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(a)), _mm512_cvtps_pd(_mm512_castps512_ps256(b)), acc.lo);
  acc.hi = _mm512_fmadd_pd(_mm512_cvtps_pd(_mm512_extractf32x8_ps(a, 1)), _mm512_cvtps_pd(_mm512_extractf32x8_ps(b, 1)), acc.hi);
}

#elif HYDRANET_SIMD == 256

constexpr int kLanes = 8;
using vf = __m256;
using vi = __m256i;

inline vf vzero() { return _mm256_setzero_ps(); }
inline vf vset(float x) { return _mm256_set1_ps(x); }
inline vf vload(const float* p) { return _mm256_loadu_ps(p); }
inline void vstore(float* p, vf v) { _mm256_storeu_ps(p, v); }
inline vi lane_mask(int n) { return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)); }
inline vf vload_n(const float* p, int n) { return _mm256_maskload_ps(p, lane_mask(n)); }
inline void vstore_n(float* p, vf v, int n) { _mm256_maskstore_ps(p, lane_mask(n), v); }
inline vf vadd(vf a, vf b) { return _mm256_add_ps(a, b); }
inline vf vsub(vf a, vf b) { return _mm256_sub_ps(a, b); }
inline vf vmul(vf a, vf b) { return _mm256_mul_ps(a, b); }
inline vf vdiv(vf a, vf b) { return _mm256_div_ps(a, b); }
inline vf vfma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
inline vf vmax(vf a, vf b) { return _mm256_max_ps(a, b); }
inline vf vmin(vf a, vf b) { return _mm256_min_ps(a, b); }
inline vf vsqrt(vf a) { return _mm256_sqrt_ps(a); }
inline vf vabs(vf a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
inline vf vcopysign(vf mag, vf sign) {
  const vf s = _mm256_set1_ps(-0.0f);
  return _mm256_or_ps(_mm256_andnot_ps(s, mag), _mm256_and_ps(s, sign));
}
inline vf vkeep_if_positive(vf a, vf b) { return _mm256_and_ps(_mm256_cmp_ps(a, vzero(), _CMP_GT_OQ), b); }
inline vf vselect_lt(vf a, vf lim, vf b, vf c) { return _mm256_blendv_ps(c, b, _mm256_cmp_ps(a, lim, _CMP_LT_OQ)); }
inline vf vscale_pow2(vf x, vf n) {
  // Two half-steps keep 2^n representable over the whole clamped exp range.
  const vf lo = _mm256_set1_ps(-126.0f);
  const vf hi = _mm256_set1_ps(127.0f);
  const vf h = _mm256_round_ps(_mm256_mul_ps(n, _mm256_set1_ps(0.5f)), _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  auto pow2 = [&](vf e) {
    const vi bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(e, lo), hi)), _mm256_set1_epi32(127)), 23);
    return _mm256_castsi256_ps(bits);
  };
  return _mm256_mul_ps(_mm256_mul_ps(x, pow2(h)), pow2(_mm256_sub_ps(n, h)));
}
inline vf vround(vf x) { return _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }

inline vi iset(uint32_t x) { return _mm256_set1_epi32(static_cast<int>(x)); }
inline vi iota_from(uint32_t base) { return _mm256_add_epi32(iset(base), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)); }
inline vi imul(vi a, vi b) { return _mm256_mullo_epi32(a, b); }
inline vi ixor(vi a, vi b) { return _mm256_xor_si256(a, b); }
template <int S> inline vi ishr(vi a) { return _mm256_srli_epi32(a, S); }
inline vf vkeep_if_ge(vi a, vi b, vf x) { return _mm256_andnot_ps(_mm256_castsi256_ps(_mm256_cmpgt_epi32(b, a)), x); }

// Transposes 8 rows of 8 lanes in place: afterwards r[j] holds lane j of every input row.
inline void transpose_lanes(vf* r) {
  vf t[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    r[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
    r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xee);
    r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xee);
  }
  for (int i = 0; i < 4; ++i) {
    t[i] = _mm256_permute2f128_ps(r[i], r[i + 4], 0x20);
    t[i + 4] = _mm256_permute2f128_ps(r[i], r[i + 4], 0x31);
  }
  for (int i = 0; i < 8; ++i) r[i] = t[i];
}

struct vd {
  __m256d lo, hi;
};
inline vd vd_zero() { return {_mm256_setzero_pd(), _mm256_setzero_pd()}; }
inline void vd_add_widened(vd& acc, vf x) {
  acc.lo = _mm256_add_pd(acc.lo, _mm256_cvtps_pd(_mm256_castps256_ps128(x)));
  acc.hi = _mm256_add_pd(acc.hi, _mm256_cvtps_pd(_mm256_extractf128_ps(x, 1)));
}
inline void vd_store(double* p, vd v) {
  _mm256_storeu_pd(p, v.lo);
  _mm256_storeu_pd(p + 4, v.hi);
}
inline void vd_fma_widened(vd& acc, vf a, vf b) {
  acc.lo = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(a)), _mm256_cvtps_pd(_mm256_castps256_ps128(b)), acc.lo);
  acc.hi = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(a, 1)), _mm256_cvtps_pd(_mm256_extractf128_ps(b, 1)), acc.hi);
}

#else

constexpr int kLanes = 1;
using vf = float;
using vi = uint32_t;

inline vf vzero() { return 0.0f; }
inline vf vset(float x) { return x; }
inline vf vload(const float* p) { return *p; }
inline void vstore(float* p, vf v) { *p = v; }
inline vf vload_n(const float* p, int n) { return n > 0 ? *p : 0.0f; }
inline void vstore_n(float* p, vf v, int n) {
  if (n > 0) *p = v;
}
inline vf vadd(vf a, vf b) { return a + b; }
inline vf vsub(vf a, vf b) { return a - b; }
inline vf vmul(vf a, vf b) { return a * b; }
inline vf vdiv(vf a, vf b) { return a / b; }
inline vf vfma(vf a, vf b, vf c) { return a * b + c; }
inline vf vmax(vf a, vf b) { return a > b ? a : b; }
inline vf vmin(vf a, vf b) { return a < b ? a : b; }
inline vf vsqrt(vf a) { return std::sqrt(a); }
inline vf vabs(vf a) { return std::fabs(a); }
inline vf vcopysign(vf mag, vf sign) { return std::copysign(mag, sign); }
inline vf vkeep_if_positive(vf a, vf b) { return a > 0.0f ? b : 0.0f; }
inline vf vselect_lt(vf a, vf lim, vf b, vf c) { return a < lim ? b : c; }
inline vf vscale_pow2(vf x, vf n) { return n == n ? std::ldexp(x, static_cast<int>(n)) : n; }
inline vf vround(vf x) { return std::nearbyint(x); }

inline vi iset(uint32_t x) { return x; }
inline vi iota_from(uint32_t base) { return base; }
inline vi imul(vi a, vi b) { return a * b; }
inline vi ixor(vi a, vi b) { return a ^ b; }
template <int S> inline vi ishr(vi a) { return a >> S; }
inline vf vkeep_if_ge(vi a, vi b, vf x) { return a >= b ? x : 0.0f; }

inline void transpose_lanes(vf*) {}

using vd = double;
inline vd vd_zero() { return 0.0; }
inline void vd_add_widened(vd& acc, vf x) { acc += static_cast<double>(x); }
inline void vd_store(double* p, vd v) { *p = v; }
inline void vd_fma_widened(vd& acc, vf a, vf b) { acc += static_cast<double>(a) * static_cast<double>(b); }

#endif

// ---- math on vectors: accurate to a few ulp, branch-free ---------------------------------------

// e^x (Cephes expf polynomial), inputs clamped to the finite float range. vmax/vmin return
// their SECOND operand when either is NaN (the x86 rule, kept by the scalar path), so with x
// second a NaN passes the clamp and e^NaN = NaN: tanh, sigmoid and gelu of NaN are NaN.
inline vf vexp(vf x) {
  x = vmin(vset(88.7f), vmax(vset(-103.0f), x));
  const vf n = vround(vmul(x, vset(1.44269504088896341f)));
  vf r = vfma(n, vset(-0.693359375f), x);
  r = vfma(n, vset(2.12194440e-4f), r);
  vf p = vset(1.9875691500e-4f);
  p = vfma(p, r, vset(1.3981999507e-3f));
  p = vfma(p, r, vset(8.3334519073e-3f));
  p = vfma(p, r, vset(4.1665795894e-2f));
  p = vfma(p, r, vset(1.6666665459e-1f));
  p = vfma(p, r, vset(5.0000001201e-1f));
  p = vfma(vmul(p, r), r, vadd(r, vset(1.0f)));
  return vscale_pow2(p, n);
}

inline vf vsigmoid(vf x) { return vdiv(vset(1.0f), vadd(vset(1.0f), vexp(vsub(vzero(), x)))); }

// tanh: an odd polynomial near 0 (Cephes tanhf), 1 − 2/(e^{2|x|} + 1) elsewhere.
inline vf vtanh(vf x) {
  const vf ax = vabs(x);
  const vf z = vmul(x, x);
  vf p = vset(-5.70498872745e-3f);
  p = vfma(p, z, vset(2.06390887954e-2f));
  p = vfma(p, z, vset(-5.37397155531e-2f));
  p = vfma(p, z, vset(1.33314422036e-1f));
  p = vfma(p, z, vset(-3.33332819422e-1f));
  const vf small = vfma(vmul(p, z), x, x);
  const vf e = vexp(vmul(vset(2.0f), ax));
  const vf large = vcopysign(vsub(vset(1.0f), vdiv(vset(2.0f), vadd(e, vset(1.0f)))), x);
  return vselect_lt(ax, vset(0.625f), small, large);
}

constexpr float kGeluC = 0.7978845608028654f;  // √(2/π)
constexpr float kGeluA = 0.044715f;

// gelu(x) = ½x(1 + tanh u) = x·σ(2u), u = √(2/π)(x + 0.044715x³): no cancellation for x ≪ 0.
inline vf vgelu(vf x) {
  const vf u = vmul(vset(kGeluC), vfma(vmul(vset(kGeluA), vmul(x, x)), x, x));
  return vmul(x, vsigmoid(vmul(vset(2.0f), u)));
}

// gelu'(x) = s + 2x·s(1 − s)·u', s = σ(2u), u' = √(2/π)(1 + 3·0.044715x²).
inline vf vgelu_derivative(vf x) {
  const vf x2 = vmul(x, x);
  const vf u = vmul(vset(kGeluC), vfma(vmul(vset(kGeluA), x2), x, x));
  const vf du = vmul(vset(kGeluC), vfma(vset(3.0f * kGeluA), x2, vset(1.0f)));
  const vf s = vsigmoid(vmul(vset(2.0f), u));
  return vfma(vmul(vmul(vset(2.0f), x), vmul(s, vsub(vset(1.0f), s))), du, s);
}
