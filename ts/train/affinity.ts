/**
 * Which tasks help each other: inter-task affinity measured while training (TAG, Fifty et al.
 * 2021; formulas in shared/REFERENCES.md, "Task affinity and transferability").
 *
 * Every `every` steps, on the step's loaded batch and BEFORE the real step's forward (so the
 * real step is unchanged), at the current parameters θ^t:
 *   1. one forward + fused multi-loss with every task weight 1 (the step's dropout seed): the
 *      losses L_j(before) and the per-task gradients g_i = ∂L_i/∂θ_shared of the shared
 *      parameters (one trunk backward per task, {@link PerTaskGradients.parameterGradients});
 *   2. 'linearised' and 'cosine' from their T×T Gram K = G·Gᵀ (read back, T² floats);
 *   3. 'lookahead': for each task i, one optimizer update of the shared parameters with g_i
 *      alone and the optimizer's own rule (momentum / Adam moments, weight decay, the step's lr
 *      and bias correction), the heads kept at θ^t, then one forward + multi-loss (same dropout
 *      seed) giving L_j(after i); the parameters, the optimizer state and its step count are then
 *      restored exactly (backend copies from snapshots). The T + 1 loss vectors are gathered on
 *      the backend and read back once.
 * Cost, every k steps: 1 + T forwards, T trunk backwards, T optimizer steps and (T + 1)·(1 +
 * optimizer-state arenas) arena copies; nothing else. All buffers are made once.
 *
 * The lookahead update steps the whole arena (the optimizer has no sub-range step yet) and
 * copies the heads' part back from the snapshot; the restore makes that exact.
 *
 * Measures (i: source, j: target; rows are sources):
 *   lookahead   Z_{i→j} = 1 − L_j(θ_s after one step on task i, θ_j) / L_j(θ_s, θ_j)
 *   linearised  Z_{i→j} ≈ lr·⟨g_i, g_j⟩ / L_j   (the first-order expansion for plain SGD)
 *   cosine      ⟨g_i, g_j⟩ / (‖g_i‖‖g_j‖)
 * With `perLr: true` lookahead and linearised are divided by the step's learning rate, as TAG's
 * official code does (then linearised is ⟨g_i, g_j⟩ / L_j); the default (false) is the paper's
 * formula, a dimensionless relative loss change. Entries whose L_j(before) is 0 (no labelled
 * sample of task j in the batch) are left out of the averages; NaN losses give NaN entries.
 *
 * Shared parameters: the trunk of hard sharing (the arena before the first head). Other
 * sharing kinds are a ConfigError: in MMoE/CGC/PLE the experts are shared but every task reads
 * its own gated mixture, and in soft sharing / cross-stitch every task has its own tower, so a
 * "shared-parameters-only" step is not defined the same way; the probe does not measure them.
 */
import type { Backend, Tensor } from '../backends/backend.js';
import { checkKeys } from '../core/options.js';
import { ConfigError, describe, expectInt } from '../errors.js';
import type { MultiTaskModel } from '../mtl/model.js';
import { PerTaskGradients } from '../mtl/weighting/per-task-gradients.js';
import type { StepContext } from '../nn/layer.js';
import type { Optimizer } from './optimizer.js';

/** What an {@link AffinityProbe} measures: one measure, or 'all' three. */
export type AffinityMethod = 'lookahead' | 'linearised' | 'cosine' | 'all';
/** One affinity measure (see {@link AffinityProbe}). */
export type AffinityMeasure = 'lookahead' | 'linearised' | 'cosine';
/** Every {@link AffinityMethod}. */
export const AFFINITY_METHODS: readonly AffinityMethod[] = ['lookahead', 'linearised', 'cosine', 'all'];
/** Every {@link AffinityMeasure}, in the order records list them. */
export const AFFINITY_MEASURES: readonly AffinityMeasure[] = ['lookahead', 'linearised', 'cosine'];

/** TrainerConfig.affinity: how the run measures inter-task affinity. Unknown keys are ConfigErrors. */
export interface AffinityConfig {
  /** What to measure (default 'lookahead'). */
  method?: AffinityMethod;
  /** Probe every k optimizer steps, at steps k, 2k, ... of the run (default 10, TAG's). */
  every?: number;
  /** Divide lookahead and linearised by the step's learning rate, as TAG's code does (default false: the paper's formula). */
  perLr?: boolean;
}

/** A T×T matrix (rows: source task i, columns: target task j), as JSON. */
export type AffinityMatrix = number[][];

