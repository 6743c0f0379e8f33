/**
 * MultiMNIST training beside TensorFlow.js: time to a target accuracy, accuracy parity after
 * the same epochs, and peak memory. Every run is its own process (bench/train-run.ts for
 * hydranet, bench/peers/tfjs_train.ts for tfjs), so that its peak RSS is its own. See MNIST_RUN
 * in workloads.ts for the configuration; both sides start from the same weights and visit the
 * same batches in the same order, so their accuracies should agree up to float rounding. What
 * "noise" means for the parity verdict is measured too: hydranet cpu runs again with other
 * seeds (other pairings, initialisation and order), and the binomial standard error of an
 * accuracy on the test set is computed; a difference counts as noise when it is within
 * 2 × max(seed-to-seed standard deviation, binomial SE of the difference).
 */
import { type ChildResult, runJsonChild } from './child.js';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TfjsBackend } from './peers/tfjs_common.js';
import { type BenchRecord, bySystem, fmt, markdownTable, ratio, table } from './report.js';
import { MNIST_RUN, type MnistRunResult } from './workloads.js';

const here = path.dirname(fileURLToPath(import.meta.url));

export interface MnistPlan {
  epochs: number;
  /** Training pairs (undefined: all 60,000). */
  trainSize?: number;
  /** Test pairs (undefined: all 10,000). */
  testSize?: number;
  /** Accuracy every task must reach, as a fraction. */
  target: number;
  seed: number;
  /** Extra hydranet cpu seeds for the seed-to-seed spread. */
  noiseSeeds: number[];
  /** Loss weights per task (default MNIST_RUN.weights). */
  weights?: readonly number[];
}

/** --quick: 40 steps an epoch on a 10,240-pair prefix; full: the whole of MultiMNIST. */
export function mnistPlan(quick: boolean): MnistPlan {
  return quick
    ? { epochs: 2, trainSize: 10240, testSize: 2000, target: 0.75, seed: 1, noiseSeeds: [2, 3] }
    : { epochs: 2, target: 0.85, seed: 1, noiseSeeds: [2, 3, 4] };
}

export function describeMnistPlan(p: MnistPlan): string {
  return (
    `MultiMNIST ${p.trainSize ? `first ${p.trainSize.toLocaleString('en-US')} training pairs` : '60,000 training pairs'}, ` +
    `${p.testSize ? `first ${p.testSize.toLocaleString('en-US')}` : '10,000'} test pairs, ${p.epochs} epochs, target ${(p.target * 100).toFixed(0)} % on both tasks`
  );
}

/** Steps of one run (all epochs). */
export function mnistSteps(p: MnistPlan): number {
  return p.epochs * Math.ceil((p.trainSize ?? 60000) / MNIST_RUN.batch);
}

function planArgs(p: MnistPlan, seed: number): string[] {
  return [
    '--epochs',
    String(p.epochs),
    '--seed',
    String(seed),
    ...(p.trainSize ? ['--train-size', String(p.trainSize)] : []),
    ...(p.testSize ? ['--test-size', String(p.testSize)] : []),
    ...(p.weights ? ['--weights', p.weights.join(',')] : []),
  ];
}

/** A hydranet run on `backend`; `init` (when given) receives the initial weights. */
export function runHydranetMnist(backend: string, p: MnistPlan, seed: number, init?: string, threads?: number): ChildResult<MnistRunResult> {
  const args = ['--backend', backend, ...planArgs(p, seed), ...(init ? ['--init', init] : []), ...(threads ? ['--threads', String(threads)] : [])];
  return runJsonChild(path.join(here, 'train-run.js'), args, 3600);
}

/** A tfjs run on `backend`, starting from the weights in `init`. */
export function runTfjsMnist(backend: TfjsBackend, p: MnistPlan, init: string): ChildResult<MnistRunResult> {
  return runJsonChild(path.join(here, 'peers', 'tfjs_train.js'), ['--backend', backend, '--init', init, ...planArgs(p, p.seed)], 3600);
}

