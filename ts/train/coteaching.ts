/**
 * Co-teaching (Han et al. 2018; shared/REFERENCES.md "Noisy labels"): two peer networks of the
 * same architecture (different seeds) train on the same batches; on the noisy task each keeps
 * the R(T) fraction of its smallest-loss samples of the batch, and its PEER trains on them.
 * R(T) = 1 − min(T / T_k, 1)·r, with T the epochs completed (epoch 1 keeps everything) and r the
 * forget rate (the noise rate by default in their code).
 *
 * One step, for peers A and B on a batch of n samples:
 *  1. both forward on the batch (dropout seeds of their own);
 *  2. `perSampleLosses` of the noisy task on each peer's logits, and ONE read of n floats per
 *     peer (a documented readback: the selection is a sort on the host);
 *  3. each peer keeps exactly ⌊R·n_l⌋ of the n_l samples labelled for the task (the smallest
 *     losses; ties by batch position; a NaN loss counts as the largest);
 *  4. each peer's multi-loss runs with its PEER's selection as the task's mask column (one
 *     mask-only upload, model.setBatchMask), then backward and its optimizer.
 * Every other task (the multi-task case) trains on all its labelled samples. Per epoch: the
 * share of clean samples among those each peer kept (from injectLabelNoise's `corrupted`
 * mask, evaluation only: training never reads it), and both peers' validation metrics.
 *
 * Differences from their code (github bhanML/Co-teaching): R(T) as in the paper (their
 * schedule reaches r one epoch earlier, a linspace over T_k epochs); the kept samples' loss is
 * their mean (their code divides that mean by the count once more, a constant factor under
 * Adam); no learning-rate or β1 decay (theirs from epoch 80 of 200), and no 400-batch cap per
 * epoch. The batches, optimizer and evaluation are the Trainer's: each peer has a
 * {@link Trainer} (its optimizer and evaluate()), the shuffle is the Trainer's (an Rng of the
 * seed, one permutation per epoch), and peer A's dropout seeds are the Trainer's, so with r = 0
 * peer A trains exactly as Trainer.fit with the same seed would.
 */
import { type Backend, LossLayout, type Tensor } from '../backends/backend.js';
import { checkKeys } from '../core/options.js';
import { Rng, hash32 } from '../core/random.js';
import { ConfigError, ShapeError, describe, expectInt, expectNumber } from '../errors.js';
import type { MultiTaskDataset } from '../data/dataset.js';
import type { MultiTaskModel } from '../mtl/model.js';
import { BatchBuffer } from '../nn/layer.js';
import type { TaskMetrics } from './metrics.js';
import type { OptimizerConfig } from './optimizer.js';
import { BatchStager, Trainer } from './trainer.js';

/** Options of {@link CoTeaching}. */
export interface CoTeachingConfig {
  /** The task with noisy labels, whose samples the peers select for each other. */
  task: string;
  /** r in [0, 1]: the share of the task's samples each peer drops once T ≥ T_k (their default: the noise rate). */
  forgetRate: number;
  /** T_k, the epochs over which the dropped share grows linearly from 0 to r. Default 10. */
  gradual?: number;
  /** Each peer's optimizer (the same hyper-parameters, separate state). */
  optimizer: OptimizerConfig;
  /** Samples per batch (at most the peers' maxBatch). */
  batchSize: number;
  /** Epochs to train. */
  epochs: number;
  /** Seed of the shuffle and of peer A's dropout (as the Trainer's seed). Default 0. */
  seed?: number;
  /**
   * Evaluation only: per training sample, 1 where its label of `task` was corrupted
   * (injectLabelNoise's `corrupted`); gives each epoch's clean share of the kept samples.
   */
  corrupted?: Uint8Array | null;
  /** One line per epoch. Default: none. */
  log?: ((line: string) => void) | null;
}

/** One epoch of {@link CoTeaching.fit}. */
export interface CoTeachingEpoch {
  /** 1-based. */
  epoch: number;
  /** R(T) of this epoch: the share of each batch's labelled samples each peer keeps. */
  keepRate: number;
  /** Samples of the task labelled in the epoch's batches (the candidates). */
  labelled: number;
  /** Samples each peer kept over the epoch (Σ over batches of ⌊R·n_l⌋; the same for both peers). */
  kept: number;
  /** Per peer, the share of truly clean samples among those it kept; null without `corrupted`. */
  cleanShare: [number, number] | null;
  /** Per peer, its validation metrics (fit's `validation`), when given. */
  validation?: [Record<string, TaskMetrics>, Record<string, TaskMetrics>];
  /** Seconds the epoch's steps took (without validation). */
  seconds: number;
}

