/**
 * The packed layouts of the fused kernels: HeadLayout (task heads), MixtureLayout (gated
 * mixture of experts), Conv2dGeometry and Pool2dGeometry (image ops) and LossLayout (the fused
 * multi-loss). Each is validated once when built, frozen, and carries the Int32Array that the
 * native kernels and WGSL launchers decode (ts/backends/packed.ts; native/layouts.h).
 * Re-exported by backend.ts, so the public API names them from there as before.
 */

import { ConfigError, ValueError, describe, expectNumber } from '../errors.js';
import { packedOf, setPacked } from './packed.js';

/**
 * Loss kinds understood by the fused multi-loss kernel (see {@link LossLayout} for each one's
 * formula). gce .. label-smoothing are noise-robust losses of a softmax classifier, for noisy
 * labels; distill is the soft-target (knowledge distillation) loss of LwF.
 */
export type LossKind =
  | 'softmax-ce'
  | 'bce'
  | 'mse'
  | 'l1'
  | 'smooth-l1'
  | 'gce'
  | 'sce'
  | 'bootstrap-soft'
  | 'bootstrap-hard'
  | 'label-smoothing'
  | 'distill';
/** Every {@link LossKind}, in a fixed order (the index is the code in {@link LossLayout.packed}). */
export const LOSS_KINDS: readonly LossKind[] = [
  'softmax-ce',
  'bce',
  'mse',
  'l1',
  'smooth-l1',
  'gce',
  'sce',
  'bootstrap-soft',
  'bootstrap-hard',
  'label-smoothing',
  'distill',
];

/** Whether a loss kind reads one class index per sample over a softmax of its logits (softmax-ce and the noise-robust kinds). */
export function isClassLoss(kind: LossKind): boolean {
  const k = LOSS_KINDS.indexOf(kind);
  return kind === 'softmax-ce' || (k >= LOSS_KINDS.indexOf('gce') && k <= LOSS_KINDS.indexOf('label-smoothing'));
}

/**
 * Whether a loss kind reads a probability vector per sample (one target per logit) against a
 * softmax of its logits: distill. Like the class kinds, its loss is per row (no mean over the
 * width) and it needs at least 2 logits.
 */
export function isSoftTargetLoss(kind: LossKind): boolean {
  return kind === 'distill';
}

/** One parameter of a loss kind: its name in a loss name ('gce:q=0.7'), default and allowed range. */
export interface LossParameter {
  /** The name, as written in a loss name or a loss object ({ kind: 'gce', q: 0.7 }). */
  readonly name: string;
  /** The value when the loss name leaves it out. */
  readonly default: number;
  /** Smallest allowed value (excluded when `minExclusive`). */
  readonly min: number;
  /** Largest allowed value (included). */
  readonly max: number;
  /** Whether `min` itself is excluded. */
  readonly minExclusive?: boolean;
}

/**
 * The parameters each loss kind takes, in the order of its slots in {@link LossLayout.packed}
 * (at most two): GCE q (Zhang & Sabuncu 2018: q = 0.7); SCE α and β (Wang et al. 2019: their
 * CIFAR-10 setting α = 0.1, β = 1); bootstrapping β (Reed et al. 2015: soft 0.95, hard 0.8);
 * label smoothing ε (0.1); distillation temperature T (Li & Hoiem 2016 and van de Ven & Tolias
 * 2019: T = 2). The other kinds take none.
 */
export const LOSS_PARAMETERS: Readonly<Record<LossKind, readonly LossParameter[]>> = Object.freeze({
  'softmax-ce': [],
  bce: [],
  mse: [],
  l1: [],
  'smooth-l1': [],
  gce: [{ name: 'q', default: 0.7, min: 0, max: 1, minExclusive: true }],
  sce: [
    { name: 'alpha', default: 0.1, min: 0, max: 1000 },
    { name: 'beta', default: 1, min: 0, max: 1000 },
  ],
  'bootstrap-soft': [{ name: 'beta', default: 0.95, min: 0, max: 1 }],
  'bootstrap-hard': [{ name: 'beta', default: 0.8, min: 0, max: 1 }],
  'label-smoothing': [{ name: 'epsilon', default: 0.1, min: 0, max: 1 }],
  distill: [{ name: 'temperature', default: 2, min: 0, max: 1000, minExclusive: true }],
});

