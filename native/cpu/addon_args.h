// What a CPU kernel's N-API entry needs (the entries live beside their kernels, in
// native/cpu/<family>.cc, and register with native/napi_registry.h; native/addon.cc keeps the
// module's init and info()). Each entry checks its arguments (types, and every typed array's
// length against the dimensions passed, each an overflow-checked product; packed layouts decoded
// and checked by native/layouts.h), then calls its kernel on the arrays' own memory, without
// copies. Errors become JS TypeError (wrong type) or RangeError (wrong length or value); no C++
// exception ever crosses into JavaScript. Shapes were already validated, with friendlier
// messages, before the call: by the check* functions of ts/backends/validate.ts, which the op
// table (ts/backends/ops.ts) runs for every backend; the checks here keep a wrong call from
// TypeScript from touching bad memory.
#pragma once
#include <napi.h>

#include <cstdint>
#include <string>

#include "../layouts.h"
#include "../napi_args.h"
#include "../napi_registry.h"
#include "kernels.h"

namespace hydranet::cpu_addon {

using hydranet::Activation;
namespace layouts = hydranet::layouts;
using layouts::elements;

inline constexpr char kAddon[] = "hydranet_cpu";

// The CPU addon's arguments: tensors are Float32Arrays whose lengths must match the dimensions.
class Args : public hydranet::napi::ArgsBase {
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

  // The element count of typed array i (its type is checked by the f32() that reads it).
  int64_t length_of(size_t i, const char* name) const {
    const Napi::Value v = info_[i];
    if (!v.IsTypedArray()) type_error(std::string("expected a Float32Array for ") + name);
    return static_cast<int64_t>(v.As<Napi::TypedArray>().ElementLength());
  }

  Activation activation(size_t i) const { return static_cast<Activation>(activation_index(i)); }
  int threads(size_t i) const { return static_cast<int>(integer(i, "threads", 1, 1024)); }
};

// `const Export<entry> export_entry("name", count);` beside an entry makes it exports.name
// (native/napi_registry.h).
template <auto F>
using Export = hydranet::napi::Registrar<kAddon, Args, F>;

}  // namespace hydranet::cpu_addon
