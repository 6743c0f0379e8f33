/**
 * The embedding input layer in a model (ModelConfig.embedding): every parameter's gradient
 * (the tables' included, through every sharing kind's input gradient, MMoE/CGC/PLE gates
 * included) against finite differences on the reference; the body sees the numeric columns
 * followed by the fields' vectors; the tables' initial scale N(0, 1/dim); the cpu backend
 * training the same model to the same parameters; save/load, extend/addTask and predict; a bad
 * index in the data (LabelError at the forward on cpu); and the configuration errors. Row-sparse
 * SGD of the tables (Optimizer with model.embedding): the same parameters as the dense step, bit
 * for bit, on the reference, cpu and webgpu (model-level steps and a Trainer with clipping), the
 * whole table gradient zero after every step, the model's next gradient zeroing skipping the
 * tables (once), and the dense fallback wherever the sparse step would not be exact.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createBackend } from '../../ts/backends/create.js';
import { ReferenceBackend } from '../../ts/backends/reference.js';
import { Rng } from '../../ts/core/random.js';
import { ConfigError, LabelError } from '../../ts/errors.js';
import { type TrainingState, saveCheckpoint } from '../../ts/io/checkpoint.js';
import { type ModelConfig, MultiTaskModel } from '../../ts/mtl/model.js';
import type { SharingConfig } from '../../ts/mtl/sharing/index.js';
import type { Backend } from '../../ts/backends/backend.js';
import { MultiTaskDataset } from '../../ts/data/dataset.js';
import { Optimizer, type OptimizerConfig } from '../../ts/train/optimizer.js';
import { Trainer } from '../../ts/train/trainer.js';
import { assertModelGradients } from '../backends/gradcheck.js';
import { parityBackends } from '../backends/harness.js';

/** 6 features: numeric 0, 2, 5; field a (column 1, vocab 4, dim 3), field b (column 4, vocab 7, dim 2), field c (column 3, vocab 1, dim 1). */
function config(sharing: SharingConfig, trunk: ModelConfig['trunk'] = [{ type: 'dense', units: 4, activation: 'tanh' }]): ModelConfig {
  return {
    inputShape: [6],
    trunk,
    sharing,
    embedding: {
      fields: [
        { column: 1, vocab: 4, dim: 3, name: 'a' },
        { column: 4, vocab: 7, dim: 2 },
        { column: 3, vocab: 1, dim: 1, name: 'c' },
      ],
    },
    tasks: [
      { name: 'cls', kind: 'classification', classes: 3 },
      { name: 'reg', kind: 'regression', weight: 0.5 },
    ],
    maxBatch: 8,
    seed: 3,
  };
}

/** n rows with numeric features in [-1, 1] and valid indices (repeats: 8 rows over vocab 4). */
function batch(n: number, seed = 1): { x: Float32Array; y: Float32Array } {
  const rng = new Rng(seed);
  const x = rng.uniformArray(n * 6, -1, 1);
  const y = new Float32Array(n * 2);
  for (let i = 0; i < n; i++) {
    x[i * 6 + 1] = i % 4;
    x[i * 6 + 4] = (3 * i) % 7;
    x[i * 6 + 3] = 0;
    y.set([i % 3, rng.normal()], i * 2);
  }
  return { x, y };
}

const SHARINGS: SharingConfig[] = [
  { kind: 'hard' },
  { kind: 'soft', penalty: 0 }, // the towers' own gradients (the penalty's are tested in sharing.spec.ts)
  { kind: 'cross-stitch', after: [0] },
  { kind: 'mmoe', experts: 2 },
  { kind: 'cgc', shared: 1, perTask: 1 },
  { kind: 'ple', levels: 2, shared: 1, perTask: 1 },
];

const state = (): TrainingState => ({ epoch: 1, step: 1, rngState: new Rng(0).getState() });

