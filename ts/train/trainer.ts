/**
 * The training loop: seeded shuffling, batches staged into preallocated host arrays and
 * uploaded into the model's buffers, forward + fused multi-loss + backward, one optimizer
 * kernel, per-task metrics on a validation set each epoch, a progress bar, checkpoints
 * (written atomically) and resume.
 */
import { packedOf } from '../backends/packed.js';
import * as path from 'node:path';
import { hash32, Rng } from '../core/random.js';
import { ConfigError, NonFiniteLossError, ShapeError, describe, expectInt } from '../errors.js';
import type { MultiTaskDataset } from '../data/dataset.js';
import type { MultiTaskModel } from '../mtl/model.js';
import { type WeightingSpec, WeightedStep, type WeightingStrategy, createWeighting } from '../mtl/weighting/index.js';
import { HIGHER_IS_BETTER, validateLabels } from '../mtl/task.js';
import { type TrainingState, loadCheckpoint, saveCheckpoint, writeFileAtomic } from './checkpoint.js';
import { MetricAccumulator, type TaskMetrics } from './metrics.js';
import { Optimizer, type OptimizerConfig } from './optimizer.js';
import { ProgressBar } from './progress.js';
import { AuxiliaryTaskStopper, type TaskStoppingConfig } from './task-stopping.js';

export interface TrainerConfig {
  optimizer: OptimizerConfig;
  /** Samples per step (≤ the model's maxBatch). */
  batchSize: number;
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
}

export interface EpochRecord {
  epoch: number;
  step: number;
  seconds: number;
  stepsPerSecond: number;
  /** Mean training loss per task over the epoch (from the loss reads). */
  train: Record<string, number>;
  validation?: Record<string, TaskMetrics>;
  /** The weighting strategy's mean task weights (loss-based) or gradient coefficients α
   * (gradient-based) over the epoch, by task name. */
  weights: Record<string, number>;
  /** The weighting strategy's learned or accumulated state at the end of the epoch (learned
   * log-variances, GradNorm weights, FAMO logits, DWA history, ...). */
  weighting: Record<string, unknown>;
  /** Soft sharing: the L2 penalty between the towers at the end of the epoch. */
  penalty?: number;
  /** Auxiliary tasks stopped at the end of this epoch, with their criterion value. */
  stopped?: Record<string, number>;
}

export interface FitOptions {
  validation?: MultiTaskDataset;
  /** Continue from a checkpoint written by an earlier run of the same model and trainer. */
  resumeFrom?: string;
}

/** Preallocated host staging arrays for one batch in the model's layout. */
class BatchStager {
  readonly inputs: Float32Array;
  readonly targets: Float32Array;
  readonly mask: Float32Array;

  constructor(private readonly model: MultiTaskModel) {
    const B = model.maxBatch;
    this.inputs = new Float32Array(B * model.featureSize);
    this.targets = new Float32Array(B * model.lossLayout.totalTgt);
    this.mask = new Float32Array(B * model.tasks.length);
  }

  /** Stages rows order[from .. from+n) of ds and uploads them; returns whether any label is missing. */
  load(ds: MultiTaskDataset, order: Int32Array, from: number, n: number): void {
    const m = this.model;
    ds.gatherInputs(order, from, n, this.inputs);
    const T = m.tasks.length;
    const ld = m.lossLayout.totalTgt;
    let masked = false;
    m.tasks.forEach((task, t) => {
      const labels = ds.labels(task.name);
      const mask = ds.mask(task.name);
      const w = task.labelWidth;
      const off = packedOf(m.lossLayout)[5 * t + 3];
      for (let i = 0; i < n; i++) {
        const src = order[from + i];
        for (let j = 0; j < w; j++) this.targets[i * ld + off + j] = labels[src * w + j];
        const has = mask ? mask[src] : 1;
        this.mask[i * T + t] = has;
        if (!has) masked = true;
      }
    });
    m.loadBatch(n, this.inputs, this.targets, masked ? this.mask : null);
  }
}

