// GradDrop (Chen et al. 2020) on the webgpu backend; the reference backend is the spec.
//
// Shapes: g [T, M] (task t's gradient in row t), out [M] (=). Per element i, with the reference
// computing in f64:
//   P = ½(1 + Σ_t g_t / (Σ_t |g_t| + ε)),  u = hash24(seed, i) / 2^24,
//   keep_t = (u < P and g_t > 0) or (u > P and g_t < 0),
//   out[i] = Σ_t g_t · (leak + (1 − leak)·keep_t),
// ε = GRADDROP_EPSILON (ts/backends/backend.ts), received in the params (c and c0..c_pos).
//
// The keep decisions are made exactly, as the f64 reference makes them (f32 has no room for
// P's error: a flipped decision changes out by a whole g_t). With u = k/2^24 and r = 2u − 1:
//   u < P  ⇔  S − r·(A + c) > 0  ⇔  Σ_{g>0} |g|·(2^24 − k) − Σ_{g<0} |g|·k − (k − 2^23)·c > 0
// (multiplied by 2^23; S = Σ g, A = Σ |g|, c = f64(ε)), where 2^24 − k, k and k − 2^23 are
// integers. The sign of that sum is first taken from f32 arithmetic with a rigorous error bound
// (valid for any evaluation order and with or without fused multiply-adds); only when the sum
// is within its error bound of 0 (rare) is it recomputed exactly in 352-bit integer
// arithmetic on the raw bits (immune to float optimisations, subnormals included), where it
// differs from the f64 reference only when P lies within about 2^-52 of u.
// The output is summed in f32 as out = Σ_kept g_t + leak·Σ_dropped g_t (leak split hi + lo, so
// leak's own rounding to f32 adds nothing): within a few ulps of the largest |g_t|, like any f32
// sum (under heavy cancellation that can exceed a few ulps of out itself).
// (Compensated two-sum summation is not used: lavapipe's compiler folds its error term to 0.)
// A non-finite g_t makes the reference's P NaN, so nothing is kept: out = Σ g_t·leak.

//#include random.wgsl
//#include index.wgsl

struct GradDropParams {
  tasks: u32, m: u32, seed: u32,
  c0: u32, c1: u32, c2: u32, c_pos: u32,  // f64(ε) = (c2·2^48 + c1·2^24 + c0) · 2^(c_pos − 149)
  pad: u32,
  c: f32,        // f32(ε)
  leak_hi: f32,  // leak = leak_hi + leak_lo
  leak_lo: f32,
}

@group(0) @binding(0) var<storage, read> gd_g: array<f32>;
@group(0) @binding(1) var<storage, read_write> gd_out: array<f32>;
@group(0) @binding(2) var<uniform> gd_p: GradDropParams;

// ---- exact arithmetic: non-negative integers in 11 little-endian u32 limbs, in units of 2^-149 ----
const LIMBS: u32 = 11u;

// acc += v · 2^pos
fn big_add(acc: ptr<function, array<u32, 11>>, v: u32, pos: u32) {
  var i = pos >> 5u;
  let s = pos & 31u;
  let lo = v << s;
  var carry = select(0u, v >> (32u - s), s != 0u);  // < 2^31: no overflow when the carry is added
  let old = (*acc)[i];
  (*acc)[i] = old + lo;
  if ((*acc)[i] < old) { carry += 1u; }
  i += 1u;
  while (carry != 0u && i < LIMBS) {
    let before = (*acc)[i];
    (*acc)[i] = before + carry;
    carry = select(0u, 1u, (*acc)[i] < before);
    i += 1u;
  }
}

// acc += x · y · 2^pos for x, y < 2^25 (13-bit halves: every partial product fits a u32)
fn big_mul_add(acc: ptr<function, array<u32, 11>>, x: u32, y: u32, pos: u32) {
  let xl = x & 0x1fffu;
  let xh = x >> 13u;
  let yl = y & 0x1fffu;
  let yh = y >> 13u;
  big_add(acc, xl * yl, pos);
  big_add(acc, xl * yh + xh * yl, pos + 13u);
  big_add(acc, xh * yh, pos + 26u);
}

