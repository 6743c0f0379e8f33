enable subgroups;

// GEMM for CPU adapters (lavapipe/llvmpipe), the same launch interface as gemm.wgsl.
//
// llvmpipe runs 8 invocations as the lanes of one SIMD vector and does every storage load lane
// by lane (an index extraction, a bounds check and a scalar load each: ~15 instructions per lane
// per element), so loads, not multiply-adds, set the speed: the kernel must get the most
// arithmetic out of each vector of loads. A workgroup is ONE subgroup of 8 lanes computing a
// block of 8·RB rows × 8·CN columns of C: per step of k, lane l loads op(A)[row0 + 8q + l, k]
// for q < RB and op(B)[k, col0 + 8j + l] for j < CN (RB + CN vector loads), then each of the
// 8·RB rows' A value is shuffled across the lanes (a register permute) for 8·RB·CN
// multiply-adds. RB = CN = 4 (32×32): 128 FMAs per 8 loads, against 8 per 4 loads for 4×4
// blocks per invocation (measured 2.5-3.5x faster per CPU-second; bench/gemm-dev). The loops
// have constant trip counts once RB and CN are set, so the compiler unrolls them and keeps
// the accumulators in registers (spilling a few: far cheaper than loads).
// Used only where the adapter's subgroups are exactly 8 lanes (the launcher checks), with
// 8·RB·CN <= 128 and RB, CN <= 16.

//#include activation.wgsl
//#include gemm-common.wgsl

fn put(pr: Problem, oc: u32, obias: u32, batch: u32, r: u32, c: u32, acc: f32, inside: bool) {
  if (!inside || r >= pr.m) { return; }
  let at = oc + r * pr.ldc + c;
  var v = gp.alpha * acc;
  if (gp.beta != 0.0) { v += gp.beta * gemm_c[at]; }
  if (gp.has_bias == 1u) { v += gemm_bias[obias + select(c, r, gp.bias_rows == 1u)]; }
  gemm_c[at] = activate(gp.activation, v);
}






// Rows and columns of the block: 8·RB × 8·CN (pipeline constants; the launcher's grid matches).
override RB: u32 = 3u;
override CN: u32 = 3u;
const MAX_ACC: u32 = 128u;

@compute @workgroup_size(8)
fn gemm_subgroup(@builtin(workgroup_id) wg: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
  let pr = gp.problems[wg.z % gp.count];
  let batch = wg.z / gp.count;
  let row0 = wg.y * 8u * RB;
  let colw = wg.x * 8u * CN;
  if (row0 >= pr.m || colw >= pr.n) { return; }
  let oa = pr.off_a + batch * gp.batch_a;
  let ob = pr.off_b + batch * gp.batch_b;
  let oc = pr.off_c + batch * gp.batch_c;
  // Lanes past m or n load a valid row/column (the last) and store nothing.
  var rows: array<u32, 16>;
  for (var q = 0u; q < RB; q++) { rows[q] = min(row0 + 8u * q + lane, pr.m - 1u); }
  var cols: array<u32, 16>;
  for (var j = 0u; j < CN; j++) { cols[j] = min(colw + 8u * j + lane, pr.n - 1u); }
  var acc: array<f32, MAX_ACC>;
  for (var i = 0u; i < 8u * RB * CN; i++) { acc[i] = 0.0; }
  for (var k = 0u; k < pr.k; k++) {
    var a: array<f32, 16>;
    for (var q = 0u; q < RB; q++) { a[q] = a_at(oa, pr.lda, rows[q], k); }
    var b: array<f32, 16>;
    for (var j = 0u; j < CN; j++) { b[j] = b_at(ob, pr.ldb, k, cols[j]); }
    for (var q = 0u; q < RB; q++) {
      for (var r = 0u; r < 8u; r++) {
        let ar = subgroupShuffle(a[q], r);
        for (var j = 0u; j < CN; j++) {
          let i = (q * 8u + r) * CN + j;
          acc[i] = fma(ar, b[j], acc[i]);
        }
      }
    }
  }
  let obias = pr.off_bias + batch * gp.batch_bias;
  for (var q = 0u; q < RB; q++) {
    for (var r = 0u; r < 8u; r++) {
      for (var j = 0u; j < CN; j++) {
        let col = colw + 8u * j + lane;
        put(pr, oc, obias, batch, row0 + 8u * q + r, cols[j], acc[(q * 8u + r) * CN + j], col < pr.n);
      }
    }
  }
}
