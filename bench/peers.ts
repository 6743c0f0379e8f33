/**
 * Peers measured in the same run: TensorFlow.js on W1/W2 (bench/peers/tfjs_mlp.ts, its
 * webgpu backend beside hydranet webgpu), PyTorch CPU (bench/peers/torch_mlp.py, run with Debian's
 * /usr/bin/python3 where python3-torch lives) and OpenBLAS cblas_sgemm
 * (bench/peers/openblas_sgemm.c, compiled at bench time into a temp folder). A missing peer
 * is reported as skipped, with how to install it; it never fails the bench.
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
 */
export function peerEnv(m: Machine): { env: NodeJS.ProcessEnv; shown: Record<string, string> } {
  const shown: Record<string, string> = {
    OMP_WAIT_POLICY: 'passive',
    OMP_NUM_THREADS: String(m.cores),
    OPENBLAS_NUM_THREADS: String(m.cores),
  };
  if (m.vendor === 'AuthenticAMD' && m.avx512f) shown.OPENBLAS_CORETYPE = 'SkylakeX';
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

export interface TorchInfo {
  version: string;
  threads: number;
  heads: string;
  blas: string[];
  python: string;
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

export function runTorch(
  workloads: readonly string[],
  plan: PeerPlan,
  threads: number,
  env: NodeJS.ProcessEnv,
  device: 'cpu' | 'cuda' = 'cpu',
): PeerResult<{ steps: TorchStep[]; info: TorchInfo }> {
  const dir = peersDir();
  if (!dir) return { ok: false, reason: 'bench/peers/torch_mlp.py was not found next to the bench' };
  if (!fs.existsSync(PYTHON)) return { ok: false, reason: `${PYTHON} does not exist; ${TORCH_INSTALL}` };
  const probe = spawnSync(PYTHON, ['-c', 'import torch'], { env, encoding: 'utf8', timeout: 120_000 });
  if (probe.status !== 0) {
    return { ok: false, reason: `${PYTHON} cannot import torch (${firstLines(probe.stderr, 1) || probe.error?.message}); ${TORCH_INSTALL}` };
  }
  const args = [
    path.join(dir, 'torch_mlp.py'),
    '--workloads',
    workloads.join(','),
    '--windows',
    String(plan.windows),
    '--min-seconds',
    String(plan.minSeconds),
    '--warmup-seconds',
    String(plan.warmupSeconds),
    '--threads',
    String(threads),
    '--device',
    device,
  ];
  const r = spawnSync(PYTHON, args, { env, encoding: 'utf8', timeout: 600_000, maxBuffer: 1 << 24 });
  if (r.status !== 0) return { ok: false, reason: `torch_mlp.py failed (exit ${r.status ?? r.signal}): ${firstLines(r.stderr)}` };
  try {
    const recs = JSON.parse(r.stdout) as Array<Record<string, unknown>>;
    const info = recs.find((x) => x.workload === 'info');
    const steps = recs
      .filter((x) => x.workload !== 'info')
      .map((x) => ({
        workload: String(x.workload),
        median: Number(x.median),
        min: Number(x.min),
        max: Number(x.max),
        samples: [],
        iterations: 0,
        seconds: 0,
        threads: Number(x.threads),
        loss: Number(x.loss),
      }));
    return {
      ok: true,
      value: {
        steps,
        info: {
          version: String(info?.version ?? '?'),
          threads: Number(info?.threads ?? threads),
          heads: String(info?.heads ?? 'concat'),
          blas: Array.isArray(info?.blas) ? (info.blas as string[]) : [],
          python: PYTHON,
        },
      },
    };
  } catch (e) {
    return { ok: false, reason: `torch_mlp.py printed no valid JSON (${(e as Error).message})` };
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
          median: Number(x.median),
          min: Number(x.min),
          max: Number(x.max),
          samples: [],
          iterations: 0,
          seconds: 0,
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
