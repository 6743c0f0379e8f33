// The fused weighted multi-loss: one launch for every task, one workgroup per task (the
// workgroup's 256 invocations stride over the batch rows, then reduce in workgroup memory).
//
// Shapes: logits/dlogits [N, total_out], targets [N, total_tgt], mask [N, T] (when has_mask),
// weights [T], losses [T]. Per task (packed layout words, see LossLayout): kind, out_offset,
// width, tgt_offset. With m = mask[i, t] (1 without a mask) and n_t = max(1, sum_i m):
//   softmax-ce  L_t = sum_i [m != 0] (logsumexp(z_i) - z_i[y_i]) / n_t
//   bce / mse / l1 / smooth-l1: the mean over the width K as well (see ts/backends/layouts.ts)
// dlogits[:, seg_t] = weight_t * dL_t/dz (0 where m = 0); losses[t] = L_t (unweighted).
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
  task0: u32,     // the first task of this launch (launches cover at most 56 tasks)
  pad1: u32,
  pad2: u32,
  // per task: kind, out_offset, width, tgt_offset (kind 0 softmax-ce, 1 bce, 2 mse, 3 l1, 4 smooth-l1)
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

fn report_bad_label(t: u32, i: u32, y: f32) {
  if (atomicCompareExchangeWeak(&loss_status[0], 0u, 1u).exchanged) {
    atomicStore(&loss_status[1], t);
    atomicStore(&loss_status[2], i);
    atomicStore(&loss_status[3], bitcast<u32>(y));
  }
}

@compute @workgroup_size(256)
fn loss_forward_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = lp.task0 + wg.x;
  let seg = lp.segments[wg.x];
  let kind = seg.x;
  let off = seg.y;
  let width = seg.z;
  let toff = seg.w;
  let ld = lp.total_out;
  let ldt = lp.total_tgt;

  var labelled = 0.0;
  for (var i = lid; i < lp.n; i += 256u) { labelled += mask_at(i, t); }
  let count = max(1.0, workgroup_sum(lid, labelled));
  var denom = count;
  if (kind != 0u) { denom = count * f32(width); }
  let gscale = loss_weights[t] / denom;

  var total = 0.0;
  for (var i = lid; i < lp.n; i += 256u) {
    let m = mask_at(i, t);
    let row = i * ld + off;
    if (kind == 0u) {
      let yv = loss_targets[i * ldt + toff];
      let y = u32(max(yv, 0.0));
      let valid = yv >= 0.0 && yv < f32(width) && floor(yv) == yv;
      if (m != 0.0 && !valid) { report_bad_label(t, i, yv); }
      var zmax = loss_logits[row];
      for (var j = 1u; j < width; j++) { zmax = max(zmax, loss_logits[row + j]); }
      var sum = 0.0;
      for (var j = 0u; j < width; j++) { sum += exp(loss_logits[row + j] - zmax); }
      let lse = zmax + log(sum);
      if (m != 0.0 && valid) { total += lse - loss_logits[row + y]; }
      for (var j = 0u; j < width; j++) {
        var g = 0.0;
        if (m != 0.0) { g = (exp(loss_logits[row + j] - lse) - select(0.0, 1.0, j == y)) * gscale; }
        loss_dlogits[row + j] = g;
      }
    } else {
      for (var j = 0u; j < width; j++) {
        let z = loss_logits[row + j];
        let yj = loss_targets[i * ldt + toff + j];
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
        loss_dlogits[row + j] = select(g * gscale, 0.0, m == 0.0);
      }
    }
  }
  let sum = workgroup_sum(lid, total);
  if (lid == 0u) { loss_out[t] = sum / denom; }
}
