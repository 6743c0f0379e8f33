/**
 * The fused multi-task loss (multiLoss) on every backend present against the reference: every
 * loss kind alone and mixed, batches 1 to 255, with and without a label mask; a class index out
 * of range as LabelError; and a NaN logit making its own task's loss NaN, and only that one.
 */
import assert from 'node:assert/strict';
import { LossLayout, type LossSegment } from '../../../ts/backends/backend.js';
import { Rng } from '../../../ts/core/random.js';
import { LabelError } from '../../../ts/errors.js';
import { ELEMENTWISE, compareOp, describeParity, nanAt, randomArray, withNaN } from '../harness.js';

await describeParity('loss', ({ name, b, it }) => {
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
  it('rejects a class index out of range with LabelError (GPU backends: at the next sync, once)', async () => {
    const layout = new LossLayout([{ kind: 'softmax-ce', outOffset: 0, outWidth: 3, tgtOffset: 0 }]);
    const be = b();
    const args = [be.alloc([2, 3]), be.upload(new Float32Array([0, 3]), [2, 1]), null, be.upload(new Float32Array([1]), [1]), layout, be.alloc([1]), be.alloc([2, 3])] as const;
    if (name !== 'cpu') {
      // GPU backends: the targets live on the device, the kernel flags the label and the
      // next sync throws it (once).
      be.multiLoss(...args);
      await assert.rejects(be.sync(), (e: Error) => e instanceof LabelError && /task 0 sample 1 has class 3/.test(e.message));
      await be.sync();
    } else {
      assert.throws(() => be.multiLoss(...args), LabelError);
    }
  });

  describe('NaN in, NaN out', () => {
    it('multiLoss: a NaN logit makes its task\'s loss NaN, and only that task\'s', async () => {
      const layout = new LossLayout([
        { kind: 'softmax-ce', outOffset: 0, outWidth: 4, tgtOffset: 0 },
        { kind: 'bce', outOffset: 4, outWidth: 2, tgtOffset: 1 },
        { kind: 'mse', outOffset: 6, outWidth: 3, tgtOffset: 3 },
        { kind: 'l1', outOffset: 9, outWidth: 1, tgtOffset: 6 },
        { kind: 'smooth-l1', outOffset: 10, outWidth: 2, tgtOffset: 7 },
      ]);
      const n = 6;
      const T = layout.tasks;
      const rng = new Rng(57);
      const targets = new Float32Array(n * layout.totalTgt).map((_, i) => (i % layout.totalTgt === 0 ? i % 4 : rng.int(2)));
      for (const [task, column] of [
        [0, 2],
        [1, 5],
        [2, 7],
        [3, 9],
        [4, 11],
      ]) {
        const { losses, dlogits } = await compareOp(b(), {
          what: `multiLoss with a NaN logit in task ${task}`,
          inputs: {
            logits: { data: withNaN(randomArray(rng, n * layout.totalOut, -3, 3), [3 * layout.totalOut + column]), shape: [n, layout.totalOut] },
            targets: { data: targets, shape: [n, layout.totalTgt] },
            weights: { data: Float32Array.from([1, 0.5, 2, 1, 1]), shape: [T] },
          },
          outputs: {
            losses: { data: new Float32Array(T), shape: [T], tol: { atol: 1e-5, rtol: 1e-5 } },
            dlogits: { data: new Float32Array(n * layout.totalOut), shape: [n, layout.totalOut], tol: ELEMENTWISE },
          },
          op: (be, t) => be.multiLoss(t.logits, t.targets, null, t.weights, layout, t.losses, t.dlogits),
        });
        nanAt(losses, [task], 'multiLoss losses');
        assert.ok(Array.from(losses).every((l, t) => t === task || Number.isFinite(l)), `losses ${Array.from(losses).join(', ')}`);
        nanAt(dlogits, [3 * layout.totalOut + column], 'multiLoss dlogits');
      }
    });
  });
});
