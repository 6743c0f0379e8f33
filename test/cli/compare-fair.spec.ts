/**
 * `hydranet compare` with --search / --seeds (the fair protocol) and --sharings on a preset:
 * the table with mean ± sd and the selected settings, the run lines and the time estimate,
 * a rerun that reads every run back from --out and prints the same table, and usage errors.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { backendsUnderTest } from '../backends/harness.js';
import { runCli, runConfig, tmpDir, writeRunFile } from './fixtures/cli.js';

const cli = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../ts/cli.js');
const backend = (await backendsUnderTest()).find((b) => b.backend)?.name ?? 'reference';

function run(cwd: string, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', cwd });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const tiny = ['--backend', backend, '--train-size', '600', '--test-size', '200', '--epochs', '1', '--hidden', '16', '--batch-size', '64'];

describe('hydranet compare --search --seeds', function () {
  this.timeout(300_000);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hydranet-compare-fair-'));

  it('documents the fair comparison flags in --help', () => {
    const r = run(dir, 'compare', '--help');
    assert.equal(r.status, 0);
    for (const flag of ['--search KEY=LIST', '--search-budget', '--seeds', '--validation-fraction', '--out DIR', 'cagrad:c', 'never the test set', '--sharings']) {
      assert.ok(r.stdout.includes(flag), flag);
    }
  });

  const args = [...tiny, '--weightings', 'equal', '--sharings', 'hard,mmoe', '--search', 'lr=0.01,0.05', '--seeds', '2', '--json', 'fair.json'];
  let table = '';

  it(`searches, trains every seed and prints mean ± sd per row, with --sharings crossed on a preset (${backend})`, () => {
    const r = run(dir, 'compare', ...args);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /4 rows \(2 single-task \+ 2 configurations\); 8 search runs \+ 4 × 2 seed runs = 16 runs; training 540 rows, validation 60 rows/);
    assert.match(r.stdout, /runs recorded in .*runs\/compare$/m);
    assert.match(r.stdout, /^\[1\/16\] search single-task left lr=0\.01: validation score \d\.\d{4} \(epoch 1\/1, \d+\.\d s\)$/m);
    assert.match(r.stdout, /^time estimate: about \d+ s for the 15 runs left/m);
    assert.match(r.stdout, /^\[16\/16\] seed 2 mmoe equal \(lr=0\.0[15]\): test left \d+\.\d\d%, right \d+\.\d\d%/m);
    assert.match(r.stdout, /^configuration\s+setting\s+left acc\s+right acc\s+Δm\s+epochs\s+time$/m);
    assert.match(r.stdout, /^hard equal\s+lr=0\.0[15]\s+\d+\.\d\d ± \d+\.\d\d%\s+\d+\.\d\d ± \d+\.\d\d%\s+[+-]\d+\.\d\d ± \d+\.\d\d%\s+1,1\/1/m);
    assert.match(r.stdout, /^mmoe equal\s+lr=0\.0[15]\s+/m);
    assert.match(r.stdout, /mean ± sd over seeds 1, 2; settings and epochs selected on 60 validation rows carved from the training data/);
    const out = JSON.parse(fs.readFileSync(path.join(dir, 'fair.json'), 'utf8'));
    assert.deepEqual(out.runs.map((x: { label: string }) => x.label), ['hard equal', 'mmoe equal']);
    assert.deepEqual(out.runs[1].sharing, { kind: 'mmoe' });
    assert.equal(out.tuning.runs[0].seeds.length, 2);
    assert.deepEqual(out.settings.search, { lr: [0.01, 0.05] });
    assert.deepEqual(out.settings.sharings, ['hard', 'mmoe']);
    // The folder of runs holds the results too (and, with reports on, their report.html).
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(dir, 'runs', 'compare', 'compare.json'), 'utf8')).runs, out.runs);
    table = r.stdout.slice(r.stdout.indexOf('\nconfiguration'));
  });

  it('reads every run back from --out on a rerun and prints the same table', () => {
    const r = run(dir, 'compare', ...args);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.split('\n').filter((l) => /^\[\d+\/16\]/.test(l));
    assert.equal(lines.length, 16);
    assert.ok(lines.every((l) => l.endsWith(', recorded)')), lines.join('\n'));
    assert.doesNotMatch(r.stdout, /time estimate/);
    assert.ok(table.length > 0);
    assert.equal(r.stdout.slice(r.stdout.indexOf('\nconfiguration')), table, 'the same table, times included (they are the recorded ones)');
  });

  it('crosses --sharings with --weightings on a preset without the fair protocol too', () => {
    const r = run(dir, 'compare', ...tiny, '--weightings', 'equal', '--sharings', 'hard,mmoe');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /2 baselines \+ 2 configurations, reporting the best-validation epoch/);
    assert.match(r.stdout, /^hard equal\s+\d+\.\d\d%\s+\d+\.\d\d%\s+[+-]\d+\.\d\d%/m);
    assert.match(r.stdout, /^mmoe equal\s+\d+\.\d\d%\s+\d+\.\d\d%\s+[+-]\d+\.\d\d%/m);
  });

  it("with --config: selects on a split of the file's training rows and reports on its validation rows", () => {
    const d = tmpDir();
    const file = writeRunFile(d, runConfig());
    const r = runCli('compare', '--config', file, '--epochs', '1', '--weightings', 'equal', '--sharings', 'hard', '--search', 'lr=0.01,0.05',
      '--seeds', '2', '--validation-fraction', '0.2', '--out', path.join(d, 'runs'), '--backend', backend, '--no-progress');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /the file's validation rows are the test set/);
    // 180 training rows of the file: 36 carved to select on, 144 trained on.
    assert.match(r.stdout, /3 rows \(2 single-task \+ 1 configurations\); 6 search runs \+ 3 × 2 seed runs = 12 runs; training 144 rows, validation 36 rows \(carved: 0\.2/);
    assert.match(r.stdout, /^single-task churned\s+lr=0\.0[15]\s+[\d.]+ ± [\d.]+%\s+[\d.]+ ± [\d.]+/m);
    assert.match(r.stdout, /^equal\s+lr=0\.0[15]\s+/m);
    // One record per run, and the results of the whole comparison beside them.
    assert.deepEqual(fs.readdirSync(path.join(d, 'runs')).filter((f) => f !== 'compare.json').length, 12);
    assert.ok(fs.existsSync(path.join(d, 'runs', 'compare.json')));
  });

  it('rejects bad fair-comparison flags with exit status 2, before training', () => {
    for (const [extra, pattern] of [
      [['--search', 'lrate=0.1'], /--search: Unknown search key "lrate"/],
      [['--search', 'lr'], /--search: Expected a search spec like "lr=0.01,0.02"/],
      [['--search', 'lr=0.1', '--search', 'lr=0.2'], /--search lr is given twice/],
      [['--search', 'lr=0,0.1'], /--search: search\.lr expects a positive number/],
      [['--search', 'cagrad:zeta=1'], /--search: Unknown search key "cagrad:zeta": weighting cagrad has the options/],
      [['--seeds', '0'], /--seeds expects an integer >= 1, got 0/],
      [['--search-budget', 'x', '--seeds', '2'], /--search-budget expects an integer >= 1/],
      [['--validation-fraction', '1'], /--validation-fraction expects a number in \(0, 1\)/],
      [['--out', 'x'], /--out records the runs of a fair comparison/],
      [['--seeds', '2', '--baselines', 'x.json'], /--baselines does not apply to a fair comparison/],
      [['--sharings', 'hard,tree'], /--sharings: "tree"/],
    ] as const) {
      const r = run(dir, 'compare', ...tiny, ...extra);
      assert.equal(r.status, 2, `${extra.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, pattern, extra.join(' '));
      assert.doesNotMatch(r.stdout, /^\[1\//m, 'nothing trained');
    }
  });
});
