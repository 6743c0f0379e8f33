/**
 * What every phase family (bench/phases/) plans with: the options and window plans, the open
 * backends, the peers' environment, and where the results go (records and notes, shared by the
 * whole run, in the order the phases add them).
 */
import { fileURLToPath } from 'node:url';
import type { TfjsBackend } from './peers/tfjs_common.js';
import type { BackendSlot } from './backends.js';
import { runJsonChild } from './child.js';
import type { MnistPlan } from './multimnist.js';
import { type Options, type Plans, childArgs } from './options.js';
import { type BenchRecord, skipped } from './report.js';
import type { Workload } from './workloads.js';

/** One bench run's plan and its results so far. */
export interface BenchContext {
  /** The command line (with W3 added when a cuda backend opened). */
  readonly opts: Options;
  /** The window plans (full or --quick). */
  readonly plans: Plans;
  /** The MultiMNIST plan (full or --quick). */
  readonly mnist: MnistPlan;
  /** Every backend asked for, open or with the reason it is not. */
  readonly slots: readonly BackendSlot[];
  /** The records, in the order they are made. */
  readonly records: BenchRecord[];
  /** Lines under the tables about the peers. */
  readonly peerNotes: string[];
  /** Lines under the MultiMNIST tables. */
  readonly mnistNotes: string[];
  /** The peers' environment (BLAS threads, ...). */
  readonly env: NodeJS.ProcessEnv;
  /** Threads for the peers (--threads, or every core). */
  readonly threads: number;
  /** W3 was asked for with --workload (else it runs on cuda only). */
  readonly w3Explicit: boolean;
  /** A cuda backend opened. */
  readonly cudaOpen: boolean;
  /** W1 when it is among the workloads (the weighting, LeNet and MultiMNIST phases need it). */
  readonly w1: Workload | undefined;
  /** The cpu slot when it opened. */
  readonly cpuSlot: BackendSlot | undefined;
  /** The webgpu slot when it was asked for (open or not). */
  readonly gpuSlot: BackendSlot | undefined;
  /** Whether tfjs-node (libtensorflow) is installed, and why not. */
  readonly tfjsNode: { ok: boolean; reason?: string };
  /** The TensorFlow.js backends to run: webgpu when hydranet webgpu was asked for, cpu, wasm, tfjs-node where installed. */
  readonly tfjsBackends: readonly TfjsBackend[];
}

/** The training steps/s measured earlier in the run for (system, backend, workload), for refined estimates. */
export function stepRate(ctx: BenchContext, system: string, backend: string, workload: string): number | undefined {
  return ctx.records.find((r) => r.system === system && r.backend === backend && r.workload === workload && r.metric === 'train_steps_per_s')?.median ?? undefined;
}

/** The bench's own script, which a child process runs in child mode (--phase, --describe-backends). */
export const BENCH_SCRIPT = fileURLToPath(new URL('./bench.js', import.meta.url));

/**
 * The run of phase `label` of backend `slot`: `inProcess` when the slot was opened here (the cpu
 * backend, or any backend inside a child), else a child bench process that opens the backend,
 * runs the same phase with the same plans and prints its records, which join this run's (a
 * child that fails leaves a skipped record with its reason). `base` names the records a failure
 * stands for.
 */
export function phaseRun(ctx: BenchContext, slot: BackendSlot, label: string, base: { workload: string; metric: string }, inProcess: () => Promise<void>): () => Promise<void> {
  if (!slot.isolated) return inProcess;
  return async () => {
    const r = runJsonChild<{ records: BenchRecord[] }>(BENCH_SCRIPT, [...childArgs(ctx.opts, [slot.name]), '--phase', label], 3600, process.env, true);
    if (r.ok) ctx.records.push(...r.value.records);
    else ctx.records.push(skipped({ ...base, system: 'hydranet', backend: slot.name }, `failed in its own process: ${r.reason}`));
  };
}
