/**
 * Peers measured in the same run: TensorFlow.js on W1/W2 (bench/peers/tfjs_mlp.ts, its
 * webgpu backend beside hydranet webgpu), PyTorch CPU (bench/peers/torch_mlp.py,
 * bench/peers/torch_lenet.py for MultiLeNet and bench/embedding/torch_embedding.py for the
 * embedding workload, run with Debian's /usr/bin/python3 where
 * python3-torch lives) and OpenBLAS cblas_sgemm
 * (bench/peers/openblas_sgemm.c, compiled at bench time into a temp folder). A missing peer
 * is reported as skipped, with how to install it; it never fails the bench. Each peer says which
 * kernels it ran on: the BLAS PyTorch really calls (classifyBlas: the reference BLAS is not
 * representative, and comes with the command that fixes it), tfjs's kernels (tfjsKernels).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runJsonChild } from './child.js';
import type { Summary } from './stats.js';
import type { GemmCase } from './workloads.js';

export interface Machine {
  model: string;
  cores: number;
  vendor: string;
  family: string;
  avx512f: boolean;
  memoryGiB: number;
  os: string;
  node: string;
}

export function machineInfo(): Machine {
  const cpus = os.cpus();
  let vendor = '';
  let family = '';
  let avx512f = false;
  try {
    const info = fs.readFileSync('/proc/cpuinfo', 'utf8');
    vendor = /^vendor_id\s*:\s*(.*)$/m.exec(info)?.[1]?.trim() ?? '';
    const fam = /^cpu family\s*:\s*(.*)$/m.exec(info)?.[1]?.trim();
    const model = /^model\s*:\s*(.*)$/m.exec(info)?.[1]?.trim();
    family = fam ? `family ${fam}${model ? ` model ${model}` : ''}` : '';
    avx512f = /^flags\s*:.*\bavx512f\b/m.test(info);
  } catch {
    // not Linux: leave the details empty
  }
  return {
    model: cpus[0]?.model.trim() ?? 'unknown CPU',
    cores: cpus.length,
    vendor,
    family,
    avx512f,
    memoryGiB: os.totalmem() / 2 ** 30,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
  };
}

/**
 * The environment the peers run with: passive OpenMP waiting (no spinning threads stealing
 * the other cores between calls), every core, and on AMD CPUs with AVX-512 (Zen 4/5) the
 * SkylakeX kernels of OpenBLAS, which its DYNAMIC_ARCH detection does not pick there.
 *
 * With `HYDRANET_CPU_ISA=avx2` on an AVX-512 machine (hydranet's cpu backend forced onto its
 * AVX2 kernels: an AVX2 machine emulated), the peers are held to AVX2 as well: OpenBLAS's
 * Haswell kernels, oneDNN (PyTorch's convolutions) capped at AVX2 and ATen's kernels at AVX2,
 * so both sides run the same instruction set and the ratio stands for an AVX2 machine's.
 */
export function peerEnv(m: Machine, isa: string | undefined = process.env.HYDRANET_CPU_ISA): { env: NodeJS.ProcessEnv; shown: Record<string, string> } {
  const shown: Record<string, string> = {
    OMP_WAIT_POLICY: 'passive',
    OMP_NUM_THREADS: String(m.cores),
    OPENBLAS_NUM_THREADS: String(m.cores),
  };
  if (isa === 'avx2' && m.avx512f) {
    Object.assign(shown, { OPENBLAS_CORETYPE: 'Haswell', DNNL_MAX_CPU_ISA: 'AVX2', ONEDNN_MAX_CPU_ISA: 'AVX2', ATEN_CPU_CAPABILITY: 'avx2' });
  } else if (m.vendor === 'AuthenticAMD' && m.avx512f) {
    // Over any OPENBLAS_CORETYPE the environment sets (this machine's sets Haswell, which halves
    // OpenBLAS's GEMM rate here): the peer runs at its best.
    shown.OPENBLAS_CORETYPE = 'SkylakeX';
  }
  return { env: { ...process.env, ...shown }, shown };
}

