// The fused multi-loss of the CUDA backend (LossLayout in ts/backends/layouts.ts; the reference
// backend is the spec): logits/dlogits [n, total_out], targets [n, total_tgt], mask [n, T] or
// null, weights [T], losses [T]. With m = mask[i, t] (1 without a mask) and
// n_t = max(1, Σ_i m[i, t]):
//   softmax-ce  L_t = Σ_{i: m≠0} (logsumexp(z_i) − z_i[y_i]) / n_t
//   bce         L_t = Σ_{i: m≠0} Σ_k (max(z, 0) − z·y + log(1 + e^−|z|)) / (K·n_t)
//   mse / l1 / smooth-l1 likewise from (z − y)², |z − y|, h(z − y)
//   the noise-robust class kinds (gce, sce, bootstrap-soft, bootstrap-hard, label-smoothing):
//               L_t = Σ_{i: m≠0} ℓ(softmax(z_i), y_i) / n_t (formulas in LossLayout's doc)
//   distill     L_t = Σ_{i: m≠0} (Σ_k q_k·log(q_k/p_k) − Σ_k q_k + 1) / n_t, p = softmax(z_i/T),
//               q the row's target probabilities (LwF's soft targets)
// losses[t] = L_t (=, unweighted); dlogits[:, seg_t] = weight_t·∂L_t/∂z (=, 0 where m = 0).
// A labelled class-kind row whose target is not an integer in [0, width) claims the Status
// words (atomicCAS on word 0: 0 → 1) and writes task, row and the target's f32 bits; the row's
// loss term is skipped and its gradient is the softmax alone (the addon throws LabelError).
//
// perSampleLosses runs the same kernel with per_sample set and no weights, losses or dlogits:
// each row's group writes its loss (the element kinds' divided by K) to per_sample[i, t], 0
// where m = 0.
//
// Design: one block of 256 threads per task (the layout words and the task's two loss
// parameters travel in the kernel parameters,
// at most kLossTasksPerLaunch tasks per launch; more tasks take several launches). Pass 1 sums
// the mask column (f64). Pass 2 maps each row to a group of G lanes of one warp, G = the power
// of two ≥ width, capped at 32: the G lanes stride over the row's columns (coalesced), and the
// softmax max and sum (and the argmax, the sum of the logits, the entropy where the kind needs
// them) are reduced within the group by xor shuffles. Every lane of a warp runs
// the same row iterations (inactive groups ride along) so the full-mask shuffles never diverge.
// Per-element math is f32 (expf, logf, log1pf: accurate, not fast-math); the loss terms
// accumulate per lane in f64 and are reduced by a fixed tree (warp xor shuffles, then the 8
// warp sums in order), so the result is deterministic.
#include <cmath>
#include <cstdint>

#include "device_math.cuh"
#include "addon_device.h"

