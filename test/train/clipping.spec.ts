/**
 * Gradient clipping by global norm: the norm and the scaled arena against a host reference
 * computation on every backend under test, and in training: one SGD step moves the parameters
 * by exactly lr · maxNorm when the gradient norm exceeds it.
 */
import assert from 'node:assert/strict';
import type { Backend } from '../../ts/backends/backend.js';
import { ReferenceBackend } from '../../ts/backends/reference.js';
import { makeMultiMnist } from '../../ts/data/multimnist.js';
import { ValueError } from '../../ts/errors.js';
import { MultiTaskModel } from '../../ts/mtl/model.js';
import { GradientClipper } from '../../ts/train/clipping.js';
import { Trainer } from '../../ts/train/trainer.js';
import { assertClose, backendsUnderTest } from '../backends/harness.js';
import { multiMnistMlp } from '../fixtures.js';

const under = await backendsUnderTest();
const backends: { name: string; backend: Backend | null }[] = [{ name: 'reference', backend: new ReferenceBackend() }, ...under];

/** The reference: the L2 norm in f64 and the clipped values. */
function reference(g: Float32Array, max: number): { norm: number; clipped: Float32Array } {
  let s = 0;
  for (const v of g) s += v * v;
  const norm = Math.sqrt(s);
  const f = norm > max ? max / (norm + 1e-6) : 1;
  return { norm, clipped: g.map((v) => v * f) };
}

describe('gradient clipping by global norm', function () {
  this.timeout(120_000);

  for (const { name, backend } of backends) {
    it(`measures the norm and scales the arena like the reference (${name})`, async function () {
      if (!backend) this.skip();
      const n = 5000;
      const g = Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37) * (1 + (i % 7)));
      const want = reference(g, 3);
      const t = backend!.upload(g, [n]);
      const clipper = new GradientClipper(backend!, t, n, 3);
      const norm = await clipper.clip();
      const tol = name === 'cuda' ? 3e-3 : 1e-4; // cuda's gemm multiplies in TF32
      assert.ok(Math.abs(norm - want.norm) <= tol * want.norm, `norm ${norm} vs ${want.norm}`);
      assertClose(await backend!.read(t), want.clipped, { atol: 1e-5, rtol: tol }, 'clipped gradients');
      // Below the limit: untouched.
      const small = Float32Array.from([0.3, -0.4]);
      const u = backend!.upload(small, [2]);
      const c2 = new GradientClipper(backend!, u, 2, 1);
      assert.ok(Math.abs((await c2.clip()) - 0.5) < 1e-6);
      assert.deepEqual(await backend!.read(u), small);
      clipper.dispose();
      c2.dispose();
      backend!.free(t);
      backend!.free(u);
    });
  }

  it('rejects a limit that is not positive', () => {
    const be = new ReferenceBackend();
    const t = be.alloc([4]);
    assert.throws(() => new GradientClipper(be, t, 4, 0), ValueError);
    assert.throws(() => new GradientClipper(be, t, 4, Number.NaN), /clipGradNorm/);
  });

  it('clips in training: one SGD step moves the parameters by lr · maxNorm, and logs the norm', async () => {
    const data = makeMultiMnist({ split: 'train', seed: 1, count: 32 });
    const model = new MultiTaskModel(new ReferenceBackend(), multiMnistMlp([16], 32, 3));
    const before = Float32Array.from(await model.backend.read(model.params.values));
    const lr = 0.1;
    const maxNorm = 1e-3; // far below any gradient norm of a fresh model
    const trainer = new Trainer(model, { optimizer: { kind: 'sgd', lr }, batchSize: 32, epochs: 1, log: null, clipGradNorm: maxNorm });
    const [record] = await trainer.fit(data);
    const after = await model.backend.read(model.params.values);
    let s = 0;
    for (let i = 0; i < after.length; i++) s += (after[i] - before[i]) ** 2;
    assert.ok(record.gradNorm! > maxNorm, `gradient norm ${record.gradNorm}`);
    assert.ok(Math.abs(Math.sqrt(s) - lr * maxNorm) < 1e-3 * lr * maxNorm, `step length ${Math.sqrt(s)}`);
  });

  it('costs one scalar read per step and no allocation after the Trainer is made (with a schedule too)', async () => {
    const be = new ReferenceBackend();
    const calls = { read: 0, alloc: 0, sizes: [] as number[] };
    const { read, alloc } = { read: be.read.bind(be), alloc: be.alloc.bind(be) };
    be.read = (t, into) => {
      calls.read++;
      calls.sizes.push(t.size);
      return read(t, into);
    };
    be.alloc = (shape) => {
      calls.alloc++;
      return alloc(shape);
    };
    const data = makeMultiMnist({ split: 'train', seed: 1, count: 64 });
    const model = new MultiTaskModel(be, multiMnistMlp([16], 16, 3));
    const trainer = new Trainer(model, {
      optimizer: { kind: 'adamw', lr: 1e-3 }, batchSize: 16, epochs: 2, log: null, lossCheckEvery: 1000,
      clipGradNorm: 0.5, lrSchedule: { kind: 'cosine', warmupSteps: 2 },
    });
    await trainer.fit(data, { epochs: 1 }); // warm-up
    Object.assign(calls, { read: 0, alloc: 0, sizes: [] });
    await trainer.fit(data);
    assert.equal(calls.alloc, 0, 'alloc calls');
    // 4 steps: 4 one-element norm reads, then the epoch's loss read and parameter read.
    assert.equal(calls.read, 4 + 2, 'read calls');
    assert.equal(calls.sizes.filter((n) => n === 1).length, 4, 'one-element reads');
  });
});
