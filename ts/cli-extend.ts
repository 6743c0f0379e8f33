/**
 * Adding tasks to a trained network (issue 19): {@link trainExtension} grows a trained model
 * by new tasks (MultiTaskModel.extend: the old parameters kept bit for bit), trains it on the new
 * data with a retention strategy, and measures the old tasks before and after; `hydranet
 * extend` does it from a run folder into a NEW run folder (the old one is only read).
 *
 * trainStages (ts/train/continual.ts) trains every stage from the start; here the first stage
 * is already trained, so one stage is run with the same pieces: extend, labelledFor,
 * ReplayBuffer + ReplayStager, fisherDiagonal + growEwcState + consolidate, Optimizer.restrict, and
 * continualMetrics over the two-row R (before and after).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Backend } from './backends/backend.js';
import { BACKEND_NAMES, createBackend } from './backends/create.js';
import { UsageError, int, parseFlags } from './cli-args.js';
import { RUN_DEFAULTS, type RunFlags, loadExtendData, readRunConfig, trainerConfigOf } from './cli-config.js';
import { formatMetrics } from './cli-predict.js';
import { checkKeys } from './core/options.js';
import type { MultiTaskDataset } from './data/dataset.js';
import { ReplayBuffer, labelledFor } from './data/replay.js';
import { fittedSchemaOf, metricsInOriginalUnits } from './data/schema.js';
import { ConfigError, TrainingAbortedError } from './errors.js';
import { readCheckpointFile, saveCheckpoint } from './io/checkpoint.js';
import { writeFileAtomic } from './io/files.js';
import { describeEnvironment } from './report/run-folder.js';
import { finishReport } from './report/write.js';
import { type JsonValue, MultiTaskModel, checkpointPath } from './mtl/model.js';
import type { TaskSpec } from './mtl/task.js';
import { type ContinualMetrics, type RetainConfig, continualMetrics, formatContinualTable, prepareLwf } from './train/continual.js';
import { type EwcState, FISHER_VARIANTS, type FisherVariant, consolidate, ewcFromCheckpoint, fisherDiagonal, growEwcState, hasLikelihood } from './train/ewc.js';
import type { TaskMetrics } from './train/metrics.js';
import { ReplayStager } from './train/replay-stager.js';
import { type EpochRecord, Trainer, type TrainerConfig, checkRunDir } from './train/trainer.js';

/** The retain kinds {@link parseRetainSpec} reads, with the keys each takes. */
const RETAIN_KEYS: Readonly<Record<string, readonly string[]>> = {
  none: [],
  replay: ['size', 'seed', 'batch'],
  ewc: ['lambda', 'fisher', 'samples', 'seed'],
  'online-ewc': ['lambda', 'gamma', 'fisher', 'samples', 'seed'],
  'freeze-trunk': [],
  lwf: ['temperature', 'alpha'],
};

/**
 * A retention strategy written as on the command line: `none`, `replay:size=N[,seed=S,batch=B]`,
 * `ewc:lambda=X[,fisher=exact|sampled|empirical|batched,samples=N,seed=S]`,
 * `online-ewc:lambda=X[,gamma=Y,...]`, `freeze-trunk` or `lwf[:temperature=T,alpha=A]`.
 * @throws UsageError (exit status 2) on an unknown kind or key, a missing size or λ, or a value
 *   out of range, naming the flag and what it takes.
 */