/** The folder holding the peer sources (bench/peers), from the source tree or dist/bench. */
function peersDir(): string | null {
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const c of [path.join(here, 'peers'), path.join(here, '..', '..', 'bench', 'peers')]) {
    if (fs.existsSync(path.join(c, 'torch_mlp.py'))) return c;
  }
  return null;
}

export interface PeerPlan {
  windows: number;
  minSeconds: number;
  warmupSeconds: number;
}

export interface PeerResult<T> {
  ok: boolean;
  /** Why it was skipped or failed, and how to fix it. */
  reason?: string;
  value?: T;
}

export interface TorchStep extends Summary {
  workload: string;
  threads: number;
  loss: number;
}

/** What bench/peers/torch_mlp.py found about the BLAS torch really calls (see blas_in_use there). */
export interface TorchBlas {
  /** Real path (symlinks resolved) of the library whose sgemm_ torch calls; null when none was found. */
  library: string | null;
  /** How it was found: "sgemm_ as resolved from libtorch_cpu", "threadpoolctl", … */
  found_by?: string | null;
  /** OpenBLAS's own report, when the library is (or loads) OpenBLAS. */
  openblas?: { config: string; core: string; threads: number } | null;
  /** FlexiBLAS: the backend it dispatches to. */
  flexiblas_backend?: string | null;
  /** Debian's update-alternatives entry that chose the library (libblas.so.3-<triplet>). */
  alternative?: { name: string; link: string | null; status: string | null; value: string; candidates: string[] } | null;
  /** threadpoolctl's BLAS entries, when it is installed. */
  threadpoolctl?: Array<{ internal_api?: string; filepath?: string; version?: string; num_threads?: number; architecture?: string }> | null;
  /** Every BLAS/LAPACK-like library mapped into the process (what is loaded, not what is called). */
  mapped?: string[];
  /** BLAS_INFO of torch.__config__.show(): what torch was BUILT with (context only). */
  built_with?: string | null;
}

export type BlasKind = 'openblas' | 'mkl' | 'blis' | 'atlas' | 'accelerate' | 'armpl' | 'reference' | 'unknown';

/** What a BLAS is, in words, whether figures measured on it are representative, and the command that fixes it when not. */
export interface BlasVerdict {
  kind: BlasKind;
  /** e.g. "OpenBLAS 0.3.21, core Haswell, 2 threads (sgemm_ in /usr/lib/…/openblas-pthread/libblas.so.3)" */
  summary: string;
  representative: boolean;
  fix?: string;
}

const BLAS_NAMES: Record<Exclude<BlasKind, 'unknown'>, string> = {
  openblas: 'OpenBLAS',
  mkl: 'Intel MKL',
  blis: 'BLIS',
  atlas: 'ATLAS',
  accelerate: 'Apple Accelerate',
  armpl: 'Arm Performance Libraries',
  reference: 'the reference BLAS (netlib), unoptimised',
};

/** The kind of BLAS a library path (or a FlexiBLAS backend name) names; null when the name says nothing. */
export function blasKindOfPath(p: string): BlasKind | null {
  const s = p.toLowerCase();
  if (s.includes('openblas')) return 'openblas';
  if (/(^|[/_-])(lib)?mkl/.test(s)) return 'mkl';
  if (s.includes('blis')) return 'blis';
  if (s.includes('atlas')) return 'atlas';
  if (s.includes('accelerate') || s.includes('veclib')) return 'accelerate';
  if (s.includes('armpl')) return 'armpl';
  if (s.includes('netlib') || s.includes('refblas') || /(^|\/)(lib)?blas\.(so|dylib|dll|a)([.\d]*)$/.test(s)) return 'reference';
  return null;
}

const OPENBLAS_INSTALL = 'apt-get install -y libopenblas-dev';

/**
 * Classifies the BLAS torch calls: optimised libraries (OpenBLAS, MKL, BLIS, ATLAS, Accelerate,
 * Arm PL) are representative; the reference (netlib) BLAS, and a BLAS that cannot be
 * identified, are not, and come with the command that puts an optimised one in its place
 * (on Debian, the libblas.so.3 alternative's optimised candidate when one is installed).
 */
