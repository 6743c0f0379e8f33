/**
 * Training end to end on MultiMNIST subsets: learning well above chance, the same result on
 * reference and cpu for the same seed, checkpoint round trips, exact resume, the NaN stop,
 * and bad input rejected before any kernel runs.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Backend } from '../../ts/backends/backend.js';
import { ReferenceBackend } from '../../ts/backends/reference.js';
import { MultiTaskDataset } from '../../ts/data/dataset.js';
import { makeMultiMnist } from '../../ts/data/multimnist.js';
import { CheckpointError, ConfigError, LabelError, NonFiniteLossError, ShapeError } from '../../ts/errors.js';
import { type ModelConfig, MultiTaskModel } from '../../ts/mtl/model.js';
import { decodeSafetensors, loadCheckpoint } from '../../ts/io/checkpoint.js';
import { Trainer, type TrainerConfig } from '../../ts/train/trainer.js';
import { assertClose, backendsUnderTest } from '../backends/harness.js';
import { multiMnistMlp } from '../fixtures.js';

const under = await backendsUnderTest();
const cpu = under.find((b) => b.name === 'cpu')?.backend ?? null;
const fast: Backend = cpu ?? new ReferenceBackend();

const train = makeMultiMnist({ split: 'train', seed: 1, count: 6000 });
const test = makeMultiMnist({ split: 'test', seed: 2, count: 1000 });
const small = train.slice(0, 512);

const mlp = (maxBatch: number, extra: Partial<ModelConfig> = {}): ModelConfig => multiMnistMlp([64, 32], maxBatch, 3, extra);

const sgd = (epochs: number, extra: Partial<TrainerConfig> = {}): TrainerConfig => ({
  optimizer: { kind: 'sgd', lr: 0.05, momentum: 0.9 },
  batchSize: 64,
  epochs,
  seed: 5,
  log: null,
  ...extra,
});

const tmp = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'hydranet-test-'));

describe('Trainer', function () {
  this.timeout(300_000);

  it(`learns both MultiMNIST tasks well above chance in ~280 steps (${fast.name})`, async () => {
    const model = new MultiTaskModel(fast, mlp(64, { trunk: [{ type: 'dense', units: 128, activation: 'relu' }, { type: 'dense', units: 64, activation: 'relu' }] }));
    const trainer = new Trainer(model, sgd(3));
    const history = await trainer.fit(train, { validation: test });
    const last = history.at(-1)!.validation!;
    // Chance is 10 %; after three epochs on 6k samples both tasks sit far above it.
    assert.ok(last.left.accuracy! > 0.6, `left accuracy ${last.left.accuracy}`);
    assert.ok(last.right.accuracy! > 0.5, `right accuracy ${last.right.accuracy}`);
    assert.ok(history[2].train.left < history[0].train.left, 'training loss falls');
  });

  for (const { name, backend } of under) {
    it(`gives the same result on reference and ${name} for the same seed (dropout included)`, async function () {
      if (!backend) this.skip();
      const config = mlp(64, { heads: { hidden: [16], dropout: 0.25 } });
      const runs = [];
      for (const be of [new ReferenceBackend(), backend!]) {
        const model = new MultiTaskModel(be, config);
        const trainer = new Trainer(model, sgd(2));
        const history = await trainer.fit(small, { validation: test.slice(0, 200) });
        runs.push({ history, params: await be.read(model.params.values) });
      }
      // Two epochs of SGD amplify f32 rounding differences a little; 1e-3 absolute is far
      // below the size of any real divergence (parameters are O(0.1)).
      // cuda multiplies in TF32 (10-bit mantissas): allow 5× more there.
      const tol = name === 'cuda' ? 5e-3 : 1e-3;
      assertClose(runs[1].params, runs[0].params, { atol: tol, rtol: tol }, 'parameters after 16 steps');
      for (const task of ['left', 'right']) {
        assert.ok(Math.abs(runs[1].history[1].train[task] - runs[0].history[1].train[task]) < tol, `${task} loss`);
        assert.ok(Math.abs(runs[1].history[1].validation![task].accuracy! - runs[0].history[1].validation![task].accuracy!) <= 0.01, `${task} accuracy`);
      }
    });
  }

  it('round-trips a checkpoint and refuses one from another architecture', async () => {
    const dir = tmp();
    const model = new MultiTaskModel(fast, mlp(64));
    const trainer = new Trainer(model, sgd(1, { runDir: dir }));
    await trainer.fit(small);
    for (const f of ['config.json', 'metrics.json', 'checkpoint.safetensors', 'best.safetensors']) {
      assert.ok(fs.existsSync(path.join(dir, f)), f);
    }
    const file = path.join(dir, 'checkpoint.safetensors');
    const fresh = new MultiTaskModel(fast, { ...mlp(64), seed: 99 });
    const state = await loadCheckpoint(file, fresh);
    assert.equal(state.epoch, 1);
    assert.deepEqual(await fast.read(fresh.params.values), await fast.read(model.params.values));
    const st = decodeSafetensors(fs.readFileSync(file), file);
    assert.deepEqual(st.tensors.get('heads.left.0.weight')!.shape, [10, 32]);
    assert.deepEqual(st.tensors.get('trunk.0.weight')!.shape, [64, 784]);

    const other = new MultiTaskModel(fast, { ...mlp(64), trunk: [{ type: 'dense', units: 10, activation: 'relu' }] });
    await assert.rejects(loadCheckpoint(file, other), (e: Error) => e instanceof CheckpointError && /architecture/.test(e.message));
    const truncated = path.join(dir, 'truncated.safetensors');
    fs.writeFileSync(truncated, fs.readFileSync(file).subarray(0, 5000));
    await assert.rejects(loadCheckpoint(truncated, fresh), CheckpointError);
    await assert.rejects(loadCheckpoint(path.join(dir, 'missing.safetensors'), fresh), CheckpointError);
    // Atomic writes leave no temporary files behind.
    assert.deepEqual(fs.readdirSync(dir).filter((f) => f.includes('.tmp')), []);
  });

  it('resumes exactly: 1 epoch + resume + 1 epoch equals 2 epochs straight', async () => {
    const be = new ReferenceBackend();
    const config = mlp(64, { heads: { hidden: [16], dropout: 0.2 } });
    const straight = new MultiTaskModel(be, config);
    const h1 = await new Trainer(straight, sgd(2)).fit(small);

    const dir = tmp();
    const first = new MultiTaskModel(be, config);
    await new Trainer(first, sgd(1, { runDir: dir })).fit(small);
    const resumed = new MultiTaskModel(be, { ...config, seed: 1234 });
    const h2 = await new Trainer(resumed, sgd(2)).fit(small, { resumeFrom: path.join(dir, 'checkpoint.safetensors') });
    assert.deepEqual(await be.read(resumed.params.values), await be.read(straight.params.values));
    assert.equal(h2.at(-1)!.train.left, h1.at(-1)!.train.left);
    assert.equal(h2.at(-1)!.step, h1.at(-1)!.step);
  });

  it('stops on a non-finite loss naming the step and task, keeping the last good checkpoint', async () => {
    const dir = tmp();
    const model = new MultiTaskModel(fast, mlp(64));
    await new Trainer(model, sgd(1, { runDir: dir })).fit(small);
    const file = path.join(dir, 'checkpoint.safetensors');
    const before = fs.readFileSync(file);
    const exploding = new Trainer(model, sgd(2, { runDir: dir, optimizer: { kind: 'sgd', lr: 1e35 } }));
    await assert.rejects(exploding.fit(small, { resumeFrom: file }), (e: Error) => {
      assert.ok(e instanceof NonFiniteLossError, String(e));
      assert.ok(e.step > 8 && e.step <= 16, `step ${e.step}`);
      assert.ok(['left', 'right'].includes(e.task));
      assert.match(e.message, /last good checkpoint \(epoch 1\)/);
      return true;
    });
    assert.ok(fs.readFileSync(file).equals(before), 'the epoch-1 checkpoint is untouched');
  });

  it('rejects bad input before any kernel runs', async () => {
    const be = new ReferenceBackend();
    const model = new MultiTaskModel(be, mlp(64));
    const params = await be.read(model.params.values);
    const labels = Float32Array.from(small.labels('left'));
    labels[7] = 10;
    const badLabels = new MultiTaskDataset({
      inputs: small.inputs,
      inputShape: [28, 28],
      labels: { left: labels, right: small.labels('right') },
    });
    await assert.rejects(new Trainer(model, sgd(1)).fit(badLabels), (e: Error) => e instanceof LabelError && /sample 7/.test(e.message));
    const onlyLeft = new MultiTaskDataset({ inputs: small.inputs, inputShape: [784], labels: { left: small.labels('left') } });
    await assert.rejects(new Trainer(model, sgd(1)).fit(onlyLeft), (e: Error) => e instanceof ConfigError && /right/.test(e.message));
    const narrow = new MultiTaskDataset({
      inputs: small.inputs.subarray(0, 512 * 100),
      inputShape: [100],
      labels: { left: small.labels('left'), right: small.labels('right') },
    });
    await assert.rejects(new Trainer(model, sgd(1)).fit(narrow), ShapeError);
    assert.throws(() => new Trainer(model, sgd(1, { weights: { middle: 1 } })), /Unknown task "middle"/);
    assert.throws(() => new Trainer(model, sgd(1, { batchSize: 65 })), /maxBatch/);
    assert.throws(() => new Trainer(model, sgd(1, { optimizer: { kind: 'rmsprop' } as never })), /sgd or adamw/);
    assert.deepEqual(await be.read(model.params.values), params, 'no parameter changed');
  });

  it('trains with AdamW, masked labels and task weights', async () => {
    const mask = new Uint8Array(small.length).map((_, i) => (i % 3 === 0 ? 0 : 1));
    const partial = new MultiTaskDataset({
      inputs: small.inputs,
      inputShape: [28, 28],
      labels: { left: small.labels('left'), right: small.labels('right') },
      masks: { right: mask },
    });
    const model = new MultiTaskModel(fast, mlp(64));
    const trainer = new Trainer(model, sgd(2, { optimizer: { kind: 'adamw', lr: 2e-3 }, weights: { left: 2, right: 0.5 } }));
    const h = await trainer.fit(partial, { validation: partial });
    assert.equal(h[1].weights.left, 2);
    assert.equal(h[1].validation!.right.count, mask.reduce((a, b) => a + b, 0));
    assert.ok(h[1].train.left < h[0].train.left);
  });
});
