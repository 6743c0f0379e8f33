/**
 * The training loop: seeded shuffling, batches staged into preallocated host arrays and
 * uploaded into the model's buffers, forward + fused multi-loss + backward, one optimizer
 * kernel, per-task metrics on a validation set each epoch, a progress bar, checkpoints
 * (written atomically) and resume.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { packedOf } from '../backends/packed.js';
import { type Predictions, activate } from '../mtl/predict.js';
import { checkKeys } from '../core/options.js';
import { hash32, Rng } from '../core/random.js';
import type { MultiTaskDataset } from '../data/dataset.js';
import {
  BusyError,
  CheckpointError,
  ConfigError,
  NonFiniteLossError,
  ShapeError,
  TrainingAbortedError,
  describe,
  expectInt,
} from '../errors.js';
import type { MultiTaskModel } from '../mtl/model.js';
import { HIGHER_IS_BETTER, type Task, validateLabels } from '../mtl/task.js';
import { type WeightingSpec, WeightedStep, type WeightingStrategy, createWeighting } from '../mtl/weighting/index.js';
import {
  type TrainingState,
  applyCheckpoint,
  findNonFiniteParameter,
  loadCheckpoint,
  readCheckpointFile,
  saveCheckpoint,
  writeFileAtomic,
} from '../io/checkpoint.js';
import { checkWritableFolder } from '../io/files.js';
import { type AffinityConfig, AffinityProbe, type AffinityRecord, type AffinityReport, affinityReport } from './affinity.js';
import { type EarlyStoppingConfig, EarlyStopper, RunControl, type TrainerCallbacks, checkCallbacks } from './callbacks.js';
import { type EwcPenaltyConfig, EwcPenalty, ewcTensors } from './ewc.js';
import { GradientClipper } from './clipping.js';
import { MetricAccumulator, type TaskMetrics } from './metrics.js';
import { Optimizer, type OptimizerConfig } from './optimizer.js';
import { ProgressBar } from './progress.js';
import { type LrSchedule, checkLrSchedule, lrAt } from './schedules.js';
import { AuxiliaryTaskStopper, type TaskStoppingConfig } from './task-stopping.js';
import { SelfSupervisedStaging, rotationStepSeed } from './self-supervised.js';
import { type DataParallel, checkResumeWorldSize } from '../distributed/data-parallel.js';
import type { StagedBatchHook } from './staged-batch.js';

/** How a {@link Trainer} trains. Unknown keys are ConfigErrors; numbers are checked when the Trainer is made. */
export interface TrainerConfig {
  /** The optimizer and its hyper-parameters, e.g. { kind: 'adamw', lr: 1e-3 }. */
  optimizer: OptimizerConfig;
  /** Samples per step (≤ the model's maxBatch; with a rotation task, which stages each sample twice, 2 × batchSize ≤ maxBatch). */
  batchSize: number;
  /** Epochs to train (a positive integer): a total, counting resumed epochs; fit({ epochs }) overrides it. */
  epochs: number;
  /** Seed of shuffling and dropout (default 0). */
  seed?: number;
  /** Loss weights by task name, overriding the tasks' own. */
  weights?: Record<string, number>;
  /**
   * How the task losses combine: a strategy name ("fixed", the default, uses the weights;
   * "equal", "uncertainty", "dwa", "rlw", "gls", "mgda", "mgda-ub", "pcgrad", "cagrad", ...),
   * a "name:key=value,..." string, or { name, options }. See ts/mtl/weighting.
   */
  weighting?: string | WeightingSpec;
  /**
   * Task-wise early stopping of auxiliary tasks (TCDCN, Zhang et al. 2014; needs a validation
   * set): { k: 5, threshold: 1 }. A stopped task's weight is 0 from then on. Off by default.
   */
  auxiliaryStopping?: TaskStoppingConfig | null;
  /** Show a progress bar (default: when stderr is a terminal). */
  progress?: boolean;
  /** Where per-epoch summaries go (default console.log); null silences them. */
  log?: ((line: string) => void) | null;
  /** A folder for config.json, metrics.json and checkpoints; null (default) writes nothing. */
  runDir?: string | null;
  /** Read the per-task losses back (for the progress bar and the NaN check) every k steps. Default 1. */
  lossCheckEvery?: number;
  /**
   * The learning rate per optimizer step (see {@link LrSchedule}); the optimizer's lr is the base
   * rate. Set before every step; its position is the step count, so a resume continues it.
   * Default: constant.
   */
  lrSchedule?: LrSchedule | null;
  /**
   * Clips the gradients to this global L2 norm before every optimizer step (PyTorch
   * clip_grad_norm_): one reduction on the backend and one scalar read back per step, no read of
   * the gradients. Off by default.
   */
  clipGradNorm?: number | null;
  /** Ends the run when the main tasks' validation score stops improving (needs a validation set). Off by default. */
  earlyStopping?: EarlyStoppingConfig | null;
  /** Called at the end of each epoch and every few steps; they can stop the run cleanly. */
  callbacks?: TrainerCallbacks | null;
  /**
   * Measures inter-task affinity while training (TAG lookahead, its linearised form, gradient
   * cosine; see {@link AffinityProbe}): { method: 'lookahead', every: 10 }. Every `every` steps
   * the step's batch is probed before the step (the step itself is unchanged); each epoch's mean
   * T×T matrices go into EpochRecord.affinity, the run's into Trainer.affinity and the run
   * folder's affinity.json. Needs hard sharing. Off by default. A resume in the middle of an
   * epoch starts that epoch's sums afresh (its record covers the probes after the resume).
   */
  affinity?: AffinityConfig | null;
  /**
   * A penalty on the parameters whose gradient is added to every step's after the backward pass
   * and before clipping and the optimizer: { kind: 'ewc', lambda, fisher, anchor } is EWC's
   * λ/2·Σ F(θ − θ*)² (see ts/train/ewc.ts; fisherDiagonal and consolidate make F and θ*). One
   * kernel per step, nothing allocated or read back; its value at the end of each epoch goes
   * into EpochRecord.ewcPenalty (from the parameters read there anyway), and the run folder's
   * checkpoints store F and θ* (ewcFromCheckpoint reads them, laid over a grown model). A resume
   * takes the penalty from this config, as given. Off by default.
   */
  penalty?: EwcPenaltyConfig | null;
  /**
   * Data-parallel training over MPI (ts/distributed): the same Trainer in every process that
   * mpirun starts, each with DataParallel.init(). batchSize is then per rank; rank 0's parameters
   * are broadcast at the start, each rank trains on its slice of every global batch, gradients
   * (and what the weighting reads) are averaged over the ranks (their all-reduces overlapping the
   * backward pass where that is exact), the validation set's batches are shared out among the
   * ranks (the metrics are one process's, bit for bit), a stop asked on any rank stops every rank
   * after the same step, and rank 0 alone logs and writes the run folder. Off by default.
   */
  distributed?: DataParallel | null;
  /**
   * Rows appended to every training step's batch after its own samples (replay's drawn old
   * samples: ReplayStager); the model's maxBatch must hold batchSize plus hook.rows, and the
   * model must have no self-supervised task. Off by default.
   */
  batchStaged?: StagedBatchHook | null;
}

