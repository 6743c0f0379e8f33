/**
 * `hydranet train --config run.json`: a run described by one JSON file whose sections reuse the
 * library's names. `data` (train, validation?, validationSplit?, seed?, format?, delimiter?),
 * `inputs` and `missing` (the SchemaSpec's), `tasks` (a TaskColumnSpec plus the TaskSpec keys
 * that do not come from the data: loss, metrics, auxiliary, weight), `model` (ModelConfig minus
 * inputShape and tasks, which come from the data) and `training` (TrainerConfig minus runDir,
 * log and callbacks, which the command sets). Unknown keys are ConfigErrors naming their key
 * path and the file; the library checks the values of the sections it takes. Relative data
 * paths are relative to the config file's folder.
 */
import * as path from 'node:path';
import { UsageError, int, num, optimizerFlags, parseWeights, readJsonFile } from './cli-args.js';
import { checkKeys } from './core/options.js';
import { Rng } from './core/random.js';
import { type Table, pickRows, tableColumn } from './data/csv.js';
import type { MultiTaskDataset } from './data/dataset.js';
import {
  type FittedSchema,
  type InputColumnsSpec,
  type SchemaReport,
  type TaskColumnSpec,
  applySchema,
  embeddingFields,
  fitSchema,
  imageAloneMessage,
  readTable,
} from './data/schema.js';
import { ConfigError, DatasetError, ShapeError, ValueError, describe } from './errors.js';
import type { ModelConfig } from './mtl/model.js';
import { parseSharingSpec } from './mtl/sharing/index.js';
import type { Task, TaskSpec } from './mtl/task.js';
import type { OptimizerConfig } from './train/optimizer.js';
import { type EpochRecord, type TrainerConfig, selectionScore } from './train/trainer.js';
import { selectEpoch } from './train/compare.js';

/** The `data` section: where the rows are. */
export interface RunDataConfig {
  /** The training file (.csv, .tsv/.tab, .jsonl/.ndjson), relative to the config file. */
  train: string;
  /** A validation file read with the same schema; without it, `validationSplit` may carve one out. */
  validation?: string;
  /** Without `validation`: this fraction (in (0, 1)) of the training rows, chosen by a seeded shuffle, is held out. */
  validationSplit?: number;
  /** Seed of the validation split (default: the run's seed, 1 unless --seed). */
  seed?: number;
  /** The files' format when their extension does not say it. */
  format?: 'csv' | 'tsv' | 'jsonl';
  /** CSV/TSV field delimiter. */
  delimiter?: string;
  /**
   * `hydranet extend` only: the trained run's own data (its old tasks' label columns), read
   * through the old fitted schema: `train` for replay and the EWC Fisher, `validation` where the
   * old tasks are evaluated before and after.
   */
  previous?: { train?: string; validation?: string };
}

/** A task of a run: where its labels are (TaskColumnSpec) and how it trains (the TaskSpec keys the data does not give). */
export type RunTaskSpec = TaskColumnSpec & Pick<TaskSpec, 'loss' | 'metrics' | 'auxiliary' | 'weight'>;

/** A run file, as `hydranet train --config` reads it. */
export interface RunConfig {
  /** Where the rows are. */
  data: RunDataConfig;
  /** Input columns (SchemaSpec.inputs); omitted = every non-label column, typed from the data. */
  inputs?: InputColumnsSpec;
  /** Cell texts meaning missing (SchemaSpec.missing). */
  missing?: string[];
  /** The tasks, at least one. */
  tasks: RunTaskSpec[];
  /** The network: ModelConfig without inputShape and tasks (maxBatch defaults to the batch size). */
  model?: Partial<Omit<ModelConfig, 'inputShape' | 'tasks'>>;
  /** The Trainer's options (default epochs 10, batchSize 256, optimizer adamw with lr 0.001). */
  training?: Partial<Omit<TrainerConfig, 'runDir' | 'log' | 'callbacks'>>;
}

