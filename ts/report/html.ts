/**
 * The report page: one self-contained HTML file (inline CSS, the charts as inline SVG, the
 * tables as HTML; no script, no font, no image, nothing fetched: its Content-Security-Policy
 * forbids any load) made from a {@link ReportRun}.
 */
import { HIGHER_IS_BETTER } from '../mtl/task.js';
import { ValueError, describe } from '../errors.js';
import type { EpochRecord } from '../train/trainer.js';
import { type Chart, reportCharts, taskRoles } from './charts.js';
import type { ReportRun } from './run-folder.js';
import { renderSvg } from './svg.js';

/** Text made safe inside HTML elements and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const fmt = (v: unknown, digits = 4): string => {
  if (typeof v === 'number') return Number.isFinite(v) ? (Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(digits)))) : String(v);
  if (v === null || v === undefined) return '–';
  return typeof v === 'string' ? v : JSON.stringify(v);
};

/** A table from a header row and body rows (cells are text, escaped here). */
function table(head: string[], rows: string[][], className = ''): string {
  const th = head.every((h) => h === '') ? '' : `<thead><tr>${head.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead>`;
  const body = rows.map((r) => `<tr>${r.map((c) => `<td>${escapeHtml(c)}</td>`).join('')}</tr>`).join('\n');
  return `<table${className ? ` class="${className}"` : ''}>${th}<tbody>\n${body}\n</tbody></table>`;
}

function section(id: string, title: string, body: string): string {
  return `<section id="${escapeHtml(id)}"><h2>${escapeHtml(title)}</h2>\n${body}\n</section>`;
}

/** The headline metric shown for a task in tables: its first non-loss metric, else its loss. */
function headline(m: Record<string, number | undefined> | undefined): [string, number | undefined] | null {
  if (!m) return null;
  const key = Object.keys(m).find((k) => k !== 'count' && k !== 'loss') ?? (m.loss !== undefined ? 'loss' : undefined);
  return key ? [key, m[key]] : null;
}

function overview(run: ReportRun): string {
  const rows: string[][] = [['source', run.source]];
  const env = run.environment;
  if (env) {
    rows.push(['backend', env.backend], ['machine', env.machine], ['software', env.software]);
    if (env.command) rows.push(['command', env.command]);
    rows.push(['started', env.started]);
    if (env.updated) rows.push(['report updated', env.updated]);
  }
  const h = run.history ?? [];
  if (h.length > 0) {
    const seconds = h.reduce((s, r) => s + (r.seconds ?? 0), 0);
    const last = h.at(-1)!;
    const target = run.config?.trainer?.epochs;
    rows.push(['epochs', `${h.length}${typeof target === 'number' ? ` of ${target}` : ''} (${last.step} steps)${last.stoppedBy ? `, stopped by ${last.stoppedBy}` : ''}`]);
    rows.push(['training time', `${seconds.toFixed(1)} s (validation excluded), ${(last.step / Math.max(seconds, 1e-9)).toFixed(1)} steps/s`]);
    const weighting = last.weighting?.name;
    if (weighting !== undefined) rows.push(['weighting', String(weighting)]);
  }
  const roles = taskRoles(run);
  if (roles.size > 0) rows.push(['tasks', [...roles].map(([t, r]) => `${t} (${r})`).join(', ')]);
  if (!env && h.length > 0) rows.push(['environment', 'not recorded (environment.json is written by the hydranet CLI and the report writers)']);
  return table(['', ''], rows, 'kv');
}

function epochTable(history: EpochRecord[], tasks: string[]): string {
  const withVal = history.some((r) => r.validation);
  const head = ['epoch', 'seconds', 'steps/s', ...tasks.map((t) => `${t} loss`)];
  const metricOf = new Map<string, string>();
  if (withVal) {
    for (const t of tasks) {
      const hl = headline(history.find((r) => r.validation?.[t])?.validation?.[t] as Record<string, number | undefined> | undefined);
      if (hl) metricOf.set(t, hl[0]);
    }
    head.push(...tasks.filter((t) => metricOf.has(t)).map((t) => `${t} val ${metricOf.get(t)!}`));
  }
  const rows = history.map((r) => [
    String(r.epoch),
    fmt(r.seconds, 3),
    fmt(r.stepsPerSecond, 3),
    ...tasks.map((t) => fmt(r.train[t])),
    ...tasks.filter((t) => metricOf.has(t)).map((t) => fmt((r.validation?.[t] as Record<string, number> | undefined)?.[metricOf.get(t)!])),
  ]);
  const stopped = history.flatMap((r) => Object.entries(r.stopped ?? {}).map(([t, v]) => `${t} after epoch ${r.epoch} (criterion ${fmt(v, 3)})`));
  return table(head, rows, 'numbers') + (stopped.length > 0 ? `\n<p>Auxiliary tasks stopped: ${escapeHtml(stopped.join('; '))}.</p>` : '');
}

