// The fused weighted multi-loss: one launch for every task, one workgroup per task (the
// workgroup's 256 invocations stride over the batch rows, then reduce in workgroup memory).
//
// Shapes: logits/dlogits [N, total_out], targets [N, total_tgt], mask [N, T] (when has_mask),
// weights [T], losses [T]. Per task (packed layout words, see LossLayout): kind, out_offset,
// width, tgt_offset, and the kind's two f32 parameters a, b. With m = mask[i, t] (1 without a
// mask) and n_t = max(1, sum_i m):
//   softmax-ce  L_t = sum_i [m != 0] (logsumexp(z_i) - z_i[y_i]) / n_t
//   the noise-robust class kinds (5 gce, 6 sce, 7 bootstrap-soft, 8 bootstrap-hard, 9
//   label-smoothing): L_t = sum_i [m != 0] l(softmax(z_i), y_i) / n_t (formulas in LossLayout)
//   bce / mse / l1 / smooth-l1: the mean over the width K as well (see ts/backends/layouts.ts)
//   distill (10): L_t = sum_i [m != 0] (sum_k q_k log(q_k / p_k) - sum_k q_k + 1) / n_t, q the
//               row's target probabilities (one per logit), p = softmax(z / T), T = a
// dlogits[:, seg_t] = weight_t * dL_t/dz (0 where m = 0); losses[t] = L_t (unweighted).
// loss_per_sample (perSampleLosses) runs the same row code without the gradient, one
// invocation per row, into loss_out as [N, T].
// A class index that is not an integer in [0, width) for a labelled row is reported through
// the status buffer: status[0] = 1 (claimed once), status[1] = task, status[2] = row,
// status[3] = the class value's bits; the host throws LabelError at its next read or sync.
// NaN in a labelled row's logits or targets makes the task's loss NaN and that row's gradients
// NaN, as in the reference (the row max may drop it, exp and the sums carry it; sign is guarded).

//#include nan.wgsl

struct LossParams {
  n: u32,
  tasks: u32,
  total_out: u32,
  total_tgt: u32,
  has_mask: u32,
  task0: u32,     // the first task of this launch (launches cover at most 28 tasks)
  pad1: u32,
  pad2: u32,
  // per task two words: [kind, out_offset, width, tgt_offset] (kind 0 softmax-ce, 1 bce, 2 mse,
  // 3 l1, 4 smooth-l1, 5 gce, 6 sce, 7 bootstrap-soft, 8 bootstrap-hard, 9 label-smoothing,
  // 10 distill),
  // then [a, b, 0, 0] with a, b the kind's parameters as f32 bits
  segments: array<vec4<u32>, 56>,
}

@group(0) @binding(0) var<storage, read> loss_logits: array<f32>;
@group(0) @binding(1) var<storage, read> loss_targets: array<f32>;
@group(0) @binding(2) var<storage, read> loss_mask: array<f32>;
@group(0) @binding(3) var<storage, read> loss_weights: array<f32>;
@group(0) @binding(4) var<storage, read_write> loss_out: array<f32>;
@group(0) @binding(5) var<storage, read_write> loss_dlogits: array<f32>;
@group(0) @binding(6) var<storage, read_write> loss_status: array<atomic<u32>>;
@group(0) @binding(7) var<uniform> lp: LossParams;

var<workgroup> partial: array<f32, 256>;

fn mask_at(i: u32, t: u32) -> f32 {
  if (lp.has_mask == 1u) { return loss_mask[i * lp.tasks + t]; }
  return 1.0;
}

// Sums partial[] over the workgroup; every invocation gets the total.
fn workgroup_sum(lid: u32, v: f32) -> f32 {
  partial[lid] = v;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (lid < s) { partial[lid] += partial[lid + s]; }
    workgroupBarrier();
  }
  let total = partial[0];
  workgroupBarrier();
  return total;
}

// softmax-ce and the noise-robust kinds: a softmax over the row, one class index as the target.
fn kind_is_class(kind: u32) -> bool {
  return kind == 0u || (kind >= 5u && kind <= 9u);
}

// A per-row loss (the class kinds and distill): no mean over the width.
fn kind_is_row(kind: u32) -> bool {
  return kind_is_class(kind) || kind == 10u;
}

