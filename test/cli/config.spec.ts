/**
 * `hydranet train --config run.json` (issue 16): a run on a CSV with numeric, categorical and
 * missing values, a binary and a regression task, a seeded validation split, flags over the
 * file, the fitted schema in the run folder's checkpoints; run-file errors exit 2 naming the key
 * path and the file.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { splitTable } from '../../ts/cli-config.js';
import { readCheckpointFile } from '../../ts/io/checkpoint.js';
import { backend, runCli, runConfig, tmpDir, trainRun, writeRunFile } from './fixtures/cli.js';

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
});
