/**
 * Tasks: what each head predicts, the loss it trains with, the metrics it is judged by, and
 * whether it is auxiliary (trained only to help the main tasks).
 */
import { type LossKind, type LossName, type LossObject, parseLoss } from '../backends/backend.js';
import { checkKeys, nameTable, ownEntry } from '../core/options.js';
import { ConfigError, LabelError, describe, expectInt, expectNumber } from '../errors.js';
import { squareImage } from '../data/rotation.js';

/**
 * What a task predicts: 'classification' (one of `classes`, label a class index), 'binary' (one
 * 0/1 label), 'multi-label' (`classes` independent 0/1 labels), 'regression' (`outputs` real values).
 */
export type TaskKind = 'classification' | 'binary' | 'multi-label' | 'regression';
/** Every {@link TaskKind}. */
export const TASK_KINDS: readonly TaskKind[] = ['classification', 'binary', 'multi-label', 'regression'];

/**
 * A self-supervised auxiliary task, whose targets come from the inputs (a dataset carries no
 * labels for it): 'reconstruction' (a regression head predicting the flattened input, MSE) and
 * 'rotation' (a 4-class head predicting by how many quarter-turns a square image input was
 * rotated; the Trainer rotates copies of each batch on the fly, see ts/train/self-supervised.ts).
 * Resolved as a regression / classification {@link Task} marked `selfSupervised`.
 */
export type SelfSupervisedKind = 'reconstruction' | 'rotation';
/** Every {@link SelfSupervisedKind}. */
export const SELF_SUPERVISED_KINDS: readonly SelfSupervisedKind[] = ['reconstruction', 'rotation'];

/**
 * A per-task metric: 'accuracy' (fraction correct, higher is better), 'mse' and 'mae' (mean
 * squared / absolute error, lower is better), 'auc' (ROC-AUC, ties at the average rank; macro over
 * a multi-label task's labels) and 'f1' (binary: of the positive class; multi-label: micro;
 * classification: macro, the mean over the classes present of each class's F1), both higher is
 * better.
 */
export type MetricName = 'accuracy' | 'mse' | 'mae' | 'auc' | 'f1';
/** Every {@link MetricName}. */
export const METRICS: readonly MetricName[] = ['accuracy', 'mse', 'mae', 'auc', 'f1'];
/** The task kinds each metric applies to. */
export const METRIC_KINDS: Record<MetricName, readonly TaskKind[]> = nameTable({
  accuracy: ['classification', 'binary', 'multi-label'],
  mse: ['regression'],
  mae: ['regression'],
  auc: ['binary', 'multi-label'],
  f1: ['classification', 'binary', 'multi-label'],
});

/** Whether a larger value of the metric is better (a table without a prototype). */
export const HIGHER_IS_BETTER: Record<MetricName | 'loss', boolean> = nameTable({
  accuracy: true,
  mse: false,
  mae: false,
  auc: true,
  f1: true,
  loss: false,
});

/** A task as configured (ModelConfig.tasks); {@link resolveTask} checks it and fills in the defaults. */
export interface TaskSpec {
  /** Unique name, used on the CLI, in metrics and in checkpoints. Letters, digits, - and _. */
  name: string;
  /** What the task predicts; decides the default loss, metrics and label format. A self-supervised kind needs no labels (auxiliary by default). */
  kind: TaskKind | SelfSupervisedKind;
  /** classification: number of classes (≥ 2); multi-label: number of labels. */
  classes?: number;
  /** regression: number of outputs (default 1). */
  outputs?: number;
  /**
   * Default: softmax-ce for classification, bce for binary and multi-label, mse for regression.
   * A classification task may also take a noise-robust loss, with its parameters in the name or
   * as an object: 'gce:q=0.7', 'sce:alpha=0.1,beta=1', 'bootstrap-soft:beta=0.95',
   * 'bootstrap-hard:beta=0.8', 'label-smoothing:epsilon=0.1', { kind: 'gce', q: 0.5 } (see
   * LossLayout for the formulas; a parameter left out takes its default), or the soft-target
   * 'distill:temperature=2' (LwF; its labels are then a probability per class, not an index).
   */
  loss?: LossName | LossObject;
  /** Default: accuracy for classification, binary and multi-label; mse and mae for regression. */
  metrics?: MetricName[];
  /** Auxiliary tasks train with the rest but are left out of model selection and headline metrics. */
  auxiliary?: boolean;
  /** Loss weight (default 1). */
  weight?: number;
}

