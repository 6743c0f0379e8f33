/**
 * The embedding input layer's kernels (embeddingForward: numeric columns passed through, then one
 * table row per field; embeddingBackward: dTable += the output gradient at the rows the indices
 * pick) on every backend present against the reference: batches of 1, 3, 17, 255 and 1000 rows,
 * fields of different vocabularies and dims (one with vocab 1), index columns anywhere among the
 * numeric ones, indices drawn so that repeats are many (a vocab of 3 over 1000 rows), index 0 and
 * the last index always present; backward accumulating into a non-zero dTable, and exactly (the
 * adds run in row order on every backend). Bad indices (out of range, −1, non-integer, NaN) are
 * a LabelError: at the call on cpu (nothing written), at the next sync on GPU backends (the
 * lookup written as 0, skipped in backward, nothing outside its row touched). NaN in a numeric
 * column or in the table passes through to exactly its outputs. The reference is checked against
 * the formula here and by finite differences in reference-gradcheck.spec.ts.
 *
 * embeddingSgdStep (row-sparse SGD: table −= lr·dTable and dTable = 0 at the rows the batch picks)
 * over the same batches: against the reference, and on each backend against its own dense
 * sgdStep (momentum 0, weight decay 0) bit for bit on the rows used, with every other row of the
 * table and of its gradient bit-identical to before (a non-zero gradient there, so a step that
 * touched an unused row would show); repeated indices stepped once; bad indices skipped without
 * an error or a write.
 */
import assert from 'node:assert/strict';
import { EmbeddingLayout } from '../../../ts/backends/backend.js';
import { Rng } from '../../../ts/core/random.js';
import { LabelError, ShapeError, ValueError } from '../../../ts/errors.js';
import { AWKWARD, ELEMENTWISE, EXACT, compareOp, describeParity, nanAt, randomArray, referenceBackend, withNaN } from '../harness.js';

/** Three fields among 5 numeric columns: vocab 3 (many repeats), vocab 1, vocab 40; dims 4, 1, 7. */
function layoutA(): EmbeddingLayout {
  return new EmbeddingLayout(
    [
      { column: 1, vocab: 3, dim: 4 },
      { column: 6, vocab: 1, dim: 1 },
      { column: 3, vocab: 40, dim: 7 },
    ],
    8,
  );
}

/** Whether each table element belongs to a row some lookup of x's n rows picks. */
function usedElements(layout: EmbeddingLayout, x: Float32Array, n: number): boolean[] {
  const used = new Array<boolean>(layout.tableSize).fill(false);
  layout.fields.forEach((f, k) => {
    for (let i = 0; i < n; i++) {
      const row = layout.tableOffsets[k] + x[i * layout.inputWidth + f.column] * f.dim;
      for (let d = 0; d < f.dim; d++) used[row + d] = true;
    }
  });
  return used;
}

/** x [n, W] with random numeric columns and valid indices; rows 0 and 1 hold index 0 and the last index of every field. */
function inputs(rng: Rng, layout: EmbeddingLayout, n: number): Float32Array {
  const x = randomArray(rng, n * layout.inputWidth, -3, 3);
  for (let i = 0; i < n; i++) {
    for (const f of layout.fields) x[i * layout.inputWidth + f.column] = i === 0 ? 0 : i === 1 ? f.vocab - 1 : rng.int(f.vocab);
  }
  return x;
}