export function classifyBlas(b: TorchBlas): BlasVerdict {
  const lib = b.library;
  if (!lib && b.built_with && /mkl/i.test(b.built_with)) {
    // pip wheels link MKL statically into libtorch_cpu: there is no separate library to find.
    return { kind: 'mkl', summary: `Intel MKL, linked into torch (built with BLAS_INFO=${b.built_with})`, representative: true };
  }
  const base = (p: string): string => p.split('/').pop() ?? p;
  const pool = lib ? b.threadpoolctl?.find((t) => t.filepath && base(t.filepath) === base(lib)) : undefined;
  let kind: BlasKind | null = null;
  let label = '';
  let detail: string[] = [];
  if (b.openblas) {
    kind = 'openblas';
    const t = b.openblas.threads;
    label = b.openblas.config.split(' ').slice(0, 2).join(' '); // "OpenBLAS 0.3.21"
    detail = [`core ${b.openblas.core}`, `${t} thread${t === 1 ? '' : 's'}`];
  } else if (lib?.toLowerCase().includes('flexiblas')) {
    kind = b.flexiblas_backend ? blasKindOfPath(b.flexiblas_backend) : null;
    detail = [`FlexiBLAS backend ${b.flexiblas_backend ?? 'unknown'}`];
  } else if (pool?.internal_api) {
    kind = blasKindOfPath(pool.internal_api);
    detail = [pool.version ?? '', pool.architecture ? `core ${pool.architecture}` : '', pool.num_threads !== undefined ? `${pool.num_threads} threads` : ''];
  } else if (lib) {
    kind = blasKindOfPath(lib);
  }
  let where = !lib ? 'no BLAS library found at run time' : b.found_by === 'threadpoolctl' ? `${lib}, found by threadpoolctl` : `sgemm_ in ${lib}`;
  const alt = lib ? b.alternative : null;
  if (alt) where += `, chosen by ${alt.link ?? 'libblas.so.3'} → /etc/alternatives/${alt.name} (${alt.status ?? '?'} mode)`;
  const said = detail.filter(Boolean).join(', ');
  if (!kind || kind === 'unknown') {
    return {
      kind: 'unknown',
      summary: `an unidentified BLAS (${where}${b.mapped?.length ? `; mapped: ${b.mapped.join(', ')}` : ''})`,
      representative: false,
      fix: `${OPENBLAS_INSTALL}, then check which BLAS torch calls: /usr/bin/python3 bench/peers/torch_mlp.py --workloads ''`,
    };
  }
  const summary = `${label || BLAS_NAMES[kind]}${said ? `, ${said}` : ''} (${where})`;
  if (kind !== 'reference') return { kind, summary, representative: true };
  return { kind, summary, representative: false, fix: blasFix(b) };
}

/** The command that puts an optimised BLAS (OpenBLAS first) in place of the reference one. */
function blasFix(b: TorchBlas): string {
  if (b.flexiblas_backend) return 'flexiblas list, then flexiblas default <an OpenBLAS backend it lists> (or FLEXIBLAS=<it> in the environment)';
  const alt = b.alternative;
  if (!alt) return OPENBLAS_INSTALL;
  const rank: BlasKind[] = ['openblas', 'mkl', 'blis', 'atlas'];
  const best = alt.candidates
    .map((c) => ({ c, i: rank.indexOf(blasKindOfPath(c) ?? 'unknown') }))
    .filter((x) => x.i >= 0)
    .sort((x, y) => x.i - y.i)[0];
  if (best) return `update-alternatives --set ${alt.name} ${best.c}`;
  return `${OPENBLAS_INSTALL}${alt.status === 'manual' ? ` && update-alternatives --auto ${alt.name}` : ''}`;
}

export interface TorchInfo {
  version: string;
  threads: number;
  heads: string;
  blas: TorchBlas;
  python: string;
  /** cuda: the GPU's name. */
  gpu?: string;
}