/**
 * A loss as named in a task spec or a {@link LossSegment}: a {@link LossKind} alone (its
 * parameters at their defaults) or followed by `:name=value,...` ('gce:q=0.7',
 * 'sce:alpha=0.1,beta=1'); see {@link LOSS_PARAMETERS}.
 */
export type LossName = LossKind | `${LossKind}:${string}`;

/** A loss as an object: its kind and any of its parameters by name ({ kind: 'gce', q: 0.5 }). */
export interface LossObject {
  /** The loss kind. */
  kind: LossKind;
  /** The kind's parameters ({@link LOSS_PARAMETERS}); the others are an error. */
  [parameter: string]: number | string;
}

/** A loss parsed by {@link parseLoss}: its kind, every parameter's value, and its canonical name. */
export interface ParsedLoss {
  /** The loss kind. */
  readonly kind: LossKind;
  /** The values of the kind's parameters, in {@link LOSS_PARAMETERS} order, defaults filled in. */
  readonly params: readonly number[];
  /** The canonical name: the kind, then every parameter written out ('gce:q=0.7'); the kind alone when it takes none. */
  readonly name: LossName;
}

/**
 * Parses a loss name ('gce', 'gce:q=0.5') or object ({ kind: 'gce', q: 0.5 }), filling in the
 * defaults. `where` names it in messages ("tasks[0].loss").
 * @throws ConfigError for an unknown kind or parameter, a repeated parameter or a malformed
 *   name; ValueError for a value that is not a number in the parameter's range.
 */
export function parseLoss(spec: LossName | LossObject, where = 'loss'): ParsedLoss {
  let kindName: unknown;
  const given: [string, unknown][] = [];
  if (typeof spec === 'string') {
    const colon = spec.indexOf(':');
    kindName = colon < 0 ? spec : spec.slice(0, colon);
    if (colon >= 0) {
      for (const part of spec.slice(colon + 1).split(',')) {
        const m = /^([A-Za-z]+)=(.+)$/.exec(part);
        if (!m) throw new ConfigError(`Expected name=value parameters after the colon in ${where} but received ${describe(spec)}`);
        given.push([m[1], m[2].trim() === '' ? NaN : Number(m[2])]);
      }
    }
  } else if (spec !== null && typeof spec === 'object' && !Array.isArray(spec)) {
    kindName = spec.kind;
    for (const [k, v] of Object.entries(spec)) if (k !== 'kind' && v !== undefined) given.push([k, v]);
  } else {
    throw new ConfigError(`Expected a loss name or { kind, ...parameters } for ${where} but received ${describe(spec)}`);
  }
  const kind = LOSS_KINDS.find((k) => k === kindName);
  if (kind === undefined) throw new ConfigError(`Expected one of ${LOSS_KINDS.join(', ')} for ${where} but received ${describe(kindName)}`);
  const table = LOSS_PARAMETERS[kind];
  const values = table.map((p) => p.default);
  const seen = new Set<string>();
  for (const [name, value] of given) {
    const i = table.findIndex((p) => p.name === name);
    if (i < 0) {
      const known = table.length > 0 ? table.map((p) => p.name).join(', ') : 'none';
      throw new ConfigError(`Unknown parameter ${JSON.stringify(name)} of loss ${kind} in ${where}; known parameters: ${known}`);
    }
    if (seen.has(name)) throw new ConfigError(`Parameter ${name} given twice in ${where}`);
    seen.add(name);
    const p = table[i];
    values[i] = expectNumber(`${where} parameter ${name}`, value, p.min, p.max);
    if (p.minExclusive && values[i] <= p.min) throw new ValueError(`Expected a number > ${p.min} for ${where} parameter ${name} but received ${values[i]}`);
  }
  const name = (table.length === 0 ? kind : `${kind}:${table.map((p, i) => `${p.name}=${values[i]}`).join(',')}`) as LossName;
  return Object.freeze({ kind, params: Object.freeze(values), name });
}

/** Where the task heads read their inputs (see HeadLayout). */
export type HeadInput = 'shared' | 'segmented' | 'stacked';
const HEAD_INPUTS: readonly HeadInput[] = ['segmented', 'shared', 'stacked'];

