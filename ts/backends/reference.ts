/**
 * The reference backend: plain TypeScript written for clarity, not speed. It is the meaning of
 * every kernel and the oracle that every other backend is tested against. Sums of products
 * accumulate in f64 (JavaScript numbers) and round to f32 once, on store.
 */
import { packedOf } from './packed.js';
import { dropoutKeep, hashUniform } from '../core/random.js';
import { LabelError, ValueError } from '../errors.js';
import type { Activation, Backend, Conv2dGeometry, EmbeddingLayout, HeadLayout, LossLayout, MixtureLayout, Pool2dGeometry } from './backend.js';
import { GRADDROP_EPSILON, LOSS_KINDS, isClassLoss, isSoftTargetLoss } from './backend.js';
import { HostBackend } from './host.js';
import type { Kernels } from './ops.js';
import { type AdamWCoefficients, type GemmDims, type SgdParams, embeddingIndexError, isEmbeddingIndex } from './validate.js';

const GELU_C = Math.sqrt(2 / Math.PI);

/** act(x) for one value. */
export function activate(kind: Activation, x: number): number {
  switch (kind) {
    case 'none':
      return x;
    case 'relu':
      return x > 0 || Number.isNaN(x) ? x : 0; // NaN in, NaN out (as PyTorch)
    case 'tanh':
      return Math.tanh(x);
    case 'sigmoid':
      return 1 / (1 + Math.exp(-x));
    case 'gelu':
      return 0.5 * x * (1 + Math.tanh(GELU_C * (x + 0.044715 * x * x * x)));
  }
}

/** act'(·) for one value, from the output y (relu/tanh/sigmoid) or the input x (gelu). */
export function activateDerivative(kind: Activation, y: number, x: number): number {
  switch (kind) {
    case 'none':
      return 1;
    case 'relu':
      return y > 0 ? 1 : 0;
    case 'tanh':
      return 1 - y * y;
    case 'sigmoid':
      return y * (1 - y);
    case 'gelu': {
      const u = GELU_C * (x + 0.044715 * x * x * x);
      const t = Math.tanh(u);
      const du = GELU_C * (1 + 3 * 0.044715 * x * x);
      return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du;
    }
  }
}

/**
 * ℓ of sample i of task t (LossLayout's formulas; for bce, mse, l1, smooth-l1 the SUM over the
 * task's K columns), the one row computation of multiLoss and perSampleLosses. With `grad`,
 * writes grad.G[i, seg_t] = grad.scale·∂ℓ/∂z. A class index that is not an integer in [0, C)
 * is a LabelError naming `op`.
 */
