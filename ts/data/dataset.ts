/**
 * An in-memory multi-task dataset: one input row per sample and, per task, a label row and an
 * optional mask of which samples carry that task's label. The trainer gathers mini-batches of
 * inputs with gatherInputs and reads labels and masks through labels() / mask().
 */
import { ownEntry } from '../core/options.js';
import { ConfigError, LabelError, ShapeError, ValueError, describe, expectInt } from '../errors.js';

/** What a {@link MultiTaskDataset} is built from. The arrays are kept, not copied. */
export interface DatasetInit {
  /** n × featureSize values, row-major. */
  inputs: Float32Array;
  /** Per-sample shape, e.g. [28, 28] or [784]; its product is featureSize. */
  inputShape: readonly number[];
  /** Per task: n × width values (the class index as a float for classification). */
  labels: Record<string, Float32Array>;
  /** Per task: values per sample in labels; default 1. */
  labelWidths?: Record<string, number>;
  /** Per task: n entries, 1 = labelled, 0 = label missing; absent = every sample labelled. */
  masks?: Record<string, Uint8Array>;
}

/** Input arrays whose maker knows every value is finite (see {@link markFiniteInputs}): the constructor does not check them again. */
const finiteInputs = new WeakSet<Float32Array>();

/**
 * Tells {@link MultiTaskDataset}'s constructor that every value of `inputs` is finite, so it skips
 * its check of each input: for a maker that knows it as it writes them (applySchema), and that
 * does not write to them afterwards. Not part of the public API.
 */
export function markFiniteInputs(inputs: Float32Array): void {
  finiteInputs.add(inputs);
}

/**
 * Samples with one input row and one label row per task. Immutable by convention: select and
 * slice return copies; the arrays returned by labels() and mask() are the dataset's own, so do
 * not write to them.
 */
export class MultiTaskDataset {
  /** Number of samples. */
  readonly length: number;
  /** Values per input row: the product of inputShape. */
  readonly featureSize: number;
  /** Per-sample input shape. */
  readonly inputShape: readonly number[];
  /** Task names, in the order of DatasetInit.labels. */
  readonly taskNames: readonly string[];
  /** length × featureSize input values, row-major. Do not write to it. */
  readonly inputs: Float32Array;

  private readonly labelData: ReadonlyMap<string, Float32Array>;
  private readonly widths: ReadonlyMap<string, number>;
  private readonly maskData: ReadonlyMap<string, Uint8Array>;