/** A temp file for the initial weights, removed by the returned function. */
export function initFile(): { file: string; remove: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hydranet-bench-init-'));
  return { file: path.join(dir, 'init.safetensors'), remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

const MIB = 2 ** 20;

/** The records of one run: time to target (or why not), final accuracies, memory. */
export function mnistRecords(v: MnistRunResult, p: MnistPlan, extra: Partial<BenchRecord> = {}): BenchRecord[] {
  const base = { workload: 'MultiMNIST', system: v.system, backend: v.backend, threads: v.threads, ...extra };
  const one = (metric: string, unit: string, x: number, more: Partial<BenchRecord> = {}): BenchRecord => ({ ...base, metric, unit, median: x, min: x, max: x, ...more });
  const out: BenchRecord[] = [];
  let clock = 0;
  const hit = v.epochs.find((e) => {
    clock += e.seconds;
    return e.accuracy.every((a) => a >= p.target);
  });
  const last = v.epochs[v.epochs.length - 1];
  const trained = v.epochs.reduce((s, e) => s + e.seconds, 0);
  if (hit) {
    out.push(one('time_to_target_s', 's', clock, { epochs_to_target: hit.epoch, target: p.target }));
  } else {
    const best = MNIST_RUN.tasks.map((t, i) => `${t} ${fmt(Math.max(...v.epochs.map((e) => e.accuracy[i])) * 100)} %`).join(', ');
    out.push({ ...base, metric: 'time_to_target_s', unit: 's', median: null, min: null, max: null, target: p.target, skipped: `not reached in ${p.epochs} epochs (best ${best})` });
  }
  out.push(one('epoch_seconds', 's', trained / v.epochs.length, { train_seconds: trained, setup_seconds: v.setup_seconds }));
  MNIST_RUN.tasks.forEach((task, i) =>
    out.push(one('val_accuracy', '%', last.accuracy[i] * 100, { case: task, epochs: last.epoch, per_epoch: v.epochs.map((e) => e.accuracy[i] * 100), test_size: v.test_size })),
  );
  out.push(one('peak_rss_mib', 'MiB', v.peak_rss / MIB, { data_rss_mib: v.data_rss / MIB }));
  if (v.device_bytes !== undefined) out.push(one('device_mib', 'MiB', v.device_bytes / MIB));
  return out;
}

/** Sample standard deviation (0 for fewer than two values). */
function sd(xs: readonly number[]): number {
  if (xs.length < 2) return 0;
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1));
}

/**
 * Ratios (time to target: peer / hydranet, > 1 when hydranet is faster; peak RSS and device
 * memory: hydranet / peer) and the accuracy parity of every hydranet backend against every
 * tfjs backend, with the noise they are judged against.
 */
export function mnistComparisons(records: readonly BenchRecord[], p: MnistPlan): BenchRecord[] {
  const mn = records.filter((r) => r.workload === 'MultiMNIST');
  const get = (system: string, backend: string, metric: string, task?: string): BenchRecord | undefined =>
    mn.find((r) => r.system === system && r.backend === backend && r.metric === metric && (task === undefined || r.case === task) && r.seed === undefined);
  const mine = [...new Set(mn.filter((r) => r.system === 'hydranet' && r.seed === undefined).map((r) => r.backend))];
  const theirs = [...new Set(mn.filter((r) => r.system === 'tfjs' && r.median !== null).map((r) => r.backend))];
  const out: BenchRecord[] = [];
  // Seed-to-seed spread of hydranet cpu (the run the peers share and the noise runs).
  const seedSpread = MNIST_RUN.tasks.map((task) => {
    const accs = mn.filter((r) => r.system === 'hydranet' && r.backend === 'cpu' && r.metric === 'val_accuracy' && r.case === task && r.median !== null).map((r) => r.median!);
    return { task, sd: sd(accs), seeds: accs.length };
  });
  for (const b of mine) {
    for (const t of theirs) {
      const base = { workload: 'MultiMNIST', system: 'hydranet/tfjs', backend: b, peer_backend: t };
      const a = get('hydranet', b, 'time_to_target_s');
      const c = get('tfjs', t, 'time_to_target_s');
      if (a?.median && c?.median) out.push({ ...base, metric: 'time_to_target_speedup', unit: 'x', median: c.median / a.median, min: c.median / a.median, max: c.median / a.median });
      for (const metric of ['peak_rss_mib', 'device_mib']) {
        const x = get('hydranet', b, metric);
        const y = get('tfjs', t, metric);
        if (x?.median && y?.median) out.push({ ...base, metric: `${metric}_ratio`, unit: 'x', median: x.median / y.median, min: x.median / y.median, max: x.median / y.median });
      }
      for (const { task, sd: seedSd, seeds } of seedSpread) {
        const x = get('hydranet', b, 'val_accuracy', task);
        const y = get('tfjs', t, 'val_accuracy', task);
        if (x?.median == null || y?.median == null) continue;
        const d = x.median - y.median;
        // Binomial standard error of the difference of two test accuracies, in points.
        const variance = (r: BenchRecord): number => ((r.median! / 100) * (1 - r.median! / 100)) / Number(r.test_size);
        const se = Math.sqrt(variance(x) + variance(y)) * 100;
        const bound = 2 * Math.max(seedSd, se);
        out.push({
          ...base,
          metric: 'accuracy_difference',
          unit: 'points',
          case: task,
          median: d,
          min: d,
          max: d,
          noise_bound: bound,
          seed_sd: seedSd,
          seeds,
          binomial_se: se,
          within_noise: Math.abs(d) <= bound,
        });
      }
    }
  }
  return out;
}

const who = (r: BenchRecord): string => `${r.system === 'tfjs' ? 'TensorFlow.js' : r.system} ${r.backend}`;