/**
 * What every layout shares: the packed Int32Array its native kernels take (each layout's doc
 * gives the format), fixed by the constructor and kept in ts/backends/packed.ts.
 */
export abstract class PackedLayout {
  /** A copy of the packed form: the layout's own cannot change once built. */
  get packed(): Int32Array {
    return packedOf(this).slice();
  }
}

/**
 * How the task heads' weights and activations are laid out. Task t maps an input of width
 * inSizes[t] to an output segment of width outSizes[t] of y [N, Σ outSizes]. The input is
 * - 'shared':    one x [N, D] read by every task (all inSizes equal D): ONE GEMM for all heads;
 * - 'segmented': x [N, Σ inSizes], task t reading its own column segment;
 * - 'stacked':   x [T, stride], task t's rows [N, inSizes[t]] starting at element t·stride
 *                (per-task representations, e.g. one tower per task; N·inSizes[t] ≤ stride and
 *                stride a multiple of 64, so each task's block can be a view).
 * Weights: blocks W_t[outSizes[t], inSizes[t]] stored one after another; biases [Σ outSizes].
 * dx has x's layout (summed over tasks when shared).
 *
 * Packed form (`packed`, what the native kernels take): [mode (0 segmented, 1 shared, 2 stacked), T, stride, then per task: inSize, outSize,
 * inOffset, outOffset, weightOffset].
 */
export class HeadLayout extends PackedLayout {
  /** Number of tasks T (heads). */
  readonly tasks: number;
  /** True for 'shared' input: every head reads the same x, and all heads run as one GEMM. */
  readonly sharedInput: boolean;
  /** Element offset of task t's input (its first row) in x. */
  readonly inOffsets: readonly number[];
  /** Column of y where task t's output segment starts. */
  readonly outOffsets: readonly number[];
  /** Element of the packed weights where task t's block W_t[outSizes[t], inSizes[t]] starts. */
  readonly weightOffsets: readonly number[];
  /** Width of x's rows: D (shared), Σ inSizes (segmented), or the per-task width (stacked). */
  readonly totalIn: number;
  /** Width of y's rows: Σ outSizes (also the length of the bias vector). */
  readonly totalOut: number;
  /** Elements of the packed weights: Σ inSizes[t]·outSizes[t]. */
  readonly weightSize: number;

  /** Throws RangeError for an unknown input kind, mismatched or non-positive sizes, or a bad stride. */
  constructor(
    /** Where the heads read their inputs: see {@link HeadInput}. */
    readonly input: HeadInput,
    /** Input width of each task's head (all equal unless 'segmented'). */
    readonly inSizes: readonly number[],
    /** Output width of each task's head (its number of logits). */
    readonly outSizes: readonly number[],
    /** 'stacked' only: elements between consecutive tasks' inputs. */
    readonly stride = 0,
  ) {
    super();
    if (!HEAD_INPUTS.includes(input)) throw new RangeError(`HeadLayout input must be shared, segmented or stacked, got ${input}`);
    if (inSizes.length !== outSizes.length || inSizes.length === 0) {
      throw new RangeError('HeadLayout needs one input and one output size per task, at least one task');
    }
    for (const s of [...inSizes, ...outSizes]) {
      if (!Number.isInteger(s) || s < 1) throw new RangeError(`HeadLayout sizes must be positive integers, got ${s}`);
    }
    if (input !== 'segmented' && inSizes.some((s) => s !== inSizes[0])) {
      throw new RangeError(`HeadLayout with ${input} input needs every input size equal`);
    }
    if (input === 'stacked' ? !(Number.isInteger(stride) && stride >= inSizes[0] && stride % 64 === 0) : stride !== 0) {
      throw new RangeError(`HeadLayout stride must be a multiple of 64 ≥ the input width for stacked input (0 otherwise), got ${stride}`);
    }
    this.tasks = inSizes.length;
    this.sharedInput = input === 'shared';
    const inOff: number[] = [];
    const outOff: number[] = [];
    const wOff: number[] = [];
    let i = 0;
    let o = 0;
    let w = 0;
    for (let t = 0; t < this.tasks; t++) {
      inOff.push(input === 'shared' ? 0 : input === 'stacked' ? t * stride : i);
      outOff.push(o);
      wOff.push(w);
      i += inSizes[t];
      o += outSizes[t];
      w += inSizes[t] * outSizes[t];
    }
    this.inOffsets = inOff;
    this.outOffsets = outOff;
    this.weightOffsets = wOff;
    this.totalIn = input === 'segmented' ? i : inSizes[0];
    this.totalOut = o;
    this.weightSize = w;
    const p = new Int32Array(3 + 5 * this.tasks);
    p[0] = HEAD_INPUTS.indexOf(input);
    p[1] = this.tasks;
    p[2] = stride;
    for (let t = 0; t < this.tasks; t++) {
      p.set([inSizes[t], outSizes[t], inOff[t], outOff[t], wOff[t]], 3 + 5 * t);
    }
    setPacked(this, p);
    Object.freeze(this);
  }

