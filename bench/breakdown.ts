/**
 * Where a training step's time goes, kernel by kernel, on the cpu backend:
 *
 *   node dist/bench/breakdown.js [--workload W1,W2,LeNet,E1] [--threads N] [--rounds R] [--seconds S] [--json]
 *
 * For each workload (W1, W2 of workloads.ts; LeNet, the MultiLeNet step of lenet.ts; E1, the
 * embedding workload of embedding/workload.ts, its parts named as the issue names them:
 * embedding gather / scatter-add, experts' and gates' GEMMs, the gates' softmax mixture, towers,
 * loss, optimizer with the tables' row-sparse step) the real
 * step (model.forwardBackward + optimizer.step, as the Trainer calls them) runs in R rounds of
 * two interleaved windows of at least S seconds each: a plain window (the step as the bench times
 * it) and a hooked one, where every kernel call passes through the backend's profiler hook
 * (KernelBackend.hookKernels; the cpu kernels are synchronous, so the clock read after a call is
 * the kernel's time) and the gradient zeroing (`backend.fill`, a host fill) is timed too. Each
 * window records wall time and CPU time (process.cpuUsage: every thread of the process). The
 * hooked window yields, per step: each kernel's milliseconds (GEMMs split into forward x·Wᵀ, dX
 * and dW), the calls, and the JS side (the hooked step's time outside every kernel: the model's
 * and the op table's JavaScript, argument checks, N-API crossings); the hook's own cost is the
 * hooked step minus the plain one (reported, not hidden).
 *
 * The GEMM-only limit: every GEMM of the step (the dense layers' own, and the heads' as one GEMM
 * per pass over a shared input) is timed alone with the bench's GEMM operands (workloads.ts
 * GemmOperands, same transposes and β) at its median rate over a few windows; the limit is the
 * sum of those times, the step as fast as it could be if only its GEMMs ran. `limit / plain
 * step` is the fraction the issue asks for.
 *
 * A conv trunk (LeNet) gets a compute limit instead: its convolutions run on direct kernels
 * (native/cpu/conv.cc), not on the GEMM, so the GEMM of their im2col form timed alone is no
 * bound on them (a direct kernel beat it: the step ran at 121 % of such a "limit"). Each
 * convolution's FLOPs (fwd 2·outC·(N·OH·OW)·(C·KH·KW); dW the same; dX the same when asked
 * for) count at the best GEMM rate the machine reaches here: the fastest of the 1024³ GEMM and
 * the step's own GEMMs alone, median windows (for the median limit) and fastest single calls
 * (for the fastest one). The limit is the step's GEMMs alone plus its convolutions at that rate;
 * the records, text and table say which limit they give (`limitKind`).
 *
 * Thread hand-offs: the plain windows also count, through the cpu addon's pool counters
 * (CpuBackend.threadPoolStats, native/cpu/threadpool.h), every kernel call that handed work to
 * worker threads: hand-offs per step, how many had to wake a sleeping worker (one that was past
 * its spin) or took an invitation back unclaimed (the caller ran that share itself), the
 * caller's wait for its workers after its own share (join), the workers' start latency, and the
 * time inside parallel calls. The join wait is the hand-offs' cost to the step's wall time; it
 * is part of the kernels' own times above, not extra.
 *
 * Machine load (os.loadavg) is printed before and after: on a shared machine, compare CPU-ms as
 * well as wall-ms. On a loaded machine every window is stretched by preemption, the step's and
 * the GEMMs' at different moments, so the medians' fraction swings; preemption only ever adds
 * time, so the breakdown also gives the fastest single plain step against the sum of each GEMM's
 * fastest single call alone (the plain windows' steps are timed one by one, and each round also
 * times a burst of single calls of every GEMM alone, so both are sampled under the same load).
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Backend, HeadLayout, Tensor } from '../ts/backends/backend.js';
import type { Conv2dGeometry } from '../ts/backends/layouts.js';
import type { ThreadPoolStats } from '../ts/backends/native.js';
import type { KernelBackend, KernelMethod } from '../ts/backends/ops.js';
import type { GemmDims } from '../ts/backends/validate.js';
import { createBackend } from '../ts/index.js';
import { EmbeddingStep } from './embedding/workload.js';
import { lenetStep } from './lenet.js';
import { markdownTable } from './report.js';
import { measure } from './stats.js';
import { type GemmCase, GemmOperands, SQUARE_GEMM, TrainingStep, WORKLOADS, gemmShape } from './workloads.js';

/** The workloads the breakdown knows (E1: the embedding workload, bench/embedding/workload.ts). */
export const BREAKDOWN_WORKLOADS = ['W1', 'W2', 'LeNet', 'E1'] as const;
export type BreakdownWorkload = (typeof BREAKDOWN_WORKLOADS)[number];

