/**
 * Optimizers over a model's whole parameter arena: one fused kernel call per step, state
 * (momentum, Adam moments) in arenas of the same layout, allocated once.
 */
import type { Backend, Tensor } from '../backends/backend.js';
import { checkKeys, nameTable, ownEntry } from '../core/options.js';
import { ConfigError, ValueError, describe, expectInt, expectNumber } from '../errors.js';
import type { Embedding } from '../nn/embedding.js';
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
      /**
       * Step embedding tables row-sparsely when that is exact (momentum 0 and weight decay 0; see
       * {@link Optimizer}). Default true; false steps them densely (same parameters, slower).
       */
      rowSparse?: boolean;
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
  sgd: ['kind', 'lr', 'momentum', 'weightDecay', 'nesterov', 'rowSparse'],
  adamw: ['kind', 'lr', 'beta1', 'beta2', 'eps', 'weightDecay'],
});

/** A range of the parameter arena, in elements. */
export interface ArenaRange {
  /** First element (a multiple of 64 for {@link Optimizer.restrict}). */
  offset: number;
  /** Number of elements. */
  length: number;
}

/**
 * Steps a model's whole parameter arena with one fused backend call (sgdStep or adamwStep). Its
 * state (momentum, or Adam's m and v) lives in backend tensors of the arena's size, allocated
 * when it is made. The constructor throws ConfigError for an unknown kind or key, ValueError for
 * an out-of-range hyper-parameter.
 *
 * Embedding tables (ModelConfig.embedding) follow PyTorch's dense math. With SGD at momentum 0
 * and weight decay 0 a table row no sample of the batch picked has a zero gradient and keeps its
 * value exactly, so the step is exact row-sparse: given the model's tables (`sparse`, the
 * Trainer passes model.embedding), the optimizer steps only the rows the batch looked up
 * (Backend.embeddingSgdStep, which also zeroes their gradient, so the model's next gradient
 * zeroing skips the tables) and the rest of the arena densely; the parameters are the dense
 * step's, bit for bit on cpu, and the table's slice of the momentum state stays zero (unused at
 * momentum 0). It needs the table at the start of the stepped range (always, unless
 * {@link restrict} froze part of it; a range that starts after it leaves it frozen) and
 * `rowSparse` not false. Everything else is stepped densely over the whole range, as
 * before: SGD with momentum (an unused row keeps moving by its momentum) or weight decay (it
 * shrinks), and AdamW (every row moves every step: its moments decay, the decoupled weight decay
 * shrinks it). A lazy (row-sparse) Adam, which skips unused rows, would change the math and is
 * not done.
 *
 * Whatever reads or changes the gradient (clipping, the EWC penalty, the weighting strategies,
 * the affinity probe) runs before {@link step} (see Trainer), so it sees the full gradient, the
 * table's included. Gradients that reach rows outside the batch (the EWC penalty's
 * λ·F·(θ − θ*), data-parallel gradient sums of other ranks' batches) make the row-sparse step
 * inexact: the Trainer passes no tables then, and the step is dense.
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
  /** The tensors a dense step updates: the whole arenas, or views of the range set by {@link restrict} (less row-sparse tables); null: nothing dense. */
  private target: { params: Tensor; grads: Tensor; state: Record<string, Tensor> } | null;
  /** The arena range a step updates (the whole arena unless {@link restrict} narrowed it). */
  private active: ArenaRange;
  /** The tables a step steps row-sparsely (null: none, every element of the range densely). */
  private sparseTarget: Embedding | null = null;
  /** The tables that may be stepped row-sparsely: `sparse` when the config makes that exact. */
  private readonly sparse: Embedding | null;

  constructor(
    private readonly backend: Backend,
    private readonly params: ParameterStore,
    /** The hyper-parameters, as given. */
    readonly config: OptimizerConfig,
    /** Embedding tables to step row-sparsely where that is exact (see the class doc); null: none. */
    sparse: Embedding | null = null,
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
      for (const key of ['nesterov', 'rowSparse'] as const) {
        if (config[key] !== undefined && typeof config[key] !== 'boolean') {
          throw new ConfigError(`Expected true or false for ${where}.${key} but received ${describe(config[key])}`);
        }
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
    const exact = config.kind === 'sgd' && (config.momentum ?? 0) === 0 && (config.weightDecay ?? 0) === 0 && config.rowSparse !== false;
    this.sparse = exact ? sparse : null;
    this.active = { offset: 0, length: params.arenaSize };
    this.target = this.targetOf(this.active);
  }

  /**
   * The dense target of a step over `range`: views of everything after the row-sparse tables
   * when they start the range (sparseTarget set), else of the whole range. Made once per range.
   */
  private targetOf(range: ArenaRange): { params: Tensor; grads: Tensor; state: Record<string, Tensor> } | null {
    const t = this.sparse?.range;
    let { offset, length } = range;
    this.sparseTarget = null;
    if (t && t.offset === offset && t.length <= length) {
      // Parameters start at 64-element boundaries: the next one at or after the table's padded end.
      const after = Math.min(offset + length, Math.ceil((t.offset + t.length) / 64) * 64);
      this.sparseTarget = this.sparse;
      length = offset + length - after;
      offset = after;
    }
    if (length === 0) return null;
    if (offset === 0 && length === this.params.arenaSize) return { params: this.params.values, grads: this.params.grads, state: this.state };
    const view = (x: Tensor): Tensor => this.backend.view(x, offset, [length]);
    return {
      params: view(this.params.values),
      grads: view(this.params.grads),
      state: Object.fromEntries(Object.entries(this.state).map(([k, x]) => [k, view(x)])),
    };
  }

  /**
   * Steps only the arena elements [offset, offset + length) from now on; every other parameter
   * and its optimizer state stay exactly as they are (frozen), while the range evolves exactly
   * as under an unrestricted optimizer (both kernels are elementwise). `null` steps the whole
   * arena again. The views of parameters, gradients and state are made here, once: a step
   * allocates nothing. The step count (Adam's bias correction) keeps counting every step.
   * To freeze a hard-sharing trunk, step everything after it:
   * `restrict({ offset: model.sharedParameterSize, length: model.params.arenaSize - model.sharedParameterSize })`.
   * ValueError when the offset is not a multiple of 64 (views start at 64-element boundaries,
   * as every parameter does) or the range is empty or leaves the arena.
   */
  restrict(range: ArenaRange | null): void {
    const size = this.params.arenaSize;
    if (range === null) {
      this.active = { offset: 0, length: size };
      this.target = this.targetOf(this.active);
      return;
    }
    checkKeys(range, ['offset', 'length'], 'optimizer.restrict range');
    const offset = expectInt('optimizer.restrict offset', range.offset, 0);
    const length = expectInt('optimizer.restrict length', range.length);
    if (offset % 64 !== 0) throw new ValueError(`Expected a multiple of 64 for optimizer.restrict offset (parameters start at 64-element boundaries) but received ${offset}`);
    if (offset + length > size) throw new ValueError(`optimizer.restrict range [${offset}, ${offset + length}) leaves the parameter arena of ${size} elements`);
    this.active = { offset, length };
    this.target = this.targetOf(this.active);
  }

  /** Whether a step steps embedding tables row-sparsely (see the class doc). */
  get rowSparse(): boolean {
    return this.sparseTarget !== null;
  }

  /** The arena range a step updates: { offset: 0, length: arenaSize } unless {@link restrict} narrowed it. */
  get range(): Readonly<ArenaRange> {
    return this.active;
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

  /**
   * Applies the gradients in the arena (or the range set by {@link restrict}) to the parameters:
   * embedding tables row-sparsely when {@link rowSparse}, the rest with one fused call.
   */
  step(): void {
    this.steps++;
    const o = this.kernelOptions;
    o.lr = this.lr;
    o.step = this.steps;
    this.sparseTarget?.sgdStep(this.lr);
    if (!this.target) return;
    const { params: p, grads: g, state } = this.target;
    if (this.config.kind === 'sgd') {
      this.backend.sgdStep(p, g, state.momentum, o);
    } else {
      this.backend.adamwStep(p, g, state['adam.m'], state['adam.v'], o);
    }
  }
}
