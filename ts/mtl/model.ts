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
 * Each kind is one entry of the sharing registry (sharing/index.ts) that builds the model's
 * {@link Body} (sharing/hard.ts the trunk, towers.ts the towers, experts.ts and ple.ts the experts).
 *
 * Every buffer a training step touches is allocated here, once, for `maxBatch` samples:
 * a steady-state step allocates nothing.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type Backend, LossLayout, type Tensor } from '../backends/backend.js';
import { checkKeys, nameTable, ownEntry } from '../core/options.js';
import { Rng } from '../core/random.js';
import { BusyError, CheckpointError, ConfigError, ShapeError, ValueError, describe, expectInt } from '../errors.js';
import { ActivationLayer } from '../nn/activation.js';
import { Dense } from '../nn/dense.js';
import { Conv2d, Flatten, MaxPool2d } from '../nn/conv.js';
import { Dropout, Dropout2d } from '../nn/dropout.js';
import { Embedding, type EmbeddingConfig } from '../nn/embedding.js';
import { Heads, type HeadsConfig } from '../nn/heads.js';
import { BatchBuffer, type Layer, type StepContext, expectDim, tensorSize } from '../nn/layer.js';
import { ParameterStore } from '../nn/parameters.js';
import { Sequential } from '../nn/sequential.js';
import type { Activation } from '../backends/backend.js';
import { type Task, type TaskSpec, fitTaskToInput, resolveTask } from './task.js';
import type { Body, ResolvedSharing } from './sharing/body.js';
import { type SharingConfig, resolveSharing } from './sharing/index.js';
import { type PredictInputs, type PredictOptions, type Predictions, Predictor } from './predict.js';
import { type CheckpointContents, applyCheckpoint, readCheckpointFile } from '../io/checkpoint.js';

export type { SharingConfig } from './sharing/index.js';

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
  /**
   * Categorical inputs as learned embeddings: each field's column of the flat input holds a
   * category index (an integer as f32, in [0, vocab)), looked up in the field's table [vocab,
   * dim]; the body (every sharing kind, the gates of MMoE/CGC/PLE included) then sees the other
   * (numeric) columns in order followed by every field's vector: numericWidth + Σ dim features.
   * Needs a flat inputShape. Default: none (every column numeric).
   */
  embedding?: EmbeddingConfig;
}

/** Options of {@link MultiTaskModel.load}. Unknown keys are ConfigErrors. */
export interface LoadModelOptions {
  /**
   * From a run folder, which checkpoint: 'best' (default: best.safetensors, the epoch model
   * selection chose, else checkpoint.safetensors when there is none) or 'last'
   * (checkpoint.safetensors, the state after the last step).
   */
  checkpoint?: 'best' | 'last';
  /** Buffers sized for this batch instead of the saved maxBatch (predicting in larger batches). */
  maxBatch?: number;
}

/** Options of {@link MultiTaskModel.extend}. Unknown keys are ConfigErrors. */
export interface ExtendModelOptions {
  /** Seed of the new parameters' initialisation (default: the old model's seed). */
  seed?: number;
  /** Buffers sized for this batch (default: the old model's maxBatch). */
  maxBatch?: number;
}

