/**
 * Elastic weight consolidation (Kirkpatrick et al. 2017): after a stage, the diagonal Fisher
 * information F of the stage's tasks and the parameters θ* at its end; while later stages
 * train, the penalty λ/2·Σ_i F_i(θ_i − θ*_i)² keeps the parameters that mattered near θ*. Its
 * gradient, λ·F ⊙ (θ − θ*), is added to the gradient arena by one fused kernel per step
 * (Backend.ewcPenalty) between the backward pass and clipping / the optimizer.
 *
 * The Fisher variants (van de Ven, "On the computation of the Fisher information in continual
 * learning", ICLR 2025 blog; his code's `--fisher-labels`):
 * - 'exact' (the default, the one the blog argues for): per sample x, the expectation over the
 *   model's own predicted distribution, Σ_c p(c|x)·(∇ log p(c|x))², one backward pass per
 *   class per task (his 'all'); deterministic;
 * - 'sampled': one label per sample and task drawn from p(·|x) (seeded; his 'sample'), an
 *   unbiased one-pass estimate of 'exact';
 * - 'empirical': the true labels, (∇ log p(y|x))² (his 'true');
 * - 'batched': squared gradients of mini-batch mean losses, averaged over the batches (what
 *   Avalanche computes): cheap, but not the Fisher (a batch mean's square is not a mean of
 *   squares) and smaller by about the batch size.
 * The per-sample variants run whole batches when every parameter is in a dense map (MLP trunks,
 * MMoE / CGC / OMoE with dense experts, the heads): sample i's gradient of a dense W is
 * dz_iᵀ·x_i, so Σ_i (∇_W ℓ_i)² = (dz∘dz)ᵀ(x∘x), one GEMM per layer and backward pass
 * (SquaredGradientSource, ts/nn/dense.ts); other models (conv, cross-stitch, soft towers, PLE,
 * embeddings) run one sample per backward pass and square its gradient ({@link fisherEstimate}
 * says which ran). The squares are summed on the device and the sum is read back once. 'exact'
 * and 'sampled' need the model's likelihood: classification tasks with softmax-ce and binary ones
 * with bce; 'empirical' and 'batched' take any loss (the squared gradients of the task's loss as
 * it is).
 *
 * More than one old stage: separate penalties Σ_k λ/2·F_k(θ − θ*_k)² (EWC) have the gradient
 * λ·F(θ − θ̄) with F = Σ_k F_k and θ̄ = Σ_k F_kθ*_k / F (θ̄ = the newest θ* where F = 0), so
 * {@link consolidate} folds them into one (F, θ̄) and a step still runs one kernel; online EWC
 * (Schwarz et al. 2018) keeps F ← γ·F_old + F_new and the newest θ* alone. A state names the
 * tasks its Fisher is of, and checkpoints store them with it (`ewc.task.<name>`), so a model
 * extended with EWC and extended again keeps the earlier penalty and adds the Fisher of the tasks
 * learned since (trainExtension's previous.ewc, `hydranet extend` on an extended run).
 */
import type { Tensor } from '../backends/backend.js';
import { packedOf } from '../backends/packed.js';
import { checkKeys } from '../core/options.js';
import { Rng } from '../core/random.js';
import type { MultiTaskDataset } from '../data/dataset.js';
import { ConfigError, ShapeError, ValueError, describe, expectInt } from '../errors.js';
import type { CheckpointContents, StoredTensor } from '../io/checkpoint.js';
import type { MultiTaskModel } from '../mtl/model.js';
import type { Task } from '../mtl/task.js';
import { type SquaredGradientSource, isSquaredGradientSource } from '../nn/dense.js';
import { BatchBuffer } from '../nn/layer.js';

/** How {@link fisherDiagonal} estimates the Fisher information (see the module comment). */
export type FisherVariant = 'exact' | 'sampled' | 'empirical' | 'batched';

/** The Fisher variants, the default first. */
export const FISHER_VARIANTS: readonly FisherVariant[] = ['exact', 'sampled', 'empirical', 'batched'];

