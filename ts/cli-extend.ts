/**
 * Adding tasks to a trained network (issue 19): {@link trainExtension} grows a trained model
 * by new tasks (MultiTaskModel.extend: the old parameters kept bit for bit), trains it on the new
 * data with a retention strategy, and measures the old tasks before and after; `hydranet
 * extend` does it from a run folder into a NEW run folder (the old one is only read).
 *
 * trainStages (ts/train/continual.ts) trains every stage from the start; here the first stage
 * is already trained, so one stage is run with the same pieces: extend, labelledFor /
 * withReplay, fisherDiagonal + growEwcState + consolidate, Optimizer.restrict, and
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
import { ReplayBuffer, labelledFor, withReplay } from './data/replay.js';
import { fittedSchemaOf, metricsInOriginalUnits } from './data/schema.js';
import { ConfigError, TrainingAbortedError } from './errors.js';
import { writeFileAtomic } from './io/files.js';
import { type JsonValue, MultiTaskModel } from './mtl/model.js';
import type { TaskSpec } from './mtl/task.js';
import { type ContinualMetrics, type RetainConfig, continualMetrics, formatContinualTable, prepareLwf } from './train/continual.js';
import { FISHER_VARIANTS, type FisherVariant, consolidate, fisherDiagonal, growEwcState, hasLikelihood } from './train/ewc.js';
import type { TaskMetrics } from './train/metrics.js';
import { type EpochRecord, Trainer, type TrainerConfig, checkRunDir } from './train/trainer.js';

/** The retain kinds {@link parseRetainSpec} reads, with the keys each takes. */
const RETAIN_KEYS: Readonly<Record<string, readonly string[]>> = {
  none: [],
  replay: ['size', 'seed'],
  ewc: ['lambda', 'fisher', 'samples', 'seed'],
  'online-ewc': ['lambda', 'gamma', 'fisher', 'samples', 'seed'],
  'freeze-trunk': [],
};