/** What one epoch of training gave: one per epoch in Trainer.history, metrics.json and fit()'s result. */
export interface EpochRecord {
  /** The epoch, 1-based, counted from the start of the run. */
  epoch: number;
  /** Optimizer steps taken since the start of the run, at the end of this epoch. */
  step: number;
  /** Wall-clock seconds the epoch's training took (validation excluded). */
  seconds: number;
  /** Training steps per second over the epoch. */
  stepsPerSecond: number;
  /** Mean training loss per task over the epoch (from the loss reads). */
  train: Record<string, number>;
  /** Per-task metrics on the validation set, when fit() was given one. */
  validation?: Record<string, TaskMetrics>;
  /** The weighting strategy's mean task weights (loss-based) or gradient coefficients α
   * (gradient-based) over the epoch, by task name. */
  weights: Record<string, number>;
  /** The weighting strategy's learned or accumulated state at the end of the epoch (learned
   * log-variances, GradNorm weights, FAMO logits, DWA history, ...). */
  weighting: Record<string, unknown>;
  /** A sharing kind with a penalty (soft sharing: the L2 between the towers): its value at the end of the epoch. */
  penalty?: number;
  /** Auxiliary tasks stopped at the end of this epoch, with their criterion value. */
  stopped?: Record<string, number>;
  /** The learning rate of the epoch's first and last steps (they differ under an lrSchedule); absent in records of older checkpoints. */
  lr?: {
    /** The learning rate of the epoch's first step. */
    first: number;
    /** The learning rate of the epoch's last step. */
    last: number;
  };
  /** With clipGradNorm: the mean global gradient norm (before clipping) over the epoch's steps. */
  gradNorm?: number;
  /** With earlyStopping: the epoch's selection score, and whether it is the best so far. */
  score?: number;
  /** Set on the last epoch when the run ended early: 'earlyStopping' or 'callback'. */
  stoppedBy?: 'earlyStopping' | 'callback';
  /** With TrainerConfig.affinity: the mean over the epoch's probes of each T×T matrix measured (rows: source task, columns: target task). */
  affinity?: AffinityRecord;
  /** With TrainerConfig.penalty: the EWC penalty λ/2·Σ F(θ − θ*)² at the end of the epoch. */
  ewcPenalty?: number;
}

/** Options of {@link Trainer.evaluate}. */
export interface EvaluateOptions {
  /** Also return every sample's outputs, as model.predict gives them (default false). */
  outputs?: boolean;
}

/** What {@link Trainer.evaluate} returns with `{ outputs: true }`. */
export interface EvaluationWithOutputs {
  /** Per task (by name), its loss and metrics over the labelled samples. */
  metrics: Record<string, TaskMetrics>;
  /** Per task (by name), every sample's outputs in dataset order: probabilities or values, n × outputs. */
  outputs: Predictions;
}

/** Options of {@link Trainer.fit}. Unknown keys are ConfigErrors. */
export interface FitOptions {
  /** Evaluated after every epoch: its metrics go into EpochRecord.validation and drive model selection and auxiliary-task stopping. */
  validation?: MultiTaskDataset;
  /** Continue from a checkpoint written by an earlier run of the same model and trainer. */
  resumeFrom?: string;
  /**
   * The total number of epochs to train to (default: TrainerConfig.epochs). Epochs count from
   * the start of the run, resumed ones included: a second fit() on a trainer that trained 3
   * epochs trains epochs 4..N with { epochs: N }. Nothing left to train is a ConfigError.
   */
  epochs?: number;
  /**
   * Stops the run cleanly: the step in progress finishes, the run folder's checkpoint is written
   * with the state at that step (mid-epoch included: a resume continues that epoch exactly where
   * it stopped, with the same shuffle), and fit() rejects with TrainingAbortedError. An already
   * aborted signal stops before the first step.
   */
  signal?: AbortSignal;
}

const TRAINER_KEYS = [
  'optimizer', 'batchSize', 'epochs', 'seed', 'weights', 'weighting', 'auxiliaryStopping', 'progress', 'log', 'runDir', 'lossCheckEvery',
  'lrSchedule', 'clipGradNorm', 'earlyStopping', 'callbacks', 'affinity', 'penalty',
  'distributed',
  'batchStaged',
] as const satisfies readonly (keyof TrainerConfig)[];
const FIT_KEYS = ['validation', 'resumeFrom', 'epochs', 'signal'] as const satisfies readonly (keyof FitOptions)[];

/**
 * fit() and evaluate() give the event loop a turn (a setImmediate) whenever this many
 * milliseconds of work have passed since the last one, so that timers, I/O and signal handlers
 * of the host application keep running during training. @internal (bench/event-loop.ts sets
 * Infinity to measure the cost of yielding).
 */
export const eventLoopYield = { everyMs: 5 };

/** Gives the event loop a turn every `eventLoopYield.everyMs` of work. */
class Yielder {
  private last = performance.now();

  /** Whether a turn is due (cheap: one clock read). */
  due(): boolean {
    return performance.now() - this.last >= eventLoopYield.everyMs;
  }

  async yield(): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.last = performance.now();
  }
}

/**
 * Checks that a run folder can be written before any data is loaded or trained on: creates it
 * (and its parents) and writes, flushes and removes a probe file in it. Returns whether the
 * folder was created by this call.
 * @throws FileWriteError naming the folder and the cause (a parent is a file, read-only, full...).
 */
export function checkRunDir(dir: string): boolean {
  return checkWritableFolder(dir, 'run folder');
}

/**
 * The main tasks that model selection (best.safetensors, compare's best epoch) scores an epoch
 * by: those with at least one labelled sample in its validation metrics. Empty when the record
 * has no validation or no main task has labels there; the score then falls back to the
 * training loss.
 */
export function selectionTasks(record: EpochRecord, main: readonly Task[]): Task[] {
  const v = record.validation;
  return v ? main.filter((t) => (v[t.name]?.count ?? 0) > 0) : [];
}

/**
 * The selection score of an epoch, higher is better: the mean over `selectionTasks` of each
 * task's headline metric (its first metric, negated where lower is better), or, when no main
 * task has validation labels, minus the mean training loss of the main tasks.
 */
export function selectionScore(record: EpochRecord, main: readonly Task[]): number {
  const judged = selectionTasks(record, main);
  if (judged.length === 0) return -main.reduce((s, t) => s + record.train[t.name], 0) / Math.max(1, main.length);
  let s = 0;
  for (const t of judged) {
    const metric = t.metrics[0];
    const v = record.validation![t.name][metric] ?? NaN;
    s += HIGHER_IS_BETTER[metric] ? v : -v;
  }
  return s / judged.length;
}

/**
 * Where a run stopped inside an epoch (on a signal): stored in the checkpoint so that a resume
 * replays the epoch's shuffle and continues at the next step, with the epoch's loss sums.
 */
interface EpochPosition {
  /** The epoch in progress (1-based). */
  epoch: number;
  /** Its steps done. */
  steps: number;
  /** The shuffling generator's state before the epoch's shuffle. */
  rngState: number[];
  /** Sums of the per-task losses read so far, and of the weights used, over the epoch. */
  sums: number[];
  weightSums: number[];
  reads: number;
  /** Seconds spent in the epoch so far. */
  seconds: number;
}