export function parseRetainSpec(text: string): RetainConfig {
  const [kind, rest] = text.split(/:(.*)/s, 2);
  const keys = Object.hasOwn(RETAIN_KEYS, kind) ? RETAIN_KEYS[kind] : undefined;
  if (!keys) throw new UsageError(`--retain expects one of ${Object.keys(RETAIN_KEYS).join(', ')} (with key=value options after a colon), got ${JSON.stringify(text)}`);
  const options: Record<string, string> = {};
  for (const part of rest ? rest.split(',') : []) {
    const m = /^\s*([A-Za-z]+)\s*=\s*(\S+)\s*$/.exec(part);
    if (!m) throw new UsageError(`--retain ${kind}: expected key=value options after "${kind}:", got ${JSON.stringify(part)}`);
    if (!keys.includes(m[1])) throw new UsageError(`--retain ${kind} takes ${keys.length === 0 ? 'no options' : keys.join(', ')}, got ${JSON.stringify(m[1])}`);
    options[m[1]] = m[2];
  }
  const number = (key: string, test: (n: number) => boolean, words: string): number | undefined => {
    const v = options[key];
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n) || !test(n)) throw new UsageError(`--retain ${kind}: ${key} expects ${words}, got ${JSON.stringify(v)}`);
    return n;
  };
  const integer = (key: string, min: number): number | undefined => number(key, (n) => Number.isInteger(n) && n >= min, `an integer >= ${min}`);
  const need = <T>(key: string, v: T | undefined): T => {
    if (v === undefined) throw new UsageError(`--retain ${kind} needs ${key}=..., e.g. ${kind === 'replay' ? 'replay:size=1000' : `${kind}:lambda=100`}`);
    return v;
  };
  if (kind === 'none' || kind === 'freeze-trunk') return { kind };
  if (kind === 'lwf') {
    const temperature = number('temperature', (n) => n > 0 && n <= 1000, 'a number in (0, 1000]');
    const alpha = number('alpha', (n) => n >= 0, 'a non-negative number');
    return { kind, ...(temperature !== undefined && { temperature }), ...(alpha !== undefined && { alpha }) };
  }
  const seed = integer('seed', 0);
  if (kind === 'replay') {
    const batch = integer('batch', 1);
    return { kind, size: need('size', integer('size', 1)), ...(seed !== undefined && { seed }), ...(batch !== undefined && { batch }) };
  }
  const fisher = options.fisher;
  if (fisher !== undefined && !FISHER_VARIANTS.includes(fisher as FisherVariant)) throw new UsageError(`--retain ${kind}: fisher expects ${FISHER_VARIANTS.join(', ')}, got ${JSON.stringify(fisher)}`);
  const samples = integer('samples', 1);
  const gamma = number('gamma', (n) => n >= 0 && n <= 1, 'a number in [0, 1]');
  return {
    kind: kind as 'ewc' | 'online-ewc',
    lambda: need('lambda', number('lambda', (n) => n >= 0, 'a non-negative number')),
    ...(gamma !== undefined && { gamma }),
    ...(fisher !== undefined && { fisher: fisher as FisherVariant }),
    ...(samples !== undefined && { samples }),
    ...(seed !== undefined && { seed }),
  };
}

/** What {@link trainExtension} trains. Unknown keys are ConfigErrors. */
export interface ExtensionConfig {
  /** The trained model; left as it is (the grown model is a new one). */
  model: MultiTaskModel;
  /** The tasks to add. */
  tasks: readonly TaskSpec[];
  /** The new training samples, labelled for the new tasks (labels of other tasks are not used). */
  train: MultiTaskDataset;
  /** The new tasks' validation samples; where they carry the old tasks' labels too, the old tasks are evaluated on them unless `previous.validation` is given. */
  validation?: MultiTaskDataset;
  /** The trained model's own data, labelled for its tasks: `train` for replay and the EWC Fisher, `validation` to evaluate the old tasks on. */
  previous?: {
    /** The old tasks' training samples: replay's buffer and EWC's Fisher. */
    train?: MultiTaskDataset;
    /** The old tasks' validation samples: where they are evaluated before and after. */
    validation?: MultiTaskDataset;
    /**
     * With retain ewc / online-ewc: the EWC state the trained model was trained with, over its
     * parameter arena with its tasks (ewcFromCheckpoint of its checkpoint, which an earlier EWC
     * extension wrote). It is kept: the Fisher is estimated only for the old tasks it does not
     * cover (those learned since), at the trained parameters, and folded in (ewc: the sum of the
     * separate penalties; online-ewc: F ← γ·F + F_new at the newest θ*), so that a chain of
     * extensions keeps every earlier stage's penalty. Without it, the Fisher is of every old task
     * at the trained parameters.
     */
    ewc?: EwcState | null;
  };
  /**
   * How the old tasks are kept (default none): as trainStages' retain. EWC's Fisher of the old
   * tasks is estimated at the trained parameters on `previous.train` when given (any variant),
   * else on the new training samples' inputs (only 'exact' and 'sampled', which take the labels
   * from the model's own predictions, apply there); it is of every old task not covered by
   * `previous.ewc` (see there). Replay needs `previous.train` (every step trains on a replayed
   * batch beside its new samples: ReplayStager; the grown model's maxBatch is raised to hold both
   * unless `maxBatch` is given). LwF (as trainStages': prepareLwf, a student model whose
   * parameters come back) trains without validation; with a trainer runDir, the grown model's
   * run files (config.json, metrics.json, checkpoint.safetensors and best.safetensors, both the
   * final model) are written after training, or at a stop by the signal.
   */
  retain?: RetainConfig;
  /** The Trainer of the new stage (a runDir writes the grown model's run folder). */
  trainer: TrainerConfig;
  /** Seed of the new parameters (default the model's). */
  seed?: number;
  /** The grown model's maxBatch (default the model's). */
  maxBatch?: number;
  /** The grown model's preprocessing (default the model's): what its checkpoints store for predict and evaluate. */
  preprocessing?: JsonValue;
  /** Stops training after the step in progress (as fit's). */
  signal?: AbortSignal;
}

