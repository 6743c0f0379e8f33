/**
 * MultiTaskModel.setGradientsReady (what data-parallel training starts its gradient all-reduces
 * from, ts/distributed/data-parallel.ts), in one process: during a backward pass the listener is
 * told offsets that never increase, ending at 0 (a trunk starting the arena says 0 twice): once
 * after the heads and once after each trunk layer with parameters (hard sharing) or once after
 * the whole body (MMoE), and at every call the gradients at offsets ≥ from already hold their
 * final values (a bucket started there sums what the reduction after the pass would). The same
 * with an embedding table first in the arena. Without a listener nothing is called.
 */
import assert from 'node:assert/strict';
import { HostTensor } from '../../ts/backends/host.js';
import { ReferenceBackend } from '../../ts/backends/reference.js';
import { Rng } from '../../ts/core/random.js';
import { type ModelConfig, MultiTaskModel } from '../../ts/mtl/model.js';

const tasks: ModelConfig['tasks'] = [
  { name: 'a', kind: 'classification', classes: 3 },
  { name: 'b', kind: 'regression', outputs: 1 },
];
const trunk: ModelConfig['trunk'] = [
  { type: 'dense', units: 6, activation: 'tanh' },
  { type: 'dropout', p: 0.2 },
  { type: 'dense', units: 5, activation: 'relu' },
  { type: 'dense', units: 4, activation: 'tanh' },
];
const configs: [string, ModelConfig, number][] = [
  ['hard trunk', { inputShape: [8], trunk, tasks, maxBatch: 4, seed: 1 }, 1 + 3 + 1],
  ['hard trunk after an embedding table', { inputShape: [8], trunk, embedding: { fields: [{ column: 7, vocab: 5, dim: 3 }] }, tasks, maxBatch: 4, seed: 2 }, 1 + 3 + 1],
  ['mmoe', { inputShape: [8], trunk: [{ type: 'dense', units: 5, activation: 'relu' }], sharing: { kind: 'mmoe', experts: 2 }, tasks, maxBatch: 4, seed: 3 }, 1 + 1],
];

describe('MultiTaskModel.setGradientsReady', () => {
  for (const [name, config, calls] of configs) {
    it(`${name}: tells offsets that never increase, each after the gradients above it are final`, () => {
      const model = new MultiTaskModel(new ReferenceBackend(), config);
      const grads = model.params.grads;
      assert.ok(grads instanceof HostTensor);
      const rng = new Rng(5);
      const x = rng.uniformArray(4 * 8, -1, 1);
      for (let i = 0; i < 4; i++) x[i * 8 + 7] = i % 5;
      model.loadBatch(4, x, Float32Array.of(0, 0.5, 1, -0.3, 2, 0.1, 1, 0.7), null);
      const seen: [number, Float32Array][] = [];
      model.setGradientsReady((from) => seen.push([from, grads.data.slice(from)]));
      model.forwardBackward(4, { training: true, seed: 9 });
      model.setGradientsReady(null);
      assert.equal(seen.length, calls, `calls at ${seen.map((s) => s[0]).join(', ')}`);
      assert.equal(seen.at(-1)![0], 0);
      for (let k = 1; k < seen.length; k++) assert.ok(seen[k][0] <= seen[k - 1][0], `offsets never increase: ${seen.map((s) => s[0]).join(', ')}`);
      const final = grads.data;
      assert.ok(final.some((g) => g !== 0));
      for (const [from, snapshot] of seen) {
        assert.ok(
          snapshot.every((g, i) => Object.is(g, final[from + i])),
          `the gradients at offsets ≥ ${from} were final when told`,
        );
      }
      // No listener: nothing is told.
      model.forwardBackward(4, { training: true, seed: 9 });
      assert.equal(seen.length, calls);
    });
  }
});
