// The N-API surface of the CPU backend (hydranet_cpu.node), and nothing else: each function
// checks its arguments (types, and every typed array's length against the dimensions passed,
// each an overflow-checked product; packed layouts decoded and checked by native/layouts.h),
// then calls one kernel of native/cpu on the arrays' own memory, without copies. Errors become
// JS TypeError (wrong type) or RangeError (wrong length or value); no C++ exception ever crosses
// into JavaScript. Shapes were already validated, with friendlier messages, before the call: by
// the check* functions of ts/backends/validate.ts, which the op table (ts/backends/ops.ts) runs
// for every backend; the checks here keep a wrong call from TypeScript from touching bad memory.
#include <napi.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <thread>

#include "cpu/cpu_features.h"
#include "cpu/kernels.h"
#include "layouts.h"
#include "napi_args.h"

namespace {

using hydranet::Activation;
namespace layouts = hydranet::layouts;
using layouts::elements;

using hydranet::napi::ArgsBase;

constexpr char kAddon[] = "hydranet_cpu";

template <hydranet::napi::Entry F>
Napi::Value guarded(const Napi::CallbackInfo& info) {
  return hydranet::napi::guarded<kAddon, F>(info);
}

// The CPU addon's arguments: tensors are Float32Arrays whose lengths must match the dimensions.
class Args : public ArgsBase {
 public:
  Args(const Napi::CallbackInfo& info, const char* fn, size_t count) : ArgsBase(info, kAddon, fn, count) {}

  float* f32(size_t i, const char* name, int64_t length) const {
    float* p = f32_or_null(i, name, length);
    if (p == nullptr) type_error(std::string("expected a Float32Array for ") + name + ", received null");
    return p;
  }

  float* f32_or_null(size_t i, const char* name, int64_t length) const {
    const Napi::Value v = info_[i];
    if (v.IsNull() || v.IsUndefined()) return nullptr;
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
      type_error(std::string("expected a Float32Array for ") + name);
    }
    Napi::Float32Array a = v.As<Napi::Float32Array>();
    if (static_cast<int64_t>(a.ElementLength()) != length) {
      range_error(std::string("expected a Float32Array of ") + std::to_string(length) + " elements for " + name +
                  ", received " + std::to_string(a.ElementLength()));
    }
    return length == 0 ? nullptr : a.Data();
  }

  Activation activation(size_t i) const { return static_cast<Activation>(activation_index(i)); }
  int threads(size_t i) const { return static_cast<int>(integer(i, "threads", 1, 1024)); }
};

// ---- entry points ----------------------------------------------------------------------------

Napi::Value info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("isa", hydranet::isa_kernels().name);
  o.Set("isaError", hydranet::isa_env_error());
  Napi::Object supported = Napi::Object::New(env);
  supported.Set("scalar", hydranet::isa_supported(hydranet::Isa::scalar));
  supported.Set("avx2", hydranet::isa_supported(hydranet::Isa::avx2));
  supported.Set("avx512", hydranet::isa_supported(hydranet::Isa::avx512));
  o.Set("supported", supported);
  o.Set("hardwareThreads", std::max(1u, std::thread::hardware_concurrency()));
  return o;
}

// gemm(a, b, c, bias|null, m, n, k, transA, transB, alpha, beta, activation, threads)
Napi::Value gemm(const Napi::CallbackInfo& info) {
  const Args a(info, "gemm", 13);
  hydranet::GemmArgs g;
  g.m = a.dim(4, "m"), g.n = a.dim(5, "n"), g.k = a.dim(6, "k");
  g.trans_a = a.boolean(7, "transA"), g.trans_b = a.boolean(8, "transB");
  g.a = a.f32(0, "a", elements(a, "a", {g.m, g.k}));
  g.b = a.f32(1, "b", elements(a, "b", {g.k, g.n}));
  g.c = a.f32(2, "c", elements(a, "c", {g.m, g.n}));
  g.bias = a.f32_or_null(3, "bias", g.n);
  g.lda = g.trans_a ? g.m : g.k;
  g.ldb = g.trans_b ? g.k : g.n;
  g.ldc = g.n;
  g.alpha = static_cast<float>(a.number(9, "alpha"));
  g.beta = static_cast<float>(a.number(10, "beta"));
  g.act = a.activation(11);
  hydranet::gemm_forward(g, a.threads(12));
  return info.Env().Undefined();
}