/** The working state of one fit() call. */
interface Run {
  train: MultiTaskDataset;
  validation: MultiTaskDataset | undefined;
  runDir: string | null;
  signal: AbortSignal | undefined;
  /** The total number of epochs this call trains to. */
  target: number;
  order: Int32Array;
  sums: Float64Array;
  weightSums: Float64Array;
  /** Whether a step ran since the last checkpoint was written. */
  dirty: boolean;
  /** Optimizer steps in the whole run (target epochs × steps per epoch): a cosine schedule's default length. */
  totalSteps: number;
  /** Stops the run cleanly when a callback or early stopping asks. */
  control: RunControl;
}

/**
 * Preallocated host staging arrays for one batch in the model's layout. With self-supervised
 * tasks a batch of n samples stages `rowsPerSample`·n rows (see ts/train/self-supervised.ts).
 */
export class BatchStager {
  readonly inputs: Float32Array;
  readonly targets: Float32Array;
  readonly mask: Float32Array;
  /** The self-supervised tasks' staging, when the model has one. */
  readonly selfSupervised: SelfSupervisedStaging | null;
  /** `inputs` from a row on, by that row (a view made once per offset, not per step: a hook stages at its own offset every step). */
  private readonly views = new Map<number, Float32Array>();

  constructor(private readonly model: MultiTaskModel) {
    const B = model.maxBatch;
    this.inputs = new Float32Array(B * model.featureSize);
    this.targets = new Float32Array(B * model.lossLayout.totalTgt);
    this.mask = new Float32Array(B * model.tasks.length);
    this.selfSupervised = SelfSupervisedStaging.needed(model) ? new SelfSupervisedStaging(model) : null;
  }

  /** Rows staged per sample: 2 with a rotation task (each sample unrotated, then rotated), else 1. */
  get rowsPerSample(): number {
    return this.selfSupervised?.rowsPerSample ?? 1;
  }

  /**
   * Stages samples order[from .. from+n) of ds and uploads them; returns the rows staged (the
   * batch size to run). `rotationSeed`: the step's rotation seed in training, null in evaluation.
   */
  load(ds: MultiTaskDataset, order: Int32Array, from: number, n: number, rotationSeed: number | null = null, hook: StagedBatchHook | null = null, step = 0): number {
    let masked = this.stage(ds, order, from, n, rotationSeed);
    let rows = n * this.rowsPerSample;
    if (hook) {
      masked = hook.stage(this, rows, step) || masked; // rows appended after the step's own (training only)
      rows += hook.rows;
    }
    this.model.loadBatch(rows, this.inputs, this.targets, masked ? this.mask : null);
    return rows;
  }

  /**
   * Stages samples order[from .. from+n) of ds into the host arrays (inputs, targets in the loss
   * layout, the [rows, T] mask; rows = rowsPerSample·n) without uploading them; returns whether
   * any label is missing. Self-supervised tasks take their targets from the inputs. `at`: the
   * first row written (a {@link StagedBatchHook} appends after the step's rows; no
   * self-supervised task then).
   */
  stage(ds: MultiTaskDataset, order: Int32Array, from: number, n: number, rotationSeed: number | null = null, at = 0): boolean {
    const m = this.model;
    let view = this.views.get(at);
    if (view === undefined) this.views.set(at, (view = this.inputs.subarray(at * m.featureSize)));
    ds.gatherInputs(order, from, n, view);
    const T = m.tasks.length;
    const ld = m.lossLayout.totalTgt;
    let masked = this.rowsPerSample > 1;
    m.tasks.forEach((task, t) => {
      if (task.selfSupervised) return;
      const labels = ds.labels(task.name);
      const mask = ds.mask(task.name);
      const w = task.labelWidth;
      const off = packedOf(m.lossLayout)[5 * t + 3];
      for (let i = 0; i < n; i++) {
        const src = order[from + i];
        for (let j = 0; j < w; j++) this.targets[(at + i) * ld + off + j] = labels[src * w + j];
        const has = mask ? mask[src] : 1;
        this.mask[(at + i) * T + t] = has;
        if (!has) masked = true;
      }
    });
    this.selfSupervised?.complete(this.inputs, this.targets, this.mask, order, from, n, rotationSeed);
    return masked;
  }
}

/**
 * Trains a {@link MultiTaskModel}: shuffled batches, forward, the fused multi-loss, the weighting
 * strategy, backward and one optimizer step per batch; per-epoch metrics, validation, model
 * selection, auxiliary-task stopping, checkpoints and resume (with a runDir). The constructor
 * throws ConfigError/ValueError for a bad configuration and BusyError while another Trainer is
 * running on the same model.
 *
 * Order within a step: the affinity probe, forward/backward with the weighting strategy, the EWC
 * penalty, the data-parallel gradient sum and gradient clipping all read or change the gradient
 * before the optimizer step, so they see the full gradient (embedding tables included). The
 * optimizer then steps a model's embedding tables row-sparsely where that is exact (SGD at
 * momentum 0 and weight decay 0; see Optimizer), except with an EWC penalty or data parallelism,
 * whose gradients reach rows outside the batch: their tables are stepped densely.
 */
export class Trainer {
  /** The optimizer stepping the model's parameter arena (made from config.optimizer). */
  readonly optimizer: Optimizer;
  /** One record per epoch trained, from the first epoch of the run (restored on resume). */
  readonly history: EpochRecord[] = [];
  private readonly rng: Rng;
  private readonly stager: BatchStager;
  private readonly progress: ProgressBar;
  private readonly log: ((line: string) => void) | null;
  private readonly hostLosses: Float32Array;
  /** Host copy of the parameter arena, read once per epoch (finite check, checkpoints). */
  private readonly hostParams: Float32Array;
  private readonly weights: Float32Array;
  /** The weighting strategy, and the step it drives (forward + losses + backward). */
  readonly weighting: WeightingStrategy;
  private readonly weightedStep: WeightedStep;
  private readonly weightingRng: Rng;
  private readonly stopper: AuxiliaryTaskStopper | null;
  private readonly yielder = new Yielder();
  private step = 0;
  private epoch = 0;
  private bestScore = -Infinity;
  /** Set when a run stopped inside an epoch: fit() continues there. */
  private position: EpochPosition | null = null;
  /** Whether the tasks left out of model selection were logged. */
  private selectionNoted = false;
  private readonly schedule: LrSchedule | null;
  private readonly clipper: GradientClipper | null;
  private readonly early: EarlyStopper | null;
  private readonly callbacks: TrainerCallbacks | null;
  /** With config.affinity: the probe run every k steps before the step. */
  private readonly probe: AffinityProbe | null;
  /** With config.penalty: the EWC penalty whose gradient every step adds. */
  readonly penalty: EwcPenalty | null;
  /** With config.distributed: the data-parallel run this process is a rank of. */
  private readonly parallel: DataParallel | null;
  /** With earlyStopping.restoreBest: the parameters of the best epoch (host copy), when this process saw it. */
  private bestParams: Float32Array | null = null;

