/**
 * Confusion matrices of a model's classification and binary tasks on a labelled dataset, and
 * confusion.json: those of a run folder's best checkpoint on the validation set, computed once
 * at the end of a run with model.predict (one forward pass over the validation set).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Backend } from '../backends/backend.js';
import type { MultiTaskDataset } from '../data/dataset.js';
import { ConfigError, describe } from '../errors.js';
import { readCheckpointFile } from '../io/checkpoint.js';
import { writeFileAtomic } from '../io/files.js';
import type { FittedTask } from '../data/schema.js';
import { MultiTaskModel } from '../mtl/model.js';
import { RUN_FILES, type ConfusionMatrix, type ConfusionReport } from './run-folder.js';

/**
 * Per classification or binary task of `model` that `dataset` has labels for (self-supervised
 * tasks are left out), the confusion matrix of its predictions over the labelled samples:
 * counts[true class][predicted class], the prediction being the most probable class (binary:
 * probability ≥ 0.5). Classes are named from the model's fitted preprocessing when it has
 * one (a run file's class values), else by index. Runs model.predict once over the dataset (BusyError while the model
 * trains or predicts).
 */
export async function confusionMatrices(model: MultiTaskModel, dataset: MultiTaskDataset): Promise<Record<string, ConfusionMatrix>> {
  if (!(model instanceof MultiTaskModel)) throw new ConfigError(`Expected a MultiTaskModel for confusionMatrices but received ${describe(model)}`);
  if (typeof dataset?.labels !== 'function' || !(dataset.inputs instanceof Float32Array)) {
    throw new ConfigError(`Expected a MultiTaskDataset for confusionMatrices but received ${describe(dataset)}`);
  }
  const tasks = model.tasks.filter((t) => !t.selfSupervised && (t.kind === 'classification' || t.kind === 'binary') && dataset.taskNames.includes(t.name));
  if (tasks.length === 0) return {};
  const predictions = await model.predict(dataset);
  const out: Record<string, ConfusionMatrix> = {};
  for (const task of tasks) {
    const binary = task.kind === 'binary';
    const C = binary ? 2 : task.outputs;
    const counts = Array.from({ length: C }, () => new Array<number>(C).fill(0));
    const p = predictions[task.name];
    const labels = dataset.labels(task.name);
    const mask = dataset.mask(task.name);
    for (let i = 0; i < dataset.length; i++) {
      if (mask && !mask[i]) continue;
      const truth = labels[i];
      if (!(truth >= 0 && truth < C)) continue;
      let predicted = 0;
      if (binary) predicted = p[i] >= 0.5 ? 1 : 0;
      else for (let c = 1; c < C; c++) if (p[i * C + c] > p[i * C + predicted]) predicted = c;
      counts[Math.floor(truth)][predicted]++;
    }
    out[task.name] = { labels: classLabels(model, task.name, C, binary), counts };
  }
  return out;
}

/** The class names of a task from the model's fitted preprocessing (a run file's vocabulary, a binary task's negative and positive values), else "0", "1", .... */
function classLabels(model: MultiTaskModel, name: string, classes: number, binary: boolean): string[] {
  const fitted = (model.preprocessing as { tasks?: FittedTask[] } | null)?.tasks?.find?.((t) => t?.name === name);
  if (fitted?.vocabulary?.length === classes && new Set(fitted.vocabulary).size === classes) return fitted.vocabulary.map(String);
  if (binary && fitted?.positive !== undefined && fitted.negative !== undefined && fitted.negative !== String(fitted.positive)) return [fitted.negative, String(fitted.positive)];
  return Array.from({ length: classes }, (_, c) => String(c));
}

/**
 * Writes a run folder's confusion.json: the confusion matrices (see {@link confusionMatrices})
 * of its best checkpoint (best.safetensors, else checkpoint.safetensors) on `validation`, the
 * model rebuilt on `backend` from the checkpoint alone. Returns what it wrote.
 * @throws CheckpointError when the folder holds no readable checkpoint; FileWriteError when the
 *   file cannot be written.
 */
export async function writeBestConfusion(backend: Backend, runDir: string, validation: MultiTaskDataset): Promise<ConfusionReport> {
  const model = await MultiTaskModel.load(backend, runDir, { checkpoint: 'best' });
  const best = path.join(runDir, 'best.safetensors');
  const file = fs.existsSync(best) ? best : path.join(runDir, 'checkpoint.safetensors');
  const epoch = (readCheckpointFile(file).training as { epoch?: unknown } | null)?.epoch;
  const report: ConfusionReport = {
    epoch: typeof epoch === 'number' ? epoch : null,
    checkpoint: path.basename(file),
    samples: validation.length,
    tasks: await confusionMatrices(model, validation),
  };
  writeFileAtomic(path.join(runDir, RUN_FILES.confusion), `${JSON.stringify(report)}\n`);
  return report;
}
