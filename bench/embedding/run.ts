/**
 * The embedding-heavy speed bench (issue 20): training steps per second of a click/conversion
 * style model, hydranet beside PyTorch CPU (bench/embedding/torch_embedding.py, given this
 * file's workload so both train the same model).
 *
 *   node dist/bench/embedding/run.js [--backends cpu[,webgpu]] [--threads 1,2] [--torch-threads 1,2]
 *        [--tfjs webgpu[,wasm,cpu]] [--windows 5] [--min-seconds 2] [--warmup-seconds 2] [--batch 4096]
 *        [--no-torch] [--json FILE]
 *
 * The workload (workload.ts): 13 numeric fields and 26 categorical fields whose vocabularies
 * are log-spaced from 10 to 100,000 (324,475 rows in all), each embedded in 16 values; the
 * 13 + 26·16 = 429 input features feed an MMoE of 8 experts of two dense ReLU layers of 256
 * units with a softmax gate per task, towers of one hidden ReLU layer of 64 units, two binary
 * tasks (sigmoid cross-entropy), batch 4096, plain SGD (lr 0.01, no momentum: PyTorch's sparse
 * gradients apply). TensorFlow.js (--tfjs, none by default) runs bench/embedding/tfjs_embedding.ts
 * in its own process per backend, beside hydranet's webgpu. One batch (N(0, 1) numeric values, uniform random indices, random
 * labels) is made once and every step trains on it; nothing is read back inside the windows.
 * hydranet: the flat input rows hold the indices as f32 in the categorical columns
 * (ModelConfig.embedding). PyTorch: every variant of torch_embedding.py (per-field
 * nn.Embedding or one table with offsets, sparse gradients or not, experts looped or fused,
 * threads 1 and 2), under bench/peers.ts's peerEnv (OMP_WAIT_POLICY=passive, OpenBLAS's core
 * type on AVX-512 AMD CPUs); its best median is the peer. hydranet's best median over --threads
 * is ours; the ratio is ours / PyTorch's best. Timing: bench/stats.ts's measure (a warm-up, then
 * windows of at least --min-seconds; the median of the windows' rates). Beside it, each side's
 * process CPU seconds per step over 3 more steps: with one thread, what a quiet machine's step
 * would take even when other work shares the cores (a second figure for busy machines).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type BackendName, createBackend } from '../../ts/backends/create.js';
import { Rng } from '../../ts/core/random.js';
import { MultiTaskModel } from '../../ts/mtl/model.js';
import { Optimizer } from '../../ts/train/optimizer.js';
import { runJsonChild } from '../child.js';
import { type TorchBlas, classifyBlas, machineInfo, peerEnv } from '../peers.js';
import { type Summary, measure } from '../stats.js';
import { EMBEDDING_WORKLOAD } from './workload.js';

const { values } = parseArgs({
  options: {
    backends: { type: 'string', default: 'cpu' },
    threads: { type: 'string', default: '1,2' },
    'torch-threads': { type: 'string', default: '1,2' },
    windows: { type: 'string', default: '5' },
    'min-seconds': { type: 'string', default: '2' },
    'warmup-seconds': { type: 'string', default: '2' },
    batch: { type: 'string' },
    torch: { type: 'boolean', default: true },
    tfjs: { type: 'string', default: '' },
    json: { type: 'string' },
  },
  allowNegative: true,
});

const w = { ...EMBEDDING_WORKLOAD, batch: values.batch === undefined ? EMBEDDING_WORKLOAD.batch : Number(values.batch) };
const plan = { windows: Number(values.windows), minSeconds: Number(values['min-seconds']), warmupSeconds: Number(values['warmup-seconds']) };
const width = w.numeric + w.vocabs.length;
const log = (line: string): void => void process.stderr.write(`${line}\n`);

interface Row {
  system: string;
  backend: string;
  variant: string;
  threads?: number;
  median: number;
  min: number;
  max: number;
  samples: number[];
  loss?: number;
  /** Process CPU seconds (every thread's) per step, over CPU_STEPS steps after the windows. */
  cpuSecondsPerStep?: number;
}

/**
 * Steps after the windows whose process CPU time is read: with one thread, CPU seconds per
 * step are close to a quiet machine's seconds per step even when other work shares the cores.
 */
const CPU_STEPS = 3;

