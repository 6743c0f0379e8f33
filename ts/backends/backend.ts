/**
 * The Backend contract: the only door to compute. Every backend (reference, cpu, webgpu, cuda)
 * implements all of it; nothing above this file knows which backend runs.
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

import type { Conv2dGeometry, EmbeddingLayout, HeadLayout, LossLayout, MixtureLayout, Pool2dGeometry } from './layouts.js';

export * from './layouts.js';

/** Elementwise nonlinearities. `gelu` is the tanh approximation (as GPT-2 and WGSL can share). */
export type Activation = 'none' | 'relu' | 'gelu' | 'tanh' | 'sigmoid';
/** Every {@link Activation}, in a fixed order (the index is the code native kernels receive). */
export const ACTIVATIONS: readonly Activation[] = ['none', 'relu', 'gelu', 'tanh', 'sigmoid'];

/**
 * GradDrop's ε in P = ½(1 + Σ_t g_t / (Σ_t |g_t| + ε)) (see {@link Backend.gradDrop}): part of
 * the kernel's meaning, passed to every backend's kernel from here (never written again).
 */
export const GRADDROP_EPSILON = 1e-7;

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
 *   (ShapeError, ValueError, ConfigError, LabelError for a class index out of range), and so are
 *   a backend's own limits (the cuda mixture kernels take at most 32 tasks and 64 experts: a
 *   ShapeError naming the backend, the op and the limit); nothing is written when a call throws.
 *   KernelError and DeviceLostError report a failed device.
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
   * hash `dropoutKeep(seed, i, p)` (ts/core/random.ts), identical on every backend; y = x ⊙ mask
   * (y may alias x). Backward is `mul(dy, mask, dx)`.
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
   * unweighted) and dlogits [N, totalOut] (weighted). See LossLayout for the exact meaning of
   * each loss kind (LOSS_KINDS: softmax-ce, bce, mse, l1, smooth-l1, and the noise-robust class
   * kinds gce, sce, bootstrap-soft, bootstrap-hard, label-smoothing, and LwF's soft-target
   * distill, whose parameters the layout carries). A class kind's target is a class index; a
   * labelled row whose index is not an integer in [0, C) is a LabelError (on GPU backends, at the
   * next read or sync). distill's targets are a probability per logit (not checked: a NaN or a
   * negative one gives a NaN loss).
   */
  multiLoss(logits: Tensor, targets: Tensor, mask: Tensor | null, weights: Tensor, layout: LossLayout, losses: Tensor, dlogits: Tensor): void;
  /**
   * Each sample's loss per task, with multiLoss's meaning and no gradient: out[i, t] (=, out
   * [N, T]) is the term that multiLoss averages into losses[t] (for bce, mse, l1 and smooth-l1
   * the mean over the task's K columns, so it has L_t's scale), and 0 where mask[i, t] = 0, so
   * Σ_i out[i, t] / max(1, Σ_i mask[i, t]) = multiLoss's losses[t]. NaN in a row's logits or
   * targets makes that row's entry NaN, and only that one. The same label check as multiLoss
   * (LabelError; on GPU backends at the next read or sync). For small-loss sample selection
   * (co-teaching).
   */
  perSampleLosses(logits: Tensor, targets: Tensor, mask: Tensor | null, layout: LossLayout, out: Tensor): void;

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
   * dropoutKeep(seed, n·C + c, p); y [N, C, ...] = x ⊙ mask broadcast over each plane (y may
   * alias x). Backward is `scaleChannels(dy, mask, dx)`.
   */
  dropout2dForward(x: Tensor, y: Tensor, mask: Tensor, p: number, seed: number): void;
  /** out [N, C, ...] = x ⊙ s broadcast over each plane, s [N, C] (out may alias x). */
  scaleChannels(x: Tensor, s: Tensor, out: Tensor): void;

  /**
   * GradDrop (Chen et al. 2020) over per-task gradients g [T, M]: with
   * P = ½(1 + Σ_t g_t/(Σ_t|g_t| + ε)) per element (ε = {@link GRADDROP_EPSILON}) and
   * u = hashUniform(seed, element), out = Σ_t g_t·(leak + (1 − leak)·m_t) where m_t = 1 if (u < P and g_t > 0) or (u > P and g_t < 0), else 0. out [M] is written (=).
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

  // ---- embeddings (categorical inputs) ----------------------------------------------------
  /**
   * The embedding input layer's forward (see EmbeddingLayout): out [N, outWidth] (=) gets each
   * row's numeric columns of x [N, inputWidth], then each field's row of the table arena
   * [tableSize] picked by the index in the field's column. An index that is not an integer in
   * [0, vocab) (NaN included) is a LabelError: at the call on host backends (nothing written),
   * at the next read or sync on GPU backends (that lookup's values are 0).
   */
  embeddingForward(x: Tensor, table: Tensor, out: Tensor, layout: EmbeddingLayout): void;
  /**
   * The embedding layer's backward: dTable [tableSize] += each row's field segments of dOut
   * [N, outWidth] at the table rows x's indices pick (repeated indices add up; in row order, so
   * the result is deterministic). The numeric columns' gradient is not computed (inputs take
   * none). Bad indices as embeddingForward (on GPU backends skipped).
   */
  embeddingBackward(x: Tensor, dOut: Tensor, dTable: Tensor, layout: EmbeddingLayout): void;
  /**
   * Row-sparse SGD (momentum 0, weight decay 0) over the rows x's indices pick: for every
   * (sample, field) lookup, table[row] −= lr·dTable[row], then dTable[row] = 0 (=, in place). A
   * row picked twice is stepped once (the second visit finds a zero gradient), and afterwards the
   * gradient of every picked row is zero, so a table whose gradient only those rows held needs no
   * zeroing before the next backward. Rows no lookup picks are not read or written. Equal to
   * sgdStep (momentum 0, weight decay 0) over the table on the picked rows (the same f32
   * arithmetic on each backend). A bad index (see embeddingForward) is skipped: never addresses
   * memory, and raises nothing here (the forward over the same x already did). ValueError for an
   * lr that is not a finite number ≥ 0.
   */
  embeddingSgdStep(x: Tensor, table: Tensor, dTable: Tensor, layout: EmbeddingLayout, lr: number): void;

  // ---- optimizers: one call over a whole parameter arena ------------------------------------
  /** PyTorch SGD semantics (dampening 0): g += wd·p; m = μ·m + g; p −= lr·(nesterov ? g + μ·m : m). */
  sgdStep(p: Tensor, g: Tensor, m: Tensor, opts: SgdOptions): void;
  /** PyTorch AdamW semantics, bias-corrected with opts.step. */
  adamwStep(p: Tensor, g: Tensor, m: Tensor, v: Tensor, opts: AdamWOptions): void;
  /**
   * The gradient of the EWC penalty (Kirkpatrick et al. 2017) λ/2·Σ_i F_i(p_i − θ*_i)², added
   * to a gradient arena in one pass: g += λ·F ⊙ (p − θ*), over p, anchor θ*, fisher F and g of
   * one size (g is the only one written; it must not alias the others). λ is finite, ≥ 0.
   */
  ewcPenalty(p: Tensor, anchor: Tensor, fisher: Tensor, g: Tensor, lambda: number): void;

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
