// The fused multi-loss (LossLayout in ts/backends/backend.ts): one pass over the logits
// [n, total_out] of every task, with targets [n, total_tgt], an optional mask [n, T]
// (0 = unlabelled) and per-task weights [T]. With n_t = max(1, Σ_i m[i, t]):
//   softmax-ce  L_t = Σ_i m·(logsumexp(z_i) − z_i[y_i]) / n_t
//   bce         L_t = Σ_i m·Σ_k (max(z, 0) − z·y + log(1 + e^−|z|)) / (K·n_t)
//   mse / l1 / smooth-l1 likewise from (z − y)², |z − y|, h(z − y)
//   the noise-robust class kinds (gce, sce, bootstrap-soft, bootstrap-hard, label-smoothing):
//               L_t = Σ_i m·ℓ(p_i, y_i) / n_t with p = softmax(z) (formulas in LossLayout's doc)
//   distill     L_t = Σ_i m·(Σ_k q_k·log(q_k/p_k) − Σ_k q_k + 1) / n_t, q_i the row's target
//               probabilities, p = softmax(z/T) (KL(q‖p); LwF's soft targets)
// losses[t] = L_t ("=", unweighted); dlogits[:, seg_t] = weight_t·∂L_t/∂z ("=", 0 where m = 0).
// Rows are summed in fixed chunks of double partial sums, so the result does not depend on the
// number of threads. A class row of up to 64 logits takes its e^(z − max) from the ISA's f32
// vector exp (a few ulp; isa_extras), a wider row from std::exp; sums and logs are in double.
// perSampleLosses (loss_per_sample) runs the same row code without the gradient: out[i, t] = ℓ
// of row i (the element kinds divided by K), 0 where m = 0.
#include <algorithm>
#include <cmath>
#include <vector>

#include "addon_args.h"
#include "threadpool.h"

