/**
 * The pieces of a fair comparison (compare() with `search` / `seeds`, ts/train/compare.ts)
 * that know nothing of training: the search space over training and strategy options and its
 * grid (or a seeded random subset of it), the validation split carved from the training data,
 * a fingerprint of a dataset, and the folder of finished runs that makes a comparison
 * resumable.
 *
 * A search key names either a training option — `lr`, `momentum`, `weightDecay` (or
 * `weight-decay`), `batchSize` (or `batch-size`) — or a weighting strategy's option as
 * `strategy:option` (`cagrad:c`, `gradnorm:alpha`), which applies only to the configurations
 * that train with that strategy (and overrides the option their spec gives).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ownEntry } from '../core/options.js';
import { Rng } from '../core/random.js';
import type { MultiTaskDataset } from '../data/dataset.js';
import { ConfigError, ValueError, describe, expectInt } from '../errors.js';
import { writeFileAtomic } from '../io/files.js';
import { WEIGHTINGS, parseWeightingSpec } from '../mtl/weighting/index.js';
import type { OptimizerConfig } from './optimizer.js';

/** A value a search key takes. */
export type SearchValue = number | string | boolean;

/**
 * The options searched and the values tried for each, in the order given: `{ lr: [0.01, 0.02],
 * 'cagrad:c': [0.2, 0.5] }`. The grid is their cartesian product (the first key varies slowest).
 */
export type SearchSpace = Record<string, readonly SearchValue[]>;

/** One point of a search: a value for each key that applies to the configuration. */
export type SearchSetting = Record<string, SearchValue>;

/** The training options a search key may name, by the name written in the key. */
const TRAINING_KEYS: Record<string, 'lr' | 'momentum' | 'weightDecay' | 'batchSize'> = {
  lr: 'lr',
  momentum: 'momentum',
  weightDecay: 'weightDecay',
  'weight-decay': 'weightDecay',
  batchSize: 'batchSize',
  'batch-size': 'batchSize',
};

/** The training option a search key names (lr, momentum, weightDecay, batchSize), or undefined for a strategy key. */
function trainingKey(key: string): 'lr' | 'momentum' | 'weightDecay' | 'batchSize' | undefined {
  return ownEntry(TRAINING_KEYS, key);
}

/**
 * Parses a command-line search flag, "lr=0.005,0.01" or "cagrad:c=0.2,0.5", into its key and
 * values (numbers where they read as numbers, true/false as booleans, else strings).
 * @throws ConfigError on a missing "=" or an empty value.
 */
export function parseSearchSpec(text: string): [string, SearchValue[]] {
  if (typeof text !== 'string') throw new ConfigError(`Expected a search spec like "lr=0.01,0.02" but received ${describe(text)}`);
  const eq = text.indexOf('=');
  if (eq <= 0) throw new ConfigError(`Expected a search spec like "lr=0.01,0.02" or "cagrad:c=0.2,0.5" but received ${JSON.stringify(text)}`);
  const key = text.slice(0, eq).trim();
  const values = text.slice(eq + 1).split(',').map((raw) => {
    const v = raw.trim();
    if (v === '') throw new ConfigError(`search ${key}: empty value in ${JSON.stringify(text)}`);
    if (v === 'true' || v === 'false') return v === 'true';
    const n = Number(v);
    return Number.isFinite(n) ? n : v;
  });
  return [key, values];
}

/**
 * Checks a search space before anything trains: every key a training option or a known
 * strategy's option, at least one value each, no value twice, training values in range
 * (lr > 0, momentum in [0, 1], weightDecay ≥ 0, batchSize a positive integer ≤ `maxBatch`
 * when given; momentum only with SGD).
 * @throws ConfigError naming the key and the value.
 */