/** Debian's python, where python3-torch is importable; HYDRANET_BENCH_PYTHON overrides it. */
const PYTHON = process.env.HYDRANET_BENCH_PYTHON || '/usr/bin/python3';
const TORCH_INSTALL = 'install it with: apt-get install -y python3-torch (Debian/Ubuntu; it is importable from /usr/bin/python3 only)';

function firstLines(s: string | Buffer | null | undefined, n = 3): string {
  return String(s ?? '')
    .trim()
    .split('\n')
    .slice(-n)
    .join(' | ');
}

/** A peer's median, min and max (from its JSON line) as a Summary; the peer keeps its windows. */
function peerSummary(x: Record<string, unknown>): Summary {
  return { median: Number(x.median), min: Number(x.min), max: Number(x.max), samples: [], iterations: 0, seconds: 0 };
}

/**
 * Runs a PyTorch peer script of bench/peers with Debian's python: its stdout, or why it could not
 * run (exit 3: torch cannot be imported, and the reason says how to install it).
 */
function runTorchScript(script: string, args: readonly string[], env: NodeJS.ProcessEnv, timeoutSeconds = 600): PeerResult<string> {
  const dir = peersDir();
  if (!dir || !fs.existsSync(path.join(dir, script))) return { ok: false, reason: `bench/peers/${script} was not found next to the bench` };
  if (!fs.existsSync(PYTHON)) return { ok: false, reason: `${PYTHON} does not exist; ${TORCH_INSTALL}` };
  const r = spawnSync(PYTHON, [path.join(dir, script), ...args], { env, encoding: 'utf8', timeout: timeoutSeconds * 1000, maxBuffer: 1 << 24 });
  if (r.status === 3) return { ok: false, reason: `${firstLines(r.stderr, 1)}; ${TORCH_INSTALL}` };
  if (r.status !== 0) return { ok: false, reason: `${script} failed (exit ${r.status ?? r.signal ?? r.error?.message}): ${firstLines(r.stderr)}` };
  return { ok: true, value: r.stdout };
}

/** A peer plan as the PyTorch scripts' flags. */
function planFlags(plan: PeerPlan): string[] {
  return ['--windows', String(plan.windows), '--min-seconds', String(plan.minSeconds), '--warmup-seconds', String(plan.warmupSeconds)];
}

/** The info record a PyTorch peer script prints (workload "info") as TorchInfo. */
function torchInfo(info: Record<string, unknown> | undefined, threads: number): TorchInfo {
  return {
    version: String(info?.version ?? '?'),
    threads: Number(info?.threads ?? threads),
    heads: String(info?.heads ?? 'concat'),
    blas: info?.blas && typeof info.blas === 'object' ? (info.blas as TorchBlas) : { library: null },
    python: PYTHON,
    gpu: typeof info?.gpu === 'string' ? info.gpu : undefined,
  };
}

/**
 * Runs bench/peers/torch_mlp.py on `workloads` (none: it only reports which BLAS torch calls).
 * The script exits 3 when torch cannot be imported: the reason then says how to install it.
 */
export function runTorch(
  workloads: readonly string[],
  plan: PeerPlan,
  threads: number,
  env: NodeJS.ProcessEnv,
  device: 'cpu' | 'cuda' = 'cpu',
): PeerResult<{ steps: TorchStep[]; info: TorchInfo }> {
  const args = ['--workloads', workloads.join(','), ...planFlags(plan), '--threads', String(threads), '--device', device];
  const r = runTorchScript('torch_mlp.py', args, env);
  if (!r.ok) return { ok: false, reason: r.reason };
  try {
    const recs = JSON.parse(r.value!) as Array<Record<string, unknown>>;
    const steps = recs
      .filter((x) => x.workload !== 'info')
      .map((x) => ({ workload: String(x.workload), ...peerSummary(x), threads: Number(x.threads), loss: Number(x.loss) }));
    return { ok: true, value: { steps, info: torchInfo(recs.find((x) => x.workload === 'info'), threads) } };
  } catch (e) {
    return { ok: false, reason: `torch_mlp.py printed no valid JSON (${(e as Error).message})` };
  }
}

