/**
 * MultiTaskModel: a body feeds one head per task; the heads run fused and the losses of all
 * tasks are computed and weighted in one fused multi-loss pass. Sharing:
 * - hard (default): one trunk shared by every task; all first head layers are ONE GEMM.
 * - soft: one tower per task (each built from the trunk spec), their outputs stacked for the
 *   fused heads, and an L2 penalty λ·Σ_{i<j}‖θ_i − θ_j‖² pulling corresponding tower
 *   parameters together (its gradient one GEMM over the towers' parameter rows).
 * - cross-stitch: one tower per task, mixed after chosen layers by learned T×T units.
 * - mmoe / cgc: experts mixed per task by softmax gates on the input (all experts for MMoE;
 *   shared plus the task's own for CGC); ple: several CGC levels with a shared gate between.
 * (towers.ts holds the towers, experts.ts and ple.ts the experts.)
 *
 * Every buffer a training step touches is allocated here, once, for `maxBatch` samples:
 * a steady-state step allocates nothing.
 */
import { type Backend, LossLayout, type Tensor } from '../backends/backend.js';
import { checkKeys, nameTable, ownEntry } from '../core/options.js';
import { Rng } from '../core/random.js';
import { ConfigError, ShapeError, describe, expectInt, expectNumber } from '../errors.js';
import { ActivationLayer } from '../nn/activation.js';
import { Dense } from '../nn/dense.js';
import { Conv2d, Flatten, MaxPool2d } from '../nn/conv.js';
import { Dropout, Dropout2d } from '../nn/dropout.js';
import { Heads, type HeadsConfig } from '../nn/heads.js';
import { BatchBuffer, type Layer, type StepContext, expectDim, tensorSize } from '../nn/layer.js';
import { ParameterStore } from '../nn/parameters.js';
import { Sequential } from '../nn/sequential.js';
import type { Activation } from '../backends/backend.js';
import { type Task, type TaskSpec, resolveTask } from './task.js';
import { ExpertBody } from './experts.js';
import { PleBody } from './ple.js';
import { TowerBody } from './towers.js';

/** Declarative layer specs, so a model's architecture is plain JSON (run folders, checkpoints). */
export type LayerSpec =
  | {
      /** A fully connected layer: y = act(x·Wᵀ + b), one fused GEMM. */
      type: 'dense';
      /** Output width. */
      units: number;
      /** Applied after the bias. Default 'none'. */
      activation?: Activation;
    }
  | {
      /** An elementwise nonlinearity on its own. */
      type: 'activation';
      /** The nonlinearity. */
      activation: Activation;
    }
  | {
      /** Inverted dropout (training only). */
      type: 'dropout';
      /** Drop probability in [0, 1). */
      p: number;
    }
  | {
      /** A 2-D convolution over NCHW inputs. */
      type: 'conv2d';
      /** Output channels. */
      filters: number;
      /** Square kernel side. */
      kernel: number;
      /** Step between windows. Default 1. */
      stride?: number;
      /** Zeros on every side. Default 0. */
      padding?: number;
      /** Applied after the bias. Default 'none'. */
      activation?: Activation;
    }
  | {
      /** 2-D max pooling (no padding). */
      type: 'maxpool2d';
      /** Square window side. */
      size: number;
      /** Step between windows. Default: size. */
      stride?: number;
    }
  | {
      /** Channel-wise (spatial) dropout: whole feature maps dropped (training only). */
      type: 'dropout2d';
      /** Drop probability in [0, 1). */
      p: number;
    }
  | {
      /** [N, C, H, W] seen as [N, C·H·W] (a reshape; no copy). */
      type: 'flatten';
    };

