/**
 * Peer: the MultiLeNet step in TensorFlow.js (tfjs-layers, one conv trunk, two heads), trained
 * as hydranet's preset trains it: batch 256, SGD momentum 0.9, lr 0.01, dropouts active, the
 * sum of the two tasks' softmax cross-entropies (tfjs-layers has no loss weights, so the
 * weighted sum is a custom step through optimizer.minimize). Run as its own process:
 *   node dist/bench/peers/tfjs_lenet.js --backend cpu|wasm --seconds S --max-steps K
 * Prints one JSON line {backend, threads, steps, seconds, rates[], error?}.
 */
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';

const { values } = parseArgs({
  options: { backend: { type: 'string' }, seconds: { type: 'string' }, 'max-steps': { type: 'string' } },
});
const backend = values.backend ?? 'cpu';
const seconds = Number(values.seconds ?? 10);
const maxSteps = Number(values['max-steps'] ?? 1000);
const B = 256;

async function main(): Promise<Record<string, unknown>> {
  if (backend === 'wasm') {
    const require = createRequire(import.meta.url);
    setWasmPaths(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm')) + '/');
  }
  await tf.setBackend(backend);
  await tf.ready();
  const input = tf.input({ shape: [28, 28, 1] });
  let x = tf.layers.conv2d({ filters: 10, kernelSize: 5 }).apply(input) as tf.SymbolicTensor;
  x = tf.layers.maxPooling2d({ poolSize: 2 }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.activation({ activation: 'relu' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.conv2d({ filters: 20, kernelSize: 5 }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.dropout({ rate: 0.5, noiseShape: [B, 1, 1, 20] }).apply(x) as tf.SymbolicTensor; // spatial dropout
  x = tf.layers.maxPooling2d({ poolSize: 2 }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.activation({ activation: 'relu' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.flatten().apply(x) as tf.SymbolicTensor;
  x = tf.layers.dense({ units: 50, activation: 'relu' }).apply(x) as tf.SymbolicTensor;
  const heads = [0, 1].map(() => {
    let h = tf.layers.dense({ units: 50, activation: 'relu' }).apply(x) as tf.SymbolicTensor;
    h = tf.layers.dropout({ rate: 0.5 }).apply(h) as tf.SymbolicTensor;
    return tf.layers.dense({ units: 10 }).apply(h) as tf.SymbolicTensor;
  });
  const model = tf.model({ inputs: input, outputs: heads });
  const optimizer = tf.train.momentum(0.01, 0.9);
  const xs = tf.randomUniform([B, 28, 28, 1]);
  const ys = [0, 1].map(() => tf.oneHot(tf.randomUniform([B], 0, 10, 'int32') as tf.Tensor1D, 10));
  const step = (): void =>
    tf.tidy(() => {
      optimizer.minimize(() => {
        const outs = model.apply(xs, { training: true }) as tf.Tensor[];
        return tf.add(tf.losses.softmaxCrossEntropy(ys[0], outs[0]), tf.losses.softmaxCrossEntropy(ys[1], outs[1])) as tf.Scalar;
      });
    });
  step(); // warm-up (kernel setup)
  const rates: number[] = [];
  let steps = 0;
  const start = performance.now();
  while (steps < maxSteps && (performance.now() - start) / 1000 < seconds) {
    const t = performance.now();
    step();
    rates.push(1000 / (performance.now() - t));
    steps++;
  }
  return { backend: tf.getBackend(), threads: 1, steps, seconds: (performance.now() - start) / 1000, rates };
}

main()
  .then((r) => console.log(JSON.stringify(r)))
  .catch((e: Error) => console.log(JSON.stringify({ backend, error: e.message.split('\n')[0] })));
