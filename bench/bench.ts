/**
 * `npm run bench [-- flags]`: hydranet side by side with TensorFlow.js and PyTorch, all measured
 * in the same run: training steps per second of the W1/W2 (and, with cuda, W3) workloads and
 * MultiLeNet on hydranet's backends (cpu, reference, webgpu, cuda), on TensorFlow.js webgpu
 * (same Dawn adapter as hydranet webgpu), cpu, wasm (and tfjs-node where installed; where not,
 * the output says why), each in its own process, and on PyTorch CPU; GEMM GFLOP/s against
 * OpenBLAS; where a cpu step's time goes, kernel by kernel, beside its GEMM-only limit
 * (bench/breakdown.ts); MultiMNIST time to a target accuracy, accuracy parity and peak memory
 * (bench/multimnist.ts). Medians with min and max over several windows after warm-up; ratios
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
 *   --workload W1|W2|W3   one workload (default W1 and W2, plus W3 when cuda runs)
 *   --backend cpu|reference|webgpu|cuda   one hydranet backend (default all four; one that
 *                         cannot run here is reported as skipped, with the reason)
 *   --no-peers            skip PyTorch, OpenBLAS and TensorFlow.js
 *   --threads N           threads for the cpu backend and the peers (default: every core)
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
import { type BackendSlot, openBackend } from './backends.js';
import type { BenchContext } from './context.js';
import { printHuman } from './human.js';
import { mnistMarkdown, mnistPlan, mnistText } from './multimnist.js';
import { type Options, USAGE, parseOptions, plans } from './options.js';
import { type Machine, machineInfo, peerEnv } from './peers.js';
import { tfjsNodeAvailable } from './peers/tfjs_common.js';
import { breakdownPhases } from './phases/breakdown.js';
import { gemmPhases } from './phases/gemm.js';
import { lenetPhases } from './phases/lenet.js';
import { breakdownMarkdown, breakdownSection } from './breakdown.js';
import { mnistPhases } from './phases/multimnist.js';
import { torchPhases, torchRatios } from './phases/pytorch.js';
import { stepPhases } from './phases/steps.js';
import { tfjsPhases, tfjsRatios } from './phases/tfjs.js';
import { affinityPhases } from './phases/affinity.js';
import { weightingPhases } from './phases/weighting.js';
import { clock, log, runPhases } from './progress.js';
import { type BenchRecord, markdownReport, replaceBenchSection } from './report.js';
import { machineRecord, markdownHeader, phaseRecord, runHeader } from './run-info.js';
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

  const slots: BackendSlot[] = [];
  for (const name of opts.backends) slots.push(await openBackend(name, opts.threads));
  // The GPU-sized W3 joins the default workloads when a cuda backend is open (cuda only).
  const w3Explicit = opts.workloads.some((w) => w.name === 'W3');
  const cudaOpen = slots.some((sl) => sl.name === 'cuda' && sl.backend);
  if (cudaOpen && !w3Explicit && opts.workloads.length > 1) opts.workloads.push(WORKLOADS.find((w) => w.name === 'W3')!);
  const header = runHeader(opts, machine, slots, p, shown);
  // Human mode: the header goes to stdout now, the tables at the end; progress goes to stderr.
  if (!opts.json) console.log(header.join('\n'));
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
  const phases = [
    ...(await stepPhases(ctx)),
    ...breakdownPhases(ctx),
    ...weightingPhases(ctx),
    ...affinityPhases(ctx),
    ...lenetPhases(ctx),
    ...torchPhases(ctx),
    ...tfjsPhases(ctx),
    ...gemmPhases(ctx),
    ...mnistPhases(ctx),
  ];
  const timings = await runPhases(phases, log);
  tfjsRatios(ctx);
  torchRatios(ctx);

  for (const s of slots) s.backend?.dispose();
  const seconds = (performance.now() - started) / 1000;
  records.push(phaseRecord(seconds, timings));
  if (opts.markdown || opts.updateReadme) {
    const md = [markdownReport(records, markdownHeader(machine, slots)), ...breakdownMarkdown(records), ...mnistMarkdown(records, mp)].join('\n');
    if (opts.markdown) fs.writeFileSync(opts.markdown, `${md}\n`);
    if (opts.updateReadme) fs.writeFileSync(opts.updateReadme, replaceBenchSection(fs.readFileSync(opts.updateReadme, 'utf8'), md));
  }
  if (opts.jsonOut) fs.writeFileSync(opts.jsonOut, `${JSON.stringify(records, null, 1)}\n`);
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