namespace hydranet::cuda {
namespace {

constexpr int kLossThreads = 256;
constexpr int kLossWarps = kLossThreads / 32;
constexpr int kLossTasksPerLaunch = 128;
constexpr unsigned int kFullMask = 0xffffffffu;

// Same order as LOSS_KINDS in ts/backends/layouts.ts.
enum LossKind : int {
  kSoftmaxCe = 0, kBce = 1, kMse = 2, kL1 = 3, kSmoothL1 = 4,
  kGce = 5, kSce = 6, kBootstrapSoft = 7, kBootstrapHard = 8, kLabelSmoothing = 9, kDistill = 10,
};

struct LossSegment {
  int kind, out_off, width, tgt_off;
  float a, b;  // the kind's parameters (LossLayout's parameter slots)
};

struct LossParams {
  int task0;  // the first task of this launch; block b handles task task0 + b
  int tasks;  // T, the mask's row width
  int n, total_out, total_tgt;
  LossSegment seg[kLossTasksPerLaunch];
};

// Sum over the whole block, returned to every thread; `scratch` holds kLossWarps doubles. The
// tree is fixed (xor shuffles in each warp, then the warp sums in warp order).
__device__ double block_sum(double v, double* scratch) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(kFullMask, v, o);
  const int warp = threadIdx.x >> 5;
  if ((threadIdx.x & 31) == 0) scratch[warp] = v;
  __syncthreads();
  double total = 0.0;
  for (int w = 0; w < kLossWarps; ++w) total += scratch[w];
  __syncthreads();  // scratch may be reused
  return total;
}

// Reductions within aligned groups of g lanes (g a power of two ≤ 32); every lane of the warp
// must call them.
__device__ __forceinline__ float group_max(float v, int g) {
  for (int o = g >> 1; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(kFullMask, v, o));
  return v;
}
__device__ __forceinline__ float group_sum(float v, int g) {
  for (int o = g >> 1; o > 0; o >>= 1) v += __shfl_xor_sync(kFullMask, v, o);
  return v;
}
__device__ __forceinline__ double group_sum(double v, int g) {
  for (int o = g >> 1; o > 0; o >>= 1) v += __shfl_xor_sync(kFullMask, v, o);
  return v;
}
__device__ __forceinline__ int group_min(int v, int g) {
  for (int o = g >> 1; o > 0; o >>= 1) v = min(v, __shfl_xor_sync(kFullMask, v, o));
  return v;
}

// Math.sign: ±1, and d itself for ±0 and NaN.
__device__ __forceinline__ float sign_of(float d) { return d > 0.0f ? 1.0f : d < 0.0f ? -1.0f : d; }

__device__ __forceinline__ void report_bad_label(Status status, int task, int row, float y) { report_status(status, 1u, task, row, y); }

__global__ void __launch_bounds__(kLossThreads)
    loss_kernel(const __grid_constant__ LossParams p, const float* __restrict__ logits,
                      const float* __restrict__ targets, const float* __restrict__ mask,
                      const float* __restrict__ weights, float* __restrict__ losses, float* __restrict__ dlogits,
                      float* __restrict__ per_sample, Status status) {
  __shared__ double scratch[kLossWarps];
  const int t = p.task0 + static_cast<int>(blockIdx.x);
  const LossSegment s = p.seg[blockIdx.x];
  const int n = p.n;
  const int64_t ld = p.total_out, ldt = p.total_tgt, T = p.tasks;

  // Pass 1: n_t = max(1, Σ_i m) (NaN stays NaN, as Math.max(1, NaN) is NaN).
  double labelled = 0.0;
  if (mask != nullptr) {
    for (int64_t i = threadIdx.x; i < n; i += kLossThreads) labelled += mask[i * T + t];
  } else {
    for (int i = threadIdx.x; i < n; i += kLossThreads) labelled += 1.0;
  }
  labelled = block_sum(labelled, scratch);
  const double count = isnan(labelled) ? labelled : fmax(1.0, labelled);
  const double denom = (s.kind == kSoftmaxCe || s.kind >= kGce) ? count : count * s.width;  // per-row kinds: the class kinds and distill
  const double gscale = weights != nullptr ? static_cast<double>(weights[t]) / denom : 0.0;

  // Pass 2: rows in groups of G lanes.
  int G = 1;
  while (G < s.width && G < 32) G <<= 1;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int gl = lane & (G - 1);                 // lane within the group: column gl, gl + G, ...
  const int groups_per_warp = 32 / G;
  const int sub = lane / G;                      // the group within the warp
  const int rows_per_pass = kLossWarps * groups_per_warp;
  const int width = s.width;

  double total = 0.0;  // this lane's loss terms
  for (int64_t base = warp * groups_per_warp; base < n; base += rows_per_pass) {  // uniform per warp
    const int64_t row = base + sub;
    const bool active = row < n;
    const int64_t i = active ? row : 0;  // inactive groups compute on row 0 but store nothing
    const float m = active ? (mask != nullptr ? mask[i * T + t] : 1.0f) : 0.0f;
    const bool live = active && m != 0.0f;  // labelled (a NaN mask counts as labelled, as m !== 0)
    const float* z = logits + i * ld + s.out_off;
    float* gz = dlogits != nullptr ? dlogits + i * ld + s.out_off : nullptr;
    const float* y = targets + i * ldt + s.tgt_off;
    if (s.kind == kDistill) {
      // ℓ = Σ_k q_k·log(q_k/p_k) − Σ_k q_k + 1, p = softmax(z/T); ∂ℓ/∂z_j = (p_j·Σq − q_j)/T.
      const float temp = s.a;
      float zmax = -INFINITY;
      if (live) {
        for (int j = gl; j < width; j += G) zmax = fmaxf(zmax, z[j] / temp);
      }
      zmax = group_max(zmax, G);
      float sum = 0.0f;
      if (live) {
        for (int j = gl; j < width; j += G) sum += expf(z[j] / temp - zmax);
      }
      sum = group_sum(sum, G);
      const float lse = zmax + logf(sum);
      float qsum = 0.0f;
      double part = 0.0;
      if (live) {
        for (int j = gl; j < width; j += G) {
          const float q = y[j];
          qsum += q;
          part += (q == 0.0f ? 0.0 : static_cast<double>(q) * log(static_cast<double>(q))) -
                  static_cast<double>(q) * static_cast<double>(z[j] / temp - lse) - static_cast<double>(q);
        }
      }
      qsum = group_sum(qsum, G);
      const double row_loss = group_sum(part, G) + 1.0;  // every lane of the group
      if (active && gz != nullptr) {
        for (int j = gl; j < width; j += G) {
          const float grad = (expf(z[j] / temp - lse) * qsum - y[j]) / temp;
          gz[j] = live ? static_cast<float>(static_cast<double>(grad) * gscale) : 0.0f;
        }
      }
      if (live && gl == 0) total += row_loss;
      if (per_sample != nullptr && active && gl == 0) per_sample[i * T + t] = live ? static_cast<float>(row_loss) : 0.0f;
    } else if (s.kind == kSoftmaxCe || s.kind >= kGce) {
      int label = -1;  // -1 when not a valid class: matches no column
      float yv = 0.0f;
      if (live) {
        yv = y[0];
        if (yv >= 0.0f && yv < static_cast<float>(width) && floorf(yv) == yv) {
          label = static_cast<int>(yv);
        } else if (gl == 0) {
          report_bad_label(status, t, static_cast<int>(i), yv);
        }
      }
      float zmax = -INFINITY;
      if (live) {
        for (int j = gl; j < width; j += G) zmax = fmaxf(zmax, z[j]);
      }
      zmax = group_max(zmax, G);  // every lane of the warp
      float sum = 0.0f, zsum = 0.0f;
      int top = width;  // argmax: the first column holding the max (bootstrap-hard)
      if (live) {
        for (int j = gl; j < width; j += G) {
          sum += expf(z[j] - zmax);
          zsum += z[j];
          if (z[j] == zmax && j < top) top = j;
        }
      }
      sum = group_sum(sum, G);
      const float lse = zmax + logf(sum);
      // ℓ, and ∂ℓ/∂z_j = u·(p_j − δ_jy) + the kind's extra term (as the reference).
      const float ce = live ? lse - z[label >= 0 ? label : 0] : 0.0f;
      const float a = s.a, b = s.b;
      float loss = ce, u = 1.0f, entropy = 0.0f;
      switch (s.kind) {
        case kGce: {
          const float pq = expf(-a * ce);
          loss = (1.0f - pq) / a;
          u = pq;
          break;
        }
        case kSce: {
          const float py = expf(-ce);
          loss = a * ce + 4.0f * b * (1.0f - py);
          u = a + 4.0f * b * py;
          break;
        }
        case kBootstrapSoft: {
          if (live) {
            for (int j = gl; j < width; j += G) entropy -= expf(z[j] - lse) * (z[j] - lse);
          }
          entropy = group_sum(entropy, G);
          loss = a * ce + (1.0f - a) * entropy;
          u = a;
          break;
        }
        case kBootstrapHard: {
          top = group_min(top, G);
          loss = a * ce + (1.0f - a) * (live && top < width ? lse - z[top] : 0.0f);
          u = a;
          break;
        }
        case kLabelSmoothing:
          zsum = group_sum(zsum, G);
          loss = (1.0f - a) * ce + a * (lse - zsum / static_cast<float>(width));
          u = 1.0f - a;
          break;
        default:
          break;
      }
      if (active && gz != nullptr) {
        for (int j = gl; j < width; j += G) {
          const float p = expf(z[j] - lse);
          float grad = u * (p - (j == label ? 1.0f : 0.0f));
          switch (s.kind) {
            case kBootstrapSoft: grad -= (1.0f - a) * p * (z[j] - lse + entropy); break;
            case kBootstrapHard: grad += (1.0f - a) * (p - (j == top ? 1.0f : 0.0f)); break;
            case kLabelSmoothing: grad += a * (p - 1.0f / static_cast<float>(width)); break;
            default: break;
          }
          gz[j] = live ? static_cast<float>(static_cast<double>(grad) * gscale) : 0.0f;
        }
      }
      if (live && gl == 0 && label >= 0) total += static_cast<double>(loss);
      if (per_sample != nullptr && active && gl == 0) per_sample[i * T + t] = live ? loss : 0.0f;
    } else {
      double row_total = 0.0;  // this lane's columns of the row (perSampleLosses)
      for (int j = gl; active && j < width; j += G) {
        if (!live) {
          if (gz != nullptr) gz[j] = 0.0f;
          continue;
        }
        const float zj = z[j], yj = y[j], d = zj - yj;
        float loss, grad;
        switch (s.kind) {
          case kBce: {
            const float e = expf(-fabsf(zj));
            loss = fmaxf(zj, 0.0f) - zj * yj + log1pf(e);
            grad = (zj >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e)) - yj;
            break;
          }
          case kMse:
            loss = d * d;
            grad = 2.0f * d;
            break;
          case kL1:
            loss = fabsf(d);
            grad = sign_of(d);
            break;
          default: {  // smooth-l1
            const float a = fabsf(d);
            loss = a < 1.0f ? 0.5f * d * d : a - 0.5f;
            grad = a < 1.0f ? d : sign_of(d);
            break;
          }
        }
        total += static_cast<double>(loss);
        row_total += static_cast<double>(loss);
        if (gz != nullptr) gz[j] = static_cast<float>(static_cast<double>(grad) * gscale);
      }
      if (per_sample != nullptr) {
        row_total = group_sum(row_total, G);  // every lane of the warp (the kind is uniform per block)
        if (active && gl == 0) per_sample[i * T + t] = live ? static_cast<float>(row_total / width) : 0.0f;
      }
    }
  }
  total = block_sum(total, scratch);
  if (threadIdx.x == 0 && losses != nullptr) losses[t] = static_cast<float>(total / denom);
}

