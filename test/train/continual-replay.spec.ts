/**
 * Replay as a per-step replayed batch (ts/train/replay-stager.ts through the Trainer's
 * batchStaged hook): the draws reproducible by (seed, step) and balanced over the buffer's
 * stages without repeats; every training step's uploaded batch holds its own samples followed by
 * exactly the asked number of replayed rows, with the right inputs, labels and masks; typed
 * errors.
 */
import assert from 'node:assert/strict';
import { ReferenceBackend } from '../../ts/backends/reference.js';
import { ConfigError, ValueError } from '../../ts/errors.js';
import { MultiTaskDataset } from '../../ts/data/dataset.js';
import { ReplayBuffer, labelledFor } from '../../ts/data/replay.js';
import { MultiTaskModel } from '../../ts/mtl/model.js';
import { ReplayStager } from '../../ts/train/replay-stager.js';
import { Trainer } from '../../ts/train/trainer.js';

/** n samples of 3 features whose first is an id (base + i), labelled class id % 2 for task `name`. */
function stage(name: string, n: number, base: number): MultiTaskDataset {
  const inputs = new Float32Array(n * 3);
  const y = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    inputs.set([base + i, 0.5, -0.5], i * 3);
    y[i] = (base + i) % 2;
  }
  return new MultiTaskDataset({ inputs, inputShape: [3], labels: { [name]: y } });
}

const spec = (name: string) => ({ name, kind: 'classification' as const, classes: 2 });

