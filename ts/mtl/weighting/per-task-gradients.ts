/**
 * The one mechanism behind every gradient-based weighting method: per-task gradients of the
 * shared part of the network, their T×T Gram matrix (computed on the backend, the only thing
 * read back), and the combined gradient Σ_t α_t·g_t written back (on the backend) for the
 * rest of the backward pass.
 *
 * Two spaces, as in LibMTL's rep_grad option:
 * - 'representation' (cheap, MGDA-UB's upper bound): g_t = ∂L_t/∂Z at the trunk output Z,
 *   all T of them from ONE fused heads backward (its per-task dx); then one trunk backward
 *   with the combined ∂L/∂Z.
 * - 'parameters': g_t = ∂L_t/∂θ_shared, one trunk backward per task through the same
 *   activation buffers (no per-task copy of activations), each task's trunk gradient kept
 *   in a row of a [T, P_shared] buffer; the combined gradient replaces the trunk's.
 * Task-specific (head) parameters always receive their own task's gradient ∂L_t/∂θ_t.
 *
 * Buffers are allocated on first use and reused: a steady-state step allocates nothing.
 */
import type { Backend, Tensor } from '../../backends/backend.js';
import { ConfigError, ValueError } from '../../errors.js';
import { BatchBuffer, tensorSize } from '../../nn/layer.js';
import type { MultiTaskModel } from '../model.js';
import type { Body } from '../sharing/body.js';
import type { StepReduction } from './step.js';

/**
 * Where gradient-based weighting takes the per-task gradients: 'representation' (∂L_t/∂Z at the
 * trunk's output; cheap, one fused heads backward) or 'parameters' (∂L_t/∂θ of the shared
 * parameters; one trunk backward per task).
 */
export type GradientSpace = 'representation' | 'parameters';
/** Every {@link GradientSpace}. */
export const GRADIENT_SPACES: readonly GradientSpace[] = ['representation', 'parameters'];

/** Chooses combination coefficients α from the Gram matrix K (row-major T×T, f64). */
export type CombineFn = (gram: Float64Array) => Float64Array;

/** Per-batch-size views of the per-task representation gradients. */
interface RepViews {
  /** [T, n, D] as headsBackward writes it. */
  perTask: Tensor;
  /** The same memory as a [T, n·D] matrix. */
  matrix: Tensor;
  /** The combined gradient as [1, n·D] (gemm output) and [n, D] (trunk backward input). */
  combinedRow: Tensor;
  combined: Tensor;
}

/**
 * Per-task gradients of a model's shared part, their T×T Gram matrix (computed on the backend,
 * the only thing read back) and the combined gradient Σ_t α_t·g_t written back for the rest of
 * the backward pass, in either {@link GradientSpace}. Needs a model with a shared trunk (hard
 * sharing; ConfigError otherwise). Buffers are allocated on first use and reused.
 */
export class PerTaskGradients {
  private readonly backend: Backend;
  private readonly T: number;
  private readonly D: number;
  private readonly perTaskBase: Tensor;
  private readonly combinedBuf: BatchBuffer;
  private readonly views = new Map<number, RepViews>();
  private readonly gram: Tensor;
  private readonly gramHost: Float32Array;
  private readonly gramF64: Float64Array;
  private readonly alpha: Tensor;
  private readonly alphaHost: Float32Array;
  /** One-hot rows e_t (padded to 64 so each row view is aligned), to pick g_t out with a GEMM. */
  private readonly oneHot: Tensor[];
  private params: { grads: Tensor; rows: Tensor[]; all: Tensor; shared: Tensor } | null = null;

  /** The model's body, whose one representation every task reads (hard sharing). */
  private readonly body: Body;

  constructor(
    private readonly model: MultiTaskModel,
    /** Data-parallel reductions of the Gram matrix / gradient rows (null: one process). */
    private readonly reduction: StepReduction | null = null,
  ) {
    if (model.body.stackStride !== 0) {
      throw new ConfigError(
        `gradient-based weighting combines gradients of shared parameters, and ${model.sharing.kind} sharing has none; use a loss-based strategy`,
      );
    }
    this.body = model.body;
    const be = (this.backend = model.backend);
    this.T = model.tasks.length;
    this.D = model.representationWidth;
    this.perTaskBase = be.alloc([tensorSize([this.T, model.maxBatch, this.D], 'the per-task gradients at the shared representation')]);
    this.combinedBuf = new BatchBuffer(be, model.maxBatch, [this.D]);
    this.gram = be.alloc([this.T, this.T]);
    this.gramHost = new Float32Array(this.T * this.T);
    this.gramF64 = new Float64Array(this.T * this.T);
    this.alpha = be.alloc([1, this.T]);
    this.alphaHost = new Float32Array(this.T);
    const eye = new Float32Array(64 * this.T);
    for (let t = 0; t < this.T; t++) eye[64 * t + t] = 1;
    const eyeBase = be.upload(eye, [eye.length]);
    this.oneHot = Array.from({ length: this.T }, (_, t) => be.view(eyeBase, 64 * t, [1, this.T]));
  }

