/**
 * Loss-based weighting strategies: they only set the per-task loss weights, which the fused
 * multi-loss kernel applies, so they cost nothing beyond reading T losses per step.
 */
import { stateNumber, stateNumbers, stateObject } from '../../core/state.js';
import { CheckpointError, ConfigError, describe, expectNumber } from '../../errors.js';
import { WeightingStrategy, type WeightingContext } from './strategy.js';

/** Adam (β = 0.9, 0.999, ε = 1e-8) over a strategy's few host-side learned parameters. */
class ScalarAdam {
  private readonly m: Float64Array;
  private readonly v: Float64Array;
  private steps = 0;

  constructor(
    size: number,
    private readonly lr: number,
  ) {
    this.m = new Float64Array(size);
    this.v = new Float64Array(size);
  }

  /** params −= Adam step for gradient `grad`. */
  step(params: Float64Array, grad: ArrayLike<number>): void {
    this.steps++;
    for (let t = 0; t < params.length; t++) {
      this.m[t] = 0.9 * this.m[t] + 0.1 * grad[t];
      this.v[t] = 0.999 * this.v[t] + 0.001 * grad[t] * grad[t];
      const mh = this.m[t] / (1 - 0.9 ** this.steps);
      const vh = this.v[t] / (1 - 0.999 ** this.steps);
      params[t] -= (this.lr * mh) / (Math.sqrt(vh) + 1e-8);
    }
  }

  getState(): Record<string, unknown> {
    return { m: Array.from(this.m), v: Array.from(this.v), steps: this.steps };
  }

  /** Restores `getState()` output; CheckpointError naming the key under `where` otherwise. */
  setState(state: unknown, where: string): void {
    const s = stateObject(state, where);
    const m = stateNumbers(s.m, `${where}.m`, this.m.length);
    const v = stateNumbers(s.v, `${where}.v`, this.v.length, { min: 0 });
    this.steps = stateNumber(s.steps, `${where}.steps`, { integer: true, min: 0 });
    this.m.set(m);
    this.v.set(v);
  }
}

/** log L_t, NaN for a task without labels in the batch (loss 0). */
function logLosses(losses: Float32Array): Float64Array {
  return Float64Array.from(losses, (l) => (l > 0 ? Math.log(l) : NaN));
}

/** Every task weighted 1 (LibMTL's EW). */
export class EqualWeighting extends WeightingStrategy {
  readonly name = 'equal';
  readonly mode = 'loss';
  constructor(ctx: WeightingContext) {
    super(ctx);
    this.current.fill(1);
  }
}

/** The tasks' own weights (TaskSpec.weight, or the trainer's `weights`), held fixed. */
export class FixedWeighting extends WeightingStrategy {
  readonly name = 'fixed';
  readonly mode = 'loss';
}

/**
 * Uncertainty weighting (Kendall, Gal & Cipolla 2018), with learned s_t = log σ_t²:
 * L = Σ_t c_t·e^{−s_t}·L_t + ½·s_t, c_t = ½ for regression and 1 for classification tasks
 * (the paper's two likelihoods; LibMTL's UW uses ½ for every task). The model sees weights
 * w_t = c_t·e^{−s_t}; s_t is learned by gradient descent on L with ∂L/∂s_t = −c_t·e^{−s_t}·L_t + ½,
 * with Adam (β = 0.9, 0.999) at the trainer's learning rate.
 */
export class UncertaintyWeighting extends WeightingStrategy {
  readonly name = 'uncertainty';
  readonly mode = 'loss';
  override readonly learnsFromLosses = true;
  readonly logVariance: Float64Array;
  private readonly c: Float64Array;
  private readonly adam: ScalarAdam;

  constructor(ctx: WeightingContext) {
    super(ctx);
    const T = ctx.tasks.length;
    this.logVariance = new Float64Array(T);
    this.c = Float64Array.from(ctx.tasks, (t) => (t.kind === 'regression' ? 0.5 : 1));
    this.adam = new ScalarAdam(T, ctx.lr);
    this.beforeStep();
  }

