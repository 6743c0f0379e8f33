/**
 * The cpu backend: the kernels of native/cpu (C++17, threads, AVX-512 / AVX2 / scalar chosen
 * at run time) over host tensors. Every method validates its arguments with validate.ts, then
 * hands the tensors' own Float32Arrays (views included) to the addon: no copies.
 */
import { packedOf } from './packed.js';
import { ConfigError, LabelError, ValueError, expectInt } from '../errors.js';
import {
  ACTIVATIONS,
  type Activation,
  type AdamWOptions,
  type Backend,
  type Conv2dGeometry,
  type GemmOptions,
  HeadLayout,
  LossLayout,
  type MixtureLayout,
  type Pool2dGeometry,
  type SgdOptions,
  type Tensor,
} from './backend.js';
import { HostBackend } from './host.js';
import { type CpuAddon, type CpuIsa, MAX_THREADS, loadCpuAddon } from './native.js';
import {
  checkActivation,
  checkBiasGrad,
  checkChannels,
  checkConv2d,
  checkDropout,
  checkGradDrop,
  checkGemm,
  checkHeads,
  checkMixture,
  checkMultiLoss,
  checkPool2d,
  adamwCoefficients,
  checkSameSize,
  checkSgd,
} from './validate.js';

export interface CpuBackendOptions {
  /** Threads per kernel, the calling thread included (default: every hardware thread). */
  threads?: number;
}

export class CpuBackend extends HostBackend implements Backend {
  readonly name = 'cpu';
  /** Threads each kernel may use. */
  readonly threads: number;
  /** The SIMD path the kernels run (HYDRANET_CPU_ISA=scalar|avx2|avx512 forces a lower one). */
  readonly isa: CpuIsa;
  private readonly native: CpuAddon;

  /** Throws BackendUnavailableError when the addon is not built, ConfigError for a bad HYDRANET_CPU_ISA. */
  constructor(opts: CpuBackendOptions = {}) {
    super();
    this.native = loadCpuAddon();
    const info = this.native.info();
    if (info.isaError) throw new ConfigError(info.isaError);
    this.isa = info.isa;
    // The addon runs at most MAX_THREADS threads per kernel (createBackend checks a given count).
    this.threads = opts.threads === undefined ? Math.min(info.hardwareThreads, MAX_THREADS) : expectInt('threads', opts.threads);
  }

  private d(t: Tensor, what: string): Float32Array {
    return this.host(t, what).data;
  }

  gemm(a: Tensor, b: Tensor, c: Tensor, opts: GemmOptions = {}): void {
    const g = checkGemm(a, b, c, opts);
    this.native.gemm(
      this.d(a, 'gemm A'),
      this.d(b, 'gemm B'),
      this.d(c, 'gemm C'),
      opts.bias ? this.d(opts.bias, 'gemm bias') : null,
      g.m,
      g.n,
      g.k,
      g.transA,
      g.transB,
      g.alpha,
      g.beta,
      ACTIVATIONS.indexOf(g.activation),
      this.threads,
    );
  }

  activationForward(kind: Activation, x: Tensor, y: Tensor): void {
    checkActivation(kind);
    checkSameSize('activationForward', x, y);
    this.native.activationForward(ACTIVATIONS.indexOf(kind), this.d(x, 'activation x'), this.d(y, 'activation y'), this.threads);
  }

  activationBackward(kind: Activation, y: Tensor, dy: Tensor, dx: Tensor, x?: Tensor | null): void {
    checkActivation(kind);
    if (kind === 'gelu' && !x) throw new ValueError('activationBackward: gelu needs the input x');
    checkSameSize('activationBackward', y, dy, dx, x);
    this.native.activationBackward(
      ACTIVATIONS.indexOf(kind),
      this.d(y, 'activation y'),
      this.d(dy, 'activation dy'),
      this.d(dx, 'activation dx'),
      x ? this.d(x, 'activation x') : null,
      this.threads,
    );
  }

