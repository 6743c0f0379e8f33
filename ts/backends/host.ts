/**
 * Tensors in host memory, shared by the backends that compute on the CPU (reference, cpu):
 * a HostTensor wraps a Float32Array, views are subarrays, and reads are copies.
 */
import { BackendUnavailableError, ShapeError, ValueError, describe } from '../errors.js';
import type { Backend, Tensor } from './backend.js';

export class HostTensor implements Tensor {
  readonly size: number;
  constructor(
    readonly backend: Backend,
    readonly shape: readonly number[],
    readonly data: Float32Array,
    readonly isView = false,
  ) {
    this.size = data.length;
  }
}

/** Element count of a shape, validating that every dimension is a positive integer. */
export function shapeSize(shape: readonly number[], what = 'shape'): number {
  if (!Array.isArray(shape) || shape.length === 0) {
    throw new ShapeError(`Expected a non-empty array of dimensions for ${what} but received ${describe(shape)}`);
  }
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 1) {
      throw new ShapeError(`Expected positive integer dimensions for ${what} but received [${shape.join(', ')}]`);
    }
    n *= d;
  }
  return n;
}

/** Tensor bookkeeping common to host backends; subclasses add the kernels. */
export abstract class HostBackend {
  abstract readonly name: string;
  private disposed = false;

  /** The HostTensor behind `t`, after checking that this backend owns it. */
  protected host(t: Tensor, what: string): HostTensor {
    if (!(t instanceof HostTensor)) {
      throw new ValueError(`Expected a tensor for ${what} but received ${describe(t)}`);
    }
    if (t.backend !== (this as unknown as Backend)) {
      throw new ValueError(`${what} belongs to the ${t.backend.name} backend, not this ${this.name} backend`);
    }
    if (this.disposed) throw new BackendUnavailableError(`the ${this.name} backend was disposed`);
    return t;
  }

  alloc(shape: readonly number[]): Tensor {
    return new HostTensor(this as unknown as Backend, [...shape], new Float32Array(shapeSize(shape)));
  }

  upload(data: Float32Array, shape: readonly number[]): Tensor {
    const n = shapeSize(shape);
    if (!(data instanceof Float32Array)) {
      throw new ValueError(`Expected a Float32Array for data but received ${describe(data)}`);
    }
    if (data.length !== n) {
      throw new ShapeError(`Expected ${n} elements for shape [${shape.join(', ')}] but received ${data.length}`);
    }
    return new HostTensor(this as unknown as Backend, [...shape], Float32Array.from(data));
  }

  write(t: Tensor, data: Float32Array, offset = 0): void {
    const h = this.host(t, 'write target');
    if (!(data instanceof Float32Array)) {
      throw new ValueError(`Expected a Float32Array for data but received ${describe(data)}`);
    }
    if (!Number.isInteger(offset) || offset < 0 || offset + data.length > h.size) {
      throw new ShapeError(
        `Cannot write ${data.length} elements at offset ${offset} into a tensor of ${h.size} elements`,
      );
    }
    h.data.set(data, offset);
  }

  async read(t: Tensor, into?: Float32Array): Promise<Float32Array> {
    const h = this.host(t, 'read source');
    if (into === undefined) return Float32Array.from(h.data);
    if (into.length !== h.size) {
      throw new ShapeError(`Expected a Float32Array of ${h.size} elements for into but received ${into.length}`);
    }
    into.set(h.data);
    return into;
  }

  view(base: Tensor, offset: number, shape: readonly number[]): Tensor {
    const h = this.host(base, 'view base');
    const n = shapeSize(shape, 'view shape');
    if (!Number.isInteger(offset) || offset < 0 || offset % 64 !== 0) {
      throw new ShapeError(`Expected a non-negative multiple of 64 for view offset but received ${offset}`);
    }
    if (offset + n > h.size) {
      throw new ShapeError(`A view of ${n} elements at offset ${offset} overruns its base of ${h.size} elements`);
    }
    return new HostTensor(this as unknown as Backend, [...shape], h.data.subarray(offset, offset + n), true);
  }

  free(t: Tensor): void {
    this.host(t, 'freed tensor');
    // Host memory is garbage collected; nothing to release eagerly.
  }

  fill(t: Tensor, value: number): void {
    this.host(t, 'fill target').data.fill(value);
  }

  copy(src: Tensor, dst: Tensor): void {
    const s = this.host(src, 'copy source');
    const d = this.host(dst, 'copy destination');
    if (s.size !== d.size) throw new ShapeError(`copy: source has ${s.size} elements, destination ${d.size}`);
    d.data.set(s.data);
  }

  async sync(): Promise<void> {}

  async throttle(): Promise<void> {}

  dispose(): void {
    this.disposed = true;
  }
}
