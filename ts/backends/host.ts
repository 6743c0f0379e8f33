/**
 * Tensors in host memory, shared by the backends that compute on the CPU (reference, cpu):
 * a HostTensor wraps a Float32Array, views are subarrays, and reads are copies.
 */
import { ShapeError } from '../errors.js';
import { TrackedTensor, markFreed, ownTensor } from './lifetime.js';
import type { Backend, Tensor } from './backend.js';
import { KernelBackend } from './ops.js';
import { checkReadInto, checkSameSize, checkUpload, checkView, checkWrite, shapeSize } from './validate.js';

export class HostTensor extends TrackedTensor {
  readonly size: number;
  constructor(
    readonly backend: Backend,
    readonly shape: readonly number[],
    readonly data: Float32Array,
    readonly base: HostTensor | null = null,
  ) {
    super();
    this.size = data.length;
  }
}

/**
 * The largest host tensor: the native kernels index with 32-bit dimensions, and beyond this a
 * Float32Array either cannot exist or would not fit the machine anyway.
 */
export const MAX_HOST_TENSOR = 2 ** 31 - 1;

/** A zeroed Float32Array for a tensor of `n` elements, or ShapeError when it cannot exist. */
function hostArray(n: number, shape: readonly number[]): Float32Array {
  const what = `a tensor of shape [${shape.join(', ')}] (${n} elements, ${(n / 2 ** 28).toFixed(1)} GiB)`;
  if (n > MAX_HOST_TENSOR) throw new ShapeError(`Cannot allocate ${what}: host tensors hold at most ${MAX_HOST_TENSOR} elements`);
  try {
    return new Float32Array(n);
  } catch (e) {
    throw new ShapeError(`Cannot allocate ${what}: ${(e as Error).message}`);
  }
}

/** Tensor bookkeeping common to host backends; subclasses add the kernels (over the tensors' Float32Arrays). */
export abstract class HostBackend extends KernelBackend<Float32Array> {
  abstract readonly name: string;
  private disposed = false;

  /** The HostTensor behind `t`, after checking that this backend owns it. */
  protected host(t: Tensor, what: string): HostTensor {
    return ownTensor(HostTensor, this as unknown as Backend, this.disposed, t, what);
  }

  /** @internal */
  protected unwrap(t: Tensor, what: string): Float32Array {
    return this.host(t, what).data;
  }

  alloc(shape: readonly number[]): Tensor {
    return new HostTensor(this as unknown as Backend, [...shape], hostArray(shapeSize(shape), shape));
  }

  upload(data: Float32Array, shape: readonly number[]): Tensor {
    const n = checkUpload(data, shape);
    const copy = hostArray(n, shape);
    copy.set(data);
    return new HostTensor(this as unknown as Backend, [...shape], copy);
  }

  write(t: Tensor, data: Float32Array, offset = 0): void {
    const h = this.host(t, 'write target');
    checkWrite(h.size, data, offset);
    h.data.set(data, offset);
  }

  async read(t: Tensor, into?: Float32Array): Promise<Float32Array> {
    const h = this.host(t, 'read source');
    checkReadInto(h.size, into);
    if (into === undefined) return Float32Array.from(h.data);
    into.set(h.data);
    return into;
  }

  view(base: Tensor, offset: number, shape: readonly number[]): Tensor {
    const h = this.host(base, 'view base');
    const n = checkView(h.size, offset, shape);
    return new HostTensor(this as unknown as Backend, [...shape], h.data.subarray(offset, offset + n), h.base ?? h);
  }

  /** Marks the tensor dead (its memory is garbage collected); freeing it twice throws. Views: no-op. */
  free(t: Tensor): void {
    markFreed(HostTensor, this as unknown as Backend, this.disposed, t);
  }


  fill(t: Tensor, value: number): void {
    this.host(t, 'fill target').data.fill(value);
  }

  copy(src: Tensor, dst: Tensor): void {
    const s = this.host(src, 'copy source');
    const d = this.host(dst, 'copy destination');
    checkSameSize('copy', s, d);
    d.data.set(s.data);
  }

  async sync(): Promise<void> {}

  async throttle(): Promise<void> {}

  /** Host tensors are ordinary heap memory: no device bytes. */
  deviceBytes(): null {
    return null;
  }

  dispose(): void {
    this.disposed = true;
  }
}
