/**
 * What the TensorFlow.js peers share: backend set-up (cpu, wasm with its real thread count,
 * webgpu on Dawn as navigator.gpu, tensorflow = tfjs-node when installed), the weighted
 * multi-task training step, and a hydranet checkpoint loaded into tfjs Dense layers. (The
 * one-JSON-line protocol with the bench is bench/child.ts.)
 *
 * The weighted step: tfjs-layers has no loss weights for a custom multi-output step (fit()'s
 * lossWeights cannot be driven step by step with our batches), so the step is written out:
 * `tf.variableGrads` of L = Σ_t w_t · CE_t (each CE the batch mean, as hydranet's per-task
 * losses), then `optimizer.applyGradients`. That is the same math as hydranet's fused
 * multi-loss + backward + optimizer step.
 */
import { createRequire } from 'node:module';
import * as path from 'node:path';
import type * as TF from '@tensorflow/tfjs';

export type Tfjs = typeof TF;
export type TfjsBackend = 'cpu' | 'wasm' | 'webgpu' | 'tensorflow';
export const TFJS_BACKENDS: readonly TfjsBackend[] = ['cpu', 'wasm', 'webgpu', 'tensorflow'];

export interface AdapterText {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
}

export interface TfjsSetup {
  tf: Tfjs;
  /** The backend tfjs really runs on (tf.getBackend()). */
  backend: string;
  /** Threads it really uses: cpu is plain JavaScript (1); wasm says itself; undefined for GPUs. */
  threads?: number;
  adapter?: AdapterText;
  /** webgpu: the device, to drain its queue when a window closes. */
  device: GPUDevice | null;
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

/**
 * Whether @tensorflow/tfjs-node can be loaded here; the reason when not. Its npm installer
 * downloads libtensorflow from storage.googleapis.com, so where that host cannot be reached
 * (as on the machine this bench was written on) it is not installed.
 */
export function tfjsNodeAvailable(): { ok: boolean; reason?: string } {
  try {
    createRequire(import.meta.url).resolve('@tensorflow/tfjs-node');
    return { ok: true };
  } catch {
    return {
      ok: false,
      reason:
        '@tensorflow/tfjs-node is not installed: its installer downloads libtensorflow (storage.googleapis.com), which this machine cannot reach; `npm install @tensorflow/tfjs-node` where it can, and the bench runs it',
    };
  }
}

/** Loads tfjs with `backend` selected and ready. */
export async function setupTfjs(backend: TfjsBackend): Promise<TfjsSetup> {
  if (!TFJS_BACKENDS.includes(backend)) throw new Error(`Expected ${TFJS_BACKENDS.join(', ')} for --backend but received ${JSON.stringify(backend)}`);
  if (!process.env.XDG_RUNTIME_DIR) process.env.XDG_RUNTIME_DIR = '/tmp';
  let adapter: AdapterText | undefined;
  let wasmThreads: (() => number) | null = null;
  let tf: Tfjs;
  if (backend === 'tensorflow') {
    const name = '@tensorflow/tfjs-node'; // not a dependency: used when the user installed it
    tf = (await import(name)) as Tfjs;
  } else {
    tf = await import('@tensorflow/tfjs');
    if (backend === 'wasm') {
      const wasm = await import('@tensorflow/tfjs-backend-wasm');
      wasmThreads = wasm.getThreadsCount;
      const require = createRequire(import.meta.url);
      wasm.setWasmPaths(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm')) + '/');
    } else if (backend === 'webgpu') {
      adapter = await installWebGpu();
    }
  }
  if (!(await tf.setBackend(backend))) throw new Error(`tfjs could not initialise its ${backend} backend`);
  await tf.ready();
  const device = backend === 'webgpu' ? (tf.backend() as unknown as { device: GPUDevice }).device : null;
  const threads = backend === 'webgpu' || backend === 'tensorflow' ? undefined : wasmThreads ? wasmThreads() : 1;
  return { tf, backend: tf.getBackend(), threads, adapter, device };
}

/** A Dense+ReLU trunk and one linear Dense head per task, as a tfjs-layers multi-output model. */
export function denseMultiTaskModel(
  tf: Tfjs,
  input: number,
  trunk: readonly number[],
  heads: number,
  classes: number,
): { model: TF.LayersModel; trunk: TF.layers.Layer[]; heads: TF.layers.Layer[] } {
  const inp = tf.input({ shape: [input] });
  let x: TF.SymbolicTensor = inp;
  const trunkLayers = trunk.map((units) => tf.layers.dense({ units, activation: 'relu' }));
  for (const l of trunkLayers) x = l.apply(x) as TF.SymbolicTensor;
  const headLayers = Array.from({ length: heads }, () => tf.layers.dense({ units: classes }));
  const outputs = headLayers.map((l) => l.apply(x) as TF.SymbolicTensor);
  return { model: tf.model({ inputs: inp, outputs }), trunk: trunkLayers, heads: headLayers };
}

/**
 * One training step: L = Σ_t weights[t] · softmaxCE(ys[t], logits_t), gradients by
 * tf.variableGrads, applied by the optimizer. Returns L (the caller disposes it); every other
 * tensor of the step is freed.
 */
export function weightedStep(
  tf: Tfjs,
  model: TF.LayersModel,
  optimizer: TF.Optimizer,
  weights: readonly number[],
): (xs: TF.Tensor, ys: readonly TF.Tensor[]) => TF.Scalar {
  return (xs, ys) =>
    tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => {
        const outs = model.apply(xs, { training: true }) as TF.Tensor[];
        let loss: TF.Tensor = tf.mul(tf.losses.softmaxCrossEntropy(ys[0], outs[0]), weights[0]);
        for (let t = 1; t < outs.length; t++) loss = tf.add(loss, tf.mul(tf.losses.softmaxCrossEntropy(ys[t], outs[t]), weights[t]));
        return loss as TF.Scalar;
      });
      optimizer.applyGradients(grads);
      return value;
    });
}

/** A hydranet Dense weight [out, in] (row-major) as a tfjs kernel [in, out]. */
function kernelOf(tf: Tfjs, w: { shape: readonly number[]; data: Float32Array }): TF.Tensor2D {
  const [out, inp] = w.shape;
  const k = new Float32Array(inp * out);
  for (let o = 0; o < out; o++) for (let i = 0; i < inp; i++) k[i * out + o] = w.data[o * inp + i];
  return tf.tensor2d(k, [inp, out]);
}

/**
 * Sets tfjs Dense layers from a hydranet checkpoint's tensors: trunk.{i}.weight/bias and
 * heads.{task}.0.weight/bias (linear heads), so both libraries start from the same weights.
 */
export function loadHydranetWeights(
  tf: Tfjs,
  tensors: ReadonlyMap<string, { shape: readonly number[]; data: Float32Array }>,
  trunk: readonly TF.layers.Layer[],
  heads: readonly TF.layers.Layer[],
  taskNames: readonly string[],
): void {
  const get = (name: string): { shape: readonly number[]; data: Float32Array } => {
    const t = tensors.get(name);
    if (!t) throw new Error(`the checkpoint has no tensor ${name}`);
    return t;
  };
  const set = (layer: TF.layers.Layer, prefix: string): void => {
    const w = kernelOf(tf, get(`${prefix}.weight`));
    const b = get(`${prefix}.bias`);
    const bt = tf.tensor1d(b.data);
    layer.setWeights([w, bt]);
    w.dispose();
    bt.dispose();
  };
  trunk.forEach((l, i) => set(l, `trunk.${i}`));
  heads.forEach((l, t) => set(l, `heads.${taskNames[t]}.0`));
}
