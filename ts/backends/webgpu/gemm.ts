/**
 * Launches shaders/gemm.wgsl: one or more GEMM problems (task heads of different widths) or a
 * uniform batch of one problem (conv images) in a single launch. Everything above (gemm, heads,
 * conv) describes its products as GemmProblems over tensors it owns.
 */
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
    const variant = process.env.HYDRANET_WEBGPU_GEMM ?? 'vec4';
    this.kernels = make('gemm_tiled4x4', false);
    this.vec4Kernels = variant === 'vec4' ? make('gemm_vec4', true) : this.kernels;
  }

  launch(a: Bound, b: Bound, c: Bound, bias: Bound | null, g: GemmLaunch): void {
    const aligned =
      (g.batch ? g.batch.a % 4 === 0 && g.batch.b % 4 === 0 : true) &&
      g.problems.every((p) => p.lda % 4 === 0 && p.ldb % 4 === 0 && p.offA % 4 === 0 && p.offB % 4 === 0);
    const kernel = (aligned ? this.vec4Kernels : this.kernels)[(g.transA ? 2 : 0) + (g.transB ? 1 : 0)];
    const batches = g.batch?.count ?? 1;
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
      this.rt.launch(kernel, [a, b, bias, c], { u: w.subarray(0, 12 + 12 * list.length) }, [Math.ceil(maxN / TILE), Math.ceil(maxM / TILE), z]);
    }
  }
}
