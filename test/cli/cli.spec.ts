/**
 * The command line as a user runs it: help texts, a short MultiMNIST training run that writes
 * its run folder, and usage errors that exit with status 2 and a clear message.
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

describe('hydranet CLI', function () {
  this.timeout(300_000);

  it('documents every train flag in --help', () => {
    const r = run('train', '--help');
    assert.equal(r.status, 0);
    for (const flag of ['--epochs', '--batch-size', '--backend', '--seed', '--out', '--weights', '--lr', '--resume']) {
      assert.match(r.stdout, new RegExp(flag));
    }
    assert.match(run('--help').stdout, /train/);
  });

  it(`trains on MultiMNIST, prints per-task accuracy each epoch and writes a run folder (${backend})`, () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'hydranet-cli-'));
    const r = run(
      'train', '--backend', backend, '--epochs', '2', '--train-size', '3000', '--test-size', '500',
      '--hidden', '64', '--batch-size', '64', '--weights', 'left=1,right=0.5', '--out', out,
      '--weighting', 'fixed',
    );
    assert.equal(r.status, 0, r.stderr);
    const epochs = r.stdout.split('\n').filter((l) => /^epoch \d\/2 .*val left \d+\.\d+%\s+right \d+\.\d+%/.test(l));
    assert.equal(epochs.length, 2, r.stdout);
    const metrics = JSON.parse(fs.readFileSync(path.join(out, 'metrics.json'), 'utf8'));
    assert.equal(metrics.length, 2);
    assert.equal(metrics[1].weights.right, 0.5);
    assert.ok(metrics[1].validation.left.accuracy > 0.3, 'well above the 10 % of chance');
    const config = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
    assert.equal(config.trainer.batchSize, 64);
    assert.ok(fs.statSync(path.join(out, 'checkpoint.safetensors')).size > 200_000);
    // The run's report (the other CLI specs turn it off through their fixture, HYDRANET_REPORT=0).
    const report = fs.readFileSync(path.join(out, 'report.html'), 'utf8');
    assert.match(report, /<svg/);
    assert.match(report, /left/);
  });

  it('rejects bad flags with exit status 2 and a message naming the flag', () => {
    for (const [args, pattern] of [
      [['train', '--epochs', 'zero'], /--epochs expects an integer/],
      [['train', '--backend', 'tpu'], /Unknown backend "tpu"/],
      [['train', '--weights', 'left'], /--weights expects task=weight/],
      [['train', '--weights', 'middle=1', '--epochs', '1', '--train-size', '10', '--test-size', '10'], /Unknown task "middle"/],
      [['train', '--frobnicate'], /frobnicate/],
      [['fly'], /unknown command "fly"/],
      [['train', '--weighting', 'magic'], /--weighting expects one of equal, fixed/],
      [['train', '--weighting', 'constructor'], /--weighting expects one of equal, fixed/],
      [['train', '--lr', '-1'], /--lr expects a positive number, got -1$/m],
      [['train', '--lr=-0.5'], /--lr expects a positive number, got -0.5$/m],
      [['train', '--momentum', '-1e-3'], /--momentum expects a number in \[0, 1\], got -1e-3$/m],
      [['train', '--out', '-x'], /argument is ambiguous/],
    ] as const) {
      const r = run(...args);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, pattern);
      assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
    }
  });
});
