/**
 * Gradient clipping by global norm (PyTorch clip_grad_norm_): the L2 norm over the whole
 * gradient arena is one backend reduction, a [1, n]·[n, 1] gemm of the arena with itself into a
 * one-element tensor; only that scalar is read back (one 4-byte read per step, the documented
 * cost of clipping). When the norm exceeds the limit the arena is scaled on the backend by
 * limit / (norm + 1e-6): one element filled with the factor and one in-place scaleChannels of
 * the arena seen as a single [1, 1, n] plane (no arena-sized scale buffer). The gradients are
 * never read back.
 */
import type { Backend, Tensor } from '../backends/backend.js';
import { ValueError, expectNumber } from '../errors.js';

/** Clips a gradient arena to a maximum global L2 norm; its buffers are allocated once, when it is made. */
export class GradientClipper {
  /** The norm of the last gradients clipped (before clipping). */
  lastNorm = 0;
  private readonly row: Tensor;
  private readonly column: Tensor;
  private readonly square: Tensor;
  /** The gradient arena as one [1, 1, size] plane, scaled in place by `factor`. */
  private readonly plane: Tensor;
  /** The clipping factor, one element (scaleChannels' per-channel scale of that plane). */
  private readonly factor: Tensor;
  private readonly host = new Float32Array(1);

  constructor(
    private readonly backend: Backend,
    grads: Tensor,
    /** The arena's length. */
    size: number,
    /** The maximum global norm, > 0. */
    readonly maxNorm: number,
  ) {
    if (expectNumber('clipGradNorm', maxNorm, 0) === 0) throw new ValueError('Expected a positive number for clipGradNorm but received 0');
    this.row = backend.view(grads, 0, [1, size]);
    this.column = backend.view(grads, 0, [size, 1]);
    this.square = backend.alloc([1, 1]);
    this.plane = backend.view(grads, 0, [1, 1, size]);
    this.factor = backend.alloc([1, 1]);
  }

  /** Measures the global norm (one scalar read) and scales the arena when it exceeds maxNorm; returns the norm before clipping. */
  async clip(): Promise<number> {
    this.backend.gemm(this.row, this.column, this.square);
    await this.backend.read(this.square, this.host);
    const norm = Math.sqrt(this.host[0]);
    this.lastNorm = norm;
    if (norm > this.maxNorm) {
      this.backend.fill(this.factor, this.maxNorm / (norm + 1e-6));
      this.backend.scaleChannels(this.plane, this.factor, this.plane);
    }
    return norm;
  }

  /** Releases the buffers it allocated. */
  dispose(): void {
    this.backend.free(this.square);
    this.backend.free(this.factor);
  }
}
