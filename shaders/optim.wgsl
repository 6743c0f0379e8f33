// Optimizer steps over a whole parameter arena (p, g, m, v: p.n elements each), PyTorch
// semantics (the reference backend is the spec):
//  sgd:   grad = g + wd*p; m = mu*m + grad; p -= lr * (nesterov ? grad + mu*m : m)
//  adamw: p = decay*p; m = beta1*m + one_minus_beta1*g; v = beta2*v + one_minus_beta2*g^2;
//         p -= step_size*m / (sqrt(v*inv_bias2) + eps)
// AdamW's constants are formed once on the host, in f64, by adamwCoefficients
// (ts/backends/validate.ts) and used here as given: 1 - beta2 formed in f32 would be off by
// 6.8e-4 at beta2 = 0.99999. Plain arithmetic: NaN in p or g stays NaN.

//#include index.wgsl

struct SgdParams {
  n: u32,
  nesterov: u32,
  lr: f32,
  momentum: f32,
  weight_decay: f32,
}

@group(0) @binding(0) var<storage, read_write> sgd_param: array<f32>;
@group(0) @binding(1) var<storage, read> sgd_grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> sgd_mom: array<f32>;
@group(0) @binding(3) var<uniform> sgd_p: SgdParams;

@compute @workgroup_size(256)
fn optim_sgd(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wg, nwg, lid);
  if (i >= sgd_p.n) { return; }
  let p = sgd_param[i];
  let grad = sgd_grad[i] + sgd_p.weight_decay * p;
  let m = sgd_p.momentum * sgd_mom[i] + grad;
  sgd_mom[i] = m;
  let step = select(m, grad + sgd_p.momentum * m, sgd_p.nesterov == 1u);
  sgd_param[i] = p - sgd_p.lr * step;
}

struct AdamParams {
  n: u32,
  decay: f32,
  beta1: f32,
  one_minus_beta1: f32,
  beta2: f32,
  one_minus_beta2: f32,
  eps: f32,
  step_size: f32,
  inv_bias2: f32,
}

@group(0) @binding(0) var<storage, read_write> adam_param: array<f32>;
@group(0) @binding(1) var<storage, read> adam_grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> adam_m: array<f32>;
@group(0) @binding(3) var<storage, read_write> adam_v: array<f32>;
@group(0) @binding(4) var<uniform> adam_p: AdamParams;

@compute @workgroup_size(256)
fn optim_adamw(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wg, nwg, lid);
  if (i >= adam_p.n) { return; }
  let g = adam_grad[i];
  let p = adam_param[i] * adam_p.decay;
  let m = adam_p.beta1 * adam_m[i] + adam_p.one_minus_beta1 * g;
  let v = adam_p.beta2 * adam_v[i] + adam_p.one_minus_beta2 * g * g;
  adam_m[i] = m;
  adam_v[i] = v;
  adam_param[i] = p - (adam_p.step_size * m) / (sqrt(v * adam_p.inv_bias2) + adam_p.eps);
}