  /** ∂L/∂s_t for the given losses. */
  gradient(losses: ArrayLike<number>): Float64Array {
    return Float64Array.from(this.logVariance, (s, t) => -this.c[t] * Math.exp(-s) * losses[t] + 0.5);
  }

  override beforeStep(): void {
    this.logVariance.forEach((s, t) => (this.current[t] = this.c[t] * Math.exp(-s)));
  }

  override afterStep(losses: Float32Array): void {
    this.adam.step(this.logVariance, this.gradient(losses));
  }

  override getState(): Record<string, unknown> {
    return { ...super.getState(), logVariance: Array.from(this.logVariance), adam: this.adam.getState() };
  }

  override setState(state: Record<string, unknown>, where = 'training.weighting.state'): void {
    super.setState(state, where);
    this.logVariance.set(stateNumbers(state.logVariance, `${where}.logVariance`, this.logVariance.length));
    this.adam.setState(state.adam, `${where}.adam`);
  }
}

/**
 * Dynamic Weight Average (Liu, Johns & Davison 2019): with the epoch-mean losses of the two
 * previous epochs, r_t = L_t(e−1)/L_t(e−2) and w_t = T·softmax(r/τ)_t; w = 1 in the first two
 * epochs. τ (temperature) defaults to 2.
 */
export class DwaWeighting extends WeightingStrategy {
  readonly name = 'dwa';
  readonly mode = 'loss';
  override readonly learnsFromLosses = true;
  readonly temperature: number;
  private readonly sums: Float64Array;
  private count = 0;
  private history: number[][] = [];

  constructor(ctx: WeightingContext, opts: { temperature?: number } = {}) {
    super(ctx);
    this.temperature = expectNumber('dwa temperature', opts.temperature ?? 2, 1e-6);
    this.sums = new Float64Array(ctx.tasks.length);
    this.current.fill(1);
  }

  override afterStep(losses: Float32Array): void {
    losses.forEach((l, t) => (this.sums[t] += l));
    this.count++;
  }

  override endEpoch(): void {
    if (this.count > 0) this.history.push(Array.from(this.sums, (s) => s / this.count));
    this.history = this.history.slice(-2);
    this.sums.fill(0);
    this.count = 0;
    if (this.history.length < 2) return;
    const [older, newer] = this.history;
    const r = newer.map((l, t) => l / Math.max(older[t], 1e-12) / this.temperature);
    const max = Math.max(...r);
    const e = r.map((x) => Math.exp(x - max));
    const z = e.reduce((a, b) => a + b, 0);
    e.forEach((x, t) => (this.current[t] = (r.length * x) / z));
  }

  /** The epoch means so far, and this epoch's running sums (a run stopped mid-epoch resumes them). */
  override getState(): Record<string, unknown> {
    return { ...super.getState(), history: this.history.map((h) => [...h]), epochSums: Array.from(this.sums), epochSteps: this.count };
  }

  override setState(state: Record<string, unknown>, where = 'training.weighting.state'): void {
    super.setState(state, where);
    const T = this.sums.length;
    // Checkpoints written before a run could stop mid-epoch have no running sums: they were
    // written at an epoch end, where the sums are empty.
    if (state.epochSums !== undefined || state.epochSteps !== undefined) {
      this.sums.set(stateNumbers(state.epochSums, `${where}.epochSums`, T, { min: 0 }));
      this.count = stateNumber(state.epochSteps, `${where}.epochSteps`, { min: 0, integer: true });
    } else {
      this.sums.fill(0);
      this.count = 0;
    }
    const history = state.history;
    if (!Array.isArray(history) || history.length > 2) {
      throw new CheckpointError(`Invalid checkpoint state at ${where}.history: expected the mean losses of at most 2 epochs but received ${describe(history)}`);
    }
    this.history = history.map((epoch, e) => stateNumbers(epoch, `${where}.history[${e}]`, T, { min: 0 }));
  }
}

