/**
 * `node dist/bench/affinity/summary.js FILE [--tasks a,b,...]`: the mean and spread over seeds
 * of a groups-proof JSON (bench/affinity/groups.ts): per configuration, each task's headline
 * metric, Δm over every main task (as compare() counts it), and Δm over the --tasks subset
 * (recomputed with deltaM from the same metrics); and the transferability gains, averaged.
 */
import * as fs from 'node:fs';
import { parseArgs } from 'node:util';
import { type MetricTable, deltaM } from '../../ts/train/compare.js';

const { values, positionals } = parseArgs({ options: { tasks: { type: 'string' } }, allowPositionals: true });
interface Entry {
  seed: number;
  groups?: { baselines: MetricTable; all: { metrics: MetricTable; deltaM: number }; groupings: { label: string; groups: string[][]; metrics: MetricTable; deltaM: number }[] };
  transfer?: { tasks: string[]; gain: number[][]; baseline: number[]; scratch?: number[]; table: number[][] };
}
const report = JSON.parse(fs.readFileSync(positionals[0], 'utf8')) as { settings: { tasks: string[] }; seeds: Entry[] };
const subset = values.tasks?.split(',');
const stats = (xs: number[]): string => {
  const m = xs.reduce((s, x) => s + x, 0) / xs.length;
  const sd = xs.length > 1 ? Math.sqrt(xs.reduce((s, x) => s + (x - m) ** 2, 0) / (xs.length - 1)) : 0;
  return `${m >= 0 ? '+' : ''}${m.toFixed(2)} ± ${sd.toFixed(2)}`;
};
const pick = (t: MetricTable, tasks: readonly string[]): MetricTable => Object.fromEntries(tasks.map((k) => [k, t[k]]));
const withGroups = report.seeds.filter((e) => e.groups);
if (withGroups.length > 0) {
  const rows = new Map<string, { acc: Record<string, number[]>; dm: number[]; dmSubset: number[] }>();
  const add = (label: string, metrics: MetricTable, dm: number, baselines: MetricTable): void => {
    const row = rows.get(label) ?? { acc: {}, dm: [], dmSubset: [] };
    for (const t of report.settings.tasks) {
      const v = metrics[t] ? Object.values(metrics[t])[0] : undefined;
      if (v !== undefined) (row.acc[t] ??= []).push(100 * v);
    }
    row.dm.push(dm);
    if (subset) row.dmSubset.push(deltaM(pick(baselines, subset), metrics));
    rows.set(label, row);
  };
  for (const e of withGroups) {
    const g = e.groups!;
    add('single-task', g.baselines, 0, g.baselines);
    add('all tasks', g.all.metrics, g.all.deltaM, g.baselines);
    for (const x of g.groupings) add(`${x.label}: ${x.groups.map((y) => `[${y.join(',')}]`).join(' ')}`, x.metrics, x.deltaM, g.baselines);
  }
  console.log(`over ${withGroups.length} seed(s) (${withGroups.map((e) => e.seed).join(', ')}): mean ± sd; accuracy %`);
  for (const [label, r] of rows) {
    const acc = report.settings.tasks.map((t) => (r.acc[t] ? `${t} ${stats(r.acc[t]).replace('+', '')}` : `${t} —`)).join(', ');
    console.log(`${label}\n  ${acc}\n  Δm ${stats(r.dm)}%${subset ? `, Δm over ${subset.join(', ')} ${stats(r.dmSubset)}%` : ''}`);
  }
}
const withTransfer = report.seeds.filter((e) => e.transfer);
if (withTransfer.length > 0) {
  const tasks = withTransfer[0].transfer!.tasks;
  console.log(`\ntransferability gain (accuracy points ×100, mean ± sd over ${withTransfer.length} seed(s)); rows: source, columns: target`);
  console.log(''.padEnd(12) + tasks.map((t) => t.padStart(16)).join(''));
  tasks.forEach((s, i) => {
    console.log(s.padEnd(12) + tasks.map((_, j) => stats(withTransfer.map((e) => 100 * e.transfer!.gain[i][j])).padStart(16)).join(''));
  });
  for (const [name, key] of [['random', 'baseline'], ['scratch', 'scratch']] as const) {
    if (!withTransfer[0].transfer![key]) continue;
    console.log(name.padEnd(12) + tasks.map((_, j) => stats(withTransfer.map((e) => 100 * e.transfer![key]![j])).replace('+', '').padStart(16)).join(''));
  }
}
