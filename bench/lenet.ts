/**
 * MultiLeNet training (the multimnist-lenet preset: conv trunk, two heads, batch 256, SGD
 * momentum 0.9, dropouts active): hydranet's steps/s and epoch time beside PyTorch CPU and
 * TensorFlow.js in the same run. tfjs runs in its own process (bench/peers/tfjs_lenet.ts), on
 * each of its backends; its wasm backend cannot train a convolution (no Conv2DBackpropFilter
 * kernel), which is reported as the reason it is skipped. PyTorch (bench/peers/torch_lenet.py)
 * runs at 1 and 2 threads, each in its fastest variant, and its best thread count is the peer.
 *
 * Alone, hydranet cpu against PyTorch in one run:
 *   node dist/bench/lenet.js [--threads N] [--quick] [--no-epoch] [--json]
 * prints both steps/s, both epoch times (60,000 random samples + validation on 10,000; --quick:
 * 10,240 + 2,000) and the ratios.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Backend } from '../ts/backends/backend.js';
import { createBackend } from '../ts/backends/create.js';
import { Rng } from '../ts/core/random.js';
import { MultiTaskDataset } from '../ts/data/dataset.js';
import { MultiTaskModel } from '../ts/mtl/model.js';
import { PRESETS } from '../ts/train/presets.js';
import { Optimizer } from '../ts/train/optimizer.js';
import { Trainer } from '../ts/train/trainer.js';
import type { TfjsBackend } from './peers/tfjs_common.js';
import { type PeerPlan, classifyBlas, machineInfo, peerEnv, runTorchLenet } from './peers.js';
import { runJsonChild } from './child.js';
import { plans } from './options.js';
import { type BenchRecord, fmt, ratio, ratioRecord, skipped, stepRatioLines } from './report.js';
import { type WindowPlan, measure, summarize } from './stats.js';

const BATCH = 256;
const here = path.dirname(fileURLToPath(import.meta.url));

/** The MultiLeNet model of the multimnist-lenet preset (tasks left and right, maxBatch 256) on `be`. */
function lenetModel(be: Backend): MultiTaskModel {
  const p = PRESETS['multimnist-lenet'];
  return new MultiTaskModel(be, {
    inputShape: p.inputShape,
    trunk: p.trunk,
    heads: p.heads,
    tasks: [
      { name: 'left', kind: 'classification', classes: 10 },
      { name: 'right', kind: 'classification', classes: 10 },
    ],
    maxBatch: BATCH,
    seed: 1,
  });
}

/**
 * The MultiLeNet model (the multimnist-lenet preset, two tasks, batch 256) on `be`, its
 * optimizer and one uploaded random batch: `run(k)` is k real training steps, no readbacks.
 */
export function lenetStep(be: Backend): { run: (k: number) => void } {
  const p = PRESETS['multimnist-lenet'];
  const model = lenetModel(be);
  const optimizer = new Optimizer(be, model.params, p.optimizer);
  const rng = new Rng(2);
  model.loadBatch(BATCH, rng.uniformArray(BATCH * 784), Float32Array.from({ length: BATCH * 2 }, () => rng.int(10)));
  let count = 0;
  const run = (k: number): void => {
    for (let i = 0; i < k; i++) {
      model.forwardBackward(BATCH, { training: true, seed: ++count });
      optimizer.step();
    }
  };
  return { run };
}

/** hydranet's MultiLeNet steps/s on `be`. */
export async function benchLenet(be: Backend, plan: WindowPlan): Promise<BenchRecord> {
  const { run } = lenetStep(be);
  const s = await measure(run, () => be.sync(), plan);
  const threads = (be as unknown as { threads?: unknown }).threads;
  // On cpu, also the CPU time of a step (every thread of the process), which a loaded machine
  // distorts far less than wall time: a window as long as the plan's windows together.
  const cpu = be.name === 'cpu' ? await cpuMsPerStep(run, () => be.sync(), plan.windows * plan.minSeconds) : undefined;
  return {
    workload: 'LeNet',
    system: 'hydranet',
    backend: be.name,
    metric: 'train_steps_per_s',
    unit: 'steps/s',
    median: s.median,
    min: s.min,
    max: s.max,
    windows: s.samples.length,
    threads: typeof threads === 'number' ? threads : undefined,
    ...(cpu === undefined ? {} : { cpu_ms_per_step: cpu }),
  };
}

/** CPU milliseconds per step of `run` (process.cpuUsage: every thread), over ≥ `seconds` and ≥ 3 steps. */
async function cpuMsPerStep(run: (k: number) => void, sync: () => Promise<void>, seconds: number): Promise<number> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let n = 0;
  while (n < 3 || performance.now() - t0 < seconds * 1000) {
    run(1);
    n++;
  }
  await sync();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000 / n;
}

