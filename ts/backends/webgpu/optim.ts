/** The fused optimizer steps on WebGPU (shaders/optim.wgsl): one launch over a whole parameter arena each. */
import type { Kernels } from '../ops.js';
import type { AdamWCoefficients, SgdParams } from '../validate.js';
import { family, type GpuRuntime, type GpuTensor, grid } from './runtime.js';

const K = family('optim', { sgd: 'wrw', adamw: 'wrww' });

/** The optimizer launcher. */
export class OptimKernels implements Pick<Kernels<GpuTensor>, 'sgdStep' | 'adamwStep'> {
  constructor(private readonly rt: GpuRuntime) {}

  sgdStep(p: GpuTensor, g: GpuTensor, m: GpuTensor, n: number, o: SgdParams): void {
    this.rt.launch(K.sgd, [p, g, m], { u: [n, o.nesterov ? 1 : 0], f: [o.lr, o.momentum, o.weightDecay] }, grid(n, 256));
  }

  adamwStep(p: GpuTensor, g: GpuTensor, m: GpuTensor, v: GpuTensor, n: number, c: AdamWCoefficients): void {
    const f = [c.decay, c.beta1, c.oneMinusBeta1, c.beta2, c.oneMinusBeta2, c.eps, c.stepSize, c.invBias2];
    this.rt.launch(K.adamw, [p, g, m, v], { u: [n], f }, grid(n, 256));
  }
}
