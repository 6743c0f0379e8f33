/**
 * The bench's command line (bench/bench.ts lists the flags) and its window plans: how many
 * windows of how many seconds each kind of measurement gets, full or --quick, and the seconds a
 * plan takes at most, which every phase's estimate starts from.
 */
import { parseArgs } from 'node:util';
import { EMBEDDING_NAME } from './embedding/workload.js';
import type { PeerPlan } from './peers.js';
import type { WindowPlan } from './stats.js';
import { WORKLOADS, type Workload } from './workloads.js';

/** A hydranet backend the bench can measure. */
export type BenchBackend = 'cpu' | 'reference' | 'webgpu' | 'cuda';
/** Every backend the bench knows, in the order its tables list them. */
export const BENCH_BACKENDS: readonly BenchBackend[] = ['cpu', 'reference', 'webgpu', 'cuda'];

/** The parsed command line. */
export interface Options {
  quick: boolean;
  json: boolean;
  /** The dense workloads (W1, W2, W3) asked for. */
  workloads: Workload[];
  /**
   * Whether the embedding workload E1 (bench/embedding/workload.ts) runs: asked for with
   * --workload, or by default when the cpu backend is measured (it runs on cpu only).
   */
  embedding: boolean;
  backends: BenchBackend[];
  peers: boolean;
  threads: number | undefined;
  /** Also write the Markdown form of the run to this file. */
  markdown?: string;
  /** Also write the JSON records to this file (beside the human tables). */
  jsonOut?: string;
  /** Regenerate the <!-- bench:begin/end --> section of this Markdown file (README.md). */
  updateReadme?: string;
  /** --workload as given (a child process gets the same). */
  workloadFlag?: string;
  /** Child mode (bench/backends.ts): run only the phase with this label and print its records. */
  phase?: string;
  /** Child mode: open the backends, print their descriptions and exit. */
  describeBackends: boolean;
}

/** The one-line usage text (--help, and after a bad flag). */
export const USAGE =
  'usage: npm run bench -- [--quick] [--json] [--json-out FILE] [--markdown FILE] [--update-readme README.md] [--workload W1|W2|W3|E1[,…]] [--backend cpu|reference|webgpu|cuda[,…]] [--no-peers] [--threads N]';

/** Parses the command line (exits 0 after printing USAGE for --help; throws on a bad value). */
export function parseOptions(argv: string[]): Options {
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
      phase: { type: 'string' },
      'describe-backends': { type: 'boolean', default: false },
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
  // E1 (the embedding workload) runs on the cpu backend only.
  const named = values.workload?.split(',').map((n) => n.trim().toUpperCase());
  const known = [...WORKLOADS.map((w) => w.name as string), EMBEDDING_NAME];
  if (named && named.some((n) => !known.includes(n))) {
    throw new Error(`Expected W1, W2, W3 or ${EMBEDDING_NAME} (or several, comma-separated) for --workload but received ${JSON.stringify(values.workload)}`);
  }
  const workloads = named === undefined ? WORKLOADS.filter((w) => w.name !== 'W3') : WORKLOADS.filter((w) => named.includes(w.name));
  // Only E1 asked for: only the cpu backend, unless --backend says otherwise.
  let backends: Options['backends'] = workloads.length === 0 && values.backend === undefined ? ['cpu'] : [...BENCH_BACKENDS];
  if (values.backend !== undefined) {
    const asked = values.backend.split(',');
    const bad = asked.find((a) => !BENCH_BACKENDS.includes(a as BenchBackend));
    if (bad !== undefined || asked.length === 0) throw new Error(`Expected cpu, reference, webgpu or cuda (or several, comma-separated) for --backend but received ${JSON.stringify(values.backend)}`);
    backends = BENCH_BACKENDS.filter((b) => asked.includes(b));
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
    embedding: (named === undefined || named.includes(EMBEDDING_NAME)) && backends.includes('cpu'),
    backends,
    peers: !values['no-peers'],
    threads,
    markdown: values.markdown,
    jsonOut: values['json-out'],
    updateReadme: values['update-readme'],
    workloadFlag: values.workload,
    phase: values.phase,
    describeBackends: values['describe-backends']!,
  };
}

/**
 * The command line of a child bench process for `backends` (bench/backends.ts): the same plans
 * (--quick), workloads and threads as this run, no peers; the caller adds --phase or
 * --describe-backends.
 */
export function childArgs(opts: Options, backends: readonly BenchBackend[]): string[] {
  return [
    ...(opts.quick ? ['--quick'] : []),
    ...(opts.workloadFlag !== undefined ? ['--workload', opts.workloadFlag] : []),
    ...(opts.threads !== undefined ? ['--threads', String(opts.threads)] : []),
    '--backend',
    backends.join(','),
    '--no-peers',
  ];
}

/**
 * The window plans of one run: training steps, GEMMs, the PyTorch / OpenBLAS peers, and the
 * embedding workload E1 (hydranet and PyTorch alike: its steps take 0.1–0.3 s, so its windows
 * are longer than `step`'s).
 */
export type Plans = { step: WindowPlan; gemm: WindowPlan; peer: PeerPlan; embedding: WindowPlan };

/**
 * Window plans: full (7 windows of ≥ 0.3 s; E1 ≥ 0.8 s) or --quick (3 of ≥ 0.1 s; E1 ≥ 0.5 s). The budgets only bind
 * for a very slow backend (they cap one measurement's time; the record then says so).
 */
export function plans(quick: boolean): Plans {
  return quick
    ? {
        step: { windows: 3, minSeconds: 0.1, warmupSeconds: 0.2, warmupIters: 2, budgetSeconds: 3 },
        gemm: { windows: 3, minSeconds: 0.1, warmupSeconds: 0.1, warmupIters: 2, budgetSeconds: 1.5 },
        peer: { windows: 3, minSeconds: 0.1, warmupSeconds: 0.2 },
        embedding: { windows: 3, minSeconds: 0.5, warmupSeconds: 0.5, warmupIters: 2 },
      }
    : {
        step: { windows: 7, minSeconds: 0.3, warmupSeconds: 1, warmupIters: 3, budgetSeconds: 15 },
        gemm: { windows: 7, minSeconds: 0.3, warmupSeconds: 0.3, warmupIters: 2, budgetSeconds: 6 },
        peer: { windows: 7, minSeconds: 0.3, warmupSeconds: 1 },
        embedding: { windows: 7, minSeconds: 0.8, warmupSeconds: 1, warmupIters: 2 },
      };
}

/** Seconds a window plan takes at most (warm-up, windows, one chunk of overrun each). */
export function planSeconds(p: WindowPlan): number {
  const natural = p.warmupSeconds + p.windows * p.minSeconds * 1.15 + 0.2;
  return p.budgetSeconds !== undefined ? Math.min(natural, p.budgetSeconds) + 0.2 : natural;
}
