/**
 * Backend selection by name: the one place that knows every backend.
 */
import { ConfigError } from '../errors.js';
import type { Backend } from './backend.js';
import { ReferenceBackend } from './reference.js';

export const BACKEND_NAMES = ['reference', 'cpu', 'webgpu', 'cuda'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

export interface BackendOptions {
  /** Worker threads for the cpu backend (default: every core). */
  threads?: number;
}

/**
 * Creates a backend. Throws ConfigError for an unknown name and BackendUnavailableError, with
 * the reason and the fix, when the backend cannot run on this machine.
 */
export async function createBackend(name: string = 'cpu', opts: BackendOptions = {}): Promise<Backend> {
  switch (name) {
    case 'reference':
      return new ReferenceBackend();
    case 'cpu': {
      const { CpuBackend } = await import('./cpu.js');
      return new CpuBackend(opts);
    }
    case 'webgpu': {
      const { WebGpuBackend } = await import('./webgpu.js');
      return WebGpuBackend.create();
    }
    case 'cuda': {
      const { CudaBackend } = await import('./cuda.js');
      return new CudaBackend();
    }
    default:
      throw new ConfigError(`Unknown backend ${JSON.stringify(name)}; expected one of ${BACKEND_NAMES.join(', ')}`);
  }
}
