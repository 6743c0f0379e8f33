/**
 * `node dist/bench/affinity/groups.js --affinity FILE [--max-groups 2,3] [--worst] [--seeds 1] [--epochs N]
 *   [--train-size N] [--test-size N] [--budget N] [--no-transfer] [--no-groups] [--out FILE]`:
 * issue 17's proof of use on MultiMNIST (preset multimnist-affinity: MultiLeNet, tasks left,
 * right, left-parity, sum-mod10, noise; the noise task is marked auxiliary, so it trains where
 * its group puts it but is left out of Δm and of model selection). For each seed: the groups
 * selectGroups proposes from the affinity file (no overlap, and with overlap when that differs)
 * for each --max-groups, trained with compareGroups against all tasks in one network and each
 * task alone, same budget per network; then the Taskonomy-style transferability table on the
 * same tasks (source networks on the training subset, heads fitted on --budget labels).
 * With --worst, also the partitions the affinities rate worst (the search on the negated
 * matrix), as a control. Writes everything as JSON to --out.
 */
import * as fs from 'node:fs';
import { parseArgs } from 'node:util';
import { createBackend } from '../../ts/backends/create.js';
import { type MultiMnistTask, makeMultiMnist, multiMnistTaskSpecs } from '../../ts/data/multimnist.js';
import { type Grouping, selectGroups } from '../../ts/mtl/grouping.js';
import type { ModelConfig } from '../../ts/mtl/model.js';
import { type GroupingCandidate, compareGroups, formatGroupsComparison } from '../../ts/train/groups-compare.js';
import { PRESETS } from '../../ts/train/presets.js';
import { formatTransfer, transferability } from '../../ts/train/transfer.js';

const { values } = parseArgs({
  options: {
    affinity: { type: 'string' },
    measure: { type: 'string' },
    'max-groups': { type: 'string', default: '2,3' },
    seeds: { type: 'string', default: '1' },
    epochs: { type: 'string' },
    'train-size': { type: 'string' },
    'test-size': { type: 'string' },
    budget: { type: 'string', default: '500' },
    'head-epochs': { type: 'string', default: '10' },
    transfer: { type: 'boolean', default: true },
    groups: { type: 'boolean', default: true },
    worst: { type: 'boolean', default: false },
    threads: { type: 'string' },
    out: { type: 'string', default: 'groups-proof.json' },
  },
  allowNegative: true,
});

const preset = PRESETS['multimnist-affinity'];
const tasks = [...(preset.tasks ?? [])] as MultiMnistTask[];
const epochs = Number(values.epochs ?? preset.epochs);
const trainSize = Number(values['train-size'] ?? preset.trainSize ?? 6000);
const testSize = Number(values['test-size'] ?? preset.testSize ?? 2000);
const seeds = values.seeds!.split(',').map(Number);
const backend = await createBackend('cpu', { threads: values.threads === undefined ? undefined : Number(values.threads) });
const log = (line: string): void => console.log(`  ${line}`);
const report: Record<string, unknown> = {
  settings: { preset: 'multimnist-affinity', tasks, epochs, trainSize, testSize, seeds, batchSize: preset.batchSize, optimizer: preset.optimizer, affinity: values.affinity, measure: values.measure },
  seeds: [] as unknown[],
};