const KEYS = ['task', 'forgetRate', 'gradual', 'optimizer', 'batchSize', 'epochs', 'seed', 'corrupted', 'log'];

/** R(T) = 1 − min(T / T_k, 1)·r for 1-based `epoch` (T = epoch − 1 epochs completed). */
export function keepRate(epoch: number, forgetRate: number, gradual: number): number {
  return 1 - Math.min((epoch - 1) / gradual, 1) * forgetRate;
}

/**
 * ⌊rate·n⌋, the number of samples kept of n; a 1e-9 margin absorbs the rounding of rate (1 −
 * 0.2 = 0.8 times 10 keeps 8, where the float product is 7.999…).
 */
export function keepCount(rate: number, n: number): number {
  return Math.min(n, Math.floor(rate * n + 1e-9));
}

/**
 * Small-loss selection of one batch: among the rows i < n with labelled[i] ≠ 0 (all when null),
 * keeps the ⌊rate·n_l⌋ of smallest losses[i] (ties by row; NaN the largest): kept[i] = 1 for
 * them, 0 for every other row. `order` is scratch of at least n entries. Returns how many were
 * kept and the labelled count.
 */
export function selectSmallLoss(
  losses: ArrayLike<number>,
  labelled: ArrayLike<number> | null,
  n: number,
  rate: number,
  kept: Float32Array,
  order: Int32Array,
): {
  /** How many samples were kept (⌊rate·labelled⌋). */
  kept: number;
  /** How many samples of the batch carry the task's label. */
  labelled: number;
} {
  let m = 0;
  for (let i = 0; i < n; i++) {
    kept[i] = 0;
    if (!labelled || labelled[i] !== 0) order[m++] = i;
  }
  const k = keepCount(rate, m);
  const key = (i: number): number => (Number.isNaN(losses[i]) ? Infinity : losses[i]);
  const candidates = order.subarray(0, m);
  candidates.sort((a, b) => key(a) - key(b) || a - b);
  for (let j = 0; j < k; j++) kept[candidates[j]] = 1;
  return { kept: k, labelled: m };
}

/**
 * How many kept rows (kept[i] ≠ 0, i < n) hold a clean sample: corrupted[order[from + i]] = 0
 * (the batch's rows are samples order[from ..] of the dataset).
 */
export function countClean(kept: ArrayLike<number>, n: number, corrupted: Uint8Array, order: Int32Array, from: number): number {
  let clean = 0;
  for (let i = 0; i < n; i++) if (kept[i] !== 0 && corrupted[order[from + i]] === 0) clean++;
  return clean;
}

/**
 * Co-teaching of two peer {@link MultiTaskModel}s (see the module doc): `fit` trains both and
 * returns one {@link CoTeachingEpoch} per epoch. The peers must be distinct models of the same
 * architecture on the same backend, with different seeds.
 */
export class CoTeaching {
  /** Each peer's Trainer: its optimizer (stepped here) and evaluate(). */
  readonly trainers: readonly [Trainer, Trainer];
  /** The epochs trained so far. */
  readonly history: CoTeachingEpoch[] = [];
  private readonly backend: Backend;
  private readonly task: number;
  private readonly gradual: number;
  private readonly forgetRate: number;
  private readonly rng: Rng;
  /** Each peer's dropout seed (peer A's is the Trainer's: config.seed). */
  private readonly seeds: readonly [number, number];
  /** Each peer's step context (training, its dropout seed of the step), updated in place. */
  private readonly contexts = [{ training: true, seed: 0 }, { training: true, seed: 0 }];
  /** Each peer's logits of the current step (model-owned buffers). */
  private readonly logits: [Tensor | null, Tensor | null] = [null, null];
  /** The noisy task alone, over the peers' whole logits and targets: per-sample losses [n, 1]. */
  private readonly selection: LossLayout;
  // Host staging, made once for maxBatch rows.
  /** Host staging of a batch (inputs, targets, the [n, T] mask), shared with the Trainer. */
  private readonly stager: BatchStager;
  private readonly column: Float32Array;
  private readonly kept: [Float32Array, Float32Array];
  private readonly losses: [Float32Array, Float32Array];
  private readonly order: Int32Array;
  // Device buffers of the selection pass.
  private readonly columnRows: BatchBuffer;
  private readonly lossRows: [BatchBuffer, BatchBuffer];