/** One thread count of the PyTorch MultiLeNet peer (bench/peers/torch_lenet.py). */
export interface TorchLenetRun extends TorchStep {
  /** The variant that ran fastest there (oneDNN on/off, channels_last or not, heads separate/concat). */
  variant: string;
  /** Each variant's best probe, steps/s. */
  probes: { variant: string; steps_per_s: number }[];
  /** OpenBLAS's own thread count, set to the same (null: not OpenBLAS). */
  blasThreads: number | null;
  /** CPU milliseconds per step of the best variant (process time: every thread). */
  cpuMs: number;
  /** One epoch of the best variant: training + validation seconds (absent with no epoch asked for). */
  epoch?: { seconds: number; train: number; validation: number; trainSize: number; testSize: number };
}

/**
 * Runs bench/peers/torch_lenet.py: the MultiLeNet step at each of `threadCounts`, in its fastest
 * variant, and one epoch of `epoch.train` random samples + validation on `epoch.test` (none
 * when `epoch` is null).
 */
export function runTorchLenet(
  threadCounts: readonly number[],
  plan: PeerPlan,
  probeSeconds: number,
  epoch: { train: number; test: number } | null,
  env: NodeJS.ProcessEnv,
): PeerResult<{ runs: TorchLenetRun[]; info: TorchInfo }> {
  const args = [
    '--threads-list',
    threadCounts.join(','),
    ...planFlags(plan),
    '--probe-seconds',
    String(probeSeconds),
    '--epoch-train',
    String(epoch?.train ?? 0),
    '--epoch-test',
    String(epoch?.test ?? 0),
  ];
  const r = runTorchScript('torch_lenet.py', args, env);
  if (!r.ok) return { ok: false, reason: r.reason };
  try {
    const recs = JSON.parse(r.value!) as Array<Record<string, unknown>>;
    const runs = recs
      .filter((x) => x.workload === 'LeNet')
      .map(
        (x): TorchLenetRun => ({
          workload: 'LeNet',
          ...peerSummary(x),
          threads: Number(x.threads),
          loss: Number(x.loss),
          variant: String(x.variant),
          probes: Array.isArray(x.probes) ? (x.probes as TorchLenetRun['probes']) : [],
          blasThreads: typeof x.blas_threads === 'number' ? x.blas_threads : null,
          cpuMs: Number(x.cpu_ms_per_step),
          epoch:
            typeof x.epoch_seconds === 'number'
              ? { seconds: x.epoch_seconds, train: Number(x.train_seconds), validation: Number(x.validation_seconds), trainSize: Number(x.epoch_train), testSize: Number(x.epoch_test) }
              : undefined,
        }),
      );
    return { ok: true, value: { runs, info: torchInfo(recs.find((x) => x.workload === 'info'), threadCounts[threadCounts.length - 1] ?? 1) } };
  } catch (e) {
    return { ok: false, reason: `torch_lenet.py printed no valid JSON (${(e as Error).message})` };
  }
}

/** One variant at one thread count of the PyTorch embedding peer (bench/embedding/torch_embedding.py). */
export interface TorchEmbeddingRun extends Summary {
  /** torch.get_num_threads() during the run (OpenBLAS's own count stays at its start-up value). */
  threads: number;
  /** The variant as torch_embedding.py's --variants names it: EMB/SPARSE/IMPL, e.g. concat/sparse/fused. */
  variant: string;
  /** The variant in words: "one table + offsets, sparse, experts fused". */
  description: string;
  loss: number;
  /** Process CPU seconds (every thread's) per step over a few steps after the windows. */
  cpuSecondsPerStep: number;
}

/**
 * Runs bench/embedding/torch_embedding.py on the workload given as its flags (`workloadArgs`:
 * bench/embedding/workload.ts's torchEmbeddingArgs): `variants` (EMB/SPARSE/IMPL each; empty:
 * all 16 combinations) at each of `threadCounts`, each timed with `plan`, then `cpuSteps` more
 * steps for its CPU time per step.
 */
