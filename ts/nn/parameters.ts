/**
 * Parameters live in one arena per model: every weight and bias is a view into one parameter
 * tensor, and its gradient a view into one gradient tensor at the same offset. One fill zeroes
 * every gradient, and one optimizer kernel call updates every parameter. Views start at
 * multiples of 64 elements (GPU binding offsets need the alignment).
 */
import type { Backend, Tensor } from '../backends/backend.js';
import { MAX_HOST_TENSOR } from '../backends/host.js';
import type { Rng } from '../core/random.js';
import { ConfigError, ShapeError } from '../errors.js';
import { tensorSize } from './layer.js';

/** How a parameter is initialised. `fanIn`-scaled schemes follow PyTorch's defaults. */
export type Init =
  | { kind: 'zeros' }
  | { kind: 'uniform'; bound: number }
  | { kind: 'normal'; std: number }
  /** Kaiming-uniform for ReLU-family layers: U(±√(6/fanIn)). */
  | { kind: 'he'; fanIn: number }
  /** PyTorch's nn.Linear default: U(±1/√fanIn). */
  | { kind: 'lecun'; fanIn: number }
  /** A cross-stitch unit [T, T]: `self` on the diagonal, (1 − self)/(T − 1) elsewhere. */
  | { kind: 'stitch'; self: number };

/** A named slice of a parameter, saved as its own tensor in checkpoints (one task's head block). */
export interface ParameterPart {
  name: string;
  offset: number;
  shape: readonly number[];
}

/** A stored part's place in the arena: what a checkpoint writes as one tensor. */
export interface PartRange {
  /** The part's name (a checkpoint tensor's name). */
  readonly name: string;
  /** Its shape. */
  readonly shape: readonly number[];
  /** Its first arena element. */
  readonly start: number;
  /** One past its last arena element. */
  readonly end: number;
}

export interface Parameter {
  readonly name: string;
  readonly shape: readonly number[];
  readonly size: number;
  /** Element offset in the arena. */
  readonly offset: number;
  readonly init: Init;
  /** How the parameter splits into separately named tensors in a checkpoint (default: one). */
  readonly parts: readonly ParameterPart[];
  value: Tensor;
  grad: Tensor;
}

const ALIGN = 64;

export class ParameterStore {
  private readonly list: Parameter[] = [];
  private used = 0;
  private arena: { params: Tensor; grads: Tensor } | null = null;

  /**
   * Declares a parameter; call before `allocate`. ShapeError, naming `where` (the layer) and the
   * parameter, when it or the whole arena (one tensor) would exceed 2^31 − 1 values.
   */
  add(name: string, shape: readonly number[], init: Init, parts?: readonly ParameterPart[], where?: string): Parameter {
    if (this.arena) throw new ConfigError(`parameter ${name} declared after the arena was allocated`);
    if (this.list.some((p) => p.name === name)) throw new ConfigError(`duplicate parameter name ${name}`);
    const what = where ? `${where}: parameter ${name}` : `parameter ${name}`;
    const size = tensorSize(shape, what);
    const end = this.used + Math.ceil(size / ALIGN) * ALIGN;
    if (end > MAX_HOST_TENSOR) {
      throw new ShapeError(
        `${what} [${shape.join(' × ')}] brings the model to ${end} parameter values; they live in one tensor, which holds at most ${MAX_HOST_TENSOR} (2^31 − 1)`,
      );
    }
    const p = {
      name,
      shape: [...shape],
      size,
      offset: this.used,
      init,
      parts: parts ?? [{ name, offset: 0, shape: [...shape] }],
    } as unknown as Parameter; // value and grad are set by allocate()
    this.used = end;
    this.list.push(p);
    return p;
  }

  get parameters(): readonly Parameter[] {
    return this.list;
  }

  /** Every stored part (checkpoint tensor) with its arena range, in arena order. */
  *partRanges(): Generator<PartRange> {
    for (const p of this.list) {
      for (const part of p.parts) {
        const start = p.offset + part.offset;
        yield { name: part.name, shape: part.shape, start, end: start + part.shape.reduce((a, b) => a * b, 1) };
      }
    }
  }

  /** The stored part named `name` with its arena range, or undefined. */
  partRange(name: string): PartRange | undefined {
    for (const r of this.partRanges()) if (r.name === name) return r;
    return undefined;
  }

  /** Arena length in elements (padding included). */
  get arenaSize(): number {
    return Math.max(this.used, ALIGN);
  }

  /** Number of trainable values (padding excluded). */
  get count(): number {
    return this.list.reduce((s, p) => s + p.size, 0);
  }

  /**
   * Allocates the arenas and initialises every parameter from `rng`, one host copy of a
   * parameter at a time (not a second arena on the host).
   */
  allocate(backend: Backend, rng: Rng): void {
    const params = backend.alloc([this.arenaSize]);
    const grads = backend.alloc([this.arenaSize]);
    for (const p of this.list) {
      if (p.init.kind === 'zeros') continue; // alloc zero-fills; zeros draw nothing from rng
      const host = new Float32Array(p.size);
      initialise(host, p.init, rng);
      backend.write(params, host, p.offset);
    }
    for (const p of this.list) {
      p.value = backend.view(params, p.offset, p.shape);
      p.grad = backend.view(grads, p.offset, p.shape);
    }
    this.arena = { params, grads };
  }

  private get allocated(): { params: Tensor; grads: Tensor } {
    if (!this.arena) throw new ConfigError('the parameter arena is not allocated yet');
    return this.arena;
  }

  /** Every parameter, as one tensor. */
  get values(): Tensor {
    return this.allocated.params;
  }

  /** Every gradient, as one tensor (same offsets as `values`). */
  get grads(): Tensor {
    return this.allocated.grads;
  }
}

function initialise(out: Float32Array, init: Init, rng: Rng): void {
  switch (init.kind) {
    case 'zeros':
      return;
    case 'uniform':
      for (let i = 0; i < out.length; i++) out[i] = (2 * rng.uniform() - 1) * init.bound;
      return;
    case 'normal':
      for (let i = 0; i < out.length; i++) out[i] = rng.normal() * init.std;
      return;
    case 'he':
      return initialise(out, { kind: 'uniform', bound: Math.sqrt(6 / init.fanIn) }, rng);
    case 'lecun':
      return initialise(out, { kind: 'uniform', bound: 1 / Math.sqrt(init.fanIn) }, rng);
    case 'stitch': {
      const T = Math.round(Math.sqrt(out.length));
      for (let i = 0; i < T; i++) for (let j = 0; j < T; j++) out[i * T + j] = i === j ? init.self : (1 - init.self) / Math.max(1, T - 1);
      return;
    }
  }
}
