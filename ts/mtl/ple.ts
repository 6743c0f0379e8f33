/**
 * Progressive Layered Extraction (Tang et al. 2020): L levels of customized gate control.
 * Level l has S shared experts and P experts per task, each built from the trunk spec.
 * - Task t's experts read task t's representation from the level below (the input x at level
 *   0); shared experts read the shared representation (x at level 0).
 * - Task t's gate, on task t's representation, mixes the shared experts and its own; below the
 *   top level a shared gate, on the shared representation, mixes every expert and gives the
 *   next level's shared representation.
 * Representations are stacked (block t for task t, block T for the shared one), so a level's
 * gates are one fused heads op over a stacked input (a shared input at level 0) and its gated
 * sums one fused `mixtureForward`, the shared gate being one more "task" of the mixture.
 * With one level, PLE is CGC.
 */
import { type Backend, HeadLayout, MixtureLayout, type Tensor } from '../backends/backend.js';
import { ConfigError, ValueError, expectInt } from '../errors.js';
import { BatchBuffer, type StepContext, tensorSize } from '../nn/layer.js';
import type { Parameter, ParameterStore } from '../nn/parameters.js';
import type { Sequential } from '../nn/sequential.js';
import type { Body, BodyContext } from './sharing/body.js';
import { expertCount } from './experts.js';
import { StackedViews, checkedStackStride, stackStride } from './stacked.js';

export interface PleOptions {
  levels: number;
  shared: number;
  perTask: number;
}

interface Level {
  experts: Sequential[];
  /** Which representation of the level below each expert reads: t for task t, T for shared. */
  reads: number[];
  gates: HeadLayout;
  gateWeight: Parameter;
  gateBias: Parameter;
  mixture: MixtureLayout;
  stacked: Tensor;
  dStacked: Tensor;
  out: Tensor;
  dOut: Tensor;
  z: BatchBuffer;
  g: BatchBuffer;
  dz: BatchBuffer;
  /** What the gates read and where their input gradient goes (levels above 0): the blocks of
   * the level below that have a gate here (all but the shared one at the top level). */
  gateIn: Tensor | null;
  gateDx: Tensor | null;
  /** The input the level read in the last forward. */
  input: Tensor | null;
}

/**
 * The bias of a shared gate's entry for an expert added by MultiTaskModel.extend: exp(−1e30 − max)
 * is exactly 0 in float32, so the entry takes no share and gets no gradient.
 */
export const CLOSED_GATE = -1e30;

/** PLE levels at most (each is a full set of experts; more would never train). */
export const MAX_LEVELS = 64;

export class PleBody implements Body {
  readonly width: number;
  private readonly stride: number;
  private readonly levels: Level[];
  private backend!: Backend;
  private views!: StackedViews;
  private readonly kind: string;

