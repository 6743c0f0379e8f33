/**
 * Inverted dropout: in training, y = x ⊙ mask with mask ∈ {0, 1/(1−p)} drawn by the backend
 * from a per-step, per-layer seed (identical on every backend); in evaluation, y = x.
 * Element-wise (Dropout) or channel-wise (Dropout2d: whole channels of an [N, C, H, W] input,
 * as PyTorch's Dropout2d).
 */
import type { Backend, Tensor } from '../backends/backend.js';
import { ShapeError, expectNumber } from '../errors.js';
import { BatchBuffer, type BuildContext, type Layer, type StepContext, layerSeed, stringSeed } from './layer.js';

export class Dropout implements Layer {
  private backend!: Backend;
  private shape: readonly number[] = [];
  private out!: BatchBuffer;
  private mask!: BatchBuffer;
  private active = false;
  /** From the layer's parameter prefix, so identical models draw identical masks. */
  private id = 0;

  constructor(
    readonly p: number,
    /** Drop whole channels of an image input instead of single elements. */
    readonly channelwise = false,
    readonly where = channelwise ? 'dropout2d' : 'dropout',
  ) {
    expectNumber(`${where}.p`, p, 0, 0.999);
  }

  describe(): string {
    return `${this.channelwise ? 'dropout2d' : 'dropout'} ${this.p}`;
  }

  build(ctx: BuildContext, inShape: readonly number[]): readonly number[] {
    if (this.channelwise && inShape.length !== 3 && inShape.length !== 2) {
      throw new ShapeError(`${this.where}: needs an image input [C, H, W] or [H, W], got [${inShape.join(', ')}]`);
    }
    this.id = stringSeed(ctx.prefix);
    this.shape = this.channelwise && inShape.length === 2 ? [1, ...inShape] : inShape;
    return inShape;
  }

  allocate(backend: Backend, maxBatch: number): void {
    this.backend = backend;
    this.out = new BatchBuffer(backend, maxBatch, this.shape);
    this.mask = new BatchBuffer(backend, maxBatch, this.channelwise ? [this.shape[0]] : this.shape);
  }

  forward(x: Tensor, n: number, step: StepContext): Tensor {
    this.active = step.training && this.p > 0;
    if (!this.active) return x;
    const y = this.out.rows(n);
    const seed = layerSeed(step, this.id);
    if (this.channelwise) this.backend.dropout2dForward(x, y, this.mask.rows(n), this.p, seed);
    else this.backend.dropoutForward(x, y, this.mask.rows(n), this.p, seed);
    return y;
  }

  backward(dy: Tensor, n: number, needDx: boolean): Tensor | null {
    if (!needDx) return null;
    if (this.active) {
      if (this.channelwise) this.backend.scaleChannels(dy, this.mask.rows(n), dy);
      else this.backend.mul(dy, this.mask.rows(n), dy);
    }
    return dy;
  }
}

/** Spatial dropout (PyTorch's Dropout2d): whole channels are dropped, scaled by 1/(1−p). */
export class Dropout2d extends Dropout {
  constructor(p: number, where = 'dropout2d') {
    super(p, true, where);
  }
}
