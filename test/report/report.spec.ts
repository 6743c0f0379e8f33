/**
 * The report without a browser: each chart drawn only when the run has its data (never an
 * empty one), the page self-contained, the run folder reader's errors, the throttled refresh
 * callback, the TCDCN curve against the Trainer's own stopper, confusion matrices, and
 * `hydranet report`.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ReferenceBackend } from '../../ts/backends/reference.js';
import { MultiTaskDataset } from '../../ts/data/dataset.js';
import { ConfigError, DatasetError } from '../../ts/errors.js';
import { MultiTaskModel } from '../../ts/mtl/model.js';
import { bestEpoch, reportCharts } from '../../ts/report/charts.js';
import { confusionMatrices } from '../../ts/report/confusion.js';
import { escapeHtml, renderReport } from '../../ts/report/html.js';
import { type ReportRun, readRun } from '../../ts/report/run-folder.js';
import { finishReport, reportCallbacks, reportsEnabled, writeReport } from '../../ts/report/write.js';
import { RunControl } from '../../ts/train/callbacks.js';
import { AuxiliaryTaskStopper } from '../../ts/train/task-stopping.js';
import type { EpochRecord } from '../../ts/train/trainer.js';
import { runCli } from '../cli/fixtures/cli.js';

/** An epoch record of tasks a and b with fixed weights, a constant lr and nothing else. */
function record(epoch: number, extra: Partial<EpochRecord> = {}): EpochRecord {
  return {
    epoch, step: 10 * epoch, seconds: 1, stepsPerSecond: 10,
    train: { a: 1 / epoch, b: 2 / epoch },
    weights: { a: 1, b: 0.5 },
    weighting: { name: 'fixed', current: [1, 0.5] },
    lr: { first: 0.1, last: 0.1 },
    ...extra,
  };
}

const TASKS = [{ name: 'a', kind: 'classification' as const, classes: 3 }, { name: 'b', kind: 'regression' as const }];

/** A run of 3 plain epochs; `each` adds to every record. */
function plainRun(each: (epoch: number) => Partial<EpochRecord> = () => ({})): ReportRun {
  return { source: '/runs/x', title: 'x', config: { model: { tasks: TASKS }, trainer: { epochs: 3 } }, history: [1, 2, 3].map((e) => record(e, each(e))) };
}

const ids = (run: ReportRun): string[] => reportCharts(run).map((c) => c.id);

function tmp(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'hydranet-report-spec-'));
}