/**
 * A retention strategy written as on the command line: `none`, `replay:size=N[,seed=S]`,
 * `ewc:lambda=X[,fisher=exact|sampled|empirical|batched,samples=N,seed=S]`,
 * `online-ewc:lambda=X[,gamma=Y,...]` or `freeze-trunk`.
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
  const seed = integer('seed', 0);
  if (kind === 'replay') return { kind, size: need('size', integer('size', 1)), ...(seed !== undefined && { seed }) };
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
  };
  /**
   * How the old tasks are kept (default none): as trainStages' retain. EWC's Fisher of the old
   * tasks is estimated at the trained parameters on `previous.train` when given (any variant),
   * else on the new training samples' inputs (only 'exact' and 'sampled', which take the labels
   * from the model's own predictions, apply there); it is of every old task, so an EWC state
   * the trained model's checkpoint may hold (from an earlier extension) is not added to it, and
   * one earlier stage makes 'ewc' and 'online-ewc' the same penalty. Replay needs `previous.train`.
   * LwF (as trainStages': prepareLwf, a student model whose parameters come back) needs a
   * trainer without runDir, and trains without validation.
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
  /** continualMetrics of R (BWT: the old tasks' mean change; no FWT). */
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
  /** R and its metrics over the tasks with accuracy and evaluation labels; null when no old or no new task has both. */
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
  if (!Object.hasOwn(RETAIN_KEYS, retain.kind) && retain.kind !== 'lwf') throw new ConfigError(`trainExtension takes retain ${Object.keys(RETAIN_KEYS).join(', ')} or lwf; received ${JSON.stringify(retain.kind)}`);
  if (retain.kind === 'lwf' && config.trainer.runDir != null) {
    throw new ConfigError('retain lwf trains a student model (the old tasks with distillation losses) and copies its parameters back: leave trainer.runDir out and save the grown model with saveCheckpoint');
  }
  const previousTrain = config.previous?.train;
  if (retain.kind === 'replay' && !previousTrain) throw new ConfigError('retain replay needs the trained run\'s training samples (previous.train; data.previous.train in a run file) to replay');
  const ewc = retain.kind === 'ewc' || retain.kind === 'online-ewc' ? retain : null;
  const variant = ewc?.fisher ?? 'exact';
  if (ewc && !previousTrain && variant !== 'exact' && variant !== 'sampled') {
    throw new ConfigError(`retain ${retain.kind} with the ${variant} Fisher needs the old tasks' labels: give previous.train (data.previous.train in a run file), or use fisher exact or sampled, which take the labels from the model`);
  }
  const oldTasks = old.tasks.map((t) => t.name);
  let ewcState = null;
  let fisherOf: string[] | null = null;
  if (ewc) {
    // 'exact' and 'sampled' need a likelihood (as fisherDiagonal's check): the other old tasks are left out, and said so.
    fisherOf = (variant === 'exact' || variant === 'sampled' ? old.tasks.filter(hasLikelihood) : old.tasks).map((t) => t.name);
    if (fisherOf.length === 0) {
      throw new ConfigError(`retain ${retain.kind}: the ${variant} Fisher takes the labels from the model's likelihood, and none of the old tasks (${oldTasks.join(', ')}) has one (classification with softmax-ce, binary with bce): give previous.train (data.previous.train) and use fisher empirical`);
    }
    // F of the old tasks at θ* = the trained parameters, before anything moves.
    const data = labelledFor(previousTrain ?? config.train, old.tasks);
    const fisher = await fisherDiagonal(old, data, {
      variant,
      tasks: fisherOf,
      ...(ewc.samples === undefined ? {} : { samples: Math.min(ewc.samples, data.length) }),
      seed: ewc.seed ?? 0,
    });
    const anchor = await old.backend.read(old.params.values);
    ewcState = consolidate(null, fisher, anchor, ewc.kind === 'online-ewc' ? { kind: 'online', gamma: ewc.gamma ?? 1 } : { kind: 'separate' });
  }
  const model = await MultiTaskModel.extend(old, config.tasks, { ...(config.seed !== undefined && { seed: config.seed }), ...(config.maxBatch !== undefined && { maxBatch: config.maxBatch }) });
  const newTasks = model.tasks.slice(oldTasks.length).map((t) => t.name);
  if (config.preprocessing !== undefined) model.preprocessing = config.preprocessing;
  const penalty = ewc && ewcState ? { kind: 'ewc' as const, lambda: ewc.lambda, ...growEwcState(ewcState, old, model) } : null;
  const trainer = new Trainer(model, { ...config.trainer, ...(penalty && { penalty }) });
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
  // The new samples train the new tasks alone: old labels they may carry are masked.
  const fresh = labelledFor(config.train, model.tasks.slice(oldTasks.length));
  const train = retain.kind === 'replay' && previousTrain ? replayed(fresh, previousTrain, retain, old, model) : labelledFor(fresh, model.tasks);
  const validation = config.validation ? labelledFor(config.validation, model.tasks) : undefined;
  let history: readonly EpochRecord[];
  if (retain.kind === 'lwf') {
    // As trainStages: the student distils the old tasks' recorded outputs; its parameters come back into `model`.
    const { student, data } = await prepareLwf(model, fresh, newTasks, { temperature: retain.temperature, alpha: retain.alpha });
    history = await new Trainer(student, config.trainer).fit(data, { signal: config.signal });
    model.backend.write(model.params.values, await student.backend.read(student.params.values));
  } else {
    history = await trainer.fit(train, { validation, signal: config.signal });
  }
  const after = await evaluate();
  return { model, trainer, history, oldTasks, newTasks, fisherTasks: fisherOf, before, after, continual: report(model, oldTasks, before, after) };
}

