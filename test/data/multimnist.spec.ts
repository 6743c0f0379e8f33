/**
 * MultiMNIST: the Pillow-style resize (hand-computed weights), the 36 × 36 canvas, and the
 * generated dataset (determinism by seed, labels, shapes, values, and agreement with the
 * step-by-step construction of Sener & Koltun's loader).
 */
import assert from 'node:assert/strict';
import { Rng } from '../../ts/core/random.js';
import { loadMnist } from '../../ts/data/mnist.js';
import {
  MULTI_MNIST_CANVAS,
  type Resample,
  bilinearTaps,
  composeMultiMnistCanvas,
  makeMultiMnist,
  multiMnistTaskSpecs,
  nearestIndices,
  resizeImage,
} from '../../ts/data/multimnist.js';
import { ValueError } from '../../ts/errors.js';

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, atol = 1e-6): void {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < actual.length; i++) {
    assert.ok(Math.abs(actual[i] - expected[i]) <= atol, `index ${i}: ${actual[i]} vs ${expected[i]}`);
  }
}

describe('data/multimnist resize', () => {
  it('bilinear taps 4 → 2 match Pillow by hand: [3, 3, 1]/7 and [1, 3, 3]/7', () => {
    // scale 2 stretches the triangle's support to 2. Output 0 has centre 1.0: inputs 0, 1, 2
    // (centres 0.5, 1.5, 2.5) sit at distances 0.5, 0.5, 1.5 → 1 − d/2 = 0.75, 0.75, 0.25.
    const t = bilinearTaps(4, 2);
    assert.deepEqual([...t.bounds], [0, 3, 1, 3]);
    assertClose(t.weights.subarray(0, 3), [3 / 7, 3 / 7, 1 / 7], 1e-12);
    assertClose(t.weights.subarray(t.ksize, t.ksize + 3), [1 / 7, 3 / 7, 3 / 7], 1e-12);
  });

  it('bilinear taps 36 → 28: the first output weighs inputs 0 and 1 by 8/11 and 3/11', () => {
    // scale 9/7, centre 9/14; distances 1/7 and 6/7 over support 9/7 → 8/9 and 1/3, normalised.
    const t = bilinearTaps(36, 28);
    assert.deepEqual([t.bounds[0], t.bounds[1]], [0, 2]);
    assertClose(t.weights.subarray(0, 2), [8 / 11, 3 / 11], 1e-12);
    // Every output's weights sum to 1.
    for (let o = 0; o < 28; o++) {
      let s = 0;
      for (let k = 0; k < t.ksize; k++) s += t.weights[o * t.ksize + k];
      assert.ok(Math.abs(s - 1) < 1e-12);
    }
  });

  it('bilinear downscale of an impulse is the outer product of the taps', () => {
    const src = new Float32Array(16);
    src[1 * 4 + 1] = 7;
    const out = resizeImage(src, 4, 4, 2, 2, 'bilinear');
    assertClose(out, [(9 / 49) * 7, (3 / 49) * 7, (3 / 49) * 7, (1 / 49) * 7]);
  });

  it('handles non-square sizes (rows and columns resized independently)', () => {
    // 2 × 4 → 2 × 2: rows keep their values, columns average with the 4 → 2 taps.
    const out = resizeImage([1, 2, 3, 4, 5, 6, 7, 8], 2, 4, 2, 2, 'bilinear');
    assertClose(out, [(3 + 6 + 3) / 7, (2 + 9 + 12) / 7, (15 + 18 + 7) / 7, (6 + 21 + 24) / 7], 1e-5);
  });

  it('a constant image stays constant, with either filter', () => {
    for (const resample of ['bilinear', 'nearest'] as Resample[]) {
      const out = resizeImage(new Float32Array(36 * 36).fill(0.7), 36, 36, 28, 28, resample);
      assertClose(out, new Float32Array(28 * 28).fill(0.7));
    }
  });

  it('nearest samples the input pixel under each output centre: floor((o + 0.5) · 36/28)', () => {
    const idx = nearestIndices(36, 28);
    assert.deepEqual([idx[0], idx[1], idx[2], idx[3], idx[27]], [0, 1, 3, 4, 35]);
    const src = Float32Array.from({ length: 36 * 36 }, (_, i) => i);
    const out = resizeImage(src, 36, 36, 28, 28, 'nearest');
    assert.equal(out[2 * 28 + 3], 3 * 36 + 4);
  });

  it('rejects an unknown filter and a short source', () => {
    assert.throws(() => resizeImage(new Float32Array(4), 2, 2, 1, 1, 'cubic' as Resample), ValueError);
    assert.throws(() => resizeImage(new Float32Array(3), 2, 2, 1, 1), ValueError);
  });
});