const TOP_KEYS = ['data', 'inputs', 'missing', 'tasks', 'model', 'training'];
const DATA_KEYS = ['train', 'validation', 'validationSplit', 'seed', 'format', 'delimiter'];
/** `hydranet extend`: the inputs and the network come from the trained run. */
const EXTEND_TOP_KEYS = ['data', 'tasks', 'model', 'training'];
const EXTEND_MODEL_KEYS = ['seed', 'maxBatch'];
const SCHEMA_TASK_KEYS = ['name', 'kind', 'column', 'columns', 'separator', 'positive', 'standardize'] as const;
const TRAIN_TASK_KEYS = ['loss', 'metrics', 'auxiliary', 'weight'] as const;
const MODEL_KEYS = ['trunk', 'heads', 'sharing', 'maxBatch', 'seed'];
const TRAINING_KEYS = [
  'optimizer', 'batchSize', 'epochs', 'seed', 'weights', 'weighting', 'auxiliaryStopping', 'progress', 'lossCheckEvery',
  'lrSchedule', 'clipGradNorm', 'earlyStopping',
];

/** Defaults of the training section. */
export const RUN_DEFAULTS = { epochs: 10, batchSize: 256, optimizer: { kind: 'adamw', lr: 1e-3 } as OptimizerConfig, seed: 1 };

/**
 * Reads and checks a run file's structure: every key known (ConfigError naming its key path,
 * e.g. `training.lrSchedule` or `tasks[1]`, and the file), `data.train` given, a validation
 * file or a split but not both. The values the library takes are checked when the model and the
 * Trainer are made. A missing or unparsable file is a ConfigError naming it, and for a JSON
 * syntax error `run.json:LINE:COLUMN: not valid JSON: ...` (readJsonFile).
 *
 * `purpose` 'extend' reads a `hydranet extend` run file: no `inputs` or `missing` (the trained
 * run's fitted schema decides the inputs), `model` limited to `seed` (of the new parameters)
 * and `maxBatch`, and `data.previous` ({ train?, validation? }: the trained run's data) allowed.
 */
export function readRunConfig(file: string, purpose: 'train' | 'extend' = 'train'): RunConfig {
  const parsed = readJsonFile(file, 'config file');
  const at = (keyPath: string): string => `${keyPath} of ${file}`;
  const extend = purpose === 'extend';
  if (extend && parsed !== null && typeof parsed === 'object' && ('inputs' in parsed || 'missing' in parsed)) {
    throw new ConfigError(`${file}: "inputs" and "missing" come from the trained run (its fitted schema, which the new rows go through), leave them out`);
  }
  const config = checkKeys(parsed, extend ? EXTEND_TOP_KEYS : TOP_KEYS, at('the top level')) as unknown as RunConfig;
  if (config.data === undefined) throw new ConfigError(`${file}: missing section "data" (at least { "train": "train.csv" })`);
  const data = checkKeys(config.data, extend ? [...DATA_KEYS, 'previous'] : DATA_KEYS, at('data')) as unknown as RunDataConfig;
  for (const key of ['train', 'validation'] as const) {
    const v = data[key];
    if ((v !== undefined || key === 'train') && (typeof v !== 'string' || v === '')) {
      throw new ConfigError(`Expected a file path for data.${key} of ${file} but received ${describe(v)}`);
    }
  }
  if (data.previous !== undefined) {
    const previous = checkKeys(data.previous, ['train', 'validation'], at('data.previous')) as NonNullable<RunDataConfig['previous']>;
    for (const key of ['train', 'validation'] as const) {
      const v = previous[key];
      if (v !== undefined && (typeof v !== 'string' || v === '')) throw new ConfigError(`Expected a file path for data.previous.${key} of ${file} but received ${describe(v)}`);
    }
  }
  if (data.validationSplit !== undefined) {
    const s = data.validationSplit;
    if (typeof s !== 'number' || !(s > 0 && s < 1)) throw new ConfigError(`Expected a number in (0, 1) for data.validationSplit of ${file} but received ${describe(s)}`);
    if (data.validation !== undefined) throw new ConfigError(`${file}: data.validation and data.validationSplit exclude each other (a validation file, or a split of the training rows)`);
  }
  if (data.seed !== undefined && !(Number.isInteger(data.seed) && data.seed >= 0)) {
    throw new ConfigError(`Expected a non-negative integer for data.seed of ${file} but received ${describe(data.seed)}`);
  }
  const inputs = config.inputs as Record<string, unknown> | undefined;
  if (inputs !== null && typeof inputs === 'object' && inputs.images !== undefined && (inputs.numeric !== undefined || inputs.categorical !== undefined)) {
    throw new ConfigError(imageAloneMessage(at('inputs')));
  }
  if (!Array.isArray(config.tasks) || config.tasks.length === 0) {
    throw new ConfigError(`Expected a non-empty array for tasks of ${file} but received ${describe(config.tasks)}`);
  }
  config.tasks.forEach((t, i) => {
    const task = t as unknown as Record<string, unknown>;
    if (task !== null && typeof task === 'object' && ('classes' in task || 'outputs' in task)) {
      throw new ConfigError(`tasks[${i}] of ${file}: "classes" and "outputs" come from the data (the label vocabulary), leave them out`);
    }
    checkKeys(t, [...SCHEMA_TASK_KEYS, ...TRAIN_TASK_KEYS], at(`tasks[${i}]`));
  });
  if (config.model !== undefined) {
    const model = config.model as Record<string, unknown>;
    if (model !== null && typeof model === 'object' && ('inputShape' in model || 'tasks' in model)) {
      throw new ConfigError(`model of ${file}: "inputShape" and "tasks" come from the data and the "tasks" section, leave them out`);
    }
    checkKeys(config.model, extend ? EXTEND_MODEL_KEYS : MODEL_KEYS, extend ? `${at('model')} (the network is the trained run's; a run file for hydranet extend sets only the new parameters' seed and maxBatch)` : at('model'));
  }
  if (config.training !== undefined) checkKeys(config.training, TRAINING_KEYS, at('training'));
  return config;
}

