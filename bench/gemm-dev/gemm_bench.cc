// Throwaway GEMM micro-benchmark: hydranet's gemm_forward against OpenBLAS sgemm (when built
// with -DWITH_OPENBLAS) on 1024³ and the training shapes W1 / W2. Medians of timed windows.
//   make -C bench/gemm-dev && OPENBLAS_CORETYPE=SkylakeX OMP_WAIT_POLICY=passive bench/gemm-dev/gemm_bench
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "cpu/kernels.h"
#include "cpu/threadpool.h"
#ifdef WITH_OPENBLAS
#include <cblas.h>
#endif

using namespace hydranet;

struct Shape {
  const char* name;
  int m, n, k;
  bool ta, tb;
};

// GFLOP/s of one timed window of at least 50 ms.
template <class F>
double window_gflops(double flops, F run) {
  int reps = 0;
  const auto t0 = std::chrono::steady_clock::now();
  double dt = 0;
  do {
    run();
    ++reps;
    dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  } while (dt < 0.05);
  return flops * reps / dt / 1e9;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  const Shape shapes[] = {
      {"1024^3", 1024, 1024, 1024, false, false},
      {"1024^3 tB", 1024, 1024, 1024, false, true},
      {"1024^3 tA", 1024, 1024, 1024, true, false},
      {"W1 fwd 256x512x784 tB", 256, 512, 784, false, true},
      {"W1 fwd 256x256x512 tB", 256, 256, 512, false, true},
      {"W1 heads 256x20x256 tB", 256, 20, 256, false, true},
      {"W1 dX 256x784x512", 256, 784, 512, false, false},
      {"W1 dX 256x512x256", 256, 512, 256, false, false},
      {"W1 dW 512x784x256 tA", 512, 784, 256, true, false},
      {"W1 dW 256x512x256 tA", 256, 512, 256, true, false},
      {"W2 fwd 1024x2048x784 tB", 1024, 2048, 784, false, true},
      {"W2 fwd 1024x2048x2048 tB", 1024, 2048, 2048, false, true},
      {"W2 heads 1024x80x2048 tB", 1024, 80, 2048, false, true},
      {"W2 dX 1024x2048x2048", 1024, 2048, 2048, false, false},
      {"W2 dX heads 1024x2048x80", 1024, 2048, 80, false, false},
      {"W2 dW 2048x2048x1024 tA", 2048, 2048, 1024, true, false},
      {"W2 dW 2048x784x1024 tA", 2048, 784, 1024, true, false},
  };
  std::printf("isa %s, %d threads\n%-28s %10s %10s %7s\n", isa_kernels().name, threads, "shape", "hydranet", "openblas",
              "ratio");
  for (const Shape& s : shapes) {
    std::vector<float> a(size_t(s.m) * s.k), b(size_t(s.k) * s.n), c(size_t(s.m) * s.n);
    for (size_t i = 0; i < a.size(); ++i) a[i] = float(i % 7) * 0.1f;
    for (size_t i = 0; i < b.size(); ++i) b[i] = float(i % 5) * 0.1f;
    GemmArgs g;
    g.m = s.m, g.n = s.n, g.k = s.k;
    g.a = a.data(), g.lda = s.ta ? s.m : s.k, g.trans_a = s.ta;
    g.b = b.data(), g.ldb = s.tb ? s.k : s.n, g.trans_b = s.tb;
    g.c = c.data(), g.ldc = s.n;
    const double flops = 2.0 * s.m * s.n * s.k;
    auto ours = [&] { gemm_forward(g, threads); };
#ifdef WITH_OPENBLAS
    auto blas = [&] {
      cblas_sgemm(CblasRowMajor, s.ta ? CblasTrans : CblasNoTrans, s.tb ? CblasTrans : CblasNoTrans, s.m, s.n, s.k,
                  1.0f, g.a, int(g.lda), g.b, int(g.ldb), 0.0f, g.c, int(g.ldc));
    };
#else
    auto blas = [] {};
#endif
    // Windows alternate between the two, so a busy machine slows both alike.
    std::vector<double> rate_ours, rate_blas;
    for (int w = 0; w < 8; ++w) {
      rate_ours.push_back(window_gflops(flops, ours));
      rate_blas.push_back(window_gflops(flops, blas));
    }
    const double mine = median(rate_ours), theirs = median(rate_blas);
    std::printf("%-28s %10.1f %10.1f %7.2f\n", s.name, mine, theirs, mine / theirs);
  }
}
