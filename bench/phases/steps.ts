/**
 * Phase family 1: training steps per second of each workload on each hydranet backend (a real
 * step: forward, multi-loss, backward, SGD momentum), with the reference backend's reduced
 * budget; every backend but cpu in a process of its own (context.ts: phaseRun). Estimate: the step window plan's length; the reference's own plan (about 70 s for one
 * full W2 step); webgpu adds its pipeline compilation.
 */
import { type BackendSlot, slotOpen } from '../backends.js';
import { type BenchContext, phaseRun } from '../context.js';
import { type Options, planSeconds, plans } from '../options.js';
import { type Phase, log } from '../progress.js';
import { type BenchRecord, errText, skipped, summaryFields } from '../report.js';
import { type WindowPlan, measure } from '../stats.js';
import { TrainingStep, type Workload, stepFlops } from '../workloads.js';

/**
 * The reference backend is plain TypeScript: on W2 one step takes tens of seconds, so it
 * gets a fixed budget instead of the usual windows. Warm-up there is one step on the first
 * 16 rows (same code paths, JIT warmed, a fraction of the cost), then windows of one step.
 */
function referencePlan(w: Workload, quick: boolean): { plan: WindowPlan; warmRows?: number; note: string } | { skip: string } {
  if (w.name === 'W1') {
    return quick
      ? { plan: { windows: 2, minSeconds: 0.2, warmupSeconds: 0, warmupIters: 1, budgetSeconds: 6 }, note: 'reduced budget: 1 warm-up step, 2 windows of ≥ 0.2 s' }
      : { plan: { windows: 3, minSeconds: 1, warmupSeconds: 0, warmupIters: 1, budgetSeconds: 12 }, note: 'reduced budget: 1 warm-up step, 3 windows of ≥ 1 s' };
  }
  if (quick) return { skip: 'skipped in --quick: one reference step on W2 takes about a minute; run without --quick' };
  return {
    plan: { windows: 1, minSeconds: 0, warmupSeconds: 0, warmupIters: 0 },
    warmRows: 16,
    note: 'fixed budget: warm-up on 16 rows, then 1 window of exactly 1 full step (median = min = max)',
  };
}

/** Measures training steps of `w` on `slot` and adds the record (a skipped one when it cannot run). */
async function benchSteps(slot: BackendSlot, w: Workload, opts: Options, records: BenchRecord[]): Promise<void> {
  const base = { workload: w.name, system: 'hydranet', backend: slot.name, metric: 'train_steps_per_s', unit: 'steps/s' };
  if (!slot.backend) {
    records.push(skipped(base, slot.reason === undefined ? 'not opened in this process' : `backend unavailable: ${slot.reason}`));
    return;
  }
  let plan = plans(opts.quick).step;
  let note: string | undefined;
  let warmRows: number | undefined;
  if (slot.name === 'reference') {
    const rp = referencePlan(w, opts.quick);
    if ('skip' in rp) {
      records.push(skipped(base, rp.skip));
      return;
    }
    ({ plan, note, warmRows } = rp);
  }
  log(`  ${w.name} on ${slot.name}${note ? ` (${note})` : ''} …`);
  const be = slot.backend;
  try {
    const s = new TrainingStep(be, w);
    if (warmRows) {
      s.run(1, warmRows);
      await be.sync();
    }
    const summary = await measure((k) => s.run(k), () => be.sync(), plan);
    const losses = await s.losses();
    const finalLoss = losses.reduce((a, b) => a + b, 0);
    records.push({
      ...base,
      ...summaryFields(summary),
      threads: slot.threads,
      isa: slot.isa,
      flops_per_step: stepFlops(w),
      final_loss: finalLoss,
      note: [note, summary.reduced, Number.isFinite(finalLoss) ? '' : 'THE LOSS IS NOT FINITE after the timed steps'].filter(Boolean).join('; ') || undefined,
    });
  } catch (e) {
    records.push(skipped(base, `failed: ${errText(e)}`));
  }
}

/** The training-step phases; a backend that did not open gets its skipped record now, and no phase. */
export async function stepPhases(ctx: BenchContext): Promise<Phase[]> {
  const { opts, records, slots, plans: p, w3Explicit } = ctx;
  const phases: Phase[] = [];
  for (const w of opts.workloads) {
    for (const slot of slots) {
      if (w.name === 'W3' && slot.name !== 'cuda' && !w3Explicit) continue;
      if (!slotOpen(slot)) {
        await benchSteps(slot, w, opts, records); // records the reason; no phase
        continue;
      }
      let estimate = planSeconds(p.step);
      if (slot.name === 'reference') {
        const rp = referencePlan(w, opts.quick);
        estimate = 'skip' in rp ? 0 : w.name === 'W1' ? planSeconds(rp.plan) : 70;
      } else if (slot.name === 'webgpu') {
        estimate += 5; // pipelines (cached by Mesa after the first run)
      }
      const label = `hydranet ${slot.name} ${w.name} training steps`;
      phases.push({ label, estimate, run: phaseRun(ctx, slot, label, { workload: w.name, metric: 'train_steps_per_s' }, () => benchSteps(slot, w, opts, records)) });
    }
  }
  return phases;
}
