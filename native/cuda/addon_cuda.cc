// The N-API surface of the CUDA backend (hydranet_cuda.node), and nothing else. Device memory
// lives in allocations the addon owns, named by integer ids; JavaScript passes each tensor as
// [id, offset, count] (elements), and every range is checked against its allocation and
// against the dimensions of the call before any kernel is enqueued. Kernels run on one stream;
// reads and syncs wait for it and then check the device status words (a class index out of
// range found by the loss kernel). Packed layouts are decoded and checked by native/layouts.h
// (shared with the CPU addon), every size an overflow-checked product. Errors become JS
// TypeError / RangeError (arguments) or Error (CUDA: the call and cudaGetErrorString); no C++
// exception crosses into JavaScript.
// Loading the addon needs no GPU (the CUDA runtime is linked statically and finds the driver
// on first use): `info()` reports what is there.
#include <cuda_runtime.h>
#include <napi.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <exception>
#include <limits>
#include <new>
#include <string>
#include <unordered_map>

#include "kernels.cuh"
#include "layouts.h"
#include "napi_args.h"

namespace {

namespace hc = hydranet::cuda;
namespace layouts = hydranet::layouts;
using layouts::elements;

using hydranet::napi::ArgsBase;
using hydranet::napi::NativeFailure;

constexpr char kAddon[] = "hydranet_cuda";

template <hydranet::napi::Entry F>
Napi::Value guarded(const Napi::CallbackInfo& info) {
  return hydranet::napi::guarded<kAddon, F>(info);
}

struct Allocation {
  float* ptr = nullptr;
  int64_t floats = 0;
};

// One slot of the upload ring: host data goes to pinned memory, crosses PCIe on the copy stream
// into device staging (overlapping kernels still running on the compute stream), then the
// compute stream copies it into place on the device (fast) after waiting for that transfer.
struct UploadSlot {
  float* pinned = nullptr;
  float* staging = nullptr;
  size_t floats = 0;
  cudaEvent_t copied = nullptr;    // on the copy stream: the transfer out of `pinned` is done
  cudaEvent_t consumed = nullptr;  // on the compute stream: the copy out of `staging` is done
};
constexpr int kUploadSlots = 4;

// The process-wide CUDA state: created by init() on the first backend, kept until exit.
struct State {
  bool ready = false;
  cudaStream_t stream = nullptr;       // every kernel, in order
  cudaStream_t copy_stream = nullptr;  // host-to-device uploads
  UploadSlot uploads[kUploadSlots];
  int next_upload = 0;
  hc::Status status;
  hc::Workspace workspace;
  std::unordered_map<uint32_t, Allocation> allocations;
  uint32_t next_id = 1;
};
State& state() {
  static State s;
  return s;
}

void check_cuda(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw NativeFailure{std::string("hydranet_cuda.") + what + ": " + cudaGetErrorString(e)};
}

// The CUDA addon's arguments: tensors are device ranges [id, offset, count] (elements).
class Args : public ArgsBase {
 public:
  Args(const Napi::CallbackInfo& info, const char* fn, size_t count) : ArgsBase(info, kAddon, fn, count) {
    if (!state().ready && std::strcmp(fn, "init") != 0 && std::strcmp(fn, "info") != 0) {
      failure("the CUDA backend is not initialised (init() first)");
    }
  }

  // A device range [id, offset, count] with exactly `count` == need elements (need < 0: any).
  float* dev(size_t i, const char* name, int64_t need) const {
    float* p = dev_or_null(i, name, need);
    if (p == nullptr) type_error(std::string("expected a device tensor for ") + name + ", received null");
    return p;
  }