/** Options of {@link fisherDiagonal}. Unknown keys are ConfigErrors. */
export interface FisherOptions {
  /** Default 'exact'. */
  variant?: FisherVariant;
  /** The tasks whose likelihood the Fisher is of (default: every task of the model that takes labels, not the self-supervised ones). */
  tasks?: readonly string[];
  /** Samples used: a seeded random subset of this many (default: every sample of the data). */
  samples?: number;
  /** 'batched' only: samples per mini-batch (default 128, at most the model's maxBatch). */
  batchSize?: number;
  /** Seed of the subset and of the 'sampled' labels (default 0). */
  seed?: number;
  /**
   * How the per-sample variants run (see {@link fisherEstimate}): 'batch-squares' (whole
   * batches; ConfigError unless every parameter is in a dense map), 'single' (one sample per
   * backward pass) or 'auto' (default: 'batch-squares' where the model allows it, else 'single').
   * Both give the same Fisher (up to float rounding). Ignored by 'batched'.
   */
  path?: 'auto' | 'batch-squares' | 'single';
}

/** An EWC anchor: the diagonal Fisher F and the parameters θ* it is taken at, each one value per element of the model's parameter arena. */
export interface EwcState {
  /** F, ≥ 0 (0 where the old tasks do not depend on the parameter, and on arena padding). */
  readonly fisher: Float32Array;
  /** θ*. */
  readonly anchor: Float32Array;
  /**
   * The tasks whose Fisher F holds (checkpoints store them as `ewc.task.<name>`), so that a later
   * extension adds the Fisher of the tasks learned since and keeps this one; absent when unknown.
   */
  readonly tasks?: readonly string[];
}

/** The EWC penalty of {@link TrainerConfig.penalty}: λ/2·Σ F(θ − θ*)², its gradient added every step. */
export interface EwcPenaltyConfig {
  /** 'ewc' (the only kind so far). */
  kind: 'ewc';
  /** λ, finite and ≥ 0 (van de Ven & Tolias use 1e5 on Split MNIST, task-incremental). */
  lambda: number;
  /** F, one value per element of the model's parameter arena. */
  fisher: Float32Array;
  /** θ*, one value per element of the model's parameter arena. */
  anchor: Float32Array;
  /** The tasks whose Fisher `fisher` holds (stored in the checkpoints; see EwcState.tasks). */
  tasks?: readonly string[];
}

/**
 * Whether a task has a likelihood the 'exact' and 'sampled' Fisher can take labels from:
 * classification with softmax-ce, binary with bce.
 */
export function hasLikelihood(task: Task): boolean {
  return (task.kind === 'classification' && task.loss === 'softmax-ce') || (task.kind === 'binary' && task.loss === 'bce');
}

/** The tasks the Fisher is of, with their indices in the model. */
function fisherTasks(model: MultiTaskModel, names: readonly string[] | undefined, variant: FisherVariant): { task: Task; index: number }[] {
  if (names !== undefined && (!Array.isArray(names) || names.length === 0)) {
    throw new ConfigError(`Expected a non-empty array of task names for tasks but received ${describe(names)}`);
  }
  // By default the tasks that take labels: a self-supervised task's targets come from the inputs, staged by the Trainer.
  const chosen = (names ?? model.tasks.filter((t) => !t.selfSupervised).map((t) => t.name)).map((name) => ({ task: model.tasks[model.taskIndex(name)], index: model.taskIndex(name) }));
  if (variant === 'exact' || variant === 'sampled') {
    for (const { task } of chosen) {
      if (!hasLikelihood(task)) {
        throw new ConfigError(
          `The ${variant} Fisher samples labels from the model's likelihood: task ${task.name} (${task.kind}, loss ${task.loss}) has none; ` +
            "use classification with softmax-ce or binary with bce, or the 'empirical' or 'batched' variant",
        );
      }
    }
  }
  return chosen;
}

/** Seeded choice of `count` sample indices (all of them in a seeded order when count = length). */
function chooseSamples(length: number, count: number, seed: number): Int32Array {
  const order = Int32Array.from({ length }, (_, i) => i);
  new Rng(seed).shuffle(order);
  return order.subarray(0, count);
}