// |v| · w into acc, v given by its f32 bits (finite), w < 2^25.
fn big_add_scaled(acc: ptr<function, array<u32, 11>>, bits: u32, w: u32) {
  let mag = bits & 0x7fffffffu;
  if (mag == 0u || w == 0u) { return; }
  let e = mag >> 23u;
  let mant = (mag & 0x7fffffu) | select(0u, 0x800000u, e != 0u);
  big_mul_add(acc, mant, w, max(e, 1u) - 1u);  // |v| = mant · 2^(max(e, 1) − 150)
}

// The sign of Σ_{g>0} |g|·(2^24 − k) − Σ_{g<0} |g|·k − (k − 2^23)·c, exactly.
fn exact_sign(i: u32, k: u32) -> i32 {
  var pos: array<u32, 11>;
  var neg: array<u32, 11>;
  for (var t = 0u; t < gd_p.tasks; t++) {
    let bits = bitcast<u32>(gd_g[t * gd_p.m + i]);
    if ((bits & 0x80000000u) == 0u) { big_add_scaled(&pos, bits, 16777216u - k); }
    else { big_add_scaled(&neg, bits, k); }
  }
  if (k != 8388608u) {
    let kk = select(k - 8388608u, 8388608u - k, k < 8388608u);
    if (k < 8388608u) {
      big_mul_add(&pos, kk, gd_p.c0, gd_p.c_pos);
      big_mul_add(&pos, kk, gd_p.c1, gd_p.c_pos + 24u);
      big_mul_add(&pos, kk, gd_p.c2, gd_p.c_pos + 48u);
    } else {
      big_mul_add(&neg, kk, gd_p.c0, gd_p.c_pos);
      big_mul_add(&neg, kk, gd_p.c1, gd_p.c_pos + 24u);
      big_mul_add(&neg, kk, gd_p.c2, gd_p.c_pos + 48u);
    }
  }
  for (var l = LIMBS; l > 0u; l--) {
    let a = pos[l - 1u];
    let b = neg[l - 1u];
    if (a != b) { return select(-1, 1, a > b); }
  }
  return 0;
}

fn finite_bits(bits: u32) -> bool {
  return (bits & 0x7f800000u) != 0x7f800000u;
}

@compute @workgroup_size(256)
fn graddrop_apply(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wg, nwg, lid);
  let T = gd_p.tasks;
  let M = gd_p.m;
  if (i >= M) { return; }
  let k = hash24(gd_p.seed, i);
  let kf = f32(k);
  let af = f32(16777216u - k);
  let rf = f32(i32(k) - 8388608);
  // The decision sum in f32, its magnitude, and whether every g_t is finite.
  var d = -rf * gd_p.c;
  var mag = abs(rf) * gd_p.c;
  var finite = true;
  for (var t = 0u; t < T; t++) {
    let v = gd_g[t * M + i];
    let bits = bitcast<u32>(v);
    finite = finite && finite_bits(bits);
    let pr = v * select(kf, af, (bits & 0x80000000u) == 0u);
    d += pr;
    mag += abs(pr);
  }
  // sign > 0: u < P; sign < 0: u > P; 0: neither (also when P is NaN).
  var sign = 0;
  if (finite) {
    let bound = mag * f32(T + 4u) * 0x1p-23f;
    if (finite_bits(bitcast<u32>(mag)) && mag >= 0x1p-60f && abs(d) > bound) {
      sign = select(-1, 1, d > 0.0);
    } else {
      sign = exact_sign(i, k);
    }
  }
  var kept = 0.0;
  var dropped = 0.0;
  for (var t = 0u; t < T; t++) {
    let v = gd_g[t * M + i];
    let bits = bitcast<u32>(v);
    let nonzero = (bits & 0x7fffffffu) != 0u;
    let negative = (bits & 0x80000000u) != 0u;
    if ((sign > 0 && nonzero && !negative) || (sign < 0 && nonzero && negative)) { kept += v; }
    else { dropped += v; }
  }
  let scaled = gd_p.leak_hi * dropped;
  // (leak_lo is 0 for most leaks; skipping it then keeps inf·leak = inf for non-finite g)
  gd_out[i] = kept + select(scaled + gd_p.leak_lo * dropped, scaled, gd_p.leak_lo == 0.0);
}