  constructor(
    /** Peer A and peer B. */
    readonly peers: readonly [MultiTaskModel, MultiTaskModel],
    /** The options, as given. */
    readonly config: CoTeachingConfig,
  ) {
    checkKeys(config, KEYS, 'the co-teaching config');
    if (!Array.isArray(peers) || peers.length !== 2 || peers[0] === peers[1]) {
      throw new ConfigError(`Expected two distinct models for peers but received ${describe(peers)}`);
    }
    const [a, b] = peers;
    if (a.backend !== b.backend) throw new ConfigError('Expected both peers on the same backend');
    const { seed: seedA, ...archA } = a.resolvedConfig;
    const { seed: seedB, ...archB } = b.resolvedConfig;
    if (JSON.stringify(archA) !== JSON.stringify(archB)) throw new ConfigError('Expected peers of the same architecture (the same config but the seed)');
    if (seedA === seedB) throw new ConfigError(`Expected peers with different seeds but both have seed ${seedA}`);
    this.task = a.taskIndex(config.task);
    this.forgetRate = expectNumber('forgetRate', config.forgetRate, 0, 1);
    this.gradual = expectInt('gradual', config.gradual ?? 10);
    const bs = expectInt('batchSize', config.batchSize);
    if (bs > a.maxBatch) throw new ShapeError(`Expected batchSize at most the peers' maxBatch ${a.maxBatch} but received ${bs}`);
    const seed = expectInt('seed', config.seed ?? 0, 0);
    this.seeds = [seed, hash32(seed, 0xc07eac) >>> 1];
    const trainer = (m: MultiTaskModel, s: number): Trainer =>
      new Trainer(m, { optimizer: config.optimizer, batchSize: bs, epochs: config.epochs, seed: s, progress: false });
    this.trainers = [trainer(a, this.seeds[0]), trainer(b, this.seeds[1])];
    this.backend = a.backend;
    this.rng = new Rng(seed);

    const layout = a.lossLayout;
    const seg = layout.segments[this.task];
    this.selection = new LossLayout([{ ...seg, kind: layout.losses[this.task].name }], { out: layout.totalOut, tgt: layout.totalTgt });
    const B = a.maxBatch;
    this.stager = new BatchStager(a);
    this.column = new Float32Array(B);
    this.kept = [new Float32Array(B), new Float32Array(B)];
    this.losses = [new Float32Array(B), new Float32Array(B)];
    this.order = new Int32Array(B);
    this.columnRows = new BatchBuffer(this.backend, B, [1]);
    this.lossRows = [new BatchBuffer(this.backend, B, [1]), new BatchBuffer(this.backend, B, [1])];
  }

  /** Trains both peers for config.epochs epochs on `train`; validation metrics per epoch when given. */
  async fit(train: MultiTaskDataset, opts: { validation?: MultiTaskDataset } = {}): Promise<CoTeachingEpoch[]> {
    checkKeys(opts, ['validation'], 'co-teaching fit options');
    const corrupted = this.config.corrupted ?? null;
    if (corrupted && corrupted.length !== train.length) {
      throw new ShapeError(`Expected ${train.length} entries (one per training sample) in corrupted but received ${corrupted.length}`);
    }
    if (train.featureSize !== this.peers[0].featureSize) {
      throw new ShapeError(`Expected training samples of ${this.peers[0].featureSize} features (the peers' input) but received ${train.featureSize}`);
    }
    for (const t of this.peers[0].tasks) train.labels(t.name); // ConfigError naming a missing task
    const order = new Int32Array(train.length);
    const epochs = expectInt('epochs', this.config.epochs);
    for (let epoch = this.history.length + 1; epoch <= epochs; epoch++) {
      const record = await this.epoch(train, order, epoch, corrupted);
      if (opts.validation) {
        const v = opts.validation;
        record.validation = [await this.trainers[0].evaluate(v), await this.trainers[1].evaluate(v)];
      }
      this.history.push(record);
      this.config.log?.(formatEpoch(record, epochs, this.peers[0].tasks[this.task].name));
    }
    return this.history;
  }