/** How {@link fisherEstimate} runs a per-sample variant (FisherOptions.path). */
export type FisherPath = 'batch-squares' | 'single';

/** What {@link fisherEstimate} returns: the Fisher and how it was computed. */
export interface FisherEstimate {
  /** F, one value per element of the parameter arena (what {@link fisherDiagonal} returns). */
  readonly fisher: Float32Array;
  /**
   * How it ran: 'batch-squares' (the per-sample squares of whole batches, every parameter in a
   * dense map), 'single' (one sample per backward pass, any model) or 'batch-means' (the
   * 'batched' variant).
   */
  readonly path: FisherPath | 'batch-means';
  /** Why a per-sample variant ran 'single': the first parameter outside a dense map, or that it was asked for. Absent otherwise. */
  readonly reason?: string;
  /** Samples the Fisher averages over. */
  readonly samples: number;
  /** Backward passes run (for 'exact', at most one per batch, task and class). */
  readonly backwardPasses: number;
}

/**
 * The parts of `model` whose backward can accumulate squared per-sample gradients (the heads,
 * the trunk's dense layers, MMoE / CGC / OMoE gates and dense experts), and the first parameter
 * none of them covers (conv, cross-stitch units, soft towers, PLE, embeddings): null when the
 * batch path is exact for every parameter.
 */
function squaredSources(model: MultiTaskModel): { sources: SquaredGradientSource[]; uncovered: string | null } {
  const sources: SquaredGradientSource[] = [model.heads];
  if (isSquaredGradientSource(model.body)) sources.push(model.body);
  const covered = new Set(sources.flatMap((s) => s.squaredParameters));
  return { sources, uncovered: model.params.parameters.find((p) => !covered.has(p))?.name ?? null };
}

/**
 * The diagonal Fisher information of `tasks` (default all) at the model's current parameters,
 * estimated on `data` (see the module comment for the variants; default 'exact'). Returns one
 * value per element of the parameter arena (0 on padding and on parameters the tasks do not
 * reach). Runs in evaluation mode (no dropout). The model's loss weights are restored after.
 * {@link fisherEstimate} also says how it ran.
 * @throws what fisherEstimate throws.
 */
export async function fisherDiagonal(model: MultiTaskModel, data: MultiTaskDataset, options: FisherOptions = {}): Promise<Float32Array> {
  return (await fisherEstimate(model, data, options)).fisher;
}

/**
 * {@link fisherDiagonal}'s Fisher, with how it ran. The per-sample variants ('exact', 'sampled',
 * 'empirical') take the 'batch-squares' path when every parameter of the model is in a dense map
 * (hard-sharing MLP trunks, MMoE / CGC / OMoE with dense experts, the heads): a batch of up to
 * maxBatch samples runs one forward and one backward per pass ('exact': per task and class) in
 * which the rows of dL/dlogits are the samples' own gradients ('exact': row i scaled by
 * √p(c|x_i)), and every dense map adds Σ_i (∂ℓ_i/∂W)² = (dz∘dz)ᵀ(x∘x) and Σ_i dz_i∘dz_i to the
 * Fisher arena (SquaredGradientSource). Otherwise, or with `path: 'single'`, they run one sample
 * per backward pass and square its gradient (the same values, slower by about the batch size).
 * @throws ConfigError on an unknown option or task, a variant other than those of
 *   FISHER_VARIANTS, a task without a likelihood for 'exact' / 'sampled', or path
 *   'batch-squares' on a model with a parameter outside a dense map; ShapeError when the data's
 *   features or label widths differ from the model's; ValueError on a bad sample count or batch
 *   size, or a NaN prediction ('exact').
 */
