/**
 * Continual (sequential, "lifelong") training: tasks arrive in stages, the model grows a head
 * for each new task (MultiTaskModel.extend) and trains on the new stage's data, and after every
 * stage each task seen so far is evaluated. The accuracy matrix R[i][j] (accuracy on task j
 * after stage i) gives the metrics of Lopez-Paz & Ranzato 2017 (GEM) and Chaudhry et al. 2018:
 * - ACC = mean over tasks j of R[S−1][j] (S stages; every task seen by the last one);
 * - BWT = mean over tasks j learned before the last stage of R[S−1][j] − R[s_j][j], s_j the
 *   stage that learned j;
 * - forgetting of j = max over stages l in [s_j, S−2] of R[l][j], minus R[S−1][j];
 * - FWT = mean over tasks j learned after the first stage of R[s_j − 1][j] − b_j, with b_j the
 *   accuracy of a randomly initialised model on j. In a task-incremental model R[s_j − 1][j]
 *   is the accuracy of the model after stage s_j − 1 with j's freshly initialised head (the
 *   state at the start of stage s_j), which trainStages measures.
 * With one task per stage, s_j = j and these are GEM's formulas over the square R.
 */
import type { Backend } from '../backends/backend.js';
import { checkKeys } from '../core/options.js';
import { ConfigError, ValueError, describe, expectInt } from '../errors.js';
import { MultiTaskDataset } from '../data/dataset.js';
import { ReplayBuffer, labelledFor } from '../data/replay.js';
import { type ModelConfig, MultiTaskModel } from '../mtl/model.js';
import type { TaskSpec } from '../mtl/task.js';
import { type EwcState, type FisherVariant, consolidate, fisherDiagonal, growEwcState } from './ewc.js';
import { ReplayStager } from './replay-stager.js';
import { type EpochRecord, Trainer, type TrainerConfig } from './trainer.js';

/** R[i][j]: accuracy on task j after stage i; NaN, null or undefined (or a short row) where not measured. */
export type AccuracyMatrix = readonly (readonly (number | null | undefined)[])[];

/** Options of {@link continualMetrics}. Unknown keys are ConfigErrors. */
export interface ContinualMetricsOptions {
  /** Per task, the stage that learned it (default: task j in stage j, a square R). */
  introduced?: readonly number[];
  /** Per task, the accuracy of a randomly initialised model (b_j): FWT is computed when given. */
  randomInit?: readonly number[];
}

/** The continual-learning metrics of an accuracy matrix (see the module comment); NaN where undefined. */
export interface ContinualMetrics {
  /** ACC: mean accuracy over every task after the last stage. */
  averageAccuracy: number;
  /** Per stage i, the mean accuracy over the tasks learned by then (the last is averageAccuracy). */
  accuracyByStage: number[];
  /** BWT: mean change of the accuracy of the tasks learned before the last stage, from just after their own stage to the end (negative: forgetting). NaN with one stage. */
  backwardTransfer: number;
  /** Per task, its best accuracy before the last stage (from its own stage on) minus its final one; NaN for the tasks of the last stage. */
  forgetting: number[];
  /** Mean forgetting over the tasks learned before the last stage; NaN with one stage. */
  averageForgetting: number;
  /** FWT (with randomInit): mean over the tasks learned after the first stage of R[s_j − 1][j] − b_j; NaN without randomInit or those entries. */
  forwardTransfer: number;
}

const entry = (R: AccuracyMatrix, i: number, j: number): number => {
  const v = R[i]?.[j];
  return typeof v === 'number' ? v : NaN;
};

const mean = (xs: readonly number[]): number => (xs.length === 0 ? NaN : xs.reduce((a, b) => a + b, 0) / xs.length);

