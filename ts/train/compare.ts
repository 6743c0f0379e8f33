/**
 * Comparing weighting strategies the way the MTL literature reports them: one single-task
 * baseline per main task (the same trunk and head, trained on that task alone with the same
 * data and budget), then each multi-task configuration, and for each its relative change
 * over the baselines, Δm (LibMTL's `count_improvement`):
 *
 *   Δm = (1/T) Σ_t (1/M_t) Σ_m (−1)^{w_{t,m}} (B_{t,m} − N_{t,m}) / B_{t,m} × 100 %,
 *
 * B the baseline, N the multi-task result, w_{t,m} = 1 where higher is better, so a positive
 * Δm means the multi-task network beats its single-task baselines on average.
 *
 * Model selection, the same for baselines and multi-task runs: by default the epoch with the
 * best validation score, the score being the mean over the main tasks (those with validation
 * labels) of each task's headline metric (its first metric, negated where lower is better;
 * `selectionScore`, the rule the Trainer uses for best.safetensors); ties go to the earlier epoch. `selection: 'last'` takes every run's last
 * epoch instead. The metrics reported (and Δm) are the selected epoch's validation metrics.
 * Selecting on the set that is also reported (as the MultiMNIST papers do with its test
 * split) is optimistic for every row alike.
 *
 * The fair protocol (with `test`, `search` or `seeds`; see {@link CompareOptions.search}): for
 * each row (every single-task baseline and every configuration) a search over the named
 * training and strategy options, each setting trained once (first seed) and scored on a
 * validation split carved from the training data (never the test set) by its selected
 * epoch's validation score; the best setting (ties: the first in grid order) is then
 * retrained with every seed and reported on the test set at each run's selected epoch (chosen
 * on the validation split too), as mean ± sample standard deviation over the seeds. Each
 * seed's Δm is taken over the mean of the baselines' test metrics, and reported as mean ± sd.
 * The test set is read only after every row's search is done. With `outDir` every finished
 * run is recorded there, so an interrupted comparison continues where it stopped.
 * `selectSeeds` K trains each searched setting with the first K seeds and selects on the mean
 * of their scores; `jobs` N trains up to N runs at once in child processes
 * (ts/train/compare-jobs.ts). Neither enters a run's record key: a run is the same run, and
 * the same record, whichever of them trained it.
 */
import type { Backend } from '../backends/backend.js';
import { Rng } from '../core/random.js';
import type { MultiTaskDataset } from '../data/dataset.js';
import { ConfigError, TrainingAbortedError, ValueError, describe, expectInt } from '../errors.js';
import { type ModelConfig, MultiTaskModel } from '../mtl/model.js';
import { HIGHER_IS_BETTER, type Task, resolveTask } from '../mtl/task.js';
import { type SharingConfig, resolveSharing } from '../mtl/sharing/index.js';
import { createWeighting, parseWeightingSpec } from '../mtl/weighting/index.js';
import type { OptimizerConfig } from './optimizer.js';
import { RunPool, checkJobs, childThreads } from './compare-jobs.js';
import {
  RunStore,
  type SearchSetting,
  type SearchSpace,
  applySetting,
  carveValidation,
  checkSearchSpace,
  datasetFingerprint,
  formatSetting,
  searchGrid,
} from './search.js';
import { type EpochRecord, Trainer, type TrainerConfig, selectionScore } from './trainer.js';

/** Metric values by task, then by metric name: { left: { accuracy: 0.93 } }. */
export type MetricTable = Record<string, Record<string, number>>;

/** How each run's reported epoch is chosen. */
export type Selection = 'best' | 'last';
/** Every {@link Selection}. */
export const SELECTIONS: readonly Selection[] = ['best', 'last'];

/** Whether a larger value of `metric` is better; throws on a metric it does not know. */
export function defaultHigherIsBetter(metric: string): boolean {
  const v = (HIGHER_IS_BETTER as Record<string, boolean | undefined>)[metric];
  if (v === undefined) throw new ConfigError(`Unknown metric ${JSON.stringify(metric)}: cannot tell whether higher is better`);
  return v;
}

/**
 * Δm of `result` over `baseline`, in percent. The tasks and metrics counted are the
 * baseline's (baselines exist only for main tasks, so auxiliary tasks that `result` carries
 * are left out); every one of them must be in `result`.
 * @throws ValueError when a metric is missing or not finite, or a baseline value is 0.
 */
export function deltaM(
  baseline: MetricTable,
  result: MetricTable,
  higherIsBetter: (metric: string) => boolean = defaultHigherIsBetter,
): number {
  const tasks = Object.keys(baseline ?? {});
  if (tasks.length === 0) throw new ValueError('deltaM: the baseline has no tasks');
  let sum = 0;
  for (const task of tasks) {
    const metrics = Object.keys(baseline[task] ?? {});
    if (metrics.length === 0) throw new ValueError(`deltaM: the baseline of task ${task} has no metrics`);
    let taskSum = 0;
    for (const m of metrics) {
      const b = baseline[task][m];
      const n = result?.[task]?.[m];
      if (typeof b !== 'number' || !Number.isFinite(b)) {
        throw new ValueError(`deltaM: baseline ${task}.${m} must be a finite number, got ${describe(b)}`);
      }
      if (b === 0) throw new ValueError(`deltaM: baseline ${task}.${m} is 0; a relative change over it is undefined`);
      if (n === undefined) {
        throw new ValueError(`deltaM: the result has no ${task}.${m} (it has ${task in (result ?? {}) ? Object.keys(result[task]).join(', ') || 'no metrics' : 'no such task'})`);
      }
      if (typeof n !== 'number' || !Number.isFinite(n)) {
        throw new ValueError(`deltaM: result ${task}.${m} must be a finite number, got ${describe(n)}`);
      }
      const sign = higherIsBetter(m) ? -1 : 1; // (−1)^w
      taskSum += (sign * (b - n)) / b;
    }
    sum += taskSum / metrics.length;
  }
  return (sum / tasks.length) * 100;
}

/**
 * One multi-task configuration to compare: a label, a weighting spec ("cagrad:c=0.4") and
 * optionally a sharing architecture (default: the model config's own).
 */
export interface CompareConfiguration {
  /** Names the run in the table and the log; non-empty and unique. */
  label: string;
  /** A weighting spec string: a strategy name, optionally with options ("pcgrad", "cagrad:c=0.4"). */
  weighting: string;
  /** The sharing this run's model is built with, in place of the model config's (the baselines keep the model config's). */
  sharing?: SharingConfig;
}

/**
 * The trainer settings every run shares: the Trainer's options except those the comparison
 * sets per run (weighting) or owns (log, runDir, callbacks). The optional ones (a learning-rate
 * schedule, clipping, early stopping, base weights, ...) apply to the baselines and every run alike.
 */