function lossRow(
  Z: Float32Array,
  Tg: Float32Array,
  layout: LossLayout,
  t: number,
  i: number,
  op: string,
  grad: { G: Float32Array; scale: number } | null,
): number {
  const [kindIdx, off, width, toff] = packedOf(layout).subarray(5 * t, 5 * t + 4);
  const kind = LOSS_KINDS[kindIdx];
  const [a, b] = layout.losses[t].params;
  const ld = layout.totalOut;
  const ldt = layout.totalTgt;
  const z = (j: number): number => Z[i * ld + off + j];
  const setG = (j: number, v: number): void => {
    if (grad) grad.G[i * ld + off + j] = v * grad.scale;
  };
  if (isSoftTargetLoss(kind)) {
    // distill: ℓ = Σ_k q_k·log(q_k/p_k) − Σ_k q_k + 1, p = softmax(z/T); ∂ℓ/∂z_j = (p_j·Σq − q_j)/T.
    const q = (j: number): number => Tg[i * ldt + toff + j];
    let zmax = -Infinity;
    for (let j = 0; j < width; j++) zmax = Math.max(zmax, z(j) / a);
    let sum = 0;
    for (let j = 0; j < width; j++) sum += Math.exp(z(j) / a - zmax);
    const lse = zmax + Math.log(sum);
    let loss = 1;
    let qsum = 0;
    for (let j = 0; j < width; j++) {
      const qj = q(j);
      qsum += qj;
      loss += (qj === 0 ? 0 : qj * Math.log(qj)) - qj * (z(j) / a - lse) - qj;
    }
    for (let j = 0; grad && j < width; j++) setG(j, (Math.exp(z(j) / a - lse) * qsum - q(j)) / a);
    return loss;
  }
  if (isClassLoss(kind)) {
    const y = Tg[i * ldt + toff];
    if (!(Number.isInteger(y) && y >= 0 && y < width)) {
      throw new LabelError(`${op}: task ${t} sample ${i} has class ${y}, expected an integer in [0, ${width})`);
    }
    let zmax = -Infinity;
    let top = 0; // argmax: the first largest logit
    for (let j = 0; j < width; j++) {
      if (z(j) > zmax) top = j;
      zmax = Math.max(zmax, z(j));
    }
    let sum = 0;
    for (let j = 0; j < width; j++) sum += Math.exp(z(j) - zmax);
    const lse = zmax + Math.log(sum);
    const ce = lse - z(y);
    const py = Math.exp(-ce);
    // ℓ, and ∂ℓ/∂z_j = u·(p_j − δ_jy) + extra_j (LossLayout's formulas, differentiated).
    let loss = ce;
    let u = 1;
    let extra = (_j: number, _p: number): number => 0;
    switch (kind) {
      case 'gce': {
        const pq = Math.exp(-a * ce);
        loss = (1 - pq) / a;
        u = pq;
        break;
      }
      case 'sce':
        loss = a * ce + 4 * b * (1 - py);
        u = a + 4 * b * py;
        break;
      case 'bootstrap-soft': {
        let entropy = 0;
        for (let j = 0; j < width; j++) entropy -= Math.exp(z(j) - lse) * (z(j) - lse);
        loss = a * ce + (1 - a) * entropy;
        u = a;
        extra = (j, p) => -(1 - a) * p * (z(j) - lse + entropy);
        break;
      }
      case 'bootstrap-hard':
        loss = a * ce + (1 - a) * (lse - z(top));
        u = a;
        extra = (j, p) => (1 - a) * (p - (j === top ? 1 : 0));
        break;
      case 'label-smoothing': {
        let zsum = 0;
        for (let j = 0; j < width; j++) zsum += z(j);
        loss = (1 - a) * ce + a * (lse - zsum / width);
        u = 1 - a;
        extra = (_j, p) => a * (p - 1 / width);
        break;
      }
    }
    if (grad) {
      for (let j = 0; j < width; j++) {
        const p = Math.exp(z(j) - lse);
        setG(j, u * (p - (j === y ? 1 : 0)) + extra(j, p));
      }
    }
    return loss;
  }
  let total = 0;
  for (let j = 0; j < width; j++) {
    const zj = z(j);
    const yj = Tg[i * ldt + toff + j];
    const d = zj - yj;
    let loss: number;
    let g: number;
    switch (kind) {
      case 'bce':
        loss = Math.max(zj, 0) - zj * yj + Math.log1p(Math.exp(-Math.abs(zj)));
        g = 1 / (1 + Math.exp(-zj)) - yj;
        break;
      case 'mse':
        loss = d * d;
        g = 2 * d;
        break;
      case 'l1':
        loss = Math.abs(d);
        g = Math.sign(d);
        break;
      case 'smooth-l1':
        loss = Math.abs(d) < 1 ? 0.5 * d * d : Math.abs(d) - 0.5;
        g = Math.abs(d) < 1 ? d : Math.sign(d);
        break;
      default:
        throw new ValueError(`${op}: unknown loss kind ${kind}`);
    }
    total += loss;
    setG(j, g);
  }
  return total;
}

/**
 * A strided matrix: element (r, c) is data[offset + r·rowStride + c·colStride]. Lets the
 * reference express transposes and sub-matrices (one task's columns) without copies.
 */
interface Mat {
  data: Float32Array;
  offset: number;
  rowStride: number;
  colStride: number;
}

