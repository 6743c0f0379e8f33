/**
 * Quarter-turn rotations of square images, as exact permutations of their pixels, for the
 * self-supervised rotation task (Gidaris et al. 2018). A sample is NCHW without N: [C, H, W],
 * or [H, W] for one channel, with H = W. Rotation k turns the image k quarter-turns
 * counterclockwise (numpy's rot90(image, k) on the last two axes):
 * k = 1: out[i][j] = in[j][S−1−i]; k = 2: out[i][j] = in[S−1−i][S−1−j]; k = 3: out[i][j] = in[S−1−j][i].
 */
import { ShapeError } from '../errors.js';

/** A square image shape: its channels and side. */
export interface SquareImage {
  /** Channels (1 for an [H, W] shape). */
  readonly channels: number;
  /** Height = width. */
  readonly side: number;
}

/**
 * The channels and side of a per-sample input shape that rotations apply to: [C, H, W] or
 * [H, W] with H = W ≥ 2.
 * @throws ShapeError naming `where` and the shape when it is not a square image.
 */
export function squareImage(inputShape: readonly number[], where: string): SquareImage {
  const image = inputShape.length === 2 || inputShape.length === 3;
  const h = inputShape[inputShape.length - 2];
  const w = inputShape[inputShape.length - 1];
  if (!image || h !== w || h < 2) {
    throw new ShapeError(
      `${where}: rotation needs square image inputs, an inputShape of [C, H, W] or [H, W] with H = W ≥ 2, but the model's inputShape is [${inputShape.join(', ')}]` +
        (image ? ` (${h} × ${w} is not square)` : ' (not an image)'),
    );
  }
  return { channels: inputShape.length === 3 ? inputShape[0] : 1, side: h };
}

/**
 * The pixel permutation of rotation k (0..3) of a [C, S, S] image: out[p] = in[perm[p]] for
 * every p < C·S·S.
 */
export function rotationPermutation(image: SquareImage, k: number): Int32Array {
  const { channels: C, side: S } = image;
  const plane = S * S;
  const perm = new Int32Array(C * plane);
  for (let c = 0; c < C; c++) {
    for (let i = 0; i < S; i++) {
      for (let j = 0; j < S; j++) {
        let r: number;
        let s: number;
        switch (k & 3) {
          case 0: r = i; s = j; break;
          case 1: r = j; s = S - 1 - i; break;
          case 2: r = S - 1 - i; s = S - 1 - j; break;
          default: r = S - 1 - j; s = i;
        }
        perm[c * plane + i * S + j] = c * plane + r * S + s;
      }
    }
  }
  return perm;
}

/**
 * The four rotations of one image shape, their permutations made once: `rotate` applies one
 * without allocating (a training loop calls it every step).
 */
export class Rotations {
  /** perms[k]: the permutation of rotation k. */
  private readonly perms: readonly Int32Array[];
  /** Values per image (C·S·S). */
  readonly size: number;

  constructor(image: SquareImage) {
    this.perms = [0, 1, 2, 3].map((k) => rotationPermutation(image, k));
    this.size = this.perms[0].length;
  }

  /** Writes rotation k (0..3) of src[from .. from+size) into dst[to .. to+size) (distinct arrays or ranges). */
  rotate(src: Float32Array, from: number, dst: Float32Array, to: number, k: number): void {
    const perm = this.perms[k & 3];
    for (let p = 0; p < perm.length; p++) dst[to + p] = src[from + perm[p]];
  }
}
