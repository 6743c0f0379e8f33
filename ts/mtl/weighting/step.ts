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
import type { StepContext } from '../../nn/layer.js';
import type { MultiTaskModel } from '../model.js';
import { PerTaskGradients } from './per-task-gradients.js';
import type { WeightingStrategy } from './strategy.js';

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

  constructor(
    private readonly model: MultiTaskModel,
    /** The strategy that weights every step. */
    readonly strategy: WeightingStrategy,
    /** Host buffer for the per-task losses [T]. */
    private readonly losses: Float32Array,
  ) {
    this.weights = new Float32Array(model.tasks.length);
    this.active = new Float64Array(model.tasks.length).fill(1);
    this.effective = new Float64Array(model.tasks.length);
    this.gradients = strategy.mode === 'loss' ? null : new PerTaskGradients(model);
    this.readsLosses = strategy.mode !== 'loss' || strategy.needsCurrentLosses || strategy.learnsFromLosses;
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
    be.fill(model.params.grads, 0);
    const logits = model.forward(n, step);
    if (strategy.mode === 'loss') {
      strategy.beforeStep();
      this.setWeights(strategy.current);
      let dl = model.computeLoss(n, logits);
      if (strategy.needsCurrentLosses) {
        await be.read(model.losses, this.losses);
        onLosses();
        strategy.fromCurrentLosses(this.losses);
        this.setWeights(strategy.current);
        dl = model.computeLoss(n, logits);
      }
      model.backward(dl, n);
    } else {
      let dl = model.computeLoss(n, logits);
      await be.read(model.losses, this.losses);
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
      onLosses();
    }
    strategy.afterStep(this.losses);
    return true;
  }
}