  /** Elements of x (and dx) for a batch of n rows. */
  inputSize(n: number): number {
    return this.input === 'stacked' ? this.tasks * this.stride : n * this.totalIn;
  }
}

/**
 * The gated mixture of experts (MMoE, CGC): E experts' outputs stacked in x [E·expertStride]
 * (expert e's rows [N, width] at e·expertStride), per-task gate logits z [N, Σ_t k_t] (task t's
 * block of k_t columns at gateOffsets[t], one per expert it may use, in the order of
 * expertsOf[t]), and task representations stacked in out [T·outStride] (task t's rows at
 * t·outStride):  g = softmax over each task's block of z;  out_t[i] = Σ_j g[i, j]·x_{e_j}[i].
 *
 * Packed form (`packed`, what the native kernels take): [T, E, width, expertStride, outStride, gateWidth, then per task: k_t, gateOffset_t,
 * then every task's expert indices in order].
 */
export class MixtureLayout extends PackedLayout {
  /** Number of tasks T (one gate each). */
  readonly tasks: number;
  /** Column of z (and g) where task t's gate block starts. */
  readonly gateOffsets: readonly number[];
  /** Width of z's rows: Σ_t k_t, the number of experts each task may use, summed. */
  readonly gateWidth: number;

  /** Throws RangeError for no task, non-positive sizes, strides that are not multiples of 64 ≥ width, or a task's expert list that is empty, repeats or is out of range. */
  constructor(
    /** For each task, the indices of the experts its gate mixes, in gate-column order. */
    readonly expertsOf: readonly (readonly number[])[],
    /** Number of experts E. */
    readonly experts: number,
    /** Width of every expert's output rows (and of each task's representation). */
    readonly width: number,
    /** Elements between consecutive experts' outputs in x: a multiple of 64, ≥ N·width. */
    readonly expertStride: number,
    /** Elements between consecutive tasks' representations in out: a multiple of 64, ≥ N·width. */
    readonly outStride: number,
  ) {
    super();
    const ints = [experts, width, expertStride, outStride];
    if (expertsOf.length === 0 || ints.some((v) => !Number.isInteger(v) || v < 1)) {
      throw new RangeError('MixtureLayout needs at least one task and positive integer sizes');
    }
    if (expertStride % 64 !== 0 || outStride % 64 !== 0 || expertStride < width || outStride < width) {
      throw new RangeError(`MixtureLayout strides must be multiples of 64 ≥ the width, got ${expertStride} and ${outStride}`);
    }
    this.tasks = expertsOf.length;
    const offsets: number[] = [];
    let z = 0;
    for (const list of expertsOf) {
      if (list.length === 0 || list.some((e) => !Number.isInteger(e) || e < 0 || e >= experts) || new Set(list).size !== list.length) {
        throw new RangeError(`MixtureLayout: every task needs distinct experts in [0, ${experts}), got [${list.join(', ')}]`);
      }
      offsets.push(z);
      z += list.length;
    }
    this.gateOffsets = offsets;
    this.gateWidth = z;
    const p = new Int32Array(6 + 2 * this.tasks + z);
    p.set([this.tasks, experts, width, expertStride, outStride, z]);
    expertsOf.forEach((list, t) => {
      p[6 + 2 * t] = list.length;
      p[7 + 2 * t] = offsets[t];
      p.set(list, 6 + 2 * this.tasks + offsets[t]);
    });
    setPacked(this, p);
    Object.freeze(this);
  }
}