export async function fisherEstimate(model: MultiTaskModel, data: MultiTaskDataset, options: FisherOptions = {}): Promise<FisherEstimate> {
  checkKeys(options, ['variant', 'tasks', 'samples', 'batchSize', 'seed', 'path'], 'fisherDiagonal options');
  const variant = options.variant ?? 'exact';
  if (!FISHER_VARIANTS.includes(variant)) throw new ConfigError(`Expected a Fisher variant (${FISHER_VARIANTS.join(', ')}) but received ${describe(variant)}`);
  const asked = options.path ?? 'auto';
  if (!['auto', 'batch-squares', 'single'].includes(asked)) throw new ConfigError(`Expected 'auto', 'batch-squares' or 'single' for path but received ${describe(asked)}`);
  const chosen = fisherTasks(model, options.tasks, variant);
  if (typeof data?.gatherInputs !== 'function') throw new ConfigError(`Expected a MultiTaskDataset for data but received ${describe(data)}`);
  if (data.featureSize !== model.featureSize) throw new ShapeError(`fisherDiagonal: samples have ${data.featureSize} features, the model expects ${model.featureSize}`);
  const labelled = variant === 'empirical' || variant === 'batched';
  if (labelled) {
    for (const { task } of chosen) {
      if (!data.taskNames.includes(task.name)) throw new ConfigError(`The ${variant} Fisher needs labels of task ${task.name}; the data has ${data.taskNames.join(', ') || 'none'}`);
      if (data.labelWidth(task.name) !== task.labelWidth) throw new ShapeError(`fisherDiagonal: task ${task.name} labels have width ${data.labelWidth(task.name)}, expected ${task.labelWidth}`);
    }
  }
  const N = options.samples === undefined ? data.length : expectInt('samples', options.samples, 1);
  if (N > data.length) throw new ValueError(`Expected at most ${data.length} samples (the data's) for samples but received ${N}`);
  const seed = expectInt('seed', options.seed ?? 0, 0);
  let path: FisherEstimate['path'] = 'batch-means';
  let reason: string | undefined;
  let sources: SquaredGradientSource[] = [];
  if (variant !== 'batched') {
    const plan = squaredSources(model);
    if (asked === 'batch-squares' && plan.uncovered) {
      throw new ConfigError(`path 'batch-squares' needs every parameter in a hard trunk's dense layers, MMoE / CGC / OMoE gates or dense experts, or the heads; ${plan.uncovered} is not (use path 'auto' or 'single')`);
    }
    reason = asked === 'single' ? "path 'single' was asked for" : plan.uncovered ? `parameter ${plan.uncovered} is not in a hard trunk's dense layers, MMoE / CGC / OMoE gates or dense experts, or the heads` : undefined;
    path = reason ? 'single' : 'batch-squares';
    if (path === 'batch-squares') sources = plan.sources;
  }
  const batch = path === 'batch-means' ? expectInt('batchSize', options.batchSize ?? Math.min(128, model.maxBatch), 1) : path === 'single' ? 1 : model.maxBatch;
  if (batch > model.maxBatch) throw new ValueError(`Expected batchSize at most ${model.maxBatch} (the model's maxBatch) but received ${batch}`);
  const order = chooseSamples(data.length, N, seed);
  const F = model.featureSize;
  const T = model.tasks.length;
  const layout = packedOf(model.lossLayout);
  const tgtWidth = model.lossLayout.totalTgt;
  const W = model.logitWidth;
  const inputs = new Float32Array(N * F);
  data.gatherInputs(order, 0, N, inputs);
  // 'exact' and 'sampled' need p(·|x) of every chosen task: one batched prediction, before the model is claimed.
  const probs = labelled ? null : await model.predict(inputs);
  // 'sampled': every sample's labels drawn up front, sample by sample and task by task within one.
  const drawn = variant === 'sampled' ? drawLabels(chosen, probs!, N, tgtWidth, layout, seed) : null;

  const be = model.backend;
  const release = model.claim('fisherDiagonal()');
  const savedWeights = await be.read(model.lossWeights);
  const sum = be.alloc([model.params.arenaSize]);
  const square = path === 'batch-squares' ? null : be.alloc([model.params.arenaSize]);
  // 'exact': the per-sample scale √p(c|x_i) of the class pass's dL/dlogits rows.
  const scale = variant === 'exact' ? new BatchBuffer(be, batch, [W]) : null;
  let backwardPasses = 0;
  let batches = 0;
  try {
    for (const s of sources) s.squaredGradients(sum);
    const weights = new Float32Array(T);
    const targets = new Float32Array(batch * tgtWidth);
    const mask = new Float32Array(batch * T);
    const hostScale = new Float32Array(batch * W);
    const step = { training: false, seed: 0 };
    for (let from = 0; from < N; from += batch) {
      const n = Math.min(batch, N - from);
      targets.fill(0);
      mask.fill(0);
      if (labelled) {
        for (const { task, index } of chosen) {
          const labels = data.labels(task.name);
          const m = data.mask(task.name);
          const off = layout[5 * index + 3];
          const w = task.labelWidth;
          for (let i = 0; i < n; i++) {
            const src = order[from + i];
            for (let j = 0; j < w; j++) targets[i * tgtWidth + off + j] = labels[src * w + j];
            mask[i * T + index] = m ? m[src] : 1;
          }
        }
      } else if (drawn) targets.set(drawn.subarray(from * tgtWidth, (from + n) * tgtWidth));
      model.loadBatch(n, inputs.subarray(from * F, (from + n) * F), targets, labelled ? mask : null);
      const logits = model.forward(n, step);
      // One backward pass from the loss at the weights; the loss's mean over the batch is undone
      // by a task weight of the batch's count (the multi-loss divides by it), so that the rows of
      // dL/dlogits are the samples' own gradients ('batched' keeps the mean, weight 1).
      const pass = (rowScale: Tensor | null): void => {
        if (path !== 'batch-squares') model.zeroGradients();
        model.setTaskWeights(weights);
        const dl = model.computeLoss(n, logits);
        if (rowScale) be.mul(dl, rowScale, dl);
        model.backward(dl, n);
        if (square) {
          be.mul(model.params.grads, model.params.grads, square);
          be.add(sum, square, sum);
        }
        backwardPasses++;
      };
      batches++;
      weights.fill(0);
      if (variant !== 'exact') {
        for (const { index } of chosen) {
          let count = n;
          if (labelled) {
            count = 0;
            for (let i = 0; i < n; i++) count += mask[i * T + index];
          }
          weights[index] = variant === 'batched' ? 1 : Math.max(1, count);
        }
        pass(null); // a sample (batch) unlabelled for every chosen task adds a zero gradient, but counts
        continue;
      }
      // exact: Σ_t Σ_c p_t(c|x)·(∇ log p_t(c|x))² (cross-task terms vanish in expectation): one pass
      // per task and class, every row's gradient scaled by √p so that its square carries p.
      const rows = scale!.rows(n);
      for (const { task, index } of chosen) {
        const p = probs![task.name];
        const classes = task.kind === 'binary' ? 2 : task.outputs;
        const off = layout[5 * index + 1];
        const width = layout[5 * index + 2];
        const toff = layout[5 * index + 3];
        for (let c = 0; c < classes; c++) {
          hostScale.fill(0, 0, n * W);
          let any = false;
          for (let i = 0; i < n; i++) {
            const s = from + i;
            const pc = task.kind === 'binary' ? (c === 1 ? p[s] : 1 - p[s]) : p[s * task.outputs + c];
            if (Number.isNaN(pc)) throw new ValueError(`fisherDiagonal: the model predicts NaN for task ${task.name} on sample ${order[s]} (non-finite parameters?)`);
            hostScale.fill(Math.sqrt(pc), i * W + off, i * W + off + width);
            any ||= pc > 0;
          }
          if (!any) continue; // a class of probability 0 adds nothing
          for (let i = 0; i < n; i++) targets[i * tgtWidth + toff] = c;
          be.write(model.batchTargets(n), targets.subarray(0, n * tgtWidth));
          be.write(rows, hostScale.subarray(0, n * W));
          weights.fill(0);
          weights[index] = n;
          pass(rows);
        }
      }
    }
    const fisher = await be.read(sum);
    const scaleBy = 1 / Math.max(1, variant === 'batched' ? batches : N);
    for (let i = 0; i < fisher.length; i++) fisher[i] *= scaleBy;
    return { fisher, path, ...(reason && { reason }), samples: N, backwardPasses };
  } finally {
    for (const s of sources) s.squaredGradients(null);
    model.zeroGradients();
    be.free(sum);
    if (square) be.free(square);
    if (scale) be.free(scale.base);
    model.setTaskWeights(savedWeights);
    release();
  }
}

