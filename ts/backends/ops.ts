/**
 * The op table: every kernel method of the Backend contract written ONCE, as validation (the
 * check* functions of validate.ts), tensor unwrapping (each tensor named for errors as
 * '<op> <argument>', e.g. 'gemm A') and one call into the backend's {@link Kernels}. A backend
 * extends {@link KernelBackend} with its tensor handle T (a Float32Array on the host, a device
 * range for cuda, a GpuTensor for webgpu) and provides its kernels; it writes no check and no
 * unwrap of its own. Nothing here runs on the device or allocates device memory.
 *
 * A backend whose kernels have limits of their own, beyond the contract (the cuda mixture
 * kernels keep a layout of at most 32 tasks in their launch parameters, say), declares them
 * once as {@link KernelCapabilities}; the op table checks them after the contract's checks and
 * before the kernel runs, and throws {@link CapabilityError} (a ShapeError) naming the backend,
 * the op and the limit, instead of a generic device error or a wrong result.
 */
import { CapabilityError, ValueError } from '../errors.js';
import type {
  Activation,
  AdamWOptions,
  Backend,
  Conv2dGeometry,
  EmbeddingLayout,
  GemmOptions,
  HeadLayout,
  LossLayout,
  MixtureLayout,
  Pool2dGeometry,
  SgdOptions,
  Tensor,
} from './backend.js';
import {
  type AdamWCoefficients,
  type GemmDims,
  type SgdParams,
  adamwCoefficients,
  checkActivation,
  checkBiasGrad,
  checkChannels,
  checkConv2d,
  checkDropout,
  checkEmbedding,
  checkGemm,
  checkGradDrop,
  checkHeads,
  checkMixture,
  checkMultiLoss,
  checkPerSampleLosses,
  checkOptimizerNumber,
  checkPool2d,
  checkSameSize,
  checkSgd,
} from './validate.js';

/**
 * One backend's kernels, called by the op table after every argument was checked: tensors are
 * unwrapped to the backend's handle T (null where the contract makes one optional), sizes are
 * derived (n = the batch, or the element count of elementwise ops), options have their
 * defaults. The meaning of each is the Backend method of the same name.
 */
export interface Kernels<T> {
  gemm(a: T, b: T, c: T, bias: T | null, d: GemmDims): void;
  activationForward(kind: Activation, x: T, y: T, n: number): void;
  activationBackward(kind: Activation, y: T, dy: T, dx: T, x: T | null, n: number): void;
  biasGrad(dy: T, db: T, rows: number, cols: number): void;
  add(a: T, b: T, out: T, n: number): void;
  mul(a: T, b: T, out: T, n: number): void;
  /** seed is a uint32; p in [0, 1). */
  dropoutForward(x: T, y: T, mask: T, n: number, p: number, seed: number): void;
  headsForward(x: T, w: T, b: T, y: T, layout: HeadLayout, n: number, activation: Activation): void;
  headsBackward(x: T, w: T, dy: T, dx: T | null, dw: T, db: T, perTaskDx: T | null, layout: HeadLayout, n: number): void;
  multiLoss(logits: T, targets: T, mask: T | null, weights: T, losses: T, dlogits: T, layout: LossLayout, n: number): void;
  perSampleLosses(logits: T, targets: T, mask: T | null, out: T, layout: LossLayout, n: number): void;
  conv2dForward(x: T, w: T, b: T | null, y: T, geo: Conv2dGeometry, n: number, activation: Activation): void;
  conv2dBackward(x: T, w: T, dy: T, dx: T | null, dw: T, db: T | null, geo: Conv2dGeometry, n: number): void;
  maxPool2dForward(x: T, y: T, argmax: T, geo: Pool2dGeometry, n: number): void;
  maxPool2dBackward(dy: T, argmax: T, dx: T, geo: Pool2dGeometry, n: number): void;
  /** rows = N·C; p in [0, 1); seed a uint32. */
  dropout2dForward(x: T, y: T, mask: T, rows: number, plane: number, p: number, seed: number): void;
  scaleChannels(x: T, s: T, out: T, rows: number, plane: number): void;
  gradDrop(g: T, out: T, tasks: number, m: number, seed: number, leak: number): void;
  mixtureForward(x: T, z: T, g: T, out: T, layout: MixtureLayout, n: number): void;
  mixtureBackward(x: T, g: T, dOut: T, dx: T, dz: T, layout: MixtureLayout, n: number): void;
  sgdStep(p: T, g: T, m: T, n: number, o: SgdParams): void;
  adamwStep(p: T, g: T, m: T, v: T, n: number, c: AdamWCoefficients): void;
  ewcPenalty(p: T, anchor: T, fisher: T, g: T, n: number, lambda: number): void;
  embeddingForward(x: T, table: T, out: T, layout: EmbeddingLayout, n: number): void;
  embeddingBackward(x: T, dOut: T, dTable: T, layout: EmbeddingLayout, n: number): void;
  embeddingSgdStep(x: T, table: T, dTable: T, layout: EmbeddingLayout, lr: number, n: number): void;
}

