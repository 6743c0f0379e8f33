/**
 * The cuda backend's pool of freed allocations (ts/backends/cuda.ts) never lets two live tensors
 * share one: a freed tensor, or a view of one, throws ValueError on every use (its allocation may
 * already belong to a later tensor), and a second free throws instead of pooling the allocation
 * twice. Needs a GPU: skipped (with the reason) where the cuda backend cannot run; the parity
 * specs (test/backends/parity/) check the same contract on every backend present.
 */
import assert from 'node:assert/strict';
import { createBackend } from '../../ts/backends/create.js';
import { type CudaBackend, CudaTensor } from '../../ts/backends/cuda.js';
import { BackendUnavailableError, ValueError } from '../../ts/errors.js';

describe('cuda backend: freed tensors', function () {
  this.timeout(60_000);
  let be: CudaBackend | null = null;

  before(async function () {
    try {
      be = (await createBackend('cuda')) as CudaBackend;
    } catch (e) {
      if (!(e instanceof BackendUnavailableError)) throw e;
      console.log(`      skipped: ${e.message}`);
      this.skip();
    }
  });
  after(() => be?.dispose());

  it('a pooled allocation handed to a new tensor is unreachable through the freed one', async () => {
    const cuda = be!;
    const old = cuda.upload(new Float32Array(200).fill(1), [200]) as CudaTensor;
    const view = cuda.view(old, 64, [8]);
    cuda.free(old);
    const fresh = cuda.alloc([200]) as CudaTensor;
    assert.equal(fresh.id, old.id, 'the pool hands the freed allocation out again');
    assert.throws(() => cuda.write(old, new Float32Array(200).fill(9)), ValueError);
    assert.throws(() => cuda.fill(view, 9), ValueError);
    assert.throws(() => cuda.activationForward('relu', old, fresh), ValueError);
    await assert.rejects(cuda.read(old), ValueError);
    assert.deepEqual(Array.from(await cuda.read(fresh)).slice(0, 3), [0, 0, 0]);
  });

  it('a double free throws and does not pool the allocation twice', async () => {
    const cuda = be!;
    const t = cuda.alloc([300]) as CudaTensor;
    cuda.free(t);
    assert.throws(() => cuda.free(t), (e: Error) => e instanceof ValueError && /double free/.test(e.message));
    const a = cuda.alloc([300]) as CudaTensor;
    const b = cuda.alloc([300]) as CudaTensor;
    assert.notEqual(a.id, b.id);
  });
});
