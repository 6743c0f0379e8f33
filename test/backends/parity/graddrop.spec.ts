/**
 * GradDrop on every backend present against the reference: the same keep decisions (a
 * counter-based hash) for leak 0 and 0.3, over 1 to 8 tasks and up to 70000 elements.
 */
import { Rng } from '../../../ts/core/random.js';
import { compareOp, describeParity, randomArray } from '../harness.js';

await describeParity('graddrop', ({ b, it }) => {
  for (const [T, M] of [
    [1, 1],
    [2, 17],
    [3, 1000],
    [8, 255],
    [2, 70000],
  ]) {
    it(`${T} tasks × ${M} elements, leak 0 and 0.3 (the same keep decisions)`, async () => {
      const rng = new Rng(T * 1000 + M);
      const g = randomArray(rng, T * M);
      for (const leak of [0, 0.3]) {
        await compareOp(b(), {
          what: `gradDrop leak=${leak}`,
          inputs: { g: { data: g, shape: [T, M] } },
          outputs: { out: { data: new Float32Array(M).fill(NaN), shape: [M], tol: { atol: 1e-7, rtol: 1e-6 } } },
          op: (be, t) => be.gradDrop(t.g, t.out, 4242 + M, leak),
        });
      }
    });
  }
});
