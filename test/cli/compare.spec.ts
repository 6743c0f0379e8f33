/**
 * `hydranet compare` as a user runs it: help, a tiny comparison that prints the table with Δm
 * and writes JSON, baselines reused from that JSON, and usage errors (exit status 2).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { backendsUnderTest } from '../backends/harness.js';

const cli = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../ts/cli.js');
const backend = (await backendsUnderTest()).find((b) => b.backend)?.name ?? 'reference';

function run(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const tiny = ['--backend', backend, '--train-size', '1000', '--test-size', '200', '--epochs', '1', '--hidden', '32'];

describe('hydranet compare', function () {
  this.timeout(300_000);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hydranet-compare-'));
  const json = path.join(dir, 'compare.json');

  it('documents every flag in --help, and is listed in the top-level help', () => {
    const r = run('compare', '--help');
    assert.equal(r.status, 0);
    for (const flag of [
      '--weightings', '--epochs', '--batch-size', '--backend', '--threads', '--seed', '--hidden', '--head-hidden',
      '--train-size', '--test-size', '--optimizer', '--lr', '--momentum', '--weight-decay', '--select', '--json',
      '--baselines', '--no-progress', 'Δm',
    ]) {
      assert.ok(r.stdout.includes(flag), flag);
    }
    assert.match(run('--help').stdout, /compare/);
  });

  it(`runs a tiny comparison, prints the table with Δm and writes JSON (${backend})`, () => {
    const r = run('compare', ...tiny, '--weightings', 'equal,uncertainty', '--json', json);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^configuration\s+left acc\s+right acc\s+Δm\s+epoch\s+time$/m);
    assert.match(r.stdout, /^single-task\s+\d+\.\d\d%\s+\d+\.\d\d%\s+—/m);
    assert.match(r.stdout, /^equal\s+\d+\.\d\d%\s+\d+\.\d\d%\s+[+-]\d+\.\d\d%\s+1\/1\s+\d+\.\d s$/m);
    assert.match(r.stdout, /^uncertainty\s+\d+\.\d\d%\s+\d+\.\d\d%\s+[+-]\d+\.\d\d%/m);
    const out = JSON.parse(fs.readFileSync(json, 'utf8'));
    assert.deepEqual(Object.keys(out.baselines), ['left', 'right']);
    assert.deepEqual(out.runs.map((x: { label: string }) => x.label), ['equal', 'uncertainty']);
    assert.ok(Number.isFinite(out.runs[0].deltaM));
    assert.equal(out.settings.epochs, 1);
  });

  it('reuses baselines from an earlier --json file with the same settings, refuses other settings', () => {
    const r = run('compare', ...tiny, '--weightings', 'equal', '--baselines', json);
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /^baseline /m);
    assert.match(r.stdout, /^single-task \(given\)/m);
    const bad = run('compare', ...tiny.slice(0, -2), '--hidden', '16', '--weightings', 'equal', '--baselines', json);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--baselines: .* was run with other settings \(model/);
  });

  it('rejects bad flags with exit status 2 and a message naming the flag, before training', () => {
    for (const [args, pattern] of [
      [['--epochs', 'zero'], /--epochs expects an integer >= 1, got "zero"/],
      [['--batch-size', '0'], /--batch-size expects an integer >= 1, got 0$/m],
      [['--weightings', 'equal,magic'], /--weightings expects names from equal, fixed.*got "magic"/],
      [['--weightings', 'equal,,uncertainty'], /--weightings expects a comma-separated list/],
      [['--weightings', 'c=0.4'], /--weightings: option "c=0.4" follows no "name:" spec/],
      [['--weightings', 'equal,equal'], /--weightings: .*"equal" appears twice/],
      [['--weightings', 'dwa:temperature=hot'], /--weightings: configuration "dwa:temperature=hot": .*temperature/],
      [['--select', 'worst'], /--select expects best or last, got "worst"/],
      [['--train-size', '70000'], /--train-size expects at most 60000/],
      [['--lr=-1'], /--lr expects a positive number, got -1$/m],
      [['--lr', '-1'], /--lr expects a positive number, got -1$/m],
      [['--optimizer', 'adam'], /--optimizer expects sgd or adamw, got "adam"/],
      [['--backend', 'tpu'], /Unknown backend "tpu"/],
      [['--baselines', path.join(os.tmpdir(), 'no-such-hydranet-file.json')], /--baselines: Cannot read baselines file .*no-such-hydranet-file\.json: no such file/],
      [['--frobnicate'], /frobnicate/],
    ] as const) {
      const r = run('compare', ...args);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, pattern, args.join(' '));
      assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
      assert.doesNotMatch(r.stdout, /^baseline /m, 'nothing trained');
    }
  });
});
