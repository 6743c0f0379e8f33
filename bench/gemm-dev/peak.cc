// The machine's peak f32 FMA throughput: each thread runs a loop of 24 independent 512-bit
// vfmadd231ps chains (12 of 256 bits with -DPEAK_AVX2), so neither latency nor loads limit it.
// Prints GFLOP/s (2 flops per lane per FMA) per thread count, best of a few windows.
//   g++ -O2 -mavx512f -pthread -o /tmp/peak bench/gemm-dev/peak.cc && /tmp/peak 1 2
//   (-DPEAK_AVX2 -mavx2 -mfma for the 256-bit figure)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#ifdef PEAK_AVX2
#define LANES 8
#else
#define LANES 16
#endif

#ifdef PEAK_AVX2
constexpr int kChains = 12;
#else
constexpr int kChains = 24;
#endif

static float run(long iters, float seed) {
  // 24 chains in zmm0..zmm23 (ymm with PEAK_AVX2: 12 chains, ymm0..ymm11), one FMA each per pass.
  alignas(64) float out[LANES];
  for (int i = 0; i < LANES; ++i) out[i] = seed;
#ifdef PEAK_AVX2
#define R(i) "vfmadd231ps %%ymm14, %%ymm15, %%ymm" #i "\n\t"
  asm volatile(
      "vbroadcastss %[s], %%ymm14\n\tvbroadcastss %[s], %%ymm15\n\t"
      "1:\n\t" R(0) R(1) R(2) R(3) R(4) R(5) R(6) R(7) R(8) R(9) R(10) R(11)
      "dec %[n]\n\tjnz 1b\n\tvmovups %%ymm0, %[o]\n\t"
      : [n] "+r"(iters), [o] "=m"(out)
      : [s] "m"(seed)
      : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm14",
        "xmm15", "cc");
#else
#define R(i) "vfmadd231ps %%zmm30, %%zmm31, %%zmm" #i "\n\t"
  asm volatile(
      "vbroadcastss %[s], %%zmm30\n\tvbroadcastss %[s], %%zmm31\n\t"
      "1:\n\t" R(0) R(1) R(2) R(3) R(4) R(5) R(6) R(7) R(8) R(9) R(10) R(11) R(12) R(13) R(14) R(15) R(16) R(17)
          R(18) R(19) R(20) R(21) R(22) R(23) "dec %[n]\n\tjnz 1b\n\tvmovups %%zmm0, %[o]\n\t"
      : [n] "+r"(iters), [o] "=m"(out)
      : [s] "m"(seed)
      : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12",
        "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", "xmm30",
        "xmm31", "cc");
#endif
  return out[0];
}

int main(int argc, char** argv) {
  const long iters = 20'000'000;
  for (int ai = 1; ai < argc; ++ai) {
    const int threads = std::atoi(argv[ai]);
    double best = 0;
    for (int w = 0; w < 5; ++w) {
      std::vector<std::thread> pool;
      std::vector<float> sink(threads);
      const auto t0 = std::chrono::steady_clock::now();
      for (int t = 0; t < threads; ++t) pool.emplace_back([&, t] { sink[t] = run(iters, 1.0f + t); });
      for (auto& th : pool) th.join();
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      const double gflops = 2.0 * LANES * kChains * double(iters) * threads / s / 1e9;
      if (gflops > best) best = gflops;
      if (sink[0] == 12345.f) std::puts("");
    }
    std::printf("{\"threads\":%d,\"lanes\":%d,\"peak_gflops\":%.1f}\n", threads, LANES, best);
  }
}
