/**
 * Shape checks for every Backend op, shared by all backends so that each op rejects bad input
 * the same way, with the same message, before any kernel runs. Each check returns the
 * dimensions the kernel needs.
 */
import { LabelError, ShapeError, ValueError, describe } from '../errors.js';
import {
  ACTIVATIONS,
  type Activation,
  type AdamWOptions,
  Conv2dGeometry,
  EmbeddingLayout,
  type GemmOptions,
  MixtureLayout,
  Pool2dGeometry,
  type SgdOptions, HeadLayout, LossLayout, type Tensor } from './backend.js';

/** Element count of a shape, validating that every dimension is a positive integer. */
export function shapeSize(shape: readonly number[], what = 'shape'): number {
  if (!Array.isArray(shape) || shape.length === 0) {
    throw new ShapeError(`Expected a non-empty array of dimensions for ${what} but received ${describe(shape)}`);
  }
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 1) {
      throw new ShapeError(`Expected positive integer dimensions for ${what} but received [${shape.join(', ')}]`);
    }
    n *= d;
  }
  return n;
}

// ---- tensor bookkeeping, the same on every backend ------------------------------------------

/** upload(data, shape): data is a Float32Array of the shape's size. Returns the size. */
export function checkUpload(data: unknown, shape: readonly number[]): number {
  const n = shapeSize(shape);
  if (!(data instanceof Float32Array)) throw new ValueError(`Expected a Float32Array for data but received ${describe(data)}`);
  if (data.length !== n) throw new ShapeError(`Expected ${n} elements for shape [${shape.join(', ')}] but received ${data.length}`);
  return n;
}

/** write(t, data, offset): data fits in a tensor of `size` elements from `offset` on. */
export function checkWrite(size: number, data: unknown, offset: number): void {
  if (!(data instanceof Float32Array)) throw new ValueError(`Expected a Float32Array for data but received ${describe(data)}`);
  if (!Number.isInteger(offset) || offset < 0 || offset + data.length > size) {
    throw new ShapeError(`Cannot write ${data.length} elements at offset ${offset} into a tensor of ${size} elements`);
  }
}

/** read(t, into): `into`, when given, has the tensor's `size` elements. */
export function checkReadInto(size: number, into: Float32Array | undefined): void {
  if (into !== undefined && into.length !== size) {
    throw new ShapeError(`Expected a Float32Array of ${size} elements for into but received ${into.length}`);
  }
}

/** view(base, offset, shape): 64-aligned and inside a base of `baseSize` elements. Returns the view's size. */
export function checkView(baseSize: number, offset: number, shape: readonly number[]): number {
  const n = shapeSize(shape, 'view shape');
  if (!Number.isInteger(offset) || offset < 0 || offset % 64 !== 0) {
    throw new ShapeError(`Expected a non-negative multiple of 64 for view offset but received ${offset}`);
  }
  if (offset + n > baseSize) throw new ShapeError(`A view of ${n} elements at offset ${offset} overruns its base of ${baseSize} elements`);
  return n;
}

function dims2(t: Tensor, what: string): [number, number] {
  if (t.shape.length !== 2) {
    throw new ShapeError(`Expected a 2-D tensor for ${what} but received shape [${t.shape.join(', ')}]`);
  }
  return [t.shape[0], t.shape[1]];
}

/** Rows and columns of a tensor viewed as a matrix: [N, rest...] → [N, Π rest]. */
export function asMatrix(t: Tensor, what: string): [number, number] {
  if (t.shape.length === 1) return [1, t.shape[0]];
  return [t.shape[0], t.size / t.shape[0]];
}

export function checkActivation(kind: unknown): Activation {
  if (!ACTIVATIONS.includes(kind as Activation)) {
    throw new ValueError(`Expected one of ${ACTIVATIONS.join(', ')} for activation but received ${describe(kind)}`);
  }
  return kind as Activation;
}

export interface GemmDims {
  m: number;
  n: number;
  k: number;
  transA: boolean;
  transB: boolean;
  alpha: number;
  beta: number;
  activation: Activation;
}