/** The continual report of one extension: R over the tasks with an accuracy metric. */
export interface ExtensionReport {
  /** Task names, R's columns. */
  tasks: string[];
  /** 0 for an old task, 1 for a new one. */
  introduced: number[];
  /** R[0]: before training (the new tasks with their fresh heads); R[1]: after. NaN where not evaluated. */
  accuracy: number[][];
  /** Per task, the accuracy of a freshly initialised model of the grown configuration (b_j; NaN for the old tasks): FWT's baseline. */
  randomInit: number[];
  /** continualMetrics of R (BWT: the old tasks' mean change; FWT: the new tasks' fresh heads on the trained trunk against randomInit). */
  metrics: ContinualMetrics;
  /** formatContinualTable of R. */
  table: string;
}

/** What {@link trainExtension} returns. */
export interface ExtensionResult {
  /** The grown model, trained. */
  model: MultiTaskModel;
  /** Its Trainer. */
  trainer: Trainer;
  /** The epochs of the new stage (with lwf: the student's). */
  history: readonly EpochRecord[];
  /** The trained model's tasks. */
  oldTasks: string[];
  /** The tasks added. */
  newTasks: string[];
  /**
   * With EWC: the old tasks whose Fisher the penalty holds (with the 'exact' and 'sampled'
   * variants, those with a likelihood: classification with softmax-ce, binary with bce; a
   * regression task is then not protected); null without EWC.
   */
  fisherTasks: string[] | null;
  /** Per task, its metrics before training (the old tasks as trained; the new ones with fresh heads); a task without labels to evaluate on is absent. */
  before: Record<string, TaskMetrics>;
  /** Per task, its metrics after training. */
  after: Record<string, TaskMetrics>;
  /** R and its metrics over the tasks with accuracy and evaluation labels; null when no old or no new task has both. With a trainer runDir, also on metrics.json's last record (`continual`). */
  continual: ExtensionReport | null;
}

/** Whether `ds` has a labelled sample for at least one of `tasks`. */
function evaluable(ds: MultiTaskDataset | undefined, tasks: readonly string[]): boolean {
  if (!ds) return false;
  return tasks.some((t) => ds.taskNames.includes(t) && (ds.mask(t)?.some((m) => m === 1) ?? ds.length > 0));
}

/**
 * Grows `config.model` by `config.tasks` and trains the grown model on the new data with the
 * retention strategy (see ExtensionConfig.retain), evaluating every task before and after: the
 * old tasks on `previous.validation` (else on `validation`, where it has their labels), the new
 * ones on `validation`.
 * @throws ConfigError on an unknown key, replay without previous.train, an EWC Fisher variant
 *   that needs labels without previous.train, or freeze-trunk without hard sharing; what
 *   MultiTaskModel.extend, fisherDiagonal, the Trainer and fit throw.
 */
