/**
 * Phase family 4: MultiMNIST time to a target accuracy, accuracy parity and peak memory,
 * hydranet beside tfjs, every run its own process (bench/multimnist.ts runs and judges them).
 * Runs when W1 (the same model shape) is among the workloads. Estimate: start-up, the run's
 * steps at the W1 steps/s measured earlier in the same run (a guess before), and validation.
 */
import { slotOpen } from '../backends.js';
import { type BenchContext, stepRate } from '../context.js';
import { initFile, mnistComparisons, mnistRecords, mnistSteps, runHydranetMnist, runTfjsMnist } from '../multimnist.js';
import type { Phase } from '../progress.js';
import { skipped } from '../report.js';
import { TFJS_RATE_GUESS } from './tfjs.js';

/** The MultiMNIST phases, ending with the comparisons (a skipped record now for each run that cannot happen). */
export function mnistPhases(ctx: BenchContext): Phase[] {
  const { opts, records, mnistNotes, slots, mnist: mp, w1, cpuSlot, gpuSlot, tfjsNode, tfjsBackends } = ctx;
  const phases: Phase[] = [];
  const mnistSlots = slots.filter((s) => s.name !== 'reference');
  if (w1 && mnistSlots.some(slotOpen)) {
    const steps = mnistSteps(mp);
    const init = initFile();
    let initWritten = false;
    const runEstimate = (rate: number | undefined, guess: number, startup: number): number => startup + (steps / (rate ?? guess)) * 1.1 + mp.epochs;
    for (const slot of mnistSlots) {
      if (!slotOpen(slot)) continue;
      phases.push({
        label: `MultiMNIST on hydranet ${slot.name} (${steps} steps)`,
        estimate: runEstimate(undefined, slot.name === 'cpu' ? 150 : 12, slot.name === 'cpu' ? 2 : 8),
        refine: () => runEstimate(stepRate(ctx, 'hydranet', slot.name, 'W1'), 10, slot.name === 'cpu' ? 2 : 8),
        run: async () => {
          const r = runHydranetMnist(slot.name, mp, mp.seed, initWritten ? undefined : init.file, opts.threads);
          if (!r.ok) {
            records.push(skipped({ workload: 'MultiMNIST', system: 'hydranet', backend: slot.name, metric: 'time_to_target_s' }, r.reason));
            return;
          }
          initWritten = true;
          records.push(...mnistRecords(r.value, mp));
        },
      });
    }
    if (cpuSlot) {
      phases.push({
        label: `MultiMNIST on hydranet cpu, seeds ${mp.noiseSeeds.join(', ')} (the seed-to-seed noise)`,
        estimate: mp.noiseSeeds.length * runEstimate(undefined, 150, 2),
        refine: () => mp.noiseSeeds.length * runEstimate(stepRate(ctx, 'hydranet', 'cpu', 'W1'), 150, 2),
        run: async () => {
          for (const seed of mp.noiseSeeds) {
            const r = runHydranetMnist('cpu', mp, seed, undefined, opts.threads);
            if (r.ok) records.push(...mnistRecords(r.value, mp, { seed }));
            else mnistNotes.push(`noise run with seed ${seed} failed: ${r.reason}`);
          }
        },
      });
    }
    if (opts.peers) {
      for (const tb of tfjsBackends) {
        if (tb === 'webgpu' && !slotOpen(gpuSlot)) continue;
        if (tb === 'cpu' && opts.quick) {
          records.push(skipped({ workload: 'MultiMNIST', system: 'tfjs', backend: 'cpu', metric: 'time_to_target_s' }, `skipped with --quick (${steps} steps at about 1 step/s)`));
          continue;
        }
        phases.push({
          label: `MultiMNIST on tfjs ${tb} (${steps} steps)`,
          estimate: runEstimate(undefined, TFJS_RATE_GUESS[tb]?.W1 ?? 1, 4),
          refine: () => runEstimate(stepRate(ctx, 'tfjs', tb, 'W1'), TFJS_RATE_GUESS[tb]?.W1 ?? 1, 4),
          run: async () => {
            if (!initWritten) {
              records.push(skipped({ workload: 'MultiMNIST', system: 'tfjs', backend: tb, metric: 'time_to_target_s' }, 'no hydranet run wrote the initial weights'));
              return;
            }
            const r = runTfjsMnist(tb, mp, init.file);
            if (r.ok) records.push(...mnistRecords(r.value, mp));
            else records.push(skipped({ workload: 'MultiMNIST', system: 'tfjs', backend: tb, metric: 'time_to_target_s' }, r.reason));
          },
        });
      }
      if (!tfjsNode.ok) records.push(skipped({ workload: 'MultiMNIST', system: 'tfjs', backend: 'tensorflow', metric: 'time_to_target_s' }, tfjsNode.reason!));
    }
    phases.push({ label: 'MultiMNIST comparisons', estimate: 0, run: async () => {
      init.remove();
      records.push(...mnistComparisons(records, mp));
    } });
  }
  return phases;
}
