/**
 * MultiTaskModel.extend (adding tasks to a trained model), for every sharing kind on the
 * reference and cpu backends: the old tasks' outputs bit-identical after adding a task (twice
 * over), the old parameters copied, the new ones as a fresh grown model initialises them, the
 * grown shared parts (cross-stitch units, PLE's shared gates) set as documented, the new task
 * trains while the old heads and the old model stay put, and save + load round-trips.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Backend } from '../../ts/backends/backend.js';
import { ReferenceBackend } from '../../ts/backends/reference.js';
import { Rng } from '../../ts/core/random.js';
import { BusyError, ConfigError } from '../../ts/errors.js';
import { saveCheckpoint } from '../../ts/io/checkpoint.js';
import { type ModelConfig, MultiTaskModel } from '../../ts/mtl/model.js';
import { CLOSED_GATE } from '../../ts/mtl/ple.js';
import type { SharingConfig } from '../../ts/mtl/sharing/index.js';
import type { TaskSpec } from '../../ts/mtl/task.js';
import { Optimizer } from '../../ts/train/optimizer.js';
import { backendsUnderTest } from '../backends/harness.js';

const cpu = (await backendsUnderTest()).find((b) => b.name === 'cpu')?.backend ?? null;
const BACKENDS: [string, () => Backend][] = [['reference', () => new ReferenceBackend()]];
if (cpu) BACKENDS.push(['cpu', () => cpu]);

const SHARINGS: SharingConfig[] = [
  { kind: 'hard' },
  { kind: 'soft', penalty: 0.01 },
  { kind: 'cross-stitch', self: 0.8 },
  { kind: 'mmoe', experts: 3 },
  { kind: 'cgc', shared: 2, perTask: 1 },
  { kind: 'ple', levels: 2, shared: 1, perTask: 1 },
];

function config(sharing: SharingConfig): ModelConfig {
  return {
    inputShape: [7],
    trunk: [
      { type: 'dense', units: 6, activation: 'relu' },
      { type: 'dense', units: 5, activation: 'tanh' },
    ],
    sharing,
    heads: { hidden: [4], activation: 'relu' },
    tasks: [
      { name: 'a', kind: 'classification', classes: 3 },
      { name: 'b', kind: 'regression', outputs: 2 },
    ],
    maxBatch: 16,
    seed: 3,
  };
}

const NEW: TaskSpec = { name: 'c', kind: 'classification', classes: 4 };
const NEWER: TaskSpec = { name: 'd', kind: 'binary' };
const N = 16;
const inputs = new Rng(9).uniformArray(N * 7, -1, 1);

/** Targets in task order for the model's tasks (a: class, b: 2 values, c: class, d: 0/1). */
function targets(model: MultiTaskModel): Float32Array {
  const out = new Float32Array(N * model.lossLayout.totalTgt);
  const rng = new Rng(4);
  for (let i = 0; i < N; i++) {
    const row = [i % 3, rng.uniform() - 0.5, rng.uniform() - 0.5, (i * 7) % 4, i % 2].slice(0, model.lossLayout.totalTgt);
    out.set(row, i * model.lossLayout.totalTgt);
  }
  return out;
}

/** `steps` AdamW steps on the fixed batch, only the tasks flagged in `labelled` counting; returns the per-task losses before and after. */
async function train(model: MultiTaskModel, labelled: boolean[], steps: number): Promise<{ before: Float32Array; after: Float32Array }> {
  const mask = new Float32Array(N * model.tasks.length);
  for (let i = 0; i < N; i++) labelled.forEach((on, t) => (mask[i * model.tasks.length + t] = on ? 1 : 0));
  const optimizer = new Optimizer(model.backend, model.params, { kind: 'adamw', lr: 0.02, weightDecay: 0 });
  model.loadBatch(N, inputs, targets(model), mask);
  let before: Float32Array | null = null;
  for (let s = 0; s < steps; s++) {
    model.forwardBackward(N, { training: true, seed: s });
    before ??= await model.backend.read(model.losses);
    optimizer.step();
  }
  model.forwardLoss(N, { training: false, seed: 0 });
  return { before: before!, after: await model.backend.read(model.losses) };
}

/** Every stored part of a model, by name. */
async function parts(model: MultiTaskModel): Promise<Map<string, Float32Array>> {
  const values = await model.backend.read(model.params.values);
  return new Map([...model.params.partRanges()].map((r) => [r.name, values.slice(r.start, r.end)]));
}

