/** Hard sharing (the default): one trunk shared by every task; all first head layers are ONE GEMM. */
import type { Backend, Tensor } from '../../backends/backend.js';
import { ConfigError } from '../../errors.js';
import type { SquaredGradientSource } from '../../nn/dense.js';
import type { StepContext } from '../../nn/layer.js';
import type { Parameter } from '../../nn/parameters.js';
import type { GradientsReady, Sequential } from '../../nn/sequential.js';
import type { Body, BodyContext, SharingEntry } from './body.js';

/** Hard sharing's config. */
export interface HardSharing {
  /** One trunk shared by every task, then the heads (the default). */
  kind: 'hard';
}

/** The trunk every task shares; its parameters come first in the arena. */
export class TrunkBody implements Body, SquaredGradientSource {
  readonly trunk: Sequential;
  readonly width: number;
  readonly stackStride = 0;
  private backend!: Backend;

  constructor(ctx: BodyContext) {
    this.trunk = ctx.layers();
    const out = this.trunk.build({ params: ctx.params, prefix: 'trunk', maxBatch: ctx.maxBatch }, ctx.inputShape);
    if (out.length !== 1) throw new ConfigError(`The trunk must end in a flat feature vector, got shape [${out.join(', ')}]`);
    this.width = out[0];
  }

  allocate(backend: Backend, maxBatch: number): void {
    this.backend = backend;
    this.trunk.allocate(backend, maxBatch);
  }

  forward(x: Tensor, n: number, step: StepContext): Tensor {
    return this.trunk.forward(x, n, step);
  }

  backward(dh: Tensor, n: number, dx: Tensor | null = null): void {
    const g = this.trunk.backward(dh, n, dx !== null);
    if (dx && g) this.backend.copy(g, dx);
  }

  /** The trunk's layers tell `ready` one by one (the heads' parameters, after the trunk's, are final before it runs). */
  setGradientsReady(ready: GradientsReady | null): void {
    this.trunk.gradientsReady = ready;
  }

  /** The trunk's dense layers' parameters (the diagonal Fisher's batch path; see SquaredGradientSource). */
  get squaredParameters(): readonly Parameter[] {
    return this.trunk.squaredParameters;
  }

  /** Turns the trunk's dense layers' squared per-sample gradients on (into `arena`) or off (null). */
  squaredGradients(arena: Tensor | null): void {
    this.trunk.squaredGradients(arena);
  }

  describe(): string {
    return `trunk: ${this.trunk.describe()}`;
  }
}

export const HARD: SharingEntry<{ kind: 'hard' }> = {
  description: 'one trunk shared by every task (default)',
  usage: 'hard',
  keys: ['kind'],
  resolve: () => ({ kind: 'hard' }),
  create: (ctx) => new TrunkBody(ctx),
};
