// The N-API surface of the CUDA backend (hydranet_cuda.node), and nothing else: one entry per
// kernel here, the device state, allocations and transfers in addon_device.cc (addon_device.h).
// Device memory lives in allocations the addon owns, named by integer ids; JavaScript passes each tensor as
// [id, offset, count] (elements), and every range is checked against its allocation and
// against the dimensions of the call before any kernel is enqueued. Kernels run on one stream;
// reads and syncs wait for it and then check the device status words (a class index out of
// range found by the loss kernel). Packed layouts are decoded and checked by native/layouts.h
// (shared with the CPU addon), every size an overflow-checked product. Errors become JS
// TypeError / RangeError (arguments) or Error (CUDA: the call and cudaGetErrorString); no C++
// exception crosses into JavaScript.
// Loading the addon needs no GPU (the CUDA runtime is linked statically and finds the driver
// on first use): `info()` reports what is there.
#include "addon_device.h"

namespace hydranet::cuda_addon {
namespace {

namespace layouts = hydranet::layouts;
using layouts::elements;

Napi::Value done(const Napi::CallbackInfo& info, cudaError_t e, const char* what) {
  check_cuda(e, what);
  return info.Env().Undefined();
}

// gemm(a, b, c, bias|null, m, n, k, transA, transB, alpha, beta, activation)
Napi::Value gemm(const Napi::CallbackInfo& info) {
  const Args a(info, "gemm", 12);
  const int m = a.dim(4, "m"), n = a.dim(5, "n"), k = a.dim(6, "k");
  hc::GemmLaunch g;
  g.trans_a = a.boolean(7, "transA");
  g.trans_b = a.boolean(8, "transB");
  g.alpha = static_cast<float>(a.number(9, "alpha"));
  g.beta = static_cast<float>(a.number(10, "beta"));
  g.act = a.activation(11);
  const hc::GemmProblem p{m, n, k, 0, 0, 0, 0, g.trans_a ? m : k, g.trans_b ? k : n, n};
  const float* A = a.dev(0, "a", elements(a, "a", {m, k}));
  const float* B = a.dev(1, "b", elements(a, "b", {k, n}));
  float* C = a.dev(2, "c", elements(a, "c", {m, n}));
  const float* bias = a.dev_or_null(3, "bias", n);
  return done(info, hc::gemm(&p, 1, g, A, B, bias, C, state().stream), "gemm");
}

// activationForward(kind, x, y)
Napi::Value activation_forward(const Napi::CallbackInfo& info) {
  const Args a(info, "activationForward", 3);
  const float* x = a.dev(1, "x", -1);
  const int64_t n = a.last_count();
  return done(info, hc::activation_forward(a.activation(0), x, a.dev(2, "y", n), n, state().stream), "activationForward");
}

// activationBackward(kind, y, dy, dx, x|null)
Napi::Value activation_backward(const Napi::CallbackInfo& info) {
  const Args a(info, "activationBackward", 5);
  const hc::Activation kind = a.activation(0);
  const float* y = a.dev(1, "y", -1);
  const int64_t n = a.last_count();
  const float* x = a.dev_or_null(4, "x", n);
  if (kind == hc::Activation::gelu && x == nullptr) a.type_error("gelu needs the input x");
  return done(info, hc::activation_backward(kind, y, a.dev(2, "dy", n), a.dev(3, "dx", n), x, n, state().stream), "activationBackward");
}

// biasGrad(dy, db, rows, cols)
Napi::Value bias_grad(const Napi::CallbackInfo& info) {
  const Args a(info, "biasGrad", 4);
  const int64_t rows = a.dim(2, "rows"), cols = a.dim(3, "cols");
  return done(info, hc::bias_grad(a.dev(0, "dy", elements(a, "dy", {rows, cols})), a.dev(1, "db", cols), rows, cols, state().stream),
              "biasGrad");
}

template <cudaError_t (*Op)(const float*, const float*, float*, int64_t, cudaStream_t)>
Napi::Value binary(const Napi::CallbackInfo& info) {
  const Args a(info, "binary", 3);
  const float* x = a.dev(0, "a", -1);
  const int64_t n = a.last_count();
  return done(info, Op(x, a.dev(1, "b", n), a.dev(2, "out", n), n, state().stream), "add/mul");
}

// dropoutForward(x, y, mask, seed, threshold, scale)
Napi::Value dropout_forward(const Napi::CallbackInfo& info) {
  const Args a(info, "dropoutForward", 6);
  const float* x = a.dev(0, "x", -1);
  const int64_t n = a.last_count();
  const hydranet::DropoutParams d = a.dropout(3);
  return done(info, hc::dropout_forward(x, a.dev(1, "y", n), a.dev(2, "mask", n), n, d.seed, d.threshold, d.scale, state().stream),
              "dropoutForward");
}

// dropout2dForward(x, y, mask, rows, plane, seed, threshold, scale)
Napi::Value dropout2d_forward(const Napi::CallbackInfo& info) {
  const Args a(info, "dropout2dForward", 8);
  const int64_t rows = a.dim(3, "rows"), plane = a.dim(4, "plane");
  const int64_t size = elements(a, "x", {rows, plane});
  const hydranet::DropoutParams d = a.dropout(5);
  return done(info,
              hc::dropout2d_forward(a.dev(0, "x", size), a.dev(1, "y", size), a.dev(2, "mask", rows), rows, plane, d.seed,
                                    d.threshold, d.scale, state().stream),
              "dropout2dForward");
}

// scaleChannels(x, s, out, rows, plane)
Napi::Value scale_channels(const Napi::CallbackInfo& info) {
  const Args a(info, "scaleChannels", 5);
  const int64_t rows = a.dim(3, "rows"), plane = a.dim(4, "plane");
  const int64_t size = elements(a, "x", {rows, plane});
  return done(info,
              hc::scale_channels(a.dev(0, "x", size), a.dev(1, "s", rows), a.dev(2, "out", size), rows, plane, state().stream),
              "scaleChannels");
}

// gradDrop(g, out, tasks, m, seed, leak, epsilon)
Napi::Value grad_drop(const Napi::CallbackInfo& info) {
  const Args a(info, "gradDrop", 7);
  const int tasks = a.dim(2, "tasks");
  const int64_t m = a.dim(3, "m");
  const double leak = a.number_in(5, "leak", 0, 1);
  const double epsilon = a.number_in(6, "epsilon", 0, 1);
  return done(info,
              hc::graddrop_apply(a.dev(0, "g", elements(a, "g", {tasks, m})), a.dev(1, "out", m), tasks, m,
                                 a.u32(4, "seed"), leak, epsilon, state().stream),
              "gradDrop");
}

// sgdStep(p, g, m, lr, momentum, weightDecay, nesterov)
Napi::Value sgd_step(const Napi::CallbackInfo& info) {
  const Args a(info, "sgdStep", 7);
  float* p = a.dev(0, "p", -1);
  const int64_t n = a.last_count();
  return done(info,
              hc::sgd_step(p, a.dev(1, "g", n), a.dev(2, "m", n), n, static_cast<float>(a.number(3, "lr")),
                           static_cast<float>(a.number(4, "momentum")), static_cast<float>(a.number(5, "weightDecay")),
                           a.boolean(6, "nesterov"), state().stream),
              "sgdStep");
}

// adamwStep(p, g, m, v, decay, beta1, oneMinusBeta1, beta2, oneMinusBeta2, eps, stepSize, invBias2): the
// constants of adamwCoefficients (ts/backends/validate.ts), see native/adamw.h.
Napi::Value adamw_step(const Napi::CallbackInfo& info) {
  const Args a(info, "adamwStep", 12);
  float* p = a.dev(0, "p", -1);
  const int64_t n = a.last_count();
  return done(info, hc::adamw_step(p, a.dev(1, "g", n), a.dev(2, "m", n), a.dev(3, "v", n), n, a.adamw(4), state().stream),
              "adamwStep");
}

// headsForward(layout, x, w, b, y, n, activation)
Napi::Value heads_forward(const Napi::CallbackInfo& info) {
  const Args a(info, "headsForward", 7);
  const int n = a.dim(5, "n");
  const layouts::Heads L = layouts::heads(a, a.i32(0, "layout"), n);
  return done(info,
              hc::heads_forward(L.packed, a.dev(1, "x", L.x), a.dev(2, "w", L.weights), a.dev(3, "b", L.total_out),
                                a.dev(4, "y", L.y), n, a.activation(6), state().stream),
              "headsForward");
}

// headsBackward(layout, x, w, dy, dx|null, dw, db, perTaskDx|null, n)
Napi::Value heads_backward(const Napi::CallbackInfo& info) {
  const Args a(info, "headsBackward", 9);
  const int n = a.dim(8, "n");
  const layouts::Heads L = layouts::heads(a, a.i32(0, "layout"), n);
  float* per_task = a.dev_or_null(7, "perTaskDx", L.per_task);
  if (per_task && L.mode != 1) a.range_error("perTaskDx needs a layout with a shared input");
  return done(info,
              hc::heads_backward(L.packed, a.dev(1, "x", L.x), a.dev(2, "w", L.weights), a.dev(3, "dy", L.y),
                                 a.dev_or_null(4, "dx", L.x), a.dev(5, "dw", L.weights), a.dev(6, "db", L.total_out), per_task,
                                 n, state().stream),
              "headsBackward");
}

// multiLoss(layout, logits, targets, mask|null, weights, losses, dlogits, n, totalOut, totalTgt) -> -1: as the
// CPU addon's, but a bad class label is flagged on the device (status words) and thrown by read/sync.
Napi::Value multi_loss(const Napi::CallbackInfo& info) {
  const Args a(info, "multiLoss", 10);
  const int n = a.dim(7, "n"), out = a.dim(8, "totalOut"), tgt = a.dim(9, "totalTgt");
  const layouts::Loss L = layouts::loss(a, a.i32(0, "layout"), n, out, tgt);
  done(info,
       hc::loss_forward_backward(L.packed, L.tasks, a.dev(1, "logits", L.logits), a.dev(2, "targets", L.targets),
                                 a.dev_or_null(3, "mask", L.mask), a.dev(4, "weights", L.tasks),
                                 a.dev(5, "losses", L.tasks), a.dev(6, "dlogits", L.logits), n, out, tgt, state().status,
                                 state().stream),
       "multiLoss");
  return Napi::Number::New(info.Env(), -1);
}

// mixtureForward(layout, x, z, g, out, n)
Napi::Value mixture_forward(const Napi::CallbackInfo& info) {
  const Args a(info, "mixtureForward", 6);
  const int n = a.dim(5, "n");
  const layouts::Mixture L = layouts::mixture(a, a.i32(0, "layout"), n);
  return done(info,
              hc::mixture_forward(L.packed, L.length, a.dev(1, "x", L.x), a.dev(2, "z", L.z), a.dev(3, "g", L.z),
                                  a.dev(4, "out", L.out), n, state().stream),
              "mixtureForward");
}

// mixtureBackward(layout, x, g, dOut, dx, dz, n)
Napi::Value mixture_backward(const Napi::CallbackInfo& info) {
  const Args a(info, "mixtureBackward", 7);
  const int n = a.dim(6, "n");
  const layouts::Mixture L = layouts::mixture(a, a.i32(0, "layout"), n);
  return done(info,
              hc::mixture_backward(L.packed, L.length, a.dev(1, "x", L.x), a.dev(2, "g", L.z), a.dev(3, "dOut", L.out),
                                   a.dev(4, "dx", L.x), a.dev(5, "dz", L.z), n, state().stream),
              "mixtureBackward");
}

// Makes the workspace hold at least `floats` (grows only; cudaFree waits for the device).
void ensure_workspace(size_t floats) {
  hc::Workspace& w = state().workspace;
  if (w.floats >= floats) return;
  if (w.data) check_cuda(cudaFree(w.data), "workspace");
  w.data = nullptr, w.floats = 0;
  check_cuda(cudaMalloc(reinterpret_cast<void**>(&w.data), floats * sizeof(float)), "workspace");
  w.floats = floats;
}

// conv2dForward(geometry, x, w, b|null, y, n, activation)
Napi::Value conv2d_forward(const Napi::CallbackInfo& info) {
  const Args a(info, "conv2dForward", 7);
  const int n = a.dim(5, "n");
  const layouts::Conv G = layouts::conv(a, a.i32(0, "geometry"), n);
  const float* x = a.dev(1, "x", G.x);
  const float* w = a.dev(2, "w", G.w);
  const float* b = a.dev_or_null(3, "b", G.out_c);
  float* y = a.dev(4, "y", G.y);
  const hc::Activation act = a.activation(6);
  ensure_workspace(hc::conv2d_workspace_floats(G.shape, n));
  return done(info, hc::conv2d_forward(G.shape, x, w, b, y, n, act, state().workspace, state().stream), "conv2dForward");
}

// conv2dBackward(geometry, x, w, dy, dx|null, dw, db|null, n)
Napi::Value conv2d_backward(const Napi::CallbackInfo& info) {
  const Args a(info, "conv2dBackward", 8);
  const int n = a.dim(7, "n");
  const layouts::Conv G = layouts::conv(a, a.i32(0, "geometry"), n);
  const float* x = a.dev(1, "x", G.x);
  const float* w = a.dev(2, "w", G.w);
  const float* dy = a.dev(3, "dy", G.y);
  float* dx = a.dev_or_null(4, "dx", G.x);
  float* dw = a.dev(5, "dw", G.w);
  float* db = a.dev_or_null(6, "db", G.out_c);
  ensure_workspace(hc::conv2d_workspace_floats(G.shape, n));
  return done(info, hc::conv2d_backward(G.shape, x, w, dy, dx, dw, db, n, state().workspace, state().stream), "conv2dBackward");
}

// maxPool2dForward(geometry, x, y, argmax, n)
Napi::Value max_pool2d_forward(const Napi::CallbackInfo& info) {
  const Args a(info, "maxPool2dForward", 5);
  const int n = a.dim(4, "n");
  const layouts::Pool G = layouts::pool(a, a.i32(0, "geometry"), n);
  return done(info, hc::max_pool2d_forward(G.shape, a.dev(1, "x", G.x), a.dev(2, "y", G.y), a.dev(3, "argmax", G.y), n, state().stream),
              "maxPool2dForward");
}

// maxPool2dBackward(geometry, dy, argmax, dx, n)
Napi::Value max_pool2d_backward(const Napi::CallbackInfo& info) {
  const Args a(info, "maxPool2dBackward", 5);
  const int n = a.dim(4, "n");
  const layouts::Pool G = layouts::pool(a, a.i32(0, "geometry"), n);
  return done(info, hc::max_pool2d_backward(G.shape, a.dev(1, "dy", G.y), a.dev(2, "argmax", G.y), a.dev(3, "dx", G.x), n, state().stream),
              "maxPool2dBackward");
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  add_device_entries(env, exports);
  auto set = [&](const char* name, Napi::Function f) { exports.Set(name, f); };
  set("gemm", Napi::Function::New(env, guarded<gemm>, "gemm"));
  set("activationForward", Napi::Function::New(env, guarded<activation_forward>, "activationForward"));
  set("activationBackward", Napi::Function::New(env, guarded<activation_backward>, "activationBackward"));
  set("biasGrad", Napi::Function::New(env, guarded<bias_grad>, "biasGrad"));
  set("add", Napi::Function::New(env, guarded<binary<hc::add>>, "add"));
  set("mul", Napi::Function::New(env, guarded<binary<hc::mul>>, "mul"));
  set("dropoutForward", Napi::Function::New(env, guarded<dropout_forward>, "dropoutForward"));
  set("dropout2dForward", Napi::Function::New(env, guarded<dropout2d_forward>, "dropout2dForward"));
  set("scaleChannels", Napi::Function::New(env, guarded<scale_channels>, "scaleChannels"));
  set("gradDrop", Napi::Function::New(env, guarded<grad_drop>, "gradDrop"));
  set("sgdStep", Napi::Function::New(env, guarded<sgd_step>, "sgdStep"));
  set("adamwStep", Napi::Function::New(env, guarded<adamw_step>, "adamwStep"));
  set("headsForward", Napi::Function::New(env, guarded<heads_forward>, "headsForward"));
  set("headsBackward", Napi::Function::New(env, guarded<heads_backward>, "headsBackward"));
  set("multiLoss", Napi::Function::New(env, guarded<multi_loss>, "multiLoss"));
  set("mixtureForward", Napi::Function::New(env, guarded<mixture_forward>, "mixtureForward"));
  set("mixtureBackward", Napi::Function::New(env, guarded<mixture_backward>, "mixtureBackward"));
  set("conv2dForward", Napi::Function::New(env, guarded<conv2d_forward>, "conv2dForward"));
  set("conv2dBackward", Napi::Function::New(env, guarded<conv2d_backward>, "conv2dBackward"));
  set("maxPool2dForward", Napi::Function::New(env, guarded<max_pool2d_forward>, "maxPool2dForward"));
  set("maxPool2dBackward", Napi::Function::New(env, guarded<max_pool2d_backward>, "maxPool2dBackward"));
  return exports;
}

}  // namespace
}  // namespace hydranet::cuda_addon

using hydranet::cuda_addon::Init;
NODE_API_MODULE(hydranet_cuda, Init)
