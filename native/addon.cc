// The N-API surface of the CPU backend (hydranet_cpu.node), and nothing else: each function
// checks its arguments (types, and every typed array's length against the dimensions passed),
// then calls one kernel of native/cpu on the arrays' own memory, without copies. Errors become
// JS TypeError (wrong type) or RangeError (wrong length or value); no C++ exception ever crosses
// into JavaScript. Shapes are validated again, with friendlier messages, in ts/backends/cpu.ts.
#include <napi.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <exception>
#include <limits>
#include <new>
#include <string>
#include <thread>

#include "cpu/cpu_features.h"
#include "cpu/kernels.h"
#include "napi_args.h"

namespace {

using hydranet::Activation;

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
  g.a = a.f32(0, "a", int64_t{g.m} * g.k);
  g.b = a.f32(1, "b", int64_t{g.k} * g.n);
  g.c = a.f32(2, "c", int64_t{g.m} * g.n);
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

// biasBackward(dy, db, rows, cols, threads)
Napi::Value bias_backward(const Napi::CallbackInfo& info) {
  const Args a(info, "biasBackward", 5);
  const int64_t rows = a.dim(2, "rows"), cols = a.dim(3, "cols");
  hydranet::bias_backward(a.f32(0, "dy", rows * cols), a.f32(1, "db", cols), rows, cols, a.threads(4));
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

// dropoutForward(x, y, mask, p, seed, threads)
Napi::Value dropout_forward(const Napi::CallbackInfo& info) {
  const Args a(info, "dropoutForward", 6);
  const int64_t n = length_of(info, a, 0, "x");
  const double p = a.number(3, "p");
  if (!(p >= 0 && p < 1)) a.range_error("expected p in [0, 1)");
  const auto seed = static_cast<uint32_t>(a.integer(4, "seed", 0, 0xffffffffLL));
  hydranet::dropout_forward(a.f32(0, "x", n), a.f32(1, "y", n), a.f32(2, "mask", n), n, p, seed, a.threads(5));
  return info.Env().Undefined();
}

// gradDrop(g, out, tasks, m, seed, leak, threads)
Napi::Value grad_drop(const Napi::CallbackInfo& info) {
  const Args a(info, "gradDrop", 7);
  const int tasks = a.dim(2, "tasks");
  const int64_t m = a.dim(3, "m");
  const auto seed = static_cast<uint32_t>(a.integer(4, "seed", 0, 0xffffffffLL));
  const double leak = a.number(5, "leak");
  if (!(leak >= 0 && leak <= 1)) a.range_error("expected leak in [0, 1]");
  hydranet::grad_drop(a.f32(0, "g", tasks * m), a.f32(1, "out", m), tasks, m, seed, leak, a.threads(6));
  return info.Env().Undefined();
}

// The sizes a packed MixtureLayout implies, after checking it is consistent.
struct MixtureSizes {
  int64_t x_size = 0, out_size = 0, gate_width = 0;
};

MixtureSizes check_mixture_layout(const Args& a, const Napi::Int32Array& layout, int64_t n) {
  const size_t len = layout.ElementLength();
  const int32_t* p = layout.Data();
  if (len < 6) a.range_error("layout is not a packed MixtureLayout");
  const int64_t tasks = p[0], experts = p[1], width = p[2], sx = p[3], so = p[4], zw = p[5];
  if (tasks < 1 || experts < 1 || width < 1 || zw < 1 || len != size_t(6 + 2 * tasks + zw) || n * width > sx ||
      n * width > so) {
    a.range_error("layout is not a packed MixtureLayout for " + std::to_string(n) + " rows");
  }
  int64_t z = 0;
  for (int64_t t = 0; t < tasks; ++t) {
    const int64_t k = p[6 + 2 * t], off = p[7 + 2 * t];
    if (k < 1 || off != z) a.range_error("layout is not a packed MixtureLayout (task " + std::to_string(t) + ")");
    for (int64_t j = 0; j < k; ++j) {
      const int64_t e = p[6 + 2 * tasks + off + j];
      if (e < 0 || e >= experts) a.range_error("layout names expert " + std::to_string(e) + " of " + std::to_string(experts));
    }
    z += k;
  }
  if (z != zw) a.range_error("layout is not a packed MixtureLayout (gate width)");
  return {experts * sx, tasks * so, zw};
}

// mixtureForward(layout, x, z, g, out, n, threads)
Napi::Value mixture_forward(const Napi::CallbackInfo& info) {
  const Args a(info, "mixtureForward", 7);
  const Napi::Int32Array layout = a.i32(0, "layout");
  const int n = a.dim(5, "n");
  const MixtureSizes s = check_mixture_layout(a, layout, n);
  hydranet::mixture_forward(layout.Data(), a.f32(1, "x", s.x_size), a.f32(2, "z", n * s.gate_width),
                            a.f32(3, "g", n * s.gate_width), a.f32(4, "out", s.out_size), n, a.threads(6));
  return info.Env().Undefined();
}

// mixtureBackward(layout, x, g, dOut, dx, dz, n, threads)
Napi::Value mixture_backward(const Napi::CallbackInfo& info) {
  const Args a(info, "mixtureBackward", 8);
  const Napi::Int32Array layout = a.i32(0, "layout");
  const int n = a.dim(6, "n");
  const MixtureSizes s = check_mixture_layout(a, layout, n);
  hydranet::mixture_backward(layout.Data(), a.f32(1, "x", s.x_size), a.f32(2, "g", n * s.gate_width),
                             a.f32(3, "dOut", s.out_size), a.f32(4, "dx", s.x_size), a.f32(5, "dz", n * s.gate_width), n,
                             a.threads(7));
  return info.Env().Undefined();
}

// The sizes a packed HeadLayout implies, after checking it is consistent: x_size is the length
// x (and dx) must have for a batch of n rows.
struct HeadSizes {
  int64_t x_size = 0, total_out = 0, weights = 0, tasks = 0, width = 0;
};

HeadSizes check_head_layout(const Args& a, const Napi::Int32Array& layout, int64_t n) {
  const size_t len = layout.ElementLength();
  if (len < 3 || layout[1] < 1 || len != 3 + 5 * static_cast<size_t>(layout[1]) || layout[0] < 0 || layout[0] > 2) {
    a.range_error("layout is not a packed HeadLayout");
  }
  const int mode = layout[0];  // 0 segmented, 1 shared, 2 stacked
  const int64_t stride = layout[2];
  HeadSizes s;
  s.tasks = layout[1];
  int64_t total_in = 0;
  for (int64_t t = 0; t < s.tasks; ++t) {
    const int32_t* p = layout.Data() + 3 + 5 * t;
    const int64_t in = p[0], out = p[1], in_off = p[2], out_off = p[3], w_off = p[4];
    const int64_t expected_off = mode == 1 ? 0 : mode == 2 ? t * stride : total_in;
    const bool ok = in >= 1 && out >= 1 && out_off == s.total_out && w_off == s.weights && in_off == expected_off &&
                    (mode == 0 || t == 0 || in == s.width) && (mode == 2 ? n * in <= stride : stride == 0);
    if (!ok) a.range_error("layout is not a packed HeadLayout for " + std::to_string(n) + " rows (task " + std::to_string(t) + ")");
    s.width = in;
    total_in += in;
    s.total_out += out;
    s.weights += in * out;
  }
  s.x_size = mode == 2 ? s.tasks * stride : n * (mode == 1 ? s.width : total_in);
  return s;
}

// headsForward(layout, x, w, b, y, n, activation, threads)
Napi::Value heads_forward(const Napi::CallbackInfo& info) {
  const Args a(info, "headsForward", 8);
  const Napi::Int32Array layout = a.i32(0, "layout");
  const int n = a.dim(5, "n");
  const HeadSizes s = check_head_layout(a, layout, n);
  hydranet::heads_forward(layout.Data(), a.f32(1, "x", s.x_size), a.f32(2, "w", s.weights), a.f32(3, "b", s.total_out),
                          a.f32(4, "y", n * s.total_out), n, a.activation(6), a.threads(7));
  return info.Env().Undefined();
}

// headsBackward(layout, x, w, dy, dx|null, dw, db, perTaskDx|null, n, threads)
Napi::Value heads_backward(const Napi::CallbackInfo& info) {
  const Args a(info, "headsBackward", 10);
  const Napi::Int32Array layout = a.i32(0, "layout");
  const int n = a.dim(8, "n");
  const HeadSizes s = check_head_layout(a, layout, n);
  float* per_task = a.f32_or_null(7, "perTaskDx", s.tasks * n * s.width);
  if (per_task && layout[0] != 1) a.range_error("perTaskDx needs a layout with a shared input");
  hydranet::heads_backward(layout.Data(), a.f32(1, "x", s.x_size), a.f32(2, "w", s.weights),
                           a.f32(3, "dy", n * s.total_out), a.f32_or_null(4, "dx", s.x_size), a.f32(5, "dw", s.weights),
                           a.f32(6, "db", s.total_out), per_task, n, a.threads(9));
  return info.Env().Undefined();
}

// multiLoss(layout, logits, targets, mask|null, weights, losses, dlogits, n, totalOut, totalTgt, threads)
// → -1, or task·n + row of the first invalid class label.
Napi::Value multi_loss(const Napi::CallbackInfo& info) {
  const Args a(info, "multiLoss", 11);
  const Napi::Int32Array layout = a.i32(0, "layout");
  const int n = a.dim(7, "n"), total_out = a.dim(8, "totalOut"), total_tgt = a.dim(9, "totalTgt");
  const size_t len = layout.ElementLength();
  if (len == 0 || len % 5 != 0) a.range_error("layout is not a packed LossLayout");
  const int tasks = static_cast<int>(len / 5);
  for (int t = 0; t < tasks; ++t) {
    const int32_t* p = layout.Data() + 5 * t;
    const int64_t kind = p[0], off = p[1], width = p[2], toff = p[3], twidth = p[4];
    const bool ok = kind >= 0 && kind <= 4 && off >= 0 && width >= (kind == 0 ? 2 : 1) && off + width <= total_out &&
                    toff >= 0 && twidth == (kind == 0 ? 1 : width) && toff + twidth <= total_tgt;
    if (!ok) a.range_error("layout is not a packed LossLayout (task " + std::to_string(t) + ")");
  }
  const int64_t bad = hydranet::loss_multi_forward_backward(
      layout.Data(), tasks, a.f32(1, "logits", int64_t{n} * total_out), a.f32(2, "targets", int64_t{n} * total_tgt),
      a.f32_or_null(3, "mask", int64_t{n} * tasks), a.f32(4, "weights", tasks), a.f32(5, "losses", tasks),
      a.f32(6, "dlogits", int64_t{n} * total_out), n, total_out, total_tgt, a.threads(10));
  return Napi::Number::New(info.Env(), static_cast<double>(bad));
}

// ---- image ops ---------------------------------------------------------------------------------

constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();

// A packed Conv2dGeometry, after checking it is consistent (outH/outW by the formula) and that
// the GEMM dimensions (K = C·kh·kw, P = outH·outW) and the buffers fit.
hydranet::ConvShape check_conv_geometry(const Args& a, const Napi::Int32Array& geometry) {
  if (geometry.ElementLength() != 10) a.range_error("geometry is not a packed Conv2dGeometry");
  const hydranet::ConvShape s = hydranet::conv_shape(geometry.Data());
  const int64_t span_h = int64_t{s.h} + 2 * int64_t{s.padding} - s.kh;
  const int64_t span_w = int64_t{s.w} + 2 * int64_t{s.padding} - s.kw;
  const bool ok = s.c >= 1 && s.h >= 1 && s.w >= 1 && s.out_c >= 1 && s.kh >= 1 && s.kw >= 1 && s.stride >= 1 &&
                  s.padding >= 0 && span_h >= 0 && span_w >= 0 && s.out_h == span_h / s.stride + 1 &&
                  s.out_w == span_w / s.stride + 1;
  if (!ok) a.range_error("geometry is not a consistent packed Conv2dGeometry");
  if (s.patch() > kInt32Max || s.pixels() > kInt32Max || s.out_c * s.patch() > kInt32Max * 64 ||
      s.patch() * s.pixels() > (int64_t{1} << 40)) {
    a.range_error("conv2d geometry is too large");
  }
  return s;
}

// conv2dForward(geometry, x, w, b|null, y, n, activation, threads)
Napi::Value conv2d_forward(const Napi::CallbackInfo& info) {
  const Args a(info, "conv2dForward", 8);
  const hydranet::ConvShape s = check_conv_geometry(a, a.i32(0, "geometry"));
  const int n = a.dim(5, "n");
  hydranet::conv2d_forward(s, a.f32(1, "x", n * s.in_size()), a.f32(2, "w", s.out_c * s.patch()),
                           a.f32_or_null(3, "b", s.out_c), a.f32(4, "y", n * s.out_size()), n, a.activation(6),
                           a.threads(7));
  return info.Env().Undefined();
}

// conv2dBackward(geometry, x, w, dy, dx|null, dw, db|null, n, threads)
Napi::Value conv2d_backward(const Napi::CallbackInfo& info) {
  const Args a(info, "conv2dBackward", 9);
  const hydranet::ConvShape s = check_conv_geometry(a, a.i32(0, "geometry"));
  const int n = a.dim(7, "n");
  const int64_t w_size = s.out_c * s.patch();
  hydranet::conv2d_backward(s, a.f32(1, "x", n * s.in_size()), a.f32(2, "w", w_size), a.f32(3, "dy", n * s.out_size()),
                            a.f32_or_null(4, "dx", n * s.in_size()), a.f32(5, "dw", w_size),
                            a.f32_or_null(6, "db", s.out_c), n, a.threads(8));
  return info.Env().Undefined();
}

// A packed Pool2dGeometry, after checking it is consistent. Plane indices travel as f32, so a
// plane may hold at most 2^24 elements (every index exact).
hydranet::PoolShape check_pool_geometry(const Args& a, const Napi::Int32Array& geometry) {
  if (geometry.ElementLength() != 7) a.range_error("geometry is not a packed Pool2dGeometry");
  const hydranet::PoolShape s = hydranet::pool_shape(geometry.Data());
  const bool ok = s.c >= 1 && s.h >= 1 && s.w >= 1 && s.size >= 1 && s.stride >= 1 && s.size <= s.h &&
                  s.size <= s.w && s.out_h == (s.h - s.size) / s.stride + 1 && s.out_w == (s.w - s.size) / s.stride + 1;
  if (!ok) a.range_error("geometry is not a consistent packed Pool2dGeometry");
  if (int64_t{s.h} * s.w > (int64_t{1} << 24)) a.range_error("max-pool planes are limited to 2^24 elements");
  return s;
}

// maxPool2dForward(geometry, x, y, argmax, n, threads)
Napi::Value max_pool2d_forward(const Napi::CallbackInfo& info) {
  const Args a(info, "maxPool2dForward", 6);
  const hydranet::PoolShape s = check_pool_geometry(a, a.i32(0, "geometry"));
  const int64_t n = a.dim(4, "n");
  const int64_t in = n * s.c * s.h * s.w, out = n * s.c * s.out_h * s.out_w;
  hydranet::max_pool2d_forward(s, a.f32(1, "x", in), a.f32(2, "y", out), a.f32(3, "argmax", out), static_cast<int>(n),
                               a.threads(5));
  return info.Env().Undefined();
}

// maxPool2dBackward(geometry, dy, argmax, dx, n, threads); a RangeError names the first argmax
// value that is not an index within its plane (such entries are never written through).
Napi::Value max_pool2d_backward(const Napi::CallbackInfo& info) {
  const Args a(info, "maxPool2dBackward", 6);
  const hydranet::PoolShape s = check_pool_geometry(a, a.i32(0, "geometry"));
  const int64_t n = a.dim(4, "n");
  const int64_t in = n * s.c * s.h * s.w, out = n * s.c * s.out_h * s.out_w;
  const float* argmax = a.f32(2, "argmax", out);
  const int64_t bad = hydranet::max_pool2d_backward(s, a.f32(1, "dy", out), argmax, a.f32(3, "dx", in),
                                                    static_cast<int>(n), a.threads(5));
  if (bad >= 0) {
    a.range_error("argmax[" + std::to_string(bad) + "] = " + std::to_string(argmax[bad]) +
                  " is not an index within the " + std::to_string(s.h) + "×" + std::to_string(s.w) + " plane");
  }
  return info.Env().Undefined();
}

// dropout2dForward(x, y, mask, rows, plane, p, seed, threads)
Napi::Value dropout2d_forward(const Napi::CallbackInfo& info) {
  const Args a(info, "dropout2dForward", 8);
  const int64_t rows = a.integer(3, "rows", 1, int64_t{1} << 40), plane = a.integer(4, "plane", 1, int64_t{1} << 40);
  const double p = a.number(5, "p");
  if (!(p >= 0 && p < 1)) a.range_error("expected p in [0, 1)");
  const auto seed = static_cast<uint32_t>(a.integer(6, "seed", 0, 0xffffffffLL));
  hydranet::dropout2d_forward(a.f32(0, "x", rows * plane), a.f32(1, "y", rows * plane), a.f32(2, "mask", rows), rows,
                              plane, p, seed, a.threads(7));
  return info.Env().Undefined();
}

// scaleChannels(x, s, out, rows, plane, threads)
Napi::Value scale_channels(const Napi::CallbackInfo& info) {
  const Args a(info, "scaleChannels", 6);
  const int64_t rows = a.integer(3, "rows", 1, int64_t{1} << 40), plane = a.integer(4, "plane", 1, int64_t{1} << 40);
  hydranet::scale_channels(a.f32(0, "x", rows * plane), a.f32(1, "s", rows), a.f32(2, "out", rows * plane), rows,
                           plane, a.threads(5));
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

// adamwStep(p, g, m, v, lr, beta1, beta2, eps, weightDecay, step, threads)
Napi::Value adamw_step(const Napi::CallbackInfo& info) {
  const Args a(info, "adamwStep", 11);
  const int64_t n = length_of(info, a, 0, "p");
  const double lr = a.number(4, "lr"), b1 = a.number(5, "beta1"), b2 = a.number(6, "beta2");
  const double eps = a.number(7, "eps"), wd = a.number(8, "weightDecay"), step = a.number(9, "step");
  if (!(step >= 1)) a.range_error("expected step >= 1");
  const hydranet::AdamwParams h{static_cast<float>(lr),
                                static_cast<float>(b1),
                                static_cast<float>(b2),
                                static_cast<float>(eps),
                                static_cast<float>(1 - lr * wd),
                                static_cast<float>(lr / (1 - std::pow(b1, step))),
                                static_cast<float>(1 / (1 - std::pow(b2, step)))};
  hydranet::optim_adamw_step(a.f32(0, "p", n), a.f32(1, "g", n), a.f32(2, "m", n), a.f32(3, "v", n), n, h,
                             a.threads(10));
  return info.Env().Undefined();
}

Napi::Object init(Napi::Env env, Napi::Object exports) {
  exports.Set("info", Napi::Function::New(env, guarded<info>, "info"));
  exports.Set("gemm", Napi::Function::New(env, guarded<gemm>, "gemm"));
  exports.Set("activationForward", Napi::Function::New(env, guarded<activation_forward>, "activationForward"));
  exports.Set("activationBackward", Napi::Function::New(env, guarded<activation_backward>, "activationBackward"));
  exports.Set("biasBackward", Napi::Function::New(env, guarded<bias_backward>, "biasBackward"));
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
