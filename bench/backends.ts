/**
 * The hydranet backends a bench run measures: each opened once, with what the tables say
 * about it (threads, ISA, the webgpu adapter, the cuda device), or the reason it cannot run here.
 */
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