/**
 * The metrics of an accuracy matrix R (rows: stages; columns: tasks). Entries of tasks not yet
 * learned may be NaN, null or missing; R[s_j][j] and R[S−1][j] must be numbers.
 * @throws ValueError on an empty R, a non-numeric entry where a measured value is needed
 *   (naming R[i][j]), or an `introduced` stage out of range; ShapeError-free: short rows are
 *   read as missing entries. ConfigError on an unknown option key or an `introduced` or
 *   `randomInit` array of another length than R's columns.
 */
export function continualMetrics(R: AccuracyMatrix, options: ContinualMetricsOptions = {}): ContinualMetrics {
  checkKeys(options, ['introduced', 'randomInit'], 'continualMetrics options');
  if (!Array.isArray(R) || R.length === 0 || !R.every((row) => Array.isArray(row))) {
    throw new ValueError(`Expected an accuracy matrix (a non-empty array of rows, one per stage) for R but received ${describe(R)}`);
  }
  const S = R.length;
  const T = options.introduced?.length ?? Math.max(...R.map((row) => row.length));
  const introduced = options.introduced ?? Array.from({ length: T }, (_, j) => j);
  if (options.introduced === undefined && T !== S) {
    throw new ConfigError(`R has ${S} stages and ${T} task columns: give options.introduced (the stage of each task) unless each stage learns one task`);
  }
  introduced.forEach((s, j) => {
    if (!Number.isInteger(s) || s < 0 || s >= S) throw new ValueError(`Expected a stage in [0, ${S}) for introduced[${j}] but received ${describe(s)}`);
  });
  if (options.randomInit !== undefined && options.randomInit.length !== T) {
    throw new ConfigError(`Expected ${T} random-init accuracies (one per task) for randomInit but received ${options.randomInit.length}`);
  }
  const measured = (i: number, j: number): number => {
    const v = entry(R, i, j);
    if (!Number.isFinite(v)) throw new ValueError(`Expected an accuracy at R[${i}][${j}] (task ${j} after stage ${i}) but received ${describe(R[i]?.[j])}`);
    return v;
  };
  const final = introduced.map((_, j) => measured(S - 1, j));
  const old = introduced.map((s, j) => j).filter((j) => introduced[j] < S - 1);
  const forgetting = introduced.map((s, j) => {
    if (s >= S - 1) return NaN;
    let best = -Infinity;
    for (let l = s; l <= S - 2; l++) best = Math.max(best, measured(l, j));
    return best - final[j];
  });
  const accuracyByStage = R.map((_, i) => mean(introduced.flatMap((s, j) => (s <= i ? [measured(i, j)] : []))));
  const b = options.randomInit;
  const fwt = b ? introduced.flatMap((s, j) => (s >= 1 && Number.isFinite(entry(R, s - 1, j)) ? [entry(R, s - 1, j) - b[j]] : [])) : [];
  return {
    averageAccuracy: mean(final),
    accuracyByStage,
    backwardTransfer: mean(old.map((j) => final[j] - measured(introduced[j], j))),
    forgetting,
    averageForgetting: mean(old.map((j) => forgetting[j])),
    forwardTransfer: mean(fwt),
  };
}

/**
 * R and its metrics as a text table: one row per stage (accuracies in %, "–" where not
 * measured, and the stage's mean over the tasks learned by then), then ACC, BWT, forgetting
 * (per task and mean) and FWT when known, in percentage points.
 */