/** A JSON value: what {@link MultiTaskModel.preprocessing} holds. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

const MODEL_KEYS = ['inputShape', 'trunk', 'sharing', 'tasks', 'heads', 'maxBatch', 'seed', 'embedding'];

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
  /** The shared part of the network, as the sharing kind builds it (trunk, towers or experts), behind the embedding layer when the model has one. */
  readonly body: Body;
  /** The embedding input layer ({@link ModelConfig.embedding}), or null. */
  readonly embedding: Embedding | null;
  /** The task heads, run as one fused headsForward/headsBackward. */
  readonly heads: Heads;
  /** The fused multi-loss layout: one segment per task, in task order. */
  readonly lossLayout: LossLayout;
  /** Width of the concatenated logits [N, Σ outputs]. */
  readonly logitWidth: number;
  /** The configuration, as given. */
  readonly config: ModelConfig;
  /**
   * The configuration with every default filled in (every sharing option, every task's
   * outputs, loss, metrics, weight and auxiliary flag, the heads, maxBatch, seed), as plain
   * JSON: checkpoints store it, and `new MultiTaskModel(backend, resolvedConfig)` builds the
   * same model ({@link MultiTaskModel.load}).
   */
  readonly resolvedConfig: ModelConfig;
  /**
   * The fitted data preprocessing (statistics, vocabularies, label maps) that turns raw rows
   * into this model's inputs, as JSON; the model only carries it: set by the caller, saved in
   * checkpoints, restored by {@link MultiTaskModel.load}. Default null.
   */
  preprocessing: JsonValue = null;

  private readonly inputs: BatchBuffer;
  private readonly targets: BatchBuffer;
  private readonly masks: BatchBuffer;
  private readonly dlogits: BatchBuffer;
  private readonly taskWeights: Tensor;
  /** Per-task mean losses of the last forward with targets, on the backend. */
  readonly losses: Tensor;
  /** Whether the loaded batch came with a label mask. */
  private batchMasked = false;
  /** Made on the first predict(). */
  private predictor: Predictor | null = null;
  /** The call running on this model ("fit()", "evaluate()", "predict()"), or null. */
  private runningCall: string | null = null;

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
    this.tasks = config.tasks.map((spec, i) => fitTaskToInput(resolveTask(spec, i), i, this.inputShape));
    const names = new Set<string>();
    for (const t of this.tasks) {
      if (names.has(t.name)) throw new ConfigError(`Task names must be unique; ${t.name} appears twice`);
      names.add(t.name);
    }
    if (!Array.isArray(config.trunk)) throw new ConfigError(`Expected an array of layer specs for trunk but received ${describe(config.trunk)}`);

    const { entry, sharing } = resolveSharing(config.sharing);
    this.sharing = sharing;
    const trunkJson: unknown = JSON.parse(JSON.stringify(config.trunk));
    const specs = config.trunk;
    const maxBatch = this.maxBatch;
    this.embedding = config.embedding === undefined ? null : embeddingLayer(config.embedding, this.inputShape, seed);
    // The tables are declared first: shared by every task, they belong to the shared parameters.
    const bodyInput = this.embedding ? this.embedding.build({ params: this.params, prefix: 'embedding', maxBatch }, this.inputShape) : this.inputShape;
    const body = entry.create(
      { kind: sharing.kind, tasks: this.tasks, layers: () => new Sequential(specs.map(buildLayer)), params: this.params, inputShape: bodyInput, maxBatch },
      sharing,
    );
    this.body = this.embedding ? new EmbeddedBody(this.embedding, body) : body;
    this.heads = new Heads(
      this.tasks.map((t) => t.name),
      this.tasks.map((t) => t.outputs),
      config.heads,
    );
    this.heads.build(this.params, this.body.width, this.body.stackStride, maxBatch);
    this.resolvedConfig = {
      inputShape: [...this.inputShape],
      trunk: trunkJson as LayerSpec[],
      sharing: (entry.config ? entry.config(sharing) : { ...sharing }) as unknown as SharingConfig,
      tasks: this.tasks.map((t, i) => taskSpec(t, config.tasks[i])),
      heads: { hidden: [...this.heads.hidden], activation: this.heads.activation, dropout: this.heads.dropout },
      maxBatch,
      seed,
      ...(this.embedding ? { embedding: { fields: this.embedding.fields.map((f) => ({ ...f })) } } : {}),
    };

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
    this.body.allocate(backend, this.maxBatch, this.params);
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
      this.body.describe(),
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

  /** The per-task loss weights the fused multi-loss reads (what setTaskWeights writes), on the backend. */
  get lossWeights(): Tensor {
    return this.taskWeights;
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

  /**
   * Replaces only the loaded batch's label mask (n × T; null: every label present), leaving its
   * inputs and targets as loadBatch wrote them: one upload of n·T values (co-teaching changes one
   * task's mask column between passes over the same batch).
   */
  setBatchMask(n: number, mask: Float32Array | null): void {
    this.checkBatch(n);
    this.batchMasked = !!mask;
    if (!mask) return;
    const T = this.tasks.length;
    if (mask.length < n * T) throw new ShapeError(`Expected at least ${n}×${T} values for mask but received ${mask.length}`);
    this.backend.write(this.masks.base, mask.length === n * T ? mask : mask.subarray(0, n * T));
  }

  /** The loaded batch's targets [n, lossLayout.totalTgt] on the backend, as loadBatch wrote them. */
  batchTargets(n: number): Tensor {
    this.checkBatch(n);
    return this.targets.rows(n);
  }

  /** Forward of the loaded batch; returns the logits [n, Σ outputs] (a model-owned buffer). */
  forward(n: number, step: StepContext = { training: false, seed: 0 }): Tensor {
    this.checkBatch(n);
    const x = this.inputs.rows(n);
    const h = this.body.forward(x, n, step);
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
    this.zeroGradients();
    return this.computeLoss(n, this.forward(n, step));
  }

  /**
   * Zeroes the gradient arena: one fill, which leaves out the embedding tables when a row-sparse
   * optimizer step (Optimizer with the model's embedding) has just left their gradient zero
   * everywhere (it zeroes the rows it steps; the other rows' gradient was zero all along) and no
   * backward ran since (Embedding.takeZeroGradient).
   */
  zeroGradients(): void {
    if (this.embedding?.takeZeroGradient() && this.embedding.range.offset === 0) {
      if (this.gradsAfterTables === undefined) {
        const t = this.embedding.range;
        const after = Math.ceil((t.offset + t.length) / 64) * 64; // parameters start at 64-element boundaries
        this.gradsAfterTables = after < this.params.arenaSize ? this.backend.view(this.params.grads, after, [this.params.arenaSize - after]) : null;
      }
      if (this.gradsAfterTables) this.backend.fill(this.gradsAfterTables, 0);
      return;
    }
    this.backend.fill(this.params.grads, 0);
  }

  /** The gradient arena after the embedding tables (made on the first skip); null when nothing follows them. */
  private gradsAfterTables: Tensor | null | undefined = undefined;

  /**
   * Backward from dL/dlogits through the heads and the body. With a listener
   * ({@link setGradientsReady}) it is told, as the pass goes, from which arena offset every
   * gradient is final: after the heads (their parameters come last), after each trunk layer
   * (hard sharing; other sharing kinds as one block), and 0 at the end.
   */
  backward(dlogits: Tensor, n: number): void {
    const ready = this.gradientsReady;
    const dh = this.heads.backward(dlogits, n);
    if (ready !== null) ready(this.headsOffset);
    this.body.backward(dh, n);
    if (ready !== null) ready(0);
  }

  /**
   * Listens to the backward passes (null: stops; the default): `ready(from)` is called during
   * {@link backward} whenever every gradient at arena offsets ≥ from is final for that pass, with
   * from decreasing (parameters are laid out in forward order, backward runs in reverse). The
   * body's own backward (hard sharing: after each trunk layer) tells it too when it runs alone,
   * as gradient-based weighting runs it. Nothing is allocated; without a listener each layer
   * costs one null check. A caller that adds to the gradients after the pass (a penalty), or
   * runs the body more than once per step, must not rely on it. Data-parallel training starts
   * its gradient all-reduces from it (ts/distributed/data-parallel.ts).
   */
  setGradientsReady(ready: ((from: number) => void) | null): void {
    if (this.headsOffset < 0) this.headsOffset = this.params.parameters.find((p) => p.name.startsWith('heads.'))?.offset ?? this.params.arenaSize;
    this.gradientsReady = ready;
    this.body.setGradientsReady?.(ready);
  }

  /** The backward listener ({@link setGradientsReady}), or null. */
  private gradientsReady: ((from: number) => void) | null = null;
  /** Arena offset of the heads' first parameter (set by the first setGradientsReady). */
  private headsOffset = -1;

  /** The body's penalty at the current parameters (soft sharing's L2 between the towers), else 0. */
  sharingPenalty(): Promise<number> {
    return this.body.penalty ? this.body.penalty() : Promise.resolve(0);
  }

  /** Width of the body's output (the representation the heads read). */
  get representationWidth(): number {
    return this.body.width;
  }

  /** Number of arena elements holding the trunk's (shared) parameters: they come first (0 unless every task reads one representation, as with hard sharing). */
  get sharedParameterSize(): number {
    if (this.body.stackStride !== 0) return 0;
    const firstHead = this.params.parameters.find((p) => p.name.startsWith('heads.'));
    return firstHead ? firstHead.offset : this.params.arenaSize;
  }

  /**
   * Per task (by name), the model's outputs for every sample of `inputs` (n × featureSize
   * values, or a MultiTaskDataset): class probabilities (classification, softmax), the
   * probability of 1 (binary, and each label of a multi-label task, sigmoid) or the values
   * (regression), n × outputs each. Runs in batches of `batchSize` (default and at most
   * maxBatch) in inference mode (no dropout), reading back only the logits into one host
   * buffer made on the first call. ShapeError when the inputs do not have featureSize values
   * per sample; BusyError while another predict(), or a Trainer's fit() or evaluate(), runs on
   * this model (they share its buffers).
   */
  async predict(inputs: PredictInputs, options: PredictOptions = {}): Promise<Predictions> {
    this.predictor ??= new Predictor(this);
    const release = this.claim('predict()');
    try {
      return await this.predictor.predict(inputs, options);
    } finally {
      release();
    }
  }

  /**
   * The one-call-at-a-time rule of a model: marks it as running `what` ("fit()", "evaluate()",
   * "predict()") until the returned release is called. Calls on one model share its activation
   * and input buffers, so they never interleave.
   * @throws BusyError naming the call already running.
   */
  claim(what: string): () => void {
    if (this.runningCall !== null) {
      throw new BusyError(
        `model is busy: ${this.runningCall} is running on it; ${what} cannot run on the same model at the same time (await the running call first)`,
      );
    }
    this.runningCall = what;
    return () => {
      this.runningCall = null;
    };
  }

  /** The call running on this model ("fit()", "evaluate()", "predict()"), or null. */
  get busyWith(): string | null {
    return this.runningCall;
  }

  /**
   * A model rebuilt from a checkpoint alone, on `backend`: its architecture from the stored
   * configuration ({@link MultiTaskModel.resolvedConfig}), its parameters and its
   * preprocessing as saved. `file` is a checkpoint file or a run folder, where
   * `options.checkpoint` chooses best.safetensors (default; checkpoint.safetensors when the
   * folder has no best) or checkpoint.safetensors. CheckpointError when there is no checkpoint
   * there, it is corrupt, or it predates stored configurations (build the model by hand and
   * use loadCheckpoint).
   */
  static async load(backend: Backend, file: string, options: LoadModelOptions = {}): Promise<MultiTaskModel> {
    checkKeys(options, ['checkpoint', 'maxBatch'], 'load options');
    const which = options.checkpoint ?? 'best';
    if (which !== 'best' && which !== 'last') throw new ConfigError(`Expected 'best' or 'last' for checkpoint but received ${describe(which)}`);
    const source = checkpointPath(file, which);
    const ck: CheckpointContents = readCheckpointFile(source);
    if (ck.model === null) {
      throw new CheckpointError(
        `${source} does not store its model configuration (written before hydranet stored it): build the model with the configuration it was trained with and call loadCheckpoint(file, model)`,
      );
    }
    const maxBatch = options.maxBatch === undefined ? ck.model.maxBatch : expectInt('maxBatch', options.maxBatch, 1);
    let model: MultiTaskModel;
    try {
      model = new MultiTaskModel(backend, { ...ck.model, maxBatch });
    } catch (e) {
      if (!(e instanceof ConfigError || e instanceof ShapeError || e instanceof ValueError)) throw e;
      throw new CheckpointError(`${source}: the stored model configuration does not build a model: ${e.message}`);
    }
    await applyCheckpoint(ck, source, model, null);
    model.preprocessing = ck.preprocessing;
    return model;
  }

  /**
   * A new model with the tasks of `old` followed by `tasks` (a spec or several): the same
   * trunk, sharing and heads configuration, one new head per new task (with MMoE/CGC/PLE its
   * gate, and with CGC/PLE its task experts; with soft and cross-stitch sharing its tower).
   * Every parameter of `old` is copied bit for bit, so the old tasks' outputs are unchanged;
   * the new parameters are those a fresh model of the grown configuration gets from `seed`
   * (default the old seed). Where a shared part grows with the tasks, the new entries are set
   * so as not to disturb the old tasks: a cross-stitch unit's old rows read 0 from the new
   * towers, and PLE's shared gates (below the top level) keep the new experts closed for good
   * (weight 0, bias −1e30: exactly zero share and gradient).
   *
   * `old` is left as it was and stays usable: its Trainer and Optimizer go on with it, while
   * the new model has its own parameter arena and needs its own Trainer (an optimizer's state
   * is sized for one arena, so none is carried over: a new stage starts its optimizer afresh).
   * Its resolvedConfig (what checkpoints store and {@link MultiTaskModel.load} rebuilds) is the
   * grown configuration; its preprocessing is old's.
   * @throws ConfigError for an invalid or duplicate task name or an unknown option key;
   *   BusyError while a call runs on `old`.
   */
  static async extend(old: MultiTaskModel, tasks: TaskSpec | readonly TaskSpec[], options: ExtendModelOptions = {}): Promise<MultiTaskModel> {
    if (!(old instanceof MultiTaskModel)) throw new ConfigError(`Expected a MultiTaskModel to extend but received ${describe(old)}`);
    checkKeys(options, ['seed', 'maxBatch'], 'extend options');
    const added: readonly TaskSpec[] = Array.isArray(tasks) ? tasks : [tasks as TaskSpec];
    if (added.length === 0) throw new ConfigError('Expected at least one task spec to add but received none');
    const base = old.resolvedConfig;
    const model = new MultiTaskModel(old.backend, {
      ...base,
      tasks: [...base.tasks, ...added],
      maxBatch: options.maxBatch ?? base.maxBatch,
      seed: options.seed ?? base.seed,
    });
    const release = old.claim('extend()');
    let previous: Float32Array;
    try {
      previous = await old.backend.read(old.params.values);
    } finally {
      release();
    }
    const values = await model.backend.read(model.params.values);
    const grown = new Set<string>();
    const oldParts = new Map([...old.params.partRanges()].map((r) => [r.name, r]));
    for (const to of model.params.partRanges()) {
      const from = oldParts.get(to.name);
      if (!from) continue;
      if (from.shape.join(',') === to.shape.join(',')) values.set(previous.subarray(from.start, from.end), to.start);
      else grown.add(to.name);
    }
    const set = model.body.inherit?.(values, model.params, previous, old.params, grown) ?? new Set<string>();
    const left = [...grown].filter((name) => !set.has(name));
    if (left.length > 0) throw new ConfigError(`extend: parameter ${left.join(', ')} changed shape with the tasks and sharing ${old.sharing.kind} has no rule to grow it`);
    model.backend.write(model.params.values, values);
    model.preprocessing = JSON.parse(JSON.stringify(old.preprocessing)) as JsonValue;
    return model;
  }

  /**
   * A NEW model with this model's tasks followed by `spec`: {@link MultiTaskModel.extend}(this,
   * [spec], options). This model is left as it was and stays valid (its Trainer goes on with
   * it); train the returned one with a new Trainer.
   * @throws what extend throws.
   */
  addTask(spec: TaskSpec, options: ExtendModelOptions = {}): Promise<MultiTaskModel> {
    return MultiTaskModel.extend(this, [spec], options);
  }

  /** A JSON description of the architecture; checkpoints refuse to load into another. */
  architecture(): Record<string, unknown> {
    return {
      inputShape: this.inputShape,
      trunk: this.config.trunk,
      sharing: this.sharing,
      heads: { hidden: this.heads.hidden, activation: this.heads.activation, dropout: this.heads.dropout },
      tasks: this.tasks.map((t) => ({ name: t.name, kind: t.kind, outputs: t.outputs, loss: t.loss, ...(t.selfSupervised ? { selfSupervised: t.selfSupervised } : {}) })),
      ...(this.embedding ? { embedding: this.embedding.fields } : {}),
    };
  }
}