/**
 * 'sampled': one label per sample and chosen task drawn from the model's p(·|x) (seeded), in
 * targets rows [N, tgtWidth] (the task's target column), drawn sample by sample.
 */
function drawLabels(chosen: readonly { task: Task; index: number }[], probs: Record<string, Float32Array>, N: number, tgtWidth: number, layout: Int32Array, seed: number): Float32Array {
  const out = new Float32Array(N * tgtWidth);
  const rng = new Rng(seed ^ 0x5a17);
  for (let i = 0; i < N; i++) {
    for (const { task, index } of chosen) {
      const p = probs[task.name];
      const k = task.outputs;
      let c: number;
      if (task.kind === 'binary') c = rng.uniform() < p[i] ? 1 : 0;
      else {
        const u = rng.uniform();
        let acc = 0;
        c = k - 1;
        for (let j = 0; j < k; j++) {
          acc += p[i * k + j];
          if (u < acc) {
            c = j;
            break;
          }
        }
      }
      out[i * tgtWidth + layout[5 * index + 3]] = c;
    }
  }
  return out;
}

/**
 * The EWC state after a stage: `fisher` (of the stage's tasks) at `anchor` (the parameters at
 * the stage's end) folded into `previous` (null after the first stage), padded to the same
 * arena by {@link growEwcState} first. 'online' (with γ, default 1): F = γ·F_old + F_new, θ* =
 * the new anchor. 'separate' (EWC: one penalty per old stage): F = F_old + F_new and θ* their
 * F-weighted mean (see the module comment), which gives the sum of the separate penalties'
 * gradients exactly. `tasks`: the tasks `fisher` is of; the result's tasks are the previous
 * state's followed by these (unknown when the previous state's are).
 * @throws ShapeError when the arrays differ in length; ValueError on a γ outside [0, 1] or a
 *   negative or non-finite Fisher value.
 */