/**
 * A 2-D convolution's geometry (NCHW, cross-correlation as in PyTorch): input [N, C, H, W],
 * weights [outC, C, kh, kw], output [N, outC, outH, outW] with
 * outH = ⌊(H + 2·padding − kh)/stride⌋ + 1 (outW likewise).
 *
 * Packed form (`packed`, what the native kernels take): [C, H, W, outC, kh, kw, stride, padding, outH, outW].
 */
export class Conv2dGeometry extends PackedLayout {
  /** Output height: ⌊(h + 2·padding − kh)/stride⌋ + 1. */
  readonly outH: number;
  /** Output width: ⌊(w + 2·padding − kw)/stride⌋ + 1. */
  readonly outW: number;

  /** Throws RangeError for non-positive sizes, negative padding, or a kernel that does not fit. */
  constructor(
    /** Input channels C. */
    readonly c: number,
    /** Input height H. */
    readonly h: number,
    /** Input width W. */
    readonly w: number,
    /** Output channels (filters). */
    readonly outC: number,
    /** Kernel height. */
    readonly kh: number,
    /** Kernel width. */
    readonly kw: number,
    /** Step between windows, in both directions. Default 1. */
    readonly stride = 1,
    /** Zeros added on every side of the input. Default 0. */
    readonly padding = 0,
  ) {
    super();
    for (const v of [c, h, w, outC, kh, kw, stride]) {
      if (!Number.isInteger(v) || v < 1) throw new RangeError(`Conv2dGeometry sizes must be positive integers, got ${v}`);
    }
    if (!Number.isInteger(padding) || padding < 0) throw new RangeError(`Conv2dGeometry padding must be a non-negative integer, got ${padding}`);
    this.outH = Math.floor((h + 2 * padding - kh) / stride) + 1;
    this.outW = Math.floor((w + 2 * padding - kw) / stride) + 1;
    if (this.outH < 1 || this.outW < 1) {
      throw new RangeError(`a ${kh}×${kw} kernel with padding ${padding} does not fit a ${h}×${w} input`);
    }
    setPacked(this, Int32Array.from([c, h, w, outC, kh, kw, stride, padding, this.outH, this.outW]));
    Object.freeze(this);
  }
}

/** A 2-D max-pool's geometry (NCHW, no padding): windows of size×size every `stride`. *
 * Packed form (`packed`, what the native kernels take): [C, H, W, size, stride, outH, outW].
 */
export class Pool2dGeometry extends PackedLayout {
  /** Output height: ⌊(h − size)/stride⌋ + 1. */
  readonly outH: number;
  /** Output width: ⌊(w − size)/stride⌋ + 1. */
  readonly outW: number;

  /** Throws RangeError for non-positive sizes or a window larger than the input. */
  constructor(
    /** Channels C. */
    readonly c: number,
    /** Input height H. */
    readonly h: number,
    /** Input width W. */
    readonly w: number,
    /** Window side. */
    readonly size: number,
    /** Step between windows. Default: the window side (non-overlapping). */
    readonly stride = size,
  ) {
    super();
    for (const v of [c, h, w, size, stride]) {
      if (!Number.isInteger(v) || v < 1) throw new RangeError(`Pool2dGeometry sizes must be positive integers, got ${v}`);
    }
    if (size > h || size > w) throw new RangeError(`a ${size}×${size} pool does not fit a ${h}×${w} input`);
    this.outH = Math.floor((h - size) / stride) + 1;
    this.outW = Math.floor((w - size) / stride) + 1;
    setPacked(this, Int32Array.from([c, h, w, size, stride, this.outH, this.outW]));
    Object.freeze(this);
  }
}

