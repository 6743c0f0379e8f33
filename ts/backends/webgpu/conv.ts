/**
 * Conv2d on WebGPU (shaders/conv.wgsl + the GEMM of shaders/gemm.wgsl). It runs as im2col + GEMM over a chunk of images at a time (all N unless the columns
 * would pass SCRATCH_CAP): with P = outH·outW and Ck = C·kh·kw,
 *   forward   im2col x → col [Ck, n·P];  y_j = act(W·col[:, j·P..] + b)  (ONE batched GEMM)
 *             — 2 launches; a 1×1, stride-1, unpadded kernel reads x directly: 1 launch.
 *   backward  im2col x → col;  dy → dyT [outC, n·P];  dW += dyT·colᵀ (ONE GEMM, k = n·P, so
 *             no two products accumulate into one dW);  db += Σ dy (one workgroup per
 *             channel);  dcol = Wᵀ·dyT into col (one GEMM);  dx = col2im(dcol) (a gather)
 *             — 6 launches (5 without db, 3 without dx and db; the 1×1 direct path writes
 *             dx = Wᵀ·dy_j straight into dx with a batched GEMM and skips col2im).
 * The two scratch buffers (col, dyT) belong to this object, are shared by every conv layer and
 * only grow: a steady-state training step allocates nothing.
 */
import type { Conv2dGeometry } from '../backend.js';
import type { GemmLauncher, GemmProblem } from './gemm.js';
import { type Bound, family, type GpuRuntime, type GpuTensor, grid, type Storage } from './runtime.js';

const K = family('conv', { im2col: 'rw', col2im: 'rw', transpose_dy: 'rw', bias_grad: 'rw' });

/** Largest scratch buffer (bytes) a conv call asks for before it splits the batch into chunks. */
const SCRATCH_CAP = 64 << 20;
/** Images per batched GEMM launch (its z grid dimension). */
const MAX_BATCH = 65535;

/** The conv2d launcher (forward and backward), with its scratch buffers. */
export class ConvKernels {
  /** im2col columns (and dcol in backward), then the transposed dy. Grown, never shrunk. */
  private readonly scratch: (Storage | null)[] = [null, null];

  constructor(
    readonly rt: GpuRuntime,
    readonly gemm: GemmLauncher,
  ) {}

  /** The first `floats` elements of scratch buffer `slot`, growing it if needed. */
  private buffer(slot: number, floats: number): Bound {
    let s = this.scratch[slot];
    if (!s || s.bytes < floats * 4) {
      if (s) this.rt.release(s);
      s = this.rt.acquire(floats * 4, `conv2d scratch columns (${floats} elements)`).storage;
      this.scratch[slot] = s;
    }
    return { storage: s, offset: 0, size: floats };
  }

  /** Images per chunk so that `floatsPerImage` floats of scratch stay within SCRATCH_CAP. */
  private chunk(n: number, floatsPerImage: number): number {
    return Math.max(1, Math.min(n, MAX_BATCH, Math.floor(SCRATCH_CAP / (4 * floatsPerImage))));
  }

  /** conv.wgsl's parameters for a chunk of `images` images starting at element `offset`. */
  private convParams(geo: Conv2dGeometry, images: number, offset: number, total: number): { u: number[] } {
    return {
      u: [geo.c, geo.h, geo.w, geo.outC, geo.kh, geo.kw, geo.stride, geo.padding, geo.outH, geo.outW, images, offset, total],
    };
  }

  /** col [Ck, nc·P] from the nc images of x starting at element `offset` (one invocation per patch position and channel). */
  private im2col(x: GpuTensor, col: Bound, geo: Conv2dGeometry, nc: number, offset: number): void {
    const total = geo.c * nc * geo.outH * geo.outW;
    this.rt.launch(K.im2col, [x, col], this.convParams(geo, nc, offset, total), grid(total, 256));
  }

  /** P = outH·outW, Ck = C·kh·kw, one image's x and y, and whether x is read directly (a 1×1, stride-1, unpadded kernel). */
  private static sizes(geo: Conv2dGeometry): { P: number; Ck: number; inSize: number; outSize: number; direct: boolean } {
    const P = geo.outH * geo.outW;
    const direct = geo.kh === 1 && geo.kw === 1 && geo.stride === 1 && geo.padding === 0;
    return { P, Ck: geo.c * geo.kh * geo.kw, inSize: geo.c * geo.h * geo.w, outSize: geo.outC * P, direct };
  }