export function checkGemm(a: Tensor, b: Tensor, c: Tensor, opts: GemmOptions = {}): GemmDims {
  const transA = opts.transA ?? false;
  const transB = opts.transB ?? false;
  const [ar, ac] = dims2(a, 'gemm A');
  const [br, bc] = dims2(b, 'gemm B');
  const [m, n] = dims2(c, 'gemm C');
  const [am, ak] = transA ? [ac, ar] : [ar, ac];
  const [bk, bn] = transB ? [bc, br] : [br, bc];
  if (ak !== bk) throw new ShapeError(`gemm: inner dimensions differ: op(A) is ${am}×${ak}, op(B) is ${bk}×${bn}`);
  if (am !== m || bn !== n) {
    throw new ShapeError(`gemm: C is ${m}×${n} but op(A)·op(B) is ${am}×${bn}`);
  }
  if (opts.bias && opts.bias.size !== n) {
    throw new ShapeError(`gemm: bias has ${opts.bias.size} elements, expected ${n} (columns of C)`);
  }
  const alpha = opts.alpha ?? 1;
  const beta = opts.beta ?? 0;
  if (!Number.isFinite(alpha) || !Number.isFinite(beta)) {
    throw new ValueError(`gemm: alpha and beta must be finite, received ${alpha} and ${beta}`);
  }
  const activation = checkActivation(opts.activation ?? 'none');
  return { m, n, k: ak, transA, transB, alpha, beta, activation };
}

export function checkSameSize(what: string, ...ts: (Tensor | null | undefined)[]): number {
  const n = ts[0]!.size;
  for (const t of ts) {
    if (t && t.size !== n) {
      throw new ShapeError(`${what}: tensors differ in size (${ts.map((x) => x?.size ?? '-').join(' vs ')})`);
    }
  }
  return n;
}

export function checkBiasGrad(dy: Tensor, db: Tensor): [number, number] {
  const [rows, cols] = asMatrix(dy, 'biasGrad dy');
  if (db.size !== cols) throw new ShapeError(`biasGrad: db has ${db.size} elements, expected ${cols}`);
  return [rows, cols];
}

export function checkDropout(x: Tensor, y: Tensor, mask: Tensor, p: number, seed: number): number {
  if (!(p >= 0 && p < 1)) throw new ValueError(`Expected a number in [0, 1) for dropout p but received ${p}`);
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new ValueError(`Expected a uint32 for dropout seed but received ${seed}`);
  }
  return checkSameSize('dropoutForward', x, y, mask);
}

/** Batch size N of a heads op (the rows of y), after checking every tensor against the layout. */
export function checkHeads(
  x: Tensor,
  w: Tensor,
  b: Tensor,
  y: Tensor,
  layout: HeadLayout,
  perTaskDx?: Tensor | null,
): number {
  if (!(layout instanceof HeadLayout)) throw new ValueError('Expected a HeadLayout for layout');
  const [n, yout] = dims2(y, 'heads y (or dy)');
  if (yout !== layout.totalOut) throw new ShapeError(`heads: y has ${yout} columns, layout expects ${layout.totalOut}`);
  if (layout.input === 'stacked') {
    if (x.size !== layout.inputSize(n)) {
      throw new ShapeError(`heads: stacked x has ${x.size} elements, layout expects ${layout.tasks}×${layout.stride}`);
    }
    if (n * layout.totalIn > layout.stride) {
      throw new ShapeError(`heads: ${n} rows of ${layout.totalIn} do not fit the stacked stride ${layout.stride}`);
    }
  } else {
    const [xn, xin] = dims2(x, 'heads x');
    if (xin !== layout.totalIn) throw new ShapeError(`heads: x has ${xin} columns, layout expects ${layout.totalIn}`);
    if (xn !== n) throw new ShapeError(`heads: x has ${xn} rows but y has ${n}`);
  }
  if (w.size !== layout.weightSize) throw new ShapeError(`heads: w has ${w.size} elements, layout expects ${layout.weightSize}`);
  if (b.size !== layout.totalOut) throw new ShapeError(`heads: b has ${b.size} elements, layout expects ${layout.totalOut}`);
  if (perTaskDx) {
    if (!layout.sharedInput) throw new ShapeError('heads: perTaskDx needs a layout with a shared input');
    if (perTaskDx.size !== layout.tasks * n * layout.totalIn) {
      throw new ShapeError(
        `heads: perTaskDx has ${perTaskDx.size} elements, expected ${layout.tasks}×${n}×${layout.totalIn}`,
      );
    }
  }
  return n;
}

