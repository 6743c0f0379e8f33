/**
 * The Backend contract: the only door to compute. Every backend (reference, cpu, and later
 * webgpu and cuda) implements all of it; nothing above this file knows which backend runs.
 *
 * Conventions, shared by every kernel:
 * - Tensors are f32, dense, row-major. A 2-D tensor [rows, cols] is what every matrix op takes.
 * - Dense weights use the PyTorch layout W[out, in]: y = x·Wᵀ + b. Task heads pack their
 *   weights as consecutive per-task blocks W_t[out_t, in_t] (see HeadLayout), so with a shared
 *   input all heads form one [Σout, in] matrix and run as ONE GEMM.
 * - "= for activations, += for parameter gradients": kernels that write activations or
 *   activation gradients overwrite their output; kernels that write parameter gradients
 *   (dw, db) accumulate into them. A model zeroes its gradient arena once per step.
 * - Every method validates shapes (throwing ShapeError) before any kernel runs.
 */

import { packedOf, setPacked } from './packed.js';

/** Elementwise nonlinearities. `gelu` is the tanh approximation (as GPT-2 and WGSL can share). */
export type Activation = 'none' | 'relu' | 'gelu' | 'tanh' | 'sigmoid';
/** Every {@link Activation}, in a fixed order (the index is the code native kernels receive). */
export const ACTIVATIONS: readonly Activation[] = ['none', 'relu', 'gelu', 'tanh', 'sigmoid'];

/** Loss kinds understood by the fused multi-loss kernel. */
export type LossKind = 'softmax-ce' | 'bce' | 'mse' | 'l1' | 'smooth-l1';
/** Every {@link LossKind}, in a fixed order (the index is the code in {@link LossLayout.packed}). */
export const LOSS_KINDS: readonly LossKind[] = ['softmax-ce', 'bce', 'mse', 'l1', 'smooth-l1'];

/**
 * A backend-owned f32 tensor: dense, row-major, its storage on the backend's device (host
 * memory, a GPU buffer). Only the backend that made it may use it (another backend's tensor is
 * a ValueError); its data comes back only through {@link Backend.read}. It lives until
 * {@link Backend.free} (or the backend's dispose); a freed tensor, and every view of it, is
 * refused by every method with ValueError.
 */
export interface Tensor {
  /** Dimensions, outermost first (e.g. [rows, cols]). Fixed at creation. */
  readonly shape: readonly number[];
  /** Number of elements: the product of `shape`. */
  readonly size: number;
  /** The backend that owns the tensor. */
  readonly backend: Backend;
}

/** Options of {@link Backend.gemm}; alpha and beta must be finite (else ValueError). */
export interface GemmOptions {
  /** Use Aᵀ: A is stored [K, M] instead of [M, K]. Default false. */
  transA?: boolean;
  /** Use Bᵀ: B is stored [N, K] instead of [K, N] (a dense layer's W[out, in]). Default false. */
  transB?: boolean;
  /** Scale of the product. Default 1. */
  alpha?: number;
  /** Scale of the old C that is added (0 overwrites, 1 accumulates). Default 0. */
  beta?: number;
  /** Row vector of length cols(C) added to every row of C before the activation. */
  bias?: Tensor | null;
  /** Applied last. Default 'none'. */
  activation?: Activation;
}

/** Hyper-parameters of one {@link Backend.sgdStep} (PyTorch SGD, dampening 0). */
export interface SgdOptions {
  /** Learning rate, > 0. */
  lr: number;
  /** Default 0. */
  momentum?: number;
  /** L2 penalty added to the gradient (PyTorch SGD weight_decay). Default 0. */
  weightDecay?: number;
  /** Default false. */
  nesterov?: boolean;
}

