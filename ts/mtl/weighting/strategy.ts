/**
 * Loss-weighting strategies. A strategy decides, each training step, how the tasks' losses
 * combine into the gradient that trains the network:
 * - loss-based strategies (mode 'loss') choose the per-task loss weights w_t; the fused
 *   multi-loss kernel applies them, so the step costs nothing extra;
 * - gradient-based strategies (mode 'representation' or 'parameters') look at the per-task
 *   gradients of the shared part through their T×T Gram matrix and choose coefficients α_t
 *   of the combined gradient Σ α_t·g_t (see per-task-gradients.ts).
 *
 * The trainer drives a strategy through `TrainingStep` (step.ts); a strategy only does small
 * host-side arithmetic on T numbers (or T×T for the Gram matrix).
 */
import type { Backend, Tensor } from '../../backends/backend.js';
import type { Rng } from '../../core/random.js';
import { stateNumbers, stateObject } from '../../core/state.js';
import type { Task } from '../task.js';
import type { GradientSpace } from './per-task-gradients.js';

/** What a weighting strategy is made with (see {@link createWeighting}). */
export interface WeightingContext {
  /** The model's tasks, in order (T of them). */
  readonly tasks: readonly Task[];
  /** Seeded; strategies that draw random numbers (RLW, PCGrad) use only this. */
  readonly rng: Rng;
  /** The loss weights the tasks declare (Task.weight, or the trainer's override). */
  readonly baseWeights: Float32Array;
  /** Learning rate of the trainer's optimizer (for strategies with learned parameters). */
  readonly lr: number;
}

/**
 * A loss-weighting strategy: each training step, it chooses the per-task loss weights (loss
 * mode: fixed, uncertainty, DWA, RLW, GLS, FAMO, ...) or the coefficients α of the combined
 * per-task gradients (gradient modes: MGDA, PCGrad, CAGrad, GradNorm, ...). It does only small
 * host arithmetic on T numbers (or a T×T Gram matrix); the Trainer drives it through
 * {@link WeightedStep}. Made by {@link createWeighting}.
 */
export abstract class WeightingStrategy {
  /** Its registry name, as in {@link WEIGHTINGS}. */
  abstract readonly name: string;
  /** 'loss' for loss-based strategies, else the space where task gradients are combined. */
  abstract readonly mode: 'loss' | GradientSpace;
  /** Strategies that need this step's losses before its backward to set the loss weights
   * (GLS, FAMO; DB-MTL's log-losses in a gradient mode). */
  readonly needsCurrentLosses: boolean = false;
  /** Strategies whose afterStep learns from every step's losses (uncertainty, DWA). */
  readonly learnsFromLosses: boolean = false;
  /**
   * Strategies that learn from the same batch's losses re-evaluated after the optimizer step
   * (FAMO's same-batch δ): the trainer then runs one extra forward and multi-loss per step and
   * reads the T losses back for `afterOptimizerStep`.
   */
  readonly needsLossesAfterStep: boolean = false;
  /** The weights (loss mode) or coefficients (gradient modes) of the last step, for logs. */
  readonly current: Float64Array;
  /** Gradient modes with needsCurrentLosses: the loss weights under which the per-task
   * gradients are taken this step (set by fromCurrentLosses; 1 otherwise). */
  readonly lossWeights: Float64Array;

  constructor(
    /** The tasks, seeded generator, base weights and learning rate it was made with. */
    protected readonly ctx: WeightingContext,
  ) {
    this.current = Float64Array.from(ctx.baseWeights);
    this.lossWeights = new Float64Array(ctx.baseWeights.length).fill(1);
  }

  /** Loss weights for the coming step (loss mode); written into `current`. */
  beforeStep(): void {}

  /** With this step's (unweighted) losses, before the backward: only if needsCurrentLosses. */
  fromCurrentLosses(_losses: Float32Array): void {}

  /** Gradient modes: coefficients α from the Gram matrix of the per-task gradients. */
  combine(_gram: Float64Array, _losses: Float32Array): Float64Array {
    throw new Error(`${this.name} does not combine gradients`);
  }

  /**
   * Representation mode only: a strategy that combines the per-task gradients G [T, n·D]
   * elementwise on the backend (GradDrop) instead of through coefficients; `seed` changes
   * every step.
   */
  readonly combineOnDevice?: (be: Backend, g: Tensor, out: Tensor, seed: number) => void;

  /**
   * Parameter space only: replaces the per-task gradients G [T, P] by the tensor the Gram
   * matrix and the combination use (DB-MTL's moving average); called once per step.
   */
  readonly transformGradients?: (be: Backend, g: Tensor) => Tensor;

  /** After the step, with its losses (uncertainty learns from them; DWA averages them). */
  afterStep(_losses: Float32Array): void {}

  /**
   * After the optimizer step, with the same batch's (unweighted) losses under the updated
   * parameters (same dropout seed): only if needsLossesAfterStep.
   */
  afterOptimizerStep(_losses: Float32Array): void {}

  /** At the end of every epoch (DWA's epoch-level weights). */
  endEpoch(): void {}

  /** Learned or accumulated state, as JSON, for checkpoints and run logs. */
  getState(): Record<string, unknown> {
    return { current: Array.from(this.current) };
  }

  /**
   * Restores `getState()` output, read back from a checkpoint. Every key `getState` writes must
   * be there with the right type, length and finite values: anything else is a CheckpointError
   * naming the key path (`where` is the state's own path in the checkpoint). Subclasses check
   * their own keys, then call this.
   */
  setState(state: Record<string, unknown>, where = 'training.weighting.state'): void {
    const s = stateObject(state, where);
    this.current.set(stateNumbers(s.current, `${where}.current`, this.current.length));
  }
}

/** A weighting strategy in the registry (ts/mtl/weighting/index.ts): what --weighting names. */
export interface WeightingEntry {
  description: string;
  /** The option keys the strategy takes ("temperature", "space", ...); any other key is an error. */
  options: readonly string[];
  create(ctx: WeightingContext, opts: Record<string, string | number | boolean>): WeightingStrategy;
}
