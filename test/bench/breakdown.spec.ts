/**
 * The step breakdown (bench/breakdown.ts): the backend's kernel hook sees every kernel call and
 * is gone once removed; a W1 breakdown finds every kernel of the step, and its GEMM list is
 * exactly the step's GEMMs (their FLOPs are the bench's stepFlops); the bench's sections show it.
 * The fastest single step takes at least about what its GEMMs take alone. A conv trunk's limit
 * counts its convolutions' FLOPs at the best GEMM rate (they run on direct kernels, not on the
 * GEMM), says so, and is below the step. The worker pool's hand-off counters count each parallel
 * kernel call once, none for a serial one, and the breakdown reports them per step.
 */
import assert from 'node:assert/strict';
import { breakdown, breakdownMarkdown, breakdownSection } from '../../bench/breakdown.js';
import { breakdownRecord } from '../../bench/phases/breakdown.js';
import { WORKLOADS, stepFlops } from '../../bench/workloads.js';
import type { KernelMethod } from '../../ts/backends/ops.js';
import type { CpuBackend } from '../../ts/backends/cpu.js';
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
    // No convolutions: the GEMM-only limit, and no peak GEMM was timed for them.
    assert.equal(b.limitKind, 'gemm-only');
    assert.equal(b.convFlops, 0);
    assert.equal(b.convLimitMs, 0);
    assert.equal(b.peakGflops, 0);
    assert.ok(b.gemmLimitMs > 0 && b.stepMs > 0 && Number.isFinite(b.jsMs));
    // A whole step runs every one of its GEMMs, so its fastest single run cannot take much less
    // than those GEMMs' fastest calls alone (inside a step they measured 0.97–1.05× their time
    // alone; 0.8 leaves room for cache effects). A fastest step timed around less than a whole
    // step, or a GEMM sum that counts a GEMM twice, fails this.
    assert.ok(b.gemmLimitFastestMs > 0 && Number.isFinite(b.gemmLimitFastestMs));
    assert.ok(b.fastestStepMs >= 0.8 * b.gemmLimitFastestMs, `fastest step ${b.fastestStepMs} ms, its GEMMs alone ${b.gemmLimitFastestMs} ms`);
    const rec = breakdownRecord(b);
    assert.equal(rec.metric, 'gemm_only_limit_fraction');
    const text = breakdownSection([rec]).join('\n');
    assert.match(text, /W1 \(cpu [a-z0-9]+, 1 threads\): step/);
    assert.match(text, /GEMM-only limit/);
    assert.match(text, /fastest single plain step [0-9.]+ ms; each GEMM's fastest single call alone, summed, [0-9.]+ ms = [0-9.]+ %/);
    assert.match(breakdownMarkdown([rec]).join('\n'), /^\| W1 \| 1 \|/m);
    // One thread: the pool never hands off.
    assert.equal(b.handoffs?.handoffs, 0);
    assert.match(text, /thread hand-offs \(plain step\): 0\.0 per step/);
  });

  it('a conv trunk’s limit counts its convolutions at the best GEMM rate, says so, and is below the step', async () => {
    const b = await breakdown(be, 'LeNet', 1, 0.01);
    assert.equal(b.limitKind, 'gemm+conv-at-peak');
    // The convolutions' FLOPs, batch 256: conv1 1→10 5×5 on 28×28 (24×24 out; forward and dW,
    // no dX for the input), conv2 10→20 5×5 on 12×12 (8×8 out; forward, dW and dX).
    const conv1 = 2 * 10 * 256 * 24 * 24 * (1 * 5 * 5);
    const conv2 = 2 * 20 * 256 * 8 * 8 * (10 * 5 * 5);
    assert.equal(b.convFlops, 2 * conv1 + 3 * conv2);
    // They are not timed as im2col GEMMs (the direct kernels run none): only the dense layers'
    // and the heads' GEMMs are listed, and the best rate is at least each of theirs.
    assert.ok(b.gemms.length > 0);
    for (const g of b.gemms) {
      assert.doesNotMatch(g.role, /conv/);
      assert.ok(b.peakGflops >= g.gflops, `${g.role}: ${g.gflops} GFLOP/s above the peak ${b.peakGflops}`);
    }
    assert.ok(b.peakGflops > 0 && b.peakFastestGflops > 0);
    assert.ok(Math.abs(b.convLimitMs - b.convFlops / b.peakGflops / 1e6) <= 1e-9 * b.convLimitMs);
    assert.ok(b.gemmLimitMs > b.convLimitMs);
    // A limit: the fastest whole step takes at least its fastest-calls limit (2–4× it at one
    // thread on the loaded test machine; a limit that counted the convolutions twice, or at a
    // rate far below the GEMM's, fails this). The im2col GEMMs the breakdown timed before (a
    // step ran at 121 % of them at two threads) are caught above: no conv GEMM may be listed.
    assert.ok(b.fastestStepMs >= b.gemmLimitFastestMs, `fastest step ${b.fastestStepMs} ms, its limit ${b.gemmLimitFastestMs} ms`);
    const rec = breakdownRecord(b);
    assert.equal(rec.metric, 'compute_limit_fraction');
    assert.equal(rec.limit_kind, 'gemm+conv-at-peak');
    const text = breakdownSection([rec]).join('\n');
    assert.match(text, /compute limit [0-9.]+ ms = [0-9.]+ % of the plain step: its GEMMs alone [0-9.]+ ms \([0-9.]+ GFLOP\) \+ its convolutions \(direct kernels, no GEMM\) 0\.639 GFLOP at the best GEMM rate measured/);
    assert.match(breakdownMarkdown([rec]).join('\n'), /^\| LeNet \| 1 \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \([0-9]+ %\), convolutions at [0-9]+ GFLOP\/s \|/m);
  });

  it('the pool counts one hand-off per parallel kernel call and none for a serial one', async () => {
    const two = (await createBackend('cpu', { threads: 2 })) as unknown as CpuBackend;
    try {
      const big = two.upload(new Float32Array(256 * 256).fill(0.5), [256, 256]);
      const out = two.alloc([256, 256]);
      const small = two.upload(new Float32Array(64).fill(1), [8, 8]);
      const smallOut = two.alloc([8, 8]);
      two.threadPoolStats('start');
      two.gemm(big, big, out); // 2·256³ flops: split over both threads
      two.gemm(big, big, out);
      two.gemm(small, small, smallOut); // far below the parallel threshold: the caller alone
      const s = two.threadPoolStats('stop');
      assert.equal(s.enabled, true);
      assert.equal(s.handoffs, 2);
      assert.equal(s.serial, 1);
      assert.ok(s.wakes + s.withdrawn <= 2 * s.handoffs);
      assert.ok(s.totalMs >= s.joinMs && s.joinMs >= 0);
      // Stopped: reset and no longer counting.
      two.gemm(big, big, out);
      const after = two.threadPoolStats();
      assert.equal(after.enabled, false);
      assert.equal(after.handoffs, 0);
      assert.equal((await two.read(out))[0], 64); // the kernels really ran: 256·0.5·0.5
    } finally {
      two.dispose();
    }
  });

  it('a two-thread W1 breakdown counts the step’s hand-offs', async () => {
    const two = (await createBackend('cpu', { threads: 2 })) as Hookable;
    try {
      const b = await breakdown(two, 'W1', 1, 0.01);
      const h = b.handoffs!;
      // At least one hand-off per GEMM call: the 5 trunk GEMMs, the heads' forward GEMM and their
      // dW and dx GEMMs (one hand-off together), all above the parallel threshold.
      assert.ok(h.handoffs >= 7, `hand-offs per step ${h.handoffs}`);
      assert.ok(h.wakes <= h.handoffs && h.withdrawn <= h.handoffs);
      assert.ok(h.parallelMs >= h.joinMs);
      assert.match(breakdownMarkdown([breakdownRecord(b)]).join('\n'), /^\| W1 \| 2 \|.*\(join /m);
    } finally {
      two.dispose();
    }
  });
});
