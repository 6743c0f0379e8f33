/**
 * Dense (fully connected) layer: y = act(x·Wᵀ + b), W [out, in] (PyTorch layout), with bias
 * and activation fused into the GEMM epilogue. GELU keeps its pre-activation for backward.
 */
import type { Activation, Backend, Tensor } from '../backends/backend.js';
import { checkActivation } from '../backends/validate.js';
import { ShapeError } from '../errors.js';
import { BatchBuffer, type BuildContext, type Layer, expectDim, volume } from './layer.js';
import type { Parameter } from './parameters.js';

export class Dense implements Layer {
  private inSize = 0;
  private weight!: Parameter;
  private bias!: Parameter;
  private backend!: Backend;
  private out!: BatchBuffer;
  private pre: BatchBuffer | null = null;
  private dx!: BatchBuffer;
  private input: Tensor | null = null;

  constructor(
    readonly units: number,
    readonly activation: Activation = 'none',
    readonly where = 'dense',
  ) {
    expectDim(`${where}.units`, units);
    checkActivation(activation);
  }

  describe(): string {
    return `dense ${this.inSize || '?'}→${this.units}${this.activation === 'none' ? '' : ' ' + this.activation}`;
  }

  build(ctx: BuildContext, inShape: readonly number[]): readonly number[] {
    this.inSize = volume(inShape);
    this.weight = ctx.params.add(`${ctx.prefix}.weight`, [this.units, this.inSize], {
      kind: this.activation === 'relu' || this.activation === 'gelu' ? 'he' : 'lecun',
      fanIn: this.inSize,
    }, undefined, this.where);
    this.bias = ctx.params.add(`${ctx.prefix}.bias`, [this.units], { kind: 'zeros' }, undefined, this.where);
    return [this.units];
  }

  allocate(backend: Backend, maxBatch: number): void {
    this.backend = backend;
    this.out = new BatchBuffer(backend, maxBatch, [this.units]);
    this.dx = new BatchBuffer(backend, maxBatch, [this.inSize]);
    if (this.activation === 'gelu') this.pre = new BatchBuffer(backend, maxBatch, [this.units]);
  }

  forward(x: Tensor, n: number): Tensor {
    if (x.shape.length !== 2 || x.shape[1] !== this.inSize || x.shape[0] !== n) {
      throw new ShapeError(`${this.describe()}: expected input [${n}, ${this.inSize}], got [${x.shape.join(', ')}]`);
    }
    this.input = x;
    const y = this.out.rows(n);
    if (this.pre) {
      const z = this.pre.rows(n);
      this.backend.gemm(x, this.weight.value, z, { transB: true, bias: this.bias.value });
      this.backend.activationForward(this.activation, z, y);
    } else {
      this.backend.gemm(x, this.weight.value, y, { transB: true, bias: this.bias.value, activation: this.activation });
    }
    return y;
  }

  backward(dy: Tensor, n: number, needDx: boolean): Tensor | null {
    const x = this.input;
    if (!x) throw new ShapeError(`${this.describe()}: backward before forward`);
    // dz = dy ⊙ act'(·), in place over dy.
    if (this.activation !== 'none') {
      this.backend.activationBackward(this.activation, this.out.rows(n), dy, dy, this.pre?.rows(n) ?? null);
    }
    this.backend.gemm(dy, x, this.weight.grad, { transA: true, beta: 1 });
    this.backend.biasGrad(dy, this.bias.grad);
    if (!needDx) return null;
    const dx = this.dx.rows(n);
    this.backend.gemm(dy, this.weight.value, dx);
    return dx;
  }
}
