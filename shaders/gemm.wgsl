// GEMM: C = act(alpha * op(A) * op(B) + beta * C + bias) for a list of problems in one launch.
//
// Shapes per problem: op(A) [m, k], op(B) [k, n], C [m, n], row-major with leading dimensions
// lda, ldb, ldc, starting at element offsets off_a, off_b, off_c. op(X) = X or X^T per the
// TRANS_A / TRANS_B pipeline constants (X^T: X is stored [k, m] / [n, k]).
// Launch: x over column tiles, y over row tiles, z over count * batches. Workgroup z handles
// problem z % count of batch z / count; a batch adds batch_* strides to every offset, so a
// uniform batch (conv images) is one problem, and irregular problems (task heads of different
// widths) are a list. Bias: one value per column of C (bias_rows = 0) or per row (1), from
// off_bias. beta = 0 overwrites C without reading it (NaN in the old C does not leak).
//
// Two kernels: gemm_blocks4 (4x4 blocks per invocation straight from storage, for CPU adapters
// without subgroups) and gemm_shared (workgroup-memory tiles, for GPUs); gemm-subgroup.wgsl has
// the one for CPU adapters with 8-lane subgroups (lavapipe).

//#include activation.wgsl
//#include gemm-common.wgsl

// 4x4 blocks of C per invocation, in registers, reading A and B straight from storage (no
// workgroup memory: on CPU adapters barriers cost more than they save). Where a problem's lda,
// ldb and A/B offsets are multiples of 4, interior blocks load a 4x4 block of op(A) and of op(B)
// per 4 steps of k as vec4s (8 loads for 64 multiply-adds; blocks stored across the contiguous
// dimension are transposed in registers); otherwise they load scalars. A and B are bound as
// arrays of vec4 (the launcher rounds those bindings up to 16 bytes).
@group(0) @binding(0) var<storage, read> gemm_a4: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> gemm_b4: array<vec4<f32>>;

fn a4_scalar(i: u32) -> f32 { return gemm_a4[i >> 2u][i & 3u]; }
fn b4_scalar(i: u32) -> f32 { return gemm_b4[i >> 2u][i & 3u]; }

fn a4_at(base: u32, ld: u32, r: u32, k: u32) -> f32 {
  if (TRANS_A) { return a4_scalar(base + k * ld + r); }
  return a4_scalar(base + r * ld + k);
}

fn b4_at(base: u32, ld: u32, k: u32, c: u32) -> f32 {
  if (TRANS_B) { return b4_scalar(base + c * ld + k); }
  return b4_scalar(base + k * ld + c);
}

// Rows r..r+3 of op(A) over k..k+3: column i of the result is row r+i (as a matrix, [k][row]).
fn a4_block(base: u32, ld: u32, r: u32, k: u32) -> mat4x4<f32> {
  if (TRANS_A) {
    let at = (base + k * ld + r) >> 2u;
    let s = ld >> 2u;
    // rows k..k+3 of A = columns of op(A): already [k][row]
    return mat4x4<f32>(gemm_a4[at], gemm_a4[at + s], gemm_a4[at + 2u * s], gemm_a4[at + 3u * s]);
  }
  let at = (base + r * ld + k) >> 2u;
  let s = ld >> 2u;
  return transpose(mat4x4<f32>(gemm_a4[at], gemm_a4[at + s], gemm_a4[at + 2u * s], gemm_a4[at + 3u * s]));
}

// Rows k..k+3 of op(B) over columns c..c+3: column kk of the result is row k+kk.
fn b4_block(base: u32, ld: u32, k: u32, c: u32) -> mat4x4<f32> {
  if (TRANS_B) {
    let at = (base + c * ld + k) >> 2u;
    let s = ld >> 2u;
    return transpose(mat4x4<f32>(gemm_b4[at], gemm_b4[at + s], gemm_b4[at + 2u * s], gemm_b4[at + 3u * s]));
  }
  let at = (base + k * ld + c) >> 2u;
  let s = ld >> 2u;
  return mat4x4<f32>(gemm_b4[at], gemm_b4[at + s], gemm_b4[at + 2u * s], gemm_b4[at + 3u * s]);
}

