/**
 * Dense makes its own output and input-gradient buffers on first need (the first forward that
 * is not forwardInto, the first backward that returns dL/dx), not in allocate(): the experts of
 * an MMoE model, whose last layers write the stacked outputs (forwardInto) and whose first layers
 * add into the body's dL/dx (backwardAccumulate) or return none, never hold them. Checked by
 * the layers' state after a training step, by the backend allocations (cpu, the reference:
 * exactly those buffers fewer than when allocate() made them; webgpu: deviceBytes by their
 * bytes), and that the first step is the only one that allocates.
 */
import assert from 'node:assert/strict';
import type { Backend } from '../../ts/backends/backend.js';
import { ReferenceBackend } from '../../ts/backends/reference.js';
import { Rng } from '../../ts/core/random.js';
import type { ExpertBody } from '../../ts/mtl/experts.js';
import { type ModelConfig, MultiTaskModel } from '../../ts/mtl/model.js';
import { Dense } from '../../ts/nn/dense.js';
import { BatchBuffer } from '../../ts/nn/layer.js';
import { backendsUnderTest } from '../backends/harness.js';

const found = await backendsUnderTest();
const cpu = found.find((b) => b.name === 'cpu')?.backend ?? null;
const webgpu = found.find((b) => b.name === 'webgpu')?.backend ?? null;

const F = 7;
const MAX_BATCH = 16;
const E = 3;
const UNITS = [12, 10];

function config(embedding: boolean, sharing: ModelConfig['sharing'] = { kind: 'mmoe', experts: E }): ModelConfig {
  return {
    inputShape: [F],
    trunk: UNITS.map((units) => ({ type: 'dense' as const, units, activation: 'relu' as const })),
    sharing,
    ...(embedding && { embedding: { fields: [{ column: 1, vocab: 5, dim: 3 }] } }),
    heads: { hidden: [4] },
    tasks: [
      { name: 'a', kind: 'binary' },
      { name: 'b', kind: 'regression' },
    ],
    maxBatch: MAX_BATCH,
    seed: 3,
  };
}

/** The input width the experts' first layers see: F, or with the embedding F − 1 + 3. */
const inWidth = (embedding: boolean): number => (embedding ? F - 1 + 3 : F);

function step(model: MultiTaskModel, n: number, seed: number): void {
  const rng = new Rng(seed);
  const x = rng.uniformArray(n * F, -1, 1);
  for (let i = 0; i < n; i++) x[i * F + 1] = rng.int(5);
  model.loadBatch(n, x, Float32Array.from({ length: n * 2 }, () => rng.int(2)));
  model.forwardBackward(n, { training: true, seed });
}

/** `inner` with its allocations' shapes recorded. */
function recording(inner: Backend, shapes: number[][]): Backend {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (prop !== 'alloc' || typeof v !== 'function') return v;
      return function (this: unknown, shape: number[]) {
        shapes.push([...shape]);
        return v.call(this, shape);
      };
    },
  });
}

type Buffers = { out: BatchBuffer | null; dx: BatchBuffer | null; units: number; inSize: number };

/** Runs `fn` with Dense's allocate() making the output and input-gradient buffers up front, as it did before they were made on first need. */
async function eagerBuffers<T>(fn: () => Promise<T>): Promise<T> {
  const proto = Dense.prototype;
  const allocate = proto.allocate;
  proto.allocate = function (this: Dense, backend: Backend, maxBatch: number) {
    allocate.call(this, backend, maxBatch);
    const d = this as unknown as Buffers;
    d.out = new BatchBuffer(backend, maxBatch, [d.units]);
    d.dx = new BatchBuffer(backend, maxBatch, [d.inSize]);
  };
  try {
    return await fn();
  } finally {
    proto.allocate = allocate;
  }
}

const shapeKey = (s: readonly number[]): string => s.join('×');

