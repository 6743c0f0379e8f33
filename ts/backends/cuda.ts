/**
 * The cuda backend: the kernels of native/cuda (hand-written CUDA, TF32 tensor cores for the
 * GEMMs, no cuBLAS) in a second addon, hydranet_cuda.node, built by CMakeLists.txt when the CUDA
 * toolkit is found. Tensors are ranges of device allocations the addon owns; freed tensors go
 * back to a pool here, so a steady-state training step allocates nothing on the device. A freed
 * tensor, or a view of one, throws ValueError on every later use, and so does a second free: a
 * pooled allocation is never reachable from two tensors. The op table (ops.ts) validates every
 * kernel call before anything is enqueued, and then the limits of these kernels
 * ({@link CUDA_CAPABILITIES}: a mixture layout of at most 32 tasks, 64 experts and 512 gate
 * columns; beyond them a ShapeError naming the limit); the addon checks every device range again.
 * Kernels run on one stream; `read` and `sync` wait for it, and throw the LabelError a loss
 * kernel may have flagged on the device (a class index out of range).
 */
import { TrackedTensor, markFreed, ownTensor } from './lifetime.js';
import { BackendUnavailableError, LabelError, ValueError, describe } from '../errors.js';
import type { Backend, MixtureLayout, Tensor } from './backend.js';
import { type NativeKernels, loadAddon, nativeKernels } from './native.js';
import { type KernelCapabilities, KernelBackend, type KernelLimit, type Kernels } from './ops.js';
import { checkReadInto, checkSameSize, checkUpload, checkView, checkWrite, shapeSize } from './validate.js';

/** A device range as the addon takes it: [allocation id, first element, element count]. */
type Range = [number, number, number];

/**
 * The functions of hydranet_cuda.node: the kernels (native/cuda/<family>.cu), in the one
 * convention both addons share (tensors as device ranges, no thread count), and the device
 * entries (native/cuda/addon_device.cc): tensors' allocations, transfers, the stream.
 */
export interface CudaAddon extends NativeKernels<Range, []> {
  info(): { devices: number; error: string; runtimeVersion: number; name?: string; computeCapability?: string; memoryBytes?: number };
  init(): void;
  alloc(floats: number): number;
  release(id: number): void;
  write(dst: Range, data: Float32Array): void;
  /** Returns the device status words when a kernel flagged bad data, else null. */
  read(src: Range, into: Float32Array): number[] | null;
  sync(): number[] | null;
  /** x[:] = value. */
  fill(x: Range, value: number): void;
  /** dst[:] = src (same counts). */
  copy(src: Range, dst: Range): void;
}

/**
 * The mixture kernels' limits (native/cuda/mixture.cu: kMaxMixtureTasks, kMaxMixtureExperts,
 * kMaxGateWidth): the layout travels by value in the launch parameters, in fixed-size arrays.
 */
const MIXTURE_LIMITS: readonly [what: string, max: number, of: (l: MixtureLayout) => number][] = [
  ['tasks in the layout', 32, (l) => l.tasks],
  ['experts in the layout', 64, (l) => l.experts],
  ['gate columns in the layout (the experts of every task)', 512, (l) => l.gateWidth],
];

/** What the cuda kernels run beyond the contract's checks (the op table checks it before a launch). */
export const CUDA_CAPABILITIES: KernelCapabilities = {
  limits: {
    mixtureForward: MIXTURE_LIMITS.map(([what, max, of]): KernelLimit<'mixtureForward'> => ({ what, max, measure: (...a) => of(a[4]) })),
    mixtureBackward: MIXTURE_LIMITS.map(([what, max, of]): KernelLimit<'mixtureBackward'> => ({ what, max, measure: (...a) => of(a[5]) })),
    // native/cuda/embedding.cu: the layout travels by value in the launch parameters.
    embeddingForward: [{ what: 'embedding fields', max: 128, measure: (...a) => a[3].fields.length }],
    embeddingBackward: [{ what: 'embedding fields', max: 128, measure: (...a) => a[3].fields.length }],
    embeddingSgdStep: [{ what: 'embedding fields', max: 128, measure: (...a) => a[3].fields.length }],
  },
};

let cached: CudaAddon | null = null;

/** Loads hydranet_cuda.node once, or throws BackendUnavailableError saying why and how to fix it. */
export function loadCudaAddon(): CudaAddon {
  cached ??= loadAddon<CudaAddon>(
    'cuda',
    `It is built from source when the CUDA toolkit (nvcc, CUDA 12+) is found: install it, then ` +
      `\`HYDRANET_BUILD_FROM_SOURCE=1 npm rebuild hydranet\` (\`npm run build:native\` in a hydranet checkout); ` +
      `or use the cpu or webgpu backend.`,
  );
  return cached;
}

export class CudaTensor extends TrackedTensor {
  constructor(
    readonly backend: Backend,
    readonly shape: readonly number[],
    readonly size: number,
    /** The allocation and its capacity (elements). */
    readonly id: number,
    readonly capacity: number,
    readonly offset: number,
    readonly base: CudaTensor | null = null,
  ) {
    super();
  }

  get range(): Range {
    return [this.id, this.offset, this.size];
  }
}

