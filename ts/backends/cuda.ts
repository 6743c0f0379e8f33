/**
 * The cuda backend: the kernels of native/cuda (hand-written CUDA, TF32 tensor cores for the
 * GEMMs, no cuBLAS) in a second addon, hydranet_cuda.node, built by CMakeLists.txt when the CUDA
 * toolkit is found. Tensors are ranges of device allocations the addon owns; freed tensors go
 * back to a pool here, so a steady-state training step allocates nothing on the device. A freed
 * tensor, or a view of one, throws ValueError on every later use, and so does a second free: a
 * pooled allocation is never reachable from two tensors. Every method validates its arguments
 * with validate.ts before anything is enqueued; the addon checks every device range again.
 * Kernels run on one stream; `read` and `sync` wait for it, and throw the LabelError a loss
 * kernel may have flagged on the device (a class index out of range).
 */
import { TrackedTensor, markFreed, ownTensor } from './lifetime.js';
import { packedOf } from './packed.js';
import { dropoutThreshold } from '../core/random.js';
import { BackendUnavailableError, LabelError, ValueError, describe } from '../errors.js';
import {
  ACTIVATIONS,
  type Activation,
  type AdamWOptions,
  type Backend,
  type Conv2dGeometry,
  type GemmOptions,
  type HeadLayout,
  type LossLayout,
  type MixtureLayout,
  type Pool2dGeometry,
  type SgdOptions,
  type Tensor,
} from './backend.js';
import { loadAddon } from './native.js';
import {
  adamwCoefficients,
  checkActivation,
  checkBiasGrad,
  checkChannels,
  checkReadInto,
  checkUpload,
  checkView,
  checkWrite,
  shapeSize,
  checkConv2d,
  checkDropout,
  checkGemm,
  checkGradDrop,
  checkHeads,
  checkMixture,
  checkMultiLoss,
  checkPool2d,
  checkSameSize,
  checkSgd,
} from './validate.js';

/** A device range as the addon takes it: [allocation id, first element, element count]. */
type Range = [number, number, number];

/** The functions of hydranet_cuda.node (native/cuda/addon_cuda.cc). */
export interface CudaAddon {
  info(): { devices: number; error: string; runtimeVersion: number; name?: string; computeCapability?: string; memoryBytes?: number };
  init(): void;
  alloc(floats: number): number;
  release(id: number): void;
  write(dst: Range, data: Float32Array): void;
  /** Returns the device status words when a kernel flagged bad data, else null. */
  read(src: Range, into: Float32Array): number[] | null;
  sync(): number[] | null;
  [kernel: string]: unknown;
}

let cached: CudaAddon | null = null;

/** Loads hydranet_cuda.node once, or throws BackendUnavailableError saying why and how to fix it. */
export function loadCudaAddon(): CudaAddon {
  cached ??= loadAddon<CudaAddon>(
    'cuda',
    `It is built from source when the CUDA toolkit (nvcc, CUDA 12+) is found: install it, then ` +
      `\`HYDRANET_BUILD_FROM_SOURCE=1 npm rebuild hydranet\` (\`npm run build:native\` in a hydranet checkout); ` +
      `or use the cpu or webgpu backend.`,
  );
  return cached;
}

export class CudaTensor extends TrackedTensor {
  constructor(
    readonly backend: Backend,
    readonly shape: readonly number[],
    readonly size: number,
    /** The allocation and its capacity (elements). */
    readonly id: number,
    readonly capacity: number,
    readonly offset: number,
    readonly base: CudaTensor | null = null,
  ) {
    super();
  }

  get range(): Range {
    return [this.id, this.offset, this.size];
  }
}

export class CudaBackend implements Backend {
  readonly name = 'cuda';
  /** The GPU the kernels run on. */
  readonly device: { name: string; computeCapability: string; memoryBytes: number };
  private readonly native: CudaAddon;
  /** Free allocations by capacity (elements). */
  private readonly pool = new Map<number, number[]>();
  /** Every allocation this backend made (released on dispose). */
  private readonly owned = new Set<number>();
  /** Bytes of every allocation made through alloc (pooled ones included). */
  private allocatedBytes = 0;
  private disposed = false;

  /** Throws BackendUnavailableError when the addon is not built or no GPU and driver are present. */
  constructor() {
    this.native = loadCudaAddon();
    const info = this.native.info();
    if (info.devices < 1) {
      throw new BackendUnavailableError(`No CUDA GPU is usable here (${info.error || 'no device'}); the cuda backend needs an NVIDIA GPU and driver.`);
    }
    this.native.init();
    this.device = { name: info.name ?? '?', computeCapability: info.computeCapability ?? '?', memoryBytes: info.memoryBytes ?? 0 };
  }

