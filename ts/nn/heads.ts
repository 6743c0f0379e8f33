/**
 * The task heads of a hard-sharing model, all tasks at once. Each head is a linear layer or a
 * small MLP (the same hidden widths for every task); layer l of every head runs as ONE fused
 * `headsForward` over the tasks' packed weights: the first layer reads the shared trunk
 * output (one GEMM for all heads), later layers read each task's own segment. Checkpoints name
 * each task's blocks separately ("heads.left.0.weight" [out, in]). Each head layer is a dense
 * map, so its squared per-sample gradients (the diagonal Fisher's batch path) are one more
 * `headsBackward` over the squared input and the squared output gradient.
 */
import { type Activation, type Backend, HeadLayout, type Tensor } from '../backends/backend.js';
import { checkActivation } from '../backends/validate.js';
import { checkKeys } from '../core/options.js';
import { ConfigError, describe, expectNumber } from '../errors.js';
import { BatchBuffer, type BuildContext, type StepContext, expectDim, layerSeed, stringSeed, tensorSize } from './layer.js';
import type { SquaredGradientSource } from './dense.js';
import type { Parameter } from './parameters.js';

/** The shape of every task's head (ModelConfig.heads): the same hidden layers for each task, then its output layer. */
export interface HeadsConfig {
  /** Hidden layer widths of every task's head; [] (default) makes linear heads. */
  hidden?: readonly number[];
  /** Activation after each hidden layer (default relu). */
  activation?: Activation;
  /** Dropout after each hidden layer's activation (default 0). */
  dropout?: number;
}

interface HeadLevel {
  layout: HeadLayout;
  weight: Parameter;
  bias: Parameter;
  hidden: boolean;
  out: BatchBuffer;
  pre: BatchBuffer | null;
  mask: BatchBuffer | null;
  dropped: BatchBuffer | null;
  dx: BatchBuffer;
  /** Level 0 with stacked input: dx has x's fixed [T·stride] layout. */
  dxStacked: Tensor | null;
  input: Tensor | null;
  seedId: number;
}

/** A head layer's squared-gradient targets (views of the arena) and scratch squares. */
interface LevelSquares {
  weight: Tensor;
  bias: Tensor;
  /** x∘x: rows of the shared or segmented input, or the whole stacked input. */
  x2: BatchBuffer | Tensor;
  dy2: BatchBuffer;
}

export class Heads implements SquaredGradientSource {
  readonly hidden: readonly number[];
  readonly activation: Activation;
  readonly dropout: number;
  private levels: HeadLevel[] = [];
  private backend!: Backend;
  private dropoutActive = false;
  private maxBatch = 0;
  private squares: LevelSquares[] | null = null;

  constructor(
    readonly taskNames: readonly string[],
    readonly outSizes: readonly number[],
    config: HeadsConfig = {},
  ) {
    checkKeys(config, ['hidden', 'activation', 'dropout'], 'heads');
    const hidden = config.hidden ?? [];
    if (!Array.isArray(hidden)) throw new ConfigError(`Expected an array of layer widths for heads.hidden but received ${describe(hidden)}`);
    this.hidden = hidden.map((h, i) => expectDim(`heads.hidden[${i}]`, h));
    this.activation = checkActivation(config.activation ?? 'relu');
    if (this.hidden.length > 0 && this.activation === 'none') {
      throw new ConfigError('heads.activation "none" with hidden layers would make them linear; pick relu, gelu, tanh or sigmoid');
    }
    this.dropout = expectNumber('heads.dropout', config.dropout ?? 0, 0, 0.999);
  }

  describe(): string {
    const widths = [...this.hidden, 'K'].join('→');
    return `${this.taskNames.length} heads (${widths})`;
  }

  /** The first head layer's layout (shared or stacked input). */
  get inputLayout(): HeadLayout {
    return this.levels[0].layout;
  }

  /**
   * Declares the heads' parameters for inputs of width inSize: one representation shared by
   * every task, or (stackStride > 0) one per task, stacked at that stride (soft sharing).
   * ShapeError when a parameter or an activation buffer for maxBatch samples would not fit a
   * tensor.
   */
  build(params: BuildContext['params'], inSize: number, stackStride: number, maxBatch: number): void {
    const T = this.taskNames.length;
    let inSizes = Array<number>(T).fill(inSize);
    const widths = [...this.hidden.map((h) => Array<number>(T).fill(h)), [...this.outSizes]];
    this.levels = widths.map((outSizes, l) => {
      const input = l > 0 ? 'segmented' : stackStride > 0 ? 'stacked' : 'shared';
      const where = `heads (layer ${l})`;
      for (const width of [sum(outSizes), input === 'segmented' ? sum(inSizes) : inSizes[0]]) {
        tensorSize([maxBatch, width], `${where}: activations for maxBatch ${maxBatch}`);
      }
      const layout = new HeadLayout(input, inSizes, outSizes, input === 'stacked' ? stackStride : 0);
      const hidden = l < this.hidden.length;
      const wParts = this.taskNames.map((name, t) => ({
        name: `heads.${name}.${l}.weight`,
        offset: layout.weightOffsets[t],
        shape: [outSizes[t], inSizes[t]],
      }));
      const bParts = this.taskNames.map((name, t) => ({
        name: `heads.${name}.${l}.bias`,
        offset: layout.outOffsets[t],
        shape: [outSizes[t]],
      }));
      const fanIn = inSizes[0];
      const weight = params.add(
        `heads.${l}.weight`,
        [layout.weightSize],
        hidden && this.activation !== 'tanh' && this.activation !== 'sigmoid' ? { kind: 'he', fanIn } : { kind: 'lecun', fanIn },
        wParts,
        where,
      );
      const bias = params.add(`heads.${l}.bias`, [layout.totalOut], { kind: 'zeros' }, bParts, where);
      inSizes = outSizes;
      return { layout, weight, bias, hidden, seedId: stringSeed(`heads.${l}`) } as HeadLevel;
    });
  }

