/**
 * Phase family 1d: the embedding workload E1 (bench/embedding/workload.ts: 13 numeric + 26
 * categorical fields, MMoE of 8 experts, batch 4096, SGD with row-sparse tables) on the cpu
 * backend only: hydranet at 1 and 2 threads (and every core when there are more), each in a cpu
 * backend of its own, opened for the phase; PyTorch CPU (bench/embedding/torch_embedding.py) at
 * the same thread counts, each in the best of the variants that can win (EMBEDDING_TORCH_VARIANTS);
 * the ratio of the two bests; the step's breakdown and its GEMM-only limit (bench/breakdown.ts)
 * on the run's cpu backend, as W1 and W2 get theirs. Both sides are timed with the same window
 * plan (Plans.embedding) and then give their CPU time per step over EMBEDDING_CPU_STEPS steps.
 * `npm run bench:embedding` keeps the full 16-variant sweep.
 *
 * Estimate: per measurement the window plan, the model's construction (its 5.2 M-value tables
 * drawn on the host) and the CPU-time steps at the slowest rate seen (0.4 s a step on 1 thread);
 * PyTorch's start-up; the breakdown's interleaved windows and its 15 GEMM shapes alone.
 */
import type { Backend } from '../../ts/backends/backend.js';
import { createBackend } from '../../ts/backends/create.js';
import type { BenchContext } from '../context.js';
import { EMBEDDING_NAME, EmbeddingStep, embeddingStepFlops, torchEmbeddingArgs } from '../embedding/workload.js';
import { torchLenetThreads } from '../lenet.js';
import { planSeconds } from '../options.js';
import { type TorchEmbeddingRun, classifyBlas, runTorchEmbedding } from '../peers.js';
import { type Phase, log } from '../progress.js';
import { type BenchRecord, errText, fmt, ratioRecord, skipped, summaryFields } from '../report.js';
import { type WindowPlan, measure } from '../stats.js';
import { breakdownPhase } from './breakdown.js';

/**
 * The PyTorch variants (torch_embedding.py's --variants) the bench runs at each thread count:
 * the ones that can win. In the recorded quiet sweep of all 16 (`npm run bench:embedding`,
 * README "Embedding-heavy workload": 6.698 steps/s best), these four held all five top places
 * (one table + offsets sparse fused 6.698 and per-field sparse loop 6.686 at 1 thread,
 * per-field dense loop 6.339 at 1, one table dense loop 6.085 at 2, per-field sparse loop 5.940
 * at 2); every other variant was below the fifth, under 0.89× the best. The winners of the two
 * earlier, loaded sweeps (one table dense loop; one table sparse fused) are among them too.
 */
export const EMBEDDING_TORCH_VARIANTS: readonly string[] = ['concat/sparse/fused', 'fields/sparse/loop', 'fields/dense/loop', 'concat/dense/loop'];

/** Steps after the windows whose process CPU time is read (each side). */
export const EMBEDDING_CPU_STEPS = 3;

const BASE = { workload: EMBEDDING_NAME, backend: 'cpu', metric: 'train_steps_per_s', unit: 'steps/s' } as const;

/** hydranet's E1 steps/s on a cpu backend of its own with `threads` threads (opened and disposed here). */
export async function benchEmbeddingCpu(threads: number, plan: WindowPlan): Promise<BenchRecord> {
  const base = { ...BASE, system: 'hydranet', threads };
  let be: Backend | undefined;
  try {
    be = await createBackend('cpu', { threads });
    const step = new EmbeddingStep(be);
    const s = await measure((k) => step.run(k), () => step.backend.sync(), plan);
    const cpu = await step.cpuSecondsPerStep(EMBEDDING_CPU_STEPS);
    const loss = await step.loss();
    return {
      ...base,
      ...summaryFields(s),
      isa: (be as unknown as { isa?: string }).isa,
      flops_per_step: embeddingStepFlops(step.workload),
      parameters: step.model.params.count,
      row_sparse: step.optimizer.rowSparse,
      final_loss: loss,
      cpu_ms_per_step: cpu * 1000,
      note: [s.reduced, Number.isFinite(loss) ? '' : 'THE LOSS IS NOT FINITE after the timed steps'].filter(Boolean).join('; ') || undefined,
    };
  } catch (e) {
    return skipped(base, `failed: ${errText(e)}`);
  } finally {
    be?.dispose();
  }
}

/**
 * PyTorch's E1 records from its runs: at each thread count, the fastest variant's figures (every
 * variant's median in `by_variant`), with the BLAS it called; skipped records with the reason
 * when it could not run.
 */
