// NaN tests that hold under any compiler. WGSL's max/min/clamp/select/sign may drop a NaN
// operand, and a compiler may assume there is none (folding x != x to false), so NaN is found
// from its bits: exponent all ones, mantissa not zero.

fn is_nan_bits(b: u32) -> bool {
  return (b & 0x7fffffffu) > 0x7f800000u;
}

fn is_nan(x: f32) -> bool {
  return is_nan_bits(bitcast<u32>(x));
}

// y, or x itself where x is NaN (NaN in, NaN out, past a max, a clamp or a sign).
fn keep_nan(x: f32, y: f32) -> f32 {
  return select(y, x, is_nan(x));
}