/** Hyper-parameters of one {@link Backend.adamwStep} (PyTorch AdamW). */
export interface AdamWOptions {
  /** Learning rate, > 0. */
  lr: number;
  /** Default 0.9. */
  beta1?: number;
  /** Default 0.999. */
  beta2?: number;
  /** Default 1e-8. */
  eps?: number;
  /** Decoupled weight decay (PyTorch AdamW). Default 0.01. */
  weightDecay?: number;
  /** 1-based step count, for bias correction. */
  step: number;
}

/** Where the task heads read their inputs (see HeadLayout). */
export type HeadInput = 'shared' | 'segmented' | 'stacked';
const HEAD_INPUTS: readonly HeadInput[] = ['segmented', 'shared', 'stacked'];

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
 */
export class HeadLayout {
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
  /** [mode (0 segmented, 1 shared, 2 stacked), T, stride, then per task: inSize, outSize,
   * inOffset, outOffset, weightOffset].
   * A copy: the layout keeps its own (ts/backends/packed.ts), which cannot change once built. */
  get packed(): Int32Array {
    return packedOf(this).slice();
  }

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
 */
export class MixtureLayout {
  /** Number of tasks T (one gate each). */
  readonly tasks: number;
  /** Column of z (and g) where task t's gate block starts. */
  readonly gateOffsets: readonly number[];
  /** Width of z's rows: Σ_t k_t, the number of experts each task may use, summed. */
  readonly gateWidth: number;
  /** [T, E, width, expertStride, outStride, gateWidth, then per task: k_t, gateOffset_t,
   * then every task's expert indices in order].
   * A copy: the layout keeps its own (ts/backends/packed.ts), which cannot change once built. */
  get packed(): Int32Array {
    return packedOf(this).slice();
  }

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
 */
export class Conv2dGeometry {
  /** Output height: ⌊(h + 2·padding − kh)/stride⌋ + 1. */
  readonly outH: number;
  /** Output width: ⌊(w + 2·padding − kw)/stride⌋ + 1. */
  readonly outW: number;
  /** [C, H, W, outC, kh, kw, stride, padding, outH, outW] for native kernels.
   * A copy: the layout keeps its own (ts/backends/packed.ts), which cannot change once built. */
  get packed(): Int32Array {
    return packedOf(this).slice();
  }

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

/** A 2-D max-pool's geometry (NCHW, no padding): windows of size×size every `stride`. */
export class Pool2dGeometry {
  /** Output height: ⌊(h − size)/stride⌋ + 1. */
  readonly outH: number;
  /** Output width: ⌊(w − size)/stride⌋ + 1. */
  readonly outW: number;
  /** [C, H, W, size, stride, outH, outW].
   * A copy: the layout keeps its own (ts/backends/packed.ts), which cannot change once built. */
  get packed(): Int32Array {
    return packedOf(this).slice();
  }

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
  /** The task's loss. */
  kind: LossKind;
  /** Column offset and width of the task's logits in the [N, Σ width] logits tensor. */
  outOffset: number;
  /** Number of the task's logits: ≥ 2 for softmax-ce (the classes), ≥ 1 otherwise. */
  outWidth: number;
  /** Column offset of the task's targets in the [N, Σ tgtWidth] targets tensor. Targets
   * are a class index (as f32) for softmax-ce (tgtWidth 1), else one value per logit. */
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
 * and the gradient written is dlogits[:, seg_t] = weight_t · ∂L_t/∂z (zero where m = 0).
 */
export class LossLayout {
  /** Number of tasks T (the length of losses, weights, and the mask's rows). */
  readonly tasks: number;
  /** Width of the logits' rows: the end of the rightmost segment. */
  readonly totalOut: number;
  /** Width of the targets' rows: the end of the rightmost target segment. */
  readonly totalTgt: number;
  /** Per task: [kindIndex, outOffset, outWidth, tgtOffset, tgtWidth].
   * A copy: the layout keeps its own (ts/backends/packed.ts), which cannot change once built. */
  get packed(): Int32Array {
    return packedOf(this).slice();
  }