describe('ReplayStager: a replayed batch with every step', () => {
  const be = new ReferenceBackend();
  const model = new MultiTaskModel(be, { inputShape: [3], trunk: [{ type: 'dense', units: 4, activation: 'relu' }], tasks: [spec('a'), spec('b'), spec('c')], maxBatch: 32, seed: 1 });
  const buffer = new ReplayBuffer(30, 5);
  buffer.add(stage('a', 50, 0), model.tasks.slice(0, 1));
  buffer.add(stage('b', 40, 1000), model.tasks.slice(1, 2));

  it('draws exactly the asked rows, split over the stages, without repeats, reproducibly by (seed, step)', () => {
    const r = new ReplayStager(model, buffer, { batch: 7, seed: 3 });
    assert.equal(r.rows, 7);
    assert.deepEqual(r.parts.map((p) => [p.start, p.size, p.draw]), [[0, 15, 4], [15, 15, 3]]);
    const ids = (rows: Int32Array): number[] => [...rows].map((i) => r.data.inputs[i * 3]);
    const draws = [1, 2, 3, 4, 5].map((step) => [...r.draw(step)]);
    for (const d of draws) {
      assert.equal(new Set(d).size, 7, 'no repeats');
      assert.ok(d.slice(0, 4).every((i) => i >= 0 && i < 15) && d.slice(4).every((i) => i >= 15 && i < 30), `each part from its stage: ${d}`);
    }
    assert.notDeepEqual(draws[0], draws[1], 'another draw each step');
    const again = new ReplayStager(model, buffer, { batch: 7, seed: 3 });
    assert.deepEqual([4, 2, 5, 1, 3].map((s) => [...again.draw(s)]), [4, 2, 5, 1, 3].map((s) => draws[s - 1]), 'a step draws the same whatever came before');
    assert.notDeepEqual([...new ReplayStager(model, buffer, { batch: 7, seed: 4 }).draw(1)], draws[0], 'another seed, another draw');
    assert.ok(ids(r.draw(1)).slice(0, 4).every((id) => id < 50) && ids(r.draw(1)).slice(4).every((id) => id >= 1000));
    // A share smaller than its part gives what it has.
    assert.equal(new ReplayStager(model, buffer, { batch: 40 }).rows, 30);
  });

  it("appends them to every training step's batch: the step's samples, then the replayed rows, with their labels and masks", async () => {
    const grown = new MultiTaskModel(be, { ...model.resolvedConfig, maxBatch: 16 });
    const replay = new ReplayStager(grown, buffer, { batch: 6, seed: 9 });
    const fresh = labelledFor(stage('c', 20, 5000), grown.tasks);
    const seen: { rows: number; inputs: Float32Array; mask: Float32Array | null }[] = [];
    const load = grown.loadBatch.bind(grown);
    grown.loadBatch = (n, inputs, targets, mask) => {
      seen.push({ rows: n, inputs: inputs.slice(0, n * 3), mask: mask ? mask.slice(0, n * 3) : null });
      load(n, inputs, targets, mask);
    };
    const trainer = new Trainer(grown, { optimizer: { kind: 'sgd', lr: 0.1 }, batchSize: 8, epochs: 2, seed: 1, log: null, progress: false, batchStaged: replay });
    await trainer.fit(fresh);
    assert.equal(seen.length, 6, '3 steps per epoch (8 + 8 + 4 new samples), 2 epochs');
    seen.forEach(({ rows, inputs, mask }, k) => {
      const own = k % 3 === 2 ? 4 : 8;
      assert.equal(rows, own + 6, `step ${k + 1}: its ${own} samples and 6 replayed`);
      const expected = [...replay.draw(k + 1)].map((i) => replay.data.inputs[i * 3]);
      assert.deepEqual(Array.from({ length: 6 }, (_, i) => inputs[(own + i) * 3]), expected, `step ${k + 1}: the replayed rows are the step's draw`);
      for (let i = 0; i < rows; i++) {
        const id = inputs[i * 3];
        const want = i < own ? [0, 0, 1] : id < 1000 ? [1, 0, 0] : [0, 1, 0];
        assert.ok(i < own ? id >= 5000 : id < 5000, `row ${i} of step ${k + 1}`);
        assert.deepEqual([...mask!.subarray(i * 3, i * 3 + 3)], want, `mask of row ${i} of step ${k + 1}`);
      }
    });
    // Evaluation stages no replayed rows.
    seen.length = 0;
    await trainer.evaluate(fresh);
    assert.deepEqual(seen.map((s) => s.rows), [16, 4]);
  });

  it('a steady-state step with replay allocates, uploads and reads on the backend nothing more than one without', async () => {
    const counted = async (withReplay: boolean): Promise<Map<string, number>> => {
      const counts = new Map<string, number>();
      const backend = new ReferenceBackend();
      const spied = backend as unknown as Record<string, (...args: unknown[]) => unknown>;
      for (const k of ['alloc', 'upload', 'view', 'read']) {
        const call = spied[k].bind(backend);
        spied[k] = (...args) => (counts.set(k, (counts.get(k) ?? 0) + 1), call(...args));
      }
      const m = new MultiTaskModel(backend, { ...model.resolvedConfig, maxBatch: 16 });
      const t = new Trainer(m, { optimizer: { kind: 'adamw', lr: 0.01 }, batchSize: 8, epochs: 1, log: null, progress: false, lossCheckEvery: 1000, ...(withReplay && { batchStaged: new ReplayStager(m, buffer, { batch: 8 }) }) });
      const train = labelledFor(stage('c', 32, 5000), m.tasks);
      await t.fit(train); // the first epoch makes the views of its batch sizes (once per size)
      counts.clear();
      await t.fit(train, { epochs: 3 }); // 2 more epochs of 4 steps
      return counts;
    };
    const plain = await counted(false);
    const replayed = await counted(true);
    assert.ok((plain.get('read') ?? 0) > 0, 'the counting sees the reads');
    for (const k of ['alloc', 'upload', 'view', 'read']) assert.equal(replayed.get(k) ?? 0, plain.get(k) ?? 0, `${k} calls`);
  });

  it('refuses what it cannot do, with typed errors', () => {
    assert.throws(() => new ReplayStager(model, new ReplayBuffer(5)), (e: Error) => e instanceof ConfigError && /with samples/.test(e.message));
    assert.throws(() => new ReplayStager(model, buffer, { batch: 0 }), ValueError);
    assert.throws(() => new ReplayStager(model, buffer, { size: 3 } as never), ConfigError);
    const small = new MultiTaskModel(be, { ...model.resolvedConfig, maxBatch: 12 });
    assert.throws(
      () => new Trainer(small, { optimizer: { kind: 'sgd', lr: 0.1 }, batchSize: 8, epochs: 1, log: null, batchStaged: new ReplayStager(small, buffer, { batch: 6 }) }),
      (e: Error) => e instanceof ConfigError && /batchSize 8 \+ 6 exceeds the model's maxBatch 12/.test(e.message),
    );
  });
});