  private k(name: string): (...args: unknown[]) => void {
    return this.native[name] as (...args: unknown[]) => void;
  }

  private t(x: Tensor, what: string): CudaTensor {
    // A freed tensor's allocation may already belong to a later tensor: using it would alias.
    return ownTensor(CudaTensor, this, this.disposed, x, what);
  }


  private r(x: Tensor, what: string): Range {
    return this.t(x, what).range;
  }

  private ro(x: Tensor | null | undefined, what: string): Range | null {
    return x ? this.r(x, what) : null;
  }

  /** Throws the LabelError a loss kernel flagged (status words: 1, task, row, class bits). */
  private status(words: number[] | null): void {
    if (!words) return;
    const y = new Float32Array(new Uint32Array([words[3]]).buffer)[0];
    throw new LabelError(`multiLoss: task ${words[1]} sample ${words[2]} has class ${y}, expected an integer class index of its task`);
  }

  // ---- tensors ----------------------------------------------------------------------------
  alloc(shape: readonly number[]): Tensor {
    const n = shapeSize(shape);
    if (this.disposed) throw new BackendUnavailableError('the cuda backend was disposed');
    const cap = Math.ceil(n / 64) * 64;
    const free = this.pool.get(cap);
    const reused = free?.pop();
    let id = reused;
    if (id === undefined) {
      id = this.native.alloc(cap);
      this.allocatedBytes += cap * 4;
    }
    this.owned.add(id);
    const t = new CudaTensor(this, [...shape], n, id, cap, 0);
    if (reused !== undefined) this.fill(t, 0);
    return t;
  }

  upload(data: Float32Array, shape: readonly number[]): Tensor {
    checkUpload(data, shape);
    const t = this.alloc(shape);
    this.write(t, data);
    return t;
  }

  write(x: Tensor, data: Float32Array, offset = 0): void {
    const t = this.t(x, 'write target');
    checkWrite(t.size, data, offset);
    if (data.length > 0) this.native.write([t.id, t.offset + offset, data.length], data);
  }

  async read(x: Tensor, into?: Float32Array): Promise<Float32Array> {
    const t = this.t(x, 'read source');
    checkReadInto(t.size, into);
    const out = into ?? new Float32Array(t.size);
    this.status(this.native.read(t.range, out));
    return out;
  }

  view(base: Tensor, offset: number, shape: readonly number[]): Tensor {
    const b = this.t(base, 'view base');
    const n = checkView(b.size, offset, shape);
    return new CudaTensor(this, [...shape], n, b.id, b.capacity, b.offset + offset, b.base ?? b);
  }

  /** Returns the allocation to the pool; freeing twice throws (two later tensors would share it). Views: no-op. */
  free(x: Tensor): void {
    const t = markFreed(CudaTensor, this, this.disposed, x);
    if (!t) return;
    let free = this.pool.get(t.capacity);
    if (!free) this.pool.set(t.capacity, (free = []));
    free.push(t.id);
  }

  fill(x: Tensor, value: number): void {
    if (typeof value !== 'number') throw new ValueError(`Expected a number for value but received ${describe(value)}`);
    this.k('fill')(this.r(x, 'fill target'), value);
  }

  copy(src: Tensor, dst: Tensor): void {
    const s = this.t(src, 'copy source');
    const d = this.t(dst, 'copy destination');
    checkSameSize('copy', s, d);
    this.k('copy')(s.range, d.range);
  }

  // ---- kernels ------------------------------------------------------------------------------
  gemm(a: Tensor, b: Tensor, c: Tensor, opts: GemmOptions = {}): void {
    const g = checkGemm(a, b, c, opts);
    this.k('gemm')(this.r(a, 'gemm A'), this.r(b, 'gemm B'), this.r(c, 'gemm C'), this.ro(opts.bias, 'gemm bias'), g.m, g.n, g.k, g.transA, g.transB, g.alpha, g.beta, ACTIVATIONS.indexOf(g.activation));
  }

  activationForward(kind: Activation, x: Tensor, y: Tensor): void {
    checkActivation(kind);
    checkSameSize('activationForward', x, y);
    this.k('activationForward')(ACTIVATIONS.indexOf(kind), this.r(x, 'activation x'), this.r(y, 'activation y'));
  }