  private repViews(n: number): RepViews {
    let v = this.views.get(n);
    if (!v) {
      const be = this.backend;
      const nd = n * this.D;
      v = {
        perTask: be.view(this.perTaskBase, 0, [this.T, n, this.D]),
        matrix: be.view(this.perTaskBase, 0, [this.T, nd]),
        combinedRow: be.view(this.combinedBuf.base, 0, [1, nd]),
        combined: this.combinedBuf.rows(n),
      };
      this.views.set(n, v);
    }
    return v;
  }

  /**
   * K = G·Gᵀ of per-task gradients G [T, m] on the backend, read back as f64 (row-major T×T;
   * the returned array is reused by the next call).
   */
  async gramOf(g: Tensor): Promise<Float64Array> {
    this.backend.gemm(g, g, this.gram, { transB: true });
    await this.backend.read(this.gram, this.gramHost);
    this.gramF64.set(this.gramHost);
    return this.gramF64;
  }

  private uploadAlpha(alpha: Float64Array): void {
    for (let t = 0; t < this.T; t++) {
      const a = alpha[t];
      if (!Number.isFinite(a)) throw new ValueError(`a weighting method produced a non-finite coefficient for task ${t}: ${a}`);
      this.alphaHost[t] = a;
    }
    this.backend.write(this.alpha, this.alphaHost);
  }

  /**
   * Backward from dL/dlogits (unweighted per task) combining the tasks' gradients at the
   * shared representation. Returns the coefficients used.
   */
  async backwardRepresentation(dlogits: Tensor, n: number, combine: CombineFn): Promise<Float64Array> {
    const m = this.model;
    const v = this.repViews(n);
    m.heads.backward(dlogits, n, v.perTask);
    const gram = await this.gramOf(v.matrix);
    this.reduction?.gram(gram);
    const alpha = combine(gram);
    this.uploadAlpha(alpha);
    this.backend.gemm(this.alpha, v.matrix, v.combinedRow);
    this.body.backward(v.combined, n);
    return alpha;
  }

  /**
   * Backward from dL/dlogits (unweighted per task) where the combined gradient at the shared
   * representation is computed on the backend from all per-task gradients G [T, n·D]
   * (GradDrop) rather than from coefficients.
   */
  backwardRepresentationWith(dlogits: Tensor, n: number, combine: (g: Tensor, out: Tensor) => void): void {
    const m = this.model;
    const v = this.repViews(n);
    m.heads.backward(dlogits, n, v.perTask);
    combine(v.matrix, v.combinedRow);
    this.body.backward(v.combined, n);
  }

  private parameterBuffers(): NonNullable<PerTaskGradients['params']> {
    if (!this.params) {
      const be = this.backend;
      const P = this.model.sharedParameterSize;
      tensorSize([this.T, P], 'the per-task gradients of the shared parameters');
      const all = be.alloc([this.T, P]);
      this.params = {
        grads: this.model.params.grads,
        all,
        rows: Array.from({ length: this.T }, (_, t) => be.view(all, t * P, [1, P])),
        shared: be.view(this.model.params.grads, 0, [1, P]),
      };
    }
    return this.params;
  }

  /**
   * The per-task gradients of the shared (trunk) parameters, g_t = ∂L_t/∂θ_shared, as the rows
   * of a [T, sharedParameterSize] backend tensor (reused by the next call): one fused heads
   * backward from dL/dlogits (unweighted per task, i.e. computed with every task weight 1), then
   * one trunk backward per task through the same activation buffers. Afterwards the gradient
   * arena holds the heads' gradients and, in its shared part, the last task's g_t.
   */
  parameterGradients(dlogits: Tensor, n: number): Tensor {
    const be = this.backend;
    const p = this.parameterBuffers();
    const v = this.repViews(n);
    this.model.heads.backward(dlogits, n, v.perTask);
    for (let t = 0; t < this.T; t++) {
      be.fill(p.shared, 0);
      be.gemm(this.oneHot[t], v.matrix, v.combinedRow); // dZ_t = e_tᵀ·G, into an aligned buffer
      this.body.backward(v.combined, n);
      be.copy(p.shared, p.rows[t]);
    }
    return p.all;
  }

  /** Row t of the last {@link parameterGradients} ([1, sharedParameterSize]). */
  parameterGradientRow(t: number): Tensor {
    return this.parameterBuffers().rows[t];
  }

  /**
   * Backward from dL/dlogits (unweighted per task) combining the tasks' gradients on the
   * shared (trunk) parameters: one trunk backward per task. Returns the coefficients used.
   */
  async backwardParameters(
    dlogits: Tensor,
    n: number,
    combine: CombineFn,
    transform?: (be: Backend, g: Tensor) => Tensor,
  ): Promise<Float64Array> {
    const be = this.backend;
    const p = this.parameterBuffers();
    const all = this.parameterGradients(dlogits, n);
    await this.reduction?.rows(be, all, this.model.sharedParameterSize);
    const g = transform ? transform(be, all) : all;
    const alpha = combine(await this.gramOf(g));
    this.uploadAlpha(alpha);
    be.gemm(this.alpha, g, p.shared);
    return alpha;
  }
}
