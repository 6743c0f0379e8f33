/**
 * The report's charts as Vega-Lite specifications, built from a {@link ReportRun}: each one
 * only when the run holds its data (a chart with nothing to draw is left out, never drawn
 * empty). Every spec carries its data inline (no URL: the page loads nothing), axis titles on
 * every axis, and is rendered to SVG by ts/report/svg.ts.
 */
import { SELF_SUPERVISED_KINDS, resolveTask } from '../mtl/task.js';
import { GRADIENT_STRATEGIES } from '../mtl/weighting/gradient-based.js';
import { measuresOf } from '../train/affinity.js';
import type { TaskStoppingConfig } from '../train/task-stopping.js';
import { tcdcnCriterion } from '../train/task-stopping.js';
import { type EpochRecord, selectionScore } from '../train/trainer.js';
import type { ReportRun } from './run-folder.js';

/** A Vega-Lite specification (plain JSON; its data inline). */
export type ChartSpec = Record<string, unknown>;

/** One chart of a report. */
export interface Chart {
  /** A stable id ("loss", "validation", "confusion-left", ...): the figure's data-chart attribute. */
  id: string;
  /** The chart's heading. */
  title: string;
  /** What it shows, in a sentence or two. */
  caption: string;
  /** The Vega-Lite specification. */
  spec: ChartSpec;
}

/** Whether each task is a main or an auxiliary task, by name, in model order (from config.json; else every task in the history is main). */
export function taskRoles(run: ReportRun): Map<string, 'main' | 'auxiliary'> {
  const roles = new Map<string, 'main' | 'auxiliary'>();
  for (const t of run.config?.model?.tasks ?? []) {
    const selfSupervised = (SELF_SUPERVISED_KINDS as readonly string[]).includes(t.kind);
    roles.set(t.name, t.auxiliary ?? selfSupervised ? 'auxiliary' : 'main');
  }
  for (const name of Object.keys(run.history?.[0]?.train ?? {})) if (!roles.has(name)) roles.set(name, 'main');
  return roles;
}

const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

const EPOCH_AXIS = { field: 'epoch', type: 'quantitative', title: 'epoch', axis: { tickMinStep: 1, format: 'd' } };
const PANEL = { width: 230, height: 150 };

/** Per-task panels: a task's panel title ("left (main)", "rotation (auxiliary)") and every task's, in model order. */
function taskPanels(roles: Map<string, 'main' | 'auxiliary'>): { panel: (task: string) => string; order: string[] } {
  const panel = (t: string): string => `${t} (${roles.get(t) ?? 'main'})`;
  return { panel, order: [...roles.keys()].map(panel) };
}

/**
 * The epoch model selection chose (the one best.safetensors holds): the first epoch with the
 * highest selection score, scored as the Trainer scores it (selectionScore over the main tasks
 * of config.json); null without the tasks' specs.
 */
export function bestEpoch(run: ReportRun): number | null {
  const specs = run.config?.model?.tasks;
  const history = run.history ?? [];
  if (!specs || history.length === 0) return null;
  let main;
  try {
    main = specs.map((t, i) => resolveTask(t, i)).filter((t) => !t.auxiliary);
  } catch {
    return null; // a config.json this version cannot read: no marker rather than no report
  }
  let best: number | null = null;
  let bestScore = -Infinity;
  for (const r of history) {
    const score = selectionScore(r, main);
    if (score > bestScore) [best, bestScore] = [r.epoch, score];
  }
  return best;
}

/**
 * A small-multiples line chart of `value`: one panel per value of `panel` (in `order`, at most 3
 * a row), one line per `series`; with `marked`, a dashed rule at that epoch in every panel.
 */
function panels(rows: Record<string, unknown>[], yTitle: string, seriesTitle: string, order: string[], marked: number | null = null): ChartSpec {
  const columns = Math.min(3, order.length);
  const line = {
    mark: { type: 'line', point: true },
    encoding: {
      x: EPOCH_AXIS,
      y: { field: 'value', type: 'quantitative', title: yTitle, scale: { zero: false } },
      color: { field: 'series', type: 'nominal', title: seriesTitle },
    },
  };
  // One rule per panel: the rows of that epoch, aggregated to one per panel.
  const rule = {
    transform: [{ filter: `datum.epoch === ${marked}` }, { aggregate: [{ op: 'count', as: 'n' }], groupby: ['panel', 'epoch'] }],
    mark: { type: 'rule', strokeDash: [4, 4], color: '#888' },
    encoding: { x: { field: 'epoch', type: 'quantitative' } },
  };
  return {
    data: { values: rows },
    facet: { field: 'panel', type: 'nominal', title: null, sort: order, header: { labelFontSize: 12, labelFontWeight: 'bold' } },
    columns,
    spec: { ...PANEL, layer: marked === null ? [line] : [line, rule] },
    resolve: { scale: { y: 'independent' } },
  };
}