export interface CompareTrainerSettings extends Omit<TrainerConfig, 'weighting' | 'log' | 'runDir' | 'callbacks' | 'optimizer' | 'batchSize' | 'epochs'> {
  /** The optimizer every run trains with. */
  optimizer: OptimizerConfig;
  /** Samples per step (≤ the model's maxBatch). */
  batchSize: number;
  /** Epochs each run trains. */
  epochs: number;
}

/** What {@link compare} trains and how. */
export interface CompareOptions {
  /** The backend every run trains on, one run after another (the fair protocol with `jobs` > 1: the kind of backend each child process creates). */
  backend: Backend;
  /** The training set, shared by every run. */
  train: MultiTaskDataset;
  /**
   * The set each run's epochs are selected and reported on; with the fair protocol (`test`,
   * `search` or `seeds`), the set settings and epochs are selected on, and reporting is on
   * `test`: then it may be left out, and `validationFraction` of `train` is carved out for it.
   */
  validation?: MultiTaskDataset;
  /**
   * The fair protocol's test set: every row is reported on it at its selected setting and
   * epoch, mean ± sd over `seeds`. Required with `search` or `seeds`; read only after every
   * search has finished.
   */
  test?: MultiTaskDataset;
  /**
   * The options searched per row and the values tried (see ts/train/search.ts): training
   * options `lr`, `momentum`, `weightDecay`, `batchSize`, and strategy options as
   * `strategy:option` (`cagrad:c`), which apply only to that strategy's configurations. Each
   * row searches the grid of the keys that apply to it; a row with a single point is not
   * searched. Default: no search (each row trains with the given settings).
   */
  search?: SearchSpace;
  /** At most this many settings per row, drawn from its grid by a shuffle seeded with the first seed (default: the whole grid). */
  searchBudget?: number;
  /**
   * Each searched setting is trained with the first `selectSeeds` of `seeds` and selected on
   * the mean of their validation scores (a setting that diverges on one seed scores NaN and is
   * never selected over one that does not); default 1, the first seed alone. At most the
   * number of seeds. Each search run is the same run (and the same record in `outDir`)
   * whatever `selectSeeds` is: a comparison run with 1 and rerun with 3 trains only the
   * search runs of the other seeds.
   */
  selectSeeds?: number;
  /**
   * Runs trained at once (default 1: one after another on `backend`, in this process). With
   * more, each run goes to one of up to `jobs` child processes with a backend of its own of
   * the same kind (cpu or reference only: a webgpu or cuda backend is one device, refused);
   * the results are the same as with 1 (the cpu backend's with the same thread count: give
   * `threads` equal to `backend`'s for the same bits), the searches still all finish before
   * the test set is first read, and progress counts runs as they finish. See
   * ts/train/compare-jobs.ts.
   */
  jobs?: number;
  /** With `jobs` > 1, the threads of each child's cpu backend (default max(1, ⌊cores / jobs⌋)). */
  threads?: number;
  /**
   * The seeds the selected setting of each row is retrained with: a count k (seeds s, s+1, …,
   * s+k−1 from s = trainer.seed, default 0) or the list. Each seed sets the model's
   * initialisation and the trainer's shuffling and dropout; the search uses the first.
   * Default 1.
   */
  seeds?: number | readonly number[];
  /** Without `validation`: the fraction of `train` held out for it, chosen by a shuffle seeded with the first seed (default 0.1). */
  validationFraction?: number;
  /**
   * A folder where every finished run of the fair protocol is recorded (one JSON file named by
   * a hash of everything that determines the run); a later compare() with the same arguments
   * and folder reuses them instead of training them again, and gives the same result.
   */
  outDir?: string;
  /** Stops the fair protocol: the run in progress is dropped (not recorded), and compare() rejects with TrainingAbortedError. */
  signal?: AbortSignal;
  /** Called after each run of the fair protocol, trained or read from `outDir`. */
  onRun?: (event: CompareRunEvent) => void;
  /** The multi-task model; each baseline keeps its trunk and heads with only one task. */
  model: ModelConfig;
  /** The trainer settings every run shares (same optimizer, batch size, epochs and seed). */
  trainer: CompareTrainerSettings;
  /** The multi-task configurations to compare; checked before anything trains (ConfigError). */
  configurations: readonly CompareConfiguration[];
  /** Which epoch of each run is reported (default 'best'; see the module comment). */
  selection?: Selection;
  /** Baseline metrics from an earlier comparison with the same settings: no baselines are trained. */
  baselines?: MetricTable;
  /** One line per finished run. */
  log?: (line: string) => void;
}

/** One trained run, at its selected epoch. */
export interface RunResult {
  /** The configuration's label, or the task's name for a single-task baseline. */
  label: string;
  /** The weighting spec it trained with ('equal' for the single-task baselines). */
  weighting: string;
  /** Validation metrics of the selected epoch (each task's declared metrics). */
  metrics: MetricTable;
  /** Wall time of the run (model construction, training and validation), seconds. */
  seconds: number;
  /** Epochs trained. */
  epochs: number;
  /** The epoch reported (1-based). */
  epoch: number;
  /** Every epoch's record (training losses, validation metrics, weights). */
  history: EpochRecord[];
}

/** One multi-task configuration's run, with its Δm over the baselines. */
export interface MultiTaskRunResult extends RunResult {
  /** Δm over the baselines at the selected epoch, percent. */
  deltaM: number;
  /** The configuration's sharing, when it gave one. */
  sharing?: SharingConfig;
}

/** What {@link compare} returns; {@link formatComparison} prints it as a table. */
export interface ComparisonResult {
  /** Main task names, in model order. */
  tasks: string[];
  /** The metrics each main task is judged by (its declared metrics; the first is the headline). */
  metrics: Record<string, string[]>;
  /** How each run's reported epoch was chosen. */
  selection: Selection;
  /** Single-task baseline metrics by task. */
  baselines: MetricTable;
  /** The baseline runs by task; empty when the baselines were given. */
  baselineRuns: Record<string, RunResult>;
  /**
   * The multi-task runs, in configuration order. With the fair protocol each holds the mean
   * over the seeds of the test metrics (`metrics`) and of Δm (`deltaM`), the sum of the wall
   * time of its search and seed runs (`seconds`), and the first seed's `epoch` and `history`;
   * `tuning.runs` has the details.
   */
  runs: MultiTaskRunResult[];
  /** The fair protocol's details (search trials, every seed's run, mean ± sd); absent without it. */
  tuning?: TuningResult;
}

/** One run of the fair protocol, as {@link CompareOptions.onRun} sees it. */
export interface CompareRunEvent {
  /** 1-based position among every run of the comparison. */
  index: number;
  /** Runs in the whole comparison. */
  total: number;
  /** 'search': a setting scored on the validation split; 'seed': the selected setting with one seed, reported on the test set. */
  phase: 'search' | 'seed';
  /** The row: "single-task left" or the configuration's label. */
  label: string;
  /** The setting trained. */
  setting: SearchSetting;
  /** The seed trained with. */
  seed: number;
  /** Whether it was read from `outDir` instead of trained. */
  recorded: boolean;
  /** Its wall time when it was trained, seconds. */
  seconds: number;
  /**
   * The estimated wall time left until every run has finished, seconds (from the times of
   * the runs trained so far, or read back, row by row, and `jobs` at a time); absent until a
   * run has been trained or is training and one time is known, and when nothing is left.
   */
  secondsLeft?: number;
}

