// Optimizer steps over a whole parameter arena (p, g, m, v: p.n elements each), PyTorch
// semantics (the reference backend is the spec):
//  sgd:   grad = g + wd*p; m = mu*m + grad; p -= lr * (nesterov ? grad + mu*m : m)
//  adamw: p *= 1 - lr*wd; m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2;
//         p -= lr * (m / c1) / (sqrt(v / c2) + eps), c1 = 1 - b1^step, c2 = 1 - b2^step
// The bias corrections c1, c2 are computed on the host in f64.

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
  lr: f32,
  beta1: f32,
  beta2: f32,
  eps: f32,
  weight_decay: f32,
  c1: f32,
  c2: f32,
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
  let p = adam_param[i] * (1.0 - adam_p.lr * adam_p.weight_decay);
  let m = adam_p.beta1 * adam_m[i] + (1.0 - adam_p.beta1) * g;
  let v = adam_p.beta2 * adam_v[i] + (1.0 - adam_p.beta2) * g * g;
  adam_m[i] = m;
  adam_v[i] = v;
  adam_param[i] = p - (adam_p.lr * (m / adam_p.c1)) / (sqrt(v / adam_p.c2) + adam_p.eps);
}
