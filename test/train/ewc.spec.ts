/**
 * EWC (ts/train/ewc.ts): the Fisher variants of a logistic-regression model against their
 * closed forms (exact: E[p(1−p)·x²]; empirical: E[(y − p)²·x²]; batched: the squared batch-mean
 * gradient; sampled: unbiased for exact, reproducible by seed); consolidate's folding of
 * separate penalties (the sum of their gradients exactly) and online EWC; the Trainer's penalty
 * (λ = 0 is plain training bit for bit, a huge λ keeps the old task's parameters where they
 * were while λ = 0 lets them move, typed errors); the state in the run's checkpoint, read back
 * over a grown model (0 for the new parameters).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ReferenceBackend } from '../../ts/backends/reference.js';
import { Rng } from '../../ts/core/random.js';
import { MultiTaskDataset } from '../../ts/data/dataset.js';
import { labelledFor } from '../../ts/data/replay.js';
import { ConfigError, ShapeError, ValueError } from '../../ts/errors.js';
import { readCheckpointFile } from '../../ts/io/checkpoint.js';
import { MultiTaskModel } from '../../ts/mtl/model.js';
import { consolidate, ewcFromCheckpoint, fisherDiagonal, growEwcState } from '../../ts/train/ewc.js';
import { Trainer, type TrainerConfig } from '../../ts/train/trainer.js';
import { trainExtension } from '../../ts/cli-extend.js';
import { backendsUnderTest } from '../backends/harness.js';

const others = (await backendsUnderTest()).filter((b) => b.backend);

/** A logistic regression: no trunk, one binary head on d features, trained a little so that p varies. */
async function logistic(d: number, n: number): Promise<{ model: MultiTaskModel; data: MultiTaskDataset; x: Float32Array; y: Float32Array }> {
  const rng = new Rng(3);
  const x = rng.uniformArray(n * d, -2, 2);
  const y = Float32Array.from({ length: n }, (_, i) => (x[i * d] - 0.5 * x[i * d + 1] + 0.3 * rng.normal() > 0 ? 1 : 0));
  const data = new MultiTaskDataset({ inputs: x, inputShape: [d], labels: { y } });
  const model = new MultiTaskModel(new ReferenceBackend(), { inputShape: [d], trunk: [], tasks: [{ name: 'y', kind: 'binary' }], maxBatch: n, seed: 1 });
  await new Trainer(model, { optimizer: { kind: 'sgd', lr: 0.2 }, batchSize: 16, epochs: 2, log: null, progress: false }).fit(data);
  return { model, data, x, y };
}

/** The closed form: mean over samples of h(i)·[x_i, 1]² per weight and the bias, laid over the arena. */
function closedForm(model: MultiTaskModel, d: number, n: number, h: (i: number) => number[], x: Float32Array): Float64Array {
  const w = model.params.partRange('heads.y.0.weight')!;
  const b = model.params.partRange('heads.y.0.bias')!;
  const F = new Float64Array(model.params.arenaSize);
  for (let i = 0; i < n; i++) {
    const [wi, bi] = h(i);
    for (let j = 0; j < d; j++) F[w.start + j] += (wi * x[i * d + j] ** 2) / n;
    F[b.start] += bi / n;
  }
  return F;
}

function assertClose(got: Float32Array, want: Float64Array, rtol: number, what: string): void {
  const scale = Math.max(...want.map(Math.abs));
  for (let i = 0; i < want.length; i++) {
    assert.ok(Math.abs(got[i] - want[i]) <= rtol * scale + 1e-7, `${what}[${i}]: ${got[i]} vs ${want[i]}`);
  }
}

