/**
 * Peer: the W1/W2 training step (bench/workloads.ts) in TensorFlow.js, as a tfjs-layers
 * multi-output model: the trunk's Dense+ReLU layers, then `heads` Dense trunk→10 heads (linear
 * logits), loss = Σ_t softmaxCE_t (weights 1; each CE is the batch mean, as hydranet's
 * per-task losses), SGD momentum 0.9 lr 0.01 (tf.train.momentum), tfjs-layers' default
 * initialisers (Glorot uniform, zero bias). tfjs-layers' fit() cannot run this custom summed
 * loss step by step, so the step is `optimizer.minimize(lossFn, true)`: forward, tape backward
 * and applyGradients in one call, returning the loss scalar. The batch (inputs uniform in
 * [0, 1), labels uniform in 0..9 as one-hot) is uploaded ONCE before timing.
 * Run as its own process (bench/peers.ts runTfjsMlp does this):
 *   node dist/bench/peers/tfjs_mlp.js --backend cpu|wasm|webgpu --workload W1|W2 --seconds S
 *        [--max-steps K] [--max-windows N] [--window STEPS] [--warmup S] [--warmup-windows N]
 * Prints ONE JSON line on stdout {backend, workload, threads, steps, seconds, window, rates[],
 * loss, adapter?, error?}; tfjs's own chatter (banners, warnings) goes to stderr.
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
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { WORKLOADS } from '../workloads.js';

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
const backend = values.backend ?? 'cpu';
const workload = (values.workload ?? 'W1').toUpperCase();
const seconds = Number(values.seconds ?? 10);
const maxSteps = Number(values['max-steps'] ?? 100000);
const warmupSeconds = Number(values.warmup ?? 1);
const warmupWindows = Number(values['warmup-windows'] ?? 1);
const maxWindows = Number(values['max-windows'] ?? 7);

interface AdapterText {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
}

/** Dawn as the browser's navigator.gpu, BEFORE tfjs-backend-webgpu loads (it registers only if navigator.gpu exists). */
async function installWebGpu(): Promise<AdapterText> {
  const name = 'webgpu'; // optional dependency, resolved at run time
  const { create, globals } = (await import(name)) as { create(flags: string[]): GPU; globals: object };
  Object.assign(globalThis, globals);
  const gpu = create([]);
  Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  // The same request tfjs makes (high-performance), only to describe the adapter in the output.
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error('no WebGPU adapter (install Mesa lavapipe or a GPU driver; set XDG_RUNTIME_DIR)');
  const i = adapter.info;
  await import('@tensorflow/tfjs-backend-webgpu');
  return { vendor: i.vendor, architecture: i.architecture, device: i.device, description: i.description };
}

async function main(): Promise<Record<string, unknown>> {
  const w = WORKLOADS.find((x) => x.name === workload);
  if (!w) throw new Error(`Expected W1 or W2 for --workload but received ${JSON.stringify(values.workload)}`);
  const window = Number(values.window ?? (workload === 'W1' ? 8 : 1));
  if (!Number.isInteger(window) || window < 1) throw new Error(`Expected a positive integer for --window but received ${values.window}`);
  if (!process.env.XDG_RUNTIME_DIR) process.env.XDG_RUNTIME_DIR = '/tmp';
  let adapter: AdapterText | undefined;
  let wasmThreads: (() => number) | null = null;
  if (backend === 'wasm') {
    const { setWasmPaths, getThreadsCount } = await import('@tensorflow/tfjs-backend-wasm');
    wasmThreads = getThreadsCount;
    const require = createRequire(import.meta.url);
    setWasmPaths(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm')) + '/');
  } else if (backend === 'webgpu') {
    adapter = await installWebGpu();
  }
  if (!(await tf.setBackend(backend))) throw new Error(`tfjs could not initialise its ${backend} backend`);
  await tf.ready();

  const input = tf.input({ shape: [w.input] });
  let x: tf.SymbolicTensor = input;
  for (const units of w.trunk) x = tf.layers.dense({ units, activation: 'relu' }).apply(x) as tf.SymbolicTensor;
  const trunkOut = x;
  const outputs = Array.from({ length: w.heads }, () => tf.layers.dense({ units: w.classes }).apply(trunkOut) as tf.SymbolicTensor);
  const model = tf.model({ inputs: input, outputs });
  const optimizer = tf.train.momentum(0.01, 0.9);

  const xs = tf.randomUniform([w.batch, w.input], 0, 1, 'float32', 1);
  const ys = Array.from({ length: w.heads }, (_, t) =>
    tf.tidy(() => tf.oneHot(tf.randomUniform([w.batch], 0, w.classes, 'int32', 2 + t) as tf.Tensor1D, w.classes).toFloat()),
  );

  let last: tf.Scalar | null = null;
  const step = (): void => {
    const lossFn = (): tf.Scalar => {
      const outs = model.apply(xs, { training: true }) as tf.Tensor[];
      let loss = tf.losses.softmaxCrossEntropy(ys[0], outs[0]);
      for (let t = 1; t < w.heads; t++) loss = tf.add(loss, tf.losses.softmaxCrossEntropy(ys[t], outs[t]));
      return loss as tf.Scalar;
    };
    // forward + tape backward + momentum update; returns the summed loss (kept, the rest freed).
    const cost = tf.tidy(() => optimizer.minimize(lossFn, true) as tf.Scalar);
    last?.dispose();
    last = cost;
  };
  const device = backend === 'webgpu' ? (tf.backend() as unknown as { device: GPUDevice }).device : null;
  /** The window's closing readback: the last loss, then the queue drained. */
  const settle = async (): Promise<number> => {
    const v = (await last!.data())[0];
    if (device) await device.queue.onSubmittedWorkDone();
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
    // The threads tfjs really used: its cpu backend is plain JavaScript (1); wasm says itself.
    threads: backend === 'webgpu' ? undefined : wasmThreads ? wasmThreads() : 1,
    steps,
    seconds: timed,
    window,
    warmup_windows: warm,
    warmup_seconds: warmupS,
    rates,
    loss,
    adapter,
    leaked_tensors: leaked || undefined,
  };
}

// tfjs prints its banners with console.log/warn; keep stdout for the one JSON line.
const print = console.log.bind(console);
console.log = (...a: unknown[]) => console.error(...a);
console.warn = (...a: unknown[]) => console.error(...a);
main()
  .then((r) => print(JSON.stringify(r)))
  .catch((e: Error) => print(JSON.stringify({ backend, workload, error: (e?.message ?? String(e)).split('\n')[0] })))
  .finally(() => process.exit(0));
