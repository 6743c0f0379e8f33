/**
 * The bench's human output: the tables of training steps (the embedding workload E1's apart),
 * GEMM GFLOP/s, weighting strategies and MultiLeNet built from the records, with the ratios, what was skipped and why, and the
 * peers' notes (MultiMNIST's tables are bench/multimnist.ts's mnistText).
 */
import { BENCH_BACKENDS, type BenchBackend, type Options } from './options.js';
import { WEBGPU_GEMM_NOTE, sameShape, webgpuGemmPlan } from './phases/gemm.js';
import {
  type BenchRecord,
  bySystem,
  fmt,
  peerKernelLines,
  ratio,
  representativeFlag,
  stepRatioLines,
  systemName,
  table,
} from './report.js';
import { EMBEDDING_NAME, describeEmbedding, embeddingStepFlops } from './embedding/workload.js';
import { describeWorkload, gemmShape, stepFlops } from './workloads.js';

/** Prints the tables of `records` to stdout. */
export function printHuman(records: BenchRecord[], opts: Options, peerNotes: string[]): void {
  const out: string[] = [''];
  const find = (p: (r: BenchRecord) => boolean): BenchRecord | undefined => records.find(p);

  // Training steps of the dense workloads (none with --workload E1 alone).
  if (opts.workloads.length) out.push(`Training steps per second (forward + multi-loss + backward + SGD momentum 0.9, lr 0.01; median [min … max] over windows)`);
  const rows: string[][] = [];
  const skips: string[] = [];
  for (const w of opts.workloads) {
    const stepRecs = records.filter((r) => r.workload === w.name && r.metric === 'train_steps_per_s').sort(bySystem);
    for (const r of stepRecs) {
      const who = systemName(r);
      if (r.median === null) {
        skips.push(`  ${w.name} ${who}: ${r.skipped}`);
        rows.push([w.name, who, '', '—', '', '', '', '', '', 'skipped (below)']);
        continue;
      }
      const gf = (r.median * stepFlops(w)) / 1e9;
      rows.push([
        w.name,
        who,
        r.threads !== undefined ? String(r.threads) : r.backend === 'webgpu' ? 'n/a' : '',
        fmt(r.median),
        fmt(r.min),
        fmt(r.max),
        String(r.windows ?? ''),
        fmt(1000 / r.median),
        fmt(gf),
        [representativeFlag(r), r.note].filter(Boolean).join('; '),
      ]);
    }
  }
  if (opts.workloads.length) {
    out.push(
      table(['workload', 'system', 'threads', 'steps/s', 'min', 'max', 'windows', 'ms/step', 'GFLOP/s*', 'note'], rows, ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'l']),
    );
    out.push('  * effective: GEMM FLOPs of one step (forward, dW, dX except the first layer) × steps/s');
    for (const w of opts.workloads) out.push(`  ${w.name}: ${describeWorkload(w)}`);
  }
  out.push(...embeddingText(records));
  const ratios = stepRatioLines(records);
  if (ratios.length) out.push('', 'Ratios measured in this run (median/median [worst … best window pairing]):', ...ratios.map((l) => `  ${l}`));
  if (skips.length) out.push('', 'Skipped:', ...skips);

  // GEMM: each case on each measured backend (cpu first), OpenBLAS beside the cpu rows only.
  const backendOrder = (b: string): number => {
    const i = BENCH_BACKENDS.indexOf(b as BenchBackend);
    return i < 0 ? BENCH_BACKENDS.length : i;
  };
  const gemmRecs = records
    .map((r, i) => ({ r, i }))
    .filter(({ r }) => r.metric === 'gemm_gflops' && r.system === 'hydranet')
    .sort((a, b) => {
      // Group rows by case (in measurement order of each case's first record), then by backend.
      const first = (x: BenchRecord): number => records.findIndex((y) => y.metric === 'gemm_gflops' && y.system === 'hydranet' && y.workload === x.workload && y.case === x.case);
      return first(a.r) - first(b.r) || backendOrder(a.r.backend) - backendOrder(b.r.backend) || a.i - b.i;
    })
    .map(({ r }) => r);
  if (gemmRecs.length || records.some((r) => r.metric === 'gemm_gflops')) {
    out.push('', 'GEMM GFLOP/s (FLOPs = 2mnk; m×n×k with op(A) m×k, op(B) k×n; median [min … max])');
    const grows: string[][] = [];
    const gskips = new Map<string, string[]>();
    for (const r of gemmRecs) {
      const isCpu = r.backend === 'cpu';
      const blas = isCpu ? find((b) => b.system === 'openblas' && b.metric === 'gemm_gflops' && sameShape(b, r)) : undefined;
      const rr = isCpu ? find((b) => b.metric === 'gemm_gflops_ratio' && b.backend === 'cpu' && sameShape(b, r) && b.workload === r.workload) : undefined;
      if (r.median === null) gskips.set(r.backend, [...(gskips.get(r.backend) ?? []), `  ${r.workload} ${r.case} on ${r.backend}: ${r.skipped}`]);
      grows.push([
        r.workload === 'gemm' ? '—' : r.workload,
        r.case ?? '',
        gemmShape({ workload: r.workload, label: '', m: r.m!, n: r.n!, k: r.k!, transA: !!r.transA, transB: !!r.transB, beta: 0 }),
        `hydranet ${r.backend}`,
        r.median === null ? 'skipped' : `${fmt(r.median)} [${fmt(r.min)} … ${fmt(r.max)}]`,
        blas && blas.median !== null ? `${fmt(blas.median)} [${fmt(blas.min)} … ${fmt(blas.max)}]` : isCpu ? '—' : '',
        rr ? ratio(rr.median) : isCpu ? '—' : '',
        // The reduced webgpu plan is the same for every row: said once under the table.
        (r.note ?? '').split('; ').filter((x) => !x.startsWith(WEBGPU_GEMM_NOTE)).join('; '),
      ]);
    }
    out.push(table(['workload', 'case', 'shape', 'backend', 'GFLOP/s', 'OpenBLAS', 'cpu/OpenBLAS', 'note'], grows, ['l', 'l', 'l', 'l', 'r', 'r', 'r', 'l']));
    out.push('  * the first layer\'s dX is not computed in training (its input is the data); listed for completeness.');
    out.push('  dW uses beta = 1 (gradients accumulate), as in training. OpenBLAS and the ratio apply to the cpu rows only.');
    if (gemmRecs.some((r) => r.backend === 'webgpu' && r.median !== null)) out.push(`  webgpu rows: ${webgpuGemmPlan(opts.quick).note} (in each record's note).`);
    for (const [backend, lines] of gskips) {
      const all = gemmRecs.filter((r) => r.backend === backend);
      const reasons = new Set(all.filter((r) => r.median === null).map((r) => r.skipped));
      if (lines.length === all.length && reasons.size === 1) out.push('', `Skipped (every ${backend} case): ${[...reasons][0]}`);
      else out.push('', 'Skipped:', ...lines);
    }
  }
  // Weighting strategies.
  const wrecs = records.filter((r) => r.metric === 'weighting_steps_per_s');
  if (wrecs.length) {
    out.push('', `Weighting strategies on ${wrecs[0].workload}, ${wrecs[0].backend} (steps/s, median [min … max]; ratio to equal weighting: median [min … max] of per-round ratios, strategies interleaved)`);
    const wrows = wrecs.map((r) => {
      const rr = find((b) => b.metric === 'weighting_vs_equal_ratio' && b.case === r.case);
      return [String(r.case), String(r.mode), `${fmt(r.median)} [${fmt(r.min)} … ${fmt(r.max)}]`, rr ? `${ratio(rr.median)} [${ratio(rr.min)} … ${ratio(rr.max)}]` : '1×'];
    });
    out.push(table(['weighting', 'mode', 'steps/s', 'vs equal'], wrows, ['l', 'l', 'r', 'r']));
  }
  // MultiLeNet.
  const lenet = records.filter((r) => r.workload === 'LeNet' && r.metric === 'train_steps_per_s');
  if (lenet.length) {
    out.push('', 'MultiLeNet training steps per second (conv trunk + 2 heads, batch 256, SGD; an epoch of MultiMNIST is 235 steps)');
    const lrows = [...lenet].sort(bySystem).map((r) => {
      const who = r.system === 'hydranet' ? `hydranet ${r.backend}` : systemName(r);
      if (r.median === null) return [who, '—', '—', r.skipped ?? ''];
      const vs = records
        .filter((x) => x.workload === 'LeNet' && x.metric === 'train_steps_per_s_ratio' && r.system !== 'hydranet' && x.system === `hydranet/${r.system}` && x.peer_backend === r.backend)
        .map((x) => `hydranet ${x.backend} / this = ${ratio(x.median)}`)
        .join(', ');
      const extra = r.system === 'pytorch' && r.threads !== undefined ? `${String(r.threads)} thread${r.threads === 1 ? '' : 's'} (its best), ${String(r.variant ?? '')}` : '';
      return [who, `${fmt(r.median)} [${fmt(r.min)} … ${fmt(r.max)}]`, `${fmt(235 / r.median)} s`, [vs, extra, r.note].filter(Boolean).join('; ')];
    });
    out.push(table(['system', 'steps/s', 'epoch', 'note'], lrows, ['l', 'r', 'r', 'l']));
  }
  const kernels = peerKernelLines(records);
  if (peerNotes.length || kernels.length) out.push('', 'Peers:', ...kernels.map((n) => `  ${n}`), ...peerNotes.map((n) => `  ${n}`));
  console.log(out.join('\n'));
}

