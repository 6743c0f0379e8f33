/**
 * Data-parallel training over MPI, as PyTorch's DistributedDataParallel plus what multi-task
 * weighting needs. Give a {@link DataParallel} to the Trainer (`TrainerConfig.distributed`) in
 * every process that `mpirun -np N` starts; then:
 *
 * - at the start of fit(), every rank checks that all ranks agree on the model, the trainer
 *   configuration and the data (ConfigError naming the first rank that differs), and rank 0's
 *   parameters are broadcast to every rank;
 * - every epoch's seeded shuffle is the same on every rank; global batch s is samples
 *   order[s·W·b, (s+1)·W·b) (W ranks, b = batchSize per rank), and rank r trains on its r-th
 *   contiguous slice of b, so W ranks with batch b compute what one process computes with batch
 *   W·b (the last, shorter batch is split as evenly as it goes; a rank left without a sample
 *   takes the batch's first, as DistributedSampler pads);
 * - after the backward pass the gradients are averaged over the ranks in buckets of
 *   `bucketMB` (MPI_Iallreduce per bucket, then all waited for: the backward pass is one call
 *   with no per-layer hook yet, so the all-reduces do not overlap it), before clipping and the
 *   optimizer, so every rank takes the same step;
 * - weighting strategies stay exact: loss-based ones get the T losses averaged over the ranks
 *   before they use them; representation-space gradient methods (MGDA-UB, ...) get the Gram
 *   matrix of the whole batch (the sum of the ranks' Grams, scaled: the per-sample gradients of
 *   a batch of W·b are those of a batch of b divided by W); parameter-space ones (PCGrad, ...)
 *   get the per-task gradient rows averaged over the ranks, so every rank computes the same
 *   coefficients (see {@link StepReduction});
 * - only rank 0 logs, shows progress and writes the run folder; every rank evaluates the whole
 *   validation set (the parameters are the same, so the metrics are).
 *
 * Exactness holds for batches split evenly with every label present; a per-task mean over
 * missing labels is averaged per rank (as DDP averages per-rank means).
 */
import { createHash } from 'node:crypto';
import type { Backend, Tensor } from '../backends/backend.js';
import { HostTensor } from '../backends/host.js';
import { checkKeys } from '../core/options.js';
import type { MultiTaskDataset } from '../data/dataset.js';
import { ConfigError, CheckpointError, describe } from '../errors.js';
import type { MultiTaskModel } from '../mtl/model.js';
import type { StepReduction } from '../mtl/weighting/step.js';
import { MpiWorld, type PendingSum } from './mpi.js';

/** Options of {@link DataParallel.init}. Unknown keys are ConfigErrors. */
export interface DataParallelOptions {
  /** Size of a gradient all-reduce bucket in MB (1 … 25; default 8). */
  bucketMB?: number;
  /** How long one collective may wait for the other ranks, in ms (default 300000). */
  timeoutMs?: number;
}

const OPTION_KEYS = ['bucketMB', 'timeoutMs'] as const satisfies readonly (keyof DataParallelOptions)[];

/** Where one rank's samples of one step lie in the epoch's shuffled order. */
export interface ShardSlice {
  /** First position in the order. */
  from: number;
  /** Samples. */
  count: number;
}

/** Communication time of a run so far (for benchmarks and logs). */
export interface CommunicationStats {
  /** Steps whose gradients were reduced. */
  steps: number;
  /** Seconds spent in gradient and step reductions (waiting for the other ranks included). */
  seconds: number;
  /** Bytes all-reduced per rank, in total. */
  bytes: number;
}

/**
 * The data-parallel side of a training run over an {@link MpiWorld}: sharding, the start-up
 * checks and parameter broadcast, the bucketed gradient all-reduce, and the reductions that keep
 * weighting strategies exact. One per process; `Trainer` drives it (`TrainerConfig.distributed`).
 */
export class DataParallel {
  /** This process's rank. */
  readonly rank: number;
  /** The number of processes. */
  readonly size: number;
  /** Gradient bucket size, in elements (f32). */
  readonly bucketElements: number;
  /** The reductions a {@link StepReduction} asks for, for the weighting step. */
  readonly stepReduction: StepReduction;
  /** Time and bytes spent communicating since the start. */
  readonly stats: CommunicationStats = { steps: 0, seconds: 0, bytes: 0 };
  /** Set when this step's shared-parameter gradients were already averaged (parameter-space weighting). */
  private sharedReduced = 0;
  private readonly lossesF64: Float64Array[] = [];