int64_t length_of(const Napi::CallbackInfo& info, const Args& a, size_t i, const char* name) {
  const Napi::Value v = info[i];
  if (!v.IsTypedArray()) a.type_error(std::string("expected a Float32Array for ") + name);
  return static_cast<int64_t>(v.As<Napi::TypedArray>().ElementLength());
}

// activationForward(kind, x, y, threads)
Napi::Value activation_forward(const Napi::CallbackInfo& info) {
  const Args a(info, "activationForward", 4);
  const int64_t n = length_of(info, a, 1, "x");
  hydranet::activation_forward(a.activation(0), a.f32(1, "x", n), a.f32(2, "y", n), n, a.threads(3));
  return info.Env().Undefined();
}

// activationBackward(kind, y, dy, dx, x|null, threads)
Napi::Value activation_backward(const Napi::CallbackInfo& info) {
  const Args a(info, "activationBackward", 6);
  const Activation kind = a.activation(0);
  const int64_t n = length_of(info, a, 1, "y");
  const float* x = a.f32_or_null(4, "x", n);
  if (kind == Activation::gelu && x == nullptr) a.type_error("gelu needs the input x");
  hydranet::activation_backward(kind, a.f32(1, "y", n), a.f32(2, "dy", n), a.f32(3, "dx", n), x, n, a.threads(5));
  return info.Env().Undefined();
}

// biasGrad(dy, db, rows, cols, threads)
Napi::Value bias_grad(const Napi::CallbackInfo& info) {
  const Args a(info, "biasGrad", 5);
  const int64_t rows = a.dim(2, "rows"), cols = a.dim(3, "cols");
  hydranet::bias_grad(a.f32(0, "dy", elements(a, "dy", {rows, cols})), a.f32(1, "db", cols), rows, cols,
                          a.threads(4));
  return info.Env().Undefined();
}

// add(a, b, out, threads)
Napi::Value add(const Napi::CallbackInfo& info) {
  const Args a(info, "add", 4);
  const int64_t n = length_of(info, a, 0, "a");
  hydranet::add_forward(a.f32(0, "a", n), a.f32(1, "b", n), a.f32(2, "out", n), n, a.threads(3));
  return info.Env().Undefined();
}

// mul(a, b, out, threads)
Napi::Value mul(const Napi::CallbackInfo& info) {
  const Args a(info, "mul", 4);
  const int64_t n = length_of(info, a, 0, "a");
  hydranet::mul_forward(a.f32(0, "a", n), a.f32(1, "b", n), a.f32(2, "out", n), n, a.threads(3));
  return info.Env().Undefined();
}

// dropoutForward(x, y, mask, seed, threshold, scale, threads)
Napi::Value dropout_forward(const Napi::CallbackInfo& info) {
  const Args a(info, "dropoutForward", 7);
  const int64_t n = length_of(info, a, 0, "x");
  hydranet::dropout_forward(a.f32(0, "x", n), a.f32(1, "y", n), a.f32(2, "mask", n), n, a.dropout(3), a.threads(6));
  return info.Env().Undefined();
}

// gradDrop(g, out, tasks, m, seed, leak, epsilon, threads)
Napi::Value grad_drop(const Napi::CallbackInfo& info) {
  const Args a(info, "gradDrop", 8);
  const int tasks = a.dim(2, "tasks");
  const int64_t m = a.dim(3, "m");
  const uint32_t seed = a.u32(4, "seed");
  const double leak = a.number_in(5, "leak", 0, 1);
  const double epsilon = a.number_in(6, "epsilon", 0, 1);
  hydranet::graddrop_apply(a.f32(0, "g", elements(a, "g", {tasks, m})), a.f32(1, "out", m), tasks, m, seed, leak,
                           epsilon, a.threads(7));
  return info.Env().Undefined();
}

