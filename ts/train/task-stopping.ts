/**
 * Task-wise early stopping of auxiliary tasks (Zhang, Luo, Loy & Tang 2014, TCDCN, eq. 5):
 * auxiliary task a stops at epoch t when
 *
 *      k · med(E_tr^a over epochs t−k..t)           E_val^a(t) − min_{j≤t} E_tr^a(j)
 *   ─────────────────────────────────────────── · ────────────────────────────────── > ε
 *   Σ(E_tr^a over t−k..t) − k · med(same window)       λ_a · min_{j≤t} E_tr^a(j)
 *
 * The first factor is the training-error trend (near k when the training error has
 * flattened, small while it still falls fast); the second is the generalisation gap relative
 * to the best training error. E_tr and E_val are the task's epoch-mean training loss and its
 * validation loss; λ_a is the task's loss weight. From the stop on, the task's weight is 0.
 */
import { ConfigError, expectInt, expectNumber } from '../errors.js';

export interface TaskStoppingConfig {
  /** Window length k (epochs t−k..t are used; the criterion applies from epoch k+1). Default 5. */
  k?: number;
  /** Threshold ε. Default 1. */
  threshold?: number;
}

/** The value of the TCDCN criterion for one task, or null before k+1 epochs of history. */
export function tcdcnCriterion(trainErrors: readonly number[], valError: number, k: number, lambda: number): number | null {
  const t = trainErrors.length;
  if (t < k + 1) return null;
  const window = trainErrors.slice(t - k - 1);
  const sorted = [...window].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const med = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  const sum = window.reduce((a, b) => a + b, 0);
  const minTrain = Math.min(...trainErrors);
  const trendDen = sum - k * med;
  const trend = trendDen > 0 ? (k * med) / trendDen : Infinity;
  const gapDen = lambda * minTrain;
  const gap = gapDen > 0 ? (valError - minTrain) / gapDen : valError > minTrain ? Infinity : 0;
  // An infinite trend (no progress at all) times no generalisation gap is no reason to stop.
  return gap <= 0 ? gap : trend * gap;
}

/** Tracks the auxiliary tasks' errors epoch by epoch and decides when each stops. */
export class AuxiliaryTaskStopper {
  readonly k: number;
  readonly threshold: number;
  private readonly history = new Map<string, number[]>();
  /** Tasks stopped so far, with the epoch and the criterion value. */
  readonly stopped = new Map<string, { epoch: number; value: number }>();

  constructor(config: TaskStoppingConfig) {
    if (typeof config !== 'object' || config === null) throw new ConfigError('auxiliaryStopping expects an object like { k: 5, threshold: 1 }');
    this.k = expectInt('auxiliaryStopping.k', config.k ?? 5);
    this.threshold = expectNumber('auxiliaryStopping.threshold', config.threshold ?? 1, 0);
  }

  /**
   * Records an epoch of task `name` (training loss, validation loss, loss weight λ) and
   * returns the criterion value if the task stops now, else null.
   */
  update(name: string, epoch: number, trainError: number, valError: number, lambda: number): number | null {
    if (this.stopped.has(name)) return null;
    const h = this.history.get(name) ?? [];
    h.push(trainError);
    this.history.set(name, h);
    const value = tcdcnCriterion(h, valError, this.k, lambda);
    if (value === null || !(value > this.threshold)) return null;
    this.stopped.set(name, { epoch, value });
    return value;
  }

  getState(): Record<string, unknown> {
    return { history: Object.fromEntries(this.history), stopped: Object.fromEntries(this.stopped) };
  }

  setState(state: Record<string, unknown>): void {
    const h = state.history as Record<string, number[]> | undefined;
    const s = state.stopped as Record<string, { epoch: number; value: number }> | undefined;
    if (h) for (const [k, v] of Object.entries(h)) this.history.set(k, [...v]);
    if (s) for (const [k, v] of Object.entries(s)) this.stopped.set(k, v);
  }
}
