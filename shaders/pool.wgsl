// Max-pooling of the webgpu backend (NCHW, no padding; Pool2dGeometry in ts/backends/layouts.ts).
//
// Shapes: x, dx [N, C, H, W]; y, dy, argmax [N, C, outH, outW]; `planes` = N·C.
//   forward   y = max over each size×size window (every `stride`), argmax = the winner's flat
//             index h·W + w within its plane, as f32. Exactly the reference's rule, in window
//             order: a value wins if it is greater than the best so far, or if it is NaN and the
//             best is not (so the first NaN wins, and on ties the first maximum); a window of
//             −∞ only keeps its first element.
//   backward  dx = 0 except dx[argmax] += dy (=): a gather, one invocation per element of dx,
//             adding the dy of every window that covers it and names it, in output order (the
//             reference's order, so the sums are the same bits). Race-free with overlapping
//             windows (stride < size); an argmax naming no element of its window adds nothing.
// The comparisons run on the bit patterns (an order-preserving integer key, NaN found from its
// bits), so they hold even where a compiler assumes no NaN or infinity, and y copies x's bits.

//#include index.wgsl
//#include nan.wgsl

struct PoolParams {
  planes: u32, h: u32, w: u32, size: u32,
  stride: u32, out_h: u32, out_w: u32, total: u32,
}

const NEG_INF_BITS: u32 = 0xff800000u;

// An unsigned key with key(a) < key(b) ⇔ a < b for non-NaN floats (−0 and +0 share a key).
fn order_key(bits: u32) -> u32 {
  let b = select(bits, 0u, bits == 0x80000000u);
  return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}

@group(0) @binding(0) var<storage, read> fwd_x: array<u32>;  // f32 bits
@group(0) @binding(1) var<storage, read_write> fwd_y: array<u32>;  // f32 bits
@group(0) @binding(2) var<storage, read_write> fwd_argmax: array<f32>;
@group(0) @binding(3) var<uniform> fwd_p: PoolParams;

@compute @workgroup_size(256)
fn pool_max_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let id = linear_id(wg, nwg, lid);
  let p = fwd_p;
  if (id >= p.total) { return; }
  let out_plane = p.out_h * p.out_w;
  let plane = id / out_plane;
  let at = id - plane * out_plane;
  let oy = at / p.out_w;
  let ox = at - oy * p.out_w;
  let base = plane * p.h * p.w;
  var best = NEG_INF_BITS;
  var best_key = order_key(NEG_INF_BITS);
  var best_nan = false;
  var arg = oy * p.stride * p.w + ox * p.stride;  // the window's first element, if all are −∞
  for (var ky = 0u; ky < p.size; ky++) {
    let row = (oy * p.stride + ky) * p.w + ox * p.stride;
    for (var kx = 0u; kx < p.size; kx++) {
      let idx = row + kx;
      let v = fwd_x[base + idx];
      if (best_nan) { continue; }
      if (is_nan_bits(v)) {
        best = v;
        best_nan = true;
        arg = idx;
      } else {
        let key = order_key(v);
        if (key > best_key) {
          best = v;
          best_key = key;
          arg = idx;
        }
      }
    }
  }
  fwd_y[id] = best;
  fwd_argmax[id] = f32(arg);
}

@group(0) @binding(0) var<storage, read> bwd_dy: array<f32>;
@group(0) @binding(1) var<storage, read> bwd_argmax: array<f32>;
@group(0) @binding(2) var<storage, read_write> bwd_dx: array<f32>;
@group(0) @binding(3) var<uniform> bwd_p: PoolParams;

@compute @workgroup_size(256)
fn pool_max_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let id = linear_id(wg, nwg, lid);
  let p = bwd_p;
  if (id >= p.total) { return; }
  let in_plane = p.h * p.w;
  let plane = id / in_plane;
  let at = id - plane * in_plane;
  let y = at / p.w;
  let x = at - y * p.w;
  let want = f32(at);
  // Windows covering (y, x): oy·stride ≤ y < oy·stride + size, within [0, outH).
  let oy_lo = select(0u, (y + 1u - p.size + p.stride - 1u) / p.stride, y + 1u > p.size);
  let oy_hi = min(y / p.stride + 1u, p.out_h);
  let ox_lo = select(0u, (x + 1u - p.size + p.stride - 1u) / p.stride, x + 1u > p.size);
  let ox_hi = min(x / p.stride + 1u, p.out_w);
  let out_base = plane * p.out_h * p.out_w;
  var s = 0.0;
  for (var oy = oy_lo; oy < oy_hi; oy++) {
    for (var ox = ox_lo; ox < ox_hi; ox++) {
      let k = out_base + oy * p.out_w + ox;
      if (bwd_argmax[k] == want) { s += bwd_dy[k]; }
    }
  }
  bwd_dx[id] = s;
}