  activationBackward(kind: Activation, y: Tensor, dy: Tensor, dx: Tensor, x?: Tensor | null): void {
    checkActivation(kind);
    if (kind === 'gelu' && !x) throw new ValueError('activationBackward: gelu needs the input x');
    checkSameSize('activationBackward', y, dy, dx, x);
    this.k('activationBackward')(ACTIVATIONS.indexOf(kind), this.r(y, 'activation y'), this.r(dy, 'activation dy'), this.r(dx, 'activation dx'), this.ro(x, 'activation x'));
  }

  biasGrad(dy: Tensor, db: Tensor): void {
    const [rows, cols] = checkBiasGrad(dy, db);
    this.k('biasBackward')(this.r(dy, 'biasGrad dy'), this.r(db, 'biasGrad db'), rows, cols);
  }

  add(a: Tensor, b: Tensor, out: Tensor): void {
    checkSameSize('add', a, b, out);
    this.k('add')(this.r(a, 'add a'), this.r(b, 'add b'), this.r(out, 'add out'));
  }

  mul(a: Tensor, b: Tensor, out: Tensor): void {
    checkSameSize('mul', a, b, out);
    this.k('mul')(this.r(a, 'mul a'), this.r(b, 'mul b'), this.r(out, 'mul out'));
  }

  dropoutForward(x: Tensor, y: Tensor, mask: Tensor, p: number, seed: number): void {
    checkDropout(x, y, mask, p, seed);
    this.k('dropoutForward')(this.r(x, 'dropout x'), this.r(y, 'dropout y'), this.r(mask, 'dropout mask'), seed >>> 0, dropoutThreshold(p), 1 / (1 - p));
  }

  headsForward(x: Tensor, w: Tensor, b: Tensor, y: Tensor, layout: HeadLayout, activation: Activation = 'none'): void {
    const n = checkHeads(x, w, b, y, layout);
    checkActivation(activation);
    this.k('headsForward')(packedOf(layout), this.r(x, 'heads x'), this.r(w, 'heads w'), this.r(b, 'heads b'), this.r(y, 'heads y'), n, ACTIVATIONS.indexOf(activation));
  }

  headsBackward(x: Tensor, w: Tensor, dy: Tensor, dx: Tensor | null, dw: Tensor, db: Tensor, layout: HeadLayout, perTaskDx: Tensor | null = null): void {
    const n = checkHeads(x, w, db, dy, layout, perTaskDx);
    checkSameSize('headsBackward w/dw', w, dw);
    if (dx) checkSameSize('headsBackward x/dx', x, dx);
    const [X, W, DY] = [this.r(x, 'heads x'), this.r(w, 'heads w'), this.r(dy, 'heads dy')];
    this.k('headsBackward')(packedOf(layout), X, W, DY, this.ro(dx, 'heads dx'), this.r(dw, 'heads dw'), this.r(db, 'heads db'), this.ro(perTaskDx, 'heads perTaskDx'), n);
  }

  multiLoss(logits: Tensor, targets: Tensor, mask: Tensor | null, weights: Tensor, layout: LossLayout, losses: Tensor, dlogits: Tensor): void {
    const n = checkMultiLoss(logits, targets, mask, weights, layout, losses, dlogits);
    const [L, T, M] = [this.r(logits, 'multiLoss logits'), this.r(targets, 'multiLoss targets'), this.ro(mask, 'multiLoss mask')];
    this.k('multiLoss')(packedOf(layout), L, T, M, this.r(weights, 'multiLoss weights'), this.r(losses, 'multiLoss losses'), this.r(dlogits, 'multiLoss dlogits'), n, layout.totalOut, layout.totalTgt);
  }

  conv2dForward(x: Tensor, w: Tensor, b: Tensor | null, y: Tensor, geo: Conv2dGeometry, activation: Activation = 'none'): void {
    const n = checkConv2d(x, w, b, y, geo);
    checkActivation(activation);
    this.k('conv2dForward')(packedOf(geo), this.r(x, 'conv2d x'), this.r(w, 'conv2d w'), this.ro(b, 'conv2d b'), this.r(y, 'conv2d y'), n, ACTIVATIONS.indexOf(activation));
  }

  conv2dBackward(x: Tensor, w: Tensor, dy: Tensor, dx: Tensor | null, dw: Tensor, db: Tensor | null, geo: Conv2dGeometry): void {
    const n = checkConv2d(x, w, db, dy, geo, dx);
    checkSameSize('conv2dBackward w/dw', w, dw);
    const [X, W, DY] = [this.r(x, 'conv2d x'), this.r(w, 'conv2d w'), this.r(dy, 'conv2d dy')];
    this.k('conv2dBackward')(packedOf(geo), X, W, DY, this.ro(dx, 'conv2d dx'), this.r(dw, 'conv2d dw'), this.ro(db, 'conv2d db'), n);
  }