export function runTorchEmbedding(
  workloadArgs: readonly string[],
  variants: readonly string[],
  threadCounts: readonly number[],
  plan: PeerPlan,
  cpuSteps: number,
  env: NodeJS.ProcessEnv,
  timeoutSeconds = 600,
): PeerResult<{ runs: TorchEmbeddingRun[]; info: TorchInfo & { parameters?: number } }> {
  const args = [...workloadArgs, '--threads', threadCounts.join(','), ...(variants.length ? ['--variants', variants.join(',')] : []), ...planFlags(plan), '--cpu-steps', String(cpuSteps)];
  const r = runTorchScript(path.join('..', 'embedding', 'torch_embedding.py'), args, env, timeoutSeconds);
  if (!r.ok) return { ok: false, reason: r.reason };
  try {
    const recs = JSON.parse(r.value!) as Array<Record<string, unknown>>;
    const runs = recs
      .filter((x) => x.metric === 'train_steps_per_s')
      .map((x): TorchEmbeddingRun => ({
        ...peerSummary(x),
        samples: Array.isArray(x.samples) ? (x.samples as number[]) : [],
        threads: Number(x.threads),
        variant: `${String(x.embeddings)}/${x.sparse ? 'sparse' : 'dense'}/${String(x.experts_impl)}`,
        description: `${x.embeddings === 'concat' ? 'one table + offsets' : 'per-field tables'}, ${x.sparse ? 'sparse' : 'dense'}, experts ${String(x.experts_impl)}`,
        loss: Number(x.loss),
        cpuSecondsPerStep: Number(x.cpu_seconds_per_step),
      }));
    const info = recs.find((x) => x.metric === 'info');
    return { ok: true, value: { runs, info: { ...torchInfo(info, threadCounts[threadCounts.length - 1] ?? 1), parameters: typeof info?.parameters === 'number' ? info.parameters : undefined } } };
  } catch (e) {
    return { ok: false, reason: `torch_embedding.py printed no valid JSON (${(e as Error).message})` };
  }
}

export interface BlasGemm extends Summary {
  m: number;
  n: number;
  k: number;
  transA: boolean;
  transB: boolean;
}

export interface BlasInfo {
  config: string;
  core: string;
  threads: number;
}

const BLAS_INSTALL = 'install it with: apt-get install -y libopenblas-dev (and a C compiler: build-essential)';

export function runOpenBlas(cases: readonly GemmCase[], plan: PeerPlan, env: NodeJS.ProcessEnv): PeerResult<{ gemms: BlasGemm[]; info: BlasInfo }> {
  const dir = peersDir();
  if (!dir) return { ok: false, reason: 'bench/peers/openblas_sgemm.c was not found next to the bench' };
  const cc = process.env.CC ?? 'cc';
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hydranet-bench-'));
  try {
    const exe = path.join(tmp, 'openblas_sgemm');
    const build = spawnSync(cc, ['-O2', '-o', exe, path.join(dir, 'openblas_sgemm.c'), '-lopenblas'], { encoding: 'utf8', timeout: 120_000 });
    if (build.error) return { ok: false, reason: `no C compiler (${cc}: ${build.error.message}); ${BLAS_INSTALL}` };
    if (build.status !== 0) {
      return { ok: false, reason: `could not compile against OpenBLAS (${firstLines(build.stderr, 1)}); ${BLAS_INSTALL}` };
    }
    const shapes = cases.map((c) => [c.m, c.n, c.k, c.transA ? 1 : 0, c.transB ? 1 : 0, c.beta].join(','));
    const r = spawnSync(exe, [String(plan.windows), String(plan.minSeconds), String(plan.warmupSeconds), ...shapes], {
      env,
      encoding: 'utf8',
      timeout: 600_000,
    });
    if (r.status !== 0) return { ok: false, reason: `openblas_sgemm failed (exit ${r.status ?? r.signal}): ${firstLines(r.stderr)}` };
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const info = lines[0];
    return {
      ok: true,
      value: {
        info: { config: String(info.config), core: String(info.core), threads: Number(info.threads) },
        gemms: lines.slice(1).map((x) => ({
          m: Number(x.m),
          n: Number(x.n),
          k: Number(x.k),
          transA: x.transA === true,
          transB: x.transB === true,
          ...peerSummary(x),
        })),
      },
    };
  } catch (e) {
    return { ok: false, reason: `openblas_sgemm: ${(e as Error).message}` };
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

export interface TfjsMlpPlan {
  /** Steps per window (each window closed by one readback); the peer's default when absent. */
  window?: number;
  /** Seconds of timed windows (at least one window runs). */
  seconds: number;
  maxWindows: number;
  warmupSeconds: number;
}

export interface TfjsMlpResult {
  backend: string;
  workload: string;
  threads?: number;
  steps: number;
  seconds: number;
  window: number;
  warmup_windows: number;
  warmup_seconds: number;
  rates: number[];
  loss: number;
  adapter?: { vendor: string; architecture: string; device: string; description: string };
  leaked_tensors?: number;
  /** Peak resident set of the peer's process, bytes. */
  peak_rss: number;
  /** webgpu: the most GPU memory tfjs's buffer manager held, bytes. */
  device_bytes?: number;
}

/**
 * Whether tfjs-backend-wasm loads its SIMD binary (tfjs-backend-wasm-simd.wasm): tfjs's own
 * WASM_HAS_SIMD_SUPPORT flag, evaluated in this process, which runs the same Node binary as the
 * peer's child process; undefined when tfjs cannot be loaded. (Its threaded binary is never
 * picked under Node: WASM_HAS_MULTITHREAD_SUPPORT is false there.)
 */
export async function tfjsWasmSimd(): Promise<boolean | undefined> {
  try {
    const tf = await import('@tensorflow/tfjs-core');
    await import('@tensorflow/tfjs-backend-wasm'); // registers the flag
    return Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));
  } catch {
    return undefined;
  }
}

