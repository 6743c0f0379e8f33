/**
 * `npm run bench [-- flags]`: hydranet side by side with TensorFlow.js and PyTorch, all measured
 * in the same run: training steps per second of the W1/W2 (and, with cuda, W3) workloads and
 * MultiLeNet on hydranet's backends (cpu, reference, webgpu, cuda), on TensorFlow.js webgpu
 * (same Dawn adapter as hydranet webgpu), cpu, wasm (and tfjs-node where installed; where not,
 * the output says why), each in its own process, and on PyTorch CPU; GEMM GFLOP/s against
 * OpenBLAS; MultiMNIST time to a target accuracy, accuracy parity and peak memory
 * (bench/multimnist.ts). Medians with min and max over several windows after warm-up; ratios
 * to every peer. The phases are planned first: the total estimate is printed before the
 * first one runs, then each phase as it starts (bench/progress.ts).
 *
 * Flags:
 *   --quick               fewer, shorter windows, a small MultiMNIST run (about 3 minutes)
 *   --json                print only a JSON array of records on stdout (progress goes to stderr)
 *   --json-out FILE       also write the records to FILE
 *   --markdown FILE       also write the Markdown report to FILE
 *   --update-readme FILE  regenerate FILE's <!-- bench:begin/end --> section from this run
 *   --workload W1|W2|W3   one workload (default W1 and W2, plus W3 when cuda runs)
 *   --backend cpu|reference|webgpu|cuda   one hydranet backend (default all four; one that
 *                         cannot run here is reported as skipped, with the reason)
 *   --no-peers            skip PyTorch, OpenBLAS and TensorFlow.js
 *   --threads N           threads for the cpu backend and the peers (default: every core)
 *
 * webgpu: `isa` names the adapter (vendor, architecture, device, description; "CPU adapter"
 * for software adapters such as lavapipe); threads are n/a (a CPU adapter uses its own thread pool).
 * Its GEMMs run on a reduced plan (see webgpuGemmPlan; the records' note says so). Its peer is
 * bench/peers/tfjs_mlp.ts with tfjs's webgpu backend, timed in windows of a few steps closed
 * by one readback; the ratio hydranet webgpu / tfjs webgpu is recorded per workload.
 *
 * Honesty rules: every timed step is a real training step including the optimizer; the
 * batch is uploaded once, outside the windows; nothing is read back inside a window; the
 * backend is synchronised before a window's clock is read; warm-up is never timed; each peer
 * says which kernels it ran on, and a peer on the reference BLAS is flagged, with the command
 * that fixes it, and gets no ratio (report.ts: ratioRecord, peerKernelLines).
 */
import * as fs from 'node:fs';
import { parseArgs } from 'node:util';
import { type Backend, createBackend } from '../ts/index.js';
import type { AdapterDescription } from '../ts/backends/webgpu/device.js';
import { type Machine, type PeerPlan, type TfjsMlpPlan, classifyBlas, machineInfo, peerEnv, runOpenBlas, runTfjsMlp, runTorch, tfjsKernels, tfjsWasmSimd } from './peers.js';
import {
  type BenchRecord,
  type RecordBase,
  bySystem,
  fmt,
  markdownReport,
  peerKernelLines,
  ratio,
  ratioRecord,
  replaceBenchSection,
  representativeFlag,
  stepRatioLines,
  systemName,
  table,
} from './report.js';
import { type Summary, type WindowPlan, measure, summarize } from './stats.js';
import { benchLenet, benchTfjsLenet } from './lenet.js';
import { benchWeighting } from './weighting.js';
import { initFile, mnistComparisons, mnistMarkdown, mnistPlan, mnistRecords, mnistSteps, mnistText, runHydranetMnist, runTfjsMnist } from './multimnist.js';
import { type Phase, clock, runPhases } from './progress.js';
import { tfjsNodeAvailable } from './peers/tfjs_common.js';
import { WEIGHTINGS } from '../ts/mtl/weighting/index.js';
import {
  type GemmCase,
  GemmOperands,
  SQUARE_GEMM,
  TrainingStep,
  WORKLOADS,
  type Workload,
  describeWorkload,
  gemmCases,
  gemmShape,
  stepFlops,
} from './workloads.js';

type BenchBackend = 'cpu' | 'reference' | 'webgpu' | 'cuda';
const BENCH_BACKENDS: readonly BenchBackend[] = ['cpu', 'reference', 'webgpu', 'cuda'];

interface Options {
  quick: boolean;
  json: boolean;
  workloads: Workload[];
  backends: BenchBackend[];
  peers: boolean;
  threads: number | undefined;
  /** Also write the Markdown form of the run to this file. */
  markdown?: string;
  /** Also write the JSON records to this file (beside the human tables). */
  jsonOut?: string;
  /** Regenerate the <!-- bench:begin/end --> section of this Markdown file (README.md). */
  updateReadme?: string;
}

const USAGE =
  'usage: npm run bench -- [--quick] [--json] [--json-out FILE] [--markdown FILE] [--update-readme README.md] [--workload W1|W2|W3] [--backend cpu|reference|webgpu|cuda] [--no-peers] [--threads N]';

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      markdown: { type: 'string' },
      'json-out': { type: 'string' },
      'update-readme': { type: 'string' },
      workload: { type: 'string' },
      backend: { type: 'string' },
      'no-peers': { type: 'boolean', default: false },
      threads: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  // W3 is GPU-sized: by default it runs on the cuda backend only (main adds it when cuda opens).
  const workloads =
    values.workload === undefined ? WORKLOADS.filter((w) => w.name !== 'W3') : WORKLOADS.filter((w) => w.name === values.workload!.toUpperCase());
  if (workloads.length === 0) throw new Error(`Expected W1, W2 or W3 for --workload but received ${JSON.stringify(values.workload)}`);
  let backends: Options['backends'] = [...BENCH_BACKENDS];
  if (values.backend !== undefined) {
    const b = BENCH_BACKENDS.find((x) => x === values.backend);
    if (!b) throw new Error(`Expected cpu, reference, webgpu or cuda for --backend but received ${JSON.stringify(values.backend)}`);
    backends = [b];
  }
  let threads: number | undefined;
  if (values.threads !== undefined) {
    threads = Number(values.threads);
    if (!Number.isInteger(threads) || threads < 1) throw new Error(`Expected a positive integer for --threads but received ${JSON.stringify(values.threads)}`);
  }
  return {
    quick: values.quick!,
    json: values.json!,
    workloads,
    backends,
    peers: !values['no-peers'],
    threads,
    markdown: values.markdown,
    jsonOut: values['json-out'],
    updateReadme: values['update-readme'],
  };
}