/** How the tasks share the body of the network. */
export type SharingConfig =
  | {
      /** One trunk shared by every task, then the heads (the default). */
      kind: 'hard';
    }
  | {
      /** One tower per task, pulled together by an L2 penalty between their parameters. */
      kind: 'soft';
      /** λ of the L2 penalty (default 1e-3). */
      penalty?: number;
    }
  | {
      /** One tower per task, mixed after chosen layers by learned cross-stitch units (Misra et al. 2016). */
      kind: 'cross-stitch';
      /** Tower layers after which a cross-stitch unit mixes the towers (default: every layer). */
      after?: number[];
      /** Initial self weight of each unit (default 0.9; the rest spread over the other tasks). */
      self?: number;
    }
  | {
      /** Multi-gate mixture of experts (Ma et al. 2018): shared experts, one softmax gate per task. */
      kind: 'mmoe';
      /** Experts, all shared (default 4). */
      experts?: number;
    }
  | {
      /** Customized gate control (Tang et al. 2020): shared experts plus experts of each task alone. */
      kind: 'cgc';
      /** Shared experts (default 2). */
      shared?: number;
      /** Experts of each task alone (default 1). */
      perTask?: number;
    }
  | {
      /** Progressive layered extraction (Tang et al. 2020): CGC levels stacked. */
      kind: 'ple';
      /** Levels of experts (default 2). */
      levels?: number;
      /** Shared experts per level (default 2). */
      shared?: number;
      /** Experts of each task per level (default 1). */
      perTask?: number;
    };

type ResolvedSharing =
  | { kind: 'hard' }
  | { kind: 'soft'; penalty: number }
  | { kind: 'cross-stitch'; after: number[] | null; self: number }
  | { kind: 'mmoe' | 'cgc'; shared: number; perTask: number }
  | { kind: 'ple'; levels: number; shared: number; perTask: number };

/** A multi-task model, as plain JSON. Unknown keys are ConfigErrors; every size is checked before anything is allocated. */
export interface ModelConfig {
  /** Per-sample input shape (or its size); MLP trunks see it flattened. */
  inputShape: readonly number[] | number;
  /** The shared trunk (hard sharing) or every task's tower (soft), first layer first. */
  trunk: readonly LayerSpec[];
  /** Default { kind: 'hard' }. */
  sharing?: SharingConfig;
  /** The tasks, at least one, names unique; their heads and loss segments follow this order. */
  tasks: readonly TaskSpec[];
  /** Hidden layers inside each task's head. Default: none (each head is one dense layer). */
  heads?: HeadsConfig;
  /** Largest batch the model will see; buffers are sized for it. */
  maxBatch: number;
  /** Seed of the weight initialisation (default 0). */
  seed?: number;
}

const MODEL_KEYS = ['inputShape', 'trunk', 'sharing', 'tasks', 'heads', 'maxBatch', 'seed'];

/** The keys each layer type takes. */
const LAYER_KEYS: Record<LayerSpec['type'], readonly string[]> = nameTable({
  dense: ['type', 'units', 'activation'],
  activation: ['type', 'activation'],
  dropout: ['type', 'p'],
  conv2d: ['type', 'filters', 'kernel', 'stride', 'padding', 'activation'],
  maxpool2d: ['type', 'size', 'stride'],
  dropout2d: ['type', 'p'],
  flatten: ['type'],
});

/** The keys each sharing kind takes. */
const SHARING_KEYS: Record<SharingConfig['kind'], readonly string[]> = nameTable({
  hard: ['kind'],
  soft: ['kind', 'penalty'],
  'cross-stitch': ['kind', 'after', 'self'],
  mmoe: ['kind', 'experts'],
  cgc: ['kind', 'shared', 'perTask'],
  ple: ['kind', 'levels', 'shared', 'perTask'],
});

/**
 * The layer a spec describes, its values checked (ValueError) and its keys too (ConfigError
 * for a key its type does not take); messages name it as "trunk[2] (conv2d)".
 */
