/**
 * The affinity probe (TAG lookahead, linearised lookahead, gradient cosine): copies of a task
 * help each other as much as themselves, an adversary hurts, the linearised form tends to the
 * lookahead as lr → 0 (SGD), cosine and linearised are the normalised Gram of independently
 * computed per-task gradients, the probe leaves training bit-identical (cpu and reference;
 * AdamW and SGD with momentum), probes fall on steps k, 2k, ... with per-epoch means, a warm
 * epoch with probes allocates nothing, a target without labels in a batch is left out of that
 * probe, the rank agreement is Spearman's, and bad configurations are ConfigErrors.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Backend } from '../../ts/backends/backend.js';
import { createBackend } from '../../ts/backends/create.js';
import { ReferenceBackend } from '../../ts/backends/reference.js';
import { Rng } from '../../ts/core/random.js';
import { MultiTaskDataset } from '../../ts/data/dataset.js';
import { makeMultiMnist } from '../../ts/data/multimnist.js';
import { ConfigError, TrainingAbortedError } from '../../ts/errors.js';
import { MultiTaskModel } from '../../ts/mtl/model.js';
import { type AffinityMatrix, type AffinityReport, rankAgreement } from '../../ts/train/affinity.js';
import { Trainer, type TrainerConfig } from '../../ts/train/trainer.js';
import { multiMnistMlp } from '../fixtures.js';

const cpu = await createBackend('cpu');
const reference = new ReferenceBackend();

/** A regression problem y = 10·wᵀx (8 features, 64 samples) with tasks a = y, b = y, c = −y. */
function regression(): MultiTaskDataset {
  const rng = new Rng(3);
  const n = 64;
  const d = 8;
  const inputs = new Float32Array(n * d);
  const y = new Float32Array(n);
  const w = Array.from({ length: d }, () => rng.normal());
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let k = 0; k < d; k++) s += (inputs[i * d + k] = rng.normal()) * w[k];
    y[i] = 10 * s / Math.sqrt(d);
  }
  return new MultiTaskDataset({ inputs, inputShape: [d], labels: { a: y, b: Float32Array.from(y), c: y.map((v) => -v) } });
}

/** A model for `regression()` whose heads b and c start as copies of head a. */
async function regressionModel(be: Backend): Promise<MultiTaskModel> {
  const m = new MultiTaskModel(be, {
    inputShape: [8],
    trunk: [{ type: 'dense', units: 16, activation: 'tanh' }],
    tasks: ['a', 'b', 'c'].map((name) => ({ name, kind: 'regression' as const, outputs: 1 })),
    maxBatch: 64,
    seed: 7,
  });
  const arena = Float32Array.from(await be.read(m.params.values));
  for (const part of ['0.weight', '0.bias']) {
    const a = m.params.partRange(`heads.a.${part}`)!;
    for (const t of ['b', 'c']) arena.set(arena.subarray(a.start, a.end), m.params.partRange(`heads.${t}.${part}`)!.start);
  }
  be.write(m.params.values, arena);
  return m;
}

/** One epoch of one full-batch step with the probe at step 1: the probe sees the initial parameters. */
async function probeOnce(be: Backend, lr: number, extra: Partial<TrainerConfig> = {}): Promise<AffinityReport> {
  const trainer = new Trainer(await regressionModel(be), {
    optimizer: { kind: 'sgd', lr },
    batchSize: 64,
    epochs: 1,
    log: null,
    affinity: { method: 'all', every: 1 },
    ...extra,
  });
  await trainer.fit(regression());
  return trainer.affinity!;
}

const offDiagonal = (m: AffinityMatrix): number[] => m.flatMap((row, i) => row.filter((_, j) => j !== i));

