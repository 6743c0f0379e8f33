/**
 * Replay as van de Ven & Tolias 2019 train it (GMvandeVen/continual-learning,
 * train/train_task_based.py, task-incremental): every step trains on a batch of the new stage's
 * samples AND a replayed batch drawn from the buffer of old samples, its own size however small
 * the buffer (the buffer is not diluted into the new data: with 1000 old samples among 60,000
 * new ones a concatenated epoch gives a batch of 128 about 2 old samples, which then carry the
 * old tasks' whole masked mean loss).
 *
 * The draw: `batch` rows per step (default the Trainer's batch size), split evenly over the
 * buffer's stages (⌊batch/k⌋ each of k, the first batch mod k one more; a stage's share smaller
 * than its part gives what it has), each part a uniform draw without repeats from that stage's
 * share. Their code splits ⌈batch/k⌉ per earlier context the same way, from a data loader per
 * context that goes through it epoch by epoch; ours draws afresh each step, seeded by (seed,
 * step), so a resumed run draws exactly what it would have.
 *
 * The loss: the fused multi-loss's per-task masked means, each task with its own weight (1 by
 * default): the replayed rows are labelled for their own stage's tasks only, the new rows for the
 * new tasks only, so each old task's loss is its mean over its replayed rows and the new task's
 * its mean over the new rows. Their task-IL loss is (1/t)·L_new + (1 − 1/t)·mean over the t − 1
 * earlier contexts of L_context = (1/t)·(L_new + Σ L_context): the same relative weights (each
 * context as much as the new one), times 1/t overall. That factor is not applied: under Adam
 * (theirs) a constant factor on the loss leaves the steps unchanged (up to ε); under SGD it would
 * divide the learning rate by t.
 *
 * Staging: the buffer's samples are labelled for the model's tasks once (ReplayBuffer.samples);
 * each step writes the drawn rows after the step's own with BatchStager.stage, through
 * preallocated index arrays: nothing is allocated per step.
 */
import { checkKeys } from '../core/options.js';
import { hash32, hashUniform } from '../core/random.js';
import { ConfigError, describe, expectInt } from '../errors.js';
import type { MultiTaskDataset } from '../data/dataset.js';
import type { ReplayBuffer } from '../data/replay.js';
import type { MultiTaskModel } from '../mtl/model.js';
import { validateLabels } from '../mtl/task.js';
import type { RowStaging, StagedBatchHook } from './staged-batch.js';

/** Options of {@link ReplayStager}. Unknown keys are ConfigErrors. */
export interface ReplayStagerOptions {
  /** Replayed rows per step (default 128; trainStages and trainExtension pass the batch size). */
  batch?: number;
  /** Seed of the draws (default 0). */
  seed?: number;
}

/** One earlier stage's part of {@link ReplayStager.data} and of every step's draw. */
export interface ReplayPart {
  /** Its first row in the buffer's samples. */
  start: number;
  /** Its share of the buffer (samples). */
  size: number;
  /** Rows drawn from it per step. */
  draw: number;
}

/** What a run folder's config.json says of a {@link ReplayStager} (its `toJSON`). */
export interface ReplayStagerSummary {
  /** 'replay'. */
  kind: 'replay';
  /** Replayed rows per step. */
  rows: number;
  /** Samples in the buffer. */
  buffer: number;
  /** Rows drawn per step from each earlier stage's share. */
  parts: number[];
  /** The draws' seed. */
  seed: number;
}

/** Replay's {@link StagedBatchHook}: a seeded replayed batch from a {@link ReplayBuffer} appended to every step (see the module comment). */
export class ReplayStager implements StagedBatchHook {
  /** Replayed rows per step: Σ over the buffer's stages of min(its part of `batch`, its share). */
  readonly rows: number;
  /** The buffer's samples, stage after stage, labelled for the model's tasks. */
  readonly data: MultiTaskDataset;
  /** Per buffer stage: its first row in `data`, its share's size, and the rows drawn from it per step. */
  readonly parts: readonly ReplayPart[];
  private readonly seed: number;
  /** The identity over `data`'s rows, swapped while drawing and swapped back after. */
  private readonly perm: Int32Array;
  /** The step's drawn rows (indices into `data`), and the swaps to undo. */
  private readonly order: Int32Array;
  private readonly swaps: Int32Array;

  /**
   * @throws ConfigError on an unknown option key, an empty buffer, or a model with a
   *   self-supervised task; ValueError on a batch that is not a positive integer or a negative
   *   seed; what ReplayBuffer.samples and the labels' check throw (a replayed task the model
   *   lacks, labels out of range).
   */
  constructor(model: MultiTaskModel, buffer: ReplayBuffer, options: ReplayStagerOptions = {}) {
    checkKeys(options, ['batch', 'seed'], 'replay options');
    const batch = expectInt('replay batch', options.batch ?? 128);
    this.seed = expectInt('replay seed', options.seed ?? 0, 0);
    if (model.tasks.some((t) => t.selfSupervised)) throw new ConfigError('replay appends rows to each step, which a self-supervised task (its rows staged twice or from the inputs) does not allow');
    const data = buffer.samples(model.tasks);
    if (!data) throw new ConfigError(`Expected a replay buffer with samples (add a stage first) but received ${describe(buffer)} with none`);
    for (const t of model.tasks) validateLabels(t, data.labels(t.name), data.mask(t.name), 'replay buffer');
    this.data = data;
    const quotas = buffer.quotas();
    const k = quotas.length;
    let start = 0;
    this.parts = quotas.map((size, s) => {
      const part = { start, size, draw: Math.min(size, Math.floor(batch / k) + (s < batch % k ? 1 : 0)) };
      start += size;
      return part;
    });
    this.rows = this.parts.reduce((n, p) => n + p.draw, 0);
    this.perm = Int32Array.from({ length: data.length }, (_, i) => i);
    this.order = new Int32Array(this.rows);
    this.swaps = new Int32Array(this.rows);
  }

  /** The rows step `step` replays (indices into `data`), drawn into `order`; also what {@link stage} stages. */
  draw(step: number): Int32Array {
    const { perm, order, swaps } = this;
    const stepSeed = hash32(this.seed, step);
    let o = 0;
    for (const { start, size, draw } of this.parts) {
      // A partial Fisher-Yates shuffle of the share: its first `draw` entries are a uniform draw without repeats.
      for (let i = 0; i < draw; i++) {
        const j = i + Math.floor(hashUniform(stepSeed, o + i) * (size - i));
        swaps[o + i] = j;
        const a = perm[start + i];
        perm[start + i] = perm[start + j];
        perm[start + j] = a;
        order[o + i] = perm[start + i];
      }
      // Undone in reverse, so that perm is the identity again and the next draw depends on its step alone.
      for (let i = draw - 1; i >= 0; i--) {
        const j = swaps[o + i];
        const a = perm[start + i];
        perm[start + i] = perm[start + j];
        perm[start + j] = a;
      }
      o += draw;
    }
    return order;
  }

  /** Stages step `step`'s replayed rows at rows [at, at + rows) of `stager` (see {@link StagedBatchHook.stage}). */
  stage(stager: RowStaging, at: number, step: number): boolean {
    return stager.stage(this.data, this.draw(step), 0, this.rows, null, at);
  }

  /** What a run folder's config.json says of it. */
  toJSON(): ReplayStagerSummary {
    return { kind: 'replay', rows: this.rows, buffer: this.data.length, parts: this.parts.map((p) => p.draw), seed: this.seed };
  }
}
