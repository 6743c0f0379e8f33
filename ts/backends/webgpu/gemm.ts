/**
 * Launches shaders/gemm.wgsl: one or more GEMM problems (task heads of different widths) or a
 * uniform batch of one problem (conv images) in a single launch. Everything above (gemm, heads,
 * conv) describes its products as GemmProblems over tensors it owns.
 */
import { ownEntry } from '../../core/options.js';
import { ConfigError } from '../../errors.js';
import { ACTIVATIONS } from '../backend.js';
import type { GemmDims } from '../validate.js';
import { type Bound, type GpuRuntime, type KernelSpec, MAX_GROUPS } from './runtime.js';

export interface GemmProblem {
  m: number;
  n: number;
  k: number;
  /** Element offsets inside the bound tensors A, B, C and bias. */
  offA: number;
  offB: number;
  offC: number;
  offBias: number;
  /** Leading dimensions (row lengths) of A, B, C as stored. */
  lda: number;
  ldb: number;
  ldc: number;
}

export interface GemmLaunch {
  transA: boolean;
  transB: boolean;
  alpha: number;
  beta: number;
  /** Index in ACTIVATIONS. */
  activation: number;
  problems: readonly GemmProblem[];
  /** The bias is one value per row of C instead of per column. */
  biasPerRow?: boolean;
  /** A uniform batch: `count` copies of the problems, each shifted by these element strides. */
  batch?: { count: number; a: number; b: number; c: number; bias: number };
}

/** Problems per launch (the size of GemmParams.problems in gemm.wgsl). */
const MAX_PROBLEMS = 20;
/** The GEMM kernels, the tile of C each workgroup computes, and whether A/B bind as vec4 arrays. */
const VARIANTS = {
  blocks4: { file: 'gemm', entry: 'gemm_blocks4', tileM: 32, tileN: 32, vec4Reads: true },
  shared: { file: 'gemm', entry: 'gemm_shared', tileM: 64, tileN: 64, vec4Reads: false },
} as const;

export class GemmLauncher {
  /** By transA·2 + transB. */
  private readonly kernels: KernelSpec[];
  /** Rows and columns of C per workgroup. */
  private readonly tileM: number;
  private readonly tileN: number;
  /** The kernel family chosen for this adapter (or forced by HYDRANET_WEBGPU_GEMM). */
  readonly variant: string;
  /**
   * Workgroups per grid dimension that a launch may use (WebGPU's limit; a test lowers it to
   * exercise the splitting of withinGrid on small problems).
   */
  maxGroups = MAX_GROUPS;
  private readonly words = new Uint32Array(12 + 12 * MAX_PROBLEMS);
  private readonly floats = new Float32Array(this.words.buffer);

  constructor(private readonly rt: GpuRuntime) {
    // On a CPU adapter with 8-lane subgroups (lavapipe) the subgroup kernel wins for every
    // shape (bench/gemm-dev/webgpu-gemm.ts: 2.5-3.5x the 4x4 blocks per CPU-second); on other
    // CPU adapters the 4x4 blocks; on a GPU, workgroup-memory tiles (not measured here: no GPU
    // could be reached). HYDRANET_WEBGPU_GEMM forces one: shared, blocks4 or sgMxN (M, N
    // multiples of 8, M·N/8 ≤ 128).
    const sub = rt.adapter.subgroupSize === 8 && rt.device.features.has('subgroups');
    const variant = process.env.HYDRANET_WEBGPU_GEMM ?? (rt.adapter.cpu ? (sub ? 'sg32x32' : 'blocks4') : 'shared');
    const block = /^sg(\d+)x(\d+)$/.exec(variant);
    const [m, n] = block ? [Number(block[1]), Number(block[2])] : [0, 0];
    const sgOk = block !== null && sub && m >= 8 && n >= 8 && m % 8 === 0 && n % 8 === 0 && (m * n) / 8 <= 128;
    const fixed = ownEntry(VARIANTS, variant);
    if (block ? !sgOk : fixed === undefined) {
      throw new ConfigError(
        `HYDRANET_WEBGPU_GEMM=${variant} is not a GEMM variant this adapter can run: expected shared, blocks4 or, with 8-lane subgroups${sub ? '' : ' (absent here)'}, sgMxN with M and N multiples of 8 and M·N ≤ 1024`,
      );
    }
    const v = block
      ? { file: 'gemm-subgroup', entry: 'gemm_subgroup', tileM: m, tileN: n, vec4Reads: false, rb: m / 8, cn: n / 8 }
      : { ...fixed!, rb: 0, cn: 0 };
    this.kernels = [false, true].flatMap((ta) =>
      [false, true].map((tb) => ({
        file: v.file,
        entry: v.entry,
        access: 'rrrw',
        paramBytes: 1024,
        vec4Reads: v.vec4Reads,
        constants: { TRANS_A: ta ? 1 : 0, TRANS_B: tb ? 1 : 0, ...(block ? { RB: v.rb, CN: v.cn } : {}) },
      })),
    );
    this.tileM = v.tileM;
    this.tileN = v.tileN;
    this.variant = variant;
  }

