/**
 * Dense (fully connected) layer: y = act(x·Wᵀ + b), W [out, in] (PyTorch layout), with bias
 * and activation fused into the GEMM epilogue. GELU keeps its pre-activation for backward.
 *
 * Squared per-sample gradients (the diagonal Fisher's batch path, ts/train/ewc.ts): sample i's
 * gradient of W is dz_iᵀ·x_i, so Σ_i (∂ℓ_i/∂W)² = (dz∘dz)ᵀ·(x∘x) and Σ_i (∂ℓ_i/∂b)² = Σ_i dz_i∘dz_i:
 * two squares, one GEMM and one bias reduction per batch ({@link DenseSquares}), when dz's rows
 * are the samples' own gradients (no batch mean).
 */
import type { Activation, Backend, Tensor } from '../backends/backend.js';
import { checkActivation } from '../backends/validate.js';
import { ShapeError } from '../errors.js';
import { BatchBuffer, type BuildContext, type Layer, type StepContext, expectDim, volume } from './layer.js';
import type { Parameter } from './parameters.js';

/**
 * A part of a model whose backward can accumulate, instead of (or besides) its parameters'
 * gradients, the squared per-sample gradients Σ_i (∂ℓ_i/∂θ)² of those parameters, where ℓ_i is
 * sample i's loss and the rows of the gradient reaching it are the samples' own (what the
 * diagonal Fisher sums; ts/train/ewc.ts). Exact only for parameters whose per-sample gradient is
 * dz_iᵀ·x_i with dz_i and x_i that sample's rows (dense maps: layers, heads, gates).
 */
export interface SquaredGradientSource {
  /** The parameters whose squared per-sample gradients backward can accumulate. */
  readonly squaredParameters: readonly Parameter[];
  /**
   * With `arena` (laid out like the gradient arena: parameter p at p.offset): every later backward
   * adds Σ_i (∂ℓ_i/∂p)² into it for each of squaredParameters, and the gradient arena's content
   * is unspecified; its scratch buffers are made here, once. Null: back to gradients, the scratch
   * freed.
   */
  squaredGradients(arena: Tensor | null): void;
}

/** Whether `part` (a layer, a body, the heads) is a {@link SquaredGradientSource}. */
export function isSquaredGradientSource<T>(part: T): part is T & SquaredGradientSource {
  return typeof part === 'object' && part !== null && typeof (part as Partial<SquaredGradientSource>).squaredGradients === 'function';
}

/** The squared per-sample gradients of one dense map z = x·Wᵀ + b into an arena, with its scratch squares made once for maxBatch rows. */
export class DenseSquares {
  private readonly weight: Tensor;
  private readonly bias: Tensor;
  private readonly x2: BatchBuffer;
  private readonly dz2: BatchBuffer;

  constructor(
    private readonly backend: Backend,
    maxBatch: number,
    weight: Parameter,
    bias: Parameter,
    arena: Tensor,
  ) {
    this.weight = backend.view(arena, weight.offset, weight.shape);
    this.bias = backend.view(arena, bias.offset, bias.shape);
    this.x2 = new BatchBuffer(backend, maxBatch, [weight.shape[1]]);
    this.dz2 = new BatchBuffer(backend, maxBatch, [weight.shape[0]]);
  }

  /** arena_W += (dz∘dz)ᵀ·(x∘x), arena_b += Σ_rows dz∘dz, for x [n, in] and dz [n, out]. */
  accumulate(x: Tensor, dz: Tensor, n: number): void {
    const be = this.backend;
    const x2 = this.x2.rows(n);
    const dz2 = this.dz2.rows(n);
    be.mul(x, x, x2);
    be.mul(dz, dz, dz2);
    be.gemm(dz2, x2, this.weight, { transA: true, beta: 1 });
    be.biasGrad(dz2, this.bias);
  }

  /** Frees the scratch squares. */
  free(): void {
    this.backend.free(this.x2.base);
    this.backend.free(this.dz2.base);
  }
}

