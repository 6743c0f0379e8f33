/**
 * `hydranet predict` and `hydranet evaluate` (issue 16) on a run trained with --config: raw rows
 * in (no label columns, an unseen category, missing values), one CSV column per task output,
 * probabilities in [0, 1]; metrics printed and written as JSON; typed failures with their exit
 * statuses.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { predictionsCsv } from '../../ts/cli-predict.js';
import type { FittedTask } from '../../ts/data/schema.js';
import { readCheckpointFile } from '../../ts/io/checkpoint.js';
import { backend, fixture, runCli, runConfig, tmpDir, trainRun, writeRunFile } from './fixtures/cli.js';

describe('hydranet predict and evaluate', function () {
  this.timeout(120_000);
  let dir = '';
  let run = '';

  before(() => {
    dir = tmpDir();
    const r = trainRun(dir);
    assert.equal(r.status, 0, r.stderr);
    run = r.out;
  });

  it(`predicts raw rows into a CSV: the binary task's probability and label, the regression value (${backend})`, () => {
    const out = path.join(dir, 'preds.csv');
    const r = runCli('predict', '--model', run, '--data', fixture('customers-new.csv'), '--out', out, '--backend', backend);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /customers-new\.csv: 30 rows read, 30 kept, 0 dropped; missing inputs: .*; unseen categories: city 4; 30 predictions written to /);
    const lines = fs.readFileSync(out, 'utf8').trimEnd().split('\n');
    assert.equal(lines[0], 'churned,churned:label,spend');
    assert.equal(lines.length, 31);
    for (const line of lines.slice(1)) {
      const [p, label, spend] = line.split(',');
      assert.ok(Number(p) >= 0 && Number(p) <= 1, line);
      assert.equal(label, Number(p) >= 0.5 ? 'yes' : 'no', `the training's own labels (positive "yes", the other "no"): ${line}`);
      assert.ok(Number.isFinite(Number(spend)), line);
    }
  });

  it('a regression label trained standardised is predicted and scored in its own units', () => {
    const config = runConfig();
    config.tasks = [{ name: 'spend', kind: 'regression', standardize: true }];
    const sub = path.join(dir, 'standardized');
    fs.mkdirSync(sub);
    const r = runCli('train', '--config', writeRunFile(sub, config), '--epochs', '3', '--backend', backend, '--out', path.join(sub, 'run'), '--no-progress');
    assert.equal(r.status, 0, r.stderr);
    const ck = readCheckpointFile(path.join(sub, 'run', 'checkpoint.safetensors'));
    const { mean, std } = (ck.preprocessing as { tasks: { standardize: { mean: number; std: number } }[] }).tasks[0].standardize;
    // The labelled rows of the fixture, and the model's predictions on them.
    const rows = fs.readFileSync(fixture('customers.csv'), 'utf8').trimEnd().split('\n').slice(1).map((l) => l.split(','));
    const labelled = rows.map((c) => c[6]).map((s, i) => [i, Number(s)] as const).filter(([, y], i) => rows[i][6] !== '' && rows[i][6] !== '?' && rows[i][6] !== 'NA' && Number.isFinite(y));
    assert.ok(mean > 20 && std > 1, `fitted ${mean}, ${std}`);
    const out = path.join(sub, 'preds.csv');
    assert.equal(runCli('predict', '--model', path.join(sub, 'run'), '--data', fixture('customers.csv'), '--out', out, '--backend', backend).status, 0);
    const spend = fs.readFileSync(out, 'utf8').trimEnd().split('\n').slice(1).map(Number);
    const average = spend.reduce((a, b) => a + b, 0) / spend.length;
    assert.ok(Math.abs(average - mean) < std, `predictions average ${average}, in the label's units (mean ${mean}, std ${std})`);
    const mse = labelled.reduce((a, [i, y]) => a + (spend[i] - y) ** 2, 0) / labelled.length;
    const json = path.join(sub, 'metrics.json');
    const e = runCli('evaluate', '--model', path.join(sub, 'run'), '--data', fixture('customers.csv'), '--json', json, '--backend', backend);
    assert.equal(e.status, 0, e.stderr);
    const metrics = JSON.parse(fs.readFileSync(json, 'utf8')) as Record<string, Record<string, number>>;
    assert.equal(metrics.spend.count, labelled.length);
    assert.ok(Math.abs(metrics.spend.mse - mse) < 1e-4 * mse, `evaluate's mse ${metrics.spend.mse} vs ${mse} from the predictions`);
  });

  it('reads a semicolon-delimited file, or one whose extension does not say its format, with --delimiter and --format', () => {
    const out = path.join(dir, 'preds-comma.csv');
    assert.equal(runCli('predict', '--model', run, '--data', fixture('customers-new.csv'), '--out', out, '--backend', backend).status, 0);
    const semicolons = path.join(dir, 'customers-new-semicolons.csv');
    fs.writeFileSync(semicolons, fs.readFileSync(fixture('customers-new.csv'), 'utf8').replace(/,/g, ';'));
    const outSemi = path.join(dir, 'preds-semi.csv');
    const r = runCli('predict', '--model', run, '--data', semicolons, '--delimiter', ';', '--out', outSemi, '--backend', backend);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(fs.readFileSync(outSemi, 'utf8'), fs.readFileSync(out, 'utf8'), 'the same rows, the same predictions');
    const noExtension = path.join(dir, 'customers.txt');
    fs.copyFileSync(fixture('customers.csv'), noExtension);
    const e = runCli('evaluate', '--model', run, '--data', noExtension, '--format', 'csv', '--backend', backend);
    assert.equal(e.status, 0, e.stderr);
    assert.match(e.stdout, /customers\.txt: 240 rows read, 240 kept, 0 dropped/);
    for (const [flag, value, pattern] of [['--format', 'xls', /--format expects csv, tsv or jsonl, got "xls"/], ['--delimiter', '', /--delimiter expects a character/]] as const) {
      const bad = runCli('evaluate', '--model', run, '--data', noExtension, flag, value);
      assert.equal(bad.status, 2, bad.stderr);
      assert.match(bad.stderr, pattern);
    }
  });

  it('copies the --keep columns (an id to join on) first into each row, as they are', () => {
    const out = path.join(dir, 'preds-keep.csv');
    const r = runCli('predict', '--model', run, '--data', fixture('customers-new.csv'), '--keep', 'id,city', '--out', out, '--backend', backend);
    assert.equal(r.status, 0, r.stderr);
    const lines = fs.readFileSync(out, 'utf8').trimEnd().split('\n');
    assert.equal(lines[0], 'id,city,churned,churned:label,spend');
    const rows = fs.readFileSync(fixture('customers-new.csv'), 'utf8').trimEnd().split('\n').slice(1).map((l) => l.split(','));
    assert.deepEqual(lines.slice(1).map((l) => l.split(',').slice(0, 2)), rows.map((c) => [c[0], c[3]]));
    const plain = fs.readFileSync(path.join(dir, 'preds-comma.csv'), 'utf8').trimEnd().split('\n');
    assert.deepEqual(lines.slice(1).map((l) => l.split(',').slice(2).join(',')), plain.slice(1), 'the same predictions');
    for (const [keep, status, pattern] of [['nope', 5, /customers-new\.csv: column "nope" is not in the file/], ['id,', 2, /--keep expects column names separated by commas/], ['id,id', 2, /--keep "id": the predictions have a column of that name \(or it is kept twice\)/]] as const) {
      const bad = runCli('predict', '--model', run, '--data', fixture('customers-new.csv'), '--keep', keep, '--out', path.join(dir, 'never.csv'));
      assert.equal(bad.status, status, bad.stderr);
      assert.match(bad.stderr, pattern);
      assert.ok(!fs.existsSync(path.join(dir, 'never.csv')));
    }
  });

  it('evaluates labelled rows: per-task metrics printed and as JSON, from a checkpoint file too', () => {
    const json = path.join(dir, 'metrics.json');
    const r = runCli('evaluate', '--model', path.join(run, 'checkpoint.safetensors'), '--data', fixture('customers.csv'), '--json', json, '--backend', backend);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /customers\.csv: 240 rows read, 240 kept, 0 dropped/);
    assert.match(r.stdout, /^churned: loss [\d.]+, accuracy [\d.]+, auc [\d.]+ \(229 labelled\)$/m);
    assert.match(r.stdout, /^spend: loss [\d.]+, mse [\d.]+, mae [\d.]+ \(227 labelled\)$/m);
    const metrics = JSON.parse(fs.readFileSync(json, 'utf8')) as Record<string, Record<string, number>>;
    assert.equal(metrics.churned.count, 229);
    assert.ok(metrics.churned.auc >= 0 && metrics.churned.auc <= 1);
    assert.ok(metrics.spend.mae > 0);
  });

  it('fails with one line and its exit status: no model (4), data without the inputs (5), usage (2)', () => {
    const out = path.join(dir, 'never.csv');
    for (const [args, status, pattern] of [
      [['predict', '--model', path.join(dir, 'absent'), '--data', fixture('customers-new.csv'), '--out', out], 4, /Cannot read checkpoint .*absent/],
      [['predict', '--model', run, '--data', fixture('../../data/fixtures/people.csv'), '--out', out], 5, /people\.csv: input column "(age|income|city|visits)" is not in the file/],
      [['evaluate', '--model', run, '--data', fixture('customers-new.csv')], 5, /customers-new\.csv: task "churned"'s label column "churned" is not in the file/],
      [['predict', '--model', run, '--data', fixture('customers-new.csv')], 2, /predict needs --out FILE/],
      [['evaluate', '--data', fixture('customers.csv')], 2, /evaluate needs --model/],
      [['predict', '--model', run, '--data', fixture('customers-new.csv'), '--out', out, '--checkpoint', 'first'], 2, /--checkpoint expects best or last/],
    ] as const) {
      const r = runCli(...args);
      assert.equal(r.status, status, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, pattern);
      assert.equal(r.stderr.trim().split('\n').length, 1);
    }
    assert.ok(!fs.existsSync(out));
  });

  it('writes classification and multi-label columns: the predicted class from the vocabulary, one column per class or label', () => {
    const tasks: FittedTask[] = [
      { name: 'plan', kind: 'classification', columns: ['plan'], vocabulary: ['basic', 'pro, plus'], width: 1 },
      { name: 'tags', kind: 'multi-label', columns: ['tags'], vocabulary: ['a', 'b'], separator: '|', width: 2 },
      { name: 'xy', kind: 'regression', columns: ['xy'], width: 1 },
    ];
    const csv = predictionsCsv(tasks, { plan: Float32Array.of(0.25, 0.75, 0.9, 0.1), tags: Float32Array.of(0.5, 0.125, 1, 0), xy: Float32Array.of(1.5, -2) }, 2);
    assert.equal(csv, 'plan,plan:basic,"plan:pro, plus",tags:a,tags:b,xy\n"pro, plus",0.25,0.75,0.5,0.125,1.5\nbasic,0.9,0.1,1,0,-2\n');
    const binary = (extra: Partial<FittedTask>): string => predictionsCsv([{ name: 'b', kind: 'binary', columns: ['b'], width: 1, ...extra }], { b: Float32Array.of(0.75, 0.25) }, 2);
    assert.equal(binary({}), 'b,b:label\n0.75,1\n0.25,0\n');
    assert.equal(binary({ positive: 'yes', negative: 'no' }), 'b,b:label\n0.75,yes\n0.25,no\n');
    assert.equal(binary({ positive: 'yes' }), 'b,b:label\n0.75,yes\n0.25,not-yes\n', 'a checkpoint written before `negative` was stored');
  });
});