  biasGrad(dy: Tensor, db: Tensor): void {
    const [rows, cols] = checkBiasGrad(dy, db);
    this.native.biasBackward(this.d(dy, 'biasGrad dy'), this.d(db, 'biasGrad db'), rows, cols, this.threads);
  }

  add(a: Tensor, b: Tensor, out: Tensor): void {
    checkSameSize('add', a, b, out);
    this.native.add(this.d(a, 'add a'), this.d(b, 'add b'), this.d(out, 'add out'), this.threads);
  }

  mul(a: Tensor, b: Tensor, out: Tensor): void {
    checkSameSize('mul', a, b, out);
    this.native.mul(this.d(a, 'mul a'), this.d(b, 'mul b'), this.d(out, 'mul out'), this.threads);
  }

  dropoutForward(x: Tensor, y: Tensor, mask: Tensor, p: number, seed: number): void {
    checkDropout(x, y, mask, p, seed);
    this.native.dropoutForward(this.d(x, 'dropout x'), this.d(y, 'dropout y'), this.d(mask, 'dropout mask'), p, seed, this.threads);
  }

  headsForward(x: Tensor, w: Tensor, b: Tensor, y: Tensor, layout: HeadLayout, activation: Activation = 'none'): void {
    const n = checkHeads(x, w, b, y, layout);
    checkActivation(activation);
    this.native.headsForward(
      packedOf(layout),
      this.d(x, 'heads x'),
      this.d(w, 'heads w'),
      this.d(b, 'heads b'),
      this.d(y, 'heads y'),
      n,
      ACTIVATIONS.indexOf(activation),
      this.threads,
    );
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
    this.native.headsBackward(
      packedOf(layout),
      this.d(x, 'heads x'),
      this.d(w, 'heads w'),
      this.d(dy, 'heads dy'),
      dx ? this.d(dx, 'heads dx') : null,
      this.d(dw, 'heads dw'),
      this.d(db, 'heads db'),
      perTaskDx ? this.d(perTaskDx, 'heads perTaskDx') : null,
      n,
      this.threads,
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
    const tg = this.d(targets, 'multiLoss targets');
    const bad = this.native.multiLoss(
      packedOf(layout),
      this.d(logits, 'multiLoss logits'),
      tg,
      mask ? this.d(mask, 'multiLoss mask') : null,
      this.d(weights, 'multiLoss weights'),
      this.d(losses, 'multiLoss losses'),
      this.d(dlogits, 'multiLoss dlogits'),
      n,
      layout.totalOut,
      layout.totalTgt,
      this.threads,
    );
    if (bad >= 0) {
      const t = Math.floor(bad / n);
      const i = bad % n;
      const seg = layout.segments[t];
      const y = tg[i * layout.totalTgt + seg.tgtOffset];
      throw new LabelError(`multiLoss: task ${t} sample ${i} has class ${y}, expected an integer in [0, ${seg.outWidth})`);
    }
  }

  conv2dForward(x: Tensor, w: Tensor, b: Tensor | null, y: Tensor, geo: Conv2dGeometry, activation: Activation = 'none'): void {
    const n = checkConv2d(x, w, b, y, geo);
    checkActivation(activation);
    this.native.conv2dForward(
      packedOf(geo),
      this.d(x, 'conv2d x'),
      this.d(w, 'conv2d w'),
      b ? this.d(b, 'conv2d b') : null,
      this.d(y, 'conv2d y'),
      n,
      ACTIVATIONS.indexOf(activation),
      this.threads,
    );
  }

  conv2dBackward(x: Tensor, w: Tensor, dy: Tensor, dx: Tensor | null, dw: Tensor, db: Tensor | null, geo: Conv2dGeometry): void {
    const n = checkConv2d(x, w, db, dy, geo, dx);
    checkSameSize('conv2dBackward w/dw', w, dw);
    this.native.conv2dBackward(
      packedOf(geo),
      this.d(x, 'conv2d x'),
      this.d(w, 'conv2d w'),
      this.d(dy, 'conv2d dy'),
      dx ? this.d(dx, 'conv2d dx') : null,
      this.d(dw, 'conv2d dw'),
      db ? this.d(db, 'conv2d db') : null,
      n,
      this.threads,
    );
  }

  maxPool2dForward(x: Tensor, y: Tensor, argmax: Tensor, geo: Pool2dGeometry): void {
    const n = checkPool2d(x, y, argmax, geo);
    this.native.maxPool2dForward(packedOf(geo), this.d(x, 'maxPool2d x'), this.d(y, 'maxPool2d y'), this.d(argmax, 'maxPool2d argmax'), n, this.threads);
  }

  maxPool2dBackward(dy: Tensor, argmax: Tensor, dx: Tensor, geo: Pool2dGeometry): void {
    const n = checkPool2d(dx, dy, argmax, geo);
    this.native.maxPool2dBackward(packedOf(geo), this.d(dy, 'maxPool2d dy'), this.d(argmax, 'maxPool2d argmax'), this.d(dx, 'maxPool2d dx'), n, this.threads);
  }

  dropout2dForward(x: Tensor, y: Tensor, mask: Tensor, p: number, seed: number): void {
    checkDropout(x, y, x, p, seed);
    const [rows, plane] = checkChannels(x, mask, y);
    this.native.dropout2dForward(this.d(x, 'dropout2d x'), this.d(y, 'dropout2d y'), this.d(mask, 'dropout2d mask'), rows, plane, p, seed, this.threads);
  }

  scaleChannels(x: Tensor, s: Tensor, out: Tensor): void {
    const [rows, plane] = checkChannels(x, s, out);
    this.native.scaleChannels(this.d(x, 'scaleChannels x'), this.d(s, 'scaleChannels s'), this.d(out, 'scaleChannels out'), rows, plane, this.threads);
  }

  mixtureForward(x: Tensor, z: Tensor, g: Tensor, out: Tensor, layout: MixtureLayout): void {
    const n = checkMixture(x, z, g, out, layout);
    const [X, Z, G, O] = [this.d(x, 'mixture x'), this.d(z, 'mixture z'), this.d(g, 'mixture g'), this.d(out, 'mixture out')];
    this.native.mixtureForward(packedOf(layout), X, Z, G, O, n, this.threads);
  }

  mixtureBackward(x: Tensor, g: Tensor, dOut: Tensor, dx: Tensor, dz: Tensor, layout: MixtureLayout): void {
    const n = checkMixture(x, dz, g, dOut, layout);
    checkSameSize('mixtureBackward x/dx', x, dx);
    const [X, G, DO] = [this.d(x, 'mixture x'), this.d(g, 'mixture g'), this.d(dOut, 'mixture dOut')];
    this.native.mixtureBackward(packedOf(layout), X, G, DO, this.d(dx, 'mixture dx'), this.d(dz, 'mixture dz'), n, this.threads);
  }

  gradDrop(g: Tensor, out: Tensor, seed: number, leak: number): void {
    const [T, M] = checkGradDrop(g, out, seed, leak);
    this.native.gradDrop(this.d(g, 'gradDrop g'), this.d(out, 'gradDrop out'), T, M, seed, leak, this.threads);
  }

  sgdStep(p: Tensor, g: Tensor, m: Tensor, opts: SgdOptions): void {
    checkSameSize('sgdStep', p, g, m);
    const o = checkSgd(opts);
    this.native.sgdStep(this.d(p, 'sgd p'), this.d(g, 'sgd g'), this.d(m, 'sgd m'), o.lr, o.momentum, o.weightDecay, o.nesterov, this.threads);
  }

  adamwStep(p: Tensor, g: Tensor, m: Tensor, v: Tensor, opts: AdamWOptions): void {
    checkSameSize('adamwStep', p, g, m, v);
    const c = adamwCoefficients(opts);
    const [P, G, M, V] = [this.d(p, 'adamw p'), this.d(g, 'adamw g'), this.d(m, 'adamw m'), this.d(v, 'adamw v')];
    this.native.adamwStep(P, G, M, V, c.decay, c.beta1, c.oneMinusBeta1, c.beta2, c.oneMinusBeta2, c.eps, c.stepSize, c.invBias2, this.threads);
  }
}