// Launches loss_kernel over every task (kLossTasksPerLaunch per launch): multiLoss with
// weights, losses, dlogits and no per_sample; perSampleLosses with per_sample alone.
cudaError_t launch_loss(const int32_t* layout, int tasks, const float* logits, const float* targets, const float* mask,
                        const float* weights, float* losses, float* dlogits, float* per_sample, int n, int total_out,
                        int total_tgt, Status status, cudaStream_t stream) {
  for (int t0 = 0; t0 < tasks; t0 += kLossTasksPerLaunch) {
    const int count = tasks - t0 < kLossTasksPerLaunch ? tasks - t0 : kLossTasksPerLaunch;
    LossParams p{};
    p.task0 = t0;
    p.tasks = tasks;
    p.n = n;
    p.total_out = total_out;
    p.total_tgt = total_tgt;
    for (int b = 0; b < count; ++b) {
      const int t = t0 + b;
      const int32_t* w = layout + 5 * t;
      p.seg[b] = LossSegment{w[0], w[1], w[2], w[3], layouts::loss_param(layout, tasks, t, 0),
                             layouts::loss_param(layout, tasks, t, 1)};
    }
    loss_kernel<<<count, kLossThreads, 0, stream>>>(p, logits, targets, mask, weights, losses, dlogits, per_sample, status);
  }
  return cudaGetLastError();
}

}  // namespace