/** One setting tried by a row's search, scored on the validation split. */
export interface SearchTrial {
  /** The setting. */
  setting: SearchSetting;
  /** The weighting spec it trained with (the configuration's, with the setting's strategy options). */
  weighting: string;
  /**
   * The validation score of its selected epoch (higher is better; see selectionScore); with
   * `selectSeeds` > 1, the mean over its seeds' runs (`seeds`), the score it was selected on.
   */
  score: number;
  /** Validation metrics of the selected epoch. */
  validation: MetricTable;
  /** The epoch selected (1-based). */
  epoch: number;
  /** Epochs trained. */
  epochs: number;
  /** Wall time, seconds (as recorded when it was trained; with `selectSeeds` > 1, the sum over its seeds). */
  seconds: number;
  /** Every epoch's record (with `selectSeeds` > 1: `validation`, `epoch`, `epochs` and `history` are the first seed's). */
  history: EpochRecord[];
  /** With `selectSeeds` > 1: its run with each of the first `selectSeeds` seeds. */
  seeds?: SearchSeedRun[];
}

/** One seed's run of a searched setting (with `selectSeeds` > 1). */
export interface SearchSeedRun extends Omit<SearchTrial, 'setting' | 'weighting' | 'seeds'> {
  /** The seed. */
  seed: number;
}

/** The selected setting of a row trained with one seed, reported on the test set. */
export interface SeedRun extends Omit<SearchTrial, 'setting' | 'weighting'> {
  /** The seed. */
  seed: number;
  /** Test metrics of the selected epoch (the epoch chosen on the validation split). */
  test: MetricTable;
  /** Δm of `test` over the mean of the baselines' test metrics (multi-task rows only). */
  deltaM?: number;
}

/** A mean and a sample standard deviation over seeds (sd NaN with one seed). */
export interface Spread {
  /** The mean. */
  mean: number;
  /** The sample standard deviation (n − 1); NaN for one value. */
  sd: number;
}

/** One row of the fair protocol: its search and its seeds. */
export interface TunedRow {
  /** "single-task left" or the configuration's label. */
  label: string;
  /** The selected weighting spec (the configuration's, with the selected strategy options). */
  weighting: string;
  /** The configuration's sharing, when it gave one. */
  sharing?: SharingConfig;
  /** The setting selected on the validation split (empty when nothing was searched). */
  setting: SearchSetting;
  /** Every setting tried, in grid order (empty when the row's grid has one point). */
  trials: SearchTrial[];
  /** The selected setting's run with each seed. */
  seeds: SeedRun[];
  /** Test metrics: the mean over the seeds. */
  mean: MetricTable;
  /** Test metrics: the sample standard deviation over the seeds (NaN with one seed). */
  sd: MetricTable;
  /** Δm over the seeds (multi-task rows only). */
  deltaM?: Spread;
}

/** The validation split of the fair protocol. */
export interface ValidationSplitInfo {
  /** Its rows. */
  rows: number;
  /** Whether it was carved from the training data (else it was given). */
  carved: boolean;
  /** The fraction of the training data carved, when carved. */
  fraction?: number;
}

/** What the fair protocol adds to a {@link ComparisonResult}. */
export interface TuningResult {
  /** The validation split settings and epochs were selected on. */
  validation: ValidationSplitInfo;
  /** Rows trained on (the training data less a carved validation split). */
  trainRows: number;
  /** Rows of the test set. */
  testRows: number;
  /** The search space. */
  search: SearchSpace;
  /** The search budget per row, when one was given. */
  searchBudget?: number;
  /** Seeds each searched setting was trained with and selected on the mean of, when more than 1. */
  selectSeeds?: number;
  /** The seeds every selected setting was trained with. */
  seeds: number[];
  /** The single-task rows by task. */
  baselines: Record<string, TunedRow>;
  /** The multi-task rows, in configuration order. */
  runs: TunedRow[];
}

/** Index into `history` of the epoch reported under `selection`. */
export function selectEpoch(history: readonly EpochRecord[], main: readonly Task[], selection: Selection): number {
  if (history.length === 0) throw new ValueError('selectEpoch: no epochs');
  if (selection === 'last') return history.length - 1;
  let best = 0;
  let bestScore = -Infinity;
  history.forEach((r, i) => {
    const s = selectionScore(r, main);
    if (s > bestScore) {
      bestScore = s;
      best = i;
    }
  });
  return best;
}

function metricsOf(record: EpochRecord, tasks: readonly Task[]): MetricTable {
  return metricsOfEvaluation(record.validation ?? {}, tasks);
}

/**
 * Checks configurations before anything trains: labels non-empty and unique, every weighting
 * spec known and its options valid for these tasks, every sharing given a valid sharing config.
 * @throws ConfigError naming the configuration.
 */
export function checkConfigurations(tasks: readonly Task[], configurations: readonly CompareConfiguration[], lr = 0.01): void {
  if (!Array.isArray(configurations)) throw new ConfigError(`Expected an array of {label, weighting} configurations but received ${describe(configurations)}`);
  const labels = new Set<string>();
  configurations.forEach((c, i) => {
    if (typeof c?.label !== 'string' || c.label === '') throw new ConfigError(`configurations[${i}].label must be a non-empty string, got ${describe(c?.label)}`);
    if (labels.has(c.label)) throw new ConfigError(`configuration labels must be unique; ${JSON.stringify(c.label)} appears twice`);
    labels.add(c.label);
    if (typeof c.weighting !== 'string') throw new ConfigError(`configurations[${i}].weighting must be a weighting spec string, got ${describe(c.weighting)}`);
    try {
      createWeighting(c.weighting, { tasks, rng: new Rng(0), baseWeights: Float32Array.from(tasks, (t) => t.weight), lr });
    } catch (e) {
      if (e instanceof ConfigError) throw new ConfigError(`configuration ${JSON.stringify(c.label)}: ${e.message}`);
      throw e;
    }
    if (c.sharing !== undefined) {
      try {
        resolveSharing(c.sharing);
      } catch (e) {
        if (e instanceof ConfigError) throw new ConfigError(`configuration ${JSON.stringify(c.label)}: ${e.message}`);
        throw e;
      }
    }
  });
}

/**
 * Sets up each configuration's model and trainer once, untrained, so that a combination the
 * trainer refuses (a gradient-based strategy with a sharing kind that has no shared
 * parameters) fails before anything trains rather than after the rows before it.
 * @throws ConfigError naming the configuration.
 */
