/**
 * Channel-wise ops on WebGPU (shaders/channels.wgsl): spatial dropout and per-channel scaling,
 * one launch each, in place when the output is the input.
 */
import { dropoutThreshold } from '../../core/random.js';
import type { Kernels } from '../ops.js';
import { family, type GpuRuntime, type GpuTensor, grid, sameRange } from './runtime.js';

const K = family('channels', { dropout: 'rww', dropout_inplace: 'ww', scale: 'rrw', scale_inplace: 'wr' });

/** The channel-wise launcher. */
export class ChannelKernels implements Pick<Kernels<GpuTensor>, 'dropout2dForward' | 'scaleChannels'> {
  constructor(private readonly rt: GpuRuntime) {}

  dropout2dForward(x: GpuTensor, y: GpuTensor, mask: GpuTensor, rows: number, plane: number, p: number, seed: number): void {
    const n = rows * plane;
    const params = { u: [n, plane, rows, seed, dropoutThreshold(p)], f: [1 / (1 - p)] };
    const groups = grid(Math.max(n, rows), 256);
    if (sameRange(x, y)) this.rt.launch(K.dropout_inplace, [y, mask], params, groups);
    else this.rt.launch(K.dropout, [x, y, mask], params, groups);
  }

  scaleChannels(x: GpuTensor, s: GpuTensor, out: GpuTensor, rows: number, plane: number): void {
    const n = rows * plane;
    const params = { u: [n, plane, rows] };
    if (sameRange(x, out)) this.rt.launch(K.scale_inplace, [out, s], params, grid(n, 256));
    else this.rt.launch(K.scale, [x, s, out], params, grid(n, 256));
  }
}
