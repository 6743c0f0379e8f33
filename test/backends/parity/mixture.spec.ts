/**
 * The gated mixture of experts (mixtureForward, mixtureBackward) on every backend present
 * against the reference: one expert, MMoE, CGC, scrambled expert orders and a layout past the
 * cuda kernels' limits (skipped there), batches 1, 17, 255.
 * Gates to ELEMENTWISE, mixed outputs and gradients as sums (gemmTol of what they sum over).
 */
import { MixtureLayout } from '../../../ts/backends/backend.js';
import { Rng } from '../../../ts/core/random.js';
import { ELEMENTWISE, compareOp, describeParity, gemmTol, randomArray } from '../harness.js';

await describeParity('mixture', ({ b, it }) => {
  const stride = (n: number, d: number): number => Math.ceil((n * d) / 64) * 64;
  const cases: [string, number[][], number, number][] = [
    ['1 task, 1 expert, width 1', [[0]], 1, 1],
    ['MMoE: 2 tasks over 3 experts, width 17', [[0, 1, 2], [0, 1, 2]], 3, 17],
    ['CGC: 3 tasks, 2 shared + 1 own expert each, width 3', [[0, 1, 2], [0, 1, 3], [0, 1, 4]], 5, 3],
    // Expert 1 is read by no task (its dx rows are zero); 255 spans whole vectors and a tail.
    ['2 tasks over 3 experts, one unused, width 255', [[0, 2], [2, 0]], 3, 255],
    ['8 tasks over 8 experts in scrambled orders, width 10', Array.from({ length: 8 }, (_, t) => [t, (t + 3) % 8, (t + 5) % 8]), 8, 10],
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
});
