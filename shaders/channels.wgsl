// Channel-wise kernels of the webgpu backend: spatial dropout and per-channel scaling.
//
// Shapes: x, y, out [N, C, ...] seen as `rows` = N·C planes of `plane` elements; mask, s [N, C].
//   dropout   mask[r] = keep ? scale : 0 with keep = hash24(seed, r) >= threshold (the exact
//             dropoutKeep(seed, r, p) of ts/core/random.ts, threshold = ceil(p·2^24) and
//             scale = 1/(1−p) from the host); y[r, k] = x[r, k] · mask[r]
//   scale     out[r, k] = x[r, k] · s[r]
// One invocation per element of x; the invocations r < rows also write mask[r] (each mask
// element is written once, and each y element recomputes its row's hash instead of reading
// the mask, so one launch suffices). Everything is = (activations).
// In-place variants (suffix _inplace): y / out aliases x, since WebGPU forbids binding a
// written range twice.

//#include random.wgsl
//#include index.wgsl

struct ChannelParams {
  n: u32,          // rows·plane
  plane: u32,
  rows: u32,
  seed: u32,
  threshold: u32,  // ceil(p·2^24)
  scale: f32,      // 1/(1−p)
}

fn channel_mask(p: ChannelParams, r: u32) -> f32 {
  return select(0.0, p.scale, hash24(p.seed, r) >= p.threshold);
}

@group(0) @binding(0) var<storage, read> drop_x: array<f32>;
@group(0) @binding(1) var<storage, read_write> drop_y: array<f32>;
@group(0) @binding(2) var<storage, read_write> drop_mask: array<f32>;
@group(0) @binding(3) var<uniform> drop_p: ChannelParams;

@compute @workgroup_size(256)
fn channels_dropout(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wg, nwg, lid);
  let p = drop_p;
  if (i < p.rows) { drop_mask[i] = channel_mask(p, i); }
  if (i < p.n) { drop_y[i] = drop_x[i] * channel_mask(p, i / p.plane); }
}

@group(0) @binding(0) var<storage, read_write> dropi_y: array<f32>;
@group(0) @binding(1) var<storage, read_write> dropi_mask: array<f32>;
@group(0) @binding(2) var<uniform> dropi_p: ChannelParams;

@compute @workgroup_size(256)
fn channels_dropout_inplace(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wg, nwg, lid);
  let p = dropi_p;
  if (i < p.rows) { dropi_mask[i] = channel_mask(p, i); }
  if (i < p.n) { dropi_y[i] = dropi_y[i] * channel_mask(p, i / p.plane); }
}

@group(0) @binding(0) var<storage, read> scale_x: array<f32>;
@group(0) @binding(1) var<storage, read> scale_s: array<f32>;
@group(0) @binding(2) var<storage, read_write> scale_out: array<f32>;
@group(0) @binding(3) var<uniform> scale_p: ChannelParams;

@compute @workgroup_size(256)
fn channels_scale(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wg, nwg, lid);
  if (i < scale_p.n) { scale_out[i] = scale_x[i] * scale_s[i / scale_p.plane]; }
}

@group(0) @binding(0) var<storage, read_write> scalei_out: array<f32>;
@group(0) @binding(1) var<storage, read> scalei_s: array<f32>;
@group(0) @binding(2) var<uniform> scalei_p: ChannelParams;

@compute @workgroup_size(256)
fn channels_scale_inplace(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wg, nwg, lid);
  if (i < scalei_p.n) { scalei_out[i] = scalei_out[i] * scalei_s[i / scalei_p.plane]; }
}