  /**
   * @throws ShapeError when a length disagrees (naming the task), ValueError on a non-finite
   *   input or a bad shape or width, LabelError on a non-finite label, ConfigError on a width or
   *   mask for a task that has no labels, ValueError on a mask value other than 0 or 1.
   */
  constructor(init: DatasetInit) {
    const { inputs, inputShape, labels } = init;
    if (!(inputs instanceof Float32Array)) {
      throw new ValueError(`Expected a Float32Array for inputs but received ${describe(inputs)}`);
    }
    if (!Array.isArray(inputShape) || inputShape.length === 0) {
      throw new ShapeError(`Expected a non-empty array of positive integers for inputShape but received ${describe(inputShape)}`);
    }
    let featureSize = 1;
    inputShape.forEach((d, i) => {
      featureSize *= expectInt(`inputShape[${i}]`, d);
    });
    if (inputs.length % featureSize !== 0) {
      throw new ShapeError(
        `Expected inputs.length to be a multiple of featureSize ${featureSize} (inputShape [${inputShape.join(', ')}]) ` +
          `but received ${inputs.length}`,
      );
    }
    const n = inputs.length / featureSize;
    for (let i = finiteInputs.has(inputs) ? inputs.length : 0; i < inputs.length; i++) {
      if (!Number.isFinite(inputs[i])) {
        const sample = Math.floor(i / featureSize);
        throw new ValueError(
          `Expected finite inputs but received ${inputs[i]} at sample ${sample}, feature ${i - sample * featureSize}`,
        );
      }
    }

    if (labels === null || typeof labels !== 'object') {
      throw new ConfigError(`Expected an object of per-task Float32Arrays for labels but received ${describe(labels)}`);
    }
    const taskNames = Object.keys(labels);
    if (taskNames.length === 0) {
      throw new ConfigError('Expected at least one task in labels but received none');
    }
    const checkKnown = (what: string, record: Record<string, unknown> | undefined): void => {
      for (const name of Object.keys(record ?? {})) {
        if (ownEntry(labels, name) === undefined) {
          throw new ConfigError(
            `Expected ${what} only for tasks with labels (${taskNames.join(', ')}) but received task ${JSON.stringify(name)}`,
          );
        }
      }
    };
    checkKnown('labelWidths', init.labelWidths);
    checkKnown('masks', init.masks);

    const labelData = new Map<string, Float32Array>();
    const widths = new Map<string, number>();
    const maskData = new Map<string, Uint8Array>();
    for (const task of taskNames) {
      const width = expectInt(`labelWidths.${task}`, ownEntry(init.labelWidths ?? {}, task) ?? 1);
      const y = labels[task];
      if (!(y instanceof Float32Array)) {
        throw new ValueError(`Expected a Float32Array for labels.${task} but received ${describe(y)}`);
      }
      if (y.length !== n * width) {
        throw new ShapeError(
          `Expected ${n * width} values (${n} samples × width ${width}) for labels of task ${JSON.stringify(task)} ` +
            `but received ${y.length}`,
        );
      }
      for (let i = 0; i < y.length; i++) {
        if (!Number.isFinite(y[i])) {
          throw new LabelError(
            `Expected finite labels for task ${JSON.stringify(task)} but received ${y[i]} at sample ` +
              `${Math.floor(i / width)}, column ${i % width} (give a missing label any finite value and a 0 in masks)`,
          );
        }
      }
      const m = ownEntry(init.masks ?? {}, task);
      if (m !== undefined) {
        if (!(m instanceof Uint8Array)) {
          throw new ValueError(`Expected a Uint8Array for masks.${task} but received ${describe(m)}`);
        }
        if (m.length !== n) {
          throw new ShapeError(
            `Expected ${n} entries (one per sample) in the mask of task ${JSON.stringify(task)} but received ${m.length}`,
          );
        }
        for (let i = 0; i < n; i++) {
          if (m[i] > 1) {
            throw new ValueError(
              `Expected 0 or 1 in the mask of task ${JSON.stringify(task)} but received ${m[i]} at sample ${i}`,
            );
          }
        }
        maskData.set(task, m);
      }
      labelData.set(task, y);
      widths.set(task, width);
    }

    this.length = n;
    this.featureSize = featureSize;
    this.inputShape = Object.freeze([...inputShape]);
    this.taskNames = Object.freeze(taskNames);
    this.inputs = inputs;
    this.labelData = labelData;
    this.widths = widths;
    this.maskData = maskData;
  }

  private task(task: string): Float32Array {
    const y = this.labelData.get(task);
    if (y === undefined) {
      throw new ConfigError(
        `Expected one of the dataset's tasks (${this.taskNames.join(', ')}) for task but received ${describe(task)}`,
      );
    }
    return y;
  }

  /** The task's length × labelWidth(task) label values. */
  labels(task: string): Float32Array {
    return this.task(task);
  }

  /** Values per sample in the task's labels. */
  labelWidth(task: string): number {
    this.task(task);
    return this.widths.get(task)!;
  }

  /** The task's mask (1 = labelled), or null when every sample is labelled. */
  mask(task: string): Uint8Array | null {
    this.task(task);
    return this.maskData.get(task) ?? null;
  }

