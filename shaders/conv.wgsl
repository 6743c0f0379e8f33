// Convolution helpers of the webgpu backend (ts/backends/webgpu/image.ts): the products run in
// gemm.wgsl; these kernels only move data into and out of the GEMM layouts.
//
// Shapes (NCHW, cross-correlation as in PyTorch; Conv2dGeometry in ts/backends/layouts.ts):
//   x, dx [N, C, H, W];  w, dw [outC, C, kh, kw];  b, db [outC];  y, dy [N, outC, outH, outW];
//   P = outH·outW, Ck = C·kh·kw. A chunk of `images` images (from image i0 on) is processed at
//   once; `offset` is the element offset of image i0 in x / dy / dx.
//   col  [Ck, images·P]:     col[(c, ky, kx), j·P + p] = x[i0 + j, c, oy·s − pad + ky, ox·s − pad + kx]
//                             (0 in the padding), p = oy·outW + ox;
//   dyT  [outC, images·P]:   dyT[o, j·P + p] = dy[i0 + j, o, p].
// The backend computes
//   forward   y_j = act(W [outC, Ck] · col[:, j·P..] + b)           (batched GEMM, bias per row)
//   backward  dW += dyT · colᵀ  (ONE GEMM, k = images·P);  dcol = Wᵀ · dyT;  dx = col2im(dcol)
// Rules: "= for activations, += for parameter gradients": im2col, transpose and col2im
// overwrite; bias_grad accumulates. col2im is a gather (each dx element sums its own
// contributions in a fixed order), so no two invocations write one element and no atomics
// are needed.

//#include index.wgsl

struct ConvParams {
  c: u32, h: u32, w: u32, out_c: u32,
  kh: u32, kw: u32, stride: u32, pad: u32,
  out_h: u32, out_w: u32, images: u32, offset: u32,
  total: u32,  // invocations with work: the elements written
}

// ---- im2col: one invocation per (c, j, oy, ox) — total = C·images·P — writing its kh·kw
// column entries col[(c, ky, kx), j·P + p] (consecutive invocations write consecutive columns) ----
@group(0) @binding(0) var<storage, read> i2c_x: array<f32>;
@group(0) @binding(1) var<storage, read_write> i2c_col: array<f32>;
@group(0) @binding(2) var<uniform> i2c_p: ConvParams;

@compute @workgroup_size(256)
fn conv_im2col(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let id = linear_id(wg, nwg, lid);
  let p = i2c_p;
  if (id >= p.total) { return; }
  let plane = p.out_h * p.out_w;
  let cols = p.images * plane;
  let c = id / cols;
  let q = id - c * cols;
  let j = q / plane;
  let at = q - j * plane;
  let oy = at / p.out_w;
  let ox = at - oy * p.out_w;
  let y0 = i32(oy * p.stride) - i32(p.pad);
  let x0 = i32(ox * p.stride) - i32(p.pad);
  let base = p.offset + (j * p.c + c) * p.h * p.w;
  var out = c * p.kh * p.kw * cols + q;
  for (var ky = 0u; ky < p.kh; ky++) {
    let iy = y0 + i32(ky);
    let row_ok = iy >= 0 && iy < i32(p.h);
    for (var kx = 0u; kx < p.kw; kx++) {
      let ix = x0 + i32(kx);
      var v = 0.0;
      if (row_ok && ix >= 0 && ix < i32(p.w)) { v = i2c_x[base + u32(iy) * p.w + u32(ix)]; }
      i2c_col[out] = v;
      out += cols;
    }
  }
}

// ---- col2im: dx[i0 + j, c, y, x] = Σ over the windows (oy, ox) that cover (y, x), with
// ky = y + pad − oy·stride and kx = x + pad − ox·stride, of dcol[(c, ky, kx), j·P + oy·outW + ox]
// (one invocation per element of dx; total = images·C·H·W) ----
@group(0) @binding(0) var<storage, read> c2i_col: array<f32>;
@group(0) @binding(1) var<storage, read_write> c2i_dx: array<f32>;
@group(0) @binding(2) var<uniform> c2i_p: ConvParams;

