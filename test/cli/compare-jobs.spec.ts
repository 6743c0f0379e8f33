/**
 * `hydranet compare` with --jobs (runs in child processes) and --select-seeds, and the run
 * records of a command of the kind the long Table 2 comparison runs (--preset multimnist-lenet
 * --threads 1): their file names are pinned to what the code wrote before --jobs existed, and
 * --jobs 2 writes the same records and prints the same table; Ctrl-C stops the children and a
 * rerun with --jobs 1 finishes the comparison to the same table.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { backendsUnderTest } from '../backends/harness.js';

const cli = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../ts/cli.js');
const hasCpu = (await backendsUnderTest()).some((b) => b.name === 'cpu' && b.backend);

function run(cwd: string, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', cwd });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A tiny Table 2 command: MultiLeNet, 100 training pairs, 1 epoch, lr ∈ {0.01, 0.02}, one thread. */
const TABLE2 = ['compare', '--preset', 'multimnist-lenet', '--weightings', 'equal,mgda-ub', '--epochs', '1', '--train-size', '100', '--test-size', '20',
  '--search', 'lr=0.01,0.02', '--seeds', '1', '--threads', '1', '--no-progress'];

/** The run files TABLE2 wrote before --jobs and --select-seeds existed (commit 02e8d76). */
const PINNED = [
  '0422b137adf49c9c27be96667aacecfa.json',
  '22b9b4c0c99f87659ca9958e245f7f2d.json',
  '3c3f752001c11d02737ab07a85d90616.json',
  '52aa2b35790a54dc134455e6848e6b08.json',
  '6b9a88f76eaf251108a8d85c159b883c.json',
  'ad87947b77ad1de2a6c8e293e195ee65.json',
  'b45bf0af812927d225d7dafc7027d8f6.json',
  'bb88ed15e47e9511c22245af16bb1ae1.json',
  'c88b52b8fab0b45a3461e420b9977d3a.json',
  'e7ac99eb3576f03fda2e6646856b7af5.json',
  'e8f0448a3674664573aa4746fe96d563.json',
  'f5e22a875bc4e17b83c0b0d22e27d8a9.json',
];

const runFiles = (dir: string): string[] => fs.readdirSync(dir).filter((f) => /^[0-9a-f]{32}\.json$/.test(f)).sort();
const timelessFile = (file: string): string =>
  JSON.stringify(JSON.parse(fs.readFileSync(file, 'utf8')), (k, v: unknown) => (k === 'seconds' || k === 'stepsPerSecond' ? 0 : v));
/** The table printed at the end, wall times masked. */
const table = (stdout: string): string => stdout.slice(stdout.indexOf('\nconfiguration'), stdout.indexOf('\ntest metrics')).replace(/\d+\.\d s/g, 'T');

/** Process ids whose parent is `ppid`. */
function childrenOf(ppid: number): number[] {
  const out: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === ppid) out.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}
const alive = (pid: number): boolean => fs.existsSync(`/proc/${pid}`) && !/\) Z /.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));

