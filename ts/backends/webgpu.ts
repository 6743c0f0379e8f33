/**
 * The webgpu backend: every kernel of the Backend contract as a hand-written WGSL compute shader
 * (shaders/*.wgsl), run through WebGPU in Node with Dawn (the `webgpu` npm package). Arguments
 * are validated with validate.ts before anything is recorded; launches are recorded into one
 * command buffer and submitted only when the host needs results (see webgpu/runtime.ts).
 *
 * Errors found on the device (a class index out of range in multiLoss) cannot be thrown by the
 * call that launched the kernel, which returns before the GPU runs: they are thrown by the next
 * `read` or `sync`.
 *
 * A tensor is at most the device's largest storage binding (kernels bind tensors whole): alloc
 * and upload throw ShapeError past it, before anything is created. A freed tensor, or a view of
 * one, is dead: using it or freeing it again throws ValueError (its storage is pooled, reused).
 */
import { markFreed, ownTensor } from './lifetime.js';
import { dropoutThreshold } from '../core/random.js';
import { BackendUnavailableError, ValueError, describe } from '../errors.js';
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
import { type AdapterDescription, requestGpuDevice } from './webgpu/device.js';
import { GemmLauncher } from './webgpu/gemm.js';
import { HeadKernels } from './webgpu/heads.js';
import { ImageKernels } from './webgpu/image.js';
import { LossKernels } from './webgpu/loss.js';
import { MixtureKernels } from './webgpu/mixture.js';
import { GpuRuntime, GpuTensor, type KernelSpec, grid, sameRange } from './webgpu/runtime.js';

const EW = (entry: string, access: string): KernelSpec => ({ file: 'elementwise', entry: `elementwise_${entry}`, access });
const K = {
  fill: EW('fill', 'w'),
  copy: EW('copy', 'rw'),
  actForward: EW('activation_forward', 'rw'),
  actForwardInPlace: EW('activation_forward_inplace', 'w'),
  actBackward: EW('activation_backward', 'rrrw'),
  actBackwardInPlace: EW('activation_backward_inplace', 'rrw'),
  binary: EW('binary', 'rrw'),
  binaryInPlace: EW('binary_inplace', 'wr'),
  dropout: EW('dropout', 'rww'),
  dropoutInPlace: EW('dropout_inplace', 'ww'),
  biasGrad: EW('bias_grad', 'rw'),
  sgd: { file: 'optim', entry: 'optim_sgd', access: 'wrw' },
  adamw: { file: 'optim', entry: 'optim_adamw', access: 'wrww' },
} satisfies Record<string, KernelSpec>;

/** Submits a training loop may leave queued (a few steps of work; see throttle). */
const MAX_IN_FLIGHT = 4;

/** A tensor named for a size error. */
function tensorOf(shape: readonly number[], n: number): string {
  return `a tensor of shape [${shape.join(', ')}] (${n} elements)`;
}

export class WebGpuBackend implements Backend {
  readonly name = 'webgpu';
  /** The adapter the kernels run on (lavapipe on CPU-only machines). */
  readonly adapter: AdapterDescription;
  /** Launch, submit and object counters (tests check that a steady-state step creates nothing). */
  readonly stats: GpuRuntime['stats'];
  private readonly rt: GpuRuntime;
  private readonly gemms: GemmLauncher;
  private readonly heads: HeadKernels;
  private readonly losses: LossKernels;
  private readonly image: ImageKernels;
  private readonly mixture: MixtureKernels;
  private disposed = false;

  private constructor(rt: GpuRuntime) {
    this.rt = rt;
    this.adapter = rt.adapter;
    this.stats = rt.stats;
    this.gemms = new GemmLauncher(rt);
    this.heads = new HeadKernels(rt, this.gemms);
    this.losses = new LossKernels(rt);
    this.image = new ImageKernels(rt, this.gemms);
    this.mixture = new MixtureKernels(rt);
  }