/** The configuration as key → value rows, nested objects flattened with dotted keys (tasks listed one per row). */
function flatten(value: unknown, prefix: string, rows: string[][]): void {
  if (typeof value === 'object' && value !== null && !Array.isArray(value) && Object.keys(value).length > 0) {
    for (const [k, v] of Object.entries(value)) if (v !== undefined) flatten(v, prefix ? `${prefix}.${k}` : k, rows);
    return;
  }
  rows.push([prefix, fmt(value)]);
}

function configuration(run: ReportRun): string {
  const c = run.config;
  if (!c) return '';
  const rows: string[][] = [];
  // callbacks and log are functions (config.json holds {} or nothing for them).
  if (c.trainer) flatten(Object.fromEntries(Object.entries(c.trainer).filter(([k]) => k !== 'callbacks' && k !== 'log')), 'trainer', rows);
  if (c.model) {
    const { tasks, ...model } = c.model;
    flatten(model, 'model', rows);
    (tasks ?? []).forEach((t, i) => rows.push([`model.tasks[${i}]`, JSON.stringify(t)]));
  }
  const arch = c.architecture === undefined ? '' : `\n<pre>${escapeHtml(typeof c.architecture === 'string' ? c.architecture : JSON.stringify(c.architecture, null, 2))}</pre>`;
  return table(['key', 'value'], rows, 'kv') + arch;
}

function comparisonTable(run: ReportRun): string {
  const c = run.comparison!;
  const metrics = c.tasks.flatMap((t) => (c.metrics[t] ?? []).map((m) => [t, m] as const));
  const head = ['configuration', 'weighting', ...metrics.map(([t, m]) => `${t} ${m}${HIGHER_IS_BETTER[m as keyof typeof HIGHER_IS_BETTER] === false ? ' ↓' : ''}`), 'Δm (%)', 'epoch', 'seconds'];
  type Table = Record<string, Record<string, number>> | undefined;
  // With the fair protocol: mean ± sd over the seeds.
  const cell = (mean: Table, sd: Table, t: string, m: string): string => {
    const s = sd?.[t]?.[m];
    return `${fmt(mean?.[t]?.[m])}${typeof s === 'number' && Number.isFinite(s) ? ` ± ${fmt(s, 2)}` : ''}`;
  };
  const tuned = c.tuning;
  const rows: string[][] = [
    ['single-task baselines', '–', ...metrics.map(([t, m]) => cell(c.baselines as Table, tuned?.baselines[t]?.sd as Table, t, m)), '0', '–', '–'],
  ];
  for (const r of c.runs) {
    const row = tuned?.runs.find((x) => x.label === r.label);
    const dm = row?.deltaM && Number.isFinite(row.deltaM.sd) ? ` ± ${fmt(row.deltaM.sd, 2)}` : '';
    rows.push([r.label, r.weighting, ...metrics.map(([t, m]) => cell(r.metrics as Table, row?.sd as Table, t, m)), `${fmt(r.deltaM, 3)}${dm}`, String(r.epoch), fmt(r.seconds, 3)]);
  }
  const settings = c.settings ? `\n<details><summary>settings</summary><pre>${escapeHtml(JSON.stringify(c.settings, null, 2))}</pre></details>` : '';
  const protocol = tuned
    ? `Fair protocol: each row's setting selected on a validation split of ${tuned.validation.rows} rows, then trained with seeds ${tuned.seeds.join(', ')} and reported on the test set (${tuned.testRows} rows) as mean ± sd; epoch: the first seed's.`
    : `Metrics at the ${c.selection} epoch of each run.`;
  return table(head, rows, 'numbers') + `\n<p>${escapeHtml(protocol)}${c.backend ? ` Backend ${escapeHtml(c.backend)}.` : ''}</p>` + settings;
}

function groupsTable(run: ReportRun): string {
  const g = run.groups!;
  const rows = g.groups.map((grp, k) => [`${k + 1}`, grp.tasks.join(', '), grp.tasks.map((t) => `${t} ${fmt(grp.scores[t], 3)}`).join(', ')]);
  return table(['group', 'tasks', 'score of each member'], rows) + `\n<p>Objective (mean over the tasks of each task's best score): ${escapeHtml(fmt(g.total, 4))}; ${escapeHtml(g.method)} search${g.overlap ? ', overlapping groups' : ''}.</p>`;
}

function continualTable(run: ReportRun): string {
  const c = run.continual!;
  const rows: string[][] = [];
  if (c.from !== undefined) rows.push(['extended from', String(c.from)]);
  if (c.retain !== undefined) rows.push(['retain', JSON.stringify(c.retain)]);
  const m = c.continual?.metrics ?? {};
  const pct = (v: unknown): string => (typeof v === 'number' && Number.isFinite(v) ? `${(100 * v).toFixed(2)}` : '–');
  const names: Record<string, string> = { averageAccuracy: 'ACC (%)', backwardTransfer: 'BWT (points)', averageForgetting: 'mean forgetting (points)', forwardTransfer: 'FWT (points)' };
  for (const [k, label] of Object.entries(names)) if (k in m) rows.push([label, pct(m[k])]);
  if (Array.isArray(m.forgetting) && c.continual) rows.push(['forgetting per task (points)', c.continual.tasks.map((t, j) => `${t} ${pct((m.forgetting as unknown[])[j])}`).join(', ')]);
  return rows.length > 0 ? table(['', ''], rows, 'kv') : '';
}