describe('fisherDiagonal on a logistic regression', () => {
  const d = 3;
  const n = 40;

  it("'exact' is E[p(1−p)·x²] (and the default); 'empirical' E[(y − p)²·x²]; padding stays 0", async () => {
    const { model, data, x, y } = await logistic(d, n);
    const p = (await model.predict(x)).y;
    const exact = closedForm(model, d, n, (i) => Array(2).fill(p[i] * (1 - p[i])), x);
    const emp = closedForm(model, d, n, (i) => Array(2).fill((y[i] - p[i]) ** 2), x);
    assertClose(await fisherDiagonal(model, data), exact, 1e-5, 'default (exact)');
    assertClose(await fisherDiagonal(model, data, { variant: 'exact' }), exact, 1e-5, 'exact');
    assertClose(await fisherDiagonal(model, data, { variant: 'empirical' }), emp, 1e-5, 'empirical');
    assert.ok(Math.abs(exact[0] - emp[0]) > 1e-3 * exact[0], 'the two differ on this data (the test can tell them apart)');
    // batched with one sample per batch is the empirical Fisher; with the whole set, the squared mean gradient.
    assertClose(await fisherDiagonal(model, data, { variant: 'batched', batchSize: 1 }), emp, 1e-5, 'batched, batches of 1');
    const g = new Float64Array(d + 1);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < d; j++) g[j] += ((p[i] - y[i]) * x[i * d + j]) / n;
      g[d] += (p[i] - y[i]) / n;
    }
    const whole = await fisherDiagonal(model, data, { variant: 'batched', batchSize: n });
    const w = model.params.partRange('heads.y.0.weight')!;
    for (let j = 0; j < d; j++) assert.ok(Math.abs(whole[w.start + j] - g[j] ** 2) < 1e-6, `batched w${j}`);
    assert.ok(Math.abs(whole[model.params.partRange('heads.y.0.bias')!.start] - g[d] ** 2) < 1e-6, 'batched bias');
    const F = await fisherDiagonal(model, data);
    for (let i = w.end; i < 64; i++) assert.equal(F[i], 0, 'arena padding');
  });

  it("'sampled' is reproducible by seed and close to 'exact' over many samples; samples takes a seeded subset", async () => {
    const { model, data, x } = await logistic(2, 600);
    const p = (await model.predict(x)).y;
    const exact = closedForm(model, 2, 600, (i) => Array(2).fill(p[i] * (1 - p[i])), x);
    const a = await fisherDiagonal(model, data, { variant: 'sampled', seed: 5 });
    assert.deepEqual(a, await fisherDiagonal(model, data, { variant: 'sampled', seed: 5 }));
    assert.notDeepEqual(a, await fisherDiagonal(model, data, { variant: 'sampled', seed: 6 }));
    assertClose(a, exact, 0.15, 'sampled vs exact');
    const sub = await fisherDiagonal(model, data, { samples: 50, seed: 2 });
    assert.deepEqual(sub, await fisherDiagonal(model, data, { samples: 50, seed: 2 }));
    assert.notDeepEqual(sub, await fisherDiagonal(model, data));
  });

  it('leaves the loss weights as they were, and refuses bad options with typed errors', async () => {
    const { model, data } = await logistic(d, n);
    model.setTaskWeights(Float32Array.of(0.25));
    await fisherDiagonal(model, data);
    assert.deepEqual([...(await model.backend.read(model.lossWeights))], [0.25]);
    await assert.rejects(fisherDiagonal(model, data, { variant: 'fast' as never }), ConfigError);
    await assert.rejects(fisherDiagonal(model, data, { sample: 3 } as never), (e: Error) => e instanceof ConfigError && /"sample"/.test(e.message));
    await assert.rejects(fisherDiagonal(model, data, { tasks: ['z'] }), ConfigError);
    await assert.rejects(fisherDiagonal(model, data, { samples: n + 1 }), ValueError);
    const reg = new MultiTaskModel(new ReferenceBackend(), { inputShape: [d], trunk: [], tasks: [{ name: 'y', kind: 'regression' }], maxBatch: 8 });
    await assert.rejects(fisherDiagonal(reg, data, { variant: 'exact' }), (e: Error) => e instanceof ConfigError && /likelihood/.test(e.message));
    const wide = new MultiTaskDataset({ inputs: new Float32Array(8), inputShape: [4], labels: { y: new Float32Array(2) } });
    await assert.rejects(fisherDiagonal(model, wide), ShapeError);
  });
});