export async function trainExtension(config: ExtensionConfig): Promise<ExtensionResult> {
  checkKeys(config, ['model', 'tasks', 'train', 'validation', 'previous', 'retain', 'trainer', 'seed', 'maxBatch', 'preprocessing', 'signal'], 'trainExtension config');
  const old = config.model;
  const retain: RetainConfig = config.retain ?? { kind: 'none' };
  if (!Object.hasOwn(RETAIN_KEYS, retain.kind)) throw new ConfigError(`trainExtension takes retain ${Object.keys(RETAIN_KEYS).join(', ')}; received ${JSON.stringify(retain.kind)}`);
  const previousTrain = config.previous?.train;
  if (retain.kind === 'replay' && !previousTrain) throw new ConfigError('retain replay needs the trained run\'s training samples (previous.train; data.previous.train in a run file) to replay');
  const ewc = retain.kind === 'ewc' || retain.kind === 'online-ewc' ? retain : null;
  const variant = ewc?.fisher ?? 'exact';
  if (ewc && !previousTrain && variant !== 'exact' && variant !== 'sampled') {
    throw new ConfigError(`retain ${retain.kind} with the ${variant} Fisher needs the old tasks' labels: give previous.train (data.previous.train in a run file), or use fisher exact or sampled, which take the labels from the model`);
  }
  const oldTasks = old.tasks.map((t) => t.name);
  let ewcState: EwcState | null = null;
  if (ewc) {
    // An earlier stage's state is kept; the Fisher is of the old tasks it does not cover.
    const earlier = config.previous?.ewc ?? null;
    if (earlier && !(earlier.fisher?.length === old.params.arenaSize && earlier.anchor?.length === old.params.arenaSize && earlier.tasks?.every((t) => oldTasks.includes(t)))) {
      throw new ConfigError(`previous.ewc must be an EWC state over the trained model's parameter arena (${old.params.arenaSize} values) naming its tasks (ewcFromCheckpoint of a checkpoint that stores them: ewc.task.<name>)`);
    }
    const uncovered = old.tasks.filter((t) => !(earlier?.tasks ?? []).includes(t.name));
    // 'exact' and 'sampled' need a likelihood (as fisherDiagonal's check): the other old tasks are left out, and said so.
    const fisherOf = (variant === 'exact' || variant === 'sampled' ? uncovered.filter(hasLikelihood) : uncovered).map((t) => t.name);
    if (fisherOf.length === 0 && !earlier) {
      throw new ConfigError(`retain ${retain.kind}: the ${variant} Fisher takes the labels from the model's likelihood, and none of the old tasks (${oldTasks.join(', ')}) has one (classification with softmax-ce, binary with bce): give previous.train (data.previous.train) and use fisher empirical`);
    }
    ewcState = earlier;
    if (fisherOf.length > 0) {
      // F of those tasks at θ* = the trained parameters, before anything moves.
      const data = labelledFor(previousTrain ?? config.train, old.tasks);
      const fisher = await fisherDiagonal(old, data, {
        variant,
        tasks: fisherOf,
        ...(ewc.samples === undefined ? {} : { samples: Math.min(ewc.samples, data.length) }),
        seed: ewc.seed ?? 0,
      });
      const anchor = await old.backend.read(old.params.values);
      ewcState = consolidate(earlier, fisher, anchor, ewc.kind === 'online-ewc' ? { kind: 'online', gamma: ewc.gamma ?? 1 } : { kind: 'separate' }, fisherOf);
    }
  }
  const fisherOf = ewcState ? [...(ewcState.tasks ?? [])] : null;
  // Replay stages a replayed batch after every step's own: the grown model's maxBatch holds both unless set.
  const replayRows = retain.kind === 'replay' ? retain.batch ?? config.trainer.batchSize : 0;
  const maxBatch = config.maxBatch ?? (replayRows > 0 ? Math.max(old.maxBatch, config.trainer.batchSize + replayRows) : undefined);
  const model = await MultiTaskModel.extend(old, config.tasks, { ...(config.seed !== undefined && { seed: config.seed }), ...(maxBatch !== undefined && { maxBatch }) });
  const newTasks = model.tasks.slice(oldTasks.length).map((t) => t.name);
  if (config.preprocessing !== undefined) model.preprocessing = config.preprocessing;
  const penalty = ewc && ewcState ? { kind: 'ewc' as const, lambda: ewc.lambda, ...growEwcState(ewcState, old, model) } : null;
  const replayed = retain.kind === 'replay' && previousTrain ? replayStager(previousTrain, retain, old, model, replayRows) : null;
  const trainer = new Trainer(model, { ...config.trainer, ...(penalty && { penalty }), ...(replayed && { batchStaged: replayed }) });
  if (retain.kind === 'freeze-trunk') {
    const shared = model.sharedParameterSize;
    if (shared === 0) throw new ConfigError(`retain freeze-trunk needs hard sharing (a trunk every task reads); the model's sharing is ${model.sharing.kind}`);
    trainer.optimizer.restrict({ offset: shared, length: model.params.arenaSize - shared });
  }

  const oldEval = evaluable(config.previous?.validation, oldTasks) ? config.previous!.validation : evaluable(config.validation, oldTasks) ? config.validation : undefined;
  const newEval = evaluable(config.validation, newTasks) ? config.validation : undefined;
  const evaluate = async (): Promise<Record<string, TaskMetrics>> => {
    const out: Record<string, TaskMetrics> = {};
    for (const [ds, names] of [[oldEval, oldTasks], [newEval, newTasks]] as const) {
      if (!ds) continue;
      const metrics = await trainer.evaluate(labelledFor(ds, model.tasks));
      for (const name of names) if (metrics[name].count > 0) out[name] = metrics[name];
    }
    return out;
  };
  const before = await evaluate();
  const randomInit = await freshAccuracies(model, newEval, newTasks);
  // The new samples train the new tasks alone: old labels they may carry are masked.
  const fresh = labelledFor(config.train, model.tasks.slice(oldTasks.length));
  const train = labelledFor(fresh, model.tasks);
  const validation = config.validation ? labelledFor(config.validation, model.tasks) : undefined;
  let history: readonly EpochRecord[];
  const runDir = config.trainer.runDir ?? null;
  if (retain.kind === 'lwf') {
    // As trainStages: the student distils the old tasks' recorded outputs; its parameters come back into `model`.
    const { student, data } = await prepareLwf(model, fresh, newTasks, { temperature: retain.temperature, alpha: retain.alpha });
    const fitter = new Trainer(student, { ...config.trainer, runDir: null });
    let stopped: TrainingAbortedError | null = null;
    try {
      await fitter.fit(data, { signal: config.signal });
    } catch (e) {
      if (!(e instanceof TrainingAbortedError && runDir)) throw e;
      stopped = e;
    }
    history = fitter.history;
    model.backend.write(model.params.values, await student.backend.read(student.params.values));
    if (runDir) await writeLwfRun(runDir, model, fitter, retain);
    if (stopped) throw new TrainingAbortedError(`Training stopped on request at step ${stopped.step}. ${path.join(runDir!, 'checkpoint.safetensors')} holds the grown model at that step.`, stopped.step);
  } else {
    history = await trainer.fit(train, { validation, signal: config.signal });
  }
  const after = await evaluate();
  const continual = report(model, oldTasks, before, after, randomInit);
  if (runDir && continual && history.length > 0) {
    // The continual report on metrics.json's last record (the epochs stay one record each).
    const summary = { tasks: continual.tasks, introduced: continual.introduced, accuracy: continual.accuracy, randomInit: continual.randomInit, metrics: continual.metrics };
    writeFileAtomic(path.join(runDir, 'metrics.json'), jsonWithNulls([...history.slice(0, -1), { ...history.at(-1)!, continual: summary }]));
  }
  return { model, trainer, history, oldTasks, newTasks, fisherTasks: fisherOf, before, after, continual };
}

