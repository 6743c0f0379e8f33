// The EWC penalty's gradient (Kirkpatrick et al. 2017) over a whole parameter arena, "+=" into
// the gradient (the reference backend is the spec):
//   ewc_penalty   g[i] += λ·F[i]·(p[i] − θ*[i])      p, θ* (anchor), F (fisher), g: [n]
// Only g is written. Memory-bound: one pass, split across threads when large; NaN in any input
// makes its g NaN.
#include "addon_args.h"
#include "threadpool.h"

namespace hydranet {
namespace {

constexpr int64_t kGrain = 1 << 15;

}  // namespace

// g [n] += λ·F ⊙ (p − anchor).
void ewc_penalty(const float* p, const float* anchor, const float* fisher, float* g, int64_t n, float lambda,
                 int threads) {
  parallel_range(n, threads, kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) g[i] += lambda * fisher[i] * (p[i] - anchor[i]);
  });
}

}  // namespace hydranet

// ---- N-API entries (native/cpu/addon_args.h) ----------------------------------------

namespace hydranet::cpu_addon {

// ewcPenalty(p, anchor, fisher, g, lambda, threads)
void ewc_penalty(const Args& a) {
  const int64_t n = a.length_of(0, "p");
  const double lambda = a.number_in(4, "lambda", 0, 3.4e38);
  hydranet::ewc_penalty(a.f32(0, "p", n), a.f32(1, "anchor", n), a.f32(2, "fisher", n), a.f32(3, "g", n), n,
                        static_cast<float>(lambda), a.threads(5));
}
const Export<ewc_penalty> export_ewc_penalty("ewcPenalty", 6);

}  // namespace hydranet::cpu_addon