export function consolidate(
  previous: EwcState | null,
  fisher: Float32Array,
  anchor: Float32Array,
  mode: { kind: 'separate' } | { kind: 'online'; gamma?: number },
  tasks?: readonly string[],
): EwcState {
  const merged = previous && !previous.tasks ? undefined : tasks && [...new Set([...(previous?.tasks ?? []), ...tasks])];
  const named = merged ? { tasks: merged } : {};
  if (fisher.length !== anchor.length) throw new ShapeError(`consolidate: fisher has ${fisher.length} values, anchor ${anchor.length}`);
  for (let i = 0; i < fisher.length; i++) {
    if (!(fisher[i] >= 0 && fisher[i] < Infinity)) throw new ValueError(`Expected a finite Fisher value ≥ 0 at fisher[${i}] but received ${fisher[i]}`);
  }
  if (!previous) return { fisher: Float32Array.from(fisher), anchor: Float32Array.from(anchor), ...named };
  if (previous.fisher.length !== fisher.length || previous.anchor.length !== anchor.length) {
    throw new ShapeError(`consolidate: the previous state has ${previous.fisher.length} values, the new one ${fisher.length} (grow it with growEwcState first)`);
  }
  if (mode.kind === 'online') {
    const gamma = mode.gamma ?? 1;
    if (!(gamma >= 0 && gamma <= 1)) throw new ValueError(`Expected γ in [0, 1] for online EWC gamma but received ${describe(gamma)}`);
    return { fisher: Float32Array.from(fisher, (f, i) => gamma * previous.fisher[i] + f), anchor: Float32Array.from(anchor), ...named };
  }
  const F = new Float32Array(fisher.length);
  const A = new Float32Array(fisher.length);
  for (let i = 0; i < F.length; i++) {
    const fo = previous.fisher[i];
    const fn = fisher[i];
    const f = fo + fn;
    F[i] = f;
    A[i] = f > 0 ? (fo * previous.anchor[i] + fn * anchor[i]) / f : anchor[i];
  }
  return { fisher: F, anchor: A, ...named };
}

