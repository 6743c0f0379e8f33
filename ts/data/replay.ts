/**
 * Replay for sequential (continual) training: a seeded buffer of old samples, from which every
 * training step of a new stage draws its own replayed batch (ReplayStager,
 * ts/train/replay-stager.ts).
 *
 * The buffer is balanced per stage: after k stages it holds `size` samples, ⌊size/k⌋ from each
 * stage (the first size mod k stages one more), each stage's share a seeded random subset of that
 * stage's training set without repeats. A stage's subset is the prefix of one seeded random
 * permutation of its samples, so when a later stage arrives the older shares shrink by
 * truncation: the buffer never depends on the order in which the shares were cut, only on the
 * seed and the stages' sizes. Every kept sample carries the labels of its own stage's tasks; the
 * other tasks' labels are masked (the datasets' existing masks).
 *
 * `withReplay` concatenates instead: the new stage's samples, labelled for the new tasks and
 * masked for the old ones, followed by the buffer's samples, as one MultiTaskDataset. That is
 * joint training's data (every old sample once per epoch beside the new ones), not replay: a
 * small buffer concatenated into a large stage leaves a few old samples per batch, which carry
 * the old tasks' whole masked mean loss (README, "The multi-task case").
 */
import { Rng } from '../core/random.js';
import { ConfigError, ShapeError, describe, expectInt } from '../errors.js';
import { MultiTaskDataset } from './dataset.js';

/** A task as the replay helpers need it: its name and values per sample in its labels. */
export interface LabelledTask {
  /** The task's name (a key of the datasets' labels). */
  readonly name: string;
  /** Values per sample in its labels. */
  readonly labelWidth: number;
}

/**
 * `ds` labelled for exactly `tasks`, in their order: a task `ds` has keeps its labels and mask,
 * a task it lacks gets zeros masked out on every sample (a copy; `ds` is left as it is).
 * @throws ShapeError when a task's label width in `ds` differs from the task's.
 */
export function labelledFor(ds: MultiTaskDataset, tasks: readonly LabelledTask[]): MultiTaskDataset {
  const labels: Record<string, Float32Array> = {};
  const labelWidths: Record<string, number> = {};
  const masks: Record<string, Uint8Array> = {};
  for (const t of tasks) {
    labelWidths[t.name] = t.labelWidth;
    if (ds.taskNames.includes(t.name)) {
      if (ds.labelWidth(t.name) !== t.labelWidth) {
        throw new ShapeError(`Expected labels of width ${t.labelWidth} for task ${JSON.stringify(t.name)} but the dataset's have width ${ds.labelWidth(t.name)}`);
      }
      labels[t.name] = ds.labels(t.name);
      const m = ds.mask(t.name);
      if (m) masks[t.name] = m;
    } else {
      labels[t.name] = new Float32Array(ds.length * t.labelWidth);
      masks[t.name] = new Uint8Array(ds.length);
    }
  }
  return new MultiTaskDataset({ inputs: ds.inputs, inputShape: ds.inputShape, labels, labelWidths, masks });
}

/** One stage's share of the buffer: its samples in the seeded order, labelled for its tasks. */
interface Share {
  /** The stage's training samples (for its tasks only) in the seeded order, at most `size` of them. */
  readonly samples: MultiTaskDataset;
  /** The stage's tasks. */
  readonly tasks: readonly LabelledTask[];
}

/** A seeded, per-stage balanced buffer of `size` old samples (see the module comment). */
export class ReplayBuffer {
  /** Samples the buffer holds once it has seen at least `size` samples in all. */
  readonly size: number;
  private readonly rng: Rng;
  private readonly shares: Share[] = [];

  /**
   * @throws ValueError unless `size` is a positive integer and `seed` a non-negative one.
   */
  constructor(size: number, seed = 0) {
    this.size = expectInt('replay size', size);
    this.rng = new Rng(expectInt('replay seed', seed, 0));
  }

