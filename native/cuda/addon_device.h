// What the CUDA addon's N-API entries share: the device state, owned by addon_device.cc (the
// device, its allocations, the upload ring, transfers and the stream: the tensor side of the
// contract), and the argument reader; each kernel's entry lives beside its launcher in
// native/cuda/<family>.cu and registers itself (native/napi_registry.h); addon_cuda.cc is the
// module's init. Tensors cross from JavaScript as device ranges
// [id, offset, count] (elements), each checked against its allocation by Args::dev.
#pragma once

#include <cuda_runtime.h>
#include <napi.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <unordered_map>

#include "kernels.cuh"
#include "layouts.h"
#include "napi_args.h"
#include "napi_registry.h"

namespace hydranet::cuda_addon {

namespace hc = hydranet::cuda;
namespace layouts = hydranet::layouts;
using layouts::elements;

using hydranet::napi::ArgsBase;
using hydranet::napi::NativeFailure;

inline constexpr char kAddon[] = "hydranet_cuda";

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
inline State& state() {
  static State s;
  return s;
}

inline void check_cuda(cudaError_t e, const char* what) {
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

  hc::Activation activation(size_t i) const { return static_cast<hc::Activation>(activation_index(i)); }

 private:
  mutable int64_t count_ = 0;
};

// `const Export<entry> export_entry("name", count);` beside an entry makes it exports.name
// (native/napi_registry.h).
template <auto F>
using Export = hydranet::napi::Registrar<kAddon, Args, F>;

}  // namespace hydranet::cuda_addon