/** The arena ranges of a model's stored parameter parts, by name. */
function partsOf(model: MultiTaskModel): Map<string, { start: number; end: number; shape: readonly number[] }> {
  return new Map([...model.params.partRanges()].map((r) => [r.name, r]));
}

/**
 * `state` (over `from`'s parameter arena) laid out over `to`'s, part by part (by name, as
 * checkpoints store them): a part of both with one shape keeps its F and θ*; a new part (a new
 * task's head, gate, experts) and a part whose shape changed with the tasks gets F = 0 (free to
 * move) and θ* = its value in `toValues` when given, else 0. The tasks stay as they were.
 */
export function growEwcState(state: EwcState, from: MultiTaskModel, to: MultiTaskModel, toValues?: Float32Array): EwcState {
  if (state.fisher.length !== from.params.arenaSize || state.anchor.length !== from.params.arenaSize) {
    throw new ShapeError(`growEwcState: the state has ${state.fisher.length} values, the old model's arena ${from.params.arenaSize}`);
  }
  const fisher = new Float32Array(to.params.arenaSize);
  const anchor = toValues ? Float32Array.from(toValues) : new Float32Array(to.params.arenaSize);
  const old = partsOf(from);
  for (const r of to.params.partRanges()) {
    const o = old.get(r.name);
    if (!o || o.shape.join(',') !== r.shape.join(',')) continue;
    fisher.set(state.fisher.subarray(o.start, o.end), r.start);
    anchor.set(state.anchor.subarray(o.start, o.end), r.start);
  }
  return { fisher, anchor, ...(state.tasks && { tasks: state.tasks }) };
}

/**
 * Checkpoint tensors of an EWC state: `ewc.fisher.<part>` and `ewc.anchor.<part>`, one per stored
 * parameter part, and `ewc.task.<name>` (one value, 1) for each of its tasks when known.
 */
export function ewcTensors(model: MultiTaskModel, state: EwcState): Record<string, StoredTensor> {
  const out: Record<string, StoredTensor> = {};
  for (const name of state.tasks ?? []) out[`ewc.task.${name}`] = { shape: [1], data: Float32Array.of(1) };
  for (const r of model.params.partRanges()) {
    out[`ewc.fisher.${r.name}`] = { shape: [...r.shape], data: state.fisher.subarray(r.start, r.end) };
    out[`ewc.anchor.${r.name}`] = { shape: [...r.shape], data: state.anchor.subarray(r.start, r.end) };
  }
  return out;
}

/**
 * The EWC state a checkpoint stores (written by a Trainer with an EWC penalty, or by
 * saveCheckpoint with `extra: ewcTensors(...)`), laid out over `model`'s arena: parts the
 * checkpoint has keep their values, parts it lacks (tasks added since, by extend) get F = 0 and
 * θ* = 0; its tasks are the model's tasks the checkpoint names (`ewc.task.<name>`; absent in
 * checkpoints written before they were stored). Null when the checkpoint holds no EWC state.
 * @throws ShapeError naming a stored part whose shape differs from the model's.
 */
export function ewcFromCheckpoint(ck: CheckpointContents, model: MultiTaskModel): EwcState | null {
  if (![...ck.tensors.keys()].some((k) => k.startsWith('ewc.fisher.'))) return null;
  const fisher = new Float32Array(model.params.arenaSize);
  const anchor = new Float32Array(model.params.arenaSize);
  for (const r of model.params.partRanges()) {
    const f = ck.tensors.get(`ewc.fisher.${r.name}`);
    const a = ck.tensors.get(`ewc.anchor.${r.name}`);
    if (!f || !a) continue;
    for (const [what, t] of [['fisher', f], ['anchor', a]] as const) {
      if (t.shape.join(',') !== r.shape.join(',')) throw new ShapeError(`ewcFromCheckpoint: ewc.${what}.${r.name} is [${t.shape}], the model's ${r.name} is [${r.shape}]`);
    }
    fisher.set(f.data, r.start);
    anchor.set(a.data, r.start);
  }
  const tasks = model.tasks.map((t) => t.name).filter((name) => ck.tensors.has(`ewc.task.${name}`));
  return { fisher, anchor, ...(tasks.length > 0 && { tasks }) };
}