/**
 * Splits a table's rows: `fraction` of them (rounded, at least 1, at most all but 1), chosen by a
 * Fisher–Yates shuffle seeded with `seed`, become the validation rows; both parts keep file order.
 */
export function splitTable(table: Table, fraction: number, seed: number): { train: Table; validation: Table } {
  const n = table.lines.length;
  const held = Math.round(n * fraction);
  if (held < 1 || held > n - 1) {
    throw new ConfigError(`data.validationSplit ${fraction} of ${n} rows of ${table.source} leaves ${held < 1 ? 'no validation' : 'no training'} rows`);
  }
  const order = Array.from({ length: n }, (_, i) => i);
  const rng = new Rng(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  // pickRows keeps the numbers the reader parsed for the rows it keeps.
  const pick = (indices: number[]): Table => pickRows(table, indices.sort((a, b) => a - b));
  return { validation: pick(order.slice(0, held)), train: pick(order.slice(held)) };
}

/** The data of a run: the fitted schema, the datasets and what reading them did. */
export interface RunData {
  /** The preprocessing fitted on the training rows (stored as model.preprocessing). */
  fitted: FittedSchema;
  /** The training set. */
  train: MultiTaskDataset;
  /** The validation set, from data.validation or data.validationSplit. */
  validation?: MultiTaskDataset;
  /** One line per file read: rows read, kept, dropped. */
  summary: string[];
}

/** A run's tables as read: the training rows, the validation rows (a file or a split), and how to name each in a summary. */
interface RunTables {
  /** The training rows. */
  train: Table;
  /** The validation rows: data.validation's, or the split's. */
  validation?: Table;
  /** The training rows' name in a summary. */
  trainSource: string;
  /** The validation rows' name in a summary. */
  validationSource?: string;
}

/** Reads data.train and data.validation (paths relative to the config file's folder), splitting off the validation rows when asked (seed: data.seed, else `seed`). */
async function readRunTables(config: RunConfig, file: string, seed: number): Promise<RunTables> {
  const dir = path.dirname(path.resolve(file));
  const { data } = config;
  const options = { format: data.format, delimiter: data.delimiter };
  let train = await readTable(path.resolve(dir, data.train), options);
  let validation = data.validation === undefined ? undefined : await readTable(path.resolve(dir, data.validation), options);
  if (data.validationSplit === undefined) return { train, validation, trainSource: train.source, validationSource: validation?.source };
  ({ train, validation } = splitTable(train, data.validationSplit, data.seed ?? seed));
  return {
    train,
    validation,
    trainSource: `${train.source} (training part)`,
    validationSource: `${validation.source} (validation split ${data.validationSplit}, seed ${data.seed ?? seed})`,
  };
}

/**
 * Reads the run's files (paths relative to the config file's folder), splits off the validation
 * rows when asked (seed: data.seed, else `seed`), fits the schema on the training rows only and
 * applies it to both parts. Errors of the schema spec name the run file.
 */
export async function loadRunData(config: RunConfig, file: string, seed: number): Promise<RunData> {
  const tables = await readRunTables(config, file, seed);
  const tasks = config.tasks.map((t) => pickKeys(t, SCHEMA_TASK_KEYS) as unknown as TaskColumnSpec);
  const fitted = inSection(file, 'inputs/tasks', () => fitSchema(tables.train, { inputs: config.inputs, tasks, missing: config.missing }));
  checkDecimalCommas(config, tables.train, fitted);
  const trainPart = applySchema(fitted, tables.train);
  const summary = [describeRows(tables.trainSource, trainPart.report), ...dataWarnings(tables.train, fitted, trainPart.report, trainPart.dataset)];
  let validationSet: MultiTaskDataset | undefined;
  if (tables.validation) {
    const part = applySchema(fitted, tables.validation);
    validationSet = part.dataset;
    summary.push(describeRows(tables.validationSource!, part.report));
  }
  return { fitted, train: trainPart.dataset, validation: validationSet, summary };
}

/** The data of a `hydranet extend` run: the new rows through the trained run's schema, and the trained run's own rows when given. */
export interface ExtendData {
  /**
   * The grown model's preprocessing: the trained run's fitted schema (its inputs as fitted
   * then, its tasks) with the new tasks appended, fitted on the new training rows.
   */
  fitted: FittedSchema;
  /** The new tasks' specs for MultiTaskModel.extend (sizes from the new labels). */
  tasks: TaskSpec[];
  /** The new training rows, labelled for the new tasks only (rows without a new label are dropped). */
  train: MultiTaskDataset;
  /**
   * The new validation rows (data.validation or data.validationSplit), labelled for every task:
   * the new tasks' columns and, where the file has them, the old tasks' (absent columns mask
   * their task).
   */
  validation?: MultiTaskDataset;
  /** data.previous.train through the old schema: the old tasks' training rows. */
  previousTrain?: MultiTaskDataset;
  /** data.previous.validation through the old schema. */
  previousValidation?: MultiTaskDataset;
  /** One line per file read. */
  summary: string[];
}

/**
 * The data of a `hydranet extend` run file (read with readRunConfig(file, 'extend')) for a
 * model trained with the fitted schema `old`. The new rows' inputs go through `old` as it was
 * fitted (its means, deviations and vocabularies; a category it never saw takes the unseen slot;
 * columns it does not know are ignored). The new tasks' label columns are fitted on the new
 * training rows alone (vocabularies, `positive`, `standardize`) and appended to `old`'s tasks;
 * a new task named as an old one, or a label column that is an input of the trained run, is a
 * ConfigError. In training the new rows are labelled for the new tasks only; old label columns
 * they carry are read in validation only, where they evaluate the old tasks.
 */
export async function loadExtendData(config: RunConfig, file: string, old: FittedSchema, seed: number): Promise<ExtendData> {
  const taken = new Set(old.tasks.map((t) => t.name));
  config.tasks.forEach((t, i) => {
    if (taken.has(t.name)) throw new ConfigError(`tasks[${i}] of ${file}: the trained run already has a task ${JSON.stringify(t.name)} (its tasks: ${[...taken].join(', ')}); a new task needs a new name`);
  });
  const tables = await readRunTables(config, file, seed);
  const specs = config.tasks.map((t) => pickKeys(t, SCHEMA_TASK_KEYS) as unknown as TaskColumnSpec);
  // Only the new tasks are fitted; the old inputs are named (as categorical: nothing numeric is parsed) so that a label column among them is refused.
  const inputs = { categorical: old.inputs.map((c) => c.column) };
  const newTasks = inSection(file, 'tasks', () => fitSchema(tables.train, { inputs, tasks: specs, missing: old.missing }).tasks);
  const fitted: FittedSchema = { ...old, tasks: [...old.tasks, ...newTasks] };
  const trainPart = applySchema({ ...old, tasks: newTasks }, tables.train);
  const summary = [describeRows(tables.trainSource, trainPart.report)];
  let validation: MultiTaskDataset | undefined;
  if (tables.validation) {
    const part = applySchema(fitted, tables.validation, { labels: 'optional' });
    validation = part.dataset;
    summary.push(describeRows(tables.validationSource!, part.report));
  }
  const dir = path.dirname(path.resolve(file));
  const readPrevious = async (key: 'train' | 'validation'): Promise<MultiTaskDataset | undefined> => {
    const name = config.data.previous?.[key];
    if (name === undefined) return undefined;
    const table = await readTable(path.resolve(dir, name), { format: config.data.format, delimiter: config.data.delimiter });
    const part = applySchema(old, table);
    summary.push(`${describeRows(table.source, part.report)} (the trained run's tasks)`);
    return part.dataset;
  };
  const previousTrain = await readPrevious('train');
  const previousValidation = await readPrevious('validation');
  return { fitted, tasks: modelTasks(config, { ...old, tasks: newTasks }), train: trainPart.dataset, validation, previousTrain, previousValidation, summary };
}

/** A number written with a decimal comma ("5,1", "-0,25", "1.234,5"), as European spreadsheets export them. */
const DECIMAL_COMMA = /^[+-]?(\d+|\d{1,3}(\.\d{3})+),\d+$/;

/**
 * Refuses input columns the schema took as categorical, from the data alone (not named in
 * inputs.categorical or inputs.encoding), whose every training value is a number written with a
 * decimal comma (or an integer): a European CSV read as it is would train them one-hot or as
 * embeddings of their texts, silently. DatasetError naming the file, the line of the first such
 * value and the column, and what to do.
 */
export function checkDecimalCommas(config: RunConfig, table: Table, fitted: FittedSchema): void {
  const named = new Set([...(config.inputs?.categorical ?? []), ...Object.keys(config.inputs?.encoding ?? {})]);
  for (const input of fitted.inputs) {
    if (input.kind !== 'categorical' || named.has(input.column)) continue;
    const values = input.vocabulary;
    if (!values.some((v) => DECIMAL_COMMA.test(v)) || !values.every((v) => DECIMAL_COMMA.test(v) || /^[+-]?\d+$/.test(v))) continue;
    const cells = tableColumn(table, input.column);
    const row = cells.findIndex((c) => typeof c === 'string' && DECIMAL_COMMA.test(c.trim()));
    throw new DatasetError(
      `${table.source}:${table.lines[row]}: column ${JSON.stringify(input.column)}: ${JSON.stringify(cells[row])} looks like a number with a decimal comma, as are all ` +
        `${values.length} values of the column; hydranet reads numbers with a decimal point only, and would take the column as categorical. ` +
        'Write the file with "." as the decimal separator (pandas: to_csv(decimal="."); LibreOffice: save as CSV with the language English), ' +
        'or name the column in inputs.categorical if its values are names',
    );
  }
}

/**
 * Warnings about training rows that read without error but are likely not what the user meant
 * (lines starting "warning: "): column names that are numbers (a first line of data taken for
 * the header, as in scikit-learn's iris.csv), an input column with no value in any training row
 * (it carries nothing), a binary task whose training labels are all one value (nothing to learn;
 * its AUC is undefined).
 */
export function dataWarnings(table: Table, fitted: FittedSchema, report: SchemaReport, dataset: MultiTaskDataset): string[] {
  const warnings: string[] = [];
  const numeric = table.columns.filter((c) => c.trim() !== '' && Number.isFinite(Number(c)));
  // pandas writes an unnamed frame's columns as 0, 1, 2, ...: consecutive integers are names.
  const consecutive = numeric.every((c, i) => Number(c) === Number(numeric[0]) + i && Number.isInteger(Number(c)));
  if (numeric.length > 0 && !consecutive) {
    warnings.push(`warning: ${table.source}: the header (its first line) has column names that are numbers (${numeric.slice(0, 5).join(', ')}${numeric.length > 5 ? ', ...' : ''}); is that line data? The first line must name the columns`);
  }
  for (const input of fitted.inputs) {
    if (input.kind !== 'image' && report.rowsKept > 0 && (report.missingInputs[input.column] ?? 0) >= report.rowsKept) {
      warnings.push(`warning: ${table.source}: input column ${JSON.stringify(input.column)} has no value in any of the ${report.rowsKept} training rows; it carries nothing (leave it out with inputs.exclude)`);
    }
  }
  for (const task of fitted.tasks) {
    if (task.kind !== 'binary') continue;
    const labels = dataset.labels(task.name);
    const mask = dataset.mask(task.name);
    let ones = 0;
    let labelled = 0;
    for (let i = 0; i < labels.length; i++) {
      if (mask !== null && mask[i] === 0) continue;
      labelled++;
      if (labels[i] >= 0.5) ones++;
    }
    if (labelled > 0 && (ones === 0 || ones === labelled)) {
      warnings.push(`warning: ${table.source}: every training label of the binary task ${JSON.stringify(task.name)} is ${ones === 0 ? 0 : 1}${task.positive !== undefined ? ` (positive: ${JSON.stringify(task.positive)})` : ''}; it has nothing to learn and its AUC is undefined`);
    }
  }
  return warnings;
}

/**
 * The epoch whose parameters a run folder's best.safetensors holds: the first of `history` with
 * the highest selection score over the main tasks of `tasks` (the Trainer's rule); undefined when
 * no epoch scores (an empty history, or NaN scores only).
 */
export function bestRecord(history: readonly EpochRecord[], tasks: readonly Task[]): EpochRecord | undefined {
  if (history.length === 0) return undefined;
  const main = tasks.filter((t) => !t.auxiliary);
  // selectEpoch falls back to the first epoch when none scores above -Infinity: none is best then.
  const best = history[selectEpoch(history, main, 'best')];
  return selectionScore(best, main) > -Infinity ? best : undefined;
}

/** "file: N rows read, K kept, D dropped (reason)" for a schema report. */
export function describeRows(source: string, report: SchemaReport): string {
  const dropped = report.dropped.map((d) => `${d.count} dropped (${d.reason}, lines ${d.lines.join(', ')}${d.count > d.lines.length ? ', ...' : ''})`);
  const counts = (what: string, r: Record<string, number>): string[] => {
    const parts = Object.entries(r).filter(([, c]) => c > 0).map(([k, c]) => `${k} ${c}`);
    return parts.length > 0 ? [`${what}: ${parts.join(', ')}`] : [];
  };
  const details = [...counts('missing inputs', report.missingInputs), ...counts('unseen categories', report.unseen), ...counts('masked labels', report.masked)];
  return `${source}: ${report.rowsRead} rows read, ${report.rowsKept} kept${dropped.length > 0 ? `, ${dropped.join(', ')}` : ', 0 dropped'}${details.length > 0 ? `; ${details.join('; ')}` : ''}`;
}

/** The model's tasks: the run's task keys plus the sizes the fitted schema gives. */
export function modelTasks(config: RunConfig, fitted: FittedSchema): TaskSpec[] {
  return config.tasks.map((t, i) => {
    const f = fitted.tasks[i];
    const size = f.kind === 'classification' || f.kind === 'multi-label' ? { classes: f.kind === 'classification' ? f.vocabulary!.length : f.width } : f.kind === 'regression' ? { outputs: f.width } : {};
    return { name: t.name, kind: t.kind, ...size, ...(pickKeys(t, TRAIN_TASK_KEYS) as Partial<TaskSpec>) };
  });
}

/**
 * Runs `build` (a model or Trainer constructor, the schema fit), turning the library's
 * configuration errors into ConfigErrors that name the run file and the section.
 */
export function inSection<T>(file: string, section: string, build: () => T): T {
  try {
    return build();
  } catch (e) {
    if ((e instanceof ConfigError || e instanceof ValueError || e instanceof ShapeError)) {
      throw new ConfigError(`${file}, ${section}: ${e.message}`);
    }
    throw e;
  }
}

function pickKeys(obj: object, keys: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of keys) if ((obj as Record<string, unknown>)[k] !== undefined) out[k] = (obj as Record<string, unknown>)[k];
  return out;
}