/** A validated task with every default filled in. */
export interface Task {
  /** Unique name (see TaskSpec.name). */
  readonly name: string;
  /** What the task predicts. */
  readonly kind: TaskKind;
  /** Width of the task's logit segment. */
  readonly outputs: number;
  /** Values per sample in the task's labels: 1 (a class index or 0/1) or `outputs`. */
  readonly labelWidth: number;
  /** The loss it trains with (one segment of the model's LossLayout): its canonical name, every parameter written out ('gce:q=0.7'). */
  readonly loss: LossName;
  /** The metrics it is evaluated with, in order. */
  readonly metrics: readonly MetricName[];
  /** Whether it is auxiliary: trained, but left out of model selection and headline metrics. */
  readonly auxiliary: boolean;
  /** Its loss weight (default 1; TrainerConfig.weights overrides it). */
  readonly weight: number;
  /** Set on a self-supervised task (kind 'regression' for reconstruction, 'classification' with 4 classes for rotation): its targets come from the inputs. */
  readonly selfSupervised?: SelfSupervisedKind;
}

const LOSSES_BY_KIND: Record<TaskKind, readonly LossKind[]> = nameTable({
  classification: ['softmax-ce', 'gce', 'sce', 'bootstrap-soft', 'bootstrap-hard', 'label-smoothing', 'distill'],
  binary: ['bce'],
  'multi-label': ['bce'],
  regression: ['mse', 'l1', 'smooth-l1'],
});

/** The keys a task spec of each kind takes: `classes` or `outputs` only where they mean something. */
const COMMON_KEYS = ['name', 'kind', 'loss', 'metrics', 'auxiliary', 'weight'];
const TASK_KEYS: Record<TaskKind, readonly string[]> = nameTable({
  classification: [...COMMON_KEYS, 'classes'],
  binary: COMMON_KEYS,
  'multi-label': [...COMMON_KEYS, 'classes'],
  regression: [...COMMON_KEYS, 'outputs'],
});

/**
 * Checks the task spec at position `index` of ModelConfig.tasks and returns it with every
 * default filled in. ConfigError (naming `tasks[index]` and the key) for an object that is not
 * a task spec, a bad name, an unknown kind, key, loss or metric, or a loss or metric that does
 * not fit the kind; ValueError for a bad number.
 */
