/** A chain of layers run in order; backward runs them in reverse. */
import type { Backend, Tensor } from '../backends/backend.js';
import { type SquaredGradientSource, isSquaredGradientSource } from './dense.js';
import { type BuildContext, type Layer, type StepContext, backwardInto, tensorSize } from './layer.js';
import type { Parameter } from './parameters.js';

/**
 * A backward-pass listener: told that every gradient at parameter-arena offsets ≥ `from` is
 * final for this pass (nothing later in the pass writes there), so it may be read (a
 * data-parallel run starts all-reducing those gradients while the rest of the pass runs).
 */
export type GradientsReady = (from: number) => void;

export class Sequential implements Layer, SquaredGradientSource {
  /** Per-sample output shape of every layer, known after build. */
  readonly shapes: (readonly number[])[] = [];
  /**
   * Called during backward after each layer that has parameters, with that layer's first
   * arena offset: valid where everything above this chain's parameters in the arena is final
   * before its backward runs (the hard trunk: the heads' parameters come after it). Null
   * (default): nobody listens; the cost is one null check per layer.
   */
  gradientsReady: GradientsReady | null = null;
  /** Arena offset of each layer's first parameter, −1 for layers without any (set by build). */
  private readyAt: number[] = [];
  private backend!: Backend;

  constructor(
    readonly layers: readonly Layer[],
    readonly where = 'trunk',
  ) {}

  describe(): string {
    return this.layers.map((l) => l.describe()).join(' → ');
  }

  /**
   * Walks the layers in order, each building on the shape the one before gives: a layer that
   * does not fit its input, or whose output for maxBatch samples would not fit a tensor, is a
   * ShapeError naming it, before anything is allocated.
   */
  build(ctx: BuildContext, inShape: readonly number[]): readonly number[] {
    let shape = inShape;
    this.shapes.length = 0;
    this.readyAt = [];
    this.layers.forEach((l, i) => {
      const declared = ctx.params.parameters.length;
      shape = l.build({ params: ctx.params, prefix: `${ctx.prefix}.${i}`, maxBatch: ctx.maxBatch }, shape);
      this.readyAt.push(ctx.params.parameters.length > declared ? ctx.params.parameters[declared].offset : -1);
      tensorSize([ctx.maxBatch, ...shape], `${l.where}: its output for maxBatch ${ctx.maxBatch}`);
      this.shapes.push(shape);
    });
    return shape;
  }

  allocate(backend: Backend, maxBatch: number): void {
    this.backend = backend;
    for (const l of this.layers) l.allocate(backend, maxBatch);
  }

  forward(x: Tensor, n: number, step: StepContext): Tensor {
    let h = x;
    for (const l of this.layers) h = l.forward(h, n, step);
    return h;
  }

  /**
   * The chain's output written into `out` [n, ...output shape] (=): by the last layer itself
   * where it has forwardInto (dense), else copied from its own buffer. The caller leaves `out`
   * unchanged until backward (the last layer may read it there).
   */
  forwardInto(x: Tensor, n: number, step: StepContext, out: Tensor): void {
    const last = this.layers.length - 1;
    let h = x;
    for (let i = 0; i < last; i++) h = this.layers[i].forward(h, n, step);
    const l = last >= 0 ? this.layers[last] : null;
    if (l?.forwardInto) l.forwardInto(h, n, step, out);
    else this.backend.copy(l ? l.forward(h, n, step) : h, out);
  }

  /** The parameters of the layers that are squared-gradient sources (dense; see SquaredGradientSource): the others' are not covered. */
  get squaredParameters(): readonly Parameter[] {
    return this.layers.filter(isSquaredGradientSource).flatMap((l) => l.squaredParameters);
  }

  /** Turns the squared per-sample gradients of every squared-gradient-source layer on (into `arena`) or off (null). */
  squaredGradients(arena: Tensor | null): void {
    for (const l of this.layers) if (isSquaredGradientSource(l)) l.squaredGradients(arena);
  }

  backward(dy: Tensor, n: number, needDx: boolean): Tensor | null {
    return this.backThrough(dy, n, 0, needDx);
  }

  /**
   * backward, dL/dx added into `dx` [n, ...input shape] (+=): by the first layer itself where
   * it has backwardAccumulate (dense: one GEMM with beta 1), else added from its own buffer.
   */
  backwardAccumulate(dy: Tensor, n: number, dx: Tensor): void {
    const g = this.backThrough(dy, n, 1, true);
    const first = this.layers.length > 0 ? this.layers[0] : null;
    if (!g) return;
    if (!first) this.backend.add(dx, g, dx);
    else backwardInto(this.backend, first, g, n, dx, 'sum');
    if (first && this.gradientsReady !== null && this.readyAt[0] >= 0) this.gradientsReady(this.readyAt[0]);
  }

  /** Backward through layers L−1 down to `stop`, telling gradientsReady after each; the gradient below layer `stop`. */
  private backThrough(dy: Tensor, n: number, stop: number, needDx: boolean): Tensor | null {
    let g: Tensor | null = dy;
    const ready = this.gradientsReady;
    for (let i = this.layers.length - 1; i >= stop && g; i--) {
      g = this.layers[i].backward(g, n, i > 0 || needDx);
      if (ready !== null && this.readyAt[i] >= 0) ready(this.readyAt[i]);
    }
    return g;
  }
}
