/**
 * Tensor storage on every backend present: upload, write, view, fill, copy and read round-trip;
 * deviceBytes counts each allocation once; and a freed tensor (or a view of one) and a second
 * free throw ValueError, on the reference too.
 */
import assert from 'node:assert/strict';
import { type Backend } from '../../../ts/backends/backend.js';
import { ShapeError, ValueError } from '../../../ts/errors.js';
import { describeParity, parityBackends, referenceBackend } from '../harness.js';

await describeParity('lifetime', ({ name, b, it }) => {
  describe('tensors', () => {
    it('upload, write at an offset, view, fill, copy and read round-trip', async () => {
      const be = b();
      const t = be.upload(new Float32Array(200).map((_, i) => i), [200]);
      be.write(t, new Float32Array([-1, -2]), 64);
      const v = be.view(t, 64, [2, 3]);
      assert.deepEqual(Array.from(await be.read(v)), [-1, -2, 66, 67, 68, 69]);
      be.fill(v, 5);
      const c = be.alloc([6]);
      be.copy(v, c);
      const into = new Float32Array(6);
      assert.equal(await be.read(c, into), into);
      assert.deepEqual(Array.from(into), [5, 5, 5, 5, 5, 5]);
      assert.equal((await be.read(t))[63], 63);
      assert.equal((await be.read(t))[70], 70);
      assert.throws(() => be.view(t, 3, [2]), ShapeError);
      assert.throws(() => be.write(t, new Float32Array(10), 195), ShapeError);
    });
  });

  it('deviceBytes: null on host backends; on GPU backends every allocation counted once, pooled reuse adds nothing', () => {
    const be = b();
    const before = be.deviceBytes();
    if (name === 'cpu' || name === 'reference') {
      assert.equal(before, null);
      return;
    }
    assert.ok(typeof before === 'number' && before >= 0, `deviceBytes() = ${String(before)}`);
    const t = be.alloc([1000, 17]); // a capacity no earlier test allocated
    const grown = be.deviceBytes()!;
    assert.ok(grown >= before! + 1000 * 17 * 4, `${grown} after a 68,000-byte tensor, ${before} before`);
    be.free(t);
    be.free(be.alloc([1000, 17])); // reuses the pooled allocation
    assert.equal(be.deviceBytes(), grown);
  });
});

const backends = await parityBackends();

describe('freed tensors, on every backend present', () => {
  // GPU backends pool freed allocations: a freed tensor used again would alias a later tensor,
  // and a double free would hand one allocation to two. Every backend refuses both.
  const all: { name: string; backend: Backend | null; skip?: string }[] = [{ name: 'reference', backend: referenceBackend }, ...backends];
  for (const { name, backend, skip } of all) {
    it(`${name}: using a freed tensor (or a view of one) and freeing twice throw ValueError; later tensors stay distinct`, async function () {
      if (!backend) {
        console.log(`      skipped: ${skip}`);
        this.skip();
      }
      const be = backend!;
      const freed = (use: () => unknown): Promise<void> => assert.rejects(async () => use(), ValueError);
      const t = be.upload(Float32Array.from({ length: 128 }, (_, i) => i), [128]);
      const v = be.view(t, 64, [64]);
      const other = be.alloc([128]);
      be.free(v); // a view: no-op, its base lives on
      assert.equal((await be.read(v))[1], 65);
      be.free(t);
      await freed(() => be.read(t));
      await freed(() => be.write(t, new Float32Array(4)));
      await freed(() => be.fill(t, 1));
      await freed(() => be.copy(t, other));
      await freed(() => be.copy(other, t));
      await freed(() => be.view(t, 0, [4]));
      await freed(() => be.add(t, other, other));
      await freed(() => be.read(v)); // a view dies with its base
      await freed(() => be.fill(v, 1));
      await freed(() => be.free(t)); // a double free
      await freed(() => be.free(v));
      // Two tensors of the freed one's size (GPU backends: from the pool) do not share storage.
      const a = be.upload(new Float32Array(128).fill(1), [128]);
      const b = be.upload(new Float32Array(128).fill(2), [128]);
      assert.deepEqual([(await be.read(a))[0], (await be.read(b))[0], (await be.read(other))[0]], [1, 2, 0]);
      for (const x of [a, b, other]) be.free(x);
    });
  }
});
