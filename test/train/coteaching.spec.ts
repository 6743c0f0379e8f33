/**
 * Co-teaching: R(T) and ⌊R·n⌋ (with the float rounding of 1 − 0.2 absorbed); the small-loss
 * selection keeps exactly the stated number, the smallest, ties by row, NaN last, unlabelled
 * rows never; a whole fit keeps Σ ⌊R·n_b⌋ per epoch; with r = 0 peer A trains exactly as
 * Trainer.fit with the same seeds (dropout included, a second task alongside); the clean share
 * by hand, and over a fit with r = 0 (all kept) equal to the realised clean share; bad configs,
 * a busy peer and mismatched inputs as typed errors.
 */
import assert from 'node:assert/strict';
import { createBackend } from '../../ts/backends/create.js';
import { ReferenceBackend } from '../../ts/backends/reference.js';
import type { Backend } from '../../ts/backends/backend.js';
import { Rng } from '../../ts/core/random.js';
import { MultiTaskDataset } from '../../ts/data/dataset.js';
import { injectLabelNoise } from '../../ts/data/noise.js';
import { BusyError, ConfigError, ShapeError } from '../../ts/errors.js';
import { type ModelConfig, MultiTaskModel } from '../../ts/mtl/model.js';
import { CoTeaching, countClean, keepCount, keepRate, selectSmallLoss } from '../../ts/train/coteaching.js';
import { Trainer } from '../../ts/train/trainer.js';

const N = 90;

/** Two tasks on 6 features: `digit` (4 classes, from the features, a quarter unlabelled) and `sign` (binary). */
function data(): MultiTaskDataset {
  const inputs = new Float32Array(6 * N).map((_, i) => Math.sin(i * 1.7) + ((i % 6) - 2.5) * 0.1);
  const digit = new Float32Array(N).map((_, i) => (inputs[6 * i] > 0 ? 2 : 0) + (inputs[6 * i + 1] > 0 ? 1 : 0));
  const sign = new Float32Array(N).map((_, i) => (inputs[6 * i + 2] > 0 ? 1 : 0));
  return new MultiTaskDataset({
    inputs,
    inputShape: [6],
    labels: { digit, sign },
    masks: { digit: new Uint8Array(N).map((_, i) => (i % 4 === 3 ? 0 : 1)) },
  });
}

function config(seed: number): ModelConfig {
  return {
    inputShape: [6],
    trunk: [{ type: 'dense', units: 12, activation: 'relu' }, { type: 'dropout', p: 0.2 }],
    tasks: [
      { name: 'digit', kind: 'classification', classes: 4 },
      { name: 'sign', kind: 'binary' },
    ],
    maxBatch: 16,
    seed,
  };
}

const backend: Backend = new ReferenceBackend();
const cpu: Backend | null = await createBackend('cpu').catch(() => null); // skipped where the addon is not built
const peers = (): [MultiTaskModel, MultiTaskModel] => [new MultiTaskModel(backend, config(1)), new MultiTaskModel(backend, config(2))];
const optimizer = { kind: 'adamw', lr: 0.01 } as const;

