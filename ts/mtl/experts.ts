/**
 * Mixtures of experts (MMoE, Ma et al. 2018; CGC, the single-level PLE of Tang et al. 2020;
 * OMoE, Ma et al.'s one-gate baseline). Experts are built from the trunk spec; their outputs are
 * stacked (expert e's rows at e·stride). Each task has a softmax gate over the experts it may use
 * (MMoE: all of them; CGC: the shared experts and its own), computed from the input; all gates
 * are ONE GEMM z = x·W_gᵀ + b_g over their concatenated weights, and the gated sums are one
 * fused `mixtureForward`. The task representations come out stacked, as the heads read them.
 * OMoE has one gate over all experts that every task shares: its one mixture is the
 * representation every head reads (stackStride 0, as hard sharing's trunk).
 * The gates are one dense map and the mixture has no parameters, so with dense experts the
 * squared per-sample gradients (the diagonal Fisher's batch path) come from the gates and the
 * experts' dense layers.
 */
import { type Backend, MixtureLayout, type Tensor } from '../backends/backend.js';
import { ConfigError, ValueError } from '../errors.js';
import { BatchBuffer, type StepContext, tensorSize } from '../nn/layer.js';
import { DenseSquares, type SquaredGradientSource } from '../nn/dense.js';
import type { Parameter } from '../nn/parameters.js';
import type { Sequential } from '../nn/sequential.js';
import type { Body, BodyContext } from './sharing/body.js';
import { StackedViews, checkedStackStride } from './stacked.js';

export interface ExpertOptions {
  /** Experts every task may use. */
  shared: number;
  /** Experts of each task alone (CGC); 0 for MMoE. */
  perTask: number;
  /** One gate that every task shares (OMoE; needs perTask 0); default false: a gate per task. */
  oneGate?: boolean;
}

/**
 * Experts in one level at most (mmoe, cgc, each PLE level): every expert runs every step, so
 * more would never train; the bound keeps a slip (experts: 1e9) from building a billion.
 */
export const MAX_EXPERTS = 1024;

/** The experts' count, checked against MAX_EXPERTS (ValueError naming the sharing config). */
export function expertCount(kind: string, shared: number, perTask: number, tasks: number): number {
  const n = shared + perTask * tasks;
  if (n > MAX_EXPERTS) {
    throw new ValueError(`sharing (${kind}): ${shared} shared + ${perTask} per task × ${tasks} tasks make ${n} experts; at most ${MAX_EXPERTS} are allowed`);
  }
  return n;
}

export class ExpertBody implements Body, SquaredGradientSource {
  readonly experts: Sequential[];
  readonly width: number;
  readonly layout: MixtureLayout;
  private readonly T: number;
  private readonly E: number;
  private readonly gateWeight: Parameter;
  private readonly gateBias: Parameter;
  private backend!: Backend;
  private stacked!: Tensor;
  private dStacked!: Tensor;
  private out!: Tensor;
  private z!: BatchBuffer;
  private g!: BatchBuffer;
  private dz!: BatchBuffer;
  private input: Tensor | null = null;
  private views!: StackedViews;
  private readonly kind: string;
  private readonly oneGate: boolean;
  /** OMoE: the one representation's dL/d, staged in the layout's dOut form (one block). */
  private dOut: Tensor | null = null;
  private maxBatch = 0;
  /** The gates' squared per-sample gradients, while on (squaredGradients). */
  private gateSquares: DenseSquares | null = null;

  constructor(
    ctx: BodyContext,
    readonly options: ExpertOptions,
  ) {
    const { tasks, params, inputShape, maxBatch } = ctx;
    this.kind = ctx.kind;
    const featureSize = inputShape.reduce((a, b) => a * b, 1);
    const { shared, perTask } = options;
    if (!Number.isInteger(shared) || !Number.isInteger(perTask) || shared < 0 || perTask < 0 || shared + perTask < 1) {
      throw new ConfigError(`Expected whole numbers of experts with at least one per task, got shared ${shared}, per task ${perTask}`);
    }
    this.oneGate = options.oneGate === true;
    if (this.oneGate && perTask > 0) throw new ConfigError(`One gate shared by every task mixes shared experts only, got ${perTask} per task`);
    const kind = this.oneGate ? 'omoe' : perTask > 0 ? 'cgc' : 'mmoe';
    // The gates (and mixtures) the layout computes: one per task, or OMoE's one.
    this.T = this.oneGate ? 1 : tasks.length;
    this.E = expertCount(kind, shared, perTask, tasks.length);
    const names = [
      ...Array.from({ length: shared }, (_, i) => `experts.shared.${i}`),
      ...tasks.flatMap((t) => Array.from({ length: perTask }, (_, i) => `experts.${t.name}.${i}`)),
    ];
    this.experts = names.map(() => ctx.layers());
    const shapes = this.experts.map((e, i) => e.build({ params, prefix: names[i], maxBatch }, inputShape));
    if (shapes[0].length !== 1) throw new ConfigError(`The experts must end in a flat feature vector, got shape [${shapes[0].join(', ')}]`);
    this.width = shapes[0][0];
    const gated = this.oneGate ? tasks.slice(0, 1) : tasks;
    const expertsOf = gated.map((_, t) => [
      ...Array.from({ length: shared }, (_, i) => i),
      ...Array.from({ length: perTask }, (_, i) => shared + t * perTask + i),
    ]);
    const stride = checkedStackStride(Math.max(this.E, this.T), maxBatch, this.width, `sharing (${kind}): the stacked expert outputs`);
    this.layout = new MixtureLayout(expertsOf, this.E, this.width, stride, stride);
    const zw = this.layout.gateWidth;
    tensorSize([maxBatch, zw], `sharing (${kind}): the gates for maxBatch ${maxBatch}`);
    this.gateWeight = params.add(
      'gates.weight',
      [zw, featureSize],
      { kind: 'lecun', fanIn: featureSize },
      this.oneGate ? undefined : tasks.map((t, i) => ({ name: `gates.${t.name}.weight`, offset: this.layout.gateOffsets[i] * featureSize, shape: [expertsOf[i].length, featureSize] })),
    );
    this.gateBias = params.add(
      'gates.bias',
      [zw],
      { kind: 'zeros' },
      this.oneGate ? undefined : tasks.map((t, i) => ({ name: `gates.${t.name}.bias`, offset: this.layout.gateOffsets[i], shape: [expertsOf[i].length] })),
    );
  }

