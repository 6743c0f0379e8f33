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
 */
import type { Backend } from '../backends/backend.js';
import { Rng } from '../core/random.js';
import type { MultiTaskDataset } from '../data/dataset.js';
import { ConfigError, ValueError, describe, expectInt } from '../errors.js';
import { type ModelConfig, MultiTaskModel } from '../mtl/model.js';
import { HIGHER_IS_BETTER, type Task, resolveTask } from '../mtl/task.js';
import { type SharingConfig, resolveSharing } from '../mtl/sharing/index.js';
import { createWeighting } from '../mtl/weighting/index.js';
import type { OptimizerConfig } from './optimizer.js';
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
  /** The backend every run trains on, one run after another. */
  backend: Backend;
  /** The training set, shared by every run. */
  train: MultiTaskDataset;
  /** The set each run's epochs are selected and reported on. */
  validation: MultiTaskDataset;
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
  /** The multi-task runs, in configuration order. */
  runs: MultiTaskRunResult[];
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
  return Object.fromEntries(
    tasks.map((t) => [t.name, Object.fromEntries(t.metrics.map((m) => [m, record.validation?.[t.name]?.[m] ?? NaN]))]),
  );
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
 * Trains the single-task baselines (unless given) and every configuration, and reports each
 * at its selected epoch with Δm over the baselines. Runs one after another on `backend`.
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
    const history = await t.fit(train, { validation });
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