describe('fisherDiagonal on every backend present', () => {
  for (const { name, backend } of others) {
    it(`${name}: each variant follows the reference (an MLP with two tasks)`, async () => {
      const rng = new Rng(12);
      const x = rng.uniformArray(24 * 5, -1, 1);
      const labels = { c: Float32Array.from({ length: 24 }, (_, i) => i % 3), b: Float32Array.from({ length: 24 }, (_, i) => (x[i * 5] > 0 ? 1 : 0)) };
      const data = new MultiTaskDataset({ inputs: x, inputShape: [5], labels });
      const config = { inputShape: [5], trunk: [{ type: 'dense' as const, units: 7, activation: 'tanh' as const }], tasks: [{ name: 'c', kind: 'classification' as const, classes: 3 }, { name: 'b', kind: 'binary' as const }], maxBatch: 8, seed: 3 };
      const ref = new MultiTaskModel(new ReferenceBackend(), config);
      const dev = new MultiTaskModel(backend!, config);
      for (const variant of ['exact', 'sampled', 'empirical', 'batched'] as const) {
        const want = await fisherDiagonal(ref, data, { variant, batchSize: 8 });
        const got = await fisherDiagonal(dev, data, { variant, batchSize: 8 });
        assertClose(got, Float64Array.from(want), 1e-4, `${name} ${variant}`);
        assert.ok(want.some((v) => v > 0));
      }
    });
  }
});

describe('consolidate', () => {
  it('separate penalties fold into one (F, θ̄) with the same gradient; online EWC is γF_old + F_new at the newest θ*', () => {
    const rng = new Rng(9);
    const n = 50;
    const f1 = rng.uniformArray(n, 0, 1);
    const f2 = rng.uniformArray(n, 0, 1);
    f1[3] = 0;
    f2[3] = 0;
    const a1 = rng.uniformArray(n, -1, 1);
    const a2 = rng.uniformArray(n, -1, 1);
    const s = consolidate(consolidate(null, f1, a1, { kind: 'separate' }), f2, a2, { kind: 'separate' });
    const theta = rng.uniformArray(n, -1, 1);
    for (let i = 0; i < n; i++) {
      const want = f1[i] * (theta[i] - a1[i]) + f2[i] * (theta[i] - a2[i]);
      assert.ok(Math.abs(s.fisher[i] * (theta[i] - s.anchor[i]) - want) < 1e-5, `gradient at ${i}`);
    }
    assert.equal(s.anchor[3], a2[3], 'θ̄ = the newest θ* where F = 0');
    const o = consolidate(consolidate(null, f1, a1, { kind: 'online' }), f2, a2, { kind: 'online', gamma: 0.5 });
    for (let i = 0; i < n; i++) assert.equal(o.fisher[i], Math.fround(0.5 * f1[i] + f2[i]));
    assert.deepEqual(o.anchor, a2);
    assert.throws(() => consolidate(null, Float32Array.of(-1), Float32Array.of(0), { kind: 'separate' }), ValueError);
    assert.throws(() => consolidate(null, Float32Array.of(NaN), Float32Array.of(0), { kind: 'separate' }), ValueError);
    assert.throws(() => consolidate(s, f1.subarray(1), a1.subarray(1), { kind: 'separate' }), ShapeError);
    assert.throws(() => consolidate(s, f1, a1, { kind: 'online', gamma: 2 }), ValueError);
  });
});