describe("Dense's own output and input-gradient buffers, made on first need", function () {
  this.timeout(120_000);

  for (const embedding of [false, true]) {
    it(`an MMoE model's dense experts hold neither after training steps${embedding ? ' after an embedding (dL/dx accumulated)' : ' (no dL/dx)'}; the layers inside each chain hold what they use`, () => {
      const model = new MultiTaskModel(new ReferenceBackend(), config(embedding));
      for (const [n, seed] of [[MAX_BATCH, 1], [5, 2]]) step(model, n, seed);
      const experts = ((embedding ? (model.body as unknown as { inner: ExpertBody }).inner : model.body) as ExpertBody).experts;
      assert.equal(experts.length, E);
      for (const [i, e] of experts.entries()) {
        const [first, last] = e.layers as unknown as Buffers[];
        assert.equal(last.out, null, `expert ${i}: the last layer's output buffer (it writes the stacked block)`);
        assert.equal(first.dx, null, `expert ${i}: the first layer's input-gradient buffer`);
        assert.ok(first.out, `expert ${i}: the first layer's output (the second layer's input)`);
        assert.ok(last.dx, `expert ${i}: the last layer's input gradient (the first layer's dy)`);
        assert.equal(last.dx!.base.shape[0], MAX_BATCH, 'made for maxBatch rows');
      }
    });
  }

  it('allocations (reference, cpu): exactly E outputs [maxBatch, units] and E input gradients [maxBatch, in] fewer than made up front; after the first step none', async () => {
    for (const be of [new ReferenceBackend(), ...(cpu ? [cpu] : [])]) {
      for (const embedding of [false, true]) {
        const run = async (): Promise<{ shapes: number[][]; later: number }> => {
          const shapes: number[][] = [];
          const model = new MultiTaskModel(recording(be, shapes), config(embedding));
          step(model, MAX_BATCH, 1);
          step(model, 5, 2);
          const before = shapes.length;
          for (const [n, seed] of [[MAX_BATCH, 3], [5, 4], [MAX_BATCH, 5]]) step(model, n, seed);
          return { shapes, later: shapes.length - before };
        };
        const lazy = await run();
        const eager = await eagerBuffers(run);
        assert.equal(lazy.later, 0, `${be.name}: allocations after the first steps`);
        assert.equal(eager.later, 0, `${be.name}, made up front: allocations after the first steps`);
        // The multiset difference eager − lazy: E of [maxBatch, last units] and E of [maxBatch, in width].
        const left = new Map<string, number>();
        for (const s of eager.shapes) left.set(shapeKey(s), (left.get(shapeKey(s)) ?? 0) + 1);
        for (const s of lazy.shapes) {
          const k = shapeKey(s);
          assert.ok((left.get(k) ?? 0) > 0, `${be.name}: ${k} allocated only when made on first need`);
          left.set(k, left.get(k)! - 1);
        }
        const diff = [...left].filter(([, c]) => c > 0);
        const want = new Map([[shapeKey([MAX_BATCH, UNITS[1]]), E]]);
        const inKey = shapeKey([MAX_BATCH, inWidth(embedding)]);
        want.set(inKey, (want.get(inKey) ?? 0) + E);
        assert.deepEqual(new Map(diff), want, `${be.name}${embedding ? ', embedding' : ''}: the buffers no longer made`);
      }
    }
  });

  it('a layer that needs them (hard sharing: the trunk returns dL/dx to the embedding) makes them in its first step and none later', async () => {
    const shapes: number[][] = [];
    const model = new MultiTaskModel(recording(new ReferenceBackend(), shapes), config(true, { kind: 'hard' }));
    const atBuild = shapes.length;
    step(model, MAX_BATCH, 1);
    const first = shapes.slice(atBuild).map(shapeKey);
    // The trunk's two outputs and two input gradients (the first layer's for the embedding), made now.
    for (const k of [[MAX_BATCH, UNITS[0]], [MAX_BATCH, UNITS[1]], [MAX_BATCH, UNITS[0]], [MAX_BATCH, inWidth(true)]].map(shapeKey)) {
      const i = first.indexOf(k);
      assert.ok(i >= 0, `${k} made in the first step`);
      first.splice(i, 1);
    }
    const after = shapes.length;
    for (const [n, seed] of [[5, 2], [MAX_BATCH, 3]]) step(model, n, seed);
    assert.equal(shapes.length, after, 'allocations after the first step');
  });

  it('webgpu: deviceBytes held by a new MMoE model after its first step lower by those buffers exactly (after an embedding)', async function () {
    if (!webgpu) this.skip();
    const gpu = webgpu!;
    const held = async (): Promise<number> => {
      const before = gpu.deviceBytes()!;
      step(new MultiTaskModel(gpu, config(true)), MAX_BATCH, 1);
      await gpu.sync();
      return gpu.deviceBytes()! - before;
    };
    await held(); // warm-up: the pipelines' uniforms and staging made once
    const lazy = await held();
    const eager = await eagerBuffers(held);
    // The runtime rounds every buffer up to 256 bytes.
    const bytes = (floats: number): number => Math.ceil((floats * 4) / 256) * 256;
    assert.equal(eager - lazy, E * (bytes(MAX_BATCH * UNITS[1]) + bytes(MAX_BATCH * inWidth(true))), `device bytes: ${eager} made up front, ${lazy} on first need`);
  });
});