/** One row of a breakdown: a kernel (or a GEMM's role), its time and calls per step. */
export interface BreakdownRow {
  part: string;
  ms: number;
  calls: number;
}

/** The thread hand-offs of a plain step (the pool's counters over the plain windows, per step). */
export interface BreakdownHandoffs {
  /** Kernel calls (or parts of one) that handed work to worker threads. */
  handoffs: number;
  /** Of those, the ones that had to wake a sleeping worker. */
  wakes: number;
  /** Invitations taken back unclaimed (the caller ran the share itself). */
  withdrawn: number;
  /** The caller's wait for workers after its own share, ms. */
  joinMs: number;
  /** The workers' start latency (invitation → start), summed over workers, ms. */
  claimMs: number;
  /** Time inside parallel calls, on the caller, ms. */
  parallelMs: number;
}

/** A workload's step, broken down. */
export interface Breakdown {
  workload: BreakdownWorkload;
  threads: number;
  isa: string;
  /** Plain step (no hook): median over rounds of wall ms per step, and CPU ms per step. */
  stepMs: number;
  stepCpuMs: number;
  /** The fastest single plain step, ms (never more than stepMs). */
  fastestStepMs: number;
  /** Hooked step: wall and CPU ms per step. */
  hookedMs: number;
  hookedCpuMs: number;
  /** Per kernel (hooked windows, summed over rounds, per step), largest first; JS side last. */
  rows: BreakdownRow[];
  /** The hooked step's time outside every kernel, ms per step. */
  jsMs: number;
  /**
   * Which limit gemmLimitMs is: 'gemm-only' (every GEMM of the step alone) or 'gemm+conv-at-peak'
   * (that, plus the convolutions' FLOPs at the best GEMM rate: a conv trunk).
   */
  limitKind: 'gemm-only' | 'gemm+conv-at-peak';
  /** The step's limit (see limitKind): its GEMMs alone at their measured rates (+ convolutions at peakGflops), ms per step. */
  gemmLimitMs: number;
  /** The same from each GEMM's fastest single call alone (+ convolutions at peakFastestGflops), ms per step. */
  gemmLimitFastestMs: number;
  /** GEMM FLOPs per step (the convolutions' not included). */
  gemmFlops: number;
  /** The convolutions' FLOPs per step (direct kernels; 0 without convolutions). */
  convFlops: number;
  /** The convolutions' part of gemmLimitMs: convFlops at peakGflops, ms per step. */
  convLimitMs: number;
  /** The best GEMM rate measured (1024³ and the step's GEMMs alone, median windows), GFLOP/s; 0 when not measured (no convolutions). */
  peakGflops: number;
  /** The same from fastest single calls, GFLOP/s (the convolutions' part of gemmLimitFastestMs). */
  peakFastestGflops: number;
  /** Each distinct GEMM shape: its calls per step and its rate alone, GFLOP/s. */
  gemms: { shape: string; role: string; calls: number; gflops: number }[];
  /** The plain step's thread hand-offs; null when the backend cannot count them. */
  handoffs: BreakdownHandoffs | null;
}

/** A GEMM the step runs, as a bench GemmCase (label = its role) with its calls per step. */
interface StepGemm extends GemmCase {
  calls: number;
}

type Hooked = Backend & Pick<KernelBackend<Float32Array>, 'hookKernels'> & { threadPoolStats?(then?: 'start' | 'stop'): ThreadPoolStats };

/** The role of a dense GEMM call: forward x·Wᵀ (+bias, activation), dX = dY·W, or dW += dYᵀ·X. */
function gemmRole(d: GemmDims): 'gemm fwd' | 'gemm dX' | 'gemm dW' | 'gemm other' {
  if (!d.transA && d.transB) return 'gemm fwd';
  if (d.transA && !d.transB && d.beta === 1) return 'gemm dW';
  if (!d.transA && !d.transB) return 'gemm dX';
  return 'gemm other';
}