/**
 * Window plans: full (7 windows of ≥ 0.3 s) or --quick (3 of ≥ 0.1 s). The budgets only bind
 * for a very slow backend (they cap one measurement's time; the record then says so).
 */
function plans(quick: boolean): { step: WindowPlan; gemm: WindowPlan; peer: PeerPlan } {
  return quick
    ? {
        step: { windows: 3, minSeconds: 0.1, warmupSeconds: 0.2, warmupIters: 2, budgetSeconds: 3 },
        gemm: { windows: 3, minSeconds: 0.1, warmupSeconds: 0.1, warmupIters: 2, budgetSeconds: 1.5 },
        peer: { windows: 3, minSeconds: 0.1, warmupSeconds: 0.2 },
      }
    : {
        step: { windows: 7, minSeconds: 0.3, warmupSeconds: 1, warmupIters: 3, budgetSeconds: 15 },
        gemm: { windows: 7, minSeconds: 0.3, warmupSeconds: 0.3, warmupIters: 2, budgetSeconds: 6 },
        peer: { windows: 7, minSeconds: 0.3, warmupSeconds: 1 },
      };
}

/**
 * The reference backend is plain TypeScript: on W2 one step takes tens of seconds, so it
 * gets a fixed budget instead of the usual windows. Warm-up there is one step on the first
 * 16 rows (same code paths, JIT warmed, a fraction of the cost), then windows of one step.
 */
function referencePlan(w: Workload, quick: boolean): { plan: WindowPlan; warmRows?: number; note: string } | { skip: string } {
  if (w.name === 'W1') {
    return quick
      ? { plan: { windows: 2, minSeconds: 0.2, warmupSeconds: 0, warmupIters: 1, budgetSeconds: 6 }, note: 'reduced budget: 1 warm-up step, 2 windows of ≥ 0.2 s' }
      : { plan: { windows: 3, minSeconds: 1, warmupSeconds: 0, warmupIters: 1, budgetSeconds: 12 }, note: 'reduced budget: 1 warm-up step, 3 windows of ≥ 1 s' };
  }
  if (quick) return { skip: 'skipped in --quick: one reference step on W2 takes about a minute; run without --quick' };
  return {
    plan: { windows: 1, minSeconds: 0, warmupSeconds: 0, warmupIters: 0 },
    warmRows: 16,
    note: 'fixed budget: warm-up on 16 rows, then 1 window of exactly 1 full step (median = min = max)',
  };
}

const WEBGPU_GEMM_NOTE = 'reduced webgpu GEMM plan';

/**
 * GEMMs on webgpu: a CPU adapter (lavapipe) takes 0.5–1 s for one W2 GEMM, so every webgpu case
 * gets one warm-up iteration and at most 2 (--quick) or 3 windows within a small budget.
 */
function webgpuGemmPlan(quick: boolean): { plan: WindowPlan; note: string } {
  return quick
    ? { plan: { windows: 2, minSeconds: 0.1, warmupSeconds: 0, warmupIters: 1, budgetSeconds: 2 }, note: `${WEBGPU_GEMM_NOTE}: 1 warm-up iteration, ≤ 2 windows of ≥ 0.1 s, budget 2 s` }
    : { plan: { windows: 3, minSeconds: 0.3, warmupSeconds: 0.2, warmupIters: 1, budgetSeconds: 5 }, note: `${WEBGPU_GEMM_NOTE}: ≥ 0.2 s warm-up, ≤ 3 windows of ≥ 0.3 s, budget 5 s` };
}

/**
 * The tfjs webgpu peer (bench/peers/tfjs_mlp.ts): windows of its default size (8 steps on W1,
 * 1 on W2: see the peer), timed for a few seconds after a warm-up of at least one window. On
 * lavapipe a tfjs W2 step takes ~30 s, so W2 gets one timed window under --quick.
 */
function tfjsPlan(w: Workload, quick: boolean): TfjsMlpPlan {
  if (quick) return { seconds: 2, maxWindows: 3, warmupSeconds: 0.2 };
  return { seconds: w.name === 'W1' ? 15 : 45, maxWindows: 7, warmupSeconds: 1 };
}

const log = (msg: string): void => {
  process.stderr.write(`${msg}\n`);
};

function errText(e: unknown): string {
  if (e instanceof Error) return `${e.name}: ${e.message}`;
  return String(e);
}

/** Backend handles: created once, or the reason they cannot run here. */
interface BackendSlot {
  name: BenchBackend;
  backend: Backend | null;
  reason?: string;
  /** undefined for webgpu (n/a: the adapter schedules its own work). */
  threads?: number;
  isa?: string;
  /** webgpu: the adapter the kernels run on. */
  adapter?: AdapterDescription;
}


/** "mesa software llvmpipe-… (llvmpipe: Mesa 25.0.7 (LLVM 15.0.6)), CPU adapter" */
function describeAdapter(a: Pick<AdapterDescription, 'vendor' | 'architecture' | 'device' | 'description'> & { cpu?: boolean }): string {
  const names = [a.vendor, a.architecture, a.device].filter(Boolean).join(' ') || 'unknown adapter';
  return `${names}${a.description ? ` (${a.description})` : ''}${a.cpu ? ', CPU adapter' : ''}`;
}

async function openBackend(name: BenchBackend, threads: number | undefined): Promise<BackendSlot> {
  try {
    const backend = await createBackend(name, threads === undefined ? {} : { threads });
    const extra = backend as unknown as { threads?: unknown; isa?: unknown; adapter?: AdapterDescription };
    if (name === 'cuda') {
      const d = (backend as unknown as { device: { name: string; computeCapability: string } }).device;
      return { name, backend, isa: `${d.name} (sm ${d.computeCapability}), TF32 tensor cores` };
    }
    if (name === 'webgpu') {
      const adapter = extra.adapter ? { ...extra.adapter } : undefined;
      return { name, backend, adapter, isa: adapter ? describeAdapter(adapter) : 'unknown adapter' };
    }
    return {
      name,
      backend,
      threads: typeof extra.threads === 'number' ? extra.threads : name === 'reference' ? 1 : undefined,
      isa: typeof extra.isa === 'string' ? extra.isa : name === 'reference' ? 'js' : undefined,
    };
  } catch (e) {
    return { name, backend: null, reason: errText(e) };
  }
}

function summaryFields(s: Summary): Pick<BenchRecord, 'median' | 'min' | 'max' | 'windows'> {
  return { median: s.median, min: s.min, max: s.max, windows: s.samples.length || undefined };
}