  private async epoch(train: MultiTaskDataset, order: Int32Array, epoch: number, corrupted: Uint8Array | null): Promise<CoTeachingEpoch> {
    const [a, b] = this.peers;
    const releaseA = a.claim('co-teaching fit()');
    let releaseB: (() => void) | null = null;
    try {
      releaseB = b.claim('co-teaching fit()');
      const bs = this.config.batchSize;
      const rate = keepRate(epoch, this.forgetRate, this.gradual);
      for (let i = 0; i < order.length; i++) order[i] = i;
      this.rng.shuffle(order);
      let labelled = 0;
      let kept = 0;
      const clean = [0, 0];
      const t0 = performance.now();
      for (let from = 0; from < train.length; from += bs) {
        const n = Math.min(bs, train.length - from);
        const masked = this.stage(train, order, from, n);
        const step = this.trainers[0].optimizer.steps;
        for (let p = 0; p < 2; p++) this.contexts[p].seed = hash32(this.seeds[p], step + 1);
        const sel = await this.select(n, masked, rate);
        labelled += sel.labelled;
        kept += sel.kept;
        if (corrupted) for (let p = 0; p < 2; p++) clean[p] += countClean(this.kept[p], n, corrupted, order, from);
        this.update(n);
        await this.backend.throttle();
      }
      await this.backend.sync();
      return {
        epoch,
        keepRate: rate,
        labelled,
        kept,
        cleanShare: corrupted ? [clean[0] / Math.max(1, kept), clean[1] / Math.max(1, kept)] : null,
        seconds: (performance.now() - t0) / 1000,
      };
    } finally {
      releaseA();
      releaseB?.();
    }
  }

  /**
   * Stages rows order[from .. from + n) into the host arrays (inputs, targets, every task's mask,
   * the noisy task's column) and uploads the selection pass's column. Returns
   * whether any label of any task is missing.
   */
  private stage(ds: MultiTaskDataset, order: Int32Array, from: number, n: number): boolean {
    const st = this.stager;
    const masked = st.stage(ds, order, from, n);
    const T = this.peers[0].tasks.length;
    for (let i = 0; i < n; i++) this.column[i] = st.mask[i * T + this.task];
    this.backend.write(this.columnRows.base, this.column.subarray(0, n));
    return masked;
  }

  /** Steps 1 to 3: both forwards (gradients zeroed), per-sample losses, one read each, the selections. */
  private async select(n: number, masked: boolean, rate: number): Promise<{ kept: number; labelled: number }> {
    const be = this.backend;
    let out = { kept: 0, labelled: 0 };
    for (let p = 0; p < 2; p++) {
      const m = this.peers[p];
      m.loadBatch(n, this.stager.inputs, this.stager.targets, masked ? this.stager.mask : null);
      m.zeroGradients();
      const logits = (this.logits[p] = m.forward(n, this.contexts[p]));
      be.perSampleLosses(logits, m.batchTargets(n), masked ? this.columnRows.rows(n) : null, this.selection, this.lossRows[p].rows(n));
    }
    for (let p = 0; p < 2; p++) {
      await be.read(this.lossRows[p].rows(n), this.losses[p].subarray(0, n));
      out = selectSmallLoss(this.losses[p], masked ? this.column : null, n, rate, this.kept[p], this.order);
    }
    return out;
  }

  /** Step 4: each peer's multi-loss on its peer's selection, backward, optimizer step. */
  private update(n: number): void {
    const T = this.peers[0].tasks.length;
    for (let p = 0; p < 2; p++) {
      const m = this.peers[p];
      const peerKept = this.kept[1 - p];
      for (let i = 0; i < n; i++) this.stager.mask[i * T + this.task] = peerKept[i];
      m.setBatchMask(n, this.stager.mask);
      // The logits of step 1 are still the model's: nothing ran on it since.
      m.backward(m.computeLoss(n, this.logits[p]!), n);
      this.trainers[p].optimizer.step();
    }
  }
}

/** One log line per epoch. */
function formatEpoch(r: CoTeachingEpoch, epochs: number, task: string): string {
  const parts = [`epoch ${r.epoch}/${epochs}`, `keep ${(100 * r.keepRate).toFixed(1)}% of ${task}`];
  if (r.cleanShare) parts.push(`clean among kept ${r.cleanShare.map((c) => (100 * c).toFixed(2) + '%').join(' / ')}`);
  if (r.validation) {
    parts.push(`validation ${r.validation.map((v) => Object.entries(v).map(([t, m]) => `${t} ${m.accuracy !== undefined ? (100 * m.accuracy).toFixed(2) + '%' : m.loss?.toFixed(4)}`).join(', ')).join(' | ')}`);
  }
  parts.push(`${r.seconds.toFixed(1)} s`);
  return parts.join('  ');
}
