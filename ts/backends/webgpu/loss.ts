/**
 * The fused weighted multi-loss on WebGPU (shaders/loss.wgsl): one launch, one workgroup per
 * task; perSampleLosses (loss_per_sample): one invocation per row and task, no gradient. A class index out of range cannot be seen before the kernel runs (the targets live on
 * the device), so the kernel reports it through the runtime's status words and the next read or
 * sync throws LabelError naming the task, the sample and the class.
 */
import { packedOf } from '../packed.js';
import { LabelError } from '../../errors.js';
import type { LossLayout } from '../backend.js';
import type { Bound, GpuRuntime, GpuTensor, KernelSpec } from './runtime.js';

const KERNEL: KernelSpec = { file: 'loss', entry: 'loss_forward_backward', access: 'rrrrwww', paramBytes: 1024 };
/** perSampleLosses: the same bindings (weights and dlogits bound to dummies, losses is out [N, T]). */
const PER_SAMPLE: KernelSpec = { ...KERNEL, entry: 'loss_per_sample' };
/** Rows per workgroup of loss_per_sample. */
const ROWS_PER_GROUP = 64;
/** Workgroups per task of loss_per_sample at most (the dispatch limit; the shader strides past it). */
const MAX_ROW_GROUPS = 65535;
/** Tasks per launch (LossParams.segments in loss.wgsl holds two vec4 words per task). */
const MAX_TASKS = 28;

export class LossKernels {
  /** Each layout's launch parameters (one chunk of ≤ MAX_TASKS tasks per launch), built once. */
  private readonly params = new WeakMap<LossLayout, Uint32Array[]>();
  /** The layout and op of the latest launch, for the error message of a bad label. */
  private layout: LossLayout | null = null;
  private op = 'multiLoss';
  private readonly explain = (w: Uint32Array): Error => {
    const y = new Float32Array(w.buffer, 12, 1)[0];
    const width = this.layout?.segments[w[1]]?.outWidth ?? '?';
    return new LabelError(`${this.op}: task ${w[1]} sample ${w[2]} has class ${y}, expected an integer in [0, ${width})`);
  };

  constructor(private readonly rt: GpuRuntime) {}

  /**
   * [n, T, totalOut, totalTgt, hasMask, firstTask, 0, 0, then per task: kind, outOffset, width,
   * tgtOffset, the two parameter words (f32 bits), 0, 0].
   */
  private chunks(layout: LossLayout): Uint32Array[] {
    let c = this.params.get(layout);
    if (!c) {
      c = [];
      for (let first = 0; first < layout.tasks; first += MAX_TASKS) {
        const count = Math.min(MAX_TASKS, layout.tasks - first);
        const w = new Uint32Array(8 + 8 * count);
        w.set([0, layout.tasks, layout.totalOut, layout.totalTgt, 0, first]);
        const p = packedOf(layout);
        const params = 5 * layout.tasks;
        for (let i = 0; i < count; i++) {
          const t = first + i;
          w.set(p.subarray(5 * t, 5 * t + 4), 8 + 8 * i);
          w.set(p.subarray(params + 2 * t, params + 2 * t + 2), 8 + 8 * i + 4);
        }
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
    this.launchAll('multiLoss', KERNEL, layout, n, mask, [logits, targets, mask, weights, losses, dlogits, this.rt.status], 0);
  }

  /** Backend.perSampleLosses: invocations over rows × tasks (striding past 65535·64 rows), out [N, T], no gradient. */
  perSampleLosses(logits: GpuTensor, targets: GpuTensor, mask: GpuTensor | null, out: GpuTensor, layout: LossLayout, n: number): void {
    if (n === 0) return;
    this.launchAll('perSampleLosses', PER_SAMPLE, layout, n, mask, [logits, targets, mask, null, out, null, this.rt.status], Math.min(Math.ceil(n / ROWS_PER_GROUP), MAX_ROW_GROUPS));
  }

  /**
   * Launches `spec` once per chunk of tasks (groups: one per task, or rowGroups × tasks when
   * rowGroups > 0), with the status words armed for a bad label of `op`.
   */
  private launchAll(op: string, spec: KernelSpec, layout: LossLayout, n: number, mask: GpuTensor | null, tensors: readonly (Bound | null)[], rowGroups: number): void {
    this.layout = layout;
    this.op = op;
    this.rt.armStatus(this.explain);
    for (const w of this.chunks(layout)) {
      w[0] = n;
      w[4] = mask ? 1 : 0;
      const tasks = (w.length - 8) / 8;
      this.rt.launch(spec, tensors, { u: w }, rowGroups > 0 ? [rowGroups, tasks] : [tasks]);
    }
  }
}