function skipped(base: RecordBase, reason: string): BenchRecord {
  return { ...base, median: null, min: null, max: null, skipped: reason };
}

async function benchSteps(slot: BackendSlot, w: Workload, opts: Options, records: BenchRecord[]): Promise<void> {
  const base = { workload: w.name, system: 'hydranet', backend: slot.name, metric: 'train_steps_per_s', unit: 'steps/s' };
  if (!slot.backend) {
    records.push(skipped(base, `backend unavailable: ${slot.reason}`));
    return;
  }
  let plan = plans(opts.quick).step;
  let note: string | undefined;
  let warmRows: number | undefined;
  if (slot.name === 'reference') {
    const rp = referencePlan(w, opts.quick);
    if ('skip' in rp) {
      records.push(skipped(base, rp.skip));
      return;
    }
    ({ plan, note, warmRows } = rp);
  }
  log(`  ${w.name} on ${slot.name}${note ? ` (${note})` : ''} …`);
  const be = slot.backend;
  try {
    const s = new TrainingStep(be, w);
    if (warmRows) {
      s.run(1, warmRows);
      await be.sync();
    }
    const summary = await measure((k) => s.run(k), () => be.sync(), plan);
    const losses = await s.losses();
    const finalLoss = losses.reduce((a, b) => a + b, 0);
    records.push({
      ...base,
      ...summaryFields(summary),
      threads: slot.threads,
      isa: slot.isa,
      flops_per_step: stepFlops(w),
      final_loss: finalLoss,
      note: [note, summary.reduced, Number.isFinite(finalLoss) ? '' : 'THE LOSS IS NOT FINITE after the timed steps'].filter(Boolean).join('; ') || undefined,
    });
  } catch (e) {
    records.push(skipped(base, `failed: ${errText(e)}`));
  }
}

/** The identifying fields of a GEMM record, shared by our backends and the OpenBLAS peer. */
function gemmRecordBase(c: GemmCase, system: string, backend: string): RecordBase {
  const { workload, label, m, n, k, transA, transB } = c;
  return { workload, system, backend, metric: 'gemm_gflops', unit: 'GFLOP/s', case: label, m, n, k, transA, transB };
}

/**
 * Dense TF32 tensor-core peak of known NVIDIA GPUs, TFLOP/s (NVIDIA's data sheets list twice
 * these figures "with sparsity"), for the cuda backend's GEMM records; null when unknown.
 */
function tf32PeakTflops(device: string): number | null {
  if (/H100.*PCIe/i.test(device)) return 378;
  if (/H100|H200|GH200/i.test(device)) return 494.7;
  if (/A100/i.test(device)) return 156;
  return null;
}

async function benchGemm(be: Backend, slot: BackendSlot, c: GemmCase, opts: Options, records: BenchRecord[]): Promise<void> {
  const base = gemmRecordBase(c, 'hydranet', slot.name);
  let ops: GemmOperands | null = null;
  const wg = slot.name === 'webgpu' ? webgpuGemmPlan(opts.quick) : null;
  try {
    ops = new GemmOperands(be, c);
    const o = ops;
    const s = await measure((k) => o.run(k), () => be.sync(), wg?.plan ?? plans(opts.quick).gemm);
    const g = o.flops / 1e9;
    const peak = slot.name === 'cuda' ? tf32PeakTflops(slot.isa ?? '') : null;
    const ofPeak = peak ? `${((s.median * g) / 1e3 / peak * 100).toFixed(0)} % of the ${peak} TFLOP/s dense TF32 peak` : undefined;
    records.push({
      ...base,
      median: s.median * g,
      min: s.min * g,
      max: s.max * g,
      windows: s.samples.length,
      threads: slot.threads,
      isa: slot.isa,
      tf32_peak_tflops: peak ?? undefined,
      note: [wg?.note, s.reduced, ofPeak].filter(Boolean).join('; ') || undefined,
    });
  } catch (e) {
    records.push(skipped(base, `failed: ${errText(e)}`));
  } finally {
    ops?.dispose();
  }
}

interface Shape {
  m?: number;
  n?: number;
  k?: number;
  transA?: boolean;
  transB?: boolean;
}

function sameShape(r: Shape, c: Shape): boolean {
  return r.m === c.m && r.n === c.n && r.k === c.k && r.transA === c.transA && r.transB === c.transB;
}

// ---- human output ---------------------------------------------------------------------------