export function torchEmbeddingRecords(
  r: ReturnType<typeof runTorchEmbedding>,
  threadCounts: readonly number[],
  plan: WindowPlan,
): { records: BenchRecord[]; notes: string[] } {
  if (!r.ok || !r.value?.runs.length) {
    const why = r.ok ? 'no variant ran' : (r.reason ?? 'failed');
    return { records: threadCounts.map((t) => skipped({ ...BASE, system: 'pytorch', threads: t }, why)), notes: [`PyTorch ${EMBEDDING_NAME} skipped: ${why}`] };
  }
  const { runs, info } = r.value;
  const blas = classifyBlas(info.blas);
  const openblasThreads = info.blas.openblas?.threads;
  const records: BenchRecord[] = [];
  const counts = [...new Set(runs.map((x) => x.threads))];
  for (const t of counts) {
    const at = runs.filter((x) => x.threads === t);
    const best = at.reduce((a, b) => (b.median > a.median ? b : a));
    records.push({
      ...BASE,
      system: 'pytorch',
      median: best.median,
      min: best.min,
      max: best.max,
      windows: best.samples.length || plan.windows,
      threads: t,
      variant: best.description,
      final_loss: best.loss,
      cpu_ms_per_step: best.cpuSecondsPerStep * 1000,
      by_variant: at.map((x: TorchEmbeddingRun) => ({ variant: x.variant, median: x.median, min: x.min, max: x.max, cpu_ms_per_step: x.cpuSecondsPerStep * 1000 })),
      version: info.version,
      kernels: blas.summary,
      representative: blas.representative,
      fix: blas.fix,
      blas_kind: blas.kind,
    });
  }
  const notes = [
    `PyTorch ${info.version} ${EMBEDDING_NAME} (bench/embedding/torch_embedding.py, variants ${EMBEDDING_TORCH_VARIANTS.join(', ')}): ` +
      records.map((x) => `${String(x.threads)} thread${x.threads === 1 ? '' : 's'} ${fmt(x.median)} steps/s (${String(x.variant)})`).join(', ') +
      (openblasThreads !== undefined ? `; torch.set_num_threads sets its own threads, OpenBLAS's GEMMs keep ${openblasThreads} thread${openblasThreads === 1 ? '' : 's'} in every variant` : ''),
  ];
  return { records, notes };
}

/**
 * The E1 ratios of a run's records: hydranet cpu's best thread count / PyTorch's best (metric
 * train_steps_per_s_ratio, as every workload's), and at one thread PyTorch's CPU ms per step /
 * hydranet's (metric cpu_time_per_step_ratio, every thread of each process counted: a figure a
 * busy machine distorts less; PyTorch's OpenBLAS GEMMs keep their own thread count there); none
 * against a non-representative peer.
 */
export function embeddingRatios(records: readonly BenchRecord[]): BenchRecord[] {
  const of = (system: string): BenchRecord[] => records.filter((r) => r.workload === EMBEDDING_NAME && r.system === system && r.metric === 'train_steps_per_s' && r.median !== null);
  const best = (rs: BenchRecord[]): BenchRecord | undefined => rs.reduce<BenchRecord | undefined>((a, b) => (a && a.median! >= b.median! ? a : b), undefined);
  const [mine, theirs] = [best(of('hydranet')), best(of('pytorch'))];
  const out: BenchRecord[] = [];
  const rr = mine && theirs ? ratioRecord(mine, theirs, { peer_backend: 'cpu', threads: mine.threads, peer_threads: theirs.threads, peer_variant: theirs.variant }) : null;
  if (rr) out.push(rr);
  const one = (rs: BenchRecord[]): BenchRecord | undefined => rs.find((r) => r.threads === 1 && Number(r.cpu_ms_per_step) > 0);
  const [a, b] = [one(of('hydranet')), one(of('pytorch'))];
  if (rr && a && b) {
    const x = Number(b.cpu_ms_per_step) / Number(a.cpu_ms_per_step);
    out.push({ workload: EMBEDDING_NAME, system: 'hydranet/pytorch', backend: 'cpu', metric: 'cpu_time_per_step_ratio', unit: 'x', median: x, min: x, max: x, threads: 1, peer_backend: 'cpu', peer_threads: 1 });
  }
  return out;
}

/** The E1 phases: none unless E1 was asked for (or defaulted) and the cpu backend opened. */
export function embeddingPhases(ctx: BenchContext): Phase[] {
  const { opts, records, plans: p, cpuSlot, env, threads, peerNotes } = ctx;
  if (!opts.embedding || !cpuSlot?.backend) return [];
  const plan = p.embedding;
  const counts = torchLenetThreads(threads);
  // A step takes up to about 0.4 s on one thread of this workload: the CPU-time steps, the warm-up's steps.
  const measureSeconds = planSeconds(plan) + 0.4 * (EMBEDDING_CPU_STEPS + (plan.warmupIters ?? 1));
  const phases: Phase[] = counts.map((t) => ({
    label: `hydranet cpu ${EMBEDDING_NAME} training steps, ${t} thread${t === 1 ? '' : 's'}`,
    estimate: measureSeconds + 1.5,
    run: async () => {
      const r = await benchEmbeddingCpu(t, plan);
      records.push(r);
      log(`  ${EMBEDDING_NAME} hydranet cpu, ${t} thread${t === 1 ? '' : 's'}: ${r.median === null ? r.skipped : `${fmt(r.median)} steps/s`}`);
    },
  }));
  if (opts.peers) {
    phases.push({
      label: `${EMBEDDING_NAME} on PyTorch cpu (${EMBEDDING_TORCH_VARIANTS.length} variants at ${counts.join(' and ')} threads)`,
      estimate: 4 + EMBEDDING_TORCH_VARIANTS.length * counts.length * (measureSeconds + 1.5),
      run: async () => {
        const r = runTorchEmbedding(torchEmbeddingArgs(), EMBEDDING_TORCH_VARIANTS, counts, plan, EMBEDDING_CPU_STEPS, env);
        const { records: recs, notes } = torchEmbeddingRecords(r, counts, plan);
        records.push(...recs, ...embeddingRatios([...records, ...recs]));
        peerNotes.push(...notes);
      },
    });
  }
  const rounds = opts.quick ? 2 : 5;
  const seconds = opts.quick ? 0.3 : 0.5;
  // Interleaved windows of at least 2 steps (up to 0.3 s each) and the GEMMs' bursts; 15 shapes alone.
  phases.push(breakdownPhase(cpuSlot.backend!, records, EMBEDDING_NAME, rounds, seconds, 3 + rounds * (2 * Math.max(seconds, 0.6) * 1.2 + 0.3) + 15 * 0.6));
  return phases;
}
