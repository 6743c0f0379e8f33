/** A standalone elementwise nonlinearity (Dense fuses its own; this serves other layers). */
import type { Activation, Backend, Tensor } from '../backends/backend.js';
import { checkActivation } from '../backends/validate.js';
import { BatchBuffer, type BuildContext, type Layer } from './layer.js';

export class ActivationLayer implements Layer {
  private backend!: Backend;
  private shape: readonly number[] = [];
  private out!: BatchBuffer;
  private input: Tensor | null = null;

  constructor(
    readonly kind: Activation,
    readonly where = 'activation',
  ) {
    checkActivation(kind);
  }

  describe(): string {
    return this.kind;
  }

  build(_ctx: BuildContext, inShape: readonly number[]): readonly number[] {
    this.shape = inShape;
    return inShape;
  }

  allocate(backend: Backend, maxBatch: number): void {
    this.backend = backend;
    this.out = new BatchBuffer(backend, maxBatch, this.shape);
  }

  forward(x: Tensor, n: number): Tensor {
    this.input = x;
    const y = this.out.rows(n);
    this.backend.activationForward(this.kind, x, y);
    return y;
  }

  backward(dy: Tensor, n: number, needDx: boolean): Tensor | null {
    if (!needDx) return null;
    this.backend.activationBackward(this.kind, this.out.rows(n), dy, dy, this.input);
    return dy;
  }
}