export function formatContinualTable(R: AccuracyMatrix, metrics: ContinualMetrics, taskNames: readonly string[]): string {
  const pct = (v: number): string => (Number.isFinite(v) ? (100 * v).toFixed(2) : '–');
  const signed = (v: number): string => (Number.isFinite(v) ? `${v >= 0 ? '+' : ''}${(100 * v).toFixed(2)}` : '–');
  const w = Math.max(7, ...taskNames.map((n) => n.length));
  const head = ['after stage'.padEnd(12), ...taskNames.map((n) => n.padStart(w)), 'mean'.padStart(7)].join(' ');
  const rows = R.map((_, i) =>
    [`${i}`.padEnd(12), ...taskNames.map((__, j) => pct(entry(R, i, j)).padStart(w)), pct(metrics.accuracyByStage[i]).padStart(7)].join(' '),
  );
  const forget = ['forgetting'.padEnd(12), ...taskNames.map((__, j) => signed(metrics.forgetting[j]).padStart(w))].join(' ');
  return [
    head,
    ...rows,
    forget,
    `ACC ${pct(metrics.averageAccuracy)} %  BWT ${signed(metrics.backwardTransfer)} pp  forgetting ${signed(metrics.averageForgetting)} pp  FWT ${signed(metrics.forwardTransfer)} pp`,
  ].join('\n');
}

/** How a stage keeps what the earlier stages learned. */
export type RetainConfig =
  | {
      /** Nothing: the new stage trains on its own data alone (fine-tuning). */
      kind: 'none';
    }
  | {
      /**
       * A seeded buffer of old samples (ts/data/replay.ts) from which every step draws its own
       * replayed batch, trained together with the step's batch of new samples (ReplayStager,
       * ts/train/replay-stager.ts). The model's maxBatch must hold both: trainStages and
       * trainExtension grow it to batchSize + batch when it is smaller.
       */
      kind: 'replay';
      /** Samples the buffer holds (the same in every stage that replays). */
      size: number;
      /** Seed of the buffer's choice of samples and of the per-step draws (default 0). */
      seed?: number;
      /** Replayed rows per step (default: the trainer's batchSize), split evenly over the earlier stages. */
      batch?: number;
    }
  | {
      /**
       * EWC (Kirkpatrick et al. 2017, ts/train/ewc.ts): after every earlier stage, the Fisher of
       * its tasks on its training data at its end; this stage's loss gets λ/2·Σ_k F_k(θ − θ*_k)
       * over the earlier stages k ('ewc', one penalty each) or λ/2·Σ F(θ − θ*) with F ← γF + F_k
       * and the newest θ* ('online-ewc'). Every EWC stage of a run takes the same kind, Fisher
       * variant, samples and γ.
       */
      kind: 'ewc' | 'online-ewc';
      /** λ, finite and ≥ 0. */
      lambda: number;
      /** online-ewc: γ in [0, 1] (default 1). */
      gamma?: number;
      /** The Fisher variant (default 'exact'; see FisherVariant). */
      fisher?: FisherVariant;
      /** Samples of a stage's training data the Fisher is estimated on (default all). */
      samples?: number;
      /** Seed of that subset and of 'sampled' labels (default 0). */
      seed?: number;
    }
  | {
      /**
       * LwF (Li & Hoiem 2016): before the stage, the old tasks' outputs on the stage's training
       * data are recorded (one predict pass) as soft targets softmax(z_old/T); the stage trains
       * the new tasks on their labels and every old task with the distill loss kind
       * (LossLayout: KL(q‖softmax(z/T)), not multiplied by T², as van de Ven & Tolias's
       * loss_fn_kd) against its soft targets, weight α, through the same fused multi-loss
       * ({@link prepareLwf}). Every old task must be a classification task.
       */
      kind: 'lwf';
      /** T > 0 (default 2, as Li & Hoiem and van de Ven & Tolias). */
      temperature?: number;
      /** α ≥ 0: each old task's distillation weight (default 1: van de Ven & Tolias's task-IL LwF adds L_new + Σ_old KD). */
      alpha?: number;
    }
  | {
      /**
       * Only the heads train (hard sharing): the trunk is frozen (Optimizer.restrict to the
       * parameters after it). The old tasks' heads get no gradient from the stage's data (their
       * labels are absent there), so they stay as they were unless the optimizer decays weights.
       */
      kind: 'freeze-trunk';
    };