  /**
   * A new dataset of the given rows, in the given order (repeats allowed), copied.
   * @throws ValueError on an index that is not an integer in [0, length).
   */
  select(indices: ArrayLike<number>): MultiTaskDataset {
    const k = indices.length;
    for (let r = 0; r < k; r++) {
      const i = indices[r];
      if (!Number.isInteger(i) || i < 0 || i >= this.length) {
        throw new ValueError(
          `Expected integer indices in [0, ${this.length}) but received ${describe(i)} at position ${r}`,
        );
      }
    }
    const f = this.featureSize;
    const inputs = new Float32Array(k * f);
    for (let r = 0; r < k; r++) inputs.set(this.inputs.subarray(indices[r] * f, (indices[r] + 1) * f), r * f);
    const labels: Record<string, Float32Array> = {};
    const labelWidths: Record<string, number> = {};
    const masks: Record<string, Uint8Array> = {};
    for (const task of this.taskNames) {
      const w = this.widths.get(task)!;
      const y = this.labelData.get(task)!;
      const out = new Float32Array(k * w);
      for (let r = 0; r < k; r++) {
        for (let c = 0; c < w; c++) out[r * w + c] = y[indices[r] * w + c];
      }
      labels[task] = out;
      labelWidths[task] = w;
      const m = this.maskData.get(task);
      if (m !== undefined) {
        const mo = new Uint8Array(k);
        for (let r = 0; r < k; r++) mo[r] = m[indices[r]];
        masks[task] = mo;
      }
    }
    return new MultiTaskDataset({ inputs, inputShape: this.inputShape, labels, labelWidths, masks });
  }

  /**
   * A new dataset of rows [start, end), copied.
   * @throws ValueError unless 0 <= start <= end <= length (integers).
   */
  slice(start: number, end: number): MultiTaskDataset {
    expectInt('start', start, 0);
    expectInt('end', end, 0);
    if (start > end || end > this.length) {
      throw new ValueError(
        `Expected 0 <= start <= end <= ${this.length} for slice but received start ${start}, end ${end}`,
      );
    }
    const f = this.featureSize;
    const labels: Record<string, Float32Array> = {};
    const labelWidths: Record<string, number> = {};
    const masks: Record<string, Uint8Array> = {};
    for (const task of this.taskNames) {
      const w = this.widths.get(task)!;
      labels[task] = this.labelData.get(task)!.slice(start * w, end * w);
      labelWidths[task] = w;
      const m = this.maskData.get(task);
      if (m !== undefined) masks[task] = m.slice(start, end);
    }
    return new MultiTaskDataset({
      inputs: this.inputs.slice(start * f, end * f),
      inputShape: this.inputShape,
      labels,
      labelWidths,
      masks,
    });
  }

  /**
   * Copies the input rows indices[from .. from+count) into out[0 .. count·featureSize), in that
   * order. Allocates nothing, so a training loop can call it every step.
   * @throws ValueError on a bad range or an index outside [0, length); ShapeError when out is
   *   too short.
   */
  gatherInputs(indices: Int32Array, from: number, count: number, out: Float32Array): void {
    if (!Number.isInteger(from) || !Number.isInteger(count) || from < 0 || count < 0 || from + count > indices.length) {
      throw new ValueError(
        `Expected 0 <= from, 0 <= count and from + count <= indices.length (${indices.length}) but received ` +
          `from ${describe(from)}, count ${describe(count)}`,
      );
    }
    const f = this.featureSize;
    if (out.length < count * f) {
      throw new ShapeError(
        `Expected out to hold at least ${count * f} values (${count} rows × ${f}) but received ${out.length}`,
      );
    }
    const src = this.inputs;
    const n = this.length;
    for (let r = 0; r < count; r++) {
      const i = indices[from + r];
      if (i < 0 || i >= n) {
        throw new ValueError(`Expected indices in [0, ${n}) but received ${i} at position ${from + r}`);
      }
      let s = i * f;
      let d = r * f;
      const e = s + f;
      while (s < e) out[d++] = src[s++];
    }
  }
}
