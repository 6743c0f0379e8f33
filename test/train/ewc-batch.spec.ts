/**
 * The diagonal Fisher's batch path (fisherEstimate, path 'batch-squares': the squared per-sample
 * gradients of whole batches, (dz∘dz)ᵀ(x∘x) per dense map) against the Fisher computed one sample
 * at a time by plain backward passes and squared on the host (the oracle: today's batch-1
 * algorithm, written out here), for 'exact' and 'empirical' (with masked labels), on a
 * hard-sharing MLP with two tasks (dropout, which stays off, and hidden gelu heads), MMoE, CGC
 * and OMoE, on the reference and every backend present; 'sampled' gives the same on both paths
 * (the same labels drawn); models with a parameter outside a dense map (conv, cross-stitch) fall
 * back to one sample per pass and say why.
 */
import assert from 'node:assert/strict';
import type { Backend } from '../../ts/backends/backend.js';
import { ReferenceBackend } from '../../ts/backends/reference.js';
import { Rng } from '../../ts/core/random.js';
import { MultiTaskDataset } from '../../ts/data/dataset.js';
import { ConfigError } from '../../ts/errors.js';
import { MultiTaskModel, type ModelConfig } from '../../ts/mtl/model.js';
import { fisherDiagonal, fisherEstimate } from '../../ts/train/ewc.js';
import { backendsUnderTest } from '../backends/harness.js';

const backends: { name: string; backend: Backend }[] = [
  { name: 'reference', backend: new ReferenceBackend() },
  ...(await backendsUnderTest()).flatMap((b) => (b.backend ? [{ name: b.name, backend: b.backend }] : [])),
];

const D = 5;
const N = 21; // batches of 8, 8 and 5
const tasks: ModelConfig['tasks'] = [
  { name: 'c', kind: 'classification', classes: 3 },
  { name: 'b', kind: 'binary' },
];
const models: Record<string, ModelConfig> = {
  'hard MLP': {
    inputShape: [D],
    trunk: [
      { type: 'dense', units: 7, activation: 'tanh' },
      { type: 'dropout', p: 0.3 }, // off in evaluation mode, as the Fisher runs
      { type: 'dense', units: 6, activation: 'relu' },
    ],
    heads: { hidden: [4], activation: 'gelu', dropout: 0.2 },
    tasks,
    maxBatch: 8,
    seed: 3,
  },
  mmoe: { inputShape: [D], trunk: [{ type: 'dense', units: 6, activation: 'relu' }], sharing: { kind: 'mmoe', experts: 3 }, tasks, maxBatch: 8, seed: 4 },
  cgc: { inputShape: [D], trunk: [{ type: 'dense', units: 5, activation: 'sigmoid' }], sharing: { kind: 'cgc', shared: 1, perTask: 1 }, tasks, maxBatch: 8, seed: 6 },
  omoe: { inputShape: [D], trunk: [{ type: 'dense', units: 6, activation: 'tanh' }], sharing: { kind: 'omoe', experts: 2 }, tasks, maxBatch: 8, seed: 5 },
};

function dataset(): { data: MultiTaskDataset; x: Float32Array; c: Float32Array; b: Float32Array; mask: Uint8Array } {
  const rng = new Rng(12);
  const x = rng.uniformArray(N * D, -1.5, 1.5);
  const c = Float32Array.from({ length: N }, (_, i) => i % 3);
  const b = Float32Array.from({ length: N }, (_, i) => (x[i * D] > 0 ? 1 : 0));
  const mask = Uint8Array.from({ length: N }, (_, i) => (i % 4 === 1 ? 0 : 1)); // some samples lack b's label
  return { data: new MultiTaskDataset({ inputs: x, inputShape: [D], labels: { c, b }, masks: { b: mask } }), x, c, b, mask };
}

/** One backward pass per sample (and per class for 'exact'), its gradient read back and squared in f64: the mean over samples. */
async function oneByOne(model: MultiTaskModel, variant: 'exact' | 'empirical', set: ReturnType<typeof dataset>): Promise<Float64Array> {
  const { x, c, b, mask } = set;
  const probs = await model.predict(x);
  const F = new Float64Array(model.params.arenaSize);
  const pass = async (i: number, weights: number[], targets: number[], m: number[] | null): Promise<void> => {
    model.setTaskWeights(Float32Array.from(weights));
    model.loadBatch(1, x.subarray(i * D, (i + 1) * D), Float32Array.from(targets), m && Float32Array.from(m));
    model.forwardBackward(1, { training: false, seed: 0 });
    const g = await model.backend.read(model.params.grads);
    for (let k = 0; k < g.length; k++) F[k] += (g[k] * g[k]) / N;
  };
  for (let i = 0; i < N; i++) {
    if (variant === 'empirical') {
      await pass(i, [1, 1], [c[i], b[i]], [1, mask[i]]);
      continue;
    }
    for (let k = 0; k < 3; k++) await pass(i, [Math.sqrt(probs.c[i * 3 + k]), 0], [k, 0], null);
    for (const k of [0, 1]) await pass(i, [0, Math.sqrt(k === 1 ? probs.b[i] : 1 - probs.b[i])], [0, k], null);
  }
  model.setTaskWeights(Float32Array.of(1, 1));
  return F;
}