describe('AffinityProbe', function () {
  this.timeout(120_000);

  it('gives two copies of a task the affinity of the task onto itself (> 0) and an adversary a negative one', async () => {
    const r = await probeOnce(cpu, 1e-3);
    assert.deepEqual(r.tasks, ['a', 'b', 'c']);
    const z = r.mean.lookahead!;
    assert.equal(r.mean.probes, 1);
    assert.ok(z[0][0] > 0, `Z_a→a = ${z[0][0]}`);
    assert.ok(Math.abs(z[0][1] - z[0][0]) <= 1e-4 * Math.abs(z[0][0]), `Z_a→b ${z[0][1]} ≈ Z_a→a ${z[0][0]}`);
    assert.ok(Math.abs(z[1][0] - z[0][0]) <= 1e-4 * Math.abs(z[0][0]), 'and b → a');
    assert.ok(z[0][2] < 0 && z[2][0] < 0 && z[1][2] < 0, `an adversary: Z_a→c ${z[0][2]}, Z_c→a ${z[2][0]}`);
    assert.ok(z[2][2] > 0, 'a task still helps itself');
    const cos = r.mean.cosine!;
    assert.ok(Math.abs(cos[0][1] - 1) < 1e-5 && cos[0][2] < -0.5, `cosine ${cos[0][1]}, ${cos[0][2]}`);
  });

  it('linearised tends to the exact lookahead as lr → 0 (SGD, no momentum); perLr divides by lr', async () => {
    const error = async (lr: number): Promise<number> => {
      const r = await probeOnce(reference, lr);
      const look = offDiagonal(r.mean.lookahead!);
      const lin = offDiagonal(r.mean.linearised!);
      return Math.max(...look.map((v, k) => Math.abs(lin[k] - v) / Math.abs(v)));
    };
    const coarse = await error(3e-2);
    const fine = await error(1e-3);
    assert.ok(fine < coarse / 5, `relative error ${fine} at lr 1e-3 vs ${coarse} at lr 3e-2`);
    assert.ok(fine < 0.03, `relative error at lr 1e-3: ${fine}`);
    const plain = await probeOnce(cpu, 1e-3);
    const scaled = await probeOnce(cpu, 1e-3, { affinity: { method: 'all', every: 1, perLr: true } });
    for (const m of ['lookahead', 'linearised'] as const) {
      scaled.mean[m]!.flat().forEach((v, k) => assert.ok(Math.abs(v * 1e-3 - plain.mean[m]!.flat()[k]) <= 1e-9 + 1e-5 * Math.abs(v * 1e-3)));
    }
    assert.deepEqual(scaled.mean.cosine, plain.mean.cosine);
  });

  it('cosine and linearised are the normalised Gram of the per-task gradients of the shared parameters', async () => {
    const lr = 0.01;
    const r = await probeOnce(cpu, lr);
    // The per-task gradients computed independently: one task weight 1, the others 0.
    const m = await regressionModel(cpu);
    const ds = regression();
    const T = 3;
    const P = m.sharedParameterSize;
    m.loadBatch(64, ds.inputs, new Float32Array([...ds.labels('a')].flatMap((v, i) => [v, ds.labels('b')[i], ds.labels('c')[i]])));
    const g: Float64Array[] = [];
    let losses: Float32Array = new Float32Array(T);
    for (let t = 0; t < T; t++) {
      m.setTaskWeights(Float32Array.from({ length: T }, (_, k) => (k === t ? 1 : 0)));
      m.backward(m.forwardLoss(64, { training: true, seed: 0 }), 64);
      g.push(Float64Array.from((await cpu.read(m.params.grads)).subarray(0, P)));
      losses = await cpu.read(m.losses);
    }
    const dot = (a: Float64Array, b: Float64Array): number => a.reduce((s, v, k) => s + v * b[k], 0);
    for (let i = 0; i < T; i++) {
      for (let j = 0; j < T; j++) {
        const cos = dot(g[i], g[j]) / Math.sqrt(dot(g[i], g[i]) * dot(g[j], g[j]));
        const lin = (lr * dot(g[i], g[j])) / losses[j];
        assert.ok(Math.abs(r.mean.cosine![i][j] - cos) < 1e-4, `cosine ${i}→${j}: ${r.mean.cosine![i][j]} vs ${cos}`);
        assert.ok(Math.abs(r.mean.linearised![i][j] - lin) <= 1e-4 * Math.abs(lin) + 1e-7, `linearised ${i}→${j}: ${r.mean.linearised![i][j]} vs ${lin}`);
      }
    }
  });

  const mnist = makeMultiMnist({ split: 'train', seed: 1, count: 256 });
  for (const [name, be] of [['cpu', cpu], ['reference', reference]] as const) {
    for (const optimizer of [
      { kind: 'adamw', lr: 0.003, weightDecay: 0.01 },
      { kind: 'sgd', lr: 0.05, momentum: 0.9, weightDecay: 1e-3 },
    ] as const) {
      it(`leaves training bit-identical (${name}, ${optimizer.kind})`, async () => {
        const final = async (affinity: TrainerConfig['affinity']): Promise<Float32Array> => {
          const m = new MultiTaskModel(be, multiMnistMlp([24], 64, 3, { heads: { hidden: [8], dropout: 0.5 } }));
          const trainer = new Trainer(m, { optimizer, batchSize: 64, epochs: 2, seed: 4, log: null, weights: { left: 1, right: 0.5 }, affinity });
          await trainer.fit(mnist);
          if (affinity) assert.equal(trainer.history[0].affinity!.probes, 2);
          return be.read(m.params.values);
        };
        const without = await final(null);
        const withProbe = await final({ method: 'all', every: 2 });
        assert.ok(withProbe.every((v, k) => Object.is(v, without[k])), 'every parameter bit-identical');
      });
    }
  }

  it('probes steps k, 2k, ... of the run, averages per epoch, and writes affinity.json', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hydranet-affinity-'));
    try {
      const m = new MultiTaskModel(cpu, multiMnistMlp([16], 32, 2));
      const trainer = new Trainer(m, { optimizer: { kind: 'sgd', lr: 0.05 }, batchSize: 32, epochs: 3, log: null, runDir: dir, affinity: { every: 3 } });
      await trainer.fit(makeMultiMnist({ split: 'train', seed: 1, count: 224 })); // 7 steps per epoch
      // Steps 3, 6 | 9, 12 | 15, 18, 21.
      assert.deepEqual(trainer.history.map((r) => r.affinity?.probes), [2, 2, 3]);
      assert.deepEqual(Object.keys(trainer.history[0].affinity!).sort(), ['lookahead', 'probes'], 'only the measure asked for');
      const report = JSON.parse(fs.readFileSync(path.join(dir, 'affinity.json'), 'utf8')) as AffinityReport;
      assert.deepEqual(report, JSON.parse(JSON.stringify(trainer.affinity)));
      assert.equal(report.method, 'lookahead');
      assert.equal(report.every, 3);
      assert.equal(report.mean.probes, 7);
      const want = (2 * report.epochs[0].lookahead![0][1] + 2 * report.epochs[1].lookahead![0][1] + 3 * report.epochs[2].lookahead![0][1]) / 7;
      assert.ok(Math.abs(report.mean.lookahead![0][1] - want) < 1e-12);
      const metrics = JSON.parse(fs.readFileSync(path.join(dir, 'metrics.json'), 'utf8')) as { affinity?: unknown }[];
      assert.deepEqual(metrics[2].affinity, JSON.parse(JSON.stringify(trainer.history[2].affinity)));
      // A period longer than an epoch: the epochs without a probe have no record.
      const rare = new Trainer(new MultiTaskModel(cpu, multiMnistMlp([16], 32, 2)), { optimizer: { kind: 'sgd', lr: 0.05 }, batchSize: 32, epochs: 2, log: null, affinity: { every: 10, method: 'cosine' } });
      await rare.fit(makeMultiMnist({ split: 'train', seed: 1, count: 224 }));
      assert.deepEqual(rare.history.map((r) => r.affinity?.probes), [undefined, 1]);
      assert.equal(rare.affinity!.mean.probes, 1);
      assert.equal(new Trainer(new MultiTaskModel(cpu, multiMnistMlp([16], 32, 2)), { optimizer: { kind: 'sgd', lr: 0.05 }, batchSize: 32, epochs: 1 }).affinity, null);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('after a resume in the middle of an epoch, that epoch\'s record covers the probes after the resume', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hydranet-affinity-'));
    try {
      const data = makeMultiMnist({ split: 'train', seed: 1, count: 224 }); // 7 steps per epoch
      const config = (extra: Partial<TrainerConfig>): TrainerConfig => ({ optimizer: { kind: 'sgd', lr: 0.05 }, batchSize: 32, epochs: 2, log: null, runDir: dir, affinity: { every: 2 }, ...extra });
      const stop = new AbortController();
      const first = new Trainer(new MultiTaskModel(cpu, multiMnistMlp([16], 32, 2)), config({ callbacks: { stepEvery: 1, onStepEnd: (i) => (i.step === 3 ? stop.abort() : undefined) } }));
      await assert.rejects(first.fit(data, { signal: stop.signal }), TrainingAbortedError);
      const resumed = new Trainer(new MultiTaskModel(cpu, multiMnistMlp([16], 32, 2)), config({}));
      await resumed.fit(data, { resumeFrom: path.join(dir, 'checkpoint.safetensors') });
      // Epoch 1: probes at steps 2 (before the stop, not kept), 4 and 6; epoch 2: 8, 10, 12, 14.
      assert.deepEqual(resumed.history.map((r) => r.affinity?.probes), [2, 4]);
      assert.equal(resumed.affinity!.mean.probes, 6);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('allocates nothing once warm: a probe reads back only its losses and Gram', async () => {
    const calls = new Map<string, number>();
    const counted = ['alloc', 'upload', 'view', 'read'];
    const backend = new Proxy(cpu, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver) as unknown;
        if (typeof v !== 'function' || !counted.includes(String(prop))) return v;
        return function (this: unknown, ...args: unknown[]) {
          calls.set(String(prop), (calls.get(String(prop)) ?? 0) + 1);
          return (v as (...a: unknown[]) => unknown).apply(this, args);
        };
      },
    });
    const data = makeMultiMnist({ split: 'train', seed: 1, count: 256 }); // 4 full steps per epoch
    const reads = async (affinity: TrainerConfig['affinity']): Promise<Map<string, number>> => {
      const m = new MultiTaskModel(backend, multiMnistMlp([16], 64, 2));
      const trainer = new Trainer(m, { optimizer: { kind: 'adamw', lr: 0.01 }, batchSize: 64, epochs: 2, log: null, affinity });
      await trainer.fit(data, { epochs: 1 });
      calls.clear();
      await trainer.fit(data, { epochs: 2 });
      return new Map(calls);
    };
    const plain = await reads(null);
    const probed = await reads({ method: 'all', every: 2 });
    for (const k of ['alloc', 'upload', 'view']) assert.equal(probed.get(k) ?? 0, 0, `${k} in a warm epoch with probes`);
    assert.equal((probed.get('read') ?? 0) - (plain.get('read') ?? 0), 2 * 2, 'two probes, each one Gram and one loss read');
  });

  it('leaves out of the means the entries of a target with no labelled sample in the probed batch', async () => {
    const ds = regression();
    const mask = new Uint8Array(64);
    mask[5] = 1; // c has one label: one of the two batches has none
    const masked = new MultiTaskDataset({ inputs: ds.inputs, inputShape: [8], labels: { a: ds.labels('a'), b: ds.labels('b'), c: ds.labels('c') }, masks: { c: mask } });
    const trainer = new Trainer(await regressionModel(cpu), { optimizer: { kind: 'sgd', lr: 1e-3 }, batchSize: 32, epochs: 1, log: null, affinity: { method: 'all', every: 1 } });
    await trainer.fit(masked);
    const r = trainer.history[0].affinity!;
    assert.equal(r.probes, 2);
    for (const m of ['lookahead', 'linearised', 'cosine'] as const) {
      assert.ok(r[m]!.flat().every(Number.isFinite), `${m}: the batch without c labels is left out of c's entries, it does not make them NaN`);
    }
  });

  it('rankAgreement is the Spearman correlation of the off-diagonal entries, ties at their mean rank', () => {
    const a = [[9, 1, 2], [3, 9, 4], [5, 6, 9]];
    assert.equal(rankAgreement(a, a), 1);
    assert.equal(rankAgreement(a, a.map((row) => row.map((v) => -v))), -1);
    // Off-diagonal x = 1..6, y = 1, 1, 2, 3, 4, 5 (ranks 1.5, 1.5, 3, 4, 5, 6): ρ = Σd/… by hand 0.9856.
    const b = [[0, 1, 1], [2, 0, 3], [4, 5, 0]];
    assert.ok(Math.abs(rankAgreement(a, b) - 17 / Math.sqrt(17.5 * 17)) < 1e-12);
    assert.ok(Number.isNaN(rankAgreement([[1]], [[1]])));
  });

  it('rejects bad configurations and sharing kinds without shared parameters, naming them', () => {
    const m = new MultiTaskModel(cpu, multiMnistMlp([16], 32, 2));
    const make = (affinity: unknown, model = m): Trainer =>
      new Trainer(model, { optimizer: { kind: 'sgd', lr: 0.05 }, batchSize: 32, epochs: 1, affinity: affinity as TrainerConfig['affinity'] });
    assert.throws(() => make({ metod: 'cosine' }), (e: unknown) => e instanceof ConfigError && /metod/.test(e.message));
    assert.throws(() => make({ method: 'tag' }), (e: unknown) => e instanceof ConfigError && /affinity\.method/.test(e.message));
    assert.throws(() => make({ every: 0 }), /affinity\.every/);
    assert.throws(() => make({ perLr: 'yes' }), /affinity\.perLr/);
    assert.throws(() => make(3), ConfigError);
    const mmoe = new MultiTaskModel(cpu, multiMnistMlp([16], 32, 2, { sharing: { kind: 'mmoe', experts: 2 } as never }));
    assert.throws(() => make({}, mmoe), (e: unknown) => e instanceof ConfigError && /mmoe/.test(e.message) && /hard sharing/.test(e.message));
  });
});