/** One hydranet training step's model, optimizer and batch on `backend`. */
async function hydranetRow(backendName: BackendName, threads: number | undefined): Promise<Row> {
  const backend = await createBackend(backendName, threads === undefined ? {} : { threads });
  try {
    const model = new MultiTaskModel(backend, {
      inputShape: [width],
      embedding: { fields: w.vocabs.map((vocab, f) => ({ column: w.numeric + f, vocab, dim: w.dim })) },
      trunk: w.expertUnits.map((units) => ({ type: 'dense' as const, units, activation: 'relu' as const })),
      sharing: { kind: 'mmoe', experts: w.experts },
      heads: { hidden: [w.tower], activation: 'relu' },
      tasks: Array.from({ length: w.tasks }, (_, t) => ({ name: `task${t}`, kind: 'binary' as const })),
      maxBatch: w.batch,
      seed: 1,
    });
    const optimizer = new Optimizer(backend, model.params, { kind: 'sgd', lr: w.lr, momentum: 0 });
    const rng = new Rng(2);
    const inputs = new Float32Array(w.batch * width);
    for (let i = 0; i < w.batch; i++) {
      for (let c = 0; c < w.numeric; c++) inputs[i * width + c] = rng.normal();
      w.vocabs.forEach((vocab, f) => (inputs[i * width + w.numeric + f] = rng.int(vocab)));
    }
    const targets = Float32Array.from({ length: w.batch * w.tasks }, () => rng.int(2));
    model.loadBatch(w.batch, inputs, targets);
    let step = 0;
    const summary: Summary = await measure(
      (k) => {
        for (let i = 0; i < k; i++) {
          model.forwardBackward(w.batch, { training: true, seed: ++step });
          optimizer.step();
        }
      },
      () => backend.sync(),
      plan,
    );
    const c0 = process.cpuUsage();
    for (let i = 0; i < CPU_STEPS; i++) {
      model.forwardBackward(w.batch, { training: true, seed: ++step });
      optimizer.step();
    }
    await backend.sync();
    const c = process.cpuUsage(c0);
    const cpuSecondsPerStep = (c.user + c.system) / 1e6 / CPU_STEPS;
    const losses = await backend.read(model.losses);
    const used = 'threads' in backend ? Number((backend as { threads: number }).threads) : undefined;
    const row: Row = { system: 'hydranet', backend: backend.name, variant: `${model.params.count} parameters`, threads: used, ...summary, loss: losses.reduce((a, b) => a + b, 0), cpuSecondsPerStep };
    log(`hydranet ${backend.name}${used ? ` threads=${used}` : ''}: ${row.median.toFixed(3)} steps/s`);
    return row;
  } finally {
    backend.dispose();
  }
}