function checkTrainable(backend: Backend, model: ModelConfig, trainer: CompareTrainerSettings, configurations: readonly CompareConfiguration[]): void {
  for (const c of configurations) {
    try {
      const net = new MultiTaskModel(backend, c.sharing === undefined ? model : { ...model, sharing: c.sharing });
      new Trainer(net, { ...trainer, progress: false, weighting: c.weighting, log: null, runDir: null });
    } catch (e) {
      if (e instanceof ConfigError) throw new ConfigError(`configuration ${JSON.stringify(c.label)}: ${e.message}`);
      throw e;
    }
  }
}

/**
 * Trains the single-task baselines (unless given) and every configuration, and reports each
 * at its selected epoch with Δm over the baselines. Runs one after another on `backend` (the
 * fair protocol: up to `jobs` at a time, in child processes).
 */
export async function compare(opts: CompareOptions): Promise<ComparisonResult> {
  const { backend, train, validation, model, trainer, configurations } = opts;
  const selection = opts.selection ?? 'best';
  if (!SELECTIONS.includes(selection)) throw new ConfigError(`Expected selection ${SELECTIONS.join(' or ')} but received ${describe(selection)}`);
  if (!Array.isArray(model?.tasks)) throw new ConfigError(`Expected a model config with tasks but received ${describe(model)}`);
  expectInt('trainer.epochs', trainer?.epochs);
  const tasks = model.tasks.map(resolveTask);
  const main = tasks.filter((t) => !t.auxiliary);
  if (main.length === 0) throw new ConfigError('compare needs at least one main (non-auxiliary) task');
  checkConfigurations(tasks, configurations, trainer.optimizer?.lr);
  checkTrainable(backend, model, trainer, configurations);
  if (opts.test !== undefined || opts.search !== undefined || opts.seeds !== undefined) return tunedCompare(opts, tasks, main, selection);
  for (const k of ['validationFraction', 'searchBudget', 'selectSeeds', 'jobs', 'threads', 'outDir', 'signal', 'onRun'] as const) {
    if (opts[k] !== undefined) throw new ConfigError(`compare: ${k} belongs to the fair protocol (give test, search or seeds)`);
  }
  if (validation === undefined) throw new ConfigError('compare needs a validation set to select and report on (or test, search or seeds for the fair protocol)');
  if (opts.baselines) {
    for (const t of main) {
      for (const m of t.metrics) {
        const v = opts.baselines[t.name]?.[m];
        if (typeof v !== 'number' || !Number.isFinite(v)) {
          throw new ConfigError(`the given baselines have no finite ${t.name}.${m} (got ${describe(v)})`);
        }
      }
    }
  }
  const log = opts.log ?? (() => {});

  const runOne = async (label: string, weighting: string, config: ModelConfig, judged: readonly Task[]): Promise<RunResult> => {
    const t0 = performance.now();
    const net = new MultiTaskModel(backend, config);
    const t = new Trainer(net, { ...trainer, progress: trainer.progress ?? false, weighting, log: null, runDir: null });
    const history = await t.fit(train, { validation: validation! });
    const seconds = (performance.now() - t0) / 1000;
    const i = selectEpoch(history, judged, selection);
    return { label, weighting, metrics: metricsOf(history[i], net.tasks), seconds, epochs: history.length, epoch: history[i].epoch, history };
  };

  const describeTask = (t: Task, m: MetricTable): string =>
    `${t.name} ${t.metrics.map((k) => formatMetric(k, m[t.name]?.[k] ?? NaN)).join(' ')}`;
  const describeMetrics = (m: MetricTable): string => main.map((t) => describeTask(t, m)).join(', ');

  const baselineRuns: Record<string, RunResult> = {};
  let baselines: MetricTable;
  if (opts.baselines) {
    baselines = Object.fromEntries(main.map((t) => [t.name, Object.fromEntries(t.metrics.map((m) => [m, opts.baselines![t.name][m]]))]));
  } else {
    baselines = {};
    for (const [i, t] of main.entries()) {
      const spec = model.tasks[tasks.indexOf(t)];
      const run = await runOne(`single-task ${t.name}`, 'equal', { ...model, tasks: [spec] }, [t]);
      baselineRuns[t.name] = run;
      baselines[t.name] = run.metrics[t.name];
      log(`baseline ${i + 1}/${main.length} ${t.name}: ${describeTask(t, run.metrics)} (epoch ${run.epoch}/${run.epochs}, ${run.seconds.toFixed(1)} s)`);
    }
  }

  const runs: MultiTaskRunResult[] = [];
  for (const [i, c] of configurations.entries()) {
    const run = await runOne(c.label, c.weighting, c.sharing === undefined ? model : { ...model, sharing: c.sharing }, main);
    const dm = deltaM(baselines, run.metrics);
    runs.push({ ...run, deltaM: dm, ...(c.sharing !== undefined && { sharing: c.sharing }) });
    log(`run ${i + 1}/${configurations.length} ${c.label}: ${describeMetrics(run.metrics)}, Δm ${formatSigned(dm)}% (epoch ${run.epoch}/${run.epochs}, ${run.seconds.toFixed(1)} s)`);
  }
  return {
    tasks: main.map((t) => t.name),
    metrics: Object.fromEntries(main.map((t) => [t.name, [...t.metrics]])),
    selection,
    baselines,
    baselineRuns,
    runs,
  };
}

/** Mean and sample standard deviation (NaN for fewer than two values). */
function spread(values: readonly number[]): Spread {
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const sd = n < 2 ? NaN : Math.sqrt(values.reduce((a, v) => a + (v - mean) * (v - mean), 0) / (n - 1));
  return { mean, sd };
}

/** The seeds of `seeds` (a count from `first`, or a list), checked. */
function seedList(seeds: number | readonly number[] | undefined, first: number): number[] {
  if (seeds === undefined) return [first];
  if (typeof seeds === 'number') {
    expectInt('seeds', seeds);
    return Array.from({ length: seeds }, (_, i) => first + i);
  }
  if (!Array.isArray(seeds) || seeds.length === 0) throw new ConfigError(`Expected a positive count or a non-empty list of seeds but received ${describe(seeds)}`);
  seeds.forEach((s, i) => expectInt(`seeds[${i}]`, s, 0));
  if (new Set(seeds).size !== seeds.length) throw new ConfigError(`seeds lists a seed twice: ${seeds.join(', ')}`);
  return [...seeds];
}

/** A stored run of the fair protocol (search trial or seed run): the record in `outDir`, and what a child process of `jobs` sends back. */
export type RunRecord = Omit<SearchTrial, 'setting' | 'weighting' | 'seeds'> & { test?: MetricTable };

/** The trainer settings of one run of the fair protocol: the comparison's, with the run's optimizer, batch size, seed and weighting spec. */
export type RunSettings = Omit<CompareTrainerSettings, 'progress'> & { seed: number; weighting: string };