  float* dev_or_null(size_t i, const char* name, int64_t need) const {
    const Napi::Value v = info_[i];
    if (v.IsNull() || v.IsUndefined()) return nullptr;
    if (!v.IsArray() || v.As<Napi::Array>().Length() != 3) type_error(std::string("expected [id, offset, count] for ") + name);
    const Napi::Array a = v.As<Napi::Array>();
    int64_t f[3];
    for (uint32_t k = 0; k < 3; k++) {
      const Napi::Value x = a.Get(k);
      if (!x.IsNumber()) type_error(std::string("expected [id, offset, count] numbers for ") + name);
      const double d = x.As<Napi::Number>().DoubleValue();
      if (!(d >= 0) || d != std::floor(d) || d > 9.0e15) range_error(std::string("expected non-negative integers in ") + name);
      f[k] = static_cast<int64_t>(d);
    }
    const auto it = state().allocations.find(static_cast<uint32_t>(f[0]));
    if (it == state().allocations.end()) range_error(std::string("no live allocation ") + std::to_string(f[0]) + " for " + name);
    if (f[1] + f[2] > it->second.floats) {
      range_error(std::string(name) + ": elements [" + std::to_string(f[1]) + ", " + std::to_string(f[1] + f[2]) +
                  ") overrun an allocation of " + std::to_string(it->second.floats));
    }
    if (need >= 0 && f[2] != need) {
      range_error(std::string("expected ") + std::to_string(need) + " elements for " + name + ", received " + std::to_string(f[2]));
    }
    count_ = f[2];
    return it->second.ptr + f[1];
  }

  // The element count of the last range read by dev()/dev_or_null().
  int64_t last_count() const { return count_; }

  uint32_t u32(size_t i, const char* name) const { return static_cast<uint32_t>(integer(i, name, 0, 0xffffffffLL)); }
  hc::Activation activation(size_t i) const { return static_cast<hc::Activation>(activation_index(i)); }

 private:
  mutable int64_t count_ = 0;
};

// ---- device and memory ---------------------------------------------------------------------

// info(): {devices, error, name, computeCapability, memoryBytes} without initialising anything.
Napi::Value info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  o.Set("devices", e == cudaSuccess ? count : 0);
  o.Set("error", e == cudaSuccess ? "" : cudaGetErrorString(e));
  int runtime = 0;
  cudaRuntimeGetVersion(&runtime);
  o.Set("runtimeVersion", runtime);
  if (e == cudaSuccess && count > 0) {
    cudaDeviceProp p{};
    if (cudaGetDeviceProperties(&p, 0) == cudaSuccess) {
      o.Set("name", p.name);
      o.Set("computeCapability", std::to_string(p.major) + "." + std::to_string(p.minor));
      o.Set("memoryBytes", static_cast<double>(p.totalGlobalMem));
    }
  }
  return o;
}

// init(): device 0, one stream, the status words.
Napi::Value init(const Napi::CallbackInfo& info) {
  const Args a(info, "init", 0);
  State& s = state();
  if (s.ready) return info.Env().Undefined();
  check_cuda(cudaSetDevice(0), "init (cudaSetDevice)");
  check_cuda(cudaStreamCreateWithFlags(&s.stream, cudaStreamNonBlocking), "init (cudaStreamCreate)");
  check_cuda(cudaStreamCreateWithFlags(&s.copy_stream, cudaStreamNonBlocking), "init (cudaStreamCreate)");
  for (UploadSlot& u : s.uploads) {
    check_cuda(cudaEventCreateWithFlags(&u.copied, cudaEventDisableTiming), "init (cudaEventCreate)");
    check_cuda(cudaEventCreateWithFlags(&u.consumed, cudaEventDisableTiming), "init (cudaEventCreate)");
  }
  check_cuda(cudaMalloc(reinterpret_cast<void**>(&s.status.words), 4 * sizeof(unsigned int)), "init (status)");
  check_cuda(cudaMemset(s.status.words, 0, 4 * sizeof(unsigned int)), "init (status)");
  s.ready = true;
  return info.Env().Undefined();
}