  /** Throws RangeError for no task, an unknown kind, or a segment too narrow for its kind. */
  constructor(
    /** One segment per task, in task order. */
    readonly segments: readonly LossSegment[],
  ) {
    if (segments.length === 0) throw new RangeError('LossLayout needs at least one task');
    this.tasks = segments.length;
    const p = new Int32Array(5 * this.tasks);
    let out = 0;
    let tgt = 0;
    segments.forEach((s, t) => {
      const kind = LOSS_KINDS.indexOf(s.kind);
      if (kind < 0) throw new RangeError(`unknown loss kind ${s.kind}`);
      if (!(s.outWidth >= 1) || (s.kind === 'softmax-ce' && s.outWidth < 2)) {
        throw new RangeError(`loss segment ${t}: width ${s.outWidth} is too small for ${s.kind}`);
      }
      const tgtWidth = s.kind === 'softmax-ce' ? 1 : s.outWidth;
      p.set([kind, s.outOffset, s.outWidth, s.tgtOffset, tgtWidth], 5 * t);
      out = Math.max(out, s.outOffset + s.outWidth);
      tgt = Math.max(tgt, s.tgtOffset + tgtWidth);
    });
    this.totalOut = out;
    this.totalTgt = tgt;
    setPacked(this, p);
    Object.freeze(this);
  }

  /** Columns of task t's targets: 1 for softmax-ce (the class index), else its outWidth. */
  tgtWidth(t: number): number {
    return packedOf(this)[5 * t + 4];
  }
}

/**
 * The compute contract every backend implements (made by {@link createBackend}). The rules, for
 * every method:
 * - Ownership: tensors belong to the backend that made them (alloc, upload, view); free what you
 *   allocated (views need no free; they die with their base), then dispose the backend. Use of
 *   a freed tensor, a double free, or another backend's tensor throws ValueError; any call after
 *   dispose throws BackendUnavailableError.
 * - "= for activations, += for parameter gradients": outputs that are activations or activation
 *   gradients are overwritten; parameter gradients (dw, db) accumulate, so zero them once per
 *   step (one `fill(grads, 0)` over a gradient arena).
 * - Errors before work: shapes, sizes, layouts and options are checked before any kernel runs
 *   (ShapeError, ValueError, ConfigError, LabelError for a class index out of range); nothing is
 *   written when a call throws. KernelError and DeviceLostError report a failed device.
 * - Asynchrony: GPU backends queue work and return at once; {@link Backend.read} is the only way
 *   data comes back (it waits for the work before it); {@link Backend.sync} waits for everything,
 *   {@link Backend.throttle} keeps the queue short in a loop that reads nothing.
 * - NaN in, NaN out: no kernel hides a NaN (relu, max-pool and the losses propagate it).
 * - Aliasing: outputs must not overlap inputs unless a method says they may.
 */
export interface Backend {
  /** 'reference', 'cpu', ... */
  readonly name: string;

  // ---- tensors ----------------------------------------------------------------------------
  /** A new zero-filled tensor. */
  alloc(shape: readonly number[]): Tensor;
  /** A new tensor holding a copy of `data` (length must equal the shape's product). */
  upload(data: Float32Array, shape: readonly number[]): Tensor;
  /** Copies `data` into `t` (whole tensor, or from element `offset` on). No allocation. */
  write(t: Tensor, data: Float32Array, offset?: number): void;
  /** Reads a tensor back. With `into`, fills and returns it instead of allocating. */
  read(t: Tensor, into?: Float32Array): Promise<Float32Array>;
  /** A tensor sharing `base`'s storage from element `offset` (a multiple of 64) on. */
  view(base: Tensor, offset: number, shape: readonly number[]): Tensor;
  /**
   * Releases a tensor's storage (views: no-op). Every later use of a freed tensor, or of a view
   * of it, throws ValueError on every backend, and so does freeing it twice.
   */
  free(t: Tensor): void;
  /** t[:] = value */
  fill(t: Tensor, value: number): void;
  /** dst[:] = src (same size). */
  copy(src: Tensor, dst: Tensor): void;

