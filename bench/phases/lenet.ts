/**
 * Phase family 1c: MultiLeNet (image trunk) training steps on each hydranet backend but the
 * reference, an epoch (validation included) on the cpu backend, beside PyTorch CPU (its best
 * thread count, and its epoch) and TensorFlow.js, each peer in its own process (bench/lenet.ts
 * measures). Estimate: the step window plan (+ webgpu's pipelines, + the CPU-time window on
 * cpu); the epoch from hydranet cpu's MultiLeNet steps/s once measured (refined); PyTorch: its
 * variant probes, windows and CPU-time window at each thread count plus an epoch each at a
 * third of hydranet's speed; tfjs: its time cap plus start-up and one slow step.
 * The PyTorch phase adds the hydranet/PyTorch ratios, and the epoch and CPU-time lines to the
 * peers' notes.
 */
import { slotOpen } from '../backends.js';
import { type BenchContext, phaseRun, stepRate } from '../context.js';
import { benchLenet, benchLenetEpoch, benchTfjsLenet, benchTorchLenet, epochSizes, lenetCpuLines, lenetEpochLines, lenetTorchRatios, torchLenetThreads } from '../lenet.js';
import { planSeconds } from '../options.js';
import type { Phase } from '../progress.js';

/** The MultiLeNet phases, when W1 is measured; tfjs cpu under --quick is a skipped record now. */
export function lenetPhases(ctx: BenchContext): Phase[] {
  const { opts, records, slots, plans: p, w1, gpuSlot, tfjsBackends, cpuSlot, env, peerNotes } = ctx;
  const phases: Phase[] = [];
  if (w1) {
    for (const slot of slots.filter((sl) => slotOpen(sl) && sl.name !== 'reference')) {
      const label = `MultiLeNet (batch 256) on hydranet ${slot.name}`;
      phases.push({
        label,
        // cpu: + the CPU-time window (as long as the timed windows together).
        estimate: planSeconds(p.step) + (slot.name === 'webgpu' ? 6 : 1) + (slot.name === 'cpu' ? p.step.windows * p.step.minSeconds : 0),
        run: phaseRun(ctx, slot, label, { workload: 'LeNet', metric: 'train_steps_per_s' }, async () => {
          records.push(await benchLenet(slot.backend!, p.step));
        }),
      });
    }
    const sizes = epochSizes(opts.quick);
    const epochSteps = Math.ceil(sizes.train / 256) + Math.ceil(sizes.test / 256) / 3;
    // Steps/s of hydranet cpu on MultiLeNet: measured by the phase above once it ran, else a guess.
    const rate = (): number => stepRate(ctx, 'hydranet', 'cpu', 'LeNet') ?? 50;
    const epochEstimate = (): number => 2 + epochSteps / rate();
    const torchEstimate = (threadCounts: readonly number[]): number =>
      threadCounts.length * (3 + 8 * 2 * p.peer.minSeconds + p.peer.warmupSeconds + p.peer.windows * p.peer.minSeconds * 2.2 + (3 * epochSteps) / rate());
    if (cpuSlot?.backend) {
      phases.push({
        label: `MultiLeNet epoch (${sizes.train} + ${sizes.test} validation) on hydranet cpu`,
        estimate: epochEstimate(),
        refine: epochEstimate,
        run: async () => {
          records.push(await benchLenetEpoch(cpuSlot.backend!, sizes));
        },
      });
    }
    if (opts.peers) {
      const threadCounts = torchLenetThreads(ctx.threads);
      phases.push({
        label: `MultiLeNet on PyTorch cpu (${threadCounts.join(' and ')} threads, and an epoch each)`,
        estimate: torchEstimate(threadCounts),
        refine: () => torchEstimate(threadCounts),
        run: async () => {
          const notes: string[] = [];
          records.push(...benchTorchLenet(threadCounts, p.peer, sizes, env, notes));
          records.push(...lenetTorchRatios(records));
          peerNotes.push(...notes, ...lenetEpochLines(records).map((l) => `MultiLeNet epoch, ${l}`), ...lenetCpuLines(records).map((l) => `MultiLeNet ${l}`));
        },
      });
      for (const be of tfjsBackends) {
        if (be === 'webgpu' && !slotOpen(gpuSlot)) continue;
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