/** The `hydranet train` flags a run file's values yield to (strings as parsed). */
export interface RunFlags {
  /** --epochs. */
  epochs?: string;
  /** --batch-size. */
  'batch-size'?: string;
  /** --seed: the model's, the training's and the split's. */
  seed?: string;
  /** --optimizer: another kind replaces the file's optimizer. */
  optimizer?: string;
  /** --lr. */
  lr?: string;
  /** --momentum. */
  momentum?: string;
  /** --weight-decay. */
  'weight-decay'?: string;
  /** --weights. */
  weights?: string;
  /** --weighting. */
  weighting?: string;
  /** --sharing. */
  sharing?: string;
  /** --no-progress gives false. */
  progress?: boolean;
  /** Preset flags, refused with --config. */
  preset?: string;
  /** Preset flag, refused with --config. */
  hidden?: string;
  /** Preset flag, refused with --config. */
  'head-hidden'?: string;
  /** Preset flag, refused with --config. */
  'train-size'?: string;
  /** Preset flag, refused with --config. */
  'test-size'?: string;
}

/** A run ready to build: its data, and the model and Trainer configurations (flags applied). */
export interface ConfigRun {
  /** The data read and preprocessed. */
  data: RunData;
  /** The model configuration: the file's model section, the data's input width and tasks. */
  model: ModelConfig;
  /** The Trainer configuration, runDir aside. */
  trainer: TrainerConfig;
}