/** JSON with non-finite numbers (NaN: not measured) as null. */
function jsonWithNulls(value: unknown): string {
  return `${JSON.stringify(value, (_, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`;
}

/**
 * Per task of `names`, the accuracy on `ds` of a freshly initialised model of `model`'s
 * configuration (FWT's b_j), by task name; {} without `ds`.
 */
async function freshAccuracies(model: MultiTaskModel, ds: MultiTaskDataset | undefined, names: readonly string[]): Promise<Record<string, number>> {
  if (!ds) return {};
  const fresh = new MultiTaskModel(model.backend, model.resolvedConfig);
  const metrics = await new Trainer(fresh, { optimizer: { kind: 'sgd', lr: 0 }, batchSize: Math.min(fresh.maxBatch, 256), epochs: 1, log: null, progress: false }).evaluate(labelledFor(ds, fresh.tasks));
  return Object.fromEntries(names.flatMap((n) => (metrics[n]?.accuracy === undefined ? [] : [[n, metrics[n].accuracy!]])));
}

/**
 * The run files of an LwF extension (trained as a student model without a run folder): the grown
 * model's config.json, metrics.json (the student's epochs: the old tasks' training losses are
 * their distillation losses) and checkpoint.safetensors = best.safetensors (the grown model after
 * the student's last step, with the student's optimizer and training state).
 */
async function writeLwfRun(runDir: string, model: MultiTaskModel, fitter: Trainer, retain: Extract<RetainConfig, { kind: 'lwf' }>): Promise<void> {
  const lwf = { kind: 'lwf', temperature: retain.temperature ?? 2, alpha: retain.alpha ?? 1, note: "trained as a student whose old tasks have the loss distill:temperature=T and weight alpha; metrics.json's training losses of the old tasks are those" };
  writeFileAtomic(path.join(runDir, 'config.json'), JSON.stringify({ model: model.config, architecture: model.architecture(), trainer: { ...fitter.config, log: undefined, runDir }, retain: lwf }, null, 2));
  writeFileAtomic(path.join(runDir, 'metrics.json'), JSON.stringify(fitter.history, null, 2));
  const params = await model.backend.read(model.params.values);
  for (const file of ['checkpoint.safetensors', 'best.safetensors']) await saveCheckpoint(path.join(runDir, file), model, fitter.optimizer, fitter.state(), { parameters: params });
}

/** A seeded buffer of the old samples and the per-step replayed batches drawn from it (trainStages' replay with one earlier stage). */
function replayStager(previous: MultiTaskDataset, retain: Extract<RetainConfig, { kind: 'replay' }>, old: MultiTaskModel, model: MultiTaskModel, batch: number): ReplayStager {
  const buffer = new ReplayBuffer(retain.size, retain.seed ?? 0);
  buffer.add(previous, old.tasks);
  return new ReplayStager(model, buffer, { batch, seed: retain.seed ?? 0 });
}