/** The GEMMs (as GemmCases, without calls) a kernel call stands for, for the GEMM-only limit. */
function gemmsOf(op: KernelMethod, args: readonly unknown[]): GemmCase[] {
  const g = (label: string, m: number, n: number, k: number, transA: boolean, transB: boolean, beta: number): GemmCase => ({
    workload: '',
    label,
    m,
    n,
    k,
    transA,
    transB,
    beta,
  });
  if (op === 'gemm') {
    const d = args[4] as GemmDims;
    return [g(gemmRole(d), d.m, d.n, d.k, d.transA, d.transB, d.beta)];
  }
  if (op === 'headsForward' || op === 'headsBackward') {
    const layout = args[op === 'headsForward' ? 4 : 7] as HeadLayout;
    const n = args[op === 'headsForward' ? 5 : 8] as number;
    const groups = layout.sharedInput ? [[layout.inSizes[0], layout.totalOut]] : layout.inSizes.map((k, t) => [k, layout.outSizes[t]]);
    const hasDx = op === 'headsBackward' && (args[4] !== null || args[6] !== null);
    return groups.flatMap(([k, out]) =>
      op === 'headsForward'
        ? [g('heads fwd', n, out, k, false, true, 0)]
        : [g('heads dW', out, k, n, true, false, 1), ...(hasDx ? [g('heads dX', n, k, out, false, false, 0)] : [])],
    );
  }
  return [];
}

/**
 * The FLOPs of a convolution kernel call (0 for any other kernel): 2·outC·(N·OH·OW)·(C·KH·KW)
 * for the forward, the same for dW and again for dX when the call computes it.
 */
export function convFlopsOf(op: KernelMethod, args: readonly unknown[]): number {
  if (op !== 'conv2dForward' && op !== 'conv2dBackward') return 0;
  const geo = args[op === 'conv2dForward' ? 4 : 6] as Conv2dGeometry;
  const n = args[op === 'conv2dForward' ? 5 : 7] as number;
  const one = 2 * geo.outC * n * geo.outH * geo.outW * geo.c * geo.kh * geo.kw;
  return op === 'conv2dForward' ? one : one * (args[3] !== null ? 2 : 1);
}

/** Each of the counters `h` over `steps` steps, per step. */
function handoffsPerStep(h: BreakdownHandoffs, steps: number): BreakdownHandoffs {
  const { handoffs, wakes, withdrawn, joinMs, claimMs, parallelMs } = h;
  return { handoffs: handoffs / steps, wakes: wakes / steps, withdrawn: withdrawn / steps, joinMs: joinMs / steps, claimMs: claimMs / steps, parallelMs: parallelMs / steps };
}

/**
 * How a workload names a kernel call's part of the step: a dense GEMM by its role (gemmRole),
 * any other kernel by its name, unless the workload says otherwise (undefined).
 */
type PartNamer = (op: KernelMethod, args: readonly unknown[]) => string | undefined;

/** E1's parts in the issue's words: embedding gather / scatter, gates, towers, loss, optimizer. */
const EMBEDDING_PARTS: Partial<Record<KernelMethod, string>> = {
  embeddingForward: 'embedding gather (fwd)',
  embeddingBackward: 'embedding scatter-add (bwd)',
  embeddingSgdStep: 'optimizer: row-sparse SGD (tables)',
  sgdStep: 'optimizer: SGD (dense params)',
  mixtureForward: 'gates: softmax + mixture fwd',
  mixtureBackward: 'gates: softmax + mixture bwd',
  headsForward: 'towers fwd (headsForward)',
  headsBackward: 'towers bwd (headsBackward)',
  multiLoss: 'loss (multiLoss)',
};

/** E1's GEMMs: the gates' (their output is one logit per expert and task) apart from the experts'. */
function embeddingPart(gateWidth: number): PartNamer {
  return (op, args) => {
    if (op !== 'gemm') return EMBEDDING_PARTS[op];
    const d = args[4] as GemmDims;
    const out = d.transA ? d.m : d.transB ? d.n : d.k;
    return `${out === gateWidth ? 'gates' : 'experts'} ${gemmRole(d)}`;
  };
}