// alloc(floats) -> id; zero-filled.
Napi::Value alloc(const Napi::CallbackInfo& info) {
  const Args a(info, "alloc", 1);
  const int64_t n = a.integer(0, "floats", 1, int64_t{1} << 40);
  float* p = nullptr;
  check_cuda(cudaMalloc(reinterpret_cast<void**>(&p), static_cast<size_t>(n) * sizeof(float)), "alloc");
  check_cuda(cudaMemsetAsync(p, 0, static_cast<size_t>(n) * sizeof(float), state().stream), "alloc (zero)");
  const uint32_t id = state().next_id++;
  state().allocations[id] = {p, n};
  return Napi::Number::New(info.Env(), id);
}

// release(id): the memory goes back to CUDA (the TypeScript side pools tensors, so this is rare).
Napi::Value release(const Napi::CallbackInfo& info) {
  const Args a(info, "release", 1);
  const auto it = state().allocations.find(static_cast<uint32_t>(a.integer(0, "id", 1, 0xffffffffLL)));
  if (it == state().allocations.end()) a.range_error("no such allocation");
  check_cuda(cudaStreamSynchronize(state().stream), "release (sync)");
  check_cuda(cudaFree(it->second.ptr), "release");
  state().allocations.erase(it);
  return info.Env().Undefined();
}

// Returns the status words (null when clear) and clears them.
Napi::Value take_status(Napi::Env env) {
  unsigned int w[4];
  check_cuda(cudaMemcpy(w, state().status.words, sizeof w, cudaMemcpyDeviceToHost), "status");
  if (w[0] == 0) return env.Null();
  check_cuda(cudaMemset(state().status.words, 0, sizeof w), "status (clear)");
  Napi::Array out = Napi::Array::New(env, 4);
  for (uint32_t k = 0; k < 4; k++) out.Set(k, Napi::Number::New(env, w[k]));
  return out;
}

// write(dst, data: Float32Array): host -> device, ordered before every later kernel. The PCIe
// transfer runs on the copy stream, so the next batch's upload overlaps the kernels of the step
// still running; the host waits only when the ring slot's previous transfer has not finished.
Napi::Value write(const Napi::CallbackInfo& info) {
  const Args a(info, "write", 2);
  const Napi::Value v = info[1];
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) a.type_error("expected a Float32Array for data");
  Napi::Float32Array d = v.As<Napi::Float32Array>();
  const size_t n = d.ElementLength();
  float* dst = a.dev(0, "dst", static_cast<int64_t>(n));
  State& s = state();
  UploadSlot& u = s.uploads[s.next_upload];
  s.next_upload = (s.next_upload + 1) % kUploadSlots;
  check_cuda(cudaEventSynchronize(u.copied), "write (previous upload)");
  if (u.floats < n) {
    // Grows once per larger batch; both buffers are idle (the copy above and, below, the stream).
    check_cuda(cudaStreamSynchronize(s.stream), "write (grow)");
    if (u.pinned) check_cuda(cudaFreeHost(u.pinned), "write (grow)");
    if (u.staging) check_cuda(cudaFree(u.staging), "write (grow)");
    u.pinned = nullptr, u.staging = nullptr, u.floats = 0;
    check_cuda(cudaMallocHost(reinterpret_cast<void**>(&u.pinned), n * sizeof(float)), "write (pinned memory)");
    check_cuda(cudaMalloc(reinterpret_cast<void**>(&u.staging), n * sizeof(float)), "write (staging)");
    u.floats = n;
  }
  std::memcpy(u.pinned, d.Data(), n * sizeof(float));
  check_cuda(cudaStreamWaitEvent(s.copy_stream, u.consumed, 0), "write (wait)");
  check_cuda(cudaMemcpyAsync(u.staging, u.pinned, n * sizeof(float), cudaMemcpyHostToDevice, s.copy_stream), "write");
  check_cuda(cudaEventRecord(u.copied, s.copy_stream), "write (record)");
  check_cuda(cudaStreamWaitEvent(s.stream, u.copied, 0), "write (wait)");
  check_cuda(cudaMemcpyAsync(dst, u.staging, n * sizeof(float), cudaMemcpyDeviceToDevice, s.stream), "write (place)");
  check_cuda(cudaEventRecord(u.consumed, s.stream), "write (record)");
  return info.Env().Undefined();
}