/** TensorFlow.js on one of its backends, or a record saying why it did not run. */
export function benchTfjsLenet(backend: TfjsBackend, seconds: number, maxSteps: number): BenchRecord {
  const base = { workload: 'LeNet', system: 'tfjs', backend, metric: 'train_steps_per_s', unit: 'steps/s' };
  const r = runJsonChild<{ rates: number[]; threads?: number; peak_rss?: number }>(
    path.join(here, 'peers', 'tfjs_lenet.js'),
    ['--backend', backend, '--seconds', String(seconds), '--max-steps', String(maxSteps)],
    seconds + 120,
  );
  if (!r.ok || !r.value.rates?.length) return { ...base, median: null, min: null, max: null, skipped: `tfjs ${backend} cannot train it: ${r.ok ? 'no steps' : r.reason}` };
  const out = r.value;
  const s = summarize(out.rates);
  return { ...base, median: s.median, min: s.min, max: s.max, windows: out.rates.length, threads: out.threads, peak_rss_mib: out.peak_rss ? out.peak_rss / 2 ** 20 : undefined, note: 'each window is one step, closed by a readback of its loss' };
}

/** Random MultiMNIST-sized data: n images 1×28×28 in [0, 1), labels left and right in 0..9. */
function randomPairs(rng: Rng, n: number): MultiTaskDataset {
  return new MultiTaskDataset({
    inputs: rng.uniformArray(n * 784),
    inputShape: [1, 28, 28],
    labels: { left: Float32Array.from({ length: n }, () => rng.int(10)), right: Float32Array.from({ length: n }, () => rng.int(10)) },
  });
}

/** Sizes of a timed epoch: training samples, validation samples. */
export interface EpochSizes {
  train: number;
  test: number;
}

/** The epoch sizes of a run: MultiMNIST's 60,000 + 10,000, or 10,240 + 2,000 with --quick. */
export function epochSizes(quick: boolean): EpochSizes {
  return quick ? { train: 10240, test: 2000 } : { train: 60000, test: 10000 };
}

/**
 * Seconds of one hydranet epoch on `be` as `hydranet train --preset multimnist-lenet` runs it
 * (Trainer.fit, SGD lr 0.01 momentum 0.9, batch 256, shuffled), validation included, on random
 * data of `sizes`, after a warm-up epoch of four batches: a record of metric 'epoch_seconds'
 * (one measurement: median = min = max) with the training and validation parts.
 */
export async function benchLenetEpoch(be: Backend, sizes: EpochSizes): Promise<BenchRecord> {
  const p = PRESETS['multimnist-lenet'];
  const rng = new Rng(3);
  const train = randomPairs(rng, sizes.train);
  const test = randomPairs(rng, sizes.test);
  const trainer = new Trainer(lenetModel(be), { optimizer: p.optimizer, batchSize: BATCH, epochs: 1, seed: 1, progress: false, log: null });
  await trainer.fit(randomPairs(rng, 4 * BATCH), { epochs: 1, validation: randomPairs(rng, BATCH) });
  const t0 = performance.now();
  const history = await trainer.fit(train, { epochs: 2, validation: test });
  const seconds = (performance.now() - t0) / 1000;
  const trained = history[history.length - 1].seconds;
  const threads = (be as unknown as { threads?: unknown }).threads;
  return {
    workload: 'LeNet',
    system: 'hydranet',
    backend: be.name,
    metric: 'epoch_seconds',
    unit: 's',
    median: seconds,
    min: seconds,
    max: seconds,
    threads: typeof threads === 'number' ? threads : undefined,
    train_seconds: trained,
    validation_seconds: seconds - trained,
    note: `Trainer.fit, one epoch of ${sizes.train} random samples + validation on ${sizes.test}`,
  };
}

/** Thread counts PyTorch's MultiLeNet runs at: 1 and 2, and every core when there are more. */
export function torchLenetThreads(cores: number): number[] {
  return [...new Set([1, Math.min(2, cores), cores])].filter((t) => t >= 1 && t <= Math.max(1, cores));
}

/**
 * PyTorch's MultiLeNet (bench/peers/torch_lenet.py) at each of `threadCounts`: the steps/s record
 * of its best thread count (each count in its fastest variant, its variants probed with windows
 * of the plan's minSeconds; every count's figure is in `by_threads`) and, with `epoch`, the epoch record of the thread count with the shortest epoch;
 * skipped records, with the reason, when torch cannot run. `note` gets the peer's notes.
 */
