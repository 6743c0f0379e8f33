// CPU feature detection and the choice of the per-ISA kernel table (see cpu_features.h).
#include "cpu_features.h"

#include <cstdlib>
#include <cstring>

#include "isa_prelude.h"

namespace hydranet {
namespace {

bool cpu_has(Isa isa) {
#if HYDRANET_X86
  switch (isa) {
    case Isa::avx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
    case Isa::avx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case Isa::scalar:
      return true;
  }
  return false;
#else
  return isa == Isa::scalar;
#endif
}

const IsaKernels& table_for(Isa isa) {
#if HYDRANET_X86
  if (isa == Isa::avx512) return isa_avx512_kernels();
  if (isa == Isa::avx2) return isa_avx2_kernels();
#endif
  return isa_scalar_kernels();
}

struct Choice {
  Isa isa;
  const IsaKernels* kernels;
  std::string env_error;
};

Choice choose() {
  Isa best = Isa::scalar;
  for (Isa isa : {Isa::avx2, Isa::avx512}) {
    if (cpu_has(isa)) best = isa;
  }
  Choice choice{best, &table_for(best), ""};
  const char* env = std::getenv("HYDRANET_CPU_ISA");
  if (env == nullptr || *env == '\0') return choice;
  for (Isa isa : {Isa::scalar, Isa::avx2, Isa::avx512}) {
    if (std::strcmp(env, table_for(isa).name) != 0) continue;
    if (cpu_has(isa)) {
      choice.isa = isa;
      choice.kernels = &table_for(isa);
    } else {
      choice.env_error = std::string("HYDRANET_CPU_ISA=") + env + " but this CPU does not support " + env +
                         "; the best it supports is " + choice.kernels->name;
    }
    return choice;
  }
  choice.env_error =
      std::string("HYDRANET_CPU_ISA=") + env + " is not one of scalar, avx2, avx512 (unset it to use the best path)";
  return choice;
}

const Choice& chosen() {
  static const Choice choice = choose();
  return choice;
}

}  // namespace

const IsaKernels& isa_kernels() { return *chosen().kernels; }

Isa isa_chosen() { return chosen().isa; }

bool isa_supported(Isa isa) { return cpu_has(isa); }

const std::string& isa_env_error() { return chosen().env_error; }

}  // namespace hydranet