/** A step function for `w` on `be` (k real training steps), and how its parts are named. */
function stepOf(be: Backend, w: BreakdownWorkload): { run: (k: number) => void; part?: PartNamer } {
  if (w === 'LeNet') return lenetStep(be);
  if (w === 'E1') {
    const s = new EmbeddingStep(be);
    return { run: (k) => s.run(k), part: embeddingPart(s.workload.experts * s.workload.tasks) };
  }
  const s = new TrainingStep(be, WORKLOADS.find((x) => x.name === w)!);
  return { run: (k) => s.run(k) };
}

/** Wall and CPU milliseconds of `k` steps. */
async function timed(be: Backend, run: (k: number) => void, k: number): Promise<{ wall: number; cpu: number }> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  run(k);
  await be.sync();
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return { wall, cpu: (c.user + c.system) / 1000 };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
};

/** The median time of one GEMM alone, ms (3 windows of ≥ `seconds` after a short warm-up). */
async function gemmAlone(be: Backend, c: GemmCase, seconds: number): Promise<number> {
  const ops = new GemmOperands(be, c);
  try {
    const s = await measure((k) => ops.run(k), () => be.sync(), { windows: 3, minSeconds: seconds, warmupSeconds: seconds / 2 });
    return 1000 / s.median;
  } finally {
    ops.dispose();
  }
}

/** The fastest of single calls of one GEMM alone, ms: as many as fit in `ms` (3 to 50) after one warm-up call. */
function gemmFastest(be: Backend, c: GemmCase, ms: number): number {
  const ops = new GemmOperands(be, c);
  try {
    let t0 = performance.now();
    ops.run(1);
    let fastest = performance.now() - t0;
    for (let i = Math.max(3, Math.min(50, Math.ceil(ms / fastest))); i > 0; i--) {
      t0 = performance.now();
      ops.run(1);
      fastest = Math.min(fastest, performance.now() - t0);
    }
    return fastest;
  } finally {
    ops.dispose();
  }
}

/** The key of the 1024³ GEMM among the GEMMs timed alone (never a step's own GEMM's key). */
const PEAK_KEY = 'peak 1024³';