fn report_bad_label(t: u32, i: u32, y: f32) {
  if (atomicCompareExchangeWeak(&loss_status[0], 0u, 1u).exchanged) {
    atomicStore(&loss_status[1], t);
    atomicStore(&loss_status[2], i);
    atomicStore(&loss_status[3], bitcast<u32>(y));
  }
}

// The two row computations, shared by both entry points. Row i of task t (its layout words
// seg = [kind, out_offset, width, tgt_offset] and parameters a, b), mask value m: returns the
// row's loss, summed over the width for the element kinds (0 where m == 0, or where the class
// index is invalid: reported); with `grad`, writes dlogits[i, seg] = gscale * dl/dz (0 where
// m == 0).
fn class_row(t: u32, i: u32, seg: vec4<u32>, a: f32, b: f32, m: f32, gscale: f32, grad: bool) -> f32 {
  let kind = seg.x;
  let width = seg.z;
  let row = i * lp.total_out + seg.y;
  let yv = loss_targets[i * lp.total_tgt + seg.w];
  let y = u32(max(yv, 0.0));
  let valid = yv >= 0.0 && yv < f32(width) && floor(yv) == yv;
  if (m != 0.0 && !valid) { report_bad_label(t, i, yv); }
  var zmax = loss_logits[row];
  var top = 0u;  // argmax, the first largest (bootstrap-hard)
  for (var j = 1u; j < width; j++) {
    let v = loss_logits[row + j];
    if (v > zmax) { top = j; }
    zmax = max(zmax, v);
  }
  var sum = 0.0;
  var zsum = 0.0;
  for (var j = 0u; j < width; j++) {
    sum += exp(loss_logits[row + j] - zmax);
    zsum += loss_logits[row + j];
  }
  let lse = zmax + log(sum);
  let ce = lse - loss_logits[row + select(0u, y, valid)];
  // l, and dl/dz_j = u * (p_j - [j == y]) + the kind's extra term (as the reference).
  var l = ce;
  var u = 1.0;
  var entropy = 0.0;
  switch kind {
    case 5u: {
      let pq = exp(-a * ce);
      l = (1.0 - pq) / a;
      u = pq;
    }
    case 6u: {
      let py = exp(-ce);
      l = a * ce + 4.0 * b * (1.0 - py);
      u = a + 4.0 * b * py;
    }
    case 7u: {
      for (var j = 0u; j < width; j++) {
        let lp_j = loss_logits[row + j] - lse;
        entropy -= exp(lp_j) * lp_j;
      }
      l = a * ce + (1.0 - a) * entropy;
      u = a;
    }
    case 8u: {
      l = a * ce + (1.0 - a) * (lse - loss_logits[row + top]);
      u = a;
    }
    case 9u: {
      l = (1.0 - a) * ce + a * (lse - zsum / f32(width));
      u = 1.0 - a;
    }
    default: {}
  }
  for (var j = 0u; grad && j < width; j++) {
    var g = 0.0;
    if (m != 0.0) {
      let zj = loss_logits[row + j];
      let p = exp(zj - lse);
      g = u * (p - select(0.0, 1.0, j == y));
      switch kind {
        case 7u: { g -= (1.0 - a) * p * (zj - lse + entropy); }
        case 8u: { g += (1.0 - a) * (p - select(0.0, 1.0, j == top)); }
        case 9u: { g += a * (p - 1.0 / f32(width)); }
        default: {}
      }
      g *= gscale;
    }
    loss_dlogits[row + j] = g;
  }
  return select(0.0, l, m != 0.0 && valid);
}

// distill's row (kind 10, T = a): l = sum_k q_k log(q_k / p_k) - sum_k q_k + 1 with
// p = softmax(z / T); dl/dz_j = (p_j * sum_k q_k - q_j) / T, as the reference.
fn distill_row(i: u32, seg: vec4<u32>, a: f32, m: f32, gscale: f32, grad: bool) -> f32 {
  let width = seg.z;
  let row = i * lp.total_out + seg.y;
  let trow = i * lp.total_tgt + seg.w;
  var zmax = loss_logits[row] / a;
  for (var j = 1u; j < width; j++) { zmax = max(zmax, loss_logits[row + j] / a); }
  var sum = 0.0;
  for (var j = 0u; j < width; j++) { sum += exp(loss_logits[row + j] / a - zmax); }
  let lse = zmax + log(sum);
  var l = 1.0;
  var qsum = 0.0;
  for (var j = 0u; j < width; j++) {
    let q = loss_targets[trow + j];
    qsum += q;
    var qlogq = 0.0;
    if (q != 0.0) { qlogq = q * log(q); }
    l += qlogq - q * (loss_logits[row + j] / a - lse) - q;
  }
  for (var j = 0u; grad && j < width; j++) {
    var g = 0.0;
    if (m != 0.0) {
      g = (exp(loss_logits[row + j] / a - lse) * qsum - loss_targets[trow + j]) / a * gscale;
    }
    loss_dlogits[row + j] = g;
  }
  return select(0.0, l, m != 0.0);
}