/** The trunk when the run file's model section has none: one dense ReLU layer of 64 units. */
export const DEFAULT_TRUNK = [{ type: 'dense', units: 64, activation: 'relu' }] as const;

/**
 * Reads the run file, applies the flags over it (flags win), then reads and preprocesses the
 * data. Flags are checked before any data is read; so is the file's structure.
 */
export async function prepareConfigRun(file: string, flags: RunFlags): Promise<ConfigRun> {
  for (const f of ['preset', 'hidden', 'head-hidden', 'train-size', 'test-size'] as const) {
    if (flags[f] !== undefined) throw new UsageError(`--${f} applies to the MultiMNIST presets, not to --config runs (set the model section of ${file} instead)`);
  }
  const config = readRunConfig(file);
  const modelSection = config.model ?? {};
  const { trainer, seed } = trainerConfigOf(config, flags);
  const sharing = flags.sharing === undefined ? modelSection.sharing : parseSharingSpec(flags.sharing);
  const data = await loadRunData(config, file, seed ?? RUN_DEFAULTS.seed);
  const model: ModelConfig = {
    inputShape: data.fitted.inputShape ?? [data.fitted.featureNames.length],
    trunk: modelSection.trunk ?? DEFAULT_TRUNK,
    ...(modelSection.heads !== undefined && { heads: modelSection.heads }),
    ...(sharing !== undefined && { sharing }),
    tasks: modelTasks(config, data.fitted),
    maxBatch: modelSection.maxBatch ?? trainer.batchSize,
    seed: seed ?? modelSection.seed ?? RUN_DEFAULTS.seed,
  };
  // Categorical columns encoded as embeddings (inputs.encoding, or the default rule) need their tables.
  const embedding = embeddingFields(data.fitted);
  if (embedding) model.embedding = embedding;
  return { data, model, trainer };
}