/** What a tfjs backend's kernels are: plain JavaScript, XNNPACK in WebAssembly (SIMD or not, threads), WGSL on an adapter, libtensorflow. */
export function tfjsKernels(backend: string, k: { threads?: number; adapter?: string; simd?: boolean }): string {
  const threads = k.threads === undefined ? '' : `, ${k.threads} thread${k.threads === 1 ? '' : 's'}`;
  switch (backend) {
    case 'cpu':
      return `tfjs-backend-cpu: plain JavaScript kernels${threads}`;
    case 'wasm': {
      const simd = k.simd === undefined ? 'SIMD unknown' : k.simd ? 'with SIMD (tfjs-backend-wasm-simd.wasm)' : 'without SIMD (tfjs-backend-wasm.wasm)';
      return `tfjs-backend-wasm: XNNPACK compiled to WebAssembly, ${simd}${threads}`;
    }
    case 'webgpu':
      return `tfjs-backend-webgpu: WGSL on ${k.adapter ?? 'an unknown adapter'}`;
    case 'tensorflow':
      return `tfjs-node: libtensorflow (TensorFlow's C library and its own thread pool)${threads}`;
    default:
      return backend;
  }
}

/**
 * TensorFlow.js on W1/W2 (bench/peers/tfjs_mlp.ts, compiled next to this file), in its own
 * process: its WebGPU device and buffers never share a process with hydranet's.
 */
export function runTfjsMlp(backend: 'cpu' | 'wasm' | 'webgpu' | 'tensorflow', workload: string, plan: TfjsMlpPlan, env: NodeJS.ProcessEnv): PeerResult<TfjsMlpResult> {
  const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'peers', 'tfjs_mlp.js');
  if (!fs.existsSync(script)) return { ok: false, reason: `${script} was not found (run npm run build:ts)` };
  const args = [
    '--backend',
    backend,
    '--workload',
    workload,
    '--seconds',
    String(plan.seconds),
    '--max-windows',
    String(plan.maxWindows),
    '--warmup',
    String(plan.warmupSeconds),
    ...(plan.window ? ['--window', String(plan.window)] : []),
  ];
  // On lavapipe one W2 step of tfjs-webgpu takes ~30 s: the limit is generous.
  const r = runJsonChild<TfjsMlpResult>(script, args, 900, env);
  if (r.ok && !r.value.rates?.length) return { ok: false, reason: `tfjs ${backend}: no timed windows` };
  return r;
}