/** Batch size N of a loss call (`op`): logits, targets and mask checked against the layout. */
function checkLossInputs(op: string, logits: Tensor, targets: Tensor, mask: Tensor | null, layout: LossLayout): number {
  if (!(layout instanceof LossLayout)) throw new ValueError('Expected a LossLayout for layout');
  const [n, out] = dims2(logits, `${op} logits`);
  const [tn, tgt] = dims2(targets, `${op} targets`);
  if (out !== layout.totalOut) throw new ShapeError(`${op}: logits have ${out} columns, layout expects ${layout.totalOut}`);
  if (tgt !== layout.totalTgt) throw new ShapeError(`${op}: targets have ${tgt} columns, layout expects ${layout.totalTgt}`);
  if (tn !== n) throw new ShapeError(`${op}: logits have ${n} rows but targets have ${tn}`);
  if (mask && mask.size !== n * layout.tasks) {
    throw new ShapeError(`${op}: mask has ${mask.size} elements, expected ${n}×${layout.tasks}`);
  }
  return n;
}

/** Batch size N of a multiLoss call, after checking every tensor against the layout. */
export function checkMultiLoss(
  logits: Tensor,
  targets: Tensor,
  mask: Tensor | null,
  weights: Tensor,
  layout: LossLayout,
  losses: Tensor,
  dlogits: Tensor,
): number {
  const n = checkLossInputs('multiLoss', logits, targets, mask, layout);
  if (weights.size !== layout.tasks) throw new ShapeError(`multiLoss: weights has ${weights.size} elements, expected ${layout.tasks}`);
  if (losses.size !== layout.tasks) throw new ShapeError(`multiLoss: losses has ${losses.size} elements, expected ${layout.tasks}`);
  if (dlogits.size !== logits.size) throw new ShapeError(`multiLoss: dlogits has ${dlogits.size} elements, expected ${logits.size}`);
  return n;
}

/** Batch size N of a perSampleLosses call: as multiLoss's inputs, and out [N, T]. */
export function checkPerSampleLosses(logits: Tensor, targets: Tensor, mask: Tensor | null, layout: LossLayout, out: Tensor): number {
  const n = checkLossInputs('perSampleLosses', logits, targets, mask, layout);
  if (out.size !== n * layout.tasks) throw new ShapeError(`perSampleLosses: out has ${out.size} elements, expected ${n}×${layout.tasks}`);
  return n;
}

export function checkOptimizerNumber(name: string, v: number | undefined, dflt: number, min = 0, max = Infinity): number {
  const x = v ?? dflt;
  if (typeof x !== 'number' || !Number.isFinite(x) || x < min || x > max) {
    throw new ValueError(`Expected a finite number in [${min}, ${max}] for ${name} but received ${describe(x)}`);
  }
  return x;
}

/** SGD hyperparameters with their defaults filled in (see SgdOptions). */
export interface SgdParams {
  lr: number;
  momentum: number;
  weightDecay: number;
  nesterov: boolean;
}

/** SGD hyperparameters with defaults filled in, after checking them. */
export function checkSgd(opts: SgdOptions): SgdParams {
  return {
    lr: checkOptimizerNumber('lr', opts.lr, NaN),
    momentum: checkOptimizerNumber('momentum', opts.momentum, 0),
    weightDecay: checkOptimizerNumber('weightDecay', opts.weightDecay, 0),
    nesterov: opts.nesterov ?? false,
  };
}

/** An AdamW β in [0, 1): at 1 the bias correction 1 − β^t is 0. */
function checkBeta(name: string, v: number | undefined, dflt: number): number {
  const x = checkOptimizerNumber(name, v, dflt, 0, 1);
  if (x === 1) throw new ValueError(`Expected a finite number in [0, 1) for ${name} but received 1`);
  return x;
}

/** AdamW hyperparameters with defaults filled in, after checking them. */
export function checkAdamW(opts: AdamWOptions): Required<AdamWOptions> {
  return {
    lr: checkOptimizerNumber('lr', opts.lr, NaN),
    beta1: checkBeta('beta1', opts.beta1, 0.9),
    beta2: checkBeta('beta2', opts.beta2, 0.999),
    eps: checkOptimizerNumber('eps', opts.eps, 1e-8),
    weightDecay: checkOptimizerNumber('weightDecay', opts.weightDecay, 0.01),
    step: checkOptimizerNumber('step', opts.step, NaN, 1),
  };
}