  constructor(
    /** The communicator. */
    readonly world: MpiWorld,
    options: DataParallelOptions = {},
  ) {
    checkKeys(options, OPTION_KEYS, 'distributed options');
    const mb = options.bucketMB ?? 8;
    if (!(typeof mb === 'number' && mb >= 1 && mb <= 25)) throw new ConfigError(`Expected a bucket size in MB in [1, 25] for bucketMB but received ${describe(mb)}`);
    this.rank = world.rank;
    this.size = world.size;
    this.bucketElements = Math.floor((mb * 2 ** 20) / 4);
    this.stepReduction = {
      losses: (l) => this.timed(() => this.averageLosses(l)),
      gram: (k) => this.timed(() => this.sumGram(k)),
      rows: (be, g, sharedSize) => this.timedAsync(() => this.averageRows(be, g, sharedSize)),
    };
  }

  /** Starts MPI (or joins the world already started) and makes the data-parallel run. */
  static init(options: DataParallelOptions = {}): DataParallel {
    checkKeys(options, OPTION_KEYS, 'distributed options');
    return new DataParallel(MpiWorld.init(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }), options);
  }

  /** Optimizer steps in an epoch of `n` samples with `batchSize` samples per rank. */
  stepsPerEpoch(n: number, batchSize: number): number {
    return Math.ceil(n / (this.size * batchSize));
  }

  /** This rank's samples of step `s` (0-based) of an epoch of `n` samples, `batchSize` per rank. */
  shard(s: number, batchSize: number, n: number): ShardSlice {
    const W = this.size;
    const start = s * W * batchSize;
    const m = Math.min(W * batchSize, n - start);
    const from = start + Math.floor((this.rank * m) / W);
    const count = start + Math.floor(((this.rank + 1) * m) / W) - from;
    return count > 0 ? { from, count } : { from: start, count: 1 };
  }

  /**
   * Before the first step: checks that every rank has the same model, trainer configuration
   * and data (ConfigError naming the first rank that differs, thrown on every rank alike), then
   * copies rank 0's parameters to every rank.
   */
  async start(model: MultiTaskModel, trainerConfig: object, train: MultiTaskDataset, validation: MultiTaskDataset | undefined): Promise<void> {
    const sample = new Float32Array(Math.min(16, train.length) * train.featureSize);
    train.gatherInputs(Int32Array.from({ length: Math.min(16, train.length) }, (_, i) => i), 0, Math.min(16, train.length), sample);
    const checks: [string, number, boolean][] = [
      ['training set size (samples)', train.length, false],
      ['validation set size (samples; -1: none)', validation?.length ?? -1, false],
      ['features per sample', train.featureSize, false],
      ['parameter count', model.params.arenaSize, false],
      // The model's seed may differ: it only draws the initial parameters, which rank 0 broadcasts.
      ['model configuration', fingerprint(JSON.stringify({ config: { ...model.config, seed: 0 }, architecture: model.architecture() })), true],
      ['trainer configuration', fingerprint(JSON.stringify(trainerConfig, (k, v) => (IGNORED_TRAINER_KEYS.has(k) ? undefined : v))), true],
      ['training data (its first 16 samples)', fingerprint(Buffer.from(sample.buffer, sample.byteOffset, sample.byteLength)), true],
    ];
    const all = this.world.allgather(checks.map((c) => c[1]), 'the configuration checks');
    for (let r = 1; r < this.size; r++) {
      checks.forEach(([what, , hashed], i) => {
        if (all[r][i] === all[0][i]) return;
        throw new ConfigError(
          `data-parallel ranks disagree: rank ${r}'s ${what} ${hashed ? 'differs from' : `is ${all[r][i]}, not`} rank 0's${hashed ? '' : ` ${all[0][i]}`}; ` +
            'every rank must run the same model and configuration on the same data',
        );
      });
    }
    await this.world.broadcastTensor(model.backend, model.params.values, "rank 0's parameters");
  }

  /**
   * After the backward pass (and any penalty gradient), before clipping and the optimizer:
   * averages the model's gradients over the ranks, bucket by bucket. When a parameter-space
   * weighting already averaged the shared part this step, only the rest is reduced.
   */
  async reduceGradients(model: MultiTaskModel): Promise<void> {
    if (this.size === 1) return;
    const t0 = performance.now();
    const be = model.backend;
    const grads = model.params.grads;
    const skip = this.sharedReduced;
    this.sharedReduced = 0;
    const host = grads instanceof HostTensor ? grads.data : null;
    const data = host ?? (await be.read(grads, this.staging(grads.size)));
    const buckets = this.bucketsOf(data, skip);
    const pending = this.pending;
    for (let b = 0; b < buckets.length; b++) pending[b] = this.world.startSum(buckets[b], 'a gradient bucket');
    for (let b = 0; b < buckets.length; b++) this.world.finish(pending[b]);
    const inv = 1 / this.size;
    for (let i = skip; i < data.length; i++) data[i] *= inv;
    if (!host) be.write(grads, data);
    this.stats.steps++;
    this.stats.bytes += 4 * (data.length - skip);
    this.stats.seconds += (performance.now() - t0) / 1000;
  }

  /** Averages per-task sums (an epoch's loss sums) over the ranks, in place. */
  average(values: Float64Array, what = 'values'): void {
    this.world.average(values, what);
  }

  /** The trainer configuration as config.json stores it. */
  toJSON(): Record<string, number> {
    return { worldSize: this.size, bucketMB: (this.bucketElements * 4) / 2 ** 20 };
  }

  private averageLosses(losses: Float32Array): void {
    if (this.size === 1) return;
    const buf = (this.lossesF64[losses.length] ??= new Float64Array(losses.length));
    buf.set(losses);
    this.world.average(buf, 'the task losses');
    losses.set(buf);
    this.stats.bytes += 8 * losses.length;
  }

  /** The whole batch's Gram matrix from this rank's: Σ_r K_r / W² (per-sample gradients of a W-times larger batch are W times smaller). */
  private sumGram(gram: Float64Array): void {
    if (this.size === 1) return;
    this.world.sum(gram, 'the Gram matrix of the task gradients');
    const inv = 1 / (this.size * this.size);
    for (let i = 0; i < gram.length; i++) gram[i] *= inv;
    this.stats.bytes += 8 * gram.length;
  }

  private async averageRows(be: Backend, g: Tensor, sharedSize: number): Promise<void> {
    if (this.size === 1) return;
    await this.world.averageTensor(be, g, 'the per-task gradients of the shared parameters');
    this.sharedReduced = sharedSize;
    this.stats.bytes += 4 * g.size;
  }

  private readonly stagingBuffers = new Map<number, Float32Array>();
  private readonly pending: PendingSum[] = [];
  private bucketCache: { data: Float32Array; skip: number; views: Float32Array[] } | null = null;

  /** The gradient buckets: views of data[skip, end) of bucketElements each, made once per (array, skip). */
  private bucketsOf(data: Float32Array, skip: number): Float32Array[] {
    const c = this.bucketCache;
    if (c && c.data === data && c.skip === skip) return c.views;
    const views: Float32Array[] = [];
    for (let from = skip; from < data.length; from += this.bucketElements) views.push(data.subarray(from, Math.min(data.length, from + this.bucketElements)));
    this.bucketCache = { data, skip, views };
    return views;
  }

  private staging(n: number): Float32Array {
    let b = this.stagingBuffers.get(n);
    if (!b) this.stagingBuffers.set(n, (b = new Float32Array(n)));
    return b;
  }

  private timed<T>(f: () => T): T {
    const t0 = performance.now();
    try {
      return f();
    } finally {
      this.stats.seconds += (performance.now() - t0) / 1000;
    }
  }

  private async timedAsync<T>(f: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    try {
      return await f();
    } finally {
      this.stats.seconds += (performance.now() - t0) / 1000;
    }
  }
}

/**
 * Checks that a checkpoint being resumed was written by a run of `size` processes (its training
 * state's worldSize; absent: one process), so that every epoch's shards and steps are the ones
 * it was trained with.
 * @throws CheckpointError saying which world size wrote it and how to resume it.
 */
export function checkResumeWorldSize(stored: unknown, size: number, file: string): void {
  const wrote = stored ?? 1;
  if (wrote === size) return;
  const how = wrote === 1 ? 'in one process (without --distributed)' : `with mpirun -np ${String(wrote)}`;
  throw new CheckpointError(
    `${file} was written by a run of ${String(wrote)} process${wrote === 1 ? '' : 'es'} and this one has ${size}: the epochs' shards and steps differ. ` +
      `Resume it ${how}, or start a new run from its parameters.`,
  );
}

/** Trainer keys that may differ between ranks (rank 0 alone logs and writes). */
const IGNORED_TRAINER_KEYS = new Set(['log', 'progress', 'runDir', 'callbacks', 'distributed']);

/** A 48-bit fingerprint of a string or bytes (exact in a float64). */
function fingerprint(data: string | Buffer): number {
  return createHash('sha256').update(data).digest().readUIntBE(0, 6);
}