export function buildLayer(spec: LayerSpec, index: number): Layer {
  const type: unknown = typeof spec === 'object' && spec !== null ? spec.type : undefined;
  const keys = ownEntry(LAYER_KEYS, type);
  if (!keys) {
    const got = type === undefined ? describe(spec) : `type ${describe(type)}`;
    throw new ConfigError(`Expected a layer spec with type ${orList(Object.keys(LAYER_KEYS))} for trunk[${index}] but received ${got}`);
  }
  const where = `trunk[${index}] (${spec.type})`;
  checkKeys(spec, keys, where);
  switch (spec.type) {
    case 'dense':
      return new Dense(spec.units, spec.activation ?? 'none', where);
    case 'activation':
      return new ActivationLayer(spec.activation, where);
    case 'dropout':
      return new Dropout(spec.p, false, where);
    case 'conv2d':
      return new Conv2d(spec.filters, spec.kernel, spec.stride ?? 1, spec.padding ?? 0, spec.activation ?? 'none', where);
    case 'maxpool2d':
      return new MaxPool2d(spec.size, spec.stride ?? spec.size, where);
    case 'dropout2d':
      return new Dropout2d(spec.p, where);
    case 'flatten':
      return new Flatten(where);
  }
}

/**
 * A multi-task network on one backend: a body shared as the sharing configuration says (a hard
 * trunk, soft towers, cross-stitch, or gated experts), one head per task (all heads as one fused
 * kernel) and the fused multi-loss. Its parameters and gradients live in one arena each; its
 * activation buffers are sized once for maxBatch, so a training step allocates nothing. The
 * constructor throws ConfigError / ValueError / ShapeError for a bad configuration, before any
 * allocation. Train it with {@link Trainer}.
 */
export class MultiTaskModel {
  /** The tasks, resolved (defaults filled in), in config order. */
  readonly tasks: readonly Task[];
  /** Per-sample input shape. */
  readonly inputShape: readonly number[];
  /** Elements per sample: the product of inputShape. */
  readonly featureSize: number;
  /** The largest batch the model's buffers hold. */
  readonly maxBatch: number;
  /** Every parameter and gradient, in one arena each (values, grads), named as in checkpoints. */
  readonly params = new ParameterStore();
  /** The sharing configuration with its defaults filled in. */
  readonly sharing: ResolvedSharing;
  /** The shared trunk (hard sharing), else null. */
  readonly trunk: Sequential | null;
  /** One tower per task (soft sharing, cross-stitch), else null. */
  readonly towers: TowerBody | null;
  /** Gated experts (mmoe, cgc, ple), else null. */
  readonly experts: ExpertBody | PleBody | null;
  /** The task heads, run as one fused headsForward/headsBackward. */
  readonly heads: Heads;
  /** The fused multi-loss layout: one segment per task, in task order. */
  readonly lossLayout: LossLayout;
  /** Width of the concatenated logits [N, Σ outputs]. */
  readonly logitWidth: number;
  /** The configuration, as given. */
  readonly config: ModelConfig;

  private readonly inputs: BatchBuffer;
  private readonly targets: BatchBuffer;
  private readonly masks: BatchBuffer;
  private readonly dlogits: BatchBuffer;
  private readonly taskWeights: Tensor;
  /** Per-task mean losses of the last forward with targets, on the backend. */
  readonly losses: Tensor;
  private readonly trunkWidth: number;
  /** Whether the loaded batch came with a label mask. */
  private batchMasked = false;

