// Everything the isa_*.cc files include, and must include BEFORE their target pragma: inline
// functions from these headers are then compiled for the baseline target only, so the linker
// can never pick an AVX-512 copy of a shared inline function for code that runs on any CPU.
#pragma once

#include <cmath>
#include <cstdint>

#include "cpu_features.h"

#if defined(__x86_64__) || defined(__i386__)
#define HYDRANET_X86 1
#include <immintrin.h>
#else
#define HYDRANET_X86 0
#endif

namespace hydranet {
const IsaKernels& isa_scalar_kernels();
#if HYDRANET_X86
const IsaKernels& isa_avx2_kernels();
const IsaKernels& isa_avx512_kernels();
#endif
}  // namespace hydranet
