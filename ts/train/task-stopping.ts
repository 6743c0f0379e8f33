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
import { checkKeys } from '../core/options.js';
import { stateNumber, stateNumbers, stateObject } from '../core/state.js';
import { CheckpointError, ConfigError, expectInt, expectNumber } from '../errors.js';

/** TrainerConfig.auxiliaryStopping: the TCDCN criterion's window and threshold. Unknown keys are ConfigErrors. */
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
  /** Window length k, in epochs. */
  readonly k: number;
  /** Threshold ε: a task stops when its criterion exceeds it. */
  readonly threshold: number;
  private readonly history = new Map<string, number[]>();
  /** Tasks stopped so far, with the epoch and the criterion value. */
  readonly stopped = new Map<
    string,
    {
      /** The epoch at whose end the task stopped (1-based). */
      epoch: number;
      /** The criterion's value then. */
      value: number;
    }
  >();

  constructor(
    config: TaskStoppingConfig,
    /** The auxiliary tasks' names, when known: a restored state may name no other task. */
    readonly tasks: readonly string[] | null = null,
  ) {
    if (typeof config !== 'object' || config === null) throw new ConfigError('auxiliaryStopping expects an object like { k: 5, threshold: 1 }');
    checkKeys(config, ['k', 'threshold'], 'auxiliaryStopping');
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

  /** Its state for a checkpoint (plain JSON): every task's training errors so far and the stopped tasks. */
  getState(): Record<string, unknown> {
    return { history: Object.fromEntries(this.history), stopped: Object.fromEntries(this.stopped) };
  }

  /**
   * Restores `getState()` output (from a checkpoint): per task, its training errors so far and,
   * if it stopped, the epoch and criterion value. Anything else (wrong types, non-finite
   * errors, a task this stopper does not track) is a CheckpointError naming the key under
   * `where`; nothing is restored then.
   */
  setState(state: Record<string, unknown>, where = 'training.auxiliaryStopping'): void {
    const s = stateObject(state, where);
    const task = (name: string, key: string): string => {
      if (this.tasks && !this.tasks.includes(name)) {
        throw new CheckpointError(`Invalid checkpoint state at ${where}.${key}: ${JSON.stringify(name)} is not an auxiliary task of this model (${this.tasks.join(', ') || 'none'})`);
      }
      return name;
    };
    const history = Object.entries(stateObject(s.history, `${where}.history`)).map(
      ([name, errors]) => [task(name, 'history'), stateNumbers(errors, `${where}.history.${name}`, undefined, { min: 0 })] as const,
    );
    const stopped = Object.entries(stateObject(s.stopped, `${where}.stopped`)).map(([name, v]) => {
      const at = `${where}.stopped.${name}`;
      const o = stateObject(v, at);
      // value: the criterion, which JSON writes as null when it was Infinity.
      return [task(name, 'stopped'), { epoch: stateNumber(o.epoch, `${at}.epoch`, { integer: true, min: 1 }), value: stateNumber(o.value, `${at}.value`, { nullAs: Infinity }) }] as const;
    });
    this.history.clear();
    this.stopped.clear();
    for (const [name, errors] of history) this.history.set(name, errors);
    for (const [name, v] of stopped) this.stopped.set(name, v);
  }
}
