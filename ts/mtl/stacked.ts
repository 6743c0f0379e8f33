/**
 * Stacked buffers: one 64-aligned block per task or expert in one tensor (block i's rows
 * [n, width] start at i·stride), the layout towers, experts and the fused heads share. This
 * caches the [n, width] views of every block, once per tensor and batch size, so that a
 * steady-state step makes none.
 */
import type { Backend, Tensor } from '../backends/backend.js';
import { tensorSize } from '../nn/layer.js';

/** Elements per block for batches of up to maxBatch rows of `width`: padded to 64. */
export function stackStride(maxBatch: number, width: number): number {
  return Math.ceil((maxBatch * width) / 64) * 64;
}

/**
 * stackStride, after checking that `blocks` such blocks fit one tensor (ShapeError starting
 * with `what` otherwise), before anything is allocated.
 */
export function checkedStackStride(blocks: number, maxBatch: number, width: number, what: string): number {
  const stride = stackStride(maxBatch, width);
  tensorSize([blocks, stride], `${what} for maxBatch ${maxBatch}`);
  return stride;
}

export class StackedViews {
  private readonly cache = new Map<Tensor, Map<number, Tensor[]>>();

  constructor(private readonly backend: Backend) {}

  /** The [n, width] views of the first `count` blocks of `base`. */
  blocks(base: Tensor, count: number, stride: number, width: number, n: number): Tensor[] {
    let byN = this.cache.get(base);
    if (!byN) this.cache.set(base, (byN = new Map()));
    let v = byN.get(n);
    if (!v) {
      v = Array.from({ length: count }, (_, i) => this.backend.view(base, i * stride, [n, width]));
      byN.set(n, v);
    }
    return v;
  }
}
