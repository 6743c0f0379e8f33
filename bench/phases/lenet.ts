/**
 * Phase family 1c: MultiLeNet (image trunk) training steps on each hydranet backend but the
 * reference, beside TensorFlow.js, each tfjs backend in its own process (bench/lenet.ts
 * measures). Estimate: the step window plan (+ webgpu's pipelines); tfjs: its time cap plus
 * start-up and one slow step.
 */
import type { BenchContext } from '../context.js';
import { benchLenet, benchTfjsLenet } from '../lenet.js';
import { planSeconds } from '../options.js';
import type { Phase } from '../progress.js';

/** The MultiLeNet phases, when W1 is measured; tfjs cpu under --quick is a skipped record now. */
export function lenetPhases(ctx: BenchContext): Phase[] {
  const { opts, records, slots, plans: p, w1, gpuSlot, tfjsBackends } = ctx;
  const phases: Phase[] = [];
  if (w1) {
    for (const slot of slots.filter((sl) => sl.backend && sl.name !== 'reference')) {
      phases.push({
        label: `MultiLeNet (batch 256) on hydranet ${slot.name}`,
        estimate: planSeconds(p.step) + (slot.name === 'webgpu' ? 6 : 1),
        run: async () => {
          records.push(await benchLenet(slot.backend!, p.step));
        },
      });
    }
    if (opts.peers) {
      for (const be of tfjsBackends) {
        if (be === 'webgpu' && !gpuSlot?.backend) continue;
        if (be === 'cpu' && opts.quick) {
          records.push({ workload: 'LeNet', system: 'tfjs', backend: 'cpu', metric: 'train_steps_per_s', unit: 'steps/s', median: null, min: null, max: null, skipped: 'skipped with --quick (about 25 s a step)' });
          continue;
        }
        const seconds = be === 'cpu' ? 45 : opts.quick ? 8 : 20;
        phases.push({
          label: `MultiLeNet on tfjs ${be}`,
          estimate: seconds + (be === 'cpu' ? 40 : 8),
          run: async () => {
            records.push(benchTfjsLenet(be, seconds, be === 'cpu' ? 3 : 20));
          },
        });
      }
    }
  }
  return phases;
}
