// Activations shared by the kernels that apply them (elementwise, gemm epilogues, heads).
// Kinds are the index in ACTIVATIONS (ts/backends/backend.ts): 0 none, 1 relu, 2 gelu (tanh
// approximation), 3 tanh, 4 sigmoid.
// NaN in, NaN out, as in the reference: wherever a max, a clamp or a comparison would hide a
// NaN, it is passed through explicitly (nan.wgsl).

//#include nan.wgsl

const GELU_C: f32 = 0.7978845608028654; // sqrt(2/pi)

// tanh that stays finite for large |x| (exp overflow gives NaN in some implementations); NaN
// stays NaN (clamp would turn it into ±15).
fn safe_tanh(x: f32) -> f32 {
  return keep_nan(x, tanh(clamp(x, -15.0, 15.0)));
}

fn activate(kind: u32, x: f32) -> f32 {
  switch kind {
    case 1u: { return keep_nan(x, max(x, 0.0)); }
    case 2u: { return 0.5 * x * (1.0 + safe_tanh(GELU_C * (x + 0.044715 * x * x * x))); }
    case 3u: { return safe_tanh(x); }
    case 4u: { return keep_nan(x, 1.0 / (1.0 + exp(-x))); }
    default: { return x; }
  }
}

// act'(.) from the output y (relu, tanh, sigmoid) or the input x (gelu).
fn activate_derivative(kind: u32, y: f32, x: f32) -> f32 {
  switch kind {
    case 1u: { return select(0.0, 1.0, y > 0.0); }
    case 2u: {
      let t = safe_tanh(GELU_C * (x + 0.044715 * x * x * x));
      let du = GELU_C * (1.0 + 3.0 * 0.044715 * x * x);
      return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du;
    }
    case 3u: { return 1.0 - y * y; }
    case 4u: { return y * (1.0 - y); }
    default: { return 1.0; }
  }
}

// dx = dy · act'(.): NaN in dy gives NaN even where act' is 0 (relu of a negative: dy · 0, which a
// compiler may turn into a select of 0); NaN in y (tanh, sigmoid) or x (gelu) reaches act' itself.
// As in the reference (and PyTorch), relu's derivative at y = NaN is 0.
fn activation_grad(kind: u32, dy: f32, y: f32, x: f32) -> f32 {
  return keep_nan(dy, dy * activate_derivative(kind, y, x));
}