describe('embedding kernels on the reference', () => {
  it('forward: numeric columns in order, then each field\'s row; backward adds repeated rows up', async () => {
    const ref = referenceBackend;
    const layout = new EmbeddingLayout([{ column: 0, vocab: 2, dim: 2 }], 3);
    assert.deepEqual([layout.numericWidth, layout.outWidth, layout.tableSize], [2, 4, 4]);
    const x = ref.upload(Float32Array.of(1, 10, 20, 0, 11, 21, 1, 12, 22), [3, 3]);
    const table = ref.upload(Float32Array.of(0.5, 1.5, 2.5, 3.5), [4]);
    const out = ref.alloc([3, 4]);
    ref.embeddingForward(x, table, out, layout);
    assert.deepEqual([...(await ref.read(out))], [10, 20, 2.5, 3.5, 11, 21, 0.5, 1.5, 12, 22, 2.5, 3.5]);
    const dOut = ref.upload(Float32Array.of(9, 9, 1, 2, 9, 9, 3, 4, 9, 9, 5, 6), [3, 4]);
    const dTable = ref.upload(Float32Array.of(100, 100, 100, 100), [4]);
    ref.embeddingBackward(x, dOut, dTable, layout);
    assert.deepEqual([...(await ref.read(dTable))], [103, 104, 106, 108]);
  });

  it('rejects bad layouts (RangeError) and mismatched tensors (ShapeError) before anything runs', () => {
    assert.throws(() => new EmbeddingLayout([], 3), RangeError);
    assert.throws(() => new EmbeddingLayout([{ column: 3, vocab: 2, dim: 1 }], 3), RangeError);
    assert.throws(() => new EmbeddingLayout([{ column: 0, vocab: 2, dim: 1 }, { column: 0, vocab: 3, dim: 1 }], 3), RangeError);
    assert.throws(() => new EmbeddingLayout([{ column: 0, vocab: 0, dim: 1 }], 3), RangeError);
    assert.throws(() => new EmbeddingLayout([{ column: 0, vocab: 2 ** 24 + 1, dim: 1 }], 3), RangeError);
    assert.throws(() => new EmbeddingLayout([{ column: 0, vocab: 2, dim: 0 }], 3), RangeError);
    assert.throws(() => new EmbeddingLayout([{ column: 0, vocab: 2 ** 20, dim: 2 ** 12 }], 3), RangeError);
    const ref = referenceBackend;
    const layout = new EmbeddingLayout([{ column: 0, vocab: 2, dim: 2 }], 3);
    const x = ref.alloc([2, 3]);
    assert.throws(() => ref.embeddingForward(ref.alloc([2, 4]), ref.alloc([4]), ref.alloc([2, 4]), layout), ShapeError);
    assert.throws(() => ref.embeddingForward(x, ref.alloc([5]), ref.alloc([2, 4]), layout), ShapeError);
    assert.throws(() => ref.embeddingForward(x, ref.alloc([4]), ref.alloc([3, 4]), layout), ShapeError);
    assert.throws(() => ref.embeddingBackward(x, ref.alloc([2, 3]), ref.alloc([4]), layout), ShapeError);
    assert.throws(() => ref.embeddingForward(x, ref.alloc([4]), ref.alloc([2, 4]), {} as EmbeddingLayout), ValueError);
    assert.throws(() => ref.embeddingSgdStep(x, ref.alloc([4]), ref.alloc([5]), layout, 0.1), ShapeError);
    assert.throws(() => ref.embeddingSgdStep(ref.alloc([2, 2]), ref.alloc([4]), ref.alloc([4]), layout, 0.1), ShapeError);
    for (const lr of [-1, NaN, Infinity]) assert.throws(() => ref.embeddingSgdStep(x, ref.alloc([4]), ref.alloc([4]), layout, lr), ValueError);
  });

  it('sgd step: the picked rows step once (repeats too) and their gradient is zeroed; other rows untouched', async () => {
    const ref = referenceBackend;
    const layout = new EmbeddingLayout([{ column: 0, vocab: 3, dim: 2 }], 2);
    const x = ref.upload(Float32Array.of(2, 9, 0, 9, 2, 9), [3, 2]); // row 2 twice, row 1 never
    const table = ref.upload(Float32Array.of(1, 2, 3, 4, 5, 6), [6]);
    const dTable = ref.upload(Float32Array.of(10, 20, 30, 40, 50, 60), [6]);
    ref.embeddingSgdStep(x, table, dTable, layout, 0.5);
    assert.deepEqual([...(await ref.read(table))], [-4, -8, 3, 4, -20, -24]);
    assert.deepEqual([...(await ref.read(dTable))], [0, 0, 30, 40, 0, 0]);
  });
});

