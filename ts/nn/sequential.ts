/** A chain of layers run in order; backward runs them in reverse. */
import type { Backend, Tensor } from '../backends/backend.js';
import { type BuildContext, type Layer, type StepContext, tensorSize } from './layer.js';

export class Sequential implements Layer {
  /** Per-sample output shape of every layer, known after build. */
  readonly shapes: (readonly number[])[] = [];

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
    this.layers.forEach((l, i) => {
      shape = l.build({ params: ctx.params, prefix: `${ctx.prefix}.${i}`, maxBatch: ctx.maxBatch }, shape);
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

  backward(dy: Tensor, n: number, needDx: boolean): Tensor | null {
    let g: Tensor | null = dy;
    for (let i = this.layers.length - 1; i >= 0 && g; i--) {
      g = this.layers[i].backward(g, n, i > 0 || needDx);
    }
    return g;
  }
}
