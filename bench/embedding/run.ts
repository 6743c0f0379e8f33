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
 * (ModelConfig.embedding), the tables stepped row-sparsely as the Trainer steps them
 * (workload.ts's EmbeddingStep, which the main bench's workload E1 runs too). PyTorch: every variant of torch_embedding.py (per-field
 * nn.Embedding or one table with offsets, sparse gradients or not, experts looped or fused,
 * threads 1 and 2), under bench/peers.ts's peerEnv (OMP_WAIT_POLICY=passive, OpenBLAS's core
 * type on AVX-512 AMD CPUs); its best median is the peer. hydranet's best median over --threads
 * is ours; the ratio is ours / PyTorch's best. Timing: bench/stats.ts's measure (a warm-up, then
 * windows of at least --min-seconds; the median of the windows' rates). Beside it, each side's
 * process CPU seconds per step over 3 more steps: with one thread, what a quiet machine's step
 * would take even when other work shares the cores (a second figure for busy machines).
 */
import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type BackendName, createBackend } from '../../ts/backends/create.js';
import { runJsonChild } from '../child.js';
import { type TorchInfo, classifyBlas, machineInfo, peerEnv, runTorchEmbedding } from '../peers.js';
import { type Summary, measure } from '../stats.js';
import { EMBEDDING_WORKLOAD, EmbeddingStep, describeEmbedding, torchEmbeddingArgs } from './workload.js';

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

/** hydranet's steps/s on `backendName` (the workload's EmbeddingStep). */
async function hydranetRow(backendName: BackendName, threads: number | undefined): Promise<Row> {
  const backend = await createBackend(backendName, threads === undefined ? {} : { threads });
  try {
    const step = new EmbeddingStep(backend, w);
    const summary: Summary = await measure((k) => step.run(k), () => backend.sync(), plan);
    const cpuSecondsPerStep = await step.cpuSecondsPerStep(CPU_STEPS);
    const used = 'threads' in backend ? Number((backend as { threads: number }).threads) : undefined;
    const row: Row = { system: 'hydranet', backend: backend.name, variant: `${step.model.params.count} parameters`, threads: used, ...summary, loss: await step.loss(), cpuSecondsPerStep };
    log(`hydranet ${backend.name}${used ? ` threads=${used}` : ''}: ${row.median.toFixed(3)} steps/s`);
    return row;
  } finally {
    backend.dispose();
  }
}

/** Every PyTorch variant of torch_embedding.py, and what it says about itself; a reason when it cannot run. */
function torchRows(): { rows: Row[]; info?: TorchInfo; reason?: string } {
  const threads = values['torch-threads'].split(',').map(Number);
  const r = runTorchEmbedding(torchEmbeddingArgs(w), [], threads, plan, CPU_STEPS, peerEnv(machineInfo()).env, 3600);
  if (!r.ok || !r.value) return { rows: [], reason: r.reason };
  const rows = r.value.runs.map((x) => ({
    system: 'pytorch',
    backend: 'cpu',
    variant: x.description,
    threads: x.threads,
    median: x.median,
    min: x.min,
    max: x.max,
    samples: x.samples,
    loss: x.loss,
    cpuSecondsPerStep: x.cpuSecondsPerStep,
  }));
  return { rows, info: r.value.info };
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
const blas = torch.info ? classifyBlas(torch.info.blas) : undefined;
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
  `\n${describeEmbedding(w)}; ` +
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