/** One stage of {@link trainStages}. Unknown keys are ConfigErrors. */
export interface StageConfig {
  /** The tasks the stage adds (the first stage's: the tasks the model starts with). */
  tasks: readonly TaskSpec[];
  /** The stage's training samples, labelled for its tasks (other tasks' labels are ignored). */
  train: MultiTaskDataset;
  /** Where the stage's tasks are evaluated after this and every later stage (R's entries). */
  validation: MultiTaskDataset;
  /** How the stage keeps the old tasks (default { kind: 'none' }). */
  retain?: RetainConfig;
  /** Epochs of the stage (default: the trainer config's). */
  epochs?: number;
}

/** What {@link trainStages} trains. Unknown keys are ConfigErrors. */
export interface TrainStagesConfig {
  /**
   * The model of the first stage: its configuration without tasks (built on `backend` with the
   * first stage's tasks), or a function that builds it from the first stage's tasks.
   */
  model: Omit<ModelConfig, 'tasks'> | ((tasks: readonly TaskSpec[]) => MultiTaskModel);
  /** The backend a model configuration is built on. */
  backend?: Backend;
  /** The stages, in order. */
  stages: readonly StageConfig[];
  /** The Trainer of every stage (a new one per stage: the optimizer starts afresh). runDir must be absent. */
  trainer: TrainerConfig;
}

/** What {@link trainStages} returns. */
export interface StagesResult {
  /** The model after the last stage, with every task. */
  model: MultiTaskModel;
  /** Task names, in column order. */
  tasks: string[];
  /** The stage that learned each task. */
  introduced: number[];
  /** R[i][j]: accuracy of task j on its stage's validation set after stage i (R[s_j − 1][j]: with j's fresh head; NaN before). */
  accuracy: number[][];
  /** Per task, the accuracy of a freshly initialised model of the final configuration (b_j). */
  randomInit: number[];
  /** The metrics of `accuracy` (FWT against randomInit). */
  metrics: ContinualMetrics;
  /** Per stage, its Trainer's epoch records. */
  histories: EpochRecord[][];
  /** formatContinualTable of the result. */
  table: string;
}

const STAGE_KEYS = ['tasks', 'train', 'validation', 'retain', 'epochs'];

const EWC_KEYS = ['kind', 'lambda', 'gamma', 'fisher', 'samples', 'seed'];

function checkRetain(retain: unknown, where: string): RetainConfig {
  if (retain === undefined) return { kind: 'none' };
  const r = checkKeys(retain, ['size', 'batch', 'temperature', 'alpha', ...EWC_KEYS], where);
  if (r.kind === 'none' || r.kind === 'freeze-trunk') return checkKeys(r, ['kind'], `${where} (${r.kind})`) as RetainConfig;
  if (r.kind === 'lwf') {
    checkKeys(r, ['kind', 'temperature', 'alpha'], `${where} (lwf)`);
    if (r.temperature !== undefined && !(typeof r.temperature === 'number' && r.temperature > 0 && r.temperature <= 1000)) {
      throw new ValueError(`Expected a temperature in (0, 1000] for ${where}.temperature but received ${describe(r.temperature)}`);
    }
    if (r.alpha !== undefined && !(typeof r.alpha === 'number' && Number.isFinite(r.alpha) && r.alpha >= 0)) {
      throw new ValueError(`Expected a finite number ≥ 0 for ${where}.alpha but received ${describe(r.alpha)}`);
    }
    return r as RetainConfig;
  }
  if (r.kind === 'replay') {
    checkKeys(r, ['kind', 'size', 'seed', 'batch'], `${where} (replay)`);
    if (r.batch !== undefined) expectInt(`${where}.batch`, r.batch);
    return r as RetainConfig;
  }
  if (r.kind === 'ewc' || r.kind === 'online-ewc') {
    checkKeys(r, r.kind === 'ewc' ? EWC_KEYS.filter((k) => k !== 'gamma') : EWC_KEYS, `${where} (${r.kind})`);
    if (typeof r.lambda !== 'number' || !Number.isFinite(r.lambda) || r.lambda < 0) throw new ValueError(`Expected a finite number ≥ 0 for ${where}.lambda but received ${describe(r.lambda)}`);
    if (r.gamma !== undefined && !(typeof r.gamma === 'number' && r.gamma >= 0 && r.gamma <= 1)) throw new ValueError(`Expected γ in [0, 1] for ${where}.gamma but received ${describe(r.gamma)}`);
    return r as RetainConfig;
  }
  throw new ConfigError(`Expected retain kind 'none', 'replay', 'ewc', 'online-ewc', 'lwf' or 'freeze-trunk' for ${where}.kind but received ${describe(r.kind)}`);
}