/** Rows of the MultiMNIST table: one per run of the seed the peers share. */
function rows(records: readonly BenchRecord[]): { label: string; cells: string[] }[] {
  const mn = records.filter((r) => r.workload === 'MultiMNIST' && r.seed === undefined).sort(bySystem);
  const runs = [...new Map(mn.filter((r) => r.system === 'hydranet' || r.system === 'tfjs').map((r) => [`${r.system} ${r.backend}`, r])).values()];
  return runs.map((r) => {
    const g = (metric: string, task?: string): BenchRecord | undefined =>
      mn.find((x) => x.system === r.system && x.backend === r.backend && x.metric === metric && (task === undefined || x.case === task));
    const ttt = g('time_to_target_s');
    const rss = g('peak_rss_mib');
    const dev = g('device_mib');
    const acc = MNIST_RUN.tasks.map((t) => g('val_accuracy', t));
    if (ttt?.skipped && !g('epoch_seconds')) return { label: who(r), cells: ['—', '—', '—', ...acc.map(() => '—'), '—', '—', `skipped: ${ttt.skipped}`] };
    return {
      label: who(r),
      cells: [
        ttt?.median != null ? `${fmt(ttt.median)} s` : '—',
        ttt?.median != null ? String(ttt.epochs_to_target) : '—',
        `${fmt(g('epoch_seconds')?.median)} s`,
        ...acc.map((a) => fmt(a?.median)),
        `${fmt(rss?.median)} MiB`,
        dev ? `${fmt(dev.median)} MiB` : '',
        ttt?.median == null && ttt?.skipped ? ttt.skipped : '',
      ],
    };
  });
}

const HEAD = (p: MnistPlan): string[] => [
  'system',
  `time to ${(p.target * 100).toFixed(0)} %`,
  'epochs',
  's/epoch',
  ...MNIST_RUN.tasks.map((t) => `${t} % (ep ${p.epochs})`),
  'peak RSS',
  'device',
  'note',
];

function parityLines(records: readonly BenchRecord[]): string[] {
  return records
    .filter((r) => r.metric === 'accuracy_difference')
    .map(
      (r) =>
        `hydranet ${r.backend} − tfjs ${String(r.peer_backend)}, ${r.case}: ${r.median! >= 0 ? '+' : ''}${r.median!.toFixed(2)} points ` +
        `(noise bound ±${(r.noise_bound as number).toFixed(2)}: seed sd ${(r.seed_sd as number).toFixed(2)} over ${String(r.seeds)} seeds, binomial SE of the difference ${(r.binomial_se as number).toFixed(2)}) → ${r.within_noise ? 'within noise' : 'OUTSIDE NOISE'}`,
    );
}

function ratioLines(records: readonly BenchRecord[]): string[] {
  const label: Record<string, string> = {
    time_to_target_speedup: 'time to target, tfjs / hydranet',
    peak_rss_mib_ratio: 'peak RSS, hydranet / tfjs',
    device_mib_ratio: 'device memory, hydranet / tfjs',
  };
  return records
    .filter((r) => r.workload === 'MultiMNIST' && r.metric in label)
    .map((r) => `hydranet ${r.backend} vs tfjs ${String(r.peer_backend)}: ${label[r.metric]} = ${ratio(r.median)}`);
}

/** The human-readable section. */
export function mnistText(records: readonly BenchRecord[], p: MnistPlan, notes: readonly string[]): string[] {
  const rs = rows(records);
  if (!rs.length) return [];
  const out = [
    '',
    `MultiMNIST training (${describeMnistPlan(p)}; multimnist-mlp, batch ${MNIST_RUN.batch}, SGD lr ${MNIST_RUN.lr} momentum ${MNIST_RUN.momentum}, same initial weights and batch order on every system)`,
    table(HEAD(p), rs.map((r) => [r.label, ...r.cells]), ['l', 'r', 'r', 'r', ...MNIST_RUN.tasks.map(() => 'r' as const), 'r', 'r', 'l']),
    '  time to target: training seconds (validation excluded) until the first epoch-end validation with every task at the target; each run is its own process (peak RSS: the whole process, datasets included)',
  ];
  const ratios = ratioLines(records);
  if (ratios.length) out.push('', ...ratios.map((l) => `  ${l}`));
  const parity = parityLines(records);
  if (parity.length) out.push('', `Accuracy parity after ${p.epochs} epochs:`, ...parity.map((l) => `  ${l}`));
  if (notes.length) out.push(...notes.map((n) => `  ${n}`));
  return out;
}

/** The Markdown section (README's performance section is regenerated from it). */
export function mnistMarkdown(records: readonly BenchRecord[], p: MnistPlan): string[] {
  const rs = rows(records);
  if (!rs.length) return [];
  return [
    '',
    `MultiMNIST training: ${describeMnistPlan(p)}; same initial weights and batch order on every system; time to target excludes validation; peak RSS is the whole runner process:`,
    '',
    markdownTable(HEAD(p), rs.map((r) => [r.label, ...r.cells])),
    '',
    ...[...ratioLines(records), ...parityLines(records)].map((l) => `- ${l}`),
  ];
}
