/**
 * The multi-task case of issue 19: a MultiMNIST network trained on left/right gets a third task,
 * sum-mod10 (the sum of the two digits mod 10), with each retention strategy, against training
 * all three tasks jointly from scratch with the same number of steps.
 *
 *   node dist/bench/continual/multimnist-third-task.js [--seeds 1] [--train-size 10000]
 *       [--test-size 5000] [--epochs 5] [--strategies none,replay,ewc,freeze-trunk,lwf,joint]
 *       [--lambdas 1,10,100,1000] [--fisher-samples 1000] [--replay-sizes 1000] [--backend cpu]
 *       [--json out.json]
 *
 * The model is the multimnist-mlp preset's (784→512→256 ReLU, linear heads; SGD lr 0.05,
 * momentum 0.9, batch 256). Stage 0: left and right on `train-size` pairs (pairing seed s) for
 * `epochs` epochs. Stage 1 (trainExtension, as `hydranet extend`): sum-mod10 on `train-size`
 * OTHER pairs (pairing seed s + 100), labelled for sum-mod10 only, for `epochs` epochs, a fresh
 * optimizer; replay keeps a buffer of `replay-sizes` stage-0 pairs (one run per size) with their
 * left/right labels and trains every step on a batch of new pairs plus a batch of as many drawn
 * from the buffer (ReplayStager); EWC takes the
 * exact Fisher of left/right at the end of stage 0 on `fisher-samples` stage-0 pairs, one run per
 * λ of --lambdas (a run that diverges is reported as such); freeze-trunk trains the heads only;
 * lwf (Li & Hoiem 2016, trainStages' prepareLwf: T 2, α 1) distils left/right's outputs on the
 * stage-1 pairs. Joint: a fresh model of the three tasks
 * trained for `epochs` epochs on both sets together (stage-0 pairs with their left/right labels,
 * stage-1 pairs with their sum-mod10 labels): the same labels and the same number of steps as
 * the two stages. Every task is evaluated on the first `test-size` test pairs.
 */
import * as fs from 'node:fs';
import { createBackend } from '../../ts/backends/create.js';
import { trainExtension } from '../../ts/cli-extend.js';
import { makeMultiMnist, multiMnistTaskSpecs } from '../../ts/data/multimnist.js';
import { ReplayBuffer, labelledFor, withReplay } from '../../ts/data/replay.js';
import { NonFiniteLossError } from '../../ts/errors.js';
import { MultiTaskModel } from '../../ts/mtl/model.js';
import type { RetainConfig } from '../../ts/train/continual.js';
import { PRESETS } from '../../ts/train/presets.js';
import { Trainer, type TrainerConfig } from '../../ts/train/trainer.js';
import { arg } from './common.js';

const seeds = arg('seeds', '1').split(',').map(Number);
const trainSize = Number(arg('train-size', '10000'));
const testSize = Number(arg('test-size', '5000'));
const epochs = Number(arg('epochs', '5'));
const strategies = arg('strategies', 'none,replay,ewc,freeze-trunk,lwf,joint').split(',');
const lambdas = arg('lambdas', '1,10,100,1000').split(',').map(Number);
const fisherSamples = Number(arg('fisher-samples', '1000'));
const replaySizes = arg('replay-sizes', '1000').split(',').map(Number);
const json = arg('json', '');
const preset = PRESETS['multimnist-mlp'];
const backend = await createBackend(arg('backend', 'cpu'));

interface Row {
  seed: number;
  strategy: string;
  /** Accuracies after stage 0 (null for joint). */
  leftBefore: number | null;
  rightBefore: number | null;
  left: number;
  right: number;
  sum: number;
  seconds: number;
}
const rows: Row[] = [];
const pct = (v: number | null): string => (v === null ? '–' : (100 * v).toFixed(2));