  /** Opens the best adapter, compiles every shader; throws BackendUnavailableError or KernelError. */
  static async create(): Promise<WebGpuBackend> {
    const { device, adapter } = await requestGpuDevice();
    const rt = new GpuRuntime(device, adapter);
    await rt.compileShaders();
    return new WebGpuBackend(rt);
  }

  /** The GpuTensor behind `t`, after checking that this backend owns it. */
  private g(t: Tensor, what: string): GpuTensor {
    return ownTensor(GpuTensor, this, this.disposed, t, what);
  }


  private opt(t: Tensor | null | undefined, what: string): GpuTensor | null {
    return t ? this.g(t, what) : null;
  }

  // ---- tensors ----------------------------------------------------------------------------
  alloc(shape: readonly number[]): Tensor {
    const n = shapeSize(shape);
    if (this.disposed) throw new BackendUnavailableError('the webgpu backend was disposed');
    const { storage, fresh } = this.rt.acquire(n * 4, tensorOf(shape, n));
    const t = new GpuTensor(this, [...shape], n, storage, 0);
    if (!fresh) this.fill(t, 0);
    return t;
  }

  upload(data: Float32Array, shape: readonly number[]): Tensor {
    const n = checkUpload(data, shape);
    if (this.disposed) throw new BackendUnavailableError('the webgpu backend was disposed');
    return new GpuTensor(this, [...shape], n, this.rt.upload(data, tensorOf(shape, n)), 0);
  }

  write(t: Tensor, data: Float32Array, offset = 0): void {
    const g = this.g(t, 'write target');
    checkWrite(g.size, data, offset);
    if (data.length > 0) this.rt.write(g, data, offset);
  }

  /** Bad arguments reject the promise (as on every backend), they do not throw synchronously. */
  async read(t: Tensor, into?: Float32Array): Promise<Float32Array> {
    const g = this.g(t, 'read source');
    checkReadInto(g.size, into);
    return this.rt.read(g, into ?? new Float32Array(g.size));
  }

  view(base: Tensor, offset: number, shape: readonly number[]): Tensor {
    const b = this.g(base, 'view base');
    // Inside its base, so within the device's limits (alloc and upload checked the base).
    const n = checkView(b.size, offset, shape);
    return new GpuTensor(this, [...shape], n, b.storage, b.offset + offset, b.base ?? b);
  }

  /** Returns the storage to the pool and marks the tensor dead; freeing it twice throws. Views: no-op. */
  free(t: Tensor): void {
    const g = markFreed(GpuTensor, this, this.disposed, t);
    if (g) this.rt.release(g.storage);
  }

  fill(t: Tensor, value: number): void {
    const g = this.g(t, 'fill target');
    if (typeof value !== 'number') throw new ValueError(`Expected a number for value but received ${describe(value)}`);
    this.rt.launch(K.fill, [g], { u: [g.size, 0, 0, 0], f: [value] }, grid(g.size, 256));
  }

  copy(src: Tensor, dst: Tensor): void {
    const s = this.g(src, 'copy source');
    const d = this.g(dst, 'copy destination');
    checkSameSize('copy', s, d);
    if (s.storage === d.storage && s.offset === d.offset) return;
    this.rt.launch(K.copy, [s, d], { u: [s.size] }, grid(s.size, 256));
  }

  // ---- matrix -----------------------------------------------------------------------------
  gemm(a: Tensor, b: Tensor, c: Tensor, opts: GemmOptions = {}): void {
    const d = checkGemm(a, b, c, opts);
    const [A, B, C] = [this.g(a, 'gemm A'), this.g(b, 'gemm B'), this.g(c, 'gemm C')];
    const bias = this.opt(opts.bias, 'gemm bias');
    this.gemms.launch(A, B, C, bias, {
      transA: d.transA,
      transB: d.transB,
      alpha: d.alpha,
      beta: d.beta,
      activation: ACTIVATIONS.indexOf(d.activation),
      problems: [{ m: d.m, n: d.n, k: d.k, offA: 0, offB: 0, offC: 0, offBias: 0, lda: d.transA ? d.m : d.k, ldb: d.transB ? d.k : d.n, ldc: d.n }],
    });
  }

