/**
 * The per-op capability check (ts/backends/ops.ts): a backend's declared limits and missing ops
 * are refused by the op table before any kernel runs, with a ShapeError (CapabilityError) naming
 * the backend, the op and the limit; the parity harness reports such a case as skipped with the
 * reason, never passed or failed. Checked on a fake backend (the reference's kernels under a
 * declaration), and on the cuda backend's own declaration (CUDA_CAPABILITIES) with no GPU.
 */
import assert from 'node:assert/strict';
import { type Backend, MixtureLayout } from '../../ts/backends/backend.js';
import { CUDA_CAPABILITIES } from '../../ts/backends/cuda.js';
import { HostBackend } from '../../ts/backends/host.js';
import { CapabilityError } from '../../ts/errors.js';
import { type KernelCapabilities, type Kernels } from '../../ts/backends/ops.js';
import { ReferenceBackend } from '../../ts/backends/reference.js';
import { ShapeError } from '../../ts/errors.js';
import { ELEMENTWISE, OpSkipped, type OpCase, compareOp, skippable } from './harness.js';

/** The reference's kernels under `capabilities`, named `name`. */
class DeclaredBackend extends HostBackend implements Backend {
  /** @internal */
  protected readonly kernels = (new ReferenceBackend() as unknown as { kernels: Kernels<Float32Array> }).kernels;

  constructor(
    readonly name: string,
    protected override readonly capabilities: KernelCapabilities,
  ) {
    super();
  }
}

/** add over n elements on a backend that adds at most 8 and has no gradDrop. */
const limited = new DeclaredBackend('limited', {
  limits: { add: [{ what: 'elements', max: 8, measure: (...a) => a[3] }] },
  unsupported: ['gradDrop'],
});

const addCase = (n: number): OpCase => ({
  what: `add of ${n}`,
  inputs: { a: { data: new Float32Array(n).fill(1), shape: [n] }, b: { data: new Float32Array(n).fill(2), shape: [n] } },
  outputs: { out: { data: new Float32Array(n).fill(-1), shape: [n], tol: ELEMENTWISE } },
  op: (be, t) => be.add(t.a, t.b, t.out),
});

describe('capabilities: a backend\'s own limits, checked by the op table', () => {
  it('refuses a call beyond a declared limit with a ShapeError naming the backend, the op and the limit, writing nothing', async () => {
    const out = limited.upload(new Float32Array(9).fill(-1), [9]);
    const a = limited.upload(new Float32Array(9).fill(1), [9]);
    assert.throws(
      () => limited.add(a, a, out),
      (e: Error) => e instanceof CapabilityError && e instanceof ShapeError && e.message === 'add: the limited backend supports at most 8 elements (got 9)',
    );
    assert.deepEqual([...(await limited.read(out))], new Array(9).fill(-1));
    // Within the limit, and for the ops without one, the kernels run as the reference's.
    const small = limited.upload(Float32Array.from([1, 2]), [2]);
    limited.add(small, small, small);
    assert.deepEqual([...(await limited.read(small))], [2, 4]);
  });

  it('refuses an op the backend declares unsupported, naming it', () => {
    const g = limited.upload(new Float32Array(4), [2, 2]);
    assert.throws(
      () => limited.gradDrop(g, limited.alloc([2]), 1, 0),
      (e: Error) => e instanceof CapabilityError && e.message === 'gradDrop: the limited backend does not support this op',
    );
  });

  it('checks the contract before the capabilities: a bad call is still its own error', () => {
    assert.throws(() => limited.add(limited.alloc([9]), limited.alloc([8]), limited.alloc([9])), (e: Error) => e instanceof ShapeError && !(e instanceof CapabilityError));
  });

  it('the parity harness reports a case beyond the limits as skipped with the reason (OpSkipped), not passed or failed', async () => {
    await compareOp(limited, addCase(8));
    await assert.rejects(compareOp(limited, addCase(9)), (e: Error) => e instanceof OpSkipped && /^add of 9: add: the limited backend supports at most 8 elements \(got 9\)$/.test(e.message));
    let skipped = false;
    const context = { skip: () => ((skipped = true), assert.fail('skipped')) } as unknown as Mocha.Context;
    await assert.rejects(skippable(() => compareOp(limited, addCase(9)).then(() => undefined)).call(context));
    assert.ok(skipped, 'a case the backend cannot run is reported as skipped');
    skipped = false;
    await skippable(() => compareOp(limited, addCase(3)).then(() => undefined)).call(context);
    assert.ok(!skipped, 'a case within the limits runs');
  });

  it('declares the cuda mixture kernels\' limits: 32 tasks, 64 experts, 512 gate columns (checked here without a GPU)', async () => {
    const cudaLike = new DeclaredBackend('cuda', CUDA_CAPABILITIES);
    const run = (lists: number[][], experts: number, forward = true): void => {
      const layout = new MixtureLayout(lists, experts, 1, 64, 64);
      const n = 1;
      const x = cudaLike.alloc([experts * 64]);
      const z = cudaLike.alloc([n, layout.gateWidth]);
      const g = cudaLike.alloc([n, layout.gateWidth]);
      const out = cudaLike.alloc([lists.length * 64]);
      if (forward) cudaLike.mixtureForward(x, z, g, out, layout);
      cudaLike.mixtureBackward(x, g, out, cudaLike.alloc([experts * 64]), cudaLike.alloc([n, layout.gateWidth]), layout);
    };
    const refused = (what: string, op = 'mixtureForward') => (e: Error) =>
      e instanceof CapabilityError && e.message.startsWith(`${op}: the cuda backend supports at most ${what}`);
    run(Array.from({ length: 32 }, (_, t) => [t, t + 32]), 64);
    assert.throws(() => run(Array.from({ length: 33 }, (_, t) => [t]), 33), refused('32 tasks in the layout (got 33)'));
    assert.throws(() => run([[0, 64]], 65), refused('64 experts in the layout (got 65)'));
    const wide = Array.from({ length: 9 }, () => Array.from({ length: 64 }, (_, e) => e));
    assert.throws(() => run(wide, 64), refused('512 gate columns'));
    assert.throws(() => run([[0, 64]], 65, false), refused('64 experts in the layout (got 65)', 'mixtureBackward'));
  });
});