describe('train/coteaching', () => {
  it('R(T) = 1 − min(T/T_k, 1)·r with T = epoch − 1, and ⌊R·n⌋', () => {
    assert.equal(keepRate(1, 0.5, 10), 1);
    assert.equal(keepRate(6, 0.5, 10), 0.75);
    assert.equal(keepRate(11, 0.5, 10), 0.5);
    assert.equal(keepRate(50, 0.5, 10), 0.5);
    assert.equal(keepCount(1 - 0.2, 10), 8); // (1 − 0.2)·10 = 7.999… in floats
    assert.equal(keepCount(0.55, 128), 70);
    assert.equal(keepCount(0.5, 1), 0);
    assert.equal(keepCount(1, 7), 7);
  });

  it('selectSmallLoss keeps exactly ⌊R·n_l⌋ labelled rows: the smallest, ties by row, NaN last', () => {
    const losses = Float32Array.from([0.5, NaN, 0.1, 0.3, 0.3, 0.05, 2, 0.3, 0.01]);
    const labelled = Float32Array.from([1, 1, 1, 1, 1, 1, 1, 1, 0]); // row 8 (the smallest) is unlabelled
    const kept = new Float32Array(9).fill(7);
    const r = selectSmallLoss(losses, labelled, 9, 0.5, kept, new Int32Array(9));
    assert.deepEqual(r, { kept: 4, labelled: 8 });
    assert.deepEqual(Array.from(kept), [0, 0, 1, 1, 1, 1, 0, 0, 0]); // 0.05, 0.1, then rows 3 and 4 of the three 0.3s
    const all = selectSmallLoss(losses, null, 9, 1, kept, new Int32Array(9));
    assert.deepEqual(all, { kept: 9, labelled: 9 });
    assert.ok(kept.every((k) => k === 1));
    selectSmallLoss(losses, null, 9, 8 / 9, kept, new Int32Array(9));
    assert.equal(kept[1], 0, 'NaN is dropped first');
  });

  it('countClean counts kept rows whose sample is not corrupted', () => {
    const corrupted = Uint8Array.from([0, 1, 0, 0, 1, 0]);
    const order = Int32Array.from([5, 4, 3, 2, 1, 0]);
    // Batch rows 0..2 are samples 4, 3, 2 (from = 1): kept rows 0 and 2 → samples 4 (corrupted) and 2 (clean).
    assert.equal(countClean([1, 0, 1], 3, corrupted, order, 1), 1);
    assert.equal(countClean([1, 1, 1], 3, corrupted, order, 1), 2);
  });

  it('a fit keeps Σ_b ⌊R·n_b⌋ of the labelled samples per epoch, the same for both peers', async () => {
    const ds = data();
    const ct = new CoTeaching(peers(), { task: 'digit', forgetRate: 0.3, gradual: 1, optimizer, batchSize: 16, epochs: 2, seed: 3 });
    const [e1, e2] = await ct.fit(ds);
    // The Trainer's shuffle: an Rng of the seed, identity then one shuffle per epoch.
    const rng = new Rng(3);
    const mask = ds.mask('digit')!;
    const expected = [1, 0.7].map((rate) => {
      const order = Int32Array.from({ length: N }, (_, i) => i);
      rng.shuffle(order);
      let kept = 0;
      for (let from = 0; from < N; from += 16) {
        let labelled = 0;
        for (let i = from; i < Math.min(N, from + 16); i++) labelled += mask[order[i]];
        kept += Math.floor(rate * labelled + 1e-9);
      }
      return kept;
    });
    const labelled = mask.reduce((a, m) => a + m, 0);
    assert.deepEqual([e1.keepRate, e1.labelled, e1.kept], [1, labelled, labelled]);
    assert.ok(Math.abs(e2.keepRate - 0.7) < 1e-12);
    assert.deepEqual([e2.labelled, e2.kept], [labelled, expected[1]]);
    assert.ok(expected[1] < Math.round(0.7 * labelled), 'per-batch flooring keeps fewer than 70 % of the epoch');
    assert.equal(e2.cleanShare, null);
  });

  for (const [name, be] of [['reference', backend], ['cpu', cpu]] as const) {
    it(`with r = 0 peer A trains exactly as Trainer.fit with the same seeds (dropout, a second task; ${name})`, async function () {
      if (!be) return this.skip();
      const ds = data();
      const [a, b] = [new MultiTaskModel(be, config(1)), new MultiTaskModel(be, config(2))];
      const ct = new CoTeaching([a, b], { task: 'digit', forgetRate: 0, optimizer, batchSize: 16, epochs: 2, seed: 5 });
      const history = await ct.fit(ds);
      assert.ok(history.every((r) => r.kept === r.labelled), 'both peers keep every labelled sample');
      const plain = new MultiTaskModel(be, config(1));
      await new Trainer(plain, { optimizer, batchSize: 16, epochs: 2, seed: 5, progress: false, log: null }).fit(ds);
      const [pa, pp, pb] = await Promise.all([be.read(a.params.values), be.read(plain.params.values), be.read(b.params.values)]);
      assert.deepEqual(pa, pp);
      assert.notDeepEqual(pb, pp);
    });
  }

  it('the clean share with r = 0 (everything kept) is the realised clean share of the labelled samples', async () => {
    const ds = data();
    const noisy = injectLabelNoise(ds, { task: 'digit', type: 'symmetric', rate: 0.4, seed: 9 });
    const ct = new CoTeaching(peers(), { task: 'digit', forgetRate: 0, optimizer, batchSize: 16, epochs: 1, corrupted: noisy.corrupted });
    const [e] = await ct.fit(noisy.dataset, { validation: ds });
    assert.equal(e.kept, noisy.labelled);
    const want = 1 - noisy.flipped / noisy.labelled;
    assert.deepEqual(e.cleanShare, [want, want]);
    assert.ok(e.validation && typeof e.validation[1].digit.accuracy === 'number');
  });

  it('rejects bad configs with typed errors', () => {
    const base = { task: 'digit', forgetRate: 0.2, optimizer, batchSize: 16, epochs: 1 };
    const [a] = peers();
    assert.throws(() => new CoTeaching([a, new MultiTaskModel(backend, config(1))], base), (e: Error) => e instanceof ConfigError && /different seeds/.test(e.message));
    assert.throws(() => new CoTeaching([a, a], base), ConfigError);
    assert.throws(() => new CoTeaching(peers(), { ...base, task: 'nope' }), (e: Error) => e instanceof ConfigError && /nope/.test(e.message));
    assert.throws(() => new CoTeaching(peers(), { ...base, forgetRatio: 0.2 } as never), (e: Error) => e instanceof ConfigError && /forgetRatio/.test(e.message));
    assert.throws(() => new CoTeaching(peers(), { ...base, batchSize: 17 }), ShapeError);
    const other = new MultiTaskModel(backend, { ...config(2), trunk: [{ type: 'dense', units: 13, activation: 'relu' }] });
    assert.throws(() => new CoTeaching([a, other], base), (e: Error) => e instanceof ConfigError && /architecture/.test(e.message));
  });

  it('fit: a busy peer is a BusyError that leaves the other unclaimed; inputs of another width a ShapeError', async () => {
    const [a, b] = peers();
    const ct = new CoTeaching([a, b], { task: 'digit', forgetRate: 0.2, optimizer, batchSize: 16, epochs: 1 });
    const release = b.claim('predict()');
    await assert.rejects(ct.fit(data()), BusyError);
    assert.equal(a.busyWith, null);
    release();
    const wide = new MultiTaskDataset({ inputs: new Float32Array(14), inputShape: [7], labels: { digit: new Float32Array(2), sign: new Float32Array(2) } });
    await assert.rejects(ct.fit(wide), ShapeError);
  });
});