/** One epoch's affinity (EpochRecord.affinity): the mean over its probes of each measure asked for. */
export interface AffinityRecord {
  /** Probes taken in the epoch (after a mid-epoch resume: only those after the resume). */
  probes: number;
  /** The lookahead affinity Z_{i→j}, when measured. */
  lookahead?: AffinityMatrix;
  /** The linearised lookahead lr·⟨g_i, g_j⟩/L_j, when measured. */
  linearised?: AffinityMatrix;
  /** The gradient cosine, when measured. */
  cosine?: AffinityMatrix;
}

/** A run's affinity (Trainer.affinity, affinity.json in the run folder). */
export interface AffinityReport {
  /** Task names: the order of the matrices' rows (sources) and columns (targets). */
  tasks: string[];
  /** What was measured. */
  method: AffinityMethod;
  /** Probe period in steps. */
  every: number;
  /** Whether lookahead and linearised are divided by the learning rate. */
  perLr: boolean;
  /** Per epoch: its number and its record. */
  epochs: (AffinityRecord & {
    /** The epoch (1-based) this record covers. */
    epoch: number;
  })[];
  /** The mean over every probe of the run (epochs weighted by their probes). */
  mean: AffinityRecord;
}

const AFFINITY_KEYS = ['method', 'every', 'perLr'] as const satisfies readonly (keyof AffinityConfig)[];

/** The measures a method computes. */
export function measuresOf(method: AffinityMethod): AffinityMeasure[] {
  return method === 'all' ? [...AFFINITY_MEASURES] : [method];
}

/** Checks an AffinityConfig (ConfigError naming the key) and fills in the defaults. */
export function checkAffinityConfig(c: AffinityConfig): Required<AffinityConfig> {
  if (typeof c !== 'object' || c === null) throw new ConfigError(`Expected an object { method, every } for affinity but received ${describe(c)}`);
  checkKeys(c, AFFINITY_KEYS, 'affinity');
  const method = c.method ?? 'lookahead';
  if (!AFFINITY_METHODS.includes(method)) {
    throw new ConfigError(`Expected ${AFFINITY_METHODS.join(' | ')} for affinity.method but received ${describe(method)}`);
  }
  const every = expectInt('affinity.every', c.every ?? 10);
  if (c.perLr !== undefined && typeof c.perLr !== 'boolean') throw new ConfigError(`Expected true or false for affinity.perLr but received ${describe(c.perLr)}`);
  return { method, every, perLr: c.perLr ?? false };
}

/** Lane stride of the loss rows gathered on the backend (views start at multiples of 64). */
function rowStride(T: number): number {
  return Math.ceil(T / 64) * 64;
}

/**
 * Measures inter-task affinity during training (see the file's comment for the procedure and
 * formulas). The Trainer makes one from TrainerConfig.affinity; `run` probes the loaded batch
 * before a step, `takeEpoch` returns the epoch's means and starts the next epoch. Throws
 * ConfigError for a bad config or a model without a shared trunk (hard sharing).
 */
export class AffinityProbe {
  /** The checked configuration, defaults filled in. */
  readonly config: Required<AffinityConfig>;
  /** The measures computed. */
  readonly measures: AffinityMeasure[];
  private readonly T: number;
  private readonly backend: Backend;
  private readonly gradients: PerTaskGradients;
  private readonly lookahead: boolean;
  /** Sums and counts of each measure's entries over the epoch's probes. */
  private readonly sums: Map<AffinityMeasure, { sum: Float64Array; count: Float64Array }> = new Map();
  private probes = 0;
  /** Backend: T + 1 loss rows (row T: before), their host copy. */
  private readonly lossBuf: Tensor;
  private readonly lossRows: Tensor[];
  private readonly lossHost: Float32Array;
  private readonly gram: Float64Array;
  /** Task weights: the model's, saved during a probe, and ones. */
  private readonly savedWeights: Tensor;
  private readonly ones: Tensor;
  /** Lookahead only: snapshots of the parameter arena and the optimizer state, views of the shared and head parts. */
  private readonly snap: {
    values: Tensor;
    state: [Tensor, Tensor][];
    sharedGrads: Tensor;
    heads: [Tensor, Tensor] | null;
  } | null;