for (const seed of seeds) {
  const tasks = ['left', 'right', 'sum-mod10'] as const;
  const stage0 = makeMultiMnist({ split: 'train', seed, count: trainSize, tasks: [...tasks] });
  const stage1 = makeMultiMnist({ split: 'train', seed: seed + 100, count: trainSize, tasks: [...tasks] });
  const test = makeMultiMnist({ split: 'test', seed: seed + 1, count: testSize, tasks: [...tasks] });
  const [leftRight, sum] = [multiMnistTaskSpecs(['left', 'right']), multiMnistTaskSpecs(['sum-mod10'])];
  const trainer: TrainerConfig = { optimizer: preset.optimizer, batchSize: preset.batchSize, epochs, seed, progress: false, log: null };
  const build = (specs: typeof leftRight): MultiTaskModel =>
    new MultiTaskModel(backend, { inputShape: preset.inputShape, trunk: preset.trunk, heads: preset.heads, tasks: specs, maxBatch: preset.batchSize, seed });

  let t0 = performance.now();
  const old = build(leftRight);
  const oldTrainer = new Trainer(old, trainer);
  await oldTrainer.fit(labelledFor(stage0, old.tasks));
  const base = await oldTrainer.evaluate(labelledFor(test, old.tasks));
  const stage0Seconds = (performance.now() - t0) / 1000;
  console.log(`seed ${seed}: after stage 0 (${stage0Seconds.toFixed(1)} s) left ${pct(base.left.accuracy!)} %, right ${pct(base.right.accuracy!)} %`);

  const retains: [string, RetainConfig][] = [];
  for (const s of strategies) {
    if (s === 'ewc') for (const lambda of lambdas) retains.push([`ewc λ ${lambda}`, { kind: 'ewc', lambda, fisher: 'exact', samples: fisherSamples, seed }]);
    else if (s === 'replay') for (const size of replaySizes) retains.push([`replay ${size}`, { kind: 'replay', size, seed }]);
    else if (s === 'none' || s === 'freeze-trunk') retains.push([s, { kind: s }]);
    else if (s === 'lwf') retains.push(['lwf T 2, α 1', { kind: 'lwf', temperature: 2, alpha: 1 }]);
  }
  for (const [name, retain] of retains) {
    t0 = performance.now();
    let after;
    try {
      ({ after } = await trainExtension({ model: old, tasks: sum, train: stage1, validation: test, previous: { train: stage0 }, retain, trainer }));
    } catch (e) {
      if (!(e instanceof NonFiniteLossError)) throw e;
      console.log(`  ${name}: diverged (${e.message.split('.')[0]})`);
      rows.push({ seed, strategy: name, leftBefore: base.left.accuracy!, rightBefore: base.right.accuracy!, left: NaN, right: NaN, sum: NaN, seconds: (performance.now() - t0) / 1000 + stage0Seconds });
      continue;
    }
    rows.push({
      seed, strategy: name, leftBefore: base.left.accuracy!, rightBefore: base.right.accuracy!,
      left: after.left.accuracy!, right: after.right.accuracy!, sum: after['sum-mod10'].accuracy!, seconds: (performance.now() - t0) / 1000 + stage0Seconds,
    });
    console.log(`  ${name}: left ${pct(after.left.accuracy!)}, right ${pct(after.right.accuracy!)}, sum-mod10 ${pct(after['sum-mod10'].accuracy!)} (${rows.at(-1)!.seconds.toFixed(1)} s with stage 0)`);
  }
  if (strategies.includes('joint')) {
    t0 = performance.now();
    const joint = build([...leftRight, ...sum]);
    // Both stages' samples, each with its own stage's labels: a replay buffer holding all of stage 0.
    const buffer = new ReplayBuffer(stage0.length, 0);
    buffer.add(stage0, joint.tasks.slice(0, 2));
    const jointTrainer = new Trainer(joint, trainer);
    await jointTrainer.fit(withReplay(labelledFor(stage1, joint.tasks.slice(2)), buffer, joint.tasks));
    const m = await jointTrainer.evaluate(labelledFor(test, joint.tasks));
    rows.push({ seed, strategy: 'joint', leftBefore: null, rightBefore: null, left: m.left.accuracy!, right: m.right.accuracy!, sum: m['sum-mod10'].accuracy!, seconds: (performance.now() - t0) / 1000 });
    console.log(`  joint: left ${pct(m.left.accuracy!)}, right ${pct(m.right.accuracy!)}, sum-mod10 ${pct(m['sum-mod10'].accuracy!)} (${rows.at(-1)!.seconds.toFixed(1)} s)`);
  }
}
backend.dispose();

// The table: mean over seeds (± sample sd with several), drops in percentage points against stage 0.
const names = [...new Set(rows.map((r) => r.strategy))];
const stat = (xs: number[]): string => {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  if (xs.length < 2) return m.toFixed(2);
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1));
  return `${m.toFixed(2)} ± ${sd.toFixed(2)}`;
};
console.log(`\nMultiMNIST, ${trainSize} pairs per stage, ${epochs} epochs per stage, ${testSize} test pairs, seeds ${seeds.join(', ')}; changes in pp against the model after stage 0 (negative: forgetting)`);
console.log('| strategy | left % | right % | left change pp | right change pp | sum-mod10 % | seconds |');
console.log('|---|---|---|---|---|---|---|');
for (const n of names) {
  const rs = rows.filter((r) => r.strategy === n);
  const drop = (k: 'left' | 'right'): string => (rs[0][`${k}Before`] === null ? '–' : stat(rs.map((r) => 100 * (r[k] - r[`${k}Before`]!))));
  console.log(`| ${n} | ${stat(rs.map((r) => 100 * r.left))} | ${stat(rs.map((r) => 100 * r.right))} | ${drop('left')} | ${drop('right')} | ${stat(rs.map((r) => 100 * r.sum))} | ${rs.map((r) => r.seconds.toFixed(0)).join(', ')} |`);
}
if (json) fs.writeFileSync(json, `${JSON.stringify({ trainSize, testSize, epochs, seeds, lambdas, fisherSamples, replaySizes, rows }, null, 2)}\n`);