/** The Backend methods that are kernels (the op table's rows). */
export type KernelMethod = keyof Kernels<unknown>;

/**
 * One limit of a backend's kernel: `measure` reads the limited quantity from the kernel's
 * arguments (as {@link Kernels} receives them: checked, unwrapped, sizes derived), which must
 * be at most `max`.
 */
export interface KernelLimit<K extends KernelMethod> {
  /** What is limited, as the error names it: 'tasks in the layout'. */
  readonly what: string;
  readonly max: number;
  readonly measure: (...args: Parameters<Kernels<unknown>[K]>) => number;
}

/**
 * What a backend's kernels can run, declared once per backend (absent: everything the contract
 * allows): its limits per op, and the ops it does not run at all (their {@link Kernels} entries
 * are never called). The op table throws {@link CapabilityError} before a call beyond them.
 */
export interface KernelCapabilities {
  readonly limits?: { readonly [K in KernelMethod]?: readonly KernelLimit<K>[] };
  readonly unsupported?: readonly KernelMethod[];
}

/**
 * `kernels` with `caps` checked before each call they restrict; the other entries are the
 * kernels' own (through the prototype, so a class's methods keep working), unchanged in speed.
 */
function withCapabilities<T>(backend: string, kernels: Kernels<T>, caps: KernelCapabilities): Kernels<T> {
  const out = Object.create(kernels) as Record<KernelMethod, (...args: unknown[]) => void>;
  for (const op of Object.keys(caps.limits ?? {}) as KernelMethod[]) {
    const limits = caps.limits![op] as readonly KernelLimit<KernelMethod>[];
    const run = kernels[op] as (...args: unknown[]) => void;
    out[op] = function (this: unknown, ...args: unknown[]): void {
      for (const l of limits) {
        const v = (l.measure as (...a: unknown[]) => number)(...args);
        if (v > l.max) throw new CapabilityError(backend, op, `supports at most ${l.max} ${l.what} (got ${v})`);
      }
      run.apply(this, args);
    };
  }
  for (const op of caps.unsupported ?? []) {
    out[op] = (): void => {
      throw new CapabilityError(backend, op, 'does not support this op');
    };
  }
  return out as unknown as Kernels<T>;
}

/**
 * The kernel half of a Backend, over the backend's tensor handle T: each method checks its
 * arguments, unwraps its tensors with {@link unwrap}, and calls {@link kernels} (behind the
 * backend's declared {@link capabilities}, when it has any).
 */
export abstract class KernelBackend<T> implements Pick<Backend, KernelMethod> {
  /** The backend's kernels (the only per-backend part of a kernel call). @internal */
  protected abstract readonly kernels: Kernels<T>;
  /** The backend's limits and missing ops, when it has any (checked before its kernels run). @internal */
  protected readonly capabilities?: KernelCapabilities;
  private checked: Kernels<T> | null = null;

  /** The kernels, behind the checks of {@link capabilities} (built on first use). */
  private get run(): Kernels<T> {
    const caps = this.capabilities;
    // Every KernelBackend is a Backend (the subclass adds the tensors and the name).
    return (this.checked ??= caps ? withCapabilities((this as unknown as Backend).name, this.kernels, caps) : this.kernels);
  }
  /**
   * A profiler's hook (bench/breakdown.ts): until the returned function is called, every kernel
   * call runs as `wrap(op, args, run)`, where `run()` is the kernel itself (after the checks and
   * the unwrapping; `args` as {@link Kernels} receives them). Normal runs never install one.
   * @internal
   */
  hookKernels(wrap: (op: KernelMethod, args: readonly unknown[], run: () => void) => void): () => void {
    const own = this.run as unknown as Record<KernelMethod, (...a: unknown[]) => void>;
    const hooked = Object.create(own) as Record<KernelMethod, (...a: unknown[]) => void>;
    for (const op of Object.keys(this.kernels) as KernelMethod[]) {
      hooked[op] = (...args: unknown[]): void => wrap(op, args, () => own[op](...args));
    }
    this.checked = hooked as unknown as Kernels<T>;
    return () => {
      this.checked = null;
    };
  }

