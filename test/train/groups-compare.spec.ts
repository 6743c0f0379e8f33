/**
 * compareGroups: groupings against all tasks in one network and the single-task baselines, on a
 * tiny synthetic problem (reference backend): metrics from each task's group, singletons reuse
 * the baselines, groups without a main task are not trained, a group shared by two groupings
 * trains once, Δm as deltaM() computes it, bad groupings refused before anything trains.
 */
import assert from 'node:assert/strict';
import { ReferenceBackend } from '../../ts/backends/reference.js';
import { Rng } from '../../ts/core/random.js';
import { MultiTaskDataset } from '../../ts/data/dataset.js';
import { ConfigError } from '../../ts/errors.js';
import type { ModelConfig } from '../../ts/mtl/model.js';
import { deltaM } from '../../ts/train/compare.js';
import { type GroupsCompareOptions, compareGroups, formatGroupsComparison } from '../../ts/train/groups-compare.js';

function makeSet(n: number, seed: number): MultiTaskDataset {
  const rng = new Rng(seed);
  const inputs = new Float32Array(n * 4);
  const a = new Float32Array(n);
  const b = new Float32Array(n);
  const noise = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < 4; k++) inputs[i * 4 + k] = rng.normal();
    a[i] = inputs[i * 4] > 0 ? 1 : 0;
    b[i] = inputs[i * 4] + inputs[i * 4 + 1] > 0 ? 1 : 0;
    noise[i] = rng.int(2);
  }
  return new MultiTaskDataset({ inputs, inputShape: [4], labels: { a, b, noise } });
}

const model: ModelConfig = {
  inputShape: [4],
  trunk: [{ type: 'dense', units: 8, activation: 'relu' }],
  tasks: [
    { name: 'a', kind: 'classification', classes: 2 },
    { name: 'b', kind: 'classification', classes: 2 },
    { name: 'noise', kind: 'classification', classes: 2, auxiliary: true },
  ],
  maxBatch: 32,
  seed: 1,
};

describe('compareGroups', () => {
  const options: Omit<GroupsCompareOptions, 'groupings'> = {
    backend: new ReferenceBackend(),
    train: makeSet(256, 1),
    validation: makeSet(128, 2),
    model,
    trainer: { optimizer: { kind: 'sgd', lr: 0.1, momentum: 0.9 }, batchSize: 32, epochs: 2, seed: 1 },
  };

  it('trains each grouping from its groups and reports Δm over the baselines', async () => {
    const r = await compareGroups({
      ...options,
      groupings: [
        { label: 'pair', groups: [['a', 'b'], ['noise']] },
        { label: 'noisy pair', groups: [{ tasks: ['a'] }, { tasks: ['b', 'noise'] }] },
        { label: 'overlap', groups: [['a', 'b'], ['b', 'noise']], assignment: { a: { group: 0 }, b: { group: 1 }, noise: { group: 1 } } },
      ],
    });
    assert.deepEqual(r.tasks, ['a', 'b']);
    const [pair, noisy, overlap] = r.groupings;
    assert.deepEqual(pair.networks.map((n) => n.source), ['trained', 'skipped']);
    assert.equal(pair.networkCount, 1);
    assert.deepEqual(noisy.networks.map((n) => n.source), ['baseline', 'trained']);
    assert.deepEqual(noisy.metrics.a, r.baselines.a, 'a singleton is its baseline');
    assert.ok('noise' in noisy.metrics, 'auxiliary metrics are reported');
    // [a, b] trained once for both groupings; b's metrics come from its assigned group.
    assert.equal(overlap.networks[0].run, pair.networks[0].run);
    assert.equal(overlap.networks[1].run, noisy.networks[1].run);
    assert.deepEqual(overlap.metrics.a, pair.metrics.a);
    assert.deepEqual(overlap.metrics.b, noisy.metrics.b);
    for (const g of r.groupings) assert.ok(Math.abs(g.deltaM - deltaM(r.baselines, g.metrics)) < 1e-12, g.label);
    assert.ok(Math.abs(r.all.deltaM - deltaM(r.baselines, r.all.metrics)) < 1e-12);
    const table = formatGroupsComparison(r, ['a', 'b', 'noise']);
    assert.match(table, /^configuration +a +b +noise\* +Δm +networks +time$/m);
    assert.match(table, /^noisy pair: \[a\] \[b,noise\] +[\d.]+% +[\d.]+% +[\d.]+% +[+-][\d.]+% +2 /m);
  });

  it('refuses bad groupings before training', async () => {
    const bad: [GroupsCompareOptions['groupings'], RegExp][] = [
      [[{ label: 'x', groups: [['a', 'c'], ['b', 'noise']] }], /names tasks the model lacks: c/],
      [[{ label: 'x', groups: [['a', 'b']] }], /no group holds task noise/],
      [[{ label: 'x', groups: [['a', 'b', 'noise']], assignment: { a: { group: 1 } } }], /assigned to group 1/],
      [[{ label: 'all tasks', groups: [['a', 'b', 'noise']] }], ConfigError as unknown as RegExp],
    ];
    for (const [groupings, message] of bad) await assert.rejects(compareGroups({ ...options, groupings }), message);
  });
});