  // ---- elementwise --------------------------------------------------------------------------
  activationForward(kind: Activation, x: Tensor, y: Tensor): void {
    checkActivation(kind);
    const n = checkSameSize('activationForward', x, y);
    const [X, Y] = [this.g(x, 'activation x'), this.g(y, 'activation y')];
    const u = [n, ACTIVATIONS.indexOf(kind)];
    if (sameRange(X, Y)) this.rt.launch(K.actForwardInPlace, [Y], { u }, grid(n, 256));
    else this.rt.launch(K.actForward, [X, Y], { u }, grid(n, 256));
  }

  activationBackward(kind: Activation, y: Tensor, dy: Tensor, dx: Tensor, x?: Tensor | null): void {
    checkActivation(kind);
    if (kind === 'gelu' && !x) throw new ValueError('activationBackward: gelu needs the input x');
    const n = checkSameSize('activationBackward', y, dy, dx, x);
    const [Y, DY, DX] = [this.g(y, 'activation y'), this.g(dy, 'activation dy'), this.g(dx, 'activation dx')];
    const X = this.opt(kind === 'gelu' ? x : null, 'activation x');
    const u = [n, ACTIVATIONS.indexOf(kind)];
    if (sameRange(DY, DX)) this.rt.launch(K.actBackwardInPlace, [Y, X, DX], { u }, grid(n, 256));
    else this.rt.launch(K.actBackward, [Y, DY, X, DX], { u }, grid(n, 256));
  }

  biasGrad(dy: Tensor, db: Tensor): void {
    const [rows, cols] = checkBiasGrad(dy, db);
    this.rt.launch(K.biasGrad, [this.g(dy, 'biasGrad dy'), this.g(db, 'biasGrad db')], { u: [rows, 0, cols] }, grid(cols, 256));
  }

  private binary(op: 0 | 1, what: string, a: Tensor, b: Tensor, out: Tensor): void {
    const n = checkSameSize(what, a, b, out);
    const [A, B, O] = [this.g(a, `${what} a`), this.g(b, `${what} b`), this.g(out, `${what} out`)];
    if (sameRange(A, O) || sameRange(B, O)) {
      // Both ops commute: out aliases one operand, the other is read (or is out too).
      const other = sameRange(A, O) ? B : A;
      const both = sameRange(other, O);
      this.rt.launch(K.binaryInPlace, [O, both ? null : other], { u: [n, op, both ? 1 : 0] }, grid(n, 256));
    } else {
      this.rt.launch(K.binary, [A, B, O], { u: [n, op] }, grid(n, 256));
    }
  }

  add(a: Tensor, b: Tensor, out: Tensor): void {
    this.binary(0, 'add', a, b, out);
  }

  mul(a: Tensor, b: Tensor, out: Tensor): void {
    this.binary(1, 'mul', a, b, out);
  }

  dropoutForward(x: Tensor, y: Tensor, mask: Tensor, p: number, seed: number): void {
    const n = checkDropout(x, y, mask, p, seed);
    const [X, Y, M] = [this.g(x, 'dropout x'), this.g(y, 'dropout y'), this.g(mask, 'dropout mask')];
    const params = { u: [n, 0, seed >>> 0, dropoutThreshold(p)], f: [1 / (1 - p)] };
    if (sameRange(X, Y)) this.rt.launch(K.dropoutInPlace, [Y, M], params, grid(n, 256));
    else this.rt.launch(K.dropout, [X, Y, M], params, grid(n, 256));
  }

  // ---- fused multi-task ops ----------------------------------------------------------------
  headsForward(x: Tensor, w: Tensor, b: Tensor, y: Tensor, layout: HeadLayout, activation: Activation = 'none'): void {
    const n = checkHeads(x, w, b, y, layout);
    checkActivation(activation);
    const t = [this.g(x, 'heads x'), this.g(w, 'heads w'), this.g(b, 'heads b'), this.g(y, 'heads y')] as const;
    this.heads.forward(...t, layout, n, ACTIVATIONS.indexOf(activation));
  }