/** One run of the fair protocol, as {@link trainRun} takes it (and a child process of `jobs` is sent it). */
export interface RunJob {
  /** 'search': scored on the validation split; 'seed': also evaluated on the test set at its selected epoch. */
  phase: 'search' | 'seed';
  /** The model config, with the run's seed and maxBatch. */
  model: ModelConfig;
  /** The trainer settings. */
  trainer: RunSettings;
  /** How the reported epoch is chosen. */
  selection: Selection;
  /** The tasks the epoch is selected on (the row's main tasks), by name. */
  judged: string[];
  /** Progress bars. */
  progress: boolean;
}

/**
 * Trains one run of the fair protocol on `backend`: the model, trained on `data.train` with
 * `data.validation` evaluated every epoch, its epoch selected; a seed run (with selection
 * 'best' its selected epoch's parameters restored) then evaluated once on `data.test`. The
 * same function in this process (jobs 1) and in each child process of `jobs`.
 */
export async function trainRun(
  backend: Backend,
  job: RunJob,
  data: { train: MultiTaskDataset; validation: MultiTaskDataset; test?: MultiTaskDataset },
  signal?: AbortSignal,
): Promise<RunRecord> {
  const t0 = performance.now();
  const net = new MultiTaskModel(backend, job.model);
  const judged = net.tasks.filter((t) => job.judged.includes(t.name));
  const early = job.trainer.earlyStopping ?? null;
  // The seed runs report the test metrics of the epoch selected on the validation split: with
  // selection 'best' the trainer puts that epoch's parameters back at the end (restoreBest,
  // whose rule, a strictly higher score, is selectEpoch's), then the test set is evaluated once.
  const restore = job.phase === 'seed' && job.selection === 'best';
  const earlyStopping = restore ? { ...(early ?? { patience: job.trainer.epochs }), restoreBest: true } : early;
  const t = new Trainer(net, { ...job.trainer, earlyStopping, progress: job.progress, log: null, runDir: null });
  const history = await t.fit(data.train, { validation: data.validation, signal });
  const i = selectEpoch(history, judged, job.selection);
  let testMetrics: MetricTable | undefined;
  if (job.phase === 'seed') {
    if (data.test === undefined) throw new ConfigError('trainRun: a seed run needs the test set');
    testMetrics = metricsOfEvaluation(await t.evaluate(data.test), net.tasks);
  }
  return {
    score: selectionScore(history[i], judged),
    validation: metricsOf(history[i], net.tasks),
    epoch: history[i].epoch,
    epochs: history.length,
    seconds: (performance.now() - t0) / 1000,
    history,
    ...(testMetrics && { test: testMetrics }),
  };
}