namespace hydranet {
namespace {

// Same order as LOSS_KINDS in ts/backends/layouts.ts.
enum class LossKind : int {
  softmax_ce = 0, bce = 1, mse = 2, l1 = 3, smooth_l1 = 4,
  gce = 5, sce = 6, bootstrap_soft = 7, bootstrap_hard = 8, label_smoothing = 9, distill = 10,
};

struct LossTask {
  LossKind kind;
  bool cls;       // a class kind: softmax over the row, one class index as the target
  bool row;       // a per-row loss (the class kinds and distill): no mean over the width
  double a, b;    // the kind's parameters (LossLayout's parameter slots)
  int out_off, width, tgt_off;
  double grad_scale;  // weight / (n_t or K·n_t)
  double denom;
};

constexpr int kRowsPerChunk = 64;
// The widest class row whose exponentials class_row_loss keeps on the stack.
constexpr int kCachedWidth = 64;

// Math.sign: ±1, and d itself for ±0 and NaN (a NaN logit gives a NaN gradient).
double sign(double d) { return d > 0 ? 1.0 : d < 0 ? -1.0 : d; }

// Loss of one row of one task (unscaled; the sum over the K columns for the element kinds),
// writing the scaled gradient into g unless g is null (perSampleLosses).
// A class kind's row: ℓ, and ∂ℓ/∂z_j = u·(p_j − δ_jy) + (the kind's extra term), as the reference.
double class_row_loss(const LossTask& s, const float* z, int label, float* g) {
  double zmax = z[0];
  int top = 0;  // argmax, the first largest (bootstrap-hard)
  for (int j = 1; j < s.width; ++j) {
    if (z[j] > zmax) top = j;
    zmax = std::max(zmax, double(z[j]));
  }
  // e^(z_j − zmax), kept for the gradient when the row fits (one exp per logit, not two): then
  // the whole row's at once by the ISA's vector exp (f32, a few ulp), summed in double.
  double e[kCachedWidth];
  const bool cached = s.width <= kCachedWidth;
  double sum = 0, zsum = 0;
  if (cached) {
    float ef[kCachedWidth];
    isa_extras().exp_shifted(z, s.width, static_cast<float>(zmax), ef);
    for (int j = 0; j < s.width; ++j) e[j] = ef[j], sum += ef[j], zsum += z[j];
  } else {
    for (int j = 0; j < s.width; ++j) sum += std::exp(z[j] - zmax), zsum += z[j];
  }
  const double lse = zmax + std::log(sum), inv_sum = 1 / sum;
  const double ce = lse - z[label], a = s.a, b = s.b;
  double loss = ce, u = 1, entropy = 0;
  switch (s.kind) {
    case LossKind::gce: {
      const double pq = std::exp(-a * ce);
      loss = (1 - pq) / a, u = pq;
      break;
    }
    case LossKind::sce: {
      const double py = std::exp(-ce);
      loss = a * ce + 4 * b * (1 - py), u = a + 4 * b * py;
      break;
    }
    case LossKind::bootstrap_soft:
      for (int j = 0; j < s.width; ++j) entropy -= std::exp(z[j] - lse) * (z[j] - lse);
      loss = a * ce + (1 - a) * entropy, u = a;
      break;
    case LossKind::bootstrap_hard:
      loss = a * ce + (1 - a) * (lse - z[top]), u = a;
      break;
    case LossKind::label_smoothing:
      loss = (1 - a) * ce + a * (lse - zsum / s.width), u = 1 - a;
      break;
    default:
      break;
  }
  for (int j = 0; g != nullptr && j < s.width; ++j) {
    const double p = cached ? e[j] * inv_sum : std::exp(z[j] - lse);
    double grad = u * (p - (j == label ? 1.0 : 0.0));
    switch (s.kind) {
      case LossKind::bootstrap_soft: grad -= (1 - a) * p * (z[j] - lse + entropy); break;
      case LossKind::bootstrap_hard: grad += (1 - a) * (p - (j == top ? 1.0 : 0.0)); break;
      case LossKind::label_smoothing: grad += a * (p - 1.0 / s.width); break;
      default: break;
    }
    g[j] = static_cast<float>(grad * s.grad_scale);
  }
  return loss;
}

// distill's row: ℓ = Σ_k q_k·log(q_k/p_k) − Σ_k q_k + 1 with p = softmax(z/T), T = s.a;
// ∂ℓ/∂z_j = (p_j·Σq − q_j)/T, as the reference.
double distill_row_loss(const LossTask& s, const float* z, const float* q, float* g) {
  const double T = s.a;
  double zmax = -INFINITY;
  for (int j = 0; j < s.width; ++j) zmax = std::max(zmax, z[j] / T);  // a NaN is carried by the sum
  double sum = 0;
  for (int j = 0; j < s.width; ++j) sum += std::exp(z[j] / T - zmax);
  const double lse = zmax + std::log(sum);
  double loss = 1, qsum = 0;
  for (int j = 0; j < s.width; ++j) {
    const double qj = q[j];
    qsum += qj;
    loss += (qj == 0 ? 0.0 : qj * std::log(qj)) - qj * (z[j] / T - lse) - qj;
  }
  for (int j = 0; g != nullptr && j < s.width; ++j) {
    g[j] = static_cast<float>((std::exp(z[j] / T - lse) * qsum - q[j]) / T * s.grad_scale);
  }
  return loss;
}

double row_loss(const LossTask& s, const float* z, const float* y, float* g) {
  if (s.cls) return class_row_loss(s, z, static_cast<int>(y[0]), g);
  if (s.kind == LossKind::distill) return distill_row_loss(s, z, y, g);
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
      default:
        break;
    }
    total += loss;
    if (g != nullptr) g[j] = static_cast<float>(grad * s.grad_scale);
  }
  return total;
}

// Decodes the layout into segs (weights may be null: grad_scale 0) and checks every labelled
// class-kind row's target. Returns -1, or task·n + row of the first invalid class label.
int64_t decode_tasks(const int32_t* layout, int tasks, const float* targets, const float* mask, const float* weights,
                     int n, int total_tgt, std::vector<LossTask>& segs) {
  for (int t = 0; t < tasks; ++t) {
    const int32_t* p = layout + 5 * t;
    LossTask& s = segs[t];
    s.kind = static_cast<LossKind>(p[0]);
    s.cls = layouts::is_class_loss(p[0]);
    s.row = s.cls || layouts::is_soft_target_loss(p[0]);
    s.a = layouts::loss_param(layout, tasks, t, 0), s.b = layouts::loss_param(layout, tasks, t, 1);
    s.out_off = p[1], s.width = p[2], s.tgt_off = p[3];
    double labelled = 0;
    for (int i = 0; i < n; ++i) {
      const float m = mask ? mask[static_cast<int64_t>(i) * tasks + t] : 1.0f;
      labelled += m;
      if (!s.cls || m == 0) continue;
      const float y = targets[static_cast<int64_t>(i) * total_tgt + s.tgt_off];
      if (!(y >= 0 && y < s.width && y == std::floor(y))) return static_cast<int64_t>(t) * n + i;
    }
    s.denom = std::max(1.0, labelled) * (s.row ? 1 : s.width);
    s.grad_scale = weights != nullptr ? weights[t] / s.denom : 0.0;
  }
  return -1;
}

