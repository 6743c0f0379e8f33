/**
 * Optimizers over a model's whole parameter arena: one fused kernel call per step, state
 * (momentum, Adam moments) in arenas of the same layout, allocated once.
 */
import type { Backend, Tensor } from '../backends/backend.js';
import { checkKeys, nameTable, ownEntry } from '../core/options.js';
import { ConfigError, ValueError, describe, expectNumber } from '../errors.js';
import type { ParameterStore } from '../nn/parameters.js';

export type OptimizerConfig =
  | { kind: 'sgd'; lr: number; momentum?: number; weightDecay?: number; nesterov?: boolean }
  | { kind: 'adamw'; lr: number; beta1?: number; beta2?: number; eps?: number; weightDecay?: number };

export const OPTIMIZERS = ['sgd', 'adamw'] as const;

/** The keys each optimizer kind takes. */
const OPTIMIZER_KEYS: Record<OptimizerConfig['kind'], readonly string[]> = nameTable({
  sgd: ['kind', 'lr', 'momentum', 'weightDecay', 'nesterov'],
  adamw: ['kind', 'lr', 'beta1', 'beta2', 'eps', 'weightDecay'],
});

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
    const kind: unknown = typeof config === 'object' && config !== null ? config.kind : undefined;
    const keys = ownEntry(OPTIMIZER_KEYS, kind);
    if (!keys) throw new ConfigError(`Expected optimizer kind ${OPTIMIZERS.join(' or ')} but received ${describe(kind)}`);
    const where = `optimizer (${config.kind})`;
    checkKeys(config, keys, where);
    expectNumber(`${where}.lr`, config.lr, 0);
    expectNumber(`${where}.weightDecay`, config.weightDecay ?? 0, 0);
    if (config.kind === 'sgd') {
      expectNumber(`${where}.momentum`, config.momentum ?? 0, 0, 1);
      if (config.nesterov !== undefined && typeof config.nesterov !== 'boolean') {
        throw new ConfigError(`Expected true or false for ${where}.nesterov but received ${describe(config.nesterov)}`);
      }
      this.state.momentum = backend.alloc([params.arenaSize]);
    } else {
      for (const [key, v] of [['beta1', config.beta1 ?? 0.9], ['beta2', config.beta2 ?? 0.999]] as const) {
        // β = 1 would divide by 1 − β^t = 0 in the bias correction.
        if (expectNumber(`${where}.${key}`, v, 0, 1) === 1) throw new ValueError(`Expected a number in [0, 1) for ${where}.${key} but received 1`);
      }
      expectNumber(`${where}.eps`, config.eps ?? 1e-8, 0);
      this.state['adam.m'] = backend.alloc([params.arenaSize]);
      this.state['adam.v'] = backend.alloc([params.arenaSize]);
    }
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