  constructor(
    private readonly model: MultiTaskModel,
    private readonly optimizer: Optimizer,
    config: AffinityConfig,
  ) {
    this.config = checkAffinityConfig(config);
    this.measures = measuresOf(this.config.method);
    if (model.body.stackStride !== 0 || model.sharedParameterSize === 0) {
      throw new ConfigError(
        `affinity measures how a step on one task's loss moves the shared parameters, and ${model.sharing.kind} sharing has no parameters every task reads alike ` +
          '(MMoE/CGC/PLE: the experts are shared but each task has its own gate; soft/cross-stitch: one tower per task); use hard sharing to measure affinity',
      );
    }
    const be = (this.backend = model.backend);
    const T = (this.T = model.tasks.length);
    this.gradients = new PerTaskGradients(model);
    this.lookahead = this.measures.includes('lookahead');
    for (const m of this.measures) this.sums.set(m, { sum: new Float64Array(T * T), count: new Float64Array(T * T) });
    const stride = rowStride(T);
    this.lossBuf = be.alloc([(T + 1) * stride]);
    this.lossRows = Array.from({ length: T + 1 }, (_, r) => be.view(this.lossBuf, r * stride, [T]));
    this.lossHost = new Float32Array((T + 1) * stride);
    this.gram = new Float64Array(T * T);
    this.savedWeights = be.alloc([T]);
    this.ones = be.upload(new Float32Array(T).fill(1), [T]);
    if (this.lookahead) {
      const P = model.sharedParameterSize;
      const A = model.params.arenaSize;
      const values = be.alloc([A]);
      this.snap = {
        values,
        state: Object.values(optimizer.state).map((t) => [t, be.alloc([A])]),
        sharedGrads: be.view(model.params.grads, 0, [P]),
        heads: A > P ? [be.view(values, P, [A - P]), be.view(model.params.values, P, [A - P])] : null,
      };
    } else {
      this.snap = null;
    }
  }

  /** Whether the step numbered `step` (1-based, counted over the run) is probed. */
  due(step: number): boolean {
    return step % this.config.every === 0;
  }

  /**
   * Probes the loaded batch of n samples at the current parameters (before the step that will
   * use `step`'s dropout seed), adding the result to the epoch's sums. Leaves the parameters,
   * the optimizer state and step count, and the task weights exactly as it found them; the
   * gradient arena, the activations and model.losses are overwritten (the real step
   * recomputes them). A learning rate of 0 skips the probe (no step, nothing to measure).
   */
  async run(n: number, step: StepContext): Promise<void> {
    const { model, backend: be, T } = this;
    const lr = this.optimizer.lr;
    if (lr === 0) return;
    // Unweighted per-task gradients: every weight 1 for the probe, the strategy's weights back after.
    const weights = model.lossWeights;
    be.copy(weights, this.savedWeights);
    be.copy(this.ones, weights);
    model.zeroGradients();
    const logits = model.forward(n, step);
    const dl = model.computeLoss(n, logits);
    be.copy(model.losses, this.lossRows[T]);
    const G = this.gradients.parameterGradients(dl, n);
    if (this.measures.length > 1 || !this.lookahead) this.gram.set(await this.gradients.gramOf(G));
    const snap = this.snap;
    if (snap) {
      const steps = this.optimizer.steps;
      be.copy(model.params.values, snap.values);
      for (const [live, saved] of snap.state) be.copy(live, saved);
      for (let i = 0; i < T; i++) {
        be.copy(this.gradients.parameterGradientRow(i), snap.sharedGrads);
        this.optimizer.step();
        this.optimizer.steps = steps;
        if (snap.heads) be.copy(snap.heads[0], snap.heads[1]); // the heads stay at θ^t
        model.computeLoss(n, model.forward(n, step));
        be.copy(model.losses, this.lossRows[i]);
        be.copy(snap.values, model.params.values);
        for (const [live, saved] of snap.state) be.copy(saved, live);
      }
    }
    be.copy(this.savedWeights, weights);
    await be.read(this.lossBuf, this.lossHost);
    this.accumulate(lr);
  }

  /**
   * Adds one probe's matrices (from lossHost and gram) to the sums. An entry whose denominator
   * is 0 (L_j = 0: no labelled sample of task j in the batch; for cosine a zero gradient) is
   * left out; NaN losses or gradients give NaN entries.
   */
  private accumulate(lr: number): void {
    const { T, gram, lossHost } = this;
    const stride = rowStride(T);
    const scale = this.config.perLr ? 1 / lr : 1;
    for (const m of this.measures) {
      const acc = this.sums.get(m)!;
      for (let i = 0; i < T; i++) {
        for (let j = 0; j < T; j++) {
          const L = lossHost[T * stride + j];
          const norms = gram[i * T + i] * gram[j * T + j];
          if (m === 'cosine' ? norms === 0 : L === 0) continue;
          let z: number;
          if (m === 'lookahead') z = (1 - lossHost[i * stride + j] / L) * scale;
          else if (m === 'linearised') z = (lr * gram[i * T + j] * scale) / L;
          else z = gram[i * T + j] / Math.sqrt(norms);
          acc.sum[i * T + j] += z;
          acc.count[i * T + j]++;
        }
      }
    }
    this.probes++;
  }