  /** The handle behind `t`, after checking that this backend owns it and it is alive. @internal */
  protected abstract unwrap(t: Tensor, what: string): T;

  private opt(t: Tensor | null | undefined, what: string): T | null {
    return t ? this.unwrap(t, what) : null;
  }

  gemm(a: Tensor, b: Tensor, c: Tensor, opts: GemmOptions = {}): void {
    const d = checkGemm(a, b, c, opts);
    this.run.gemm(this.unwrap(a, 'gemm A'), this.unwrap(b, 'gemm B'), this.unwrap(c, 'gemm C'), this.opt(opts.bias, 'gemm bias'), d);
  }

  activationForward(kind: Activation, x: Tensor, y: Tensor): void {
    checkActivation(kind);
    const n = checkSameSize('activationForward', x, y);
    this.run.activationForward(kind, this.unwrap(x, 'activation x'), this.unwrap(y, 'activation y'), n);
  }

  activationBackward(kind: Activation, y: Tensor, dy: Tensor, dx: Tensor, x?: Tensor | null): void {
    checkActivation(kind);
    if (kind === 'gelu' && !x) throw new ValueError('activationBackward: gelu needs the input x');
    const n = checkSameSize('activationBackward', y, dy, dx, x);
    const [Y, DY, DX] = [this.unwrap(y, 'activation y'), this.unwrap(dy, 'activation dy'), this.unwrap(dx, 'activation dx')];
    this.run.activationBackward(kind, Y, DY, DX, this.opt(x, 'activation x'), n);
  }

  biasGrad(dy: Tensor, db: Tensor): void {
    const [rows, cols] = checkBiasGrad(dy, db);
    this.run.biasGrad(this.unwrap(dy, 'biasGrad dy'), this.unwrap(db, 'biasGrad db'), rows, cols);
  }

  add(a: Tensor, b: Tensor, out: Tensor): void {
    const n = checkSameSize('add', a, b, out);
    this.run.add(this.unwrap(a, 'add a'), this.unwrap(b, 'add b'), this.unwrap(out, 'add out'), n);
  }

  mul(a: Tensor, b: Tensor, out: Tensor): void {
    const n = checkSameSize('mul', a, b, out);
    this.run.mul(this.unwrap(a, 'mul a'), this.unwrap(b, 'mul b'), this.unwrap(out, 'mul out'), n);
  }

  dropoutForward(x: Tensor, y: Tensor, mask: Tensor, p: number, seed: number): void {
    const n = checkDropout(x, y, mask, p, seed);
    const [X, Y, M] = [this.unwrap(x, 'dropout x'), this.unwrap(y, 'dropout y'), this.unwrap(mask, 'dropout mask')];
    this.run.dropoutForward(X, Y, M, n, p, seed >>> 0);
  }

  headsForward(x: Tensor, w: Tensor, b: Tensor, y: Tensor, layout: HeadLayout, activation: Activation = 'none'): void {
    const n = checkHeads(x, w, b, y, layout);
    checkActivation(activation);
    this.run.headsForward(this.unwrap(x, 'heads x'), this.unwrap(w, 'heads w'), this.unwrap(b, 'heads b'), this.unwrap(y, 'heads y'), layout, n, activation);
  }

  headsBackward(x: Tensor, w: Tensor, dy: Tensor, dx: Tensor | null, dw: Tensor, db: Tensor, layout: HeadLayout, perTaskDx: Tensor | null = null): void {
    const n = checkHeads(x, w, db, dy, layout, perTaskDx);
    checkSameSize('headsBackward w/dw', w, dw);
    if (dx) checkSameSize('headsBackward x/dx', x, dx);
    const [DX, PT] = [this.opt(dx, 'heads dx'), this.opt(perTaskDx, 'heads perTaskDx')];
    this.run.headsBackward(this.unwrap(x, 'heads x'), this.unwrap(w, 'heads w'), this.unwrap(dy, 'heads dy'), DX, this.unwrap(dw, 'heads dw'), this.unwrap(db, 'heads db'), PT, layout, n);
  }

