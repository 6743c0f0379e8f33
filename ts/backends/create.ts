/**
 * Backend selection by name: the one place that knows every backend.
 */
import { checkKeys } from '../core/options.js';
import { ConfigError, ValueError, describe } from '../errors.js';
import type { Backend } from './backend.js';
import { MAX_THREADS } from './native.js';
import { ReferenceBackend } from './reference.js';

/**
 * The backends {@link createBackend} knows: 'reference' (plain TypeScript, runs everywhere),
 * 'cpu' (the native C++ addon, threads + SIMD), 'webgpu' (WGSL through Dawn, npm `webgpu`),
 * 'cuda' (the CUDA addon, built where nvcc exists).
 */
export const BACKEND_NAMES = ['reference', 'cpu', 'webgpu', 'cuda'] as const;
/** One of {@link BACKEND_NAMES}. */
export type BackendName = (typeof BACKEND_NAMES)[number];

/** The most threads a kernel may use (the native addon's own bound). */
export { MAX_THREADS };

/** Options of {@link createBackend}. Unknown keys are ConfigErrors. */
export interface BackendOptions {
  /**
   * Threads per kernel of the cpu backend, in [1, MAX_THREADS] (default: every hardware
   * thread). Other backends take and ignore it.
   */
  threads?: number;
}

/**
 * Creates a backend. Throws ConfigError for an unknown name or option key, ValueError for a
 * thread count outside [1, 1024], and BackendUnavailableError, with the reason and the fix,
 * when the backend cannot run on this machine.
 */
export async function createBackend(name: string = 'cpu', opts: BackendOptions = {}): Promise<Backend> {
  checkKeys(opts, ['threads'], 'the backend options');
  const threads: unknown = opts.threads;
  if (threads !== undefined && !(typeof threads === 'number' && Number.isInteger(threads) && threads >= 1 && threads <= MAX_THREADS)) {
    throw new ValueError(`Expected an integer in [1, ${MAX_THREADS}] for threads but received ${describe(threads)}`);
  }
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