/** One line per series over the epochs. */
function lines(rows: Record<string, unknown>[], yTitle: string, seriesTitle: string | null, extra: Record<string, unknown> = {}): ChartSpec {
  return {
    data: { values: rows },
    width: 420,
    height: 200,
    mark: { type: 'line', point: true },
    encoding: {
      x: EPOCH_AXIS,
      y: { field: 'value', type: 'quantitative', title: yTitle, scale: { zero: false }, ...extra },
      color: { field: 'series', type: 'nominal', title: seriesTitle },
    },
  };
}

/** A heatmap of a matrix with its values written in the cells. */
function heatmap(
  rows: Record<string, unknown>[],
  x: { title: string; order: string[] },
  y: { title: string; order: string[] },
  color: { title: string; scheme: string; symmetric?: boolean },
  layers: ChartSpec[] = [],
): ChartSpec {
  const size = Math.min(60, Math.max(22, Math.floor(420 / Math.max(x.order.length, y.order.length))));
  const scale: Record<string, unknown> = { scheme: color.scheme };
  if (color.symmetric) {
    // Centred on 0: as red below as blue above, whatever the values' own range.
    const span = Math.max(...rows.map((r) => Math.abs(r.value as number))) || 1;
    scale.domain = [-span, span];
  }
  return {
    data: { values: rows },
    width: size * x.order.length,
    height: size * y.order.length,
    encoding: {
      x: { field: 'x', type: 'ordinal', title: x.title, sort: x.order, axis: { labelAngle: x.order.some((l) => 6.5 * l.length > size) ? -40 : 0 } },
      y: { field: 'y', type: 'ordinal', title: y.title, sort: y.order },
    },
    layer: [
      { mark: 'rect', encoding: { color: { field: 'value', type: 'quantitative', title: color.title, scale } } },
      {
        mark: { type: 'text', fontSize: x.order.length > 8 ? 8 : 10 },
        encoding: {
          text: { field: 'label', type: 'nominal' },
          color: { condition: { test: 'datum.dark', value: 'white' }, value: 'black' },
        },
      },
      ...layers,
    ],
  };
}

/** The caption's words for the marked best epoch. */
const bestWords = (best: number | null): string => (best === null ? '' : ` The dashed line marks epoch ${best}, the best by validation (best.safetensors).`);

function lossChart(history: EpochRecord[], roles: Map<string, 'main' | 'auxiliary'>, best: number | null): Chart | null {
  const rows: Record<string, unknown>[] = [];
  const { panel, order } = taskPanels(roles);
  // A task with no label in the training data (an old task while a new one is added) records 0 every epoch: no curve.
  const unlabelled = new Set(Object.keys(history[0].train).filter((t) => history.every((r) => r.train[t] === 0)));
  for (const r of history) {
    for (const [t, v] of Object.entries(r.train)) if (finite(v) && !unlabelled.has(t)) rows.push({ epoch: r.epoch, panel: panel(t), series: 'training', value: v });
    for (const [t, m] of Object.entries(r.validation ?? {})) if (finite(m.loss)) rows.push({ epoch: r.epoch, panel: panel(t), series: 'validation', value: m.loss });
  }
  if (rows.length === 0) return null;
  return {
    id: 'loss',
    title: 'Loss by epoch, per task',
    caption: `Each task's mean training loss over the epoch and its validation loss after it, one panel per task (main and auxiliary tasks are marked in the panel titles).${bestWords(best)}`,
    spec: panels(rows, 'loss', 'loss on', order, best),
  };
}

