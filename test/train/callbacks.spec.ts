/**
 * Trainer callbacks and early stopping: onStepEnd throttled to every k steps, control.stop()
 * from either callback ending the run cleanly, early stopping after `patience` epochs without
 * improvement with the best parameters restored, and its counters kept across a resume.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ReferenceBackend } from '../../ts/backends/reference.js';
import { makeMultiMnist } from '../../ts/data/multimnist.js';
import { ConfigError, ValueError } from '../../ts/errors.js';
import { MultiTaskModel } from '../../ts/mtl/model.js';
import type { StepInfo } from '../../ts/train/callbacks.js';
import { Trainer, type TrainerConfig } from '../../ts/train/trainer.js';
import { backendsUnderTest } from '../backends/harness.js';
import { multiMnistMlp } from '../fixtures.js';

const fast = (await backendsUnderTest()).find((b) => b.name === 'cpu')?.backend ?? new ReferenceBackend();
const train = makeMultiMnist({ split: 'train', seed: 1, count: 512 });
const validation = makeMultiMnist({ split: 'test', seed: 2, count: 200 });
const model = (): MultiTaskModel => new MultiTaskModel(fast, multiMnistMlp([32], 64, 3));
const base: Omit<TrainerConfig, 'epochs'> = { optimizer: { kind: 'sgd', lr: 0.05, momentum: 0.9 }, batchSize: 64, seed: 5, log: null };
const sgd = (epochs: number, extra: Partial<TrainerConfig> = {}): TrainerConfig => ({ ...base, epochs, ...extra });

describe('Trainer callbacks and early stopping', function () {
  this.timeout(120_000);

  it('calls onStepEnd every k steps and at each epoch end, and onEpochEnd with the record', async () => {
    const steps: StepInfo[] = [];
    const epochs: number[] = [];
    const trainer = new Trainer(model(), sgd(2, { callbacks: { stepEvery: 3, onStepEnd: (i) => void steps.push(i), onEpochEnd: (r) => void epochs.push(r.epoch) } }));
    await trainer.fit(train);
    // 8 steps per epoch: steps 3, 6, 8 (epoch end), 9, 12, 15, 16.
    assert.deepEqual(steps.map((s) => s.step), [3, 6, 8, 9, 12, 15, 16]);
    assert.deepEqual(steps.map((s) => s.epoch), [1, 1, 1, 2, 2, 2, 2]);
    assert.equal(steps[2].stepInEpoch, 8);
    assert.equal(steps[2].stepsInEpoch, 8);
    assert.ok(Number.isFinite(steps[0].losses.left) && steps[0].lr === 0.05);
    assert.deepEqual(epochs, [1, 2]);
  });

  it('stops cleanly from onStepEnd (after that step, closing the epoch) and from onEpochEnd', async () => {
    const a = new Trainer(model(), sgd(3, { callbacks: { stepEvery: 1, onStepEnd: (i, c) => (i.step === 5 ? c.stop() : undefined) } }));
    const history = await a.fit(train, { validation });
    assert.equal(history.length, 1);
    assert.equal(history[0].step, 5);
    assert.equal(history[0].stoppedBy, 'callback');
    assert.ok(history[0].validation, 'the cut epoch is still validated');
    const b = new Trainer(model(), sgd(5, { callbacks: { onEpochEnd: (r, c) => (r.epoch === 2 ? c.stop() : undefined) } }));
    assert.equal((await b.fit(train)).length, 2);
    assert.equal(b.history[1].stoppedBy, 'callback');
  });

  it('stops after `patience` epochs without improvement and restores the best epoch from memory', async () => {
    const m = model();
    let best: Float32Array | null = null;
    const trainer = new Trainer(m, sgd(6, {
      earlyStopping: { patience: 2, restoreBest: true },
      callbacks: {
        onEpochEnd: async (r) => {
          if (r.epoch !== 1) return;
          // Keep epoch 1's parameters, then wreck them: every later epoch scores near chance.
          best = Float32Array.from(await m.backend.read(m.params.values));
          m.backend.fill(m.params.values, 0);
        },
      },
    }));
    const history = await trainer.fit(train, { validation });
    assert.equal(history.length, 3, 'epoch 1 best, 2 and 3 without improvement → stop');
    assert.equal(history[2].stoppedBy, 'earlyStopping');
    assert.ok(history[0].score! > history[2].score!);
    assert.deepEqual(await m.backend.read(m.params.values), best, 'the best epoch\'s parameters are back');
    assert.deepEqual(trainer.state().earlyStopping, { best: history[0].score, bestEpoch: 1, wait: 2 });
  });

  it('restores the best epoch from the run folder\'s best.safetensors when it was trained before a resume', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hydranet-test-'));
    try {
      const first = model();
      await new Trainer(first, sgd(1, { runDir: dir, earlyStopping: { patience: 5, restoreBest: true } })).fit(train, { validation });
      const best = Float32Array.from(await first.backend.read(first.params.values));
      const m = model();
      const lines: string[] = [];
      // Epochs 2 and 3 start from zeroed parameters at every step: they score worse than epoch 1.
      const resumed = new Trainer(m, sgd(3, {
        runDir: dir,
        log: (l) => void lines.push(l),
        earlyStopping: { patience: 5, restoreBest: true },
        callbacks: { stepEvery: 1, onStepEnd: () => m.backend.fill(m.params.values, 0) },
      }));
      const history = await resumed.fit(train, { validation, resumeFrom: path.join(dir, 'checkpoint.safetensors') });
      assert.equal(history.length, 3);
      assert.ok(history[0].score! > history[1].score! && history[0].score! > history[2].score!, 'epoch 1 (before the resume) is best');
      assert.deepEqual(await m.backend.read(m.params.values), best, 'epoch 1\'s parameters, read from best.safetensors');
      assert.ok(lines.some((l) => /restoreBest: restored the parameters of epoch 1 .*best\.safetensors/.test(l)), lines.join('\n'));
      // Without the file the final parameters are kept, and the log says why.
      fs.rmSync(path.join(dir, 'best.safetensors'));
      const again = model();
      const kept: string[] = [];
      const t = new Trainer(again, sgd(4, { runDir: dir, log: (l) => void kept.push(l), earlyStopping: { patience: 5, restoreBest: true }, callbacks: { stepEvery: 1, onStepEnd: () => again.backend.fill(again.params.values, 0) } }));
      await t.fit(train, { validation, resumeFrom: path.join(dir, 'checkpoint.safetensors') });
      assert.ok(kept.some((l) => /best\.safetensors does not exist; the parameters of epoch 4 are kept/.test(l)), kept.join('\n'));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps the early-stopping counters across a resume, and checks its options', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hydranet-test-'));
    const config = sgd(2, { runDir: dir, earlyStopping: { patience: 5 } });
    const a = new Trainer(model(), config);
    await a.fit(train, { validation });
    const b = new Trainer(model(), { ...config, runDir: null });
    // Nothing left to train: the state is restored all the same.
    await assert.rejects(b.fit(train, { validation, resumeFrom: path.join(dir, 'checkpoint.safetensors'), epochs: 2 }), ConfigError);
    assert.deepEqual(b.state().earlyStopping, a.state().earlyStopping);
    fs.rmSync(dir, { recursive: true, force: true });
    assert.throws(() => new Trainer(model(), sgd(1, { earlyStopping: { patience: 0 } })), ValueError);
    assert.throws(() => new Trainer(model(), sgd(1, { earlyStopping: { patience: 1, paitence: 2 } as never })), /paitence/);
    assert.throws(() => new Trainer(model(), sgd(1, { callbacks: { onEpochEnd: 3 } as never })), /callbacks.onEpochEnd/);
    await assert.rejects(new Trainer(model(), sgd(1, { earlyStopping: { patience: 1 } })).fit(train), /earlyStopping needs a validation set/);
  });
});
