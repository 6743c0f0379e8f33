/**
 * Label noise for experiments with imperfect supervision: a copy of a dataset whose labels for
 * one classification (or binary) task are corrupted by a known noise model, with the realised
 * noise rate and a mask of the corrupted samples (for evaluation only: training never sees it).
 *
 * Noise models (as in the Co-teaching code; shared/REFERENCES.md "Noisy labels"), each sample
 * drawn independently from (seed, sample index), so a sample's fate depends on nothing else:
 *  - 'symmetric': keep the label with probability 1 − rate, else a uniformly chosen OTHER class
 *    (rate/(C − 1) each); for C = 2 (binary) that is a flip with probability rate;
 *  - 'pairflip':  class c becomes c + 1 mod C with probability rate;
 *  - 'matrix':    the noisy class of a sample of class c is drawn from row c of a row-stochastic
 *                 C×C transition matrix (matrix[c][k] = P(noisy k | clean c)).
 * Samples whose label is missing (mask 0) keep their value and are not counted.
 */
import { checkKeys } from '../core/options.js';
import { hashUniform } from '../core/random.js';
import { ConfigError, LabelError, ShapeError, ValueError, describe, expectInt, expectNumber } from '../errors.js';
import { MultiTaskDataset } from './dataset.js';

/** How {@link injectLabelNoise} corrupts labels: see the module's doc for each model. */
export type LabelNoiseType = 'symmetric' | 'pairflip' | 'matrix';
/** Every {@link LabelNoiseType}. */
export const LABEL_NOISE_TYPES: readonly LabelNoiseType[] = ['symmetric', 'pairflip', 'matrix'];

/** Options of {@link injectLabelNoise}. */
export interface LabelNoiseOptions {
  /** The task whose labels are corrupted: class indices, one per sample (classification or binary). */
  task: string;
  /** The noise model. */
  type: LabelNoiseType;
  /** symmetric / pairflip: the probability in [0, 1] that a labelled sample is corrupted (not with 'matrix'). */
  rate?: number;
  /** matrix only: the C×C row-stochastic transition matrix, matrix[c][k] = P(noisy k | clean c). */
  matrix?: readonly (readonly number[])[];
  /** Number of classes C (default: the largest label + 1, at least 2; with 'matrix', the matrix's size). */
  classes?: number;
  /** Seed of the per-sample draws (a non-negative integer; default 0): the same seed, the same corruption. */
  seed?: number;
}

/** What {@link injectLabelNoise} returns. */
export interface NoisyDataset {
  /** A new dataset: the same inputs, masks and other tasks' labels, the task's labels corrupted. */
  dataset: MultiTaskDataset;
  /** The realised noise rate: corrupted / labelled (0 when nothing is labelled). */
  rate: number;
  /** 1 where the sample's label was changed, 0 elsewhere (always 0 where the label is missing). */
  corrupted: Uint8Array;
  /** Number of corrupted samples. */
  flipped: number;
  /** Number of labelled samples (those the noise could reach). */
  labelled: number;
}

const KEYS: Record<LabelNoiseType, readonly string[]> = {
  symmetric: ['task', 'type', 'rate', 'classes', 'seed'],
  pairflip: ['task', 'type', 'rate', 'classes', 'seed'],
  matrix: ['task', 'type', 'matrix', 'classes', 'seed'],
};

/** Checks a C×C row-stochastic matrix (rows sum to 1 within 1e-6) and returns each row's cumulative sums. */
function cumulativeRows(matrix: unknown, classes: number | undefined): number[][] {
  if (!Array.isArray(matrix) || matrix.length < 2) {
    throw new ValueError(`Expected a square array of at least 2 rows for matrix but received ${describe(matrix)}`);
  }
  const C = matrix.length;
  if (classes !== undefined && classes !== C) {
    throw new ShapeError(`Expected a ${classes}×${classes} matrix for classes ${classes} but received ${C} rows`);
  }
  return matrix.map((row: unknown, c) => {
    if (!Array.isArray(row) || row.length !== C) {
      throw new ShapeError(`Expected ${C} entries in matrix[${c}] (a square matrix) but received ${describe(row)}`);
    }
    let sum = 0;
    const cumulative = row.map((v: unknown, k) => {
      sum += expectNumber(`matrix[${c}][${k}]`, v, 0, 1);
      return sum;
    });
    if (Math.abs(sum - 1) > 1e-6) throw new ValueError(`Expected matrix[${c}] to sum to 1 (row-stochastic) but it sums to ${sum}`);
    return cumulative;
  });
}

