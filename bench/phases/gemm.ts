/**
 * Phase family 3: GEMM GFLOP/s on the cpu, webgpu and cuda backends at 1024³ and each trunk
 * layer's three GEMMs, then OpenBLAS cblas_sgemm at the same shapes (beside cpu). W3's GEMMs
 * are GPU-sized: cuda only, unless W3 was asked for. Estimate: the GEMM window plan per shape
 * (webgpu: its reduced plan); OpenBLAS: the plan without its budget, per distinct shape.
 */
import type { Backend } from '../../ts/backends/backend.js';
import { type BackendSlot, slotOpen } from '../backends.js';
import { type BenchContext, phaseRun } from '../context.js';
import { type Options, planSeconds, plans } from '../options.js';
import { runOpenBlas } from '../peers.js';
import { type Phase, log } from '../progress.js';
import { type BenchRecord, type RecordBase, errText, ratioRecord, skipped } from '../report.js';
import { type WindowPlan, measure } from '../stats.js';
import { type GemmCase, GemmOperands, SQUARE_GEMM, gemmCases, gemmShape } from '../workloads.js';

/** How every webgpu GEMM record's note starts (the human table says it once). */
export const WEBGPU_GEMM_NOTE = 'reduced webgpu GEMM plan';

/**
 * GEMMs on webgpu: a CPU adapter (lavapipe) takes 0.5–1 s for one W2 GEMM, so every webgpu case
 * gets one warm-up iteration and at most 2 (--quick) or 3 windows within a small budget.
 */
export function webgpuGemmPlan(quick: boolean): { plan: WindowPlan; note: string } {
  return quick
    ? { plan: { windows: 2, minSeconds: 0.1, warmupSeconds: 0, warmupIters: 1, budgetSeconds: 2 }, note: `${WEBGPU_GEMM_NOTE}: 1 warm-up iteration, ≤ 2 windows of ≥ 0.1 s, budget 2 s` }
    : { plan: { windows: 3, minSeconds: 0.3, warmupSeconds: 0.2, warmupIters: 1, budgetSeconds: 5 }, note: `${WEBGPU_GEMM_NOTE}: ≥ 0.2 s warm-up, ≤ 3 windows of ≥ 0.3 s, budget 5 s` };
}

/** The identifying fields of a GEMM record, shared by our backends and the OpenBLAS peer. */
function gemmRecordBase(c: GemmCase, system: string, backend: string): RecordBase {
  const { workload, label, m, n, k, transA, transB } = c;
  return { workload, system, backend, metric: 'gemm_gflops', unit: 'GFLOP/s', case: label, m, n, k, transA, transB };
}

/**
 * Dense TF32 tensor-core peak of known NVIDIA GPUs, TFLOP/s (NVIDIA's data sheets list twice
 * these figures "with sparsity"), for the cuda backend's GEMM records; null when unknown.
 */
function tf32PeakTflops(device: string): number | null {
  if (/H100.*PCIe/i.test(device)) return 378;
  if (/H100|H200|GH200/i.test(device)) return 494.7;
  if (/A100/i.test(device)) return 156;
  return null;
}

/** Measures GEMM case `c` on `slot` and adds the record (a skipped one when it fails). */
async function benchGemm(be: Backend, slot: BackendSlot, c: GemmCase, opts: Options, records: BenchRecord[]): Promise<void> {
  const base = gemmRecordBase(c, 'hydranet', slot.name);
  let ops: GemmOperands | null = null;
  const wg = slot.name === 'webgpu' ? webgpuGemmPlan(opts.quick) : null;
  try {
    ops = new GemmOperands(be, c);
    const o = ops;
    const s = await measure((k) => o.run(k), () => be.sync(), wg?.plan ?? plans(opts.quick).gemm);
    const g = o.flops / 1e9;
    const peak = slot.name === 'cuda' ? tf32PeakTflops(slot.isa ?? '') : null;
    const ofPeak = peak ? `${((s.median * g) / 1e3 / peak * 100).toFixed(0)} % of the ${peak} TFLOP/s dense TF32 peak` : undefined;
    records.push({
      ...base,
      median: s.median * g,
      min: s.min * g,
      max: s.max * g,
      windows: s.samples.length,
      threads: slot.threads,
      isa: slot.isa,
      tf32_peak_tflops: peak ?? undefined,
      note: [wg?.note, s.reduced, ofPeak].filter(Boolean).join('; ') || undefined,
    });
  } catch (e) {
    records.push(skipped(base, `failed: ${errText(e)}`));
  } finally {
    ops?.dispose();
  }
}

