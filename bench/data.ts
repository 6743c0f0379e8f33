/**
 * The data-path bench (issue 16, "Performance"): `node dist/bench/data.js [--rows 100000]`.
 *
 * Writes a CSV of `rows` × 40 columns (24 numeric, some with ~5% missing values; 14
 * categorical with 10–50 levels, a few missing; two label columns: a 4-class `kind` and a
 * binary `flag`) into a temp folder, then, `--reps` times (median reported):
 *  (a) reads it into a dataset: readTable, fitSchema, applySchema (seconds and CPU seconds
 *      each, rows/s), and,
 *      for scale, papaparse alone on the same file, decoded and streamed 1 MiB at a time (every
 *      chunk of rows handed over and dropped; readTable cuts text without quotes itself, from
 *      its bytes, as papaparse's own path for such text cuts the decoded text, and hands a file
 *      to papaparse from its first quote);
 *  (b) predicts on it with the cpu backend: an MLP, trunk 64-32 ReLU, 2 tasks, batch 256;
 *  (c) beside them, the peer (bench/peers/pandas_torch.py under Debian's /usr/bin/python3):
 *      pandas read_csv + the same preprocessing into float32 numpy, and PyTorch CPU
 *      inference of the same MLP (no_grad, batch 256, threads = cores, under peers.ts's peerEnv);
 *  (d) the goal check: one epoch of Trainer.fit (cpu, SGD, batch 256) on the dataset, to say
 *      whether loading is the bottleneck (load seconds / epoch seconds).
 * `--json` prints the records (one JSON array) instead of the table; `--no-peers` skips (c);
 * `--data-threads N` sets the threads of the cpu addon's data path (setDataThreads: the scan's
 * split, schemaInputs; default 2, 1 on one core).
 */
import { spawnSync } from 'node:child_process';
import { createReadStream, mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import Papa from 'papaparse';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createBackend } from '../ts/backends/create.js';
import { nativeCsvAvailable, setDataThreads } from '../ts/data/csv.js';
import { applySchema, fitSchema, readTable, type SchemaSpec } from '../ts/data/schema.js';
import { MultiTaskModel } from '../ts/mtl/model.js';
import { Trainer } from '../ts/train/trainer.js';
import { ConfigError, describe } from '../ts/errors.js';
import { machineInfo, peerEnv } from './peers.js';
import { summarize, type Summary } from './stats.js';

/** The script's command-line options. */
export interface DataBenchOptions {
  /** Rows of the generated CSV. */
  rows: number;
  /** Repetitions of each measurement (the median is reported). */
  reps: number;
  /** Print the records as JSON instead of the table. */
  json: boolean;
  /** Skip the pandas + PyTorch peer. */
  peers: boolean;
  /** Threads of the cpu addon's data path (see setDataThreads); undefined: its default. */
  dataThreads?: number;
}

/** One measured figure: `metric` in `unit`, median/min/max over the repetitions. */
export interface DataBenchRecord {
  /** What was measured: 'read', 'fitSchema', 'applySchema', 'load', 'predict', 'epoch', ... */
  stage: string;
  /** Who ran it: 'hydranet' or 'pandas+torch'. */
  system: string;
  /** 'seconds', 'cpu-s' (CPU seconds of the whole process, every thread: steadier than wall time on a shared machine), 'rows/s' or 'ratio'. */
  unit: string;
  /** Median over the repetitions. */
  median: number;
  /** Minimum over the repetitions. */
  min: number;
  /** Maximum over the repetitions. */
  max: number;
  /** Rows measured. */
  rows: number;
  /** Why the figure is missing (a skipped peer), or a remark. */
  note?: string;
}

const USAGE = 'usage: node dist/bench/data.js [--rows N] [--reps R] [--json] [--no-peers] [--data-threads N]';
const NUMERIC = 24;
const CATEGORICAL = 14;
const PYTHON = process.env.HYDRANET_BENCH_PYTHON || '/usr/bin/python3';

