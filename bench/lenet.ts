/**
 * MultiLeNet training (the multimnist-lenet preset: conv trunk, two heads, batch 256, SGD
 * momentum 0.9, dropouts active): hydranet's steps/s beside TensorFlow.js in the same run.
 * tfjs runs in its own process (bench/peers/tfjs_lenet.ts), on each of its backends. Its wasm backend cannot train a
 * convolution (no Conv2DBackpropFilter kernel), which is reported as the reason it is skipped.
 */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Backend } from '../ts/backends/backend.js';
import { Rng } from '../ts/core/random.js';
import { MultiTaskModel } from '../ts/mtl/model.js';
import { PRESETS } from '../ts/train/presets.js';
import { Optimizer } from '../ts/train/optimizer.js';
import type { TfjsBackend } from './peers/tfjs_common.js';
import { runJsonChild } from './child.js';
import type { BenchRecord } from './report.js';
import { type WindowPlan, measure, summarize } from './stats.js';

const BATCH = 256;
const here = path.dirname(fileURLToPath(import.meta.url));

/**
 * The MultiLeNet model (the multimnist-lenet preset, two tasks, batch 256) on `be`, its
 * optimizer and one uploaded random batch: `run(k)` is k real training steps, no readbacks.
 */
export function lenetStep(be: Backend): { run: (k: number) => void } {
  const p = PRESETS['multimnist-lenet'];
  const model = new MultiTaskModel(be, {
    inputShape: p.inputShape,
    trunk: p.trunk,
    heads: p.heads,
    tasks: [
      { name: 'left', kind: 'classification', classes: 10 },
      { name: 'right', kind: 'classification', classes: 10 },
    ],
    maxBatch: BATCH,
    seed: 1,
  });
  const optimizer = new Optimizer(be, model.params, p.optimizer);
  const rng = new Rng(2);
  model.loadBatch(BATCH, rng.uniformArray(BATCH * 784), Float32Array.from({ length: BATCH * 2 }, () => rng.int(10)));
  let count = 0;
  const run = (k: number): void => {
    for (let i = 0; i < k; i++) {
      model.forwardBackward(BATCH, { training: true, seed: ++count });
      optimizer.step();
    }
  };
  return { run };
}

/** hydranet's MultiLeNet steps/s on `be`. */
export async function benchLenet(be: Backend, plan: WindowPlan): Promise<BenchRecord> {
  const { run } = lenetStep(be);
  const s = await measure(run, () => be.sync(), plan);
  const threads = (be as unknown as { threads?: unknown }).threads;
  return { workload: 'LeNet', system: 'hydranet', backend: be.name, metric: 'train_steps_per_s', unit: 'steps/s', median: s.median, min: s.min, max: s.max, windows: s.samples.length, threads: typeof threads === 'number' ? threads : undefined };
}

/** TensorFlow.js on one of its backends, or a record saying why it did not run. */
export function benchTfjsLenet(backend: TfjsBackend, seconds: number, maxSteps: number): BenchRecord {
  const base = { workload: 'LeNet', system: 'tfjs', backend, metric: 'train_steps_per_s', unit: 'steps/s' };
  const r = runJsonChild<{ rates: number[]; threads?: number; peak_rss?: number }>(
    path.join(here, 'peers', 'tfjs_lenet.js'),
    ['--backend', backend, '--seconds', String(seconds), '--max-steps', String(maxSteps)],
    seconds + 120,
  );
  if (!r.ok || !r.value.rates?.length) return { ...base, median: null, min: null, max: null, skipped: `tfjs ${backend} cannot train it: ${r.ok ? 'no steps' : r.reason}` };
  const out = r.value;
  const s = summarize(out.rates);
  return { ...base, median: s.median, min: s.min, max: s.max, windows: out.rates.length, threads: out.threads, peak_rss_mib: out.peak_rss ? out.peak_rss / 2 ** 20 : undefined, note: 'each window is one step, closed by a readback of its loss' };
}