/** One task's part of the fused multi-loss. */
export interface LossSegment {
  /** The task's loss: a kind, with its parameters when it takes any ('gce:q=0.7'; see {@link LossName}). */
  kind: LossName;
  /** Column offset and width of the task's logits in the [N, Σ width] logits tensor. */
  outOffset: number;
  /** Number of the task's logits: ≥ 2 for the class kinds ({@link isClassLoss}: the classes) and distill, ≥ 1 otherwise. */
  outWidth: number;
  /** Column offset of the task's targets in the [N, Σ tgtWidth] targets tensor. Targets
   * are a class index (as f32) for the class kinds (tgtWidth 1), else one value per logit
   * (for distill a probability per class). */
  tgtOffset: number;
}

/**
 * The fused multi-loss layout: T tasks, their loss kinds and segments. Built once per model.
 *
 * Meaning (the reference is the spec): with mask m[i,t] ∈ {0,1} (all ones when absent) and
 * n_t = max(1, Σ_i m[i,t]),
 *  - softmax-ce: L_t = Σ_i m·(logsumexp(z_i) − z_i[y_i]) / n_t
 *  - bce:        L_t = Σ_i m·Σ_k (max(z,0) − z·y + log(1+e^{−|z|})) / (K·n_t)
 *  - mse:        L_t = Σ_i m·Σ_k (z − y)² / (K·n_t)
 *  - l1:         L_t = Σ_i m·Σ_k |z − y| / (K·n_t)
 *  - smooth-l1:  L_t = Σ_i m·Σ_k h(z − y) / (K·n_t), h(d) = ½d² if |d| < 1 else |d| − ½
 * and the noise-robust class kinds, L_t = Σ_i m·ℓ_i / n_t, with p = softmax(z_i) over the task's
 * C logits, y the class index and CE = −log p_y (shared/REFERENCES.md "Noisy labels"):
 *  - gce (q ∈ (0, 1]):          ℓ = (1 − p_y^q) / q                       (→ CE as q → 0; 1 − p_y at q = 1)
 *  - sce (α, β ≥ 0):            ℓ = α·CE + β·RCE, RCE = −Σ_k p_k·log t_k with log 0 clipped to
 *                               A = −4 for the one-hot t: RCE = −A·(1 − p_y) = 4(1 − p_y)
 *  - bootstrap-soft (β ∈ [0,1]): ℓ = −Σ_k (β·t_k + (1 − β)·p_k)·log p_k = β·CE + (1 − β)·H(p);
 *                               the gradient flows through both p's (entropy regularisation)
 *  - bootstrap-hard (β ∈ [0,1]): ℓ = β·CE + (1 − β)·(−log p_a), a = argmax_k z_k (the first
 *                               largest; a constant of z almost everywhere)
 *  - label-smoothing (ε ∈ [0,1]): ℓ = −Σ_k ((1 − ε)·t_k + ε/C)·log p_k
 * and the soft-target kind (LwF's distillation, Li & Hoiem 2016), L_t = Σ_i m·ℓ_i / n_t, with
 * targets q_i a probability vector over the task's C logits (tgtWidth = C) and p = softmax(z/T):
 *  - distill (T > 0):           ℓ = Σ_k q_k·log(q_k/p_k) − Σ_k q_k + 1 (0·log 0 = 0): KL(q‖p),
 *                               written so that it stays ≥ 0 and second order in q − p when the
 *                               f32 targets sum to 1 only up to rounding. It is −Σ_k q_k·log p_k
 *                               (van de Ven & Tolias's loss_fn_kd, NOT multiplied by T²) minus
 *                               the targets' entropy, so the gradient is the same:
 *                               ∂ℓ/∂z_j = (p_j·Σ_k q_k − q_j)/T. ℓ = 0 with zero gradient when
 *                               q = p (the model has not changed since q was recorded).
 * and the gradient written is dlogits[:, seg_t] = weight_t · ∂L_t/∂z (zero where m = 0).
 *
 * Packed form (`packed`, what the native kernels take): per task [kindIndex, outOffset,
 * outWidth, tgtOffset, tgtWidth] (5·T words), then per task the kind's parameters as the bits of
 * two f32 values (2·T words; in {@link LOSS_PARAMETERS} order, unused slots 0): 7·T words in all,
 * so task t's words stay at 5t .. 5t + 4 and its parameters sit at 5T + 2t and 5T + 2t + 1.
 */
