/**
 * The loader of hydranet's native addons (hydranet_cpu.node, and hydranet_cuda.node for
 * cuda.ts). Each is looked for in a local source build (cmake-js: build/Release; node-gyp:
 * build-gyp/build/Release, cpu only) and then in the prebuilt copy the package ships
 * (prebuilds/<platform>-<arch>/); the first that loads and exports hydranet's functions wins.
 * When none does, ONE BackendUnavailableError lists what was tried, why each failed, and how to
 * build the addon. scripts/install.mjs uses the same functions to decide, at install time,
 * whether the prebuilt addon serves or a source build is needed.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { dropoutThreshold } from '../core/random.js';
import { BackendUnavailableError, LabelError } from '../errors.js';
import { ACTIVATIONS, type Activation, type EmbeddingLayout, GRADDROP_EPSILON, type LossLayout } from './backend.js';
import { embeddingIndexError } from './validate.js';
import type { Kernels } from './ops.js';
import { packedOf } from './packed.js';

/** The most threads the CPU addon runs per kernel (its own bound on the `threads` argument). */
export const MAX_THREADS = 1024;

/** SIMD paths of the native kernels. */
export type CpuIsa = 'scalar' | 'avx2' | 'avx512';

/**
 * The kernel entries of BOTH native addons, one convention each (each entry sits beside its
 * kernel in native/cpu/<family>.cc or native/cuda/<family>.cu and registers itself through
 * native/napi_registry.h): T is how a tensor crosses (a
 * Float32Array, or a device range), X the trailing arguments of one addon (the cpu addon's
 * `threads`; none for cuda). Activations and loss kinds are indices (ACTIVATIONS, LOSS_KINDS),
 * layouts their packed Int32Array, dropout a hash threshold and scale (dropoutThreshold(p),
 * 1/(1 − p)), AdamW the constants of adamwCoefficients in its order, each rounded to f32
 * (native/adamw.h). Each addon checks every length against the sizes it is given.
 */
export interface NativeKernels<T, X extends unknown[]> {
  gemm(
    a: T,
    b: T,
    c: T,
    bias: T | null,
    m: number,
    n: number,
    k: number,
    transA: boolean,
    transB: boolean,
    alpha: number,
    beta: number,
    activation: number,
    ...tail: X
  ): void;
  activationForward(kind: number, x: T, y: T, ...tail: X): void;
  activationBackward(kind: number, y: T, dy: T, dx: T, x: T | null, ...tail: X): void;
  biasGrad(dy: T, db: T, rows: number, cols: number, ...tail: X): void;
  add(a: T, b: T, out: T, ...tail: X): void;
  mul(a: T, b: T, out: T, ...tail: X): void;
  dropoutForward(x: T, y: T, mask: T, seed: number, threshold: number, scale: number, ...tail: X): void;
  /** epsilon: GRADDROP_EPSILON (backend.ts). */
  gradDrop(g: T, out: T, tasks: number, m: number, seed: number, leak: number, epsilon: number, ...tail: X): void;
  mixtureForward(layout: Int32Array, x: T, z: T, g: T, out: T, n: number, ...tail: X): void;
  mixtureBackward(layout: Int32Array, x: T, g: T, dOut: T, dx: T, dz: T, n: number, ...tail: X): void;
  headsForward(layout: Int32Array, x: T, w: T, b: T, y: T, n: number, activation: number, ...tail: X): void;
  headsBackward(
    layout: Int32Array,
    x: T,
    w: T,
    dy: T,
    dx: T | null,
    dw: T,
    db: T,
    perTaskDx: T | null,
    n: number,
    ...tail: X
  ): void;
  /**
   * Returns -1, or task·n + sample of the first invalid class label (nothing written then); the
   * cuda addon always returns -1 and flags a bad label on the device (thrown by read or sync).
   */
  multiLoss(
    layout: Int32Array,
    logits: T,
    targets: T,
    mask: T | null,
    weights: T,
    losses: T,
    dlogits: T,
    n: number,
    totalOut: number,
    totalTgt: number,
    ...tail: X
  ): number;
  /** As multiLoss's return (-1, or task·n + sample of the first invalid class label); out [n, T]. */
  perSampleLosses(layout: Int32Array, logits: T, targets: T, mask: T | null, out: T, n: number, totalOut: number, totalTgt: number, ...tail: X): number;
  /** geometry: Conv2dGeometry.packed. */
  conv2dForward(geometry: Int32Array, x: T, w: T, b: T | null, y: T, n: number, activation: number, ...tail: X): void;
  conv2dBackward(geometry: Int32Array, x: T, w: T, dy: T, dx: T | null, dw: T, db: T | null, n: number, ...tail: X): void;
  /** geometry: Pool2dGeometry.packed. */
  maxPool2dForward(geometry: Int32Array, x: T, y: T, argmax: T, n: number, ...tail: X): void;
  /** Throws RangeError (nothing written through it) for an argmax value that is not an index within its plane. */
  maxPool2dBackward(geometry: Int32Array, dy: T, argmax: T, dx: T, n: number, ...tail: X): void;
  dropout2dForward(
    x: T,
    y: T,
    mask: T,
    rows: number,
    plane: number,
    seed: number,
    threshold: number,
    scale: number,
    ...tail: X
  ): void;
  scaleChannels(x: T, s: T, out: T, rows: number, plane: number, ...tail: X): void;
  sgdStep(p: T, g: T, m: T, lr: number, momentum: number, weightDecay: number, nesterov: boolean, ...tail: X): void;
  adamwStep(
    p: T,
    g: T,
    m: T,
    v: T,
    decay: number,
    beta1: number,
    oneMinusBeta1: number,
    beta2: number,
    oneMinusBeta2: number,
    eps: number,
    stepSize: number,
    invBias2: number,
    ...tail: X
  ): void;
  ewcPenalty(p: T, anchor: T, fisher: T, g: T, lambda: number, ...tail: X): void;
  /**
   * layout: EmbeddingLayout.packed. Returns -1, or field·n + sample of the first bad index
   * (nothing written then); the cuda addon always returns -1 and flags a bad index on the
   * device (thrown by read or sync).
   */
  embeddingForward(layout: Int32Array, x: T, table: T, out: T, n: number, ...tail: X): number;
  /** As embeddingForward's return; dTable += (see Backend.embeddingBackward). */
  embeddingBackward(layout: Int32Array, x: T, dOut: T, dTable: T, n: number, ...tail: X): number;
  /** table −= lr·dTable, dTable = 0 at the rows x picks (see Backend.embeddingSgdStep); bad indices skipped. */
  embeddingSgdStep(layout: Int32Array, x: T, table: T, dTable: T, n: number, lr: number, ...tail: X): void;
}