/** Parses the command line; ConfigError naming the flag on anything unknown or malformed. */
export function parseDataBenchOptions(argv: readonly string[]): DataBenchOptions {
  const o: DataBenchOptions = { rows: 100_000, reps: 3, json: false, peers: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--json') o.json = true;
    else if (a === '--no-peers') o.peers = false;
    else if (a === '--rows' || a === '--reps' || a === '--data-threads') {
      const v = Number(argv[++i]);
      const least = a === '--rows' ? 100 : 1;
      if (!Number.isInteger(v) || v < least || (a === '--data-threads' && v > 256)) {
        throw new ConfigError(`Expected an integer ≥ ${least}${a === '--data-threads' ? ' and ≤ 256' : ''} for ${a} but received ${describe(argv[i])}; ${USAGE}`);
      }
      if (a === '--rows') o.rows = v;
      else if (a === '--reps') o.reps = v;
      else o.dataThreads = v;
    } else throw new ConfigError(`Unknown option ${describe(a)}; ${USAGE}`);
  }
  return o;
}

/** A small seeded generator (mulberry32), so the CSV is the same on every run. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Writes the bench CSV (see the file comment) and returns its path. */
export function writeBenchCsv(dir: string, rows: number, seed = 16): string {
  const rand = rng(seed);
  const levels = Array.from({ length: CATEGORICAL }, (_, j) => 10 + Math.round((40 * j) / (CATEGORICAL - 1)));
  const header = [
    ...Array.from({ length: NUMERIC }, (_, j) => `x${j}`),
    ...Array.from({ length: CATEGORICAL }, (_, j) => `c${j}`),
    'kind',
    'flag',
  ];
  const lines: string[] = [header.join(',')];
  const cells: string[] = new Array(header.length);
  for (let r = 0; r < rows; r++) {
    let score = 0;
    for (let j = 0; j < NUMERIC; j++) {
      const x = (rand() - 0.5) * 4 + j;
      score += j < 4 ? x - j : 0;
      cells[j] = j % 3 === 0 && rand() < 0.05 ? '' : x.toFixed(4);
    }
    for (let j = 0; j < CATEGORICAL; j++) {
      const level = Math.floor(rand() * levels[j]);
      if (j === 0) score += level % 3;
      cells[NUMERIC + j] = j % 4 === 1 && rand() < 0.02 ? 'NA' : `v${level}`;
    }
    cells[NUMERIC + CATEGORICAL] = String(Math.min(3, Math.max(0, Math.floor(score / 2 + 1.5))));
    cells[NUMERIC + CATEGORICAL + 1] = score + rand() - 0.5 > 1 ? '1' : '0';
    lines.push(cells.join(','));
  }
  const file = join(dir, 'bench-data.csv');
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

/** The schema the bench reads the CSV with: every other column an input, inferred. */
export const BENCH_SCHEMA: SchemaSpec = {
  tasks: [
    { name: 'kind', kind: 'classification' },
    { name: 'flag', kind: 'binary' },
  ],
};

const seconds = (t0: number): number => (performance.now() - t0) / 1000;
/** CPU seconds the process has used so far, user + system, every thread (the garbage collector's too). */
const cpuSeconds = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

function record(stage: string, system: string, unit: string, samples: number[], rows: number, note?: string): DataBenchRecord {
  const s: Summary = summarize(samples);
  return { stage, system, unit, median: s.median, min: s.min, max: s.max, rows, ...(note ? { note } : {}) };
}

interface PeerOutput {
  read: number[];
  preprocess: number[];
  predict: number[];
  features: number;
  threads: number;
  versions: Record<string, string>;
}

/** Runs bench/peers/pandas_torch.py; its result, or why it was skipped. */
function runPeer(file: string, reps: number, threads: number): { ok: true; value: PeerOutput } | { ok: false; reason: string } {
  const script = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'peers', 'pandas_torch.py');
  if (!existsSync(script)) return { ok: false, reason: `${script} not found` };
  if (!existsSync(PYTHON)) return { ok: false, reason: `${PYTHON} does not exist` };
  // peerEnv: passive OpenMP and OpenBLAS's best core (over an OPENBLAS_CORETYPE the environment sets), at `threads`.
  const env = { ...peerEnv(machineInfo()).env, OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: String(threads) };
  const r = spawnSync(PYTHON, [script, '--csv', file, '--reps', String(reps), '--threads', String(threads)], { env, encoding: 'utf8', timeout: 600_000, maxBuffer: 1 << 24 });
  const last = (s: string | null): string => String(s ?? '').trim().split('\n').slice(-2).join(' | ');
  if (r.status === 3) return { ok: false, reason: `${last(r.stderr)} (install python3-pandas / python3-torch for ${PYTHON})` };
  if (r.status !== 0) return { ok: false, reason: `pandas_torch.py failed (exit ${r.status ?? r.signal}): ${last(r.stderr)}` };
  try {
    return { ok: true, value: JSON.parse(r.stdout) as PeerOutput };
  } catch (e) {
    return { ok: false, reason: `pandas_torch.py printed no valid JSON (${(e as Error).message})` };
  }
}