// The fused multi-loss (LossLayout.packed, HOST memory: per task [kind, outOff, width, tgtOff,
// tgtWidth], then per task two f32 parameters; checked by native/layouts.h): one block per
// task, warp-shuffle reductions; mask [n, T] or null. A class-kind
// target that is not an integer class in [0, width) on a labelled row sets `status`
// (words: 1, task, row, class bits).
cudaError_t loss_forward_backward(const int32_t* layout, int tasks, const float* logits, const float* targets, const float* mask,
                       const float* weights, float* losses, float* dlogits, int n, int total_out, int total_tgt,
                       Status status, cudaStream_t stream) {
  return launch_loss(layout, tasks, logits, targets, mask, weights, losses, dlogits, nullptr, n, total_out, total_tgt,
                     status, stream);
}

// perSampleLosses: the same kernel without a gradient; out [n, T] gets each row's loss (the
// element kinds' divided by K), 0 where mask = 0. A bad class label sets `status` as above.
cudaError_t loss_per_sample(const int32_t* layout, int tasks, const float* logits, const float* targets, const float* mask,
                            float* out, int n, int total_out, int total_tgt, Status status, cudaStream_t stream) {
  return launch_loss(layout, tasks, logits, targets, mask, nullptr, nullptr, nullptr, out, n, total_out, total_tgt,
                     status, stream);
}

}  // namespace hydranet::cuda

