/**
 * One tower per task (soft sharing and cross-stitch networks). Every tower is built from the
 * same layer specs; the towers run layer by layer, and their outputs are kept "stacked": task
 * t's rows [n, D] at element t·stride of one buffer (stride padded to 64), the layout the fused
 * heads read directly.
 *
 * - Soft sharing (Duong et al. 2015; Yang & Hospedales 2017): an L2 penalty
 *   λ·Σ_{i<j}‖θ_i − θ_j‖² between corresponding tower parameters. The towers' parameters are
 *   declared one tower after another, so they form the rows of Θ [T, S] in the arena, and the
 *   penalty's gradient is ONE GEMM: ∇ = 2λ(T·I − 11ᵀ)·Θ.
 * - Cross-stitch (Misra et al. 2016): after chosen layers l, the stacked outputs S_l [T, stride]
 *   are mixed by a learned A_l [T, T]: M_l = A_l·S_l (one GEMM). Backward: dS_l = A_lᵀ·dM_l and
 *   dA_l += dM_l·S_lᵀ (a T×T output over a long k). dM_l is assembled in a zeroed buffer, so the
 *   stale rows beyond the batch in every block contribute nothing to dA_l.
 */
import type { Backend, Tensor } from '../backends/backend.js';
import { ConfigError } from '../errors.js';
import { type GradientTarget, type StepContext, backwardInto } from '../nn/layer.js';
import type { Parameter, ParameterStore } from '../nn/parameters.js';
import type { Sequential } from '../nn/sequential.js';
import type { Body, BodyContext } from './sharing/body.js';
import { StackedViews, checkedStackStride } from './stacked.js';
import type { Task } from './task.js';

interface Stitch {
  /** After which layer (index into the tower's layers). */
  layer: number;
  /** That layer's output width, and the stride of the stacked buffers at it. */
  width: number;
  stride: number;
  mix: Parameter;
  /** Stacked layer outputs before and after mixing, and their gradients. */
  stacked: Tensor;
  mixed: Tensor;
  dMixed: Tensor;
  dStacked: Tensor;
}

export interface TowerOptions {
  /** λ of the L2 penalty between towers (soft sharing); absent for none (no penalty to report). */
  penalty?: number;
  /** Layers after which a cross-stitch unit mixes the towers (cross-stitch); [] for none, null for every layer. */
  stitchAfter: readonly number[] | null;
  /** Initial self weight of a cross-stitch unit (the rest spread over the other tasks). Default 0.9. */
  stitchSelf?: number;
}

export class TowerBody implements Body {
  readonly towers: Sequential[];
  readonly width: number;
  /** Soft sharing's L2 penalty at the current parameters; absent without one. */
  readonly penalty?: () => Promise<number>;
  private readonly tasks: readonly Task[];
  private readonly kind: string;
  private readonly T: number;
  private readonly layers: number;
  private backend!: Backend;
  private readonly stride: number;
  private stitches: Stitch[] = [];
  /** The stacked output of the last layer, when it is not stitched. */
  private output: Tensor | null = null;
  private views!: StackedViews;
  private readonly matrices = new Map<Tensor, Tensor>();
  private penaltyState: { matrix: Tensor; params: Tensor; grads: Tensor; gram: Tensor } | null = null;
  private readonly hs: Tensor[];

  constructor(
    ctx: BodyContext,
    readonly options: TowerOptions,
  ) {
    const { tasks, params, maxBatch } = ctx;
    this.tasks = tasks;
    this.kind = ctx.kind;
    this.T = tasks.length;
    this.towers = tasks.map(() => ctx.layers());
    const widths = this.towers.map((tower, t) => tower.build({ params, prefix: `towers.${tasks[t].name}`, maxBatch }, ctx.inputShape));
    if (widths[0].length !== 1) throw new ConfigError(`The towers must end in a flat feature vector, got shape [${widths[0].join(', ')}]`);
    this.width = widths[0][0];
    this.stride = checkedStackStride(this.T, maxBatch, this.width, 'the stacked tower outputs');
    this.layers = this.towers[0].layers.length;
    if (this.layers === 0) throw new ConfigError('soft and cross-stitch sharing need towers with at least one layer');
    const after = [...new Set(options.stitchAfter ?? this.towers[0].layers.map((_, i) => i))].sort((a, b) => a - b);
    for (const l of after) {
      if (!Number.isInteger(l) || l < 0 || l >= this.layers) {
        throw new ConfigError(`cross-stitch units go after tower layers 0..${this.layers - 1}, got ${l}`);
      }
    }
    const self = options.stitchSelf ?? 0.9;
    this.stitches = after.map((layer) => {
      const shape = this.towers[0].shapes[layer];
      if (shape.length !== 1) throw new ConfigError(`a cross-stitch unit needs a flat layer output, layer ${layer} gives [${shape.join(', ')}]`);
      const stride = checkedStackStride(this.T, maxBatch, shape[0], `the cross-stitch unit after layer ${layer}`);
      return { layer, width: shape[0], stride, mix: params.add(`cross-stitch.${layer}`, [this.T, this.T], { kind: 'stitch', self }) };
    }) as Stitch[];
    this.hs = new Array(this.T);
    if (options.penalty !== undefined) this.penalty = () => this.penaltyValue();
  }

