/**
 * Overhead of each weighting strategy relative to equal weighting on W1: training steps per
 * second under the strategy (forward, losses, the strategy's per-task gradients and Gram
 * matrix where it has them, backward, SGD), and the ratio to equal weighting in the same run.
 */
import type { Backend } from '../ts/backends/backend.js';
import { Rng } from '../ts/core/random.js';
import { WEIGHTINGS, WeightedStep, createWeighting } from '../ts/mtl/weighting/index.js';
import type { BenchRecord } from './report.js';
import { type WindowPlan, summarize } from './stats.js';
import { OPTIMIZER, TrainingStep, type Workload } from './workloads.js';

interface Contender {
  name: string;
  mode: string;
  step: () => Promise<void>;
  rates: number[];
}

/**
 * Measures every registered strategy on workload `w`; returns one record per strategy and its
 * ratio to equal weighting. The strategies run interleaved, window by window (equal, then
 * each other one, then equal again ...), so that a busy or throttled machine slows them alike,
 * and each ratio is the median over windows of (strategy rate / equal rate in the same round).
 */
export async function benchWeighting(
  be: Backend,
  w: Workload,
  plan: WindowPlan,
  log: (line: string) => void,
): Promise<BenchRecord[]> {
  const contenders: Contender[] = [];
  for (const name of ['equal', ...Object.keys(WEIGHTINGS).filter((n) => n !== 'equal')]) {
    const s = new TrainingStep(be, w);
    const strategy = createWeighting(name, {
      tasks: s.model.tasks,
      rng: new Rng(7),
      baseWeights: new Float32Array(s.model.tasks.length).fill(1),
      lr: OPTIMIZER.lr,
    });
    const weighted = new WeightedStep(s.model, strategy, new Float32Array(s.model.tasks.length));
    let count = 0;
    const step = async (): Promise<void> => {
      await weighted.run(w.batch, { training: true, seed: ++count });
      s.optimizer.step();
    };
    contenders.push({ name, mode: strategy.mode, step, rates: [] });
  }
  const now = (): number => performance.now() / 1000;
  log(`  ${w.name}: ${contenders.length} strategies, warm-up …`);
  for (const c of contenders) {
    const t0 = now();
    do await c.step();
    while (now() - t0 < plan.warmupSeconds / 4);
  }
  for (let win = 0; win < plan.windows; win++) {
    log(`  ${w.name}: window ${win + 1}/${plan.windows} over every strategy …`);
    for (const c of contenders) {
      const start = now();
      let k = 0;
      do {
        await c.step();
        k++;
      } while (now() - start < plan.minSeconds);
      await be.sync();
      c.rates.push(k / (now() - start));
    }
  }
  const equal = contenders[0];
  const records: BenchRecord[] = [];
  for (const c of contenders) {
    const summary = summarize(c.rates);
    const base = { workload: w.name, system: 'hydranet', backend: be.name, case: c.name, mode: c.mode, windows: c.rates.length };
    records.push({ ...base, metric: 'weighting_steps_per_s', unit: 'steps/s', median: summary.median, min: summary.min, max: summary.max });
    if (c === equal) continue;
    const r = summarize(c.rates.map((x, i) => x / equal.rates[i]));
    records.push({ ...base, metric: 'weighting_vs_equal_ratio', unit: 'x', median: r.median, min: r.min, max: r.max });
  }
  return records;
}