/** R (before, after) over the tasks with an accuracy on both rows' evaluation sets, and its metrics (FWT against `fresh`, the new tasks' accuracies on a fresh model). */
function report(model: MultiTaskModel, oldTasks: readonly string[], before: Record<string, TaskMetrics>, after: Record<string, TaskMetrics>, fresh: Record<string, number>): ExtensionReport | null {
  const tasks = model.tasks.filter((t) => t.metrics.includes('accuracy') && before[t.name]?.accuracy !== undefined && after[t.name]?.accuracy !== undefined).map((t) => t.name);
  const introduced = tasks.map((t) => (oldTasks.includes(t) ? 0 : 1));
  if (!introduced.includes(0) || !introduced.includes(1)) return null;
  const accuracy = [before, after].map((m) => tasks.map((t) => m[t].accuracy!));
  const randomInit = tasks.map((t, j) => (introduced[j] === 1 ? fresh[t] ?? NaN : NaN));
  const metrics = continualMetrics(accuracy, { introduced, randomInit });
  return { tasks, introduced, accuracy, randomInit, metrics, table: formatContinualTable(accuracy, metrics, tasks) };
}

/** `hydranet extend --help`. */
export const EXTEND_HELP = `Usage: hydranet extend --model RUN --config newtask.json [--retain SPEC] [--out DIR] [options]

Adds the tasks of a run file to a network trained with \`hydranet train --config\` and trains
them, into a NEW run folder: the trained run is only read, never written. Every parameter of the
trained model is kept bit for bit at the start; the new tasks get new heads. Prints the old
tasks' metrics before and after, and the new tasks'; the run folder gets config.json,
metrics.json (the epochs), checkpoints of the grown model (with the combined preprocessing, for
\`hydranet predict\` and \`hydranet evaluate\`) and continual.json (the metrics before and after,
and the continual report: R, ACC, BWT, forgetting, FWT; also on metrics.json's last record).

The run file is a \`train --config\` run file without "inputs", "missing" and the network
(the trained run's): its tasks are the NEW tasks, "model" may set only "seed" (of the new
parameters) and "maxBatch", and "data" may add "previous": { "train", "validation" }, the
trained run's own rows. The new rows go through the trained run's fitted schema (its means,
vocabularies: an unseen category takes the unseen slot; other columns are ignored); the new
label columns are fitted on the new training rows. The new rows train the new tasks only; old
label columns they carry are used in validation only. The old tasks are evaluated on
data.previous.validation, else on the new validation rows when they carry the old labels.

  { "data": { "train": "new.csv", "validationSplit": 0.2,
              "previous": { "train": "old-train.csv", "validation": "old-val.csv" } },
    "tasks": [ { "name": "plan", "kind": "classification" } ],
    "training": { "epochs": 10, "optimizer": { "kind": "adamw", "lr": 0.001 } } }

Options:
  --model PATH          the trained run folder (or one of its checkpoints)
  --config FILE         the run file of the new tasks
  --checkpoint WHICH    in a run folder: best (default) or last
  --retain SPEC         how the old tasks are kept while the new ones train (default none):
                          none                  fine-tuning: every parameter trains
                          replay:size=N[,seed=S,batch=B]
                                                a buffer of N seeded samples of
                                                data.previous.train (with their labels); every
                                                step also trains on B rows drawn from it
                                                (default B: the batch size)
                          ewc:lambda=X[,fisher=V,samples=N,seed=S]
                                                elastic weight consolidation: the Fisher of the
                                                old tasks at the trained parameters, on
                                                data.previous.train when given, else on the new
                                                rows' inputs (V exact, the default, or sampled:
                                                labels from the model's predictions; empirical
                                                and batched need data.previous.train)
                          online-ewc:lambda=X[,gamma=Y,...]
                                                the same with online EWC's γ
                                                (extending a run that an EWC extension trained:
                                                its penalty is kept, and the Fisher is of the
                                                tasks it added; ewc sums the penalties,
                                                online-ewc takes F = γ·F + F_new)
                          freeze-trunk          only the parameters after the trunk train (hard
                                                sharing): the old tasks' outputs stay as they were
                          lwf[:temperature=T,alpha=A]
                                                learning without forgetting: the old tasks
                                                (classification) distil their own outputs on
                                                the new rows, softened at T (default 2), weight
                                                A each (default 1); no old rows needed
  --out DIR             the new run folder (default runs/<date>-<time>); not the trained run's
  --epochs N, --batch-size N, --seed N, --optimizer NAME, --lr X, --momentum X,
  --weight-decay X, --weights SPEC, --weighting SPEC
                        override the run file's training section, as for \`train --config\`;
                        --seed also seeds the new parameters and the validation split
  --backend NAME        ${BACKEND_NAMES.join(' | ')} (default cpu)
  --threads N           worker threads of the cpu backend (default: every core)
  --no-progress         no progress bar, even on a terminal
  -h, --help            this text
`;

