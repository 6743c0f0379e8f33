/** MultiTaskDataset: validation (one typed error per mistake), select, slice, gatherInputs. */
import assert from 'node:assert/strict';
import { type DatasetInit, MultiTaskDataset } from '../../ts/data/dataset.js';
import { ConfigError, LabelError, ShapeError, ValueError } from '../../ts/errors.js';

/** 4 samples of shape [2, 3]; input value = 10·sample + feature. */
function init(): DatasetInit {
  const inputs = new Float32Array(4 * 6).map((_, i) => 10 * Math.floor(i / 6) + (i % 6));
  return {
    inputs,
    inputShape: [2, 3],
    labels: {
      digit: new Float32Array([0, 1, 2, 3]),
      box: new Float32Array([0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5]),
    },
    labelWidths: { box: 2 },
    masks: { box: new Uint8Array([1, 0, 1, 1]) },
  };
}

describe('data/dataset', () => {
  it('exposes lengths, shapes, tasks, labels and masks', () => {
    const d = new MultiTaskDataset(init());
    assert.equal(d.length, 4);
    assert.equal(d.featureSize, 6);
    assert.deepEqual(d.inputShape, [2, 3]);
    assert.deepEqual(d.taskNames, ['digit', 'box']);
    assert.equal(d.labelWidth('digit'), 1);
    assert.equal(d.labelWidth('box'), 2);
    assert.deepEqual([...d.labels('digit')], [0, 1, 2, 3]);
    assert.equal(d.mask('digit'), null);
    assert.deepEqual([...d.mask('box')!], [1, 0, 1, 1]);
  });

  it('rejects an unknown task with ConfigError listing the known ones', () => {
    const d = new MultiTaskDataset(init());
    for (const call of [() => d.labels('age'), () => d.labelWidth('age'), () => d.mask('age')]) {
      assert.throws(call, (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        assert.match(e.message, /digit, box/);
        assert.match(e.message, /"age"/);
        return true;
      });
    }
  });

  it('rejects inputs whose length is not a multiple of the sample size (ShapeError)', () => {
    const i = init();
    i.inputs = new Float32Array(23);
    assert.throws(() => new MultiTaskDataset(i), ShapeError);
  });

  it('rejects a label array of the wrong length, naming the task (ShapeError)', () => {
    const i = init();
    i.labels.box = new Float32Array(4); // width 2 needs 8
    assert.throws(() => new MultiTaskDataset(i), (e: unknown) => {
      assert.ok(e instanceof ShapeError);
      assert.match(e.message, /"box"/);
      assert.match(e.message, /Expected 8 .*received 4/);
      return true;
    });
  });

  it('rejects a mask of the wrong length, naming the task (ShapeError)', () => {
    const i = init();
    i.masks!.box = new Uint8Array(3);
    assert.throws(() => new MultiTaskDataset(i), /mask of task "box"/);
  });

  it('rejects a non-finite input, naming sample and feature (ValueError)', () => {
    const i = init();
    i.inputs[2 * 6 + 4] = NaN;
    assert.throws(() => new MultiTaskDataset(i), (e: unknown) => {
      assert.ok(e instanceof ValueError);
      assert.match(e.message, /sample 2, feature 4/);
      return true;
    });
  });

  it('rejects a non-finite label (LabelError)', () => {
    const i = init();
    i.labels.digit[3] = Infinity;
    assert.throws(() => new MultiTaskDataset(i), (e: unknown) => {
      assert.ok(e instanceof LabelError);
      assert.match(e.message, /"digit".*sample 3/);
      return true;
    });
  });

  it('rejects mask values other than 0 and 1 (ValueError)', () => {
    const i = init();
    i.masks!.box[1] = 2;
    assert.throws(() => new MultiTaskDataset(i), (e: unknown) => {
      assert.ok(e instanceof ValueError);
      assert.match(e.message, /"box".*received 2 at sample 1/);
      return true;
    });
  });

  it('rejects bad shapes and widths, and masks for unknown tasks', () => {
    assert.throws(() => new MultiTaskDataset({ ...init(), inputShape: [2, 0] }), ValueError);
    assert.throws(() => new MultiTaskDataset({ ...init(), inputShape: [] }), ShapeError);
    assert.throws(() => new MultiTaskDataset({ ...init(), labelWidths: { box: 1.5 } }), ValueError);
    assert.throws(() => new MultiTaskDataset({ ...init(), masks: { age: new Uint8Array(4) } }), ConfigError);
    assert.throws(() => new MultiTaskDataset({ ...init(), labels: {} }), ConfigError);
  });

  it('select copies the given rows, in order, with labels and masks', () => {
    const d = new MultiTaskDataset(init());
    const s = d.select([3, 1, 1]);
    assert.equal(s.length, 3);
    assert.deepEqual([...s.inputs.subarray(0, 6)], [30, 31, 32, 33, 34, 35]);
    assert.deepEqual([...s.inputs.subarray(6, 12)], [10, 11, 12, 13, 14, 15]);
    assert.deepEqual([...s.labels('digit')], [3, 1, 1]);
    assert.deepEqual([...s.labels('box')], [3, 3.5, 1, 1.5, 1, 1.5]);
    assert.deepEqual([...s.mask('box')!], [1, 0, 0]);
    assert.equal(s.mask('digit'), null);
    // A copy: writing to it leaves the source alone.
    s.inputs[0] = -1;
    assert.equal(d.inputs[18], 30);
    assert.throws(() => d.select([0, 4]), /position 1/);
    assert.throws(() => d.select([0.5]), ValueError);
  });

  it('slice copies a range of rows', () => {
    const d = new MultiTaskDataset(init());
    const s = d.slice(1, 3);
    assert.equal(s.length, 2);
    assert.deepEqual([...s.inputs], [10, 11, 12, 13, 14, 15, 20, 21, 22, 23, 24, 25]);
    assert.deepEqual([...s.labels('box')], [1, 1.5, 2, 2.5]);
    assert.deepEqual([...s.mask('box')!], [0, 1]);
    assert.equal(d.slice(2, 2).length, 0);
    assert.throws(() => d.slice(3, 2), ValueError);
    assert.throws(() => d.slice(0, 5), ValueError);
  });

  it('gatherInputs copies rows indices[from .. from+count) into out', () => {
    const d = new MultiTaskDataset(init());
    const out = new Float32Array(3 * 6).fill(-7);
    d.gatherInputs(new Int32Array([0, 2, 3, 1]), 1, 2, out);
    assert.deepEqual([...out.subarray(0, 12)], [20, 21, 22, 23, 24, 25, 30, 31, 32, 33, 34, 35]);
    assert.deepEqual([...out.subarray(12)], [-7, -7, -7, -7, -7, -7]); // beyond count: untouched
    assert.throws(() => d.gatherInputs(new Int32Array([0, 1]), 1, 2, out), ValueError);
    assert.throws(() => d.gatherInputs(new Int32Array([0, 4]), 0, 2, out), /received 4 at position 1/);
    assert.throws(() => d.gatherInputs(new Int32Array([0, 1]), 0, 2, new Float32Array(11)), ShapeError);
  });
});
