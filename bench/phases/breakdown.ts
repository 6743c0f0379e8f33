/**
 * Phase family 1b: where a cpu training step's time goes (bench/breakdown.ts): per kernel, the
 * JS side, and the GEMM-only limit beside the measured step, for W1 and W2 (those asked for)
 * and MultiLeNet (with W1), on the cpu backend. Estimate: each workload's interleaved plain and
 * hooked windows, plus its GEMMs timed alone (about 0.4 s per distinct shape).
 */
import { type Breakdown, type BreakdownWorkload, breakdown, limitMetric } from '../breakdown.js';
import type { Backend } from '../../ts/backends/backend.js';
import type { BenchContext } from '../context.js';
import type { Phase } from '../progress.js';
import { type BenchRecord, errText, skipped } from '../report.js';

/**
 * The record of a breakdown: median = its limit / the measured step; metric and limit_kind say
 * which limit (gemm_only_limit_fraction: the GEMMs alone; compute_limit_fraction: a conv trunk's
 * GEMMs alone plus its convolutions' FLOPs at the best GEMM rate).
 */
export function breakdownRecord(b: Breakdown): BenchRecord {
  const r = b.gemmLimitMs / b.stepMs;
  return { workload: b.workload, system: 'hydranet', backend: 'cpu', metric: limitMetric(b.limitKind), unit: 'fraction', median: r, min: null, max: null, threads: b.threads, isa: b.isa, limit_kind: b.limitKind, breakdown: b };
}

/**
 * The phase that breaks down `w`'s step on the cpu backend `be` (`rounds` interleaved plain and
 * hooked windows of `seconds`) into `records`: its record, or a skipped one naming the failure.
 */
export function breakdownPhase(be: Backend, records: BenchRecord[], w: BreakdownWorkload, rounds: number, seconds: number, estimate: number): Phase {
  return {
    label: `step breakdown of ${w} on hydranet cpu`,
    estimate,
    run: async () => {
      try {
        records.push(breakdownRecord(await breakdown(be, w, rounds, seconds)));
      } catch (e) {
        records.push(skipped({ workload: w, system: 'hydranet', backend: 'cpu', metric: limitMetric(w === 'LeNet' ? 'gemm+conv-at-peak' : 'gemm-only') }, `failed: ${errText(e)}`));
      }
    },
  };
}

/** The breakdown phases of W1, W2 and MultiLeNet: none when the cpu backend did not open (E1's: bench/phases/embedding.ts). */
export function breakdownPhases(ctx: BenchContext): Phase[] {
  const { opts, records, cpuSlot, w1 } = ctx;
  if (!cpuSlot?.backend) return [];
  const be = cpuSlot.backend;
  const names: BreakdownWorkload[] = [];
  for (const w of opts.workloads) if (w.name === 'W1' || w.name === 'W2') names.push(w.name);
  if (w1) names.push('LeNet');
  const rounds = opts.quick ? 2 : 5;
  const seconds = opts.quick ? 0.15 : 0.4;
  return names.map((w) => breakdownPhase(be, records, w, rounds, seconds, rounds * 2 * seconds * 1.3 + (w === 'LeNet' ? 7 : 4) + (w === 'W2' ? 6 : 0)));
}