/** The EWC retain of a run (every EWC stage's, which must agree), or null. */
function ewcOf(retains: readonly RetainConfig[]): Extract<RetainConfig, { kind: 'ewc' | 'online-ewc' }> | null {
  const ewc = retains.filter((r): r is Extract<RetainConfig, { kind: 'ewc' | 'online-ewc' }> => r.kind === 'ewc' || r.kind === 'online-ewc');
  const key = (r: (typeof ewc)[number]): string => JSON.stringify([r.kind, r.gamma ?? 1, r.fisher ?? 'exact', r.samples ?? null, r.seed ?? 0]);
  if (new Set(ewc.map(key)).size > 1) throw new ConfigError(`Expected one EWC kind, Fisher variant, samples, seed and γ in every stage that retains with EWC but received ${[...new Set(ewc.map(key))].join(', ')} (only λ may differ)`);
  return ewc[0] ?? null;
}

/** Options of {@link prepareLwf}. Unknown keys are ConfigErrors. */
export interface LwfOptions {
  /** The distillation temperature T > 0 (default 2). */
  temperature?: number;
  /** Each old task's loss weight α ≥ 0 (default 1). */
  alpha?: number;
}

/** What {@link prepareLwf} returns: the model and data of an LwF stage. */
export interface LwfStage {
  /**
   * A model of `model`'s configuration with its parameters (copied), whose old tasks train
   * with 'distill:temperature=T' and weight α; the new tasks keep their losses and weights.
   */
  student: MultiTaskModel;
  /** `train` labelled for the student: the new tasks' labels and masks, the old tasks' soft targets (n × classes each, every sample labelled). */
  data: MultiTaskDataset;
}

/**
 * Sets up an LwF stage (Li & Hoiem 2016) for `model` (grown with the stage's new tasks; the
 * others are its old tasks): records the old tasks' outputs on `train` with one predict pass,
 * softened at T (q = softmax(log p / T) of the predicted probabilities p, in f64: the
 * softmax(z/T) of the logits up to f32 rounding; a probability that underflowed to 0 stays 0),
 * and builds the student model that trains on them with the distill loss kind through the
 * ordinary multi-loss. After training the student, copy its parameters back into `model`
 * (`model.backend.write(model.params.values, await student.backend.read(student.params.values))`):
 * `model` keeps the tasks' own losses for evaluation and checkpoints. Before any training the
 * student's distill losses are 0 with zero gradient (KL(q‖p) at q = p, up to f32 rounding).
 * @throws ConfigError on an unknown option key, a name in `newTasks` that is not a task of
 *   `model`, or an old task that is not a classification task; ValueError on a bad T or α.
 */
