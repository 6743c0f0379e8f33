// The GEMM micro-kernel alone (native/cpu/isa_kernels.inc), its panels hot in L1/L2: GFLOP/s per
// CPU-second of one thread, to tell the kernel's own efficiency from the loop nest's (packing,
// cache misses). Prints {"isa", "kc", "gflops_cpu"} per kc.
//   g++ -O3 -I native -o /tmp/kernel bench/gemm-dev/kernel.cc native/cpu/isa_avx512.cc native/cpu/isa_avx2.cc
//   /tmp/kernel [avx512|avx2] [kc ...]
#include <time.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "cpu/isa_prelude.h"

static double cpu_s() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

int main(int argc, char** argv) {
  const bool avx2 = argc > 1 && std::strcmp(argv[1], "avx2") == 0;
  const hydranet::IsaKernels& K = avx2 ? hydranet::isa_avx2_kernels() : hydranet::isa_avx512_kernels();
  std::vector<int> kcs;
  for (int i = 2; i < argc; ++i) kcs.push_back(std::atoi(argv[i]));
  if (kcs.empty()) kcs = {128, 256, 384, 512};
  for (int kc : kcs) {
    // One A panel and 8 B panels (the inner loop's B panels, one after another), one C block.
    const int panels = 8;
    std::vector<float> a(size_t(kc) * K.mr, 0.5f), b(size_t(kc) * K.nr * panels, 0.25f), c(size_t(K.mr) * K.nr * panels);
    hydranet::TileEpilogue ep{1.0f, 1.0f, true, nullptr, hydranet::Activation::none};
    double best = 0;
    for (int w = 0; w < 5; ++w) {
      const long calls = 2'000'000'000L / (2L * kc * K.mr * K.nr);
      const double t0 = cpu_s();
      for (long i = 0; i < calls; ++i) {
        const int p = int(i % panels);
        K.micro_kernel(kc, a.data(), b.data() + size_t(p) * kc * K.nr, c.data() + p * K.nr, int64_t(K.nr) * panels,
                       K.mr, K.nr, ep);
      }
      const double g = 2.0 * kc * K.mr * K.nr * calls / (cpu_s() - t0) / 1e9;
      if (g > best) best = g;
    }
    std::printf("{\"isa\":\"%s\",\"kc\":%d,\"gflops_cpu\":%.1f}\n", K.name, kc, best);
  }
}