/** The fields that say a GEMM's shape (a case or a record). */
interface Shape {
  m?: number;
  n?: number;
  k?: number;
  transA?: boolean;
  transB?: boolean;
}

/** Whether two GEMMs have the same shape and transposes. */
export function sameShape(r: Shape, c: Shape): boolean {
  return r.m === c.m && r.n === c.n && r.k === c.k && r.transA === c.transA && r.transB === c.transB;
}

/** The GEMM phases: each backend's shapes, then OpenBLAS (a skipped record now for a backend that did not open). */
export function gemmPhases(ctx: BenchContext): Phase[] {
  const { opts, records, peerNotes, slots, plans: p, env, w3Explicit } = ctx;
  const phases: Phase[] = [];
  const cpu = slots.find((s) => s.name === 'cpu');
  const cases = [SQUARE_GEMM, ...opts.workloads.flatMap(gemmCases)];
  const gemmSlots = slots.filter((s) => s.name === 'cpu' || s.name === 'webgpu' || s.name === 'cuda');
  for (const slot of gemmSlots) {
    const mine = cases.filter((c) => c.workload !== 'W3' || slot.name === 'cuda' || w3Explicit);
    if (!slotOpen(slot)) {
      for (const c of mine) records.push(skipped(gemmRecordBase(c, 'hydranet', slot.name), `backend unavailable: ${slot.reason}`));
      continue;
    }
    const per = slot.name === 'webgpu' ? planSeconds(webgpuGemmPlan(opts.quick).plan) + 0.5 : planSeconds(p.gemm);
    const label = `GEMM on hydranet ${slot.name} (${mine.length} shapes)`;
    phases.push({
      label,
      estimate: mine.length * per,
      run: phaseRun(ctx, slot, label, { workload: 'gemm', metric: 'gemm_gflops' }, async () => {
        for (const c of mine) {
          log(`  ${slot.name} ${c.workload} ${c.label} (${gemmShape(c)}) …`);
          await benchGemm(slot.backend!, slot, c, opts, records);
        }
      }),
    });
  }
  if (cpu && opts.peers) {
    // Duplicate shapes (W1/W2 share none today, but keep it general) are measured once.
    const unique = cases.filter((c, i) => cases.findIndex((d) => sameShape(d, c) && d.beta === c.beta) === i);
    phases.push({
      label: `OpenBLAS sgemm (${unique.length} shapes)`,
      estimate: 2 + unique.length * planSeconds({ ...p.gemm, budgetSeconds: undefined }),
      run: async () => {
        const b = runOpenBlas(unique, p.gemm, env);
        if (b.ok && b.value) {
          peerNotes.push(`OpenBLAS: ${b.value.info.config}; core ${b.value.info.core}; ${b.value.info.threads} threads (cblas_sgemm, compiled at bench time into a temp folder)`);
          for (const c of cases) {
            const g = b.value.gemms.find((x) => sameShape(c, x));
            if (!g) continue;
            const rec: BenchRecord = {
              ...gemmRecordBase(c, 'openblas', 'cblas_sgemm'),
              median: g.median,
              min: g.min,
              max: g.max,
              windows: p.gemm.windows,
              threads: b.value.info.threads,
              core: b.value.info.core,
            };
            records.push(rec);
            const mine = records.find((r) => r.system === 'hydranet' && r.backend === 'cpu' && r.metric === 'gemm_gflops' && r.workload === c.workload && r.case === c.label);
            const rr = mine ? ratioRecord(mine, rec, { case: c.label, m: c.m, n: c.n, k: c.k, transA: c.transA, transB: c.transB }) : null;
            if (rr) records.push(rr);
          }
        } else {
          peerNotes.push(`OpenBLAS skipped: ${b.reason}`);
          records.push(skipped({ workload: 'gemm', system: 'openblas', backend: 'cblas_sgemm', metric: 'gemm_gflops', unit: 'GFLOP/s' }, b.reason ?? 'unavailable'));
        }
      },
    });
  }
  return phases;
}
