/**
 * The diagonal Fisher's two paths timed on van de Ven & Tolias's Permuted MNIST network (784 →
 * 1000 → 1000 ReLU, one 10-class head; bench/continual/permuted-mnist.ts), at its initial
 * parameters, on MNIST's training images: one sample per backward pass (path 'single', what
 * fisherDiagonal ran for every model before the batch path; on --single-samples samples, its
 * time extrapolated linearly to all of them) against the squared per-sample gradients of whole
 * batches (path 'batch-squares', batches of --max-batch) on --samples samples. Both also run on
 * the first --single-samples samples of one seeded order, and the largest difference between
 * the two Fisher estimates there is printed relative to the largest value (they are the same
 * quantity).
 *
 *   node dist/bench/continual/fisher-speed.js [--fisher exact] [--samples 60000] [--single-samples 300]
 *       [--max-batch 1024] [--units 1000] [--backend cpu] [--threads N] [--json out.json]
 */
import * as fs from 'node:fs';
import { MultiTaskDataset } from '../../ts/data/dataset.js';
import { loadMnist } from '../../ts/data/mnist.js';
import { MultiTaskModel } from '../../ts/mtl/model.js';
import { type FisherEstimate, type FisherPath, type FisherVariant, fisherEstimate } from '../../ts/train/ewc.js';
import { arg, backendFromArgs } from './common.js';

const variant = arg('fisher', 'exact') as FisherVariant;
const samples = Number(arg('samples', '60000'));
const singleSamples = Number(arg('single-samples', '300'));
const maxBatch = Number(arg('max-batch', '1024'));
const units = Number(arg('units', '1000'));
const jsonOut = arg('json', '');

const { backend, name: backendName, threads } = await backendFromArgs();
const m = loadMnist('train');
const count = Math.min(samples, m.count);
const data = new MultiTaskDataset({
  inputs: Float32Array.from(m.images.subarray(0, count * 784), (v) => v / 255),
  inputShape: [28, 28],
  labels: { p0: Float32Array.from(m.labels.subarray(0, count)) },
});
const model = new MultiTaskModel(backend, {
  inputShape: [28, 28],
  trunk: [
    { type: 'dense', units, activation: 'relu' },
    { type: 'dense', units, activation: 'relu' },
  ],
  tasks: [{ name: 'p0', kind: 'classification', classes: 10 }],
  maxBatch,
  seed: 1,
});

async function timed(path: FisherPath, n: number): Promise<{ estimate: FisherEstimate; seconds: number }> {
  const started = process.hrtime.bigint();
  const estimate = await fisherEstimate(model, data, { variant, samples: n, path, seed: 0 });
  return { estimate, seconds: Number(process.hrtime.bigint() - started) / 1e9 };
}

const single = await timed('single', singleSamples);
const sameSamples = await timed('batch-squares', singleSamples);
const batch = await timed('batch-squares', count);
let scale = 0;
let diff = 0;
for (let i = 0; i < single.estimate.fisher.length; i++) {
  scale = Math.max(scale, Math.abs(single.estimate.fisher[i]));
  diff = Math.max(diff, Math.abs(single.estimate.fisher[i] - sameSamples.estimate.fisher[i]));
}
const extrapolated = (single.seconds * count) / singleSamples;
console.log(`${variant} Fisher, 784→${units}→${units}→10, ${backendName}${threads ? ` (${threads} threads)` : ''}, maxBatch ${maxBatch}:`);
console.log(`  single:        ${singleSamples} samples in ${single.seconds.toFixed(1)} s (${single.estimate.backwardPasses} backward passes); ${count} samples ≈ ${extrapolated.toFixed(0)} s extrapolated`);
console.log(`  batch-squares: ${singleSamples} samples in ${sameSamples.seconds.toFixed(2)} s; ${count} samples in ${batch.seconds.toFixed(1)} s (${batch.estimate.backwardPasses} backward passes)`);
console.log(`  speed-up on ${count} samples: ${(extrapolated / batch.seconds).toFixed(0)}×; max |F_single − F_batch| on the same ${singleSamples} samples: ${(diff / scale).toExponential(2)} of max F`);
if (jsonOut) {
  fs.writeFileSync(
    jsonOut,
    JSON.stringify({ benchmark: 'fisher-speed', variant, units, maxBatch, backend: backendName, threads: threads || null, samples: count, singleSamples, single: { seconds: single.seconds, extrapolated }, batchSquares: { seconds: batch.seconds, sameSamplesSeconds: sameSamples.seconds }, relativeMaxDifference: diff / scale }, null, 1),
  );
}
