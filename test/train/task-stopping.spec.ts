/**
 * Task-wise early stopping of auxiliary tasks (TCDCN): the criterion against hand-computed
 * values, and in training: the stopped task's weight drops to 0, its head stops changing, the
 * event is logged and recorded, and a resumed run keeps the task stopped.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ReferenceBackend } from '../../ts/backends/reference.js';
import { makeMultiMnist } from '../../ts/data/multimnist.js';
import { ConfigError } from '../../ts/errors.js';
import { type ModelConfig, MultiTaskModel } from '../../ts/mtl/model.js';
import { AuxiliaryTaskStopper, tcdcnCriterion } from '../../ts/train/task-stopping.js';
import { Trainer } from '../../ts/train/trainer.js';
import { backendsUnderTest } from '../backends/harness.js';

const fast = (await backendsUnderTest()).find((b) => b.backend)?.backend ?? new ReferenceBackend();

describe('TCDCN task-wise early stopping', function () {
  this.timeout(300_000);

  it('computes the criterion: training-error trend × generalisation gap', () => {
    // Flat training error 1 over k+1 = 3 epochs: trend = k·med / (Σ − k·med) = 2/(3 − 2) = 2;
    // gap = (1.5 − 1)/(λ·1) = 0.25 with λ = 2 → 0.5.
    assert.equal(tcdcnCriterion([1, 1, 1], 1.5, 2, 2), 0.5);
    // Falling error [4, 2, 1]: med 2, Σ 7, trend = 4/3; gap = (1.5 − 1)/1 → 2/3.
    assert.ok(Math.abs(tcdcnCriterion([4, 2, 1], 1.5, 2, 1)! - 2 / 3) < 1e-12);
    assert.equal(tcdcnCriterion([1, 1], 5, 2, 1), null, 'needs k+1 epochs');
    assert.ok(tcdcnCriterion([1, 1, 1], 0.9, 2, 1)! <= 0, 'no gap, no stop');
    const s = new AuxiliaryTaskStopper({ k: 2, threshold: 0.4 });
    assert.equal(s.update('aux', 1, 1, 1.5, 2), null);
    assert.equal(s.update('aux', 2, 1, 1.5, 2), null);
    assert.equal(s.update('aux', 3, 1, 1.5, 2), 0.5);
    assert.deepEqual(s.stopped.get('aux'), { epoch: 3, value: 0.5 });
    assert.throws(() => new AuxiliaryTaskStopper({ k: 0 }), /auxiliaryStopping.k/);
  });

  it('stops an auxiliary task in training: weight 0, head frozen, event logged, kept on resume', async () => {
    // Few samples and a wide trunk: the training loss soon falls below the validation loss.
    const train = makeMultiMnist({ split: 'train', seed: 1, count: 256 });
    const test = makeMultiMnist({ split: 'test', seed: 2, count: 256 });
    const config: ModelConfig = {
      inputShape: [784],
      trunk: [{ type: 'dense', units: 128, activation: 'relu' }],
      tasks: [
        { name: 'left', kind: 'classification', classes: 10 },
        { name: 'right', kind: 'classification', classes: 10, auxiliary: true },
      ],
      maxBatch: 64,
      seed: 1,
    };
    const lines: string[] = [];
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hydranet-stop-'));
    const model = new MultiTaskModel(fast, config);
    const settings = {
      optimizer: { kind: 'sgd' as const, lr: 0.05, momentum: 0.9 },
      batchSize: 64,
      seed: 2,
      auxiliaryStopping: { k: 1, threshold: 0 },
      log: (l: string) => lines.push(l),
    };
    const epochs = 12;
    const trainer = new Trainer(model, { ...settings, epochs, runDir: dir });
    const history = await trainer.fit(train, { validation: test });
    // With k = 1 and threshold 0, the first epoch (from the 2nd on) whose validation loss
    // exceeds the best training loss stops the auxiliary task.
    const stop = history.find((r) => r.stopped?.right !== undefined);
    assert.ok(stop && stop.epoch < epochs, JSON.stringify(history.map((r) => [r.train.right, r.validation!.right.loss])));
    assert.ok(lines.some((l) => new RegExp(`auxiliary task right stopped after epoch ${stop.epoch}`).test(l)), lines.join('\n'));
    assert.ok(history.every((r) => r.stopped?.left === undefined), 'main tasks never stop');
    for (const r of history.filter((h) => h.epoch > stop.epoch)) assert.equal(r.weights.right, 0, `epoch ${r.epoch}`);

    const headRight = (arena: Float32Array): Float32Array => {
      const p = model.params.parameters.find((q) => q.name === 'heads.0.weight')!;
      const part = p.parts.find((q) => q.name === 'heads.right.0.weight')!;
      return arena.slice(p.offset + part.offset, p.offset + part.offset + 10 * 32);
    };
    const before = headRight(await fast.read(model.params.values));
    const resumed = new Trainer(model, { ...settings, epochs: epochs + 1 });
    const more = await resumed.fit(train, { validation: test, resumeFrom: path.join(dir, 'checkpoint.safetensors') });
    assert.equal(more.at(-1)!.weights.right, 0, 'its weight is 0 after the stop (also after resume)');
    assert.equal(more.at(-1)!.weights.left, 1);
    // Zero weight and cleared momentum (no weight decay here): its head no longer changes.
    assert.deepEqual(headRight(await fast.read(model.params.values)), before, 'its head no longer changes');
  });

  it('refuses a configuration it cannot honour', async () => {
    const model = new MultiTaskModel(fast, {
      inputShape: [4],
      trunk: [],
      tasks: [{ name: 'a', kind: 'regression' }],
      maxBatch: 4,
    });
    assert.throws(
      () => new Trainer(model, { optimizer: { kind: 'sgd', lr: 0.1 }, batchSize: 4, epochs: 1, auxiliaryStopping: {} }),
      (e: Error) => e instanceof ConfigError && /no task is auxiliary/.test(e.message),
    );
  });
});
