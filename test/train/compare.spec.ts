/**
 * Comparisons: Δm against hand-computed values, epoch selection, and compare() end to end on
 * a small MultiMNIST subset (baselines per main task, one run per configuration, Δm
 * consistent with deltaM() of the reported metrics, auxiliary tasks left out).
 */
import assert from 'node:assert/strict';
import type { Backend } from '../../ts/backends/backend.js';
import { ReferenceBackend } from '../../ts/backends/reference.js';
import { MultiTaskDataset } from '../../ts/data/dataset.js';
import { makeMultiMnist } from '../../ts/data/multimnist.js';
import { ConfigError, ValueError } from '../../ts/errors.js';
import {
  type ComparisonResult,
  type CompareOptions,
  compare,
  deltaM,
  formatComparison,
  selectEpoch,
} from '../../ts/train/compare.js';
import type { ModelConfig } from '../../ts/mtl/model.js';
import { resolveTask } from '../../ts/mtl/task.js';
import { WEIGHTINGS } from '../../ts/mtl/weighting/index.js';
import type { EpochRecord } from '../../ts/train/trainer.js';
import { backendsUnderTest } from '../backends/harness.js';
import { multiMnistMlp } from '../fixtures.js';

const close = (got: number, want: number, what = ''): void =>
  assert.ok(Math.abs(got - want) < 1e-9, `${what} ${got} != ${want}`);

describe('deltaM', () => {
  it('matches hand-computed values with mixed higher- and lower-is-better metrics', () => {
    // a: accuracy 0.80 → 0.88: −(0.80 − 0.88)/0.80 = +0.10
    // b: mse 2.0 → 2.5: +(2.0 − 2.5)/2.0 = −0.25; mae 1.0 → 0.9: +(1.0 − 0.9)/1.0 = +0.10; mean −0.075
    // Δm = (0.10 − 0.075)/2 × 100 = +1.25 %
    const base = { a: { accuracy: 0.8 }, b: { mse: 2, mae: 1 } };
    close(deltaM(base, { a: { accuracy: 0.88 }, b: { mse: 2.5, mae: 0.9 } }), 1.25);
    close(deltaM(base, base), 0, 'identical results');
    // Lower mse alone: b = +(2 − 1)/2 = +0.5 with mae unchanged → +0.25; Δm = 12.5 %.
    close(deltaM(base, { a: { accuracy: 0.8 }, b: { mse: 1, mae: 1 } }), 12.5);
  });

  it('weighs one task better and one worse by their relative changes', () => {
    // left +10 % relative (0.90 → 0.99), right −5 % relative (0.80 → 0.76): Δm = (10 − 5)/2 = 2.5 %
    close(deltaM({ left: { accuracy: 0.9 }, right: { accuracy: 0.8 } }, { left: { accuracy: 0.99 }, right: { accuracy: 0.76 } }), 2.5);
    // left −10 %, right +5 %: −2.5 %
    close(deltaM({ left: { accuracy: 0.9 }, right: { accuracy: 0.8 } }, { left: { accuracy: 0.81 }, right: { accuracy: 0.84 } }), -2.5);
  });

  it("counts only the baseline's tasks (auxiliary tasks have no baseline) and metrics", () => {
    const base = { left: { accuracy: 0.9 }, right: { accuracy: 0.8 } };
    const res = { left: { accuracy: 0.99 }, right: { accuracy: 0.76 } };
    close(deltaM(base, { ...res, aux: { accuracy: 0.1, mse: 100 } }), 2.5);
    close(deltaM(base, { left: { ...res.left, loss: 9 }, right: res.right }), 2.5, 'extra metrics');
  });

  it('takes a custom higherIsBetter', () => {
    // "error" lower is better: 0.1 → 0.08 is +20 %.
    close(deltaM({ t: { error: 0.1 } }, { t: { error: 0.08 } }, (m) => m !== 'error'), 20);
  });

  it('rejects missing metrics, zero baselines and non-finite values with clear errors', () => {
    const base = { left: { accuracy: 0.9 }, right: { accuracy: 0.8 } };
    assert.throws(() => deltaM(base, { left: { accuracy: 0.9 } }), (e: Error) => e instanceof ValueError && /no right\.accuracy \(it has no such task\)/.test(e.message));
    assert.throws(() => deltaM(base, { left: { accuracy: 0.9 }, right: { mse: 1 } }), /no right\.accuracy \(it has mse\)/);
    assert.throws(() => deltaM({ left: { accuracy: 0 } }, { left: { accuracy: 0.5 } }), /baseline left\.accuracy is 0/);
    assert.throws(() => deltaM(base, { left: { accuracy: NaN }, right: { accuracy: 0.8 } }), /result left\.accuracy must be a finite number/);
    assert.throws(() => deltaM({ left: { accuracy: Infinity } }, { left: { accuracy: 1 } }), /baseline left\.accuracy must be a finite number/);
    assert.throws(() => deltaM({}, {}), /no tasks/);
    assert.throws(() => deltaM({ t: { bleu: 1 } }, { t: { bleu: 2 } }), (e: Error) => e instanceof ConfigError && /Unknown metric "bleu"/.test(e.message));
  });
});