/** |got − want| ≤ 1e-5·|want| + 1e-6·max|want| everywhere, and the Fisher not trivially 0. */
function assertSame(got: Float32Array, want: ArrayLike<number>, what: string): void {
  assert.equal(got.length, want.length);
  let scale = 0;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]));
  assert.ok(scale > 1e-4, `${what}: the Fisher is not trivially 0`);
  for (let i = 0; i < want.length; i++) {
    assert.ok(Math.abs(got[i] - want[i]) <= 1e-5 * Math.abs(want[i]) + 1e-6 * scale, `${what}[${i}]: ${got[i]} vs ${want[i]}`);
  }
}

describe('fisherEstimate: the batch path (squared per-sample gradients of dense maps)', function () {
  this.timeout(60000);
  for (const { name, backend } of backends) {
    for (const [kind, config] of Object.entries(models)) {
      it(`${name}, ${kind}: 'exact', 'empirical' (masked labels) and 'sampled' equal the one-sample-at-a-time Fisher`, async () => {
        const set = dataset();
        const model = new MultiTaskModel(backend, config);
        for (const variant of ['exact', 'empirical'] as const) {
          const want = await oneByOne(model, variant, set);
          const fast = await fisherEstimate(model, set.data, { variant });
          assert.equal(fast.path, 'batch-squares', `${variant}: ${fast.reason}`);
          assertSame(fast.fisher, want, `${name} ${kind} ${variant} batch-squares`);
          const single = await fisherEstimate(model, set.data, { variant, path: 'single' });
          assert.equal(single.path, 'single');
          assertSame(single.fisher, want, `${name} ${kind} ${variant} single`);
          // exact: a pass per batch, task and class (3 batches × 5 classes) instead of per sample.
          if (variant === 'exact') assert.deepEqual([fast.backwardPasses, single.backwardPasses], [15, N * 5]);
        }
        const a = await fisherEstimate(model, set.data, { variant: 'sampled', seed: 7 });
        assert.equal(a.path, 'batch-squares');
        assertSame(a.fisher, await fisherDiagonal(model, set.data, { variant: 'sampled', seed: 7, path: 'single' }), `${name} ${kind} sampled`);
        assert.ok([...(await backend.read(model.params.grads))].every((g) => g === 0), 'the gradient arena is left zero');
        // The model trains on after it: its backward accumulates gradients again.
        model.loadBatch(2, set.x, Float32Array.of(0, 1, 2, 0), null);
        model.forwardBackward(2, { training: false, seed: 0 });
        assert.ok([...(await backend.read(model.params.grads))].some((g) => g !== 0));
      });
    }
  }

  it('falls back to one sample per pass, and says why, for a conv trunk or cross-stitch units', async () => {
    const be = new ReferenceBackend();
    const conv = new MultiTaskModel(be, {
      inputShape: [1, 4, 4],
      trunk: [{ type: 'conv2d', filters: 2, kernel: 3, activation: 'relu' }, { type: 'flatten' }],
      tasks: [{ name: 'c', kind: 'classification', classes: 3 }],
      maxBatch: 4,
    });
    const images = new MultiTaskDataset({ inputs: new Rng(1).uniformArray(6 * 16, 0, 1), inputShape: [1, 4, 4], labels: { c: Float32Array.of(0, 1, 2, 0, 1, 2) } });
    const got = await fisherEstimate(conv, images);
    assert.equal(got.path, 'single');
    assert.match(got.reason ?? '', /trunk\.0\.weight/);
    assert.equal(got.backwardPasses, 6 * 3);
    assert.ok(got.fisher.some((v) => v > 0));
    await assert.rejects(fisherEstimate(conv, images, { path: 'batch-squares' }), (e: Error) => e instanceof ConfigError && /trunk\.0\.weight/.test(e.message));
    await assert.rejects(fisherEstimate(conv, images, { path: 'fast' as never }), ConfigError);

    const stitched = new MultiTaskModel(be, { ...models.mmoe, sharing: { kind: 'cross-stitch' } });
    const set = dataset();
    const s = await fisherEstimate(stitched, set.data, { variant: 'empirical' });
    assert.equal(s.path, 'single');
    assert.match(s.reason ?? '', /towers\.c\.0\.weight/);
    assertSame(s.fisher, await oneByOne(stitched, 'empirical', set), 'cross-stitch fallback');
    assert.equal((await fisherEstimate(stitched, set.data, { variant: 'batched', batchSize: 8 })).path, 'batch-means');
  });
});
