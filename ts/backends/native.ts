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