/**
 * Random Loss Weighting (Lin et al. 2022): each step, w = softmax(z) with z ~ N(0, I), drawn
 * from the trainer's seeded generator (as LibMTL's RLW, the weights sum to 1).
 */
export class RlwWeighting extends WeightingStrategy {
  readonly name = 'rlw';
  readonly mode = 'loss';

  override beforeStep(): void {
    const z = Array.from(this.current, () => this.ctx.rng.normal());
    const max = Math.max(...z);
    const e = z.map((x) => Math.exp(x - max));
    const s = e.reduce((a, b) => a + b, 0);
    e.forEach((x, t) => (this.current[t] = x / s));
  }
}

/**
 * Geometric Loss Strategy (Chennupati et al. 2019): L = (Π_t L_t)^{1/T}, whose gradient is
 * Σ_t w_t·∇L_t with w_t = L / (T·L_t), computed from this step's losses before its backward.
 */
export class GlsWeighting extends WeightingStrategy {
  readonly name = 'gls';
  readonly mode = 'loss';
  override readonly needsCurrentLosses = true;

  override fromCurrentLosses(losses: Float32Array): void {
    // A task without labels in the batch has loss 0 and no gradient: it sits this step out.
    let active = 0;
    let logSum = 0;
    for (const l of losses) {
      if (l > 0) {
        active++;
        logSum += Math.log(l);
      }
    }
    const geo = Math.exp(logSum / Math.max(active, 1));
    losses.forEach((l, t) => (this.current[t] = l > 0 ? geo / (active * l) : 0));
  }
}

/** When FAMO measures its loss decrease δ (see {@link FamoWeighting}). */
export type FamoDelta = 'same-batch' | 'next-batch';

/** FAMO's δ forms, for option checks. */
export const FAMO_DELTAS: readonly FamoDelta[] = ['same-batch', 'next-batch'];

/**
 * FAMO, fast adaptive multitask optimisation (Liu et al. 2023), as the authors' code and LibMTL
 * implement it: task logits ξ, z = softmax(ξ); the step minimises Σ_t z_t·log L_t, i.e. weights
 * w_t = z_t / (c·L_t) with c = Σ_t z_t/L_t; ξ moves by Adam (lr β = 0.025, L2 decay
 * γ = 0.001) along Jᵀδ, δ_t the decrease of log L_t, J the softmax Jacobian: tasks whose loss
 * fell less gain weight. Option `delta` says which decrease:
 *
 * - 'same-batch' (default; the authors' `famo.update` and LibMTL's `update_w`):
 *   δ_t = log L_t(θ_t, batch_t) − log L_t(θ_{t+1}, batch_t), the batch re-evaluated after the
 *   optimizer step, and ξ updated then. The re-evaluation reuses the step's dropout seed, so
 *   the same units are dropped (theirs, a second forward in training mode, draws new masks).
 *   Costs one extra forward and fused multi-loss per step (no backward) and one more T-float
 *   read (WeightedStep.reevaluate, called by the Trainer after the optimizer step).
 * - 'next-batch' (this library's form before issue 24): δ_t = log L_t(θ_{t−1}, batch_{t−1}) −
 *   log L_t(θ_t, batch_t), from the losses every step computes anyway, and ξ updated before the
 *   step's backward. No extra forward, but δ then mixes the parameter update's effect with the
 *   difference between two batches, a noise of the size of the batch-to-batch spread of the
 *   losses, which the ξ Adam averages out only over many steps; FAMO's analysis assumes the
 *   same-batch decrease.
 *
 * A task without labels in a batch (loss 0) gets weight 0 and δ_t = 0 for that update.
 */