/**
 * A copy of `dataset` whose labels for `options.task` are corrupted by the noise model
 * `options.type` (see the module doc), reproducible from `options.seed`.
 * @throws ConfigError for an unknown option key or type, or a task the dataset lacks;
 *   ShapeError for a task whose labels are wider than one value, or a matrix of the wrong size;
 *   ValueError for a rate outside [0, 1], a seed or class count that is not an integer, or a
 *   matrix that is not row-stochastic; LabelError for a labelled sample whose label is not an
 *   integer class in [0, C).
 */
export function injectLabelNoise(dataset: MultiTaskDataset, options: LabelNoiseOptions): NoisyDataset {
  if (!(dataset instanceof MultiTaskDataset)) {
    throw new ValueError(`Expected a MultiTaskDataset for dataset but received ${describe(dataset)}`);
  }
  const { type } = checkKeys(options, [...new Set([...KEYS.symmetric, ...KEYS.matrix])], 'label noise options');
  if (typeof type !== 'string' || !LABEL_NOISE_TYPES.includes(type as LabelNoiseType)) {
    throw new ConfigError(`Expected one of ${LABEL_NOISE_TYPES.join(', ')} for type but received ${describe(type)}`);
  }
  checkKeys(options, KEYS[type as LabelNoiseType], `label noise options (${type})`);
  const { task } = options;
  const labels = dataset.labels(task); // ConfigError for a task the dataset lacks
  if (dataset.labelWidth(task) !== 1) {
    throw new ShapeError(`Expected a task with one class index per sample for task but ${JSON.stringify(task)} has ${dataset.labelWidth(task)} values per sample`);
  }
  const seed = expectInt('seed', options.seed ?? 0, 0);
  const mask = dataset.mask(task);
  const rows = type === 'matrix' ? cumulativeRows(options.matrix, options.classes) : null;
  const rate = type === 'matrix' ? 0 : expectNumber('rate', options.rate, 0, 1);
  let maxLabel = 0;
  for (let i = 0; i < labels.length; i++) {
    if (mask && mask[i] === 0) continue;
    const y = labels[i];
    if (!(Number.isInteger(y) && y >= 0)) {
      throw new LabelError(`Expected a class index (an integer ≥ 0) for task ${JSON.stringify(task)} at sample ${i} but received ${y}`);
    }
    maxLabel = Math.max(maxLabel, y);
  }
  const C = rows ? rows.length : options.classes === undefined ? Math.max(2, maxLabel + 1) : expectInt('classes', options.classes, 2);
  if (maxLabel >= C) {
    throw new LabelError(`Expected class indices in [0, ${C}) for task ${JSON.stringify(task)} but received ${maxLabel}`);
  }

  const noisy = labels.slice();
  const corrupted = new Uint8Array(labels.length);
  let flipped = 0;
  let labelled = 0;
  for (let i = 0; i < labels.length; i++) {
    if (mask && mask[i] === 0) continue;
    labelled++;
    const c = labels[i];
    const u = hashUniform(seed, 2 * i);
    let k = c;
    if (rows) {
      const row = rows[c];
      k = row.findIndex((s) => u < s);
      // u past a last sum a hair below 1: the last class with any mass.
      for (let j = C - 1; k < 0; j--) if (row[j] > (j > 0 ? row[j - 1] : 0)) k = j;
    } else if (u < rate) {
      k = type === 'pairflip' ? (c + 1) % C : (c + 1 + Math.floor(hashUniform(seed, 2 * i + 1) * (C - 1))) % C;
    }
    if (k !== c) {
      noisy[i] = k;
      corrupted[i] = 1;
      flipped++;
    }
  }

  const all: Record<string, Float32Array> = {};
  const labelWidths: Record<string, number> = {};
  const masks: Record<string, Uint8Array> = {};
  for (const name of dataset.taskNames) {
    all[name] = name === task ? noisy : dataset.labels(name);
    labelWidths[name] = dataset.labelWidth(name);
    const m = dataset.mask(name);
    if (m) masks[name] = m;
  }
  return {
    dataset: new MultiTaskDataset({ inputs: dataset.inputs, inputShape: dataset.inputShape, labels: all, labelWidths, masks }),
    rate: labelled === 0 ? 0 : flipped / labelled,
    corrupted,
    flipped,
    labelled,
  };
}
