/**
 * Launches shaders/gemm.wgsl: one or more GEMM problems (task heads of different widths) or a
 * uniform batch of one problem (conv images) in a single launch. Everything above (gemm, heads,
 * conv) describes its products as GemmProblems over tensors it owns.
 */
import { ConfigError } from '../../errors.js';
import { type Bound, type GpuRuntime, type KernelSpec } from './runtime.js';

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
/** Rows and columns of C per workgroup (8×8 invocations of 4×4 each). */
const TILE = 32;

export class GemmLauncher {
  /** By transA·2 + transB: the general kernel, and the vec4 one for aligned operands. */
  private readonly kernels: KernelSpec[];
  private readonly vec4Kernels: KernelSpec[];
  /** Rows and columns of C per workgroup, for the general and the aligned kernel. */
  private readonly grid: { tileM: number; tileN: number; vec4TileM: number; vec4TileN: number };
  /** The kernel family chosen for this adapter (or forced by HYDRANET_WEBGPU_GEMM). */
  readonly variant: string;
  private readonly words = new Uint32Array(12 + 12 * MAX_PROBLEMS);
  private readonly floats = new Float32Array(this.words.buffer);

  constructor(private readonly rt: GpuRuntime) {
    const make = (entry: string, vec4Reads: boolean): KernelSpec[] =>
      [false, true].flatMap((ta) =>
        [false, true].map((tb) => ({
          file: 'gemm',
          entry,
          access: 'rrrw',
          paramBytes: 1024,
          vec4Reads,
          constants: { TRANS_A: ta ? 1 : 0, TRANS_B: tb ? 1 : 0 },
        })),
      );
    // On a CPU adapter with 8-lane subgroups (lavapipe) the subgroup kernel wins for every
    // shape (bench/gemm-dev/webgpu-gemm.ts: 2.5-3.5x the 4x4 blocks per CPU-second; without
    // subgroups, 4x4 blocks with vec4 loads); on a GPU, workgroup-memory tiles (not measured
    // here: no GPU could be reached). HYDRANET_WEBGPU_GEMM forces one: shared, vec4 (4x4
    // blocks, vec4 loads when the operands are aligned), tiled4x4 (scalar loads) or sgMxN
    // (M, N multiples of 8, M·N/8 ≤ 128).
    const sub = rt.adapter.subgroupSize === 8 && rt.device.features.has('subgroups');
    const variant = process.env.HYDRANET_WEBGPU_GEMM ?? (rt.adapter.cpu ? (sub ? 'sg32x32' : 'vec4') : 'shared');
    const block = /^sg(\d+)x(\d+)$/.exec(variant);
    const [m, n] = block ? [Number(block[1]), Number(block[2])] : [0, 0];
    const sgOk = block !== null && sub && m >= 8 && n >= 8 && m % 8 === 0 && n % 8 === 0 && (m * n) / 8 <= 128;
    if (block ? !sgOk : !['shared', 'vec4', 'tiled4x4'].includes(variant)) {
      throw new ConfigError(
        `HYDRANET_WEBGPU_GEMM=${variant} is not a GEMM variant this adapter can run: expected shared, vec4, tiled4x4 or, with 8-lane subgroups${sub ? '' : ' (absent here)'}, sgMxN with M and N multiples of 8 and M·N ≤ 1024`,
      );
    }
    if (block) {
      const k = make('gemm_subgroup', false).map((spec) => ({ ...spec, file: 'gemm-subgroup', constants: { ...spec.constants, RB: m / 8, CN: n / 8 } }));
      this.kernels = k;
      this.vec4Kernels = k;
      this.grid = { tileM: m, tileN: n, vec4TileM: m, vec4TileN: n };
    } else if (variant === 'shared') {
      this.kernels = make('gemm_shared', false);
      this.vec4Kernels = this.kernels;
      this.grid = { tileM: 64, tileN: 64, vec4TileM: 64, vec4TileN: 64 };
    } else {
      this.kernels = make('gemm_tiled4x4', false);
      this.vec4Kernels = variant === 'tiled4x4' ? this.kernels : make('gemm_vec4', true);
      this.grid = { tileM: TILE, tileN: TILE, vec4TileM: TILE, vec4TileN: TILE };
    }
    this.variant = variant;
  }

  launch(a: Bound, b: Bound, c: Bound, bias: Bound | null, g: GemmLaunch): void {
    const aligned =
      (g.batch ? g.batch.a % 4 === 0 && g.batch.b % 4 === 0 : true) &&
      g.problems.every((p) => p.lda % 4 === 0 && p.ldb % 4 === 0 && p.offA % 4 === 0 && p.offB % 4 === 0);
    const kernel = (aligned ? this.vec4Kernels : this.kernels)[(g.transA ? 2 : 0) + (g.transB ? 1 : 0)];
    const batches = g.batch?.count ?? 1;
    const tileM = aligned ? this.grid.vec4TileM : this.grid.tileM;
    const tileN = aligned ? this.grid.vec4TileN : this.grid.tileN;
    for (let first = 0; first < g.problems.length; first += MAX_PROBLEMS) {
      const list = g.problems.slice(first, first + MAX_PROBLEMS);
      const w = this.words;
      w[0] = list.length;
      w[1] = g.activation;
      w[2] = bias ? 1 : 0;
      w[3] = g.biasPerRow ? 1 : 0;
      this.floats[4] = g.alpha;
      this.floats[5] = g.beta;
      w[6] = g.batch?.a ?? 0;
      w[7] = g.batch?.b ?? 0;
      w[8] = g.batch?.c ?? 0;
      w[9] = g.batch?.bias ?? 0;
      let maxM = 0;
      let maxN = 0;
      list.forEach((p, i) => {
        w.set([p.m, p.n, p.k, p.offA, p.offB, p.offC, p.offBias, p.lda, p.ldb, p.ldc, 0, 0], 12 + 12 * i);
        maxM = Math.max(maxM, p.m);
        maxN = Math.max(maxN, p.n);
      });
      const z = list.length * batches;
      if (z > 65535) throw new RangeError(`gemm: ${z} problems × batches exceed one launch`);
      this.rt.launch(kernel, [a, b, bias, c], { u: w.subarray(0, 12 + 12 * list.length) }, [Math.ceil(maxN / tileN), Math.ceil(maxM / tileM), z]);
    }
  }
}