  // ---- matrix -----------------------------------------------------------------------------
  /** C = act(alpha·op(A)·op(B) + beta·C + bias). A, B, C are 2-D. */
  gemm(a: Tensor, b: Tensor, c: Tensor, opts?: GemmOptions): void;

  // ---- elementwise --------------------------------------------------------------------------
  /** y = act(x). x and y may be the same tensor. */
  activationForward(kind: Activation, x: Tensor, y: Tensor): void;
  /** dx = dy · act'(·). Uses y = act(x) for relu/tanh/sigmoid; gelu needs x. dx may alias dy. */
  activationBackward(kind: Activation, y: Tensor, dy: Tensor, dx: Tensor, x?: Tensor | null): void;
  /** db[j] += Σ_i dy[i, j]. dy is 2-D [N, C], db has C elements. */
  biasGrad(dy: Tensor, db: Tensor): void;
  /** out = a ⊙ b (same sizes; out may alias either). */
  mul(a: Tensor, b: Tensor, out: Tensor): void;
  /** out = a + b (same sizes; out may alias either): sums gradients that reach one tensor by several paths. */
  add(a: Tensor, b: Tensor, out: Tensor): void;
  /**
   * Inverted dropout: mask[i] = keep ? 1/(1−p) : 0 with keep decided by the counter-based
   * hash `dropoutKeep(seed, i, p)` (ts/core/random.ts), identical on every backend; y = x ⊙ mask.
   * Backward is `mul(dy, mask, dx)`.
   */
  dropoutForward(x: Tensor, y: Tensor, mask: Tensor, p: number, seed: number): void;

  // ---- fused multi-task ops ----------------------------------------------------------------
  /** y[:, seg_t] = act(x_t·W_tᵀ + b_t) for every task (x_t per the layout); ONE GEMM when shared. */
  headsForward(x: Tensor, w: Tensor, b: Tensor, y: Tensor, layout: HeadLayout, activation?: Activation): void;
  /**
   * Given dy = ∂L/∂y (already through the activation), accumulates dw += per-task dy_tᵀ·x_t and
   * db += Σ_rows dy_t; writes dx (if given): with sharedInput the summed Σ_t dy_t·W_t [N, D],
   * otherwise each task's segment. With sharedInput, `perTaskDx` [T, N, D] (if given) receives
   * each task's own dy_t·W_t, for gradient-based weighting methods.
   */
  headsBackward(
    x: Tensor,
    w: Tensor,
    dy: Tensor,
    dx: Tensor | null,
    dw: Tensor,
    db: Tensor,
    layout: HeadLayout,
    perTaskDx?: Tensor | null,
  ): void;
  /**
   * One pass over all tasks' logits [N, totalOut] and targets [N, totalTgt], with an optional
   * mask [N, T] (1 = labelled) and per-task weights [T]. Writes losses [T] (per-task means,
   * unweighted) and dlogits [N, totalOut] (weighted). See LossLayout for the exact meaning.
   */
  multiLoss(
    logits: Tensor,
    targets: Tensor,
    mask: Tensor | null,
    weights: Tensor,
    layout: LossLayout,
    losses: Tensor,
    dlogits: Tensor,
  ): void;