export function checkSearchSpace(space: SearchSpace, optimizer: OptimizerConfig, maxBatch?: number): void {
  if (space === null || typeof space !== 'object' || Array.isArray(space)) {
    throw new ConfigError(`Expected an object of search keys and their values for search but received ${describe(space)}`);
  }
  for (const [key, values] of Object.entries(space)) {
    if (!Array.isArray(values) || values.length === 0) throw new ConfigError(`search.${key} must be a non-empty array of values, got ${describe(values)}`);
    const seen = new Set<string>();
    for (const v of values) {
      const k = JSON.stringify(v);
      if (seen.has(k)) throw new ConfigError(`search.${key} lists ${k} twice`);
      seen.add(k);
    }
    const t = trainingKey(key);
    if (t !== undefined) {
      for (const v of values) {
        const ok =
          typeof v === 'number' &&
          Number.isFinite(v) &&
          (t === 'lr' ? v > 0 : t === 'momentum' ? v >= 0 && v <= 1 : t === 'weightDecay' ? v >= 0 : Number.isInteger(v) && v >= 1);
        if (!ok) {
          const want = t === 'lr' ? 'a positive number' : t === 'momentum' ? 'a number in [0, 1]' : t === 'weightDecay' ? 'a non-negative number' : 'a positive integer';
          throw new ConfigError(`search.${key} expects ${want} for each value, got ${describe(v)}`);
        }
        if (t === 'batchSize' && maxBatch !== undefined && v > maxBatch) throw new ConfigError(`search.${key} value ${v} exceeds the model's maxBatch ${maxBatch}`);
      }
      if (t === 'momentum' && optimizer.kind !== 'sgd') throw new ConfigError(`search.${key}: momentum is an option of sgd, not of ${optimizer.kind}`);
      continue;
    }
    const colon = key.indexOf(':');
    const name = colon > 0 ? key.slice(0, colon) : '';
    const entry = ownEntry(WEIGHTINGS, name);
    if (!entry) {
      throw new ConfigError(
        `Unknown search key ${JSON.stringify(key)}: expected lr, momentum, weightDecay, batchSize or strategy:option with a strategy of ${Object.keys(WEIGHTINGS).join(', ')}`,
      );
    }
    const option = key.slice(colon + 1);
    if (!entry.options.includes(option)) {
      throw new ConfigError(
        `Unknown search key ${JSON.stringify(key)}: weighting ${name} has ${entry.options.length > 0 ? `the options ${entry.options.join(', ')}` : 'no options'}`,
      );
    }
  }
}

/** The keys of `space` that apply to a configuration training with the strategy `weightingName`. */
export function searchKeysFor(space: SearchSpace, weightingName: string): string[] {
  return Object.keys(space).filter((k) => trainingKey(k) !== undefined || k.slice(0, k.indexOf(':')) === weightingName);
}

/**
 * The settings searched for a configuration training with `weightingName`: the grid over the
 * keys that apply to it (the first key varying slowest), or, with `budget` smaller than the
 * grid, `budget` distinct points drawn from it by a shuffle seeded with `seed`, kept in grid
 * order. No key applies: one empty setting (the configuration's own options).
 */
export function searchGrid(space: SearchSpace, weightingName: string, budget?: number, seed = 0): SearchSetting[] {
  const keys = searchKeysFor(space, weightingName);
  let grid: SearchSetting[] = [{}];
  for (const k of keys) grid = grid.flatMap((s) => space[k].map((v) => ({ ...s, [k]: v })));
  if (budget === undefined || budget >= grid.length) return grid;
  expectInt('searchBudget', budget);
  const order = new Rng(seed).shuffle(Int32Array.from(grid, (_, i) => i));
  return Array.from(order.subarray(0, budget)).sort((a, b) => a - b).map((i) => grid[i]);
}

/** What a setting changes: the optimizer, the batch size and the weighting spec. */
export interface AppliedSetting {
  /** The optimizer with the setting's lr, momentum and weight decay. */
  optimizer: OptimizerConfig;
  /** The setting's batch size, or the one given. */
  batchSize: number;
  /** The weighting spec with the setting's strategy options ("cagrad:c=0.4"). */
  weighting: string;
}

/** Applies `setting` to a configuration's optimizer, batch size and weighting spec. */
export function applySetting(setting: SearchSetting, optimizer: OptimizerConfig, batchSize: number, weighting: string): AppliedSetting {
  const opt: Record<string, unknown> = { ...optimizer };
  let batch = batchSize;
  const spec = parseWeightingSpec(weighting);
  const options = { ...(spec.options ?? {}) };
  let strategyChanged = false;
  for (const [key, v] of Object.entries(setting)) {
    const t = trainingKey(key);
    if (t === 'batchSize') batch = v as number;
    else if (t !== undefined) opt[t] = v;
    else {
      options[key.slice(key.indexOf(':') + 1)] = v;
      strategyChanged = true;
    }
  }
  const parts = Object.entries(options).map(([k, v]) => `${k}=${String(v)}`);
  return {
    optimizer: opt as OptimizerConfig,
    batchSize: batch,
    weighting: strategyChanged ? `${spec.name}${parts.length > 0 ? `:${parts.join(',')}` : ''}` : weighting,
  };
}