  multiLoss(logits: Tensor, targets: Tensor, mask: Tensor | null, weights: Tensor, layout: LossLayout, losses: Tensor, dlogits: Tensor): void {
    const n = checkMultiLoss(logits, targets, mask, weights, layout, losses, dlogits);
    const [L, Y, M] = [this.unwrap(logits, 'multiLoss logits'), this.unwrap(targets, 'multiLoss targets'), this.opt(mask, 'multiLoss mask')];
    this.run.multiLoss(L, Y, M, this.unwrap(weights, 'multiLoss weights'), this.unwrap(losses, 'multiLoss losses'), this.unwrap(dlogits, 'multiLoss dlogits'), layout, n);
  }

  perSampleLosses(logits: Tensor, targets: Tensor, mask: Tensor | null, layout: LossLayout, out: Tensor): void {
    const n = checkPerSampleLosses(logits, targets, mask, layout, out);
    const [L, Y, M] = [this.unwrap(logits, 'perSampleLosses logits'), this.unwrap(targets, 'perSampleLosses targets'), this.opt(mask, 'perSampleLosses mask')];
    this.run.perSampleLosses(L, Y, M, this.unwrap(out, 'perSampleLosses out'), layout, n);
  }

  conv2dForward(x: Tensor, w: Tensor, b: Tensor | null, y: Tensor, geo: Conv2dGeometry, activation: Activation = 'none'): void {
    const n = checkConv2d(x, w, b, y, geo);
    checkActivation(activation);
    this.run.conv2dForward(this.unwrap(x, 'conv2d x'), this.unwrap(w, 'conv2d w'), this.opt(b, 'conv2d b'), this.unwrap(y, 'conv2d y'), geo, n, activation);
  }

  conv2dBackward(x: Tensor, w: Tensor, dy: Tensor, dx: Tensor | null, dw: Tensor, db: Tensor | null, geo: Conv2dGeometry): void {
    const n = checkConv2d(x, w, db, dy, geo, dx);
    checkSameSize('conv2dBackward w/dw', w, dw);
    const [DX, DB] = [this.opt(dx, 'conv2d dx'), this.opt(db, 'conv2d db')];
    this.run.conv2dBackward(this.unwrap(x, 'conv2d x'), this.unwrap(w, 'conv2d w'), this.unwrap(dy, 'conv2d dy'), DX, this.unwrap(dw, 'conv2d dw'), DB, geo, n);
  }

  maxPool2dForward(x: Tensor, y: Tensor, argmax: Tensor, geo: Pool2dGeometry): void {
    const n = checkPool2d(x, y, argmax, geo);
    this.run.maxPool2dForward(this.unwrap(x, 'maxPool2d x'), this.unwrap(y, 'maxPool2d y'), this.unwrap(argmax, 'maxPool2d argmax'), geo, n);
  }

  maxPool2dBackward(dy: Tensor, argmax: Tensor, dx: Tensor, geo: Pool2dGeometry): void {
    const n = checkPool2d(dx, dy, argmax, geo);
    this.run.maxPool2dBackward(this.unwrap(dy, 'maxPool2d dy'), this.unwrap(argmax, 'maxPool2d argmax'), this.unwrap(dx, 'maxPool2d dx'), geo, n);
  }

  dropout2dForward(x: Tensor, y: Tensor, mask: Tensor, p: number, seed: number): void {
    checkDropout(x, y, x, p, seed);
    const [rows, plane] = checkChannels(x, mask, y);
    const [X, Y, M] = [this.unwrap(x, 'dropout2d x'), this.unwrap(y, 'dropout2d y'), this.unwrap(mask, 'dropout2d mask')];
    this.run.dropout2dForward(X, Y, M, rows, plane, p, seed >>> 0);
  }

  scaleChannels(x: Tensor, s: Tensor, out: Tensor): void {
    const [rows, plane] = checkChannels(x, s, out);
    this.run.scaleChannels(this.unwrap(x, 'scaleChannels x'), this.unwrap(s, 'scaleChannels s'), this.unwrap(out, 'scaleChannels out'), rows, plane);
  }

