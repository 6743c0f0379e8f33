/**
 * Helpers of the specs that check a body's passes without copies or adds (Dense's forwardInto /
 * backwardAccumulate, used by the experts and the towers): a small three-task model whose
 * chains (experts, towers) are dense or end / start in a non-dense layer, its training steps,
 * the old path by removing those methods, and a count of a backend's copy / add / fill calls.
 */
import type { Backend } from '../../ts/backends/backend.js';
import { Rng } from '../../ts/core/random.js';
import { type ModelConfig, MultiTaskModel } from '../../ts/mtl/model.js';
import type { SharingConfig } from '../../ts/mtl/sharing/index.js';
import { Dense } from '../../ts/nn/dense.js';
import { Optimizer } from '../../ts/train/optimizer.js';

/** The chains' layers: two dense, or a dense one and a dropout last, or an activation first. */
export type Chain = 'dense' | 'dropout last' | 'activation first';

/** The models' input width and largest batch. */
export const F = 7;
export const MAX_BATCH = 17;

/** Same backend, the two paths: only the GEMM's rounding of dx + dz·W (one f32 rounding instead of two) may differ. */
export const SAME_BACKEND = { atol: 1e-6, rtol: 1e-5 };
/** cpu against the reference, as the other model parity specs compare. */
export const ACROSS = { atol: 1e-5, rtol: 1e-4 };

/** Three tasks (classification, regression, binary) over `sharing` with `chain` layers of `width` units, optionally after an embedding of columns 1 and 4. */
export function passesConfig(sharing: SharingConfig, width: number, chain: Chain, embedding: boolean, seed = 7): ModelConfig {
  const chains: Record<Chain, ModelConfig['trunk']> = {
    // The last layer's activation: relu at width 3 (its derivative reads the output, the
    // stacked block), gelu otherwise (its own pre-activation buffer, the output in the block).
    dense: [
      { type: 'dense', units: width, activation: width === 3 ? 'gelu' : 'relu' },
      { type: 'dense', units: width, activation: width === 3 ? 'relu' : 'gelu' },
    ],
    'dropout last': [
      { type: 'dense', units: width, activation: 'relu' },
      { type: 'dropout', p: 0.25 },
    ],
    'activation first': [
      { type: 'activation', activation: 'tanh' },
      { type: 'dense', units: width, activation: 'relu' },
    ],
  };
  return {
    inputShape: [F],
    trunk: chains[chain],
    sharing,
    ...(embedding && {
      embedding: {
        fields: [
          { column: 1, vocab: 5, dim: 3 },
          { column: 4, vocab: 3, dim: 2 },
        ],
      },
    }),
    heads: { hidden: [3], activation: 'tanh' },
    tasks: [
      { name: 'a', kind: 'classification', classes: 3, weight: 0.7 },
      { name: 'b', kind: 'regression' },
      { name: 'c', kind: 'binary', weight: 1.3 },
    ],
    maxBatch: MAX_BATCH,
    seed,
  };
}

/** n rows of F features in [-1, 1] (columns 1 and 4 valid indices for the embedding's fields) and targets for a, b, c. */
export function loadPassesBatch(model: MultiTaskModel, n: number, seed: number): void {
  const rng = new Rng(seed);
  const x = rng.uniformArray(n * F, -1, 1);
  const y = new Float32Array(n * 3);
  for (let i = 0; i < n; i++) {
    x[i * F + 1] = rng.int(5);
    x[i * F + 4] = rng.int(3);
    y.set([rng.int(3), rng.normal(), rng.int(2)], i * 3);
  }
  model.loadBatch(n, x, y);
}

/** The parameters after SGD steps at batch sizes 17, 1, 3, 17 (training mode: dropout on; batches drawn from seeds batchSeed + 0..3). */
export async function trainPasses(be: Backend, cfg: ModelConfig, batchSeed = 20): Promise<Float32Array> {
  const model = new MultiTaskModel(be, cfg);
  const opt = new Optimizer(be, model.params, { kind: 'sgd', lr: 0.1 });
  [MAX_BATCH, 1, 3, MAX_BATCH].forEach((n, s) => {
    loadPassesBatch(model, n, batchSeed + s);
    model.forwardBackward(n, { training: true, seed: s + 1 });
    opt.step();
  });
  return be.read(model.params.values);
}

/** Runs `fn` with Dense's forwardInto and backwardAccumulate removed: every caller then copies the layer's output and adds (or copies) its input gradient, as before they existed. */
export async function copyAndAddPath<T>(fn: () => Promise<T>): Promise<T> {
  const proto = Dense.prototype as { forwardInto?: unknown; backwardAccumulate?: unknown };
  const saved = { forwardInto: proto.forwardInto, backwardAccumulate: proto.backwardAccumulate };
  proto.forwardInto = undefined;
  proto.backwardAccumulate = undefined;
  try {
    return await fn();
  } finally {
    Object.assign(proto, saved);
  }
}

/** Counts of a spied backend's calls. */
export interface PassCalls {
  copy: number;
  add: number;
  fill: number;
}

/** `be` with its copy, add and fill counted into `calls` (instance methods over the class's, removed by restore). */
export function spyPasses(be: Backend, calls: PassCalls): Backend & { restore(): void } {
  const spied = be as Backend & { restore(): void };
  const names = ['copy', 'add', 'fill'] as const;
  for (const name of names) {
    const f = be[name] as (...a: unknown[]) => void;
    (spied as unknown as Record<string, unknown>)[name] = (...a: unknown[]) => {
      calls[name]++;
      f.apply(be, a);
    };
  }
  spied.restore = () => {
    for (const key of [...names, 'restore']) delete (be as unknown as Record<string, unknown>)[key];
  };
  return spied;
}
