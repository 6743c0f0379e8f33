/**
 * TensorFlow.js's MultiMNIST runner for the time-to-accuracy and parity benchmark (MNIST_RUN in
 * bench/workloads.ts), its own process:
 *   node dist/bench/peers/tfjs_train.js --backend cpu|wasm|webgpu|tensorflow --init FILE
 *        --epochs E --seed S [--train-size N] [--test-size M] [--weights W1,W2]
 * The same run as bench/train-run.ts: the same datasets (makeMultiMnist, built here with the
 * same seeds), the same initial weights (the hydranet checkpoint --init, loaded into the tfjs
 * Dense layers), the same batch order (Rng(seed).shuffle each epoch, as hydranet's Trainer),
 * batch 256, SGD momentum (tf.train.momentum: the same update as hydranet's and PyTorch's), loss
 * Σ_t w_t·CE_t written out with tf.variableGrads (tfjs-layers has no loss weights for a custom
 * step). Each step uploads its batch (gathered on the host into one preallocated array, as
 * hydranet's Trainer stages it); the loss is read back every MNIST_RUN.readEvery steps, as
 * hydranet's runner does. An epoch's seconds run from its first step until its last step's
 * work is done (webgpu: queue drained); validation (batches of 256, argmax per head) is not
 * timed. Prints one JSON line (MnistRunResult).
 */
import type * as TF from '@tensorflow/tfjs';
import { Rng } from '../../ts/core/random.js';
import { readCheckpointFile } from '../../ts/io/checkpoint.js';
import { MNIST_RUN, type MnistRunResult, mnistRunSetup } from '../workloads.js';
import { type TfjsBackend, denseMultiTaskModel, loadHydranetWeights, setupTfjs, weightedStep } from './tfjs_common.js';
import { childMain, peakRss } from '../child.js';

async function main(): Promise<MnistRunResult> {
  const started = performance.now();
  const { flags, seed, epochs, weights, train, test, dataRss } = mnistRunSetup(process.argv.slice(2));
  if (!flags.init) throw new Error('--init FILE (the initial weights, a hydranet checkpoint) is required');
  const backend = (flags.backend ?? 'cpu') as TfjsBackend;
  const { tf, threads, adapter, device } = await setupTfjs(backend);
  const { input, trunk: widths, tasks, classes, batch: B } = MNIST_RUN;
  const { model, trunk, heads } = denseMultiTaskModel(tf, input, widths, tasks.length, classes);
  loadHydranetWeights(tf, readCheckpointFile(flags.init).tensors, trunk, heads, tasks);
  const step = weightedStep(tf, model, tf.train.momentum(MNIST_RUN.lr, MNIST_RUN.momentum), weights);

  const T = tasks.length;
  const xHost = new Float32Array(B * input);
  const yHost = tasks.map(() => new Int32Array(B));
  /** Batch rows order[from, from + n) of ds, as tensors (the caller disposes them). */
  const batch = (ds: typeof train, order: Int32Array, from: number, n: number): { xs: TF.Tensor2D; ys: TF.Tensor[] } => {
    ds.gatherInputs(order, from, n, xHost);
    tasks.forEach((task, t) => {
      const labels = ds.labels(task);
      for (let i = 0; i < n; i++) yHost[t][i] = labels[order[from + i]];
    });
    const xs = tf.tensor2d(xHost.subarray(0, n * input), [n, input]);
    const ys = yHost.map((y) => tf.tidy(() => tf.oneHot(tf.tensor1d(y.subarray(0, n), 'int32'), classes)));
    return { xs, ys };
  };
  let peakDevice = 0;
  const noteDevice = (): void => {
    peakDevice = Math.max(peakDevice, (tf.memory() as { numBytesAllocatedInGPU?: number }).numBytesAllocatedInGPU ?? 0);
  };
  const evaluate = async (): Promise<number[]> => {
    const order = Int32Array.from({ length: test.length }, (_, i) => i);
    const correct = new Array<number>(T).fill(0);
    for (let from = 0; from < test.length; from += B) {
      const n = Math.min(B, test.length - from);
      const { xs, ys } = batch(test, order, from, n);
      const hits = tf.tidy(() => {
        const outs = model.predict(xs) as TF.Tensor[];
        return tf.stack(outs.map((o, t) => tf.sum(tf.cast(tf.equal(tf.argMax(o, 1), tf.argMax(ys[t], 1)), 'int32'))));
      });
      const h = await hits.data();
      for (let t = 0; t < T; t++) correct[t] += h[t];
      tf.dispose([xs, ...ys, hits]);
    }
    noteDevice();
    return correct.map((c) => c / test.length);
  };

  const rng = new Rng(seed);
  const order = new Int32Array(train.length);
  const steps = Math.ceil(train.length / B);
  const setup = (performance.now() - started) / 1000;
  const out: MnistRunResult['epochs'] = [];
  for (let epoch = 1; epoch <= epochs; epoch++) {
    for (let i = 0; i < order.length; i++) order[i] = i;
    rng.shuffle(order);
    const t0 = performance.now();
    let lossSum = 0;
    let reads = 0;
    for (let s = 0; s < steps; s++) {
      const from = s * B;
      const { xs, ys } = batch(train, order, from, Math.min(B, train.length - from));
      const loss = step(xs, ys);
      tf.dispose([xs, ...ys]);
      if ((s + 1) % MNIST_RUN.readEvery === 0 || s === steps - 1) {
        lossSum += (await loss.data())[0];
        reads++;
      }
      loss.dispose();
    }
    if (device) await device.queue.onSubmittedWorkDone();
    const seconds = (performance.now() - t0) / 1000;
    noteDevice();
    out.push({ epoch, seconds, loss: lossSum / reads, accuracy: await evaluate() });
  }
  return {
    system: 'tfjs',
    backend: tf.getBackend(),
    threads,
    epochs: out,
    train_size: train.length,
    test_size: test.length,
    setup_seconds: setup,
    peak_rss: peakRss(),
    data_rss: dataRss,
    device_bytes: device ? peakDevice : undefined,
    adapter,
  };
}

childMain(main, { system: 'tfjs' });