/**
 * The Trainer configuration of a run file's `training` section with the flags over it (flags
 * win; RUN_DEFAULTS fill the rest), and the --seed flag when given (it seeds the model and the
 * validation split too). Flags are checked here, before any data is read.
 */
export function trainerConfigOf(config: RunConfig, flags: RunFlags): { trainer: TrainerConfig; seed: number | undefined } {
  const training = config.training ?? {};
  const seed = flags.seed === undefined ? undefined : int('seed', flags.seed, 1, 0);
  const batchSize = int('batch-size', flags['batch-size'], training.batchSize ?? RUN_DEFAULTS.batchSize);
  const weights = parseWeights(flags.weights) ?? training.weights;
  const trainer: TrainerConfig = {
    ...training,
    optimizer: optimizerOverride(training.optimizer ?? RUN_DEFAULTS.optimizer, flags),
    epochs: int('epochs', flags.epochs, training.epochs ?? RUN_DEFAULTS.epochs),
    batchSize,
    seed: seed ?? training.seed ?? RUN_DEFAULTS.seed,
    ...(weights !== undefined && { weights }),
    ...(flags.weighting !== undefined && { weighting: flags.weighting }),
    ...(flags.progress === false && { progress: false }),
  };
  return { trainer, seed };
}

/** The file's optimizer with the optimizer flags over it; --optimizer of another kind starts from that kind's CLI defaults. */
function optimizerOverride(base: OptimizerConfig, flags: RunFlags): OptimizerConfig {
  const kind = (base as { kind?: unknown } | null)?.kind;
  if (flags.optimizer !== undefined && flags.optimizer !== kind) return optimizerFlags(flags);
  if (flags.momentum !== undefined && kind !== 'sgd') throw new UsageError('--momentum applies to --optimizer sgd only (adamw has its own moments)');
  return {
    ...base,
    ...(flags.lr !== undefined && { lr: num('lr', flags.lr, 0, 'positive') }),
    ...(flags.momentum !== undefined && { momentum: num('momentum', flags.momentum, 0, 'fraction') }),
    ...(flags['weight-decay'] !== undefined && { weightDecay: num('weight-decay', flags['weight-decay'], 0) }),
  } as OptimizerConfig;
}
