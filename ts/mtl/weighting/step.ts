/**
 * One training step of a model under a weighting strategy (everything but the optimizer):
 *
 *   loss mode:      weights ← strategy; forward; fused multi-loss (weighted); [GLS: read the
 *                   losses, re-weight, multi-loss again]; backward.
 *   gradient modes: forward; fused multi-loss with every weight 1; per-task gradients in the
 *                   strategy's space; Gram matrix; α ← strategy; combined backward.
 *
 * Reads back only what the strategy needs: nothing for fixed weights, the T losses for the
 * strategies that learn from them, and the T×T Gram matrix for gradient methods.
 */
import type { Backend, Tensor } from '../../backends/backend.js';
import type { StepContext } from '../../nn/layer.js';
import type { MultiTaskModel } from '../model.js';
import { PerTaskGradients } from './per-task-gradients.js';
import type { WeightingStrategy } from './strategy.js';

/**
 * Reductions across data-parallel ranks (ts/distributed/data-parallel.ts) that keep a strategy
 * exact: every rank then chooses the same weights or coefficients from the whole batch.
 */
export interface StepReduction {
  /** Averages this rank's per-task losses [T] over the ranks, in place (before any strategy reads them). */
  losses(losses: Float32Array): void;
  /** Turns this rank's T×T Gram matrix of representation gradients into the whole batch's, in place. */
  gram(gram: Float64Array): void;
  /** Averages the per-task gradient rows [T, sharedSize] of the shared parameters over the ranks, in place. */
  rows(be: Backend, g: Tensor, sharedSize: number): Promise<void>;
}

/**
 * One training step of a model under a weighting strategy: forward, the fused multi-loss, the
 * strategy's weights or gradient combination, and backward (everything but the optimizer step).
 * Reads back only what the strategy needs.
 */
export class WeightedStep {
  private readonly weights: Float32Array;
  /** 1 for tasks that train, 0 for tasks stopped (auxiliary tasks' early stopping). */
  private readonly active: Float64Array;
  /** The weights (loss mode) or coefficients (gradient modes) the last step really used. */
  readonly effective: Float64Array;
  private readonly gradients: PerTaskGradients | null;
  /** Whether the strategy reads every step's losses (they are then in `losses` after run). */
  readonly readsLosses: boolean;
  /** Whether the strategy wants the batch re-evaluated after the optimizer step ({@link reevaluate}). */
  readonly reevaluates: boolean;
  /** Host buffer for the re-evaluated losses [T] (the trainer's `losses` keep the step's own). */
  private readonly lossesAfter: Float32Array | null;

  constructor(
    private readonly model: MultiTaskModel,
    /** The strategy that weights every step. */
    readonly strategy: WeightingStrategy,
    /** Host buffer for the per-task losses [T]. */
    private readonly losses: Float32Array,
    /** Data-parallel reductions (null: one process). */
    private readonly reduction: StepReduction | null = null,
  ) {
    this.weights = new Float32Array(model.tasks.length);
    this.active = new Float64Array(model.tasks.length).fill(1);
    this.effective = new Float64Array(model.tasks.length);
    this.gradients = strategy.mode === 'loss' ? null : new PerTaskGradients(model, reduction);
    this.readsLosses = strategy.mode !== 'loss' || strategy.needsCurrentLosses || strategy.learnsFromLosses;
    this.reevaluates = strategy.needsLossesAfterStep;
    this.lossesAfter = this.reevaluates ? new Float32Array(model.tasks.length) : null;
    if (strategy.mode !== 'loss') this.setWeights(this.active);
  }

  /** Stops training task t: from now on its loss weight (or gradient coefficient) is 0. */
  deactivate(t: number): void {
    this.active[t] = 0;
    if (this.strategy.mode !== 'loss') this.setWeights(this.active);
  }

  /** Writes w ⊙ active as the model's loss weights, only when they change (fixed weights are written once). */
  private setWeights(w: Float64Array): void {
    let changed = !this.written;
    for (let t = 0; t < w.length; t++) {
      const v = Math.fround(w[t] * this.active[t]);
      if (v !== this.weights[t]) {
        this.weights[t] = v;
        changed = true;
      }
    }
    this.effective.set(this.weights);
    if (changed) this.model.setTaskWeights(this.weights);
    this.written = true;
  }

  private written = false;

  /**
   * Runs forward and backward for the loaded batch of n samples; returns whether `losses` was
   * read. `onLosses` runs as soon as they are (before any use, e.g. to stop on a NaN).
   */
  async run(n: number, step: StepContext, onLosses: () => void = () => {}): Promise<boolean> {
    const { model, strategy } = this;
    const be = model.backend;
    model.zeroGradients();
    const logits = model.forward(n, step);
    if (strategy.mode === 'loss') {
      strategy.beforeStep();
      this.setWeights(strategy.current);
      let dl = model.computeLoss(n, logits);
      if (strategy.needsCurrentLosses) {
        await be.read(model.losses, this.losses);
        this.reduction?.losses(this.losses);
        onLosses();
        strategy.fromCurrentLosses(this.losses);
        this.setWeights(strategy.current);
        dl = model.computeLoss(n, logits);
      }
      model.backward(dl, n);
    } else {
      let dl = model.computeLoss(n, logits);
      await be.read(model.losses, this.losses);
      this.reduction?.losses(this.losses);
      onLosses();
      if (strategy.needsCurrentLosses) {
        // The per-task gradients are those of re-weighted losses (DB-MTL: log L_t).
        strategy.fromCurrentLosses(this.losses);
        this.setWeights(strategy.lossWeights);
        dl = model.computeLoss(n, logits);
      }
      const combine = (gram: Float64Array): Float64Array => strategy.combine(gram, this.losses).map((a, t) => a * this.active[t]);
      if (strategy.combineOnDevice) {
        // Stopped tasks already have zero gradients (their loss weight is 0).
        const onDevice = strategy.combineOnDevice;
        this.gradients!.backwardRepresentationWith(dl, n, (g, out) => onDevice(be, g, out, step.seed));
        this.effective.set(this.active);
      } else {
        const alpha =
          strategy.mode === 'representation'
            ? await this.gradients!.backwardRepresentation(dl, n, combine)
            : await this.gradients!.backwardParameters(dl, n, combine, strategy.transformGradients);
        strategy.current.set(alpha);
        this.effective.set(alpha);
      }
    }
    if (!this.readsLosses) return false;
    if (strategy.mode === 'loss' && !strategy.needsCurrentLosses) {
      await be.read(model.losses, this.losses);
      this.reduction?.losses(this.losses);
      onLosses();
    }
    strategy.afterStep(this.losses);
    return true;
  }

  /**
   * After the optimizer step, for a strategy with needsLossesAfterStep (FAMO's same-batch δ):
   * the loaded batch of n rows (still on the backend) forward again with the same step context,
   * so the same dropout masks, and the fused multi-loss; reads the T losses back (one more
   * T-float read per step) and hands them to `afterOptimizerStep`. The gradient buffers it
   * overwrites (dL/dlogits) are the next step's to rewrite; parameters and their gradients are
   * untouched. Does nothing for other strategies.
   */
  async reevaluate(n: number, step: StepContext): Promise<void> {
    if (!this.lossesAfter) return;
    const { model } = this;
    model.computeLoss(n, model.forward(n, step));
    await model.backend.read(model.losses, this.lossesAfter);
    this.reduction?.losses(this.lossesAfter);
    this.strategy.afterOptimizerStep(this.lossesAfter);
  }
}
