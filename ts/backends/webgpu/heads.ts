/**
 * The fused task heads on WebGPU, as GEMM problem lists (shaders/gemm.wgsl): every task's
 * product in ONE launch — one problem over the concatenated weights when the input is shared,
 * one problem per task otherwise — plus one bias-gradient launch for all heads.
 *
 * Shapes (HeadLayout): x per the layout, W_t [out_t, in_t] at weightOffsets[t], y/dy [N, Σout].
 *  forward   y[:, seg_t] = act(x_t · W_tᵀ + b_t)
 *  backward  dW_t += dy_tᵀ · x_t;  db += Σ_rows dy;  dx = Σ_t dy_t · W_t (shared) or per task;
 *            perTaskDx[t] = dy_t · W_t (shared input only)
 */
import type { HeadLayout } from '../backend.js';
import type { GemmLauncher, GemmProblem } from './gemm.js';
import { type GpuRuntime, type GpuTensor, grid } from './runtime.js';

const BIAS_GRAD = { file: 'elementwise', entry: 'elementwise_bias_grad', access: 'rw' } as const;

/** The row width of x (its leading dimension) for a layout. */
function xWidth(layout: HeadLayout): number {
  return layout.input === 'segmented' ? layout.totalIn : layout.inSizes[0];
}

export class HeadKernels {
  /** Problem lists by layout and batch, built once (a steady-state step builds nothing). */
  private readonly cache = new WeakMap<HeadLayout, Map<string, readonly GemmProblem[]>>();

  constructor(
    private readonly rt: GpuRuntime,
    private readonly gemm: GemmLauncher,
  ) {}

  private problems(layout: HeadLayout, n: number, what: string, make: () => GemmProblem[]): readonly GemmProblem[] {
    let byKey = this.cache.get(layout);
    if (!byKey) this.cache.set(layout, (byKey = new Map()));
    const key = `${what}/${n}`;
    let p = byKey.get(key);
    if (!p) byKey.set(key, (p = make()));
    return p;
  }

  forward(x: GpuTensor, w: GpuTensor, b: GpuTensor, y: GpuTensor, layout: HeadLayout, n: number, activation: number): void {
    const T = layout.tasks;
    const ld = xWidth(layout);
    const problems = this.problems(layout, n, 'fwd', () =>
      layout.sharedInput
        ? [{ m: n, n: layout.totalOut, k: ld, offA: 0, offB: 0, offC: 0, offBias: 0, lda: ld, ldb: ld, ldc: layout.totalOut }]
        : Array.from({ length: T }, (_, t) => ({
            m: n,
            n: layout.outSizes[t],
            k: layout.inSizes[t],
            offA: layout.inOffsets[t],
            offB: layout.weightOffsets[t],
            offC: layout.outOffsets[t],
            offBias: layout.outOffsets[t],
            lda: ld,
            ldb: layout.inSizes[t],
            ldc: layout.totalOut,
          })),
    );
    this.gemm.launch(x, w, y, b, { transA: false, transB: true, alpha: 1, beta: 0, activation, problems });
  }

  backward(
    x: GpuTensor,
    w: GpuTensor,
    dy: GpuTensor,
    dx: GpuTensor | null,
    dw: GpuTensor,
    db: GpuTensor,
    perTaskDx: GpuTensor | null,
    layout: HeadLayout,
    n: number,
  ): void {
    const T = layout.tasks;
    const ld = xWidth(layout);
    const out = layout.totalOut;
    // dW_t += dy_tᵀ · x_t
    const dwProblems = this.problems(layout, n, 'dw', () =>
      layout.sharedInput
        ? [{ m: out, n: ld, k: n, offA: 0, offB: 0, offC: 0, offBias: 0, lda: out, ldb: ld, ldc: ld }]
        : Array.from({ length: T }, (_, t) => ({
            m: layout.outSizes[t],
            n: layout.inSizes[t],
            k: n,
            offA: layout.outOffsets[t],
            offB: layout.inOffsets[t],
            offC: layout.weightOffsets[t],
            offBias: 0,
            lda: out,
            ldb: ld,
            ldc: layout.inSizes[t],
          })),
    );
    this.gemm.launch(dy, x, dw, null, { transA: true, transB: false, alpha: 1, beta: 1, activation: 0, problems: dwProblems });
    this.rt.launch(BIAS_GRAD, [dy, db], { u: [n, 0, out] }, grid(out, 256));
    // dx_t = dy_t · W_t: summed over tasks (one problem over all weights) when shared.
    if (dx) {
      const dxProblems = this.problems(layout, n, 'dx', () =>
        layout.sharedInput
          ? [{ m: n, n: ld, k: out, offA: 0, offB: 0, offC: 0, offBias: 0, lda: out, ldb: ld, ldc: ld }]
          : this.perTask(layout, n, (t) => layout.inOffsets[t], ld),
      );
      this.gemm.launch(dy, w, dx, null, { transA: false, transB: false, alpha: 1, beta: 0, activation: 0, problems: dxProblems });
    }
    if (perTaskDx) {
      const problems = this.problems(layout, n, 'ptdx', () => this.perTask(layout, n, (t) => t * n * ld, ld));
      this.gemm.launch(dy, w, perTaskDx, null, { transA: false, transB: false, alpha: 1, beta: 0, activation: 0, problems });
    }
  }

  /** dy_t [n, out_t] · W_t [out_t, in_t] into C at offC(t) with row width ldc, for every task. */
  private perTask(layout: HeadLayout, n: number, offC: (t: number) => number, ldc: number): GemmProblem[] {
    return Array.from({ length: layout.tasks }, (_, t) => ({
      m: n,
      n: layout.inSizes[t],
      k: layout.outSizes[t],
      offA: layout.outOffsets[t],
      offB: layout.weightOffsets[t],
      offC: offC(t),
      offBias: 0,
      lda: layout.totalOut,
      ldb: layout.inSizes[t],
      ldc,
    }));
  }
}
