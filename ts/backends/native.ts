/**
 * The loader of the CPU backend's native addon (hydranet_cpu.node). It tries the cmake-js build
 * (build/Release) and then the node-gyp build (build-gyp/build/Release), and when neither loads
 * it throws ONE BackendUnavailableError that lists what was tried, why each failed, and how to
 * build the addon.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BackendUnavailableError } from '../errors.js';

/** SIMD paths of the native kernels, best last. */
/** The most threads the CPU addon runs per kernel (its own bound on the `threads` argument). */
export const MAX_THREADS = 1024;

export type CpuIsa = 'scalar' | 'avx2' | 'avx512';

/** The functions of hydranet_cpu.node (native/addon.cc). Activations and loss kinds are indices. */
export interface CpuAddon {
  info(): {
    isa: CpuIsa;
    /** Why HYDRANET_CPU_ISA could not be honoured, or ''. */
    isaError: string;
    supported: Record<CpuIsa, boolean>;
    hardwareThreads: number;
  };
  gemm(
    a: Float32Array,
    b: Float32Array,
    c: Float32Array,
    bias: Float32Array | null,
    m: number,
    n: number,
    k: number,
    transA: boolean,
    transB: boolean,
    alpha: number,
    beta: number,
    activation: number,
    threads: number,
  ): void;
  activationForward(kind: number, x: Float32Array, y: Float32Array, threads: number): void;
  activationBackward(
    kind: number,
    y: Float32Array,
    dy: Float32Array,
    dx: Float32Array,
    x: Float32Array | null,
    threads: number,
  ): void;
  biasBackward(dy: Float32Array, db: Float32Array, rows: number, cols: number, threads: number): void;
  mul(a: Float32Array, b: Float32Array, out: Float32Array, threads: number): void;
  dropoutForward(x: Float32Array, y: Float32Array, mask: Float32Array, p: number, seed: number, threads: number): void;
  add(a: Float32Array, b: Float32Array, out: Float32Array, threads: number): void;
  gradDrop(g: Float32Array, out: Float32Array, tasks: number, m: number, seed: number, leak: number, threads: number): void;
  mixtureForward(layout: Int32Array, x: Float32Array, z: Float32Array, g: Float32Array, out: Float32Array, n: number, threads: number): void;
  mixtureBackward(
    layout: Int32Array,
    x: Float32Array,
    g: Float32Array,
    dOut: Float32Array,
    dx: Float32Array,
    dz: Float32Array,
    n: number,
    threads: number,
  ): void;
  headsForward(
    layout: Int32Array,
    x: Float32Array,
    w: Float32Array,
    b: Float32Array,
    y: Float32Array,
    n: number,
    activation: number,
    threads: number,
  ): void;
  headsBackward(
    layout: Int32Array,
    x: Float32Array,
    w: Float32Array,
    dy: Float32Array,
    dx: Float32Array | null,
    dw: Float32Array,
    db: Float32Array,
    perTaskDx: Float32Array | null,
    n: number,
    threads: number,
  ): void;
  /** Returns -1, or task·n + sample of the first invalid class label (nothing written then). */
  multiLoss(
    layout: Int32Array,
    logits: Float32Array,
    targets: Float32Array,
    mask: Float32Array | null,
    weights: Float32Array,
    losses: Float32Array,
    dlogits: Float32Array,
    n: number,
    totalOut: number,
    totalTgt: number,
    threads: number,
  ): number;
  /** geometry: Conv2dGeometry.packed. */
  conv2dForward(
    geometry: Int32Array,
    x: Float32Array,
    w: Float32Array,
    b: Float32Array | null,
    y: Float32Array,
    n: number,
    activation: number,
    threads: number,
  ): void;
  conv2dBackward(
    geometry: Int32Array,
    x: Float32Array,
    w: Float32Array,
    dy: Float32Array,
    dx: Float32Array | null,
    dw: Float32Array,
    db: Float32Array | null,
    n: number,
    threads: number,
  ): void;
  /** geometry: Pool2dGeometry.packed. */
  maxPool2dForward(geometry: Int32Array, x: Float32Array, y: Float32Array, argmax: Float32Array, n: number, threads: number): void;
  /** Throws RangeError (nothing written through it) for an argmax value that is not an index within its plane. */
  maxPool2dBackward(geometry: Int32Array, dy: Float32Array, argmax: Float32Array, dx: Float32Array, n: number, threads: number): void;
  dropout2dForward(
    x: Float32Array,
    y: Float32Array,
    mask: Float32Array,
    rows: number,
    plane: number,
    p: number,
    seed: number,
    threads: number,
  ): void;
  scaleChannels(x: Float32Array, s: Float32Array, out: Float32Array, rows: number, plane: number, threads: number): void;
  sgdStep(
    p: Float32Array,
    g: Float32Array,
    m: Float32Array,
    lr: number,
    momentum: number,
    weightDecay: number,
    nesterov: boolean,
    threads: number,
  ): void;
  /** The constants of adamwCoefficients (validate.ts), in its order, each rounded to f32 (native/adamw.h). */
  adamwStep(
    p: Float32Array,
    g: Float32Array,
    m: Float32Array,
    v: Float32Array,
    decay: number,
    beta1: number,
    oneMinusBeta1: number,
    beta2: number,
    oneMinusBeta2: number,
    eps: number,
    stepSize: number,
    invBias2: number,
    threads: number,
  ): void;
}

/** The package root: the nearest directory above this module with hydranet's package.json. */
export function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'hydranet') return dir;
      } catch {
        // not ours; keep looking
      }
    }
    const up = path.dirname(dir);
    if (up === dir) throw new BackendUnavailableError('cannot find the hydranet package root to load a native addon from');
    dir = up;
  }
}

let cached: CpuAddon | null = null;

/** Loads hydranet_cpu.node once, or throws BackendUnavailableError saying why and how to fix it. */
export function loadCpuAddon(): CpuAddon {
  if (cached) return cached;
  const root = packageRoot();
  const require = createRequire(import.meta.url);
  const candidates = [
    { file: path.join(root, 'build', 'Release', 'hydranet_cpu.node'), by: 'cmake-js, npm run build:native' },
    { file: path.join(root, 'build-gyp', 'build', 'Release', 'hydranet_cpu.node'), by: 'node-gyp, npm run build:native:gyp' },
  ];
  const failures: string[] = [];
  for (const { file, by } of candidates) {
    const shown = `${path.relative(root, file)} (${by})`;
    if (!existsSync(file)) {
      failures.push(`${shown}: not built`);
      continue;
    }
    try {
      const addon = require(file) as CpuAddon;
      if (typeof addon.gemm !== 'function' || typeof addon.info !== 'function') {
        failures.push(`${shown}: loaded, but it is not the hydranet cpu addon (stale build?)`);
        continue;
      }
      cached = addon;
      return addon;
    } catch (e) {
      failures.push(`${shown}: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  throw new BackendUnavailableError(
    `The cpu backend's native addon could not be loaded. Tried:\n` +
      failures.map((f) => `  - ${f}\n`).join('') +
      `Build it in ${root} with \`npm run build:native\` (needs cmake >= 3.15 and a C++17 compiler), ` +
      `or \`npm run build:native:gyp\` (node-gyp); or use the 'reference' backend.`,
  );
}
