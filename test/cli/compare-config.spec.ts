/**
 * `hydranet compare --config run.json` (issue 16): weightings crossed with sharing kinds on the
 * run file's data (customers.csv, a binary and a regression task, a seeded validation split),
 * single-task baselines per main task, Δm; the table and the JSON list every configuration;
 * bad values exit 2 naming the flag, before anything trains.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { crossConfigurations, sharingLabel } from '../../ts/cli-compare.js';
import { ConfigError } from '../../ts/errors.js';
import { resolveTask } from '../../ts/mtl/task.js';
import { type CompareConfiguration, checkConfigurations } from '../../ts/train/compare.js';
import { backend, runCli, runConfig, tmpDir, writeRunFile } from './fixtures/cli.js';

interface Result {
  settings: { config: string; trainer: { epochs: number } };
  tasks: string[];
  baselines: Record<string, Record<string, number>>;
  runs: { label: string; weighting: string; sharing?: { kind: string }; deltaM: number; metrics: Record<string, Record<string, number>>; epochs: number }[];
}

describe('hydranet compare --config', function () {
  this.timeout(120_000);

  it(`crosses --sharings with --weightings on the run file's data and writes every configuration to --json (${backend})`, () => {
    const dir = tmpDir();
    const file = writeRunFile(dir, runConfig());
    const json = path.join(dir, 'out', 'compare.json');
    const r = runCli('compare', '--config', file, '--epochs', '1', '--weightings', 'equal,uncertainty', '--sharings', 'hard,mmoe:experts=3',
      '--json', json, '--backend', backend, '--no-progress');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /customers\.csv \(training part\): 180 rows read/, 'the data is read as train --config reads it');
    assert.match(r.stdout, /2 baselines \+ 4 configurations \(sharing hard, mmoe:experts=3 × weighting equal, uncertainty\)/);
    const table = r.stdout.slice(r.stdout.indexOf('configuration '));
    assert.match(table, /^configuration +churned acc +churned auc +spend mse +spend mae +Δm +epoch +time$/m);
    assert.match(table, /^single-task +[\d.]+% +[\d.]+ +[\d.]+ +[\d.]+ +— +1,1\/1/m);
    for (const label of ['hard equal', 'hard uncertainty', 'mmoe:experts=3 equal', 'mmoe:experts=3 uncertainty']) {
      assert.match(table, new RegExp(`^${label} +[\\d.]+% +[\\d.]+ +[\\d.]+ +[\\d.]+ +[+-][\\d.]+% +1/1`, 'm'), label);
    }
    const result = JSON.parse(fs.readFileSync(json, 'utf8')) as Result;
    assert.equal(result.settings.config, file);
    assert.equal(result.settings.trainer.epochs, 1, '--epochs wins over the file');
    assert.deepEqual(result.tasks, ['churned', 'spend']);
    assert.deepEqual(result.runs.map((x) => [x.label, x.weighting, x.sharing?.kind]), [
      ['hard equal', 'equal', 'hard'],
      ['hard uncertainty', 'uncertainty', 'hard'],
      ['mmoe:experts=3 equal', 'equal', 'mmoe'],
      ['mmoe:experts=3 uncertainty', 'uncertainty', 'mmoe'],
    ]);
    for (const run of result.runs) {
      assert.ok(Number.isFinite(run.deltaM), run.label);
      assert.deepEqual(Object.keys(run.metrics.churned), ['accuracy', 'auc']);
      assert.deepEqual(Object.keys(run.metrics.spend), ['mse', 'mae']);
    }
    assert.deepEqual(Object.keys(result.baselines), ['churned', 'spend']);
    // The hard and MMoE bodies differ, so their runs do too.
    assert.notDeepEqual(result.runs[0].metrics, result.runs[2].metrics);
  });

  it("compares hard sharing with the file's sharing by default, one weighting labelled by sharing", () => {
    const dir = tmpDir();
    const config = runConfig();
    config.model = { ...(config.model as object), sharing: { kind: 'mmoe', experts: 2 } };
    const r = runCli('compare', '--config', writeRunFile(dir, config), '--epochs', '1', '--weightings', 'equal', '--backend', backend, '--no-progress');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /2 configurations \(sharing hard, mmoe:experts=2 × weighting equal\)/);
    assert.match(r.stdout, /^hard equal +/m);
    assert.match(r.stdout, /^mmoe:experts=2 equal +/m);
  });

  it('rejects bad values with exit status 2 naming the flag, before reading the data', () => {
    const dir = tmpDir();
    const file = writeRunFile(dir, runConfig());
    const cases: [string[], RegExp][] = [
      [['--sharings', 'bogus'], /--sharings: "bogus": Expected sharing kind hard, .* but received "bogus"/],
      [['--sharings', 'mmoe:expert=4'], /--sharings: "mmoe:expert=4": Unknown key "expert" in sharing \(mmoe\) \(did you mean "experts"\?\)/],
      [['--sharings', 'hard,,mmoe'], /--sharings expects a comma-separated list of sharing specs/],
      [['--sharings', 'hard,hard'], /--sharings: "hard" appears twice/],
      [['--weightings', 'nope'], /--weightings expects names from equal, .* got "nope"/],
      [['--select', 'first'], /--select expects best or last, got "first"/],
      [['--epochs', '0'], /--epochs expects an integer >= 1, got 0/],
      [['--hidden', '4'], /--hidden applies to the MultiMNIST presets, not to --config runs/],
    ];
    for (const [args, message] of cases) {
      const r = runCli('compare', '--config', file, ...args, '--backend', backend, '--no-progress');
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message, args.join(' '));
      assert.doesNotMatch(r.stdout, /rows read/, `${args.join(' ')} is refused before the data is read`);
    }
    // --sharings on the presets (no --config) is tested in compare-fair.spec.ts.
  });

  it('needs validation rows: a run file without a validation file or split exits 2', () => {
    const dir = tmpDir();
    const config = runConfig();
    config.data = { train: (config.data as { train: string }).train };
    const r = runCli('compare', '--config', writeRunFile(dir, config), '--epochs', '1', '--backend', backend, '--no-progress');
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /run\.json: compare needs validation rows .*data\.validation or data\.validationSplit/);
  });

  it('reuses the baselines of an earlier --json run of the same run file and settings, refuses other settings', () => {
    const dir = tmpDir();
    const file = writeRunFile(dir, runConfig());
    const json = path.join(dir, 'first.json');
    const args = ['compare', '--config', file, '--weightings', 'equal', '--sharings', 'hard', '--backend', backend, '--no-progress'];
    assert.equal(runCli(...args, '--epochs', '1', '--json', json).status, 0);
    const again = runCli(...args, '--epochs', '1', '--baselines', json);
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, /^single-task \(given\) +/m);
    const other = runCli(...args, '--epochs', '2', '--baselines', json);
    assert.equal(other.status, 2);
    assert.match(other.stderr, /--baselines: .*first\.json was run with other settings \(trainer .*"epochs":1.* there, .*"epochs":2.* here\)/);
  });

  it("checks each configuration's sharing before anything trains, naming the configuration", () => {
    const tasks = [resolveTask({ name: 'a', kind: 'binary' }, 0), resolveTask({ name: 'b', kind: 'regression' }, 1)];
    const bad = [{ label: 'mmoe equal', weighting: 'equal', sharing: { kind: 'mmoe', expert: 3 } }] as unknown as CompareConfiguration[];
    assert.throws(() => checkConfigurations(tasks, bad), (e: unknown) => e instanceof ConfigError && /configuration "mmoe equal": Unknown key "expert" in sharing \(mmoe\)/.test(e.message));
    assert.doesNotThrow(() => checkConfigurations(tasks, [{ label: 'mmoe equal', weighting: 'equal', sharing: { kind: 'mmoe', experts: 3 } }]));
  });

  it('leaves the default gradient-based weightings out of the sharing kinds without one shared representation, and says so', () => {
    const sharings = [
      { label: 'hard', sharing: { kind: 'hard' } },
      { label: 'mmoe:experts=2', sharing: { kind: 'mmoe', experts: 2 } },
    ] as const;
    const lines: string[] = [];
    const defaults = crossConfigurations(sharings, ['equal', 'mgda-ub', 'pcgrad:space=representation'], true, (l) => lines.push(l));
    assert.deepEqual(
      defaults.map((c) => c.label),
      ['hard equal', 'hard mgda-ub', 'hard pcgrad:space=representation', 'mmoe:experts=2 equal'],
    );
    assert.equal(lines.length, 1);
    assert.match(lines[0], /mmoe:experts=2 sharing .*\(mgda-ub, pcgrad:space=representation\) are not run with it/);
    // Named by the user: every pair is kept (the trainer then refuses the one it cannot train).
    const named = crossConfigurations(sharings, ['equal', 'mgda-ub'], false, (l) => lines.push(l));
    assert.equal(named.length, 4);
    assert.equal(lines.length, 1);
  });

  it('runs the default weightings on a run file whose sharing is MMoE (the gradient-based ones with hard sharing only)', () => {
    const dir = tmpDir();
    const config = runConfig();
    config.model = { ...(config.model as object), sharing: { kind: 'mmoe', experts: 2 } };
    const r = runCli('compare', '--config', writeRunFile(dir, config), '--epochs', '1', '--backend', backend, '--no-progress');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /note: mmoe:experts=2 sharing has no one shared representation/);
    assert.match(r.stdout, /^hard pcgrad +/m);
    assert.match(r.stdout, /^mmoe:experts=2 dwa +/m);
    assert.doesNotMatch(r.stdout, /^mmoe:experts=2 pcgrad/m);
  });

  it('names a sharing config as the --sharings spec writes it', () => {
    assert.equal(sharingLabel(undefined), 'hard');
    assert.equal(sharingLabel({ kind: 'mmoe', experts: 4 }), 'mmoe:experts=4');
    assert.equal(sharingLabel({ kind: 'soft', penalty: 0.001 }), 'soft:penalty=0.001');
  });
});
