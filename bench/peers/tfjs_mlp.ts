/**
 * Peer: the W1/W2 training step (bench/workloads.ts) in TensorFlow.js, as a tfjs-layers
 * multi-output model: the trunk's Dense+ReLU layers, then `heads` Dense trunk→10 heads (linear
 * logits), loss = Σ_t w_t·softmaxCE_t (w_t = 1 as in the workloads; each CE is the batch mean,
 * as hydranet's per-task losses), SGD momentum 0.9 lr 0.01 (tf.train.momentum), tfjs-layers'
 * default initialisers (Glorot uniform, zero bias). tfjs-layers has no loss weights for a
 * custom step, so the step is the weighted sum written out (tfjs_common.ts weightedStep):
 * tf.variableGrads of the weighted loss, then optimizer.applyGradients. The batch (inputs
 * uniform in [0, 1), labels uniform in 0..9 as one-hot) is uploaded ONCE before timing.
 * Run as its own process (bench/peers.ts runTfjsMlp does this):
 *   node dist/bench/peers/tfjs_mlp.js --backend cpu|wasm|webgpu|tensorflow --workload W1|W2 --seconds S
 *        [--max-steps K] [--max-windows N] [--window STEPS] [--warmup S] [--warmup-windows N]
 * Prints ONE JSON line on stdout {backend, workload, threads, steps, seconds, window, rates[],
 * loss, adapter?, peak_rss, device_bytes?, error?}; tfjs's own chatter goes to stderr.
 * peak_rss is the process's peak resident set (bytes); device_bytes the most GPU memory tfjs's
 * webgpu buffer manager held (numBytesAllocatedInGPU, sampled when each window closes).
 *
 * Timing: tfjs-webgpu is asynchronous (a step returns once its dispatches are recorded, long
 * before the GPU has run them), so a window is `window` steps back to back closed by ONE small
 * readback, `await loss.data()` of the window's last loss, then `queue.onSubmittedWorkDone()`
 * (the readback submits everything recorded so far, the last step's optimizer update
 * included). Nothing is read back inside a window; a window's rate is its steps / its seconds.
 * Windows are small on purpose: tfjs-webgpu keeps every intermediate buffer of recorded work
 * alive until it is submitted and done, and with too much in flight the process dies (the
 * known tfjs-webgpu crash). Default `window`: 8 steps for W1 (8 × a few MiB in flight; about
 * 5 s on lavapipe), 1 step for W2 (about 100 MiB of intermediates a step, and one step takes
 * ~30 s on lavapipe). The cpu and wasm backends are synchronous; the same windows apply.
 * Warm-up (shader compilation, buffer pool) is at least --warmup-windows whole windows
 * (default 1) and --warmup seconds (default 1), never timed. Timed windows run until
 * --max-windows (default 7) or until --seconds have been timed (at least one window), or
 * --max-steps.
 */
import { parseArgs } from 'node:util';
import { WORKLOADS } from '../workloads.js';
import { type TfjsBackend, denseMultiTaskModel, setupTfjs, weightedStep } from './tfjs_common.js';
import { childMain, peakRss } from '../child.js';

const { values } = parseArgs({
  options: {
    backend: { type: 'string' },
    workload: { type: 'string' },
    seconds: { type: 'string' },
    'max-steps': { type: 'string' },
    window: { type: 'string' },
    warmup: { type: 'string' },
    'warmup-windows': { type: 'string' },
    'max-windows': { type: 'string' },
  },
});
const backend = (values.backend ?? 'cpu') as TfjsBackend;
const workload = (values.workload ?? 'W1').toUpperCase();
const seconds = Number(values.seconds ?? 10);
const maxSteps = Number(values['max-steps'] ?? 100000);
const warmupSeconds = Number(values.warmup ?? 1);
const warmupWindows = Number(values['warmup-windows'] ?? 1);
const maxWindows = Number(values['max-windows'] ?? 7);

async function main(): Promise<Record<string, unknown>> {
  const w = WORKLOADS.find((x) => x.name === workload);
  if (!w) throw new Error(`Expected W1 or W2 for --workload but received ${JSON.stringify(values.workload)}`);
  const window = Number(values.window ?? (workload === 'W1' ? 8 : 1));
  if (!Number.isInteger(window) || window < 1) throw new Error(`Expected a positive integer for --window but received ${values.window}`);
  const { tf, adapter, threads, device } = await setupTfjs(backend);

  const { model } = denseMultiTaskModel(tf, w.input, w.trunk, w.heads, w.classes);
  const optimizer = tf.train.momentum(0.01, 0.9);
  const step1 = weightedStep(tf, model, optimizer, Array<number>(w.heads).fill(1));

  const xs = tf.randomUniform([w.batch, w.input], 0, 1, 'float32', 1);
  const ys = Array.from({ length: w.heads }, (_, t) =>
    tf.tidy(() => tf.oneHot(tf.randomUniform([w.batch], 0, w.classes, 'int32', 2 + t) as import('@tensorflow/tfjs').Tensor1D, w.classes).toFloat()),
  );

  let last: import('@tensorflow/tfjs').Scalar | null = null;
  let peakDevice = 0;
  const step = (): void => {
    const cost = step1(xs, ys);
    last?.dispose();
    last = cost;
  };
  /** The window's closing readback: the last loss, then the queue drained. */
  const settle = async (): Promise<number> => {
    const v = (await last!.data())[0];
    if (device) await device.queue.onSubmittedWorkDone();
    peakDevice = Math.max(peakDevice, (tf.memory() as { numBytesAllocatedInGPU?: number }).numBytesAllocatedInGPU ?? 0);
    return v;
  };
  const runWindow = async (): Promise<number> => {
    for (let i = 0; i < window; i++) step();
    return settle();
  };

  // Warm-up: whole windows, never timed.
  const w0 = performance.now();
  let warm = 0;
  while (warm < warmupWindows || (performance.now() - w0) / 1000 < warmupSeconds) {
    await runWindow();
    warm++;
  }
  const warmupS = (performance.now() - w0) / 1000;
  const tensorsBefore = tf.memory().numTensors;

  const rates: number[] = [];
  let steps = 0;
  let timed = 0;
  let loss = NaN;
  while (rates.length === 0 || (rates.length < maxWindows && steps + window <= maxSteps && timed < seconds)) {
    const t = performance.now();
    loss = await runWindow();
    const s = (performance.now() - t) / 1000;
    rates.push(window / s);
    steps += window;
    timed += s;
  }
  const leaked = tf.memory().numTensors - tensorsBefore;
  return {
    backend: tf.getBackend(),
    workload,
    threads,
    steps,
    seconds: timed,
    window,
    warmup_windows: warm,
    warmup_seconds: warmupS,
    rates,
    loss,
    adapter,
    leaked_tensors: leaked || undefined,
    peak_rss: peakRss(),
    device_bytes: device ? peakDevice : undefined,
  };
}

childMain(main, { backend, workload });
