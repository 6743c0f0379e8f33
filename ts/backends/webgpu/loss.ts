/**
 * The fused weighted multi-loss on WebGPU (shaders/losses.wgsl): one launch, one workgroup per
 * task. A class index out of range cannot be seen before the kernel runs (the targets live on
 * the device), so the kernel reports it through the runtime's status words and the next read or
 * sync throws LabelError naming the task, the sample and the class.
 */
import { LabelError } from '../../errors.js';
import type { LossLayout } from '../backend.js';
import type { GpuRuntime, GpuTensor, KernelSpec } from './runtime.js';

const KERNEL: KernelSpec = { file: 'losses', entry: 'losses_multi', access: 'rrrrwww', paramBytes: 1024 };
/** Tasks per launch (the size of LossParams.layout in losses.wgsl). */
const MAX_TASKS = 56;

export class LossKernels {
  private readonly words = new Uint32Array(8 + 4 * MAX_TASKS);
  /** The width of each task's segment, by task, for the error message (the last layout used). */
  private widths: readonly number[] = [];

  constructor(private readonly rt: GpuRuntime) {}

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
    this.widths = layout.segments.map((s) => s.outWidth);
    this.rt.armStatus((w) => {
      const y = new Float32Array(w.buffer, 12, 1)[0];
      return new LabelError(`multiLoss: task ${w[1]} sample ${w[2]} has class ${y}, expected an integer in [0, ${this.widths[w[1]] ?? '?'})`);
    });
    const T = layout.tasks;
    for (let first = 0; first < T; first += MAX_TASKS) {
      const count = Math.min(MAX_TASKS, T - first);
      const w = this.words;
      w.set([n, T, layout.totalOut, layout.totalTgt, mask ? 1 : 0, first, 0, 0]);
      for (let i = 0; i < count; i++) w.set(layout.packed.subarray(5 * (first + i), 5 * (first + i) + 4), 8 + 4 * i);
      this.rt.launch(KERNEL, [logits, targets, mask, weights, losses, dlogits, this.rt.status], { u: w.subarray(0, 8 + 4 * count) }, [count]);
    }
  }
}