// mixtureForward(layout, x, z, g, out, n, threads)
Napi::Value mixture_forward(const Napi::CallbackInfo& info) {
  const Args a(info, "mixtureForward", 7);
  const int n = a.dim(5, "n");
  const layouts::Mixture L = layouts::mixture(a, a.i32(0, "layout"), n);
  hydranet::mixture_forward(L.packed, a.f32(1, "x", L.x), a.f32(2, "z", L.z), a.f32(3, "g", L.z),
                            a.f32(4, "out", L.out), n, a.threads(6));
  return info.Env().Undefined();
}

// mixtureBackward(layout, x, g, dOut, dx, dz, n, threads)
Napi::Value mixture_backward(const Napi::CallbackInfo& info) {
  const Args a(info, "mixtureBackward", 8);
  const int n = a.dim(6, "n");
  const layouts::Mixture L = layouts::mixture(a, a.i32(0, "layout"), n);
  hydranet::mixture_backward(L.packed, a.f32(1, "x", L.x), a.f32(2, "g", L.z), a.f32(3, "dOut", L.out),
                             a.f32(4, "dx", L.x), a.f32(5, "dz", L.z), n, a.threads(7));
  return info.Env().Undefined();
}

// headsForward(layout, x, w, b, y, n, activation, threads)
Napi::Value heads_forward(const Napi::CallbackInfo& info) {
  const Args a(info, "headsForward", 8);
  const int n = a.dim(5, "n");
  const layouts::Heads L = layouts::heads(a, a.i32(0, "layout"), n);
  hydranet::heads_forward(L.packed, a.f32(1, "x", L.x), a.f32(2, "w", L.weights), a.f32(3, "b", L.total_out),
                          a.f32(4, "y", L.y), n, a.activation(6), a.threads(7));
  return info.Env().Undefined();
}

// headsBackward(layout, x, w, dy, dx|null, dw, db, perTaskDx|null, n, threads)
Napi::Value heads_backward(const Napi::CallbackInfo& info) {
  const Args a(info, "headsBackward", 10);
  const int n = a.dim(8, "n");
  const layouts::Heads L = layouts::heads(a, a.i32(0, "layout"), n);
  float* per_task = a.f32_or_null(7, "perTaskDx", L.per_task);
  if (per_task && L.mode != 1) a.range_error("perTaskDx needs a layout with a shared input");
  hydranet::heads_backward(L.packed, a.f32(1, "x", L.x), a.f32(2, "w", L.weights), a.f32(3, "dy", L.y),
                           a.f32_or_null(4, "dx", L.x), a.f32(5, "dw", L.weights), a.f32(6, "db", L.total_out),
                           per_task, n, a.threads(9));
  return info.Env().Undefined();
}

// multiLoss(layout, logits, targets, mask|null, weights, losses, dlogits, n, totalOut, totalTgt, threads)
// → -1, or task·n + row of the first invalid class label.
Napi::Value multi_loss(const Napi::CallbackInfo& info) {
  const Args a(info, "multiLoss", 11);
  const int n = a.dim(7, "n"), total_out = a.dim(8, "totalOut"), total_tgt = a.dim(9, "totalTgt");
  const layouts::Loss L = layouts::loss(a, a.i32(0, "layout"), n, total_out, total_tgt);
  const int64_t bad = hydranet::loss_forward_backward(
      L.packed, L.tasks, a.f32(1, "logits", L.logits), a.f32(2, "targets", L.targets),
      a.f32_or_null(3, "mask", L.mask), a.f32(4, "weights", L.tasks), a.f32(5, "losses", L.tasks),
      a.f32(6, "dlogits", L.logits), n, total_out, total_tgt, a.threads(10));
  return Napi::Number::New(info.Env(), static_cast<double>(bad));
}

// ---- image ops ---------------------------------------------------------------------------------