  /**
   * Adds a finished stage: a seeded random subset of `train` (without repeats), labelled for
   * `tasks`, takes its share of the buffer; the older shares shrink to make room.
   * @throws ConfigError when `train` lacks a task's labels or `tasks` is empty; ShapeError on a
   *   label width or input shape that differs from an earlier stage's.
   */
  add(train: MultiTaskDataset, tasks: readonly LabelledTask[]): void {
    if (!Array.isArray(tasks) || tasks.length === 0) throw new ConfigError(`Expected the stage's tasks (a non-empty array) but received ${describe(tasks)}`);
    for (const t of tasks) {
      if (!train.taskNames.includes(t.name)) throw new ConfigError(`The stage's training set has no labels for task ${JSON.stringify(t.name)}; it has ${train.taskNames.join(', ')}`);
    }
    const first = this.shares[0]?.samples;
    if (first && first.featureSize !== train.featureSize) {
      throw new ShapeError(`Expected samples of ${first.featureSize} features, as the earlier stages', but received ${train.featureSize}`);
    }
    const order = Int32Array.from({ length: train.length }, (_, i) => i);
    this.rng.shuffle(order);
    const kept = order.subarray(0, Math.min(this.size, train.length));
    this.shares.push({ samples: labelledFor(train, tasks).select(kept), tasks: [...tasks] });
  }

  /** Stages added so far. */
  get stages(): number {
    return this.shares.length;
  }

  /** How many samples each stage contributes now: ⌊size/k⌋, the first size mod k one more, never more than the stage has. */
  quotas(): number[] {
    const k = this.shares.length;
    return this.shares.map((s, i) => Math.min(s.samples.length, Math.floor(this.size / k) + (i < this.size % k ? 1 : 0)));
  }

  /**
   * The buffer's samples, stage after stage, labelled for `tasks` (every task of the model that
   * trains on them: each sample keeps its own stage's labels, every other task is masked); null
   * while the buffer is empty.
   * @throws ConfigError when a stage's task is not among `tasks`.
   */
  samples(tasks: readonly LabelledTask[]): MultiTaskDataset | null {
    if (this.shares.length === 0) return null;
    const quotas = this.quotas();
    const parts = this.shares.map((s, i) => {
      for (const t of s.tasks) {
        if (!tasks.some((u) => u.name === t.name)) throw new ConfigError(`Replayed task ${JSON.stringify(t.name)} is not among the tasks trained (${tasks.map((u) => u.name).join(', ')})`);
      }
      return labelledFor(s.samples.slice(0, quotas[i]), tasks);
    });
    return concatDatasets(parts, tasks);
  }
}

/**
 * The new stage's training data followed by the buffer's samples (concatenated: the joint-training
 * baselines' data; the replay retain draws per step instead, ReplayStager), labelled for
 * `tasks`: the new samples keep their labels for the tasks `train` has and are masked for the
 * others; the replayed ones keep their own stage's labels. Without samples in the buffer,
 * `train` labelled for `tasks`.
 */
export function withReplay(train: MultiTaskDataset, buffer: ReplayBuffer, tasks: readonly LabelledTask[]): MultiTaskDataset {
  const current = labelledFor(train, tasks);
  const old = buffer.samples(tasks);
  return old ? concatDatasets([current, old], tasks) : current;
}

/** Datasets labelled for the same `tasks`, one after another (a copy). */
function concatDatasets(parts: readonly MultiTaskDataset[], tasks: readonly LabelledTask[]): MultiTaskDataset {
  const n = parts.reduce((s, p) => s + p.length, 0);
  const f = parts[0].featureSize;
  const inputs = new Float32Array(n * f);
  const labels: Record<string, Float32Array> = {};
  const labelWidths: Record<string, number> = {};
  const masks: Record<string, Uint8Array> = {};
  for (const t of tasks) {
    labels[t.name] = new Float32Array(n * t.labelWidth);
    labelWidths[t.name] = t.labelWidth;
    masks[t.name] = new Uint8Array(n).fill(1);
  }
  let at = 0;
  for (const p of parts) {
    if (p.featureSize !== f) throw new ShapeError(`Expected samples of ${f} features in every part but received ${p.featureSize}`);
    inputs.set(p.inputs, at * f);
    for (const t of tasks) {
      labels[t.name].set(p.labels(t.name), at * t.labelWidth);
      const m = p.mask(t.name);
      if (m) masks[t.name].set(m, at);
    }
    at += p.length;
  }
  return new MultiTaskDataset({ inputs, inputShape: parts[0].inputShape, labels, labelWidths, masks });
}
