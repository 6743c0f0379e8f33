/**
 * One mechanism for every backend's tensors: whose they are, and whether they are still alive.
 * A freed tensor's storage may already belong to a later allocation (GPU backends pool it), so
 * using a freed tensor, or a view of one, would silently alias; freeing it twice would make two
 * later allocations share one buffer. Every backend passes each tensor argument through
 * `ownTensor` and implements free() with `markFreed`, so all of them refuse both with the same
 * ValueError.
 */
import { BackendUnavailableError, ValueError, describe } from '../errors.js';
import type { Backend, Tensor } from './backend.js';

/** A backend's tensor class records the allocation it views and whether it was freed. */
export abstract class TrackedTensor implements Tensor {
  abstract readonly backend: Backend;
  abstract readonly shape: readonly number[];
  abstract readonly size: number;
  /** The tensor this one is a view of (null for an allocation of its own). */
  abstract readonly base: TrackedTensor | null;
  /** Set by free(): every later use throws (a view dies with its base). */
  freed = false;

  get isView(): boolean {
    return this.base !== null;
  }

  /** Whether this tensor, or the allocation it views, was freed. */
  get dead(): boolean {
    return this.freed || (this.base !== null && this.base.freed);
  }
}

type TensorClass<T> = abstract new (...args: never[]) => T;

/**
 * The tensor behind `t`, after checking that it is one of `backend`'s (class `cls`), that the
 * backend is not disposed and that the tensor (or the allocation it views) was not freed.
 */
export function ownTensor<T extends TrackedTensor>(cls: TensorClass<T>, backend: Backend, disposed: boolean, t: unknown, what: string): T {
  if (!(t instanceof cls)) throw new ValueError(`Expected a tensor for ${what} but received ${describe(t)}`);
  if (t.backend !== backend) throw new ValueError(`${what} belongs to the ${t.backend.name} backend, not this ${backend.name} backend`);
  if (disposed) throw new BackendUnavailableError(`the ${backend.name} backend was disposed`);
  if (t.dead) throw new ValueError(`${what} was freed${t.freed ? '' : ' (it is a view of a freed tensor)'}; a freed tensor cannot be used`);
  return t;
}

/**
 * free()'s bookkeeping: a second free of a tensor throws; an allocation is marked freed and
 * returned, for the backend to release its storage; a view returns null (nothing to release).
 */
export function markFreed<T extends TrackedTensor>(cls: TensorClass<T>, backend: Backend, disposed: boolean, t: unknown): T | null {
  if (t instanceof cls && t.dead) throw new ValueError('free: the tensor was already freed (a double free)');
  const own = ownTensor(cls, backend, disposed, t, 'freed tensor');
  if (own.isView) return null;
  own.freed = true;
  return own;
}
