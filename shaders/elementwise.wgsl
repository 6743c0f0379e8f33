// Elementwise kernels of the webgpu backend: fill, copy, activations forward/backward, binary
// add/mul, dropout, bias gradients. Each is the plain meaning of the Backend
// method of the same name (ts/backends/backend.ts; the reference backend is the spec).
// Shapes: flat arrays of p.n elements unless said otherwise. "= for activations, += for
// parameter gradients": only bias_grad accumulates.
// In-place variants (suffix _inplace) exist where the Backend allows an output to alias an
// input, since WebGPU forbids binding a written range twice.

//#include activation.wgsl
//#include random.wgsl
//#include index.wgsl

struct Params {
  n: u32,
  kind: u32,   // activation kind, or binary op (0 add, 1 mul)
  a: u32,      // seed (dropout), columns (bias_grad), 1 when b is out too (binary_inplace)
  b: u32,      // keep threshold ceil(p * 2^24) (dropout)
  value: f32,  // fill value, or dropout scale 1/(1-p)
}

// ---- fill / copy: out[i] = value; out[i] = src[i] ----
@group(0) @binding(0) var<storage, read_write> fill_out: array<f32>;
@group(0) @binding(1) var<uniform> fill_p: Params;

@compute @workgroup_size(256)
fn elementwise_fill(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wg, nwg, lid);
  if (i < fill_p.n) { fill_out[i] = fill_p.value; }
}

@group(0) @binding(0) var<storage, read> copy_src: array<f32>;
@group(0) @binding(1) var<storage, read_write> copy_dst: array<f32>;
@group(0) @binding(2) var<uniform> copy_p: Params;

@compute @workgroup_size(256)
fn elementwise_copy(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wg, nwg, lid);
  if (i < copy_p.n) { copy_dst[i] = copy_src[i]; }
}

// ---- activations: y = act(x); dx = dy * act'(y, x) ----
@group(0) @binding(0) var<storage, read> actf_x: array<f32>;
@group(0) @binding(1) var<storage, read_write> actf_y: array<f32>;
@group(0) @binding(2) var<uniform> actf_p: Params;

@compute @workgroup_size(256)
fn elementwise_activation_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wg, nwg, lid);
  if (i < actf_p.n) { actf_y[i] = activate(actf_p.kind, actf_x[i]); }
}

@group(0) @binding(0) var<storage, read_write> actfi_y: array<f32>;
@group(0) @binding(1) var<uniform> actfi_p: Params;

@compute @workgroup_size(256)
fn elementwise_activation_forward_inplace(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wg, nwg, lid);
  if (i < actfi_p.n) { actfi_y[i] = activate(actfi_p.kind, actfi_y[i]); }
}

// x is bound (a dummy when absent) but read only for gelu.
@group(0) @binding(0) var<storage, read> actb_y: array<f32>;
@group(0) @binding(1) var<storage, read> actb_dy: array<f32>;
@group(0) @binding(2) var<storage, read> actb_x: array<f32>;
@group(0) @binding(3) var<storage, read_write> actb_dx: array<f32>;
@group(0) @binding(4) var<uniform> actb_p: Params;

@compute @workgroup_size(256)
fn elementwise_activation_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wg, nwg, lid);
  if (i >= actb_p.n) { return; }
  var x = 0.0;
  if (actb_p.kind == 2u) { x = actb_x[i]; }
  actb_dx[i] = activation_grad(actb_p.kind, actb_dy[i], actb_y[i], x);
}

// dx aliases dy.
@group(0) @binding(0) var<storage, read> actbi_y: array<f32>;
@group(0) @binding(1) var<storage, read> actbi_x: array<f32>;
@group(0) @binding(2) var<storage, read_write> actbi_dx: array<f32>;
@group(0) @binding(3) var<uniform> actbi_p: Params;

@compute @workgroup_size(256)
fn elementwise_activation_backward_inplace(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wg, nwg, lid);
  if (i >= actbi_p.n) { return; }
  var x = 0.0;
  if (actbi_p.kind == 2u) { x = actbi_x[i]; }
  actbi_dx[i] = activation_grad(actbi_p.kind, actbi_dx[i], actbi_y[i], x);
}

// ---- binary: out = a + b (kind 0) or a * b (kind 1) ----
fn binary(kind: u32, a: f32, b: f32) -> f32 {
  return select(a + b, a * b, kind == 1u);
}

@group(0) @binding(0) var<storage, read> bin_a: array<f32>;
@group(0) @binding(1) var<storage, read> bin_b: array<f32>;
@group(0) @binding(2) var<storage, read_write> bin_out: array<f32>;
@group(0) @binding(3) var<uniform> bin_p: Params;

@compute @workgroup_size(256)
fn elementwise_binary(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wg, nwg, lid);
  if (i < bin_p.n) { bin_out[i] = binary(bin_p.kind, bin_a[i], bin_b[i]); }
}

// out aliases one operand (both ops commute), or both when b_is_out (p.a = 1).
@group(0) @binding(0) var<storage, read_write> bini_out: array<f32>;
@group(0) @binding(1) var<storage, read> bini_b: array<f32>;
@group(0) @binding(2) var<uniform> bini_p: Params;

@compute @workgroup_size(256)
fn elementwise_binary_inplace(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wg, nwg, lid);
  if (i >= bini_p.n) { return; }
  let o = bini_out[i];
  var b = o;
  if (bini_p.a == 0u) { b = bini_b[i]; }
  bini_out[i] = binary(bini_p.kind, o, b);
}

// ---- dropout: mask = keep ? scale : 0 with keep = hash24(seed, i) >= threshold; y = x * mask ----
@group(0) @binding(0) var<storage, read> drop_x: array<f32>;
@group(0) @binding(1) var<storage, read_write> drop_y: array<f32>;
@group(0) @binding(2) var<storage, read_write> drop_mask: array<f32>;
@group(0) @binding(3) var<uniform> drop_p: Params;

@compute @workgroup_size(256)
fn elementwise_dropout(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wg, nwg, lid);
  if (i >= drop_p.n) { return; }
  let m = select(0.0, drop_p.value, hash24(drop_p.a, i) >= drop_p.b);
  drop_mask[i] = m;
  drop_y[i] = drop_x[i] * m;
}

// Same, in place (y aliases x).
@group(0) @binding(0) var<storage, read_write> dropi_y: array<f32>;
@group(0) @binding(1) var<storage, read_write> dropi_mask: array<f32>;
@group(0) @binding(2) var<uniform> dropi_p: Params;

@compute @workgroup_size(256)
fn elementwise_dropout_inplace(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wg, nwg, lid);
  if (i >= dropi_p.n) { return; }
  let m = select(0.0, dropi_p.value, hash24(dropi_p.a, i) >= dropi_p.b);
  dropi_mask[i] = m;
  dropi_y[i] = dropi_y[i] * m;
}

// ---- bias gradient: db[j] += sum_i dy[i, j], dy [p.n rows, p.a columns] ----
@group(0) @binding(0) var<storage, read> bias_dy: array<f32>;
@group(0) @binding(1) var<storage, read_write> bias_db: array<f32>;
@group(0) @binding(2) var<uniform> bias_p: Params;

@compute @workgroup_size(256)
fn elementwise_bias_grad(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let j = linear_id(wg, nwg, lid);
  let cols = bias_p.a;
  if (j >= cols) { return; }
  var s = 0.0;
  for (var i = 0u; i < bias_p.n; i++) { s += bias_dy[i * cols + j]; }
  bias_db[j] += s;
}