  constructor(
    ctx: BodyContext,
    readonly options: PleOptions,
  ) {
    const { tasks, params, inputShape, maxBatch } = ctx;
    this.kind = ctx.kind;
    const featureSize = inputShape.reduce((a, b) => a * b, 1);
    const L = expectInt('sharing.levels', options.levels);
    const S = expectInt('sharing.shared', options.shared, 0);
    const P = expectInt('sharing.perTask', options.perTask, 0);
    if (S < 1) throw new ConfigError('PLE needs at least one shared expert per level (sharing.shared ≥ 1)');
    if (L > MAX_LEVELS) throw new ValueError(`Expected at most ${MAX_LEVELS} for sharing.levels but received ${L}`);
    const T = tasks.length;
    expertCount('ple', S, P, T);
    let inWidth = featureSize;
    let width = 0;
    this.levels = [];
    for (let l = 0; l < L; l++) {
      const top = l === L - 1;
      const reads = [...Array<number>(S).fill(T), ...tasks.flatMap((_, t) => Array<number>(P).fill(t))];
      const names = [
        ...Array.from({ length: S }, (_, i) => `ple.${l}.shared.${i}`),
        ...tasks.flatMap((t) => Array.from({ length: P }, (_, i) => `ple.${l}.${t.name}.${i}`)),
      ];
      const experts = names.map(() => ctx.layers());
      const shapes = experts.map((e, i) => e.build({ params, prefix: names[i], maxBatch }, l === 0 ? inputShape : [inWidth]));
      if (shapes[0].length !== 1) throw new ConfigError(`PLE experts must end in a flat feature vector, got [${shapes[0].join(', ')}]`);
      width = shapes[0][0];
      const shared = Array.from({ length: S }, (_, i) => i);
      const expertsOf = tasks.map((_, t) => [...shared, ...Array.from({ length: P }, (_, i) => S + t * P + i)]);
      if (!top) expertsOf.push(experts.map((_, e) => e));
      const gatesN = expertsOf.length;
      const inStride = stackStride(maxBatch, inWidth); // checked at the level below
      tensorSize([maxBatch, expertsOf.reduce((n, list) => n + list.length, 0)], `sharing (ple): the gates of level ${l} for maxBatch ${maxBatch}`);
      const gates = new HeadLayout(
        l === 0 ? 'shared' : 'stacked',
        Array<number>(gatesN).fill(inWidth),
        expertsOf.map((list) => list.length),
        l === 0 ? 0 : inStride,
      );
      const gateNames = [...tasks.map((t) => t.name), 'shared'];
      const gateWeight = params.add(
        `ple.${l}.gates.weight`,
        [gates.weightSize],
        { kind: 'lecun', fanIn: inWidth },
        expertsOf.map((list, g) => ({ name: `ple.${l}.gates.${gateNames[g]}.weight`, offset: gates.weightOffsets[g], shape: [list.length, inWidth] })),
      );
      const gateBias = params.add(
        `ple.${l}.gates.bias`,
        [gates.totalOut],
        { kind: 'zeros' },
        expertsOf.map((list, g) => ({ name: `ple.${l}.gates.${gateNames[g]}.bias`, offset: gates.outOffsets[g], shape: [list.length] })),
      );
      const stride = checkedStackStride(Math.max(experts.length, T + 1), maxBatch, width, `sharing (ple): the stacked experts of level ${l}`);
      const mixture = new MixtureLayout(expertsOf, experts.length, width, stride, stride);
      this.levels.push({ experts, reads, gates, gateWeight, gateBias, mixture, gateIn: null, gateDx: null, input: null } as unknown as Level);
      inWidth = width;
    }
    this.width = width;
    this.stride = stackStride(maxBatch, width);
  }

  /** Elements between consecutive blocks of the stacked output (what the heads read). */
  get stackStride(): number {
    return this.stride;
  }

  allocate(backend: Backend, maxBatch: number): void {
    this.backend = backend;
    this.views = new StackedViews(backend);
    for (const lv of this.levels) {
      for (const e of lv.experts) e.allocate(backend, maxBatch);
      const m = lv.mixture;
      lv.stacked = backend.alloc([m.experts * m.expertStride]);
      lv.dStacked = backend.alloc([m.experts * m.expertStride]);
      lv.out = backend.alloc([m.tasks * m.outStride]);
      lv.dOut = backend.alloc([m.tasks * m.outStride]);
      lv.z = new BatchBuffer(backend, maxBatch, [m.gateWidth]);
      lv.g = new BatchBuffer(backend, maxBatch, [m.gateWidth]);
      lv.dz = new BatchBuffer(backend, maxBatch, [m.gateWidth]);
    }
    this.levels.forEach((lv, l) => {
      if (l === 0) return;
      const below = this.levels[l - 1];
      const size = [lv.gates.inputSize(maxBatch)];
      lv.gateIn = backend.view(below.out, 0, size);
      lv.gateDx = backend.view(below.dOut, 0, size);
    });
  }

  private blocks(base: Tensor, count: number, stride: number, width: number, n: number): Tensor[] {
    return this.views.blocks(base, count, stride, width, n);
  }

  /** The inputs of level l's experts (x at level 0, else blocks of the level below). */
  private expertInputs(l: number, x: Tensor, n: number): Tensor[] {
    const lv = this.levels[l];
    if (l === 0) return lv.experts.map(() => x);
    const below = this.levels[l - 1].mixture;
    const blocks = this.blocks(this.levels[l - 1].out, below.tasks, below.outStride, below.width, n);
    return lv.reads.map((r) => blocks[r]);
  }

