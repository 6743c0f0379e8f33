/**
 * Optimizers over a model's whole parameter arena: one fused kernel call per step, state
 * (momentum, Adam moments) in arenas of the same layout, allocated once.
 */
import type { Backend, Tensor } from '../backends/backend.js';
import { checkKeys, nameTable, ownEntry } from '../core/options.js';
import { ConfigError, ValueError, describe, expectNumber } from '../errors.js';
import type { ParameterStore } from '../nn/parameters.js';

/**
 * An optimizer and its hyper-parameters (PyTorch semantics, see Backend.sgdStep and
 * Backend.adamwStep). Unknown keys and out-of-range values are ConfigError / ValueError when the
 * Optimizer is made.
 */
export type OptimizerConfig =
  | {
      /** SGD with optional momentum (dampening 0). */
      kind: 'sgd';
      /** Learning rate, ≥ 0. */
      lr: number;
      /** Momentum μ in [0, 1]. Default 0. */
      momentum?: number;
      /** L2 penalty added to the gradient, ≥ 0. Default 0. */
      weightDecay?: number;
      /** Nesterov momentum. Default false. */
      nesterov?: boolean;
    }
  | {
      /** AdamW: Adam with decoupled weight decay. */
      kind: 'adamw';
      /** Learning rate, ≥ 0. */
      lr: number;
      /** First-moment decay in [0, 1). Default 0.9. */
      beta1?: number;
      /** Second-moment decay in [0, 1). Default 0.999. */
      beta2?: number;
      /** Added to √v̂ in the denominator, ≥ 0. Default 1e-8. */
      eps?: number;
      /** Decoupled weight decay, ≥ 0. Default 0.01. */
      weightDecay?: number;
    };

/** The optimizer kinds an {@link OptimizerConfig} may name. */
export const OPTIMIZERS = ['sgd', 'adamw'] as const;

/** The keys each optimizer kind takes. */
const OPTIMIZER_KEYS: Record<OptimizerConfig['kind'], readonly string[]> = nameTable({
  sgd: ['kind', 'lr', 'momentum', 'weightDecay', 'nesterov'],
  adamw: ['kind', 'lr', 'beta1', 'beta2', 'eps', 'weightDecay'],
});

/**
 * Steps a model's whole parameter arena with one fused backend call (sgdStep or adamwStep). Its
 * state (momentum, or Adam's m and v) lives in backend tensors of the arena's size, allocated
 * when it is made. The constructor throws ConfigError for an unknown kind or key, ValueError for
 * an out-of-range hyper-parameter.
 */
export class Optimizer {
  /** Optimizer state tensors by name ("momentum", or "adam.m" and "adam.v"), for checkpoints. */
  readonly state: Record<string, Tensor> = {};
  /** Steps taken so far. */
  steps = 0;
  /**
   * The learning rate of the next step: config.lr until a schedule sets it (the Trainer does,
   * before every step, when it has an lrSchedule).
   */
  lr: number;
  /** The options handed to the fused kernel, made once and updated in place (no allocation per step). */
  private readonly kernelOptions: { lr: number; step: number };

  constructor(
    private readonly backend: Backend,
    private readonly params: ParameterStore,
    /** The hyper-parameters, as given. */
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
    this.lr = config.lr;
    this.kernelOptions = { ...config, step: 0 };
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
    const o = this.kernelOptions;
    o.lr = this.lr;
    o.step = this.steps;
    const p = this.params.values;
    const g = this.params.grads;
    if (this.config.kind === 'sgd') {
      this.backend.sgdStep(p, g, this.state.momentum, o);
    } else {
      this.backend.adamwStep(p, g, this.state['adam.m'], this.state['adam.v'], o);
    }
  }
}
