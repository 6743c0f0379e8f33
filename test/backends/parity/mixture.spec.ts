/**
 * The gated mixture of experts (mixtureForward, mixtureBackward) on every backend present
 * against the reference: one expert, MMoE, CGC, scrambled expert orders, an expert read by more
 * than 4 gate columns and a layout past the cuda kernels' limits (skipped there), batches 1, 17,
 * 255; NaN in, NaN out; on cpu, the same bits on 1, 2 and 3 threads. Gates to ELEMENTWISE,
 * mixed outputs and gradients as sums (gemmTol of what they sum over).
 */
import assert from 'node:assert/strict';
import { MixtureLayout } from '../../../ts/backends/backend.js';
import { CpuBackend } from '../../../ts/backends/cpu.js';
import { Rng } from '../../../ts/core/random.js';
import { ELEMENTWISE, compareOp, describeParity, gemmTol, nanAt, randomArray, withNaN } from '../harness.js';

await describeParity('mixture', ({ b, it }) => {
  const stride = (n: number, d: number): number => Math.ceil((n * d) / 64) * 64;
  const cases: [string, number[][], number, number][] = [
    ['1 task, 1 expert, width 1', [[0]], 1, 1],
    ['MMoE: 2 tasks over 3 experts, width 17', [[0, 1, 2], [0, 1, 2]], 3, 17],
    ['CGC: 3 tasks, 2 shared + 1 own expert each, width 3', [[0, 1, 2], [0, 1, 3], [0, 1, 4]], 5, 3],
    // Expert 1 is read by no task (its dx rows are zero); 255 spans whole vectors and a tail.
    ['2 tasks over 3 experts, one unused, width 255', [[0, 2], [2, 0]], 3, 255],
    ['8 tasks over 8 experts in scrambled orders, width 10', Array.from({ length: 8 }, (_, t) => [t, (t + 3) % 8, (t + 5) % 8]), 8, 10],
    // Experts 0 and 1 are each read by 6 gate columns: the cpu backward's expert pass takes its
    // columns 4 at a time, so these take a second pass over their dx rows.
    ['6 tasks over 3 experts, 6 columns on one expert, width 40', [[0, 1, 2], [1, 0], [0, 2, 1], [2, 0, 1], [1, 0], [0, 1]], 3, 40],
    // Beyond the cuda kernels' limits (32 tasks, 64 experts): skipped there, with the reason.
    ['33 tasks over 65 experts, 2 each, width 3', Array.from({ length: 33 }, (_, t) => [t, t + 32]), 65, 3],
  ];
  for (const [label, lists, E, D] of cases) {
    for (const n of [1, 17, 255]) {
      it(`${label}, batch ${n}: forward and backward`, async () => {
        const layout = new MixtureLayout(lists, E, D, stride(255, D), stride(255, D) + 64);
        const rng = new Rng(E * 100 + D + n);
        const x = randomArray(rng, E * layout.expertStride);
        const z = randomArray(rng, n * layout.gateWidth, -3, 3);
        const { g } = await compareOp(b(), {
          what: 'mixtureForward',
          inputs: { x: { data: x, shape: [E * layout.expertStride] }, z: { data: z, shape: [n, layout.gateWidth] } },
          outputs: {
            g: { data: new Float32Array(n * layout.gateWidth).fill(NaN), shape: [n, layout.gateWidth], tol: ELEMENTWISE },
            out: { data: randomArray(rng, lists.length * layout.outStride), shape: [lists.length * layout.outStride], tol: gemmTol(E) },
          },
          op: (be, t) => be.mixtureForward(t.x, t.z, t.g, t.out, layout),
        });
        await compareOp(b(), {
          what: 'mixtureBackward',
          inputs: {
            x: { data: x, shape: [E * layout.expertStride] },
            g: { data: Float32Array.from(g), shape: [n, layout.gateWidth] },
            dOut: { data: randomArray(rng, lists.length * layout.outStride), shape: [lists.length * layout.outStride] },
          },
          outputs: {
            dx: { data: randomArray(rng, E * layout.expertStride), shape: [E * layout.expertStride], tol: gemmTol(lists.length) },
            dz: { data: new Float32Array(n * layout.gateWidth).fill(NaN), shape: [n, layout.gateWidth], tol: gemmTol(D) },
          },
          op: (be, t) => be.mixtureBackward(t.x, t.g, t.dOut, t.dx, t.dz, layout),
        });
      });
    }
  }
  it('NaN in, NaN out: a NaN gate logit (first or later in its block) makes that block and its task row NaN', async () => {
    const lists = [[0, 1, 2], [2, 0, 1]];
    const n = 5, D = 37;
    const layout = new MixtureLayout(lists, 3, D, stride(n, D), stride(n, D));
    const rng = new Rng(91);
    const x = randomArray(rng, 3 * layout.expertStride);
    // Row 1: task 0's first logit (the block's max is NaN); row 3: task 1's third logit.
    const z = withNaN(randomArray(rng, n * 6, -3, 3), [1 * 6 + 0, 3 * 6 + 5]);
    const block = (i: number, t: number): number[] => [0, 1, 2].map((j) => i * 6 + 3 * t + j);
    const row = (at: number): number[] => Array.from({ length: D }, (_, d) => at + d);
    const { g, out } = await compareOp(b(), {
      what: 'mixtureForward with NaN logits',
      inputs: { x: { data: x, shape: [3 * layout.expertStride] }, z: { data: z, shape: [n, 6] } },
      outputs: {
        g: { data: new Float32Array(n * 6), shape: [n, 6], tol: ELEMENTWISE },
        out: { data: new Float32Array(2 * layout.outStride), shape: [2 * layout.outStride], tol: gemmTol(3) },
      },
      op: (be, t) => be.mixtureForward(t.x, t.z, t.g, t.out, layout),
    });
    nanAt(g, [...block(1, 0), ...block(3, 1)], 'mixtureForward g');
    nanAt(out, [...row(1 * D), ...row(layout.outStride + 3 * D)], 'mixtureForward out');
    // Backward from those gates: a NaN gate block gives NaN dz over the block and NaN dx rows
    // for every expert it mixes (each task here mixes all three).
    const { dx, dz } = await compareOp(b(), {
      what: 'mixtureBackward with NaN gates',
      inputs: {
        x: { data: x, shape: [3 * layout.expertStride] },
        g: { data: Float32Array.from(g), shape: [n, 6] },
        dOut: { data: randomArray(rng, 2 * layout.outStride), shape: [2 * layout.outStride] },
      },
      outputs: {
        dx: { data: new Float32Array(3 * layout.expertStride), shape: [3 * layout.expertStride], tol: gemmTol(2) },
        dz: { data: new Float32Array(n * 6), shape: [n, 6], tol: gemmTol(D) },
      },
      op: (be, t) => be.mixtureBackward(t.x, t.g, t.dOut, t.dx, t.dz, layout),
    });
    nanAt(dz, [...block(1, 0), ...block(3, 1)], 'mixtureBackward dz');
    nanAt(dx, [0, 1, 2].flatMap((e) => [...row(e * layout.expertStride + 1 * D), ...row(e * layout.expertStride + 3 * D)]), 'mixtureBackward dx');
  });
});