export function resolveTask(spec: TaskSpec, index: number): Task {
  const where = `tasks[${index}]`;
  if (typeof spec !== 'object' || spec === null) throw new ConfigError(`Expected an object for ${where} but received ${describe(spec)}`);
  // "__proto__" is the one name that cannot be a key of the per-task records (metrics, weights).
  if (typeof spec.name !== 'string' || !/^[A-Za-z0-9_-]+$/.test(spec.name) || spec.name === '__proto__') {
    throw new ConfigError(`Expected a name of letters, digits, - and _ (not __proto__) for ${where}.name but received ${describe(spec.name)}`);
  }
  const self = SELF_SUPERVISED_KINDS.find((k) => k === spec.kind);
  const kind = (self === 'rotation' ? 'classification' : self === 'reconstruction' ? 'regression' : spec.kind) as TaskKind;
  const keys = self ? COMMON_KEYS : ownEntry(TASK_KEYS, spec.kind);
  if (!keys) {
    throw new ConfigError(`Expected one of ${[...TASK_KINDS, ...SELF_SUPERVISED_KINDS].join(', ')} for ${where}.kind but received ${describe(spec.kind)}`);
  }
  checkKeys(spec, keys, `${where} (${spec.kind})`);
  let outputs: number;
  switch (kind) {
    case 'classification':
      outputs = self ? 4 : expectInt(`${where}.classes`, spec.classes, 2);
      break;
    case 'multi-label':
      outputs = expectInt(`${where}.classes`, spec.classes);
      break;
    case 'binary':
      outputs = 1;
      break;
    case 'regression':
      outputs = self ? 0 : expectInt(`${where}.outputs`, spec.outputs ?? 1); // reconstruction: sized by fitTaskToInput
      break;
  }
  const loss = parseLoss(spec.loss ?? LOSSES_BY_KIND[kind][0], `${where}.loss`);
  const losses = LOSSES_BY_KIND[kind].filter((k) => !(self && k === 'distill')); // rotation's label is a class index
  if (!losses.includes(loss.kind)) {
    throw new ConfigError(
      `Expected one of ${losses.join(', ')} for ${where}.loss (a ${spec.kind} task) but received ${describe(loss.name)}`,
    );
  }
  const metrics = spec.metrics ?? (kind === 'regression' ? ['mse', 'mae'] : ['accuracy']);
  if (!Array.isArray(metrics) || metrics.length === 0) {
    throw new ConfigError(`Expected a non-empty array of metrics for ${where}.metrics but received ${describe(metrics)}`);
  }
  for (const m of metrics) {
    if (!METRICS.includes(m)) throw new ConfigError(`Expected metrics from ${METRICS.join(', ')} for ${where}.metrics but received ${describe(m)}`);
    if (!METRIC_KINDS[m as MetricName].includes(kind)) {
      throw new ConfigError(`${where}.metrics: ${m} does not apply to a ${spec.kind} task`);
    }
  }
  const auxiliary = spec.auxiliary ?? self !== undefined;
  if (typeof auxiliary !== 'boolean') throw new ConfigError(`Expected true or false for ${where}.auxiliary but received ${describe(auxiliary)}`);
  return {
    name: spec.name,
    kind,
    outputs,
    // distill (LwF's soft targets, ts/train/continual.ts): a probability per class.
    labelWidth: kind === 'classification' && loss.kind !== 'distill' ? 1 : outputs,
    loss: loss.name,
    metrics: [...metrics],
    auxiliary,
    weight: expectNumber(`${where}.weight`, spec.weight ?? 1, 0),
    ...(self ? { selfSupervised: self } : {}),
  };
}

/**
 * The task `resolveTask` gave, fitted to the model's per-sample input shape: a reconstruction
 * task (whose outputs and labelWidth resolveTask leaves 0, as it does not know the input) gets
 * one output and target per input value; a rotation task needs square image inputs.
 * Other tasks come back as they are.
 * @throws ShapeError naming `tasks[index]` for a rotation task on inputs that are not a square image.
 */
export function fitTaskToInput(task: Task, index: number, inputShape: readonly number[]): Task {
  if (task.selfSupervised === 'rotation') squareImage(inputShape, `tasks[${index}] (rotation)`);
  if (task.selfSupervised !== 'reconstruction') return task;
  const size = inputShape.reduce((a, b) => a * b, 1);
  return { ...task, outputs: size, labelWidth: size };
}

/**
 * Checks a task's labels once, before training: class indices integral and in range, binary
 * and multi-label targets in [0, 1], regression targets finite. Masked-out samples are ignored.
 */
export function validateLabels(task: Task, labels: Float32Array, mask: Uint8Array | null, dataset: string): void {
  const w = task.labelWidth;
  const n = labels.length / w;
  for (let i = 0; i < n; i++) {
    if (mask && mask[i] === 0) continue;
    for (let j = 0; j < w; j++) {
      const y = labels[i * w + j];
      let ok: boolean;
      let expected: string;
      if (task.kind === 'classification' && w > 1) {
        ok = y >= 0 && y <= 1;
        expected = 'a soft target (a probability) in [0, 1]';
      } else if (task.kind === 'classification') {
        ok = Number.isInteger(y) && y >= 0 && y < task.outputs;
        expected = `an integer class in [0, ${task.outputs})`;
      } else if (task.kind === 'regression') {
        ok = Number.isFinite(y);
        expected = 'a finite number';
      } else {
        ok = y >= 0 && y <= 1;
        expected = 'a target in [0, 1]';
      }
      if (!ok) {
        throw new LabelError(`${dataset}: task ${task.name}, sample ${i}${w > 1 ? `, output ${j}` : ''}: expected ${expected} but received ${y}`);
      }
    }
  }
}