// ---- N-API entries (native/cuda/addon_device.h) ----------------------------------------

namespace hydranet::cuda_addon {

// multiLoss(layout, logits, targets, mask|null, weights, losses, dlogits, n, totalOut, totalTgt) -> -1: as the
// CPU addon's, but a bad class label is flagged on the device (status words) and thrown by read/sync.
Napi::Value multi_loss(const Args& a) {
  const int n = a.dim(7, "n"), out = a.dim(8, "totalOut"), tgt = a.dim(9, "totalTgt");
  const layouts::Loss L = layouts::loss(a, a.i32(0, "layout"), n, out, tgt);
  check_cuda(hc::loss_forward_backward(L.packed, L.tasks, a.dev(1, "logits", L.logits), a.dev(2, "targets", L.targets),
      a.dev_or_null(3, "mask", L.mask), a.dev(4, "weights", L.tasks), a.dev(5, "losses", L.tasks), a.dev(6, "dlogits",
      L.logits), n, out, tgt, state().status, state().stream), "multiLoss");
  return Napi::Number::New(a.env(), -1);
}
const Export<multi_loss> export_multi_loss("multiLoss", 10);

// perSampleLosses(layout, logits, targets, mask|null, out, n, totalOut, totalTgt) -> -1 (a bad class
// label is flagged on the device and thrown by read/sync, as multiLoss's).
Napi::Value per_sample_losses(const Args& a) {
  const int n = a.dim(5, "n"), out = a.dim(6, "totalOut"), tgt = a.dim(7, "totalTgt");
  const layouts::Loss L = layouts::loss(a, a.i32(0, "layout"), n, out, tgt);
  check_cuda(hc::loss_per_sample(L.packed, L.tasks, a.dev(1, "logits", L.logits), a.dev(2, "targets", L.targets),
      a.dev_or_null(3, "mask", L.mask), a.dev(4, "out", L.mask), n, out, tgt, state().status, state().stream),
      "perSampleLosses");
  return Napi::Number::New(a.env(), -1);
}
const Export<per_sample_losses> export_per_sample_losses("perSampleLosses", 8);

}  // namespace hydranet::cuda_addon
