/**
 * MultiTaskModel.load: a model rebuilt from a checkpoint alone, for every sharing kind and
 * every task kind (non-default options everywhere), predicts exactly what the saved one did
 * and carries its preprocessing; run folders (best, last); checkpoints from before the stored
 * configuration; typed errors.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ReferenceBackend } from '../../ts/backends/reference.js';
import { Rng } from '../../ts/core/random.js';
import { CheckpointError, ConfigError } from '../../ts/errors.js';
import { type ModelConfig, MultiTaskModel } from '../../ts/mtl/model.js';
import type { SharingConfig } from '../../ts/mtl/sharing/index.js';
import { type TrainingState, loadCheckpoint, readCheckpointFile, saveCheckpoint } from '../../ts/io/checkpoint.js';
import { Optimizer } from '../../ts/train/optimizer.js';
import { joinSafetensors, splitSafetensors, withoutChecksums } from '../train/checkpoint-fixtures.js';

const tmp = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'hydranet-load-'));
const state = (): TrainingState => ({ epoch: 1, step: 1, rngState: new Rng(0).getState() });

function config(sharing: SharingConfig): ModelConfig {
  return {
    inputShape: [5],
    trunk: [
      { type: 'dense', units: 4, activation: 'relu' },
      { type: 'dropout', p: 0.1 },
      { type: 'dense', units: 3, activation: 'tanh' },
    ],
    sharing,
    heads: { hidden: [3], activation: 'gelu', dropout: 0.2 },
    tasks: [
      { name: 'cls', kind: 'classification', classes: 3, weight: 0.5 },
      { name: 'bin', kind: 'binary', auxiliary: true },
      { name: 'tags', kind: 'multi-label', classes: 2, weight: 2 },
      { name: 'reg', kind: 'regression', outputs: 2, loss: 'l1', metrics: ['mae'] },
    ],
    maxBatch: 6,
    seed: 11,
  };
}

const SHARINGS: SharingConfig[] = [
  { kind: 'hard' },
  { kind: 'soft', penalty: 0.01 },
  { kind: 'cross-stitch', after: [0], self: 0.7 },
  { kind: 'mmoe', experts: 3 },
  { kind: 'cgc', shared: 1, perTask: 2 },
  { kind: 'ple', levels: 2, shared: 1, perTask: 1 },
];

const inputs = new Rng(5).uniformArray(9 * 5, -1, 1);

/** Trains a model one AdamW step (every parameter moves), so a fresh build cannot pass for it. */
function trainStep(model: MultiTaskModel): void {
  const rng = new Rng(2);
  const n = 6;
  // targets per task in order: cls (1), bin (1), tags (2), reg (2)
  const targets = new Float32Array(n * 6);
  for (let i = 0; i < n; i++) targets.set([i % 3, i % 2, 1, 0, rng.uniform() * 2 - 1, rng.uniform() * 2 - 1], i * 6);
  model.loadBatch(n, inputs, targets);
  model.forwardBackward(n, { training: true, seed: 1 });
  const optimizer = new Optimizer(model.backend, model.params, { kind: 'adamw', lr: 0.05 });
  optimizer.step();
}