export class CudaBackend extends KernelBackend<Range> implements Backend {
  readonly name = 'cuda';
  /** The GPU the kernels run on. */
  readonly device: { name: string; computeCapability: string; memoryBytes: number };
  private readonly native: CudaAddon;
  /** @internal */
  protected readonly kernels: Kernels<Range>;
  /** @internal */
  protected override readonly capabilities = CUDA_CAPABILITIES;
  /** Free allocations by capacity (elements). */
  private readonly pool = new Map<number, number[]>();
  /** Every allocation this backend made (released on dispose). */
  private readonly owned = new Set<number>();
  /** Bytes of every allocation made through alloc (pooled ones included). */
  private allocatedBytes = 0;
  private disposed = false;

  /** Throws BackendUnavailableError when the addon is not built or no GPU and driver are present. */
  constructor() {
    super();
    this.native = loadCudaAddon();
    const info = this.native.info();
    if (info.devices < 1) {
      throw new BackendUnavailableError(`No CUDA GPU is usable here (${info.error || 'no device'}); the cuda backend needs an NVIDIA GPU and driver.`);
    }
    this.native.init();
    this.kernels = nativeKernels(this.native);
    this.device = { name: info.name ?? '?', computeCapability: info.computeCapability ?? '?', memoryBytes: info.memoryBytes ?? 0 };
  }

  private t(x: Tensor, what: string): CudaTensor {
    // A freed tensor's allocation may already belong to a later tensor: using it would alias.
    return ownTensor(CudaTensor, this, this.disposed, x, what);
  }

  /** @internal */
  protected unwrap(x: Tensor, what: string): Range {
    return this.t(x, what).range;
  }

  /** Throws the LabelError a loss kernel flagged (status words: 1, task, row, class bits), or an embedding kernel (2, field, row, index bits). */
  private status(words: number[] | null): void {
    if (!words) return;
    const y = new Float32Array(new Uint32Array([words[3]]).buffer)[0];
    if (words[0] === 2) throw new LabelError(`embedding: field ${words[1]} sample ${words[2]} has index ${y}, expected an integer in [0, vocab) of its field`);
    throw new LabelError(`multiLoss: task ${words[1]} sample ${words[2]} has class ${y}, expected an integer class index of its task`);
  }

  // ---- tensors ----------------------------------------------------------------------------
  alloc(shape: readonly number[]): Tensor {
    const n = shapeSize(shape);
    if (this.disposed) throw new BackendUnavailableError('the cuda backend was disposed');
    const cap = Math.ceil(n / 64) * 64;
    const free = this.pool.get(cap);
    const reused = free?.pop();
    let id = reused;
    if (id === undefined) {
      id = this.native.alloc(cap);
      this.allocatedBytes += cap * 4;
    }
    this.owned.add(id);
    const t = new CudaTensor(this, [...shape], n, id, cap, 0);
    if (reused !== undefined) this.fill(t, 0);
    return t;
  }

  upload(data: Float32Array, shape: readonly number[]): Tensor {
    checkUpload(data, shape);
    const t = this.alloc(shape);
    this.write(t, data);
    return t;
  }

  write(x: Tensor, data: Float32Array, offset = 0): void {
    const t = this.t(x, 'write target');
    checkWrite(t.size, data, offset);
    if (data.length > 0) this.native.write([t.id, t.offset + offset, data.length], data);
  }

  async read(x: Tensor, into?: Float32Array): Promise<Float32Array> {
    const t = this.t(x, 'read source');
    checkReadInto(t.size, into);
    const out = into ?? new Float32Array(t.size);
    this.status(this.native.read(t.range, out));
    return out;
  }

  view(base: Tensor, offset: number, shape: readonly number[]): Tensor {
    const b = this.t(base, 'view base');
    const n = checkView(b.size, offset, shape);
    return new CudaTensor(this, [...shape], n, b.id, b.capacity, b.offset + offset, b.base ?? b);
  }

  /** Returns the allocation to the pool; freeing twice throws (two later tensors would share it). Views: no-op. */
  free(x: Tensor): void {
    const t = markFreed(CudaTensor, this, this.disposed, x);
    if (!t) return;
    let free = this.pool.get(t.capacity);
    if (!free) this.pool.set(t.capacity, (free = []));
    free.push(t.id);
  }

  fill(x: Tensor, value: number): void {
    if (typeof value !== 'number') throw new ValueError(`Expected a number for value but received ${describe(value)}`);
    this.native.fill(this.unwrap(x, 'fill target'), value);
  }

  copy(src: Tensor, dst: Tensor): void {
    const s = this.t(src, 'copy source');
    const d = this.t(dst, 'copy destination');
    checkSameSize('copy', s, d);
    this.native.copy(s.range, d.range);
  }

  async sync(): Promise<void> {
    if (this.disposed) throw new BackendUnavailableError('the cuda backend was disposed');
    this.status(this.native.sync());
  }

  /** One stream: the driver's launch queue bounds queued work, so there is nothing to wait for here. */
  async throttle(): Promise<void> {}

  /** Device bytes of the tensors' allocations (pooled ones included; the addon's own staging ring is not counted). */
  deviceBytes(): number {
    return this.allocatedBytes;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const id of this.owned) this.native.release(id);
    this.owned.clear();
    this.pool.clear();
  }
}