describe('report charts: each only when the run has its data', () => {
  it('a plain run (fixed weights, constant lr, no validation) has only the loss chart', () => {
    assert.deepEqual(ids(plainRun()), ['loss']);
  });

  it('a chart appears with its data and only then', () => {
    const validation = (e: number) => ({ validation: { a: { accuracy: 0.5 + e / 10, loss: 1, count: 10 }, b: { mse: 1 / e, loss: 1 / e, count: 10 } } });
    assert.deepEqual(ids(plainRun(validation)), ['loss', 'validation']);
    assert.deepEqual(ids(plainRun((e) => ({ penalty: 1 / e }))), ['loss', 'penalty']);
    assert.deepEqual(ids(plainRun((e) => ({ ewcPenalty: e }))), ['loss', 'ewc-penalty']);
    assert.deepEqual(ids(plainRun((e) => ({ gradNorm: e }))), ['loss', 'grad-norm']);
    assert.deepEqual(ids(plainRun((e) => ({ lr: { first: 0.1 / e, last: 0.05 / e } }))), ['loss', 'lr']);
    assert.deepEqual(ids(plainRun((e) => ({ weights: { a: e, b: 1 }, weighting: { name: 'dwa' } }))), ['loss', 'weights']);
    assert.deepEqual(ids(plainRun((e) => ({ weights: { a: e, b: 1 }, weighting: { name: 'uncertainty', logVariance: [e, -e] } }))), ['loss', 'weights', 'weighting-state']);
    assert.deepEqual(ids(plainRun((e) => ({ weighting: { name: 'famo', logits: [e, 0] } }))), ['loss', 'weighting-state']);
    assert.deepEqual(ids(plainRun((e) => ({ weighting: { name: 'gradnorm', weights: [e, 2 - e] } }))), ['loss', 'weighting-state']);
  });

  it("marks the epoch model selection chose, scored as the Trainer scores it", () => {
    const accuracy = [0.5, 0.8, 0.7];
    const run = plainRun((e) => ({ validation: { a: { accuracy: accuracy[e - 1], loss: 1, count: 5 }, b: { mse: 0.1, loss: 0.1, count: 5 } } }));
    // a's accuracy counts up, b's mse down: the mean of +accuracy and −mse peaks at epoch 2.
    assert.equal(bestEpoch(run), 2);
    const loss = reportCharts(run)[0];
    assert.match(loss.caption, /epoch 2, the best by validation/);
    assert.equal(((loss.spec.spec as { layer: unknown[] }).layer).length, 2, 'the line and the rule');
    assert.equal(bestEpoch(plainRun()), 3, 'without validation: the lowest mean training loss of the main tasks');
    assert.equal(((reportCharts(plainRun())[0].spec.spec as { layer: unknown[] }).layer).length, 1, 'no validation: no marker');
  });

  it('leaves out a series that is all NaN or missing instead of drawing it empty', () => {
    assert.deepEqual(ids(plainRun(() => ({ penalty: NaN }))), ['loss']);
    assert.deepEqual(ids(plainRun(() => ({ weighting: { name: 'uncertainty', logVariance: [NaN, NaN] } }))), ['loss']);
    assert.deepEqual(ids(plainRun(() => ({ validation: { a: { loss: 1, count: 0, accuracy: NaN } } }))), ['loss'], 'validation losses go into the loss chart; no metric, no metric chart');
    assert.deepEqual(ids({ source: '/x', title: 'x' }), [], 'nothing read, nothing drawn');
  });

  it('draws affinity, compare, continual and confusion charts from their files alone', () => {
    const affinity = { tasks: ['a', 'b', 'c'], method: 'lookahead' as const, every: 1, perLr: false, epochs: [], mean: { probes: 4, lookahead: [[0, 0.1, -0.2], [0.3, 0, 0.05], [0, 0.2, 0]] } };
    const groups: NonNullable<ReportRun['groups']> = { tasks: ['a', 'b', 'c'], groups: [{ tasks: ['a', 'b'], scores: { a: 0.3, b: 0.1 } }, { tasks: ['c'], scores: { c: 0 } }], assignment: {}, total: 0.13, method: 'exact', overlap: false };
    const charts = reportCharts({ source: '/x', title: 'x', affinity, groups });
    assert.deepEqual(charts.map((c) => c.id), ['affinity-lookahead']);
    const cells = ((charts[0].spec.data as { values: { x: string; y: string; grouped: boolean }[] }).values);
    assert.equal(cells.length, 6, 'the off-diagonal cells');
    assert.deepEqual(cells.filter((c) => c.grouped).map((c) => `${c.y}→${c.x}`).sort(), ['a→b', 'b→a'], 'the pairs inside a chosen group are outlined');
    const comparison = { tasks: ['a'], metrics: { a: ['accuracy'] }, selection: 'best' as const, baselines: { a: { accuracy: 0.9 } }, baselineRuns: {}, runs: [{ label: 'equal', weighting: 'equal', metrics: { a: { accuracy: 0.92 } }, seconds: 1, epochs: 1, epoch: 1, history: [], deltaM: 2.2 }] };
    assert.deepEqual(ids({ source: '/x', title: 'x', comparison }), ['compare-delta']);
    assert.deepEqual(ids({ source: '/x', title: 'x', comparison: { ...comparison, runs: [] } }), [], 'no run, no bar chart');
    const withHistory = { ...comparison, runs: [{ ...comparison.runs[0], history: [record(1, { validation: { a: { accuracy: 0.9, count: 3 } } })] }] };
    assert.deepEqual(ids({ source: '/x', title: 'x', comparison: withHistory }), ['compare-delta', 'compare-curves'], 'with histories: the curves too');
    const bars = (c: ReportRun['comparison']): unknown[] => reportCharts({ source: '/x', title: 'x', comparison: c })[0].spec.layer as unknown[];
    assert.equal(bars(comparison).length, 1, 'one seed: bars only');
    const tuning = { seeds: [1, 2, 3], runs: [{ label: 'equal', deltaM: { mean: 2.2, sd: 0.7 } }] };
    assert.equal(bars({ ...comparison, tuning } as never).length, 2, 'several seeds: ± 1 sd whiskers');
    const continual = { newTasks: ['b'], continual: { tasks: ['a', 'b'], introduced: [0, 1], accuracy: [[0.9, null], [0.8, 0.7]], metrics: { averageAccuracy: 0.75 } } };
    assert.deepEqual(ids({ source: '/x', title: 'x', continual }), ['continual']);
    assert.deepEqual(ids({ source: '/x', title: 'x', continual: { newTasks: ['b'], continual: null } }), [], 'LwF-less extend without a matrix: no chart');
    const confusion = { epoch: 2, checkpoint: 'best.safetensors', samples: 4, tasks: { a: { labels: ['0', '1'], counts: [[1, 1], [0, 2]] }, z: { labels: ['0', '1'], counts: [[0, 0], [0, 0]] } } };
    assert.deepEqual(ids({ source: '/x', title: 'x', confusion }), ['confusion-a'], 'a task with no counted sample is left out');
  });

  it("the stopping curve is the Trainer's own criterion: it crosses the threshold where AuxiliaryTaskStopper stopped the task", () => {
    const stopper = new AuxiliaryTaskStopper({ k: 2, threshold: 2 }, ['aux']);
    const train = [1, 0.6, 0.5, 0.45, 0.43, 0.425, 0.424];
    const val = [1.1, 0.8, 0.7, 0.72, 0.8, 0.9, 1.0];
    const history: EpochRecord[] = [];
    let stoppedAt = 0;
    for (let e = 1; e <= train.length && !stoppedAt; e++) {
      const r = record(e, { train: { a: 1, aux: train[e - 1] }, validation: { a: { loss: 1, count: 1 }, aux: { loss: val[e - 1], count: 1 } } });
      const v = stopper.update('aux', e, train[e - 1], val[e - 1], 1);
      if (v !== null) {
        r.stopped = { aux: v };
        stoppedAt = e;
      }
      history.push(r);
    }
    assert.equal(stoppedAt, 6, 'the task stopped after epoch 6');
    const run: ReportRun = { source: '/x', title: 'x', config: { model: { tasks: [{ name: 'a', kind: 'regression' }, { name: 'aux', kind: 'regression', auxiliary: true }] }, trainer: { auxiliaryStopping: { k: 2, threshold: 2 } } }, history };
    const chart = reportCharts(run).find((c) => c.id === 'stopping');
    assert.ok(chart, 'a stopping chart');
    const layers = chart.spec.layer as { data: { values: { epoch: number; value: number }[] } }[];
    const curve = layers[0].data.values;
    assert.deepEqual(curve.map((p) => p.epoch), [3, 4, 5, 6], 'from epoch k + 1 to the stop');
    assert.ok(curve.slice(0, -1).every((p) => p.value <= 2), 'below the threshold before the stop');
    assert.equal(curve.at(-1)!.value, history.at(-1)!.stopped!.aux, 'the stop value, recomputed');
    assert.deepEqual(layers[2].data.values.map((p) => p.epoch), [stoppedAt], 'the stop marked');
    assert.equal(reportCharts({ ...run, config: { ...run.config, trainer: {} } }).some((c) => c.id === 'stopping'), false, 'no auxiliaryStopping, no chart');
  });
});