/**
 * The {@link Kernels} of a backend whose kernels are a native addon: each turns the op table's
 * call into the addon's convention, written once for both addons. `extra` is appended to every
 * call (the cpu addon's thread count). A bad class label that the addon reports (cpu) becomes
 * LabelError, naming the class when the targets are host memory.
 */
export function nativeKernels<T, X extends unknown[]>(addon: NativeKernels<T, X>, ...extra: X): Kernels<T> {
  const act = (kind: Activation): number => ACTIVATIONS.indexOf(kind);
  return {
    gemm: (a, b, c, bias, d) =>
      addon.gemm(a, b, c, bias, d.m, d.n, d.k, d.transA, d.transB, d.alpha, d.beta, act(d.activation), ...extra),
    activationForward: (kind, x, y) => addon.activationForward(act(kind), x, y, ...extra),
    activationBackward: (kind, y, dy, dx, x) => addon.activationBackward(act(kind), y, dy, dx, x, ...extra),
    biasGrad: (dy, db, rows, cols) => addon.biasGrad(dy, db, rows, cols, ...extra),
    add: (a, b, out) => addon.add(a, b, out, ...extra),
    mul: (a, b, out) => addon.mul(a, b, out, ...extra),
    dropoutForward: (x, y, mask, _n, p, seed) =>
      addon.dropoutForward(x, y, mask, seed, dropoutThreshold(p), 1 / (1 - p), ...extra),
    headsForward: (x, w, b, y, layout, n, a) => addon.headsForward(packedOf(layout), x, w, b, y, n, act(a), ...extra),
    headsBackward: (x, w, dy, dx, dw, db, perTaskDx, layout, n) =>
      addon.headsBackward(packedOf(layout), x, w, dy, dx, dw, db, perTaskDx, n, ...extra),
    multiLoss: (logits, targets, mask, weights, losses, dlogits, layout, n) => {
      const { totalOut, totalTgt } = layout;
      const bad = addon.multiLoss(packedOf(layout), logits, targets, mask, weights, losses, dlogits, n, totalOut, totalTgt, ...extra);
      if (bad >= 0) throw badLabel(layout, n, bad, targets instanceof Float32Array ? targets : null);
    },
    perSampleLosses: (logits, targets, mask, out, layout, n) => {
      const bad = addon.perSampleLosses(packedOf(layout), logits, targets, mask, out, n, layout.totalOut, layout.totalTgt, ...extra);
      if (bad >= 0) throw badLabel(layout, n, bad, targets instanceof Float32Array ? targets : null, 'perSampleLosses');
    },
    conv2dForward: (x, w, b, y, geo, n, a) => addon.conv2dForward(packedOf(geo), x, w, b, y, n, act(a), ...extra),
    conv2dBackward: (x, w, dy, dx, dw, db, geo, n) => addon.conv2dBackward(packedOf(geo), x, w, dy, dx, dw, db, n, ...extra),
    maxPool2dForward: (x, y, argmax, geo, n) => addon.maxPool2dForward(packedOf(geo), x, y, argmax, n, ...extra),
    maxPool2dBackward: (dy, argmax, dx, geo, n) => addon.maxPool2dBackward(packedOf(geo), dy, argmax, dx, n, ...extra),
    dropout2dForward: (x, y, mask, rows, plane, p, seed) =>
      addon.dropout2dForward(x, y, mask, rows, plane, seed, dropoutThreshold(p), 1 / (1 - p), ...extra),
    scaleChannels: (x, s, out, rows, plane) => addon.scaleChannels(x, s, out, rows, plane, ...extra),
    gradDrop: (g, out, tasks, m, seed, leak) => addon.gradDrop(g, out, tasks, m, seed, leak, GRADDROP_EPSILON, ...extra),
    mixtureForward: (x, z, g, out, layout, n) => addon.mixtureForward(packedOf(layout), x, z, g, out, n, ...extra),
    mixtureBackward: (x, g, dOut, dx, dz, layout, n) => addon.mixtureBackward(packedOf(layout), x, g, dOut, dx, dz, n, ...extra),
    sgdStep: (p, g, m, _n, o) => addon.sgdStep(p, g, m, o.lr, o.momentum, o.weightDecay, o.nesterov, ...extra),
    adamwStep: (p, g, m, v, _n, c) =>
      addon.adamwStep(p, g, m, v, c.decay, c.beta1, c.oneMinusBeta1, c.beta2, c.oneMinusBeta2, c.eps, c.stepSize, c.invBias2,
        ...extra),
    ewcPenalty: (p, anchor, fisher, g, _n, lambda) => addon.ewcPenalty(p, anchor, fisher, g, lambda, ...extra),
    embeddingForward: (x, table, out, layout, n) =>
      badIndex('embeddingForward', layout, n, addon.embeddingForward(packedOf(layout), x, table, out, n, ...extra), x),
    embeddingBackward: (x, dOut, dTable, layout, n) =>
      badIndex('embeddingBackward', layout, n, addon.embeddingBackward(packedOf(layout), x, dOut, dTable, n, ...extra), x),
    embeddingSgdStep: (x, table, dTable, layout, lr, n) => addon.embeddingSgdStep(packedOf(layout), x, table, dTable, n, lr, ...extra),
  };
}