/** The checkpoint `file` names: itself, or in a run folder best.safetensors (else checkpoint.safetensors) or checkpoint.safetensors. CheckpointError when there is none. */
export function checkpointPath(file: string, which: 'best' | 'last'): string {
  if (typeof file !== 'string' || file === '') throw new ValueError(`Expected a checkpoint file or run folder for path but received ${describe(file)}`);
  let isFolder = false;
  try {
    isFolder = fs.statSync(file).isDirectory();
  } catch {
    throw new CheckpointError(`Cannot read checkpoint ${file}: no such file or folder`);
  }
  if (!isFolder) return file;
  const last = path.join(file, 'checkpoint.safetensors');
  const best = path.join(file, 'best.safetensors');
  if (which === 'best' && fs.existsSync(best)) return best;
  if (fs.existsSync(last)) return last;
  throw new CheckpointError(`${file} is a folder without ${which === 'best' ? 'best.safetensors or ' : ''}checkpoint.safetensors: not a hydranet run folder with a saved epoch`);
}

/**
 * The task spec as given (a JSON copy, so keys added to TaskSpec later travel too) with every
 * default resolveTask filled in written out (classes / outputs only where the kind takes them).
 */
function taskSpec(t: Task, spec: TaskSpec): TaskSpec {
  const size = t.selfSupervised ? {} : t.kind === 'classification' || t.kind === 'multi-label' ? { classes: t.outputs } : t.kind === 'regression' ? { outputs: t.outputs } : {};
  const given = JSON.parse(JSON.stringify(spec)) as TaskSpec;
  return { ...given, name: t.name, kind: t.selfSupervised ?? t.kind, ...size, loss: t.loss, metrics: [...t.metrics], auxiliary: t.auxiliary, weight: t.weight };
}