const FLAGS = {
  model: { type: 'string' },
  config: { type: 'string' },
  checkpoint: { type: 'string' },
  retain: { type: 'string' },
  out: { type: 'string' },
  epochs: { type: 'string' },
  'batch-size': { type: 'string' },
  seed: { type: 'string' },
  optimizer: { type: 'string' },
  lr: { type: 'string' },
  momentum: { type: 'string' },
  'weight-decay': { type: 'string' },
  weights: { type: 'string' },
  weighting: { type: 'string' },
  backend: { type: 'string' },
  threads: { type: 'string' },
  progress: { type: 'boolean', default: true },
  help: { type: 'boolean', short: 'h' },
} as const;

/** The trained run's folder: `model` itself, or the folder of a checkpoint file. */
function runFolderOf(model: string): string {
  const resolved = path.resolve(model);
  try {
    return fs.statSync(resolved).isDirectory() ? resolved : path.dirname(resolved);
  } catch {
    return resolved; // MultiTaskModel.load says what is missing.
  }
}

/**
 * Runs `hydranet extend`; returns the exit status. `timestamp` names the default run folder;
 * `onSigint` (the CLI's Ctrl-C handling) gives the signal that stops training after the step in
 * progress, the checkpoint written (TrainingAbortedError: exit status 130).
 */
