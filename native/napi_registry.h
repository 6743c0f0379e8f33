// How a kernel's N-API entry reaches its addon's exports without a line in the addon's init:
// the entry lives beside its kernel (native/cpu/<family>.cc, native/cuda/<family>.cu), takes
// its arguments already counted, and registers itself there with one namespace-scope object,
//   void heads_forward(const Args& a) { ... }
//   const Export<heads_forward> export_heads_forward("headsForward", 8);  // name, argument count
// (Export is Registrar<kAddon, Args, F> for the file's addon: cpu/addon_args.h,
// cuda/addon_device.h). An entry that reads its own arguments takes the CallbackInfo and is
// registered by name alone. Each registrar's constructor runs during the shared library's static
// initialisation, which is over before Node calls the module's init; the list is a
// function-local static, so it exists before the first registrar whatever the order of the
// translation units. The module's init, init<kAddon> (native/addon.cc, native/cuda/addon_cuda.cc),
// then sets every entry, guarded (napi_args.h), in name order. test/backends/kernel-index.spec.ts reads
// the `Export<...>("name"...)` lines.
#pragma once
#include <napi.h>

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "napi_args.h"

namespace hydranet::napi {

struct Registered {
  const char* name;
  size_t count;  // the arguments an Args-taking entry expects
  Entry call;    // guarded; gets this record as its data
};

// The entries registered for the addon named Addon (one list per addon; records live in their
// registrars, which live as long as the library).
template <const char* Addon>
std::vector<const Registered*>& registered() {
  static std::vector<const Registered*> list;
  return list;
}

// Registers F as exports[name] of the addon Addon. F takes the CallbackInfo (registered by name),
// or the arguments as A(info, name, count) (registered by name and count) and returns void
// (undefined) or a value.
template <const char* Addon, class A, auto F>
class Registrar {
 public:
  explicit Registrar(const char* name, size_t count = 0) : record_{name, count, &guarded<Addon, invoke>} {
    registered<Addon>().push_back(&record_);
  }

 private:
  static Napi::Value invoke(const Napi::CallbackInfo& info) {
    if constexpr (std::is_invocable_v<decltype(F), const Napi::CallbackInfo&>) {
      return F(info);
    } else {
      const Registered& r = *static_cast<const Registered*>(info.Data());
      const A a(info, r.name, r.count);
      if constexpr (std::is_void_v<std::invoke_result_t<decltype(F), const A&>>) {
        F(a);
        return info.Env().Undefined();
      } else {
        return F(a);
      }
    }
  }
  Registered record_;
};

// The module's init of the addon Addon: every entry registered for it set on exports, in name
// order.
template <const char* Addon>
Napi::Object init(Napi::Env env, Napi::Object exports) {
  std::vector<const Registered*> list = registered<Addon>();
  std::sort(list.begin(), list.end(),
            [](const Registered* a, const Registered* b) { return std::strcmp(a->name, b->name) < 0; });
  for (const Registered* r : list) {
    exports.Set(r->name, Napi::Function::New(env, r->call, r->name, const_cast<Registered*>(r)));
  }
  return exports;
}

}  // namespace hydranet::napi