/** The LabelError for the bad label at task·n + sample that a native multiLoss reported. */
function badLabel(layout: LossLayout, n: number, bad: number, targets: Float32Array | null, op = 'multiLoss'): LabelError {
  const t = Math.floor(bad / n);
  const i = bad % n;
  const seg = layout.segments[t];
  const y = targets ? targets[i * layout.totalTgt + seg.tgtOffset] : NaN;
  return new LabelError(`${op}: task ${t} sample ${i} has class ${y}, expected an integer in [0, ${seg.outWidth})`);
}

/** Throws the LabelError for the bad index at field·n + sample that a native embedding kernel reported (bad ≥ 0). */
function badIndex(op: string, layout: EmbeddingLayout, n: number, bad: number, x: unknown): void {
  if (bad < 0) return;
  const f = Math.floor(bad / n);
  const i = bad % n;
  const y = x instanceof Float32Array ? x[i * layout.inputWidth + layout.fields[f].column] : NaN;
  throw embeddingIndexError(op, layout, f, i, y);
}

/** The functions of hydranet_cpu.node (native/cpu/<family>.cc, and info() in native/addon.cc): the kernels, with a trailing thread count. */
export interface CpuAddon extends NativeKernels<Float32Array, [threads: number]> {
  /**
   * The worker pool's hand-off counters since the last reset (native/cpu/threadpool.h
   * PoolStats); then mode 1 resets them and turns counting on, 2 resets them and turns it off,
   * 0 leaves them.
   */
  threadPoolStats(mode: 0 | 1 | 2): ThreadPoolStats;
  info(): {
    isa: CpuIsa;
    /** Why HYDRANET_CPU_ISA could not be honoured, or ''. */
    isaError: string;
    supported: Record<CpuIsa, boolean>;
    hardwareThreads: number;
  };
}

/**
 * What the cpu addon's worker pool did while counting (CpuBackend.threadPoolStats): every
 * hand-off (a kernel call that invited worker threads) and what it cost the calling thread.
 */
