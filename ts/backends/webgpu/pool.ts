/** Max-pooling on WebGPU (shaders/pool.wgsl): one launch forward (y and argmax), one backward (a gather). */
import type { Pool2dGeometry } from '../backend.js';
import type { Kernels } from '../ops.js';
import { family, type GpuRuntime, type GpuTensor, grid } from './runtime.js';

const K = family('pool', { max_forward: 'rww', max_backward: 'rrw' });

/** The max-pool launcher. */
export class PoolKernels implements Pick<Kernels<GpuTensor>, 'maxPool2dForward' | 'maxPool2dBackward'> {
  constructor(private readonly rt: GpuRuntime) {}

  private poolParams(geo: Pool2dGeometry, n: number, total: number): { u: number[] } {
    return { u: [n * geo.c, geo.h, geo.w, geo.size, geo.stride, geo.outH, geo.outW, total] };
  }

  maxPool2dForward(x: GpuTensor, y: GpuTensor, argmax: GpuTensor, geo: Pool2dGeometry, n: number): void {
    const total = n * geo.c * geo.outH * geo.outW;
    this.rt.launch(K.max_forward, [x, y, argmax], this.poolParams(geo, n, total), grid(total, 256));
  }

  maxPool2dBackward(dy: GpuTensor, argmax: GpuTensor, dx: GpuTensor, geo: Pool2dGeometry, n: number): void {
    const total = n * geo.c * geo.h * geo.w;
    this.rt.launch(K.max_backward, [dy, argmax, dx], this.poolParams(geo, n, total), grid(total, 256));
  }
}
