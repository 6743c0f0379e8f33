/**
 * Optimizers over a model's whole parameter arena: one fused kernel call per step, state
 * (momentum, Adam moments) in arenas of the same layout, allocated once.
 */
import type { Backend, Tensor } from '../backends/backend.js';
import { ConfigError, describe, expectNumber } from '../errors.js';
import type { ParameterStore } from '../nn/parameters.js';

export type OptimizerConfig =
  | { kind: 'sgd'; lr: number; momentum?: number; weightDecay?: number; nesterov?: boolean }
  | { kind: 'adamw'; lr: number; beta1?: number; beta2?: number; eps?: number; weightDecay?: number };

export const OPTIMIZERS = ['sgd', 'adamw'] as const;

export class Optimizer {
  /** Optimizer state tensors by name ("momentum", or "adam.m" and "adam.v"), for checkpoints. */
  readonly state: Record<string, Tensor> = {};
  /** Steps taken so far. */
  steps = 0;

  constructor(
    private readonly backend: Backend,
    private readonly params: ParameterStore,
    readonly config: OptimizerConfig,
  ) {
    const kind: unknown = config?.kind;
    if (kind !== 'sgd' && kind !== 'adamw') {
      throw new ConfigError(`Expected optimizer kind sgd or adamw but received ${describe(kind)}`);
    }
    expectNumber('optimizer lr', config.lr, 0);
    if (config.kind === 'sgd') {
      expectNumber('optimizer momentum', config.momentum ?? 0, 0, 1);
      this.state.momentum = backend.alloc([params.arenaSize]);
    } else {
      expectNumber('optimizer beta1', config.beta1 ?? 0.9, 0, 1);
      expectNumber('optimizer beta2', config.beta2 ?? 0.999, 0, 1);
      this.state['adam.m'] = backend.alloc([params.arenaSize]);
      this.state['adam.v'] = backend.alloc([params.arenaSize]);
    }
    expectNumber('optimizer weightDecay', config.weightDecay ?? 0, 0);
  }

  /**
   * Zeroes the optimizer state (momentum, Adam moments) over arena ranges, e.g. the head of a
   * task that stopped training, so that nothing keeps moving those parameters.
   */
  resetState(ranges: readonly { offset: number; size: number }[]): void {
    for (const t of Object.values(this.state)) {
      for (const r of ranges) this.backend.write(t, new Float32Array(r.size), r.offset);
    }
  }

  /** Applies the gradients in the arena to the parameters. */
  step(): void {
    this.steps++;
    const c = this.config;
    const p = this.params.values;
    const g = this.params.grads;
    if (c.kind === 'sgd') {
      this.backend.sgdStep(p, g, this.state.momentum, c);
    } else {
      this.backend.adamwStep(p, g, this.state['adam.m'], this.state['adam.v'], { ...c, step: this.steps });
    }
  }
}