export async function extendCommand(
  argv: readonly string[],
  timestamp: () => string,
  onSigint?: () => { signal: AbortSignal; dispose: () => void },
): Promise<number> {
  const values = parseFlags(argv, FLAGS);
  if (values.help) {
    process.stdout.write(EXTEND_HELP);
    return 0;
  }
  if (values.model === undefined) throw new UsageError('extend needs --model RUN_FOLDER (the trained run)');
  if (values.config === undefined) throw new UsageError('extend needs --config FILE (the run file of the new tasks)');
  const which = values.checkpoint ?? 'best';
  if (which !== 'best' && which !== 'last') throw new UsageError(`--checkpoint expects best or last, got ${JSON.stringify(which)}`);
  const retain = parseRetainSpec(values.retain ?? 'none');
  const threads = values.threads === undefined ? undefined : int('threads', values.threads, 1);
  const flags: RunFlags = values;
  const file = values.config;
  const config = readRunConfig(file, 'extend');
  const { trainer: trainerConfig, seed } = trainerConfigOf(config, flags);
  const out = path.resolve(values.out ?? path.join('runs', timestamp()));
  const oldRun = runFolderOf(values.model);
  const relative = path.relative(oldRun, out);
  if (relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative))) {
    throw new UsageError(`--out ${out} is ${relative === '' ? '' : 'inside '}the trained run's folder ${oldRun}: extend writes a NEW run folder and leaves the trained run as it is`);
  }
  // The run folder is checked (and made) before anything is read; a failure leaves no empty one behind.
  const createdOut = checkRunDir(out);
  let backend: Backend | null = null;
  const stop = onSigint?.();
  try {
    backend = await createBackend(values.backend ?? 'cpu', { threads });
    const old = await MultiTaskModel.load(backend, values.model, { checkpoint: which });
    // An EWC state the trained run's checkpoint holds (an earlier EWC extension's) is kept by an EWC retain.
    const earlierEwc = retain.kind === 'ewc' || retain.kind === 'online-ewc' ? ewcFromCheckpoint(readCheckpointFile(checkpointPath(values.model, which)), old) : null;
    if (earlierEwc && !earlierEwc.tasks) console.log('EWC: the trained run\'s checkpoint holds an EWC state without its tasks (an older hydranet wrote it): not carried over; the Fisher is of every old task');
    const data = await loadExtendData(config, file, fittedSchemaOf(old, values.model), seed ?? RUN_DEFAULTS.seed);
    for (const line of data.summary) console.log(line);
    const modelSeed = seed ?? config.model?.seed;
    console.log(`extending ${oldRun} (tasks ${old.tasks.map((t) => t.name).join(', ')}) by ${data.tasks.map((t) => t.name).join(', ')}, retain ${describeRetain(retain)}; backend ${backend.name}`);
    const result = await trainExtension({
      model: old,
      tasks: data.tasks,
      train: data.train,
      validation: data.validation,
      previous: { train: data.previousTrain, validation: data.previousValidation, ewc: earlierEwc?.tasks ? earlierEwc : null },
      retain,
      trainer: { ...trainerConfig, runDir: out },
      ...(modelSeed !== undefined && { seed: modelSeed }),
      ...(config.model?.maxBatch !== undefined && { maxBatch: config.model.maxBatch }),
      // The grown model's checkpoints carry the combined preprocessing from the first epoch on.
      preprocessing: data.fitted as unknown as JsonValue,
      ...(stop && { signal: stop.signal }),
    });
    const units = (m: Record<string, TaskMetrics>): Record<string, TaskMetrics> => metricsInOriginalUnits(data.fitted, m);
    const block = (title: string, names: readonly string[], m: Record<string, TaskMetrics>): void => {
      const lines = formatMetrics(Object.fromEntries(names.filter((n) => m[n]).map((n) => [n, m[n]])));
      const missing = names.filter((n) => !m[n]);
      console.log(`${title}:`);
      for (const l of lines) console.log(`  ${l}`);
      if (missing.length > 0) console.log(`  not evaluated (no labels for them: give data.previous.validation or their columns in the validation rows): ${missing.join(', ')}`);
    };
    const unprotected = result.fisherTasks ? result.oldTasks.filter((t) => !result.fisherTasks!.includes(t)) : [];
    if (unprotected.length > 0) {
      console.log(`EWC: the ${retain.kind === 'ewc' || retain.kind === 'online-ewc' ? (retain.fisher ?? 'exact') : ''} Fisher needs a likelihood; ${unprotected.join(', ')} ${unprotected.length > 1 ? 'have' : 'has'} none and ${unprotected.length > 1 ? 'are' : 'is'} not protected (give data.previous.train and fisher=empirical to protect every old task)`);
    }
    block('old tasks before', result.oldTasks, units(result.before));
    block('old tasks after', result.oldTasks, units(result.after));
    block('new tasks after', result.newTasks, units(result.after));
    if (earlierEwc?.tasks && result.fisherTasks) console.log(`EWC: the trained run's penalty on ${earlierEwc.tasks.join(', ')} is kept; the penalty now covers ${result.fisherTasks.join(', ')}`);
    if (result.continual) console.log(result.continual.table);
    const c = result.continual;
    writeFileAtomic(
      path.join(out, 'continual.json'),
      jsonWithNulls({ from: oldRun, checkpoint: which, retain, fisherTasks: result.fisherTasks, oldTasks: result.oldTasks, newTasks: result.newTasks, before: units(result.before), after: units(result.after), continual: c && { tasks: c.tasks, introduced: c.introduced, accuracy: c.accuracy, randomInit: c.randomInit, metrics: c.metrics } }),
    );
    const html = await finishReport(out, { backend, validation: data.validation, environment: describeEnvironment(backend, ['hydranet', 'extend', ...argv], new Date(performance.timeOrigin)) });
    if (html) console.log(`report: ${html.file}`);
    console.log(`run folder: ${out}`);
    return 0;
  } catch (e) {
    if (e instanceof TrainingAbortedError) {
      // The Trainer's message speaks of resuming; extend has no --resume: say what the folder holds.
      throw new TrainingAbortedError(`${e.message.replace(/: resuming from it continues exactly there\.$/, '.')} hydranet extend does not resume: predict and evaluate can use the grown model as it is there, or run extend again.`, e.step);
    }
    if (createdOut) {
      try {
        fs.rmdirSync(out);
      } catch {
        // Not empty (training wrote a checkpoint: kept), or gone: leave it.
      }
    }
    throw e;
  } finally {
    stop?.dispose();
    backend?.dispose();
  }
}

/** "ewc (λ 100, exact Fisher)" and the like, for the log. */
function describeRetain(r: RetainConfig): string {
  if (r.kind === 'replay') return `replay (${r.size} samples, seed ${r.seed ?? 0})`;
  if (r.kind === 'ewc' || r.kind === 'online-ewc') return `${r.kind} (λ ${r.lambda}${r.kind === 'online-ewc' ? `, γ ${r.gamma ?? 1}` : ''}, ${r.fisher ?? 'exact'} Fisher${r.samples === undefined ? '' : ` on ${r.samples} samples`})`;
  if (r.kind === 'lwf') return `lwf (T ${r.temperature ?? 2}, α ${r.alpha ?? 1} per old task)`;
  return r.kind;
}

