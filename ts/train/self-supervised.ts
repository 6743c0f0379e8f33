/**
 * Staging of the self-supervised auxiliary tasks (`{ kind: 'reconstruction' }`,
 * `{ kind: 'rotation' }`): their targets come from the batch's own inputs, so a dataset carries
 * no labels for them and nothing is stored beside it.
 *
 * The batch arrangement, for n samples:
 * - without a rotation task: n rows, the samples as they are. A reconstruction task's target of
 *   each row is that row's input (copied into the staged targets, mask 1).
 * - with a rotation task: 2n rows. Rows [0, n) are the n samples unrotated: the main tasks train
 *   on them with their labels and masks, the rotation task is masked out. Rows [n, 2n) are the
 *   same samples, sample i turned k_i quarter-turns counterclockwise (k_i uniform in 0..3), with
 *   rotation label k_i and every other labelled task masked out, so the main tasks only ever
 *   see unrotated images and each task's loss is its mean over its own rows (the masked mean of
 *   the fused multi-loss). A reconstruction task reconstructs all 2n rows. The model's maxBatch
 *   must hold 2 × batchSize rows (the Trainer checks); a step costs about twice the forward and
 *   backward of n rows.
 * - k_i in training: hash32(stepSeed, i) & 3 with stepSeed = hash32(hash32(seed, ROTATION_SALT),
 *   step): seeded, independent of anything but the trainer's seed and the step, so a resume
 *   (which restores the step) rotates exactly as the uninterrupted run. In evaluation:
 *   hash32(ROTATION_SALT, sample index) & 3, one fixed rotation per validation sample, so the
 *   rotation head's validation accuracy is over the same rotated samples every epoch.
 */
import { packedOf } from '../backends/packed.js';
import { hash32 } from '../core/random.js';
import { Rotations, squareImage } from '../data/rotation.js';
import type { MultiTaskModel } from '../mtl/model.js';

/** Salt of the rotation draws, so they are independent of shuffling and dropout. */
export const ROTATION_SALT = 0x2077a7e;

/** The seed of step `step`'s rotations for a trainer seeded `seed` (see the module doc). */
export function rotationStepSeed(seed: number, step: number): number {
  return hash32(hash32(seed, ROTATION_SALT), step);
}

/** The rotation (0..3) of row i of a batch: per step in training (`stepSeed`), per sample in evaluation (null). */
export function rotationOf(stepSeed: number | null, row: number, sample: number): number {
  return (stepSeed === null ? hash32(ROTATION_SALT, sample) : hash32(stepSeed, row)) & 3;
}

/** Fills the self-supervised tasks' part of staged batches (see the module doc). Made once per model; allocates nothing per batch. */
export class SelfSupervisedStaging {
  /** Staged rows per sample: 2 with a rotation task, else 1. */
  readonly rowsPerSample: number;
  /** The rotation of each sample of the last staged batch (its label, as a float), maxBatch entries. */
  readonly rotationLabels: Float32Array;
  private readonly rotation: number;
  private readonly reconstruction: number[];
  private readonly rotations: Rotations | null;

  constructor(private readonly model: MultiTaskModel) {
    this.rotation = model.tasks.findIndex((t) => t.selfSupervised === 'rotation');
    this.reconstruction = model.tasks.flatMap((t, i) => (t.selfSupervised === 'reconstruction' ? [i] : []));
    this.rotations = this.rotation >= 0 ? new Rotations(squareImage(model.inputShape, `tasks[${this.rotation}] (rotation)`)) : null;
    this.rowsPerSample = this.rotations ? 2 : 1;
    this.rotationLabels = new Float32Array(this.rotations ? model.maxBatch : 0);
  }

  /** Whether the model has a self-supervised task. */
  static needed(model: MultiTaskModel): boolean {
    return model.tasks.some((t) => t.selfSupervised !== undefined);
  }

  /**
   * Completes a batch whose rows [0, n) hold the inputs, targets and mask of samples
   * order[from .. from+n) for the labelled tasks: with a rotation task, writes rows [n, 2n)
   * (rotated inputs, copied targets, the mask); sets every self-supervised task's targets and
   * mask. Returns the number of rows staged.
   */
  complete(inputs: Float32Array, targets: Float32Array, mask: Float32Array, order: Int32Array, from: number, n: number, stepSeed: number | null): number {
    const m = this.model;
    const F = m.featureSize;
    const T = m.tasks.length;
    const ld = m.lossLayout.totalTgt;
    const rows = n * this.rowsPerSample;
    const layout = packedOf(m.lossLayout);
    if (this.rotations) {
      const r = this.rotation;
      const off = layout[5 * r + 3];
      targets.copyWithin(n * ld, 0, n * ld);
      for (let i = 0; i < n; i++) {
        const k = rotationOf(stepSeed, i, order[from + i]);
        this.rotationLabels[i] = k;
        this.rotations.rotate(inputs, i * F, inputs, (n + i) * F, k);
        for (let t = 0; t < T; t++) mask[(n + i) * T + t] = 0;
        mask[(n + i) * T + r] = 1;
        mask[i * T + r] = 0;
        targets[(n + i) * ld + off] = k;
        targets[i * ld + off] = 0;
      }
    }
    for (const t of this.reconstruction) {
      const off = layout[5 * t + 3];
      for (let i = 0; i < rows; i++) {
        const d = i * ld + off;
        const s = i * F;
        for (let j = 0; j < F; j++) targets[d + j] = inputs[s + j];
        mask[i * T + t] = 1;
      }
    }
    return rows;
  }
}