describe('Trainer with an EWC penalty', () => {
  /** Task a (sign of feature 0), then task b (sign of feature 1) on the same trunk. */
  function data(feature: number, name: string, seed: number): MultiTaskDataset {
    const rng = new Rng(seed);
    const inputs = rng.uniformArray(64 * 4, -1, 1);
    const y = Float32Array.from({ length: 64 }, (_, i) => (inputs[i * 4 + feature] > 0 ? 1 : 0));
    return new MultiTaskDataset({ inputs, inputShape: [4], labels: { [name]: y } });
  }
  const trainer: TrainerConfig = { optimizer: { kind: 'adamw', lr: 0.02, weightDecay: 0 }, batchSize: 16, epochs: 6, seed: 1, log: null, progress: false };

  /** Trains a, then b with the penalty of λ (null: none) on a grown model; returns the old model's values, b's model and its trainer. */
  async function twoStages(lambda: number | null, runDir?: string) {
    const a = new MultiTaskModel(new ReferenceBackend(), { inputShape: [4], trunk: [{ type: 'dense', units: 6, activation: 'tanh' }], tasks: [{ name: 'a', kind: 'classification', classes: 2 }], maxBatch: 16, seed: 4 });
    await new Trainer(a, trainer).fit(data(0, 'a', 1));
    const fisher = await fisherDiagonal(a, data(0, 'a', 1));
    const theta = await a.backend.read(a.params.values);
    const b = await a.addTask({ name: 'b', kind: 'classification', classes: 2 });
    const state = growEwcState({ fisher, anchor: theta }, a, b);
    const t = new Trainer(b, { ...trainer, ...(runDir ? { runDir } : {}), ...(lambda === null ? {} : { penalty: { kind: 'ewc', lambda, ...state } }) });
    await t.fit(labelledFor(data(1, 'b', 2), b.tasks));
    return { a, b, t, theta, state, values: await b.backend.read(b.params.values) };
  }

  it('λ = 0 trains exactly as without a penalty', async () => {
    const plain = await twoStages(null);
    const zero = await twoStages(0);
    assert.ok(plain.values.every((v, i) => v === zero.values[i]), 'bit-identical parameters');
    assert.equal(zero.t.history.at(-1)!.ewcPenalty !== undefined, true);
  });

  it('a huge λ keeps the parameters the old task depends on at θ* (λ = 0 lets them move), and the new task still trains its own head', async () => {
    const free = await twoStages(0);
    const held = await twoStages(1e8);
    /** Σ F(θ − θ*)² over the old model's parameters: what the penalty measures. */
    const drift = (r: typeof free): number => r.state.fisher.reduce((s, f, i) => s + f * (r.values[i] - r.state.anchor[i]) ** 2, 0);
    assert.ok(drift(free) > 1e-4, `without the penalty the old task's parameters move (drift ${drift(free)})`);
    assert.ok(drift(held) < 1e-4 * drift(free), `drift ${drift(held)} vs ${drift(free)}`);
    // The old task's outputs barely change; the new head moved.
    const x = data(0, 'a', 7).inputs;
    const before = (await free.a.predict(x)).a;
    const after = (await held.b.predict(x)).a;
    assert.ok(before.every((v, i) => Math.abs(v - after[i]) < 2e-3), 'the old task predicts as before');
    const head = held.b.params.partRange('heads.b.0.weight')!;
    const fresh = await held.a.addTask({ name: 'b', kind: 'classification', classes: 2 });
    const init = await fresh.backend.read(fresh.params.values);
    assert.ok(held.values.subarray(head.start, head.end).some((v, i) => v !== init[head.start + i]), 'the new head trained');
    assert.ok(held.t.history.at(-1)!.ewcPenalty! >= 0);
  });

  it("stores F and θ* in the run folder's checkpoints; ewcFromCheckpoint lays them over a grown model (0 for new parameters)", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ewc-'));
    try {
      const r = await twoStages(10, dir);
      const ck = readCheckpointFile(path.join(dir, 'checkpoint.safetensors'));
      const same = ewcFromCheckpoint(ck, r.b)!;
      assert.deepEqual(same.fisher, r.state.fisher);
      assert.deepEqual(same.anchor, r.state.anchor);
      const c = await r.b.addTask({ name: 'c', kind: 'binary' });
      const grown = ewcFromCheckpoint(ck, c)!;
      const wb = r.b.params.partRange('trunk.0.weight')!;
      const wc = c.params.partRange('trunk.0.weight')!;
      assert.deepEqual(grown.fisher.subarray(wc.start, wc.end), r.state.fisher.subarray(wb.start, wb.end));
      const head = c.params.partRange('heads.c.0.weight')!;
      assert.ok(grown.fisher.subarray(head.start, head.end).every((v) => v === 0));
      assert.equal(ewcFromCheckpoint(readCheckpointFile(path.join(dir, 'checkpoint.safetensors')), r.b) !== null, true);
      const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
      assert.deepEqual(Object.keys(config.trainer.penalty), ['kind', 'lambda', 'state'], 'config.json names the penalty, not its arrays');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a run with the penalty resumes from its checkpoint exactly where it stopped', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ewc-resume-'));
    try {
      const make = () => new MultiTaskModel(new ReferenceBackend(), { inputShape: [4], trunk: [{ type: 'dense', units: 5, activation: 'tanh' }], tasks: [{ name: 'a', kind: 'classification', classes: 2 }], maxBatch: 16, seed: 8 });
      const n = make().params.arenaSize;
      const rng = new Rng(4);
      const penalty = { kind: 'ewc' as const, lambda: 5, fisher: rng.uniformArray(n, 0, 1), anchor: rng.uniformArray(n, -1, 1) };
      const train = data(0, 'a', 1);
      const whole = make();
      await new Trainer(whole, { ...trainer, epochs: 2, penalty }).fit(train);
      await new Trainer(make(), { ...trainer, epochs: 1, penalty, runDir: dir }).fit(train);
      const resumed = make();
      await new Trainer(resumed, { ...trainer, epochs: 2, penalty }).fit(train, { resumeFrom: path.join(dir, 'checkpoint.safetensors') });
      // Every parameter (the arena's padding, which the random F here also pulls, is not stored).
      const [r, w] = [await resumed.backend.read(resumed.params.values), await whole.backend.read(whole.params.values)];
      for (const part of whole.params.partRanges()) assert.deepEqual(r.subarray(part.start, part.end), w.subarray(part.start, part.end), part.name);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a step runs one ewcPenalty kernel and allocates and reads nothing more than a step without the penalty', async () => {
    const counted = async (withPenalty: boolean): Promise<Map<string, number>> => {
      const names = ['alloc', 'upload', 'view', 'read', 'ewcPenalty'];
      const counts = new Map<string, number>();
      const backend = new ReferenceBackend();
      const spied = backend as unknown as Record<string, (...args: unknown[]) => unknown>;
      for (const k of names) {
        const call = spied[k].bind(backend);
        spied[k] = (...args) => (counts.set(k, (counts.get(k) ?? 0) + 1), call(...args));
      }
      const m = new MultiTaskModel(backend, { inputShape: [4], trunk: [{ type: 'dense', units: 5, activation: 'relu' }], tasks: [{ name: 'a', kind: 'classification', classes: 2 }], maxBatch: 16 });
      const n = m.params.arenaSize;
      const penalty = withPenalty ? { kind: 'ewc' as const, lambda: 3, fisher: new Float32Array(n).fill(0.5), anchor: new Float32Array(n) } : null;
      const t = new Trainer(m, { ...trainer, epochs: 2, lossCheckEvery: 1000, penalty });
      counts.clear();
      await t.fit(data(0, 'a', 1)); // 2 epochs of 4 steps
      return counts;
    };
    const plain = await counted(false);
    const ewc = await counted(true);
    assert.equal(ewc.get('ewcPenalty'), 8, 'one kernel per step');
    assert.ok((plain.get('read') ?? 0) > 0, 'the counting sees the reads (losses, parameters once an epoch)');
    for (const k of ['alloc', 'upload', 'view', 'read']) assert.equal(ewc.get(k) ?? 0, plain.get(k) ?? 0, `${k} calls`);
  });

  it('refuses a bad penalty with typed errors before training', async () => {
    const m = new MultiTaskModel(new ReferenceBackend(), { inputShape: [4], trunk: [], tasks: [{ name: 'a', kind: 'binary' }], maxBatch: 16 });
    const n = m.params.arenaSize;
    const ok = { kind: 'ewc' as const, lambda: 1, fisher: new Float32Array(n), anchor: new Float32Array(n) };
    assert.throws(() => new Trainer(m, { ...trainer, penalty: { ...ok, lambda: -1 } }), ValueError);
    assert.throws(() => new Trainer(m, { ...trainer, penalty: { ...ok, fisher: new Float32Array(n - 1) } }), (e: Error) => e instanceof ShapeError && /penalty\.fisher/.test(e.message));
    assert.throws(() => new Trainer(m, { ...trainer, penalty: { ...ok, kind: 'l2' as never } }), ConfigError);
    assert.throws(() => new Trainer(m, { ...trainer, penalty: { ...ok, gamma: 1 } as never }), (e: Error) => e instanceof ConfigError && /"gamma"/.test(e.message));
    assert.throws(() => new Trainer(m, { ...trainer, penalty: { ...ok, fisher: new Float32Array(n).fill(-1) } }), ValueError);
    assert.throws(() => new Trainer(m, { ...trainer, penalty: { ...ok, anchor: new Float32Array(n).fill(NaN) } }), (e: Error) => e instanceof ValueError && /anchor\[0\]/.test(e.message));
  });
});