describe('selectEpoch', () => {
  const tasks = [
    resolveTask({ name: 'c', kind: 'classification', classes: 3 }, 0),
    resolveTask({ name: 'r', kind: 'regression' }, 1),
  ];
  const rec = (epoch: number, acc: number, mse: number): EpochRecord => ({
    epoch, step: epoch, seconds: 1, stepsPerSecond: 1, train: {}, weights: {}, weighting: { name: 'equal' },
    validation: { c: { accuracy: acc, count: 1 }, r: { mse, mae: 0, count: 1 } },
  });

  it('picks the best mean headline metric (signed), ties to the earlier epoch, or the last epoch', () => {
    // scores (acc − mse)/2, exact in binary: 0.125, 0.25, 0.25, 0.125
    const h = [rec(1, 0.5, 0.25), rec(2, 0.75, 0.25), rec(3, 0.625, 0.125), rec(4, 1.0, 0.75)];
    assert.equal(selectEpoch(h, tasks, 'best'), 1);
    assert.equal(selectEpoch(h, tasks, 'last'), 3);
    assert.equal(selectEpoch(h, [tasks[1]], 'best'), 2, 'regression alone: the lowest mse');
    assert.equal(selectEpoch(h, [tasks[0]], 'best'), 3, 'classification alone: the highest accuracy');
  });
});

