/**
 * What a bench run says about itself: the header (machine, backends, window plans, the peers'
 * environment), the machine record, the record of each phase's seconds against its estimate,
 * and the Markdown report's first line.
 */
import { type BackendSlot, slotOpen } from './backends.js';
import type { Options, Plans } from './options.js';
import type { Machine } from './peers.js';
import { WEBGPU_GEMM_NOTE, webgpuGemmPlan } from './phases/gemm.js';
import type { BenchRecord } from './report.js';

/** The header lines printed before the first phase runs. */
export function runHeader(opts: Options, machine: Machine, slots: readonly BackendSlot[], p: Plans, shown: Record<string, string>): string[] {
  const header = [
    `hydranet bench${opts.quick ? ' (--quick)' : ''}`,
    `machine   ${machine.model} (${[machine.vendor, machine.family].filter(Boolean).join(' ')}), ${machine.cores} cores${machine.avx512f ? ', AVX-512F' : ''}, ${machine.memoryGiB.toFixed(0)} GiB; ${machine.os}; Node ${machine.node}`,
    ...slots.map((s) =>
      slotOpen(s)
        ? s.name === 'webgpu'
          ? `backend   webgpu: adapter ${s.isa ?? '?'}, threads n/a`
          : `backend   ${s.name}: isa ${s.isa ?? '?'}, threads ${s.threads ?? '?'}`
        : `backend   ${s.name}: UNAVAILABLE: ${s.reason}`,
    ),
    `windows   steps: ${p.step.windows} × ≥ ${p.step.minSeconds} s after ≥ ${p.step.warmupSeconds} s warm-up; GEMM: ${p.gemm.windows} × ≥ ${p.gemm.minSeconds} s; reference: reduced budget (see notes)` +
      (slots.some((s) => s.name === 'webgpu' && slotOpen(s)) ? `; webgpu GEMM: ${webgpuGemmPlan(opts.quick).note.replace(`${WEBGPU_GEMM_NOTE}: `, '')}` : ''),
  ];
  if (opts.peers) header.push(`peer env  ${Object.entries(shown).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  return header;
}

/** The record of the machine, the backends and the peers' environment. */
export function machineRecord(opts: Options, machine: Machine, slots: readonly BackendSlot[], shown: Record<string, string>): BenchRecord {
  return {
    workload: 'machine',
    system: 'hydranet',
    backend: slots.map((s) => s.name).join(','),
    metric: 'info',
    median: null,
    min: null,
    max: null,
    cpu: machine.model,
    cores: machine.cores,
    vendor: machine.vendor,
    family: machine.family,
    avx512f: machine.avx512f,
    os: machine.os,
    node: machine.node,
    quick: opts.quick,
    backends: Object.fromEntries(
      slots.map((s) => [s.name, slotOpen(s) ? { isa: s.isa, threads: s.name === 'webgpu' ? 'n/a' : s.threads, adapter: s.adapter } : { unavailable: s.reason }]),
    ),
    peer_env: opts.peers ? shown : undefined,
  };
}

/** The record of the run's seconds, each phase's seconds and its estimate. */
export function phaseRecord(seconds: number, timings: readonly { label: string; seconds: number; estimate: number }[]): BenchRecord {
  return {
    workload: 'machine',
    system: 'hydranet',
    backend: 'bench',
    metric: 'phase_seconds',
    median: seconds,
    min: seconds,
    max: seconds,
    unit: 's',
    phases: timings.map((t) => ({ label: t.label, seconds: Math.round(t.seconds * 10) / 10, estimate: Math.round(t.estimate * 10) / 10 })),
  };
}

/** The Markdown report's first line: the command (file flags left out), the date, the machine and backends. */
export function markdownHeader(machine: Machine, slots: readonly BackendSlot[]): string {
  const fileFlags = ['--markdown', '--update-readme', '--json-out'];
  const args = process.argv.slice(2).filter((a, i, all) => !fileFlags.includes(a) && !fileFlags.includes(all[i - 1] ?? ''));
  return (
    `Measured by \`npm run bench${args.length ? ` -- ${args.join(' ')}` : ''}\` on ${new Date().toISOString().slice(0, 10)}: ` +
    `${machine.model} (${machine.cores} cores), Node ${machine.node}${slots.map((sl) => (slotOpen(sl) ? `; ${sl.name}: ${sl.isa ?? ''}` : '')).join('')}.`
  );
}
