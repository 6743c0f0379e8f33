// The device half of the CUDA addon (hydranet_cuda.node): device 0, its stream and status
// words, the allocations that back tensors, and the transfers (an upload ring of pinned and
// staging buffers, so the next batch's upload overlaps the kernels still running). The kernel
// entries are beside their launchers (native/cuda/<family>.cu); all share addon_device.h.
#include "addon_device.h"

namespace hydranet::cuda_addon {
namespace {

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

void fill(const Args& a) {
  float* x = a.dev(0, "x", -1);
  check_cuda(hc::fill(x, a.last_count(), static_cast<float>(a.number(1, "value")), state().stream), "fill");
}

void copy(const Args& a) {
  const float* s = a.dev(0, "src", -1);
  const int64_t n = a.last_count();
  check_cuda(hc::copy(s, a.dev(1, "dst", n), n, state().stream), "copy");
}

const Export<info> export_info("info");
const Export<init> export_init("init");
const Export<alloc> export_alloc("alloc");
const Export<release> export_release("release");
const Export<write> export_write("write");
const Export<read> export_read("read");
const Export<sync> export_sync("sync");
const Export<fill> export_fill("fill", 2);
const Export<copy> export_copy("copy", 2);

}  // namespace
}  // namespace hydranet::cuda_addon
