/**
 * The elementwise family on WebGPU (shaders/elementwise.wgsl): fill, copy, activations forward
 * and backward, add and mul, dropout, and the bias-gradient reduction; one launch each, in place
 * (a kernel variant that binds the tensor once) when an output is one of the inputs.
 */
import { dropoutThreshold } from '../../core/random.js';
import { ACTIVATIONS, type Activation } from '../backend.js';
import type { Kernels } from '../ops.js';
import { family, type GpuRuntime, type GpuTensor, grid, sameRange } from './runtime.js';

const K = family('elementwise', {
  fill: 'w',
  copy: 'rw',
  activation_forward: 'rw',
  activation_forward_inplace: 'w',
  activation_backward: 'rrrw',
  activation_backward_inplace: 'rrw',
  binary: 'rrw',
  binary_inplace: 'wr',
  dropout: 'rww',
  dropout_inplace: 'ww',
  bias_grad: 'rw',
});

type ElementwiseKernel = 'activationForward' | 'activationBackward' | 'biasGrad' | 'add' | 'mul' | 'dropoutForward';

/** The elementwise launcher (the tensor ops fill and copy included). */
export class ElementwiseKernels implements Pick<Kernels<GpuTensor>, ElementwiseKernel> {
  constructor(private readonly rt: GpuRuntime) {}

  /** t[:] = value. */
  fill(t: GpuTensor, value: number): void {
    this.rt.launch(K.fill, [t], { u: [t.size, 0, 0, 0], f: [value] }, grid(t.size, 256));
  }

  /** d[:] = s (same size; nothing to do when they are the same range). */
  copy(s: GpuTensor, d: GpuTensor): void {
    if (s.storage === d.storage && s.offset === d.offset) return;
    this.rt.launch(K.copy, [s, d], { u: [s.size] }, grid(s.size, 256));
  }

  activationForward(kind: Activation, x: GpuTensor, y: GpuTensor, n: number): void {
    const u = [n, ACTIVATIONS.indexOf(kind)];
    if (sameRange(x, y)) this.rt.launch(K.activation_forward_inplace, [y], { u }, grid(n, 256));
    else this.rt.launch(K.activation_forward, [x, y], { u }, grid(n, 256));
  }

  activationBackward(kind: Activation, y: GpuTensor, dy: GpuTensor, dx: GpuTensor, x: GpuTensor | null, n: number): void {
    const X = kind === 'gelu' ? x : null;
    const u = [n, ACTIVATIONS.indexOf(kind)];
    if (sameRange(dy, dx)) this.rt.launch(K.activation_backward_inplace, [y, X, dx], { u }, grid(n, 256));
    else this.rt.launch(K.activation_backward, [y, dy, X, dx], { u }, grid(n, 256));
  }

  biasGrad(dy: GpuTensor, db: GpuTensor, rows: number, cols: number): void {
    this.rt.launch(K.bias_grad, [dy, db], { u: [rows, 0, cols] }, grid(cols, 256));
  }

  add(a: GpuTensor, b: GpuTensor, out: GpuTensor, n: number): void {
    this.binary(0, a, b, out, n);
  }

  mul(a: GpuTensor, b: GpuTensor, out: GpuTensor, n: number): void {
    this.binary(1, a, b, out, n);
  }

  private binary(op: 0 | 1, a: GpuTensor, b: GpuTensor, out: GpuTensor, n: number): void {
    if (sameRange(a, out) || sameRange(b, out)) {
      // Both ops commute: out aliases one operand, the other is read (or is out too).
      const other = sameRange(a, out) ? b : a;
      const both = sameRange(other, out);
      this.rt.launch(K.binary_inplace, [out, both ? null : other], { u: [n, op, both ? 1 : 0] }, grid(n, 256));
    } else {
      this.rt.launch(K.binary, [a, b, out], { u: [n, op] }, grid(n, 256));
    }
  }

  dropoutForward(x: GpuTensor, y: GpuTensor, mask: GpuTensor, n: number, p: number, seed: number): void {
    const params = { u: [n, 0, seed, dropoutThreshold(p)], f: [1 / (1 - p)] };
    if (sameRange(x, y)) this.rt.launch(K.dropout_inplace, [y, mask], params, grid(n, 256));
    else this.rt.launch(K.dropout, [x, y, mask], params, grid(n, 256));
  }
}
