/**
 * injectLabelNoise: realised rates within binomial error (4σ) of the asked ones, pair-flip only to
 * the neighbouring class, symmetric never to the same class and evenly over the others, matrix
 * noise following its rows, missing labels untouched and uncounted, reproducible by seed, the
 * rest of the dataset shared, and bad options as typed errors.
 */
import assert from 'node:assert/strict';
import { MultiTaskDataset } from '../../ts/data/dataset.js';
import { injectLabelNoise } from '../../ts/data/noise.js';
import { ConfigError, LabelError, ShapeError, ValueError } from '../../ts/errors.js';

const N = 20000;

/** N samples of 2 features; task `digit` has 10 classes (label i mod 10), `bit` is binary, `box` is 2-wide. */
function data(withMask = false): MultiTaskDataset {
  return new MultiTaskDataset({
    inputs: new Float32Array(2 * N).map((_, i) => i % 7),
    inputShape: [2],
    labels: {
      digit: new Float32Array(N).map((_, i) => i % 10),
      bit: new Float32Array(N).map((_, i) => (i * 7) % 3 === 0 ? 1 : 0),
      box: new Float32Array(2 * N),
    },
    labelWidths: { box: 2 },
    masks: withMask ? { digit: new Uint8Array(N).map((_, i) => (i % 4 === 0 ? 0 : 1)) } : {},
  });
}

/** |realised − asked| ≤ 4 binomial standard deviations over `n` samples. */
function withinBinomial(realised: number, asked: number, n: number, what: string): void {
  const sigma = Math.sqrt((asked * (1 - asked)) / n);
  assert.ok(Math.abs(realised - asked) <= 4 * sigma, `${what}: realised ${realised}, asked ${asked}, 4σ = ${4 * sigma}`);
}