describe('hydranet compare --jobs / --select-seeds', function () {
  this.timeout(300_000);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hydranet-compare-jobs-cli-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  let reference = '';

  it('documents --jobs and --select-seeds in --help', () => {
    const r = run(dir, 'compare', '--help');
    assert.equal(r.status, 0);
    for (const text of ['--jobs N', '--select-seeds K', 'child process', 'about 1 h 5 min', 'Ctrl-C']) assert.ok(r.stdout.includes(text), text);
  });

  it('writes the run files it wrote before --jobs existed, and --jobs 2 writes the same records and prints the same table', function () {
    if (!hasCpu) this.skip();
    const one = run(dir, ...TABLE2, '--out', 'one');
    assert.equal(one.status, 0, one.stderr);
    assert.deepEqual(runFiles(path.join(dir, 'one')), PINNED, 'the hash of some run key changed: a recorded comparison would train again');
    const two = run(dir, ...TABLE2, '--out', 'two', '--jobs', '2', '--json', 'two.json');
    assert.equal(two.status, 0, two.stderr);
    const { settings } = JSON.parse(fs.readFileSync(path.join(dir, 'two.json'), 'utf8')) as { settings: Record<string, unknown> };
    assert.deepEqual(['jobs', 'threads', 'outDir'].filter((k) => k in settings), [], 'the results file holds what determines the results, not --jobs, --threads or --out');
    assert.ok('seeds' in settings && 'search' in settings);
    assert.match(two.stdout, /backend cpu; 2 runs at a time in child processes, 1 thread each;/);
    assert.match(two.stdout, /= 12 runs, 2 at a time;/);
    assert.match(two.stdout, /^time estimate: about \d+ s for the \d+ runs left \(\d+\.\d s per run, 2 at a time, measured on this one\)$/m);
    assert.match(two.stdout, /^\[11\/12\] .*\(epoch 1\/1, \d+\.\d s\); about \d+ s left$/m);
    assert.match(two.stdout, /^\[12\/12\] .*\d s\)$/m, 'nothing left after the last');
    assert.deepEqual(runFiles(path.join(dir, 'two')), PINNED);
    for (const f of PINNED) assert.equal(timelessFile(path.join(dir, 'two', f)), timelessFile(path.join(dir, 'one', f)), f);
    reference = table(one.stdout);
    assert.ok(reference.includes('mgda-ub'));
    assert.equal(table(two.stdout), reference);
  });

  it('stops every child on Ctrl-C, keeps the finished runs, and a rerun with --jobs 1 finishes to the same table', async function () {
    if (!hasCpu || reference === '') this.skip();
    const out = path.join(dir, 'interrupted');
    const child = spawn(process.execPath, [cli, ...TABLE2, '--out', out, '--jobs', '2'], { cwd: dir });
    let stdout = '';
    let stderr = '';
    let workers: number[] = [];
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const status = await new Promise<number | null>((resolve) => {
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        if (workers.length === 0 && /^\[1\/12\]/m.test(stdout)) {
          workers = childrenOf(child.pid!);
          child.kill('SIGINT');
        }
      });
      child.on('exit', (code) => resolve(code));
    });
    assert.equal(status, 130, stderr);
    assert.match(stderr, /interrupted: stopping every run in progress; the finished runs are recorded in .*interrupted/);
    assert.match(stderr, /compare stopped with \d+ of 12 runs finished/);
    assert.ok(workers.length > 0, 'it had child processes');
    for (let i = 0; i < 100 && workers.some(alive); i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(workers.filter(alive), [], 'every child has exited');
    const kept = runFiles(out).length;
    assert.ok(kept >= 1 && kept < 12, `${kept} runs kept`);
    const rerun = run(dir, ...TABLE2, '--out', out);
    assert.equal(rerun.status, 0, rerun.stderr);
    assert.equal(rerun.stdout.split('\n').filter((l) => /^\[\d+\/12\].*, recorded\)/.test(l)).length, kept, 'the finished runs are read back');
    assert.equal(table(rerun.stdout), reference);
  });

  it('selects on the mean over --select-seeds seeds', function () {
    const r = run(dir, 'compare', '--backend', hasCpu ? 'cpu' : 'reference', '--train-size', '300', '--test-size', '50', '--epochs', '1', '--hidden', '8', '--batch-size', '64',
      '--weightings', 'equal', '--search', 'lr=0.01,0.05', '--seeds', '2', '--select-seeds', '2', '--out', 'select', '--json', 'select.json');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /12 search runs \(6 settings × 2 seeds, selected on the mean\) \+ 3 × 2 seed runs = 18 runs/);
    assert.match(r.stdout, /^\[2\/18\] search single-task left lr=0\.01 seed 2: validation score/m);
    const json = JSON.parse(fs.readFileSync(path.join(dir, 'select.json'), 'utf8'));
    assert.equal(json.settings.selectSeeds, 2);
    const t = json.tuning.runs[0].trials[0];
    assert.equal(t.score, (t.seeds[0].score + t.seeds[1].score) / 2);
  });

  it('rejects bad --jobs and --select-seeds with exit status 2, before training', () => {
    const tiny = ['--train-size', '300', '--test-size', '50', '--epochs', '1', '--hidden', '8'];
    for (const [extra, pattern] of [
      [['--seeds', '2', '--jobs', '2', '--backend', 'webgpu'], /--jobs: jobs 2 trains runs in child processes on the cpu or reference backend only, not on webgpu: a webgpu backend drives one device/],
      [['--seeds', '2', '--jobs', '0'], /--jobs expects an integer >= 1, got 0/],
      [['--seeds', '2', '--select-seeds', '3'], /--select-seeds 3 exceeds --seeds 2/],
      [['--jobs', '2'], /--jobs runs the runs of a fair comparison/],
    ] as const) {
      const r = run(dir, 'compare', ...tiny, ...extra);
      assert.equal(r.status, 2, `${extra.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, pattern, extra.join(' '));
      assert.doesNotMatch(r.stdout, /^\[1\//m, 'nothing trained');
    }
  });
});