/** Seconds papaparse takes to go through `file` streamed as readTable streams it (1 MiB reads, UTF-8), keeping nothing. */
async function parserAlone(file: string): Promise<number> {
  const t0 = performance.now();
  await new Promise<void>((resolve, reject) => {
    Papa.parse<string[]>(createReadStream(file, { highWaterMark: 1 << 20, encoding: 'utf8' }), {
      delimiter: ',',
      chunk: () => {
        // every chunk's rows dropped
      },
      complete: () => resolve(),
      error: reject,
    });
  });
  return seconds(t0);
}

/** Runs every measurement on a CSV of `opts.rows` rows; the records, in table order. */
export async function runDataBench(opts: DataBenchOptions): Promise<DataBenchRecord[]> {
  const dir = mkdtempSync(join(tmpdir(), 'hydranet-data-bench-'));
  const threads = availableParallelism();
  // The data path's setting in force (setDataThreads returns it), restored at the end.
  const before = setDataThreads(1);
  const dataThreads = opts.dataThreads ?? before.threads;
  setDataThreads(dataThreads, before.minBytes);
  try {
    const file = writeBenchCsv(dir, opts.rows);
    const n = opts.rows;
    const t = { readCpu: [] as number[], fitCpu: [] as number[], applyCpu: [] as number[], loadCpu: [] as number[], parser: [] as number[], read: [] as number[], fit: [] as number[], apply: [] as number[], load: [] as number[], predict: [] as number[], epoch: [] as number[] };
    const backend = await createBackend('cpu', { threads });
    let model: MultiTaskModel | null = null;
    let features = 0;
    for (let rep = 0; rep < opts.reps; rep++) {
      t.parser.push(await parserAlone(file));
      const c0 = cpuSeconds();
      let t0 = performance.now();
      const table = await readTable(file);
      t.read.push(seconds(t0));
      const c1 = cpuSeconds();
      t0 = performance.now();
      const fitted = fitSchema(table, BENCH_SCHEMA);
      t.fit.push(seconds(t0));
      const c2 = cpuSeconds();
      t0 = performance.now();
      const { dataset } = applySchema(fitted, table);
      features = fitted.featureNames.length;
      t.apply.push(seconds(t0));
      const c3 = cpuSeconds();
      t.readCpu.push(c1 - c0);
      t.fitCpu.push(c2 - c1);
      t.applyCpu.push(c3 - c2);
      t.loadCpu.push(c3 - c0);
      t.load.push(t.read[rep] + t.fit[rep] + t.apply[rep]);
      model ??= new MultiTaskModel(backend, {
        inputShape: [fitted.featureNames.length],
        trunk: [
          { type: 'dense', units: 64, activation: 'relu' },
          { type: 'dense', units: 32, activation: 'relu' },
        ],
        tasks: [
          { name: 'kind', kind: 'classification', classes: 4 },
          { name: 'flag', kind: 'binary' },
        ],
        maxBatch: 256,
        seed: 1,
      });
      if (rep === 0) await model.predict(dataset.inputs.subarray(0, 256 * model.featureSize)); // warm-up
      t0 = performance.now();
      await model.predict(dataset);
      t.predict.push(n / seconds(t0));
      const trainer = new Trainer(model, { optimizer: { kind: 'sgd', lr: 0.05, momentum: 0.9 }, batchSize: 256, epochs: 1, seed: 1, progress: false, log: null });
      t0 = performance.now();
      await trainer.fit(dataset);
      t.epoch.push(seconds(t0));
    }
    const readPath = nativeCsvAvailable()
      ? `rows without quotes cut by the cpu addon (native/cpu/csv.cc), ${dataThreads > 1 ? 'split between 2 threads' : '1 thread'}`
      : 'cpu addon not built: rows cut in JavaScript';
    const records: DataBenchRecord[] = [
      record('papaparse alone', 'hydranet', 'seconds', t.parser, n, 'parse, keep nothing (readTable parses quoted text with it)'),
      record('readTable', 'hydranet', 'seconds', t.read, n, readPath),
      record('readTable', 'hydranet', 'cpu-s', t.readCpu, n),
      record('fitSchema', 'hydranet', 'seconds', t.fit, n),
      record('fitSchema', 'hydranet', 'cpu-s', t.fitCpu, n),
      record('applySchema', 'hydranet', 'seconds', t.apply, n, `${features} features${nativeCsvAvailable() ? `, inputs written on up to ${dataThreads} threads` : ''}`),
      record('applySchema', 'hydranet', 'cpu-s', t.applyCpu, n),
      record('load', 'hydranet', 'seconds', t.load, n),
      record('load', 'hydranet', 'cpu-s', t.loadCpu, n, 'readTable + fitSchema + applySchema, CPU of every thread'),
      record('load', 'hydranet', 'rows/s', t.load.map((s) => n / s), n),
      record('predict', 'hydranet', 'rows/s', t.predict, n, `cpu backend, ${threads} threads, batch 256`),
      record('epoch', 'hydranet', 'seconds', t.epoch, n, 'Trainer.fit, 1 epoch, SGD, batch 256'),
      record('load/epoch', 'hydranet', 'ratio', t.load.map((s, i) => s / t.epoch[i]), n, 'above 1: loading takes longer than an epoch'),
    ];
    if (!opts.peers) return records;
    const peer = runPeer(file, opts.reps, threads);
    if (!peer.ok) {
      records.push({ stage: 'load', system: 'pandas+torch', unit: 'seconds', median: NaN, min: NaN, max: NaN, rows: n, note: `skipped: ${peer.reason}` });
      return records;
    }
    const p = peer.value;
    const pLoad = p.read.map((s, i) => s + p.preprocess[i]);
    const note = `pandas ${p.versions.pandas}, torch ${p.versions.torch}, ${p.threads} threads`;
    records.push(
      record('read_csv', 'pandas+torch', 'seconds', p.read, n, note),
      record('preprocess', 'pandas+torch', 'seconds', p.preprocess, n, `${p.features} features`),
      record('load', 'pandas+torch', 'seconds', pLoad, n),
      record('load', 'pandas+torch', 'rows/s', pLoad.map((s) => n / s), n),
      record('predict', 'pandas+torch', 'rows/s', p.predict, n, 'torch.no_grad, batch 256'),
      record('load hydranet/pandas', 'ratio', 'ratio', [summarize(t.load).median / summarize(pLoad).median], n, 'seconds / seconds, medians; above 1: hydranet slower'),
      record('predict hydranet/torch', 'ratio', 'ratio', [summarize(t.predict).median / summarize(p.predict).median], n, 'rows/s / rows/s, medians; above 1: hydranet faster'),
    );
    return records;
  } finally {
    setDataThreads(before.threads, before.minBytes, before.apart);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The records as a small table, with the goal check's verdict. */
export function formatDataBench(records: readonly DataBenchRecord[]): string {
  const fmt = (x: number, unit: string): string => (Number.isNaN(x) ? '-' : unit === 'rows/s' ? Math.round(x).toLocaleString('en-US') : x.toFixed(unit === 'ratio' ? 2 : 3));
  const out = [`rows: ${records[0]?.rows ?? 0}, medians [min … max] over the repetitions`, ''];
  out.push(`${'stage'.padEnd(24)}${'system'.padEnd(14)}${'unit'.padEnd(9)}${'median'.padStart(12)}  range / note`);
  for (const r of records) {
    const range = Number.isNaN(r.median) ? '' : `[${fmt(r.min, r.unit)} … ${fmt(r.max, r.unit)}]`;
    out.push(`${r.stage.padEnd(24)}${r.system.padEnd(14)}${r.unit.padEnd(9)}${fmt(r.median, r.unit).padStart(12)}  ${range}${r.note ? `  ${r.note}` : ''}`);
  }
  const ratio = records.find((r) => r.stage === 'load/epoch');
  if (ratio) {
    out.push('', ratio.median > 1
      ? `goal check: loading (${ratio.median.toFixed(2)}× an epoch) IS the bottleneck`
      : `goal check: loading takes ${ratio.median.toFixed(2)}× one training epoch: not the bottleneck`);
  }
  return out.join('\n');
}

async function main(): Promise<void> {
  const opts = parseDataBenchOptions(process.argv.slice(2));
  const records = await runDataBench(opts);
  process.stdout.write(opts.json ? `${JSON.stringify(records, null, 1)}\n` : `${formatDataBench(records)}\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}\n`);
    process.exitCode = 1;
  });
}