export class FamoWeighting extends WeightingStrategy {
  readonly name = 'famo';
  readonly mode = 'loss';
  override readonly needsCurrentLosses = true;
  override readonly needsLossesAfterStep: boolean;
  readonly logits: Float64Array;
  /** Which loss decrease δ drives ξ. */
  readonly delta: FamoDelta;
  private readonly decay: number;
  private readonly adam: ScalarAdam;
  /** log L_t of the previous step (next-batch) or of this step before its update (same-batch); NaN: no labels. */
  private prev: Float64Array | null = null;

  constructor(ctx: WeightingContext, opts: { lr?: number; decay?: number; delta?: FamoDelta } = {}) {
    super(ctx);
    const T = ctx.tasks.length;
    this.decay = expectNumber('famo decay', opts.decay ?? 0.001, 0);
    const delta = opts.delta ?? 'same-batch';
    if (!FAMO_DELTAS.includes(delta)) {
      throw new ConfigError(`Expected famo delta ${FAMO_DELTAS.join(' or ')} but received ${describe(delta)}`);
    }
    this.delta = delta;
    this.needsLossesAfterStep = delta === 'same-batch';
    this.logits = new Float64Array(T);
    this.adam = new ScalarAdam(T, expectNumber('famo lr', opts.lr ?? 0.025, 0));
  }

  /** z = softmax(ξ). */
  private softmax(): Float64Array {
    const max = Math.max(...this.logits);
    const e = this.logits.map((x) => Math.exp(x - max));
    const s = e.reduce((a, b) => a + b, 0);
    return e.map((x) => x / s);
  }

  /** One Adam step of ξ along Jᵀδ, δ_t = prev_t − logL_t (0 where either is unknown). */
  private update(logL: Float64Array): void {
    const prev = this.prev!;
    const z = this.softmax();
    const delta = logL.map((x, t) => (Number.isFinite(x) && Number.isFinite(prev[t]) ? prev[t] - x : 0));
    const zd = z.reduce((s, zt, t) => s + zt * delta[t], 0);
    // Jᵀδ of the softmax, plus the L2 decay (torch Adam's weight_decay, as LibMTL uses it).
    this.adam.step(this.logits, z.map((zt, t) => zt * (delta[t] - zd) + this.decay * this.logits[t]));
  }

  override fromCurrentLosses(losses: Float32Array): void {
    // Tasks without labels in the batch (loss 0) get weight 0 and take no part in the update.
    const logL = logLosses(losses);
    if (this.delta === 'next-batch') {
      if (this.prev) this.update(logL);
      // A task without labels in this batch keeps its last known loss.
      this.prev = logL.map((x, t) => (Number.isFinite(x) ? x : this.prev?.[t] ?? NaN));
    } else {
      this.prev = logL;
    }
    const z = this.softmax();
    const c = z.reduce((s, zt, t) => s + (losses[t] > 0 ? zt / losses[t] : 0), 0);
    z.forEach((zt, t) => (this.current[t] = losses[t] > 0 ? zt / (c * losses[t]) : 0));
  }

  /** Same-batch δ: the batch's losses after the optimizer step against those before it. */
  override afterOptimizerStep(losses: Float32Array): void {
    if (this.delta === 'same-batch' && this.prev) this.update(logLosses(losses));
  }

  override getState(): Record<string, unknown> {
    return { ...super.getState(), logits: Array.from(this.logits), prev: this.prev && Array.from(this.prev), adam: this.adam.getState() };
  }

  override setState(state: Record<string, unknown>, where = 'training.weighting.state'): void {
    super.setState(state, where);
    const T = this.logits.length;
    this.logits.set(stateNumbers(state.logits, `${where}.logits`, T));
    // prev holds NaN for a task that has had no labels yet (JSON null).
    this.prev = state.prev === null ? null : Float64Array.from(stateNumbers(state.prev, `${where}.prev`, T, { nullAs: NaN }));
    this.adam.setState(state.adam, `${where}.adam`);
  }
}
