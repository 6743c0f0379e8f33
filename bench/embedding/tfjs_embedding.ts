/**
 * Peer: bench/embedding's workload (workload.ts) in TensorFlow.js, written with tfjs-core ops:
 * ONE table variable holding every field's table end to end, looked up with tf.gather at the
 * indices plus per-field offsets (its gradient a dense scatter-add); the numeric columns and the
 * lookups concatenated; per expert two dense ReLU layers (tf.matMul + bias); per task a softmax
 * gate over the experts and the gated sum (one batched tf.matMul), a tower of one hidden ReLU
 * layer and one logit; the sum over tasks of the batch-mean sigmoid cross-entropy; plain SGD
 * (tf.train.sgd) through optimizer.minimize. Glorot-uniform weights, N(0, 1/dim) tables. One
 * batch (N(0, 1) numeric values, uniform random indices, random labels) is uploaded once.
 *
 *   node dist/bench/embedding/tfjs_embedding.js --backend webgpu|wasm|cpu [--batch 4096]
 *        [--windows 5] [--min-seconds 2] [--warmup-seconds 2]
 *
 * Every step ends with a readback of its loss (tfjs-webgpu is asynchronous, and keeps a step's
 * intermediates alive until its work is done: steps queued without one exhaust memory), so a
 * window's steps are each complete. Warm-up (shader compilation) is at least one step and
 * --warmup-seconds; then --windows windows of at least --min-seconds each. Prints ONE JSON line
 * {backend, threads, adapter?, rates[], median, min, max, loss, error?} (bench/child.ts).
 */
import { parseArgs } from 'node:util';
import { childMain } from '../child.js';
import { summarize } from '../stats.js';
import { type TfjsBackend, setupTfjs } from '../peers/tfjs_common.js';
import { EMBEDDING_WORKLOAD } from './workload.js';

const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'webgpu' },
    batch: { type: 'string' },
    windows: { type: 'string', default: '5' },
    'min-seconds': { type: 'string', default: '2' },
    'warmup-seconds': { type: 'string', default: '2' },
  },
});

async function main(): Promise<Record<string, unknown>> {
  const w = { ...EMBEDDING_WORKLOAD, batch: values.batch === undefined ? EMBEDDING_WORKLOAD.batch : Number(values.batch) };
  const setup = await setupTfjs(values.backend as TfjsBackend);
  const { tf } = setup;
  const N = w.batch;
  const F = w.vocabs.length;
  const width = w.numeric + F * w.dim;
  const rows = w.vocabs.reduce((a, b) => a + b, 0);
  const offsets: number[] = [];
  w.vocabs.reduce((o, v) => (offsets.push(o), o + v), 0);

  const glorot = (fanIn: number, fanOut: number, shape: number[]) => tf.variable(tf.randomUniform(shape, -Math.sqrt(6 / (fanIn + fanOut)), Math.sqrt(6 / (fanIn + fanOut)), 'float32', 1));
  const zeros = (shape: number[]) => tf.variable(tf.zeros(shape));
  const table = tf.variable(tf.randomNormal([rows, w.dim], 0, 1 / Math.sqrt(w.dim), 'float32', 2));
  const experts = Array.from({ length: w.experts }, () => {
    const ws = [width, ...w.expertUnits];
    return w.expertUnits.map((u, l) => ({ W: glorot(ws[l], u, [ws[l], u]), b: zeros([u]) }));
  });
  const U = w.expertUnits.at(-1)!;
  const gates = Array.from({ length: w.tasks }, () => ({ W: glorot(width, w.experts, [width, w.experts]), b: zeros([w.experts]) }));
  const towers = Array.from({ length: w.tasks }, () => ({ W1: glorot(U, w.tower, [U, w.tower]), b1: zeros([w.tower]), W2: glorot(w.tower, 1, [w.tower, 1]), b2: zeros([1]) }));

  // The batch, uploaded once.
  const numeric = tf.randomNormal([N, w.numeric], 0, 1, 'float32', 3);
  const idx = new Int32Array(N * F);
  let seed = 4;
  const rand = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  for (let i = 0; i < N; i++) for (let f = 0; f < F; f++) idx[i * F + f] = offsets[f] + Math.floor(rand() * w.vocabs[f]);
  const indices = tf.tensor1d(idx, 'int32');
  const labels = tf.tensor2d(Float32Array.from({ length: N * w.tasks }, () => (rand() < 0.5 ? 1 : 0)), [N, w.tasks]);
  const labelOf = Array.from({ length: w.tasks }, (_, t) => labels.slice([0, t], [N, 1]));

  const optimizer = tf.train.sgd(w.lr);
  const loss = (): ReturnType<typeof tf.scalar> => {
    const h = tf.concat([numeric, tf.reshape(tf.gather(table, indices), [N, F * w.dim])], 1);
    const outs = experts.map((layers) => layers.reduce<ReturnType<typeof tf.relu>>((x, { W, b }) => tf.relu(tf.add(tf.matMul(x, W), b)), h));
    const stacked = tf.stack(outs, 1); // [N, E, U]
    let total = tf.scalar(0);
    gates.forEach((g, t) => {
      const gate = tf.softmax(tf.add(tf.matMul(h, g.W), g.b)); // [N, E]
      const mixed = tf.reshape(tf.matMul(tf.reshape(gate, [N, 1, w.experts]), stacked), [N, U]);
      const tw = towers[t];
      const logit = tf.add(tf.matMul(tf.relu(tf.add(tf.matMul(mixed, tw.W1), tw.b1)), tw.W2), tw.b2);
      total = tf.add(total, tf.losses.sigmoidCrossEntropy(labelOf[t], logit));
    });
    return total as ReturnType<typeof tf.scalar>;
  };
  let last = NaN;
  const step = async (): Promise<void> => {
    const l = tf.tidy(() => optimizer.minimize(loss, true)!);
    last = (await l.data())[0];
    l.dispose();
  };

  const now = () => performance.now() / 1000;
  const warm = now();
  do await step();
  while (now() - warm < Number(values['warmup-seconds']));
  const rates: number[] = [];
  for (let k = 0; k < Number(values.windows); k++) {
    const t0 = now();
    let n = 0;
    do {
      await step();
      n++;
    } while (now() - t0 < Number(values['min-seconds']));
    rates.push(n / (now() - t0));
  }
  const s = summarize(rates);
  return { backend: setup.backend, threads: setup.threads, adapter: setup.adapter, rates, median: s.median, min: s.min, max: s.max, loss: last };
}

childMain(main, { backend: values.backend });
