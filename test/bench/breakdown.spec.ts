/**
 * The step breakdown (bench/breakdown.ts): the backend's kernel hook sees every kernel call and
 * is gone once removed; a W1 breakdown finds every kernel of the step, and its GEMM list is
 * exactly the step's GEMMs (their FLOPs are the bench's stepFlops); the bench's sections show it.
 */
import assert from 'node:assert/strict';
import { breakdown, breakdownMarkdown, breakdownSection } from '../../bench/breakdown.js';
import { breakdownRecord } from '../../bench/phases/breakdown.js';
import { WORKLOADS, stepFlops } from '../../bench/workloads.js';
import type { KernelMethod } from '../../ts/backends/ops.js';
import { type Backend, createBackend } from '../../ts/index.js';

type Hookable = Backend & { hookKernels(wrap: (op: KernelMethod, args: readonly unknown[], run: () => void) => void): () => void };

describe('bench: step breakdown', function () {
  this.timeout(60_000);
  let be: Hookable;
  before(async () => {
    be = (await createBackend('cpu', { threads: 1 })) as Hookable;
  });
  after(() => be.dispose());

  it('the kernel hook wraps every kernel call, runs the kernel, and is gone once removed', async () => {
    const a = be.upload(Float32Array.from([1, 2, 3, 4]), [2, 2]);
    const c = be.alloc([2, 2]);
    const seen: KernelMethod[] = [];
    const unhook = be.hookKernels((op, args, run) => {
      seen.push(op);
      assert.equal(args.length, 5); // gemm's a, b, c, bias, dims, as Kernels receives them
      run();
    });
    be.gemm(a, a, c);
    unhook();
    be.gemm(a, a, c, { beta: 1 });
    assert.deepEqual(seen, ['gemm']);
    // Both calls ran: c = 2·(a·a).
    assert.deepEqual([...(await be.read(c))], [14, 20, 30, 44]);
  });

  it('breaks a W1 step into its kernels, and its GEMM list is exactly the step’s GEMMs', async () => {
    const b = await breakdown(be, 'W1', 1, 0.01);
    const part = (p: string) => b.rows.find((r) => r.part === p);
    assert.equal(part('gemm fwd')?.calls, 2);
    assert.equal(part('gemm dW')?.calls, 2);
    assert.equal(part('gemm dX')?.calls, 1); // not for the input layer
    for (const p of ['headsForward', 'headsBackward', 'multiLoss', 'sgdStep', 'biasGrad', 'activationBackward', 'fill (zero grads)']) {
      assert.equal(part(p)?.calls, 1 + Number(p === 'biasGrad' || p === 'activationBackward'), p);
    }
    assert.equal(b.gemmFlops, stepFlops(WORKLOADS[0]));
    assert.ok(b.gemmLimitMs > 0 && b.stepMs > 0 && Number.isFinite(b.jsMs));
    const rec = breakdownRecord(b);
    assert.equal(rec.metric, 'gemm_only_limit_fraction');
    const text = breakdownSection([rec]).join('\n');
    assert.match(text, /W1 \(cpu [a-z0-9]+, 1 threads\): step/);
    assert.match(text, /GEMM-only limit/);
    assert.match(breakdownMarkdown([rec]).join('\n'), /^\| W1 \| 1 \|/m);
  });
});