export class LossLayout extends PackedLayout {
  /** Number of tasks T (the length of losses, weights, and the mask's rows). */
  readonly tasks: number;
  /** Width of the logits' rows: the end of the rightmost segment. */
  readonly totalOut: number;
  /** Width of the targets' rows: the end of the rightmost target segment. */
  readonly totalTgt: number;
  /** Each task's loss, parsed: kind, parameter values (as f32, what the kernels use) and canonical name. */
  readonly losses: readonly ParsedLoss[];

  /**
   * Throws RangeError for no task, a segment too narrow for its kind, or `totals` narrower than
   * the segments; ConfigError or ValueError (from {@link parseLoss}) for a bad loss name.
   */
  constructor(
    /** One segment per task, in task order. */
    readonly segments: readonly LossSegment[],
    /**
     * The logits' and targets' column counts when wider than the segments reach (default: the
     * segments' extent): a layout of some tasks of a wider model, e.g. one task's per-sample
     * losses read from the whole model's logits and targets.
     */
    totals?: { readonly out: number; readonly tgt: number },
  ) {
    super();
    if (segments.length === 0) throw new RangeError('LossLayout needs at least one task');
    this.tasks = segments.length;
    const T = this.tasks;
    const p = new Int32Array(7 * T);
    const params = new Float32Array(p.buffer, 4 * 5 * T, 2 * T);
    let out = 0;
    let tgt = 0;
    this.losses = segments.map((s, t) => {
      const parsed = parseLoss(s.kind, `loss segment ${t}`);
      const kind = LOSS_KINDS.indexOf(parsed.kind);
      const cls = isClassLoss(parsed.kind);
      if (!(s.outWidth >= 1) || ((cls || isSoftTargetLoss(parsed.kind)) && s.outWidth < 2)) {
        throw new RangeError(`loss segment ${t}: width ${s.outWidth} is too small for ${parsed.kind}`);
      }
      const tgtWidth = cls ? 1 : s.outWidth;
      p.set([kind, s.outOffset, s.outWidth, s.tgtOffset, tgtWidth], 5 * t);
      params.set(parsed.params, 2 * t);
      out = Math.max(out, s.outOffset + s.outWidth);
      tgt = Math.max(tgt, s.tgtOffset + tgtWidth);
      const f32 = parsed.params.map(Math.fround);
      return Object.freeze({ ...parsed, params: Object.freeze(f32) });
    });
    if (totals) {
      for (const [what, v, min] of [['out', totals.out, out], ['tgt', totals.tgt, tgt]] as const) {
        if (!Number.isInteger(v) || v < min) throw new RangeError(`LossLayout totals.${what}: expected an integer ≥ ${min} (the segments' extent) but received ${v}`);
      }
    }
    this.totalOut = totals?.out ?? out;
    this.totalTgt = totals?.tgt ?? tgt;
    setPacked(this, p);
    Object.freeze(this);
  }

  /** Columns of task t's targets: 1 for the class kinds (the class index), else its outWidth. */
  tgtWidth(t: number): number {
    return packedOf(this)[5 * t + 4];
  }
}

/** One categorical field of an {@link EmbeddingLayout}: the input column holding its index, its vocabulary and its embedding width. */
export interface EmbeddingField {
  /** Column of the input rows that holds the field's index (an integer stored as f32). */
  readonly column: number;
  /** Rows of the field's table: valid indices are the integers in [0, vocab). At most 2^24 (every index exact in f32). */
  readonly vocab: number;
  /** Width of the field's embedding vectors. */
  readonly dim: number;
}

/** The largest vocabulary of an embedding field: 2^24, below which every integer is exact in f32 (indices travel as f32 values). */
export const MAX_EMBEDDING_VOCAB = 2 ** 24;