// read(src, into: Float32Array) -> status words or null: waits for the stream.
Napi::Value read(const Napi::CallbackInfo& info) {
  const Args a(info, "read", 2);
  const Napi::Value v = info[1];
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) a.type_error("expected a Float32Array for into");
  Napi::Float32Array d = v.As<Napi::Float32Array>();
  const float* src = a.dev(0, "src", static_cast<int64_t>(d.ElementLength()));
  check_cuda(cudaMemcpyAsync(d.Data(), src, d.ElementLength() * sizeof(float), cudaMemcpyDeviceToHost, state().stream), "read");
  check_cuda(cudaStreamSynchronize(state().stream), "read (sync)");
  return take_status(info.Env());
}

// sync() -> status words or null.
Napi::Value sync(const Napi::CallbackInfo& info) {
  const Args a(info, "sync", 0);
  check_cuda(cudaStreamSynchronize(state().stream), "sync");
  return take_status(info.Env());
}

// ---- kernels ------------------------------------------------------------------------------------

Napi::Value done(const Napi::CallbackInfo& info, cudaError_t e, const char* what) {
  check_cuda(e, what);
  return info.Env().Undefined();
}

Napi::Value fill(const Napi::CallbackInfo& info) {
  const Args a(info, "fill", 2);
  float* x = a.dev(0, "x", -1);
  return done(info, hc::fill(x, a.last_count(), static_cast<float>(a.number(1, "value")), state().stream), "fill");
}