let groupings: GroupingCandidate[] = [];
if (values.groups) {
  if (!values.affinity) throw new Error('--affinity FILE is needed for the groups (or --no-groups)');
  const affinity = JSON.parse(fs.readFileSync(values.affinity, 'utf8')) as never;
  const seen = new Set<string>();
  const chosen: (Grouping & { label: string })[] = [];
  for (const k of values['max-groups']!.split(',').map(Number)) {
    for (const overlap of [false, true]) {
      const g = selectGroups(affinity, { maxGroups: k, overlap, measure: values.measure });
      const key = JSON.stringify(g.groups.map((x) => x.tasks));
      console.log(`max ${k} groups${overlap ? ', overlap' : ''}: ${g.groups.map((x) => `[${x.tasks.join(', ')}]`).join(' ')} (objective ${g.total.toFixed(4)}, ${g.measure ?? 'matrix'})`);
      if (seen.has(key)) continue;
      seen.add(key);
      chosen.push({ ...g, label: `TAG k=${k}${overlap ? ' overlap' : ''}` });
    }
  }
  if (values.worst) {
    // A control: the partition the affinities rate worst (the search on the negated matrix).
    const a = affinity as { tasks: string[]; matrix?: number[][]; mean?: number[][] | Record<string, number[][]> };
    const m = a.matrix ?? (Array.isArray(a.mean) ? a.mean : a.mean![values.measure ?? 'lookahead']);
    const negated = { tasks: a.tasks, matrix: m.map((row) => row.map((v) => -v)) };
    for (const k of values['max-groups']!.split(',').map(Number)) {
      const g = selectGroups(negated, { maxGroups: k });
      const key = JSON.stringify(g.groups.map((x) => x.tasks));
      console.log(`worst partition into at most ${k} groups: ${g.groups.map((x) => `[${x.tasks.join(', ')}]`).join(' ')} (objective ${(-g.total).toFixed(4)})`);
      if (seen.has(key)) continue;
      seen.add(key);
      chosen.push({ ...g, total: -g.total, label: `worst k=${k}` });
    }
  }
  groupings = chosen;
  report.groupings = chosen;
}

for (const seed of seeds) {
  const train = makeMultiMnist({ split: 'train', seed, count: trainSize, tasks });
  const validation = makeMultiMnist({ split: 'test', seed: seed + 1, count: testSize, tasks });
  const model: ModelConfig = {
    inputShape: preset.inputShape,
    trunk: preset.trunk,
    heads: preset.heads,
    tasks: multiMnistTaskSpecs(tasks).map((t) => (t.name === 'noise' ? { ...t, auxiliary: true } : t)),
    maxBatch: preset.batchSize,
    seed,
  };
  const trainer = { optimizer: preset.optimizer, batchSize: preset.batchSize, epochs, seed, progress: false };
  const entry: Record<string, unknown> = { seed };
  if (values.groups) {
    console.log(`seed ${seed}: groups vs all tasks vs single-task, ${trainSize} training / ${testSize} test pairs, ${epochs} epochs per network`);
    const t0 = performance.now();
    const result = await compareGroups({ backend, train, validation, model, trainer, groupings, log });
    console.log(formatGroupsComparison(result, tasks));
    console.log(`  (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
    entry.groups = {
      baselines: result.baselines,
      all: { metrics: result.all.metrics, deltaM: result.all.deltaM, seconds: result.all.seconds, epoch: result.all.epoch },
      groupings: result.groupings.map((g) => ({ label: g.label, groups: g.groups, metrics: g.metrics, deltaM: g.deltaM, networks: g.networkCount, seconds: g.seconds })),
      table: formatGroupsComparison(result, tasks),
    };
  }
  if (values.transfer) {
    const budget = Number(values.budget);
    console.log(`seed ${seed}: transferability, sources ${epochs} epochs on ${trainSize} pairs, heads ${values['head-epochs']} epochs on ${budget} labelled pairs`);
    const t0 = performance.now();
    const t = await transferability({
      backend,
      train,
      validation,
      model: { ...model, tasks: multiMnistTaskSpecs(tasks) },
      source: { optimizer: preset.optimizer, batchSize: preset.batchSize, epochs },
      target: { optimizer: preset.optimizer, batchSize: 50, epochs: Number(values['head-epochs']) },
      budget,
      scratch: true,
      seed,
      log,
    });
    console.log(formatTransfer(t));
    console.log(`  (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
    entry.transfer = t;
  }
  (report.seeds as unknown[]).push(entry);
  fs.writeFileSync(values.out!, JSON.stringify(report, null, 2) + '\n');
}
backend.dispose();
console.log(`wrote ${values.out}`);