  constructor(
    /** The backend that owns every tensor of the model and runs every kernel. */
    readonly backend: Backend,
    config: ModelConfig,
  ) {
    checkKeys(config, MODEL_KEYS, 'the model config');
    this.config = config;
    this.maxBatch = expectDim('maxBatch', config.maxBatch);
    const shape: unknown = typeof config.inputShape === 'number' ? [config.inputShape] : config.inputShape;
    if (!Array.isArray(shape) || shape.length === 0) {
      throw new ConfigError(`Expected a per-sample input shape (positive integers) for inputShape but received ${describe(config.inputShape)}`);
    }
    this.inputShape = shape.map((d: unknown, i) => expectDim(`inputShape[${i}]`, d));
    this.featureSize = tensorSize(this.inputShape, 'inputShape');
    tensorSize([this.maxBatch, this.featureSize], `the inputs for maxBatch ${this.maxBatch}`);
    const seed = expectInt('seed', config.seed ?? 0, 0);
    if (!Array.isArray(config.tasks) || config.tasks.length === 0) {
      throw new ConfigError(`Expected a non-empty array of task specs for tasks but received ${describe(config.tasks)}`);
    }
    this.tasks = config.tasks.map(resolveTask);
    const names = new Set<string>();
    for (const t of this.tasks) {
      if (names.has(t.name)) throw new ConfigError(`Task names must be unique; ${t.name} appears twice`);
      names.add(t.name);
    }
    if (!Array.isArray(config.trunk)) throw new ConfigError(`Expected an array of layer specs for trunk but received ${describe(config.trunk)}`);

    this.sharing = resolveSharing(config.sharing);
    const specs = config.trunk;
    const layers = (): Sequential => new Sequential(specs.map(buildLayer));
    const maxBatch = this.maxBatch;
    this.trunk = null;
    this.towers = null;
    this.experts = null;
    if (this.sharing.kind === 'hard') {
      this.trunk = layers();
      const trunkOut = this.trunk.build({ params: this.params, prefix: 'trunk', maxBatch }, this.inputShape);
      if (trunkOut.length !== 1) throw new ConfigError(`The trunk must end in a flat feature vector, got shape [${trunkOut.join(', ')}]`);
      this.trunkWidth = trunkOut[0];
    } else if (this.sharing.kind === 'ple') {
      const { levels, shared, perTask } = this.sharing;
      this.experts = new PleBody(this.tasks, layers, this.params, this.inputShape, maxBatch, { levels, shared, perTask });
      this.trunkWidth = this.experts.width;
    } else if (this.sharing.kind === 'mmoe' || this.sharing.kind === 'cgc') {
      const { shared, perTask } = this.sharing;
      this.experts = new ExpertBody(this.tasks, layers, this.params, this.inputShape, maxBatch, { shared, perTask });
      this.trunkWidth = this.experts.width;
    } else {
      const s = this.sharing;
      this.towers = new TowerBody(this.tasks, layers, this.params, this.inputShape, maxBatch, {
        penalty: s.kind === 'soft' ? s.penalty : 0,
        stitchAfter: s.kind === 'cross-stitch' ? (s.after ?? specs.map((_, i) => i)) : [],
        stitchSelf: s.kind === 'cross-stitch' ? s.self : undefined,
      });
      this.trunkWidth = this.towers.width;
    }
    const stride = (this.experts ?? this.towers)?.stackStride ?? 0;
    this.heads = new Heads(
      this.tasks.map((t) => t.name),
      this.tasks.map((t) => t.outputs),
      config.heads,
    );
    this.heads.build(this.params, this.trunkWidth, stride, maxBatch);

    let out = 0;
    let tgt = 0;
    this.lossLayout = new LossLayout(
      this.tasks.map((t) => {
        const seg = { kind: t.loss, outOffset: out, outWidth: t.outputs, tgtOffset: tgt };
        out += t.outputs;
        tgt += t.labelWidth;
        return seg;
      }),
    );
    this.logitWidth = out;

    this.params.allocate(backend, new Rng(seed));
    this.trunk?.allocate(backend, this.maxBatch);
    this.towers?.allocate(backend, this.maxBatch, this.params);
    this.experts?.allocate(backend, this.maxBatch);
    this.heads.allocate(backend, this.maxBatch);
    this.inputs = new BatchBuffer(backend, this.maxBatch, [this.featureSize]);
    this.targets = new BatchBuffer(backend, this.maxBatch, [this.lossLayout.totalTgt]);
    this.masks = new BatchBuffer(backend, this.maxBatch, [this.tasks.length]);
    this.dlogits = new BatchBuffer(backend, this.maxBatch, [this.logitWidth]);
    this.taskWeights = backend.upload(Float32Array.from(this.tasks, (t) => t.weight), [this.tasks.length]);
    this.losses = backend.alloc([this.tasks.length]);
  }