/** The fair protocol of {@link compare}: search per row on a validation split, then every seed on the test set. */
async function tunedCompare(opts: CompareOptions, tasks: readonly Task[], main: readonly Task[], selection: Selection): Promise<ComparisonResult> {
  const { backend, model, trainer, configurations, signal } = opts;
  const test = opts.test;
  if (test === undefined) throw new ConfigError('compare: search and seeds report on a test set: give test (the validation split is carved from train unless validation is given)');
  if (opts.baselines !== undefined) throw new ConfigError('compare: given baselines do not apply to search/seeds (every baseline is searched and trained with every seed)');
  const space = opts.search ?? {};
  checkSearchSpace(space, trainer.optimizer);
  if (opts.searchBudget !== undefined) expectInt('searchBudget', opts.searchBudget);
  const seeds = seedList(opts.seeds, trainer.seed ?? 0);
  const selectSeeds = opts.selectSeeds ?? 1;
  expectInt('selectSeeds', selectSeeds);
  if (selectSeeds > seeds.length) {
    throw new ConfigError(`compare: selectSeeds ${selectSeeds} exceeds the ${seeds.length} seed${seeds.length > 1 ? 's' : ''} (each searched setting trains with the first selectSeeds of seeds)`);
  }
  const searchSeeds = seeds.slice(0, selectSeeds);
  const jobs = opts.jobs ?? 1;
  expectInt('jobs', jobs);
  if (opts.threads !== undefined && jobs === 1) throw new ConfigError('compare: threads sets the threads of the child processes of jobs > 1 (with jobs 1 every run trains on the backend given)');
  const { progress: _progress, ...settings } = trainer;
  checkJobs(jobs, backend.name, { model, trainer: settings, configurations });
  const threads = jobs > 1 ? childThreads(jobs, opts.threads) : undefined;
  const early = trainer.earlyStopping ?? null;
  if (early && (early.minDelta ?? 0) !== 0 && selection === 'best') {
    throw new ConfigError('compare: earlyStopping.minDelta must be 0 with search/seeds and selection best (the restored epoch must be the selected one)');
  }
  if (early?.restoreBest && selection === 'last') throw new ConfigError("compare: earlyStopping.restoreBest contradicts selection 'last'");
  if (opts.onRun !== undefined && typeof opts.onRun !== 'function') throw new ConfigError(`Expected a function for onRun but received ${describe(opts.onRun)}`);
  const log = opts.log ?? (() => {});

  let train = opts.train;
  let validation = opts.validation;
  let fraction: number | undefined;
  if (validation === undefined) {
    fraction = opts.validationFraction ?? 0.1;
    ({ train, validation } = carveValidation(opts.train, fraction, seeds[0]));
  } else if (opts.validationFraction !== undefined) {
    throw new ConfigError('compare: validationFraction carves a validation split when none is given; give one or the other');
  }
  const store = opts.outDir === undefined ? null : new RunStore(opts.outDir);
  const data: Record<string, string> = store ? { train: datasetFingerprint(train), validation: datasetFingerprint(validation) } : {};

  interface Row {
    label: string;
    weighting: string;
    sharing?: SharingConfig;
    config: ModelConfig;
    judged: readonly Task[];
    grid: SearchSetting[];
  }
  const rowOf = (label: string, weighting: string, config: ModelConfig, judged: readonly Task[], sharing?: SharingConfig): Row => {
    const grid = searchGrid(space, parseWeightingSpec(weighting).name, opts.searchBudget, seeds[0]);
    return { label, weighting, config, judged, grid, ...(sharing !== undefined && { sharing }) };
  };
  const baselineRows = main.map((t) => rowOf(`single-task ${t.name}`, 'equal', { ...model, tasks: [model.tasks[tasks.indexOf(t)]] }, [t]));
  const configRows = configurations.map((c) =>
    rowOf(c.label, c.weighting, c.sharing === undefined ? model : { ...model, sharing: c.sharing }, main, c.sharing),
  );
  const rows = [...baselineRows, ...configRows];
  /** A run of the fair protocol, planned: what it trains, its key in outDir, the job trainRun takes. */
  interface PlannedRun {
    phase: 'search' | 'seed';
    row: Row;
    setting: SearchSetting;
    seed: number;
    key: unknown;
    job: RunJob;
    weighting: string;
  }
  const settingsSearched = (r: Row): number => (r.grid.length > 1 ? r.grid.length : 0);
  const searchTotal = rows.reduce((n, r) => n + settingsSearched(r) * searchSeeds.length, 0);
  const total = searchTotal + rows.length * seeds.length;
  log(
    `fair comparison: ${rows.length} rows (${baselineRows.length} single-task + ${configRows.length} configurations); ` +
      `${searchTotal} search runs${searchSeeds.length > 1 ? ` (${rows.reduce((n, r) => n + settingsSearched(r), 0)} settings × ${searchSeeds.length} seeds, selected on the mean)` : ''} + ` +
      `${rows.length} × ${seeds.length} seed runs = ${total} runs${jobs > 1 ? `, ${jobs} at a time` : ''}; ` +
      `training ${train.length} rows, validation ${validation.length} rows${fraction !== undefined ? ` (carved: ${fraction} of the training data)` : ''}, test ${test.length} rows` +
      (store ? `; runs recorded in ${store.dir}` : ''),
  );

  let index = 0;
  const measured = new Map<Row, number[]>();
  let trainingStarted = false;
  let estimateShown = false;
  // The runs left to train, for the estimate: queued (in order), in progress (with their start), and the seed phase's before it is planned.
  let queued: PlannedRun[] = [];
  const inProgress = new Map<PlannedRun, number>();
  let seedPhasePlanned = false;
  /** Estimated wall time until every run has finished, seconds: list scheduling of what is left over `jobs` slots, each run costing its row's mean time (else the mean over every time known). */
  const estimateLeft = (): { seconds: number; runs: number; known: number } | undefined => {
    const all = [...measured.values()].flat();
    if (all.length === 0) return undefined;
    const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
    const overall = mean(all);
    const cost = (row: Row): number => {
      const m = measured.get(row);
      return m && m.length > 0 ? mean(m) : overall;
    };
    const slots = new Array<number>(jobs).fill(0);
    const place = (t: number): void => {
      let k = 0;
      for (let i = 1; i < slots.length; i++) if (slots[i] < slots[k]) k = i;
      slots[k] += t;
    };
    const now = performance.now();
    let runs = 0;
    for (const [r, t0] of inProgress) {
      place(Math.max(0, cost(r.row) - (now - t0) / 1000));
      runs++;
    }
    for (const r of queued) {
      place(cost(r.row));
      runs++;
    }
    if (!seedPhasePlanned) {
      // The seed runs start when the last search run has finished (the test set is read only then).
      slots.fill(Math.max(...slots));
      for (const row of rows) for (let i = 0; i < seeds.length; i++) place(cost(row));
      runs += rows.length * seeds.length;
    }
    return runs === 0 ? undefined : { seconds: Math.max(...slots), runs, known: all.length };
  };
  const note = (row: Row, seconds: number): void => {
    if (!(seconds > 0)) return;
    const m = measured.get(row) ?? [];
    m.push(seconds);
    measured.set(row, m);
  };
  const estimateLine = (e: { seconds: number; runs: number; known: number }, from: string): string => {
    const perRun = [...measured.values()].flat().reduce((a, b) => a + b, 0) / e.known;
    return `time estimate: about ${formatDuration(e.seconds)} for the ${e.runs} runs left (${perRun.toFixed(1)} s per run${jobs > 1 ? `, ${jobs} at a time` : ''}, ${from})`;
  };

  const describeRun = (r: PlannedRun): string =>
    r.phase === 'search'
      ? `search ${r.row.label} ${formatSetting(r.setting)}${searchSeeds.length > 1 ? ` seed ${r.seed}` : ''}`
      : `seed ${r.seed} ${r.row.label}${r.row.grid.length > 1 ? ` (${formatSetting(r.setting)})` : ''}`;
  /** Reports a finished run (trained or read back): its line, the estimate, onRun. */
  const finish = (r: PlannedRun, record: RunRecord, recorded: boolean): void => {
    index++;
    if (!recorded) note(r.row, record.seconds);
    const result =
      r.phase === 'search'
        ? `validation score ${record.score.toFixed(4)}`
        : `test ${main.filter((t) => record.test![t.name]).map((t) => `${t.name} ${t.metrics.map((m) => formatMetric(m, record.test![t.name][m])).join(' ')}`).join(', ')}`;
    const left = trainingStarted ? estimateLeft() : undefined;
    const leftText = left && estimateShown ? `; about ${formatDuration(left.seconds)} left` : '';
    log(`[${index}/${total}] ${describeRun(r)}: ${result} (epoch ${record.epoch}/${record.epochs}, ${recorded ? 'recorded' : `${record.seconds.toFixed(1)} s`})${leftText}`);
    if (!recorded && !estimateShown && left && index < total) {
      estimateShown = true;
      log(estimateLine(left, left.known === 1 ? 'measured on this one' : `measured on ${left.known} runs`));
    }
    opts.onRun?.({
      index,
      total,
      phase: r.phase,
      label: r.row.label,
      setting: r.setting,
      seed: r.seed,
      recorded,
      seconds: record.seconds,
      ...(left && { secondsLeft: left.seconds }),
    });
  };

  const plan = (phase: 'search' | 'seed', row: Row, setting: SearchSetting, seed: number): PlannedRun => {
    const applied = applySetting(setting, trainer.optimizer, trainer.batchSize, row.weighting);
    const config: ModelConfig = { ...row.config, seed, maxBatch: Math.max(row.config.maxBatch, applied.batchSize) };
    const runSettings = { ...settings, optimizer: applied.optimizer, batchSize: applied.batchSize, seed, weighting: applied.weighting };
    // Everything that determines the run, and nothing else (not jobs, threads or selectSeeds): its record's file name is this key's hash.
    const key = { protocol: 1, phase, backend: backend.name, selection, data: { ...data }, model: config, trainer: runSettings };
    const job: RunJob = { phase, model: config, trainer: runSettings, selection, judged: row.judged.map((t) => t.name), progress: jobs === 1 && (trainer.progress ?? false) };
    return { phase, row, setting, seed, key, job, weighting: applied.weighting };
  };

  let pool: RunPool<RunJob, RunRecord> | null = null;
  const onAbort = (): void => pool?.close();
  signal?.addEventListener('abort', onAbort);
  const stopped = (): TrainingAbortedError =>
    new TrainingAbortedError(`compare stopped before run ${index + 1} of ${total}${store ? `; rerun with the same outDir (${store.dir}) to continue` : ''}`, 0);
  /**
   * Trains (or reads back) every run of a phase, `jobs` at a time; each record is written as
   * its run finishes. With jobs 1, in order in this process, as compare() always did.
   */
  const runPhase = async (runs: PlannedRun[]): Promise<Map<PlannedRun, RunRecord>> => {
    const records = new Map<PlannedRun, RunRecord>();
    for (const r of runs) {
      const rec = store?.get<RunRecord>(r.key);
      if (rec !== undefined) records.set(r, rec);
    }
    // Times of runs read back count towards the estimate (a resumed comparison gets one before it trains anything).
    for (const [r, rec] of records) note(r.row, rec.seconds);
    queued = runs.filter((r) => !records.has(r));
    let failure: Error | undefined;
    const running = new Set<Promise<void>>();
    for (const r of runs) {
      const known = records.get(r);
      if (jobs === 1 && signal?.aborted) throw stopped();
      if (known !== undefined) {
        finish(r, known, true);
        continue;
      }
      while (running.size >= jobs) await Promise.race(running);
      if (failure !== undefined || signal?.aborted) break;
      if (!trainingStarted) {
        trainingStarted = true;
        const e = estimateLeft();
        if (e) {
          estimateShown = true;
          log(estimateLine(e, `from the times of ${e.known} recorded runs`));
        }
      }
      queued.splice(queued.indexOf(r), 1);
      inProgress.set(r, performance.now());
      let trained: Promise<RunRecord>;
      if (jobs === 1) {
        trained = trainRun(backend, r.job, { train, validation: validation!, ...(r.phase === 'seed' && { test }) }, signal);
      } else {
        if (pool === null) {
          pool = new RunPool<RunJob, RunRecord>(jobs, backend.name, threads!, { train, validation: validation! });
          if (signal?.aborted) pool.close();
        }
        if (r.phase === 'seed') pool.setTest(test);
        trained = pool.run(r.job, `run ${describeRun(r)}${searchSeeds.length > 1 || r.phase === 'seed' ? '' : ` (seed ${r.seed})`}`, r.phase === 'seed');
      }
      const p: Promise<void> = trained
        .then(
          (fresh) => {
            // Through JSON, so that a run read back from outDir and one just trained are the same values.
            const record = JSON.parse(JSON.stringify(fresh)) as RunRecord;
            inProgress.delete(r);
            store?.put(r.key, record);
            records.set(r, record);
            finish(r, record, false);
          },
          (e: unknown) => {
            inProgress.delete(r);
            if (jobs === 1 && signal?.aborted && e instanceof TrainingAbortedError) {
              // fit()'s own message speaks of its trainer; the comparison drops the run and continues from its folder.
              e = new TrainingAbortedError(
                `compare stopped during run ${index + 1} of ${total} (${describeRun(r)}; not recorded)${store ? `; rerun with the same outDir (${store.dir}) to continue` : ''}`,
                e.step,
              );
            }
            if (failure === undefined && !signal?.aborted && jobs > 1) {
              log(`${(e as Error).message}${running.size > 1 ? `; waiting for the ${running.size - 1} runs in progress to finish and be recorded` : ''}`);
            }
            failure ??= e as Error;
          },
        )
        .finally(() => running.delete(p));
      running.add(p);
      if (jobs === 1) {
        await p;
        if (failure !== undefined) throw failure;
      }
    }
    await Promise.all(running);
    if (jobs > 1 && signal?.aborted) {
      const left = runs.filter((r) => !records.has(r)).length;
      throw new TrainingAbortedError(
        `compare stopped with ${index} of ${total} runs finished (${left} of this phase not)${store ? `; rerun with the same outDir (${store.dir}) to continue` : ''}`,
        0,
      );
    }
    if (failure !== undefined) throw failure;
    return records;
  };

  const trials = new Map<Row, SearchTrial[]>();
  const selected = new Map<Row, SearchSetting>();
  const seedRuns = new Map<Row, (SeedRun & { weighting: string })[]>();
  try {
    // Every search first: the test set is read only once every setting has been selected.
    const searchRuns = rows.flatMap((row) =>
      row.grid.length > 1 ? row.grid.flatMap((setting) => searchSeeds.map((seed) => plan('search', row, setting, seed))) : [],
    );
    const searched = await runPhase(searchRuns);
    for (const row of rows) {
      const tried: SearchTrial[] = [];
      if (row.grid.length > 1) {
        for (const setting of row.grid) {
          const runs = searchRuns.filter((r) => r.row === row && r.setting === setting);
          const recs = runs.map((r) => searched.get(r)!);
          // A search run's record is a SearchSeedRun but the seed (a search run has no test metrics).
          const trial: SearchTrial = { setting, weighting: runs[0].weighting, ...recs[0] };
          if (recs.length > 1) {
            trial.score = recs.reduce((a, x) => a + x.score, 0) / recs.length;
            trial.seconds = recs.reduce((a, x) => a + x.seconds, 0);
            trial.seeds = recs.map((x, i) => ({ seed: runs[i].seed, ...x }));
          }
          tried.push(trial);
        }
      }
      trials.set(row, tried);
      let best = 0;
      tried.forEach((t, i) => {
        if (t.score > tried[best].score || (Number.isNaN(tried[best].score) && !Number.isNaN(t.score))) best = i;
      });
      selected.set(row, row.grid.length > 1 ? tried[best].setting : row.grid[0]);
    }

    if (store) data.test = datasetFingerprint(test);
    const seedPlan = rows.flatMap((row) => seeds.map((seed) => plan('seed', row, selected.get(row)!, seed)));
    seedPhasePlanned = true;
    const seeded = await runPhase(seedPlan);
    for (const row of rows) {
      seedRuns.set(
        row,
        seedPlan
          .filter((r) => r.row === row)
          .map((r) => {
            const x = seeded.get(r)!;
            return { seed: r.seed, weighting: r.weighting, score: x.score, validation: x.validation, test: x.test!, epoch: x.epoch, epochs: x.epochs, seconds: x.seconds, history: x.history };
          }),
      );
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
    (pool as RunPool<RunJob, RunRecord> | null)?.close();
  }

  const tunedRow = (row: Row, judged: readonly Task[]): TunedRow => {
    const runs = seedRuns.get(row)!;
    const mean: MetricTable = {};
    const sd: MetricTable = {};
    for (const t of judged) {
      mean[t.name] = {};
      sd[t.name] = {};
      for (const m of t.metrics) {
        const s = spread(runs.map((r) => r.test[t.name][m]));
        mean[t.name][m] = s.mean;
        sd[t.name][m] = s.sd;
      }
    }
    return {
      label: row.label,
      weighting: runs[0].weighting,
      ...(row.sharing !== undefined && { sharing: row.sharing }),
      setting: selected.get(row)!,
      trials: trials.get(row)!,
      seeds: runs.map(({ weighting: _w, ...r }) => r),
      mean,
      sd,
    };
  };
  const baselineTuned: Record<string, TunedRow> = Object.fromEntries(main.map((t, i) => [t.name, tunedRow(baselineRows[i], [t])]));
  const baselines: MetricTable = Object.fromEntries(main.map((t) => [t.name, baselineTuned[t.name].mean[t.name]]));
  const runsTuned = configRows.map((row) => {
    const r = tunedRow(row, main);
    for (const s of r.seeds) s.deltaM = deltaM(baselines, s.test);
    r.deltaM = spread(r.seeds.map((s) => s.deltaM!));
    return r;
  });
  const rowSeconds = (r: TunedRow): number => [...r.trials, ...r.seeds].reduce((a, x) => a + x.seconds, 0);
  return {
    tasks: main.map((t) => t.name),
    metrics: Object.fromEntries(main.map((t) => [t.name, [...t.metrics]])),
    selection,
    baselines,
    baselineRuns: {},
    runs: runsTuned.map((r) => ({
      label: r.label,
      weighting: r.weighting,
      metrics: r.mean,
      seconds: rowSeconds(r),
      epochs: r.seeds[0].epochs,
      epoch: r.seeds[0].epoch,
      history: r.seeds[0].history,
      deltaM: r.deltaM!.mean,
      ...(r.sharing !== undefined && { sharing: r.sharing }),
    })),
    tuning: {
      validation: { rows: validation.length, carved: fraction !== undefined, ...(fraction !== undefined && { fraction }) },
      trainRows: train.length,
      testRows: test.length,
      search: space,
      ...(opts.searchBudget !== undefined && { searchBudget: opts.searchBudget }),
      ...(selectSeeds > 1 && { selectSeeds }),
      seeds,
      baselines: baselineTuned,
      runs: runsTuned,
    },
  };
}

/** The declared metrics of `tasks` from an evaluation (NaN where absent). */
function metricsOfEvaluation(ev: Record<string, Record<string, number | undefined>>, tasks: readonly Task[]): MetricTable {
  return Object.fromEntries(tasks.map((t) => [t.name, Object.fromEntries(t.metrics.map((m) => [m, ev[t.name]?.[m] ?? NaN]))]));
}

/** "12 s", "3 min", "1 h 5 min" (to the minute from a minute on). */
function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const minutes = Math.round(s / 60);
  return minutes < 60 ? `${minutes} min` : `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

function formatMetric(metric: string, v: number): string {
  return metric === 'accuracy' ? `${(100 * v).toFixed(2)}%` : v.toFixed(4);
}

function formatSigned(v: number): string {
  return `${v >= 0 ? '+' : ''}${v.toFixed(2)}`;
}

const SHORT: Record<string, string> = { accuracy: 'acc' };

/**
 * The comparison as an aligned table: a row for the single-task baselines and one per
 * configuration; a column per main task and metric (accuracy in %, mse/mae as numbers), Δm
 * in % (— for the baselines, the reference), the epoch reported, and wall time (for the
 * baselines, the sum over their runs; — when they were given).
 */
export function formatComparison(result: ComparisonResult): string {
  if (result.tuning) return formatTuned(result, result.tuning);
  const cols = result.tasks.flatMap((t) => result.metrics[t].map((m) => ({ task: t, metric: m })));
  const header = ['configuration', ...cols.map((c) => `${c.task} ${SHORT[c.metric] ?? c.metric}`), 'Δm', 'epoch', 'time'];
  const rows: string[][] = [];
  const baselineRuns = Object.values(result.baselineRuns);
  const trained = baselineRuns.length > 0;
  rows.push([
    trained ? 'single-task' : 'single-task (given)',
    ...cols.map((c) => formatMetric(c.metric, result.baselines[c.task]?.[c.metric] ?? NaN)),
    '—',
    trained ? `${baselineRuns.map((r) => r.epoch).join(',')}/${baselineRuns[0].epochs}` : '—',
    trained ? `${baselineRuns.reduce((s, r) => s + r.seconds, 0).toFixed(1)} s` : '—',
  ]);
  for (const r of result.runs) {
    rows.push([
      r.label,
      ...cols.map((c) => formatMetric(c.metric, r.metrics[c.task]?.[c.metric] ?? NaN)),
      `${formatSigned(r.deltaM)}%`,
      `${r.epoch}/${r.epochs}`,
      `${r.seconds.toFixed(1)} s`,
    ]);
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(header), rule, ...rows.map(line)].join('\n') + '\n';
}

/** "96.21 ± 0.12%" (accuracy, in points) or "0.0123 ± 0.0004"; no ± part with one seed. */
function formatSpread(metric: string, mean: number, sd: number): string {
  const scale = metric === 'accuracy' ? 100 : 1;
  const digits = metric === 'accuracy' ? 2 : 4;
  const unit = metric === 'accuracy' ? '%' : '';
  return `${(scale * mean).toFixed(digits)}${Number.isNaN(sd) ? '' : ` ± ${(scale * sd).toFixed(digits)}`}${unit}`;
}

/** The fair protocol's table: test metrics mean ± sd over the seeds, Δm mean ± sd, the selected setting, the seeds' epochs, time. */
function formatTuned(result: ComparisonResult, tuning: TuningResult): string {
  const cols = result.tasks.flatMap((t) => result.metrics[t].map((m) => ({ task: t, metric: m })));
  const header = ['configuration', 'setting', ...cols.map((c) => `${c.task} ${SHORT[c.metric] ?? c.metric}`), 'Δm', 'epochs', 'time'];
  const seconds = (r: TunedRow): number => [...r.trials, ...r.seeds].reduce((a, x) => a + x.seconds, 0);
  const epochs = (r: TunedRow): string => `${r.seeds.map((s) => s.epoch).join(',')}/${r.seeds[0].epochs}`;
  const baselineRows = result.tasks.map((t) => tuning.baselines[t]);
  const rows: string[][] = [];
  for (const b of baselineRows) {
    const task = result.tasks[baselineRows.indexOf(b)];
    rows.push([
      b.label,
      formatSetting(b.setting),
      ...cols.map((c) => (c.task === task ? formatSpread(c.metric, b.mean[task][c.metric], b.sd[task][c.metric]) : '')),
      '—',
      epochs(b),
      `${seconds(b).toFixed(1)} s`,
    ]);
  }
  for (const r of tuning.runs) {
    rows.push([
      r.label,
      formatSetting(r.setting),
      ...cols.map((c) => formatSpread(c.metric, r.mean[c.task][c.metric], r.sd[c.task][c.metric])),
      `${formatSigned(r.deltaM!.mean)}${Number.isNaN(r.deltaM!.sd) ? '' : ` ± ${r.deltaM!.sd.toFixed(2)}`}%`,
      epochs(r),
      `${seconds(r).toFixed(1)} s`,
    ]);
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i <= 1 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  const v = tuning.validation;
  const note =
    `test metrics, mean ± sd over seeds ${tuning.seeds.join(', ')}; settings and epochs selected on ${v.rows} validation rows` +
    `${v.carved ? ` carved from the training data (${v.fraction})` : ''}; Δm over the mean single-task test metrics`;
  return [line(header), rule, ...rows.map(line), '', note].join('\n') + '\n';
}