export function benchTorchLenet(threadCounts: readonly number[], plan: PeerPlan, epoch: EpochSizes | null, env: NodeJS.ProcessEnv, notes: string[]): BenchRecord[] {
  const base = { workload: 'LeNet', system: 'pytorch', backend: 'cpu' };
  const r = runTorchLenet(threadCounts, plan, plan.minSeconds, epoch, env);
  if (!r.ok || !r.value?.runs.length) {
    const why = r.ok ? 'no thread count ran' : (r.reason ?? 'failed');
    notes.push(`PyTorch MultiLeNet skipped: ${why}`);
    return [skipped({ ...base, metric: 'train_steps_per_s', unit: 'steps/s' }, why), ...(epoch ? [skipped({ ...base, metric: 'epoch_seconds', unit: 's' }, why)] : [])];
  }
  const { runs, info } = r.value;
  const blas = classifyBlas(info.blas);
  const byThreads = runs.map((x) => ({ threads: x.threads, median: x.median, min: x.min, max: x.max, variant: x.variant, blas_threads: x.blasThreads, cpu_ms_per_step: x.cpuMs, epoch_seconds: x.epoch?.seconds }));
  const best = runs.reduce((a, b) => (b.median > a.median ? b : a));
  notes.push(
    `PyTorch ${info.version} MultiLeNet (bench/peers/torch_lenet.py): ` +
      runs.map((x) => `${x.threads} thread${x.threads === 1 ? '' : 's'} ${fmt(x.median)} steps/s (${x.variant})`).join(', ') +
      `; the best, ${best.threads} thread${best.threads === 1 ? '' : 's'}, is the peer`,
  );
  // blas.summary reports OpenBLAS's threads at start-up; each run set them to its own count.
  const setThreads = best.blasThreads === null ? '' : `; OpenBLAS set to each run's thread count (${best.blasThreads} for the peer's best)`;
  const peer = { kernels: blas.summary + setThreads, representative: blas.representative, fix: blas.fix, blas_kind: blas.kind, version: info.version };
  const out: BenchRecord[] = [
    { ...base, metric: 'train_steps_per_s', unit: 'steps/s', median: best.median, min: best.min, max: best.max, windows: plan.windows, threads: best.threads, variant: best.variant, final_loss: best.loss, by_threads: byThreads, probes: best.probes, cpu_ms_per_step: best.cpuMs, ...peer },
  ];
  const timed = runs.filter((x) => x.epoch);
  if (epoch && timed.length) {
    const e = timed.reduce((a, b) => (b.epoch!.seconds < a.epoch!.seconds ? b : a));
    const s = e.epoch!.seconds;
    out.push({ ...base, metric: 'epoch_seconds', unit: 's', median: s, min: s, max: s, threads: e.threads, variant: e.variant, train_seconds: e.epoch!.train, validation_seconds: e.epoch!.validation, ...peer, note: `one epoch of ${e.epoch!.trainSize} random samples + validation on ${e.epoch!.testSize}` });
  }
  return out;
}

/**
 * hydranet / PyTorch on MultiLeNet from a run's records: the steps/s ratio (metric
 * 'train_steps_per_s_ratio', as the other workloads' ratios), the CPU-time ratio of a step
 * (metric 'cpu_time_per_step_ratio': PyTorch's CPU ms per step / hydranet's, every thread
 * counted, when both were measured) and the epoch speed-up (metric 'epoch_speedup': PyTorch's
 * epoch seconds / hydranet's), each hydranet backend against PyTorch cpu; none against a
 * non-representative peer.
 */
export function lenetTorchRatios(records: readonly BenchRecord[]): BenchRecord[] {
  const out: BenchRecord[] = [];
  const peer = (metric: string): BenchRecord | undefined => records.find((r) => r.workload === 'LeNet' && r.system === 'pytorch' && r.backend === 'cpu' && r.metric === metric);
  const torchSteps = peer('train_steps_per_s');
  const torchEpoch = peer('epoch_seconds');
  for (const mine of records.filter((r) => r.workload === 'LeNet' && r.system === 'hydranet')) {
    if (mine.metric === 'train_steps_per_s' && torchSteps) {
      const rr = ratioRecord(mine, torchSteps, { peer_backend: 'cpu', peer_threads: torchSteps.threads });
      if (rr) out.push(rr);
      const [a, b] = [Number(mine.cpu_ms_per_step), Number(torchSteps.cpu_ms_per_step)];
      if (rr && a > 0 && b > 0) {
        out.push({ workload: 'LeNet', system: 'hydranet/pytorch', backend: mine.backend, metric: 'cpu_time_per_step_ratio', unit: 'x', median: b / a, min: b / a, max: b / a, peer_backend: 'cpu', peer_threads: torchSteps.threads });
      }
    }
    if (mine.metric === 'epoch_seconds' && torchEpoch && mine.median && torchEpoch.median && torchEpoch.representative !== false) {
      const x = torchEpoch.median / mine.median;
      out.push({ workload: 'LeNet', system: 'hydranet/pytorch', backend: mine.backend, metric: 'epoch_speedup', unit: 'x', median: x, min: x, max: x, peer_backend: 'cpu', peer_threads: torchEpoch.threads });
    }
  }
  return out;
}