describe('renderReport', () => {
  it('is one self-contained page: inline SVG charts with marks, no script, nothing fetched', async function () {
    this.timeout(30_000);
    const run = plainRun((e) => ({ validation: { a: { accuracy: e / 4, loss: 1 / e, count: 5 }, b: { mse: 1 / e, loss: 1 / e, count: 5 } } }));
    const html = await renderReport(run);
    const figures = [...html.matchAll(/<figure class="chart" data-chart="([^"]+)">([\s\S]*?)<\/figure>/g)];
    assert.deepEqual(figures.map((f) => f[1]), ['loss', 'validation']);
    for (const [, id, body] of figures) {
      assert.match(body, /^<h3>[^<]+<\/h3>\n<svg /, `${id}: an inline SVG`);
      assert.match(body, /class="mark-line role-mark[^"]*"[^>]*><path [^>]*d="M[^"]+"/, `${id}: a drawn line`);
      assert.match(body, /role-axis-title[\s\S]*?<text[^>]*>epoch<\/text>/, `${id}: the epoch axis title`);
    }
    assert.doesNotMatch(html, /<script|<link|<img|<iframe|@import|url\(/i, 'no script, stylesheet, image or import');
    assert.doesNotMatch(html, /\s(src|href)="(?!#)/, 'every href an in-page anchor, no src');
    assert.match(html, /<meta http-equiv="Content-Security-Policy" content="default-src 'none';/);
    assert.match(html, /<td>training time<\/td><td>3\.0 s/, 'the time, from the epochs');
    assert.doesNotMatch(html, /data-chart="(penalty|lr|weights)"/);
  });

  it('escapes the names it shows', async function () {
    this.timeout(30_000);
    assert.equal(escapeHtml(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
    const html = await renderReport({ source: '/runs/<b>', title: '<script>alert(1)</script>' });
    assert.doesNotMatch(html, /<script>alert/);
    assert.match(html, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
  });
});

describe('readRun', () => {
  it('reads the files a run folder has and says what is wrong with one that is not a run', () => {
    const dir = tmp();
    try {
      assert.throws(() => readRun(path.join(dir, 'missing')), (e: Error) => e instanceof ConfigError && /does not exist/.test(e.message));
      assert.throws(() => readRun(dir), (e: Error) => e instanceof DatasetError && /holds none of the files of a run/.test(e.message));
      fs.writeFileSync(path.join(dir, 'metrics.json'), '[{"epoch": 1, "train"');
      assert.throws(() => readRun(dir), (e: Error) => e instanceof DatasetError && e.message.includes('metrics.json is not JSON'));
      fs.writeFileSync(path.join(dir, 'metrics.json'), '{"runs": 1}');
      assert.throws(() => readRun(dir), (e: Error) => e instanceof DatasetError && /metrics\.json is not the metrics\.json hydranet writes/.test(e.message));
      fs.writeFileSync(path.join(dir, 'metrics.json'), JSON.stringify([record(1)]));
      const run = readRun(dir);
      assert.equal(run.history?.length, 1);
      assert.equal(run.config, undefined);
      const continual = { tasks: ['a', 'b'], introduced: [0, 1], accuracy: [[0.9, null], [0.8, 0.7]], metrics: {} };
      fs.writeFileSync(path.join(dir, 'metrics.json'), JSON.stringify([record(1), { ...record(2), continual }]));
      assert.deepEqual(readRun(dir).continual, { continual }, "extend's matrix on metrics.json's last record");
      const other = path.join(dir, 'other.json');
      fs.writeFileSync(other, '{"hello": 1}');
      assert.throws(() => readRun(other), (e: Error) => e instanceof ConfigError && /none of the files hydranet writes/.test(e.message));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads an affinity file with the groups.json beside it', () => {
    const dir = tmp();
    try {
      const file = path.join(dir, 'affinity.json');
      fs.writeFileSync(file, JSON.stringify({ tasks: ['a', 'b'], method: 'cosine', every: 1, perLr: false, epochs: [], mean: { probes: 1, cosine: [[1, 0.5], [0.5, 1]] } }));
      assert.equal(readRun(file).groups, undefined);
      fs.writeFileSync(path.join(dir, 'groups.json'), JSON.stringify({ tasks: ['a', 'b'], groups: [{ tasks: ['a', 'b'], scores: { a: 0.5, b: 0.5 } }], assignment: {}, total: 0.5, method: 'exact', overlap: false }));
      const run = readRun(file);
      assert.equal(run.title, 'affinity');
      assert.deepEqual(run.groups?.groups[0].tasks, ['a', 'b']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('reportCallbacks', () => {
  it('refreshes report.html after an epoch, and skips refreshes that would cost more than 2 % of the training time since the last', async function () {
    this.timeout(30_000);
    const dir = tmp();
    try {
      const history = [record(1)];
      fs.writeFileSync(path.join(dir, 'metrics.json'), JSON.stringify(history));
      const callbacks = reportCallbacks(dir, { warn: (line) => assert.fail(line) });
      const file = path.join(dir, 'report.html');
      const control = new RunControl();
      await callbacks.onEpochEnd!({ ...record(1), seconds: 1e6 }, control);
      assert.match(fs.readFileSync(file, 'utf8'), /3 of|1 \(10 steps\)/, 'written after the first epoch');
      history.push(record(2));
      fs.writeFileSync(path.join(dir, 'metrics.json'), JSON.stringify(history));
      await callbacks.onEpochEnd!({ ...record(2), seconds: 1e-9 }, control);
      assert.match(fs.readFileSync(file, 'utf8'), /<td>epochs<\/td><td>1 \(10 steps\)/, 'a nanosecond epoch: the refresh waits');
      await callbacks.onEpochEnd!({ ...record(2), seconds: 1e6 }, control);
      assert.match(fs.readFileSync(file, 'utf8'), /<td>epochs<\/td><td>2 \(20 steps\)/, 'enough training since: refreshed');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('HYDRANET_REPORT=0 turns the reports of the commands off, not writeReport', async function () {
    this.timeout(30_000);
    assert.deepEqual([{}, { HYDRANET_REPORT: '1' }, { HYDRANET_REPORT: '0' }, { HYDRANET_REPORT: ' Off ' }].map((env) => reportsEnabled(env)), [true, true, false, false]);
    const dir = tmp();
    const saved = process.env.HYDRANET_REPORT;
    try {
      fs.writeFileSync(path.join(dir, 'metrics.json'), JSON.stringify([record(1)]));
      process.env.HYDRANET_REPORT = '0';
      assert.equal(await finishReport(dir, { warn: (line) => assert.fail(line) }), null);
      await reportCallbacks(dir).onEpochEnd!({ ...record(1), seconds: 1e6 }, new RunControl());
      assert.equal(fs.existsSync(path.join(dir, 'report.html')), false);
      assert.ok((await writeReport(dir)).charts.includes('loss'), 'asked for by name: written');
    } finally {
      if (saved === undefined) delete process.env.HYDRANET_REPORT;
      else process.env.HYDRANET_REPORT = saved;
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('says once that a refresh failed and lets training go on', async function () {
    this.timeout(30_000);
    const dir = tmp();
    try {
      const said: string[] = [];
      const callbacks = reportCallbacks(dir, { warn: (line) => said.push(line) });
      await callbacks.onEpochEnd!(record(1), new RunControl());
      await callbacks.onEpochEnd!({ ...record(2), seconds: 1e6 }, new RunControl());
      assert.equal(said.length, 1);
      assert.match(said[0], /was not refreshed: .*holds none of the files of a run/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('confusionMatrices', () => {
  it("counts each labelled sample once, in its true class's row and its predicted class's column", async () => {
    const backend = new ReferenceBackend();
    try {
      const model = new MultiTaskModel(backend, {
        inputShape: [4],
        trunk: [{ type: 'dense', units: 5, activation: 'relu' }],
        tasks: [{ name: 'c', kind: 'classification', classes: 3 }, { name: 'y', kind: 'binary' }, { name: 'r', kind: 'regression' }],
        maxBatch: 8,
        seed: 3,
      });
      const n = 11;
      const inputs = Float32Array.from({ length: 4 * n }, (_, i) => Math.sin(i * 1.7));
      const c = Float32Array.from({ length: n }, (_, i) => i % 3);
      const y = Float32Array.from({ length: n }, (_, i) => (i * 7) % 2);
      const mask = Uint8Array.from({ length: n }, (_, i) => (i === 4 ? 0 : 1));
      const ds = new MultiTaskDataset({ inputs, inputShape: [4], labels: { c, y, r: new Float32Array(n) }, masks: { c: mask } });
      const got = await confusionMatrices(model, ds);
      assert.deepEqual(Object.keys(got), ['c', 'y'], 'classification and binary tasks only');
      const p = await model.predict(ds);
      const want = [[0, 0, 0], [0, 0, 0], [0, 0, 0]];
      for (let i = 0; i < n; i++) {
        if (i === 4) continue;
        const row = Array.from(p.c.subarray(3 * i, 3 * i + 3));
        want[c[i]][row.indexOf(Math.max(...row))]++;
      }
      assert.deepEqual(got.c.counts, want);
      assert.equal(got.c.counts.flat().reduce((s, v) => s + v, 0), n - 1, 'the masked sample left out');
      assert.deepEqual(got.y.labels, ['0', '1']);
      assert.deepEqual(got.y.counts.map((r) => r[0] + r[1]), [y.filter((v) => v === 0).length, y.filter((v) => v === 1).length]);
      // A run file's class values name the classes (the fitted preprocessing the model carries).
      model.preprocessing = { tasks: [{ name: 'c', vocabulary: ['x', 'y', 'z'] }, { name: 'y', positive: 'yes', negative: 'no' }] };
      const named = await confusionMatrices(model, ds);
      assert.deepEqual([named.c.labels, named.y.labels], [['x', 'y', 'z'], ['no', 'yes']]);
      assert.deepEqual(named.c.counts, want);
    } finally {
      backend.dispose();
    }
  });
});

describe('hydranet report', () => {
  it('writes the report of a run folder, and fails with status 2 without one', async function () {
    this.timeout(60_000);
    const dir = tmp();
    try {
      fs.writeFileSync(path.join(dir, 'metrics.json'), JSON.stringify([record(1), record(2)]));
      const out = path.join(dir, 'elsewhere', 'r.html');
      const r = runCli('report', dir, '--out', out);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /^report: .*r\.html \(1 charts: loss; /);
      assert.match(fs.readFileSync(out, 'utf8'), /data-chart="loss"/);
      assert.equal((await writeReport(dir)).file, path.join(dir, 'report.html'), 'the default place');
      assert.equal(runCli('report').status, 2);
      const missing = runCli('report', path.join(dir, 'nope'));
      assert.equal(missing.status, 2);
      assert.match(missing.stderr, /^hydranet: .*nope does not exist/);
      assert.equal(runCli('report', dir, '--colour').status, 2, 'an unknown flag');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