/**
 * The embedding input layer's layout: input rows x [N, inputWidth] in which each field's column
 * holds an index (an integer as f32: exact below 2^24), every other column a numeric feature
 * passed through. One table arena holds every field's table, one after another: field f's row r
 * (dim_f values) starts at element tableOffsets[f] + r·dim_f, so fields may differ in vocab and
 * dim. The output rows out [N, outWidth] are the numeric columns first (in column order), then
 * each field's lookup in field order:
 *   out[i, j]                  = x[i, numericColumns[j]]                     (j < numericWidth)
 *   out[i, outOffsets[f] + d]  = table[tableOffsets[f] + x[i, column_f]·dim_f + d]
 * and backward adds dOut's field segments into the rows they came from (+=, repeated indices add
 * up). An index that is not an integer in [0, vocab_f) (NaN, −1, 2.5, vocab) is a LabelError: the
 * host backends throw it at the call, before writing anything; GPU backends write zeros for that
 * lookup, skip it in backward and throw at the next read or sync.
 *
 * Packed form (`packed`, what the native kernels take): [F, inputWidth, numericWidth, outWidth,
 * tableSize, then per field: column, vocab, dim, tableOffset, outOffset (5·F words), then the
 * numeric columns in order (numericWidth words)].
 */
export class EmbeddingLayout extends PackedLayout {
  /** Number of fields F. */
  readonly fields: readonly EmbeddingField[];
  /** The input columns passed through, in order (every column no field reads). */
  readonly numericColumns: readonly number[];
  /** Passed-through columns: the first numericWidth columns of out. */
  readonly numericWidth: number;
  /** Width of out's rows: numericWidth + Σ dim. */
  readonly outWidth: number;
  /** Elements of the table arena: Σ vocab·dim. */
  readonly tableSize: number;
  /** Element of the table where field f's table starts. */
  readonly tableOffsets: readonly number[];
  /** Column of out where field f's vector starts. */
  readonly outOffsets: readonly number[];

  /** Throws RangeError for no field, a column outside [0, inputWidth) or read twice, a vocab outside [1, 2^24], a dim < 1, or sizes beyond 2^31 − 1. */
  constructor(
    fields: readonly EmbeddingField[],
    /** Width of the input rows (numeric and index columns together). */
    readonly inputWidth: number,
  ) {
    super();
    const limit = 2 ** 31 - 1;
    if (!Number.isInteger(inputWidth) || inputWidth < 1 || inputWidth > limit) throw new RangeError(`EmbeddingLayout inputWidth must be a positive integer, got ${inputWidth}`);
    if (!Array.isArray(fields) || fields.length === 0) throw new RangeError('EmbeddingLayout needs at least one field');
    const used = new Set<number>();
    const tOff: number[] = [];
    const oOff: number[] = [];
    this.fields = fields.map((f, i) => {
      const { column, vocab, dim } = f;
      if (!Number.isInteger(column) || column < 0 || column >= inputWidth) throw new RangeError(`EmbeddingLayout field ${i}: column ${column} is not in [0, ${inputWidth})`);
      if (used.has(column)) throw new RangeError(`EmbeddingLayout field ${i}: column ${column} is read by another field`);
      used.add(column);
      if (!Number.isInteger(vocab) || vocab < 1 || vocab > MAX_EMBEDDING_VOCAB) throw new RangeError(`EmbeddingLayout field ${i}: vocab must be an integer in [1, 2^24], got ${vocab}`);
      if (!Number.isInteger(dim) || dim < 1 || dim > limit) throw new RangeError(`EmbeddingLayout field ${i}: dim must be a positive integer, got ${dim}`);
      return Object.freeze({ column, vocab, dim });
    });
    this.numericColumns = Array.from({ length: inputWidth }, (_, c) => c).filter((c) => !used.has(c));
    this.numericWidth = this.numericColumns.length;
    let table = 0;
    let out = this.numericWidth;
    for (const f of this.fields) {
      tOff.push(table);
      oOff.push(out);
      table += f.vocab * f.dim;
      out += f.dim;
    }
    if (table > limit || out > limit) throw new RangeError(`EmbeddingLayout: ${table} table elements and ${out} output columns; each must be at most 2^31 − 1`);
    this.tableSize = table;
    this.outWidth = out;
    this.tableOffsets = tOff;
    this.outOffsets = oOff;
    const F = this.fields.length;
    const p = new Int32Array(5 + 5 * F + this.numericWidth);
    p.set([F, inputWidth, this.numericWidth, out, table]);
    this.fields.forEach((f, i) => p.set([f.column, f.vocab, f.dim, tOff[i], oOff[i]], 5 + 5 * i));
    p.set(this.numericColumns, 5 + 5 * F);
    setPacked(this, p);
    Object.freeze(this);
  }
}
