// The AVX-512 (F/BW/DQ/VL) copy of the per-ISA kernels: 14×32 GEMM micro-tile, 16 lanes.
// GCC 12 reports its own _mm512_undefined_* idiom in avx512fintrin.h as maybe-uninitialized.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include "isa_prelude.h"
#include "kernels.h"

#if HYDRANET_X86
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,bmi,bmi2")
// The loops are vectorized by hand; the auto-vectorizer would re-vectorize the GEMM k loop badly.
#pragma GCC optimize("no-tree-vectorize")
namespace hydranet::isa_avx512 {
constexpr const char* kIsaName = "avx512";
#define HYDRANET_SIMD 512
#include "simd.h"
#include "isa_kernels.inc"
}  // namespace hydranet::isa_avx512
#pragma GCC pop_options

const hydranet::IsaKernels& hydranet::isa_avx512_kernels() { return isa_avx512::kKernels; }
const hydranet::IsaExtras& hydranet::isa_avx512_extras() { return isa_avx512::kExtras; }
#endif