/** The new training samples followed by a seeded buffer of the old ones (trainStages' replay with one earlier stage). */
function replayed(train: MultiTaskDataset, previous: MultiTaskDataset, retain: Extract<RetainConfig, { kind: 'replay' }>, old: MultiTaskModel, model: MultiTaskModel): MultiTaskDataset {
  const buffer = new ReplayBuffer(retain.size, retain.seed ?? 0);
  buffer.add(previous, old.tasks);
  return withReplay(train, buffer, model.tasks);
}

/** R (before, after) over the tasks with an accuracy on both rows' evaluation sets, and its metrics. */
function report(model: MultiTaskModel, oldTasks: readonly string[], before: Record<string, TaskMetrics>, after: Record<string, TaskMetrics>): ExtensionReport | null {
  const tasks = model.tasks.filter((t) => t.metrics.includes('accuracy') && before[t.name]?.accuracy !== undefined && after[t.name]?.accuracy !== undefined).map((t) => t.name);
  const introduced = tasks.map((t) => (oldTasks.includes(t) ? 0 : 1));
  if (!introduced.includes(0) || !introduced.includes(1)) return null;
  const accuracy = [before, after].map((m) => tasks.map((t) => m[t].accuracy!));
  const metrics = continualMetrics(accuracy, { introduced });
  return { tasks, introduced, accuracy, metrics, table: formatContinualTable(accuracy, metrics, tasks) };
}

/** `hydranet extend --help`. */
export const EXTEND_HELP = `Usage: hydranet extend --model RUN --config newtask.json [--retain SPEC] [--out DIR] [options]

Adds the tasks of a run file to a network trained with \`hydranet train --config\` and trains
them, into a NEW run folder: the trained run is only read, never written. Every parameter of the
trained model is kept bit for bit at the start; the new tasks get new heads. Prints the old
tasks' metrics before and after, and the new tasks'; the run folder gets config.json,
metrics.json (the epochs), checkpoints of the grown model (with the combined preprocessing, for
\`hydranet predict\` and \`hydranet evaluate\`) and continual.json (the metrics before and after,
and the continual report: R, ACC, BWT, forgetting).

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
                          replay:size=N[,seed=S]
                                                N seeded samples of data.previous.train (with
                                                their labels) mixed into the new rows
                          ewc:lambda=X[,fisher=V,samples=N,seed=S]
                                                elastic weight consolidation: the Fisher of the
                                                old tasks at the trained parameters, on
                                                data.previous.train when given, else on the new
                                                rows' inputs (V exact, the default, or sampled:
                                                labels from the model's predictions; empirical
                                                and batched need data.previous.train)
                          online-ewc:lambda=X[,gamma=Y,...]
                                                the same with online EWC's γ (one earlier
                                                stage here: the same penalty as ewc)
                          freeze-trunk          only the parameters after the trunk train (hard
                                                sharing): the old tasks' outputs stay as they were
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
    const data = await loadExtendData(config, file, fittedSchemaOf(old, values.model), seed ?? RUN_DEFAULTS.seed);
    for (const line of data.summary) console.log(line);
    const modelSeed = seed ?? config.model?.seed;
    console.log(`extending ${oldRun} (tasks ${old.tasks.map((t) => t.name).join(', ')}) by ${data.tasks.map((t) => t.name).join(', ')}, retain ${describeRetain(retain)}; backend ${backend.name}`);
    const result = await trainExtension({
      model: old,
      tasks: data.tasks,
      train: data.train,
      validation: data.validation,
      previous: { train: data.previousTrain, validation: data.previousValidation },
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
    if (result.continual) console.log(result.continual.table);
    writeFileAtomic(
      path.join(out, 'continual.json'),
      `${JSON.stringify({ from: oldRun, checkpoint: which, retain, fisherTasks: result.fisherTasks, oldTasks: result.oldTasks, newTasks: result.newTasks, before: units(result.before), after: units(result.after), continual: result.continual && { tasks: result.continual.tasks, introduced: result.continual.introduced, accuracy: result.continual.accuracy, metrics: result.continual.metrics } }, (_, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`,
    );
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
  return r.kind;
}