  /** One line per part, for logs and `--help`-style summaries. */
  summary(): string {
    return [
      `input ${this.featureSize}`,
      this.trunk ? `trunk: ${this.trunk.describe()}` : `${this.sharing.kind} sharing, ${(this.towers ?? this.experts)!.describe()}`,
      `${this.heads.describe()}: ${this.tasks.map((t) => `${t.name}${t.auxiliary ? ' (aux)' : ''} ${t.kind} ${t.outputs}`).join(', ')}`,
      `${this.params.count.toLocaleString('en-US')} parameters`,
    ].join('\n');
  }

  /** Index of a task by name; ConfigError listing the known names otherwise. */
  taskIndex(name: string): number {
    const i = this.tasks.findIndex((t) => t.name === name);
    if (i < 0) throw new ConfigError(`Unknown task ${JSON.stringify(name)}; this model's tasks are ${this.tasks.map((t) => t.name).join(', ')}`);
    return i;
  }

  /** Sets the per-task loss weights (in task order). */
  setTaskWeights(weights: Float32Array): void {
    if (weights.length !== this.tasks.length) {
      throw new ShapeError(`Expected ${this.tasks.length} task weights but received ${weights.length}`);
    }
    for (const w of weights) {
      if (!Number.isFinite(w) || w < 0) throw new ConfigError(`Task weights must be finite and non-negative, received ${w}`);
    }
    this.backend.write(this.taskWeights, weights);
  }

  private checkBatch(n: number): void {
    if (!Number.isInteger(n) || n < 1 || n > this.maxBatch) {
      throw new ShapeError(`Expected a batch size in [1, ${this.maxBatch}] (maxBatch) but received ${n}`);
    }
  }

  /**
   * Uploads a batch: inputs [n, featureSize], targets [n, Σ labelWidth] (task order) and
   * optionally mask [n, T] (1 = labelled). Host arrays may be longer than needed.
   */
  loadBatch(n: number, inputs: Float32Array, targets?: Float32Array, mask?: Float32Array | null): void {
    this.checkBatch(n);
    const be = this.backend;
    const need = (what: string, a: Float32Array, width: number): Float32Array => {
      if (a.length < n * width) throw new ShapeError(`Expected at least ${n}×${width} values for ${what} but received ${a.length}`);
      return a.length === n * width ? a : a.subarray(0, n * width);
    };
    be.write(this.inputs.base, need('inputs', inputs, this.featureSize));
    if (targets) be.write(this.targets.base, need('targets', targets, this.lossLayout.totalTgt));
    this.batchMasked = !!mask;
    if (mask) be.write(this.masks.base, need('mask', mask, this.tasks.length));
  }

  /** Forward of the loaded batch; returns the logits [n, Σ outputs] (a model-owned buffer). */
  forward(n: number, step: StepContext = { training: false, seed: 0 }): Tensor {
    this.checkBatch(n);
    const x = this.inputs.rows(n);
    const h = (this.trunk ?? this.towers ?? this.experts)!.forward(x, n, step);
    return this.heads.forward(h, n, step);
  }

  /** Per-task losses of the loaded batch into `losses`, and their weighted gradient. */
  computeLoss(n: number, logits: Tensor): Tensor {
    const dl = this.dlogits.rows(n);
    this.backend.multiLoss(
      logits,
      this.targets.rows(n),
      this.batchMasked ? this.masks.rows(n) : null,
      this.taskWeights,
      this.lossLayout,
      this.losses,
      dl,
    );
    return dl;
  }

  /**
   * One training pass over the loaded batch: zero gradients, forward, fused multi-loss,
   * backward. Afterwards `losses` holds per-task losses and the gradient arena Σ_t w_t·∇L_t.
   */
  forwardBackward(n: number, step: StepContext): void {
    this.backward(this.forwardLoss(n, step), n);
  }

