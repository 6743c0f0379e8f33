/**
 * Image layers on the reference backend: a convolutional model's gradients against finite
 * differences (strides, padding, every activation path), max-pool's gradient on inputs whose
 * window values are well apart (so a perturbation never changes the winner), dropout2d
 * dropping whole channels, flatten as a view, and image shapes flowing through a model.
 */
import assert from 'node:assert/strict';
import { Pool2dGeometry, type Tensor } from '../../ts/backends/backend.js';
import { ReferenceBackend } from '../../ts/backends/reference.js';
import { Rng, dropoutKeep } from '../../ts/core/random.js';
import { ShapeError } from '../../ts/errors.js';
import { MultiTaskModel } from '../../ts/mtl/model.js';
import { assertGradClose, assertModelGradients, numericGradient } from '../backends/gradcheck.js';

const data = (t: Tensor): Float32Array => (t as unknown as { data: Float32Array }).data;

describe('image layers (reference)', () => {
  it('a conv model (stride 2, padding, tanh/gelu/sigmoid, flatten, dense) matches finite differences', () => {
    const be = new ReferenceBackend();
    const model = new MultiTaskModel(be, {
      inputShape: [2, 7, 9],
      trunk: [
        { type: 'conv2d', filters: 3, kernel: 3, padding: 1, activation: 'tanh' },
        { type: 'conv2d', filters: 4, kernel: 2, stride: 2, activation: 'gelu' },
        { type: 'conv2d', filters: 2, kernel: 1, activation: 'sigmoid' }, // smooth: a ReLU kink would spoil finite differences
        { type: 'flatten' },
        { type: 'dense', units: 5, activation: 'tanh' },
      ],
      tasks: [
        { name: 'a', kind: 'classification', classes: 3 },
        { name: 'b', kind: 'regression', outputs: 2 },
      ],
      maxBatch: 4,
      seed: 2,
    });
    assert.match(model.summary(), /conv 3×3 2×7×9→3×7×9 tanh → conv 2×2 3×7×9→4×3×4 gelu/);
    const rng = new Rng(5);
    const n = 3;
    const targets = new Float32Array(n * 3);
    for (let i = 0; i < n; i++) targets.set([rng.int(3), rng.normal(), rng.normal()], i * 3);
    model.loadBatch(n, rng.uniformArray(n * 126, -1, 1), targets);
    assertModelGradients(model, n);
  });

  it('max-pool routes the gradient to each window winner (finite differences on well-separated values)', () => {
    const be = new ReferenceBackend();
    const geo = new Pool2dGeometry(2, 5, 7, 2, 2); // leftover row and column are never read
    const n = 2;
    const size = n * 2 * 5 * 7;
    const rng = new Rng(8);
    // A permutation of 0.1·k: every two values differ by ≥ 0.1 ≫ the finite-difference step.
    const values = rng.shuffle(Float32Array.from({ length: size }, (_, k) => 0.1 * k - 3));
    const x = be.upload(values, [n, 2, 5, 7]);
    const y = be.alloc([n, 2, geo.outH, geo.outW]);
    const argmax = be.alloc([n, 2, geo.outH, geo.outW]);
    const r = rng.uniformArray(y.size, -1, 1);
    const f = (): number => {
      be.maxPool2dForward(x, y, argmax, geo);
      return data(y).reduce((s, v, i) => s + v * r[i], 0);
    };
    const numeric = numericGradient(data(x), f);
    f();
    const dx = be.alloc([n, 2, 5, 7]);
    be.maxPool2dBackward(be.upload(r, [y.size]), argmax, dx, geo);
    assertGradClose(data(dx), numeric, 'max-pool dx');
    assert.equal(geo.outH, 2);
    assert.equal(geo.outW, 3);
  });

  it('dropout2d drops whole channels with the shared mask rule; flatten is a view', () => {
    const be = new ReferenceBackend();
    const x = be.upload(Float32Array.from({ length: 3 * 4 * 6 }, (_, i) => i + 1), [3, 4, 2, 3]);
    const y = be.alloc([3, 4, 2, 3]);
    const mask = be.alloc([3, 4]);
    be.dropout2dForward(x, y, mask, 0.5, 77);
    for (let k = 0; k < 12; k++) {
      const keep = dropoutKeep(77, k, 0.5);
      assert.equal(data(mask)[k], keep ? 2 : 0);
      for (let j = 0; j < 6; j++) assert.equal(data(y)[k * 6 + j], keep ? 2 * data(x)[k * 6 + j] : 0);
    }
    assert.throws(
      () => new MultiTaskModel(be, { inputShape: [784], trunk: [{ type: 'conv2d', filters: 2, kernel: 3 }], tasks: [{ name: 'a', kind: 'regression' }], maxBatch: 2 }),
      (e: Error) => e instanceof ShapeError && /^trunk\[0\] \(conv2d\): needs an image input/.test(e.message),
    );
    assert.throws(
      () => new MultiTaskModel(be, { inputShape: [4, 4], trunk: [{ type: 'conv2d', filters: 2, kernel: 5 }], tasks: [{ name: 'a', kind: 'regression' }], maxBatch: 2 }),
      (e: Error) => e instanceof ShapeError && /trunk\[0\] \(conv2d\): a 5×5 kernel does not fit a 4×4 input/.test(e.message),
    );
  });
});