describe('MultiTaskModel.extend: adding a task to a trained model', () => {
  for (const [backendName, backend] of BACKENDS) {
    for (const sharing of SHARINGS) {
      it(`${sharing.kind} on ${backendName}: old outputs bit-identical, new parameters fresh, the new task trains, save + load round-trips`, async () => {
        const be = backend();
        const old = new MultiTaskModel(be, config(sharing));
        await train(old, [true, true], 3); // trained: no parameter is at its initial value
        const before = await old.predict(inputs);
        const oldParts = await parts(old);

        const grown = await MultiTaskModel.extend(old, NEW);
        assert.deepEqual(grown.tasks.map((t) => t.name), ['a', 'b', 'c']);
        assert.ok(grown.params.count > old.params.count);
        const after = await grown.predict(inputs);
        assert.deepEqual(after.a, before.a, 'task a changed');
        assert.deepEqual(after.b, before.b, 'task b changed');
        assert.equal(after.c.length, N * 4);

        // Old parts copied; new parts as a fresh model of the grown configuration has them.
        const fresh = await parts(new MultiTaskModel(be, { ...config(sharing), tasks: [...config(sharing).tasks, NEW] }));
        const grownParts = await parts(grown);
        let copied = 0;
        for (const [name, v] of grownParts) {
          const o = oldParts.get(name);
          if (o && o.length === v.length) {
            assert.deepEqual(v, o, `${name} not copied`);
            copied++;
          } else if (!o) {
            assert.deepEqual(v, fresh.get(name), `${name} not freshly initialised`);
          }
        }
        assert.equal(copied, oldParts.size - (sharing.kind === 'cross-stitch' ? 2 : sharing.kind === 'ple' ? 2 : 0));
        if (sharing.kind === 'cross-stitch') {
          const unit = grownParts.get('cross-stitch.0')!;
          const was = oldParts.get('cross-stitch.0')!;
          assert.deepEqual([...unit.slice(0, 2)], [...was.slice(0, 2)]);
          assert.deepEqual([unit[2], unit[5]], [0, 0]); // the old rows read nothing from tower c
          assert.deepEqual(unit.slice(6), fresh.get('cross-stitch.0')!.slice(6)); // tower c's row: fresh
        }
        if (sharing.kind === 'ple') {
          const bias = grownParts.get('ple.0.gates.shared.bias')!;
          assert.deepEqual([...bias.slice(0, 3)], [...oldParts.get('ple.0.gates.shared.bias')!]);
          assert.deepEqual([...bias.slice(3)], [Math.fround(CLOSED_GATE)]);
        }

        // The new task trains (the old tasks masked out); the old model is untouched by it.
        const { before: l0, after: l1 } = await train(grown, [false, false, true], 40);
        assert.ok(l1[2] < 0.6 * l0[2], `task c's loss ${l0[2]} → ${l1[2]}`);
        assert.deepEqual(await parts(old), oldParts, 'the old model moved');
        assert.deepEqual(await old.predict(inputs), before);

        // Adding again (to a model that grew): the outputs of a, b and c stay.
        const trained = await grown.predict(inputs);
        const twice = await MultiTaskModel.extend(grown, [NEWER]);
        const out2 = await twice.predict(inputs);
        for (const t of ['a', 'b', 'c']) assert.deepEqual(out2[t], trained[t], `task ${t} changed on the second extend`);

        // Save + load: the stored architecture is the grown one.
        const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'hydranet-add-task-')), 'grown.safetensors');
        await saveCheckpoint(file, twice, null, { epoch: 1, step: 1, rngState: new Rng(0).getState() });
        const loaded = await MultiTaskModel.load(be, file);
        assert.deepEqual(loaded.resolvedConfig, twice.resolvedConfig);
        assert.deepEqual(loaded.tasks.map((t) => t.name), ['a', 'b', 'c', 'd']);
        assert.deepEqual(await loaded.predict(inputs), out2);
      });
    }
  }

  it('model.addTask(spec) returns a new grown model, as extend does; the old model stays valid and unchanged', async () => {
    const be = new ReferenceBackend();
    const old = new MultiTaskModel(be, config({ kind: 'hard' }));
    const before = await be.read(old.params.values);
    const grown = await old.addTask(NEW, { seed: 5 });
    const viaExtend = await MultiTaskModel.extend(old, [NEW], { seed: 5 });
    assert.notEqual(grown, old);
    assert.deepEqual(grown.tasks.map((t) => t.name), [...old.tasks.map((t) => t.name), NEW.name]);
    assert.deepEqual(await be.read(grown.params.values), await be.read(viaExtend.params.values));
    assert.deepEqual(await be.read(old.params.values), before);
    assert.equal(old.tasks.length, 2);
    const x = new Rng(1).uniformArray(4 * old.featureSize, -1, 1);
    const a = await old.predict(x);
    const b = await grown.predict(x);
    for (const t of old.tasks) assert.deepEqual(b[t.name], a[t.name]);
    await assert.rejects(old.addTask({ name: old.tasks[0].name, kind: 'binary' }), ConfigError);
  });

  it('takes the seed and maxBatch options, carries the preprocessing, and refuses bad input with typed errors', async () => {
    const be = new ReferenceBackend();
    const old = new MultiTaskModel(be, config({ kind: 'hard' }));
    old.preprocessing = { mean: [1, 2] };
    const a = await MultiTaskModel.extend(old, NEW, { seed: 5, maxBatch: 32 });
    const b = await MultiTaskModel.extend(old, NEW, { seed: 6 });
    assert.equal(a.maxBatch, 32);
    assert.equal(a.resolvedConfig.seed, 5);
    assert.deepEqual(a.preprocessing, { mean: [1, 2] });
    assert.notDeepEqual((await parts(a)).get('heads.c.0.weight'), (await parts(b)).get('heads.c.0.weight'));
    assert.deepEqual((await parts(a)).get('heads.a.0.weight'), (await parts(b)).get('heads.a.0.weight'));
    await assert.rejects(MultiTaskModel.extend(old, { name: 'a', kind: 'binary' }), (e: Error) => e instanceof ConfigError && /unique; a appears twice/.test(e.message));
    await assert.rejects(MultiTaskModel.extend(old, []), ConfigError);
    await assert.rejects(MultiTaskModel.extend(old, NEW, { sed: 1 } as never), (e: Error) => e instanceof ConfigError && /"sed"/.test(e.message));
    await assert.rejects(MultiTaskModel.extend({} as never, NEW), ConfigError);
    const release = old.claim('fit()');
    await assert.rejects(MultiTaskModel.extend(old, NEW), BusyError);
    release();
  });
});