export async function prepareLwf(model: MultiTaskModel, train: MultiTaskDataset, newTasks: readonly string[], options: LwfOptions = {}): Promise<LwfStage> {
  checkKeys(options, ['temperature', 'alpha'], 'prepareLwf options');
  const T = options.temperature ?? 2;
  const alpha = options.alpha ?? 1;
  if (!(typeof T === 'number' && T > 0 && T <= 1000)) throw new ValueError(`Expected a temperature in (0, 1000] for temperature but received ${describe(T)}`);
  if (!(typeof alpha === 'number' && Number.isFinite(alpha) && alpha >= 0)) throw new ValueError(`Expected a finite number ≥ 0 for alpha but received ${describe(alpha)}`);
  for (const name of newTasks) if (!model.tasks.some((t) => t.name === name)) throw new ConfigError(`prepareLwf: ${JSON.stringify(name)} is not a task of the model (${model.tasks.map((t) => t.name).join(', ')})`);
  const old = model.tasks.filter((t) => !newTasks.includes(t.name));
  for (const t of old) if (t.kind !== 'classification') throw new ConfigError(`LwF distils classification tasks; old task ${t.name} is a ${t.kind} task`);
  const probs = await model.predict(train);
  const labels: Record<string, Float32Array> = {};
  const labelWidths: Record<string, number> = {};
  const masks: Record<string, Uint8Array> = {};
  for (const t of old) {
    const p = probs[t.name];
    const C = t.outputs;
    const q = new Float32Array(train.length * C);
    const row = new Float64Array(C);
    for (let i = 0; i < train.length; i++) {
      let sum = 0;
      for (let k = 0; k < C; k++) sum += row[k] = Math.pow(p[i * C + k], 1 / T);
      for (let k = 0; k < C; k++) q[i * C + k] = row[k] / sum;
    }
    labels[t.name] = q;
    labelWidths[t.name] = C;
  }
  const fresh = labelledFor(train, model.tasks.filter((t) => newTasks.includes(t.name)));
  for (const name of newTasks) {
    labels[name] = fresh.labels(name);
    labelWidths[name] = fresh.labelWidth(name);
    const m = fresh.mask(name);
    if (m) masks[name] = m;
  }
  const config = model.resolvedConfig;
  const student = new MultiTaskModel(model.backend, {
    ...config,
    tasks: config.tasks.map((spec) => (newTasks.includes(spec.name) ? spec : { ...spec, loss: `distill:temperature=${T}` as const, weight: alpha })),
  });
  student.backend.write(student.params.values, await model.backend.read(model.params.values));
  student.preprocessing = model.preprocessing;
  return { student, data: new MultiTaskDataset({ inputs: train.inputs, inputShape: train.inputShape, labels, labelWidths, masks }) };
}

/**
 * Trains stage after stage: the first stage builds the model with its tasks, every later stage
 * adds its tasks with MultiTaskModel.extend (the old parameters kept bit for bit), trains the
 * grown model with a new Trainer on the stage's data (with replay: every step also trains on a
 * batch drawn from the buffer of old samples, ReplayStager), then evaluates every task seen so far on its own stage's validation set to fill R.
 * Each task's accuracy is also measured at the start of its stage (its fresh head) and on a
 * freshly initialised model of the final configuration, for FWT. Returns R, its metrics and
 * the final model. Every task needs the accuracy metric (classification, binary, multi-label).
 * With EWC retains, the Fisher of each stage's tasks is estimated on its training data at its
 * end (ts/train/ewc.ts) and the later EWC stages train with the penalty (TrainerConfig.penalty);
 * with freeze-trunk, the stage's optimizer steps only the parameters after the trunk; with LwF
 * (from the second stage on), the stage trains a student model with the old tasks' soft targets
 * ({@link prepareLwf}) and its parameters are copied back into the model.
 * @throws ConfigError on an unknown key, no stages, an unknown retain kind, replay sizes that
 *   differ between stages, EWC stages that differ in kind, Fisher variant, samples, seed or γ,
 *   freeze-trunk without hard sharing, LwF with an old task that is not a classification task,
 *   a runDir in the trainer config, a task without accuracy, or a model given as a
 *   configuration without a backend; ValueError on a bad λ, γ, T or α.
 */
