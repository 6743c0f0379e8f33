// GradDrop (Chen et al. 2020) over per-task gradients g [T, M] into out [M] (=):
//   graddrop_apply  out[m] = Σ_t g[t, m]·(leak + (1 − leak)·keep_t)
// epsilon is GRADDROP_EPSILON of ts/backends/backend.ts, passed in by the addon.
#include <cmath>

#include "addon_args.h"
#include "../random.h"
#include "threadpool.h"

namespace hydranet {
namespace {
constexpr int64_t kGrain = 1 << 15;  // as elementwise.cc
}  // namespace

// P = ½(1 + Σ g/(Σ|g| + epsilon)) per element, u = hash32(seed, m) >> 8 as a 24-bit uniform;
// task t's value survives if (u < P and g > 0) or (u > P and g < 0). Sums run in double, in
// task order, exactly as the reference does, so keep decisions are bit-identical.
void graddrop_apply(const float* g, float* out, int tasks, int64_t m, uint32_t seed, double leak, double epsilon,
                    int threads) {
  parallel_range(m, threads, kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      double sum = 0, abs = 0;
      for (int t = 0; t < tasks; ++t) {
        const double v = g[t * m + i];
        sum += v;
        abs += std::fabs(v);
      }
      const double p = 0.5 * (1 + sum / (abs + epsilon));
      const double u = (hash32(seed, static_cast<uint32_t>(i)) >> 8) * (1.0 / 16777216.0);
      double o = 0;
      for (int t = 0; t < tasks; ++t) {
        const double v = g[t * m + i];
        const bool keep = (u < p && v > 0) || (u > p && v < 0);
        o += v * (leak + (1 - leak) * (keep ? 1 : 0));
      }
      out[i] = static_cast<float>(o);
    }
  });
}

}  // namespace hydranet

// ---- N-API entries (native/cpu/addon_args.h) ----------------------------------------

namespace hydranet::cpu_addon {

// gradDrop(g, out, tasks, m, seed, leak, epsilon, threads)
void grad_drop(const Args& a) {
  const int tasks = a.dim(2, "tasks");
  const int64_t m = a.dim(3, "m");
  const uint32_t seed = a.u32(4, "seed");
  const double leak = a.number_in(5, "leak", 0, 1);
  const double epsilon = a.number_in(6, "epsilon", 0, 1);
  hydranet::graddrop_apply(a.f32(0, "g", elements(a, "g", {tasks, m})), a.f32(1, "out", m), tasks, m, seed, leak,
                           epsilon, a.threads(7));
}
const Export<grad_drop> export_grad_drop("gradDrop", 8);

}  // namespace hydranet::cpu_addon