  /** Backend.gemm: one problem over whole tensors, after the op table checked it. */
  gemm(a: Bound, b: Bound, c: Bound, bias: Bound | null, d: GemmDims): void {
    this.launch(a, b, c, bias, {
      transA: d.transA,
      transB: d.transB,
      alpha: d.alpha,
      beta: d.beta,
      activation: ACTIVATIONS.indexOf(d.activation),
      problems: [{ m: d.m, n: d.n, k: d.k, offA: 0, offB: 0, offC: 0, offBias: 0, lda: d.transA ? d.m : d.k, ldb: d.transB ? d.k : d.n, ldc: d.n }],
    });
  }

  launch(a: Bound, b: Bound, c: Bound, bias: Bound | null, g: GemmLaunch): void {
    const kernel = this.kernels[(g.transA ? 2 : 0) + (g.transB ? 1 : 0)];
    const batches = g.batch?.count ?? 1;
    if (batches > this.maxGroups) throw new Error(`internal: a gemm batch of ${batches} exceeds one launch`);
    // Problems per launch: workgroup z runs over problems × batches.
    const perLaunch = Math.min(MAX_PROBLEMS, Math.floor(this.maxGroups / batches));
    const problems = this.withinGrid(g);
    const w = this.words;
    w[1] = g.activation;
    w[2] = bias ? 1 : 0;
    w[3] = g.biasPerRow ? 1 : 0;
    this.floats[4] = g.alpha;
    this.floats[5] = g.beta;
    w[6] = g.batch?.a ?? 0;
    w[7] = g.batch?.b ?? 0;
    w[8] = g.batch?.c ?? 0;
    w[9] = g.batch?.bias ?? 0;
    for (let first = 0; first < problems.length; first += perLaunch) {
      const count = Math.min(perLaunch, problems.length - first);
      w[0] = count;
      let maxM = 0;
      let maxN = 0;
      for (let i = 0; i < count; i++) {
        const p = problems[first + i];
        const o = 12 + 12 * i;
        w[o] = p.m;
        w[o + 1] = p.n;
        w[o + 2] = p.k;
        w[o + 3] = p.offA;
        w[o + 4] = p.offB;
        w[o + 5] = p.offC;
        w[o + 6] = p.offBias;
        w[o + 7] = p.lda;
        w[o + 8] = p.ldb;
        w[o + 9] = p.ldc;
        maxM = Math.max(maxM, p.m);
        maxN = Math.max(maxN, p.n);
      }
      this.rt.launch(kernel, [a, b, bias, c], { u: w.subarray(0, 12 + 12 * count) }, [Math.ceil(maxN / this.tileN), Math.ceil(maxM / this.tileM), count * batches]);
    }
  }

  /**
   * The launch's problems, each cut into blocks of at most maxGroups tiles of rows and of
   * columns, so that no dispatch passes the grid limit (a C of 1 × 3·10⁶ is 93,750 tiles of 32
   * columns). The problems themselves when they fit: no allocation in a steady-state step.
   */
  private withinGrid(g: GemmLaunch): readonly GemmProblem[] {
    const rows = this.maxGroups * this.tileM;
    const cols = this.maxGroups * this.tileN;
    if (g.problems.every((p) => p.m <= rows && p.n <= cols)) return g.problems;
    const out: GemmProblem[] = [];
    for (const p of g.problems) {
      for (let r = 0; r < p.m; r += rows) {
        for (let c = 0; c < p.n; c += cols) {
          out.push({
            ...p,
            m: Math.min(rows, p.m - r),
            n: Math.min(cols, p.n - c),
            offA: p.offA + (g.transA ? r : r * p.lda),
            offB: p.offB + (g.transB ? c * p.ldb : c),
            offC: p.offC + r * p.ldc + c,
            offBias: p.offBias + (g.biasPerRow ? r : c),
          });
        }
      }
    }
    return out;
  }
}