describe('data/multimnist canvas', () => {
  const pattern = Uint8Array.from({ length: 784 }, (_, i) => 1 + (i % 250));

  it('places the right digit at rows/cols [6, 34) and leaves the rest empty', () => {
    const canvas = composeMultiMnistCanvas(new Uint8Array(784), pattern);
    const S = MULTI_MNIST_CANVAS;
    for (let r = 0; r < S; r++) {
      for (let c = 0; c < S; c++) {
        const inside = r >= 6 && r < 34 && c >= 6 && c < 34;
        const want = inside ? pattern[(r - 6) * 28 + (c - 6)] : 0;
        assert.equal(canvas[r * S + c], want, `canvas[${r}][${c}]`);
      }
    }
  });

  it('places the left digit at [0, 28) and merges the overlap by max', () => {
    const left = new Uint8Array(784).fill(100);
    const canvas = composeMultiMnistCanvas(left, pattern);
    const S = MULTI_MNIST_CANVAS;
    assert.equal(canvas[0], 100); // left only
    assert.equal(canvas[5 * S + 27], 100); // left only (row 5 is above the right digit)
    assert.equal(canvas[6 * S + 6], Math.max(100, pattern[0])); // overlap
    assert.equal(canvas[27 * S + 27], Math.max(100, pattern[21 * 28 + 21]));
    assert.equal(canvas[10 * S + 30], pattern[4 * 28 + 24]); // right only
    assert.equal(canvas[35 * S + 35], 0);
  });
});

