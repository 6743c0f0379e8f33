/**
 * OMoE (Ma et al. 2018's one-gate baseline): finite-difference gradients with stale rows in
 * every buffer; with one task it IS MMoE (same parameters, outputs and gradients); with several
 * tasks it is MMoE whose per-task gates are tied (same outputs; its gate gradient the sum of
 * MMoE's per-task ones); cpu against reference; the checkpoint round trip; the CLI spec form.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Backend } from '../../ts/backends/backend.js';
import { ReferenceBackend } from '../../ts/backends/reference.js';
import { Rng } from '../../ts/core/random.js';
import { ConfigError } from '../../ts/errors.js';
import { type TrainingState, saveCheckpoint } from '../../ts/io/checkpoint.js';
import { type ModelConfig, MultiTaskModel } from '../../ts/mtl/model.js';
import { type SharingConfig, parseSharingSpec } from '../../ts/mtl/sharing/index.js';
import { Optimizer } from '../../ts/train/optimizer.js';
import { assertModelGradients } from '../backends/gradcheck.js';
import { assertClose, backendsUnderTest } from '../backends/harness.js';

const cpu = (await backendsUnderTest()).find((b) => b.name === 'cpu')?.backend ?? null;

const TASKS: ModelConfig['tasks'] = [
  { name: 'a', kind: 'classification', classes: 3, weight: 0.7 },
  { name: 'b', kind: 'regression', outputs: 2 },
  { name: 'c', kind: 'binary', weight: 1.3 },
];

function config(sharing: SharingConfig, tasks = TASKS): ModelConfig {
  return {
    inputShape: [6],
    trunk: [
      { type: 'dense', units: 5, activation: 'tanh' },
      { type: 'dense', units: 4, activation: 'gelu' },
    ],
    sharing,
    heads: { hidden: [3], activation: 'tanh' },
    tasks,
    maxBatch: 8,
    seed: 5,
  };
}

/** A batch for the first `tasks` of TASKS (targets a: class, b: two values, c: 0/1). */
function loadBatch(model: MultiTaskModel, n: number, seed = 11): void {
  const rng = new Rng(seed);
  const widths = [1, 2, 1].slice(0, model.tasks.length);
  const row = widths.reduce((s, w) => s + w, 0);
  const targets = new Float32Array(n * row);
  for (let i = 0; i < n; i++) targets.set([rng.int(3), rng.normal(), rng.normal(), rng.int(2)].slice(0, row), i * row);
  model.loadBatch(n, rng.uniformArray(n * 6, -1, 1), targets);
}

/** Every stored part by name, from the arena on the host. */
function partsOf(model: MultiTaskModel, arena: Float32Array): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const p of model.params.parameters) out.set(p.name, arena.slice(p.offset, p.offset + p.size));
  return out;
}

async function forwardBackward(model: MultiTaskModel, n: number): Promise<{ logits: Float32Array; grads: Map<string, Float32Array> }> {
  loadBatch(model, n);
  const logits = model.forward(n, { training: true, seed: 1 });
  const out = await model.backend.read(logits);
  model.forwardBackward(n, { training: true, seed: 1 });
  return { logits: out, grads: partsOf(model, await model.backend.read(model.params.grads)) };
}