// The windows along one axis covering input coordinate t (padded: t + pad): o in [lo, hi).
fn covering(tp: u32, k: u32, stride: u32, count: u32) -> vec2<u32> {
  // 0 <= tp − o·stride < k  ⇔  (tp − k)/stride < o <= tp/stride
  let lo = select(0u, (tp - k) / stride + 1u, tp >= k);
  let hi = min(tp / stride + 1u, count);
  return vec2<u32>(lo, max(lo, hi));
}

@compute @workgroup_size(256)
fn conv_col2im(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let id = linear_id(wg, nwg, lid);
  let p = c2i_p;
  if (id >= p.total) { return; }
  let in_plane = p.h * p.w;
  let plane = p.out_h * p.out_w;
  let cols = p.images * plane;
  let jc = id / in_plane;   // j·C + c
  let at = id - jc * in_plane;
  let j = jc / p.c;
  let c = jc - j * p.c;
  let ty = at / p.w + p.pad;
  let tx = at - (at / p.w) * p.w + p.pad;
  let ys = covering(ty, p.kh, p.stride, p.out_h);
  let xs = covering(tx, p.kw, p.stride, p.out_w);
  let first = c * p.kh * p.kw * cols + j * plane;
  var s = 0.0;
  for (var oy = ys.x; oy < ys.y; oy++) {
    let ky = ty - oy * p.stride;
    let row = first + ky * p.kw * cols + oy * p.out_w;
    for (var ox = xs.x; ox < xs.y; ox++) {
      let kx = tx - ox * p.stride;
      s += c2i_col[row + kx * cols + ox];
    }
  }
  c2i_dx[p.offset + id] = s;
}

// ---- transpose: dyT[o, j·P + p] = dy[i0 + j, o, p] (one invocation per element of dyT) ----
@group(0) @binding(0) var<storage, read> tr_dy: array<f32>;
@group(0) @binding(1) var<storage, read_write> tr_dyt: array<f32>;
@group(0) @binding(2) var<uniform> tr_p: ConvParams;

@compute @workgroup_size(256)
fn conv_transpose_dy(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let id = linear_id(wg, nwg, lid);
  let p = tr_p;
  if (id >= p.total) { return; }
  let plane = p.out_h * p.out_w;
  let cols = p.images * plane;
  let o = id / cols;
  let q = id - o * cols;
  let j = q / plane;
  let at = q - j * plane;
  tr_dyt[id] = tr_dy[p.offset + (j * p.out_c + o) * plane + at];
}

// ---- bias gradient: db[o] += Σ_{i, p} dy[i, o, p] over all `images` (one workgroup per o:
// each invocation sums a strided share in order, then a fixed tree in workgroup memory) ----
@group(0) @binding(0) var<storage, read> bg_dy: array<f32>;
@group(0) @binding(1) var<storage, read_write> bg_db: array<f32>;
@group(0) @binding(2) var<uniform> bg_p: ConvParams;

var<workgroup> bg_partial: array<f32, 256>;

@compute @workgroup_size(256)
fn conv_bias_grad(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let o = wg.y * nwg.x + wg.x;  // uniform across the workgroup
  let p = bg_p;
  let plane = p.out_h * p.out_w;
  let count = p.images * plane;
  var s = 0.0;
  if (o < p.out_c) {
    for (var e = lid; e < count; e += 256u) {
      let i = e / plane;
      s += bg_dy[(i * p.out_c + o) * plane + (e - i * plane)];
    }
  }
  bg_partial[lid] = s;
  workgroupBarrier();
  for (var half = 128u; half > 0u; half >>= 1u) {
    if (lid < half) { bg_partial[lid] += bg_partial[lid + half]; }
    workgroupBarrier();
  }
  if (lid == 0u && o < p.out_c) { bg_db[o] += bg_partial[0]; }
}