  headsBackward(
    x: Tensor,
    w: Tensor,
    dy: Tensor,
    dx: Tensor | null,
    dw: Tensor,
    db: Tensor,
    layout: HeadLayout,
    perTaskDx: Tensor | null = null,
  ): void {
    const n = checkHeads(x, w, db, dy, layout, perTaskDx);
    checkSameSize('headsBackward w/dw', w, dw);
    if (dx) checkSameSize('headsBackward x/dx', x, dx);
    this.heads.backward(
      this.g(x, 'heads x'),
      this.g(w, 'heads w'),
      this.g(dy, 'heads dy'),
      this.opt(dx, 'heads dx'),
      this.g(dw, 'heads dw'),
      this.g(db, 'heads db'),
      this.opt(perTaskDx, 'heads perTaskDx'),
      layout,
      n,
    );
  }

  multiLoss(
    logits: Tensor,
    targets: Tensor,
    mask: Tensor | null,
    weights: Tensor,
    layout: LossLayout,
    losses: Tensor,
    dlogits: Tensor,
  ): void {
    const n = checkMultiLoss(logits, targets, mask, weights, layout, losses, dlogits);
    this.losses.multiLoss(
      this.g(logits, 'multiLoss logits'),
      this.g(targets, 'multiLoss targets'),
      this.opt(mask, 'multiLoss mask'),
      this.g(weights, 'multiLoss weights'),
      layout,
      this.g(losses, 'multiLoss losses'),
      this.g(dlogits, 'multiLoss dlogits'),
      n,
    );
  }

  // ---- image ops (NCHW) --------------------------------------------------------------------
  conv2dForward(x: Tensor, w: Tensor, b: Tensor | null, y: Tensor, geo: Conv2dGeometry, activation: Activation = 'none'): void {
    const n = checkConv2d(x, w, b, y, geo);
    checkActivation(activation);
    const [X, W, B, Y] = [this.g(x, 'conv2d x'), this.g(w, 'conv2d w'), this.opt(b, 'conv2d b'), this.g(y, 'conv2d y')];
    this.image.conv2dForward(X, W, B, Y, geo, n, ACTIVATIONS.indexOf(activation));
  }

  conv2dBackward(x: Tensor, w: Tensor, dy: Tensor, dx: Tensor | null, dw: Tensor, db: Tensor | null, geo: Conv2dGeometry): void {
    const n = checkConv2d(x, w, db, dy, geo, dx);
    checkSameSize('conv2dBackward w/dw', w, dw);
    const [X, W, DY] = [this.g(x, 'conv2d x'), this.g(w, 'conv2d w'), this.g(dy, 'conv2d dy')];
    const [DX, DW, DB] = [this.opt(dx, 'conv2d dx'), this.g(dw, 'conv2d dw'), this.opt(db, 'conv2d db')];
    this.image.conv2dBackward(X, W, DY, DX, DW, DB, geo, n);
  }

  maxPool2dForward(x: Tensor, y: Tensor, argmax: Tensor, geo: Pool2dGeometry): void {
    const n = checkPool2d(x, y, argmax, geo);
    this.image.maxPool2dForward(this.g(x, 'maxPool2d x'), this.g(y, 'maxPool2d y'), this.g(argmax, 'maxPool2d argmax'), geo, n);
  }

  maxPool2dBackward(dy: Tensor, argmax: Tensor, dx: Tensor, geo: Pool2dGeometry): void {
    const n = checkPool2d(dx, dy, argmax, geo);
    this.image.maxPool2dBackward(this.g(dy, 'maxPool2d dy'), this.g(argmax, 'maxPool2d argmax'), this.g(dx, 'maxPool2d dx'), geo, n);
  }

