// The CPU backend's addon (hydranet_cpu.node): the module's init and info(). Every kernel's
// N-API entry lives beside its kernel in native/cpu/<family>.cc (arguments read and checked
// through native/cpu/addon_args.h) and registers itself (native/napi_registry.h); the module's
// init sets them all.
#include <napi.h>

#include <algorithm>
#include <thread>

#include "cpu/addon_args.h"
#include "cpu/cpu_features.h"

namespace hydranet::cpu_addon {
namespace {

// info(): {isa, isaError, supported: {scalar, avx2, avx512}, hardwareThreads}.
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
const Export<info> export_info("info");

}  // namespace
}  // namespace hydranet::cpu_addon

constexpr auto module_init = &hydranet::napi::init<hydranet::cpu_addon::kAddon>;
NODE_API_MODULE(hydranet_cpu, module_init)
