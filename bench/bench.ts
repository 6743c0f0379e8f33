/**
 * `npm run bench [-- flags]`: hydranet side by side with TensorFlow.js and PyTorch, all measured
 * in the same run: training steps per second of the W1/W2 (and, with cuda, W3) workloads and
 * MultiLeNet on hydranet's backends (cpu, reference, webgpu, cuda), and of the embedding
 * workload E1 on cpu beside PyTorch (bench/phases/embedding.ts); on TensorFlow.js webgpu
 * (same Dawn adapter as hydranet webgpu), cpu, wasm (and tfjs-node where installed; where not,
 * the output says why), each in its own process, and on PyTorch CPU; GEMM GFLOP/s against
 * OpenBLAS; where a cpu step's time goes, kernel by kernel, beside its GEMM-only limit (for a
 * conv trunk, its compute limit) (bench/breakdown.ts); MultiMNIST time to a target accuracy,
 * accuracy parity and peak memory (bench/multimnist.ts). Medians with min and max over several windows after warm-up; ratios
 * to every peer. The phases are planned first: the total estimate is printed before the
 * first one runs, then each phase as it starts (bench/progress.ts). Each phase family, with
 * its estimates, is one file of bench/phases/; this file plans them in order and runs them.
 *
 * Flags:
 *   --quick               fewer, shorter windows, a small MultiMNIST run (about 3 minutes)
 *   --json                print only a JSON array of records on stdout (progress goes to stderr)
 *   --json-out FILE       also write the records to FILE
 *   --markdown FILE       also write the Markdown report to FILE
 *   --update-readme FILE  regenerate FILE's <!-- bench:begin/end --> section from this run
 *   --workload W1|W2|W3|E1[,…]   the workloads (default W1, W2 and E1, plus W3 when cuda runs);
 *                         E1 is the embedding workload (bench/embedding/workload.ts, cpu only:
 *                         bench/phases/embedding.ts); with E1 alone, --backend defaults to cpu
 *   --backend cpu|reference|webgpu|cuda[,…]   hydranet backends (default all four; one that
 *                         cannot run here is reported as skipped, with the reason)
 *   --no-peers            skip PyTorch, OpenBLAS and TensorFlow.js
 *   --threads N           threads for the cpu backend and the peers (default: every core)
 *   --describe-backends, --phase LABEL   child mode, used by the bench itself (backends.ts): print
 *                         the backends' descriptions, or run one phase and print its records
 *
 * Processes: the cpu backend's phases run in this process, which opens no other backend; every
 * other hydranet backend is opened only in child processes (one describes them all at the start,
 * then one per phase), as the peers are: nothing of a webgpu device (Dawn's instance, lavapipe's
 * threads and memory), a CUDA context or the reference backend's garbage shares a process with a
 * cpu measurement, and every system is measured alone with the same windows and warm-up. (With
 * every backend in one process, W1 on cpu measured 489 steps/s in the bench against 610 alone.)
 *
 * webgpu: `isa` names the adapter (vendor, architecture, device, description; "CPU adapter"
 * for software adapters such as lavapipe); threads are n/a (a CPU adapter uses its own thread pool).
 * Its GEMMs run on a reduced plan (see webgpuGemmPlan in phases/gemm.ts; the records' note says so). Its peer is
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
import { type BackendSlot, describeInChild, openBackend, opensInProcess, slotOpen } from './backends.js';
import { BENCH_SCRIPT, type BenchContext } from './context.js';
import { printHuman } from './human.js';
import { mnistMarkdown, mnistPlan, mnistText } from './multimnist.js';
import { type Options, USAGE, childArgs, parseOptions, plans } from './options.js';
import { type Machine, machineInfo, peerEnv } from './peers.js';
import { tfjsNodeAvailable } from './peers/tfjs_common.js';
import { breakdownPhases } from './phases/breakdown.js';
import { gemmPhases } from './phases/gemm.js';
import { lenetPhases } from './phases/lenet.js';
import { breakdownMarkdown, breakdownSection } from './breakdown.js';
import { embeddingPhases } from './phases/embedding.js';
import { mnistPhases } from './phases/multimnist.js';
import { torchPhases, torchRatios } from './phases/pytorch.js';
import { stepPhases } from './phases/steps.js';
import { tfjsPhases, tfjsRatios } from './phases/tfjs.js';
import { affinityPhases } from './phases/affinity.js';
import { weightingPhases } from './phases/weighting.js';
import { clock, log, runPhases } from './progress.js';
import { type BenchRecord, markdownReport, replaceBenchSection } from './report.js';
import { machineRecord, markdownHeader, phaseRecord, runHeader } from './run-info.js';
import { writeFileAtomic } from '../ts/io/files.js';
import { WORKLOADS } from './workloads.js';

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

  // Only the cpu backend opens in this process; the others are described by one child process
  // and each of their phases runs in its own (backends.ts). A child (--phase,
  // --describe-backends) opens what it was given.
  const child = opts.phase !== undefined || opts.describeBackends;
  const slots: BackendSlot[] = [];
  const elsewhere = opts.backends.filter((name) => !child && !opensInProcess(name));
  const described = describeInChild(elsewhere, BENCH_SCRIPT, childArgs(opts, elsewhere));
  for (const name of opts.backends) slots.push(described.find((d) => d.name === name) ?? (await openBackend(name, opts.threads)));
  if (opts.describeBackends) {
    process.stdout.write(`${JSON.stringify({ slots: slots.map(({ backend, isolated, ...d }) => d) })}\n`);
    for (const s of slots) s.backend?.dispose();
    return;
  }
  // The GPU-sized W3 joins the default workloads (no --workload given) when a cuda backend is open (cuda only).
  const w3Explicit = opts.workloads.some((w) => w.name === 'W3');
  const cudaOpen = slots.some((sl) => sl.name === 'cuda' && slotOpen(sl));
  if (cudaOpen && opts.workloadFlag === undefined) opts.workloads.push(WORKLOADS.find((w) => w.name === 'W3')!);
  const header = runHeader(opts, machine, slots, p, shown);
  // Human mode: the header goes to stdout now, the tables at the end; progress goes to stderr.
  if (!opts.json && !child) console.log(header.join('\n'));
  records.push(machineRecord(opts, machine, slots, shown));

  // TensorFlow.js backends: webgpu on the same Dawn adapter as hydranet webgpu, cpu, wasm, and
  // tfjs-node (libtensorflow) where it is installed; where it is not, the output says so.
  const gpuSlot = slots.find((s) => s.name === 'webgpu');
  const tfjsNode = tfjsNodeAvailable();
  const tfjsBackends = (['webgpu', 'cpu', 'wasm', 'tensorflow'] as const).filter((b) => (b !== 'webgpu' || gpuSlot) && (b !== 'tensorflow' || tfjsNode.ok));
  const ctx: BenchContext = {
    opts,
    plans: p,
    mnist: mp,
    slots,
    records,
    peerNotes,
    mnistNotes,
    env,
    threads,
    w3Explicit,
    cudaOpen,
    w1: opts.workloads.find((w) => w.name === 'W1'),
    cpuSlot: slots.find((sl) => sl.name === 'cpu' && sl.backend),
    gpuSlot,
    tfjsNode,
    tfjsBackends,
  };
  // The plan, in the order the phases run; planning adds the skipped records of what cannot run.
  // The dense workloads' peers and GEMMs only when a dense workload runs (not for E1 alone).
  const dense = opts.workloads.length > 0;
  const phases = [
    ...(await stepPhases(ctx)),
    ...breakdownPhases(ctx),
    ...embeddingPhases(ctx),
    ...weightingPhases(ctx),
    ...affinityPhases(ctx),
    ...lenetPhases(ctx),
    ...(dense ? torchPhases(ctx) : []),
    ...(dense ? tfjsPhases(ctx) : []),
    ...(dense ? gemmPhases(ctx) : []),
    ...mnistPhases(ctx),
  ];
  if (opts.phase !== undefined) {
    // Child mode: the one phase asked for, its records as one JSON line (bench/child.ts).
    const phase = phases.find((ph) => ph.label === opts.phase);
    const before = records.length;
    if (phase) await phase.run();
    for (const s of slots) s.backend?.dispose();
    process.stdout.write(`${JSON.stringify(phase ? { records: records.slice(before) } : { error: `no phase ${JSON.stringify(opts.phase)} in this plan` })}\n`);
    return;
  }
  const timings = await runPhases(phases, log);
  tfjsRatios(ctx);
  torchRatios(ctx);

  for (const s of slots) s.backend?.dispose();
  const seconds = (performance.now() - started) / 1000;
  records.push(phaseRecord(seconds, timings));
  if (opts.markdown || opts.updateReadme) {
    const md = [markdownReport(records, markdownHeader(machine, slots)), ...breakdownMarkdown(records), ...mnistMarkdown(records, mp)].join('\n');
    // Written whole or not at all (fsynced, renamed): a failed write never leaves half a README.
    if (opts.markdown) writeFileAtomic(opts.markdown, `${md}\n`);
    if (opts.updateReadme) writeFileAtomic(opts.updateReadme, replaceBenchSection(fs.readFileSync(opts.updateReadme, 'utf8'), md));
  }
  if (opts.jsonOut) writeFileAtomic(opts.jsonOut, `${JSON.stringify(records, null, 1)}\n`);
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(records, null, 1)}\n`);
  } else {
    printHuman(records, opts, peerNotes);
    const bd = breakdownSection(records);
    if (bd.length) console.log(bd.join('\n'));
    console.log(mnistText(records, mp, mnistNotes).join('\n'));
    const estimated = timings.reduce((a, t) => a + t.estimate, 0);
    console.log(`\n(bench took ${clock(seconds)} min:s, estimated ${clock(estimated)}; each phase's seconds and estimate are in the JSON record phase_seconds)`);
  }
}

main().catch((e) => {
  process.stderr.write(`bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