// conv2dForward(geometry, x, w, b|null, y, n, activation, threads)
Napi::Value conv2d_forward(const Napi::CallbackInfo& info) {
  const Args a(info, "conv2dForward", 8);
  const int n = a.dim(5, "n");
  const layouts::Conv G = layouts::conv(a, a.i32(0, "geometry"), n);
  hydranet::conv2d_forward(G.shape, a.f32(1, "x", G.x), a.f32(2, "w", G.w),
                           a.f32_or_null(3, "b", G.out_c), a.f32(4, "y", G.y), n, a.activation(6), a.threads(7));
  return info.Env().Undefined();
}

// conv2dBackward(geometry, x, w, dy, dx|null, dw, db|null, n, threads)
Napi::Value conv2d_backward(const Napi::CallbackInfo& info) {
  const Args a(info, "conv2dBackward", 9);
  const int n = a.dim(7, "n");
  const layouts::Conv G = layouts::conv(a, a.i32(0, "geometry"), n);
  hydranet::conv2d_backward(G.shape, a.f32(1, "x", G.x), a.f32(2, "w", G.w),
                            a.f32(3, "dy", G.y), a.f32_or_null(4, "dx", G.x), a.f32(5, "dw", G.w),
                            a.f32_or_null(6, "db", G.out_c), n, a.threads(8));
  return info.Env().Undefined();
}

// maxPool2dForward(geometry, x, y, argmax, n, threads)
Napi::Value max_pool2d_forward(const Napi::CallbackInfo& info) {
  const Args a(info, "maxPool2dForward", 6);
  const int n = a.dim(4, "n");
  const layouts::Pool G = layouts::pool(a, a.i32(0, "geometry"), n);
  hydranet::max_pool2d_forward(G.shape, a.f32(1, "x", G.x), a.f32(2, "y", G.y),
                               a.f32(3, "argmax", G.y), n, a.threads(5));
  return info.Env().Undefined();
}

// maxPool2dBackward(geometry, dy, argmax, dx, n, threads); a RangeError names the first argmax
// value that is not an index within its plane (such entries are never written through).
Napi::Value max_pool2d_backward(const Napi::CallbackInfo& info) {
  const Args a(info, "maxPool2dBackward", 6);
  const int n = a.dim(4, "n");
  const layouts::Pool G = layouts::pool(a, a.i32(0, "geometry"), n);
  const hydranet::PoolShape s = G.shape;
  const float* argmax = a.f32(2, "argmax", G.y);
  const int64_t bad = hydranet::max_pool2d_backward(s, a.f32(1, "dy", G.y), argmax, a.f32(3, "dx", G.x), n,
                                                    a.threads(5));
  if (bad >= 0) {
    a.range_error("argmax[" + std::to_string(bad) + "] = " + std::to_string(argmax[bad]) +
                  " is not an index within the " + std::to_string(s.h) + "×" + std::to_string(s.w) + " plane");
  }
  return info.Env().Undefined();
}

// dropout2dForward(x, y, mask, rows, plane, seed, threshold, scale, threads)
Napi::Value dropout2d_forward(const Napi::CallbackInfo& info) {
  const Args a(info, "dropout2dForward", 9);
  const int64_t rows = a.integer(3, "rows", 1, int64_t{1} << 40), plane = a.integer(4, "plane", 1, int64_t{1} << 40);
  const int64_t size = elements(a, "x", {rows, plane});
  hydranet::dropout2d_forward(a.f32(0, "x", size), a.f32(1, "y", size), a.f32(2, "mask", rows), rows, plane, a.dropout(5),
                              a.threads(8));
  return info.Env().Undefined();
}

// scaleChannels(x, s, out, rows, plane, threads)
Napi::Value scale_channels(const Napi::CallbackInfo& info) {
  const Args a(info, "scaleChannels", 6);
  const int64_t rows = a.integer(3, "rows", 1, int64_t{1} << 40), plane = a.integer(4, "plane", 1, int64_t{1} << 40);
  const int64_t size = elements(a, "x", {rows, plane});
  hydranet::scale_channels(a.f32(0, "x", size), a.f32(1, "s", rows), a.f32(2, "out", size), rows, plane,
                           a.threads(5));
  return info.Env().Undefined();
}

