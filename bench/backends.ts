/**
 * The hydranet backends a bench run measures: each opened once, with what the tables say
 * about it (threads, ISA, the webgpu adapter, the cuda device), or the reason it cannot run here.
 *
 * Only the cpu backend is opened in the bench's own process. Every other one (reference,
 * webgpu, cuda) is described by a child process (`bench.js --describe-backends`) and each of its
 * phases runs in a child of its own (`bench.js --phase LABEL`, context.ts: phaseRun), as the
 * peers do: a webgpu device (lavapipe's threads, Dawn's instance and their memory), a CUDA
 * context or the reference backend's garbage never share a process with a cpu measurement.
 */
import { type ChildResult, runJsonChild } from './child.js';
import { createBackend } from '../ts/index.js';
import type { Backend } from '../ts/backends/backend.js';
import type { AdapterDescription } from '../ts/backends/webgpu/device.js';
import type { BenchBackend } from './options.js';
import { errText } from './report.js';

/** Backend handles: created once, or the reason they cannot run here. */
export interface BackendSlot {
  name: BenchBackend;
  backend: Backend | null;
  reason?: string;
  /** undefined for webgpu (n/a: the adapter schedules its own work). */
  threads?: number;
  isa?: string;
  /** webgpu: the adapter the kernels run on. */
  adapter?: AdapterDescription;
  /** Opened in child processes only (described by one, each phase run in its own): `backend` stays null. */
  isolated?: boolean;
}

/** Whether `slot` can run: opened here, or opened (and described) by a child process. */
export function slotOpen(slot: BackendSlot | undefined): boolean {
  return !!slot && (slot.backend !== null || (slot.isolated === true && slot.reason === undefined));
}

/** Whether the bench opens backend `name` in its own process (the cpu backend) or in child processes (every other one). */
export function opensInProcess(name: BenchBackend): boolean {
  return name === 'cpu';
}

/** A slot as a child prints it: everything but the backend handle. */
export type SlotDescription = Omit<BackendSlot, 'backend' | 'isolated'>;

/**
 * The slots of `names`, described by one child process (`script` with `args`, which opens them,
 * prints their descriptions and exits): isolated slots, or each with the reason the child failed.
 */
export function describeInChild(names: readonly BenchBackend[], script: string, args: readonly string[], timeoutS = 180): BackendSlot[] {
  if (names.length === 0) return [];
  const r: ChildResult<{ slots: SlotDescription[] }> = runJsonChild(script, [...args, '--describe-backends'], timeoutS);
  return names.map((name) => {
    const d = r.ok ? r.value.slots.find((s) => s.name === name) : undefined;
    if (!d) return { name, backend: null, isolated: true, reason: r.ok ? 'the child process did not describe it' : r.reason };
    return { ...d, name, backend: null, isolated: true };
  });
}

/** "mesa software llvmpipe-… (llvmpipe: Mesa 25.0.7 (LLVM 15.0.6)), CPU adapter" */
export function describeAdapter(a: Pick<AdapterDescription, 'vendor' | 'architecture' | 'device' | 'description'> & { cpu?: boolean }): string {
  const names = [a.vendor, a.architecture, a.device].filter(Boolean).join(' ') || 'unknown adapter';
  return `${names}${a.description ? ` (${a.description})` : ''}${a.cpu ? ', CPU adapter' : ''}`;
}

/** Opens backend `name` (with `threads` where given); a failure becomes the slot's reason. */
export async function openBackend(name: BenchBackend, threads: number | undefined): Promise<BackendSlot> {
  try {
    const backend = await createBackend(name, threads === undefined ? {} : { threads });
    const extra = backend as unknown as { threads?: unknown; isa?: unknown; adapter?: AdapterDescription };
    if (name === 'cuda') {
      const d = (backend as unknown as { device: { name: string; computeCapability: string } }).device;
      return { name, backend, isa: `${d.name} (sm ${d.computeCapability}), TF32 tensor cores` };
    }
    if (name === 'webgpu') {
      const adapter = extra.adapter ? { ...extra.adapter } : undefined;
      return { name, backend, adapter, isa: adapter ? describeAdapter(adapter) : 'unknown adapter' };
    }
    return {
      name,
      backend,
      threads: typeof extra.threads === 'number' ? extra.threads : name === 'reference' ? 1 : undefined,
      isa: typeof extra.isa === 'string' ? extra.isa : name === 'reference' ? 'js' : undefined,
    };
  } catch (e) {
    return { name, backend: null, reason: errText(e) };
  }
}
