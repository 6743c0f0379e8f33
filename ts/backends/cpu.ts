/**
 * The cpu backend: the kernels of native/cpu (C++17, threads, AVX-512 / AVX2 / scalar chosen
 * at run time) over host tensors. The op table (ops.ts) validates every call and hands the
 * tensors' own Float32Arrays (views included) to the addon, through nativeKernels: no copies.
 */
import { ConfigError, expectInt } from '../errors.js';
import type { Backend } from './backend.js';
import { HostBackend } from './host.js';
import { type CpuAddon, type CpuIsa, MAX_THREADS, type ThreadPoolStats, loadCpuAddon, nativeKernels } from './native.js';
import type { Kernels } from './ops.js';

export interface CpuBackendOptions {
  /** Threads per kernel, the calling thread included (default: every hardware thread). */
  threads?: number;
}

export class CpuBackend extends HostBackend implements Backend {
  readonly name = 'cpu';
  /** Threads each kernel may use. */
  readonly threads: number;
  /** The SIMD path the kernels run (HYDRANET_CPU_ISA=scalar|avx2|avx512 forces a lower one). */
  readonly isa: CpuIsa;
  /** @internal */
  protected readonly kernels: Kernels<Float32Array>;
  private readonly native: CpuAddon;

  /** Throws BackendUnavailableError when the addon is not built, ConfigError for a bad HYDRANET_CPU_ISA. */
  constructor(opts: CpuBackendOptions = {}) {
    super();
    const native = loadCpuAddon();
    const info = native.info();
    if (info.isaError) throw new ConfigError(info.isaError);
    this.isa = info.isa;
    // The addon runs at most MAX_THREADS threads per kernel (createBackend checks a given count).
    this.threads = opts.threads === undefined ? Math.min(info.hardwareThreads, MAX_THREADS) : expectInt('threads', opts.threads);
    this.kernels = nativeKernels(native, this.threads);
    this.native = native;
  }

  /**
   * The worker pool's hand-off counters (one pool per process, shared by every cpu backend)
   * since they were last reset; `then` 'start' resets them and starts counting, 'stop' resets
   * them and stops (a step reads no clock for them while stopped). The bench's step breakdown
   * reads them. @internal
   */
  threadPoolStats(then?: 'start' | 'stop'): ThreadPoolStats {
    return this.native.threadPoolStats(then === 'start' ? 1 : then === 'stop' ? 2 : 0);
  }
}