function validationChart(history: EpochRecord[], roles: Map<string, 'main' | 'auxiliary'>, best: number | null): Chart | null {
  const rows: Record<string, unknown>[] = [];
  const { panel, order } = taskPanels(roles);
  for (const r of history) {
    for (const [t, m] of Object.entries(r.validation ?? {})) {
      for (const [metric, v] of Object.entries(m)) {
        if (metric === 'count' || metric === 'loss' || !finite(v)) continue;
        rows.push({ epoch: r.epoch, panel: panel(t), series: metric, value: v });
      }
    }
  }
  if (rows.length === 0) return null;
  return {
    id: 'validation',
    title: 'Validation metrics by epoch, per task',
    caption: `Each task's validation metrics after every epoch (accuracy and F1 as fractions), one panel per task.${bestWords(best)}`,
    spec: panels(rows, 'metric', 'metric', order, best),
  };
}

/** Whether a per-epoch series takes more than one value. */
const varies = (values: number[]): boolean => values.some((v) => Math.abs(v - values[0]) > 1e-12 * Math.max(1, Math.abs(values[0])));

function weightsChart(history: EpochRecord[]): Chart | null {
  const rows: Record<string, unknown>[] = [];
  const byTask = new Map<string, number[]>();
  for (const r of history) {
    for (const [t, v] of Object.entries(r.weights ?? {})) {
      if (!finite(v)) continue;
      rows.push({ epoch: r.epoch, series: t, value: v });
      byTask.set(t, [...(byTask.get(t) ?? []), v]);
    }
  }
  // Constant weights (fixed weighting) say nothing a table does not: the configuration lists them.
  if (rows.length === 0 || ![...byTask.values()].some(varies)) return null;
  const strategy = String(history.at(-1)?.weighting?.name ?? '');
  const gradient = strategy in GRADIENT_STRATEGIES;
  return {
    id: 'weights',
    title: gradient ? `Gradient coefficients α by epoch (${strategy})` : `Task weights by epoch (${strategy || 'weighting'})`,
    caption: gradient
      ? "The mean over each epoch's steps of the coefficient α the strategy gave each task's gradient."
      : "The mean over each epoch's steps of the weight the strategy gave each task's loss.",
    spec: lines(rows, gradient ? 'coefficient α (epoch mean)' : 'loss weight (epoch mean)', 'task'),
  };
}

/** The learned state a strategy records, by strategy name: its key in the epoch's weighting state and what it is. */
const LEARNED_STATE: Record<string, { key: string; title: string; axis: string; caption: string }> = {
  uncertainty: { key: 'logVariance', title: 'Uncertainty weighting: learned log-variances', axis: 'log-variance s_t', caption: 'Each task\'s learned log-variance s_t (Kendall et al. 2018): a larger s_t weights the task\'s loss less.' },
  gradnorm: { key: 'weights', title: 'GradNorm: learned task weights', axis: 'GradNorm weight w_t', caption: 'The task weights GradNorm learns (Chen et al. 2018) so that the tasks\' gradient norms train at similar rates.' },
  famo: { key: 'logits', title: 'FAMO: task logits', axis: 'logit ξ_t', caption: 'The logits FAMO learns (Liu et al. 2023); the task weights are their softmax.' },
};

function learnedStateChart(history: EpochRecord[], tasks: string[]): Chart | null {
  const name = String(history.at(-1)?.weighting?.name ?? '');
  const learned = LEARNED_STATE[name];
  if (!learned) return null;
  const rows: Record<string, unknown>[] = [];
  for (const r of history) {
    const values = r.weighting?.[learned.key];
    if (!Array.isArray(values) || values.length !== tasks.length) continue;
    values.forEach((v, t) => {
      if (finite(v)) rows.push({ epoch: r.epoch, series: tasks[t], value: v });
    });
  }
  if (rows.length === 0) return null;
  return {
    id: 'weighting-state',
    title: learned.title,
    caption: `${learned.caption} At the end of every epoch (the strategy's ${learned.key}, from each epoch record's weighting state).`,
    spec: lines(rows, learned.axis, 'task'),
  };
}

/** A chart of one scalar per epoch (learning rate, penalties, gradient norm), when the run recorded it (and, with `needsChange`, when it changed). */
function scalarChart(id: string, title: string, caption: string, axis: string, history: EpochRecord[], pick: (r: EpochRecord) => Record<string, number | undefined> | undefined, needsChange = false): Chart | null {
  const rows: Record<string, unknown>[] = [];
  const all: number[] = [];
  for (const r of history) {
    for (const [series, v] of Object.entries(pick(r) ?? {})) {
      if (!finite(v)) continue;
      rows.push({ epoch: r.epoch, series, value: v });
      all.push(v);
    }
  }
  if (rows.length === 0 || (needsChange && !varies(all))) return null;
  return { id, title, caption, spec: lines(rows, axis, null) };
}

