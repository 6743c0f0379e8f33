/**
 * The fused multi-task loss (multiLoss) on every backend present against the reference: every
 * loss kind alone and mixed, batches 1 to 255, with and without a label mask; the noise-robust
 * class kinds (gce, sce, bootstrap-soft, bootstrap-hard, label-smoothing) at default and edge
 * parameters over 2, 3, 10 and 17 classes and batches 1 to 1000; a class index out of range as
 * LabelError; and a NaN logit making its own task's loss NaN, and only that one. The soft-target
 * distill kind (LwF) at T 0.5 .. 10 over 2 to 17 classes, 0 with a zero gradient at q = softmax(z/T),
 * a NaN soft target giving NaN. perSampleLosses
 * (each sample's loss per task, no gradient) over the same mixes on every backend, its masked
 * column means equal to multiLoss's losses, NaN confined to its row and task, and LabelError.
 * On cpu, multiLoss gives the same bits on 1 and 2 threads (its rows are summed in fixed chunks).
 */
import assert from 'node:assert/strict';
import { LossLayout, type LossSegment, isClassLoss, isSoftTargetLoss, parseLoss } from '../../../ts/backends/backend.js';
import { CpuBackend } from '../../../ts/backends/cpu.js';
import { Rng } from '../../../ts/core/random.js';
import { LabelError, ShapeError } from '../../../ts/errors.js';
import { ELEMENTWISE, compareOp, describeParity, nanAt, randomArray, withNaN } from '../harness.js';

