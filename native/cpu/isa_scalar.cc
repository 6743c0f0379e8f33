// The portable copy of the per-ISA kernels: plain floats (the compiler may still vectorize for
// the baseline target), 4×4 GEMM micro-tile. Runs on any CPU.
#include "isa_prelude.h"
#include "kernels.h"

namespace hydranet::isa_scalar {
constexpr const char* kIsaName = "scalar";
#define HYDRANET_SIMD 0
#include "simd.h"
#include "isa_kernels.inc"
}  // namespace hydranet::isa_scalar

const hydranet::IsaKernels& hydranet::isa_scalar_kernels() { return isa_scalar::kKernels; }
const hydranet::IsaExtras& hydranet::isa_scalar_extras() { return isa_scalar::kExtras; }