await describeParity('embedding', ({ name, b, it }) => {
  for (const n of AWKWARD) {
    it(`forward and backward over ${n} rows, three fields (vocab 3, 1, 40; dims 4, 1, 7), repeated indices`, async () => {
      const rng = new Rng(n + 11);
      const layout = layoutA();
      const x = inputs(rng, layout, n);
      const table = randomArray(rng, layout.tableSize);
      await compareOp(b(), {
        what: `embeddingForward n=${n}`,
        inputs: { x: { data: x, shape: [n, layout.inputWidth] }, table: { data: table, shape: [layout.tableSize] } },
        outputs: { out: { data: randomArray(rng, n * layout.outWidth), shape: [n, layout.outWidth], tol: EXACT } },
        op: (be, t) => be.embeddingForward(t.x, t.table, t.out, layout),
      });
      await compareOp(b(), {
        what: `embeddingBackward n=${n}`,
        inputs: { x: { data: x, shape: [n, layout.inputWidth] }, dOut: { data: randomArray(rng, n * layout.outWidth), shape: [n, layout.outWidth] } },
        // += into a non-zero gradient; the adds run in row order everywhere: exact.
        outputs: { dTable: { data: randomArray(rng, layout.tableSize), shape: [layout.tableSize], tol: EXACT } },
        op: (be, t) => be.embeddingBackward(t.x, t.dOut, t.dTable, layout),
      });
    });
  }

  for (const n of AWKWARD) {
    it(`sgd step over ${n} rows: the dense SGD step on the rows used, their gradient zeroed, every other row bit-identical`, async () => {
      const rng = new Rng(n + 31);
      // layoutA with a third field of 2000 rows, most of them unused even at 1000 samples.
      const layout = new EmbeddingLayout([...layoutA().fields.slice(0, 2), { column: 3, vocab: 2000, dim: 7 }], 8);
      const size = layout.tableSize;
      const x = inputs(rng, layout, n);
      const table = randomArray(rng, size);
      const dTable = randomArray(rng, size); // non-zero on unused rows too: a stray write would show
      const lr = 0.37;
      const got = await compareOp(b(), {
        what: `embeddingSgdStep n=${n}`,
        inputs: { x: { data: x, shape: [n, layout.inputWidth] } },
        outputs: { table: { data: table, shape: [size], tol: ELEMENTWISE }, dTable: { data: dTable, shape: [size], tol: EXACT } },
        op: (be, t) => be.embeddingSgdStep(t.x, t.table, t.dTable, layout, lr),
      });
      const be = b();
      const [p, g, m] = [be.upload(table, [size]), be.upload(dTable, [size]), be.alloc([size])];
      be.sgdStep(p, g, m, { lr, momentum: 0, weightDecay: 0 });
      const dense = await be.read(p);
      [p, g, m].forEach((t) => be.free(t));
      const used = usedElements(layout, x, n);
      assert.ok(used[0] && (n === 1 || used[size - 1]) && used.includes(false), 'rows 0 and last used, some rows unused');
      for (let e = 0; e < size; e++) {
        if (used[e]) {
          assert.equal(got.table[e], dense[e], `element ${e}: the sparse step equals the dense step on a used row`);
          assert.equal(got.dTable[e], 0, `element ${e}: a used row's gradient is zeroed`);
        } else {
          assert.equal(got.table[e], table[e], `element ${e}: an unused row is untouched`);
          assert.equal(got.dTable[e], dTable[e], `element ${e}: an unused row's gradient is untouched`);
        }
      }
    });
  }

  it('a single field and no numeric column; a large vocabulary split over threads (12 000 rows × 5)', async () => {
    const rng = new Rng(5);
    const n = 300;
    const layout = new EmbeddingLayout([{ column: 0, vocab: 12_000, dim: 5 }], 1);
    const x = inputs(rng, layout, n);
    for (let i = 2; i < n; i++) x[i] = i % 3 === 0 ? 11_999 : rng.int(12_000); // repeats of the last row
    await compareOp(b(), {
      what: 'embeddingForward (one field)',
      inputs: { x: { data: x, shape: [n, 1] }, table: { data: randomArray(rng, layout.tableSize), shape: [layout.tableSize] } },
      outputs: { out: { data: new Float32Array(n * 5), shape: [n, 5], tol: EXACT } },
      op: (be, t) => be.embeddingForward(t.x, t.table, t.out, layout),
    });
    await compareOp(b(), {
      what: 'embeddingBackward (one field)',
      inputs: { x: { data: x, shape: [n, 1] }, dOut: { data: randomArray(rng, n * 5), shape: [n, 5] } },
      outputs: { dTable: { data: new Float32Array(layout.tableSize), shape: [layout.tableSize], tol: EXACT } },
      op: (be, t) => be.embeddingBackward(t.x, t.dOut, t.dTable, layout),
    });
    await compareOp(b(), {
      what: 'embeddingSgdStep (one field)',
      inputs: { x: { data: x, shape: [n, 1] } },
      outputs: {
        table: { data: randomArray(rng, layout.tableSize), shape: [layout.tableSize], tol: ELEMENTWISE },
        dTable: { data: randomArray(rng, layout.tableSize), shape: [layout.tableSize], tol: EXACT },
      },
      op: (be, t) => be.embeddingSgdStep(t.x, t.table, t.dTable, layout, 0.05),
    });
  });

  describe('NaN in, NaN out', () => {
    it('a NaN numeric value or table value reaches exactly its outputs; a NaN gradient exactly its table row', async () => {
      const rng = new Rng(23);
      const n = 17;
      const layout = layoutA();
      const W = layout.inputWidth;
      const x = withNaN(inputs(rng, layout, n), [4 * W + 0, 9 * W + 7]); // numeric columns 0 and 7
      const table = randomArray(rng, layout.tableSize);
      const row = x[5 * W + 3]; // field 2's row used by sample 5
      table[layout.tableOffsets[2] + row * 7 + 2] = NaN;
      const { out } = await compareOp(b(), {
        what: 'embeddingForward with NaN',
        inputs: { x: { data: x, shape: [n, W] }, table: { data: table, shape: [layout.tableSize] } },
        outputs: { out: { data: new Float32Array(n * layout.outWidth), shape: [n, layout.outWidth], tol: EXACT } },
        op: (be, t) => be.embeddingForward(t.x, t.table, t.out, layout),
      });
      const O = layout.outWidth;
      const users = Array.from({ length: n }, (_, i) => i).filter((i) => x[i * W + 3] === row);
      nanAt(out, [4 * O + 0, 9 * O + 4, ...users.map((i) => i * O + layout.outOffsets[2] + 2)], 'embedding out');
      const dOut = withNaN(randomArray(rng, n * O), [3 * O + layout.outOffsets[0] + 1]);
      const { dTable } = await compareOp(b(), {
        what: 'embeddingBackward with NaN',
        inputs: { x: { data: x, shape: [n, W] }, dOut: { data: dOut, shape: [n, O] } },
        outputs: { dTable: { data: new Float32Array(layout.tableSize), shape: [layout.tableSize], tol: EXACT } },
        op: (be, t) => be.embeddingBackward(t.x, t.dOut, t.dTable, layout),
      });
      nanAt(dTable, [layout.tableOffsets[0] + x[3 * W + 1] * 4 + 1], 'embedding dTable');
    });
  });

  describe('bad indices: LabelError, never a wild read or write', () => {
    const layout = new EmbeddingLayout([{ column: 0, vocab: 3, dim: 2 }, { column: 2, vocab: 4, dim: 3 }], 3);
    for (const [what, bad] of [['the vocabulary size', 4], ['-1', -1], ['a non-integer', 1.5], ['NaN', NaN], ['a huge value', 3e9]] as const) {
      it(`field 1 index ${what} in sample 2: LabelError ${name === 'cpu' ? 'at the call, nothing written' : 'at the next sync; only that lookup is 0 and skipped'}`, async () => {
        const be = b();
        const n = 4;
        const xs = Float32Array.of(0, 7, 1, 1, 7, 3, 2, 7, bad, 2, 7, 0);
        const x = be.upload(xs, [n, 3]);
        const table = be.upload(Float32Array.from({ length: layout.tableSize }, (_, i) => i + 1), [layout.tableSize]);
        const out = be.upload(new Float32Array(n * 6).fill(-5), [n, 6]);
        const dTable = be.upload(new Float32Array(layout.tableSize), [layout.tableSize]);
        const dOut = be.upload(new Float32Array(n * 6).fill(1), [n, 6]);
        const message = new RegExp(`field 1 \\(input column 2\\) sample 2 has index ${Number.isNaN(bad) ? 'NaN' : bad}|field 1 sample 2 has index`);
        if (name === 'cpu') {
          assert.throws(() => be.embeddingForward(x, table, out, layout), (e: Error) => e instanceof LabelError && message.test(e.message));
          assert.throws(() => be.embeddingBackward(x, dOut, dTable, layout), (e: Error) => e instanceof LabelError && /embeddingBackward/.test(e.message));
          assert.deepEqual([...(await be.read(out))], new Array(n * 6).fill(-5), 'forward wrote nothing');
          assert.deepEqual([...(await be.read(dTable))], new Array(layout.tableSize).fill(0), 'backward wrote nothing');
          return;
        }
        be.embeddingForward(x, table, out, layout);
        await assert.rejects(be.sync(), (e: Error) => e instanceof LabelError && message.test(e.message));
        const got = await be.read(out); // the error was thrown once
        assert.deepEqual([...got.subarray(2 * 6 + 3, 3 * 6)], [0, 0, 0], 'the bad lookup is 0');
        assert.deepEqual([...got.subarray(0, 6)], [7, 1, 2, 10, 11, 12], 'the other rows are looked up');
        be.embeddingBackward(x, dOut, dTable, layout);
        await assert.rejects(be.sync(), LabelError);
        const dt = await be.read(dTable);
        // field 1 rows 1 (sample 0), 3 (sample 1), 0 (sample 3); sample 2 skipped. field 0: rows 0, 1, 2, 2.
        assert.deepEqual([...dt], [1, 1, 1, 1, 2, 2, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1]);
      });

      it(`sgd step: field 1 index ${what} in sample 2 is skipped, no error, nothing else written`, async () => {
        const be = b();
        const x = be.upload(Float32Array.of(0, 7, 1, 1, 7, 3, 2, 7, bad, 2, 7, 0), [4, 3]);
        const table = be.upload(new Float32Array(layout.tableSize).fill(1), [layout.tableSize]);
        const dTable = be.upload(new Float32Array(layout.tableSize).fill(2), [layout.tableSize]);
        be.embeddingSgdStep(x, table, dTable, layout, 0.25);
        await be.sync();
        // field 0 picks rows 0, 1, 2 (2 twice); field 1 rows 1, 3, 0 (sample 2 skipped): row 2 of field 1 untouched.
        assert.deepEqual([...(await be.read(table))], [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 1, 1, 1, 0.5, 0.5, 0.5]);
        assert.deepEqual([...(await be.read(dTable))], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 0, 0, 0]);
      });
    }
  });
});