  gradDrop(g: Tensor, out: Tensor, seed: number, leak: number): void {
    const [tasks, m] = checkGradDrop(g, out, seed, leak);
    this.run.gradDrop(this.unwrap(g, 'gradDrop g'), this.unwrap(out, 'gradDrop out'), tasks, m, seed >>> 0, leak);
  }

  mixtureForward(x: Tensor, z: Tensor, g: Tensor, out: Tensor, layout: MixtureLayout): void {
    const n = checkMixture(x, z, g, out, layout);
    this.run.mixtureForward(this.unwrap(x, 'mixture x'), this.unwrap(z, 'mixture z'), this.unwrap(g, 'mixture g'), this.unwrap(out, 'mixture out'), layout, n);
  }

  mixtureBackward(x: Tensor, g: Tensor, dOut: Tensor, dx: Tensor, dz: Tensor, layout: MixtureLayout): void {
    const n = checkMixture(x, dz, g, dOut, layout);
    checkSameSize('mixtureBackward x/dx', x, dx);
    this.run.mixtureBackward(this.unwrap(x, 'mixture x'), this.unwrap(g, 'mixture g'), this.unwrap(dOut, 'mixture dOut'), this.unwrap(dx, 'mixture dx'), this.unwrap(dz, 'mixture dz'), layout, n);
  }

  sgdStep(p: Tensor, g: Tensor, m: Tensor, opts: SgdOptions): void {
    const n = checkSameSize('sgdStep', p, g, m);
    const o = checkSgd(opts);
    this.run.sgdStep(this.unwrap(p, 'sgd p'), this.unwrap(g, 'sgd g'), this.unwrap(m, 'sgd m'), n, o);
  }

  adamwStep(p: Tensor, g: Tensor, m: Tensor, v: Tensor, opts: AdamWOptions): void {
    const n = checkSameSize('adamwStep', p, g, m, v);
    const c = adamwCoefficients(opts);
    this.run.adamwStep(this.unwrap(p, 'adamw p'), this.unwrap(g, 'adamw g'), this.unwrap(m, 'adamw m'), this.unwrap(v, 'adamw v'), n, c);
  }

  ewcPenalty(p: Tensor, anchor: Tensor, fisher: Tensor, g: Tensor, lambda: number): void {
    const n = checkSameSize('ewcPenalty', p, anchor, fisher, g);
    const l = checkOptimizerNumber('ewcPenalty lambda', lambda, NaN);
    this.run.ewcPenalty(this.unwrap(p, 'ewcPenalty p'), this.unwrap(anchor, 'ewcPenalty anchor'), this.unwrap(fisher, 'ewcPenalty fisher'), this.unwrap(g, 'ewcPenalty g'), n, l);
  }

  embeddingForward(x: Tensor, table: Tensor, out: Tensor, layout: EmbeddingLayout): void {
    const n = checkEmbedding(x, table, out, layout, 'embeddingForward');
    this.run.embeddingForward(this.unwrap(x, 'embeddingForward x'), this.unwrap(table, 'embeddingForward table'), this.unwrap(out, 'embeddingForward out'), layout, n);
  }

  embeddingBackward(x: Tensor, dOut: Tensor, dTable: Tensor, layout: EmbeddingLayout): void {
    const n = checkEmbedding(x, dTable, dOut, layout, 'embeddingBackward');
    this.run.embeddingBackward(this.unwrap(x, 'embeddingBackward x'), this.unwrap(dOut, 'embeddingBackward dOut'), this.unwrap(dTable, 'embeddingBackward dTable'), layout, n);
  }

  embeddingSgdStep(x: Tensor, table: Tensor, dTable: Tensor, layout: EmbeddingLayout, lr: number): void {
    const n = checkEmbedding(x, table, null, layout, 'embeddingSgdStep');
    checkSameSize('embeddingSgdStep table/dTable', table, dTable);
    const rate = checkOptimizerNumber('embeddingSgdStep lr', lr, NaN);
    this.run.embeddingSgdStep(this.unwrap(x, 'embeddingSgdStep x'), this.unwrap(table, 'embeddingSgdStep table'), this.unwrap(dTable, 'embeddingSgdStep dTable'), layout, rate, n);
  }
}