function stoppingChart(run: ReportRun, history: EpochRecord[], roles: Map<string, 'main' | 'auxiliary'>): Chart | null {
  const config = run.config?.trainer?.auxiliaryStopping as TaskStoppingConfig | null | undefined;
  const aux = [...roles].filter(([, r]) => r === 'auxiliary').map(([t]) => t);
  if (!config || aux.length === 0 || !history.some((r) => r.validation)) return null;
  const k = config.k ?? 5;
  const threshold = config.threshold ?? 1;
  const weightsByName = (run.config?.trainer?.weights ?? {}) as Record<string, number>;
  const rows: Record<string, unknown>[] = [];
  const stops: Record<string, unknown>[] = [];
  for (const task of aux) {
    const spec = run.config?.model?.tasks?.find((t) => t.name === task);
    const lambda = weightsByName[task] ?? spec?.weight ?? 1;
    const errors: number[] = [];
    for (const r of history) {
      const stoppedBefore = history.some((q) => q.epoch < r.epoch && q.stopped?.[task] !== undefined);
      if (stoppedBefore) break;
      errors.push(r.train[task]);
      const val = r.validation?.[task]?.loss;
      if (!finite(val)) continue;
      // The Trainer's own rule (AuxiliaryTaskStopper.update), recomputed from the history.
      const value = tcdcnCriterion(errors, val, k, lambda || 1);
      if (finite(value)) rows.push({ epoch: r.epoch, series: task, value });
      const stopped = r.stopped?.[task];
      if (stopped !== undefined) stops.push({ epoch: r.epoch, series: task, value: finite(stopped) ? stopped : threshold, label: `${task} stops` });
    }
  }
  if (rows.length === 0 && stops.length === 0) return null;
  return {
    id: 'stopping',
    title: 'Auxiliary tasks: the stopping criterion (TCDCN)',
    caption: `Each auxiliary task's criterion (training trend × generalisation gap, window k = ${k}) by epoch; a task stops once it exceeds the threshold ε = ${threshold} (dashed); the epoch each stopped is marked with a cross.`,
    spec: {
      width: 420,
      height: 200,
      layer: [
        {
          data: { values: rows },
          mark: { type: 'line', point: true },
          encoding: { x: EPOCH_AXIS, y: { field: 'value', type: 'quantitative', title: 'criterion' }, color: { field: 'series', type: 'nominal', title: 'task' } },
        },
        { data: { values: [{ threshold }] }, mark: { type: 'rule', strokeDash: [6, 4], color: 'gray' }, encoding: { y: { field: 'threshold', type: 'quantitative' } } },
        {
          data: { values: stops },
          mark: { type: 'point', shape: 'cross', size: 160, filled: true },
          encoding: { x: EPOCH_AXIS, y: { field: 'value', type: 'quantitative' }, color: { field: 'series', type: 'nominal', title: 'task' }, tooltip: { field: 'label' } },
        },
      ],
    },
  };
}