@compute @workgroup_size(8, 8)
fn gemm_blocks4(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let pr = gp.problems[wg.z % gp.count];
  let batch = wg.z / gp.count;
  let row0 = (wg.y * 8u + lid.y) * 4u;
  let col0 = (wg.x * 8u + lid.x) * 4u;
  if (row0 >= pr.m || col0 >= pr.n) { return; }
  let oa = pr.off_a + batch * gp.batch_a;
  let ob = pr.off_b + batch * gp.batch_b;
  let oc = pr.off_c + batch * gp.batch_c;
  let K = pr.k;
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  if (row0 + 4u <= pr.m && col0 + 4u <= pr.n) {
    var k0 = 0u;
    if (((pr.lda | pr.ldb | oa | ob) & 3u) == 0u) {
      k0 = K & ~3u;
      for (var k = 0u; k < k0; k += 4u) {
        let a = a4_block(oa, pr.lda, row0, k); // a[kk][i] = op(A)[row0+i, k+kk]
        let b = b4_block(ob, pr.ldb, k, col0); // b[kk] = op(B)[k+kk, col0..col0+3]
        acc0 += a[0].x * b[0] + a[1].x * b[1] + a[2].x * b[2] + a[3].x * b[3];
        acc1 += a[0].y * b[0] + a[1].y * b[1] + a[2].y * b[2] + a[3].y * b[3];
        acc2 += a[0].z * b[0] + a[1].z * b[1] + a[2].z * b[2] + a[3].z * b[3];
        acc3 += a[0].w * b[0] + a[1].w * b[1] + a[2].w * b[2] + a[3].w * b[3];
      }
    }
    for (var k = k0; k < K; k++) {
      let b = vec4<f32>(b4_at(ob, pr.ldb, k, col0), b4_at(ob, pr.ldb, k, col0 + 1u), b4_at(ob, pr.ldb, k, col0 + 2u), b4_at(ob, pr.ldb, k, col0 + 3u));
      acc0 += a4_at(oa, pr.lda, row0, k) * b;
      acc1 += a4_at(oa, pr.lda, row0 + 1u, k) * b;
      acc2 += a4_at(oa, pr.lda, row0 + 2u, k) * b;
      acc3 += a4_at(oa, pr.lda, row0 + 3u, k) * b;
    }
  } else {
    // An edge block: rows/columns past m/n read as zero (never out of bounds).
    let rows = min(4u, pr.m - row0);
    let cols = min(4u, pr.n - col0);
    for (var k = 0u; k < K; k++) {
      var b = vec4<f32>(0.0);
      for (var j = 0u; j < cols; j++) { b[j] = b4_at(ob, pr.ldb, k, col0 + j); }
      acc0 += a4_at(oa, pr.lda, row0, k) * b;
      if (rows > 1u) { acc1 += a4_at(oa, pr.lda, row0 + 1u, k) * b; }
      if (rows > 2u) { acc2 += a4_at(oa, pr.lda, row0 + 2u, k) * b; }
      if (rows > 3u) { acc3 += a4_at(oa, pr.lda, row0 + 3u, k) * b; }
    }
  }
  store_row(pr, oc, batch, row0, col0, acc0);
  store_row(pr, oc, batch, row0 + 1u, col0, acc1);
  store_row(pr, oc, batch, row0 + 2u, col0, acc2);
  store_row(pr, oc, batch, row0 + 3u, col0, acc3);
}

// Variant for GPUs: workgroup-memory tiling. A workgroup of 16x16 invocations computes a 64x64
// tile of C (4x4 per invocation, in registers); per step of 16 along k it stages a 64x16 tile of
// op(A) and a 16x64 tile of op(B) in workgroup memory (each element loaded from storage once
// per workgroup instead of once per invocation that needs it), with loads ordered along each
// operand's contiguous dimension (coalesced) and rows padded by one to spread banks. Out-of-range
// elements are staged as zeros, so edge tiles need no separate path.
const SH_TILE: u32 = 64u;
const SH_K: u32 = 16u;
var<workgroup> sh_a: array<array<f32, 65>, 16>; // [kk][row]
var<workgroup> sh_b: array<array<f32, 65>, 16>; // [kk][col]

@compute @workgroup_size(16, 16)
fn gemm_shared(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let pr = gp.problems[wg.z % gp.count];
  let batch = wg.z / gp.count;
  let rowT = wg.y * SH_TILE;
  let colT = wg.x * SH_TILE;
  if (rowT >= pr.m || colT >= pr.n) { return; } // uniform: the whole workgroup leaves
  let oa = pr.off_a + batch * gp.batch_a;
  let ob = pr.off_b + batch * gp.batch_b;
  let oc = pr.off_c + batch * gp.batch_c;
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  for (var k0 = 0u; k0 < pr.k; k0 += SH_K) {
    for (var q = 0u; q < 4u; q++) {
      let e = li + 256u * q; // 1024 elements of each tile, 4 per invocation
      // op(A) is contiguous along k unless transposed, op(B) along its columns unless transposed.
      var kk = e / SH_TILE;
      var r = e % SH_TILE;
      if (!TRANS_A) { kk = e % SH_K; r = e / SH_K; }
      var va = 0.0;
      if (rowT + r < pr.m && k0 + kk < pr.k) { va = a_at(oa, pr.lda, rowT + r, k0 + kk); }
      sh_a[kk][r] = va;
      var kb = e / SH_TILE;
      var c = e % SH_TILE;
      if (TRANS_B) { kb = e % SH_K; c = e / SH_K; }
      var vb = 0.0;
      if (colT + c < pr.n && k0 + kb < pr.k) { vb = b_at(ob, pr.ldb, k0 + kb, colT + c); }
      sh_b[kb][c] = vb;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < SH_K; kk++) {
      let a = vec4<f32>(sh_a[kk][lid.y * 4u], sh_a[kk][lid.y * 4u + 1u], sh_a[kk][lid.y * 4u + 2u], sh_a[kk][lid.y * 4u + 3u]);
      let b = vec4<f32>(sh_b[kk][lid.x * 4u], sh_b[kk][lid.x * 4u + 1u], sh_b[kk][lid.x * 4u + 2u], sh_b[kk][lid.x * 4u + 3u]);
      acc0 += a.x * b;
      acc1 += a.y * b;
      acc2 += a.z * b;
      acc3 += a.w * b;
    }
    workgroupBarrier();
  }
  let row0 = rowT + lid.y * 4u;
  let col0 = colT + lid.x * 4u;
  if (col0 >= pr.n) { return; }
  store_row(pr, oc, batch, row0, col0, acc0);
  store_row(pr, oc, batch, row0 + 1u, col0, acc1);
  store_row(pr, oc, batch, row0 + 2u, col0, acc2);
  store_row(pr, oc, batch, row0 + 3u, col0, acc3);
}
