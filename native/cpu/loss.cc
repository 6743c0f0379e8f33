// The fused multi-loss (LossLayout in ts/backends/backend.ts): one pass over the logits
// [n, total_out] of every task, with targets [n, total_tgt], an optional mask [n, T]
// (0 = unlabelled) and per-task weights [T]. With n_t = max(1, Σ_i m[i, t]):
//   softmax-ce  L_t = Σ_i m·(logsumexp(z_i) − z_i[y_i]) / n_t
//   bce         L_t = Σ_i m·Σ_k (max(z, 0) − z·y + log(1 + e^−|z|)) / (K·n_t)
//   mse / l1 / smooth-l1 likewise from (z − y)², |z − y|, h(z − y)
// losses[t] = L_t ("=", unweighted); dlogits[:, seg_t] = weight_t·∂L_t/∂z ("=", 0 where m = 0).
// Rows are summed in fixed chunks of double partial sums, so the result does not depend on the
// number of threads.
#include <algorithm>
#include <cmath>
#include <vector>

#include "addon_args.h"
#include "threadpool.h"

namespace hydranet {
namespace {

// Same order as LOSS_KINDS in ts/backends/backend.ts.
enum class LossKind : int { softmax_ce = 0, bce = 1, mse = 2, l1 = 3, smooth_l1 = 4 };

struct LossTask {
  LossKind kind;
  int out_off, width, tgt_off;
  double grad_scale;  // weight / (n_t or K·n_t)
  double denom;
};

constexpr int kRowsPerChunk = 64;

// Math.sign: ±1, and d itself for ±0 and NaN (a NaN logit gives a NaN gradient).
double sign(double d) { return d > 0 ? 1.0 : d < 0 ? -1.0 : d; }

// Loss of one row of one task (unscaled), writing the scaled gradient.
double row_loss(const LossTask& s, const float* z, const float* y, float* g) {
  if (s.kind == LossKind::softmax_ce) {
    const int label = static_cast<int>(y[0]);
    double zmax = z[0];
    for (int j = 1; j < s.width; ++j) zmax = std::max(zmax, double(z[j]));
    double sum = 0;
    for (int j = 0; j < s.width; ++j) sum += std::exp(z[j] - zmax);
    const double lse = zmax + std::log(sum);
    for (int j = 0; j < s.width; ++j) {
      g[j] = static_cast<float>((std::exp(z[j] - lse) - (j == label ? 1.0 : 0.0)) * s.grad_scale);
    }
    return lse - z[label];
  }
  double total = 0;
  for (int j = 0; j < s.width; ++j) {
    const double zj = z[j], d = zj - double(y[j]);
    double loss = 0, grad = 0;
    switch (s.kind) {
      case LossKind::bce: {
        const double e = std::exp(-std::fabs(zj));
        loss = std::max(zj, 0.0) - zj * y[j] + std::log1p(e);
        grad = (zj >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e)) - y[j];
        break;
      }
      case LossKind::mse:
        loss = d * d, grad = 2 * d;
        break;
      case LossKind::l1:
        loss = std::fabs(d), grad = sign(d);
        break;
      case LossKind::smooth_l1:
        loss = std::fabs(d) < 1 ? 0.5 * d * d : std::fabs(d) - 0.5;
        grad = std::fabs(d) < 1 ? d : sign(d);
        break;
      case LossKind::softmax_ce:
        break;
    }
    total += loss;
    g[j] = static_cast<float>(grad * s.grad_scale);
  }
  return total;
}

}  // namespace

