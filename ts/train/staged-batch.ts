/**
 * The Trainer's "batch staged" hook (ARCHITECTURE.md, "Growing the training loop without
 * bloating it"): rows that a hook appends to every training step's batch, after the step's own
 * samples are staged in the host arrays and before the batch is uploaded, so that the step's
 * forward, fused multi-loss and backward see both. Replay (ts/train/replay-stager.ts) is one.
 * Evaluation never calls it.
 */
import type { MultiTaskDataset } from '../data/dataset.js';

/** What a hook stages its rows with: the Trainer's BatchStager (its host arrays, in the model's layout). */
export interface RowStaging {
  /**
   * Stages samples order[from .. from+n) of `ds` at rows [at, at + n) of the step's host arrays
   * (inputs, targets in the loss layout, the [rows, T] mask; `ds` labelled for every task of the
   * model, the missing labels masked); returns whether any label is missing. `rotationSeed`:
   * null (a hook's rows are not rotated).
   */
  stage(ds: MultiTaskDataset, order: Int32Array, from: number, n: number, rotationSeed: number | null, at: number): boolean;
}

/** A hook that appends rows to every training step's staged batch ({@link TrainerConfig.batchStaged}). */
export interface StagedBatchHook {
  /** Rows appended to every step: the model's maxBatch must hold the batch size plus these. */
  readonly rows: number;
  /**
   * Stages `rows` rows at rows [at, at + rows) of `stager`'s host arrays (inputs, targets in
   * the loss layout, the [rows, T] mask) with `stager.stage(data, order, from, rows, null, at)`,
   * for training step `step` (1-based, counted from the start of the run: the same step
   * after a resume draws the same rows). Returns whether any of the rows is masked for a task.
   * Allocates nothing.
   */
  stage(stager: RowStaging, at: number, step: number): boolean;
}