  // ---- image ops (NCHW) --------------------------------------------------------------------
  /** y = act(conv2d(x, w) + b): x [N, C, H, W], w [outC, C, kh, kw], b [outC], y [N, outC, outH, outW] (=). */
  conv2dForward(x: Tensor, w: Tensor, b: Tensor | null, y: Tensor, geometry: Conv2dGeometry, activation?: Activation): void;
  /**
   * From dy = ∂L/∂y (already through the activation): dw += ∂L/∂w, db += Σ dy per channel (if
   * given), dx = ∂L/∂x (=, if given).
   */
  conv2dBackward(x: Tensor, w: Tensor, dy: Tensor, dx: Tensor | null, dw: Tensor, db: Tensor | null, geometry: Conv2dGeometry): void;
  /**
   * y = max over each window of x (x [N, C, H, W], y [N, C, outH, outW], =); `argmax` (same
   * shape as y) receives each window's winner as its flat index h·W + w within the plane (the
   * first one on ties).
   */
  maxPool2dForward(x: Tensor, y: Tensor, argmax: Tensor, geometry: Pool2dGeometry): void;
  /** dx = 0 except dx[argmax] += dy (=): dx [N, C, H, W]. */
  maxPool2dBackward(dy: Tensor, argmax: Tensor, dx: Tensor, geometry: Pool2dGeometry): void;
  /**
   * Channel-wise (spatial) dropout: mask [N, C] = keep ? 1/(1−p) : 0 with keep =
   * dropoutKeep(seed, n·C + c, p); y [N, C, ...] = x ⊙ mask broadcast over each plane. Backward
   * is `scaleChannels(dy, mask, dx)`.
   */
  dropout2dForward(x: Tensor, y: Tensor, mask: Tensor, p: number, seed: number): void;
  /** out [N, C, ...] = x ⊙ s broadcast over each plane, s [N, C] (out may alias x). */
  scaleChannels(x: Tensor, s: Tensor, out: Tensor): void;

  /**
   * GradDrop (Chen et al. 2020) over per-task gradients g [T, M]: with P = ½(1 + Σ_t g_t/Σ_t|g_t|)
   * per element and u = hashUniform(seed, element), out = Σ_t g_t·(leak + (1 − leak)·m_t) where
   * m_t = 1 if (u < P and g_t > 0) or (u > P and g_t < 0), else 0. out [M] is written (=).
   */
  gradDrop(g: Tensor, out: Tensor, seed: number, leak: number): void;

  /**
   * Gated mixture forward (see MixtureLayout): g [N, gateWidth] = softmax of z per task block
   * (written, for backward); out [T·outStride] receives each task's N rows (=).
   */
  mixtureForward(x: Tensor, z: Tensor, g: Tensor, out: Tensor, layout: MixtureLayout): void;
  /**
   * Gated mixture backward, from dOut [T·outStride] (task t's N rows): dx [E·expertStride]
   * gets each expert's N rows Σ_t g·dOut_t (=, zero for unused experts), dz [N, gateWidth] the
   * gradient of the gate logits through the softmax (=).
   */
  mixtureBackward(x: Tensor, g: Tensor, dOut: Tensor, dx: Tensor, dz: Tensor, layout: MixtureLayout): void;

  // ---- optimizers: one call over a whole parameter arena ------------------------------------
  /** PyTorch SGD semantics (dampening 0): g += wd·p; m = μ·m + g; p −= lr·(nesterov ? g + μ·m : m). */
  sgdStep(p: Tensor, g: Tensor, m: Tensor, opts: SgdOptions): void;
  /** PyTorch AdamW semantics, bias-corrected with opts.step. */
  adamwStep(p: Tensor, g: Tensor, m: Tensor, v: Tensor, opts: AdamWOptions): void;

  /** Waits for queued work (GPU backends); a no-op on host backends. */
  sync(): Promise<void>;
  /**
   * Bounds queued work: when more than a few submits are still running on a GPU backend, waits
   * until all but those few are done (a training loop that never reads anything back would
   * otherwise queue an epoch of steps, and their staging memory). Returns at once on host
   * backends. Training loops await it once per step; it never waits for the newest work.
   */
  throttle(): Promise<void>;
  /**
   * Bytes of device memory this backend holds (every buffer it allocated, pooled ones included:
   * GPU backends keep freed tensors for reuse and give memory back only on dispose, so this is
   * also the peak), or null on host backends, whose tensors live in the process's heap (see
   * process.memoryUsage / resourceUsage().maxRSS).
   */
  deviceBytes(): number | null;
  /** Releases the backend's resources (thread pools, devices). */
  dispose(): void;
}
