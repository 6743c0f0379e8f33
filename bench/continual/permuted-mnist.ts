/**
 * Permuted MNIST, task-incremental (van de Ven & Tolias 2019, arXiv 1904.07734; their code
 * GMvandeVen/continual-learning, params/param_values.py): each task is MNIST under its own
 * seeded pixel permutation, all ten digits, one 10-class head per task; two hidden layers of
 * 1000 ReLU units; Adam (AdamW, weight decay 0), lr 1e-4, batch 128, 5000 iterations per task,
 * 10 tasks; EWC λ = 100 for task-IL (their ewc_lambda), Fisher from each task's training data
 * at its end ('exact', their labels 'all'). Differences from their code: 28×28 inputs (they pad
 * to 32×32 before permuting), our epochs reshuffle where they draw batches; the flags shrink the
 * protocol to what a machine affords (say so when reporting):
 *
 *   node dist/bench/continual/permuted-mnist.js --retain none|ewc|online-ewc|lwf [--seeds 1]
 *       [--tasks 10] [--units 1000] [--iterations 5000] [--lr 1e-4] [--train-samples 60000]
 *       [--lambda 100] [--gamma 1] [--fisher exact] [--fisher-samples N] [--backend cpu] [--threads N] [--json out.json]
 *
 * Each task trains on its first --train-samples training images (the same images under each
 * permutation) for round(iterations·128 / n) epochs, and is tested on the 10,000 test images.
 * Prints R and ACC / BWT / forgetting per seed, and the mean over seeds.
 */
import * as fs from 'node:fs';
import { Rng } from '../../ts/core/random.js';
import { MultiTaskDataset } from '../../ts/data/dataset.js';
import { loadMnist } from '../../ts/data/mnist.js';
import { type ContinualMetrics, type StageConfig, trainStages } from '../../ts/train/continual.js';
import { arg, backendFromArgs, meanLine, retainFromArgs } from './common.js';

const BATCH = 128;
const seeds = arg('seeds', '1').split(',').map(Number);
const tasks = Number(arg('tasks', '10'));
const units = Number(arg('units', '1000'));
const iterations = Number(arg('iterations', '5000'));
const lr = Number(arg('lr', '1e-4'));
const trainSamples = Number(arg('train-samples', '60000'));
const jsonOut = arg('json', '');
const { retain, text: retainText } = retainFromArgs('100');

/** The first `n` images of `split` as [0, 1] pixels, and their digits. */
function mnist(split: 'train' | 'test', n: number): { x: Float32Array; y: Float32Array; n: number; px: number } {
  const m = loadMnist(split);
  const count = Math.min(n, m.count);
  const px = m.rows * m.cols;
  return { x: Float32Array.from(m.images.subarray(0, count * px), (v) => v / 255), y: Float32Array.from(m.labels.subarray(0, count)), n: count, px };
}

/** `d`'s images under pixel permutation `perm`, labelled with their digit for task `name`. */
function permuted(d: ReturnType<typeof mnist>, perm: Int32Array, name: string): MultiTaskDataset {
  const inputs = new Float32Array(d.n * d.px);
  for (let i = 0; i < d.n; i++) {
    const src = i * d.px;
    for (let p = 0; p < d.px; p++) inputs[src + p] = d.x[src + perm[p]];
  }
  return new MultiTaskDataset({ inputs, inputShape: [28, 28], labels: { [name]: d.y } });
}

const { backend, name: backendName } = await backendFromArgs();
const train = mnist('train', trainSamples);
const test = mnist('test', 10000);
const results: { seed: number; steps: number[]; seconds: number; accuracy: number[][]; metrics: ContinualMetrics }[] = [];
for (const seed of seeds) {
  const started = Date.now();
  const rng = new Rng(1000 + seed);
  const stages: StageConfig[] = Array.from({ length: tasks }, (_, t) => {
    const perm = Int32Array.from({ length: train.px }, (__, i) => i);
    rng.shuffle(perm);
    const name = `p${t}`;
    return {
      tasks: [{ name, kind: 'classification', classes: 10 }],
      train: permuted(train, perm, name),
      validation: permuted(test, perm, name),
      retain,
      epochs: Math.max(1, Math.round((iterations * BATCH) / train.n)),
    };
  });
  const out = await trainStages({
    model: {
      inputShape: [28, 28],
      trunk: [
        { type: 'dense', units, activation: 'relu' },
        { type: 'dense', units, activation: 'relu' },
      ],
      maxBatch: 1024,
      seed,
    },
    backend,
    stages,
    trainer: { optimizer: { kind: 'adamw', lr, weightDecay: 0 }, batchSize: BATCH, epochs: 1, seed, log: null, progress: false, lossCheckEvery: 50 },
  });
  const seconds = (Date.now() - started) / 1000;
  const steps = out.histories.map((h) => h.at(-1)!.step);
  console.log(
    `\nPermuted MNIST task-IL, ${tasks} tasks, 2×${units} units, lr ${lr}, ${train.n} training samples per task, retain ${retainText}, seed ${seed}, ${backendName}: steps per task ${steps.join(', ')}, ${seconds.toFixed(0)} s`,
  );
  console.log(out.table);
  results.push({ seed, steps, seconds, accuracy: out.accuracy, metrics: out.metrics });
}
console.log(`\n${meanLine(results)}`);
if (jsonOut) fs.writeFileSync(jsonOut, JSON.stringify({ benchmark: 'permuted-mnist-task-il', backend: backendName, tasks, units, iterations, lr, trainSamples, retain, results }, null, 1));