  /** Zeroes the gradients, runs the forward and the fused multi-loss; returns dL/dlogits. */
  forwardLoss(n: number, step: StepContext): Tensor {
    this.backend.fill(this.params.grads, 0);
    return this.computeLoss(n, this.forward(n, step));
  }

  /** Backward from dL/dlogits through the heads and the trunk (or the towers). */
  backward(dlogits: Tensor, n: number): void {
    const dh = this.heads.backward(dlogits, n);
    if (this.trunk) this.trunk.backward(dh, n, false);
    else (this.towers ?? this.experts)!.backward(dh, n);
  }

  /** Soft sharing's L2 penalty between the towers at the current parameters (else 0). */
  sharingPenalty(): Promise<number> {
    return this.towers ? this.towers.penalty() : Promise.resolve(0);
  }

  /** Width of the trunk's output (the shared representation). */
  get representationWidth(): number {
    return this.trunkWidth;
  }

  /** Number of arena elements holding the trunk's (shared) parameters: they come first (0 for soft sharing). */
  get sharedParameterSize(): number {
    if (!this.trunk) return 0;
    const firstHead = this.params.parameters.find((p) => p.name.startsWith('heads.'));
    return firstHead ? firstHead.offset : this.params.arenaSize;
  }

  /** A JSON description of the architecture; checkpoints refuse to load into another. */
  architecture(): Record<string, unknown> {
    return {
      inputShape: this.inputShape,
      trunk: this.config.trunk,
      sharing: this.sharing,
      heads: { hidden: this.heads.hidden, activation: this.heads.activation, dropout: this.heads.dropout },
      tasks: this.tasks.map((t) => ({ name: t.name, kind: t.kind, outputs: t.outputs, loss: t.loss })),
    };
  }
}

/** "a, b or c". */
function orList(names: readonly string[]): string {
  return names.length > 1 ? `${names.slice(0, -1).join(', ')} or ${names.at(-1)}` : names.join('');
}

/** Checks a sharing config: its kind, the keys that kind takes, and their values. */
function resolveSharing(config: SharingConfig | undefined): ResolvedSharing {
  if (config === undefined) return { kind: 'hard' };
  if (typeof config !== 'object' || config === null) {
    throw new ConfigError(`Expected an object like { kind: 'soft', penalty: 0.001 } for sharing but received ${describe(config)}`);
  }
  const kind: unknown = config.kind ?? 'hard';
  const keys = ownEntry(SHARING_KEYS, kind);
  if (!keys) throw new ConfigError(`Expected sharing kind ${orList(Object.keys(SHARING_KEYS))} but received ${describe(kind)}`);
  const c = checkKeys(config, keys, `sharing (${String(kind)})`);
  if (kind === 'hard') return { kind: 'hard' };
  if (kind === 'soft') return { kind: 'soft', penalty: expectNumber('sharing.penalty', c.penalty ?? 1e-3, 0) };
  if (kind === 'cross-stitch') {
    const after = c.after === undefined ? null : c.after;
    if (after !== null && !Array.isArray(after)) throw new ConfigError(`Expected an array of layer indices for sharing.after but received ${describe(after)}`);
    return { kind: 'cross-stitch', after: after as number[] | null, self: expectNumber('sharing.self', c.self ?? 0.9, 0, 1) };
  }
  if (kind === 'mmoe') return { kind, shared: expectInt('sharing.experts', c.experts ?? 4), perTask: 0 };
  if (kind === 'cgc') {
    return { kind, shared: expectInt('sharing.shared', c.shared ?? 2, 0), perTask: expectInt('sharing.perTask', c.perTask ?? 1, 0) };
  }
  return {
    kind: 'ple',
    levels: expectInt('sharing.levels', c.levels ?? 2),
    shared: expectInt('sharing.shared', c.shared ?? 2),
    perTask: expectInt('sharing.perTask', c.perTask ?? 1, 0),
  };
}