// A row's cost in units of one cheap element (mse's subtraction and square): a logit of a class
// kind, bce or distill (an exp or a log each) costs about kTranscendental of those.
constexpr int64_t kTranscendental = 8;
// The work per thread, in those units, below which a second thread costs more than it saves
// (about 8 µs: a 64-row chunk of W1's two 10-class softmax heads is 10k units, about 5 µs).
constexpr int64_t kLossGrain = 1 << 14;

int64_t row_work(const std::vector<LossTask>& segs) {
  int64_t work = 0;
  for (const LossTask& s : segs) {
    const bool costly = s.row || s.kind == LossKind::bce;
    work += static_cast<int64_t>(s.width) * (costly ? kTranscendental : 1);
  }
  return std::max<int64_t>(1, work);
}

}  // namespace

// The fused multi-loss (LossLayout.packed: per task [kind, outOff, width, tgtOff, tgtWidth], then
// per task its two f32 parameters; checked by native/layouts.h).
// logits, dlogits [n, total_out], targets [n, total_tgt], mask [n, T] or null, weights [T],
// losses [T]. Returns -1, or the first unlabelled-class row as task·n + row when a class-kind
// target is not an integer class index (nothing is written then).
int64_t loss_forward_backward(const int32_t* layout, int tasks, const float* logits, const float* targets,
                                    const float* mask, const float* weights, float* losses, float* dlogits, int n,
                                    int total_out, int total_tgt, int threads) {
  std::vector<LossTask> segs(tasks);
  const int64_t bad = decode_tasks(layout, tasks, targets, mask, weights, n, total_tgt, segs);
  if (bad >= 0) return bad;

  const int chunks = (n + kRowsPerChunk - 1) / kRowsPerChunk;
  std::vector<double> partial(static_cast<size_t>(chunks) * tasks, 0.0);
  parallel_range(chunks, threads, std::max<int64_t>(1, kLossGrain / (kRowsPerChunk * row_work(segs))),
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

// perSampleLosses: out[i, t] = ℓ_t of row i (the element kinds' sum divided by K), 0 where
// mask[i, t] = 0; no gradient. Rows split over threads, each written once (no reduction).
// Returns -1, or task·n + row of the first invalid class label (nothing written then).
int64_t loss_per_sample(const int32_t* layout, int tasks, const float* logits, const float* targets, const float* mask,
                        float* out, int n, int total_out, int total_tgt, int threads) {
  std::vector<LossTask> segs(tasks);
  const int64_t bad = decode_tasks(layout, tasks, targets, mask, nullptr, n, total_tgt, segs);
  if (bad >= 0) return bad;
  parallel_range(n, threads, std::max<int64_t>(1, (1 << 14) / std::max(1, total_out)), [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const float* z = logits + i * total_out;
      const float* y = targets + i * total_tgt;
      for (int t = 0; t < tasks; ++t) {
        const LossTask& s = segs[t];
        const float m = mask ? mask[i * tasks + t] : 1.0f;
        out[i * tasks + t] =
            m == 0 ? 0.0f : static_cast<float>(row_loss(s, z + s.out_off, y + s.tgt_off, nullptr) / (s.row ? 1 : s.width));
      }
    }
  });
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


// perSampleLosses(layout, logits, targets, mask|null, out, n, totalOut, totalTgt, threads)
// → -1, or task·n + row of the first invalid class label.
Napi::Value per_sample_losses(const Args& a) {
  const int n = a.dim(5, "n"), total_out = a.dim(6, "totalOut"), total_tgt = a.dim(7, "totalTgt");
  const layouts::Loss L = layouts::loss(a, a.i32(0, "layout"), n, total_out, total_tgt);
  const int64_t bad = hydranet::loss_per_sample(
      L.packed, L.tasks, a.f32(1, "logits", L.logits), a.f32(2, "targets", L.targets), a.f32_or_null(3, "mask", L.mask),
      a.f32(4, "out", L.mask), n, total_out, total_tgt, a.threads(8));
  return Napi::Number::New(a.env(), static_cast<double>(bad));
}
const Export<per_sample_losses> export_per_sample_losses("perSampleLosses", 9);

}  // namespace hydranet::cpu_addon
