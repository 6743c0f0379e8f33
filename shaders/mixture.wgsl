// The gated mixture of experts (MMoE, CGC) on the webgpu backend; MixtureLayout in
// ts/backends/layouts.ts, the reference backend is the spec.
//
// Shapes: x, dx [E·sx] (expert e's rows [N, D] at e·sx); z, g, dz [N, zw] (task t's block of k_t
// gate columns at off_t, column j for expert e_tj); out, dOut [T·so] (task t's rows [N, D] at t·so).
//   forward   g[i, off_t + j] = softmax_j z[i, off_t + ·]                        (gates, =)
//             out_t[i, d] = Σ_j g[i, off_t + j] · x_{e_tj}[i, d]                 (combine, =)
//   backward  dx_e[i, d] = Σ over the (t, j) with e_tj = e, in task order, of
//                          g[i, off_t + j] · dOut_t[i, d]   (0 for unused experts)  (=)
//             dg_j = Σ_d dOut_t[i, d] · x_{e_tj}[i, d];  dz[i, off_t + j] = g_j · (dg_j − Σ_l g_l·dg_l)  (=)
// Only the first N rows of each expert / task block are touched.
//
// The layout table (u32, uploaded once per layout and bound read-only):
//   [0..6)                T, E, D, sx, so, zw (as MixtureLayout.packed)
//   [6 + 2t], [7 + 2t]    k_t, off_t
//   [6 + 2T + col]        the expert of gate column col
//   [inv + 2e], [.. + 1]  how many gate columns use expert e, and where their list starts
//   [list + 2q], [.. + 1] the q-th (task, gate column) pair, grouped by expert, in task order
// Every kernel is one invocation per output element (combine, expert grads) or per (row, task)
// (gates, gate grads): each output element is written by exactly one invocation.

//#include index.wgsl

struct MixtureParams {
  n: u32, total: u32, tasks: u32, experts: u32,
  width: u32, sx: u32, so: u32, zw: u32,
  inv: u32, list: u32,
}

// ---- forward: gates, one invocation per (row i, task t) ----
@group(0) @binding(0) var<storage, read> gate_z: array<f32>;
@group(0) @binding(1) var<storage, read_write> gate_g: array<f32>;
@group(0) @binding(2) var<storage, read> gate_table: array<u32>;
@group(0) @binding(3) var<uniform> gate_p: MixtureParams;

@compute @workgroup_size(256)
fn mixture_gates(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let id = linear_id(wg, nwg, lid);
  let p = gate_p;
  if (id >= p.total) { return; }
  let i = id / p.tasks;
  let t = id - i * p.tasks;
  let k = gate_table[6u + 2u * t];
  let row = i * p.zw + gate_table[7u + 2u * t];
  var m = gate_z[row];
  for (var j = 1u; j < k; j++) { m = max(m, gate_z[row + j]); }
  var sum = 0.0;
  for (var j = 0u; j < k; j++) { sum += exp(gate_z[row + j] - m); }
  for (var j = 0u; j < k; j++) { gate_g[row + j] = exp(gate_z[row + j] - m) / sum; }
}

// ---- forward: combine, one invocation per element (t, i, d) of out ----
@group(0) @binding(0) var<storage, read> comb_x: array<f32>;
@group(0) @binding(1) var<storage, read> comb_g: array<f32>;
@group(0) @binding(2) var<storage, read_write> comb_out: array<f32>;
@group(0) @binding(3) var<storage, read> comb_table: array<u32>;
@group(0) @binding(4) var<uniform> comb_p: MixtureParams;

@compute @workgroup_size(256)
fn mixture_combine(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let id = linear_id(wg, nwg, lid);
  let p = comb_p;
  if (id >= p.total) { return; }
  let rows = p.n * p.width;
  let t = id / rows;
  let r = id - t * rows;  // i·D + d
  let i = r / p.width;
  let k = comb_table[6u + 2u * t];
  let off = comb_table[7u + 2u * t];
  let row = i * p.zw + off;
  let experts = 6u + 2u * p.tasks + off;
  var s = 0.0;
  for (var j = 0u; j < k; j++) {
    s += comb_g[row + j] * comb_x[comb_table[experts + j] * p.sx + r];
  }
  comb_out[t * p.so + r] = s;
}

// ---- backward: dx, one invocation per element (e, i, d) of dx's first N rows per expert ----
@group(0) @binding(0) var<storage, read> egrad_g: array<f32>;
@group(0) @binding(1) var<storage, read> egrad_dout: array<f32>;
@group(0) @binding(2) var<storage, read_write> egrad_dx: array<f32>;
@group(0) @binding(3) var<storage, read> egrad_table: array<u32>;
@group(0) @binding(4) var<uniform> egrad_p: MixtureParams;

@compute @workgroup_size(256)
fn mixture_expert_grads(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let id = linear_id(wg, nwg, lid);
  let p = egrad_p;
  if (id >= p.total) { return; }
  let rows = p.n * p.width;
  let e = id / rows;
  let r = id - e * rows;
  let i = r / p.width;
  let count = egrad_table[p.inv + 2u * e];
  let start = p.list + 2u * egrad_table[p.inv + 2u * e + 1u];
  var s = 0.0;
  for (var q = 0u; q < count; q++) {
    let t = egrad_table[start + 2u * q];
    let col = egrad_table[start + 2u * q + 1u];
    s += egrad_g[i * p.zw + col] * egrad_dout[t * p.so + r];
  }
  egrad_dx[e * p.sx + r] = s;
}

// ---- backward: dz, one invocation per (row i, task t); dz holds dg_j until the dot is known ----
@group(0) @binding(0) var<storage, read> ggrad_x: array<f32>;
@group(0) @binding(1) var<storage, read> ggrad_g: array<f32>;
@group(0) @binding(2) var<storage, read> ggrad_dout: array<f32>;
@group(0) @binding(3) var<storage, read_write> ggrad_dz: array<f32>;
@group(0) @binding(4) var<storage, read> ggrad_table: array<u32>;
@group(0) @binding(5) var<uniform> ggrad_p: MixtureParams;

@compute @workgroup_size(256)
fn mixture_gate_grads(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let id = linear_id(wg, nwg, lid);
  let p = ggrad_p;
  if (id >= p.total) { return; }
  let i = id / p.tasks;
  let t = id - i * p.tasks;
  let k = ggrad_table[6u + 2u * t];
  let off = ggrad_table[7u + 2u * t];
  let row = i * p.zw + off;
  let experts = 6u + 2u * p.tasks + off;
  let go = t * p.so + i * p.width;
  var dot = 0.0;
  for (var j = 0u; j < k; j++) {
    let xe = ggrad_table[experts + j] * p.sx + i * p.width;
    var s = 0.0;
    for (var d = 0u; d < p.width; d++) { s += ggrad_dout[go + d] * ggrad_x[xe + d]; }
    ggrad_dz[row + j] = s;
    dot += ggrad_g[row + j] * s;
  }
  for (var j = 0u; j < k; j++) {
    let gj = ggrad_g[row + j];
    ggrad_dz[row + j] = gj * (ggrad_dz[row + j] - dot);
  }
}