/**
 * The EWC penalty of a training run on the model's backend: F and θ* uploaded once; {@link apply}
 * adds λ·F ⊙ (θ − θ*) to the gradient arena with one kernel, allocating and reading nothing.
 */
export class EwcPenalty {
  /** λ. */
  readonly lambda: number;
  /** The host copy of the state (for checkpoints and the penalty's value). */
  readonly state: EwcState;
  private readonly fisher: Tensor;
  private readonly anchor: Tensor;

  /**
   * @throws ConfigError on an unknown key or a kind other than 'ewc'; ValueError on a λ that is
   *   not finite and ≥ 0, a negative or non-finite Fisher value or a non-finite θ*; ShapeError when F or θ* is
   *   not one value per element of the model's parameter arena.
   */
  constructor(
    private readonly model: MultiTaskModel,
    config: EwcPenaltyConfig,
  ) {
    checkKeys(config, ['kind', 'lambda', 'fisher', 'anchor', 'tasks'], 'trainer penalty');
    if (config.kind !== 'ewc') throw new ConfigError(`Expected penalty kind 'ewc' but received ${describe(config.kind)}`);
    if (typeof config.lambda !== 'number' || !Number.isFinite(config.lambda) || config.lambda < 0) {
      throw new ValueError(`Expected a finite number ≥ 0 for penalty.lambda but received ${describe(config.lambda)}`);
    }
    const n = model.params.arenaSize;
    for (const key of ['fisher', 'anchor'] as const) {
      const a = config[key];
      if (!(a instanceof Float32Array) || a.length !== n) {
        throw new ShapeError(`Expected a Float32Array of ${n} values (the model's parameter arena) for penalty.${key} but received ${describe(a)}${a instanceof Float32Array ? ` of ${a.length}` : ''}`);
      }
    }
    const bad = config.anchor.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) throw new ValueError(`Expected finite values for penalty.anchor but anchor[${bad}] is ${config.anchor[bad]}`);
    const tasks = config.tasks;
    if (tasks !== undefined && !(Array.isArray(tasks) && tasks.every((t) => typeof t === 'string' && model.tasks.some((u) => u.name === t)))) {
      throw new ConfigError(`Expected task names of the model (${model.tasks.map((t) => t.name).join(', ')}) for penalty.tasks but received ${describe(tasks)}`);
    }
    this.state = consolidate(null, config.fisher, config.anchor, { kind: 'separate' }, tasks);
    this.lambda = config.lambda;
    this.fisher = model.backend.upload(this.state.fisher, [n]);
    this.anchor = model.backend.upload(this.state.anchor, [n]);
  }

  /** g += λ·F ⊙ (θ − θ*) on the gradient arena: one kernel, after backward, before clipping and the optimizer. */
  apply(): void {
    const p = this.model.params;
    this.model.backend.ewcPenalty(p.values, this.anchor, this.fisher, p.grads, this.lambda);
  }

  /** λ/2·Σ F(θ − θ*)² at the parameters `values` (a host copy of the arena). */
  value(values: Float32Array): number {
    const { fisher, anchor } = this.state;
    let s = 0;
    for (let i = 0; i < fisher.length; i++) {
      const d = values[i] - anchor[i];
      s += fisher[i] * d * d;
    }
    return (this.lambda / 2) * s;
  }

  /** Frees the device copies. */
  dispose(): void {
    this.model.backend.free(this.fisher);
    this.model.backend.free(this.anchor);
  }
}
