/**
 * Continual learning (ts/train/continual.ts): the GEM / Chaudhry metrics against values
 * computed by hand on small accuracy matrices (one task per stage, and several tasks in a
 * stage), the printed table, and trainStages on a small synthetic sequence (R filled as
 * documented, metrics consistent, replay seeded and really mixed in, LwF's distillation 0 while
 * the model is unchanged and less forgetting than fine-tuning, typed errors).
 */
import assert from 'node:assert/strict';
import { ReferenceBackend } from '../../ts/backends/reference.js';
import { Rng } from '../../ts/core/random.js';
import { ConfigError, ValueError } from '../../ts/errors.js';
import { MultiTaskDataset } from '../../ts/data/dataset.js';
import { MultiTaskModel } from '../../ts/mtl/model.js';
import { type StageConfig, continualMetrics, formatContinualTable, prepareLwf, trainStages } from '../../ts/train/continual.js';
import type { TrainerConfig } from '../../ts/train/trainer.js';

const close = (a: number, b: number, what: string): void => assert.ok(Math.abs(a - b) < 1e-12, `${what}: ${a} vs ${b}`);

describe('continualMetrics', () => {
  // R[i][j]: task j after stage i. R[0][1] and R[1][2] are the new tasks' accuracies with their fresh heads.
  const R = [
    [0.9, 0.5, NaN],
    [0.8, 0.95, 0.45],
    [0.7, 0.9, 0.85],
  ];

  it('matches hand-computed ACC, BWT, forgetting and FWT on a 3×3 R', () => {
    const m = continualMetrics(R, { randomInit: [0.5, 0.48, 0.5] });
    close(m.averageAccuracy, (0.7 + 0.9 + 0.85) / 3, 'ACC');
    close(m.backwardTransfer, (0.7 - 0.9 + (0.9 - 0.95)) / 2, 'BWT');
    close(m.forgetting[0], 0.9 - 0.7, 'forgetting of task 0');
    close(m.forgetting[1], 0.95 - 0.9, 'forgetting of task 1');
    assert.ok(Number.isNaN(m.forgetting[2]));
    close(m.averageForgetting, (0.2 + 0.05) / 2, 'mean forgetting');
    close(m.forwardTransfer, (0.5 - 0.48 + (0.45 - 0.5)) / 2, 'FWT');
    m.accuracyByStage.forEach((v, i) => close(v, [0.9, (0.8 + 0.95) / 2, (0.7 + 0.9 + 0.85) / 3][i], `ACC after stage ${i}`));
  });

  it('counts forgetting from the stage that learned the task on (not its fresh-head accuracy), and FWT only when given', () => {
    const high = R.map((row) => [...row]);
    high[0][1] = 0.99; // before task 1 was trained: must not count as its best
    const m = continualMetrics(high);
    close(m.forgetting[1], 0.05, 'forgetting of task 1');
    assert.ok(Number.isNaN(m.forwardTransfer));
  });

  it('handles several tasks in a stage (introduced), missing entries as null or short rows', () => {
    const m = continualMetrics([[0.9, 0.8], [0.85, 0.6, 0.95]], { introduced: [0, 0, 1] });
    close(m.averageAccuracy, 0.8, 'ACC');
    close(m.backwardTransfer, (-0.05 - 0.2) / 2, 'BWT');
    close(m.forgetting[0], 0.05, 'forgetting of task 0');
    close(m.forgetting[1], 0.2, 'forgetting of task 1');
    close(m.averageForgetting, 0.125, 'mean forgetting');
    const one = continualMetrics([[0.7]]);
    close(one.averageAccuracy, 0.7, 'one stage');
    assert.ok(Number.isNaN(one.backwardTransfer) && Number.isNaN(one.averageForgetting));
  });

  it('refuses what it cannot compute, naming the entry', () => {
    assert.throws(() => continualMetrics([[0.9, null], [0.8, undefined]]), (e: Error) => e instanceof ValueError && /R\[1\]\[1\]/.test(e.message));
    assert.throws(() => continualMetrics([[0.9, NaN], [NaN, 0.8]]), (e: Error) => e instanceof ValueError && /R\[1\]\[0\]/.test(e.message));
    assert.throws(() => continualMetrics([]), ValueError);
    assert.throws(() => continualMetrics([[0.9, 0.8]]), (e: Error) => e instanceof ConfigError && /introduced/.test(e.message));
    assert.throws(() => continualMetrics([[0.9]], { introduced: [1] }), ValueError);
    assert.throws(() => continualMetrics([[0.9]], { randomInit: [0.5, 0.5] }), ConfigError);
    assert.throws(() => continualMetrics([[0.9]], { random: [0.5] } as never), ConfigError);
  });

  it('prints R, the stage means and the summary in percent', () => {
    const m = continualMetrics(R, { randomInit: [0.5, 0.48, 0.5] });
    const text = formatContinualTable(R, m, ['t0', 't1', 't2']);
    const lines = text.split('\n');
    assert.equal(lines.length, 1 + 3 + 2);
    assert.match(lines[0], /after stage\s+t0\s+t1\s+t2\s+mean/);
    assert.match(lines[1], /^0\s+90\.00\s+50\.00\s+–\s+90\.00$/);
    assert.match(lines[4], /forgetting\s+\+20\.00\s+\+5\.00\s+–/);
    assert.match(lines[5], /ACC 81\.67 %\s+BWT -12\.50 pp\s+forgetting \+12\.50 pp\s+FWT -1\.50 pp/);
  });
});