const STYLE = `
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; margin: 0 auto; max-width: 1100px; padding: 1rem 1.5rem 3rem; color: #222; }
h1 { font-size: 1.5rem; margin-bottom: .2rem; } h2 { font-size: 1.2rem; border-bottom: 1px solid #ddd; padding-bottom: .2rem; margin-top: 2rem; }
h3 { font-size: 1rem; margin: .2rem 0; } nav { font-size: .9rem; color: #555; } nav a { margin-right: .8rem; }
figure.chart { margin: 1rem 0 1.5rem; } figure.chart svg { max-width: 100%; height: auto; }
figcaption { font-size: .85rem; color: #555; max-width: 48rem; }
table { border-collapse: collapse; font-size: .85rem; margin: .5rem 0; } th, td { border: 1px solid #ddd; padding: .2rem .5rem; text-align: left; vertical-align: top; }
table.numbers td { text-align: right; font-variant-numeric: tabular-nums; } table.kv td:first-child { font-weight: 600; white-space: nowrap; }
table.kv td { word-break: break-word; } pre { background: #f6f6f6; padding: .5rem; font-size: .8rem; overflow-x: auto; }
`;

/** One chart as a figure: its heading, inline SVG and caption. */
async function figure(chart: Chart): Promise<string> {
  const svg = await renderSvg(chart.spec);
  return `<figure class="chart" data-chart="${escapeHtml(chart.id)}"><h3>${escapeHtml(chart.title)}</h3>\n${svg}\n<figcaption>${escapeHtml(chart.caption)}</figcaption></figure>`;
}

/**
 * The report of a run (see {@link readRun}) as one self-contained HTML page: an overview
 * (source, backend, machine, time), the charts the run has data for (per-task loss and
 * validation metrics, the strategy's weights or coefficients and learned state, learning rate,
 * penalties, auxiliary-task stopping, affinity with the chosen groups, compare's Δm, the
 * continual accuracy matrix, confusion matrices), the tables (epochs, compare results, groups,
 * continual metrics) and the configuration. Nothing in the page loads anything: the charts are
 * inline SVG rendered here with Vega-Lite and Vega, there is no script, and its
 * Content-Security-Policy forbids every fetch.
 * @throws ValueError when `run` is not an object.
 */
export async function renderReport(run: ReportRun): Promise<string> {
  if (typeof run !== 'object' || run === null || typeof run.source !== 'string') throw new ValueError(`Expected a ReportRun (from readRun) for renderReport but received ${describe(run)}`);
  const charts = reportCharts(run);
  const figures = new Map<string, string>();
  for (const c of charts) figures.set(c.id, await figure(c));
  const take = (pred: (id: string) => boolean): string => [...figures].filter(([id]) => pred(id)).map(([, f]) => f).join('\n');
  const sections: [string, string, string][] = [['overview', 'Overview', overview(run)]];
  const history = run.history ?? [];
  const trainingFigures = take((id) => !/^(affinity-|compare-|continual|confusion-)/.test(id));
  if (history.length > 0) sections.push(['training', 'Training', `${trainingFigures}\n${epochTable(history, [...taskRoles(run).keys()])}`]);
  const confusion = take((id) => id.startsWith('confusion-'));
  if (confusion) sections.push(['confusion', 'Confusion matrices', confusion]);
  const affinity = take((id) => id.startsWith('affinity-'));
  if (affinity || run.groups) sections.push(['affinity', 'Task affinity', `${affinity}\n${run.groups ? groupsTable(run) : ''}`]);
  if (run.comparison) sections.push(['compare', 'Comparison', `${take((id) => id.startsWith('compare-'))}\n${comparisonTable(run)}`]);
  if (run.continual) sections.push(['continual', 'Continual learning', `${take((id) => id === 'continual')}\n${continualTable(run)}`]);
  if (run.config) sections.push(['configuration', 'Configuration', configuration(run)]);
  const nav = sections.map(([id, title]) => `<a href="#${id}">${escapeHtml(title)}</a>`).join('');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="hydranet report">
<title>hydranet report: ${escapeHtml(run.title)}</title>
<style>${STYLE}</style>
</head>
<body>
<h1>hydranet report: ${escapeHtml(run.title)}</h1>
<nav>${nav}</nav>
${sections.map(([id, title, body]) => section(id, title, body)).join('\n')}
</body>
</html>
`;
}
