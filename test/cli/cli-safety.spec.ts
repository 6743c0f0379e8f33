/**
 * `hydranet train` under failure (issue 13): the run folder is checked before anything else,
 * every failure is a message without a stack trace and an exit status of its own, a resumed
 * run's metrics.json keeps every epoch, Ctrl-C stops cleanly with a resumable checkpoint, and
 * negative numbers parse as values.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseFlags } from '../../ts/cli-args.js';
import { backendsUnderTest } from '../backends/harness.js';

const cli = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../ts/cli.js');
const backend = (await backendsUnderTest()).find((b) => b.backend)?.name ?? 'reference';

function run(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const tmp = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'hydranet-cli-safety-'));
const tiny = ['--backend', backend, '--train-size', '256', '--test-size', '64', '--hidden', '16', '--batch-size', '64', '--no-progress'];
const epochsIn = (dir: string): number[] =>
  (JSON.parse(fs.readFileSync(path.join(dir, 'metrics.json'), 'utf8')) as { epoch: number }[]).map((r) => r.epoch);

describe('hydranet train under failure', function () {
  this.timeout(120_000);

  it('checks --out before loading data: exit 3 and a message naming the folder, no stack trace', () => {
    const dir = tmp();
    const file = path.join(dir, 'file');
    fs.writeFileSync(file, '');
    const out = path.join(file, 'run');
    const r = run('train', ...tiny, '--epochs', '1', '--out', out);
    assert.equal(r.status, 3, r.stderr);
    assert.match(r.stderr, new RegExp(`^hydranet: Cannot use ${out.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} as the run folder: .*a parent is a file`));
    assert.doesNotMatch(r.stderr, /^\s+at /m);
    assert.doesNotMatch(r.stdout, /MultiMNIST/, 'no data was loaded');
  });

  it('gives each kind of failure its own exit status, without a stack trace, and leaves no empty run folder', () => {
    const dir = tmp();
    const cases: [string[], number, RegExp][] = [
      [['--sharing', 'hard:penalty=5'], 2, /penalty/],
      [['--weighting', 'dwa:tempreture=5'], 2, /tempreture/],
      [['--resume', path.join(dir, 'missing.safetensors')], 4, /missing\.safetensors/],
    ];
    for (const [args, status, pattern] of cases) {
      const out = path.join(dir, `run-${status}-${args[0].slice(2)}`);
      const r = run('train', ...tiny, '--epochs', '1', '--out', out, ...args);
      assert.equal(r.status, status, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, pattern);
      assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
      if (status === 2) assert.ok(!fs.existsSync(out), 'a usage error leaves no run folder behind');
    }
  });

  it('keeps every epoch in metrics.json across a resume; epochs is the total', () => {
    const out = tmp();
    assert.equal(run('train', ...tiny, '--epochs', '2', '--out', out).status, 0);
    const checkpoint = path.join(out, 'checkpoint.safetensors');
    const r = run('train', ...tiny, '--epochs', '4', '--out', out, '--resume', checkpoint);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(epochsIn(out), [1, 2, 3, 4]);
    const again = run('train', ...tiny, '--epochs', '4', '--out', out, '--resume', checkpoint);
    assert.equal(again.status, 2);
    assert.match(again.stderr, /nothing to train: this model has trained 4 epochs and the target is 4.*--epochs 5/);
  });

  it('stops on Ctrl-C after the current step: exit 130, a checkpoint, and the command that resumes it', async () => {
    const out = tmp();
    const args = ['train', ...tiny, '--train-size', '2048', '--hidden', '32', '--epochs', '100000', '--out', out];
    const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const kill = setTimeout(() => child.kill('SIGKILL'), 60_000);
    const status = await new Promise<number | null>((resolve) => {
      child.stdout.on('data', (d: Buffer) => {
        const first = !/^epoch 1\//m.test(stdout);
        stdout += d.toString();
        if (first && /^epoch 1\//m.test(stdout)) child.kill('SIGINT');
      });
      child.on('exit', (code) => resolve(code));
    });
    clearTimeout(kill);
    assert.equal(status, 130, stderr);
    const checkpoint = path.join(out, 'checkpoint.safetensors');
    assert.ok(fs.existsSync(checkpoint));
    assert.match(stderr, /interrupted: stopping after the current step/);
    const resume = /^hydranet: resume with: (.*)$/m.exec(stderr);
    assert.ok(resume, stderr);
    assert.ok(resume[1].endsWith(`--out ${out} --resume ${checkpoint}`), resume[1]);
    // Stopped inside epoch k, or after it: resuming to k (or k + 1) finishes that epoch.
    const at = /Training stopped on request at step \d+, (in|after) epoch (\d+)/.exec(stderr);
    assert.ok(at, stderr);
    const epochs = Number(at[2]) + (at[1] === 'after' ? 1 : 0);
    const r = run(...args.slice(0, args.indexOf('--epochs')), '--epochs', String(epochs), '--out', out, '--resume', checkpoint);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(epochsIn(out), Array.from({ length: epochs }, (_, i) => i + 1));
  });

  it('takes a negative number after a flag as its value', () => {
    const options = { x: { type: 'string' }, y: { type: 'string' }, quiet: { type: 'boolean' } } as const;
    assert.deepEqual({ ...parseFlags(['--x', '-2.5', '--y', '-1e3'], options) }, { x: '-2.5', y: '-1e3' });
    assert.deepEqual({ ...parseFlags(['--x=-7'], options) }, { x: '-7' });
    assert.throws(() => parseFlags(['--quiet', '-1'], options), /Unknown option '-1'/);
    assert.throws(() => parseFlags(['--x', '-z'], options), /argument is ambiguous/);
  });
});