export interface ThreadPoolStats {
  /** Whether counting was on. */
  enabled: boolean;
  /** Kernel calls (or parts of one) that handed work to worker threads. */
  handoffs: number;
  /** Calls of the pool that ran on the calling thread alone (one task or thread, or the pool busy). */
  serial: number;
  /** Hand-offs that found a worker asleep (past its spin) and had to wake it. */
  wakes: number;
  /** Invitations taken back unclaimed: the caller ran that worker's share itself. */
  withdrawn: number;
  /** Σ over claimed invitations of the time from the invitation to the worker starting, ms. */
  claimMs: number;
  /** Σ over hand-offs of the caller's wait for workers after its own share, ms. */
  joinMs: number;
  /** Σ over hand-offs of the whole parallel call on the caller, ms. */
  totalMs: number;
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

/** Where a native addon can come from, in the order the loaders try them. */
export interface AddonLocation {
  /** Absolute path of the .node file. */
  readonly file: string;
  /** What makes it: a source build (cmake-js or node-gyp) or the prebuilt copy shipped in the package. */
  readonly origin: 'cmake-js' | 'node-gyp' | 'prebuilt';
}

/** The addons of hydranet: 'cpu' (hydranet_cpu.node) and 'cuda' (hydranet_cuda.node, cmake-js only). */
export type AddonName = 'cpu' | 'cuda';

/**
 * Every place an addon is looked for: a local build first (it is what the machine compiled, or
 * what a developer just rebuilt), then the prebuilt addon that `npm pack` put in
 * prebuilds/<platform>-<arch>/.
 */
export function addonLocations(name: AddonName, root: string = packageRoot()): AddonLocation[] {
  const file = `hydranet_${name}.node`;
  return [
    { file: path.join(root, 'build', 'Release', file), origin: 'cmake-js' as const },
    ...(name === 'cpu' ? [{ file: path.join(root, 'build-gyp', 'build', 'Release', file), origin: 'node-gyp' as const }] : []),
    { file: path.join(root, 'prebuilds', `${process.platform}-${process.arch}`, file), origin: 'prebuilt' as const },
  ];
}

/** The result of trying an addon's locations: the first that loads, or why each one failed. */
export type AddonLoad<T> = { ok: true; addon: T; location: AddonLocation } | { ok: false; failures: string[] };

/**
 * Loads the first of `locations` that exists, loads, and exports `expected` (so a stale or foreign
 * .node file is refused); never throws.
 */
export function tryLoadAddon<T>(locations: readonly AddonLocation[], expected: readonly string[]): AddonLoad<T> {
  const require = createRequire(import.meta.url);
  const failures: string[] = [];
  for (const location of locations) {
    const shown = `${location.file} (${location.origin})`;
    if (!existsSync(location.file)) {
      failures.push(`${shown}: ${location.origin === 'prebuilt' ? 'not in this package' : 'not built'}`);
      continue;
    }
    try {
      const addon = require(location.file) as Record<string, unknown>;
      const absent = expected.filter((key) => typeof addon[key] !== 'function');
      if (absent.length > 0) {
        failures.push(`${shown}: loaded, but it is not hydranet's addon (no ${absent.join(', ')}; a stale build?)`);
        continue;
      }
      return { ok: true, addon: addon as T, location };
    } catch (e) {
      failures.push(`${shown}: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  return { ok: false, failures };
}

/** The functions whose presence marks each addon as hydranet's own. */
export const ADDON_EXPORTS: Readonly<Record<AddonName, readonly string[]>> = {
  cpu: ['gemm', 'info'],
  cuda: ['init', 'info', 'alloc'],
};

/**
 * Loads hydranet_<name>.node from {@link addonLocations}, or throws BackendUnavailableError that
 * lists every location tried and why it failed, followed by `fix`.
 */
export function loadAddon<T>(name: AddonName, fix: string): T {
  const result = tryLoadAddon<T>(addonLocations(name), ADDON_EXPORTS[name]);
  if (result.ok) return result.addon;
  throw new BackendUnavailableError(
    `The ${name} backend's native addon could not be loaded. Tried:\n` + result.failures.map((f) => `  - ${f}\n`).join('') + fix,
  );
}

let cached: CpuAddon | null = null;

/** Loads hydranet_cpu.node once, or throws BackendUnavailableError saying why and how to fix it. */
export function loadCpuAddon(): CpuAddon {
  cached ??= loadAddon<CpuAddon>(
    'cpu',
    `Build it from source with \`npm rebuild hydranet\` in the project that depends on hydranet (\`npm run build:native\` ` +
      `in a hydranet checkout); that needs cmake (>= 3.15), a C++17 compiler and make ` +
      `(Debian/Ubuntu: \`apt-get install cmake g++ make\`). The 'reference' and 'webgpu' backends work without it.`,
  );
  return cached;
}
