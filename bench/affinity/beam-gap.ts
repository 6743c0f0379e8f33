/**
 * `node dist/bench/affinity/beam-gap.js`: how far selectGroups' beam search falls from the exact
 * optimum, and what each costs, on random affinity matrices (entries uniform in [−1, 1], 20 per
 * task count, seeded) for k = 2, 3, 4 groups, with and without overlap, beam widths 8 and 64.
 */
import { Rng } from '../../ts/core/random.js';
import { selectGroups } from '../../ts/mtl/grouping.js';

const rng = new Rng(5);
for (const T of [8, 10, 12]) {
  for (const overlap of [false, true]) {
    for (const beamWidth of [8, 64]) {
      let worst = 0;
      let sum = 0;
      let objective = 0;
      let n = 0;
      let exactMs = 0;
      let beamMs = 0;
      for (let trial = 0; trial < 20; trial++) {
        const matrix = Array.from({ length: T }, () => Array.from({ length: T }, () => 2 * rng.uniform() - 1));
        const tasks = Array.from({ length: T }, (_, i) => `t${i}`);
        for (const maxGroups of [2, 3, 4]) {
          let t0 = performance.now();
          const exact = selectGroups({ tasks, matrix }, { maxGroups, overlap, method: 'exact' });
          exactMs += performance.now() - t0;
          t0 = performance.now();
          const beam = selectGroups({ tasks, matrix }, { maxGroups, overlap, method: 'beam', beamWidth });
          beamMs += performance.now() - t0;
          objective += exact.total;
          worst = Math.max(worst, exact.total - beam.total);
          sum += exact.total - beam.total;
          n++;
        }
      }
      console.log(`T=${T} overlap=${overlap} width=${beamWidth}: optimum mean ${(objective / n).toFixed(3)}, gap worst ${worst.toFixed(4)}, mean ${(sum / n).toFixed(4)}; exact ${(exactMs / n).toFixed(1)} ms, beam ${(beamMs / n).toFixed(1)} ms per search`);
    }
  }
}
