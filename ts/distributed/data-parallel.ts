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
 * - the gradients are averaged over the ranks in buckets of `bucketMB`, laid out from the end
 *   of the parameter arena (the heads, then the trunk's last layer: the order backward finishes
 *   them, as PyTorch's DDP), one MPI_Iallreduce per bucket; with `overlap` (the default) a
 *   bucket starts during the backward pass as soon as its gradients are final
 *   (MultiTaskModel.setGradientsReady: after the heads and after each trunk layer with hard
 *   sharing, after the whole body with other kinds), and every later layer's notification
 *   polls the buckets in flight (MPI_Test: Open MPI progresses a collective only inside MPI
 *   calls); the rest start after the pass, and all are waited for before clipping and the
 *   optimizer, so every rank takes the same step. The buckets and their sums are the same with
 *   and without overlap (bit-identical results). No overlap, the reduction after the pass as
 *   before, where starting early would not be exact: parameter-space weighting (the body runs
 *   once per task, and the shared rows are averaged separately), an EWC penalty (added to the
 *   gradients after the pass), and gradients that are not host memory (GPU backends: read back
 *   after the pass; on cuda NCCL reduces them on the stream, see ts/distributed/nccl.ts);
 * - weighting strategies stay exact: loss-based ones get the T losses averaged over the ranks
 *   before they use them; representation-space gradient methods (MGDA-UB, ...) get the Gram
 *   matrix of the whole batch (the sum of the ranks' Grams, scaled: the per-sample gradients of
 *   a batch of W·b are those of a batch of b divided by W); parameter-space ones (PCGrad, ...)
 *   get the per-task gradient rows averaged over the ranks, so every rank computes the same
 *   coefficients (see {@link StepReduction});
 * - only rank 0 logs, shows progress and writes the run folder; the validation set is sharded:
 *   its evaluation batches are dealt to the ranks in turn, and the ranks all-gather each round's
 *   outputs and batch losses so that every rank accumulates the metrics exactly as one process
 *   does, in the same order (bit-identical values: {@link DataParallel.gatherBatches});
 * - a stop (the signal, a callback's stop) is agreed: every `stopEvery` steps (pipelined: the
 *   flags' all-reduce runs during the next step, so a request takes effect one step later) and
 *   at every epoch end (at once) the ranks all-reduce their stop flags, so all stop after the
 *   same step ({@link DataParallel.agreeStop}).
 *
 * Exactness holds for batches split evenly with every label present; a per-task mean over
 * missing labels is averaged per rank (as DDP averages per-rank means).
 */
import { createHash } from 'node:crypto';
import type { Backend, Tensor } from '../backends/backend.js';
import { HostTensor } from '../backends/host.js';
import { checkKeys } from '../core/options.js';
import type { MultiTaskDataset } from '../data/dataset.js';
import { ConfigError, CheckpointError, HydranetError, describe } from '../errors.js';
import type { MultiTaskModel } from '../mtl/model.js';
import type { StepReduction } from '../mtl/weighting/step.js';
import { MpiWorld, type PendingSum } from './mpi.js';
import { NcclComm } from './nccl.js';

/** Options of {@link DataParallel.init}. Unknown keys are ConfigErrors. */
export interface DataParallelOptions {
  /**
   * Size of a gradient all-reduce bucket in MB (0.25 … 25; default 8). Smaller buckets start
   * sooner during the backward pass (overlap) but make more all-reduces.
   */
  bucketMB?: number;
  /** How long one collective may wait for the other ranks, in ms (default 300000). */
  timeoutMs?: number;
  /** Start each gradient bucket's all-reduce during the backward pass, as soon as it is final (default true; see {@link DataParallel}). */
  overlap?: boolean;
  /** Agree on a stop request every this many steps (one all-reduce of 2 numbers; default 1). */
  stopEvery?: number;
  /**
   * On the cuda backend, all-reduce the gradients with NCCL in device memory, on the backend's
   * stream (default true); false reads them back and reduces them with MPI (as webgpu does).
   */
  nccl?: boolean;
}

const OPTION_KEYS = ['bucketMB', 'timeoutMs', 'overlap', 'stopEvery', 'nccl'] as const satisfies readonly (keyof DataParallelOptions)[];

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
  /** Seconds spent in gradient and step reductions (waiting for the other ranks included; with NCCL only the enqueueing: it runs on the stream). */
  seconds: number;
  /** Bytes all-reduced per rank, in total. */
  bytes: number;
  /** Gradient buckets started during a backward pass while it still had gradients to compute (overlap). */
  overlappedBuckets: number;
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
  readonly stats: CommunicationStats = { steps: 0, seconds: 0, bytes: 0, overlappedBuckets: 0 };
  /** Whether gradient buckets start during the backward pass ({@link DataParallelOptions.overlap}). */
  readonly overlap: boolean;
  /** Steps between stop agreements ({@link DataParallelOptions.stopEvery}). */
  readonly stopEvery: number;
  /** Whether a cuda model's gradients go through NCCL ({@link DataParallelOptions.nccl}). */
  private readonly useNccl: boolean;
  /** The NCCL communicator, made by start() for a cuda model (useNccl), else null. */
  private nccl: NcclComm | null = null;
  /** Views of the gradient arena from an offset (the NCCL path), by offset. */
  private readonly gradientViews = new Map<number, Tensor>();
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
    if (!(typeof mb === 'number' && mb >= 0.25 && mb <= 25)) throw new ConfigError(`Expected a bucket size in MB in [0.25, 25] for bucketMB but received ${describe(mb)}`);
    this.rank = world.rank;
    this.size = world.size;
    this.bucketElements = Math.floor((mb * 2 ** 20) / 4);
    const overlap = options.overlap ?? true;
    if (typeof overlap !== 'boolean') throw new ConfigError(`Expected true or false for overlap but received ${describe(overlap)}`);
    this.overlap = overlap;
    const every = options.stopEvery ?? 1;
    if (!(Number.isInteger(every) && every >= 1)) throw new ConfigError(`Expected an integer ≥ 1 for stopEvery but received ${describe(every)}`);
    this.stopEvery = every;
    const nccl = options.nccl ?? true;
    if (typeof nccl !== 'boolean') throw new ConfigError(`Expected true or false for nccl but received ${describe(nccl)}`);
    this.useNccl = nccl;
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
    this.settle(model);
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
    if (model.backend.name === 'cuda' && this.useNccl) this.nccl ??= NcclComm.init(this.world, model.backend);
  }

  /**
   * What a run that ended by an error may have left in flight (gradient buckets started by a
   * backward pass, stop flags) waited for and dropped, the model's listener removed: every rank
   * started them alike, so every rank can finish them.
   */
  private settle(model: MultiTaskModel): void {
    if (this.armed) {
      model.setGradientsReady(null);
      for (let b = 0; b < this.started; b++) this.world.finish(this.pending[b]);
      this.armed = null;
    }
    if (this.stopPending) this.world.finish(this.stopPending);
    this.stopPending = null;
    this.sharedReduced = 0;
  }

  /** What all-reduces the gradients: 'nccl' (a cuda model, once start() ran) or 'mpi'. */
  get engine(): 'mpi' | 'nccl' {
    return this.nccl ? 'nccl' : 'mpi';
  }

  /**
   * Before a step's forward and backward: with overlap on, makes the model's backward pass start
   * each gradient bucket's all-reduce as soon as its gradients are final. `exact` says that
   * starting early gives the same sums: false with parameter-space weighting or a penalty added
   * to the gradients after the pass; the buckets then all start in {@link reduceGradients}, as
   * they do for gradients that are not host memory.
   */
  beginStep(model: MultiTaskModel, exact: boolean): void {
    if (this.size === 1 || !this.overlap || !exact || !(model.params.grads instanceof HostTensor)) return;
    this.bucketsOf(model.params.grads.data, 0);
    this.armed = this.bucketCache;
    this.started = 0;
    this.polled = 0;
    model.setGradientsReady(this.onReady);
  }

  /**
   * After the backward pass (and any penalty gradient), before clipping and the optimizer:
   * averages the model's gradients over the ranks, bucket by bucket (starting those the
   * backward pass did not, {@link beginStep}). When a parameter-space weighting already
   * averaged the shared part this step, only the rest is reduced.
   */
  async reduceGradients(model: MultiTaskModel): Promise<void> {
    if (this.size === 1 && !this.nccl) return; // (NCCL still runs on one rank: a cheap no-op that keeps its path tested)
    const t0 = performance.now();
    const be = model.backend;
    const grads = model.params.grads;
    let first = 0;
    if (this.armed) {
      model.setGradientsReady(null);
      first = this.started;
      this.armed = null;
      if (this.sharedReduced !== 0) throw new HydranetError('DataParallel (internal): the gradient buckets started during a backward pass whose shared rows were averaged separately (beginStep must say exact: false)');
    }
    const skip = this.sharedReduced;
    this.sharedReduced = 0;
    if (this.nccl) {
      // In device memory, on the stream: enqueued here, done before the optimizer's kernels run.
      let view = this.gradientViews.get(skip);
      if (!view) this.gradientViews.set(skip, (view = skip === 0 ? grads : be.view(grads, skip, [grads.size - skip])));
      this.nccl.allReduce(view);
      this.stats.steps++;
      this.stats.bytes += 4 * view.size;
      this.stats.seconds += (performance.now() - t0) / 1000;
      return;
    }
    const host = grads instanceof HostTensor ? grads.data : null;
    const data = host ?? (await be.read(grads, this.staging(grads.size)));
    const buckets = this.bucketsOf(data, skip);
    const pending = this.pending;
    for (let b = first; b < buckets.length; b++) pending[b] = this.world.startSum(buckets[b], 'a gradient bucket');
    for (let b = 0; b < buckets.length; b++) this.world.finish(pending[b]);
    const inv = 1 / this.size;
    for (let i = skip; i < data.length; i++) data[i] *= inv;
    if (!host) be.write(grads, data);
    this.stats.steps++;
    this.stats.bytes += 4 * (data.length - skip);
    this.stats.seconds += (performance.now() - t0) / 1000;
  }

  /**
   * A sharded evaluation of `total` samples in batches of `chunk`: batch c (samples [c·chunk,
   * …)) is computed by rank c mod W alone; `compute(from, n, logits, losses)` runs it and fills
   * logits[0, n·width) and losses[0, T) (its per-task mean losses). Round by round the ranks
   * all-gather what they computed (f32 values carried exactly in f64), and every rank then calls
   * `consume(from, n, logits, losses)` for every batch, in batch order: exactly the sequence a
   * single process sees, so metrics accumulated in `consume` are bit for bit one process's (sums
   * of per-rank partial sums would not be: floating-point addition is not associative). Each
   * rank runs 1/W of the forward passes; what moves is the outputs, n·width + T values per
   * batch. Every rank must call it alike.
   */
  async gatherBatches(
    total: number,
    chunk: number,
    width: number,
    T: number,
    compute: (from: number, n: number, logits: Float32Array, losses: Float32Array) => Promise<void>,
    consume: (from: number, n: number, logits: Float32Array, losses: Float32Array) => Promise<void> | void,
  ): Promise<void> {
    const W = this.size;
    const stride = chunk * width + T;
    const send = new Float64Array(stride);
    const recv = new Float64Array(stride * W);
    const logits = new Float32Array(chunk * width);
    const losses = new Float32Array(T);
    const batches = Math.ceil(total / chunk);
    for (let round = 0; round * W < batches; round++) {
      const mine = round * W + this.rank;
      if (mine < batches) {
        const from = mine * chunk;
        const n = Math.min(chunk, total - from);
        await compute(from, n, logits, losses);
        for (let i = 0; i < n * width; i++) send[i] = logits[i];
        for (let t = 0; t < T; t++) send[chunk * width + t] = losses[t];
      }
      const t0 = performance.now();
      this.world.allgatherInto(send, recv, 'the validation outputs');
      this.stats.seconds += (performance.now() - t0) / 1000;
      this.stats.bytes += 8 * recv.length;
      for (let r = 0; r < W && round * W + r < batches; r++) {
        const from = (round * W + r) * chunk;
        const n = Math.min(chunk, total - from);
        const o = r * stride;
        for (let i = 0; i < n * width; i++) logits[i] = recv[o + i];
        for (let t = 0; t < T; t++) losses[t] = recv[o + chunk * width + t];
        await consume(from, n, logits, losses);
      }
    }
  }

  /**
   * Whether to stop, agreed by every rank: `flags` is this rank's [stop requested (a callback,
   * early stopping), stop on the signal] as 0/1, and becomes, in place, what the ranks agree:
   * 1 where any rank asked. With `now` (epoch ends, the start) that is decided at once, by one
   * blocking all-reduce of the two flags. Without (between steps) it is pipelined, so that no
   * step waits for it: this call only finishes the all-reduce the previous call started (done
   * by now, moved on by the step's gradient all-reduces) and returns its answer, then, unless
   * that answer is to stop, starts one for this call's flags; a request is thus agreed by the
   * second call after it (stopEvery 1: after one more step), the same on every rank. Every rank
   * must call it at the same places.
   */
  agreeStop(flags: Float64Array, now = true): void {
    if (this.size === 1) return;
    const t0 = performance.now();
    const sent = this.stopSent;
    let asked0 = 0;
    let asked1 = 0;
    if (this.stopPending) {
      this.world.finish(this.stopPending);
      this.stopPending = null;
      asked0 = sent[0] > 0 ? 1 : 0;
      asked1 = sent[1] > 0 ? 1 : 0;
    }
    if (now) {
      this.world.sum(flags, 'the stop flags');
      this.stats.bytes += 16;
      flags[0] = flags[0] > 0 || asked0 ? 1 : 0;
      flags[1] = flags[1] > 0 || asked1 ? 1 : 0;
    } else if (asked0 || asked1) {
      flags[0] = asked0;
      flags[1] = asked1;
    } else {
      sent.set(flags);
      this.stopPending = this.world.startSum(sent, 'the stop flags');
      this.stats.bytes += 16;
      flags.fill(0);
    }
    this.stats.seconds += (performance.now() - t0) / 1000;
  }

  /** The stop flags in flight between steps ({@link agreeStop}), and their all-reduce. */
  private readonly stopSent = new Float64Array(2);
  private stopPending: PendingSum | null = null;

  /** Averages per-task sums (an epoch's loss sums) over the ranks, in place. */
  average(values: Float64Array, what = 'values'): void {
    this.world.average(values, what);
  }

  /** The trainer configuration as config.json stores it. */
  toJSON(): Record<string, number | boolean> {
    return { worldSize: this.size, bucketMB: (this.bucketElements * 4) / 2 ** 20, overlap: this.overlap, stopEvery: this.stopEvery };
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
  private bucketCache: Buckets | null = null;
  /** This step's buckets while a backward pass may start them (beginStep … reduceGradients), else null. */
  private armed: Buckets | null = null;
  /** Buckets started this step (they start in order), and the first not yet seen complete. */
  private started = 0;
  private polled = 0;
  /** The model's backward listener: starts every bucket lying wholly at offsets ≥ from, then polls those in flight. */
  private readonly onReady = (from: number): void => {
    if (this.armed === null) return;
    const { views, starts } = this.armed;
    const t0 = performance.now();
    while (this.started < views.length && starts[this.started] >= from) {
      this.pending[this.started] = this.world.startSum(views[this.started], 'a gradient bucket');
      this.started++;
      if (from > 0) this.stats.overlappedBuckets++;
    }
    while (this.polled < this.started && this.world.poll(this.pending[this.polled])) this.polled++;
    this.stats.seconds += (performance.now() - t0) / 1000;
  };

  /**
   * The gradient buckets: views of data[skip, end) of bucketElements each, laid out from the
   * end (bucket 0 is the last bucketElements values: the order the backward pass finishes
   * them), made once per (array, skip).
   */
  private bucketsOf(data: Float32Array, skip: number): Float32Array[] {
    const c = this.bucketCache;
    if (c && c.data === data && c.skip === skip) return c.views;
    const views: Float32Array[] = [];
    const starts: number[] = [];
    for (let to = data.length; to > skip; to -= this.bucketElements) {
      starts.push(Math.max(skip, to - this.bucketElements));
      views.push(data.subarray(starts[starts.length - 1], to));
    }
    this.bucketCache = { data, skip, views, starts };
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

/** The gradient buckets of one arena: views from the end, and the arena offset each starts at. */
interface Buckets {
  data: Float32Array;
  skip: number;
  views: Float32Array[];
  starts: number[];
}

/** Trainer keys that may differ between ranks (rank 0 alone logs and writes). */
const IGNORED_TRAINER_KEYS = new Set(['log', 'progress', 'runDir', 'callbacks', 'distributed']);

/** A 48-bit fingerprint of a string or bytes (exact in a float64). */
function fingerprint(data: string | Buffer): number {
  return createHash('sha256').update(data).digest().readUIntBE(0, 6);
}