function affinityCharts(run: ReportRun): Chart[] {
  const a = run.affinity;
  if (!a || !Array.isArray(a.tasks) || !a.mean) return [];
  const groupOf = new Map<string, number[]>();
  (run.groups?.groups ?? []).forEach((g, k) => {
    for (const t of g.tasks) groupOf.set(t, [...(groupOf.get(t) ?? []), k]);
  });
  const sameGroup = (s: string, t: string): boolean => s !== t && (groupOf.get(s) ?? []).some((k) => (groupOf.get(t) ?? []).includes(k));
  const charts: Chart[] = [];
  for (const measure of measuresOf(a.method)) {
    const matrix = a.mean[measure];
    if (!matrix) continue;
    const off = matrix.flatMap((row, i) => row.filter((v, j) => i !== j && finite(v)));
    if (off.length === 0) continue;
    const span = Math.max(...off.map(Math.abs)) || 1;
    const rows: Record<string, unknown>[] = [];
    matrix.forEach((row, i) =>
      row.forEach((v, j) => {
        if (i === j || !finite(v)) return;
        rows.push({ x: a.tasks[j], y: a.tasks[i], value: v, label: Math.abs(v) >= 0.01 || v === 0 ? v.toPrecision(2) : v.toExponential(1), dark: Math.abs(v) > 0.6 * span, grouped: sameGroup(a.tasks[i], a.tasks[j]) });
      }),
    );
    const outline = run.groups ? [{ transform: [{ filter: 'datum.grouped' }], mark: { type: 'rect', fill: null, stroke: 'black', strokeWidth: 2.5 } }] : [];
    const names: Record<string, string> = { lookahead: 'lookahead affinity Z(i→j)', linearised: 'linearised lookahead', cosine: 'gradient cosine' };
    charts.push({
      id: `affinity-${measure}`,
      title: `Task affinity: ${names[measure] ?? measure}`,
      caption:
        `The run's mean over ${a.mean.probes} probes (rows: source task i, columns: target task j, the diagonal left out; blue: a step on i lowers j's loss, red: it raises it).` +
        (run.groups ? ` Outlined cells: pairs in the same chosen group (${run.groups.groups.map((g) => `{${g.tasks.join(', ')}}`).join(', ')}).` : ''),
      spec: heatmap(rows, { title: 'target task j', order: a.tasks }, { title: 'source task i', order: a.tasks }, { title: measure, scheme: 'redblue', symmetric: true }, outline),
    });
  }
  return charts;
}

function compareChart(run: ReportRun): Chart | null {
  const c = run.comparison;
  // The fair protocol (several seeds): Δm's sd over the seeds, drawn as ± 1 sd.
  const sdOf = new Map((c?.tuning?.runs ?? []).map((t) => [t.label, t.deltaM?.sd]));
  const rows = (c?.runs ?? []).filter((r) => finite(r.deltaM)).map((r) => {
    const sd = sdOf.get(r.label);
    return { configuration: r.label, value: r.deltaM, sign: r.deltaM >= 0 ? 'Δm ≥ 0' : 'Δm < 0', ...(finite(sd) ? { low: r.deltaM - sd, high: r.deltaM + sd } : {}) };
  });
  if (rows.length === 0) return null;
  const spread = rows.some((r) => 'low' in r);
  const y = { field: 'configuration', type: 'nominal', title: 'configuration', sort: '-x' };
  return {
    id: 'compare-delta',
    title: 'Δm over the single-task baselines',
    caption:
      "Each configuration's mean relative change of the main tasks' metrics over the single-task baselines, in percent (Maninis et al. 2019; higher is better)" +
      (spread ? `; the mean over ${c!.tuning!.seeds.length} seeds, the whiskers ± 1 sd.` : '.'),
    spec: {
      data: { values: rows },
      width: 420,
      height: { step: 22 },
      layer: [
        {
          mark: 'bar',
          encoding: {
            y,
            x: { field: 'value', type: 'quantitative', title: 'Δm (%)' },
            color: { field: 'sign', type: 'nominal', title: null, scale: { domain: ['Δm ≥ 0', 'Δm < 0'], range: ['#2b8a3e', '#c92a2a'] } },
          },
        },
        ...(spread ? [{ mark: { type: 'rule', color: 'black' }, encoding: { y, x: { field: 'low', type: 'quantitative' }, x2: { field: 'high' } } }] : []),
      ],
    },
  };
}

/** compare: each run's headline validation metric by epoch, one panel per main task, one line per configuration (baselines included). */
function compareCurves(run: ReportRun): Chart | null {
  const c = run.comparison;
  if (!c) return null;
  const rows: Record<string, unknown>[] = [];
  const runs = [...Object.entries(c.baselineRuns ?? {}).map(([task, r]) => ({ ...r, label: `single-task ${task}`, only: task })), ...c.runs.map((r) => ({ ...r, only: null as string | null }))];
  for (const r of runs) {
    for (const e of r.history ?? []) {
      for (const task of c.tasks) {
        const metric = c.metrics[task]?.[0];
        const v = metric === undefined ? undefined : (e.validation?.[task] as Record<string, number> | undefined)?.[metric];
        if ((r.only === null || r.only === task) && finite(v)) rows.push({ epoch: e.epoch, panel: `${task} ${metric}`, series: r.label, value: v });
      }
    }
  }
  if (rows.length === 0) return null;
  const order = c.tasks.map((t) => `${t} ${c.metrics[t]?.[0]}`);
  return {
    id: 'compare-curves',
    title: 'Validation metric by epoch, per configuration',
    caption: "Each run's headline validation metric after every epoch (the single-task baselines on their own task), one panel per main task.",
    spec: panels(rows, 'validation metric', 'configuration', order),
  };
}