describe('data/noise: injectLabelNoise', () => {
  const ds = data();
  const clean = ds.labels('digit');

  for (const rate of [0.2, 0.45, 0.5]) {
    it(`symmetric ${rate}: the realised rate within 4σ, corrupted labels go to another class, evenly`, () => {
      const r = injectLabelNoise(ds, { task: 'digit', type: 'symmetric', rate, seed: 3 });
      withinBinomial(r.rate, rate, N, 'symmetric');
      assert.equal(r.labelled, N);
      const noisy = r.dataset.labels('digit');
      const moves = new Array(10).fill(0);
      let changed = 0;
      for (let i = 0; i < N; i++) {
        assert.equal(noisy[i] !== clean[i], r.corrupted[i] === 1, `sample ${i}: corrupted mask disagrees with the labels`);
        if (noisy[i] === clean[i]) continue;
        changed++;
        moves[(noisy[i] - clean[i] + 10) % 10]++;
      }
      assert.equal(changed, r.flipped);
      assert.equal(r.rate, changed / N);
      // Each of the 9 other classes gets 1/9 of the corrupted samples (4σ of a binomial).
      for (let d = 1; d < 10; d++) withinBinomial(moves[d] / changed, 1 / 9, changed, `shift ${d}`);
    });
  }

  it('pair-flip 0.45: only to the neighbouring class c + 1 mod C, at the asked rate', () => {
    const r = injectLabelNoise(ds, { task: 'digit', type: 'pairflip', rate: 0.45, seed: 11 });
    withinBinomial(r.rate, 0.45, N, 'pairflip');
    const noisy = r.dataset.labels('digit');
    for (let i = 0; i < N; i++) {
      if (noisy[i] !== clean[i]) assert.equal(noisy[i], (clean[i] + 1) % 10, `sample ${i}: ${clean[i]} → ${noisy[i]}`);
    }
  });

  it('binary task: symmetric and pair-flip both flip 0 ↔ 1', () => {
    for (const type of ['symmetric', 'pairflip'] as const) {
      const r = injectLabelNoise(ds, { task: 'bit', type, rate: 0.3, seed: 5 });
      withinBinomial(r.rate, 0.3, N, type);
      const [y, z] = [ds.labels('bit'), r.dataset.labels('bit')];
      for (let i = 0; i < N; i++) assert.equal(z[i], r.corrupted[i] ? 1 - y[i] : y[i]);
    }
  });

  it('matrix: each class follows its row (a 3-class matrix with one zero entry)', () => {
    const three = new MultiTaskDataset({ inputs: new Float32Array(N), inputShape: [1], labels: { c: new Float32Array(N).map((_, i) => i % 3) } });
    const matrix = [
      [0.7, 0.3, 0],
      [0.1, 0.8, 0.1],
      [0.25, 0.25, 0.5],
    ];
    const r = injectLabelNoise(three, { task: 'c', type: 'matrix', matrix, seed: 2 });
    const counts = matrix.map(() => [0, 0, 0]);
    const y = r.dataset.labels('c');
    for (let i = 0; i < N; i++) counts[i % 3][y[i]]++;
    const perClass = N / 3;
    matrix.forEach((row, c) => row.forEach((p, k) => withinBinomial(counts[c][k] / perClass, p, perClass, `matrix[${c}][${k}]`)));
    assert.equal(counts[0][2], 0, 'a zero entry is never drawn');
    withinBinomial(r.rate, (0.3 + 0.2 + 0.5) / 3, N, 'matrix rate');
  });

  it('missing labels stay as they were, are never marked corrupted and are not counted', () => {
    const masked = data(true);
    const r = injectLabelNoise(masked, { task: 'digit', type: 'symmetric', rate: 0.5, seed: 1 });
    assert.equal(r.labelled, N - N / 4);
    for (let i = 0; i < N; i += 4) {
      assert.equal(r.corrupted[i], 0);
      assert.equal(r.dataset.labels('digit')[i], clean[i]);
    }
    assert.equal(r.rate, r.flipped / r.labelled);
    withinBinomial(r.rate, 0.5, r.labelled, 'masked');
    assert.deepEqual(r.dataset.mask('digit'), masked.mask('digit'));
  });

  it('reproducible by seed; another seed corrupts other samples; the source dataset is untouched', () => {
    const before = clean.slice();
    const a = injectLabelNoise(ds, { task: 'digit', type: 'symmetric', rate: 0.2, seed: 7 });
    const b = injectLabelNoise(ds, { task: 'digit', type: 'symmetric', rate: 0.2, seed: 7 });
    const c = injectLabelNoise(ds, { task: 'digit', type: 'symmetric', rate: 0.2, seed: 8 });
    assert.deepEqual(a.dataset.labels('digit'), b.dataset.labels('digit'));
    assert.deepEqual(a.corrupted, b.corrupted);
    assert.notDeepEqual(a.corrupted, c.corrupted);
    assert.deepEqual(clean, before);
    // Inputs and the other tasks are the same arrays (no copy of the inputs).
    assert.equal(a.dataset.inputs, ds.inputs);
    assert.equal(a.dataset.labels('box'), ds.labels('box'));
    assert.equal(a.dataset.labelWidth('box'), 2);
  });

  it('rate 0 changes nothing, rate 1 changes every label', () => {
    assert.equal(injectLabelNoise(ds, { task: 'digit', type: 'symmetric', rate: 0, seed: 1 }).flipped, 0);
    assert.equal(injectLabelNoise(ds, { task: 'digit', type: 'pairflip', rate: 1, seed: 1 }).flipped, N);
  });

  it('bad options are typed errors naming what was expected', () => {
    const bad = (o: unknown, cls: new (...a: never[]) => Error, re: RegExp): void => {
      assert.throws(() => injectLabelNoise(ds, o as never), (e: Error) => e instanceof cls && re.test(e.message), JSON.stringify(o));
    };
    bad({ task: 'digit', type: 'uniform', rate: 0.2 }, ConfigError, /symmetric, pairflip, matrix for type/);
    bad({ task: 'digit', type: 'symmetric', rate: 0.2, sede: 1 }, ConfigError, /Unknown key "sede".*did you mean "seed"/);
    bad({ task: 'digit', type: 'matrix', rate: 0.2, matrix: [[1, 0], [0, 1]] }, ConfigError, /Unknown key "rate" in label noise options \(matrix\)/);
    bad({ task: 'nope', type: 'symmetric', rate: 0.2 }, ConfigError, /digit, bit, box/);
    bad({ task: 'box', type: 'symmetric', rate: 0.2 }, ShapeError, /one class index per sample/);
    bad({ task: 'digit', type: 'symmetric', rate: 1.5 }, ValueError, /\[0, 1\] for rate/);
    bad({ task: 'digit', type: 'symmetric' }, ValueError, /for rate but received undefined/);
    bad({ task: 'digit', type: 'symmetric', rate: 0.2, seed: -1 }, ValueError, /seed/);
    bad({ task: 'digit', type: 'symmetric', rate: 0.2, classes: 5 }, LabelError, /\[0, 5\)/);
    bad({ task: 'digit', type: 'matrix', matrix: [[0.5, 0.4], [0, 1]] }, ValueError, /matrix\[0\] to sum to 1/);
    bad({ task: 'digit', type: 'matrix', matrix: [[1, 0], [0, 1, 0]] }, ShapeError, /matrix\[1\]/);
    bad({ task: 'digit', type: 'matrix', matrix: [[1.5, -0.5], [0, 1]] }, ValueError, /matrix\[0\]\[0\]/);
    bad({ task: 'digit', type: 'matrix', matrix: [[1, 0], [0, 1]] }, LabelError, /\[0, 2\)/);
    const soft = new MultiTaskDataset({ inputs: new Float32Array(2), inputShape: [1], labels: { p: Float32Array.from([0, 0.5]) } });
    assert.throws(() => injectLabelNoise(soft, { task: 'p', type: 'symmetric', rate: 0.1 }), (e: Error) => e instanceof LabelError && /sample 1 but received 0.5/.test(e.message));
  });
});