  /** The epoch's means (undefined when no probe ran in it), and resets the sums for the next epoch. */
  takeEpoch(): AffinityRecord | undefined {
    const T = this.T;
    const probes = this.probes;
    const out: AffinityRecord = { probes };
    for (const [m, acc] of this.sums) {
      out[m] = Array.from({ length: T }, (_, i) => Array.from({ length: T }, (_, j) => acc.sum[i * T + j] / acc.count[i * T + j]));
      acc.sum.fill(0);
      acc.count.fill(0);
    }
    this.probes = 0;
    return probes > 0 ? out : undefined;
  }

  /** Forgets the sums of the epoch in progress (a resume starts an epoch's sums afresh). */
  resetEpoch(): void {
    for (const acc of this.sums.values()) {
      acc.sum.fill(0);
      acc.count.fill(0);
    }
    this.probes = 0;
  }
}

/**
 * A run's affinity report from its epoch records: each epoch's record, and the probe-weighted
 * mean over the run. Entries an epoch left out (NaN) are left out of the mean.
 */
export function affinityReport(tasks: readonly string[], config: Required<AffinityConfig>, epochs: readonly { epoch: number; affinity?: AffinityRecord }[]): AffinityReport {
  const T = tasks.length;
  const kept = epochs.filter((e) => e.affinity && e.affinity.probes > 0).map((e) => ({ epoch: e.epoch, ...e.affinity! }));
  const mean: AffinityRecord = { probes: kept.reduce((s, e) => s + e.probes, 0) };
  for (const m of measuresOf(config.method)) {
    mean[m] = Array.from({ length: T }, (_, i) =>
      Array.from({ length: T }, (_, j) => {
        let s = 0;
        let w = 0;
        for (const e of kept) {
          const v = e[m]?.[i]?.[j];
          if (typeof v !== 'number' || Number.isNaN(v)) continue;
          s += v * e.probes;
          w += e.probes;
        }
        return w > 0 ? s / w : NaN;
      }),
    );
  }
  return { tasks: [...tasks], method: config.method, every: config.every, perLr: config.perLr, epochs: kept, mean };
}

/**
 * A matrix as aligned text: a header of target names, one row per source task, `digits`
 * decimals (default: enough for 4 significant digits of the largest entry, at least 2).
 */
export function formatAffinity(matrix: AffinityMatrix, tasks: readonly string[], digits?: number): string {
  if (digits === undefined) {
    const top = Math.max(...matrix.flat().filter((v) => Number.isFinite(v)).map(Math.abs), 0);
    digits = top > 0 ? Math.min(12, Math.max(2, 3 - Math.floor(Math.log10(top)))) : 2;
  }
  const w = Math.max(8, digits + 4, ...tasks.map((t) => t.length + 1));
  const head = `${'source \\ target'.padEnd(w + 8)}${tasks.map((t) => t.padStart(w)).join('')}`;
  const rows = matrix.map((row, i) => `${tasks[i].padEnd(w + 8)}${row.map((v) => (Number.isNaN(v) ? 'n/a' : v.toFixed(digits)).padStart(w)).join('')}`);
  return [head, ...rows].join('\n');
}

/** Ranks of `values` from 1, ties given their mean rank. */
function ranks(values: readonly number[]): number[] {
  const order = values.map((v, i) => i).sort((a, b) => values[a] - values[b]);
  const out = new Array<number>(values.length);
  for (let s = 0; s < order.length; ) {
    let e = s;
    while (e + 1 < order.length && values[order[e + 1]] === values[order[s]]) e++;
    for (let k = s; k <= e; k++) out[order[k]] = (s + e) / 2 + 1;
    s = e + 1;
  }
  return out;
}

/**
 * How well two affinity matrices agree on the order of task pairs: the Spearman rank
 * correlation of their off-diagonal entries (pairs where either is NaN left out), in [−1, 1];
 * NaN when fewer than 2 pairs remain or one matrix ranks them all alike.
 */
export function rankAgreement(a: AffinityMatrix, b: AffinityMatrix): number {
  const x: number[] = [];
  const y: number[] = [];
  a.forEach((row, i) =>
    row.forEach((v, j) => {
      const w = b[i]?.[j];
      if (i !== j && typeof w === 'number' && !Number.isNaN(v) && !Number.isNaN(w)) {
        x.push(v);
        y.push(w);
      }
    }),
  );
  if (x.length < 2) return NaN;
  const rx = ranks(x);
  const ry = ranks(y);
  const mean = (x.length + 1) / 2;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let k = 0; k < x.length; k++) {
    sxy += (rx[k] - mean) * (ry[k] - mean);
    sxx += (rx[k] - mean) ** 2;
    syy += (ry[k] - mean) ** 2;
  }
  return sxy / Math.sqrt(sxx * syy);
}
