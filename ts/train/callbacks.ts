/**
 * What user code can hook into a Trainer's run: callbacks at the end of an epoch and every k
 * steps, a control that stops the run cleanly, and early stopping on the main tasks'
 * validation score (with its state for checkpoints).
 */
import { checkKeys } from '../core/options.js';
import type { EpochRecord } from './trainer.js';
import { CheckpointError, ConfigError, describe, expectInt, expectNumber } from '../errors.js';

/** Handed to every callback: lets it end the run cleanly. */
export interface TrainingControl {
  /**
   * Ends the run cleanly: from onStepEnd, the epoch in progress ends after the current step (its
   * record, validation and checkpoint cover the steps done); from onEpochEnd, after that epoch.
   * fit() then resolves with the history (it does not reject).
   */
  stop(): void;
  /** Whether stop() was called in this run. */
  readonly stopRequested: boolean;
}

/** What onStepEnd is told about the step that just ran. */
export interface StepInfo {
  /** The epoch in progress, 1-based. */
  epoch: number;
  /** Optimizer steps since the start of the run, this one included. */
  step: number;
  /** Steps done in this epoch, this one included. */
  stepInEpoch: number;
  /** The epoch's total steps. */
  stepsInEpoch: number;
  /** The learning rate this step used. */
  lr: number;
  /** The per-task losses last read back (read every `lossCheckEvery` steps, and at each epoch's last step). */
  losses: Readonly<Record<string, number>>;
  /** The global gradient norm before clipping, when clipGradNorm is set. */
  gradNorm?: number;
}

/**
 * Callbacks of a Trainer (TrainerConfig.callbacks). Each may return a promise, which the run
 * awaits. onStepEnd is throttled: it runs after every `stepEvery`-th step of the run (counting
 * from the run's first step; default 10) and after each epoch's last step, never in between, so
 * that a run with callbacks costs nothing on the other steps.
 */
export interface TrainerCallbacks {
  /** After each epoch's record is complete (validation included) and its checkpoint written. */
  onEpochEnd?(record: EpochRecord, control: TrainingControl): void | Promise<void>;
  /** After every `stepEvery`-th optimizer step. */
  onStepEnd?(info: StepInfo, control: TrainingControl): void | Promise<void>;
  /** The throttle of onStepEnd, a positive integer; default 10. */
  stepEvery?: number;
}

const CALLBACK_KEYS = ['onEpochEnd', 'onStepEnd', 'stepEvery'] as const satisfies readonly (keyof TrainerCallbacks)[];

/** Checks TrainerConfig.callbacks: ConfigError for an unknown key or a callback that is not a function. */
export function checkCallbacks(c: TrainerCallbacks): TrainerCallbacks {
  checkKeys(c, CALLBACK_KEYS, 'callbacks');
  for (const k of ['onEpochEnd', 'onStepEnd'] as const) {
    if (c[k] !== undefined && typeof c[k] !== 'function') throw new ConfigError(`Expected a function for callbacks.${k} but received ${describe(c[k])}`);
  }
  if (c.stepEvery !== undefined) expectInt('callbacks.stepEvery', c.stepEvery);
  return c;
}

/** The control a run hands to its callbacks. */
export class RunControl implements TrainingControl {
  /** Whether stop() was called. */
  stopRequested = false;

  /** Asks the run to end cleanly (see {@link TrainingControl.stop}). */
  stop(): void {
    this.stopRequested = true;
  }
}

/**
 * Early stopping on the main tasks' validation score (TrainerConfig.earlyStopping; needs a
 * validation set): the run ends once `patience` epochs in a row have not improved the best
 * selection score (selectionScore: the mean headline metric of the main tasks) by more than
 * `minDelta`.
 */
export interface EarlyStoppingConfig {
  /** Epochs without improvement before the run stops, a positive integer. */
  patience: number;
  /** The improvement that counts, ≥ 0. Default 0. */
  minDelta?: number;
  /**
   * When the run ends (early or not), put back the parameters of the best epoch. They are kept
   * in host memory (one copy of the parameter arena, taken from the read every epoch end already
   * makes, so no per-step cost). After a resume whose best epoch came before the resume they are
   * not in memory: the parameters are then left as they are and the log says so
   * (best.safetensors in the run folder holds them). Default false.
   */
  restoreBest?: boolean;
}

const EARLY_KEYS = ['patience', 'minDelta', 'restoreBest'] as const satisfies readonly (keyof EarlyStoppingConfig)[];

/** The early-stopping counters a checkpoint stores. */
export interface EarlyStoppingState {
  /** The best score so far (−Infinity before any epoch; stored as null in JSON). */
  best: number | null;
  /** The epoch that scored it (0 before any). */
  bestEpoch: number;
  /** Epochs since it. */
  wait: number;
}

/** Tracks the best validation score and the epochs since it. */
export class EarlyStopper {
  /** The best selection score so far (−Infinity before any epoch). */
  best = -Infinity;
  /** The epoch that scored it, 0 before any. */
  bestEpoch = 0;
  /** Epochs since the best one. */
  wait = 0;
  /** Epochs without improvement that end the run. */
  readonly patience: number;
  /** The improvement that counts. */
  readonly minDelta: number;
  /** Whether the run ends with the best epoch's parameters. */
  readonly restoreBest: boolean;

  /** Checks `config`: ConfigError for an unknown key, ValueError for a bad number. */
  constructor(config: EarlyStoppingConfig) {
    checkKeys(config, EARLY_KEYS, 'earlyStopping');
    this.patience = expectInt('earlyStopping.patience', config.patience);
    this.minDelta = expectNumber('earlyStopping.minDelta', config.minDelta ?? 0, 0);
    if (config.restoreBest !== undefined && typeof config.restoreBest !== 'boolean') {
      throw new ConfigError(`Expected true or false for earlyStopping.restoreBest but received ${describe(config.restoreBest)}`);
    }
    this.restoreBest = config.restoreBest ?? false;
  }

  /** Records an epoch's score; returns whether it is the new best. */
  update(epoch: number, score: number): boolean {
    if (score > this.best + this.minDelta || (this.bestEpoch === 0 && !Number.isNaN(score))) {
      this.best = score;
      this.bestEpoch = epoch;
      this.wait = 0;
      return true;
    }
    this.wait++;
    return false;
  }

  /** Whether `patience` epochs in a row brought no improvement. */
  get exhausted(): boolean {
    return this.wait >= this.patience;
  }

  /** The state a checkpoint stores. */
  getState(): EarlyStoppingState {
    return { best: Number.isFinite(this.best) ? this.best : null, bestEpoch: this.bestEpoch, wait: this.wait };
  }

  /** Restores a stored state; CheckpointError when it is malformed. */
  setState(s: unknown): void {
    const st = s as Partial<EarlyStoppingState>;
    const ok =
      typeof st === 'object' && st !== null &&
      (st.best === null || typeof st.best === 'number') &&
      Number.isInteger(st.bestEpoch) && st.bestEpoch! >= 0 &&
      Number.isInteger(st.wait) && st.wait! >= 0;
    if (!ok) throw new CheckpointError(`the checkpoint's earlyStopping state is malformed: ${JSON.stringify(s).slice(0, 200)}`);
    this.best = st.best ?? -Infinity;
    this.bestEpoch = st.bestEpoch!;
    this.wait = st.wait!;
  }
}
