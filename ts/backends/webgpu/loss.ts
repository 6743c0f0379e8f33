/**
 * The fused weighted multi-loss on WebGPU (shaders/loss.wgsl): one launch, one workgroup per
 * task. A class index out of range cannot be seen before the kernel runs (the targets live on
 * the device), so the kernel reports it through the runtime's status words and the next read or
 * sync throws LabelError naming the task, the sample and the class.
 */
import { packedOf } from '../packed.js';
import { LabelError } from '../../errors.js';
import type { LossLayout } from '../backend.js';
import type { GpuRuntime, GpuTensor, KernelSpec } from './runtime.js';

const KERNEL: KernelSpec = { file: 'loss', entry: 'loss_forward_backward', access: 'rrrrwww', paramBytes: 1024 };
/** Tasks per launch (the size of LossParams.layout in loss.wgsl). */
const MAX_TASKS = 56;

export class LossKernels {
  /** Each layout's launch parameters (one chunk of ≤ MAX_TASKS tasks per launch), built once. */
  private readonly params = new WeakMap<LossLayout, Uint32Array[]>();
  /** The layout of the latest launch, for the error message of a bad label. */
  private layout: LossLayout | null = null;
  private readonly explain = (w: Uint32Array): Error => {
    const y = new Float32Array(w.buffer, 12, 1)[0];
    const width = this.layout?.segments[w[1]]?.outWidth ?? '?';
    return new LabelError(`multiLoss: task ${w[1]} sample ${w[2]} has class ${y}, expected an integer in [0, ${width})`);
  };

  constructor(private readonly rt: GpuRuntime) {}

  /** [n, T, totalOut, totalTgt, hasMask, firstTask, 0, 0, then per task: kind, outOffset, width, tgtOffset]. */
  private chunks(layout: LossLayout): Uint32Array[] {
    let c = this.params.get(layout);
    if (!c) {
      c = [];
      for (let first = 0; first < layout.tasks; first += MAX_TASKS) {
        const count = Math.min(MAX_TASKS, layout.tasks - first);
        const w = new Uint32Array(8 + 4 * count);
        w.set([0, layout.tasks, layout.totalOut, layout.totalTgt, 0, first]);
        for (let i = 0; i < count; i++) w.set(packedOf(layout).subarray(5 * (first + i), 5 * (first + i) + 4), 8 + 4 * i);
        c.push(w);
      }
      this.params.set(layout, c);
    }
    return c;
  }

  multiLoss(
    logits: GpuTensor,
    targets: GpuTensor,
    mask: GpuTensor | null,
    weights: GpuTensor,
    layout: LossLayout,
    losses: GpuTensor,
    dlogits: GpuTensor,
    n: number,
  ): void {
    this.layout = layout;
    this.rt.armStatus(this.explain);
    for (const w of this.chunks(layout)) {
      w[0] = n;
      w[4] = mask ? 1 : 0;
      this.rt.launch(KERNEL, [logits, targets, mask, weights, losses, dlogits, this.rt.status], { u: w }, [(w.length - 8) / 4]);
    }
  }
}