/**
 * The embedding workload E1's lines: each system and thread count (PyTorch's in the fastest of
 * its variants there), steps/s, ms and effective GFLOP/s per step, CPU ms per step; none when E1
 * did not run. Its ratios are among the run's ratio lines.
 */
export function embeddingText(records: readonly BenchRecord[]): string[] {
  const recs = records.filter((r) => r.workload === EMBEDDING_NAME && r.metric === 'train_steps_per_s').sort((a, b) => bySystem(a, b) || Number(a.threads) - Number(b.threads));
  if (!recs.length) return [];
  const flops = embeddingStepFlops();
  const rows = recs.map((r) => {
    const who = systemName(r);
    const threads = r.threads !== undefined ? String(r.threads) : '';
    if (r.median === null) return [who, threads, '—', '', '', '', `skipped: ${r.skipped ?? ''}`];
    return [
      who,
      threads,
      `${fmt(r.median)} [${fmt(r.min)} … ${fmt(r.max)}]`,
      fmt(1000 / r.median),
      fmt((r.median * flops) / 1e9),
      typeof r.cpu_ms_per_step === 'number' ? fmt(r.cpu_ms_per_step) : '',
      [representativeFlag(r), r.variant ? String(r.variant) : '', r.note].filter(Boolean).join('; '),
    ];
  });
  const cpu = records.find((r) => r.workload === EMBEDDING_NAME && r.metric === 'cpu_time_per_step_ratio');
  return [
    '',
    `${EMBEDDING_NAME}, the embedding workload: training steps per second (median [min … max] over windows)`,
    table(['system', 'threads', 'steps/s', 'ms/step', 'GFLOP/s*', 'CPU ms/step', 'note'], rows, ['l', 'r', 'r', 'r', 'r', 'r', 'l']),
    `  ${EMBEDDING_NAME}: ${describeEmbedding()}`,
    `  * effective: GEMM FLOPs of one step (experts, gates, towers: forward, dW, dX) × steps/s; CPU ms/step: every thread of the process, over a few steps after the windows`,
    ...(cpu ? [`  at 1 thread, by CPU time per step (every thread's; PyTorch's OpenBLAS GEMMs keep their own threads): PyTorch cpu / hydranet cpu = ${ratio(cpu.median)}`] : []),
  ];
}