// sgdStep(p, g, m, lr, momentum, weightDecay, nesterov, threads)
Napi::Value sgd_step(const Napi::CallbackInfo& info) {
  const Args a(info, "sgdStep", 8);
  const int64_t n = length_of(info, a, 0, "p");
  const hydranet::SgdParams h{static_cast<float>(a.number(3, "lr")), static_cast<float>(a.number(4, "momentum")),
                              static_cast<float>(a.number(5, "weightDecay")), a.boolean(6, "nesterov")};
  hydranet::optim_sgd_step(a.f32(0, "p", n), a.f32(1, "g", n), a.f32(2, "m", n), n, h, a.threads(7));
  return info.Env().Undefined();
}

// adamwStep(p, g, m, v, decay, beta1, oneMinusBeta1, beta2, oneMinusBeta2, eps, stepSize, invBias2, threads):
// the constants of adamwCoefficients (ts/backends/validate.ts), see native/adamw.h.
Napi::Value adamw_step(const Napi::CallbackInfo& info) {
  const Args a(info, "adamwStep", 13);
  const int64_t n = length_of(info, a, 0, "p");
  hydranet::optim_adamw_step(a.f32(0, "p", n), a.f32(1, "g", n), a.f32(2, "m", n), a.f32(3, "v", n), n, a.adamw(4),
                             a.threads(12));
  return info.Env().Undefined();
}

Napi::Object init(Napi::Env env, Napi::Object exports) {
  exports.Set("info", Napi::Function::New(env, guarded<info>, "info"));
  exports.Set("gemm", Napi::Function::New(env, guarded<gemm>, "gemm"));
  exports.Set("activationForward", Napi::Function::New(env, guarded<activation_forward>, "activationForward"));
  exports.Set("activationBackward", Napi::Function::New(env, guarded<activation_backward>, "activationBackward"));
  exports.Set("biasGrad", Napi::Function::New(env, guarded<bias_grad>, "biasGrad"));
  exports.Set("add", Napi::Function::New(env, guarded<add>, "add"));
  exports.Set("mul", Napi::Function::New(env, guarded<mul>, "mul"));
  exports.Set("dropoutForward", Napi::Function::New(env, guarded<dropout_forward>, "dropoutForward"));
  exports.Set("mixtureForward", Napi::Function::New(env, guarded<mixture_forward>, "mixtureForward"));
  exports.Set("mixtureBackward", Napi::Function::New(env, guarded<mixture_backward>, "mixtureBackward"));
  exports.Set("gradDrop", Napi::Function::New(env, guarded<grad_drop>, "gradDrop"));
  exports.Set("headsForward", Napi::Function::New(env, guarded<heads_forward>, "headsForward"));
  exports.Set("headsBackward", Napi::Function::New(env, guarded<heads_backward>, "headsBackward"));
  exports.Set("multiLoss", Napi::Function::New(env, guarded<multi_loss>, "multiLoss"));
  exports.Set("conv2dForward", Napi::Function::New(env, guarded<conv2d_forward>, "conv2dForward"));
  exports.Set("conv2dBackward", Napi::Function::New(env, guarded<conv2d_backward>, "conv2dBackward"));
  exports.Set("maxPool2dForward", Napi::Function::New(env, guarded<max_pool2d_forward>, "maxPool2dForward"));
  exports.Set("maxPool2dBackward", Napi::Function::New(env, guarded<max_pool2d_backward>, "maxPool2dBackward"));
  exports.Set("dropout2dForward", Napi::Function::New(env, guarded<dropout2d_forward>, "dropout2dForward"));
  exports.Set("scaleChannels", Napi::Function::New(env, guarded<scale_channels>, "scaleChannels"));
  exports.Set("sgdStep", Napi::Function::New(env, guarded<sgd_step>, "sgdStep"));
  exports.Set("adamwStep", Napi::Function::New(env, guarded<adamw_step>, "adamwStep"));
  return exports;
}

}  // namespace

NODE_API_MODULE(hydranet_cpu, init)