export async function trainStages(config: TrainStagesConfig): Promise<StagesResult> {
  checkKeys(config, ['model', 'backend', 'stages', 'trainer'], 'trainStages config');
  const stages: readonly StageConfig[] = config.stages;
  if (!Array.isArray(config.stages) || stages.length === 0) throw new ConfigError(`Expected a non-empty array of stages but received ${describe(stages)}`);
  const retains = stages.map((s, i) => {
    checkKeys(s, STAGE_KEYS, `stages[${i}]`);
    if (!Array.isArray(s.tasks as unknown) || s.tasks.length === 0) throw new ConfigError(`Expected a non-empty array of task specs for stages[${i}].tasks but received ${describe(s.tasks)}`);
    return checkRetain(s.retain, `stages[${i}].retain`);
  });
  const sizes = new Set(retains.flatMap((r) => (r.kind === 'replay' ? [`${r.size}/${r.seed ?? 0}/${r.batch ?? 'batchSize'}`] : [])));
  if (sizes.size > 1) throw new ConfigError(`Expected the same replay size, seed and batch in every stage that replays but received ${[...sizes].join(', ')} (size/seed/batch)`);
  if (config.trainer?.runDir != null) throw new ConfigError('trainStages trains several models in turn: leave trainer.runDir out (save the final model with saveCheckpoint)');
  const ewc = ewcOf(retains);
  const replay = retains.find((r) => r.kind === 'replay');
  const buffer = replay && replay.kind === 'replay' ? new ReplayBuffer(replay.size, replay.seed ?? 0) : null;

  let model: MultiTaskModel;
  if (typeof config.model === 'function') {
    model = config.model(stages[0].tasks);
    if (!(model instanceof MultiTaskModel)) throw new ConfigError(`Expected the model factory to return a MultiTaskModel but it returned ${describe(model)}`);
  } else {
    if (!config.backend) throw new ConfigError('trainStages needs config.backend to build the model from its configuration');
    checkKeys(config.model, ['inputShape', 'trunk', 'sharing', 'heads', 'maxBatch', 'seed'], 'trainStages model');
    model = new MultiTaskModel(config.backend, { ...config.model, tasks: stages[0].tasks });
  }
  const firstNames = stages[0].tasks.map((t) => t.name);
  if (model.tasks.map((t) => t.name).join('\n') !== firstNames.join('\n')) {
    throw new ConfigError(`The first stage's model has tasks ${model.tasks.map((t) => t.name).join(', ')}; stages[0].tasks are ${firstNames.join(', ')}`);
  }

  const names: string[] = [];
  const introduced: number[] = [];
  const accuracy: number[][] = [];
  const histories: EpochRecord[][] = [];
  /** Accuracies of the tasks of stages [from, upTo] on their validation sets (NaN for the rest). */
  const evaluate = async (trainer: Trainer, from: number, upTo: number): Promise<number[]> => {
    const row = Array<number>(names.length).fill(NaN);
    for (let s = from; s <= upTo; s++) {
      const metrics = await trainer.evaluate(labelledFor(stages[s].validation, model.tasks));
      names.forEach((name, j) => {
        if (introduced[j] === s) row[j] = metrics[name].accuracy ?? NaN;
      });
    }
    return row;
  };
  /** The EWC state of the stages so far (F and θ* over the current model's arena). */
  let ewcState: EwcState | null = null;
  for (let i = 0; i < stages.length; i++) {
    const stage = stages[i];
    const retain = retains[i];
    if (i > 0) {
      const previous = model;
      const rows = retain.kind === 'replay' ? config.trainer.batchSize + (retain.batch ?? config.trainer.batchSize) : 0;
      model = await MultiTaskModel.extend(model, stage.tasks, rows > model.maxBatch ? { maxBatch: rows } : {});
      if (ewcState) ewcState = growEwcState(ewcState, previous, model);
    }
    for (const t of model.tasks.slice(names.length)) {
      if (!t.metrics.includes('accuracy')) throw new ConfigError(`Task ${t.name} (${t.kind}) has no accuracy metric; continual metrics need one for every task`);
      names.push(t.name);
      introduced.push(i);
    }
    for (const row of accuracy) while (row.length < names.length) row.push(NaN);
    const penalty = (retain.kind === 'ewc' || retain.kind === 'online-ewc') && ewcState ? { kind: 'ewc' as const, lambda: retain.lambda, ...ewcState } : null;
    const replayed = retain.kind === 'replay' && buffer && buffer.stages > 0 ? new ReplayStager(model, buffer, { batch: retain.batch ?? config.trainer.batchSize, seed: retain.seed ?? 0 }) : null;
    const trainer = new Trainer(model, { ...config.trainer, ...(stage.epochs === undefined ? {} : { epochs: stage.epochs }), ...(penalty ? { penalty } : {}), ...(replayed && { batchStaged: replayed }) });
    if (retain.kind === 'freeze-trunk' && i > 0) {
      const shared = model.sharedParameterSize;
      if (shared === 0) throw new ConfigError(`stages[${i}].retain freeze-trunk needs hard sharing (a trunk every task reads); the model's sharing is ${model.sharing.kind}`);
      trainer.optimizer.restrict({ offset: shared, length: model.params.arenaSize - shared });
    }
    if (i > 0) {
      // R[i−1][j] for this stage's tasks: the model after stage i−1 with their fresh heads.
      const before = await evaluate(trainer, i, i);
      names.forEach((_, j) => {
        if (introduced[j] === i) accuracy[i - 1][j] = before[j];
      });
    }
    if (retain.kind === 'lwf' && i > 0) {
      // The old tasks distil their own outputs (recorded now) in a student model; its trained
      // parameters come back into `model`, whose tasks keep their own losses.
      const { student, data } = await prepareLwf(model, stage.train, stage.tasks.map((t) => t.name), { temperature: retain.temperature, alpha: retain.alpha });
      const fitter = new Trainer(student, { ...config.trainer, ...(stage.epochs === undefined ? {} : { epochs: stage.epochs }) });
      histories.push([...(await fitter.fit(data))]);
      model.backend.write(model.params.values, await student.backend.read(student.params.values));
    } else {
      histories.push([...(await trainer.fit(labelledFor(stage.train, model.tasks)))]);
    }
    accuracy.push(await evaluate(trainer, 0, i));
    if (ewc && i < stages.length - 1) {
      // F of this stage's tasks at θ* = the parameters at its end, folded into the state.
      const fisher = await fisherDiagonal(model, labelledFor(stage.train, model.tasks), {
        variant: ewc.fisher ?? 'exact',
        tasks: stage.tasks.map((t) => t.name),
        ...(ewc.samples === undefined ? {} : { samples: Math.min(ewc.samples, stage.train.length) }),
        seed: ewc.seed ?? 0,
      });
      const anchor = await model.backend.read(model.params.values);
      ewcState = consolidate(ewcState, fisher, anchor, ewc.kind === 'online-ewc' ? { kind: 'online', gamma: ewc.gamma ?? 1 } : { kind: 'separate' }, stage.tasks.map((t) => t.name));
    }
    buffer?.add(stage.train, model.tasks.filter((t) => stage.tasks.some((s) => s.name === t.name)));
  }
  const fresh = new MultiTaskModel(model.backend, model.resolvedConfig);
  const freshTrainer = new Trainer(fresh, config.trainer);
  const randomInit = Array<number>(names.length).fill(NaN);
  for (let s = 0; s < stages.length; s++) {
    const metrics = await freshTrainer.evaluate(labelledFor(stages[s].validation, fresh.tasks));
    names.forEach((name, j) => {
      if (introduced[j] === s) randomInit[j] = metrics[name].accuracy ?? NaN;
    });
  }
  const metrics = continualMetrics(accuracy, { introduced, randomInit });
  return { model, tasks: names, introduced, accuracy, randomInit, metrics, histories, table: formatContinualTable(accuracy, metrics, names) };
}
