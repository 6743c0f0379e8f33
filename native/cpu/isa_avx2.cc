// The AVX2+FMA copy of the per-ISA kernels: 6×16 GEMM micro-tile, 8 lanes.
#include "isa_prelude.h"
#include "kernels.h"

#if HYDRANET_X86
#pragma GCC push_options
#pragma GCC target("avx2,fma,bmi,bmi2")
// The loops are vectorized by hand; the auto-vectorizer would re-vectorize the GEMM k loop badly.
#pragma GCC optimize("no-tree-vectorize")
namespace hydranet::isa_avx2 {
constexpr const char* kIsaName = "avx2";
#define HYDRANET_SIMD 256
#include "simd.h"
#include "isa_kernels.inc"
}  // namespace hydranet::isa_avx2
#pragma GCC pop_options

const hydranet::IsaKernels& hydranet::isa_avx2_kernels() { return isa_avx2::kKernels; }
const hydranet::IsaExtras& hydranet::isa_avx2_extras() { return isa_avx2::kExtras; }
#endif
