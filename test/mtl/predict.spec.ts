/**
 * model.predict: per-task probabilities or values against the logits computed by hand, the
 * same whatever the batch size and on every backend present, from a Float32Array or a
 * dataset; nothing allocated on the backend after the first call; typed errors.
 */
import assert from 'node:assert/strict';
import type { Backend, Tensor } from '../../ts/backends/backend.js';
import { ReferenceBackend } from '../../ts/backends/reference.js';
import { Rng } from '../../ts/core/random.js';
import { MultiTaskDataset } from '../../ts/data/dataset.js';
import { BusyError, ConfigError, ShapeError, ValueError } from '../../ts/errors.js';
import { type ModelConfig, MultiTaskModel } from '../../ts/mtl/model.js';
import { Trainer } from '../../ts/train/trainer.js';
import { backendsUnderTest } from '../backends/harness.js';

const config: ModelConfig = {
  inputShape: [2, 3],
  trunk: [
    { type: 'dense', units: 5, activation: 'tanh' },
    { type: 'dropout', p: 0.5 },
  ],
  heads: { hidden: [4], activation: 'relu', dropout: 0.3 },
  tasks: [
    { name: 'cls', kind: 'classification', classes: 3 },
    { name: 'bin', kind: 'binary' },
    { name: 'reg', kind: 'regression', outputs: 2 },
    { name: 'tags', kind: 'multi-label', classes: 2 },
  ],
  maxBatch: 4,
  seed: 7,
};
const N = 10; // three batches of 4, 4 and 2
const inputs = new Rng(3).uniformArray(N * 6, -2, 2);

/** Per task, the outputs of sample i computed from one forward of that sample alone. */
async function byHand(model: MultiTaskModel): Promise<Record<string, number[]>> {
  const out: Record<string, number[]> = { cls: [], bin: [], reg: [], tags: [] };
  for (let i = 0; i < N; i++) {
    model.loadBatch(1, inputs.subarray(i * 6, i * 6 + 6));
    const z = Array.from(await model.backend.read(model.forward(1)));
    const e = z.slice(0, 3).map(Math.exp);
    const sum = e.reduce((a, b) => a + b, 0);
    const sigmoid = (v: number): number => 1 / (1 + Math.exp(-v));
    out.cls.push(...e.map((v) => v / sum));
    out.bin.push(sigmoid(z[3]));
    out.reg.push(z[4], z[5]);
    out.tags.push(sigmoid(z[6]), sigmoid(z[7]));
  }
  return out;
}

function assertNear(got: Float32Array, want: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < got.length; i++) {
    assert.ok(Math.abs(got[i] - want[i]) <= tol, `${what}[${i}]: ${got[i]} vs ${want[i]}`);
  }
}