describe('MultiTaskModel.load', () => {
  for (const sharing of SHARINGS) {
    it(`rebuilds a ${sharing.kind} model with every task kind from its checkpoint alone`, async () => {
      const model = new MultiTaskModel(new ReferenceBackend(), config(sharing));
      trainStep(model);
      model.preprocessing = { inputs: [{ column: 'age', mean: 41.5, std: 12 }], labels: { cls: ['a', 'b', 'c'] } };
      const file = path.join(tmp(), 'model.safetensors');
      await saveCheckpoint(file, model, null, state());
      const loaded = await MultiTaskModel.load(new ReferenceBackend(), file);
      assert.deepEqual(loaded.resolvedConfig, model.resolvedConfig);
      assert.deepEqual(loaded.architecture(), model.architecture());
      assert.deepEqual(loaded.tasks, model.tasks);
      assert.equal(loaded.params.count, model.params.count);
      assert.deepEqual(loaded.preprocessing, model.preprocessing);
      assert.deepEqual(await loaded.backend.read(loaded.params.values), await model.backend.read(model.params.values));
      assert.deepEqual(await loaded.predict(inputs), await model.predict(inputs));
    });
  }

  it('stores the config in the form the model takes back (MMoE: experts, not shared/perTask)', () => {
    const model = new MultiTaskModel(new ReferenceBackend(), config({ kind: 'mmoe', experts: 3 }));
    assert.deepEqual(model.resolvedConfig.sharing, { kind: 'mmoe', experts: 3 });
    // The architecture comparison keeps its old form, so older checkpoints still load.
    assert.deepEqual(model.architecture().sharing, { kind: 'mmoe', shared: 3, perTask: 0 });
    const defaults = new MultiTaskModel(new ReferenceBackend(), { inputShape: 5, trunk: [], tasks: [{ name: 'r', kind: 'regression' }], maxBatch: 2 });
    assert.deepEqual(JSON.parse(JSON.stringify(defaults.resolvedConfig)), {
      inputShape: [5],
      trunk: [],
      sharing: { kind: 'hard' },
      tasks: [{ name: 'r', kind: 'regression', outputs: 1, loss: 'mse', metrics: ['mse', 'mae'], auxiliary: false, weight: 1 }],
      heads: { hidden: [], activation: 'relu', dropout: 0 },
      maxBatch: 2,
      seed: 0,
    });
    assert.deepEqual(new MultiTaskModel(new ReferenceBackend(), config({ kind: 'cross-stitch' })).resolvedConfig.sharing, { kind: 'cross-stitch', self: 0.9 });
  });

  it('reads a run folder: best.safetensors by default, checkpoint.safetensors as last or when there is no best', async () => {
    const dir = tmp();
    const model = new MultiTaskModel(new ReferenceBackend(), config({ kind: 'hard' }));
    await saveCheckpoint(path.join(dir, 'best.safetensors'), model, null, state());
    const best = await model.predict(inputs);
    trainStep(model);
    await saveCheckpoint(path.join(dir, 'checkpoint.safetensors'), model, null, state());
    const last = await model.predict(inputs);
    assert.notDeepEqual(best, last);
    assert.deepEqual(await (await MultiTaskModel.load(new ReferenceBackend(), dir)).predict(inputs), best);
    assert.deepEqual(await (await MultiTaskModel.load(new ReferenceBackend(), dir, { checkpoint: 'last' })).predict(inputs), last);
    fs.rmSync(path.join(dir, 'best.safetensors'));
    assert.deepEqual(await (await MultiTaskModel.load(new ReferenceBackend(), dir)).predict(inputs), last);
    // A larger maxBatch for prediction: same outputs.
    const wide = await MultiTaskModel.load(new ReferenceBackend(), dir, { maxBatch: 32 });
    assert.equal(wide.maxBatch, 32);
    assert.deepEqual(await wide.predict(inputs), last);
  });

  it('refuses what it cannot rebuild, with a CheckpointError naming the file', async () => {
    const dir = tmp();
    const be = new ReferenceBackend();
    await assert.rejects(MultiTaskModel.load(be, dir), (e: Error) => e instanceof CheckpointError && /without best.safetensors or checkpoint.safetensors/.test(e.message));
    await assert.rejects(MultiTaskModel.load(be, path.join(dir, 'missing.safetensors')), (e: Error) => e instanceof CheckpointError && /no such file/.test(e.message));
    await assert.rejects(MultiTaskModel.load(be, dir, { checkpoint: 'first' } as never), ConfigError);
    await assert.rejects(MultiTaskModel.load(be, dir, { maxbatch: 2 } as never), (e: Error) => e instanceof ConfigError && /maxbatch/.test(e.message));

    // A checkpoint from before the configuration was stored: load explains; loadCheckpoint
    // into a model built by hand still works (the architecture comparison is unchanged).
    const model = new MultiTaskModel(be, config({ kind: 'mmoe', experts: 3 }));
    const file = path.join(dir, 'old.safetensors');
    await saveCheckpoint(file, model, null, state());
    const { header, data } = splitSafetensors(withoutChecksums(fs.readFileSync(file)));
    const meta = header.__metadata__ as Record<string, string>;
    delete meta.model;
    delete meta.preprocessing;
    fs.writeFileSync(file, joinSafetensors(header, data));
    assert.equal(readCheckpointFile(file).model, null);
    await assert.rejects(MultiTaskModel.load(be, file), (e: Error) => e instanceof CheckpointError && e.message.startsWith(file) && /loadCheckpoint/.test(e.message));
    await loadCheckpoint(file, new MultiTaskModel(be, config({ kind: 'mmoe', experts: 3 })));

    // A stored configuration that does not build: CheckpointError with the cause.
    meta.model = JSON.stringify({ ...model.resolvedConfig, sharing: { kind: 'mmoe', experts: 0 } });
    fs.writeFileSync(file, joinSafetensors(header, data));
    await assert.rejects(MultiTaskModel.load(be, file), (e: Error) => e instanceof CheckpointError && /does not build a model: .*sharing.experts/.test(e.message));
  });
});