  /** The stacked task representations of the top level, for x [n, F]. */
  forward(x: Tensor, n: number, step: StepContext): Tensor {
    const be = this.backend;
    this.levels.forEach((lv, l) => {
      const m = lv.mixture;
      const inputs = this.expertInputs(l, x, n);
      const s = this.blocks(lv.stacked, m.experts, m.expertStride, m.width, n);
      for (let i = 0; i < lv.experts.length; i++) lv.experts[i].forwardInto(inputs[i], n, step, s[i]); // each expert writes its block (dense: no copy)
      lv.input = l === 0 ? x : lv.gateIn!;
      const z = lv.z.rows(n);
      be.headsForward(lv.input, lv.gateWeight.value, lv.gateBias.value, z, lv.gates);
      be.mixtureForward(lv.stacked, z, lv.g.rows(n), lv.out, m);
    });
    return this.levels.at(-1)!.out;
  }

  /** Backward from the stacked dL/d(top task representations); with dx, dL/dx through level 0's gates and experts (=). */
  backward(dOut: Tensor, n: number, dx: Tensor | null = null): void {
    const be = this.backend;
    let d = dOut;
    for (let l = this.levels.length - 1; l >= 0; l--) {
      const lv = this.levels[l];
      const m = lv.mixture;
      const dz = lv.dz.rows(n);
      be.mixtureBackward(lv.stacked, lv.g.rows(n), d, lv.dStacked, dz, m);
      const below = l > 0 ? this.levels[l - 1] : null;
      // The level's input gradient: the gates' part (=, every block they read), then each
      // expert's part added to the block it read. The shared block may have no gate reading it.
      if (below) be.fill(below.dOut, 0);
      be.headsBackward(lv.input!, lv.gateWeight.value, dz, below ? lv.gateDx : dx, lv.gateWeight.grad, lv.gateBias.grad, lv.gates);
      const ds = this.blocks(lv.dStacked, m.experts, m.expertStride, m.width, n);
      const into = below ? this.blocks(below.dOut, below.mixture.tasks, below.mixture.outStride, below.mixture.width, n) : null;
      for (let i = 0; i < lv.experts.length; i++) {
        // Added into the block it read (level 0: x's gradient), by a dense first layer's GEMM itself.
        const target = into ? into[lv.reads[i]] : dx;
        if (target) lv.experts[i].backwardAccumulate(ds[i], n, target);
        else lv.experts[i].backward(ds[i], n, false);
      }
      if (below) d = below.dOut;
    }
  }

  /**
   * The grown shared gates of the levels below the top (MultiTaskModel.extend): they mix every
   * expert, so they gain the new tasks' experts (appended after the old ones). The old rows keep
   * their values; the new rows get weight 0 and bias {@link CLOSED_GATE}, so the new experts
   * receive exactly 0 of the shared representation and the old tasks' outputs are unchanged.
   * Their softmax gradient is then exactly 0 too, so they stay closed: the old tasks' shared
   * path never reads the new tasks' experts.
   */
  inherit(values: Float32Array, params: ParameterStore, old: Float32Array, oldParams: ParameterStore, grown: ReadonlySet<string>): Set<string> {
    const done = new Set<string>();
    this.levels.forEach((_, l) => {
      for (const what of ['weight', 'bias']) {
        const name = `ple.${l}.gates.shared.${what}`;
        const from = oldParams.partRange(name);
        const to = params.partRange(name);
        if (!grown.has(name) || !from || !to) continue;
        const kept = from.end - from.start;
        values.set(old.subarray(from.start, from.end), to.start);
        values.fill(what === 'bias' ? CLOSED_GATE : 0, to.start + kept, to.end);
        done.add(name);
      }
    });
    return done;
  }

  describe(): string {
    const { levels, shared, perTask } = this.options;
    return `${this.kind} sharing, ${levels} PLE level(s) of ${shared} shared + ${perTask} per-task experts, a softmax gate per task (and a shared one between levels): ${this.levels[0].experts[0].describe()}`;
  }
}
