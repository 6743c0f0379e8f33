// The EWC penalty's gradient (Kirkpatrick et al. 2017) over a whole parameter arena, added to
// the gradient in place (the reference backend is the spec):
//   g += lambda * fisher * (p - anchor)        p, anchor, fisher, g: n elements each
// g is the only binding written. Plain arithmetic: NaN in any input makes its g NaN.

//#include index.wgsl

struct EwcParams {
  n: u32,
  lambda: f32,
}

@group(0) @binding(0) var<storage, read> ewc_param: array<f32>;
@group(0) @binding(1) var<storage, read> ewc_anchor: array<f32>;
@group(0) @binding(2) var<storage, read> ewc_fisher: array<f32>;
@group(0) @binding(3) var<storage, read_write> ewc_grad: array<f32>;
@group(0) @binding(4) var<uniform> ewc_p: EwcParams;

@compute @workgroup_size(256)
fn ewc_penalty(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wg, nwg, lid);
  if (i >= ewc_p.n) { return; }
  ewc_grad[i] = ewc_grad[i] + ewc_p.lambda * ewc_fisher[i] * (ewc_param[i] - ewc_anchor[i]);
}