/** The epoch lines of a run: each system's epoch seconds and the speed-ups (the caller says they are epochs). */
export function lenetEpochLines(records: readonly BenchRecord[]): string[] {
  const epochs = records.filter((r) => r.workload === 'LeNet' && r.metric === 'epoch_seconds');
  const lines = epochs.map((r) => {
    const who = `${r.system === 'pytorch' ? 'PyTorch' : r.system} ${r.backend}${r.threads !== undefined ? `, ${String(r.threads)} thread${r.threads === 1 ? '' : 's'}` : ''}`;
    if (r.median === null) return `${who}: skipped (${r.skipped ?? ''})`;
    return `${who}: ${fmt(r.median)} s (training ${fmt(Number(r.train_seconds))} s, validation ${fmt(Number(r.validation_seconds))} s)${r.variant ? `, ${String(r.variant)}` : ''}`;
  });
  for (const r of records.filter((x) => x.workload === 'LeNet' && x.metric === 'epoch_speedup')) {
    lines.push(`PyTorch cpu / hydranet ${r.backend} = ${ratio(r.median)} (hydranet's epoch is ${ratio(r.median)} as fast)`);
  }
  return lines;
}

/** The CPU-time lines of a run: each system's CPU ms per step and the ratio. */
export function lenetCpuLines(records: readonly BenchRecord[]): string[] {
  const lines = records
    .filter((r) => r.workload === 'LeNet' && r.metric === 'train_steps_per_s' && typeof r.cpu_ms_per_step === 'number')
    .map((r) => `CPU time per step (every thread), ${r.system === 'pytorch' ? 'PyTorch' : r.system} ${r.backend}: ${fmt(Number(r.cpu_ms_per_step))} ms`);
  for (const r of records.filter((x) => x.workload === 'LeNet' && x.metric === 'cpu_time_per_step_ratio')) {
    lines.push(`CPU time per step: PyTorch cpu / hydranet ${r.backend} = ${ratio(r.median)}`);
  }
  return lines;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      threads: { type: 'string' },
      quick: { type: 'boolean', default: false },
      'no-epoch': { type: 'boolean', default: false },
      'no-peer': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const plan = plans(values.quick!);
  const be = await createBackend('cpu', values.threads ? { threads: Number(values.threads) } : {});
  const isa = (be as { isa?: string }).isa ?? '?';
  const m = machineInfo();
  const sizes = values['no-epoch'] ? null : epochSizes(values.quick!);
  const load0 = os.loadavg()[0];
  const records: BenchRecord[] = [await benchLenet(be, plan.step)];
  if (sizes) records.push(await benchLenetEpoch(be, sizes));
  be.dispose();
  const notes: string[] = [];
  if (!values['no-peer']) records.push(...benchTorchLenet(torchLenetThreads(m.cores), plan.peer, sizes, peerEnv(m).env, notes));
  records.push(...lenetTorchRatios(records));
  const load1 = os.loadavg()[0];
  if (values.json) {
    console.log(JSON.stringify({ load: [load0, load1], records }, null, 1));
    return;
  }
  const steps = records.filter((r) => r.metric === 'train_steps_per_s');
  const held = Object.entries(peerEnv(m).shown).map(([k, v]) => `${k}=${v}`).join(' ');
  console.log(`MultiLeNet (multimnist-lenet preset, batch 256) on ${m.model}, ${m.cores} cores; hydranet cpu isa ${isa}; peer env ${held}`);
  for (const r of steps) {
    const who = `${r.system === 'pytorch' ? 'PyTorch' : r.system} ${r.backend}${r.threads !== undefined ? `, ${String(r.threads)} thread${r.threads === 1 ? '' : 's'}` : ''}`;
    console.log(r.median === null ? `${who}: skipped (${r.skipped ?? ''})` : `${who}: ${fmt(r.median)} steps/s [${fmt(r.min)} … ${fmt(r.max)}]${r.variant ? `, ${String(r.variant)}` : ''}`);
  }
  for (const l of lenetEpochLines(records)) console.log(`epoch, ${l}`);
  for (const l of [...stepRatioLines(records), ...lenetCpuLines(records), ...notes]) console.log(l);
  const kernels = steps.find((r) => r.system === 'pytorch')?.kernels;
  if (kernels) console.log(`PyTorch's BLAS: ${String(kernels)}`);
  console.log(`load average (1 min): ${fmt(load0)} before, ${fmt(load1)} after, on ${m.cores} cores`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    process.stderr.write(`lenet failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  });
}