/**
 * AdamW's per-step constants, formed once, in double, for every backend (in f32, 1 − β2 at
 * β2 = 0.99999 is off by 6.8e-4): the kernels compute, elementwise,
 *   p = decay·p;  m = beta1·m + oneMinusBeta1·g;  v = beta2·v + oneMinusBeta2·g²;
 *   p −= stepSize·m / (sqrt(v·invBias2) + eps)
 * which is PyTorch's AdamW with stepSize = lr/(1 − β1^t) and invBias2 = 1/(1 − β2^t).
 */
export interface AdamWCoefficients {
  decay: number;
  beta1: number;
  oneMinusBeta1: number;
  beta2: number;
  oneMinusBeta2: number;
  eps: number;
  stepSize: number;
  invBias2: number;
}

/** AdamW options checked, then turned into the constants every backend's kernel takes. */
export function adamwCoefficients(opts: AdamWOptions): AdamWCoefficients {
  const { lr, beta1, beta2, eps, weightDecay, step } = checkAdamW(opts);
  return {
    decay: 1 - lr * weightDecay,
    beta1,
    oneMinusBeta1: 1 - beta1,
    beta2,
    oneMinusBeta2: 1 - beta2,
    eps,
    stepSize: lr / (1 - Math.pow(beta1, step)),
    invBias2: 1 / (1 - Math.pow(beta2, step)),
  };
}

/** [T, M] of a gradDrop call, after checking the tensors and numbers. */
export function checkGradDrop(g: Tensor, out: Tensor, seed: number, leak: number): [number, number] {
  const [T, M] = dims2(g, 'gradDrop g');
  if (out.size !== M) throw new ShapeError(`gradDrop: out has ${out.size} elements, expected ${M} (columns of g)`);
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new ValueError(`Expected a uint32 for gradDrop seed but received ${seed}`);
  if (!(leak >= 0 && leak <= 1)) throw new ValueError(`Expected a number in [0, 1] for gradDrop leak but received ${leak}`);
  return [T, M];
}

/** Batch size N of a mixture op (the rows of z), after checking every tensor against the layout. */
export function checkMixture(x: Tensor, z: Tensor, g: Tensor, out: Tensor, layout: MixtureLayout): number {
  if (!(layout instanceof MixtureLayout)) throw new ValueError('Expected a MixtureLayout for layout');
  const [n, zw] = dims2(z, 'mixture z (or dz)');
  if (zw !== layout.gateWidth) throw new ShapeError(`mixture: z has ${zw} columns, layout expects ${layout.gateWidth}`);
  if (g.size !== z.size) throw new ShapeError(`mixture: g has ${g.size} elements, expected ${z.size} (as z)`);
  if (x.size !== layout.experts * layout.expertStride) {
    throw new ShapeError(`mixture: x has ${x.size} elements, layout expects ${layout.experts}×${layout.expertStride}`);
  }
  if (out.size !== layout.tasks * layout.outStride) {
    throw new ShapeError(`mixture: out has ${out.size} elements, layout expects ${layout.tasks}×${layout.outStride}`);
  }
  if (n * layout.width > Math.min(layout.expertStride, layout.outStride)) {
    throw new ShapeError(`mixture: ${n} rows of ${layout.width} do not fit the strides ${layout.expertStride} / ${layout.outStride}`);
  }
  return n;
}

/** Batch size N of a conv2d op, after checking every tensor against the geometry. */
export function checkConv2d(
  x: Tensor,
  w: Tensor,
  b: Tensor | null,
  y: Tensor,
  geo: Conv2dGeometry,
  dx?: Tensor | null,
): number {
  if (!(geo instanceof Conv2dGeometry)) throw new ValueError('Expected a Conv2dGeometry for geometry');
  const inPlane = geo.c * geo.h * geo.w;
  const n = x.shape[0];
  if (x.size !== n * inPlane) throw new ShapeError(`conv2d: x has ${x.size} elements, expected ${n}×${geo.c}×${geo.h}×${geo.w}`);
  if (y.size !== n * geo.outC * geo.outH * geo.outW) {
    throw new ShapeError(`conv2d: y (or dy) has ${y.size} elements, expected ${n}×${geo.outC}×${geo.outH}×${geo.outW}`);
  }
  if (w.size !== geo.outC * geo.c * geo.kh * geo.kw) {
    throw new ShapeError(`conv2d: w has ${w.size} elements, expected ${geo.outC}×${geo.c}×${geo.kh}×${geo.kw}`);
  }
  if (b && b.size !== geo.outC) throw new ShapeError(`conv2d: b has ${b.size} elements, expected ${geo.outC}`);
  if (dx && dx.size !== x.size) throw new ShapeError(`conv2d: dx has ${dx.size} elements, expected ${x.size} (as x)`);
  return n;
}

