/**
 * Every kernel of every backend against the reference, on random shapes including the awkward
 * sizes 1, 3, 17, 255, 1000. Tolerances are stated per op: f32 sums of k products carry
 * rounding that grows with k, so GEMM-like ops allow atol = 2e-6·k; elementwise ops allow a few
 * ulps; dropout masks must match exactly.
 */
import assert from 'node:assert/strict';
import {
  ACTIVATIONS,
  type Activation,
  type Backend,
  HeadLayout,
  LossLayout,
  type LossSegment,
  MixtureLayout,
} from '../../ts/backends/backend.js';
import { Rng } from '../../ts/core/random.js';
import { LabelError, ShapeError } from '../../ts/errors.js';
import { AWKWARD, type Tol, backendsUnderTest, compareOp, randomArray } from './harness.js';

const backends = await backendsUnderTest();

const ELEMENTWISE: Tol = { atol: 1e-6, rtol: 1e-5 };
const gemmTol = (k: number): Tol => ({ atol: 2e-6 * k + 1e-6, rtol: 1e-4 });

/** [m, n, k] triples covering the awkward sizes in every position. */
const GEMM_SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [1, 3, 17],
  [3, 17, 1],
  [17, 1, 3],
  [255, 17, 3],
  [3, 255, 17],
  [17, 3, 255],
  [1000, 17, 3],
  [3, 1000, 17],
  [17, 3, 1000],
  [255, 255, 255],
  [1000, 255, 17],
  [64, 1000, 255],
  [256, 20, 256],
  // tiny outputs over a long k (Gram matrices of per-task gradients): the dot-product path
  [1, 1, 4096],
  [2, 2, 50000],
  [3, 17, 40000],
  [8, 8, 8193],
];