describe('fisherDiagonal beside a self-supervised task', () => {
  it('defaults to the tasks that take labels: a reconstruction task (no labels in the dataset) is left out, not an error', async () => {
    const rng = new Rng(5);
    const d = 4;
    const n = 12;
    const x = rng.uniformArray(n * d, -1, 1);
    const y = Float32Array.from({ length: n }, (_, i) => (x[i * d] > 0 ? 1 : 0));
    const data = new MultiTaskDataset({ inputs: x, inputShape: [d], labels: { y } });
    const model = new MultiTaskModel(new ReferenceBackend(), {
      inputShape: [d],
      trunk: [{ type: 'dense', units: 3, activation: 'tanh' }],
      tasks: [{ name: 'y', kind: 'binary' }, { name: 'recon', kind: 'reconstruction' }],
      maxBatch: n,
      seed: 1,
    });
    const byDefault = await fisherDiagonal(model, data, { variant: 'exact' });
    const named = await fisherDiagonal(model, data, { variant: 'exact', tasks: ['y'] });
    assert.deepEqual(byDefault, named);
    const recon = model.params.partRange('heads.recon.0.weight')!;
    assert.ok(byDefault.subarray(recon.start, recon.end).every((v) => v === 0), "the reconstruction head's Fisher is 0");
    assert.ok(byDefault.some((v) => v > 0));
  });
});