  constructor(
    /** The model trained (its backend runs every kernel). */
    readonly model: MultiTaskModel,
    /** The configuration, as given. */
    readonly config: TrainerConfig,
  ) {
    checkKeys(config, TRAINER_KEYS, 'trainer config');
    const busy = model.busyWith;
    if (busy !== null) throw new BusyError(`model is busy: ${busy} is running on it; a new Trainer cannot be set up on it until that call has finished`);
    const bs = expectInt('batchSize', config.batchSize);
    if (bs > model.maxBatch) throw new ConfigError(`batchSize ${bs} exceeds the model's maxBatch ${model.maxBatch}`);
    this.stager = new BatchStager(model);
    const rows = this.stager.rowsPerSample;
    if (bs * rows > model.maxBatch) {
      throw new ConfigError(
        `batchSize ${bs} with a rotation task stages ${bs * rows} rows per step (each sample unrotated for the other tasks, then rotated for the rotation task), more than the model's maxBatch ${model.maxBatch}: ` +
          `build the model with maxBatch ≥ ${bs * rows} or train with batchSize ≤ ${Math.floor(model.maxBatch / rows)}`,
      );
    }
    expectInt('epochs', config.epochs);
    expectInt('seed', config.seed ?? 0, 0);
    expectInt('lossCheckEvery', config.lossCheckEvery ?? 1);
    this.optimizer = new Optimizer(model.backend, model.params, config.optimizer, config.penalty || config.distributed ? null : model.embedding);
    this.schedule = config.lrSchedule ? checkLrSchedule(config.lrSchedule) : null;
    this.early = config.earlyStopping ? new EarlyStopper(config.earlyStopping) : null;
    this.callbacks = config.callbacks ? checkCallbacks(config.callbacks) : null;
    this.clipper = config.clipGradNorm == null ? null : new GradientClipper(model.backend, model.params.grads, model.params.arenaSize, config.clipGradNorm);
    this.probe = config.affinity ? new AffinityProbe(model, this.optimizer, config.affinity) : null;
    this.penalty = config.penalty ? new EwcPenalty(model, config.penalty) : null;
    this.parallel = config.distributed ?? null;
    const extra = config.batchStaged?.rows ?? 0;
    if (extra > 0 && (this.stager.selfSupervised || bs + extra > model.maxBatch)) {
      throw new ConfigError(`batchStaged appends ${extra} rows to every step: ${this.stager.selfSupervised ? 'not with a self-supervised task' : `batchSize ${bs} + ${extra} exceeds the model's maxBatch ${model.maxBatch} (build or extend it with maxBatch ≥ ${bs + extra})`}`);
    }
    this.rng = new Rng(config.seed ?? 0);
    this.progress = new ProgressBar(process.stderr, this.parallel?.rank ? false : config.progress);
    this.log = this.parallel?.rank ? null : config.log === undefined ? (line) => console.log(line) : config.log;
    this.hostLosses = new Float32Array(model.tasks.length);
    this.hostParams = new Float32Array(model.params.arenaSize);
    this.weights = Float32Array.from(model.tasks, (t) => t.weight);
    if (config.weights) {
      if (typeof config.weights !== 'object') throw new ConfigError(`Expected an object of task weights but received ${describe(config.weights)}`);
      for (const [name, w] of Object.entries(config.weights)) {
        this.weights[model.taskIndex(name)] = w;
      }
    }
    model.setTaskWeights(this.weights);
    const optimizerLr = config.optimizer?.lr;
    this.weightingRng = new Rng(hash32(config.seed ?? 0, 0x5eed));
    this.weighting = createWeighting(config.weighting ?? 'fixed', {
      tasks: model.tasks,
      rng: this.weightingRng,
      baseWeights: this.weights,
      lr: optimizerLr,
    });
    this.weightedStep = new WeightedStep(model, this.weighting, this.hostLosses, this.parallel?.stepReduction ?? null);
    this.stopper = config.auxiliaryStopping
      ? new AuxiliaryTaskStopper(config.auxiliaryStopping, model.tasks.filter((t) => t.auxiliary).map((t) => t.name))
      : null;
    if (this.stopper && !model.tasks.some((t) => t.auxiliary)) {
      throw new ConfigError('auxiliaryStopping is set but no task is auxiliary (mark tasks with auxiliary: true)');
    }
  }

  /** Checks a dataset against the model once: feature size, tasks present, labels valid. */
  private checkDataset(ds: MultiTaskDataset, what: string): void {
    if (typeof ds?.gatherInputs !== 'function') throw new ConfigError(`Expected a MultiTaskDataset for ${what} but received ${describe(ds)}`);
    if (ds.featureSize !== this.model.featureSize) {
      throw new ShapeError(`${what}: samples have ${ds.featureSize} features, the model expects ${this.model.featureSize}`);
    }
    if (ds.length === 0) throw new ShapeError(`${what} is empty`);
    for (const task of this.model.tasks) {
      if (task.selfSupervised) continue; // targets from the inputs; labels of that name, if any, are not read
      if (!ds.taskNames.includes(task.name)) {
        throw new ConfigError(`${what} has no labels for task ${task.name}; it has ${ds.taskNames.join(', ') || 'none'}`);
      }
      if (ds.labelWidth(task.name) !== task.labelWidth) {
        throw new ShapeError(`${what}: task ${task.name} labels have width ${ds.labelWidth(task.name)}, expected ${task.labelWidth}`);
      }
      validateLabels(task, ds.labels(task.name), ds.mask(task.name), what);
    }
  }

  /**
   * Trains to `opts.epochs` (default the configured epochs) in total, counting the epochs this
   * trainer or the resumed checkpoint already trained; returns the history of every epoch.
   * Gives the event loop a turn every few milliseconds. One call at a time per model:
   * BusyError while another fit() or evaluate() runs on the same model.
   */
  async fit(train: MultiTaskDataset, opts: FitOptions = {}): Promise<EpochRecord[]> {
    const release = this.model.claim('fit()');
    try {
      const run = await this.prepare(train, opts);
      for (let epoch = this.epoch + 1; epoch <= run.target && !run.control.stopRequested; epoch++) await this.runEpoch(run, epoch);
      if (this.early?.restoreBest) await this.restoreBestParameters(run.runDir);
      return this.history;
    } finally {
      this.progress.end();
      release();
    }
  }

  /** Everything fit() checks and sets up before the first step. */
  private async prepare(train: MultiTaskDataset, opts: FitOptions): Promise<Run> {
    checkKeys(opts, FIT_KEYS, 'fit options');
    this.checkDataset(train, 'training set');
    if (opts.validation) this.checkDataset(opts.validation, 'validation set');
    if (this.stopper && !opts.validation) {
      throw new ConfigError('auxiliaryStopping needs a validation set: pass { validation } to fit()');
    }
    if (this.early && !opts.validation) {
      throw new ConfigError('earlyStopping needs a validation set: pass { validation } to fit()');
    }
    const signal = opts.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw new ConfigError(`Expected an AbortSignal for signal but received ${describe(signal)}`);
    const target = opts.epochs === undefined ? this.config.epochs : expectInt('epochs', opts.epochs);
    const { model, config } = this;
    const runDir = this.parallel?.rank ? null : config.runDir ?? null; // data-parallel: rank 0 alone writes
    if (runDir) checkRunDir(runDir);
    if (opts.resumeFrom) {
      const state = await loadCheckpoint(opts.resumeFrom, model, this.optimizer);
      checkResumeWorldSize(state.worldSize, this.parallel?.size ?? 1, opts.resumeFrom);
      this.restore(state);
      const where = this.position ? `in epoch ${this.position.epoch} (step ${this.step}, ${this.position.steps} of its steps done)` : `after epoch ${this.epoch} (step ${this.step})`;
      const older = state.history === undefined && this.epoch > 0 ? `; it holds no history of epochs 1-${this.epoch} (an older hydranet wrote it), so the history starts at epoch ${this.epoch + 1}` : '';
      this.log?.(`resumed from ${opts.resumeFrom} ${where}${older}`);
    }
    const steps = this.stepsPerEpoch(train.length);
    if (this.position && this.position.steps >= steps) {
      throw new ConfigError(
        `the run stopped after ${this.position.steps} steps of epoch ${this.position.epoch}, but this training set makes epochs of ${steps} steps: ` +
          'continue it with the training set and batch size it was started with',
      );
    }
    if (this.epoch >= target) {
      throw new ConfigError(
        `nothing to train: this model has trained ${this.epoch} epochs and the target is ${target} ` +
          `(epochs counts every epoch of the run, resumed ones included); ask for more, e.g. fit(data, { epochs: ${this.epoch + 1} }), or --epochs ${this.epoch + 1} on the command line`,
      );
    }
    if (runDir) {
      writeFileAtomic(
        path.join(runDir, 'config.json'),
        JSON.stringify({ model: model.config, architecture: model.architecture(), trainer: { ...config, log: undefined, penalty: config.penalty ? { kind: config.penalty.kind, lambda: config.penalty.lambda, state: 'in the checkpoints (ewc.fisher.*, ewc.anchor.*)' } : undefined } }, null, 2),
      );
    }
    const T = model.tasks.length;
    const run: Run = {
      train,
      validation: opts.validation,
      runDir,
      signal,
      target,
      order: new Int32Array(train.length),
      sums: new Float64Array(T),
      weightSums: new Float64Array(T),
      dirty: false,
      totalSteps: target * steps,
      control: new RunControl(),
    };
    await this.parallel?.start(model, config, train, opts.validation);
    if (this.agreeOnStop(run, 'now') === 2) await this.stop(run, null);
    return run;
  }

  /** One epoch: the steps (from where a stopped run left off), then the epoch end. */
  private async runEpoch(run: Run, epoch: number): Promise<void> {
    const { model, config } = this;
    const { train, order, sums, weightSums } = run;
    const bs = config.batchSize;
    const steps = this.stepsPerEpoch(train.length);
    const every = config.lossCheckEvery ?? 1;
    const T = model.tasks.length;
    const at = this.position?.epoch === epoch ? this.position : null;
    this.position = null;
    if (at) this.rng.setState(at.rngState);
    const rngState = this.rng.getState();
    for (let i = 0; i < order.length; i++) order[i] = i;
    this.rng.shuffle(order);
    sums.fill(0);
    weightSums.fill(0);
    if (at) {
      sums.set(at.sums);
      weightSums.set(at.weightSums);
    }
    let reads = at?.reads ?? 0;
    const t0 = performance.now() - (at?.seconds ?? 0) * 1000;
    const firstLr = this.scheduleLr(run);
    let normSum = 0;
    let done = at?.steps ?? 0;
    this.probe?.resetEpoch();
    this.progress.start();
    const stopEvery = this.parallel?.stopEvery ?? 1;
    for (let s = at?.steps ?? 0; s < steps; s++) {
      const stop = this.agreeOnStop(run, this.step % stopEvery === 0 ? 'pipelined' : null);
      if (stop === 1) break;
      if (stop === 2) {
        const seconds = (performance.now() - t0) / 1000;
        await this.stop(run, { epoch, steps: s, rngState, sums: Array.from(sums), weightSums: Array.from(weightSums), reads, seconds });
      }
      let from = s * bs;
      let n = Math.min(bs, train.length - from);
      if (this.parallel) ({ from, count: n } = this.parallel.shard(s, bs, train.length)); // this rank's slice of the global batch
      const rows = this.stager.load(train, order, from, n, rotationStepSeed(config.seed ?? 0, this.step + 1), config.batchStaged ?? null, this.step + 1);
      this.scheduleLr(run);
      const context = { training: true, seed: hash32(config.seed ?? 0, this.step + 1) };
      if (this.probe?.due(this.step + 1)) await this.probe.run(rows, context);
      this.step++;
      run.dirty = true;
      // Gradient buckets start during the backward pass unless something changes the gradients after it or the body runs per task.
      this.parallel?.beginStep(model, this.weighting.mode !== 'parameters' && !this.penalty);
      const fresh = await this.weightedStep.run(rows, context, () =>
        this.checkFinite(run.runDir),
      );
      this.penalty?.apply();
      await this.parallel?.reduceGradients(model);
      for (let t = 0; t < T; t++) weightSums[t] += this.weightedStep.effective[t];
      if (this.step % every === 0 || s === steps - 1) {
        if (!fresh) {
          await model.backend.read(model.losses, this.hostLosses);
          this.checkFinite(run.runDir);
        }
        for (let t = 0; t < T; t++) sums[t] += this.hostLosses[t];
        reads++;
        this.progress.update(`epoch ${epoch}/${run.target}`, s + 1, steps, this.namedLosses());
      }
      if (this.clipper) normSum += await this.clipper.clip();
      this.optimizer.step();
      if (this.weightedStep.reevaluates) await this.weightedStep.reevaluate(rows, context); // FAMO's same-batch δ
      done = s + 1;
      const cb = this.callbacks;
      if (cb?.onStepEnd && (this.step % (cb.stepEvery ?? 10) === 0 || s === steps - 1)) {
        await cb.onStepEnd(
          { epoch, step: this.step, stepInEpoch: s + 1, stepsInEpoch: steps, lr: this.optimizer.lr, losses: this.namedLosses(), gradNorm: this.clipper?.lastNorm },
          run.control,
        );
      }
      await model.backend.throttle(); // a GPU backend keeps a few steps queued, not an epoch
      if (this.yielder.due()) await this.yielder.yield();
    }
    await model.backend.sync();
    this.parallel?.average(sums, "the epoch's training losses");
    this.weighting.endEpoch();
    const seconds = (performance.now() - t0) / 1000;
    this.progress.end();
    const params = await this.readParameters(run.runDir, `the end of epoch ${epoch}`);
    this.epoch = epoch;
    const record: EpochRecord = {
      epoch,
      step: this.step,
      seconds,
      stepsPerSecond: done / seconds,
      train: Object.fromEntries(model.tasks.map((t, i) => [t.name, sums[i] / Math.max(1, reads)])),
      weights: Object.fromEntries(model.tasks.map((t, i) => [t.name, weightSums[i] / Math.max(1, done)])),
      weighting: { name: this.weighting.name, ...this.weighting.getState() },
      lr: { first: firstLr, last: this.optimizer.lr },
    };
    if (this.clipper) record.gradNorm = normSum / Math.max(1, done - (at?.steps ?? 0));
    const affinity = this.probe?.takeEpoch();
    if (affinity) record.affinity = affinity;
    if (model.body.penalty) record.penalty = await model.body.penalty();
    if (this.penalty) record.ewcPenalty = this.penalty.value(params);
    if (run.validation) record.validation = await this.evaluateOn(run.validation, null, true);
    const score = selectionScore(record, model.tasks.filter((t) => !t.auxiliary));
    if (this.early) {
      record.score = score;
      if (this.early.update(epoch, score) && this.early.restoreBest) (this.bestParams ??= new Float32Array(params.length)).set(params);
      if (this.early.exhausted) {
        run.control.stop();
        record.stoppedBy = 'earlyStopping';
        this.log?.(`early stopping after epoch ${epoch}: no improvement of the validation score for ${this.early.patience} epochs (best ${this.early.best.toFixed(4)} at epoch ${this.early.bestEpoch})`);
      }
    }
    if (run.control.stopRequested && !record.stoppedBy) record.stoppedBy = 'callback';
    this.history.push(record);
    this.log?.(formatEpoch(record, run.target, model));
    if (this.stopper && record.validation) this.stopAuxiliaryTasks(record);
    if (run.runDir) await this.writeRun(run.runDir, record, params, score);
    run.dirty = false;
    if (this.callbacks?.onEpochEnd) await this.callbacks.onEpochEnd(record, run.control);
    // A rank's stop ends every rank's run after this epoch; its signal too, unless the run ends here anyway.
    if (this.parallel && this.agreeOnStop(run, 'now') === 2 && epoch < run.target) await this.stop(run, null);
    if (run.control.stopRequested && !record.stoppedBy) record.stoppedBy = 'callback';
  }

  /**
   * Whether to stop before the next step: 1 to end the run (a callback or early stopping asked,
   * run.control), 2 to stop on the signal, else 0. Data-parallel, the ranks decide together
   * (DataParallel.agreeStop), only at places every rank reaches: `due` 'now' (before the first
   * step, each epoch end: at once) or 'pipelined' (every stopEvery steps: the answer comes one
   * such place later, so no step waits for it); null elsewhere (0). Any rank's request then
   * stops every rank after the same step. One process: the requests as they are.
   */
  private agreeOnStop(run: Run, due: 'now' | 'pipelined' | null): 0 | 1 | 2 {
    const aborted = run.signal?.aborted === true;
    if (!this.parallel) return run.control.stopRequested ? 1 : aborted ? 2 : 0;
    if (due === null) return 0;
    const f = this.stopFlags;
    f[0] = run.control.stopRequested ? 1 : 0;
    f[1] = aborted ? 1 : 0;
    this.parallel.agreeStop(f, due === 'now');
    if (f[0] === 1) run.control.stop();
    return f[0] === 1 ? 1 : f[1] === 1 ? 2 : 0;
  }

  /** The stop flags the ranks all-reduce ({@link agreeOnStop}). */
  private readonly stopFlags = new Float64Array(2);

  /**
   * With TrainerConfig.affinity: the run's affinity (every epoch's mean matrices and the mean
   * over every probe of the run, task names in row/column order), as affinity.json holds it;
   * null without. Resumed epochs are included (their records travel in the checkpoint).
   */
  get affinity(): AffinityReport | null {
    if (!this.probe) return null;
    return affinityReport(this.model.tasks.map((t) => t.name), this.probe.config, this.history);
  }

  /** Optimizer steps in an epoch of n samples (data-parallel: batches of batchSize on every rank). */
  private stepsPerEpoch(n: number): number {
    return this.parallel ? this.parallel.stepsPerEpoch(n, this.config.batchSize) : Math.ceil(n / this.config.batchSize);
  }

  /** Sets the optimizer's lr for the next step from the schedule (no-op without one); returns it. */
  private scheduleLr(run: Run): number {
    if (this.schedule) this.optimizer.lr = lrAt(this.schedule, this.step, this.optimizer.config.lr, run.totalSteps);
    return this.optimizer.lr;
  }

  /**
   * earlyStopping.restoreBest at the end of a run: writes the best epoch's parameters back into
   * the arena, from memory, or, when that epoch was trained before a resume, from the run
   * folder's best.safetensors (when it holds that epoch; else the final parameters are kept and
   * the log says why).
   */
  private async restoreBestParameters(runDir: string | null): Promise<void> {
    const e = this.early!;
    if (e.bestEpoch === 0 || e.bestEpoch === this.epoch) return;
    const restored = `restoreBest: restored the parameters of epoch ${e.bestEpoch} (validation score ${e.best.toFixed(4)})`;
    if (this.bestParams) {
      this.model.backend.write(this.model.params.values, this.bestParams);
      this.log?.(restored);
      return;
    }
    const file = runDir ? path.join(runDir, 'best.safetensors') : null;
    const keep = `the best epoch (${e.bestEpoch}) was trained before the resume, so its parameters are not in memory, and`;
    if (!file || !fs.existsSync(file)) {
      this.log?.(`restoreBest: ${keep} ${file ? `${file} does not exist` : 'there is no run folder to read best.safetensors from'}; the parameters of epoch ${this.epoch} are kept`);
      return;
    }
    const ck = readCheckpointFile(file);
    const stored = (ck.training as { epoch?: unknown } | null)?.epoch;
    if (stored !== e.bestEpoch) {
      this.log?.(`restoreBest: ${keep} ${file} holds epoch ${String(stored)}, not ${e.bestEpoch}; the parameters of epoch ${this.epoch} are kept`);
      return;
    }
    await applyCheckpoint(ck, file, this.model, null);
    this.log?.(`${restored}, read from ${file}`);
  }

  /**
   * Stops a run on its signal: writes the checkpoint (when there is a run folder and a step ran
   * since the last one) with the state after the last step, then throws TrainingAbortedError.
   */
  private async stop(run: Run, at: EpochPosition | null): Promise<never> {
    this.progress.end();
    if (at && at.steps > 0) this.position = at;
    else if (at) this.rng.setState(at.rngState); // stopped before the epoch's first step: as if it had not begun
    const file = run.runDir ? path.join(run.runDir, 'checkpoint.safetensors') : null;
    let saved: string;
    if (file && run.dirty) {
      const params = await this.readParameters(run.runDir, `step ${this.step}`);
      await saveCheckpoint(file, this.model, this.optimizer, this.state(), { parameters: params, extra: this.checkpointExtra() });
      run.dirty = false;
      saved = `${file} holds the state after that step: resuming from it continues exactly there.`;
    } else if (file && fs.existsSync(file)) {
      saved = `${file} holds that state: resuming from it continues there.`;
    } else {
      saved = file ? 'Nothing was trained, so no checkpoint was written.' : 'There is no runDir, so nothing was saved; this trainer keeps its state: fit() again continues there.';
    }
    const where = this.position
      ? `in epoch ${this.position.epoch} (${this.position.steps} of its ${this.stepsPerEpoch(run.train.length)} steps done)`
      : `after epoch ${this.epoch}`;
    throw new TrainingAbortedError(`Training stopped on request at step ${this.step}, ${where}. ${saved}`, this.step);
  }

  /**
   * Reads the parameter arena into the host copy and checks that every value is finite.
   * @throws NonFiniteLossError naming the first parameter that is not.
   */
  /** The tensors checkpoints store beside the parameters: the EWC state, with a penalty. */
  private checkpointExtra(): ReturnType<typeof ewcTensors> | null {
    return this.penalty ? ewcTensors(this.model, this.penalty.state) : null;
  }

  private async readParameters(runDir: string | null, when: string): Promise<Float32Array> {
    const params = await this.model.backend.read(this.model.params.values, this.hostParams);
    const bad = findNonFiniteParameter(this.model.params, params);
    if (bad) {
      const task = this.model.tasks.find((t) => bad.name.startsWith(`heads.${t.name}.`))?.name ?? '';
      throw new NonFiniteLossError(
        `Training stopped: the parameters stopped being finite: ${bad.text} at ${when} (step ${this.step}).${this.kept(runDir)} ` +
          'Lower the learning rate, check the inputs for extreme values, or resume from the checkpoint.',
        this.step,
        task,
      );
    }
    return params;
  }

  /** Applies the TCDCN criterion to every auxiliary task still training after an epoch. */
  private stopAuxiliaryTasks(record: EpochRecord): void {
    this.model.tasks.forEach((task, t) => {
      if (!task.auxiliary) return;
      const val = record.validation![task.name].loss;
      if (val === undefined) return;
      const value = this.stopper!.update(task.name, record.epoch, record.train[task.name], val, this.weights[t] || 1);
      if (value === null) return;
      this.stopTask(t);
      (record.stopped ??= {})[task.name] = value;
      this.log?.(`auxiliary task ${task.name} stopped after epoch ${record.epoch} (TCDCN criterion ${value.toFixed(3)} > ${this.stopper!.threshold}); its weight is 0 from now on`);
    });
  }

  /** Task t trains no more: weight 0, and no optimizer state left to move its head. */
  private stopTask(t: number): void {
    this.weightedStep.deactivate(t);
    const prefix = `heads.${this.model.tasks[t].name}.`;
    const ranges = this.model.params.parameters.flatMap((p) =>
      p.parts.filter((q) => q.name.startsWith(prefix)).map((q) => ({ offset: p.offset + q.offset, size: q.shape.reduce((a, b) => a * b, 1) })),
    );
    this.optimizer.resetState(ranges);
  }

  /**
   * Per-task loss and metrics of the model on a dataset (no training); with `{ outputs: true }`,
   * also every sample's outputs (probabilities or values, as model.predict gives them, from the
   * same forward pass). Gives the event loop a turn every few milliseconds; BusyError while
   * fit(), evaluate() or predict() runs on the same model.
   */
  async evaluate(ds: MultiTaskDataset): Promise<Record<string, TaskMetrics>>;
  /** With `{ outputs: true }`: the metrics and every sample's outputs. */
  async evaluate(ds: MultiTaskDataset, options: { outputs: true }): Promise<EvaluationWithOutputs>;
  async evaluate(ds: MultiTaskDataset, options: EvaluateOptions = {}): Promise<Record<string, TaskMetrics> | EvaluationWithOutputs> {
    checkKeys(options, ['outputs'], 'evaluate options');
    const release = this.model.claim('evaluate()');
    try {
      if (!options.outputs) return await this.evaluateOn(ds);
      const outputs: Predictions = Object.create(null) as Predictions;
      for (const t of this.model.tasks) outputs[t.name] = new Float32Array(ds.length * t.outputs);
      return { metrics: await this.evaluateOn(ds, outputs), outputs };
    } finally {
      release();
    }
  }

  /**
   * Metrics over `ds`; with `outputs`, also every sample's outputs (as model.predict gives them).
   * With `shard` (fit's validation) a data-parallel rank runs only its share of the batches and
   * the ranks all-gather the outputs (DataParallel.gatherBatches: the same metrics, bit for bit);
   * not with self-supervised tasks (their staged inputs stay on the rank that staged them).
   */
  private async evaluateOn(ds: MultiTaskDataset, outputs: Predictions | null = null, shard = false): Promise<Record<string, TaskMetrics>> {
    this.checkDataset(ds, 'evaluation set');
    const model = this.model;
    const B = model.maxBatch;
    const width = model.logitWidth;
    const host = new Float32Array(B * width);
    const order = Int32Array.from({ length: ds.length }, (_, i) => i);
    const accs = model.tasks.map((t, i) => new MetricAccumulator(t, packedOf(model.lossLayout)[5 * i + 1], width));
    const chunk = Math.floor(B / this.stager.rowsPerSample);
    const labelledTask = (t: number, from: number, n: number, z: Float32Array, losses: Float32Array): void => {
      const task = model.tasks[t];
      const mask = ds.mask(task.name);
      let labelled = n;
      if (mask) {
        labelled = 0;
        for (let i = 0; i < n; i++) labelled += mask[from + i];
      }
      accs[t].add(z, n, ds.labels(task.name), mask, from);
      if (labelled > 0) accs[t].addLoss(losses[t], labelled);
      if (outputs) activate(task, z, width, packedOf(model.lossLayout)[5 * t + 1], n, outputs[task.name], from);
    };
    const parallel = shard && this.parallel && this.parallel.size > 1 && !model.tasks.some((t) => t.selfSupervised) ? this.parallel : null;
    if (parallel) {
      const compute = async (from: number, n: number, z: Float32Array, losses: Float32Array): Promise<void> => {
        const logits = model.forward(this.stager.load(ds, order, from, n));
        model.computeLoss(n, logits);
        await model.backend.read(logits, n === B ? z : z.subarray(0, n * width));
        await model.backend.read(model.losses, losses);
        if (this.yielder.due()) await this.yielder.yield();
      };
      await parallel.gatherBatches(ds.length, chunk, width, model.tasks.length, compute, (from, n, z, losses) => {
        for (let t = 0; t < model.tasks.length; t++) labelledTask(t, from, n, z, losses);
      });
      return Object.fromEntries(model.tasks.map((t, i) => [t.name, accs[i].result()]));
    }
    for (let from = 0; from < ds.length; from += chunk) {
      const n = Math.min(chunk, ds.length - from);
      const rows = this.stager.load(ds, order, from, n);
      const logits = model.forward(rows);
      model.computeLoss(rows, logits);
      const z = await model.backend.read(logits, rows === B ? host : host.subarray(0, rows * width));
      await model.backend.read(model.losses, this.hostLosses);
      model.tasks.forEach((task, t) => {
        if (task.selfSupervised) {
          // rotation: its head on the n rotated copies (one fixed rotation per sample); reconstruction: every row staged.
          const rotation = task.selfSupervised === 'rotation';
          const count = rotation ? n : rows;
          if (rotation) accs[t].add(z.subarray(n * width), n, this.stager.selfSupervised!.rotationLabels, null, 0);
          else accs[t].add(z, rows, this.stager.inputs, null, 0);
          accs[t].addLoss(this.hostLosses[t], count);
          if (outputs) activate(task, z, width, packedOf(model.lossLayout)[5 * t + 1], n, outputs[task.name], from);
          return;
        }
        labelledTask(t, from, n, z, this.hostLosses);
      });
      if (this.yielder.due()) await this.yielder.yield();
    }
    return Object.fromEntries(model.tasks.map((t, i) => [t.name, accs[i].result()]));
  }

  /** The training state a checkpoint stores (mid-epoch after a stop: with its position). */
  state(): TrainingState {
    const at = this.position;
    return {
      epoch: this.epoch,
      step: this.step,
      rngState: at ? at.rngState : this.rng.getState(),
      bestScore: this.bestScore,
      weighting: { name: this.weighting.name, state: this.weighting.getState(), rngState: this.weightingRng.getState() },
      auxiliaryStopping: this.stopper?.getState(),
      earlyStopping: this.early?.getState(),
      history: this.history as unknown as Record<string, unknown>[],
      ...(this.parallel ? { worldSize: this.parallel.size } : {}),
      ...(at ? { position: { epoch: at.epoch, steps: at.steps, sums: at.sums, weightSums: at.weightSums, reads: at.reads, seconds: at.seconds } } : {}),
    };
  }

  private restore(state: TrainingState): void {
    if (!(state.epoch >= 0 && state.step >= 0 && Array.isArray(state.rngState))) {
      throw new ConfigError('the checkpoint holds no training state to resume from');
    }
    const w = state.weighting as { name?: string; state?: Record<string, unknown>; rngState?: number[] } | undefined;
    if (w && w.name !== this.weighting.name) {
      throw new ConfigError(`the checkpoint was trained with weighting ${w.name}; resume it with the same weighting, not ${this.weighting.name}`);
    }
    const history = restoredHistory(state.history, state.epoch);
    const position = restoredPosition(state.position, state, this.model.tasks.length);
    this.epoch = state.epoch;
    this.step = state.step;
    this.rng.setState(state.rngState);
    this.bestScore = typeof state.bestScore === 'number' ? state.bestScore : -Infinity;
    this.history.length = 0;
    this.history.push(...history);
    this.position = position;
    if (w?.state) this.weighting.setState(w.state);
    if (w?.rngState) this.weightingRng.setState(w.rngState);
    if (this.early && state.earlyStopping !== undefined) this.early.setState(state.earlyStopping);
    this.bestParams = null;
    const stopping = state.auxiliaryStopping as Record<string, unknown> | undefined;
    if (stopping && this.stopper) {
      this.stopper.setState(stopping);
      this.model.tasks.forEach((task, t) => {
        if (this.stopper!.stopped.has(task.name)) this.stopTask(t);
      });
    }
  }

  private namedLosses(): Record<string, number> {
    return Object.fromEntries(this.model.tasks.map((t, i) => [t.name, this.hostLosses[i]]));
  }

  /** The sentence naming the last good checkpoint, when there is one. */
  private kept(runDir: string | null): string {
    return runDir && this.epoch > 0 ? ` The last good checkpoint (epoch ${this.epoch}) is kept in ${path.join(runDir, 'checkpoint.safetensors')}.` : '';
  }

  private checkFinite(runDir: string | null): void {
    this.model.tasks.forEach((task, t) => {
      const v = this.hostLosses[t];
      if (Number.isFinite(v)) return;
      this.progress.end();
      throw new NonFiniteLossError(
        `Training stopped: the loss of task ${task.name} became ${v} at step ${this.step} (epoch ${this.epoch + 1}).${this.kept(runDir)} ` +
          'Lower the learning rate, check the inputs for extreme values, or resume from the checkpoint.',
        this.step,
        task.name,
      );
    });
  }

  /**
   * Writes metrics.json (the whole history), checkpoint.safetensors and, when the epoch scores
   * best so far, best.safetensors; the checkpoints store `params`, the arena read at the epoch end.
   */
  private async writeRun(runDir: string, record: EpochRecord, params: Float32Array, score: number): Promise<void> {
    const main = this.model.tasks.filter((t) => !t.auxiliary);
    if (!this.selectionNoted && record.validation) {
      this.selectionNoted = true;
      const judged = selectionTasks(record, main);
      const left = main.filter((t) => !judged.includes(t)).map((t) => t.name);
      if (judged.length === 0) {
        this.log?.(`model selection: no main task has labels in the validation set (${left.join(', ')}); best.safetensors is chosen by the training loss`);
      } else if (left.length > 0) {
        this.log?.(`model selection: main task${left.length > 1 ? 's' : ''} ${left.join(', ')} ${left.length > 1 ? 'have' : 'has'} no labels in the validation set and ${left.length > 1 ? 'are' : 'is'} left out of the score that chooses best.safetensors (scored on ${judged.map((t) => t.name).join(', ')})`);
      }
    }
    const best = score > this.bestScore;
    if (best) this.bestScore = score;
    writeFileAtomic(path.join(runDir, 'metrics.json'), JSON.stringify(this.history, null, 2));
    const affinity = this.affinity;
    if (affinity) writeFileAtomic(path.join(runDir, 'affinity.json'), JSON.stringify(affinity, null, 2));
    const state = this.state();
    const extra = this.checkpointExtra();
    await saveCheckpoint(path.join(runDir, 'checkpoint.safetensors'), this.model, this.optimizer, state, { parameters: params, extra });
    if (best) await saveCheckpoint(path.join(runDir, 'best.safetensors'), this.model, this.optimizer, state, { parameters: params, extra });
  }
}

/** The history stored in a checkpoint: one record per trained epoch (none in older checkpoints). */
function restoredHistory(stored: unknown, epochs: number): EpochRecord[] {
  if (stored === undefined) return [];
  const ok =
    Array.isArray(stored) &&
    stored.length === epochs &&
    stored.every((r, i) => typeof r === 'object' && r !== null && (r as EpochRecord).epoch === i + 1 && typeof (r as EpochRecord).train === 'object');
  if (!ok) throw new CheckpointError(`the checkpoint's training history is not one record per each of its ${epochs} epochs`);
  return stored as EpochRecord[];
}

/** The mid-epoch position stored in a checkpoint after a stop, checked; null when none. */
function restoredPosition(stored: unknown, state: TrainingState, tasks: number): EpochPosition | null {
  if (stored === undefined) return null;
  const p = stored as Partial<EpochPosition>;
  const numbers = (a: unknown): boolean => Array.isArray(a) && a.length === tasks && a.every((v) => typeof v === 'number');
  const ok =
    typeof p === 'object' && p !== null &&
    p.epoch === state.epoch + 1 &&
    Number.isInteger(p.steps) && p.steps! > 0 &&
    numbers(p.sums) && numbers(p.weightSums) &&
    Number.isInteger(p.reads) && p.reads! >= 0 &&
    typeof p.seconds === 'number';
  if (!ok) throw new CheckpointError(`the checkpoint's mid-epoch position is malformed: ${JSON.stringify(stored).slice(0, 200)}`);
  return { ...(p as EpochPosition), rngState: state.rngState };
}

function formatEpoch(r: EpochRecord, epochs: number, model: MultiTaskModel): string {
  const loss = model.tasks.map((t) => `${t.name} ${r.train[t.name].toFixed(4)}`).join(' ');
  let line = `epoch ${r.epoch}/${epochs}  loss ${loss}${r.penalty !== undefined ? `  penalty ${r.penalty.toFixed(4)}` : ''}`;
  if (r.validation) {
    const parts = model.tasks.map((t) => {
      const m = r.validation![t.name];
      const shown = t.metrics.map((k) => (k === 'accuracy' ? `${(100 * (m[k] ?? NaN)).toFixed(2)}%` : `${k} ${(m[k] ?? NaN).toFixed(4)}`));
      return `${t.name}${t.auxiliary ? '(aux)' : ''} ${m.count > 0 ? shown.join(' ') : '(no labels)'}`;
    });
    line += `  | val ${parts.join('  ')}`;
  }
  return `${line}  | ${r.seconds.toFixed(1)} s, ${r.stepsPerSecond.toFixed(0)} steps/s`;
}