for (const { name, backend, skip } of backends) {
  describe(`parity: ${name} vs reference`, function () {
    before(function () {
      if (!backend) {
        console.log(`      skipped: ${skip}`);
        this.skip();
      }
    });
    const b = (): Backend => backend!;

    describe('gemm', () => {
      GEMM_SHAPES.forEach(([m, n, k], idx) => {
        for (const [transA, transB] of [
          [false, false],
          [false, true],
          [true, false],
          [true, true],
        ] as const) {
          it(`${m}×${n}×${k} transA=${transA} transB=${transB}`, async () => {
            const rng = new Rng(1000 + idx);
            await compareOp(b(), {
              what: 'gemm',
              inputs: {
                a: { data: randomArray(rng, m * k), shape: transA ? [k, m] : [m, k] },
                b: { data: randomArray(rng, k * n), shape: transB ? [n, k] : [k, n] },
              },
              outputs: { c: { data: new Float32Array(m * n).fill(NaN), shape: [m, n], tol: gemmTol(k) } },
              op: (be, t) => be.gemm(t.a, t.b, t.c, { transA, transB }),
            });
          });
        }
      });
      for (const activation of ACTIVATIONS) {
        it(`epilogue: alpha, beta, bias, ${activation}`, async () => {
          const rng = new Rng(7);
          const [m, n, k] = [37, 255, 129];
          await compareOp(b(), {
            what: `gemm+${activation}`,
            inputs: {
              a: { data: randomArray(rng, m * k), shape: [m, k] },
              b: { data: randomArray(rng, k * n), shape: [n, k] },
              bias: { data: randomArray(rng, n), shape: [n] },
            },
            outputs: { c: { data: randomArray(rng, m * n), shape: [m, n], tol: gemmTol(k) } },
            op: (be, t) => be.gemm(t.a, t.b, t.c, { transB: true, alpha: 0.75, beta: 0.5, bias: t.bias, activation }),
          });
        });
      }
      it('rejects mismatched shapes with ShapeError before running', () => {
        const a = b().alloc([3, 4]);
        const bb = b().alloc([5, 6]);
        const c = b().alloc([3, 6]);
        assert.throws(() => b().gemm(a, bb, c), ShapeError);
        assert.throws(() => b().gemm(a, b().alloc([4, 6]), c, { bias: b().alloc([5]) }), ShapeError);
      });
    });

    describe('elementwise', () => {
      for (const kind of ACTIVATIONS) {
        for (const n of AWKWARD) {
          it(`activation ${kind} forward + backward, ${n} elements`, async () => {
            const rng = new Rng(n);
            const x = randomArray(rng, n, -4, 4);
            const { y } = await compareOp(b(), {
              what: `${kind} forward`,
              inputs: { x: { data: x, shape: [n] } },
              outputs: { y: { data: new Float32Array(n), shape: [n], tol: ELEMENTWISE } },
              op: (be, t) => be.activationForward(kind, t.x, t.y),
            });
            await compareOp(b(), {
              what: `${kind} backward`,
              inputs: {
                x: { data: x, shape: [n] },
                y: { data: Float32Array.from(y), shape: [n] },
                dy: { data: randomArray(rng, n), shape: [n] },
              },
              outputs: { dx: { data: new Float32Array(n), shape: [n], tol: ELEMENTWISE } },
              op: (be, t) => be.activationBackward(kind, t.y, t.dy, t.dx, t.x),
            });
          });
        }
      }
      for (const [rows, cols] of [
        [1, 1],
        [3, 17],
        [1000, 3],
        [255, 1000],
        [17, 255],
      ]) {
        it(`biasGrad accumulates over ${rows}×${cols}`, async () => {
          const rng = new Rng(rows * cols);
          await compareOp(b(), {
            what: 'biasGrad',
            inputs: { dy: { data: randomArray(rng, rows * cols), shape: [rows, cols] } },
            outputs: { db: { data: randomArray(rng, cols), shape: [cols], tol: gemmTol(rows) } },
            op: (be, t) => be.biasGrad(t.dy, t.db),
          });
        });
      }
      for (const n of AWKWARD) {
        it(`mul, add and dropout (exact masks), ${n} elements`, async () => {
          const rng = new Rng(n + 1);
          await compareOp(b(), {
            what: 'mul',
            inputs: { a: { data: randomArray(rng, n), shape: [n] }, b: { data: randomArray(rng, n), shape: [n] } },
            outputs: { out: { data: new Float32Array(n), shape: [n], tol: ELEMENTWISE } },
            op: (be, t) => be.mul(t.a, t.b, t.out),
          });
          await compareOp(b(), {
            what: 'add',
            inputs: { a: { data: randomArray(rng, n), shape: [n] }, b: { data: randomArray(rng, n), shape: [n] } },
            outputs: { out: { data: new Float32Array(n), shape: [n], tol: ELEMENTWISE } },
            op: (be, t) => be.add(t.a, t.b, t.out),
          });
          for (const p of [0, 0.1, 0.5]) {
            await compareOp(b(), {
              what: `dropout p=${p}`,
              inputs: { x: { data: randomArray(rng, n), shape: [n] } },
              outputs: {
                y: { data: new Float32Array(n), shape: [n], tol: ELEMENTWISE },
                mask: { data: new Float32Array(n), shape: [n], tol: { atol: 0, rtol: 0 } },
              },
              op: (be, t) => be.dropoutForward(t.x, t.y, t.mask, p, 12345 + n),
            });
          }
        });
      }
    });

    describe('GradDrop', () => {
      for (const [T, M] of [
        [1, 1],
        [2, 17],
        [3, 1000],
        [8, 255],
        [2, 70000],
      ]) {
        it(`${T} tasks × ${M} elements, leak 0 and 0.3 (the same keep decisions)`, async () => {
          const rng = new Rng(T * 1000 + M);
          const g = randomArray(rng, T * M);
          for (const leak of [0, 0.3]) {
            await compareOp(b(), {
              what: `gradDrop leak=${leak}`,
              inputs: { g: { data: g, shape: [T, M] } },
              outputs: { out: { data: new Float32Array(M).fill(NaN), shape: [M], tol: { atol: 1e-7, rtol: 1e-6 } } },
              op: (be, t) => be.gradDrop(t.g, t.out, 4242 + M, leak),
            });
          }
        });
      }
    });

    describe('gated mixture of experts', () => {
      const stride = (n: number, d: number): number => Math.ceil((n * d) / 64) * 64;
      const cases: [string, number[][], number, number][] = [
        ['1 task, 1 expert, width 1', [[0]], 1, 1],
        ['MMoE: 2 tasks over 3 experts, width 17', [[0, 1, 2], [0, 1, 2]], 3, 17],
        ['CGC: 3 tasks, 2 shared + 1 own expert each, width 3', [[0, 1, 2], [0, 1, 3], [0, 1, 4]], 5, 3],
        ['8 tasks over 8 experts in scrambled orders, width 10', Array.from({ length: 8 }, (_, t) => [t, (t + 3) % 8, (t + 5) % 8]), 8, 10],
      ];
      for (const [label, lists, E, D] of cases) {
        for (const n of [1, 17, 255]) {
          it(`${label}, batch ${n}: forward and backward`, async () => {
            const layout = new MixtureLayout(lists, E, D, stride(255, D), stride(255, D) + 64);
            const rng = new Rng(E * 100 + D + n);
            const x = randomArray(rng, E * layout.expertStride);
            const z = randomArray(rng, n * layout.gateWidth, -3, 3);
            const { g } = await compareOp(b(), {
              what: 'mixtureForward',
              inputs: { x: { data: x, shape: [E * layout.expertStride] }, z: { data: z, shape: [n, layout.gateWidth] } },
              outputs: {
                g: { data: new Float32Array(n * layout.gateWidth).fill(NaN), shape: [n, layout.gateWidth], tol: ELEMENTWISE },
                out: { data: randomArray(rng, lists.length * layout.outStride), shape: [lists.length * layout.outStride], tol: gemmTol(E) },
              },
              op: (be, t) => be.mixtureForward(t.x, t.z, t.g, t.out, layout),
            });
            await compareOp(b(), {
              what: 'mixtureBackward',
              inputs: {
                x: { data: x, shape: [E * layout.expertStride] },
                g: { data: Float32Array.from(g), shape: [n, layout.gateWidth] },
                dOut: { data: randomArray(rng, lists.length * layout.outStride), shape: [lists.length * layout.outStride] },
              },
              outputs: {
                dx: { data: randomArray(rng, E * layout.expertStride), shape: [E * layout.expertStride], tol: gemmTol(lists.length) },
                dz: { data: new Float32Array(n * layout.gateWidth).fill(NaN), shape: [n, layout.gateWidth], tol: gemmTol(D) },
              },
              op: (be, t) => be.mixtureBackward(t.x, t.g, t.dOut, t.dx, t.dz, layout),
            });
          });
        }
      }
    });

    describe('fused heads', () => {
      const layouts: [string, HeadLayout][] = [
        ['1 task, shared 1→1', new HeadLayout('shared', [1], [1])],
        ['2 tasks, shared 256→10', new HeadLayout('shared', [256, 256], [10, 10])],
        ['3 tasks, shared 17→(3,1,255)', new HeadLayout('shared', [17, 17, 17], [3, 1, 255])],
        ['8 tasks, shared 255→10', new HeadLayout('shared', Array(8).fill(255), Array(8).fill(10))],
        ['3 tasks, segmented (17,3,50)→(10,1,3)', new HeadLayout('segmented', [17, 3, 50], [10, 1, 3])],
        ['2 tasks, segmented (1000,1)→(17,255)', new HeadLayout('segmented', [1000, 1], [17, 255])],
        ['3 tasks, stacked 17→(10,1,3), stride 255·17 padded', new HeadLayout('stacked', [17, 17, 17], [10, 1, 3], 4352)],
        ['2 tasks, stacked 3→(255,17), stride 768', new HeadLayout('stacked', [3, 3], [255, 17], 768)],
      ];
      for (const [label, layout] of layouts) {
        for (const n of [1, 17, 255]) {
          it(`${label}, batch ${n}: forward, backward, per-task dx`, async () => {
            const rng = new Rng(n * 31 + layout.totalOut);
            const xShape = layout.input === 'stacked' ? [layout.tasks, layout.stride] : [n, layout.totalIn];
            const x = randomArray(rng, layout.inputSize(n));
            const w = randomArray(rng, layout.weightSize, -0.5, 0.5);
            const bias = randomArray(rng, layout.totalOut);
            const k = Math.max(...layout.inSizes);
            for (const activation of ['none', 'relu'] as Activation[]) {
              await compareOp(b(), {
                what: `headsForward ${activation}`,
                inputs: {
                  x: { data: x, shape: xShape },
                  w: { data: w, shape: [layout.weightSize] },
                  b: { data: bias, shape: [layout.totalOut] },
                },
                outputs: { y: { data: new Float32Array(n * layout.totalOut), shape: [n, layout.totalOut], tol: gemmTol(k) } },
                op: (be, t) => be.headsForward(t.x, t.w, t.b, t.y, layout, activation),
              });
            }
            const outputs: Parameters<typeof compareOp>[1]['outputs'] = {
              dx: { data: randomArray(rng, layout.inputSize(n)), shape: xShape, tol: gemmTol(layout.totalOut) },
              dw: { data: randomArray(rng, layout.weightSize), shape: [layout.weightSize], tol: gemmTol(n) },
              db: { data: randomArray(rng, layout.totalOut), shape: [layout.totalOut], tol: gemmTol(n) },
            };
            if (layout.sharedInput) {
              outputs.per = {
                data: new Float32Array(layout.tasks * n * layout.totalIn),
                shape: [layout.tasks, n, layout.totalIn],
                tol: gemmTol(layout.totalOut),
              };
            }
            await compareOp(b(), {
              what: 'headsBackward',
              inputs: {
                x: { data: x, shape: xShape },
                w: { data: w, shape: [layout.weightSize] },
                dy: { data: randomArray(rng, n * layout.totalOut), shape: [n, layout.totalOut] },
              },
              outputs,
              op: (be, t) => be.headsBackward(t.x, t.w, t.dy, t.dx, t.dw, t.db, layout, t.per ?? null),
            });
          });
        }
      }
    });

    describe('fused multi-loss', () => {
      /** Builds a layout of the given kinds/widths plus matching random logits and targets. */
      function lossCase(rng: Rng, n: number, kinds: [LossSegment['kind'], number][]) {
        let out = 0;
        let tgt = 0;
        const segs: LossSegment[] = kinds.map(([kind, width]) => {
          const s = { kind, outOffset: out, outWidth: width, tgtOffset: tgt };
          out += width;
          tgt += kind === 'softmax-ce' ? 1 : width;
          return s;
        });
        const layout = new LossLayout(segs);
        const targets = new Float32Array(n * tgt);
        for (let i = 0; i < n; i++) {
          segs.forEach((s, t) => {
            const w = layout.tgtWidth(t);
            for (let j = 0; j < w; j++) {
              targets[i * tgt + s.tgtOffset + j] =
                s.kind === 'softmax-ce'
                  ? rng.int(s.outWidth)
                  : s.kind === 'bce'
                    ? rng.int(2)
                    : rng.uniform() * 4 - 2;
            }
          });
        }
        return { layout, logits: randomArray(rng, n * out, -3, 3), targets };
      }
      const mixes: [string, [LossSegment['kind'], number][]][] = [
        ['softmax-ce 2 tasks ×10', [['softmax-ce', 10], ['softmax-ce', 10]]],
        ['softmax-ce 1000 classes', [['softmax-ce', 1000]]],
        ['bce binary + multi-label 17', [['bce', 1], ['bce', 17]]],
        ['mse, l1, smooth-l1', [['mse', 3], ['l1', 1], ['smooth-l1', 17]]],
        ['all kinds', [['softmax-ce', 3], ['bce', 1], ['bce', 255], ['mse', 1], ['l1', 17], ['smooth-l1', 3]]],
      ];
      for (const [label, kinds] of mixes) {
        for (const n of [1, 3, 17, 255]) {
          for (const masked of [false, true]) {
            it(`${label}, batch ${n}${masked ? ', masked' : ''}`, async () => {
              const rng = new Rng(n * 7 + kinds.length + (masked ? 1 : 0));
              const { layout, logits, targets } = lossCase(rng, n, kinds);
              const T = layout.tasks;
              const inputs: Parameters<typeof compareOp>[1]['inputs'] = {
                logits: { data: logits, shape: [n, layout.totalOut] },
                targets: { data: targets, shape: [n, layout.totalTgt] },
                weights: { data: randomArray(rng, T, 0.1, 2), shape: [T] },
              };
              if (masked) {
                const mask = new Float32Array(n * T).map(() => (rng.uniform() < 0.6 ? 1 : 0));
                for (let i = 0; i < n; i++) mask[i * T + T - 1] = 0; // the last task has no label at all
                inputs.mask = { data: mask, shape: [n, T] };
              }
              await compareOp(b(), {
                what: 'multiLoss',
                inputs,
                outputs: {
                  losses: { data: new Float32Array(T).fill(NaN), shape: [T], tol: { atol: 1e-5, rtol: 1e-5 } },
                  dlogits: { data: new Float32Array(n * layout.totalOut).fill(NaN), shape: [n, layout.totalOut], tol: ELEMENTWISE },
                },
                op: (be, t) => be.multiLoss(t.logits, t.targets, t.mask ?? null, t.weights, layout, t.losses, t.dlogits),
              });
            });
          }
        }
      }
      it('rejects a class index out of range with LabelError', () => {
        const layout = new LossLayout([{ kind: 'softmax-ce', outOffset: 0, outWidth: 3, tgtOffset: 0 }]);
        const be = b();
        const args = [be.alloc([2, 3]), be.upload(new Float32Array([0, 3]), [2, 1]), null, be.upload(new Float32Array([1]), [1]), layout, be.alloc([1]), be.alloc([2, 3])] as const;
        assert.throws(() => be.multiLoss(...args), LabelError);
      });
    });

    describe('optimizers', () => {
      for (const n of AWKWARD) {
        it(`sgd (momentum, nesterov, decay) and adamw over ${n} parameters`, async () => {
          const rng = new Rng(n + 99);
          const p = randomArray(rng, n);
          const g = randomArray(rng, n);
          const m = randomArray(rng, n, -0.1, 0.1);
          const v = randomArray(rng, n, 0, 0.1);
          for (const nesterov of [false, true]) {
            await compareOp(b(), {
              what: `sgd nesterov=${nesterov}`,
              inputs: { g: { data: g, shape: [n] } },
              outputs: {
                p: { data: p, shape: [n], tol: ELEMENTWISE },
                m: { data: m, shape: [n], tol: ELEMENTWISE },
              },
              op: (be, t) => be.sgdStep(t.p, t.g, t.m, { lr: 0.1, momentum: 0.9, weightDecay: 1e-3, nesterov }),
            });
          }
          for (const step of [1, 7]) {
            await compareOp(b(), {
              what: `adamw step ${step}`,
              inputs: { g: { data: g, shape: [n] } },
              outputs: {
                p: { data: p, shape: [n], tol: ELEMENTWISE },
                m: { data: m, shape: [n], tol: ELEMENTWISE },
                v: { data: v, shape: [n], tol: ELEMENTWISE },
              },
              op: (be, t) => be.adamwStep(t.p, t.g, t.m, t.v, { lr: 1e-2, weightDecay: 0.05, step }),
            });
          }
        });
      }
    });

    describe('tensors', () => {
      it('upload, write at an offset, view, fill, copy and read round-trip', async () => {
        const be = b();
        const t = be.upload(new Float32Array(200).map((_, i) => i), [200]);
        be.write(t, new Float32Array([-1, -2]), 64);
        const v = be.view(t, 64, [2, 3]);
        assert.deepEqual(Array.from(await be.read(v)), [-1, -2, 66, 67, 68, 69]);
        be.fill(v, 5);
        const c = be.alloc([6]);
        be.copy(v, c);
        const into = new Float32Array(6);
        assert.equal(await be.read(c, into), into);
        assert.deepEqual(Array.from(into), [5, 5, 5, 5, 5, 5]);
        assert.equal((await be.read(t))[63], 63);
        assert.equal((await be.read(t))[70], 70);
        assert.throws(() => be.view(t, 3, [2]), ShapeError);
        assert.throws(() => be.write(t, new Float32Array(10), 195), ShapeError);
      });
    });
  });
}
