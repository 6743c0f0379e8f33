/**
 * Image layers (NCHW): Conv2d (bias and activation fused), MaxPool2d and Flatten (a view, no
 * copy).
 * A per-sample shape [C, H, W] (or [H, W], read as one channel) flows between them. Dropout2d
 * lives with Dropout (dropout.ts).
 */
import { type Activation, type Backend, Conv2dGeometry, Pool2dGeometry, type Tensor } from '../backends/backend.js';
import { checkActivation } from '../backends/validate.js';
import { ShapeError } from '../errors.js';
import { BatchBuffer, type BuildContext, type Layer, expectDim, volume } from './layer.js';
import type { Parameter } from './parameters.js';

/** [C, H, W] of a per-sample image shape ([H, W] is one channel); ShapeError naming the layer otherwise. */
function chw(inShape: readonly number[], where: string): [number, number, number] {
  if (inShape.length === 2) return [1, inShape[0], inShape[1]];
  if (inShape.length === 3) return [inShape[0], inShape[1], inShape[2]];
  throw new ShapeError(`${where}: needs an image input [C, H, W] or [H, W], got [${inShape.join(', ')}]`);
}

export class Conv2d implements Layer {
  private geo!: Conv2dGeometry;
  private weight!: Parameter;
  private bias!: Parameter;
  private backend!: Backend;
  private out!: BatchBuffer;
  private pre: BatchBuffer | null = null;
  private dx!: BatchBuffer;
  private input: Tensor | null = null;

  constructor(
    readonly filters: number,
    readonly kernel: number,
    readonly stride = 1,
    readonly padding = 0,
    readonly activation: Activation = 'none',
    readonly where = 'conv2d',
  ) {
    expectDim(`${where}.filters`, filters);
    expectDim(`${where}.kernel`, kernel);
    expectDim(`${where}.stride`, stride);
    expectDim(`${where}.padding`, padding, 0);
    checkActivation(activation);
  }

  describe(): string {
    const g = this.geo;
    const shape = g ? ` ${g.c}×${g.h}×${g.w}→${g.outC}×${g.outH}×${g.outW}` : '';
    return `conv ${this.kernel}×${this.kernel}${shape}${this.activation === 'none' ? '' : ' ' + this.activation}`;
  }

  build(ctx: BuildContext, inShape: readonly number[]): readonly number[] {
    const [c, h, w] = chw(inShape, this.where);
    const { kernel: k, padding: p } = this;
    if (h + 2 * p < k || w + 2 * p < k) {
      const padded = p > 0 ? ` (${h + 2 * p}×${w + 2 * p} with padding ${p})` : '';
      throw new ShapeError(`${this.where}: a ${k}×${k} kernel does not fit a ${h}×${w} input${padded}`);
    }
    const fanIn = c * k * k;
    this.weight = ctx.params.add(
      `${ctx.prefix}.weight`,
      [this.filters, c, k, k],
      { kind: this.activation === 'relu' || this.activation === 'gelu' ? 'he' : 'lecun', fanIn },
      undefined,
      this.where,
    );
    this.bias = ctx.params.add(`${ctx.prefix}.bias`, [this.filters], { kind: 'zeros' }, undefined, this.where);
    this.geo = new Conv2dGeometry(c, h, w, this.filters, k, k, this.stride, p);
    return [this.filters, this.geo.outH, this.geo.outW];
  }

  allocate(backend: Backend, maxBatch: number): void {
    this.backend = backend;
    const g = this.geo;
    this.out = new BatchBuffer(backend, maxBatch, [g.outC, g.outH, g.outW]);
    this.dx = new BatchBuffer(backend, maxBatch, [g.c, g.h, g.w]);
    if (this.activation === 'gelu') this.pre = new BatchBuffer(backend, maxBatch, [g.outC, g.outH, g.outW]);
  }

  forward(x: Tensor, n: number): Tensor {
    this.input = x;
    const y = this.out.rows(n);
    if (this.pre) {
      const z = this.pre.rows(n);
      this.backend.conv2dForward(x, this.weight.value, this.bias.value, z, this.geo);
      this.backend.activationForward(this.activation, z, y);
    } else {
      this.backend.conv2dForward(x, this.weight.value, this.bias.value, y, this.geo, this.activation);
    }
    return y;
  }

  backward(dy: Tensor, n: number, needDx: boolean): Tensor | null {
    if (this.activation !== 'none') {
      this.backend.activationBackward(this.activation, this.out.rows(n), dy, dy, this.pre?.rows(n) ?? null);
    }
    const dx = needDx ? this.dx.rows(n) : null;
    this.backend.conv2dBackward(this.input!, this.weight.value, dy, dx, this.weight.grad, this.bias.grad, this.geo);
    return dx;
  }
}

export class MaxPool2d implements Layer {
  private geo!: Pool2dGeometry;
  private backend!: Backend;
  private out!: BatchBuffer;
  private argmax!: BatchBuffer;
  private dx!: BatchBuffer;

  constructor(
    readonly size: number,
    readonly stride = size,
    readonly where = 'maxpool2d',
  ) {
    expectDim(`${where}.size`, size);
    expectDim(`${where}.stride`, stride);
  }

  describe(): string {
    return `max-pool ${this.size}×${this.size}`;
  }

  build(_ctx: BuildContext, inShape: readonly number[]): readonly number[] {
    const [c, h, w] = chw(inShape, this.where);
    const k = this.size;
    if (k > h || k > w) throw new ShapeError(`${this.where}: a ${k}×${k} window does not fit a ${h}×${w} input`);
    this.geo = new Pool2dGeometry(c, h, w, this.size, this.stride);
    return [c, this.geo.outH, this.geo.outW];
  }

  allocate(backend: Backend, maxBatch: number): void {
    this.backend = backend;
    const g = this.geo;
    this.out = new BatchBuffer(backend, maxBatch, [g.c, g.outH, g.outW]);
    this.argmax = new BatchBuffer(backend, maxBatch, [g.c, g.outH, g.outW]);
    this.dx = new BatchBuffer(backend, maxBatch, [g.c, g.h, g.w]);
  }

  forward(x: Tensor, n: number): Tensor {
    const y = this.out.rows(n);
    this.backend.maxPool2dForward(x, y, this.argmax.rows(n), this.geo);
    return y;
  }

  backward(dy: Tensor, n: number, needDx: boolean): Tensor | null {
    if (!needDx) return null;
    const dx = this.dx.rows(n);
    this.backend.maxPool2dBackward(dy, this.argmax.rows(n), dx, this.geo);
    return dx;
  }
}

/** [C, H, W] → [C·H·W]: views of the same memory, both ways. */
export class Flatten implements Layer {
  private backend!: Backend;
  private inShape: readonly number[] = [];
  private readonly views = new Map<Tensor, Tensor>();

  constructor(readonly where = 'flatten') {}

  describe(): string {
    return 'flatten';
  }

  build(_ctx: BuildContext, inShape: readonly number[]): readonly number[] {
    this.inShape = inShape;
    return [volume(inShape)];
  }

  allocate(backend: Backend): void {
    this.backend = backend;
  }

  /** A view of t with the given shape, made once per tensor. */
  private reshape(t: Tensor, shape: number[]): Tensor {
    let v = this.views.get(t);
    if (!v) this.views.set(t, (v = this.backend.view(t, 0, shape)));
    return v;
  }

  forward(x: Tensor, n: number): Tensor {
    return this.reshape(x, [n, volume(this.inShape)]);
  }

  backward(dy: Tensor, n: number, needDx: boolean): Tensor | null {
    return needDx ? this.reshape(dy, [n, ...this.inShape]) : null;
  }
}