  conv2dForward(x: GpuTensor, w: GpuTensor, b: GpuTensor | null, y: GpuTensor, geo: Conv2dGeometry, n: number, act: number): void {
    if (n === 0) return;
    const { P, Ck, inSize, outSize, direct } = ConvKernels.sizes(geo);
    const per = direct ? Math.min(n, MAX_BATCH) : this.chunk(n, Ck * P);
    for (let i0 = 0; i0 < n; i0 += per) {
      const nc = Math.min(per, n - i0);
      let problem: GemmProblem;
      let source: Bound;
      let strideB: number;
      if (direct) {
        // y_j = W [outC, C] · x_j [C, P]
        source = x;
        problem = { m: geo.outC, n: P, k: Ck, offA: 0, offB: i0 * inSize, offC: i0 * outSize, offBias: 0, lda: Ck, ldb: P, ldc: P };
        strideB = inSize;
      } else {
        source = this.buffer(0, Ck * nc * P);
        this.im2col(x, source, geo, nc, i0 * inSize);
        // y_j = W [outC, Ck] · col[:, j·P .. (j+1)·P]
        problem = { m: geo.outC, n: P, k: Ck, offA: 0, offB: 0, offC: i0 * outSize, offBias: 0, lda: Ck, ldb: nc * P, ldc: P };
        strideB = P;
      }
      this.gemm.launch(w, source, y, b, {
        transA: false,
        transB: false,
        alpha: 1,
        beta: 0,
        activation: act,
        biasPerRow: true,
        problems: [problem],
        batch: { count: nc, a: 0, b: strideB, c: outSize, bias: 0 },
      });
    }
  }

  conv2dBackward(
    x: GpuTensor,
    w: GpuTensor,
    dy: GpuTensor,
    dx: GpuTensor | null,
    dw: GpuTensor,
    db: GpuTensor | null,
    geo: Conv2dGeometry,
    n: number,
  ): void {
    if (n === 0) return;
    const { P, Ck, inSize, outSize, direct } = ConvKernels.sizes(geo);
    if (db) this.rt.launch(K.bias_grad, [dy, db], this.convParams(geo, n, 0, geo.outC), grid(geo.outC * 256, 256));
    const per = this.chunk(n, Math.max(Ck, geo.outC) * P);
    for (let i0 = 0; i0 < n; i0 += per) {
      const nc = Math.min(per, n - i0);
      const cols = nc * P;
      const col = this.buffer(0, Ck * cols);
      const dyT = this.buffer(1, geo.outC * cols);
      this.im2col(x, col, geo, nc, i0 * inSize);
      this.rt.launch(K.transpose_dy, [dy, dyT], this.convParams(geo, nc, i0 * outSize, geo.outC * cols), grid(geo.outC * cols, 256));
      // dW [outC, Ck] += dyT [outC, nc·P] · colᵀ: one product over every image of the chunk.
      this.gemm.launch(dyT, col, dw, null, {
        transA: false,
        transB: true,
        alpha: 1,
        beta: 1,
        activation: 0,
        problems: [{ m: geo.outC, n: Ck, k: cols, offA: 0, offB: 0, offC: 0, offBias: 0, lda: cols, ldb: cols, ldc: Ck }],
      });
      if (!dx) continue;
      if (direct) {
        // dx_j [C, P] = Wᵀ [C, outC] · dy_j [outC, P]
        this.gemm.launch(w, dy, dx, null, {
          transA: true,
          transB: false,
          alpha: 1,
          beta: 0,
          activation: 0,
          problems: [{ m: Ck, n: P, k: geo.outC, offA: 0, offB: i0 * outSize, offC: i0 * inSize, offBias: 0, lda: Ck, ldb: P, ldc: P }],
          batch: { count: nc, a: 0, b: outSize, c: inSize, bias: 0 },
        });
        continue;
      }
      // dcol [Ck, nc·P] = Wᵀ [Ck, outC] · dyT [outC, nc·P], into col (no longer needed).
      this.gemm.launch(w, dyT, col, null, {
        transA: true,
        transB: false,
        alpha: 1,
        beta: 0,
        activation: 0,
        problems: [{ m: Ck, n: cols, k: geo.outC, offA: 0, offB: 0, offC: 0, offBias: 0, lda: Ck, ldb: cols, ldc: cols }],
      });
      this.rt.launch(K.col2im, [col, dx], this.convParams(geo, nc, i0 * inSize, nc * inSize), grid(nc * inSize, 256));
    }
  }
}