  /** Elements between consecutive tasks' blocks of the stacked representation; 0 for OMoE's one representation. */
  get stackStride(): number {
    return this.oneGate ? 0 : this.layout.outStride;
  }

  allocate(backend: Backend, maxBatch: number): void {
    this.backend = backend;
    this.maxBatch = maxBatch;
    this.views = new StackedViews(backend);
    for (const e of this.experts) e.allocate(backend, maxBatch);
    this.stacked = backend.alloc([this.E * this.layout.expertStride]);
    this.dStacked = backend.alloc([this.E * this.layout.expertStride]);
    this.out = backend.alloc([this.T * this.layout.outStride]);
    if (this.oneGate) this.dOut = backend.alloc([this.layout.outStride]);
    this.z = new BatchBuffer(backend, maxBatch, [this.layout.gateWidth]);
    this.g = new BatchBuffer(backend, maxBatch, [this.layout.gateWidth]);
    this.dz = new BatchBuffer(backend, maxBatch, [this.layout.gateWidth]);
  }

  private blocks(base: Tensor, n: number): Tensor[] {
    return this.views.blocks(base, this.E, this.layout.expertStride, this.width, n);
  }

  /** The representation [n, width] of OMoE's one gate, a view of `base` (out or dOut). */
  private single(base: Tensor, n: number): Tensor {
    return this.views.blocks(base, 1, this.layout.outStride, this.width, n)[0];
  }

  /** The task representations, stacked [T·stride] (OMoE: the one representation [n, width]), for the input x [n, F]. */
  forward(x: Tensor, n: number, step: StepContext): Tensor {
    const be = this.backend;
    this.input = x;
    const s = this.blocks(this.stacked, n);
    // Each expert writes its block of the stacked outputs itself (a dense last layer: no copy);
    // the mixture only reads them, so they stay what the experts' backward reads.
    for (let i = 0; i < this.E; i++) this.experts[i].forwardInto(x, n, step, s[i]);
    const z = this.z.rows(n);
    be.gemm(x, this.gateWeight.value, z, { transB: true, bias: this.gateBias.value });
    be.mixtureForward(this.stacked, z, this.g.rows(n), this.out, this.layout);
    return this.oneGate ? this.single(this.out, n) : this.out;
  }

  /** Backward from the stacked dL/d(task representations) (OMoE: dL/d(the representation) [n, width], summed over the tasks). */
  backward(dOut: Tensor, n: number, dx: Tensor | null = null): void {
    const be = this.backend;
    const dz = this.dz.rows(n);
    if (this.dOut) be.copy(dOut, this.single(this.dOut, n));
    be.mixtureBackward(this.stacked, this.g.rows(n), this.dOut ?? dOut, this.dStacked, dz, this.layout);
    if (this.gateSquares) this.gateSquares.accumulate(this.input!, dz, n);
    else {
      be.gemm(dz, this.input!, this.gateWeight.grad, { transA: true, beta: 1 });
      be.biasGrad(dz, this.gateBias.grad);
    }
    if (dx) be.gemm(dz, this.gateWeight.value, dx); // dL/dx through the gates (=), then each expert's part (+)
    const ds = this.blocks(this.dStacked, n);
    for (let i = 0; i < this.E; i++) {
      // A dense first layer adds its part into dx in its GEMM (beta 1): no buffer, no add.
      if (dx) this.experts[i].backwardAccumulate(ds[i], n, dx);
      else this.experts[i].backward(ds[i], n, false);
    }
  }

  /** The gates' parameters and those of the experts' layers that are squared-gradient sources (dense). */
  get squaredParameters(): readonly Parameter[] {
    return [this.gateWeight, this.gateBias, ...this.experts.flatMap((e) => e.squaredParameters)];
  }

  squaredGradients(arena: Tensor | null): void {
    this.gateSquares?.free();
    this.gateSquares = arena && new DenseSquares(this.backend, this.maxBatch, this.gateWeight, this.gateBias, arena);
    for (const e of this.experts) e.squaredGradients(arena);
  }

  describe(): string {
    const { shared, perTask } = this.options;
    const kinds = perTask > 0 ? `${shared} shared + ${perTask} per task` : `${shared} shared`;
    const gates = this.oneGate ? 'one softmax gate shared by every task' : 'a softmax gate per task';
    return `${this.kind} sharing, ${this.E} experts (${kinds}), ${gates}: ${this.experts[0].describe()}`;
  }
}
