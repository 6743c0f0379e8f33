/** The fused EWC penalty gradient on WebGPU (shaders/ewc.wgsl): one launch over a whole parameter arena. */
import type { Kernels } from '../ops.js';
import { family, type GpuRuntime, type GpuTensor, grid } from './runtime.js';

const K = family('ewc', { penalty: 'rrrw' });

/** The EWC launcher: g += λ·F ⊙ (p − θ*). */
export class EwcKernels {
  constructor(private readonly rt: GpuRuntime) {}

  /** {@link Kernels.ewcPenalty} on this runtime. */
  penalty(...[p, anchor, fisher, g, n, lambda]: Parameters<Kernels<GpuTensor>['ewcPenalty']>): void {
    this.rt.launch(K.penalty, [p, anchor, fisher, g], { u: [n], f: [lambda] }, grid(n, 256));
  }
}