describe('MultiTaskModel with an embedding layer', () => {
  for (const sharing of SHARINGS) {
    it(`${sharing.kind}: every gradient, the tables' included, matches finite differences (reference)`, async () => {
      const model = new MultiTaskModel(new ReferenceBackend(), config(sharing));
      const n = 8;
      const { x, y } = batch(n);
      model.loadBatch(n, x, y);
      assertModelGradients(model, n);
      const table = model.params.parameters.find((p) => p.name === 'embedding.table')!;
      assert.equal(table.offset, 0, 'the tables come first: shared parameters');
      assert.ok(model.sharedParameterSize === 0 || model.sharedParameterSize > table.size);
    });
  }

  it('the body sees the numeric columns, then each field\'s vector (3 + 3 + 2 + 1 = 9 features); tables drawn from N(0, 1/dim)', async () => {
    const model = new MultiTaskModel(new ReferenceBackend(), config({ kind: 'hard' }));
    assert.equal(model.embedding!.width, 9);
    assert.deepEqual(model.embedding!.layout.numericColumns, [0, 2, 5]);
    assert.match(model.summary(), /embedding: 3 numeric \+ a 4×3, column4 7×2, c 1×1 → 9/);
    const names = model.params.parameters.flatMap((p) => p.parts.map((q) => q.name));
    assert.deepEqual(names.slice(0, 3), ['embedding.a', 'embedding.column4', 'embedding.c']);
    const values = await model.backend.read(model.params.values);
    const first = model.params.parameters.find((p) => p.name === 'trunk.0.weight')!;
    assert.equal(first.shape[1], 9, 'the trunk reads 9 features');
    // A wide table to measure the scale: vocab 2000 × dim 16 → variance 1/16.
    const wide = new MultiTaskModel(new ReferenceBackend(), { ...config({ kind: 'hard' }), embedding: { fields: [{ column: 0, vocab: 2000, dim: 16 }] } });
    const t = (await wide.backend.read(wide.params.values)).subarray(0, 32000);
    const variance = t.reduce((s, v) => s + v * v, 0) / t.length;
    assert.ok(Math.abs(variance - 1 / 16) < 0.004, `variance ${variance}`);
    assert.ok(values.subarray(0, 12).some((v) => v !== 0));
  });

  it('cpu trains the same model to the same parameters as the reference (3 SGD steps)', async () => {
    const cpu = await createBackend('cpu');
    const models = [new MultiTaskModel(new ReferenceBackend(), config({ kind: 'mmoe', experts: 2 })), new MultiTaskModel(cpu, config({ kind: 'mmoe', experts: 2 }))];
    const after: Float32Array[] = [];
    for (const m of models) {
      const opt = new Optimizer(m.backend, m.params, { kind: 'sgd', lr: 0.1 });
      for (let s = 0; s < 3; s++) {
        const { x, y } = batch(8, s + 1);
        m.loadBatch(8, x, y);
        m.forwardBackward(8, { training: true, seed: s });
        opt.step();
      }
      after.push(await m.backend.read(m.params.values));
    }
    const fresh = new MultiTaskModel(new ReferenceBackend(), config({ kind: 'mmoe', experts: 2 }));
    const before = await fresh.backend.read(fresh.params.values);
    const tables = models[0].embedding!.layout.tableSize;
    assert.ok(after[0].subarray(0, tables).some((v, i) => v !== before[i]), 'the tables moved');
    for (let i = 0; i < after[0].length; i++) assert.ok(Math.abs(after[0][i] - after[1][i]) <= 1e-5 + 1e-4 * Math.abs(after[0][i]), `parameter ${i}: ${after[0][i]} vs ${after[1][i]}`);
    cpu.dispose();
  });

  it('rows the batch did not use keep their values under SGD (momentum 0): only the used rows move', async () => {
    const model = new MultiTaskModel(new ReferenceBackend(), config({ kind: 'hard' }));
    const before = await model.backend.read(model.params.values);
    const opt = new Optimizer(model.backend, model.params, { kind: 'sgd', lr: 0.5 });
    const { x, y } = batch(3); // field a uses rows 0, 1, 2 (not 3); field b rows 0, 3, 6
    model.loadBatch(3, x, y);
    model.forwardBackward(3, { training: true, seed: 0 });
    opt.step();
    const after = await model.backend.read(model.params.values);
    const moved = (from: number, to: number): boolean => after.subarray(from, to).some((v, i) => v !== before[from + i]);
    assert.ok(moved(0, 9) && !moved(9, 12), 'field a: rows 0..2 moved, row 3 did not');
    assert.ok(!moved(12 + 2, 12 + 6) && moved(12 + 6, 12 + 8), 'field b: rows 1, 2 kept, row 3 moved');
  });

  it('round-trips through a checkpoint (resolvedConfig, parameters, predict) and through extend/addTask', async () => {
    const model = new MultiTaskModel(new ReferenceBackend(), config({ kind: 'cgc', shared: 1, perTask: 1 }));
    const { x, y } = batch(8);
    model.loadBatch(8, x, y);
    model.forwardBackward(8, { training: true, seed: 1 });
    new Optimizer(model.backend, model.params, { kind: 'adamw', lr: 0.05 }).step();
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'hydranet-embed-')), 'model.safetensors');
    await saveCheckpoint(file, model, null, state());
    const loaded = await MultiTaskModel.load(new ReferenceBackend(), file);
    assert.deepEqual(loaded.resolvedConfig.embedding, model.resolvedConfig.embedding);
    assert.deepEqual(loaded.resolvedConfig.embedding!.fields[1], { column: 4, vocab: 7, dim: 2, name: 'column4' });
    assert.deepEqual(await loaded.backend.read(loaded.params.values), await model.backend.read(model.params.values));
    const want = await model.predict(x);
    assert.deepEqual(await loaded.predict(x), want);
    const grown = await model.addTask({ name: 'bin', kind: 'binary' });
    assert.deepEqual(grown.resolvedConfig.embedding, model.resolvedConfig.embedding);
    const got = await grown.predict(x);
    assert.deepEqual(got.cls, want.cls);
    assert.deepEqual(got.reg, want.reg);
  });

  it('a bad index in the inputs is a LabelError at the forward on cpu, naming the field and the sample', async () => {
    const cpu = await createBackend('cpu');
    const model = new MultiTaskModel(cpu, config({ kind: 'hard' }));
    const { x, y } = batch(4);
    x[2 * 6 + 4] = 7; // field b (column 4) has vocab 7
    model.loadBatch(4, x, y);
    assert.throws(() => model.forwardBackward(4, { training: true, seed: 0 }), (e: Error) => e instanceof LabelError && /field 1 \(input column 4\) sample 2 has index 7/.test(e.message));
    await assert.rejects(model.predict(x), LabelError);
    cpu.dispose();
  });

  it('rejects bad embedding configurations with ConfigError before allocating', () => {
    const be = new ReferenceBackend();
    const bad = (embedding: unknown, extra: Partial<ModelConfig> = {}): void => {
      assert.throws(() => new MultiTaskModel(be, { ...config({ kind: 'hard' }), ...extra, embedding } as ModelConfig), ConfigError);
    };
    bad({ fields: [] });
    bad({ fields: [{ column: 6, vocab: 3, dim: 2 }] });
    bad({ fields: [{ column: -1, vocab: 3, dim: 2 }] });
    bad({ fields: [{ column: 1, vocab: 3, dim: 2 }, { column: 1, vocab: 4, dim: 2 }] });
    bad({ fields: [{ column: 1, vocab: 0, dim: 2 }] });
    bad({ fields: [{ column: 1, vocab: 2.5, dim: 2 }] });
    bad({ fields: [{ column: 1, vocab: 3, dim: 0 }] });
    bad({ fields: [{ column: 1, vocab: 3, dim: 2, size: 4 }] });
    bad({ fields: [{ column: 1, vocab: 3, dim: 2 }], pooling: 'sum' });
    bad({ fields: [{ column: 1, vocab: 3, dim: 2, name: 'x' }, { column: 2, vocab: 3, dim: 2, name: 'x' }] });
    bad({ fields: [{ column: 1, vocab: 3, dim: 2 }] }, { inputShape: [2, 3] });
    assert.throws(() => new MultiTaskModel(be, { ...config({ kind: 'hard' }), embedding: { fields: [{ column: 1, vocab: 3, dim: 2, size: 4 }] } } as unknown as ModelConfig), /Unknown key "size" in embedding.fields\[0\]/);
    assert.throws(() => new MultiTaskModel(be, { ...config({ kind: 'hard' }), embedding: { fields: [{ column: 1, vocab: 3, dim: 2 }] }, inputShape: [2, 3] }), /flat inputShape/);
  });

  describe('row-sparse SGD of the tables', () => {
    /** The backends to compare on: the reference, and cpu and webgpu where they run. */
    const backends = async (): Promise<[string, Backend][]> => [
      ['reference', new ReferenceBackend()],
      ...(await parityBackends()).filter((u) => u.backend && u.name !== 'cuda').map((u): [string, Backend] => [u.name, u.backend!]),
    ];
    const tableGradient = async (m: MultiTaskModel): Promise<Float32Array> => (await m.backend.read(m.params.grads)).subarray(0, m.embedding!.layout.tableSize);

    it('equals the dense step bit for bit over 4 steps; the whole table gradient is zero after each; the next zeroing skips the tables once', async () => {
      for (const [name, be] of await backends()) {
        const sparse = new MultiTaskModel(be, config({ kind: 'mmoe', experts: 2 }));
        const dense = new MultiTaskModel(be, config({ kind: 'mmoe', experts: 2 }));
        const sgd: OptimizerConfig = { kind: 'sgd', lr: 0.3, nesterov: true };
        const opts = [new Optimizer(be, sparse.params, sgd, sparse.embedding), new Optimizer(be, dense.params, sgd)];
        assert.deepEqual(opts.map((o) => o.rowSparse), [true, false], name);
        for (let s = 0; s < 4; s++) {
          const { x, y } = batch(s === 3 ? 3 : 8, s + 1); // the last batch leaves field a's row 3 unused
          [sparse, dense].forEach((m, k) => {
            m.loadBatch(x.length / 6, x, y);
            m.forwardBackward(x.length / 6, { training: true, seed: s });
            opts[k].step();
          });
          assert.ok((await tableGradient(sparse)).every((v) => v === 0), `${name} step ${s + 1}: the whole table gradient is zero`);
        }
        const [a, b] = [await be.read(sparse.params.values), await be.read(dense.params.values)];
        for (let i = 0; i < a.length; i++) assert.equal(a[i], b[i], `${name}: parameter ${i}`);
        // The next zeroing skips the tables: a value planted in the table gradient survives it, once.
        be.write(sparse.params.grads, Float32Array.of(7), 10);
        sparse.forwardLoss(3, { training: true, seed: 9 });
        assert.equal((await tableGradient(sparse))[10], 7, `${name}: the zeroing after a sparse step leaves the tables out`);
        sparse.zeroGradients();
        assert.equal((await tableGradient(sparse))[10], 0, `${name}: a second zeroing fills the tables`);
      }
    });

    it('a Trainer with gradient clipping trains to the same parameters as with rowSparse: false (reference, cpu, webgpu)', async () => {
      const n = 40;
      const rng = new Rng(4);
      const inputs = rng.uniformArray(n * 6, -1, 1);
      for (let i = 0; i < n; i++) [inputs[i * 6 + 1], inputs[i * 6 + 4], inputs[i * 6 + 3]] = [rng.int(4), rng.int(7), 0];
      const data = new MultiTaskDataset({
        inputs,
        inputShape: [6],
        labels: { cls: Float32Array.from({ length: n }, () => rng.int(3)), reg: rng.uniformArray(n, -1, 1) },
      });
      for (const [name, be] of await backends()) {
        const after: Float32Array[] = [];
        for (const rowSparse of [true, false]) {
          const model = new MultiTaskModel(be, config({ kind: 'hard' }));
          const trainer = new Trainer(model, { optimizer: { kind: 'sgd', lr: 0.2, rowSparse }, batchSize: 8, epochs: 2, log: null, clipGradNorm: 0.5, seed: 1 });
          assert.equal(trainer.optimizer.rowSparse, rowSparse, name);
          await trainer.fit(data);
          after.push(await be.read(model.params.values));
        }
        for (let i = 0; i < after[0].length; i++) assert.equal(after[0][i], after[1][i], `${name}: parameter ${i}`);
      }
    });

    it('falls back to the dense step where the sparse one would not be exact: momentum, weight decay, AdamW, rowSparse false, a frozen table', () => {
      const model = new MultiTaskModel(new ReferenceBackend(), config({ kind: 'hard' }));
      const rowSparse = (c: OptimizerConfig): boolean => new Optimizer(model.backend, model.params, c, model.embedding).rowSparse;
      assert.equal(rowSparse({ kind: 'sgd', lr: 0.1 }), true);
      assert.equal(rowSparse({ kind: 'sgd', lr: 0.1, momentum: 0.9 }), false);
      assert.equal(rowSparse({ kind: 'sgd', lr: 0.1, weightDecay: 1e-4 }), false);
      assert.equal(rowSparse({ kind: 'sgd', lr: 0.1, rowSparse: false }), false);
      assert.equal(rowSparse({ kind: 'adamw', lr: 0.1 }), false);
      assert.throws(() => rowSparse({ kind: 'sgd', lr: 0.1, rowSparse: 1 as unknown as boolean }), ConfigError);
      const opt = new Optimizer(model.backend, model.params, { kind: 'sgd', lr: 0.1 }, model.embedding);
      const P = model.sharedParameterSize;
      opt.restrict({ offset: P, length: model.params.arenaSize - P }); // the trunk, tables included, frozen
      assert.equal(opt.rowSparse, false);
      opt.restrict(null);
      assert.equal(opt.rowSparse, true);
    });
  });
});