function continualChart(run: ReportRun): Chart | null {
  const c = run.continual?.continual;
  if (!c || !Array.isArray(c.accuracy) || !Array.isArray(c.tasks)) return null;
  const stages = c.accuracy.map((_, i) => `after stage ${i}`);
  const rows: Record<string, unknown>[] = [];
  c.accuracy.forEach((row, i) =>
    row.forEach((v, j) => {
      if (finite(v)) rows.push({ x: c.tasks[j], y: stages[i], value: v, label: `${(100 * v).toFixed(1)}%`, dark: v > 0.75 });
    }),
  );
  if (rows.length === 0) return null;
  return {
    id: 'continual',
    title: 'Continual learning: the accuracy matrix R',
    caption: 'R[i][j]: accuracy on task j after stage i (rows: stages, columns: tasks; empty where not measured).',
    spec: heatmap(rows, { title: 'task', order: c.tasks }, { title: 'stage', order: stages }, { title: 'accuracy', scheme: 'blues' }),
  };
}

function confusionCharts(run: ReportRun): Chart[] {
  const c = run.confusion;
  if (!c) return [];
  return Object.entries(c.tasks).flatMap(([task, m]) => {
    const total = m.counts.flat().reduce((a, b) => a + b, 0);
    if (total === 0) return [];
    const rows: Record<string, unknown>[] = [];
    m.counts.forEach((row, i) => {
      const n = row.reduce((a, b) => a + b, 0);
      row.forEach((count, j) => {
        const share = n > 0 ? count / n : 0;
        rows.push({ x: m.labels[j], y: m.labels[i], value: share, label: String(count), dark: share > 0.5 });
      });
    });
    return [{
      id: `confusion-${task}`,
      title: `Confusion matrix: ${task}`,
      caption: `Validation samples of each true class (rows) by predicted class (columns), counted with the best checkpoint${c.epoch ? ` (epoch ${c.epoch})` : ''}; the colour is the share of the row.`,
      spec: heatmap(rows, { title: 'predicted class', order: m.labels }, { title: 'true class', order: m.labels }, { title: 'share of row', scheme: 'blues' }),
    }];
  });
}

/** Every chart the run has the data for, in the report's order. */
export function reportCharts(run: ReportRun): Chart[] {
  const charts: (Chart | null)[] = [];
  const history = run.history ?? [];
  const roles = taskRoles(run);
  const tasks = [...roles.keys()];
  if (history.length > 0) {
    // The best epoch is marked when there is a validation set to have chosen it by.
    const best = history.some((r) => r.validation) ? bestEpoch(run) : null;
    charts.push(lossChart(history, roles, best), validationChart(history, roles, best), weightsChart(history), learnedStateChart(history, tasks));
    charts.push(
      scalarChart('lr', 'Learning rate', "The learning rate of each epoch's first and last step (drawn when it changes: a schedule).", 'learning rate', history, (r) => r.lr && { 'first step': r.lr.first, 'last step': r.lr.last }, true),
      scalarChart('penalty', 'Soft-sharing penalty', "The soft-sharing penalty (the L2 distance between the task towers' parameters) at the end of each epoch.", 'penalty', history, (r) => ({ penalty: r.penalty })),
      scalarChart('ewc-penalty', 'EWC penalty', 'The EWC penalty λ/2·Σ F(θ − θ*)² at the end of each epoch.', 'EWC penalty', history, (r) => ({ 'EWC penalty': r.ewcPenalty })),
      scalarChart('grad-norm', 'Gradient norm', 'The mean global gradient norm before clipping over each epoch (clipGradNorm).', 'gradient norm', history, (r) => ({ 'gradient norm': r.gradNorm })),
      stoppingChart(run, history, roles),
    );
  }
  charts.push(...affinityCharts(run), compareChart(run), compareCurves(run), continualChart(run), ...confusionCharts(run));
  return charts.filter((c): c is Chart => c !== null);
}
