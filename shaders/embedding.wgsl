// The embedding input layer on the webgpu backend (EmbeddingLayout in ts/backends/layouts.ts;
// the reference backend is the spec).
//
// Shapes: x [N, W] (numeric columns and one index column per field, integers as f32); the table
// arena [Σ V·D] (field f's row r at tableOffset_f + r·D_f); out, dOut [N, O] (the numeric
// columns first, then each field's vector).
//   embedding_forward   out[i, j] = x[i, col_j] for a numeric column j, else the table value its
//                       field's index picks (=); one invocation per out element
//   embedding_backward  dTable[row + d] += dOut[i, j] (+=); one invocation per embedded out
//                       column j = (field f, d), which OWNS column d of field f's table: it scans
//                       the N rows in order, so no two invocations write one element and the adds
//                       run in the reference's order (bit-identical to it). WGSL has no float
//                       atomics; this per-(field, d) ownership loop needs none (and no CAS loop).
//   embedding_sgd_step  the same ownership: at the row x[i, col] picks, table[row + d] −= lr ·
//                       dTable[row + d], then dTable[row + d] = 0 (in place; a repeated row finds a
//                       zero gradient and is stepped once; p − lr·g as optim.wgsl's SGD writes it).
//                       A bad index is skipped silently (the forward over the same x reported it).
// An index that is not an integer in [0, V_f) (NaN included, found from its bits) claims the
// status words: status[0] = 2 (the embedding's code), status[1] = field, status[2] = row,
// status[3] = the value's bits; forward writes 0 for that lookup, backward skips it, and the
// host throws LabelError at its next read or sync.
//
// The layout table (u32, uploaded once per layout and bound read-only): per out column j four
// words [input column, field + 1 (0: numeric), tableOffset_f + d, D_f], then at 4·O + f field
// f's vocabulary V_f.

//#include index.wgsl
//#include nan.wgsl

struct EmbeddingParams {
  n: u32,
  total: u32,   // invocations: N·O (forward) or the embedded columns O − numeric (backward)
  width: u32,   // W
  out_width: u32,
  numeric: u32,
}

@group(0) @binding(0) var<storage, read> fwd_x: array<f32>;
@group(0) @binding(1) var<storage, read> fwd_table: array<f32>;
@group(0) @binding(2) var<storage, read_write> fwd_out: array<f32>;
@group(0) @binding(3) var<storage, read> fwd_layout: array<u32>;
@group(0) @binding(4) var<storage, read_write> fwd_status: array<atomic<u32>>;
@group(0) @binding(5) var<uniform> fwd_p: EmbeddingParams;

fn valid_index(y: f32, vocab: u32) -> bool {
  return !is_nan(y) && y >= 0.0 && y < f32(vocab) && y == floor(y);
}

@compute @workgroup_size(256)
fn embedding_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let e = linear_id(wg, nwg, lid);
  let p = fwd_p;
  if (e >= p.total) { return; }
  let i = e / p.out_width;
  let j = e - i * p.out_width;
  let col = fwd_layout[4u * j];
  let field = fwd_layout[4u * j + 1u];
  let v = fwd_x[i * p.width + col];
  if (field == 0u) {
    fwd_out[e] = v;
    return;
  }
  if (!valid_index(v, fwd_layout[4u * p.out_width + field - 1u])) {
    if (atomicCompareExchangeWeak(&fwd_status[0], 0u, 2u).exchanged) {
      atomicStore(&fwd_status[1], field - 1u);
      atomicStore(&fwd_status[2], i);
      atomicStore(&fwd_status[3], bitcast<u32>(v));
    }
    fwd_out[e] = 0.0;
    return;
  }
  fwd_out[e] = fwd_table[fwd_layout[4u * j + 2u] + u32(v) * fwd_layout[4u * j + 3u]];
}

@group(0) @binding(0) var<storage, read> bwd_x: array<f32>;
@group(0) @binding(1) var<storage, read> bwd_dout: array<f32>;
@group(0) @binding(2) var<storage, read_write> bwd_dtable: array<f32>;
@group(0) @binding(3) var<storage, read> bwd_layout: array<u32>;
@group(0) @binding(4) var<storage, read_write> bwd_status: array<atomic<u32>>;
@group(0) @binding(5) var<uniform> bwd_p: EmbeddingParams;

@compute @workgroup_size(256)
fn embedding_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let c = linear_id(wg, nwg, lid);
  let p = bwd_p;
  if (c >= p.total) { return; }
  let j = p.numeric + c;
  let col = bwd_layout[4u * j];
  let field = bwd_layout[4u * j + 1u];
  let base = bwd_layout[4u * j + 2u];
  let dim = bwd_layout[4u * j + 3u];
  let vocab = bwd_layout[4u * p.out_width + field - 1u];
  for (var i = 0u; i < p.n; i = i + 1u) {
    let v = bwd_x[i * p.width + col];
    if (!valid_index(v, vocab)) {
      if (atomicCompareExchangeWeak(&bwd_status[0], 0u, 2u).exchanged) {
        atomicStore(&bwd_status[1], field - 1u);
        atomicStore(&bwd_status[2], i);
        atomicStore(&bwd_status[3], bitcast<u32>(v));
      }
      continue;
    }
    let t = base + u32(v) * dim;
    bwd_dtable[t] = bwd_dtable[t] + bwd_dout[i * p.out_width + j];
  }
}

struct EmbeddingSgdParams {
  n: u32,
  total: u32,   // the embedded columns O − numeric
  width: u32,
  out_width: u32,
  numeric: u32,
  lr: f32,
}

@group(0) @binding(0) var<storage, read> sgd_x: array<f32>;
@group(0) @binding(1) var<storage, read_write> sgd_table: array<f32>;
@group(0) @binding(2) var<storage, read_write> sgd_dtable: array<f32>;
@group(0) @binding(3) var<storage, read> sgd_layout: array<u32>;
@group(0) @binding(4) var<uniform> sgd_p: EmbeddingSgdParams;

@compute @workgroup_size(256)
fn embedding_sgd_step(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let c = linear_id(wg, nwg, lid);
  let p = sgd_p;
  if (c >= p.total) { return; }
  let j = p.numeric + c;
  let col = sgd_layout[4u * j];
  let field = sgd_layout[4u * j + 1u];
  let base = sgd_layout[4u * j + 2u];
  let dim = sgd_layout[4u * j + 3u];
  let vocab = sgd_layout[4u * p.out_width + field - 1u];
  for (var i = 0u; i < p.n; i = i + 1u) {
    let v = sgd_x[i * p.width + col];
    if (!valid_index(v, vocab)) { continue; }
    let t = base + u32(v) * dim;
    sgd_table[t] = sgd_table[t] - p.lr * sgd_dtable[t];
    sgd_dtable[t] = 0.0;
  }
}