await describeParity('loss', ({ name, b, it }) => {
  /** Builds a layout of the given kinds/widths plus matching random logits and targets. */
  function lossCase(rng: Rng, n: number, kinds: [LossSegment['kind'], number][]) {
    let out = 0;
    let tgt = 0;
    const segs: LossSegment[] = kinds.map(([kind, width]) => {
      const s = { kind, outOffset: out, outWidth: width, tgtOffset: tgt };
      out += width;
      tgt += isClassLoss(parseLoss(kind).kind) ? 1 : width;
      return s;
    });
    const layout = new LossLayout(segs);
    const targets = new Float32Array(n * tgt);
    for (let i = 0; i < n; i++) {
      segs.forEach((s, t) => {
        const w = layout.tgtWidth(t);
        if (isSoftTargetLoss(layout.losses[t].kind)) {
          // distill: a probability vector, about a quarter of its entries exactly 0.
          const q = Array.from({ length: w }, () => (rng.uniform() < 0.25 ? 0 : rng.uniform()));
          const sum = q.reduce((a, v) => a + v, 0) || 1;
          q.forEach((v, j) => (targets[i * tgt + s.tgtOffset + j] = v / sum));
          return;
        }
        for (let j = 0; j < w; j++) {
          targets[i * tgt + s.tgtOffset + j] =
            isClassLoss(layout.losses[t].kind)
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
    ['all kinds', [['softmax-ce', 3], ['bce', 1], ['bce', 255], ['mse', 1], ['l1', 17], ['smooth-l1', 3], ['gce', 10], ['label-smoothing', 2], ['distill', 4]]],
    ['distill, T 2 / 1 / 0.5 / 10 over 2/3/10/17 classes', [['distill', 2], ['distill:temperature=1', 3], ['distill:temperature=0.5', 10], ['distill:temperature=10', 17]]],
    ['noise-robust, defaults, 2/3/10/17 classes', [['gce', 2], ['sce', 3], ['bootstrap-soft', 10], ['bootstrap-hard', 17], ['label-smoothing', 3]]],
    [
      'noise-robust, edge parameters',
      [['gce:q=1', 17], ['gce:q=0.01', 3], ['sce:alpha=0,beta=2.5', 10], ['bootstrap-soft:beta=0', 2], ['bootstrap-hard:beta=0.3', 10], ['label-smoothing:epsilon=1', 17]],
    ],
    // 31 tasks: two launches on webgpu (28 tasks each at most), parameters kept apart per task.
    ['31 tasks, every kind', Array.from({ length: 31 }, (_, t): [LossSegment['kind'], number] => {
      const kinds: LossSegment['kind'][] = ['gce:q=0.3', 'sce:alpha=0.5,beta=0.5', 'bootstrap-soft:beta=0.5', 'bootstrap-hard', 'label-smoothing:epsilon=0.3', 'softmax-ce', 'mse', 'distill:temperature=3'];
      return [kinds[t % kinds.length], 2 + (t % 4)];
    })],
  ];
  for (const [label, kinds] of mixes) {
    for (const n of label.startsWith('noise-robust') ? [1, 3, 17, 255, 1000] : [1, 3, 17, 255]) {
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
  // perSampleLosses: the same mixes, every backend against the reference, masked and not.
  for (const [label, kinds] of mixes) {
    for (const n of label.startsWith('noise-robust') ? [1, 17, 1000] : [1, 17, 255]) {
      for (const masked of [false, true]) {
        it(`perSampleLosses: ${label}, batch ${n}${masked ? ', masked' : ''}`, async () => {
          const rng = new Rng(n * 11 + kinds.length + (masked ? 1 : 0));
          const { layout, logits, targets } = lossCase(rng, n, kinds);
          const T = layout.tasks;
          const inputs: Parameters<typeof compareOp>[1]['inputs'] = {
            logits: { data: logits, shape: [n, layout.totalOut] },
            targets: { data: targets, shape: [n, layout.totalTgt] },
          };
          const mask = masked ? new Float32Array(n * T).map(() => (rng.uniform() < 0.6 ? 1 : 0)) : null;
          if (mask) inputs.mask = { data: mask, shape: [n, T] };
          const { out } = await compareOp(b(), {
            what: 'perSampleLosses',
            inputs,
            outputs: { out: { data: new Float32Array(n * T).fill(NaN), shape: [n, T], tol: { atol: 1e-5, rtol: 1e-5 } } },
            op: (be, t) => be.perSampleLosses(t.logits, t.targets, t.mask ?? null, layout, t.out),
          });
          if (mask) assert.ok(mask.every((m, k) => m !== 0 || out[k] === 0), 'an unlabelled entry is 0');
        });
      }
    }
  }

  it('perSampleLosses: the masked mean of each column is multiLoss\'s task loss, for every kind', async () => {
    const rng = new Rng(91);
    const n = 37;
    const { layout, logits, targets } = lossCase(rng, n, mixes.find(([l]) => l === 'all kinds')![1].concat(mixes[5][1]));
    const T = layout.tasks;
    const mask = new Float32Array(n * T).map(() => (rng.uniform() < 0.7 ? 1 : 0));
    const be = b();
    const [Z, Y, M] = [be.upload(logits, [n, layout.totalOut]), be.upload(targets, [n, layout.totalTgt]), be.upload(mask, [n, T])];
    const out = be.alloc([n, T]);
    const losses = be.alloc([T]);
    be.perSampleLosses(Z, Y, M, layout, out);
    be.multiLoss(Z, Y, M, be.upload(new Float32Array(T).fill(1), [T]), layout, losses, be.alloc([n, layout.totalOut]));
    const [o, l] = [await be.read(out), await be.read(losses)];
    for (let t = 0; t < T; t++) {
      let sum = 0;
      let count = 0;
      for (let i = 0; i < n; i++) {
        sum += o[i * T + t];
        count += mask[i * T + t];
      }
      const mean = sum / Math.max(1, count);
      assert.ok(Math.abs(mean - l[t]) <= 1e-5 * (1 + Math.abs(l[t])), `task ${t} (${layout.losses[t].kind}): mean ${mean} vs multiLoss ${l[t]}`);
    }
  });

  it('perSampleLosses: a layout of one task over the whole logits (totals) gives that task\'s column', async () => {
    const rng = new Rng(23);
    const n = 40;
    const { layout, logits, targets } = lossCase(rng, n, mixes[5][1]);
    const T = layout.tasks;
    const be = b();
    const [Z, Y] = [be.upload(logits, [n, layout.totalOut]), be.upload(targets, [n, layout.totalTgt])];
    const all = be.alloc([n, T]);
    be.perSampleLosses(Z, Y, null, layout, all);
    const full = await be.read(all);
    for (const t of [1, 3]) {
      const one = new LossLayout([{ ...layout.segments[t], kind: layout.losses[t].name }], { out: layout.totalOut, tgt: layout.totalTgt });
      const col = be.alloc([n, 1]);
      be.perSampleLosses(Z, Y, null, one, col);
      const got = await be.read(col);
      for (let i = 0; i < n; i++) assert.equal(got[i], full[i * T + t], `task ${t} row ${i}`);
    }
    assert.throws(() => new LossLayout(layout.segments, { out: layout.totalOut - 1, tgt: layout.totalTgt }), RangeError);
  });

  it('perSampleLosses: a NaN logit makes exactly its row and task NaN', async () => {
    const rng = new Rng(5);
    const n = 9;
    const { layout, logits, targets } = lossCase(rng, n, mixes.find(([l]) => l === 'all kinds')![1].concat(mixes[5][1]));
    const T = layout.tasks;
    for (let t = 0; t < T; t++) {
      const row = (t * 5) % n;
      const col = row * layout.totalOut + layout.segments[t].outOffset + (t % layout.segments[t].outWidth);
      const { out } = await compareOp(b(), {
        what: `perSampleLosses with a NaN logit in task ${t}`,
        inputs: {
          logits: { data: withNaN(logits, [col]), shape: [n, layout.totalOut] },
          targets: { data: targets, shape: [n, layout.totalTgt] },
        },
        outputs: { out: { data: new Float32Array(n * T), shape: [n, T], tol: { atol: 1e-5, rtol: 1e-5 } } },
        op: (be, x) => be.perSampleLosses(x.logits, x.targets, null, layout, x.out),
      });
      nanAt(out, [row * T + t], 'perSampleLosses out');
    }
  });

  it('perSampleLosses: rejects a class index out of range with LabelError, and a wrong out shape with ShapeError', async () => {
    const layout = new LossLayout([{ kind: 'gce', outOffset: 0, outWidth: 3, tgtOffset: 0 }]);
    const be = b();
    const args = [be.alloc([2, 3]), be.upload(new Float32Array([0, 3]), [2, 1]), null, layout, be.alloc([2, 1])] as const;
    assert.throws(() => be.perSampleLosses(args[0], args[1], null, layout, be.alloc([3, 1])), ShapeError);
    if (name !== 'cpu') {
      be.perSampleLosses(...args);
      await assert.rejects(be.sync(), (e: Error) => e instanceof LabelError && /task 0 sample 1 has class 3/.test(e.message));
      await be.sync();
    } else {
      assert.throws(() => be.perSampleLosses(...args), (e: Error) => e instanceof LabelError && /perSampleLosses: task 0 sample 1 has class 3/.test(e.message));
    }
  });

  it('distill is 0 with a zero gradient where the targets are softmax(z/T) of the logits (LwF before any training)', async () => {
    const rng = new Rng(77);
    const n = 33;
    for (const [kind, C, T] of [['distill', 2, 2], ['distill:temperature=0.5', 10, 0.5], ['distill:temperature=7', 17, 7]] as const) {
      const layout = new LossLayout([{ kind, outOffset: 0, outWidth: C, tgtOffset: 0 }]);
      const logits = randomArray(rng, n * C, -4, 4);
      const q = new Float32Array(n * C);
      for (let i = 0; i < n; i++) {
        const e = Array.from(logits.subarray(i * C, (i + 1) * C), (z) => Math.exp(z / T));
        const sum = e.reduce((a, v) => a + v, 0);
        e.forEach((v, k) => (q[i * C + k] = v / sum));
      }
      const be = b();
      const losses = be.alloc([1]);
      const dl = be.alloc([n, C]);
      be.multiLoss(be.upload(logits, [n, C]), be.upload(q, [n, C]), null, be.upload(Float32Array.of(1), [1]), layout, losses, dl);
      const [l, g] = [await be.read(losses), await be.read(dl)];
      assert.ok(Math.abs(l[0]) < 1e-6, `${kind} over ${C}: loss ${l[0]}, expected 0`);
      const worst = g.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      assert.ok(worst < 1e-7, `${kind} over ${C}: largest |gradient| ${worst}, expected 0`);
      // A changed model (other logits) gives a positive loss: the test can fail.
      be.multiLoss(be.upload(logits.map((z) => z + rng.uniform() - 0.5), [n, C]), be.upload(q, [n, C]), null, be.upload(Float32Array.of(1), [1]), layout, losses, dl);
      assert.ok((await be.read(losses))[0] > 1e-4, `${kind}: a changed model has a positive loss`);
    }
  });

  it('distill: a NaN soft target makes its task\'s loss and its row\'s gradient NaN', async () => {
    const layout = new LossLayout([
      { kind: 'distill', outOffset: 0, outWidth: 3, tgtOffset: 0 },
      { kind: 'softmax-ce', outOffset: 3, outWidth: 2, tgtOffset: 3 },
    ]);
    const n = 4;
    const rng = new Rng(3);
    const targets = new Float32Array(n * 4).map((_, k) => (k % 4 === 3 ? k % 2 : 1 / 3));
    const { losses, dlogits } = await compareOp(b(), {
      what: 'multiLoss with a NaN soft target',
      inputs: {
        logits: { data: randomArray(rng, n * 5, -3, 3), shape: [n, 5] },
        targets: { data: withNaN(targets, [2 * 4 + 1]), shape: [n, 4] },
        weights: { data: Float32Array.of(1, 1), shape: [2] },
      },
      outputs: {
        losses: { data: new Float32Array(2), shape: [2], tol: { atol: 1e-5, rtol: 1e-5 } },
        dlogits: { data: new Float32Array(n * 5), shape: [n, 5], tol: ELEMENTWISE },
      },
      op: (be, t) => be.multiLoss(t.logits, t.targets, null, t.weights, layout, t.losses, t.dlogits),
    });
    nanAt(losses, [0], 'multiLoss losses');
    nanAt(dlogits, [10, 11, 12], 'multiLoss dlogits');
  });

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
        { kind: 'gce', outOffset: 12, outWidth: 3, tgtOffset: 9 },
        { kind: 'sce', outOffset: 15, outWidth: 3, tgtOffset: 10 },
        { kind: 'bootstrap-soft', outOffset: 18, outWidth: 3, tgtOffset: 11 },
        { kind: 'bootstrap-hard', outOffset: 21, outWidth: 3, tgtOffset: 12 },
        { kind: 'label-smoothing', outOffset: 24, outWidth: 3, tgtOffset: 13 },
        { kind: 'distill', outOffset: 27, outWidth: 3, tgtOffset: 14 },
      ]);
      const n = 6;
      const T = layout.tasks;
      const rng = new Rng(57);
      // Class targets: column 0 in [0, 4), columns 9 .. 13 in [0, 3); the rest 0 or 1.
      // Columns 14 .. 16: distill's soft targets (uniform).
      const targets = new Float32Array(n * layout.totalTgt).map((_, i) => (i % layout.totalTgt === 0 ? i % 4 : i % layout.totalTgt >= 14 ? 1 / 3 : i % layout.totalTgt >= 9 ? i % 3 : rng.int(2)));
      for (const [task, column] of [
        [0, 2],
        [1, 5],
        [2, 7],
        [3, 9],
        [4, 11],
        [5, 13],
        [6, 15],
        [7, 20],
        [8, 22],
        [9, 24],
        [10, 28],
      ]) {
        const { losses, dlogits } = await compareOp(b(), {
          what: `multiLoss with a NaN logit in task ${task}`,
          inputs: {
            logits: { data: withNaN(randomArray(rng, n * layout.totalOut, -3, 3), [3 * layout.totalOut + column]), shape: [n, layout.totalOut] },
            targets: { data: targets, shape: [n, layout.totalTgt] },
            weights: { data: Float32Array.from([1, 0.5, 2, 1, 1, 1, 0.5, 2, 1, 1, 0.5]), shape: [T] },
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

describe('multiLoss on cpu: the same bits on 1 and 2 threads', () => {
  it('W1\'s two 10-class heads over 256 rows (split across threads) give bit-identical losses and gradients', async () => {
    const rng = new Rng(23);
    const n = 256;
    const layout = new LossLayout([
      { kind: 'softmax-ce', outOffset: 0, outWidth: 10, tgtOffset: 0 },
      { kind: 'gce', outOffset: 10, outWidth: 10, tgtOffset: 1 },
    ]);
    const logits = randomArray(rng, n * 20, -3, 3);
    const targets = Float32Array.from({ length: n * 2 }, () => rng.int(10));
    const results = [];
    for (const threads of [1, 2]) {
      const be = new CpuBackend({ threads });
      try {
        const losses = be.alloc([2]);
        const dlogits = be.alloc([n, 20]);
        be.multiLoss(be.upload(logits, [n, 20]), be.upload(targets, [n, 2]), null, be.upload(Float32Array.from([1, 0.5]), [2]), layout, losses, dlogits);
        results.push({ losses: await be.read(losses), dlogits: await be.read(dlogits) });
      } finally {
        be.dispose();
      }
    }
    assert.deepEqual(results[1].losses, results[0].losses);
    assert.deepEqual(results[1].dlogits, results[0].dlogits);
    assert.ok(results[0].losses.every(Number.isFinite) && results[0].losses[0] > 0);
  });
});