function mat(data: Float32Array, cols: number, trans = false, offset = 0): Mat {
  return trans ? { data, offset, rowStride: 1, colStride: cols } : { data, offset, rowStride: cols, colStride: 1 };
}

/** C[m×n] = alpha·A[m×k]·B[k×n] + beta·C, all strided. beta = 0 never reads C. */
function matmul(m: number, n: number, k: number, alpha: number, A: Mat, B: Mat, beta: number, C: Mat): void {
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) {
        s +=
          A.data[A.offset + i * A.rowStride + p * A.colStride] * B.data[B.offset + p * B.rowStride + j * B.colStride];
      }
      const ci = C.offset + i * C.rowStride + j * C.colStride;
      C.data[ci] = beta === 0 ? alpha * s : alpha * s + beta * C.data[ci];
    }
  }
}

/**
 * The reference backend: plain TypeScript on the host, one loop per kernel, written for clarity,
 * not speed. It is the specification every other backend is tested against (parity suite) and
 * runs everywhere, with no addon and no GPU: `createBackend('reference')`.
 */
export class ReferenceBackend extends HostBackend implements Backend {
  readonly name = 'reference';
  /** @internal */
  protected readonly kernels: Kernels<Float32Array> = new ReferenceKernels();
}

/** The reference's kernels: the meaning of each Backend method, on host arrays the op table checked. */
class ReferenceKernels implements Kernels<Float32Array> {
  gemm(A: Float32Array, B: Float32Array, C: Float32Array, bias: Float32Array | null, g: GemmDims): void {
    // A's stored columns: m when transposed ([k, m]), else k; B's: k when transposed, else n.
    const [colsA, colsB] = [g.transA ? g.m : g.k, g.transB ? g.k : g.n];
    matmul(g.m, g.n, g.k, g.alpha, mat(A, colsA, g.transA), mat(B, colsB, g.transB), g.beta, mat(C, g.n));
    for (let i = 0; i < g.m; i++) {
      for (let j = 0; j < g.n; j++) {
        const v = C[i * g.n + j] + (bias ? bias[j] : 0);
        C[i * g.n + j] = activate(g.activation, v);
      }
    }
  }

  activationForward(kind: Activation, X: Float32Array, Y: Float32Array, n: number): void {
    for (let i = 0; i < n; i++) Y[i] = activate(kind, X[i]);
  }

  activationBackward(kind: Activation, Y: Float32Array, DY: Float32Array, DX: Float32Array, x: Float32Array | null, n: number): void {
    const X = x ?? Y;
    for (let i = 0; i < n; i++) DX[i] = DY[i] * activateDerivative(kind, Y[i], X[i]);
  }

  biasGrad(DY: Float32Array, DB: Float32Array, rows: number, cols: number): void {
    for (let j = 0; j < cols; j++) {
      let s = 0;
      for (let i = 0; i < rows; i++) s += DY[i * cols + j];
      DB[j] += s;
    }
  }

  add(A: Float32Array, B: Float32Array, O: Float32Array, n: number): void {
    for (let i = 0; i < n; i++) O[i] = A[i] + B[i];
  }

  mul(A: Float32Array, B: Float32Array, O: Float32Array, n: number): void {
    for (let i = 0; i < n; i++) O[i] = A[i] * B[i];
  }

  dropoutForward(X: Float32Array, Y: Float32Array, M: Float32Array, n: number, p: number, seed: number): void {
    const scale = 1 / (1 - p);
    for (let i = 0; i < n; i++) {
      M[i] = dropoutKeep(seed, i, p) ? scale : 0;
      Y[i] = X[i] * M[i];
    }
  }

