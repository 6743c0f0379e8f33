/**
 * `hydranet affinity` as a user runs it: help, a tiny run of the multimnist-affinity preset
 * that prints the three matrices and their agreement and writes the JSON report, a run file
 * (--config), and usage errors (exit status 2).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { AffinityReport } from '../../ts/train/affinity.js';
import { backend, runCli, runConfig, tmpDir, writeRunFile } from './fixtures/cli.js';

describe('hydranet affinity', function () {
  this.timeout(120_000);

  it('documents its flags in --help, and is listed in the top-level help', () => {
    const r = runCli('affinity', '--help');
    assert.equal(r.status, 0);
    for (const flag of ['--preset', '--config', '--method', '--every', '--per-lr', '--epochs', '--out', 'multimnist-affinity']) assert.ok(r.stdout.includes(flag), flag);
    assert.match(runCli('--help').stdout, /affinity/);
  });

  it(`trains the multimnist-affinity preset once with the probe, prints the matrices and writes the report (${backend})`, () => {
    const dir = tmpDir();
    const out = path.join(dir, 'a.json');
    const r = runCli('affinity', '--train-size', '256', '--test-size', '64', '--batch-size', '64', '--epochs', '2', '--every', '3', '--method', 'all', '--out', out, '--backend', backend, '--no-progress');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /tasks left, right, left-parity, sum-mod10, noise/);
    assert.match(r.stdout, /lookahead affinity .* mean of 2 probes/);
    assert.match(r.stdout, /gradient cosine/);
    assert.match(r.stdout, /rank agreement of the off-diagonal entries \(Spearman\): lookahead vs linearised -?\d\.\d{3}/);
    const report = JSON.parse(fs.readFileSync(out, 'utf8')) as AffinityReport;
    assert.deepEqual(report.tasks, ['left', 'right', 'left-parity', 'sum-mod10', 'noise']);
    assert.equal(report.method, 'all');
    assert.equal(report.every, 3);
    // 4 steps per epoch: probes at steps 3 | 6.
    assert.deepEqual(report.epochs.map((e) => [e.epoch, e.probes]), [[1, 1], [2, 1]]);
    for (const m of ['lookahead', 'linearised', 'cosine'] as const) {
      assert.equal(report.mean[m]!.length, 5);
      assert.ok(report.mean[m]!.every((row) => row.length === 5 && row.every(Number.isFinite)), m);
    }
    assert.ok(report.mean.cosine!.every((row, i) => Math.abs(row[i] - 1) < 1e-5), 'a task\'s cosine with itself is 1');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it(`measures a run file's tasks (--config) (${backend})`, () => {
    const dir = tmpDir();
    const out = path.join(dir, 'a.json');
    const r = runCli('affinity', '--config', writeRunFile(dir, runConfig()), '--epochs', '1', '--every', '1', '--method', 'cosine', '--out', out, '--backend', backend, '--no-progress');
    assert.equal(r.status, 0, r.stderr);
    const report = JSON.parse(fs.readFileSync(out, 'utf8')) as AffinityReport;
    assert.deepEqual(report.tasks, ['churned', 'spend']);
    assert.deepEqual(Object.keys(report.mean).sort(), ['cosine', 'probes']);
    assert.ok(report.mean.probes >= 1);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('rejects bad flags with status 2 and a message naming them', () => {
    for (const [args, message] of [
      [['--method', 'tag'], /--method expects lookahead \| linearised \| cosine \| all, got "tag"/],
      [['--every', '0'], /--every expects an integer >= 1/],
      [['--preset', 'multimnist-affinity', '--config', 'run.json'], /--preset or --config, not both/],
      [['--train-size', '256', '--epochs', '1', '--every', '100', '--backend', backend, '--no-progress'], /no probe ran/],
      [['--sharing', 'mmoe'], /Unknown option '--sharing'/],
    ] as const) {
      const r = runCli('affinity', ...args);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
  });
});
