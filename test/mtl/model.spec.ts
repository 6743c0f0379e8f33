/**
 * The whole model on the reference backend: its parameter gradients against finite
 * differences of the weighted total loss, for a trunk and heads exercising every activation,
 * several task kinds and a label mask; and the model's configuration errors.
 */
import assert from 'node:assert/strict';
import { ReferenceBackend } from '../../ts/backends/reference.js';
import { Rng } from '../../ts/core/random.js';
import { ConfigError, ShapeError } from '../../ts/errors.js';
import { type ModelConfig, MultiTaskModel } from '../../ts/mtl/model.js';
import { assertModelGradients } from '../backends/gradcheck.js';

const config: ModelConfig = {
  inputShape: [2, 3],
  trunk: [
    { type: 'dense', units: 5, activation: 'tanh' },
    { type: 'dense', units: 4, activation: 'gelu' },
    { type: 'dense', units: 4 },
    { type: 'activation', activation: 'sigmoid' },
  ],
  heads: { hidden: [3], activation: 'tanh' },
  tasks: [
    { name: 'cls', kind: 'classification', classes: 3, weight: 0.7 },
    { name: 'bin', kind: 'binary', weight: 1.3 },
    { name: 'reg', kind: 'regression', outputs: 2, loss: 'smooth-l1' },
    { name: 'tags', kind: 'multi-label', classes: 2, auxiliary: true },
  ],
  maxBatch: 8,
  seed: 4,
};

describe('MultiTaskModel', () => {
  for (const masked of [false, true]) {
    it(`gradients of Σ w_t·L_t match finite differences (reference${masked ? ', masked labels' : ''})`, () => {
      const be = new ReferenceBackend();
      const model = new MultiTaskModel(be, config);
      const rng = new Rng(masked ? 2 : 1);
      const n = 5;
      const x = rng.uniformArray(n * 6, -1, 1);
      // targets per task in order: cls (1), bin (1), reg (2), tags (2)
      const targets = new Float32Array(n * 6);
      for (let i = 0; i < n; i++) {
        targets.set([rng.int(3), rng.int(2), 0.4 * rng.normal(), 0.4 * rng.normal(), rng.int(2), rng.int(2)], i * 6);
      }
      const mask = masked ? new Float32Array(n * 4).map((_, i) => (i % 5 === 2 ? 0 : 1)) : null;
      model.loadBatch(n, x, targets, mask);
      assertModelGradients(model, n);
    });
  }

  it('names parameters per task for checkpoints and counts them', () => {
    const model = new MultiTaskModel(new ReferenceBackend(), config);
    const names = model.params.parameters.flatMap((p) => p.parts.map((q) => q.name));
    assert.ok(names.includes('trunk.0.weight'));
    assert.ok(names.includes('heads.cls.0.weight'));
    assert.ok(names.includes('heads.tags.1.bias'));
    // trunk 6·5+5 + 5·4+4 + 4·4+4, heads layer 0: 4 tasks × (4·3+3), layer 1: 3·(3+2+1+2) + (3+1+2+2)
    assert.equal(model.params.count, 35 + 24 + 20 + 4 * 15 + 3 * 8 + 8);
    assert.match(model.summary(), /parameters/);
  });

  it('rejects bad configurations with typed errors naming the field', () => {
    const be = new ReferenceBackend();
    assert.throws(() => new MultiTaskModel(be, { ...config, tasks: [] }), ConfigError);
    assert.throws(
      () => new MultiTaskModel(be, { ...config, tasks: [{ name: 'a', kind: 'classification', classes: 1 }] }),
      /tasks\[0\]\.classes/,
    );
    assert.throws(
      () => new MultiTaskModel(be, { ...config, tasks: [{ name: 'a', kind: 'regression', loss: 'softmax-ce' }] }),
      /tasks\[0\]\.loss/,
    );
    assert.throws(
      () => new MultiTaskModel(be, { ...config, tasks: [config.tasks[0], config.tasks[0]] }),
      /unique/,
    );
    assert.throws(() => new MultiTaskModel(be, { ...config, trunk: [{ type: 'conv' } as never] }), /trunk\[0\]/);
    assert.throws(() => new MultiTaskModel(be, { ...config, maxBatch: 0 }), /maxBatch/);
    const model = new MultiTaskModel(be, config);
    assert.throws(() => model.taskIndex('nope'), /cls, bin, reg, tags/);
    assert.throws(() => model.loadBatch(9, new Float32Array(9 * 6)), ShapeError);
    assert.throws(() => model.loadBatch(2, new Float32Array(5)), ShapeError);
  });
});