// The fused multi-loss (LossLayout.packed: per task [kind, outOff, width, tgtOff, tgtWidth]).
// logits, dlogits [n, total_out], targets [n, total_tgt], mask [n, T] or null, weights [T],
// losses [T]. Returns -1, or the first unlabelled-class row as task·n + row when a softmax-ce
// target is not an integer class index (nothing is written then).
int64_t loss_forward_backward(const int32_t* layout, int tasks, const float* logits, const float* targets,
                                    const float* mask, const float* weights, float* losses, float* dlogits, int n,
                                    int total_out, int total_tgt, int threads) {
  std::vector<LossTask> segs(tasks);
  for (int t = 0; t < tasks; ++t) {
    const int32_t* p = layout + 5 * t;
    LossTask& s = segs[t];
    s.kind = static_cast<LossKind>(p[0]);
    s.out_off = p[1], s.width = p[2], s.tgt_off = p[3];
    double labelled = 0;
    for (int i = 0; i < n; ++i) {
      const float m = mask ? mask[static_cast<int64_t>(i) * tasks + t] : 1.0f;
      labelled += m;
      if (s.kind != LossKind::softmax_ce || m == 0) continue;
      const float y = targets[static_cast<int64_t>(i) * total_tgt + s.tgt_off];
      if (!(y >= 0 && y < s.width && y == std::floor(y))) return static_cast<int64_t>(t) * n + i;
    }
    s.denom = std::max(1.0, labelled) * (s.kind == LossKind::softmax_ce ? 1 : s.width);
    s.grad_scale = weights[t] / s.denom;
  }

  const int chunks = (n + kRowsPerChunk - 1) / kRowsPerChunk;
  std::vector<double> partial(static_cast<size_t>(chunks) * tasks, 0.0);
  const int64_t work_per_row = total_out;
  parallel_range(chunks, threads, std::max<int64_t>(1, (1 << 14) / (kRowsPerChunk * work_per_row)),
                 [&](int64_t c0, int64_t c1) {
                   for (int64_t c = c0; c < c1; ++c) {
                     const int i1 = std::min<int>(n, static_cast<int>(c + 1) * kRowsPerChunk);
                     for (int i = static_cast<int>(c) * kRowsPerChunk; i < i1; ++i) {
                       const float* z = logits + static_cast<int64_t>(i) * total_out;
                       const float* y = targets + static_cast<int64_t>(i) * total_tgt;
                       float* g = dlogits + static_cast<int64_t>(i) * total_out;
                       for (int t = 0; t < tasks; ++t) {
                         const LossTask& s = segs[t];
                         const float m = mask ? mask[static_cast<int64_t>(i) * tasks + t] : 1.0f;
                         if (m == 0) {
                           std::fill(g + s.out_off, g + s.out_off + s.width, 0.0f);
                           continue;
                         }
                         partial[c * tasks + t] += row_loss(s, z + s.out_off, y + s.tgt_off, g + s.out_off);
                       }
                     }
                   }
                 });
  for (int t = 0; t < tasks; ++t) {
    double total = 0;
    for (int c = 0; c < chunks; ++c) total += partial[static_cast<size_t>(c) * tasks + t];
    losses[t] = static_cast<float>(total / segs[t].denom);
  }
  return -1;
}

}  // namespace hydranet

// ---- N-API entries (native/cpu/addon_args.h) ----------------------------------------

namespace hydranet::cpu_addon {

// multiLoss(layout, logits, targets, mask|null, weights, losses, dlogits, n, totalOut, totalTgt, threads)
// → -1, or task·n + row of the first invalid class label.
Napi::Value multi_loss(const Args& a) {
  const int n = a.dim(7, "n"), total_out = a.dim(8, "totalOut"), total_tgt = a.dim(9, "totalTgt");
  const layouts::Loss L = layouts::loss(a, a.i32(0, "layout"), n, total_out, total_tgt);
  const int64_t bad = hydranet::loss_forward_backward(
      L.packed, L.tasks, a.f32(1, "logits", L.logits), a.f32(2, "targets", L.targets),
      a.f32_or_null(3, "mask", L.mask), a.f32(4, "weights", L.tasks), a.f32(5, "losses", L.tasks),
      a.f32(6, "dlogits", L.logits), n, total_out, total_tgt, a.threads(10));
  return Napi::Number::New(a.env(), static_cast<double>(bad));
}
const Export<multi_loss> export_multi_loss("multiLoss", 11);

}  // namespace hydranet::cpu_addon