function printHuman(records: BenchRecord[], opts: Options, peerNotes: string[]): void {
  const out: string[] = [''];
  const find = (p: (r: BenchRecord) => boolean): BenchRecord | undefined => records.find(p);

  // Training steps.
  out.push(`Training steps per second (forward + multi-loss + backward + SGD momentum 0.9, lr 0.01; median [min … max] over windows)`);
  const rows: string[][] = [];
  const skips: string[] = [];
  for (const w of opts.workloads) {
    const stepRecs = records.filter((r) => r.workload === w.name && r.metric === 'train_steps_per_s').sort(bySystem);
    for (const r of stepRecs) {
      const who = systemName(r);
      if (r.median === null) {
        skips.push(`  ${w.name} ${who}: ${r.skipped}`);
        rows.push([w.name, who, '', '—', '', '', '', '', '', 'skipped (below)']);
        continue;
      }
      const gf = (r.median * stepFlops(w)) / 1e9;
      rows.push([
        w.name,
        who,
        r.threads !== undefined ? String(r.threads) : r.backend === 'webgpu' ? 'n/a' : '',
        fmt(r.median),
        fmt(r.min),
        fmt(r.max),
        String(r.windows ?? ''),
        fmt(1000 / r.median),
        fmt(gf),
        [representativeFlag(r), r.note].filter(Boolean).join('; '),
      ]);
    }
  }
  out.push(
    table(['workload', 'system', 'threads', 'steps/s', 'min', 'max', 'windows', 'ms/step', 'GFLOP/s*', 'note'], rows, ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'l']),
  );
  out.push('  * effective: GEMM FLOPs of one step (forward, dW, dX except the first layer) × steps/s');
  for (const w of opts.workloads) out.push(`  ${w.name}: ${describeWorkload(w)}`);
  const ratios = stepRatioLines(records);
  if (ratios.length) out.push('', 'Ratios measured in this run (median/median [worst … best window pairing]):', ...ratios.map((l) => `  ${l}`));
  if (skips.length) out.push('', 'Skipped:', ...skips);

  // GEMM: each case on each measured backend (cpu first), OpenBLAS beside the cpu rows only.
  const backendOrder = (b: string): number => {
    const i = BENCH_BACKENDS.indexOf(b as BenchBackend);
    return i < 0 ? BENCH_BACKENDS.length : i;
  };
  const gemmRecs = records
    .map((r, i) => ({ r, i }))
    .filter(({ r }) => r.metric === 'gemm_gflops' && r.system === 'hydranet')
    .sort((a, b) => {
      // Group rows by case (in measurement order of each case's first record), then by backend.
      const first = (x: BenchRecord): number => records.findIndex((y) => y.metric === 'gemm_gflops' && y.system === 'hydranet' && y.workload === x.workload && y.case === x.case);
      return first(a.r) - first(b.r) || backendOrder(a.r.backend) - backendOrder(b.r.backend) || a.i - b.i;
    })
    .map(({ r }) => r);
  if (gemmRecs.length || records.some((r) => r.metric === 'gemm_gflops')) {
    out.push('', 'GEMM GFLOP/s (FLOPs = 2mnk; m×n×k with op(A) m×k, op(B) k×n; median [min … max])');
    const grows: string[][] = [];
    const gskips = new Map<string, string[]>();
    for (const r of gemmRecs) {
      const isCpu = r.backend === 'cpu';
      const blas = isCpu ? find((b) => b.system === 'openblas' && b.metric === 'gemm_gflops' && sameShape(b, r)) : undefined;
      const rr = isCpu ? find((b) => b.metric === 'gemm_gflops_ratio' && b.backend === 'cpu' && sameShape(b, r) && b.workload === r.workload) : undefined;
      if (r.median === null) gskips.set(r.backend, [...(gskips.get(r.backend) ?? []), `  ${r.workload} ${r.case} on ${r.backend}: ${r.skipped}`]);
      grows.push([
        r.workload === 'gemm' ? '—' : r.workload,
        r.case ?? '',
        gemmShape({ workload: r.workload, label: '', m: r.m!, n: r.n!, k: r.k!, transA: !!r.transA, transB: !!r.transB, beta: 0 }),
        `hydranet ${r.backend}`,
        r.median === null ? 'skipped' : `${fmt(r.median)} [${fmt(r.min)} … ${fmt(r.max)}]`,
        blas && blas.median !== null ? `${fmt(blas.median)} [${fmt(blas.min)} … ${fmt(blas.max)}]` : isCpu ? '—' : '',
        rr ? ratio(rr.median) : isCpu ? '—' : '',
        // The reduced webgpu plan is the same for every row: said once under the table.
        (r.note ?? '').split('; ').filter((x) => !x.startsWith(WEBGPU_GEMM_NOTE)).join('; '),
      ]);
    }
    out.push(table(['workload', 'case', 'shape', 'backend', 'GFLOP/s', 'OpenBLAS', 'cpu/OpenBLAS', 'note'], grows, ['l', 'l', 'l', 'l', 'r', 'r', 'r', 'l']));
    out.push('  * the first layer\'s dX is not computed in training (its input is the data); listed for completeness.');
    out.push('  dW uses beta = 1 (gradients accumulate), as in training. OpenBLAS and the ratio apply to the cpu rows only.');
    if (gemmRecs.some((r) => r.backend === 'webgpu' && r.median !== null)) out.push(`  webgpu rows: ${webgpuGemmPlan(opts.quick).note} (in each record's note).`);
    for (const [backend, lines] of gskips) {
      const all = gemmRecs.filter((r) => r.backend === backend);
      const reasons = new Set(all.filter((r) => r.median === null).map((r) => r.skipped));
      if (lines.length === all.length && reasons.size === 1) out.push('', `Skipped (every ${backend} case): ${[...reasons][0]}`);
      else out.push('', 'Skipped:', ...lines);
    }
  }
  // Weighting strategies.
  const wrecs = records.filter((r) => r.metric === 'weighting_steps_per_s');
  if (wrecs.length) {
    out.push('', `Weighting strategies on ${wrecs[0].workload}, ${wrecs[0].backend} (steps/s, median [min … max]; ratio to equal weighting: median [min … max] of per-round ratios, strategies interleaved)`);
    const wrows = wrecs.map((r) => {
      const rr = find((b) => b.metric === 'weighting_vs_equal_ratio' && b.case === r.case);
      return [String(r.case), String(r.mode), `${fmt(r.median)} [${fmt(r.min)} … ${fmt(r.max)}]`, rr ? `${ratio(rr.median)} [${ratio(rr.min)} … ${ratio(rr.max)}]` : '1×'];
    });
    out.push(table(['weighting', 'mode', 'steps/s', 'vs equal'], wrows, ['l', 'l', 'r', 'r']));
  }
  // MultiLeNet.
  const lenet = records.filter((r) => r.workload === 'LeNet' && r.metric === 'train_steps_per_s');
  if (lenet.length) {
    out.push('', 'MultiLeNet training steps per second (conv trunk + 2 heads, batch 256, SGD; an epoch of MultiMNIST is 235 steps)');
    const lrows = [...lenet].sort(bySystem).map((r) => {
      const who = r.system === 'hydranet' ? `hydranet ${r.backend}` : `tfjs ${r.backend}`;
      if (r.median === null) return [who, '—', '—', r.skipped ?? ''];
      const vs = records
        .filter((x) => x.workload === 'LeNet' && x.metric === 'train_steps_per_s_ratio' && r.system === 'tfjs' && x.peer_backend === r.backend)
        .map((x) => `hydranet ${x.backend} / this = ${ratio(x.median)}`)
        .join(', ');
      return [who, `${fmt(r.median)} [${fmt(r.min)} … ${fmt(r.max)}]`, `${fmt(235 / r.median)} s`, [vs, r.note].filter(Boolean).join('; ')];
    });
    out.push(table(['system', 'steps/s', 'epoch', 'note'], lrows, ['l', 'r', 'r', 'l']));
  }
  const kernels = peerKernelLines(records);
  if (peerNotes.length || kernels.length) out.push('', 'Peers:', ...kernels.map((n) => `  ${n}`), ...peerNotes.map((n) => `  ${n}`));
  console.log(out.join('\n'));
}

// ---- main -------------------------------------------------------------------------------------

/**
 * Rough steps/s of the tfjs peers on the machine the bench was written on (2-core Zen 4,
 * lavapipe), for the time estimates only: a tfjs phase's cost is mostly one window plus its
 * time cap, and a window's length depends on these.
 */
