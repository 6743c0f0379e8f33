/**
 * Learning-rate schedules: hand-computed values of every kind with and without warm-up, option
 * checking, and in training: the optimizer's lr set per step and logged per epoch.
 */
import assert from 'node:assert/strict';
import { ReferenceBackend } from '../../ts/backends/reference.js';
import { makeMultiMnist } from '../../ts/data/multimnist.js';
import { ConfigError, ValueError } from '../../ts/errors.js';
import { MultiTaskModel } from '../../ts/mtl/model.js';
import { type LrSchedule, checkLrSchedule, lrAt } from '../../ts/train/schedules.js';
import { Trainer } from '../../ts/train/trainer.js';
import { multiMnistMlp } from '../fixtures.js';

const close = (a: number, b: number, what: string): void => assert.ok(Math.abs(a - b) < 1e-12, `${what}: ${a} vs ${b}`);

describe('learning-rate schedules', () => {
  it('gives the hand-computed rate of every kind', () => {
    close(lrAt({ kind: 'constant' }, 7, 0.1, 100), 0.1, 'constant');
    const step: LrSchedule = { kind: 'step', stepSize: 3, gamma: 0.5 };
    assert.deepEqual([0, 2, 3, 5, 6].map((s) => lrAt(step, s, 1, 100)), [1, 1, 0.5, 0.5, 0.25]);
    close(lrAt({ kind: 'exponential', gamma: 0.9 }, 2, 1, 100), 0.81, 'exponential');
    const cos: LrSchedule = { kind: 'cosine', minLr: 0.1 };
    close(lrAt(cos, 0, 1.1, 10), 1.1, 'cosine start');
    close(lrAt(cos, 5, 1.1, 10), 0.6, 'cosine middle');
    close(lrAt(cos, 10, 1.1, 10), 0.1, 'cosine end');
    close(lrAt(cos, 50, 1.1, 10), 0.1, 'cosine after its end');
  });

  it('warms up linearly, then starts the decay at its step 0', () => {
    const s: LrSchedule = { kind: 'cosine', warmupSteps: 4 };
    assert.deepEqual([0, 1, 2, 3].map((i) => lrAt(s, i, 1, 14)), [0.25, 0.5, 0.75, 1]);
    close(lrAt(s, 4, 1, 14), 1, 'decay start');
    close(lrAt(s, 9, 1, 14), 0.5, 'cosine over the 10 steps after the warm-up');
    close(lrAt({ kind: 'step', stepSize: 2, warmupSteps: 2 }, 4, 1, 0), 0.1, 'step after warm-up');
  });

  it('rejects unknown kinds and keys and out-of-range numbers', () => {
    assert.throws(() => checkLrSchedule({ kind: 'linear' } as unknown as LrSchedule), /lrSchedule.kind/);
    assert.throws(() => checkLrSchedule({ kind: 'cosine', minlr: 0 } as unknown as LrSchedule), ConfigError);
    assert.throws(() => checkLrSchedule({ kind: 'step', stepSize: 0 }), ValueError);
    assert.throws(() => checkLrSchedule({ kind: 'exponential', gamma: 1.5 }), /gamma/);
    assert.throws(() => checkLrSchedule({ kind: 'constant', warmupSteps: -1 }), /warmupSteps/);
  });

  it('sets the optimizer lr per step in training and logs it per epoch; a resume continues it', async function () {
    this.timeout(60_000);
    const data = makeMultiMnist({ split: 'train', seed: 1, count: 64 });
    const model = new MultiTaskModel(new ReferenceBackend(), multiMnistMlp([16], 16, 3));
    const config = { optimizer: { kind: 'sgd' as const, lr: 0.1 }, batchSize: 16, epochs: 2, log: null, lrSchedule: { kind: 'step' as const, stepSize: 2, gamma: 0.5, warmupSteps: 2 } };
    const trainer = new Trainer(model, config);
    const seen: number[] = [];
    const history = await trainer.fit(data, { epochs: 1 });
    // Steps 0..3: warm-up 0.05, 0.1, then the step decay from its step 0: 0.1, 0.1.
    assert.deepEqual(history[0].lr, { first: 0.05, last: 0.1 });
    const more = new Trainer(new MultiTaskModel(new ReferenceBackend(), multiMnistMlp([16], 16, 3)), {
      ...config,
      callbacks: { stepEvery: 1, onStepEnd: (info) => void seen.push(info.lr) },
    });
    await more.fit(data);
    // Steps 4..7 of the 8-step run: 0.05, 0.05, 0.025, 0.025.
    assert.deepEqual(seen, [0.05, 0.1, 0.1, 0.1, 0.05, 0.05, 0.025, 0.025]);
    assert.deepEqual(more.history[1].lr, { first: 0.05, last: 0.025 });
    await trainer.fit(data, { epochs: 2 });
    assert.deepEqual(trainer.history[1].lr, { first: 0.05, last: 0.025 }, 'a second fit continues at step 4');
  });
});