describe('data/multimnist dataset', () => {
  it('has the shape of MultiMNIST: [28, 28] inputs in [0, 1], tasks left and right', () => {
    const d = makeMultiMnist({ split: 'test' });
    assert.equal(d.length, 10000);
    assert.deepEqual(d.inputShape, [28, 28]);
    assert.equal(d.featureSize, 784);
    assert.deepEqual(d.taskNames, ['left', 'right']);
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of d.inputs) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    assert.equal(lo, 0);
    assert.equal(hi, 1);
    for (const task of d.taskNames) {
      const y = d.labels(task);
      assert.ok(y.every((v) => Number.isInteger(v) && v >= 0 && v <= 9));
      assert.equal(new Set(y).size, 10);
    }
  });

  it('left labels are the source digits; right labels are the seeded partners', () => {
    const mnist = loadMnist('train');
    const d = makeMultiMnist({ split: 'train', count: 300, seed: 5 });
    const rng = new Rng(5);
    for (let i = 0; i < d.length; i++) {
      const j = rng.int(60000);
      assert.equal(d.labels('left')[i], mnist.labels[i]);
      assert.equal(d.labels('right')[i], mnist.labels[j]);
    }
  });

  for (const resample of ['nearest', 'bilinear'] as Resample[]) {
    it(`${resample}: each image is resize(bytescale(canvas(i, j))) / 255`, () => {
      const mnist = loadMnist('train');
      const d = makeMultiMnist({ split: 'train', count: 100, seed: 3, resample });
      const rng = new Rng(3);
      for (let i = 0; i < d.length; i++) {
        const j = rng.int(60000);
        const canvas = composeMultiMnistCanvas(
          mnist.images.subarray(i * 784, (i + 1) * 784),
          mnist.images.subarray(j * 784, (j + 1) * 784),
        );
        const max = Math.max(...canvas);
        const bytes = Float64Array.from(canvas, (v) => Math.floor(v * (255 / max) + 0.5));
        const want = resizeImage(bytes, 36, 36, 28, 28, resample).map((v) => v / 255);
        assertClose(d.inputs.subarray(i * 784, (i + 1) * 784), want, 1e-6);
      }
    });
  }

  it('the right digit fills the bottom rows; the left digit the top rows', () => {
    // With nearest, output rows 0-4 sample canvas rows 0-5 (left digit only) and output rows
    // 22-27 sample canvas rows 28-35 (right digit only).
    const mnist = loadMnist('test');
    const d = makeMultiMnist({ split: 'test', count: 50, seed: 9 });
    const rows = nearestIndices(36, 28);
    const rng = new Rng(9);
    for (let i = 0; i < d.length; i++) {
      const j = rng.int(10000);
      const img = d.inputs.subarray(i * 784, (i + 1) * 784);
      for (let y = 0; y < 28; y++) {
        if (y > 4 && y < 22) continue;
        const fromLeft = y <= 4;
        const src = fromLeft ? i : j;
        const srcRow = fromLeft ? rows[y] : rows[y] - 6;
        for (let x = 0; x < 28; x++) {
          const sx = rows[x] - (fromLeft ? 0 : 6);
          const inDigit = sx >= 0 && sx < 28 && srcRow < 28;
          const raw = inDigit ? mnist.images[src * 784 + srcRow * 28 + sx] : 0;
          assert.equal(img[y * 28 + x] > 0, raw > 0, `sample ${i} pixel (${y}, ${x})`);
        }
      }
    }
  });

  it('is deterministic by seed; different seeds give different partners', () => {
    const a = makeMultiMnist({ split: 'test', count: 500, seed: 1 });
    const b = makeMultiMnist({ split: 'test', count: 500, seed: 1 });
    const c = makeMultiMnist({ split: 'test', count: 500, seed: 2 });
    assert.deepEqual(a.inputs, b.inputs);
    assert.deepEqual(a.labels('right'), b.labels('right'));
    assert.deepEqual(a.labels('left'), c.labels('left'));
    assert.notDeepEqual(a.labels('right'), c.labels('right'));
    assert.notDeepEqual(a.inputs, c.inputs);
  });

  it('a smaller count is a prefix of the full dataset (partners come from the whole split)', () => {
    const small = makeMultiMnist({ split: 'test', count: 20, seed: 4 });
    const big = makeMultiMnist({ split: 'test', count: 200, seed: 4 });
    assert.deepEqual(small.inputs, big.inputs.subarray(0, 20 * 784));
    assert.deepEqual(small.labels('right'), big.labels('right').subarray(0, 20));
  });

  it('builds the 60,000 training images', function () {
    this.timeout(60000);
    const t0 = performance.now();
    const d = makeMultiMnist({ split: 'train', seed: 0 });
    const ms = performance.now() - t0;
    assert.equal(d.length, 60000);
    assert.equal(d.inputs.length, 60000 * 784);
    assert.ok(ms < 20000, `took ${ms.toFixed(0)} ms`);
  });

  it('rejects a bad count, seed or filter', () => {
    assert.throws(() => makeMultiMnist({ split: 'test', count: 10001 }), /count <= 10000/);
    assert.throws(() => makeMultiMnist({ split: 'test', count: 0 }), ValueError);
    assert.throws(() => makeMultiMnist({ split: 'test', seed: 0.5 }), ValueError);
    assert.throws(() => makeMultiMnist({ split: 'test', resample: 'box' as Resample }), ValueError);
  });

  it('makes the extra tasks from the same digits: parities, sum mod 10 and seeded noise', () => {
    const tasks = ['left', 'right', 'left-parity', 'right-parity', 'sum-mod10', 'noise'] as const;
    const ds = makeMultiMnist({ split: 'test', seed: 3, count: 500, tasks });
    const plain = makeMultiMnist({ split: 'test', seed: 3, count: 500 });
    assert.deepEqual(ds.taskNames, tasks);
    assert.deepEqual(plain.taskNames, ['left', 'right'], 'the default is unchanged');
    assert.deepEqual(ds.inputs, plain.inputs, 'the images do not depend on the tasks');
    const [l, r] = [ds.labels('left'), ds.labels('right')];
    assert.deepEqual(l, plain.labels('left'));
    for (let i = 0; i < 500; i++) {
      assert.equal(ds.labels('left-parity')[i], l[i] % 2);
      assert.equal(ds.labels('right-parity')[i], r[i] % 2);
      assert.equal(ds.labels('sum-mod10')[i], (l[i] + r[i]) % 10);
    }
    const noise = ds.labels('noise');
    const counts = new Array<number>(10).fill(0);
    for (const v of noise) counts[v]++;
    assert.ok(counts.every((c) => c > 25 && c < 80), `noise covers the 10 classes about evenly: ${counts}`);
    let same = 0;
    for (let i = 0; i < 500; i++) same += noise[i] === l[i] ? 1 : 0;
    assert.ok(same < 90, `noise is not the left digit (${same} of 500 agree)`);
    // Fixed per sample: the same seed gives the same noise, a prefix of a larger count keeps it.
    assert.deepEqual(makeMultiMnist({ split: 'test', seed: 3, count: 200, tasks: ['noise'] }).labels('noise'), noise.subarray(0, 200));
    assert.notDeepEqual(makeMultiMnist({ split: 'test', seed: 4, count: 500, tasks: ['noise'] }).labels('noise'), noise);
    assert.deepEqual(multiMnistTaskSpecs(['left-parity', 'noise']), [
      { name: 'left-parity', kind: 'classification', classes: 2 },
      { name: 'noise', kind: 'classification', classes: 10 },
    ]);
    assert.throws(() => makeMultiMnist({ split: 'test', count: 10, tasks: ['left', 'middle' as never] }), /tasks\[1\]/);
    assert.throws(() => makeMultiMnist({ split: 'test', count: 10, tasks: ['left', 'left'] }), /twice/);
    assert.throws(() => makeMultiMnist({ split: 'test', count: 10, tasks: [] }), ValueError);
  });
});