describe('OMoE: one gate shared by every task', function () {
  this.timeout(120_000);

  it('gradients (experts, the one gate, heads) match finite differences after a larger batch (reference)', () => {
    const model = new MultiTaskModel(new ReferenceBackend(), config({ kind: 'omoe', experts: 3 }));
    assert.match(model.summary(), /omoe sharing, 3 experts \(3 shared\), one softmax gate shared by every task/);
    assert.equal(model.body.stackStride, 0);
    assert.deepEqual(
      model.params.parameters.filter((p) => p.name.startsWith('gates.')).map((p) => `${p.name} [${p.shape}]`),
      ['gates.weight [3,6]', 'gates.bias [3]'],
    );
    loadBatch(model, 8);
    model.forwardBackward(8, { training: true, seed: 1 });
    loadBatch(model, 5, 9);
    assertModelGradients(model, 5);
  });

  it('is MMoE with one task: same parameters, outputs and gradients', async () => {
    const one = TASKS.slice(0, 1);
    const mmoe = new MultiTaskModel(new ReferenceBackend(), config({ kind: 'mmoe', experts: 3 }, one));
    const omoe = new MultiTaskModel(new ReferenceBackend(), config({ kind: 'omoe', experts: 3 }, one));
    assert.deepEqual(
      omoe.params.parameters.map((p) => [p.name, p.offset]),
      mmoe.params.parameters.map((p) => [p.name, p.offset]),
    );
    assert.deepEqual(await omoe.backend.read(omoe.params.values), await mmoe.backend.read(mmoe.params.values));
    const [a, b] = [await forwardBackward(mmoe, 7), await forwardBackward(omoe, 7)];
    assert.deepEqual(b.logits, a.logits);
    assert.deepEqual([...b.grads], [...a.grads]);
  });

  it('is MMoE with its gates tied: same outputs, the gate gradient summed over the tasks', async () => {
    const E = 3;
    const F = 6;
    const mmoe = new MultiTaskModel(new ReferenceBackend(), config({ kind: 'mmoe', experts: E }));
    const omoe = new MultiTaskModel(new ReferenceBackend(), config({ kind: 'omoe', experts: E }));
    // Tie MMoE's gates to OMoE's one gate; every other parameter is the same by name.
    const values = partsOf(omoe, await omoe.backend.read(omoe.params.values));
    const arena = await mmoe.backend.read(mmoe.params.values);
    for (const p of mmoe.params.parameters) {
      const v = values.get(p.name)!;
      for (let t = 0; t < p.size / v.length; t++) arena.set(v, p.offset + t * v.length);
    }
    mmoe.backend.write(mmoe.params.values, arena);
    const [a, b] = [await forwardBackward(mmoe, 7), await forwardBackward(omoe, 7)];
    assertClose(b.logits, a.logits, { atol: 1e-6, rtol: 1e-6 }, 'logits');
    for (const [name, g] of b.grads) {
      const m = a.grads.get(name)!;
      const expected = name.startsWith('gates.') ? g.map((_, i) => m[i] + m[i + g.length] + m[i + 2 * g.length]) : m;
      assert.equal(m.length, name.startsWith('gates.') ? TASKS.length * g.length : g.length, name);
      assertClose(g, expected, { atol: 1e-6, rtol: 1e-5 }, name);
    }
    assert.equal(values.get('gates.weight')!.length, E * F);
  });

  it('matches the reference on cpu', async function () {
    if (!cpu) this.skip();
    const results = [];
    for (const be of [new ReferenceBackend(), cpu as Backend]) {
      const m = new MultiTaskModel(be, config({ kind: 'omoe', experts: 3 }));
      const r = await forwardBackward(m, 7);
      results.push({ logits: r.logits, grads: await be.read(m.params.grads) });
    }
    assertClose(results[1].logits, results[0].logits, { atol: 1e-5, rtol: 1e-4 }, 'omoe logits');
    assertClose(results[1].grads, results[0].grads, { atol: 1e-5, rtol: 1e-4 }, 'omoe gradients');
  });

  it('saves and loads: the checkpoint alone rebuilds it, predicting the same', async () => {
    const model = new MultiTaskModel(new ReferenceBackend(), config({ kind: 'omoe', experts: 2 }));
    loadBatch(model, 6);
    model.forwardBackward(6, { training: true, seed: 1 });
    new Optimizer(model.backend, model.params, { kind: 'adamw', lr: 0.05 }).step();
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'hydranet-omoe-')), 'model.safetensors');
    const state: TrainingState = { epoch: 1, step: 1, rngState: new Rng(0).getState() };
    await saveCheckpoint(file, model, null, state);
    const loaded = await MultiTaskModel.load(new ReferenceBackend(), file);
    assert.deepEqual(loaded.resolvedConfig.sharing, { kind: 'omoe', experts: 2 });
    assert.deepEqual(loaded.architecture(), model.architecture());
    assert.deepEqual(model.architecture().sharing, { kind: 'omoe', shared: 2, perTask: 0, oneGate: true });
    const inputs = new Rng(3).uniformArray(9 * 6, -1, 1);
    assert.deepEqual(await loaded.predict(inputs), await model.predict(inputs));
  });

  it('reads the CLI form and checks its options', () => {
    assert.deepEqual(parseSharingSpec('omoe:experts=8'), { experts: 8, kind: 'omoe' });
    assert.deepEqual(parseSharingSpec('omoe'), { kind: 'omoe' });
    assert.throws(() => parseSharingSpec('omoe:shared=2'), (e: unknown) => e instanceof ConfigError && /"shared" in sharing \(omoe\)/.test(e.message));
    assert.throws(() => parseSharingSpec('omoe:experts=0'), /sharing.experts/);
  });
});