describe('model.predict', () => {
  it('gives softmax probabilities, sigmoid probabilities and values per task, in batches, without dropout', async () => {
    const model = new MultiTaskModel(new ReferenceBackend(), config);
    const want = await byHand(model);
    const got = await model.predict(inputs);
    assert.deepEqual(Object.keys(got), ['cls', 'bin', 'reg', 'tags']);
    for (const name of Object.keys(want)) assertNear(got[name], want[name], 1e-6, name);
    for (let i = 0; i < N; i++) {
      const row = got.cls.subarray(i * 3, i * 3 + 3);
      assert.ok(Math.abs(row[0] + row[1] + row[2] - 1) < 1e-6);
    }
    // Any batch size gives the same outputs; a dataset gives those of its inputs.
    for (const batchSize of [1, 3]) {
      const again = await model.predict(inputs, { batchSize });
      for (const name of Object.keys(want)) assertNear(again[name], got[name], 1e-6, `${name} (batchSize ${batchSize})`);
    }
    const ds = new MultiTaskDataset({ inputs, inputShape: [2, 3], labels: { cls: new Float32Array(N) } });
    assert.deepEqual(await model.predict(ds), got);
    const none = await model.predict(new Float32Array(0));
    assert.deepEqual(Object.values(none).map((a) => a.length), [0, 0, 0, 0]);
  });

  it('allocates nothing on the backend after the first call and reads back only the logits, into one buffer', async () => {
    const be = new ReferenceBackend();
    const model = new MultiTaskModel(be, config);
    await model.predict(inputs);
    const calls: string[] = [];
    const intos = new Set<Float32Array['buffer']>();
    const spied = be as unknown as Record<string, (...args: unknown[]) => unknown>;
    for (const method of ['alloc', 'upload', 'view']) {
      const original = spied[method].bind(be);
      spied[method] = (...args: unknown[]) => {
        calls.push(method);
        return original(...args);
      };
    }
    const read = be.read.bind(be);
    be.read = (t: Tensor, into?: Float32Array) => {
      calls.push(`read [${t.shape}]`);
      assert.ok(into, 'read without a destination buffer');
      intos.add(into.buffer);
      return read(t, into);
    };
    await model.predict(inputs);
    assert.deepEqual(calls, ['read [4,8]', 'read [4,8]', 'read [2,8]']);
    assert.equal(intos.size, 1);
  });

  it('gives the reference outputs on every backend present', async function () {
    const want = await new MultiTaskModel(new ReferenceBackend(), config).predict(inputs);
    const present = (await backendsUnderTest()).filter((b): b is { name: string; backend: Backend } => b.backend !== null);
    if (present.length === 0) this.skip();
    for (const { name, backend } of present) {
      const got = await new MultiTaskModel(backend, config).predict(inputs);
      for (const task of Object.keys(want)) assertNear(got[task], want[task], 1e-4, `${name}: ${task}`);
      backend.dispose();
    }
  });

  it('throws typed errors naming what is wrong', async () => {
    const model = new MultiTaskModel(new ReferenceBackend(), config);
    await assert.rejects(model.predict(new Float32Array(7)), (e: Error) => e instanceof ShapeError && /n × 6 values .* received 7/.test(e.message));
    const other = new MultiTaskDataset({ inputs: new Float32Array(8), inputShape: [4], labels: { cls: new Float32Array(2) } });
    await assert.rejects(model.predict(other), (e: Error) => e instanceof ShapeError && /6 features per sample .* 4/.test(e.message));
    await assert.rejects(model.predict([1, 2] as never), ValueError);
    await assert.rejects(model.predict(inputs, { batchSize: 5 }), (e: Error) => e instanceof ValueError && /at most 4 .* received 5/.test(e.message));
    await assert.rejects(model.predict(inputs, { batchSize: 0 }), (e: Error) => e instanceof ValueError && /batchSize/.test(e.message));
    await assert.rejects(model.predict(inputs, { batchsize: 2 } as never), (e: Error) => e instanceof ConfigError && /batchsize/.test(e.message));
    const first = model.predict(inputs);
    await assert.rejects(model.predict(inputs), BusyError);
    await first;
  });

  it("the Trainer's evaluate({ outputs: true }) gives the same per-sample outputs as predict, with the metrics", async () => {
    const model = new MultiTaskModel(new ReferenceBackend(), config);
    const rng = new Rng(5);
    const labels = {
      cls: Float32Array.from({ length: N }, () => Math.floor(rng.uniform() * 3)),
      bin: Float32Array.from({ length: N }, () => (rng.uniform() < 0.5 ? 1 : 0)),
      reg: rng.uniformArray(N * 2, -1, 1),
      tags: Float32Array.from({ length: N * 2 }, () => (rng.uniform() < 0.5 ? 1 : 0)),
    };
    const ds = new MultiTaskDataset({ inputs, inputShape: [2, 3], labels, labelWidths: { reg: 2, tags: 2 } });
    const trainer = new Trainer(model, { optimizer: { kind: 'sgd', lr: 0.1 }, batchSize: 4, epochs: 1, log: null, progress: false });
    const plain = await trainer.evaluate(ds);
    const { metrics, outputs } = await trainer.evaluate(ds, { outputs: true });
    assert.deepEqual(metrics, plain);
    const predicted = await model.predict(ds);
    for (const t of config.tasks) assert.deepEqual([...outputs[t.name]], [...predicted[t.name]], t.name);
    await assert.rejects(trainer.evaluate(ds, { output: true } as never), ConfigError);
  });
});