  /** Elements between consecutive tasks' blocks in every stacked buffer. */
  get stackStride(): number {
    return this.stride;
  }

  allocate(backend: Backend, maxBatch: number, params: ParameterStore): void {
    this.backend = backend;
    this.views = new StackedViews(backend);
    for (const tower of this.towers) tower.allocate(backend, maxBatch);
    for (const s of this.stitches) {
      const size = [this.T * s.stride];
      s.stacked = backend.alloc(size);
      s.mixed = backend.alloc(size);
      s.dMixed = backend.alloc(size);
      s.dStacked = backend.alloc(size);
    }
    if (this.stitches.at(-1)?.layer !== this.layers - 1) this.output = backend.alloc([this.T * this.stride]);
    if ((this.options.penalty ?? 0) > 0 && this.T > 1) this.penaltyState = this.allocatePenalty(backend, params);
  }

  private allocatePenalty(backend: Backend, params: ParameterStore): NonNullable<TowerBody['penaltyState']> {
    const T = this.T;
    const start = (t: number): number => params.parameters.find((p) => p.name.startsWith(`towers.${this.tasks[t].name}.`))!.offset;
    const size = start(1) - start(0);
    if (size <= 0) throw new ConfigError('soft sharing needs towers with parameters: give the trunk at least one dense layer');
    const lambda = this.options.penalty!;
    const m = new Float32Array(T * T);
    for (let i = 0; i < T; i++) for (let j = 0; j < T; j++) m[i * T + j] = 2 * lambda * ((i === j ? T : 0) - 1);
    return {
      matrix: backend.upload(m, [T, T]),
      params: backend.view(params.values, start(0), [T, size]),
      grads: backend.view(params.grads, start(0), [T, size]),
      gram: backend.alloc([T, T]),
    };
  }

  /** [n, width] views of each task's block of a stacked tensor. */
  private blocks(base: Tensor, n: number, width = this.width, stride = this.stride): Tensor[] {
    return this.views.blocks(base, this.T, stride, width, n);
  }

  /** A stacked [T·stride] buffer as the [T, stride] matrix the cross-stitch GEMMs take (made once). */
  private matrix(base: Tensor, stride: number): Tensor {
    let m = this.matrices.get(base);
    if (!m) this.matrices.set(base, (m = this.backend.view(base, 0, [this.T, stride])));
    return m;
  }

  /**
   * Runs every tower on x [n, F]; returns the stacked representation [T·stride]. A layer whose
   * output is stacked (before a cross-stitch unit, or the last) writes its block itself where it
   * has forwardInto (dense: its GEMM), else its output is copied there; the blocks stay unchanged
   * until backward, which reads them.
   */
  forward(x: Tensor, n: number, step: StepContext): Tensor {
    const be = this.backend;
    const h = this.hs.fill(x);
    let si = 0;
    for (let l = 0; l < this.layers; l++) {
      const stitch = this.stitches[si]?.layer === l ? this.stitches[si++] : null;
      const into = stitch
        ? this.blocks(stitch.stacked, n, stitch.width, stitch.stride)
        : l === this.layers - 1 && this.output
          ? this.blocks(this.output, n)
          : null;
      for (let t = 0; t < this.T; t++) {
        const layer = this.towers[t].layers[l];
        if (!into) h[t] = layer.forward(h[t], n, step);
        else if (layer.forwardInto) layer.forwardInto(h[t], n, step, into[t]);
        else be.copy(layer.forward(h[t], n, step), into[t]);
      }
      if (stitch) {
        be.gemm(stitch.mix.value, this.matrix(stitch.stacked, stitch.stride), this.matrix(stitch.mixed, stitch.stride));
        const m = this.blocks(stitch.mixed, n, stitch.width, stitch.stride);
        for (let t = 0; t < this.T; t++) h[t] = m[t];
      }
    }
    return this.output ?? this.stitches.at(-1)!.mixed;
  }