describe('compare', function () {
  this.timeout(300_000);
  let backend: Backend;
  const train = makeMultiMnist({ split: 'train', seed: 1, count: 1500 });
  const validation = makeMultiMnist({ split: 'test', seed: 2, count: 300 });
  const model = (extra: Partial<ModelConfig> = {}): ModelConfig => multiMnistMlp([32], 64, 3, extra);
  const opts = (extra: Partial<CompareOptions> = {}): CompareOptions => ({
    backend,
    train,
    validation,
    model: model(),
    trainer: { optimizer: { kind: 'sgd', lr: 0.05, momentum: 0.9 }, batchSize: 64, epochs: 2, seed: 5 },
    configurations: [
      { label: 'equal', weighting: 'equal' },
      { label: 'uncertainty', weighting: 'uncertainty' },
    ],
    ...extra,
  });

  before(async () => {
    backend = (await backendsUnderTest()).find((b) => b.name === 'cpu')?.backend ?? new ReferenceBackend();
  });

  let result: ComparisonResult;
  const lines: string[] = [];

  it('trains a baseline per task and a run per configuration, each with Δm = deltaM() of its metrics', async () => {
    const configurations = [
      { label: 'equal', weighting: 'equal' },
      { label: 'uncertainty', weighting: 'uncertainty' },
      ...('mgda-ub' in WEIGHTINGS ? [{ label: 'mgda-ub', weighting: 'mgda-ub' }] : []),
    ];
    result = await compare(opts({ configurations, log: (l) => lines.push(l) }));
    assert.deepEqual(result.tasks, ['left', 'right']);
    assert.deepEqual(Object.keys(result.baselines), ['left', 'right']);
    assert.deepEqual(Object.keys(result.baselineRuns), ['left', 'right']);
    assert.equal(result.selection, 'best');
    for (const task of ['left', 'right']) {
      const acc = result.baselines[task].accuracy;
      assert.ok(acc > 0.2 && acc <= 1, `baseline ${task} accuracy ${acc} above the 10 % of chance`);
      const b = result.baselineRuns[task];
      assert.deepEqual(Object.keys(b.metrics), [task], 'a baseline has only its own task');
      assert.equal(b.history.length, 2);
    }
    assert.deepEqual(result.runs.map((r) => r.label), configurations.map((c) => c.label));
    for (const r of result.runs) {
      assert.ok(Number.isFinite(r.deltaM), `${r.label} Δm ${r.deltaM}`);
      close(r.deltaM, deltaM(result.baselines, r.metrics), `${r.label} Δm`);
      assert.equal(r.epochs, 2);
      assert.ok(r.seconds > 0);
      // The reported metrics are the selected epoch's, and no other epoch scores higher.
      const sel = r.history[r.epoch - 1].validation!;
      assert.equal(r.metrics.left.accuracy, sel.left.accuracy);
      assert.equal(r.metrics.right.accuracy, sel.right.accuracy);
      for (const h of r.history) {
        const s = (h.validation!.left.accuracy! + h.validation!.right.accuracy!) / 2;
        assert.ok(s <= (sel.left.accuracy! + sel.right.accuracy!) / 2);
      }
    }
    assert.equal(lines.length, 2 + configurations.length, lines.join('\n'));
    assert.match(lines[0], /^baseline 1\/2 left: left \d+\.\d\d% \(epoch [12]\/2, \d+\.\d s\)$/);
    assert.match(lines.at(-1)!, /Δm [+-]\d+\.\d\d%/);
  });

  it('formats an aligned table with the baselines, each configuration, Δm and wall time', () => {
    const table = formatComparison(result);
    const rows = table.trimEnd().split('\n');
    assert.match(rows[0], /^configuration\s+left acc\s+right acc\s+Δm\s+epoch\s+time$/);
    assert.equal(rows.length, 2 + 1 + result.runs.length);
    assert.match(rows[2], /^single-task\s+\d+\.\d\d%\s+\d+\.\d\d%\s+—\s+[12],[12]\/2\s+\d+\.\d s$/);
    for (const [i, r] of result.runs.entries()) {
      assert.ok(rows[3 + i].startsWith(r.label));
      assert.ok(rows[3 + i].includes(`${r.deltaM >= 0 ? '+' : ''}${r.deltaM.toFixed(2)}%`));
      assert.ok(rows[3 + i].includes(`${(100 * r.metrics.left.accuracy).toFixed(2)}%`));
    }
    const width = rows[0].length;
    for (const row of rows.slice(2)) assert.equal(row.length, width, 'right-aligned columns end together');
  });

  it('reuses given baselines, reports the last epoch on request, and leaves auxiliary tasks out of Δm', async () => {
    // An auxiliary copy of the left task: trained with the rest, no baseline, not in Δm.
    const withAux = (ds: MultiTaskDataset): MultiTaskDataset =>
      new MultiTaskDataset({
        inputs: ds.inputs,
        inputShape: ds.inputShape,
        labels: { left: ds.labels('left'), right: ds.labels('right'), aux: ds.labels('left') },
      });
    const r = await compare(
      opts({
        train: withAux(train),
        validation: withAux(validation),
        model: model({ tasks: [...model().tasks, { name: 'aux', kind: 'classification', classes: 10, auxiliary: true }] }),
        configurations: [{ label: 'eq', weighting: 'equal' }],
        baselines: result.baselines,
        selection: 'last',
      }),
    );
    assert.deepEqual(r.baselineRuns, {});
    assert.deepEqual(r.baselines, result.baselines);
    assert.deepEqual(r.tasks, ['left', 'right']);
    const run = r.runs[0];
    assert.equal(run.epoch, 2, 'the last epoch');
    assert.ok('aux' in run.metrics, 'the auxiliary task is reported');
    close(run.deltaM, deltaM(result.baselines, { left: run.metrics.left, right: run.metrics.right }));
    assert.match(formatComparison(r), /single-task \(given\)/);
    assert.doesNotMatch(formatComparison(r), /aux/);
  });

  it('rejects bad configurations before anything trains', async () => {
    const bad = async (extra: Partial<CompareOptions>, pattern: RegExp): Promise<void> => {
      let logged = 0;
      await assert.rejects(compare(opts({ ...extra, log: () => logged++ })), (e: Error) => e instanceof ConfigError && pattern.test(e.message));
      assert.equal(logged, 0, 'nothing trained');
    };
    await bad({ configurations: [{ label: 'x', weighting: 'magic' }] }, /configuration "x": Unknown weighting "magic"/);
    await bad({ configurations: [{ label: 'x', weighting: 'equal' }, { label: 'x', weighting: 'uncertainty' }] }, /"x" appears twice/);
    await bad({ selection: 'worst' as 'best' }, /selection best or last/);
    await bad({ baselines: { left: { accuracy: 0.9 } } }, /baselines have no finite right\.accuracy/);
    await bad(
      { model: model({ tasks: [{ name: 'left', kind: 'classification', classes: 10, auxiliary: true }] }) },
      /at least one main/,
    );
  });
});