/** "lr=0.01 cagrad:c=0.4" for a setting; "(as given)" when empty. */
export function formatSetting(setting: SearchSetting): string {
  const parts = Object.entries(setting).map(([k, v]) => `${k}=${String(v)}`);
  return parts.length > 0 ? parts.join(' ') : '(as given)';
}

/** What {@link carveValidation} returns. */
export interface CarvedSplit {
  /** The rows left to train on. */
  train: MultiTaskDataset;
  /** The rows held out to select on. */
  validation: MultiTaskDataset;
}

/**
 * Splits `train` into a training part and a validation part of round(fraction × n) rows
 * chosen by a shuffle seeded with `seed`; both keep the rows' order.
 * @throws ValueError unless fraction is in (0, 1) and both parts get at least one row.
 */
export function carveValidation(train: MultiTaskDataset, fraction: number, seed: number): CarvedSplit {
  if (typeof fraction !== 'number' || !(fraction > 0 && fraction < 1)) throw new ValueError(`Expected a number in (0, 1) for validationFraction but received ${describe(fraction)}`);
  const n = train.length;
  const held = Math.round(fraction * n);
  if (held < 1 || held >= n) throw new ValueError(`validationFraction ${fraction} of ${n} training rows leaves ${held < 1 ? 'no validation' : 'no training'} rows`);
  const order = new Rng(seed).shuffle(Int32Array.from({ length: n }, (_, i) => i));
  const val = Array.from(order.subarray(0, held)).sort((a, b) => a - b);
  const inVal = new Uint8Array(n);
  for (const i of val) inVal[i] = 1;
  const rest: number[] = [];
  for (let i = 0; i < n; i++) if (!inVal[i]) rest.push(i);
  return { train: train.select(rest), validation: train.select(val) };
}

/** A sha256 of everything in a dataset (inputs, shape, every task's labels, widths and masks), hex. */
export function datasetFingerprint(ds: MultiTaskDataset): string {
  const h = createHash('sha256');
  const bytes = (a: ArrayBufferView): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  h.update(JSON.stringify({ n: ds.length, shape: ds.inputShape, tasks: ds.taskNames, widths: ds.taskNames.map((t) => ds.labelWidth(t)) }));
  h.update(bytes(ds.inputs));
  for (const t of ds.taskNames) {
    h.update(bytes(ds.labels(t)));
    const m = ds.mask(t);
    h.update(m ? bytes(m) : 'no mask');
  }
  return h.digest('hex');
}

/** JSON with object keys sorted, so equal keys give equal text. */
export function stableJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v) && !ArrayBuffer.isView(v)
      ? Object.fromEntries(Object.keys(v as object).sort().map((k) => [k, (v as Record<string, unknown>)[k]]))
      : v,
  );
}

/**
 * The finished runs of a comparison, one JSON file each in `dir`, named by a hash of the run's
 * key (everything that determines its result: data fingerprints, model, trainer settings,
 * weighting, seed, backend). Each file is written atomically (temp + fsync + rename), so a
 * killed comparison leaves only whole records; a file whose stored key differs from the one
 * asked for (a hash collision or a hand edit) is ignored.
 */
export class RunStore {
  /** @param dir The folder (created on the first write). */
  constructor(readonly dir: string) {}

  private file(keyText: string): string {
    return path.join(this.dir, `${createHash('sha256').update(keyText).digest('hex').slice(0, 32)}.json`);
  }

  /** The record stored under `key`, or undefined. */
  get<T>(key: unknown): T | undefined {
    const keyText = stableJson(key);
    let text: string;
    try {
      text = fs.readFileSync(this.file(keyText), 'utf8');
    } catch {
      return undefined;
    }
    try {
      const obj = JSON.parse(text) as { key?: unknown; record?: T };
      return stableJson(obj.key) === keyText ? obj.record : undefined;
    } catch {
      return undefined;
    }
  }

  /** Records `record` under `key` (atomically). */
  put(key: unknown, record: unknown): void {
    const keyText = stableJson(key);
    writeFileAtomic(this.file(keyText), JSON.stringify({ key: JSON.parse(keyText) as unknown, record }) + '\n');
  }
}
