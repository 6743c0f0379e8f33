/** A chain of layers run in order; backward runs them in reverse. */
import type { Backend, Tensor } from '../backends/backend.js';
import { type SquaredGradientSource, isSquaredGradientSource } from './dense.js';
import { type BuildContext, type Layer, type StepContext, tensorSize } from './layer.js';
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
    for (const l of this.layers) l.allocate(backend, maxBatch);
  }

  forward(x: Tensor, n: number, step: StepContext): Tensor {
    let h = x;
    for (const l of this.layers) h = l.forward(h, n, step);
    return h;
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
    let g: Tensor | null = dy;
    const ready = this.gradientsReady;
    for (let i = this.layers.length - 1; i >= 0 && g; i--) {
      g = this.layers[i].backward(g, n, i > 0 || needDx);
      if (ready !== null && this.readyAt[i] >= 0) ready(this.readyAt[i]);
    }
    return g;
  }
}