  headsForward(X: Float32Array, W: Float32Array, Bv: Float32Array, Y: Float32Array, layout: HeadLayout, n: number, activation: Activation): void {
    for (let t = 0; t < layout.tasks; t++) {
      const din = layout.inSizes[t];
      const dout = layout.outSizes[t];
      // y_t[n×out] = x_t[n×in] · W_tᵀ, W_t stored [out×in].
      matmul(
        n,
        dout,
        din,
        1,
        mat(X, layout.totalIn, false, layout.inOffsets[t]),
        mat(W, din, true, layout.weightOffsets[t]),
        0,
        mat(Y, layout.totalOut, false, layout.outOffsets[t]),
      );
    }
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < layout.totalOut; j++) {
        Y[i * layout.totalOut + j] = activate(activation, Y[i * layout.totalOut + j] + Bv[j]);
      }
    }
  }

  headsBackward(
    X: Float32Array,
    W: Float32Array,
    DY: Float32Array,
    DX: Float32Array | null,
    DW: Float32Array,
    DB: Float32Array,
    P: Float32Array | null,
    layout: HeadLayout,
    n: number,
  ): void {
    if (DX && layout.sharedInput) DX.fill(0);
    for (let t = 0; t < layout.tasks; t++) {
      const din = layout.inSizes[t];
      const dout = layout.outSizes[t];
      const dyT = mat(DY, layout.totalOut, false, layout.outOffsets[t]);
      // dW_t[out×in] += dy_tᵀ · x_t
      matmul(
        dout,
        din,
        n,
        1,
        mat(DY, layout.totalOut, true, layout.outOffsets[t]),
        mat(X, layout.totalIn, false, layout.inOffsets[t]),
        1,
        mat(DW, din, false, layout.weightOffsets[t]),
      );
      const wT = mat(W, din, false, layout.weightOffsets[t]);
      if (DX) {
        // dx_t[n×in] (+)= dy_t · W_t; summed over tasks when the input is shared.
        const beta = layout.sharedInput ? 1 : 0;
        matmul(n, din, dout, 1, dyT, wT, beta, mat(DX, layout.totalIn, false, layout.inOffsets[t]));
      }
      if (P) matmul(n, din, dout, 1, dyT, wT, 0, mat(P, din, false, t * n * din));
    }
    this.biasGrad(DY, DB, n, layout.totalOut);
  }

  multiLoss(
    Z: Float32Array,
    Tg: Float32Array,
    M: Float32Array | null,
    Wt: Float32Array,
    L: Float32Array,
    G: Float32Array,
    layout: LossLayout,
    n: number,
  ): void {
    for (let t = 0; t < layout.tasks; t++) {
      const cls = isClassLoss(layout.losses[t].kind) || isSoftTargetLoss(layout.losses[t].kind);
      const width = layout.segments[t].outWidth;
      let labelled = 0;
      for (let i = 0; i < n; i++) labelled += M ? M[i * layout.tasks + t] : 1;
      const count = Math.max(1, labelled);
      const denom = cls ? count : count * width;
      const gscale = Wt[t] / denom;
      let total = 0;
      for (let i = 0; i < n; i++) {
        const row = i * layout.totalOut + layout.segments[t].outOffset;
        if ((M ? M[i * layout.tasks + t] : 1) === 0) G.fill(0, row, row + width);
        else total += lossRow(Z, Tg, layout, t, i, 'multiLoss', { G, scale: gscale });
      }
      L[t] = total / denom;
    }
  }

  perSampleLosses(Z: Float32Array, Tg: Float32Array, M: Float32Array | null, O: Float32Array, layout: LossLayout, n: number): void {
    const T = layout.tasks;
    for (let t = 0; t < T; t++) {
      const k = isClassLoss(layout.losses[t].kind) || isSoftTargetLoss(layout.losses[t].kind) ? 1 : layout.segments[t].outWidth;
      for (let i = 0; i < n; i++) {
        const m = M ? M[i * T + t] : 1;
        O[i * T + t] = m === 0 ? 0 : lossRow(Z, Tg, layout, t, i, 'perSampleLosses', null) / k;
      }
    }
  }

  conv2dForward(X: Float32Array, W: Float32Array, B: Float32Array | null, Y: Float32Array, geo: Conv2dGeometry, n: number, activation: Activation): void {
    const { c: C, h: H, w: Wd, outC, kh, kw, stride, padding, outH, outW } = geo;
    for (let i = 0; i < n; i++) {
      for (let o = 0; o < outC; o++) {
        for (let oy = 0; oy < outH; oy++) {
          for (let ox = 0; ox < outW; ox++) {
            let s = B ? B[o] : 0;
            for (let ci = 0; ci < C; ci++) {
              for (let ky = 0; ky < kh; ky++) {
                const iy = oy * stride - padding + ky;
                for (let kx = 0; kx < kw; kx++) {
                  const ix = ox * stride - padding + kx;
                  // A padded tap is a zero input: 0·w, so a NaN or infinite weight gives NaN (as PyTorch).
                  const xv = iy < 0 || iy >= H || ix < 0 || ix >= Wd ? 0 : X[((i * C + ci) * H + iy) * Wd + ix];
                  s += xv * W[((o * C + ci) * kh + ky) * kw + kx];
                }
              }
            }
            Y[((i * outC + o) * outH + oy) * outW + ox] = activate(activation, s);
          }
        }
      }
    }
  }

  conv2dBackward(
    X: Float32Array,
    W: Float32Array,
    DY: Float32Array,
    DX: Float32Array | null,
    DW: Float32Array,
    DB: Float32Array | null,
    geo: Conv2dGeometry,
    n: number,
  ): void {
    const { c: C, h: H, w: Wd, outC, kh, kw, stride, padding, outH, outW } = geo;
    DX?.fill(0);
    const dwAcc = new Float64Array(DW.length);
    const dbAcc = new Float64Array(outC);
    for (let i = 0; i < n; i++) {
      for (let o = 0; o < outC; o++) {
        for (let oy = 0; oy < outH; oy++) {
          for (let ox = 0; ox < outW; ox++) {
            const g = DY[((i * outC + o) * outH + oy) * outW + ox];
            dbAcc[o] += g;
            for (let ci = 0; ci < C; ci++) {
              for (let ky = 0; ky < kh; ky++) {
                const iy = oy * stride - padding + ky;
                for (let kx = 0; kx < kw; kx++) {
                  const ix = ox * stride - padding + kx;
                  const wi = ((o * C + ci) * kh + ky) * kw + kx;
                  if (iy < 0 || iy >= H || ix < 0 || ix >= Wd) {
                    dwAcc[wi] += g * 0; // a padded (zero) input: NaN only when g is
                    continue;
                  }
                  const xi = ((i * C + ci) * H + iy) * Wd + ix;
                  dwAcc[wi] += g * X[xi];
                  if (DX) DX[xi] += g * W[wi];
                }
              }
            }
          }
        }
      }
    }
    for (let k = 0; k < DW.length; k++) DW[k] += dwAcc[k];
    if (DB) for (let o = 0; o < outC; o++) DB[o] += dbAcc[o];
  }

  maxPool2dForward(X: Float32Array, Y: Float32Array, A: Float32Array, geo: Pool2dGeometry, n: number): void {
    const { c: C, h: H, w: Wd, size, stride, outH, outW } = geo;
    for (let plane = 0; plane < n * C; plane++) {
      for (let oy = 0; oy < outH; oy++) {
        for (let ox = 0; ox < outW; ox++) {
          let best = -Infinity;
          let at = oy * stride * Wd + ox * stride; // the window's first element, if all are −∞
          for (let ky = 0; ky < size; ky++) {
            for (let kx = 0; kx < size; kx++) {
              const idx = (oy * stride + ky) * Wd + ox * stride + kx;
              const v = X[plane * H * Wd + idx];
              if (v > best || (Number.isNaN(v) && !Number.isNaN(best))) {
                best = v;
                at = idx;
              }
            }
          }
          Y[(plane * outH + oy) * outW + ox] = best;
          A[(plane * outH + oy) * outW + ox] = at;
        }
      }
    }
  }

  maxPool2dBackward(DY: Float32Array, A: Float32Array, DX: Float32Array, geo: Pool2dGeometry, n: number): void {
    const plane = geo.h * geo.w;
    const outPlane = geo.outH * geo.outW;
    DX.fill(0);
    for (let p = 0; p < n * geo.c; p++) {
      for (let k = 0; k < outPlane; k++) DX[p * plane + A[p * outPlane + k]] += DY[p * outPlane + k];
    }
  }

  dropout2dForward(X: Float32Array, Y: Float32Array, M: Float32Array, rows: number, plane: number, p: number, seed: number): void {
    const scale = 1 / (1 - p);
    for (let i = 0; i < rows; i++) M[i] = dropoutKeep(seed, i, p) ? scale : 0;
    this.scaleChannels(X, M, Y, rows, plane);
  }

  scaleChannels(X: Float32Array, S: Float32Array, O: Float32Array, rows: number, plane: number): void {
    for (let r = 0; r < rows; r++) for (let k = 0; k < plane; k++) O[r * plane + k] = X[r * plane + k] * S[r];
  }

  mixtureForward(X: Float32Array, Z: Float32Array, G: Float32Array, O: Float32Array, layout: MixtureLayout, n: number): void {
    const { width: D, expertStride: sx, outStride: so, gateWidth: zw } = layout;
    layout.expertsOf.forEach((list, t) => {
      const off = layout.gateOffsets[t];
      for (let i = 0; i < n; i++) {
        const row = i * zw + off;
        let max = -Infinity;
        for (let j = 0; j < list.length; j++) max = Math.max(max, Z[row + j]);
        let sum = 0;
        for (let j = 0; j < list.length; j++) sum += Math.exp(Z[row + j] - max);
        for (let j = 0; j < list.length; j++) G[row + j] = Math.exp(Z[row + j] - max) / sum;
        for (let d = 0; d < D; d++) {
          let acc = 0;
          for (let j = 0; j < list.length; j++) acc += G[row + j] * X[list[j] * sx + i * D + d];
          O[t * so + i * D + d] = acc;
        }
      }
    });
  }

  mixtureBackward(X: Float32Array, G: Float32Array, DO: Float32Array, DX: Float32Array, DZ: Float32Array, layout: MixtureLayout, n: number): void {
    const { width: D, expertStride: sx, outStride: so, gateWidth: zw } = layout;
    for (let e = 0; e < layout.experts; e++) DX.fill(0, e * sx, e * sx + n * D);
    layout.expertsOf.forEach((list, t) => {
      const off = layout.gateOffsets[t];
      for (let i = 0; i < n; i++) {
        const row = i * zw + off;
        const dg: number[] = [];
        for (let j = 0; j < list.length; j++) {
          let s = 0;
          for (let d = 0; d < D; d++) {
            const go = DO[t * so + i * D + d];
            s += go * X[list[j] * sx + i * D + d];
            DX[list[j] * sx + i * D + d] += G[row + j] * go;
          }
          dg.push(s);
        }
        let dot = 0;
        for (let j = 0; j < list.length; j++) dot += G[row + j] * dg[j];
        for (let j = 0; j < list.length; j++) DZ[row + j] = G[row + j] * (dg[j] - dot);
      }
    });
  }

  gradDrop(G: Float32Array, O: Float32Array, T: number, M: number, seed: number, leak: number): void {
    for (let i = 0; i < M; i++) {
      let sum = 0;
      let abs = 0;
      for (let t = 0; t < T; t++) {
        sum += G[t * M + i];
        abs += Math.abs(G[t * M + i]);
      }
      const p = 0.5 * (1 + sum / (abs + GRADDROP_EPSILON));
      const u = hashUniform(seed, i);
      let o = 0;
      for (let t = 0; t < T; t++) {
        const v = G[t * M + i];
        const keep = (u < p && v > 0) || (u > p && v < 0) ? 1 : 0;
        o += v * (leak + (1 - leak) * keep);
      }
      O[i] = o;
    }
  }

  sgdStep(P: Float32Array, G: Float32Array, Mo: Float32Array, n: number, o: SgdParams): void {
    const { lr, momentum: mu, weightDecay: wd, nesterov } = o;
    for (let i = 0; i < n; i++) {
      const grad = G[i] + wd * P[i];
      Mo[i] = mu * Mo[i] + grad;
      P[i] -= lr * (nesterov ? grad + mu * Mo[i] : Mo[i]);
    }
  }

  adamwStep(P: Float32Array, G: Float32Array, Mo: Float32Array, V: Float32Array, n: number, c: AdamWCoefficients): void {
    for (let i = 0; i < n; i++) {
      P[i] *= c.decay;
      Mo[i] = c.beta1 * Mo[i] + c.oneMinusBeta1 * G[i];
      V[i] = c.beta2 * V[i] + c.oneMinusBeta2 * G[i] * G[i];
      P[i] -= (c.stepSize * Mo[i]) / (Math.sqrt(V[i] * c.invBias2) + c.eps);
    }
  }

  ewcPenalty(P: Float32Array, A: Float32Array, F: Float32Array, G: Float32Array, n: number, lambda: number): void {
    for (let i = 0; i < n; i++) G[i] += lambda * F[i] * (P[i] - A[i]);
  }

  embeddingForward(X: Float32Array, Tb: Float32Array, O: Float32Array, layout: EmbeddingLayout, n: number): void {
    checkEmbeddingIndices('embeddingForward', X, layout, n);
    const { inputWidth: W, outWidth: D, numericColumns } = layout;
    for (let i = 0; i < n; i++) {
      numericColumns.forEach((c, j) => (O[i * D + j] = X[i * W + c]));
      layout.fields.forEach((f, k) => {
        const row = layout.tableOffsets[k] + X[i * W + f.column] * f.dim;
        for (let d = 0; d < f.dim; d++) O[i * D + layout.outOffsets[k] + d] = Tb[row + d];
      });
    }
  }

  embeddingBackward(X: Float32Array, DO: Float32Array, DT: Float32Array, layout: EmbeddingLayout, n: number): void {
    checkEmbeddingIndices('embeddingBackward', X, layout, n);
    const { inputWidth: W, outWidth: D } = layout;
    // Rows in order, each add rounded to f32 (as DT stores it): the order every backend keeps.
    for (let i = 0; i < n; i++) {
      layout.fields.forEach((f, k) => {
        const row = layout.tableOffsets[k] + X[i * W + f.column] * f.dim;
        for (let d = 0; d < f.dim; d++) DT[row + d] += DO[i * D + layout.outOffsets[k] + d];
      });
    }
  }

  embeddingSgdStep(X: Float32Array, Tb: Float32Array, DT: Float32Array, layout: EmbeddingLayout, lr: number, n: number): void {
    const W = layout.inputWidth;
    layout.fields.forEach((f, k) => {
      for (let i = 0; i < n; i++) {
        const y = X[i * W + f.column];
        if (!isEmbeddingIndex(y, f.vocab)) continue; // the forward reported it; never addresses memory
        const row = layout.tableOffsets[k] + y * f.dim;
        for (let d = 0; d < f.dim; d++) {
          Tb[row + d] -= lr * DT[row + d]; // sgdStep's arithmetic at momentum 0, weight decay 0
          DT[row + d] = 0;
        }
      }
    });
  }
}

/** Throws the LabelError of the first bad index (field by field, row by row) of x's n rows. */
function checkEmbeddingIndices(op: string, X: Float32Array, layout: EmbeddingLayout, n: number): void {
  const W = layout.inputWidth;
  layout.fields.forEach((f, k) => {
    for (let i = 0; i < n; i++) {
      const y = X[i * W + f.column];
      if (!isEmbeddingIndex(y, f.vocab)) throw embeddingIndexError(op, layout, k, i, y);
    }
  });
}