export class Trainer {
  readonly optimizer: Optimizer;
  readonly history: EpochRecord[] = [];
  private readonly rng: Rng;
  private readonly stager: BatchStager;
  private readonly progress: ProgressBar;
  private readonly log: ((line: string) => void) | null;
  private readonly hostLosses: Float32Array;
  private readonly weights: Float32Array;
  /** The weighting strategy, and the step it drives (forward + losses + backward). */
  readonly weighting: WeightingStrategy;
  private readonly weightedStep: WeightedStep;
  private readonly weightingRng: Rng;
  private readonly stopper: AuxiliaryTaskStopper | null;
  private step = 0;
  private epoch = 0;
  private bestScore = -Infinity;

  constructor(
    readonly model: MultiTaskModel,
    readonly config: TrainerConfig,
  ) {
    const bs = expectInt('batchSize', config.batchSize);
    if (bs > model.maxBatch) throw new ConfigError(`batchSize ${bs} exceeds the model's maxBatch ${model.maxBatch}`);
    expectInt('epochs', config.epochs);
    expectInt('lossCheckEvery', config.lossCheckEvery ?? 1);
    this.optimizer = new Optimizer(model.backend, model.params, config.optimizer);
    this.rng = new Rng(config.seed ?? 0);
    this.stager = new BatchStager(model);
    this.progress = new ProgressBar(process.stderr, config.progress);
    this.log = config.log === undefined ? (line) => console.log(line) : config.log;
    this.hostLosses = new Float32Array(model.tasks.length);
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
    this.weightedStep = new WeightedStep(model, this.weighting, this.hostLosses);
    this.stopper = config.auxiliaryStopping ? new AuxiliaryTaskStopper(config.auxiliaryStopping) : null;
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
      if (!ds.taskNames.includes(task.name)) {
        throw new ConfigError(`${what} has no labels for task ${task.name}; it has ${ds.taskNames.join(', ') || 'none'}`);
      }
      if (ds.labelWidth(task.name) !== task.labelWidth) {
        throw new ShapeError(`${what}: task ${task.name} labels have width ${ds.labelWidth(task.name)}, expected ${task.labelWidth}`);
      }
      validateLabels(task, ds.labels(task.name), ds.mask(task.name), what);
    }
  }

  /** Trains for the configured epochs (or the rest of them, when resuming). */
  async fit(train: MultiTaskDataset, opts: FitOptions = {}): Promise<EpochRecord[]> {
    this.checkDataset(train, 'training set');
    if (opts.validation) this.checkDataset(opts.validation, 'validation set');
    if (this.stopper && !opts.validation) {
      throw new ConfigError('auxiliaryStopping needs a validation set: pass { validation } to fit()');
    }
    const { model, config } = this;
    const runDir = config.runDir ?? null;
    if (opts.resumeFrom) {
      const state = await loadCheckpoint(opts.resumeFrom, model, this.optimizer);
      this.restore(state);
      this.log?.(`resumed from ${opts.resumeFrom} after epoch ${this.epoch} (step ${this.step})`);
    }
    if (runDir) {
      writeFileAtomic(
        path.join(runDir, 'config.json'),
        JSON.stringify({ model: model.config, architecture: model.architecture(), trainer: { ...config, log: undefined } }, null, 2),
      );
    }
    const bs = config.batchSize;
    const order = new Int32Array(train.length);
    const steps = Math.ceil(train.length / bs);
    const every = config.lossCheckEvery ?? 1;
    const T = model.tasks.length;
    const sums = new Float64Array(T);
    const weightSums = new Float64Array(T);
    for (let epoch = this.epoch + 1; epoch <= config.epochs; epoch++) {
      for (let i = 0; i < order.length; i++) order[i] = i;
      this.rng.shuffle(order);
      sums.fill(0);
      weightSums.fill(0);
      let reads = 0;
      const t0 = performance.now();
      this.progress.start();
      for (let s = 0; s < steps; s++) {
        const from = s * bs;
        const n = Math.min(bs, train.length - from);
        this.stager.load(train, order, from, n);
        this.step++;
        const fresh = await this.weightedStep.run(n, { training: true, seed: hash32(config.seed ?? 0, this.step) }, () =>
          this.checkFinite(runDir),
        );
        for (let t = 0; t < T; t++) weightSums[t] += this.weightedStep.effective[t];
        if (this.step % every === 0 || s === steps - 1) {
          if (!fresh) {
            await model.backend.read(model.losses, this.hostLosses);
            this.checkFinite(runDir);
          }
          for (let t = 0; t < T; t++) sums[t] += this.hostLosses[t];
          reads++;
          this.progress.update(`epoch ${epoch}/${config.epochs}`, s + 1, steps, this.namedLosses());
        }
        this.optimizer.step();
        await model.backend.throttle(); // a GPU backend keeps a few steps queued, not an epoch
      }
      await model.backend.sync();
      this.weighting.endEpoch();
      const seconds = (performance.now() - t0) / 1000;
      this.progress.end();
      this.epoch = epoch;
      const record: EpochRecord = {
        epoch,
        step: this.step,
        seconds,
        stepsPerSecond: steps / seconds,
        train: Object.fromEntries(model.tasks.map((t, i) => [t.name, sums[i] / Math.max(1, reads)])),
        weights: Object.fromEntries(model.tasks.map((t, i) => [t.name, weightSums[i] / steps])),
        weighting: { name: this.weighting.name, ...this.weighting.getState() },
      };
      if (model.sharing.kind === 'soft') record.penalty = await model.sharingPenalty();
      if (opts.validation) record.validation = await this.evaluate(opts.validation);
      this.history.push(record);
      this.log?.(formatEpoch(record, config.epochs, model));
      if (this.stopper && record.validation) this.stopAuxiliaryTasks(record);
      if (runDir) await this.writeRun(runDir, record);
    }
    return this.history;
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

  /** Per-task loss and metrics of the model on a dataset (no training). */
  async evaluate(ds: MultiTaskDataset): Promise<Record<string, TaskMetrics>> {
    this.checkDataset(ds, 'evaluation set');
    const model = this.model;
    const B = model.maxBatch;
    const width = model.logitWidth;
    const host = new Float32Array(B * width);
    const order = Int32Array.from({ length: ds.length }, (_, i) => i);
    const accs = model.tasks.map((t, i) => new MetricAccumulator(t, packedOf(model.lossLayout)[5 * i + 1], width));
    for (let from = 0; from < ds.length; from += B) {
      const n = Math.min(B, ds.length - from);
      this.stager.load(ds, order, from, n);
      const logits = model.forward(n);
      model.computeLoss(n, logits);
      const z = await model.backend.read(logits, n === B ? host : host.subarray(0, n * width));
      await model.backend.read(model.losses, this.hostLosses);
      model.tasks.forEach((task, t) => {
        const mask = ds.mask(task.name);
        let labelled = n;
        if (mask) {
          labelled = 0;
          for (let i = 0; i < n; i++) labelled += mask[from + i];
        }
        accs[t].add(z, n, ds.labels(task.name), mask, from);
        if (labelled > 0) accs[t].addLoss(this.hostLosses[t], labelled);
      });
    }
    return Object.fromEntries(model.tasks.map((t, i) => [t.name, accs[i].result()]));
  }

  /** The training state a checkpoint stores. */
  state(): TrainingState {
    return {
      epoch: this.epoch,
      step: this.step,
      rngState: this.rng.getState(),
      bestScore: this.bestScore,
      weighting: { name: this.weighting.name, state: this.weighting.getState(), rngState: this.weightingRng.getState() },
      auxiliaryStopping: this.stopper?.getState(),
    };
  }

  private restore(state: TrainingState): void {
    if (!(state.epoch >= 0 && state.step >= 0 && Array.isArray(state.rngState))) {
      throw new ConfigError('the checkpoint holds no training state to resume from');
    }
    this.epoch = state.epoch;
    this.step = state.step;
    this.rng.setState(state.rngState);
    this.bestScore = typeof state.bestScore === 'number' ? state.bestScore : -Infinity;
    const w = state.weighting as { name?: string; state?: Record<string, unknown>; rngState?: number[] } | undefined;
    if (w && w.name !== this.weighting.name) {
      throw new ConfigError(`the checkpoint was trained with weighting ${w.name}; resume it with the same weighting, not ${this.weighting.name}`);
    }
    if (w?.state) this.weighting.setState(w.state);
    if (w?.rngState) this.weightingRng.setState(w.rngState);
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

  private checkFinite(runDir: string | null): void {
    this.model.tasks.forEach((task, t) => {
      const v = this.hostLosses[t];
      if (Number.isFinite(v)) return;
      this.progress.end();
      const kept = runDir && this.epoch > 0 ? ` The last good checkpoint (epoch ${this.epoch}) is kept in ${path.join(runDir, 'checkpoint.safetensors')}.` : '';
      throw new NonFiniteLossError(
        `Training stopped: the loss of task ${task.name} became ${v} at step ${this.step} (epoch ${this.epoch + 1}).${kept} ` +
          'Lower the learning rate, check the inputs for extreme values, or resume from the checkpoint.',
        this.step,
        task.name,
      );
    });
  }

  /** Mean headline metric over main (non-auxiliary) tasks, signed so that higher is better. */
  private score(validation: Record<string, TaskMetrics> | undefined, train: Record<string, number>): number {
    const main = this.model.tasks.filter((t) => !t.auxiliary);
    const parts = main.map((t) => {
      const metric = validation ? t.metrics[0] : 'loss';
      const v = validation ? validation[t.name][metric] ?? NaN : train[t.name];
      return HIGHER_IS_BETTER[metric] ? v : -v;
    });
    return parts.reduce((a, b) => a + b, 0) / Math.max(1, parts.length);
  }

  private async writeRun(runDir: string, record: EpochRecord): Promise<void> {
    writeFileAtomic(path.join(runDir, 'metrics.json'), JSON.stringify(this.history, null, 2));
    await saveCheckpoint(path.join(runDir, 'checkpoint.safetensors'), this.model, this.optimizer, this.state());
    const score = this.score(record.validation, record.train);
    if (score > this.bestScore) {
      this.bestScore = score;
      await saveCheckpoint(path.join(runDir, 'best.safetensors'), this.model, this.optimizer, this.state());
    }
  }
}

function formatEpoch(r: EpochRecord, epochs: number, model: MultiTaskModel): string {
  const loss = model.tasks.map((t) => `${t.name} ${r.train[t.name].toFixed(4)}`).join(' ');
  let line = `epoch ${r.epoch}/${epochs}  loss ${loss}${r.penalty !== undefined ? `  penalty ${r.penalty.toFixed(4)}` : ''}`;
  if (r.validation) {
    const parts = model.tasks.map((t) => {
      const m = r.validation![t.name];
      const shown = t.metrics.map((k) => (k === 'accuracy' ? `${(100 * (m[k] ?? NaN)).toFixed(2)}%` : `${k} ${(m[k] ?? NaN).toFixed(4)}`));
      return `${t.name}${t.auxiliary ? '(aux)' : ''} ${shown.join(' ')}`;
    });
    line += `  | val ${parts.join('  ')}`;
  }
  return `${line}  | ${r.seconds.toFixed(1)} s, ${r.stepsPerSecond.toFixed(0)} steps/s`;
}
