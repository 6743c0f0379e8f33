// Self-supervised auxiliary tasks where clean labels are scarce (issue 18, "Auxiliary tasks
// without labels"): MultiMNIST with LABELLED pairs labelled (left and right) and the rest of the
// POOL unlabelled (both main tasks masked), trained with the main tasks alone, with a
// reconstruction task, or with a rotation task; each for every seed. --noise R adds symmetric
// label noise at rate R to both main tasks' labels (of the labelled pairs only).
//
//   node bench/noise/self-supervised.mjs EPOCHS POOL [--labelled 1000] [--noise 0] [--seeds 1,2,3]
//        [--methods none,reconstruction,rotation] [--model mlp|lenet] [--threads 1] [--test 10000]
//   e.g. node bench/noise/self-supervised.mjs 10 10000
//
// Model (--model): mlp (default), a 784→256→128 ReLU MLP on [28, 28] inputs (seen flattened;
// rotation needs the image shape) with linear heads; lenet, Sener & Koltun's MultiLeNet trunk and
// heads (the multimnist-lenet preset) on [1, 28, 28]. Hard sharing; AdamW lr 1e-3 (no weight decay), batch 128 samples (a rotation
// step stages 256 rows: the 128 unrotated plus each rotated by a seeded quarter-turn), task
// weights 1, cpu backend. The same pool, masks, step count and seeds for every method; the
// figure is the clean test accuracy of left and right (the first --test of the 10k test pairs)
// after the last epoch (no model selection on the test set), plus the rotation head's accuracy
// on rotated test images and the reconstruction MSE where they apply.
import { createBackend, injectLabelNoise, makeMultiMnist, MultiTaskDataset, MultiTaskModel, Trainer } from '../../dist/ts/index.js';
import { PRESETS } from '../../dist/ts/train/presets.js';
import { parseArgs } from './args.mjs';

const { flags, positional } = parseArgs();
const epochs = Number(positional[0]);
const pool = Number(positional[1]);
const labelled = Number(flags.labelled ?? 1000);
const noise = Number(flags.noise ?? 0);
const seeds = String(flags.seeds ?? '1,2,3').split(',').map(Number);
const methods = String(flags.methods ?? 'none,reconstruction,rotation').split(',');
const testCount = Number(flags.test ?? 10000);
const arch = String(flags.model ?? 'mlp');
const ARCH = {
  mlp: { inputShape: [28, 28], trunk: [{ type: 'dense', units: 256, activation: 'relu' }, { type: 'dense', units: 128, activation: 'relu' }], heads: { hidden: [] } },
  lenet: { inputShape: [1, 28, 28], trunk: PRESETS['multimnist-lenet'].trunk, heads: PRESETS['multimnist-lenet'].heads },
}[arch];
if (!(epochs >= 1) || !(pool >= labelled) || !(labelled >= 1) || !(noise >= 0 && noise < 1) || methods.some((m) => !['none', 'reconstruction', 'rotation'].includes(m)) || !ARCH) {
  console.error('usage: node bench/noise/self-supervised.mjs EPOCHS POOL [--labelled 1000] [--noise 0] [--seeds 1,2,3] [--methods none,reconstruction,rotation] [--model mlp|lenet] [--threads 1] [--test 10000]');
  process.exit(2);
}
const be = await createBackend('cpu', { threads: Number(flags.threads ?? 1) });
const pct = (a) => (100 * a).toFixed(2);

/** The pool: the first POOL training pairs, the first LABELLED of them labelled (noisy with --noise). */
function makePool() {
  const full = makeMultiMnist({ split: 'train', count: pool, seed: 1 });
  const mask = new Uint8Array(pool);
  mask.fill(1, 0, labelled);
  let ds = new MultiTaskDataset({
    inputs: full.inputs,
    inputShape: ARCH.inputShape,
    labels: { left: full.labels('left'), right: full.labels('right') },
    masks: { left: mask, right: mask },
  });
  const realised = [];
  if (noise > 0) {
    for (const [i, task] of ['left', 'right'].entries()) {
      const noisy = injectLabelNoise(ds, { task, type: 'symmetric', rate: noise, seed: 10 + i });
      ds = noisy.dataset;
      realised.push(`${task} ${noisy.rate.toFixed(3)} (${noisy.flipped} of ${noisy.labelled})`);
    }
  }
  return { ds, realised };
}

const { ds: train, realised } = makePool();
const testPairs = makeMultiMnist({ split: 'test', count: testCount, seed: 2 });
const test = new MultiTaskDataset({ inputs: testPairs.inputs, inputShape: ARCH.inputShape, labels: { left: testPairs.labels('left'), right: testPairs.labels('right') } });
console.log(
  `${arch}, MultiMNIST: ${labelled} labelled pairs of ${pool} (the rest unlabelled), ${epochs} epochs of ${Math.ceil(pool / 128)} steps, test ${testCount} pairs` +
    (noise > 0 ? `, symmetric noise ${noise} on the labelled pairs: realised ${realised.join(', ')}` : ', clean labels'),
);

const results = {};
for (const method of methods) {
  results[method] = [];
  for (const seed of seeds) {
    const t0 = Date.now();
    const extra = method === 'none' ? [] : [{ name: method === 'rotation' ? 'rot' : 'recon', kind: method }];
    const model = new MultiTaskModel(be, {
      ...ARCH,
      tasks: [{ name: 'left', kind: 'classification', classes: 10 }, { name: 'right', kind: 'classification', classes: 10 }, ...extra],
      maxBatch: 256,
      seed,
    });
    const trainer = new Trainer(model, { optimizer: { kind: 'adamw', lr: 1e-3, weightDecay: 0 }, batchSize: 128, epochs, seed, log: null, progress: false });
    await trainer.fit(train);
    const v = await trainer.evaluate(test);
    const mean = (v.left.accuracy + v.right.accuracy) / 2;
    results[method].push(mean);
    const aux = v.rot ? `, rotation head ${pct(v.rot.accuracy)}% on rotated test images` : v.recon ? `, reconstruction mse ${v.recon.mse.toFixed(4)}` : '';
    console.log(`${method.padEnd(14)} seed ${seed}: left ${pct(v.left.accuracy)}  right ${pct(v.right.accuracy)}  mean ${pct(mean)}${aux}  (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
  }
}
console.log('summary (mean of left and right test accuracy, % over seeds ' + seeds.join(',') + '):');
for (const method of methods) {
  const r = results[method];
  const m = r.reduce((a, b) => a + b, 0) / r.length;
  const sd = Math.sqrt(r.reduce((a, b) => a + (b - m) ** 2, 0) / Math.max(1, r.length - 1));
  console.log(`  ${method.padEnd(14)} ${pct(m)} ± ${pct(sd)}  (${r.map(pct).join(', ')})`);
}