  /**
   * Backward from the stacked dL/d(representation) (rows beyond n may hold anything); with dx,
   * Σ_t dL/dx through every tower (=). A layer under a cross-stitch unit adds its input gradient
   * into the unit's zeroed dM blocks itself where it has backwardAccumulate (dense: its GEMM,
   * beta 1), and the first layers add theirs into dx (zeroed once); else they are copied / added.
   */
  backward(dStacked: Tensor, n: number, dx: Tensor | null = null): void {
    const be = this.backend;
    const g = this.hs;
    const top = this.blocks(dStacked, n);
    for (let t = 0; t < this.T; t++) g[t] = top[t];
    let si = this.stitches.length - 1;
    for (let l = this.layers - 1; l >= 0; l--) {
      const stitch = this.stitches[si]?.layer === l ? this.stitches[si--] : null;
      if (stitch) {
        if (l === this.layers - 1) {
          // From the caller's gradient: into the zeroed dM (its stale rows must not reach dA).
          be.fill(stitch.dMixed, 0);
          const dm = this.blocks(stitch.dMixed, n, stitch.width, stitch.stride);
          for (let t = 0; t < this.T; t++) be.copy(g[t], dm[t]);
        } // else the layer above wrote its blocks (below)
        const dM = this.matrix(stitch.dMixed, stitch.stride);
        be.gemm(dM, this.matrix(stitch.stacked, stitch.stride), stitch.mix.grad, { transB: true, beta: 1 });
        be.gemm(stitch.mix.value, dM, this.matrix(stitch.dStacked, stitch.stride), { transA: true });
        const ds = this.blocks(stitch.dStacked, n, stitch.width, stitch.stride);
        for (let t = 0; t < this.T; t++) g[t] = ds[t];
      }
      // Where this layer's input gradient goes: the zeroed dM blocks of the unit below, dx, or on down the tower.
      const below = l > 0 && this.stitches[si]?.layer === l - 1 ? this.stitches[si] : null;
      if (below) {
        be.fill(below.dMixed, 0);
        const dm = this.blocks(below.dMixed, n, below.width, below.stride);
        for (let t = 0; t < this.T; t++) backwardInto(be, this.towers[t].layers[l], g[t], n, dm[t], 'zero');
      } else if (l > 0) {
        for (let t = 0; t < this.T; t++) g[t] = this.towers[t].layers[l].backward(g[t], n, true) ?? g[t];
      } else if (dx) {
        let holds: GradientTarget = 'stale'; // zeroed (or copied to) by the first tower, then added to
        for (let t = 0; t < this.T; t++) holds = backwardInto(be, this.towers[t].layers[0], g[t], n, dx, holds);
      } else {
        for (let t = 0; t < this.T; t++) this.towers[t].layers[0].backward(g[t], n, false);
      }
    }
    if (this.penaltyState) be.gemm(this.penaltyState.matrix, this.penaltyState.params, this.penaltyState.grads, { beta: 1 });
  }

  /** λ·Σ_{i<j}‖θ_i − θ_j‖² = λ(T·tr K − 1ᵀK1), K = ΘΘᵀ; 0 without a penalty. */
  private async penaltyValue(): Promise<number> {
    const p = this.penaltyState;
    if (!p) return 0;
    const T = this.T;
    this.backend.gemm(p.params, p.params, p.gram, { transB: true });
    const K = await this.backend.read(p.gram);
    let trace = 0;
    let total = 0;
    for (let i = 0; i < T; i++) {
      trace += K[i * T + i];
      for (let j = 0; j < T; j++) total += K[i * T + j];
    }
    return this.options.penalty! * (T * trace - total);
  }

  /**
   * A grown cross-stitch unit [T, T] (MultiTaskModel.extend): the old tasks' rows keep their
   * values and read nothing from the new towers (0 in the new columns), so their outputs are
   * unchanged; the new tasks' rows keep their fresh initialisation.
   */
  inherit(values: Float32Array, params: ParameterStore, old: Float32Array, oldParams: ParameterStore, grown: ReadonlySet<string>): Set<string> {
    const done = new Set<string>();
    for (const s of this.stitches) {
      const name = s.mix.name;
      const from = oldParams.partRange(name);
      const to = params.partRange(name);
      if (!grown.has(name) || !from || !to) continue;
      const Told = from.shape[0];
      const T = this.T;
      for (let i = 0; i < Told; i++) {
        for (let j = 0; j < T; j++) values[to.start + i * T + j] = j < Told ? old[from.start + i * Told + j] : 0;
      }
      done.add(name);
    }
    return done;
  }

  describe(): string {
    const stitches = this.stitches.length ? `, cross-stitch after layer ${this.stitches.map((s) => s.layer).join(', ')}` : '';
    const penalty = (this.options.penalty ?? 0) > 0 ? `, L2 penalty λ = ${this.options.penalty}` : '';
    return `${this.kind} sharing, one tower per task${penalty}${stitches}: ${this.towers[0].describe()}`;
  }
}
