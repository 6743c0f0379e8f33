// AdamW's per-step constants, shared by the CPU and CUDA kernels. They are formed once per step,
// in double, by adamwCoefficients (ts/backends/validate.ts) and arrive here rounded to f32; no
// kernel forms 1 − β itself (in f32, 1 − β2 at β2 = 0.99999 is off by 1.4e-3). Elementwise:
//   p = decay·p;  m = beta1·m + one_minus_beta1·g;  v = beta2·v + one_minus_beta2·g²;
//   p −= step_size·m / (√(v·inv_bias2) + eps)
// decay = 1 − lr·wd, step_size = lr / (1 − β1^t), inv_bias2 = 1 / (1 − β2^t).
#pragma once

namespace hydranet {

struct AdamwParams {
  float decay, beta1, one_minus_beta1, beta2, one_minus_beta2, eps, step_size, inv_bias2;
};

}  // namespace hydranet
