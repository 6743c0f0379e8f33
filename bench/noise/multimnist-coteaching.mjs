// MultiMNIST with noisy labels on one task (issue 18, the multi-task case): symmetric or
// pair-flip noise on `left` only, `right` clean; the two tasks trained together with
// cross-entropy, the two tasks with left trained by GCE (q 0.7), the two tasks with co-teaching
// on `left` (right trains on all its samples), and `left` trained alone.
//
//   node bench/noise/multimnist-coteaching.mjs EPOCHS RATE METHOD [METHOD ...] [--type symmetric|pairflip] [--gradual 10] [--threads 1]
//   e.g. node bench/noise/multimnist-coteaching.mjs 20 0.5 ce gce coteaching left-alone
//
// METHOD: ce | gce | coteaching | left-alone. Model: the multimnist-mlp preset's hard-sharing MLP
// 784→512→256 with linear heads, AdamW lr 1e-3 (no weight decay), batch 128, cpu backend; the
// 60k training pairs with `left` corrupted (injectLabelNoise, seed 1), clean test accuracy of
// both tasks after every epoch (co-teaching: peer A's; forget rate = RATE, T_k = --gradual).
import { CoTeaching, createBackend, injectLabelNoise, makeMultiMnist, MultiTaskModel, Trainer } from '../../dist/ts/index.js';
import { parseArgs } from './args.mjs';

const { flags, positional } = parseArgs();
const [epochsArg, rateArg, ...methods] = positional;
const epochs = Number(epochsArg);
const rate = Number(rateArg);
if (!(epochs >= 1) || !(rate >= 0 && rate <= 1) || methods.length === 0 || methods.some((m) => !['ce', 'gce', 'coteaching', 'left-alone'].includes(m)) || !['symmetric', 'pairflip'].includes(flags.type ?? 'symmetric')) {
  console.error('usage: node bench/noise/multimnist-coteaching.mjs EPOCHS RATE ce|gce|coteaching|left-alone ... [--type symmetric|pairflip] [--gradual 10] [--threads 1]');
  process.exit(2);
}
const gradual = Number(flags.gradual ?? 10);
const type = flags.type ?? 'symmetric';
const be = await createBackend('cpu', { threads: Number(flags.threads ?? 1) });
const optimizer = { kind: 'adamw', lr: 0.001, weightDecay: 0 };
const pct = (a) => (100 * a).toFixed(2);
const data = (tasks) => {
  const train = makeMultiMnist({ split: 'train', tasks });
  const noisy = injectLabelNoise(train, { task: 'left', type, rate, seed: 1 });
  return { noisy, test: makeMultiMnist({ split: 'test', tasks }) };
};
const model = (tasks, seed, leftLoss) =>
  new MultiTaskModel(be, {
    inputShape: [28, 28],
    trunk: [{ type: 'dense', units: 512, activation: 'relu' }, { type: 'dense', units: 256, activation: 'relu' }],
    heads: { hidden: [] },
    tasks: tasks.map((name) => ({ name, kind: 'classification', classes: 10, ...(name === 'left' && leftLoss ? { loss: leftLoss } : {}) })),
    maxBatch: 128,
    seed,
  });
const line = (what, perEpoch, tasks, t0) =>
  console.log(
    `${type} ${rate} on left, ${what}: ` +
      tasks.map((t) => `${t} per epoch ${perEpoch.map((v) => pct(v[t].accuracy)).join(' ')} (last ${pct(perEpoch.at(-1)[t].accuracy)} best ${pct(Math.max(...perEpoch.map((v) => v[t].accuracy)))})`).join('; ') +
      ` (${((Date.now() - t0) / 1000).toFixed(0)} s)`,
  );

const both = data(['left', 'right']);
console.log(`left: realised noise rate ${both.noisy.rate.toFixed(4)} (${both.noisy.flipped} of ${both.noisy.labelled}); right clean`);
for (const method of methods) {
  const t0 = Date.now();
  if (method === 'coteaching') {
    const ct = new CoTeaching([model(['left', 'right'], 1), model(['left', 'right'], 2)], {
      task: 'left', forgetRate: rate, gradual, optimizer, batchSize: 128, epochs, seed: 1, corrupted: both.noisy.corrupted,
    });
    const history = await ct.fit(both.noisy.dataset, { validation: both.test });
    line(`co-teaching on left (r ${rate}, T_k ${gradual}), peer A`, history.map((r) => r.validation[0]), ['left', 'right'], t0);
    console.log(`  clean share of the kept left samples (A) ${history.map((r) => pct(r.cleanShare[0])).join(' ')}`);
    continue;
  }
  const tasks = method === 'left-alone' ? ['left'] : ['left', 'right'];
  const { noisy, test } = method === 'left-alone' ? data(tasks) : both;
  const trainer = new Trainer(model(tasks, 1, method === 'gce' ? 'gce:q=0.7' : undefined), { optimizer, batchSize: 128, epochs, seed: 1, log: null, progress: false });
  const perEpoch = [];
  for (let e = 1; e <= epochs; e++) {
    await trainer.fit(noisy.dataset, { epochs: e });
    perEpoch.push(await trainer.evaluate(test));
  }
  line({ ce: 'both tasks, cross-entropy', gce: 'both tasks, left with gce:q=0.7', 'left-alone': 'left alone, cross-entropy' }[method], perEpoch, tasks, t0);
}