describe('mixture on cpu: 1, 2 and 3 threads give the same bits', () => {
  it('2 tasks over 8 experts (one order scrambled), width 70, batch 255, a NaN logit: forward and backward', async () => {
    const n = 255, D = 70, stride = Math.ceil((n * D) / 64) * 64;
    const layout = new MixtureLayout([[0, 1, 2, 3, 4, 5, 6, 7], [5, 2, 7, 0]], 8, D, stride, stride);
    const rng = new Rng(7);
    const x = randomArray(rng, 8 * stride);
    const z = withNaN(randomArray(rng, n * 12, -3, 3), [200 * 12 + 9]);
    const dOut = randomArray(rng, 2 * stride);
    const results: Float32Array[][] = [];
    for (const threads of [1, 2, 3]) {
      const be = new CpuBackend({ threads });
      try {
        const [xs, g, out, dx, dz] = [be.upload(x, [8 * stride]), be.alloc([n, 12]), be.alloc([2 * stride]), be.alloc([8 * stride]), be.alloc([n, 12])];
        be.mixtureForward(xs, be.upload(z, [n, 12]), g, out, layout);
        be.mixtureBackward(xs, g, be.upload(dOut, [2 * stride]), dx, dz, layout);
        results.push(await Promise.all([g, out, dx, dz].map((t) => be.read(t))));
      } finally {
        be.dispose();
      }
    }
    const bits = (r: Float32Array[]): Uint32Array[] => r.map((a) => new Uint32Array(a.buffer, a.byteOffset, a.length));
    assert.deepEqual(bits(results[1]), bits(results[0]), '2 threads vs 1');
    assert.deepEqual(bits(results[2]), bits(results[0]), '3 threads vs 1');
    assert.ok(Number.isNaN(results[0][1][stride + 200 * D]) && Number.isFinite(results[0][1][stride + 199 * D]));
  });
});
