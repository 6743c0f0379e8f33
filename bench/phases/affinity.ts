/**
 * Phase 1c: the overhead of the affinity probe (ts/train/affinity.ts) on W1, cpu backend:
 * training steps per second without the probe and with it every 10 steps (TAG's period), for
 * the exact lookahead (1 + T forwards, T trunk backwards and T optimizer steps per probe, plus
 * the snapshots) and for the cosine (its per-task gradients and Gram only), and the ratio
 * (probe / none) in the same run. The contenders run interleaved, window by window, each window
 * a whole number of 10-step blocks, so that each ratio is the median over windows of rates
 * measured side by side; the CPU time per step (process.cpuUsage, every thread) gives a second
 * ratio, less sensitive to other processes on the machine. Estimate: the step warm-up and windows, three contenders.
 *
 * Alone: `node dist/bench/phases/affinity.js [--quick]` prints the records (9 windows of 1.5 s
 * per contender; --quick: the bench's quick step plan).
 */
import { fileURLToPath } from 'node:url';
import type { Backend } from '../../ts/backends/backend.js';
import { createBackend } from '../../ts/backends/create.js';
import { AffinityProbe, type AffinityMethod } from '../../ts/train/affinity.js';
import type { BenchContext } from '../context.js';
import { plans } from '../options.js';
import { type Phase, log } from '../progress.js';
import type { BenchRecord } from '../report.js';
import { type WindowPlan, summarize } from '../stats.js';
import { TrainingStep, WORKLOADS, type Workload, describeWorkload } from '../workloads.js';

/** The probe period measured (TrainerConfig.affinity.every's default). */
const EVERY = 10;

interface Contender {
  name: 'none' | AffinityMethod;
  block: () => Promise<void>;
  rates: number[];
  /** Process CPU seconds (every thread) per step, per window: less sensitive to a busy machine than the wall-clock rate. */
  cpu: number[];
}

/** Steps/s of W1 without the probe and with it every 10 steps (lookahead, cosine), and the ratios. */
export async function benchAffinity(be: Backend, w: Workload, plan: WindowPlan, say: (line: string) => void): Promise<BenchRecord[]> {
  const contenders: Contender[] = (['none', 'lookahead', 'cosine'] as const).map((name) => {
    const s = new TrainingStep(be, w);
    const probe = name === 'none' ? null : new AffinityProbe(s.model, s.optimizer, { method: name, every: EVERY });
    let seed = 0;
    return {
      name,
      rates: [],
      cpu: [],
      block: async () => {
        if (probe) await probe.run(w.batch, { training: true, seed: seed + 1 });
        seed += EVERY;
        s.run(EVERY);
      },
    };
  });
  const now = (): number => performance.now() / 1000;
  say(`  ${w.name}: the affinity probe every ${EVERY} steps, warm-up …`);
  for (const c of contenders) {
    const t0 = now();
    do await c.block();
    while (now() - t0 < plan.warmupSeconds / 3);
  }
  for (let win = 0; win < plan.windows; win++) {
    say(`  ${w.name}: window ${win + 1}/${plan.windows} (none, lookahead, cosine) …`);
    for (const c of contenders) {
      await be.sync();
      const start = now();
      const cpu0 = process.cpuUsage();
      let blocks = 0;
      do {
        await c.block();
        blocks++;
      } while (now() - start < plan.minSeconds);
      await be.sync();
      c.rates.push((blocks * EVERY) / (now() - start));
      const used = process.cpuUsage(cpu0);
      c.cpu.push((used.user + used.system) / 1e6 / (blocks * EVERY));
    }
  }
  const none = contenders[0];
  const records: BenchRecord[] = [];
  for (const c of contenders) {
    const base = { workload: w.name, system: 'hydranet', backend: be.name, case: c.name === 'none' ? 'no probe' : `${c.name} every ${EVERY}`, windows: c.rates.length };
    const s = summarize(c.rates);
    records.push({ ...base, metric: 'affinity_steps_per_s', unit: 'steps/s', median: s.median, min: s.min, max: s.max });
    if (c === none) continue;
    const r = summarize(c.rates.map((x, i) => x / none.rates[i]));
    records.push({ ...base, metric: 'affinity_vs_none_ratio', unit: 'x', median: r.median, min: r.min, max: r.max });
    const cpu = summarize(c.cpu.map((x, i) => x / none.cpu[i]));
    records.push({ ...base, metric: 'affinity_cpu_vs_none_ratio', unit: 'x', median: cpu.median, min: cpu.min, max: cpu.max });
  }
  return records;
}

/** The affinity phase, when W1 is measured and the cpu backend opened. */
export function affinityPhases(ctx: BenchContext): Phase[] {
  const { records, plans: p, w1, cpuSlot } = ctx;
  if (!w1 || !cpuSlot?.backend) return [];
  return [
    {
      label: `affinity probe every ${EVERY} steps on W1, cpu`,
      estimate: 3 * (p.step.warmupSeconds / 3 + p.step.windows * p.step.minSeconds * 1.1),
      run: async () => {
        records.push(...(await benchAffinity(cpuSlot.backend!, w1, p.step, log)));
      },
    },
  ];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const quick = process.argv.includes('--quick');
  const be = await createBackend('cpu');
  const w1 = WORKLOADS.find((w) => w.name === 'W1')!;
  // Alone, longer windows than the bench's step plan: the ratio is the point, and a shared machine is noisy.
  const plan: WindowPlan = quick ? plans(true).step : { windows: 9, minSeconds: 1.5, warmupSeconds: 1, warmupIters: 3 };
  console.log(`W1 (${describeWorkload(w1)}), cpu backend, SGD momentum 0.9; ${plan.windows} windows of ${plan.minSeconds} s per contender`);
  const records = await benchAffinity(be, w1, plan, (line) => console.log(line));
  for (const r of records) {
    console.log(`${(r.case ?? '').padEnd(20)} ${r.metric.padEnd(24)} median ${r.median?.toFixed(3)} [${r.min?.toFixed(3)} … ${r.max?.toFixed(3)}] ${r.unit}`);
  }
  be.dispose();
}
