/**
 * Layers with explicit forward and backward (no autograd tape, as in llm.c and Caffe). A layer
 * declares its parameters once (`build`), allocates its activation buffers once for the
 * largest batch (`allocate`), and afterwards runs forward/backward on any batch size up to it
 * without allocating: per-batch-size views of its buffers are made once and cached.
 *
 * Rules: forward writes its output (=); backward accumulates parameter gradients (+=) and
 * writes the input gradient (=). A backward may overwrite the `dy` it was given (it belongs to
 * the layer above, which no longer needs it). A layer may also offer `forwardInto` (its output
 * written into a tensor the caller owns) and `backwardAccumulate` (its input gradient added
 * (+=) into one): a caller that stacks outputs or sums input gradients (the experts of
 * ts/mtl/experts.ts) then saves a copy or an add; Sequential offers both for any chain, falling
 * back to the copy / add where its last / first layer does not.
 */
import type { Backend, Tensor } from '../backends/backend.js';
import { MAX_HOST_TENSOR } from '../backends/host.js';
import { hash32 } from '../core/random.js';
import { ShapeError, ValueError, expectInt } from '../errors.js';
import type { ParameterStore } from './parameters.js';

export interface BuildContext {
  readonly params: ParameterStore;
  /** A unique, readable prefix for this layer's parameter names ("trunk.0"). */
  readonly prefix: string;
  /** The largest batch: activation buffers hold maxBatch samples. */
  readonly maxBatch: number;
}

/** Passed to every forward: training mode and a per-step seed for dropout. */
export interface StepContext {
  /** True in training (dropout active), false in evaluation. */
  readonly training: boolean;
  /** Changes every training step; layers derive their own dropout seeds from it. */
  readonly seed: number;
}

/**
 * One layer of a model, with explicit forward and backward (no tape): it declares its
 * parameters when built, allocates its activation buffers once for the largest batch, and keeps
 * what backward needs. Backward follows the contract's rule: parameter gradients +=, dx =.
 */
export interface Layer {
  /** Names the layer in messages: the spec it came from, "trunk[2] (conv2d)". */
  readonly where: string;
  /** A short description, e.g. "dense 784→512 relu". */
  describe(): string;
  /**
   * Declares parameters; returns the per-sample output shape. Allocates nothing: an input
   * shape the layer cannot take (a window larger than the image, say) or a size beyond what a
   * tensor can hold is a ShapeError naming the layer, before any tensor exists.
   */
  build(ctx: BuildContext, inShape: readonly number[]): readonly number[];
  /** Allocates activation buffers for batches of up to maxBatch. */
  allocate(backend: Backend, maxBatch: number): void;
  /** The output for the first n rows of x. */
  forward(x: Tensor, n: number, step: StepContext): Tensor;
  /** Accumulates parameter gradients; returns dL/dx when needDx (else null). */
  backward(dy: Tensor, n: number, needDx: boolean): Tensor | null;
  /**
   * Optional: forward writing the output for the first n rows of x into `out` ([n, ...output
   * shape], =) instead of the layer's own buffer. The caller owns `out` and leaves it unchanged
   * until this layer's backward, which may read it (an activation's derivative).
   */
  forwardInto?(x: Tensor, n: number, step: StepContext, out: Tensor): void;
  /**
   * Optional: backward that adds dL/dx into `dx` ([n, ...input shape], +=) instead of returning
   * it in the layer's own buffer; parameter gradients as backward (+=).
   */
  backwardAccumulate?(dy: Tensor, n: number, dx: Tensor): void;
}

/** What a tensor that input gradients are put into holds: anything, zeros, or a gradient to add to. */
export type GradientTarget = 'stale' | 'zero' | 'sum';

/**
 * `layer`'s backward with its input gradient put into `target` [n, ...input shape], which holds
 * `holds`: written (=) when stale or zero, added (+=) when a sum. By the layer's
 * backwardAccumulate (after a fill when stale) where it has one, else from its own buffer by a
 * copy or an add. Returns what target holds afterwards (a layer that gives no gradient leaves it).
 */
export function backwardInto(backend: Backend, layer: Layer, dy: Tensor, n: number, target: Tensor, holds: GradientTarget): GradientTarget {
  if (layer.backwardAccumulate) {
    if (holds === 'stale') backend.fill(target, 0);
    layer.backwardAccumulate(dy, n, target);
    return 'sum';
  }
  const d = layer.backward(dy, n, true);
  if (!d) return holds;
  if (holds === 'sum') backend.add(target, d, target);
  else backend.copy(d, target);
  return 'sum';
}

/** A [maxBatch, ...shape] buffer with cached views of its first n rows. */
export class BatchBuffer {
  private readonly views = new Map<number, Tensor>();
  readonly base: Tensor;

  constructor(
    private readonly backend: Backend,
    maxBatch: number,
    readonly shape: readonly number[],
  ) {
    this.base = backend.alloc([maxBatch, ...shape]);
  }

  /** The first n rows, as a [n, ...shape] tensor (made once per n). */
  rows(n: number): Tensor {
    let v = this.views.get(n);
    if (!v) {
      v = n === this.base.shape[0] ? this.base : this.backend.view(this.base, 0, [n, ...this.shape]);
      this.views.set(n, v);
    }
    return v;
  }

  /** The first n rows viewed as a 2-D [n, Π shape] matrix. */
  matrix(n: number): Tensor {
    const cols = this.shape.reduce((a, b) => a * b, 1);
    const key = -n; // 2-D views share the cache under negative keys
    let v = this.views.get(key);
    if (!v) {
      v = this.backend.view(this.base, 0, [n, cols]);
      this.views.set(key, v);
    }
    return v;
  }
}

/** A per-layer dropout seed for this step, so layers never share masks. */
export function layerSeed(step: StepContext, layerId: number): number {
  return hash32(step.seed, layerId);
}

/** Product of a shape. */
export function volume(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * The elements of a tensor of `shape`, checked before anything is allocated: at most 2^31 − 1
 * (MAX_HOST_TENSOR; every backend's kernels index with 32-bit integers), else ShapeError
 * starting with `what` ("trunk[0] (dense): parameter trunk.0.weight").
 */
export function tensorSize(shape: readonly number[], what: string): number {
  const n = volume(shape);
  if (!Number.isSafeInteger(n) || n > MAX_HOST_TENSOR) {
    throw new ShapeError(`${what} [${shape.join(' × ')}] would hold ${n} values; a tensor holds at most ${MAX_HOST_TENSOR} (2^31 − 1)`);
  }
  return n;
}

/** A size from a layer spec (units, filters, kernel, ...): an integer in [min, 2^31 − 1], else ValueError. */
export function expectDim(name: string, value: unknown, min = 1): number {
  expectInt(name, value, min);
  if ((value as number) > MAX_HOST_TENSOR) {
    throw new ValueError(`Expected an integer in [${min}, ${MAX_HOST_TENSOR}] for ${name} but received ${value as number}`);
  }
  return value as number;
}

/** A stable uint32 from a string (FNV-1a), e.g. a layer's name. */
export function stringSeed(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}