fn elem_row(i: u32, seg: vec4<u32>, m: f32, gscale: f32, grad: bool) -> f32 {
  let kind = seg.x;
  let width = seg.z;
  let row = i * lp.total_out + seg.y;
  var total = 0.0;
  for (var j = 0u; j < width; j++) {
    let z = loss_logits[row + j];
    let yj = loss_targets[i * lp.total_tgt + seg.w + j];
    let d = z - yj;
    var l = 0.0;
    var g = 0.0;
    switch kind {
      case 1u: {
        l = max(z, 0.0) - z * yj + log(1.0 + exp(-abs(z)));
        g = 1.0 / (1.0 + exp(-z)) - yj;
      }
      case 2u: {
        l = d * d;
        g = 2.0 * d;
      }
      case 3u: {
        l = abs(d);
        g = keep_nan(d, sign(d));
      }
      default: {
        if (abs(d) < 1.0) { l = 0.5 * d * d; g = d; } else { l = abs(d) - 0.5; g = keep_nan(d, sign(d)); }
      }
    }
    if (m != 0.0) { total += l; }
    if (grad) { loss_dlogits[row + j] = select(g * gscale, 0.0, m == 0.0); }
  }
  return total;
}

@compute @workgroup_size(256)
fn loss_forward_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = lp.task0 + wg.x;
  let seg = lp.segments[2u * wg.x];
  let a = bitcast<f32>(lp.segments[2u * wg.x + 1u].x);
  let b = bitcast<f32>(lp.segments[2u * wg.x + 1u].y);
  let cls = kind_is_class(seg.x);

  var labelled = 0.0;
  for (var i = lid; i < lp.n; i += 256u) { labelled += mask_at(i, t); }
  let count = max(1.0, workgroup_sum(lid, labelled));
  var denom = count;
  if (!kind_is_row(seg.x)) { denom = count * f32(seg.z); }
  let gscale = loss_weights[t] / denom;

  var total = 0.0;
  for (var i = lid; i < lp.n; i += 256u) {
    let m = mask_at(i, t);
    if (cls) {
      total += class_row(t, i, seg, a, b, m, gscale, true);
    } else if (seg.x == 10u) {
      total += distill_row(i, seg, a, m, gscale, true);
    } else {
      total += elem_row(i, seg, m, gscale, true);
    }
  }
  let sum = workgroup_sum(lid, total);
  if (lid == 0u) { loss_out[t] = sum / denom; }
}

// perSampleLosses: invocations stride over the rows (grid-stride: up to 65535 workgroups of 64
// per task), gid.y = the task within this launch; loss_out is out [N, T] and gets the row's
// loss (the element kinds' divided by the width), 0 where m == 0. No gradient: weights and
// dlogits are bound to dummies and never touched.
@compute @workgroup_size(64)
fn loss_per_sample(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let t = lp.task0 + gid.y;
  let seg = lp.segments[2u * gid.y];
  let a = bitcast<f32>(lp.segments[2u * gid.y + 1u].x);
  let b = bitcast<f32>(lp.segments[2u * gid.y + 1u].y);
  for (var i = gid.x; i < lp.n; i += groups.x * 64u) {
    let m = mask_at(i, t);
    var l = 0.0;
    if (kind_is_class(seg.x)) {
      l = class_row(t, i, seg, a, b, m, 0.0, false);
    } else if (seg.x == 10u) {
      l = distill_row(i, seg, a, m, 0.0, false);
    } else {
      l = elem_row(i, seg, m, 0.0, false) / f32(seg.z);
    }
    loss_out[i * lp.tasks + t] = l;
  }
}