describe('EWC across several extensions', () => {
  /** 48 samples of 4 features labelled for tasks a, b and c: class = sign of feature 0, 1, 2. */
  const rng = new Rng(9);
  const n = 48;
  const x = rng.uniformArray(n * 4, -1, 1);
  const label = (k: number): Float32Array => Float32Array.from({ length: n }, (_, i) => (x[i * 4 + k] > 0 ? 1 : 0));
  const data = new MultiTaskDataset({ inputs: x, inputShape: [4], labels: { a: label(0), b: label(1), c: label(2) } });
  const spec = (name: string) => ({ name, kind: 'classification' as const, classes: 2 });
  const trainer: TrainerConfig = { optimizer: { kind: 'adamw', lr: 0.02, weightDecay: 0 }, batchSize: 16, epochs: 2, seed: 1, log: null, progress: false };

  for (const kind of ['ewc', 'online-ewc'] as const) {
    it(`${kind}: the third stage keeps the second's penalty (from its checkpoint) and adds the Fisher of the task learned since`, async () => {
      const be = new ReferenceBackend();
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hydranet-ewc3-'));
      const retain = { kind, lambda: 10, ...(kind === 'online-ewc' && { gamma: 0.5 }) } as const;
      const m1 = new MultiTaskModel(be, { inputShape: [4], trunk: [{ type: 'dense', units: 6, activation: 'tanh' }], tasks: [spec('a')], maxBatch: 16, seed: 1 });
      await new Trainer(m1, trainer).fit(labelledFor(data, m1.tasks));
      const r2 = await trainExtension({ model: m1, tasks: [spec('b')], train: data, previous: { train: data }, retain, trainer: { ...trainer, runDir: path.join(dir, 'two') } });
      assert.deepEqual(r2.fisherTasks, ['a']);
      // The second stage's run, as `hydranet extend` reads it: the model and the EWC state it trained with (on task a).
      const m2 = await MultiTaskModel.load(be, path.join(dir, 'two'), { checkpoint: 'last' });
      const earlier = ewcFromCheckpoint(readCheckpointFile(path.join(dir, 'two', 'checkpoint.safetensors')), m2)!;
      assert.deepEqual(earlier.tasks, ['a']);
      const fa = r2.trainer.penalty!.state;
      assert.deepEqual(earlier.fisher, fa.fisher, 'the checkpoint holds the penalty the second stage trained with');
      const r3 = await trainExtension({ model: m2, tasks: [spec('c')], train: data, previous: { train: data, ewc: earlier }, retain, trainer: { ...trainer, runDir: path.join(dir, 'three') } });
      assert.deepEqual(r3.fisherTasks, ['a', 'b']);
      const fb = await fisherDiagonal(m2, labelledFor(data, m2.tasks), { variant: 'exact', tasks: ['b'], seed: 0 });
      const theta2 = await be.read(m2.params.values);
      const want = growEwcState(consolidate(earlier, fb, theta2, kind === 'ewc' ? { kind: 'separate' } : { kind: 'online', gamma: 0.5 }), m2, r3.model);
      const got = r3.trainer.penalty!.state;
      assert.deepEqual(got.fisher, want.fisher);
      assert.deepEqual(got.anchor, want.anchor);
      assert.deepEqual(got.tasks, ['a', 'b']);
      // Task a's head: only the earlier penalty covers it, and it is still there (γ-scaled online).
      const head = r3.model.params.partRange('heads.a.0.weight')!;
      const head2 = m2.params.partRange('heads.a.0.weight')!;
      const scale = kind === 'ewc' ? 1 : 0.5;
      assert.ok(earlier.fisher.subarray(head2.start, head2.end).some((v) => v > 0));
      assert.deepEqual([...got.fisher.subarray(head.start, head.end)], [...earlier.fisher.subarray(head2.start, head2.end)].map((v) => Math.fround(scale * v)));
      const stored = ewcFromCheckpoint(readCheckpointFile(path.join(dir, 'three', 'checkpoint.safetensors')), r3.model)!;
      assert.deepEqual(stored.tasks, ['a', 'b']);
      // Without the earlier state: the Fisher of both old tasks at θ2 (the first stage's anchor gone).
      const fresh = await trainExtension({ model: m2, tasks: [spec('c')], train: data, previous: { train: data }, retain, trainer });
      assert.notDeepEqual(fresh.trainer.penalty!.state.fisher, got.fisher);
      await assert.rejects(trainExtension({ model: m2, tasks: [spec('c')], train: data, previous: { train: data, ewc: { fisher: earlier.fisher, anchor: earlier.anchor } }, retain, trainer }), (e: Error) => e instanceof ConfigError && /naming its tasks/.test(e.message));
      fs.rmSync(dir, { recursive: true, force: true });
    });
  }
});
