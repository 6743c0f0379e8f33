/**
 * `hydranet train --config run.json` (issue 16): a run on a CSV with numeric, categorical and
 * missing values, a binary and a regression task, a seeded validation split, flags over the
 * file, the fitted schema in the run folder's checkpoints; run-file errors exit 2 naming the key
 * path and the file.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { bestRecord, checkDecimalCommas, dataWarnings, readRunConfig, splitTable } from '../../ts/cli-config.js';
import { tableFromRows } from '../../ts/data/csv.js';
import { applySchema, fitSchema } from '../../ts/data/schema.js';
import { DatasetError } from '../../ts/errors.js';
import { resolveTask } from '../../ts/mtl/task.js';
import type { EpochRecord } from '../../ts/train/trainer.js';
import { readCheckpointFile } from '../../ts/io/checkpoint.js';
import { backend, fixture, runCli, runConfig, tmpDir, trainRun, writeRunFile } from './fixtures/cli.js';

describe('hydranet train --config', function () {
  this.timeout(120_000);

  it(`trains 2 epochs (--epochs over the file) with a seeded validation split and stores the schema (${backend})`, () => {
    const dir = tmpDir();
    const r = trainRun(dir);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /customers\.csv \(training part\): 180 rows read, 180 kept, 0 dropped; missing inputs: .*age \d+/);
    assert.match(r.stdout, /customers\.csv \(validation split 0\.25, seed 3\): 60 rows read/);
    assert.match(r.stdout, /final validation:\n {2}churned: loss [\d.]+, accuracy [\d.]+, auc [\d.]+ \(\d+ labelled\)\n {2}spend: loss/);
    const metrics = JSON.parse(fs.readFileSync(path.join(r.out, 'metrics.json'), 'utf8')) as { lr: { first: number; last: number } }[];
    assert.equal(metrics.length, 2, 'the --epochs flag wins over the file');
    assert.ok(metrics[1].lr.last < metrics[0].lr.first, 'the cosine lrSchedule of the file is on');
    const ck = readCheckpointFile(path.join(r.out, 'checkpoint.safetensors'));
    const fitted = ck.preprocessing as { featureNames: string[]; tasks: { name: string; positive?: string; negative?: string; standardize?: unknown }[] };
    assert.deepEqual(fitted.tasks.map((t) => t.name), ['churned', 'spend']);
    assert.equal(fitted.tasks[0].positive, 'yes');
    assert.equal(fitted.tasks[0].negative, 'no', 'the one other training value, for predict to write');
    assert.equal(fitted.tasks[1].standardize, undefined, 'standardize is opt-in');
    assert.ok(fitted.featureNames.includes('city=<unseen>') && fitted.featureNames.includes('age:missing') && !fitted.featureNames.includes('id'));
    assert.equal(ck.model?.inputShape?.toString(), String(fitted.featureNames.length));
  });

  it('splits the same rows for the same seed, other rows for another, both parts in file order', () => {
    const table = { source: 't', columns: ['x'], values: [Array.from({ length: 20 }, (_, i) => i)], lines: Array.from({ length: 20 }, (_, i) => i + 2) };
    const a = splitTable(table, 0.25, 3);
    assert.equal(a.validation.lines.length, 5);
    assert.equal(a.train.lines.length, 15);
    assert.deepEqual(a.validation.values[0], a.validation.lines.map((l) => l - 2), 'cells travel with their lines');
    assert.deepEqual(splitTable(table, 0.25, 3).validation.lines, a.validation.lines);
    assert.notDeepEqual(splitTable(table, 0.25, 4).validation.lines, a.validation.lines);
    assert.deepEqual([...a.validation.lines].sort((x, y) => x - y), a.validation.lines);
    assert.deepEqual([...a.train.lines, ...a.validation.lines].sort((x, y) => x - y), table.lines);
  });

  it('rejects bad run files with exit status 2, naming the key path and the file', () => {
    const dir = tmpDir();
    const base = runConfig();
    const cases: [unknown, RegExp][] = [
      [{ ...base, training: { epoch: 2 } }, /Unknown key "epoch" in training of .*run\.json \(did you mean "epochs"\?\)/],
      [{ ...base, training: { lrSchedule: { kind: 'cosine', warmpu: 3 } } }, /run\.json, training: Unknown key "warmpu" in lrSchedule/],
      [{ ...base, model: { trunk: [{ type: 'dense', units: 0 }] } }, /run\.json, model: Expected positive integer for trunk\[0\] \(dense\)\.units but received 0/],
      [{ ...base, model: { inputShape: 3 } }, /model of .*run\.json: "inputShape" and "tasks" come from the data/],
      [{ ...base, tasks: [{ name: 'churned', kind: 'binary', colum: 'x' }] }, /Unknown key "colum" in tasks\[0\] of .*run\.json/],
      [{ ...base, tasks: [{ name: 'spend', kind: 'regression', outputs: 2 }] }, /tasks\[0\] of .*run\.json: "classes" and "outputs" come from the data/],
      [{ ...base, data: { train: 'x.csv', validationSplit: 1.5 } }, /Expected a number in \(0, 1\) for data\.validationSplit of .*run\.json but received 1\.5/],
      [{ ...base, data: { train: 'x.csv', validation: 'y.csv', validationSplit: 0.2 } }, /data\.validation and data\.validationSplit exclude each other/],
      [{ ...base, data: { tain: 'x.csv' } }, /Unknown key "tain" in data of .*run\.json \(did you mean "train"\?\)/],
      [{ ...base, optimiser: {} }, /Unknown key "optimiser" in the top level of .*run\.json/],
      [{ ...base, training: { earlyStopping: { patience: -1 } } }, /run\.json, training: .*earlyStopping\.patience/],
      ['{ "data": { "train": "x.csv" },\n  "tasks": [ }', /run\.json:2:14: not valid JSON: Unexpected token '\}'\n/],
      ['{ "data": { "train": "x.csv" }\n  "tasks": [] }', /run\.json:2:3: not valid JSON: Expected ',' or '\}' after property value\n/],
      ['{ "data": { "train": "x.csv" },\n\n  "tasks": [ { "name": "a", "kind": tru } ] }', /run\.json:3:40: not valid JSON: Unexpected token ' '\n/],
      [{ ...base, inputs: { images: [{ column: 'photo', size: [8, 8] }], numeric: ['age'] } }, /^hydranet: inputs of .*run\.json: "images" cannot be combined with "numeric" or "categorical": .*\[C, H, W\] for a convolutional trunk.*Supported: one image column as the only input/],
    ];
    for (const [config, pattern] of cases) {
      const r = runCli('train', '--config', writeRunFile(dir, config), '--out', path.join(dir, 'never'));
      assert.equal(r.status, 2, `${JSON.stringify(config)}: ${r.stderr}`);
      assert.match(r.stderr, pattern);
      assert.equal(r.stderr.trim().split('\n').length, 1, 'one line');
      assert.ok(!fs.existsSync(path.join(dir, 'never')), 'no run folder left behind');
    }
    const missing = runCli('train', '--config', path.join(dir, 'absent.json'));
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /Cannot read config file .*absent\.json: no such file/);
    const preset = runCli('train', '--config', writeRunFile(dir, base), '--hidden', '32');
    assert.equal(preset.status, 2);
    assert.match(preset.stderr, /--hidden applies to the MultiMNIST presets/);
  });

  it('names the file and the column of a run file pointing at data that is not there (exit 5)', () => {
    const dir = tmpDir();
    const r = runCli('train', '--config', writeRunFile(dir, { ...runConfig(), tasks: [{ name: 'churned', kind: 'binary', column: 'left' }] }), '--out', path.join(dir, 'run'));
    assert.equal(r.status, 5, r.stderr);
    assert.match(r.stderr, /customers\.csv: task "churned"'s label column "left" is not in the file/);
    const data = runCli('train', '--config', writeRunFile(dir, { ...runConfig(), data: { train: 'nothere.csv' } }), '--out', path.join(dir, 'run'));
    assert.equal(data.status, 5, data.stderr);
    assert.match(data.stderr, /nothere\.csv/);
  });
  // Real data a newcomer brings (scikit-learn's bundled files, a European spreadsheet's export).
  it('refuses numbers written with a decimal comma that the schema would take as categories, naming file, line and column', () => {
    const rows = [['1,5', 'a', '0'], ['2,25', 'b', '1'], ['3', 'a', '1'], ['1.234,5', 'c', '0']].map(([x, c, y]) => ({ x, c, y }));
    const table = { ...tableFromRows(rows, 'euro.csv'), lines: [2, 3, 4, 5] };
    const config = { data: { train: 'euro.csv' }, tasks: [{ name: 'y', kind: 'binary' as const }] };
    const fitted = fitSchema(table, { tasks: config.tasks });
    assert.deepEqual(fitted.inputs.map((i) => [i.column, i.kind]), [['x', 'categorical'], ['c', 'categorical']], 'what the schema alone does with them');
    assert.throws(() => checkDecimalCommas(config, table, fitted), (e: Error) => e instanceof DatasetError && /^euro\.csv:2: column "x": "1,5" looks like a number with a decimal comma, as are all 4 values of the column; .*decimal point.*inputs\.categorical/.test(e.message));
    // Named as categorical by the user: their choice, not an accident.
    checkDecimalCommas({ ...config, inputs: { categorical: ['x'] } }, table, fitSchema(table, { inputs: { categorical: ['x', 'c'] }, tasks: config.tasks }));
    checkDecimalCommas({ ...config, inputs: { encoding: { x: 'onehot' } } }, table, fitted);
    // Codes like "A,1" or mixed texts are not numbers.
    const codes = tableFromRows([{ x: '1,5', y: '0' }, { x: 'x,2', y: '1' }]);
    checkDecimalCommas(config, codes, fitSchema(codes, { tasks: config.tasks }));
  });

  it('warns about a header of numbers, an input with no value, a binary label of one value; not about a plain table', () => {
    const warn = (rows: Record<string, string>[], tasks: { name: string; kind: 'binary' | 'classification' }[]): string[] => {
      const table = tableFromRows(rows, 'data.csv');
      const fitted = fitSchema(table, { tasks });
      const { dataset, report } = applySchema(fitted, table);
      return dataWarnings(table, fitted, report, dataset);
    };
    // scikit-learn's iris.csv: its first line is "150,4,setosa,versicolor,virginica".
    const iris = warn([{ 150: '5.1', 4: '3.5', setosa: '1.4', versicolor: '0.2', virginica: '0' }, { 150: '7.0', 4: '3.2', setosa: '4.7', versicolor: '1.4', virginica: '1' }], [{ name: 'virginica', kind: 'classification' }]);
    assert.equal(iris.length, 1);
    assert.match(iris[0], /^warning: data\.csv: the header \(its first line\) has column names that are numbers \(4, 150\); is that line data\?/);
    // pandas' unnamed columns 0, 1, 2, ... are names.
    assert.deepEqual(warn([{ 0: '1', 1: '2', 2: '0' }, { 0: '3', 1: '1', 2: '1' }], [{ name: '2', kind: 'binary' }]), []);
    assert.deepEqual(warn([{ 0: '1', 1: '2', y: '0' }, { 0: '3', 1: '1', y: '1' }], [{ name: 'y', kind: 'binary' }]), [], 'and a named label column beside them');
    const empty = warn([{ a: '1', e: '', y: '0' }, { a: '2', e: 'NA', y: '1' }], [{ name: 'y', kind: 'binary' }]);
    assert.deepEqual(empty, ['warning: data.csv: input column "e" has no value in any of the 2 training rows; it carries nothing (leave it out with inputs.exclude)']);
    const one = warn([{ a: '1', y: '1' }, { a: '2', y: '1' }, { a: '3', y: '' }], [{ name: 'y', kind: 'binary' }]);
    assert.deepEqual(one, ['warning: data.csv: every training label of the binary task "y" is 1; it has nothing to learn and its AUC is undefined']);
    assert.deepEqual(warn([{ a: '1', e: '', y: '0' }, { a: '2', e: '5', y: '1' }], [{ name: 'y', kind: 'binary' }]), []);
  });

  it('prints the warnings with the rows read, and refuses a European CSV with exit status 5', () => {
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, 'raw.csv'), '150,4,virginica\n5.1,3.5,0\n7.0,3.2,1\n6.3,3.3,2\n5.0,3.6,0\n');
    const raw = runCli('train', '--config', writeRunFile(dir, { data: { train: 'raw.csv' }, tasks: [{ name: 'virginica', kind: 'classification' }], training: { epochs: 1 } }), '--out', path.join(dir, 'run'), '--backend', backend, '--no-progress');
    assert.equal(raw.status, 0, raw.stderr);
    assert.match(raw.stdout, /raw\.csv: 4 rows read, 4 kept, 0 dropped\nwarning: .*raw\.csv: the header \(its first line\) has column names that are numbers \(150, 4\)/);
    fs.writeFileSync(path.join(dir, 'euro.csv'), 'x;y\n1,5;0\n2,5;1\n0,5;1\n');
    const euro = runCli('train', '--config', writeRunFile(dir, { data: { train: 'euro.csv', delimiter: ';' }, tasks: [{ name: 'y', kind: 'binary' }] }), '--out', path.join(dir, 'never'));
    assert.equal(euro.status, 5, euro.stderr);
    assert.match(euro.stderr, /euro\.csv:2: column "x": "1,5" looks like a number with a decimal comma/);
    assert.ok(!fs.existsSync(path.join(dir, 'never')));
  });
  it('finds the epoch best.safetensors holds: the first best score of the main tasks, NaN never best', () => {
    const tasks = [resolveTask({ name: 'b', kind: 'binary', metrics: ['auc'] }, 0), resolveTask({ name: 'r', kind: 'regression', metrics: ['mae'] }, 1), resolveTask({ name: 'x', kind: 'binary', auxiliary: true }, 2)];
    const record = (epoch: number, auc: number, mae: number, x: number): EpochRecord => ({
      epoch, step: epoch, seconds: 0, stepsPerSecond: 0, train: { b: 0, r: 0, x: 0 },
      validation: { b: { auc, count: 5 }, r: { mae, count: 5 }, x: { accuracy: x, count: 5 } },
    } as unknown as EpochRecord);
    // Scores (auc − mae) / 2, exact in binary: 0.125, 0.25, NaN, 0.25 (a tie: the first wins), 0; the auxiliary task's metric does not count.
    const history = [record(1, 0.5, 0.25, 0), record(2, 0.75, 0.25, 1), record(3, NaN, 0.125, 1), record(4, 0.625, 0.125, 0), record(5, 0.5, 0.5, 1)];
    assert.equal(bestRecord(history, tasks)?.epoch, 2);
    assert.equal(bestRecord([], tasks), undefined);
    assert.equal(bestRecord([record(1, NaN, 0, 0), record(2, NaN, 0.5, 1)], tasks), undefined, 'NaN scores only: no epoch is best');
  });

  it('prints the best epoch\'s validation, the one predict and evaluate use, when it is not the last', () => {
    const dir = tmpDir();
    const config = runConfig();
    config.training = { epochs: 12, batchSize: 16, optimizer: { kind: 'adamw', lr: 0.05 } };
    const r = runCli('train', '--config', writeRunFile(dir, config), '--backend', backend, '--out', path.join(dir, 'run'), '--no-progress');
    assert.equal(r.status, 0, r.stderr);
    const history = JSON.parse(fs.readFileSync(path.join(dir, 'run', 'metrics.json'), 'utf8')) as { epoch: number; validation: Record<string, Record<string, number>> }[];
    // The first metric of each main task scores: churned accuracy (higher), spend mse (lower).
    const scores = history.map((h) => (h.validation.churned.accuracy - h.validation.spend.mse) / 2);
    const best = scores.indexOf(Math.max(...scores)) + 1;
    assert.notEqual(best, 12, 'this run overfits: its best epoch is not its last');
    const m = /best validation, epoch (\d+) of 12 \(best\.safetensors: what predict and evaluate use by default\):\n {2}churned: loss [\d.]+, accuracy ([\d.]+)/.exec(r.stdout);
    assert.ok(m, r.stdout);
    assert.equal(Number(m[1]), best);
    assert.equal(Number(m[2]), Number(history[best - 1].validation.churned.accuracy.toFixed(4)));
    assert.match(r.stdout, /final validation:\n {2}churned: /);
  });

  it('examples/sklearn-data: every run file is one hydranet train --config accepts', () => {
    const root = fixture('../../../examples/sklearn-data');
    const runs = fs.readdirSync(root).filter((d) => fs.existsSync(path.join(root, d, 'run.json')));
    assert.deepEqual(runs.sort(), ['breast_cancer', 'diabetes', 'digits', 'iris', 'linnerud', 'wine']);
    for (const d of runs) {
      const config = readRunConfig(path.join(root, d, 'run.json'));
      assert.equal(config.data.train, 'train.csv', d);
      assert.ok(config.tasks.length >= 2, `${d}: a multi-task problem`);
    }
  });
});
