/**
 * Prediction: a model's outputs per task for any number of samples, run in batches of at most
 * maxBatch. Each batch is uploaded into the model's input buffer, run forward (no dropout) and
 * only its logits are read back, into one host buffer the predictor allocates once (sized for
 * maxBatch); the probabilities (softmax for classification, sigmoid for binary and
 * multi-label) or values (regression) are written straight into the result arrays. After the
 * first batch, a batch allocates no tensor and no buffer.
 */
import { checkKeys } from '../core/options.js';
import { ShapeError, ValueError, describe, expectInt } from '../errors.js';
import type { Task } from './task.js';
import type { MultiTaskModel } from './model.js';

/** Options of {@link MultiTaskModel.predict}. Unknown keys are ConfigErrors. */
export interface PredictOptions {
  /** Samples per forward pass, in [1, maxBatch]; default maxBatch. */
  batchSize?: number;
}

/**
 * Per task (by name), n × outputs values, row-major: class probabilities (classification:
 * softmax over `classes`), probabilities of 1 (binary: one column; multi-label: one per
 * label, sigmoid), or the predicted values (regression).
 */
export type Predictions = Record<string, Float32Array>;

/** The inputs predict takes: a Float32Array of n × featureSize values, or anything holding one as `inputs` (a MultiTaskDataset). */
export type PredictInputs =
  | Float32Array
  | {
      /** n × featureSize input values, sample after sample (a MultiTaskDataset's inputs). */
      readonly inputs: Float32Array;
      /** Values per sample. */
      readonly featureSize: number;
    };

/** Runs a model's forward in batches and turns its logits into per-task outputs (see the file comment). */
export class Predictor {
  /** Host copy of one batch of logits, [maxBatch, logitWidth], allocated once. */
  private readonly logits: Float32Array;

  constructor(private readonly model: MultiTaskModel) {
    this.logits = new Float32Array(model.maxBatch * model.logitWidth);
  }

  /** See {@link MultiTaskModel.predict}. */
  async predict(inputs: PredictInputs, options: PredictOptions = {}): Promise<Predictions> {
    const model = this.model;
    checkKeys(options, ['batchSize'], 'predict options');
    const batchSize = expectInt('batchSize', options.batchSize ?? model.maxBatch, 1);
    if (batchSize > model.maxBatch) {
      throw new ValueError(`Expected batchSize at most ${model.maxBatch} (the model's maxBatch) but received ${batchSize}`);
    }
    const x = inputArray(inputs, model.featureSize);
    const n = x.length / model.featureSize;
    const out: Predictions = Object.create(null) as Predictions;
    for (const t of model.tasks) out[t.name] = new Float32Array(n * t.outputs);
    const F = model.featureSize;
    const W = model.logitWidth;
    for (let start = 0; start < n; start += batchSize) {
      const m = Math.min(batchSize, n - start);
      model.loadBatch(m, x.subarray(start * F, (start + m) * F));
      const logits = model.forward(m);
      const host = await model.backend.read(logits, m * W === this.logits.length ? this.logits : this.logits.subarray(0, m * W));
      let offset = 0;
      for (const t of model.tasks) {
        activate(t, host, W, offset, m, out[t.name], start);
        offset += t.outputs;
      }
    }
    return out;
  }
}

/** The n × featureSize input values of `inputs`; ShapeError / ValueError naming what is wrong. */
function inputArray(inputs: PredictInputs, featureSize: number): Float32Array {
  if (inputs instanceof Float32Array) {
    if (inputs.length % featureSize !== 0) {
      throw new ShapeError(`Expected inputs of n × ${featureSize} values (the model's featureSize) but received ${inputs.length}, not a multiple of ${featureSize}`);
    }
    return inputs;
  }
  if (typeof inputs !== 'object' || inputs === null || !(inputs.inputs instanceof Float32Array)) {
    throw new ValueError(`Expected a Float32Array or a MultiTaskDataset for inputs but received ${describe(inputs)}`);
  }
  if (inputs.featureSize !== featureSize) {
    throw new ShapeError(`Expected a dataset of ${featureSize} features per sample (the model's featureSize) but received one of ${describe(inputs.featureSize)}`);
  }
  return inputArray(inputs.inputs, featureSize);
}

/**
 * Task t's outputs for m samples: columns [offset, offset + t.outputs) of the m × W logits,
 * activated, into rows [start, start + m) of `out` (m × t.outputs). Shared with the Trainer's
 * evaluate({ outputs: true }). @internal
 */
export function activate(t: Task, logits: Float32Array, W: number, offset: number, m: number, out: Float32Array, start: number): void {
  const k = t.outputs;
  for (let i = 0; i < m; i++) {
    const src = i * W + offset;
    const dst = (start + i) * k;
    if (t.kind === 'classification') {
      let max = -Infinity;
      for (let j = 0; j < k; j++) max = Math.max(max, logits[src + j]);
      let sum = 0;
      for (let j = 0; j < k; j++) {
        const e = Math.exp(logits[src + j] - max);
        out[dst + j] = e;
        sum += e;
      }
      for (let j = 0; j < k; j++) out[dst + j] /= sum;
    } else if (t.kind === 'regression') {
      for (let j = 0; j < k; j++) out[dst + j] = logits[src + j];
    } else {
      for (let j = 0; j < k; j++) out[dst + j] = 1 / (1 + Math.exp(-logits[src + j]));
    }
  }
}