const TFJS_RATE_GUESS: Record<string, Record<string, number>> = {
  cpu: { W1: 0.9, W2: 0.04 },
  wasm: { W1: 3, W2: 0.15 },
  webgpu: { W1: 3.3, W2: 0.07 },
  tensorflow: { W1: 20, W2: 1 },
};

/** Seconds a window plan takes at most (warm-up, windows, one chunk of overrun each). */
function planSeconds(p: WindowPlan): number {
  const natural = p.warmupSeconds + p.windows * p.minSeconds * 1.15 + 0.2;
  return p.budgetSeconds !== undefined ? Math.min(natural, p.budgetSeconds) + 0.2 : natural;
}

async function main(): Promise<void> {
  let opts: Options;
  try {
    opts = parseOptions(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n${USAGE}\n`);
    process.exit(2);
  }
  const started = performance.now();
  const machine: Machine = machineInfo();
  const threads = opts.threads ?? machine.cores;
  const { env, shown } = peerEnv(machine);
  if (opts.threads !== undefined) {
    env.OMP_NUM_THREADS = env.OPENBLAS_NUM_THREADS = shown.OMP_NUM_THREADS = shown.OPENBLAS_NUM_THREADS = String(threads);
  }
  const records: BenchRecord[] = [];
  const peerNotes: string[] = [];
  const mnistNotes: string[] = [];
  const p = plans(opts.quick);
  const mp = mnistPlan(opts.quick);

  const slots: BackendSlot[] = [];
  for (const name of opts.backends) slots.push(await openBackend(name, opts.threads));
  // The GPU-sized W3 joins the default workloads when a cuda backend is open (cuda only).
  const w3Explicit = opts.workloads.some((w) => w.name === 'W3');
  const cudaOpen = slots.some((sl) => sl.name === 'cuda' && sl.backend);
  if (cudaOpen && !w3Explicit && opts.workloads.length > 1) opts.workloads.push(WORKLOADS.find((w) => w.name === 'W3')!);

  const header = [
    `hydranet bench${opts.quick ? ' (--quick)' : ''}`,
    `machine   ${machine.model} (${[machine.vendor, machine.family].filter(Boolean).join(' ')}), ${machine.cores} cores${machine.avx512f ? ', AVX-512F' : ''}, ${machine.memoryGiB.toFixed(0)} GiB; ${machine.os}; Node ${machine.node}`,
    ...slots.map((s) =>
      s.backend
        ? s.name === 'webgpu'
          ? `backend   webgpu: adapter ${s.isa ?? '?'}, threads n/a`
          : `backend   ${s.name}: isa ${s.isa ?? '?'}, threads ${s.threads ?? '?'}`
        : `backend   ${s.name}: UNAVAILABLE: ${s.reason}`,
    ),
    `windows   steps: ${p.step.windows} × ≥ ${p.step.minSeconds} s after ≥ ${p.step.warmupSeconds} s warm-up; GEMM: ${p.gemm.windows} × ≥ ${p.gemm.minSeconds} s; reference: reduced budget (see notes)` +
      (slots.some((s) => s.name === 'webgpu' && s.backend) ? `; webgpu GEMM: ${webgpuGemmPlan(opts.quick).note.replace(`${WEBGPU_GEMM_NOTE}: `, '')}` : ''),
  ];
  if (opts.peers) header.push(`peer env  ${Object.entries(shown).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  // Human mode: the header goes to stdout now, the tables at the end; progress goes to stderr.
  if (!opts.json) console.log(header.join('\n'));

  records.push({
    workload: 'machine',
    system: 'hydranet',
    backend: slots.map((s) => s.name).join(','),
    metric: 'info',
    median: null,
    min: null,
    max: null,
    cpu: machine.model,
    cores: machine.cores,
    vendor: machine.vendor,
    family: machine.family,
    avx512f: machine.avx512f,
    os: machine.os,
    node: machine.node,
    quick: opts.quick,
    backends: Object.fromEntries(
      slots.map((s) => [s.name, s.backend ? { isa: s.isa, threads: s.name === 'webgpu' ? 'n/a' : s.threads, adapter: s.adapter } : { unavailable: s.reason }]),
    ),
    peer_env: opts.peers ? shown : undefined,
  });

  const phases: Phase[] = [];
  const stepRate = (system: string, backend: string, workload: string): number | undefined =>
    records.find((r) => r.system === system && r.backend === backend && r.workload === workload && r.metric === 'train_steps_per_s')?.median ?? undefined;

  // 1. Training steps on hydranet's backends.
  for (const w of opts.workloads) {
    for (const slot of slots) {
      if (w.name === 'W3' && slot.name !== 'cuda' && !w3Explicit) continue;
      if (!slot.backend) {
        await benchSteps(slot, w, opts, records); // records the reason; no phase
        continue;
      }
      let estimate = planSeconds(p.step);
      if (slot.name === 'reference') {
        const rp = referencePlan(w, opts.quick);
        estimate = 'skip' in rp ? 0 : w.name === 'W1' ? planSeconds(rp.plan) : 70;
      } else if (slot.name === 'webgpu') {
        estimate += 5; // pipelines (cached by Mesa after the first run)
      }
      phases.push({ label: `hydranet ${slot.name} ${w.name} training steps`, estimate, run: () => benchSteps(slot, w, opts, records) });
    }
  }

  // 1b. The overhead of each weighting strategy against equal weighting (W1, cpu).
  const w1 = opts.workloads.find((w) => w.name === 'W1');
  const cpuSlot = slots.find((sl) => sl.name === 'cpu' && sl.backend);
  if (w1 && cpuSlot?.backend) {
    const n = Object.keys(WEIGHTINGS).length;
    phases.push({
      label: `weighting strategies (${n}) on W1, cpu`,
      estimate: n * (p.step.warmupSeconds / 4 + p.step.windows * p.step.minSeconds * 1.1),
      run: async () => {
        records.push(...(await benchWeighting(cpuSlot.backend!, w1, p.step, log)));
      },
    });
  }

  // TensorFlow.js backends: webgpu on the same Dawn adapter as hydranet webgpu, cpu, wasm, and
  // tfjs-node (libtensorflow) where it is installed; where it is not, the output says so.
  const gpuSlot = slots.find((s) => s.name === 'webgpu');
  const tfjsNode = tfjsNodeAvailable();
  const tfjsBackends = (['webgpu', 'cpu', 'wasm', 'tensorflow'] as const).filter((b) => (b !== 'webgpu' || gpuSlot) && (b !== 'tensorflow' || tfjsNode.ok));

  // 1c. MultiLeNet (issue: image trunks) on each hydranet backend but the reference, beside
  // TensorFlow.js (each backend in its own process).
  if (w1) {
    for (const slot of slots.filter((sl) => sl.backend && sl.name !== 'reference')) {
      phases.push({
        label: `MultiLeNet (batch 256) on hydranet ${slot.name}`,
        estimate: planSeconds(p.step) + (slot.name === 'webgpu' ? 6 : 1),
        run: async () => {
          records.push(await benchLenet(slot.backend!, p.step));
        },
      });
    }
    if (opts.peers) {
      for (const be of tfjsBackends) {
        if (be === 'webgpu' && !gpuSlot?.backend) continue;
        if (be === 'cpu' && opts.quick) {
          records.push({ workload: 'LeNet', system: 'tfjs', backend: 'cpu', metric: 'train_steps_per_s', unit: 'steps/s', median: null, min: null, max: null, skipped: 'skipped with --quick (about 25 s a step)' });
          continue;
        }
        const seconds = be === 'cpu' ? 45 : opts.quick ? 8 : 20;
        phases.push({
          label: `MultiLeNet on tfjs ${be}`,
          estimate: seconds + (be === 'cpu' ? 40 : 8),
          run: async () => {
            records.push(benchTfjsLenet(be, seconds, be === 'cpu' ? 3 : 20));
          },
        });
      }
    }
  }

  // 2. PyTorch on the same workloads.
  const names = opts.workloads.map((w) => w.name).filter((n) => n !== 'W3' || w3Explicit);
  const torchSeconds = (count: number): number => 4 + count * (p.peer.warmupSeconds + p.peer.windows * p.peer.minSeconds * 1.2);
  if (opts.peers && cudaOpen) {
    // PyTorch eager on the GPU, the peer of the cuda backend (W3 included).
    const gpuNames = opts.workloads.map((w) => w.name);
    phases.push({
      label: `PyTorch cuda (${gpuNames.join(', ')})`,
      estimate: torchSeconds(gpuNames.length) + 10,
      run: async () => {
        const t = runTorch(gpuNames, p.peer, threads, env, 'cuda');
        if (t.ok && t.value) {
          peerNotes.push(`PyTorch ${t.value.info.version} on the GPU (eager, TF32 matmuls allowed)`);
          const kernels = `cuBLAS on ${t.value.info.gpu ?? 'the GPU'}, TF32 matmuls allowed`;
          for (const s of t.value.steps) {
            records.push({ workload: s.workload, system: 'pytorch', backend: 'cuda', metric: 'train_steps_per_s', unit: 'steps/s', median: s.median, min: s.min, max: s.max, windows: p.peer.windows, final_loss: s.loss, kernels });
          }
        } else {
          peerNotes.push(`PyTorch cuda skipped: ${t.reason}`);
        }
      },
    });
  }
  if (opts.peers) {
    phases.push({
      label: `PyTorch cpu (${names.join(', ')})`,
      estimate: torchSeconds(names.length),
      run: async () => {
        const t = runTorch(names, p.peer, threads, env);
        if (t.ok && t.value) {
          const { info, steps } = t.value;
          // The BLAS torch really calls (found at run time): the reference BLAS is not representative.
          const blas = classifyBlas(info.blas);
          peerNotes.push(
            `PyTorch ${info.version} (${info.python}), ${info.threads} threads, heads ${info.heads === 'concat' ? 'concatenated into one nn.Linear' : 'one nn.Linear each'}` +
              (info.blas.built_with ? `; built with BLAS_INFO=${info.blas.built_with} (what it loads is above)` : ''),
          );
          for (const s of steps) {
            records.push({
              workload: s.workload,
              system: 'pytorch',
              backend: 'cpu',
              metric: 'train_steps_per_s',
              unit: 'steps/s',
              median: s.median,
              min: s.min,
              max: s.max,
              windows: p.peer.windows,
              threads: s.threads,
              version: info.version,
              heads: info.heads,
              final_loss: s.loss,
              kernels: blas.summary,
              representative: blas.representative,
              fix: blas.fix,
              blas_kind: blas.kind,
              blas: info.blas,
            });
          }
        } else {
          peerNotes.push(`PyTorch skipped: ${t.reason}`);
          for (const w of names) {
            records.push(skipped({ workload: w, system: 'pytorch', backend: 'cpu', metric: 'train_steps_per_s', unit: 'steps/s' }, t.reason ?? 'unavailable'));
          }
        }
      },
    });
  } else {
    peerNotes.push('PyTorch, OpenBLAS and TensorFlow.js skipped (--no-peers)');
  }

  // 2b. TensorFlow.js on the same workloads, each backend in its own process: webgpu on the same
  // Dawn adapter as hydranet webgpu, its cpu and wasm backends, and tfjs-node (libtensorflow)
  // where it is installed; where it is not, the output says so. W3 is GPU-sized: not run on tfjs.
  if (opts.peers && !tfjsNode.ok) {
    peerNotes.push(`TensorFlow.js node (tfjs-node, libtensorflow) not run: ${tfjsNode.reason}`);
    for (const w of opts.workloads.filter((x) => x.name !== 'W3')) {
      records.push(skipped({ workload: w.name, system: 'tfjs', backend: 'tensorflow', metric: 'train_steps_per_s', unit: 'steps/s' }, tfjsNode.reason!));
    }
  }
  if (opts.peers) {
    for (const tb of tfjsBackends) {
      for (const w of opts.workloads) {
        if (w.name === 'W3') continue;
        const base = { workload: w.name, system: 'tfjs', backend: tb, metric: 'train_steps_per_s', unit: 'steps/s' };
        if (tb === 'webgpu' && !gpuSlot!.backend) {
          records.push(skipped(base, 'not run: hydranet webgpu is unavailable here (reason above), nothing to compare with'));
          continue;
        }
        if ((tb === 'cpu' || tb === 'wasm') && w.name === 'W2' && opts.quick) {
          records.push(skipped(base, `skipped with --quick (one tfjs ${tb} W2 step takes tens of seconds)`));
          continue;
        }
        const plan = tfjsPlan(w, opts.quick);
        const windowS = (w.name === 'W1' ? 8 : 1) / (TFJS_RATE_GUESS[tb]?.[w.name] ?? 1);
        phases.push({
          label: `tfjs ${tb} ${w.name} training steps`,
          estimate: 2 + Math.max(plan.warmupSeconds, windowS) + Math.max(plan.seconds, windowS),
          run: async () => {
            const t = runTfjsMlp(tb, w.name, plan, process.env);
            if (!t.ok || !t.value) {
              records.push(skipped(base, t.reason ?? 'unavailable'));
              return;
            }
            const v = t.value;
            const a = v.adapter;
            const isa = a ? describeAdapter({ ...a, cpu: gpuSlot?.adapter?.cpu }) : undefined;
            records.push({
              ...base,
              ...summaryFields(summarize(v.rates)),
              threads: tb === 'webgpu' ? undefined : v.threads,
              isa,
              kernels: tfjsKernels(tb, { threads: v.threads, adapter: isa, simd: tb === 'wasm' ? await tfjsWasmSimd() : undefined }),
              flops_per_step: stepFlops(w),
              final_loss: v.loss,
              window_steps: v.window,
              peak_rss_mib: v.peak_rss / 2 ** 20,
              device_mib: v.device_bytes !== undefined ? v.device_bytes / 2 ** 20 : undefined,
              note: [
                `windows of ${v.window} step${v.window > 1 ? 's' : ''}, each closed by one loss readback`,
                `${v.warmup_windows} warm-up window${v.warmup_windows > 1 ? 's' : ''} (${v.warmup_seconds.toFixed(1)} s)`,
                a && gpuSlot?.adapter && a.description !== gpuSlot.adapter.description ? `ADAPTER DIFFERS from hydranet's: ${a.description}` : '',
                v.leaked_tensors ? `${v.leaked_tensors} tensors leaked` : '',
                Number.isFinite(v.loss) ? '' : 'THE LOSS IS NOT FINITE',
              ]
                .filter(Boolean)
                .join('; '),
            });
          },
        });
      }
    }
  }

  // 3. GEMM on the cpu, webgpu and cuda backends, then OpenBLAS at the same shapes (beside cpu).
  // W3's GEMMs are GPU-sized: cuda only, unless W3 was asked for.
  const cpu = slots.find((s) => s.name === 'cpu');
  const cases = [SQUARE_GEMM, ...opts.workloads.flatMap(gemmCases)];
  const gemmSlots = slots.filter((s) => s.name === 'cpu' || s.name === 'webgpu' || s.name === 'cuda');
  for (const slot of gemmSlots) {
    const mine = cases.filter((c) => c.workload !== 'W3' || slot.name === 'cuda' || w3Explicit);
    if (!slot.backend) {
      for (const c of mine) records.push(skipped(gemmRecordBase(c, 'hydranet', slot.name), `backend unavailable: ${slot.reason}`));
      continue;
    }
    const per = slot.name === 'webgpu' ? planSeconds(webgpuGemmPlan(opts.quick).plan) + 0.5 : planSeconds(p.gemm);
    phases.push({
      label: `GEMM on hydranet ${slot.name} (${mine.length} shapes)`,
      estimate: mine.length * per,
      run: async () => {
        for (const c of mine) {
          log(`  ${slot.name} ${c.workload} ${c.label} (${gemmShape(c)}) …`);
          await benchGemm(slot.backend!, slot, c, opts, records);
        }
      },
    });
  }
  if (cpu && opts.peers) {
    // Duplicate shapes (W1/W2 share none today, but keep it general) are measured once.
    const unique = cases.filter((c, i) => cases.findIndex((d) => sameShape(d, c) && d.beta === c.beta) === i);
    phases.push({
      label: `OpenBLAS sgemm (${unique.length} shapes)`,
      estimate: 2 + unique.length * planSeconds({ ...p.gemm, budgetSeconds: undefined }),
      run: async () => {
        const b = runOpenBlas(unique, p.gemm, env);
        if (b.ok && b.value) {
          peerNotes.push(`OpenBLAS: ${b.value.info.config}; core ${b.value.info.core}; ${b.value.info.threads} threads (cblas_sgemm, compiled at bench time into a temp folder)`);
          for (const c of cases) {
            const g = b.value.gemms.find((x) => sameShape(c, x));
            if (!g) continue;
            const rec: BenchRecord = {
              ...gemmRecordBase(c, 'openblas', 'cblas_sgemm'),
              median: g.median,
              min: g.min,
              max: g.max,
              windows: p.gemm.windows,
              threads: b.value.info.threads,
              core: b.value.info.core,
            };
            records.push(rec);
            const mine = records.find((r) => r.system === 'hydranet' && r.backend === 'cpu' && r.metric === 'gemm_gflops' && r.workload === c.workload && r.case === c.label);
            const rr = mine ? ratioRecord(mine, rec, { case: c.label, m: c.m, n: c.n, k: c.k, transA: c.transA, transB: c.transB }) : null;
            if (rr) records.push(rr);
          }
        } else {
          peerNotes.push(`OpenBLAS skipped: ${b.reason}`);
          records.push(skipped({ workload: 'gemm', system: 'openblas', backend: 'cblas_sgemm', metric: 'gemm_gflops', unit: 'GFLOP/s' }, b.reason ?? 'unavailable'));
        }
      },
    });
  }

  // 4. MultiMNIST: time to a target accuracy, accuracy parity and peak memory, hydranet beside
  // tfjs, every run its own process. Runs when W1 (the same model shape) is among the workloads.
  const mnistSlots = slots.filter((s) => s.name !== 'reference');
  if (w1 && mnistSlots.some((s) => s.backend)) {
    const steps = mnistSteps(mp);
    const init = initFile();
    let initWritten = false;
    const runEstimate = (rate: number | undefined, guess: number, startup: number): number => startup + (steps / (rate ?? guess)) * 1.1 + mp.epochs;
    for (const slot of mnistSlots) {
      if (!slot.backend) continue;
      phases.push({
        label: `MultiMNIST on hydranet ${slot.name} (${steps} steps)`,
        estimate: runEstimate(undefined, slot.name === 'cpu' ? 150 : 12, slot.name === 'cpu' ? 2 : 8),
        refine: () => runEstimate(stepRate('hydranet', slot.name, 'W1'), 10, slot.name === 'cpu' ? 2 : 8),
        run: async () => {
          const r = runHydranetMnist(slot.name, mp, mp.seed, initWritten ? undefined : init.file, opts.threads);
          if (!r.ok) {
            records.push(skipped({ workload: 'MultiMNIST', system: 'hydranet', backend: slot.name, metric: 'time_to_target_s' }, r.reason));
            return;
          }
          initWritten = true;
          records.push(...mnistRecords(r.value, mp));
        },
      });
    }
    if (cpuSlot) {
      phases.push({
        label: `MultiMNIST on hydranet cpu, seeds ${mp.noiseSeeds.join(', ')} (the seed-to-seed noise)`,
        estimate: mp.noiseSeeds.length * runEstimate(undefined, 150, 2),
        refine: () => mp.noiseSeeds.length * runEstimate(stepRate('hydranet', 'cpu', 'W1'), 150, 2),
        run: async () => {
          for (const seed of mp.noiseSeeds) {
            const r = runHydranetMnist('cpu', mp, seed, undefined, opts.threads);
            if (r.ok) records.push(...mnistRecords(r.value, mp, { seed }));
            else mnistNotes.push(`noise run with seed ${seed} failed: ${r.reason}`);
          }
        },
      });
    }
    if (opts.peers) {
      for (const tb of tfjsBackends) {
        if (tb === 'webgpu' && !gpuSlot?.backend) continue;
        if (tb === 'cpu' && opts.quick) {
          records.push(skipped({ workload: 'MultiMNIST', system: 'tfjs', backend: 'cpu', metric: 'time_to_target_s' }, `skipped with --quick (${steps} steps at about 1 step/s)`));
          continue;
        }
        phases.push({
          label: `MultiMNIST on tfjs ${tb} (${steps} steps)`,
          estimate: runEstimate(undefined, TFJS_RATE_GUESS[tb]?.W1 ?? 1, 4),
          refine: () => runEstimate(stepRate('tfjs', tb, 'W1'), TFJS_RATE_GUESS[tb]?.W1 ?? 1, 4),
          run: async () => {
            if (!initWritten) {
              records.push(skipped({ workload: 'MultiMNIST', system: 'tfjs', backend: tb, metric: 'time_to_target_s' }, 'no hydranet run wrote the initial weights'));
              return;
            }
            const r = runTfjsMnist(tb, mp, init.file);
            if (r.ok) records.push(...mnistRecords(r.value, mp));
            else records.push(skipped({ workload: 'MultiMNIST', system: 'tfjs', backend: tb, metric: 'time_to_target_s' }, r.reason));
          },
        });
      }
      if (!tfjsNode.ok) records.push(skipped({ workload: 'MultiMNIST', system: 'tfjs', backend: 'tensorflow', metric: 'time_to_target_s' }, tfjsNode.reason!));
    }
    phases.push({ label: 'MultiMNIST comparisons', estimate: 0, run: async () => {
      init.remove();
      records.push(...mnistComparisons(records, mp));
    } });
  }

  const timings = await runPhases(phases, log);

  // hydranet (each backend but the reference) / tfjs (each backend), per workload.
  for (const w of [...opts.workloads, { name: 'LeNet' }]) {
    for (const slot of slots.filter((sl) => sl.name !== 'reference')) {
      const mine = records.find((r) => r.workload === w.name && r.system === 'hydranet' && r.backend === slot.name && r.metric === 'train_steps_per_s');
      for (const tb of tfjsBackends) {
        const peer = records.find((r) => r.workload === w.name && r.system === 'tfjs' && r.backend === tb && r.metric === 'train_steps_per_s');
        const rr = mine && peer ? ratioRecord(mine, peer, { peer_backend: tb }) : null;
        if (rr) records.push(rr);
      }
    }
  }
  if (records.some((r) => r.system === 'tfjs' && r.metric === 'train_steps_per_s' && r.median !== null)) {
    peerNotes.push(
      `TensorFlow.js ${tfjsBackends.join(', ')}: bench/peers/tfjs_*.ts, one process per backend and workload, tfjs-layers multi-output models; ` +
        'tfjs-layers has no loss weights for a custom step, so the step is the weighted sum Σ w_t·CE_t written out with tf.variableGrads + optimizer.applyGradients (momentum 0.9)' +
        (gpuSlot ? '; webgpu through Dawn (npm webgpu) as navigator.gpu' : '') +
        '; tfjs wasm runs single-threaded under Node (its thread pool needs browser workers)',
    );
  }
  for (const w of opts.workloads.map((x) => x.name)) {
    for (const slot of slots) {
      const device = slot.name === 'cuda' ? 'cuda' : 'cpu';
      const torch = records.find((r) => r.workload === w && r.system === 'pytorch' && r.backend === device && r.metric === 'train_steps_per_s');
      const mine = records.find((r) => r.workload === w && r.system === 'hydranet' && r.backend === slot.name && r.metric === 'train_steps_per_s');
      const rr = mine && torch ? ratioRecord(mine, torch, { peer_backend: device }) : null;
      if (rr) records.push(rr);
    }
  }

  for (const s of slots) s.backend?.dispose();
  const seconds = (performance.now() - started) / 1000;
  records.push({
    workload: 'machine',
    system: 'hydranet',
    backend: 'bench',
    metric: 'phase_seconds',
    median: seconds,
    min: seconds,
    max: seconds,
    unit: 's',
    phases: timings.map((t) => ({ label: t.label, seconds: Math.round(t.seconds * 10) / 10, estimate: Math.round(t.estimate * 10) / 10 })),
  });
  if (opts.markdown || opts.updateReadme) {
    const fileFlags = ['--markdown', '--update-readme', '--json-out'];
    const args = process.argv.slice(2).filter((a, i, all) => !fileFlags.includes(a) && !fileFlags.includes(all[i - 1] ?? ''));
    const header =
      `Measured by \`npm run bench${args.length ? ` -- ${args.join(' ')}` : ''}\` on ${new Date().toISOString().slice(0, 10)}: ` +
      `${machine.model} (${machine.cores} cores), Node ${machine.node}${slots.map((sl) => (sl.backend ? `; ${sl.name}: ${sl.isa ?? ''}` : '')).join('')}.`;
    const md = [markdownReport(records, header), ...mnistMarkdown(records, mp)].join('\n');
    if (opts.markdown) fs.writeFileSync(opts.markdown, `${md}\n`);
    if (opts.updateReadme) fs.writeFileSync(opts.updateReadme, replaceBenchSection(fs.readFileSync(opts.updateReadme, 'utf8'), md));
  }
  if (opts.jsonOut) fs.writeFileSync(opts.jsonOut, `${JSON.stringify(records, null, 1)}\n`);
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(records, null, 1)}\n`);
  } else {
    printHuman(records, opts, peerNotes);
    console.log(mnistText(records, mp, mnistNotes).join('\n'));
    const estimated = timings.reduce((a, t) => a + t.estimate, 0);
    console.log(`\n(bench took ${clock(seconds)} min:s, estimated ${clock(estimated)}; each phase's seconds and estimate are in the JSON record phase_seconds)`);
  }
}

main().catch((e) => {
  process.stderr.write(`bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
