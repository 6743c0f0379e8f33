// The GEMM launch interface shared by gemm.wgsl and gemm-subgroup.wgsl (see gemm.wgsl for the
// meaning of every field), op(A)/op(B) element access, and the epilogue. Needs activation.wgsl.

struct Problem {
  m: u32, n: u32, k: u32, off_a: u32,
  off_b: u32, off_c: u32, off_bias: u32, lda: u32,
  ldb: u32, ldc: u32, pad0: u32, pad1: u32,
}

struct GemmParams {
  count: u32, activation: u32, has_bias: u32, bias_rows: u32,
  alpha: f32, beta: f32, batch_a: u32, batch_b: u32,
  batch_c: u32, batch_bias: u32, pad0: u32, pad1: u32,
  problems: array<Problem, 20>,
}

override TRANS_A: bool = false;
override TRANS_B: bool = false;

@group(0) @binding(0) var<storage, read> gemm_a: array<f32>;
@group(0) @binding(1) var<storage, read> gemm_b: array<f32>;
@group(0) @binding(2) var<storage, read> gemm_bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> gemm_c: array<f32>;
@group(0) @binding(4) var<uniform> gp: GemmParams;

// op(A)[r, k] and op(B)[k, c]
fn a_at(base: u32, ld: u32, r: u32, k: u32) -> f32 {
  if (TRANS_A) { return gemm_a[base + k * ld + r]; }
  return gemm_a[base + r * ld + k];
}

fn b_at(base: u32, ld: u32, k: u32, c: u32) -> f32 {
  if (TRANS_B) { return gemm_b[base + c * ld + k]; }
  return gemm_b[base + k * ld + c];
}

// The epilogue for one row of the block: alpha, beta * C, bias, activation; inside C only.
fn store_row(pr: Problem, oc: u32, batch: u32, r: u32, col0: u32, acc: vec4<f32>) {
  if (r >= pr.m) { return; }
  let ob = pr.off_bias + batch * gp.batch_bias;
  for (var j = 0u; j < 4u; j++) {
    let c = col0 + j;
    if (c >= pr.n) { return; }
    let at = oc + r * pr.ldc + c;
    var v = gp.alpha * acc[j];
    if (gp.beta != 0.0) { v += gp.beta * gemm_c[at]; }
    if (gp.has_bias == 1u) { v += gemm_bias[ob + select(c, r, gp.bias_rows == 1u)]; }
    gemm_c[at] = activate(gp.activation, v);
  }
}

