/**
 * The replay buffer (ts/data/replay.ts): exactly `size` samples, balanced per stage, the older
 * shares shrinking by truncation; reproducible by seed; every replayed sample keeps its own
 * labels, masked for the other tasks; withReplay's mix and labelledFor's masks.
 */
import assert from 'node:assert/strict';
import { ConfigError, ShapeError, ValueError } from '../../ts/errors.js';
import { MultiTaskDataset } from '../../ts/data/dataset.js';
import { ReplayBuffer, labelledFor, withReplay } from '../../ts/data/replay.js';

const A = { name: 'a', labelWidth: 1 };
const B = { name: 'b', labelWidth: 2 };

/** n samples whose first feature is `base + i` (an id) and labels derived from it. */
function stage(task: typeof A, n: number, base: number): MultiTaskDataset {
  const inputs = new Float32Array(n * 3);
  const y = new Float32Array(n * task.labelWidth);
  for (let i = 0; i < n; i++) {
    inputs.set([base + i, 1, -1], i * 3);
    for (let c = 0; c < task.labelWidth; c++) y[i * task.labelWidth + c] = (base + i + c) % 7;
  }
  return new MultiTaskDataset({ inputs, inputShape: [3], labels: { [task.name]: y }, labelWidths: { [task.name]: task.labelWidth } });
}

const ids = (ds: MultiTaskDataset): number[] => Array.from({ length: ds.length }, (_, i) => ds.inputs[i * 3]);

describe('ReplayBuffer and withReplay', () => {
  it('holds exactly size samples, balanced per stage, older shares cut by truncation', () => {
    const buffer = new ReplayBuffer(11, 3);
    assert.equal(buffer.samples([A, B]), null);
    buffer.add(stage(A, 40, 0), [A]);
    const one = buffer.samples([A, B])!;
    assert.equal(one.length, 11);
    assert.equal(new Set(ids(one)).size, 11, 'no repeats');
    assert.ok(ids(one).every((id) => id >= 0 && id < 40));
    buffer.add(stage(B, 30, 100), [B]);
    assert.deepEqual(buffer.quotas(), [6, 5]);
    const two = buffer.samples([A, B])!;
    assert.equal(two.length, 11);
    assert.deepEqual(ids(two).slice(0, 6), ids(one).slice(0, 6), "stage a's share is a prefix of what it was");
    assert.ok(ids(two).slice(6).every((id) => id >= 100 && id < 130));
    // A stage smaller than its quota gives what it has.
    const small = new ReplayBuffer(10, 0);
    small.add(stage(A, 3, 0), [A]);
    small.add(stage(B, 30, 100), [B]);
    assert.deepEqual(small.quotas(), [3, 5]);
    assert.equal(small.samples([A, B])!.length, 8);
  });

  it('is reproducible by seed and differs between seeds', () => {
    const make = (seed: number): number[] => {
      const b = new ReplayBuffer(8, seed);
      b.add(stage(A, 50, 0), [A]);
      b.add(stage(B, 50, 100), [B]);
      return ids(b.samples([A, B])!);
    };
    assert.deepEqual(make(1), make(1));
    assert.notDeepEqual(make(1), make(2));
  });

  it('keeps each replayed sample its own labels and masks the other tasks; withReplay appends them to the new data', () => {
    const buffer = new ReplayBuffer(6, 0);
    buffer.add(stage(A, 20, 0), [A]);
    const fresh = stage(B, 9, 100);
    const mixed = withReplay(fresh, buffer, [A, B]);
    assert.equal(mixed.length, 9 + 6);
    assert.deepEqual(mixed.taskNames, ['a', 'b']);
    const ma = mixed.mask('a')!;
    const mb = mixed.mask('b')!;
    for (let i = 0; i < mixed.length; i++) {
      const id = mixed.inputs[i * 3];
      const replayed = i >= 9;
      assert.equal(ma[i], replayed ? 1 : 0, `mask a of row ${i}`);
      assert.equal(mb[i], replayed ? 0 : 1, `mask b of row ${i}`);
      if (replayed) assert.equal(mixed.labels('a')[i], id % 7);
      else assert.deepEqual([...mixed.labels('b').subarray(2 * i, 2 * i + 2)], [id % 7, (id + 1) % 7]);
    }
    assert.deepEqual(ids(mixed).slice(0, 9), ids(fresh));
    // An empty buffer: the new data alone, labelled for every task.
    const alone = withReplay(fresh, new ReplayBuffer(5), [A, B]);
    assert.equal(alone.length, 9);
    assert.deepEqual([...alone.mask('a')!], Array(9).fill(0));
  });

  it('labelledFor keeps a task the data has (mask included) and masks the others; typed errors', () => {
    const ds = new MultiTaskDataset({ inputs: new Float32Array(6), inputShape: [3], labels: { a: new Float32Array([1, 0]) }, masks: { a: new Uint8Array([1, 0]) } });
    const out = labelledFor(ds, [A, B]);
    assert.deepEqual([...out.mask('a')!], [1, 0]);
    assert.deepEqual([...out.mask('b')!], [0, 0]);
    assert.equal(out.labels('b').length, 4);
    assert.throws(() => labelledFor(ds, [{ name: 'a', labelWidth: 2 }]), ShapeError);
    assert.throws(() => new ReplayBuffer(0), ValueError);
    assert.throws(() => new ReplayBuffer(5, -1), ValueError);
    const b = new ReplayBuffer(4);
    assert.throws(() => b.add(ds, [B]), (e: Error) => e instanceof ConfigError && /no labels for task "b"/.test(e.message));
    assert.throws(() => b.add(ds, []), ConfigError);
    b.add(ds, [A]);
    assert.throws(() => b.samples([B]), (e: Error) => e instanceof ConfigError && /Replayed task "a"/.test(e.message));
    assert.throws(() => b.add(new MultiTaskDataset({ inputs: new Float32Array(4), inputShape: [2], labels: { a: new Float32Array(2) } }), [A]), ShapeError);
  });
});