/** Every PyTorch variant of torch_embedding.py, and what it says about itself; a reason when it cannot run. */
function torchRows(): { rows: Row[]; info?: Record<string, unknown>; reason?: string } {
  const python = process.env.HYDRANET_BENCH_PYTHON || '/usr/bin/python3';
  const here = path.dirname(fileURLToPath(import.meta.url));
  const script = [path.join(here, 'torch_embedding.py'), path.join(here, '..', '..', '..', 'bench', 'embedding', 'torch_embedding.py')].find((p) => fs.existsSync(p));
  if (!script) return { rows: [], reason: 'bench/embedding/torch_embedding.py not found' };
  const args = [
    script,
    ...['--numeric', w.numeric, '--vocabs', w.vocabs.join(','), '--dim', w.dim, '--experts', w.experts, '--expert-units', w.expertUnits.join(',')],
    ...['--tower', w.tower, '--tasks', w.tasks, '--batch', w.batch, '--lr', w.lr, '--threads', values['torch-threads']],
    ...['--windows', plan.windows, '--min-seconds', plan.minSeconds, '--warmup-seconds', plan.warmupSeconds, '--cpu-steps', CPU_STEPS],
  ].map(String);
  const r = spawnSync(python, args, { env: peerEnv(machineInfo()).env, encoding: 'utf8', timeout: 3_600_000, maxBuffer: 1 << 24, stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) return { rows: [], reason: `${python} torch_embedding.py exited ${r.status ?? r.signal}${r.status === 3 ? ' (no torch: apt-get install python3-torch)' : ''}` };
  const recs = JSON.parse(r.stdout) as Array<Record<string, unknown>>;
  const info = recs.find((x) => x.metric === 'info');
  const rows = recs
    .filter((x) => x.metric === 'train_steps_per_s')
    .map((x) => ({
      system: 'pytorch',
      backend: 'cpu',
      variant: `${String(x.embeddings)} embeddings${x.sparse ? ', sparse' : ''}, experts ${String(x.experts_impl)}`,
      threads: Number(x.threads),
      median: Number(x.median),
      min: Number(x.min),
      max: Number(x.max),
      samples: x.samples as number[],
      loss: Number(x.loss),
      cpuSecondsPerStep: Number(x.cpu_seconds_per_step),
    }));
  return { rows, info };
}

const started = performance.now();
const rows: Row[] = [];
for (const name of values.backends.split(',') as BackendName[]) {
  const threadList = name === 'cpu' ? values.threads.split(',').map(Number) : [undefined];
  for (const threads of threadList) rows.push(await hydranetRow(name, threads));
}
const torch = values.torch ? torchRows() : { rows: [], reason: 'skipped (--no-torch)' };
rows.push(...torch.rows);
const tfjsNotes: string[] = [];
for (const name of values.tfjs.split(',').filter(Boolean)) {
  const script = fileURLToPath(new URL('./tfjs_embedding.js', import.meta.url));
  const args = ['--backend', name, '--batch', w.batch, '--windows', plan.windows, '--min-seconds', plan.minSeconds, '--warmup-seconds', plan.warmupSeconds].map(String);
  const r = runJsonChild<{ backend: string; threads?: number; rates: number[]; median: number; min: number; max: number; loss: number; adapter?: { description: string } }>(script, args, 3600);
  if (!r.ok) {
    tfjsNotes.push(`tfjs ${name} not measured: ${r.reason}`);
    continue;
  }
  const v = r.value;
  rows.push({ system: 'tfjs', backend: v.backend, variant: v.adapter ? v.adapter.description : 'tfjs-core ops', threads: v.threads, median: v.median, min: v.min, max: v.max, samples: v.rates, loss: v.loss });
  log(`tfjs ${v.backend}: ${v.median.toFixed(3)} steps/s`);
}

const best = (system: string, backend: string): Row | undefined =>
  rows.filter((r) => r.system === system && r.backend === backend).reduce<Row | undefined>((b, r) => (b && b.median >= r.median ? b : r), undefined);
const ours = best('hydranet', 'cpu');
const peer = best('pytorch', 'cpu');
const blas = torch.info?.blas ? classifyBlas(torch.info.blas as TorchBlas) : undefined;
const m = machineInfo();
const lines = [
  `| system | variant | threads | steps/s (median) | min – max | CPU s/step |`,
  `|---|---|---|---|---|---|`,
  ...rows.map(
    (r) =>
      `| ${r.system} ${r.backend} | ${r.variant} | ${r.threads ?? ''} | ${r.median.toFixed(3)} | ${r.min.toFixed(3)} – ${r.max.toFixed(3)} | ${r.cpuSecondsPerStep?.toFixed(3) ?? ''} |`,
  ),
];
console.log(lines.join('\n'));
console.log(
  `\nbatch ${w.batch}, ${w.numeric} numeric + ${w.vocabs.length} categorical fields (vocab ${w.vocabs[0]}…${w.vocabs.at(-1)}, ${w.vocabs.reduce((a, b) => a + b, 0)} rows, dim ${w.dim}), ` +
    `MMoE ${w.experts} experts of ${w.expertUnits.join('×')}, towers [${w.tower}], ${w.tasks} binary tasks, SGD lr ${w.lr}; ` +
    `${plan.windows} windows of ≥ ${plan.minSeconds} s after ${plan.warmupSeconds} s warm-up; ${m.model}, ${m.cores} cores; ` +
    `PyTorch ${String(torch.info?.version ?? `not run: ${torch.reason}`)}${blas ? ` on ${blas.summary}` : ''}`,
);
// With one thread, CPU time per step is what a quiet machine would take: the ratio of the best ones.
const leastCpu = (system: string): Row | undefined =>
  rows.filter((r) => r.system === system && r.backend === 'cpu' && r.threads === 1 && r.cpuSecondsPerStep).reduce<Row | undefined>((b, r) => (b && b.cpuSecondsPerStep! <= r.cpuSecondsPerStep! ? b : r), undefined);
const [oursCpu, peerCpu] = [leastCpu('hydranet'), leastCpu('pytorch')];
if (oursCpu && peerCpu) {
  console.log(`one thread, by CPU time per step: PyTorch / hydranet ${(peerCpu.cpuSecondsPerStep! / oursCpu.cpuSecondsPerStep!).toFixed(2)}× (${peerCpu.cpuSecondsPerStep!.toFixed(3)} / ${oursCpu.cpuSecondsPerStep!.toFixed(3)} s; ${peerCpu.variant})`);
}
const [ourGpu, tfjsGpu] = [best('hydranet', 'webgpu'), best('tfjs', 'webgpu')];
if (ourGpu && tfjsGpu) console.log(`hydranet webgpu / tfjs webgpu: ${(ourGpu.median / tfjsGpu.median).toFixed(2)}× (${ourGpu.median.toFixed(3)} / ${tfjsGpu.median.toFixed(3)} steps/s; ${tfjsGpu.variant})`);
for (const note of tfjsNotes) console.log(note);
if (ours && peer) console.log(`hydranet cpu best / PyTorch cpu best: ${(ours.median / peer.median).toFixed(2)}× (${ours.median.toFixed(3)} / ${peer.median.toFixed(3)} steps/s; ${peer.variant}, ${peer.threads} threads)`);
console.log(`${((performance.now() - started) / 1000).toFixed(0)} s`);
if (values.json) fs.writeFileSync(values.json, JSON.stringify({ workload: w, plan, machine: m, rows, torch: { info: torch.info, reason: torch.reason }, tfjs: tfjsNotes }, null, 2) + '\n');