/** "a, b or c". */
function orList(names: readonly string[]): string {
  return names.length > 1 ? `${names.slice(0, -1).join(', ')} or ${names.at(-1)}` : names.join('');
}

/** The embedding layer of a model: ConfigError unless the input is flat (an image's pixels are not categories). */
function embeddingLayer(config: EmbeddingConfig, inputShape: readonly number[], seed: number): Embedding {
  if (inputShape.length !== 1) {
    throw new ConfigError(`embedding needs a flat inputShape (one feature per column) but the model's is [${inputShape.join(', ')}]; flatten the inputs or leave embedding out`);
  }
  return new Embedding(config, inputShape[0], seed);
}

/**
 * A body behind the embedding layer: the embedding's output is the inner body's input, and the
 * inner body's input gradient the embedding's output gradient. Everything that runs the body
 * (the model, the gradient-based weighting methods) thus trains the tables too.
 */
class EmbeddedBody implements Body {
  readonly penalty?: () => Promise<number>;
  readonly inherit?: Body['inherit'];

  constructor(
    private readonly embedding: Embedding,
    private readonly inner: Body,
  ) {
    if (inner.penalty) this.penalty = () => inner.penalty!();
    if (inner.inherit) this.inherit = (...a) => inner.inherit!(...a);
  }

  /** The inner body's blocks tell `ready` (the tables, at offset 0, finish last: the model tells that). */
  setGradientsReady(ready: ((from: number) => void) | null): void {
    this.inner.setGradientsReady?.(ready);
  }

  get width(): number {
    return this.inner.width;
  }

  get stackStride(): number {
    return this.inner.stackStride;
  }

  allocate(backend: Backend, maxBatch: number, params: ParameterStore): void {
    this.embedding.allocate(backend, maxBatch);
    this.inner.allocate(backend, maxBatch, params);
  }

  forward(x: Tensor, n: number, step: StepContext): Tensor {
    return this.inner.forward(this.embedding.forward(x, n), n, step);
  }

  backward(dRepresentation: Tensor, n: number): void {
    const d = this.embedding.outputGradient(n);
    this.inner.backward(dRepresentation, n, d);
    this.embedding.backward(d, n);
  }

  describe(): string {
    return `${this.embedding.describe()}\n${this.inner.describe()}`;
  }
}
