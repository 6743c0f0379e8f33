/**
 * Peer: the MultiLeNet step in TensorFlow.js (tfjs-layers, one conv trunk, two heads), trained
 * as hydranet's preset trains it: batch 256, SGD momentum 0.9, lr 0.01, dropouts active, loss
 * = Σ_t w_t·CE_t with w_t = 1 (tfjs-layers has no loss weights for a custom step, so the
 * weighted sum is written out: tf.variableGrads + optimizer.applyGradients, see
 * tfjs_common.ts). Run as its own process:
 *   node dist/bench/peers/tfjs_lenet.js --backend cpu|wasm|webgpu|tensorflow --seconds S --max-steps K
 * Prints one JSON line {backend, threads, steps, seconds, rates[], peak_rss, error?}.
 */
import { parseArgs } from 'node:util';
import type * as TF from '@tensorflow/tfjs';
import { type TfjsBackend, setupTfjs, weightedStep } from './tfjs_common.js';
import { childMain, peakRss } from '../child.js';

const { values } = parseArgs({
  options: { backend: { type: 'string' }, seconds: { type: 'string' }, 'max-steps': { type: 'string' } },
});
const backend = (values.backend ?? 'cpu') as TfjsBackend;
const seconds = Number(values.seconds ?? 10);
const maxSteps = Number(values['max-steps'] ?? 1000);
const B = 256;

async function main(): Promise<Record<string, unknown>> {
  const { tf, threads, device } = await setupTfjs(backend);
  const input = tf.input({ shape: [28, 28, 1] });
  let x = tf.layers.conv2d({ filters: 10, kernelSize: 5 }).apply(input) as TF.SymbolicTensor;
  x = tf.layers.maxPooling2d({ poolSize: 2 }).apply(x) as TF.SymbolicTensor;
  x = tf.layers.activation({ activation: 'relu' }).apply(x) as TF.SymbolicTensor;
  x = tf.layers.conv2d({ filters: 20, kernelSize: 5 }).apply(x) as TF.SymbolicTensor;
  x = tf.layers.dropout({ rate: 0.5, noiseShape: [B, 1, 1, 20] }).apply(x) as TF.SymbolicTensor; // spatial dropout
  x = tf.layers.maxPooling2d({ poolSize: 2 }).apply(x) as TF.SymbolicTensor;
  x = tf.layers.activation({ activation: 'relu' }).apply(x) as TF.SymbolicTensor;
  x = tf.layers.flatten().apply(x) as TF.SymbolicTensor;
  x = tf.layers.dense({ units: 50, activation: 'relu' }).apply(x) as TF.SymbolicTensor;
  const heads = [0, 1].map(() => {
    let h = tf.layers.dense({ units: 50, activation: 'relu' }).apply(x) as TF.SymbolicTensor;
    h = tf.layers.dropout({ rate: 0.5 }).apply(h) as TF.SymbolicTensor;
    return tf.layers.dense({ units: 10 }).apply(h) as TF.SymbolicTensor;
  });
  const model = tf.model({ inputs: input, outputs: heads });
  const step1 = weightedStep(tf, model, tf.train.momentum(0.01, 0.9), [1, 1]);
  const xs = tf.randomUniform([B, 28, 28, 1]);
  const ys = [0, 1].map(() => tf.oneHot(tf.randomUniform([B], 0, 10, 'int32') as TF.Tensor1D, 10));
  /** One step, closed by a readback of its loss (one step per window). */
  const step = async (): Promise<void> => {
    const loss = step1(xs, ys);
    await loss.data();
    if (device) await device.queue.onSubmittedWorkDone();
    loss.dispose();
  };
  await step(); // warm-up (kernel setup)
  const rates: number[] = [];
  let steps = 0;
  const start = performance.now();
  while (steps < maxSteps && (performance.now() - start) / 1000 < seconds) {
    const t = performance.now();
    await step();
    rates.push(1000 / (performance.now() - t));
    steps++;
  }
  return { backend: tf.getBackend(), threads, steps, seconds: (performance.now() - start) / 1000, rates, peak_rss: peakRss() };
}

childMain(main, { backend });
