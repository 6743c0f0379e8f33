/**
 * Phase family 1b: the overhead of each weighting strategy against equal weighting, on W1 and
 * the cpu backend (bench/weighting.ts measures). Estimate: a quarter of the step warm-up and the
 * step windows, per strategy.
 */
import { WEIGHTINGS } from '../../ts/mtl/weighting/index.js';
import type { BenchContext } from '../context.js';
import { type Phase, log } from '../progress.js';
import { benchWeighting } from '../weighting.js';

/** The weighting phase, when W1 is measured and the cpu backend opened. */
export function weightingPhases(ctx: BenchContext): Phase[] {
  const { records, plans: p, w1, cpuSlot } = ctx;
  const phases: Phase[] = [];
  if (w1 && cpuSlot?.backend) {
    const n = Object.keys(WEIGHTINGS).length;
    phases.push({
      label: `weighting strategies (${n}) on W1, cpu`,
      estimate: n * (p.step.warmupSeconds / 4 + p.step.windows * p.step.minSeconds * 1.1),
      run: async () => {
        records.push(...(await benchWeighting(cpuSlot.backend!, w1, p.step, log)));
      },
    });
  }
  return phases;
}
