/**
 * Inverted dropout: in training, y = x ⊙ mask with mask ∈ {0, 1/(1−p)} drawn by the backend
 * from a per-step, per-layer seed (identical on every backend); in evaluation, y = x.
 */
import type { Backend, Tensor } from '../backends/backend.js';
import { expectNumber } from '../errors.js';
import { BatchBuffer, type BuildContext, type Layer, type StepContext, layerSeed, stringSeed } from './layer.js';

export class Dropout implements Layer {
  private backend!: Backend;
  private shape: readonly number[] = [];
  private out!: BatchBuffer;
  private mask!: BatchBuffer;
  private active = false;
  /** From the layer's parameter prefix, so identical models draw identical masks. */
  private id = 0;

  constructor(readonly p: number) {
    expectNumber('dropout p', p, 0, 0.999);
  }

  describe(): string {
    return `dropout ${this.p}`;
  }

  build(ctx: BuildContext, inShape: readonly number[]): readonly number[] {
    this.id = stringSeed(ctx.prefix);
    this.shape = inShape;
    return inShape;
  }

  allocate(backend: Backend, maxBatch: number): void {
    this.backend = backend;
    this.out = new BatchBuffer(backend, maxBatch, this.shape);
    this.mask = new BatchBuffer(backend, maxBatch, this.shape);
  }

  forward(x: Tensor, n: number, step: StepContext): Tensor {
    this.active = step.training && this.p > 0;
    if (!this.active) return x;
    const y = this.out.rows(n);
    this.backend.dropoutForward(x, y, this.mask.rows(n), this.p, layerSeed(step, this.id));
    return y;
  }

  backward(dy: Tensor, n: number, needDx: boolean): Tensor | null {
    if (!needDx) return null;
    if (this.active) this.backend.mul(dy, this.mask.rows(n), dy);
    return dy;
  }
}