  dropout2dForward(x: Tensor, y: Tensor, mask: Tensor, p: number, seed: number): void {
    checkDropout(x, y, x, p, seed);
    const [rows, plane] = checkChannels(x, mask, y);
    const [X, Y, M] = [this.g(x, 'dropout2d x'), this.g(y, 'dropout2d y'), this.g(mask, 'dropout2d mask')];
    this.image.dropout2dForward(X, Y, M, rows, plane, seed >>> 0, dropoutThreshold(p), 1 / (1 - p));
  }

  scaleChannels(x: Tensor, s: Tensor, out: Tensor): void {
    const [rows, plane] = checkChannels(x, s, out);
    this.image.scaleChannels(this.g(x, 'scaleChannels x'), this.g(s, 'scaleChannels s'), this.g(out, 'scaleChannels out'), rows, plane);
  }

  gradDrop(g: Tensor, out: Tensor, seed: number, leak: number): void {
    const [T, M] = checkGradDrop(g, out, seed, leak);
    this.mixture.gradDrop(this.g(g, 'gradDrop g'), this.g(out, 'gradDrop out'), T, M, seed >>> 0, leak);
  }

  mixtureForward(x: Tensor, z: Tensor, g: Tensor, out: Tensor, layout: MixtureLayout): void {
    const n = checkMixture(x, z, g, out, layout);
    const t = [this.g(x, 'mixture x'), this.g(z, 'mixture z'), this.g(g, 'mixture g'), this.g(out, 'mixture out')] as const;
    this.mixture.forward(...t, layout, n);
  }

  mixtureBackward(x: Tensor, g: Tensor, dOut: Tensor, dx: Tensor, dz: Tensor, layout: MixtureLayout): void {
    const n = checkMixture(x, dz, g, dOut, layout);
    checkSameSize('mixtureBackward x/dx', x, dx);
    const t = [this.g(x, 'mixture x'), this.g(g, 'mixture g'), this.g(dOut, 'mixture dOut'), this.g(dx, 'mixture dx'), this.g(dz, 'mixture dz')] as const;
    this.mixture.backward(...t, layout, n);
  }

  // ---- optimizers ---------------------------------------------------------------------------
  sgdStep(p: Tensor, g: Tensor, m: Tensor, opts: SgdOptions): void {
    const n = checkSameSize('sgdStep', p, g, m);
    const o = checkSgd(opts);
    const t = [this.g(p, 'sgd p'), this.g(g, 'sgd g'), this.g(m, 'sgd m')];
    this.rt.launch(K.sgd, t, { u: [n, o.nesterov ? 1 : 0], f: [o.lr, o.momentum, o.weightDecay] }, grid(n, 256));
  }

  adamwStep(p: Tensor, g: Tensor, m: Tensor, v: Tensor, opts: AdamWOptions): void {
    const n = checkSameSize('adamwStep', p, g, m, v);
    const c = adamwCoefficients(opts);
    const t = [this.g(p, 'adamw p'), this.g(g, 'adamw g'), this.g(m, 'adamw m'), this.g(v, 'adamw v')];
    const f = [c.decay, c.beta1, c.oneMinusBeta1, c.beta2, c.oneMinusBeta2, c.eps, c.stepSize, c.invBias2];
    this.rt.launch(K.adamw, t, { u: [n], f }, grid(n, 256));
  }

  async sync(): Promise<void> {
    if (this.disposed) throw new BackendUnavailableError('the webgpu backend was disposed');
    await this.rt.sync();
  }

  /** Bytes of every buffer this backend created: tensors (pooled ones included), staging, uniforms. */
  deviceBytes(): number {
    return this.rt.deviceBytes;
  }

  /** Keeps at most MAX_IN_FLIGHT submits queued (one training step is one or two). */
  async throttle(): Promise<void> {
    if (this.disposed) throw new BackendUnavailableError('the webgpu backend was disposed');
    await this.rt.throttle(MAX_IN_FLIGHT);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.rt.dispose();
  }
}

