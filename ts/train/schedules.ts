/**
 * Learning-rate schedules: the learning rate of each optimizer step as a pure function of the
 * step, the base rate (the optimizer's lr) and the run's total steps. The Trainer sets the
 * optimizer's lr from it before every step; nothing is allocated or read back.
 */
import { checkKeys, nameTable, ownEntry } from '../core/options.js';
import { ConfigError, describe, expectInt, expectNumber } from '../errors.js';

/**
 * A learning-rate schedule, counted in optimizer steps (not epochs). Every kind takes
 * `warmupSteps`: a linear warm-up from lr/warmupSteps to lr over the first warmupSteps steps,
 * after which the kind's decay starts from step 0 (warm-up combined with any decay).
 * - constant: lr.
 * - step: lr · gamma^⌊t / stepSize⌋ (gamma default 0.1).
 * - exponential: lr · gamma^t (gamma in (0, 1]).
 * - cosine: minLr + (lr − minLr)·(1 + cos(π·min(t, T)/T))/2 with T = `steps` (default: the
 *   run's total steps after the warm-up).
 */
export type LrSchedule =
  | {
      /** The optimizer's lr throughout (after any warm-up). */
      kind: 'constant';
      /** Steps of linear warm-up from lr/W to lr before the schedule starts (default 0). */
      warmupSteps?: number;
    }
  | {
      /** lr·gamma^⌊t/stepSize⌋. */
      kind: 'step';
      /** Steps between two decays. */
      stepSize: number;
      /** The factor of each decay (default 0.1). */
      gamma?: number;
      /** Steps of linear warm-up from lr/W to lr before the schedule starts (default 0). */
      warmupSteps?: number;
    }
  | {
      /** lr·gamma^t. */
      kind: 'exponential';
      /** The factor per step. */
      gamma: number;
      /** Steps of linear warm-up from lr/W to lr before the schedule starts (default 0). */
      warmupSteps?: number;
    }
  | {
      /** minLr + ½(lr − minLr)(1 + cos(π·t/steps)). */
      kind: 'cosine';
      /** Steps of the decay (default: the rest of the run). */
      steps?: number;
      /** The rate at the end (default 0). */
      minLr?: number;
      /** Steps of linear warm-up from lr/W to lr before the schedule starts (default 0). */
      warmupSteps?: number;
    };

/** The kinds an {@link LrSchedule} may name. */
export const LR_SCHEDULES = ['constant', 'step', 'exponential', 'cosine'] as const;

const SCHEDULE_KEYS: Record<LrSchedule['kind'], readonly string[]> = nameTable({
  constant: ['kind', 'warmupSteps'],
  step: ['kind', 'stepSize', 'gamma', 'warmupSteps'],
  exponential: ['kind', 'gamma', 'warmupSteps'],
  cosine: ['kind', 'steps', 'minLr', 'warmupSteps'],
});

/**
 * Checks a schedule: ConfigError for an unknown kind or key (naming `where`), ValueError for an
 * out-of-range number. Returns it.
 */
export function checkLrSchedule(s: LrSchedule, where = 'lrSchedule'): LrSchedule {
  const kind: unknown = typeof s === 'object' && s !== null ? s.kind : undefined;
  const keys = ownEntry(SCHEDULE_KEYS, kind);
  if (!keys) throw new ConfigError(`Expected ${where}.kind ${LR_SCHEDULES.join(', ')} but received ${describe(kind)}`);
  checkKeys(s, keys, `${where} (${s.kind})`);
  if (s.warmupSteps !== undefined) expectInt(`${where}.warmupSteps`, s.warmupSteps, 0);
  if (s.kind === 'step') {
    expectInt(`${where}.stepSize`, s.stepSize);
    expectNumber(`${where}.gamma`, s.gamma ?? 0.1, 0);
  } else if (s.kind === 'exponential') {
    if (expectNumber(`${where}.gamma`, s.gamma, 0, 1) === 0) throw new ConfigError(`Expected ${where}.gamma in (0, 1] but received 0`);
  } else if (s.kind === 'cosine') {
    if (s.steps !== undefined) expectInt(`${where}.steps`, s.steps);
    expectNumber(`${where}.minLr`, s.minLr ?? 0, 0);
  }
  return s;
}

/**
 * The learning rate of the optimizer step with 0-based index `step` under schedule `s` (checked
 * with {@link checkLrSchedule}), base rate `lr` and `totalSteps` steps in the whole run (the
 * default length of a cosine).
 */
export function lrAt(s: LrSchedule, step: number, lr: number, totalSteps: number): number {
  const warm = s.warmupSteps ?? 0;
  if (step < warm) return (lr * (step + 1)) / warm;
  const t = step - warm;
  switch (s.kind) {
    case 'constant':
      return lr;
    case 'step':
      return lr * (s.gamma ?? 0.1) ** Math.floor(t / s.stepSize);
    case 'exponential':
      return lr * s.gamma ** t;
    case 'cosine': {
      const T = Math.max(1, s.steps ?? totalSteps - warm);
      const min = s.minLr ?? 0;
      return min + ((lr - min) * (1 + Math.cos((Math.PI * Math.min(t, T)) / T))) / 2;
    }
  }
}