  maxPool2dForward(x: Tensor, y: Tensor, argmax: Tensor, geo: Pool2dGeometry): void {
    const n = checkPool2d(x, y, argmax, geo);
    this.k('maxPool2dForward')(packedOf(geo), this.r(x, 'maxPool2d x'), this.r(y, 'maxPool2d y'), this.r(argmax, 'maxPool2d argmax'), n);
  }

  maxPool2dBackward(dy: Tensor, argmax: Tensor, dx: Tensor, geo: Pool2dGeometry): void {
    const n = checkPool2d(dx, dy, argmax, geo);
    this.k('maxPool2dBackward')(packedOf(geo), this.r(dy, 'maxPool2d dy'), this.r(argmax, 'maxPool2d argmax'), this.r(dx, 'maxPool2d dx'), n);
  }

  dropout2dForward(x: Tensor, y: Tensor, mask: Tensor, p: number, seed: number): void {
    checkDropout(x, y, x, p, seed);
    const [rows, plane] = checkChannels(x, mask, y);
    this.k('dropout2dForward')(this.r(x, 'dropout2d x'), this.r(y, 'dropout2d y'), this.r(mask, 'dropout2d mask'), rows, plane, seed >>> 0, dropoutThreshold(p), 1 / (1 - p));
  }

  scaleChannels(x: Tensor, s: Tensor, out: Tensor): void {
    const [rows, plane] = checkChannels(x, s, out);
    this.k('scaleChannels')(this.r(x, 'scaleChannels x'), this.r(s, 'scaleChannels s'), this.r(out, 'scaleChannels out'), rows, plane);
  }

  gradDrop(g: Tensor, out: Tensor, seed: number, leak: number): void {
    const [T, M] = checkGradDrop(g, out, seed, leak);
    this.k('gradDrop')(this.r(g, 'gradDrop g'), this.r(out, 'gradDrop out'), T, M, seed >>> 0, leak);
  }

  mixtureForward(x: Tensor, z: Tensor, g: Tensor, out: Tensor, layout: MixtureLayout): void {
    const n = checkMixture(x, z, g, out, layout);
    this.k('mixtureForward')(packedOf(layout), this.r(x, 'mixture x'), this.r(z, 'mixture z'), this.r(g, 'mixture g'), this.r(out, 'mixture out'), n);
  }

  mixtureBackward(x: Tensor, g: Tensor, dOut: Tensor, dx: Tensor, dz: Tensor, layout: MixtureLayout): void {
    const n = checkMixture(x, dz, g, dOut, layout);
    checkSameSize('mixtureBackward x/dx', x, dx);
    const [X, G, DO] = [this.r(x, 'mixture x'), this.r(g, 'mixture g'), this.r(dOut, 'mixture dOut')];
    this.k('mixtureBackward')(packedOf(layout), X, G, DO, this.r(dx, 'mixture dx'), this.r(dz, 'mixture dz'), n);
  }

  sgdStep(p: Tensor, g: Tensor, m: Tensor, opts: SgdOptions): void {
    checkSameSize('sgdStep', p, g, m);
    const o = checkSgd(opts);
    this.k('sgdStep')(this.r(p, 'sgd p'), this.r(g, 'sgd g'), this.r(m, 'sgd m'), o.lr, o.momentum, o.weightDecay, o.nesterov);
  }

  adamwStep(p: Tensor, g: Tensor, m: Tensor, v: Tensor, opts: AdamWOptions): void {
    checkSameSize('adamwStep', p, g, m, v);
    const c = adamwCoefficients(opts);
    const [P, G, M, V] = [this.r(p, 'adamw p'), this.r(g, 'adamw g'), this.r(m, 'adamw m'), this.r(v, 'adamw v')];
    this.k('adamwStep')(P, G, M, V, c.decay, c.beta1, c.oneMinusBeta1, c.beta2, c.oneMinusBeta2, c.eps, c.stepSize, c.invBias2);
  }

  async sync(): Promise<void> {
    if (this.disposed) throw new BackendUnavailableError('the cuda backend was disposed');
    this.status(this.native.sync());
  }

  /** One stream: the driver's launch queue bounds queued work, so there is nothing to wait for here. */
  async throttle(): Promise<void> {}

  /** Device bytes of the tensors' allocations (pooled ones included; the addon's own staging ring is not counted). */
  deviceBytes(): number {
    return this.allocatedBytes;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const id of this.owned) this.native.release(id);
    this.owned.clear();
    this.pool.clear();
  }
}