describe('trainStages', () => {
  /** A stage: a 2-class task on 6 features, class = sign of one feature (a different one per task). */
  function data(feature: number, n: number, seed: number, name: string): MultiTaskDataset {
    const rng = new Rng(seed);
    const inputs = rng.uniformArray(n * 6, -1, 1);
    const y = Float32Array.from({ length: n }, (_, i) => (inputs[i * 6 + feature] > 0 ? 1 : 0));
    return new MultiTaskDataset({ inputs, inputShape: [6], labels: { [name]: y } });
  }
  const stages = (retain: StageConfig['retain']): StageConfig[] =>
    ['p', 'q', 'r'].map((name, s) => ({
      tasks: [{ name, kind: 'classification', classes: 2 }],
      train: data(s, 96, 10 + s, name),
      validation: data(s, 64, 20 + s, name),
      retain: s === 0 ? undefined : retain,
    }));
  const trainer: TrainerConfig = { optimizer: { kind: 'adamw', lr: 0.05, weightDecay: 0 }, batchSize: 32, epochs: 12, seed: 1, log: null, progress: false };
  const model = { inputShape: [6], trunk: [{ type: 'dense' as const, units: 8, activation: 'relu' as const }], maxBatch: 64, seed: 2 };

  it('trains stage after stage, fills R as documented and returns its metrics', async () => {
    const out = await trainStages({ model, backend: new ReferenceBackend(), stages: stages({ kind: 'none' }), trainer });
    assert.deepEqual(out.tasks, ['p', 'q', 'r']);
    assert.deepEqual(out.introduced, [0, 1, 2]);
    assert.deepEqual(out.model.tasks.map((t) => t.name), ['p', 'q', 'r']);
    assert.equal(out.accuracy.length, 3);
    assert.ok(Number.isNaN(out.accuracy[0][2]), 'task r is unknown after stage 0');
    for (let j = 0; j < 3; j++) assert.ok(out.accuracy[j][j] > 0.85, `task ${j} learned: ${out.accuracy[j][j]}`);
    assert.ok(Number.isFinite(out.accuracy[0][1]) && Number.isFinite(out.accuracy[1][2]), 'fresh-head accuracies measured');
    assert.ok(out.randomInit.every((b) => b >= 0 && b <= 1));
    assert.deepEqual(out.metrics, continualMetrics(out.accuracy, { introduced: out.introduced, randomInit: out.randomInit }));
    assert.equal(out.histories.length, 3);
    assert.equal(out.histories[1].length, 12);
    assert.match(out.table, /ACC/);
  });

  it('replays a seeded buffer: the same result twice, another than without replay', async () => {
    const run = () => trainStages({ model, backend: new ReferenceBackend(), stages: stages({ kind: 'replay', size: 32, seed: 4, batch: 48 }), trainer });
    const a = await run();
    assert.deepEqual((await run()).accuracy, a.accuracy);
    // (a model factory this time: built from the first stage's tasks)
    const none = await trainStages({ model: (tasks) => new MultiTaskModel(new ReferenceBackend(), { ...model, tasks }), stages: stages({ kind: 'none' }), trainer });
    assert.notDeepEqual(a.accuracy[2].slice(0, 2), none.accuracy[2].slice(0, 2));
    // The replayed rows ride along with every step (3 steps of 32 new samples per epoch, as without
    // replay); the grown models hold 32 + 48 rows.
    assert.deepEqual([0, 1, 2].map((s) => a.histories[s][0].step), [3, 3, 3]);
    assert.deepEqual([0, 1, 2].map((s) => none.histories[s][0].step), [3, 3, 3]);
    assert.equal(a.model.maxBatch, 80);
    assert.equal(none.model.maxBatch, 64);
  });

  it('EWC and online EWC: the old tasks forget less than without, and λ = 0 is fine-tuning exactly', async () => {
    const be = new ReferenceBackend();
    const none = await trainStages({ model, backend: be, stages: stages({ kind: 'none' }), trainer });
    const zero = await trainStages({ model, backend: be, stages: stages({ kind: 'ewc', lambda: 0 }), trainer });
    assert.deepEqual(zero.accuracy, none.accuracy);
    for (const retain of [{ kind: 'ewc', lambda: 100 }, { kind: 'online-ewc', lambda: 100, gamma: 0.9, fisher: 'empirical' }] as const) {
      const out = await trainStages({ model, backend: be, stages: stages(retain), trainer });
      assert.ok(
        out.metrics.averageForgetting < none.metrics.averageForgetting,
        `${retain.kind}: forgetting ${out.metrics.averageForgetting} vs ${none.metrics.averageForgetting} without`,
      );
      assert.ok(out.histories[2].at(-1)!.ewcPenalty! > 0, 'the penalty acts in the last stage');
      assert.equal(out.histories[0].at(-1)!.ewcPenalty, undefined, 'and not in the first');
    }
  });

  it('freeze-trunk: the trunk stays bit for bit as the first stage left it, the new heads train', async () => {
    const be = new ReferenceBackend();
    const first = await trainStages({ model, backend: be, stages: stages({ kind: 'none' }).slice(0, 1), trainer });
    const out = await trainStages({ model, backend: be, stages: stages({ kind: 'freeze-trunk' }), trainer });
    const trunk = (m: MultiTaskModel) => m.backend.read(m.params.values).then((v) => v.subarray(0, m.sharedParameterSize));
    assert.ok(out.model.sharedParameterSize > 0);
    assert.deepEqual(await trunk(out.model), await trunk(first.model));
    for (let j = 1; j < 3; j++) assert.ok(out.accuracy[j][j] > out.accuracy[j - 1][j], `task ${j} learned on the frozen trunk: ${out.accuracy[j - 1][j]} → ${out.accuracy[j][j]}`);
    assert.equal(out.metrics.averageForgetting, 0, 'nothing the old tasks read moved');
  });

  it("LwF: the distillation loss is 0 with zero gradient while the model has not changed; the stage's model keeps its own losses", async () => {
    const be = new ReferenceBackend();
    const first = await trainStages({ model, backend: be, stages: stages({ kind: 'none' }).slice(0, 2), trainer });
    const next = stages({ kind: 'none' })[2];
    const grown = await MultiTaskModel.extend(first.model, next.tasks);
    const { student, data: soft } = await prepareLwf(grown, next.train, ['r'], { temperature: 2 });
    assert.deepEqual(student.tasks.map((t) => t.loss), ['distill:temperature=2', 'distill:temperature=2', 'softmax-ce']);
    assert.deepEqual(grown.tasks.map((t) => t.loss), ['softmax-ce', 'softmax-ce', 'softmax-ce'], 'the grown model keeps its losses');
    const n = 64; // maxBatch: the first 64 samples
    const widths = student.tasks.map((t) => t.labelWidth);
    assert.deepEqual(widths, [2, 2, 1]);
    const targets = new Float32Array(n * 5);
    for (let i = 0; i < n; i++) {
      let off = 0;
      student.tasks.forEach((t, k) => {
        targets.set(soft.labels(t.name).subarray(i * widths[k], (i + 1) * widths[k]), i * 5 + off);
        off += widths[k];
      });
    }
    student.loadBatch(n, soft.inputs, targets, null);
    const dl = await be.read(student.computeLoss(n, student.forward(n)));
    const losses = await be.read(student.losses);
    assert.ok(Math.abs(losses[0]) < 1e-7 && Math.abs(losses[1]) < 1e-7, `old tasks' distillation losses ${losses[0]}, ${losses[1]}: expected 0`);
    assert.ok(losses[2] > 0.1, `the new task's loss ${losses[2]} is not 0`);
    let worstOld = 0;
    let worstNew = 0;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < 4; j++) worstOld = Math.max(worstOld, Math.abs(dl[i * 6 + j]));
      for (let j = 4; j < 6; j++) worstNew = Math.max(worstNew, Math.abs(dl[i * 6 + j]));
    }
    assert.ok(worstOld < 1e-8, `old tasks' largest |dL/dz| ${worstOld}: expected 0`);
    assert.ok(worstNew > 1e-4, 'the new task has a gradient');
    await assert.rejects(prepareLwf(grown, next.train, ['x']), ConfigError);
    await assert.rejects(prepareLwf(grown, next.train, ['r'], { temperature: -1 }), ValueError);
  });

  it('LwF: the old tasks forget less than without; α = 0 is fine-tuning exactly', async () => {
    const be = new ReferenceBackend();
    const none = await trainStages({ model, backend: be, stages: stages({ kind: 'none' }), trainer });
    const zero = await trainStages({ model, backend: be, stages: stages({ kind: 'lwf', alpha: 0 }), trainer });
    assert.deepEqual(zero.accuracy, none.accuracy);
    const lwf = await trainStages({ model, backend: be, stages: stages({ kind: 'lwf', temperature: 2 }), trainer });
    assert.ok(lwf.metrics.averageForgetting < none.metrics.averageForgetting, `forgetting ${lwf.metrics.averageForgetting} vs ${none.metrics.averageForgetting} without`);
    for (let j = 1; j < 3; j++) assert.ok(lwf.accuracy[j][j] > 0.85, `task ${j} learned with LwF: ${lwf.accuracy[j][j]}`);
    assert.deepEqual(lwf.model.tasks.map((t) => t.loss), ['softmax-ce', 'softmax-ce', 'softmax-ce']);
    assert.deepEqual(lwf.model.resolvedConfig.tasks.map((t) => t.loss ?? 'softmax-ce'), ['softmax-ce', 'softmax-ce', 'softmax-ce']);
  });

  it('refuses bad configurations with ConfigErrors', async () => {
    const be = new ReferenceBackend();
    const bad = async (config: unknown, pattern: RegExp): Promise<void> =>
      assert.rejects(trainStages(config as never), (e: Error) => e instanceof ConfigError && pattern.test(e.message));
    await bad({ model, backend: be, stages: [], trainer }, /non-empty array of stages/);
    await bad({ model, backend: be, stages: stages({ kind: 'lfw' } as never), trainer }, /retain kind 'none', 'replay', 'ewc', 'online-ewc', 'lwf' or 'freeze-trunk'/);
    await bad({ model, backend: be, stages: stages({ kind: 'lwf', lambda: 1 } as never), trainer }, /"lambda"/);
    await assert.rejects(trainStages({ model, backend: be, stages: stages({ kind: 'lwf', temperature: 0 }), trainer }), ValueError);
    await assert.rejects(trainStages({ model, backend: be, stages: stages({ kind: 'lwf', alpha: -1 }), trainer }), ValueError);
    const binary = stages({ kind: 'lwf' });
    binary[0] = { ...binary[0], tasks: [{ name: 'p', kind: 'binary' }] };
    await bad({ model, backend: be, stages: binary, trainer }, /LwF distils classification tasks; old task p is a binary task/);
    await bad({ model, backend: be, stages: stages({ kind: 'ewc', lambda: 1, gamma: 0.5 } as never), trainer }, /"gamma"/);
    const kinds = stages({ kind: 'ewc', lambda: 1 });
    kinds[2] = { ...kinds[2], retain: { kind: 'online-ewc', lambda: 1 } };
    await bad({ model, backend: be, stages: kinds, trainer }, /one EWC kind/);
    await assert.rejects(trainStages({ model, backend: be, stages: stages({ kind: 'ewc', lambda: -1 }), trainer }), ValueError);
    await bad({ model: { ...model, sharing: { kind: 'soft', penalty: 0.01 } }, backend: be, stages: stages({ kind: 'freeze-trunk' }), trainer }, /freeze-trunk needs hard sharing/);
    const mixed = stages({ kind: 'replay', size: 8 });
    mixed[2] = { ...mixed[2], retain: { kind: 'replay', size: 9 } };
    await bad({ model, backend: be, stages: mixed, trainer }, /same replay size/);
    await bad({ model, backend: be, stages: stages({ kind: 'none' }), trainer: { ...trainer, runDir: '/tmp/x' } }, /runDir/);
    await bad({ model, stages: stages({ kind: 'none' }), trainer }, /backend/);
    await bad({ model: { ...model, tasks: [] }, backend: be, stages: stages({ kind: 'none' }), trainer }, /"tasks"/);
    await bad({ model, backend: be, stages: stages({ kind: 'none' }), trainer, extra: 1 }, /"extra"/);
    await bad({ model: () => new MultiTaskModel(be, { ...model, tasks: [{ name: 'z', kind: 'binary' }] }), stages: stages({ kind: 'none' }), trainer }, /stages\[0\]\.tasks are p/);
    await bad({ model, backend: be, stages: [{ ...stages({ kind: 'none' })[0], tasks: [{ name: 'v', kind: 'regression' }] }], trainer }, /no accuracy metric/);
  });
});