export class Dense implements Layer, SquaredGradientSource {
  private inSize = 0;
  private weight!: Parameter;
  private bias!: Parameter;
  private backend!: Backend;
  /** The layer's own output and input-gradient buffers, made on first need (a caller that always passes its own tensors, forwardInto / backwardAccumulate, never holds them). */
  private out: BatchBuffer | null = null;
  private pre: BatchBuffer | null = null;
  private dx: BatchBuffer | null = null;
  private input: Tensor | null = null;
  /** The last forward's output (this.out's rows, or the caller's tensor with forwardInto): what backward's activation derivative reads. */
  private output: Tensor | null = null;
  private maxBatch = 0;
  private squares: DenseSquares | null = null;

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
    this.maxBatch = maxBatch;
    this.out = null; // made by the first forward (not forwardInto)
    this.dx = null; // made by the first backward that returns dL/dx
    if (this.activation === 'gelu') this.pre = new BatchBuffer(backend, maxBatch, [this.units]);
  }

  forward(x: Tensor, n: number): Tensor {
    return this.run(x, n, null);
  }

  /** forward, the output written into `out` [n, units] (=), which backward then reads in place of the layer's own buffer. */
  forwardInto(x: Tensor, n: number, _step: StepContext, out: Tensor): void {
    if (out.shape.length !== 2 || out.shape[0] !== n || out.shape[1] !== this.units) {
      throw new ShapeError(`${this.describe()}: expected an output [${n}, ${this.units}], got [${out.shape.join(', ')}]`);
    }
    this.run(x, n, out);
  }

  /** The forward into `into`, or (null) into the layer's own output buffer, made here the first time. */
  private run(x: Tensor, n: number, into: Tensor | null): Tensor {
    if (x.shape.length !== 2 || x.shape[1] !== this.inSize || x.shape[0] !== n) {
      throw new ShapeError(`${this.describe()}: expected input [${n}, ${this.inSize}], got [${x.shape.join(', ')}]`);
    }
    const y = into ?? (this.out ??= new BatchBuffer(this.backend, this.maxBatch, [this.units])).rows(n);
    this.input = x;
    this.output = y;
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
    this.parameterGradients(dy, n);
    if (!needDx) return null;
    const dx = (this.dx ??= new BatchBuffer(this.backend, this.maxBatch, [this.inSize])).rows(n);
    this.backend.gemm(dy, this.weight.value, dx);
    return dx;
  }

  /** backward, dL/dx = dz·W added into `dx` [n, in] (+=) by the GEMM itself (beta 1): no buffer of its own, no separate add. */
  backwardAccumulate(dy: Tensor, n: number, dx: Tensor): void {
    if (dx.shape.length !== 2 || dx.shape[0] !== n || dx.shape[1] !== this.inSize) {
      throw new ShapeError(`${this.describe()}: expected an input gradient [${n}, ${this.inSize}], got [${dx.shape.join(', ')}]`);
    }
    this.parameterGradients(dy, n);
    this.backend.gemm(dy, this.weight.value, dx, { beta: 1 });
  }

  /** dz = dy ⊙ act'(·) in place over dy, then W's and b's gradients (+=) or, while on, their squared per-sample gradients. */
  private parameterGradients(dy: Tensor, n: number): void {
    const x = this.input;
    if (!x) throw new ShapeError(`${this.describe()}: backward before forward`);
    if (this.activation !== 'none') {
      this.backend.activationBackward(this.activation, this.output!, dy, dy, this.pre?.rows(n) ?? null);
    }
    if (this.squares) this.squares.accumulate(x, dy, n);
    else {
      this.backend.gemm(dy, x, this.weight.grad, { transA: true, beta: 1 });
      this.backend.biasGrad(dy, this.bias.grad);
    }
  }

  get squaredParameters(): readonly Parameter[] {
    return [this.weight, this.bias];
  }

  squaredGradients(arena: Tensor | null): void {
    this.squares?.free();
    this.squares = arena ? new DenseSquares(this.backend, this.maxBatch, this.weight, this.bias, arena) : null;
  }
}
