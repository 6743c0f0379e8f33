/**
 * The reference backend's backward kernels checked by central finite differences of a scalar
 * objective f = Σ r ⊙ output (r random), or of the weighted total loss Σ_t w_t·L_t. Values
 * are stored in f32, so with step h = 1e-2 the numerical derivative carries an error of about
 * 1e-4 relative; the tolerance is |analytic − numeric| ≤ 2e-3 + 2e-2·|numeric|.
 */
import assert from 'node:assert/strict';
import {
  ACTIVATIONS,
  Conv2dGeometry,
  EmbeddingLayout,
  HeadLayout,
  LossLayout,
  type LossSegment,
  MixtureLayout,
  Pool2dGeometry,
  type Tensor,
  isClassLoss,
  isSoftTargetLoss,
  parseLoss,
} from '../../ts/backends/backend.js';
import { Rng } from '../../ts/core/random.js';
import { assertGradClose, assertGradients, numericGradient } from './gradcheck.js';
import { randomArray, referenceBackend as ref } from './harness.js';

const data = (t: Tensor): Float32Array => (t as unknown as { data: Float32Array }).data;
const dot = (a: Float32Array, b: Float32Array): number => a.reduce((s, v, i) => s + v * b[i], 0);

describe('reference gradients by finite differences', () => {
  for (const kind of ACTIVATIONS) {
    it(`activation ${kind}`, () => {
      const rng = new Rng(3);
      const n = 17;
      const x = ref.upload(randomArray(rng, n, -3, 3), [n]);
      const y = ref.alloc([n]);
      const r = randomArray(rng, n);
      const f = (): number => {
        ref.activationForward(kind, x, y);
        return dot(data(y), r);
      };
      const num = numericGradient(data(x), f);
      f();
      const dx = ref.alloc([n]);
      ref.activationBackward(kind, y, ref.upload(r, [n]), dx, x);
      assertGradClose(data(dx), num, kind);
    });
  }

  it('gemm with bias and activation: dA = dZ·B, dB = dZᵀ·A, dbias = Σ dZ', () => {
    const rng = new Rng(5);
    const [m, n, k] = [3, 4, 5];
    const a = ref.upload(randomArray(rng, m * k), [m, k]);
    const w = ref.upload(randomArray(rng, n * k), [n, k]);
    const bias = ref.upload(randomArray(rng, n), [n]);
    const y = ref.alloc([m, n]);
    const r = randomArray(rng, m * n);
    const f = (): number => {
      ref.gemm(a, w, y, { transB: true, bias, activation: 'tanh' });
      return dot(data(y), r);
    };
    assertGradients({ dA: data(a), dW: data(w), dbias: data(bias) }, f, () => {
      f();
      const dz = ref.alloc([m, n]);
      ref.activationBackward('tanh', y, ref.upload(r, [m, n]), dz);
      const da = ref.alloc([m, k]);
      const dw = ref.alloc([n, k]);
      const db = ref.alloc([n]);
      ref.gemm(dz, w, da);
      ref.gemm(dz, a, dw, { transA: true });
      ref.biasGrad(dz, db);
      return { dA: data(da), dW: data(dw), dbias: data(db) };
    });
  });

  for (const [label, geo] of [
    ['3×3, stride 2, padding 1 on 5×4', new Conv2dGeometry(2, 5, 4, 3, 3, 3, 2, 1)],
    ['2×3 kernel, stride 1, no padding on 4×5', new Conv2dGeometry(3, 4, 5, 2, 2, 3, 1, 0)],
  ] as const) {
    it(`conv2d ${label}: dx, dw, db`, () => {
      const rng = new Rng(geo.kw * 10 + geo.stride);
      const n = 2;
      const x = ref.upload(randomArray(rng, n * geo.c * geo.h * geo.w), [n, geo.c, geo.h, geo.w]);
      const w = ref.upload(randomArray(rng, geo.outC * geo.c * geo.kh * geo.kw), [geo.outC, geo.c, geo.kh, geo.kw]);
      const b = ref.upload(randomArray(rng, geo.outC), [geo.outC]);
      const yShape = [n, geo.outC, geo.outH, geo.outW];
      const y = ref.alloc(yShape);
      const r = randomArray(rng, y.size);
      const f = (): number => {
        ref.conv2dForward(x, w, b, y, geo);
        return dot(data(y), r);
      };
      assertGradients({ dx: data(x), dw: data(w), db: data(b) }, f, () => {
        const dx = ref.upload(new Float32Array(x.size).fill(5), x.shape); // overwritten
        const dw = ref.alloc(w.shape);
        const db = ref.alloc([geo.outC]);
        ref.conv2dBackward(x, w, ref.upload(r, yShape), dx, dw, db, geo);
        return { dx: data(dx), dw: data(dw), db: data(db) };
      });
    });
  }

  for (const [size, stride] of [
    [2, 2],
    [3, 1],
  ]) {
    it(`maxPool2d ${size}×${size} stride ${stride}: dx routes dy to each window's winner`, () => {
      const rng = new Rng(40 + size);
      const geo = new Pool2dGeometry(2, 5, 7, size, stride);
      const n = 2;
      // Distinct values 0.1 apart, so no window has a near-tie within the finite-difference step.
      const count = n * 2 * 5 * 7;
      const values = Array.from({ length: count }, (_, i) => 0.1 * i);
      for (let i = count - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        [values[i], values[j]] = [values[j], values[i]];
      }
      const x = ref.upload(Float32Array.from(values), [n, 2, 5, 7]);
      const yShape = [n, 2, geo.outH, geo.outW];
      const y = ref.alloc(yShape);
      const argmax = ref.alloc(yShape);
      const r = randomArray(rng, y.size);
      const f = (): number => {
        ref.maxPool2dForward(x, y, argmax, geo);
        return dot(data(y), r);
      };
      const numX = numericGradient(data(x), f);
      f();
      const dx = ref.upload(new Float32Array(count).fill(5), [n, 2, 5, 7]); // overwritten
      ref.maxPool2dBackward(ref.upload(r, yShape), argmax, dx, geo);
      assertGradClose(data(dx), numX, 'dx');
    });
  }

  it('dropout2d: backward is scaleChannels(dy, mask)', () => {
    const rng = new Rng(50);
    const shape = [3, 4, 2, 3];
    const x = ref.upload(randomArray(rng, 72), shape);
    const y = ref.alloc(shape);
    const mask = ref.alloc([3, 4]);
    const r = randomArray(rng, 72);
    const f = (): number => {
      ref.dropout2dForward(x, y, mask, 0.5, 99);
      return dot(data(y), r);
    };
    const numX = numericGradient(data(x), f);
    const dx = ref.alloc(shape);
    ref.scaleChannels(ref.upload(r, shape), mask, dx);
    assertGradClose(data(dx), numX, 'dx');
  });

  it('ewcPenalty: g += ∂(λ/2·Σ F(p − θ*)²)/∂p, added to the gradient already there', () => {
    const rng = new Rng(51);
    const n = 23;
    const lambda = 3.5;
    const p = ref.upload(randomArray(rng, n), [n]);
    const anchor = randomArray(rng, n);
    const fisher = randomArray(rng, n, 0, 2);
    const g0 = randomArray(rng, n);
    const penalty = (): number => {
      let s = 0;
      for (let i = 0; i < n; i++) s += (lambda / 2) * fisher[i] * (data(p)[i] - anchor[i]) ** 2;
      return s;
    };
    const num = numericGradient(data(p), penalty);
    const g = ref.upload(g0, [n]);
    ref.ewcPenalty(p, ref.upload(anchor, [n]), ref.upload(fisher, [n]), g, lambda);
    assertGradClose(data(g).map((v, i) => v - g0[i]), num, 'g − g0');
  });

  for (const shared of [true, false]) {
    it(`heads (${shared ? 'shared input' : 'segmented input'}): dx, dw, db and per-task dx`, () => {
      const rng = new Rng(shared ? 8 : 9);
      const layout = shared ? new HeadLayout('shared', [4, 4, 4], [3, 1, 2]) : new HeadLayout('segmented', [2, 3], [3, 2]);
      const n = 3;
      const x = ref.upload(randomArray(rng, n * layout.totalIn), [n, layout.totalIn]);
      const w = ref.upload(randomArray(rng, layout.weightSize), [layout.weightSize]);
      const b = ref.upload(randomArray(rng, layout.totalOut), [layout.totalOut]);
      const y = ref.alloc([n, layout.totalOut]);
      const r = randomArray(rng, n * layout.totalOut);
      const f = (): number => {
        ref.headsForward(x, w, b, y, layout);
        return dot(data(y), r);
      };
      const dx = ref.alloc([n, layout.totalIn]);
      const per = shared ? ref.alloc([layout.tasks, n, layout.totalIn]) : null;
      assertGradients({ dx: data(x), dw: data(w), db: data(b) }, f, () => {
        const dw = ref.alloc([layout.weightSize]);
        const db = ref.alloc([layout.totalOut]);
        ref.headsBackward(x, w, ref.upload(r, [n, layout.totalOut]), dx, dw, db, layout, per);
        return { dx: data(dx), dw: data(dw), db: data(db) };
      });
      if (per) {
        const summed = new Float32Array(n * layout.totalIn);
        for (let t = 0; t < layout.tasks; t++) {
          for (let i = 0; i < summed.length; i++) summed[i] += data(per)[t * summed.length + i];
        }
        assertGradClose(summed, Float64Array.from(data(dx)), 'Σ per-task dx');
      }
    });
  }

  it('gated mixture: dx and dz (through the gate softmax)', () => {
    const rng = new Rng(12);
    const layout = new MixtureLayout([[0, 1, 2], [1, 3]], 4, 3, 64, 64);
    const n = 4;
    const x = ref.upload(randomArray(rng, 4 * 64), [4 * 64]);
    const z = ref.upload(randomArray(rng, n * layout.gateWidth, -2, 2), [n, layout.gateWidth]);
    const g = ref.alloc([n, layout.gateWidth]);
    const out = ref.alloc([2 * 64]);
    const r = randomArray(rng, 2 * 64);
    for (let t = 0; t < 2; t++) r.fill(0, t * 64 + n * 3, (t + 1) * 64); // only the batch rows count
    const f = (): number => {
      ref.mixtureForward(x, z, g, out, layout);
      return dot(data(out), r);
    };
    const numX = numericGradient(data(x), f);
    const numZ = numericGradient(data(z), f);
    f();
    const dx = ref.alloc([4 * 64]);
    const dz = ref.alloc([n, layout.gateWidth]);
    ref.mixtureBackward(x, g, ref.upload(r, [2 * 64]), dx, dz, layout);
    for (let e = 0; e < 4; e++) {
      const rows = (a: ArrayLike<number>): number[] => Array.from(a).slice(e * 64, e * 64 + n * 3);
      assertGradClose(Float32Array.from(rows(data(dx))), Float64Array.from(rows(numX)), `dx expert ${e}`);
    }
    assertGradClose(data(dz), numZ, 'dz');
  });

  it('embedding: dTable = Σ over the rows that picked each table row of dOut (repeated indices add up), += the gradient there', () => {
    const rng = new Rng(14);
    const layout = new EmbeddingLayout([{ column: 2, vocab: 3, dim: 2 }, { column: 0, vocab: 5, dim: 3 }], 4);
    const n = 6;
    const xs = randomArray(rng, n * 4);
    // Field 0 (vocab 3) repeats its rows; row 4 of field 1 is picked twice, index 0 and the last index appear.
    [0, 2, 2, 1, 0, 2].forEach((v, i) => (xs[i * 4 + 2] = v));
    [4, 0, 4, 1, 3, 2].forEach((v, i) => (xs[i * 4] = v));
    const x = ref.upload(xs, [n, 4]);
    const table = ref.upload(randomArray(rng, layout.tableSize), [layout.tableSize]);
    const out = ref.alloc([n, layout.outWidth]);
    const r = randomArray(rng, n * layout.outWidth);
    const f = (): number => {
      ref.embeddingForward(x, table, out, layout);
      return dot(data(out), r);
    };
    const start = randomArray(rng, layout.tableSize);
    assertGradients({ dTable: data(table) }, f, () => {
      const dTable = ref.upload(Float32Array.from(start), [layout.tableSize]);
      ref.embeddingBackward(x, ref.upload(r, [n, layout.outWidth]), dTable, layout);
      return { dTable: data(dTable).map((v, i) => v - start[i]) };
    });
  });

  const kinds: [LossSegment['kind'], number][] = [
    ['softmax-ce', 4],
    ['bce', 1],
    ['bce', 3],
    ['mse', 2],
    ['l1', 3],
    ['smooth-l1', 3],
    ['gce:q=0.4', 5],
    ['gce:q=1', 2],
    ['sce:alpha=0.3,beta=0.7', 3],
    ['bootstrap-soft:beta=0.6', 4],
    ['bootstrap-hard:beta=0.7', 3],
    ['label-smoothing:epsilon=0.2', 4],
    ['distill', 3],
    ['distill:temperature=0.7', 4],
  ];
  for (const masked of [false, true]) {
    it(`multi-loss, every kind at once (the noise-robust ones and distill with non-default parameters)${masked ? ', with a label mask' : ''}: dlogits = ∂(Σ w_t·L_t)/∂z`, () => {
      const rng = new Rng(masked ? 21 : 20);
      const n = 5;
      let out = 0;
      let tgt = 0;
      const segs = kinds.map(([kind, width]) => {
        const s = { kind, outOffset: out, outWidth: width, tgtOffset: tgt };
        out += width;
        tgt += isClassLoss(parseLoss(kind).kind) ? 1 : width;
        return s;
      });
      const layout = new LossLayout(segs);
      const T = layout.tasks;
      const targets = new Float32Array(n * tgt);
      segs.forEach((s, t) => {
        for (let i = 0; i < n; i++) {
          if (isSoftTargetLoss(layout.losses[t].kind)) {
            // distill: a probability vector with one entry exactly 0.
            const q = Array.from({ length: s.outWidth }, (_, j) => (j === i % s.outWidth ? 0 : 0.1 + rng.uniform()));
            const sum = q.reduce((a, v) => a + v, 0);
            q.forEach((v, j) => (targets[i * tgt + s.tgtOffset + j] = v / sum));
            continue;
          }
          for (let j = 0; j < layout.tgtWidth(t); j++) {
            // Regression targets kept away from the logits so |z − y| never sits at a kink.
            targets[i * tgt + s.tgtOffset + j] =
              layout.tgtWidth(t) === 1 && isClassLoss(layout.losses[t].kind) ? rng.int(s.outWidth) : s.kind === 'bce' ? rng.int(2) : 5 + 2 * rng.uniform();
          }
        }
      });
      const logits = ref.upload(randomArray(rng, n * out, -2, 2), [n, out]);
      const tgts = ref.upload(targets, [n, tgt]);
      const maskData = new Float32Array(n * T).map((_, i) => (masked ? (i % 3 === 0 ? 0 : 1) : 1));
      const mask = masked ? ref.upload(maskData, [n, T]) : null;
      const weights = ref.upload(randomArray(rng, T, 0.5, 2), [T]);
      const losses = ref.alloc([T]);
      const dlogits = ref.alloc([n, out]);
      const f = (): number => {
        ref.multiLoss(logits, tgts, mask, weights, layout, losses, dlogits);
        return dot(data(losses), data(weights));
      };
      const num = numericGradient(data(logits), f);
      f();
      assertGradClose(data(dlogits), num, 'dlogits');
      if (masked) {
        for (let i = 0; i < n; i++) {
          for (let t = 0; t < T; t++) {
            if (maskData[i * T + t] !== 0) continue;
            for (let j = 0; j < segs[t].outWidth; j++) assert.equal(data(dlogits)[i * out + segs[t].outOffset + j], 0);
          }
        }
      }
    });
  }
});