Napi::Value copy(const Napi::CallbackInfo& info) {
  const Args a(info, "copy", 2);
  const float* s = a.dev(0, "src", -1);
  const int64_t n = a.last_count();
  return done(info, hc::copy(s, a.dev(1, "dst", n), n, state().stream), "copy");
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

// biasBackward(dy, db, rows, cols)
Napi::Value bias_backward(const Napi::CallbackInfo& info) {
  const Args a(info, "biasBackward", 4);
  const int64_t rows = a.dim(2, "rows"), cols = a.dim(3, "cols");
  return done(info, hc::bias_backward(a.dev(0, "dy", elements(a, "dy", {rows, cols})), a.dev(1, "db", cols), rows, cols, state().stream),
              "biasBackward");
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
  return done(info,
              hc::dropout_forward(x, a.dev(1, "y", n), a.dev(2, "mask", n), n, a.u32(3, "seed"), a.u32(4, "threshold"),
                                  static_cast<float>(a.number(5, "scale")), state().stream),
              "dropoutForward");
}

// dropout2dForward(x, y, mask, rows, plane, seed, threshold, scale)
Napi::Value dropout2d_forward(const Napi::CallbackInfo& info) {
  const Args a(info, "dropout2dForward", 8);
  const int64_t rows = a.dim(3, "rows"), plane = a.dim(4, "plane");
  const int64_t size = elements(a, "x", {rows, plane});
  return done(info,
              hc::dropout2d_forward(a.dev(0, "x", size), a.dev(1, "y", size), a.dev(2, "mask", rows), rows, plane,
                                    a.u32(5, "seed"), a.u32(6, "threshold"), static_cast<float>(a.number(7, "scale")), state().stream),
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

// gradDrop(g, out, tasks, m, seed, leak)
Napi::Value grad_drop(const Napi::CallbackInfo& info) {
  const Args a(info, "gradDrop", 6);
  const int tasks = a.dim(2, "tasks");
  const int64_t m = a.dim(3, "m");
  const double leak = a.number_in(5, "leak", 0, 1);
  return done(info,
              hc::grad_drop(a.dev(0, "g", elements(a, "g", {tasks, m})), a.dev(1, "out", m), tasks, m, a.u32(4, "seed"), leak, state().stream),
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

// multiLoss(layout, logits, targets, mask|null, weights, losses, dlogits, n, totalOut, totalTgt)
Napi::Value multi_loss(const Napi::CallbackInfo& info) {
  const Args a(info, "multiLoss", 10);
  const int n = a.dim(7, "n"), out = a.dim(8, "totalOut"), tgt = a.dim(9, "totalTgt");
  const layouts::Loss L = layouts::loss(a, a.i32(0, "layout"), n, out, tgt);
  return done(info,
              hc::multi_loss(L.packed, L.tasks, a.dev(1, "logits", L.logits), a.dev(2, "targets", L.targets),
                             a.dev_or_null(3, "mask", L.mask), a.dev(4, "weights", L.tasks), a.dev(5, "losses", L.tasks),
                             a.dev(6, "dlogits", L.logits), n, out, tgt, state().status, state().stream),
              "multiLoss");
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
  ensure_workspace(hc::conv2d_workspace_floats(G.packed, n));
  return done(info, hc::conv2d_forward(G.packed, x, w, b, y, n, act, state().workspace, state().stream), "conv2dForward");
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
  ensure_workspace(hc::conv2d_workspace_floats(G.packed, n));
  return done(info, hc::conv2d_backward(G.packed, x, w, dy, dx, dw, db, n, state().workspace, state().stream), "conv2dBackward");
}

// maxPool2dForward(geometry, x, y, argmax, n)
Napi::Value max_pool2d_forward(const Napi::CallbackInfo& info) {
  const Args a(info, "maxPool2dForward", 5);
  const int n = a.dim(4, "n");
  const layouts::Pool G = layouts::pool(a, a.i32(0, "geometry"), n);
  return done(info, hc::max_pool2d_forward(G.packed, a.dev(1, "x", G.x), a.dev(2, "y", G.y), a.dev(3, "argmax", G.y), n, state().stream),
              "maxPool2dForward");
}

// maxPool2dBackward(geometry, dy, argmax, dx, n)
Napi::Value max_pool2d_backward(const Napi::CallbackInfo& info) {
  const Args a(info, "maxPool2dBackward", 5);
  const int n = a.dim(4, "n");
  const layouts::Pool G = layouts::pool(a, a.i32(0, "geometry"), n);
  return done(info, hc::max_pool2d_backward(G.packed, a.dev(1, "dy", G.y), a.dev(2, "argmax", G.y), a.dev(3, "dx", G.x), n, state().stream),
              "maxPool2dBackward");
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto set = [&](const char* name, Napi::Function f) { exports.Set(name, f); };
  set("info", Napi::Function::New(env, guarded<info>, "info"));
  set("init", Napi::Function::New(env, guarded<init>, "init"));
  set("alloc", Napi::Function::New(env, guarded<alloc>, "alloc"));
  set("release", Napi::Function::New(env, guarded<release>, "release"));
  set("write", Napi::Function::New(env, guarded<write>, "write"));
  set("read", Napi::Function::New(env, guarded<read>, "read"));
  set("sync", Napi::Function::New(env, guarded<sync>, "sync"));
  set("fill", Napi::Function::New(env, guarded<fill>, "fill"));
  set("copy", Napi::Function::New(env, guarded<copy>, "copy"));
  set("gemm", Napi::Function::New(env, guarded<gemm>, "gemm"));
  set("activationForward", Napi::Function::New(env, guarded<activation_forward>, "activationForward"));
  set("activationBackward", Napi::Function::New(env, guarded<activation_backward>, "activationBackward"));
  set("biasBackward", Napi::Function::New(env, guarded<bias_backward>, "biasBackward"));
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

NODE_API_MODULE(hydranet_cuda, Init)