/** Breaks down `w`'s step on the cpu backend `be` (see the file's comment). */
export async function breakdown(be: Backend, w: BreakdownWorkload, rounds = 5, seconds = 0.5): Promise<Breakdown> {
  const hb = be as Hooked;
  if (typeof hb.hookKernels !== 'function') throw new TypeError(`the ${be.name} backend has no kernel hook`);
  const { run, part } = stepOf(be, w);
  const partOf = (op: KernelMethod, args: readonly unknown[]): string => part?.(op, args) ?? (op === 'gemm' ? gemmRole(args[4] as GemmDims) : op);
  // The plain windows' steps one by one, for the fastest single step.
  let fastestStepMs = Infinity;
  const runTimed = (k: number): void => {
    for (let i = 0; i < k; i++) {
      const t0 = performance.now();
      run(1);
      fastestStepMs = Math.min(fastestStepMs, performance.now() - t0);
    }
  };
  // Warm-up, and the steps per window from it.
  const warm = await timed(be, run, 3);
  const perStep = warm.wall / 3;
  const k = Math.max(2, Math.ceil((seconds * 1000) / perStep));

  const acc = new Map<string, BreakdownRow>();
  const add = (part: string, ms: number): void => {
    const r = acc.get(part) ?? { part, ms: 0, calls: 0 };
    r.ms += ms;
    r.calls += 1;
    acc.set(part, r);
  };
  const gemms = new Map<string, StepGemm>();
  let convFlops = 0;
  let recordGemms = false;
  const hook = (op: KernelMethod, args: readonly unknown[], kernel: () => void): void => {
    const t0 = performance.now();
    kernel();
    const ms = performance.now() - t0;
    const name = partOf(op, args);
    add(name, ms);
    if (recordGemms) {
      convFlops += convFlopsOf(op, args);
      for (const g of gemmsOf(op, args)) {
        // A workload's own name for a dense GEMM (E1: gates or experts); heads are E1's towers.
        const c = { ...g, label: op === 'gemm' ? name : part ? g.label.replace(/^heads/, 'towers') : g.label };
        const key = `${c.label} ${gemmShape(c)} β${c.beta}`;
        const e = gemms.get(key);
        if (e) e.calls++;
        else gemms.set(key, { ...c, calls: 1 });
      }
    }
  };
  const ownFill = be.fill;
  const fill = (t: Tensor, value: number): void => {
    const t0 = performance.now();
    ownFill.call(be, t, value);
    add('fill (zero grads)', performance.now() - t0);
  };

  // One hooked step that records the step's GEMMs.
  let unhook = hb.hookKernels(hook);
  recordGemms = true;
  run(1);
  recordGemms = false;
  unhook();
  acc.clear();

  const plain: { wall: number; cpu: number }[] = [];
  const hooked: { wall: number; cpu: number }[] = [];
  let hookedSteps = 0;
  const fastestGemm = new Map<string, number>();
  // With convolutions, the 1024³ GEMM too: the best rate their FLOPs count at.
  const alone = new Map<string, StepGemm>(gemms);
  if (convFlops > 0) alone.set(PEAK_KEY, { ...SQUARE_GEMM, calls: 0 });
  const pool = typeof hb.threadPoolStats === 'function' ? hb.threadPoolStats.bind(hb) : null;
  const handoffs: BreakdownHandoffs = { handoffs: 0, wakes: 0, withdrawn: 0, joinMs: 0, claimMs: 0, parallelMs: 0 };
  for (let r = 0; r < rounds; r++) {
    pool?.('start');
    try {
      plain.push(await timed(be, runTimed, k));
    } finally {
      const p = pool?.('stop');
      if (p) {
        handoffs.handoffs += p.handoffs;
        handoffs.wakes += p.wakes;
        handoffs.withdrawn += p.withdrawn;
        handoffs.joinMs += p.joinMs;
        handoffs.claimMs += p.claimMs;
        handoffs.parallelMs += p.totalMs;
      }
    }
    unhook = hb.hookKernels(hook);
    be.fill = fill;
    try {
      hooked.push(await timed(be, run, k));
    } finally {
      unhook();
      be.fill = ownFill;
    }
    hookedSteps += k;
    // Each GEMM's single calls alone, in every round beside the step's windows, so that the
    // fastest step and the fastest GEMM calls are sampled under the same load.
    for (const [key, c] of alone) fastestGemm.set(key, Math.min(fastestGemm.get(key) ?? Infinity, gemmFastest(be, c, (250 * seconds) / alone.size)));
  }
  const hookedWall = hooked.reduce((a, h) => a + h.wall, 0);
  const rows = [...acc.values()].map((r) => ({ part: r.part, ms: r.ms / hookedSteps, calls: r.calls / hookedSteps })).sort((a, b) => b.ms - a.ms);
  const kernelMs = rows.reduce((a, r) => a + r.ms, 0);
  const jsMs = hookedWall / hookedSteps - kernelMs;

  // The GEMM-only limit: each distinct GEMM alone; the convolutions at the best GEMM rate.
  let gemmLimitMs = 0;
  let gemmLimitFastestMs = 0;
  let gemmFlops = 0;
  let peakGflops = 0;
  let peakFastestGflops = 0;
  const shapes: Breakdown['gemms'] = [];
  for (const [key, c] of alone) {
    const ms = await gemmAlone(be, c, Math.min(0.1, seconds / 3));
    const flops = 2 * c.m * c.n * c.k;
    gemmLimitMs += ms * c.calls;
    gemmLimitFastestMs += fastestGemm.get(key)! * c.calls;
    gemmFlops += flops * c.calls;
    peakGflops = Math.max(peakGflops, flops / ms / 1e6);
    peakFastestGflops = Math.max(peakFastestGflops, flops / fastestGemm.get(key)! / 1e6);
    if (key !== PEAK_KEY) shapes.push({ shape: gemmShape(c) + (c.beta ? ' β1' : ''), role: c.label, calls: c.calls, gflops: flops / ms / 1e6 });
  }
  if (convFlops === 0) peakGflops = peakFastestGflops = 0;
  const convLimitMs = convFlops > 0 ? convFlops / peakGflops / 1e6 : 0;
  gemmLimitMs += convLimitMs;
  if (convFlops > 0) gemmLimitFastestMs += convFlops / peakFastestGflops / 1e6;
  const extra = be as unknown as { threads?: number; isa?: string };
  return {
    workload: w,
    threads: extra.threads ?? 1,
    isa: extra.isa ?? be.name,
    stepMs: median(plain.map((p) => p.wall / k)),
    fastestStepMs,
    stepCpuMs: median(plain.map((p) => p.cpu / k)),
    hookedMs: median(hooked.map((p) => p.wall / k)),
    hookedCpuMs: median(hooked.map((p) => p.cpu / k)),
    rows: [...rows, { part: 'JS side (outside every kernel)', ms: jsMs, calls: 0 }],
    jsMs,
    limitKind: convFlops > 0 ? 'gemm+conv-at-peak' : 'gemm-only',
    gemmLimitMs,
    gemmLimitFastestMs,
    gemmFlops,
    convFlops,
    convLimitMs,
    peakGflops,
    peakFastestGflops,
    gemms: shapes,
    handoffs: pool ? handoffsPerStep(handoffs, rounds * k) : null,
  };
}

