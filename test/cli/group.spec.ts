/**
 * `hydranet group`: the groups printed from an affinity file (a bare matrix or the affinity
 * probe's report), one run file per group that the config loader accepts (tasks restricted,
 * weights kept for the members, data paths rewritten, dropped tasks' label columns kept out of
 * the inferred inputs) and that `hydranet train --config` trains; preset group files; errors.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { prepareConfigRun, readRunConfig } from '../../ts/cli-config.js';
import { backend, fixture, runCli, tmpDir, writeRunFile } from './fixtures/cli.js';

/** customers.csv with three tasks: churned (binary, auxiliary), spend and visits (regression). */
function threeTaskRun(): Record<string, unknown> {
  return {
    data: { train: fixture('customers.csv'), validationSplit: 0.25, seed: 3 },
    inputs: { exclude: ['id'] },
    tasks: [
      { name: 'churned', kind: 'binary', positive: 'yes', auxiliary: true },
      { name: 'spend', kind: 'regression' },
      { name: 'visits', kind: 'regression', metrics: ['mae'] },
    ],
    model: { trunk: [{ type: 'dense', units: 8, activation: 'relu' }] },
    training: { epochs: 1, batchSize: 32, optimizer: { kind: 'adamw', lr: 0.01 }, weights: { churned: 0.5, spend: 1, visits: 2 } },
  };
}

// churned ↔ spend help each other; visits is hurt by both and hurts both.
const MATRIX = [
  [0, 0.3, -0.2],
  [0.4, 0, -0.1],
  [-0.3, -0.2, 0],
];

function writeJson(file: string, value: unknown): string {
  fs.writeFileSync(file, JSON.stringify(value));
  return file;
}

describe('hydranet group', function () {
  this.timeout(120_000);

  it('prints the groups and writes one run file per group that the loader accepts and train --config trains', async () => {
    const dir = tmpDir();
    const config = writeRunFile(dir, threeTaskRun());
    const affinity = writeJson(path.join(dir, 'affinity.json'), { tasks: ['churned', 'spend', 'visits'], matrix: MATRIX });
    const out = path.join(dir, 'groups');
    const r = runCli('group', affinity, '--max-groups', '2', '--config', config, '--out-dir', out);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^2 groups \(exact search, at most 2, a partition; score: mean affinity onto each task from its group; objective 0\.2333\):$/m);
    assert.match(r.stdout, /^ {2}group 1: churned, spend {2}\(churned 0\.4000, spend 0\.3000\)$/m);
    assert.match(r.stdout, /^ {2}group 2: visits {2}\(visits 0\.0000\)$/m);
    const groups = JSON.parse(fs.readFileSync(path.join(out, 'groups.json'), 'utf8')) as { groups: { tasks: string[] }[] };
    assert.deepEqual(groups.groups.map((g) => g.tasks), [['churned', 'spend'], ['visits']]);

    const first = path.join(out, 'group-1.json');
    const second = path.join(out, 'group-2.json');
    const one = readRunConfig(first);
    assert.deepEqual(one.tasks, [{ name: 'churned', kind: 'binary', positive: 'yes', auxiliary: true }, { name: 'spend', kind: 'regression' }]);
    assert.deepEqual(one.training?.weights, { churned: 0.5, spend: 1 });
    assert.deepEqual(one.inputs, { exclude: ['id', 'visits'] }, "visits' labels stay out of the inferred inputs");
    assert.deepEqual(one.model, threeTaskRun().model);
    const loaded = await prepareConfigRun(first, {});
    assert.deepEqual(loaded.model.tasks.map((t) => t.name), ['churned', 'spend']);
    assert.ok(!loaded.data.fitted.featureNames.some((f) => f.startsWith('visits')), loaded.data.fitted.featureNames.join(','));
    assert.equal(loaded.data.train.length, 180, 'the data path, rewritten relative to the group folder, reads the same rows');
    const two = await prepareConfigRun(second, {});
    assert.deepEqual(two.model.tasks.map((t) => t.name), ['visits']);
    assert.deepEqual(two.trainer.weights, { visits: 2 });
    assert.ok(!two.data.fitted.featureNames.some((f) => f.startsWith('spend') || f.startsWith('churned')), two.data.fitted.featureNames.join(','));

    const trained = runCli('train', '--config', second, '--backend', backend, '--out', path.join(dir, 'run2'), '--no-progress');
    assert.equal(trained.status, 0, trained.stderr);
    assert.match(trained.stdout, /visits/);
  });

  it("reads the affinity probe's report, allows overlap, and writes preset group files", () => {
    const dir = tmpDir();
    // left → right and left → parity help; right ↔ parity hurt each other: overlap puts left in both groups.
    const report = {
      tasks: ['left', 'right', 'parity'],
      method: 'all',
      mean: { probes: 4, lookahead: [[0, 0.5, 0.5], [0.1, 0, -1], [0.15, -1, 0]], cosine: [[1, 0, 0], [0, 1, 0], [0, 0, 1]] },
    };
    const affinity = writeJson(path.join(dir, 'affinity.json'), report);
    const out = path.join(dir, 'g');
    const r = runCli('group', '--max-groups', '2', affinity, '--overlap', '--out-dir', out);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /overlap allowed; score: mean lookahead affinity/);
    assert.match(r.stdout, /group 1: left, right .*\n {2}group 2: left, parity/);
    assert.ok(!fs.existsSync(path.join(out, 'group-1.json')), 'no run files without --config or --preset');
    assert.ok(fs.existsSync(path.join(out, 'groups.json')));

    const two = writeJson(path.join(dir, 'two.json'), { tasks: ['left', 'right'], matrix: [[0, 0.1], [0.2, 0]] });
    const p = runCli('group', two, '--max-groups', '2', '--preset', 'multimnist-mlp', '--out-dir', out);
    assert.equal(p.status, 0, p.stderr);
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(out, 'group-1.json'), 'utf8')), { preset: 'multimnist-mlp', tasks: ['left', 'right'] });
    assert.match(p.stdout, /train --config takes no presets yet/);
  });

  it('refuses bad command lines and mismatched tasks with status 2, writing nothing', () => {
    const dir = tmpDir();
    const affinity = writeJson(path.join(dir, 'a.json'), { tasks: ['churned', 'spend', 'visits'], matrix: MATRIX });
    const out = path.join(dir, 'never');
    const cases: [string[], RegExp][] = [
      [[affinity], /needs --max-groups/],
      [['--max-groups', '2'], /needs an affinity file/],
      [[affinity, '--max-groups', '0'], /--max-groups expects an integer >= 1/],
      [[affinity, '--max-groups', '2', '--method', 'greedy'], /--method expects auto, exact or beam/],
      [[path.join(dir, 'missing.json'), '--max-groups', '2'], /Cannot read the affinity file .*missing\.json: no such file/],
      [[affinity, '--max-groups', '2', '--measure', 'cosine'], /applies to an affinity report/],
      [[affinity, '--max-groups', '2', '--preset', 'multimnist-mlp', '--out-dir', out], /tasks that preset multimnist-mlp does not: churned, spend, visits/],
    ];
    const run = threeTaskRun();
    run.tasks = (run.tasks as unknown[]).slice(0, 2);
    cases.push([[affinity, '--max-groups', '2', '--config', writeRunFile(dir, run), '--out-dir', out], /tasks that .*run\.json does not: visits/]);
    for (const [args, message] of cases) {
      const r = runCli('group', ...args);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message, args.join(' '));
    }
    assert.ok(!fs.existsSync(out));
  });
});
