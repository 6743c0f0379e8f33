// MNIST under label noise (issue 18): plain CE, the noise-robust losses and co-teaching, in the
// same script with the same data, model, optimizer and seeds.
//
//   node bench/noise/mnist-robust-losses.mjs EPOCHS NOISE RATE METHOD [METHOD ...] [--gradual 10] [--threads 1]
//   e.g. node bench/noise/mnist-robust-losses.mjs 10 symmetric 0.5 softmax-ce gce coteaching
//
// NOISE: symmetric | pairflip (injectLabelNoise, seed 1; the realised rate is printed).
// METHOD: a loss name ('softmax-ce', 'gce', 'sce', 'bootstrap-soft', 'bootstrap-hard',
// 'label-smoothing', with parameters as 'gce:q=0.7'), or 'coteaching' (two peers, seeds 1 and 2,
// softmax-ce, forget rate = RATE as in their code, T_k = --gradual epochs).
// Model: MLP 784→256→ReLU→256→ReLU→10, AdamW lr 1e-3 (no weight decay), batch 128, cpu backend
// (--threads, default 1), trained on the 60k training images with corrupted labels; the clean 10k
// test accuracy after every epoch (co-teaching: both peers'). Co-teaching's own protocol (their
// code, bhanML/Co-teaching): a 9-layer CNN, Adam lr 1e-3 with a linear decay from epoch 80, 200
// epochs; ours is an MLP for EPOCHS epochs without decay (see the README for the gap).
import { CoTeaching, createBackend, injectLabelNoise, loadMnist, MultiTaskDataset, MultiTaskModel, Trainer } from '../../dist/ts/index.js';
import { parseArgs } from './args.mjs';

const { flags, positional } = parseArgs();
const [epochsArg, type, rateArg, ...methods] = positional;
const epochs = Number(epochsArg);
const rate = Number(rateArg);
if (!(epochs >= 1) || !['symmetric', 'pairflip'].includes(type) || !(rate >= 0 && rate <= 1) || methods.length === 0) {
  console.error('usage: node bench/noise/mnist-robust-losses.mjs EPOCHS symmetric|pairflip RATE METHOD [METHOD ...] [--gradual 10] [--threads 1]');
  process.exit(2);
}
const gradual = Number(flags.gradual ?? 10);
const threads = Number(flags.threads ?? 1);

function dataset(split) {
  const m = loadMnist(split);
  const inputs = new Float32Array(m.images.length);
  for (let i = 0; i < inputs.length; i++) inputs[i] = m.images[i] / 255;
  return new MultiTaskDataset({ inputs, inputShape: [784], labels: { digit: Float32Array.from(m.labels) } });
}
const train = dataset('train');
const test = dataset('test');
const noisy = injectLabelNoise(train, { task: 'digit', type, rate, seed: 1 });
console.log(`${type} ${rate}: realised noise rate ${noisy.rate.toFixed(4)} (${noisy.flipped} of ${noisy.labelled})`);
const be = await createBackend('cpu', { threads });
const optimizer = { kind: 'adamw', lr: 0.001, weightDecay: 0 };
const model = (loss, seed) =>
  new MultiTaskModel(be, {
    inputShape: [784],
    trunk: [{ type: 'dense', units: 256, activation: 'relu' }, { type: 'dense', units: 256, activation: 'relu' }],
    tasks: [{ name: 'digit', kind: 'classification', classes: 10, loss }],
    maxBatch: 128,
    seed,
  });
const pct = (a) => (100 * a).toFixed(2);
const summary = (accs) => `last ${pct(accs.at(-1))} best ${pct(Math.max(...accs))}`;

for (const method of methods) {
  const t0 = Date.now();
  if (method === 'coteaching') {
    const ct = new CoTeaching([model('softmax-ce', 1), model('softmax-ce', 2)], {
      task: 'digit', forgetRate: rate, gradual, optimizer, batchSize: 128, epochs, seed: 1, corrupted: noisy.corrupted,
    });
    const history = await ct.fit(noisy.dataset, { validation: test });
    const peer = (p) => history.map((r) => r.validation[p].digit.accuracy);
    console.log(
      `${type} ${rate} coteaching (r ${rate}, T_k ${gradual}): clean test accuracy per epoch, peer A ${peer(0).map(pct).join(' ')}; ` +
        `peer B ${peer(1).map(pct).join(' ')}; clean share of the kept samples (A) ${history.map((r) => pct(r.cleanShare[0])).join(' ')}; ` +
        `A ${summary(peer(0))}, B ${summary(peer(1))} (${((Date.now() - t0) / 1000).toFixed(0)} s)`,
    );
    continue;
  }
  const m = model(method, 1);
  const trainer = new Trainer(m, { optimizer, batchSize: 128, epochs, seed: 1, log: null, progress: false });
  const accs = [];
  for (let e = 1; e <= epochs; e++) {
    await trainer.fit(noisy.dataset, { epochs: e });
    accs.push((await trainer.evaluate(test)).digit.accuracy);
  }
  console.log(`${type} ${rate} ${m.tasks[0].loss}: clean test accuracy per epoch ${accs.map(pct).join(' ')}; ${summary(accs)} (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
}