const f = (x: number, d = 3): string => x.toFixed(d);

/** The breakdown as text lines. */
export function breakdownText(b: Breakdown): string[] {
  const lines = [
    `${b.workload} (cpu ${b.isa}, ${b.threads} threads): step ${f(b.stepMs)} ms wall, ${f(b.stepCpuMs)} ms CPU (plain); ${f(b.hookedMs)} ms hooked (hook's own cost ${f(b.hookedMs - b.stepMs)} ms)`,
    b.limitKind === 'gemm-only'
      ? `  GEMM-only limit ${f(b.gemmLimitMs)} ms (${f(b.gemmFlops / 1e9, 3)} GFLOP at ${f(b.gemmFlops / b.gemmLimitMs / 1e6, 1)} GFLOP/s) = ${f((100 * b.gemmLimitMs) / b.stepMs, 1)} % of the plain step`
      : `  compute limit ${f(b.gemmLimitMs)} ms = ${f((100 * b.gemmLimitMs) / b.stepMs, 1)} % of the plain step: its GEMMs alone ${f(b.gemmLimitMs - b.convLimitMs)} ms (${f(b.gemmFlops / 1e9, 3)} GFLOP) + its convolutions (direct kernels, no GEMM) ${f(b.convFlops / 1e9, 3)} GFLOP at the best GEMM rate measured, ${f(b.peakGflops, 1)} GFLOP/s, ${f(b.convLimitMs)} ms`,
    `  fastest single plain step ${f(b.fastestStepMs)} ms; each GEMM's fastest single call alone, summed${b.limitKind === 'gemm-only' ? '' : `, + the convolutions at the fastest calls' best rate (${f(b.peakFastestGflops, 1)} GFLOP/s)`}, ${f(b.gemmLimitFastestMs)} ms = ${f((100 * b.gemmLimitFastestMs) / b.fastestStepMs, 1)} % of it (preemption only adds time: the figure to compare on a loaded machine)`,
    `  ${'part'.padEnd(34)} ${'ms/step'.padStart(8)} ${'% hooked'.padStart(8)} ${'calls'.padStart(6)}`,
  ];
  for (const r of b.rows) {
    lines.push(`  ${r.part.padEnd(34)} ${f(r.ms).padStart(8)} ${f((100 * r.ms) / b.hookedMs, 1).padStart(8)} ${(r.calls ? f(r.calls, 1) : '').padStart(6)}`);
  }
  const h = b.handoffs;
  if (h) {
    lines.push(
      `  thread hand-offs (plain step): ${f(h.handoffs, 1)} per step (${f(h.wakes, 1)} woke a sleeping worker, ${f(h.withdrawn, 1)} taken back unclaimed); ` +
        `caller's join wait ${f(h.joinMs)} ms, workers' start latency ${f(h.claimMs)} ms, inside parallel calls ${f(h.parallelMs)} ms (per step)`,
    );
  }
  lines.push('  GEMMs alone:');
  const roleWidth = Math.max(12, ...b.gemms.map((g) => g.role.length));
  for (const g of b.gemms) lines.push(`    ${g.role.padEnd(roleWidth)} ${g.shape.padEnd(24)} ×${g.calls}  ${f(g.gflops, 1)} GFLOP/s`);
  if (b.convFlops > 0) lines.push(`  convolutions: ${f(b.convFlops / 1e9, 3)} GFLOP per step on direct kernels, ${f(b.convFlops / b.stepMs / 1e6, 1)} GFLOP/s over the whole plain step`);
  return lines;
}

/** The metric of a breakdown's record: the fraction of its limit (limitKind) the plain step reaches. */
export function limitMetric(kind: Breakdown['limitKind']): string {
  return kind === 'gemm-only' ? 'gemm_only_limit_fraction' : 'compute_limit_fraction';
}

