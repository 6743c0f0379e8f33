/**
 * The webgpu backend: every kernel of the Backend contract as a hand-written WGSL compute shader
 * (shaders/*.wgsl), run through WebGPU in Node with Dawn (the `webgpu` npm package), one launcher
 * per kernel family (webgpu/<family>.ts). The op table (ops.ts) validates every call before
 * anything is recorded; launches are recorded into one
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
import { BackendUnavailableError, ValueError, describe } from '../errors.js';
import { ACTIVATIONS, type Activation, type Backend, type Tensor } from './backend.js';
import { KernelBackend, type Kernels } from './ops.js';
import { checkReadInto, checkSameSize, checkUpload, checkView, checkWrite, shapeSize } from './validate.js';
import { ChannelKernels } from './webgpu/channels.js';
import { ConvKernels } from './webgpu/conv.js';
import { type AdapterDescription, requestGpuDevice } from './webgpu/device.js';
import { ElementwiseKernels } from './webgpu/elementwise.js';
import { EmbeddingKernels } from './webgpu/embedding.js';
import { EwcKernels } from './webgpu/ewc.js';
import { GemmLauncher } from './webgpu/gemm.js';
import { GradDropKernels } from './webgpu/graddrop.js';
import { HeadKernels } from './webgpu/heads.js';
import { LossKernels } from './webgpu/loss.js';
import { MixtureKernels } from './webgpu/mixture.js';
import { OptimKernels } from './webgpu/optim.js';
import { PoolKernels } from './webgpu/pool.js';
import { GpuRuntime, GpuTensor } from './webgpu/runtime.js';

/** Submits a training loop may leave queued (a few steps of work; see throttle). */
const MAX_IN_FLIGHT = 4;

/** A tensor named for a size error. */
function tensorOf(shape: readonly number[], n: number): string {
  return `a tensor of shape [${shape.join(', ')}] (${n} elements)`;
}

export class WebGpuBackend extends KernelBackend<GpuTensor> implements Backend {
  readonly name = 'webgpu';
  /** The adapter the kernels run on (lavapipe on CPU-only machines). */
  readonly adapter: AdapterDescription;
  /** Launch, submit and object counters (tests check that a steady-state step creates nothing). */
  readonly stats: GpuRuntime['stats'];
  private readonly rt: GpuRuntime;
  private readonly elementwise: ElementwiseKernels;
  /** The GEMM launcher (its tile sizes and grid limit are read by the webgpu tests). */
  protected readonly gemms: GemmLauncher;
  /** @internal */
  protected readonly kernels: Kernels<GpuTensor>;
  private disposed = false;

  private constructor(rt: GpuRuntime) {
    super();
    this.rt = rt;
    this.adapter = rt.adapter;
    this.stats = rt.stats;
    const ew = (this.elementwise = new ElementwiseKernels(rt));
    const gemm = (this.gemms = new GemmLauncher(rt));
    const heads = new HeadKernels(rt, gemm);
    const loss = new LossKernels(rt);
    const conv = new ConvKernels(rt, gemm);
    const pool = new PoolKernels(rt);
    const channels = new ChannelKernels(rt);
    const mixture = new MixtureKernels(rt);
    const graddrop = new GradDropKernels(rt);
    const optim = new OptimKernels(rt);
    const ewc = new EwcKernels(rt);
    const embedding = new EmbeddingKernels(rt);
    const act = (kind: Activation): number => ACTIVATIONS.indexOf(kind);
    // One line per kernel: the launcher that runs it (the op table has checked and unwrapped).
    this.kernels = {
      gemm: (a, b, c, bias, d) => gemm.gemm(a, b, c, bias, d),
      activationForward: (kind, x, y, n) => ew.activationForward(kind, x, y, n),
      activationBackward: (kind, y, dy, dx, x, n) => ew.activationBackward(kind, y, dy, dx, x, n),
      biasGrad: (dy, db, rows, cols) => ew.biasGrad(dy, db, rows, cols),
      add: (a, b, out, n) => ew.add(a, b, out, n),
      mul: (a, b, out, n) => ew.mul(a, b, out, n),
      dropoutForward: (x, y, mask, n, p, seed) => ew.dropoutForward(x, y, mask, n, p, seed),
      headsForward: (x, w, b, y, layout, n, a) => heads.forward(x, w, b, y, layout, n, act(a)),
      headsBackward: (x, w, dy, dx, dw, db, perTaskDx, layout, n) => heads.backward(x, w, dy, dx, dw, db, perTaskDx, layout, n),
      multiLoss: (logits, targets, mask, weights, losses, dlogits, layout, n) =>
        loss.multiLoss(logits, targets, mask, weights, layout, losses, dlogits, n),
      perSampleLosses: (logits, targets, mask, out, layout, n) => loss.perSampleLosses(logits, targets, mask, out, layout, n),
      conv2dForward: (x, w, b, y, geo, n, a) => conv.conv2dForward(x, w, b, y, geo, n, act(a)),
      conv2dBackward: (x, w, dy, dx, dw, db, geo, n) => conv.conv2dBackward(x, w, dy, dx, dw, db, geo, n),
      maxPool2dForward: (x, y, argmax, geo, n) => pool.maxPool2dForward(x, y, argmax, geo, n),
      maxPool2dBackward: (dy, argmax, dx, geo, n) => pool.maxPool2dBackward(dy, argmax, dx, geo, n),
      dropout2dForward: (x, y, mask, rows, plane, p, seed) => channels.dropout2dForward(x, y, mask, rows, plane, p, seed),
      scaleChannels: (x, s, out, rows, plane) => channels.scaleChannels(x, s, out, rows, plane),
      gradDrop: (g, out, tasks, m, seed, leak) => graddrop.launch(g, out, tasks, m, seed, leak),
      mixtureForward: (x, z, g, out, layout, n) => mixture.forward(x, z, g, out, layout, n),
      mixtureBackward: (x, g, dOut, dx, dz, layout, n) => mixture.backward(x, g, dOut, dx, dz, layout, n),
      sgdStep: (p, g, m, n, o) => optim.sgdStep(p, g, m, n, o),
      adamwStep: (p, g, m, v, n, c) => optim.adamwStep(p, g, m, v, n, c),
      ewcPenalty: (p, anchor, fisher, g, n, lambda) => ewc.penalty(p, anchor, fisher, g, n, lambda),
      embeddingForward: (x, table, out, layout, n) => embedding.forward(x, table, out, layout, n),
      embeddingBackward: (x, dOut, dTable, layout, n) => embedding.backward(x, dOut, dTable, layout, n),
      embeddingSgdStep: (x, table, dTable, layout, lr, n) => embedding.sgdStep(x, table, dTable, layout, lr, n),
    };
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

  /** @internal */
  protected unwrap(t: Tensor, what: string): GpuTensor {
    return this.g(t, what);
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
    this.elementwise.fill(g, value);
  }

  copy(src: Tensor, dst: Tensor): void {
    const s = this.g(src, 'copy source');
    const d = this.g(dst, 'copy destination');
    checkSameSize('copy', s, d);
    this.elementwise.copy(s, d);
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