  allocate(backend: Backend, maxBatch: number): void {
    this.backend = backend;
    this.maxBatch = maxBatch;
    for (const lv of this.levels) {
      lv.out = new BatchBuffer(backend, maxBatch, [lv.layout.totalOut]);
      lv.pre = lv.hidden && this.activation === 'gelu' ? new BatchBuffer(backend, maxBatch, [lv.layout.totalOut]) : null;
      const drops = lv.hidden && this.dropout > 0;
      lv.mask = drops ? new BatchBuffer(backend, maxBatch, [lv.layout.totalOut]) : null;
      lv.dropped = drops ? new BatchBuffer(backend, maxBatch, [lv.layout.totalOut]) : null;
      lv.dx = new BatchBuffer(backend, maxBatch, [lv.layout.totalIn]);
      lv.dxStacked = lv.layout.input === 'stacked' ? backend.alloc([lv.layout.inputSize(maxBatch)]) : null;
    }
  }

  /** Logits [n, Σ outSizes] from the representation h: [n, D], or [T·stride] when stacked. */
  forward(h: Tensor, n: number, step: StepContext): Tensor {
    const be = this.backend;
    this.dropoutActive = step.training && this.dropout > 0;
    let x = h;
    for (const lv of this.levels) {
      lv.input = x;
      const y = lv.out.rows(n);
      if (lv.pre) {
        const z = lv.pre.rows(n);
        be.headsForward(x, lv.weight.value, lv.bias.value, z, lv.layout, 'none');
        be.activationForward(this.activation, z, y);
      } else {
        be.headsForward(x, lv.weight.value, lv.bias.value, y, lv.layout, lv.hidden ? this.activation : 'none');
      }
      x = y;
      if (lv.mask && lv.dropped && this.dropoutActive) {
        x = lv.dropped.rows(n);
        be.dropoutForward(y, x, lv.mask.rows(n), this.dropout, layerSeed(step, lv.seedId));
      }
    }
    return x;
  }

  /**
   * Backward from dlogits [n, Σ outSizes] (overwritten). Returns dL/dh in h's layout: [n, D],
   * the sum over tasks (shared), or each task's block (stacked); with a shared representation,
   * `perTaskDh` [T, n, D] also receives each task's own share of it.
   */
  backward(dlogits: Tensor, n: number, perTaskDh: Tensor | null = null): Tensor {
    const be = this.backend;
    let dy = dlogits;
    for (let l = this.levels.length - 1; l >= 0; l--) {
      const lv = this.levels[l];
      if (lv.hidden) {
        if (lv.mask && this.dropoutActive) be.mul(dy, lv.mask.rows(n), dy);
        be.activationBackward(this.activation, lv.out.rows(n), dy, dy, lv.pre?.rows(n) ?? null);
      }
      const sq = this.squares?.[l];
      if (sq) {
        // headsBackward of the squares adds, per task, Σ_i (dy_i∘dy_i)ᵀ(x_i∘x_i) and Σ_i dy_i∘dy_i (no dx).
        const x2 = sq.x2 instanceof BatchBuffer ? sq.x2.rows(n) : sq.x2;
        be.mul(lv.input!, lv.input!, x2);
        be.mul(dy, dy, sq.dy2.rows(n));
        be.headsBackward(x2, lv.weight.value, sq.dy2.rows(n), null, sq.weight, sq.bias, lv.layout);
      }
      const dx = lv.dxStacked ?? lv.dx.rows(n);
      be.headsBackward(lv.input!, lv.weight.value, dy, dx, lv.weight.grad, lv.bias.grad, lv.layout, l === 0 ? perTaskDh : null);
      dy = dx;
    }
    return dy;
  }

  get squaredParameters(): readonly Parameter[] {
    return this.levels.flatMap((lv) => [lv.weight, lv.bias]);
  }

  /** See SquaredGradientSource; the parameter gradients are still accumulated (headsBackward computes both). */
  squaredGradients(arena: Tensor | null): void {
    const be = this.backend;
    for (const s of this.squares ?? []) {
      be.free(s.x2 instanceof BatchBuffer ? s.x2.base : s.x2);
      be.free(s.dy2.base);
    }
    this.squares =
      arena &&
      this.levels.map((lv) => ({
        weight: be.view(arena, lv.weight.offset, lv.weight.shape),
        bias: be.view(arena, lv.bias.offset, lv.bias.shape),
        x2: lv.layout.input === 'stacked' ? be.alloc([lv.layout.inputSize(this.maxBatch)]) : new BatchBuffer(be, this.maxBatch, [lv.layout.totalIn]),
        dy2: new BatchBuffer(be, this.maxBatch, [lv.layout.totalOut]),
      }));
  }
}

function sum(a: readonly number[]): number {
  return a.reduce((x, y) => x + y, 0);
}