/** Both limit metrics (records of breakdowns). */
export const LIMIT_METRICS: readonly string[] = [limitMetric('gemm-only'), limitMetric('gemm+conv-at-peak')];

/** The breakdowns among a run's records (bench/phases/breakdown.ts makes them). */
function breakdownsOf(records: readonly { metric: string; breakdown?: unknown; workload: string; skipped?: string }[]): Breakdown[] {
  return records.filter((r) => LIMIT_METRICS.includes(r.metric) && r.breakdown).map((r) => r.breakdown as Breakdown);
}

/** The text section of a bench run: every breakdown, or nothing. */
export function breakdownSection(records: readonly { metric: string; breakdown?: unknown; workload: string; skipped?: string }[]): string[] {
  const bs = breakdownsOf(records);
  const skips = records.filter((r) => LIMIT_METRICS.includes(r.metric) && r.skipped).map((r) => `  ${r.workload}: ${r.skipped}`);
  if (!bs.length && !skips.length) return [];
  return ['', 'Where a cpu training step goes (bench/breakdown.ts: each kernel timed through the backend\'s kernel hook; plain and hooked windows interleaved):', ...bs.flatMap(breakdownText), ...skips];
}

/** The Markdown section of a bench run: one table row per workload, or nothing. */
export function breakdownMarkdown(records: readonly { metric: string; breakdown?: unknown; workload: string }[]): string[] {
  const bs = breakdownsOf(records);
  if (!bs.length) return [];
  const rows = bs.map((b) => {
    const top = b.rows
      .filter((r) => !r.part.startsWith('JS side'))
      .slice(0, 5)
      .map((r) => `${r.part} ${f(r.ms, 2)}`)
      .join(', ');
    const h = b.handoffs;
    return [
      b.workload,
      String(b.threads),
      f(b.stepMs, 2),
      f(b.stepCpuMs, 2),
      `${f(b.gemmLimitMs, 2)} (${f((100 * b.gemmLimitMs) / b.stepMs, 0)} %)${b.limitKind === 'gemm-only' ? '' : `, convolutions at ${f(b.peakGflops, 0)} GFLOP/s`}`,
      top,
      h ? `${f(h.handoffs, 1)} (join ${f(h.joinMs, 3)}, ${f(h.wakes, 1)} wake-ups)` : '–',
      f(b.jsMs, 2),
    ];
  });
  return [
    '',
    'Where a cpu training step goes (ms per step; the limit is every GEMM of the step timed alone at its own shape, plus, for a conv trunk, its convolutions\' FLOPs at the best GEMM rate measured (1024³ or the step\'s own GEMMs alone), since they run on direct kernels and not on the GEMM; `node dist/bench/breakdown.js` prints every kernel):',
    '',
    markdownTable(['workload', 'threads', 'step, wall', 'step, CPU', 'limit: GEMMs alone (+ convolutions at the best GEMM rate), of the step', 'largest kernels (hooked)', 'thread hand-offs per step (ms)', 'JS side'], rows),
  ];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      workload: { type: 'string', default: 'W1,W2,LeNet,E1' },
      threads: { type: 'string' },
      rounds: { type: 'string', default: '5' },
      seconds: { type: 'string', default: '0.5' },
      json: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const ws = values.workload!.split(',');
  for (const w of ws) {
    if (!(BREAKDOWN_WORKLOADS as readonly string[]).includes(w)) throw new RangeError(`--workload: ${w} is not one of ${BREAKDOWN_WORKLOADS.join(', ')}`);
  }
  const be = await createBackend('cpu', values.threads ? { threads: Number(values.threads) } : {});
  const load0 = os.loadavg();
  const out: Breakdown[] = [];
  for (const w of ws as BreakdownWorkload[]) {
    const b = await breakdown(be, w, Number(values.rounds), Number(values.seconds));
    out.push(b);
    if (!values.json) console.log(breakdownText(b).join('\n'));
  }
  const load1 = os.loadavg();
  if (values.json) console.log(JSON.stringify({ load: [load0[0], load1[0]], breakdowns: out }, null, 1));
  else console.log(`load average (1 min): ${f(load0[0], 2)} before, ${f(load1[0], 2)} after, on ${os.cpus().length} cores`);
  be.dispose();
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    process.stderr.write(`breakdown failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  });
}