/** Batch size N of a max-pool op, after checking every tensor against the geometry. */
export function checkPool2d(x: Tensor, y: Tensor, argmax: Tensor, geo: Pool2dGeometry): number {
  if (!(geo instanceof Pool2dGeometry)) throw new ValueError('Expected a Pool2dGeometry for geometry');
  const n = x.shape[0];
  if (x.size !== n * geo.c * geo.h * geo.w) throw new ShapeError(`maxPool2d: x (or dx) has ${x.size} elements, expected ${n}×${geo.c}×${geo.h}×${geo.w}`);
  const outSize = n * geo.c * geo.outH * geo.outW;
  if (y.size !== outSize) throw new ShapeError(`maxPool2d: y (or dy) has ${y.size} elements, expected ${n}×${geo.c}×${geo.outH}×${geo.outW}`);
  if (argmax.size !== outSize) throw new ShapeError(`maxPool2d: argmax has ${argmax.size} elements, expected ${outSize}`);
  return n;
}

/** [rows (N·C), plane] of a channel-wise op: x [N, C, ...] with s [N, C]. */
export function checkChannels(x: Tensor, s: Tensor, out: Tensor): [number, number] {
  if (x.shape.length < 3) throw new ShapeError(`Expected a tensor [N, C, ...] for channel-wise x but received [${x.shape.join(', ')}]`);
  const rows = x.shape[0] * x.shape[1];
  if (s.size !== rows) throw new ShapeError(`channel scale has ${s.size} elements, expected ${x.shape[0]}×${x.shape[1]}`);
  if (out.size !== x.size) throw new ShapeError(`channel-wise out has ${out.size} elements, expected ${x.size}`);
  return [rows, x.size / rows];
}

/** Batch size N of an embedding op (the rows of x), after checking x [N, inputWidth], the table arena and out (or dOut; none for embeddingSgdStep) [N, outWidth] against the layout. */
export function checkEmbedding(x: Tensor, table: Tensor, out: Tensor | null, layout: EmbeddingLayout, op: string): number {
  if (!(layout instanceof EmbeddingLayout)) throw new ValueError(`Expected an EmbeddingLayout for ${op} layout`);
  const [n, w] = dims2(x, `${op} x`);
  if (w !== layout.inputWidth) throw new ShapeError(`${op}: x has ${w} columns, the layout reads ${layout.inputWidth}`);
  const [rows, cols] = out ? dims2(out, `${op} ${op === 'embeddingForward' ? 'out' : 'dOut'}`) : [n, layout.outWidth];
  if (rows !== n || cols !== layout.outWidth) {
    throw new ShapeError(`${op}: ${op === 'embeddingForward' ? 'out' : 'dOut'} is ${rows}×${cols}, expected ${n}×${layout.outWidth} (x's rows × the layout's outWidth)`);
  }
  if (table.size !== layout.tableSize) throw new ShapeError(`${op}: the table has ${table.size} elements, the layout expects ${layout.tableSize} (Σ vocab·dim)`);
  return n;
}

/** Whether an embedding index (an f32 value) picks a row of a table of `vocab` rows: an integer in [0, vocab); NaN never does. */
export function isEmbeddingIndex(y: number, vocab: number): boolean {
  return y >= 0 && y < vocab && Math.floor(y) === y;
}

/** The LabelError of a bad embedding index: field f's value y in row `row` (y NaN when unknown, as on GPU backends' device words). */
export function embeddingIndexError(op: string, layout: EmbeddingLayout, f: number, row: number, y: number): LabelError {
  const field = layout.fields[f];
  const where = field ? `field ${f} (input column ${field.column})` : `field ${f}`;
  const range = field ? `[0, ${field.vocab})` : 'the range of its vocabulary';
  return new LabelError(`${op}: ${where} sample ${row} has index ${y}, expected an integer in ${range} (an out-of-vocabulary value needs an OOV slot)`);
}
