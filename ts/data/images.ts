/**
 * Image inputs: a table column of image file paths, each decoded (PNG through `pngjs`, JPEG
 * through `jpeg-js`, both pure JavaScript), converted to 1 or 3 channels, resized to a fixed
 * H × W with the Pillow-style resizer of MultiMNIST ({@link createResizer}), scaled to [0, 1]
 * and written channel-major (C × H × W), as a convolutional trunk's NCHW input expects.
 *
 * Rules:
 * - The format comes from the file's first bytes (PNG or JPEG signature), not its extension.
 * - Every image is decoded to 8-bit RGBA (16-bit PNGs are scaled to 8 bits, grayscale and
 *   palette images expanded); alpha is dropped: the colour values are used as stored.
 * - channels 3: R, G, B planes; channels 1: luma 0.299·R + 0.587·G + 0.114·B (ITU-R 601, as
 *   Pillow's RGB → L, without its rounding to an integer).
 * - Values are the 8-bit value / 255, then resized (resizing is linear, so the order does not
 *   matter); images of any size are accepted, each resized from its own size.
 * - Reading is synchronous (it runs inside applySchema); decoding is capped at 100 megapixels
 *   per JPEG.
 */
import { readFileSync } from 'node:fs';
import jpeg from 'jpeg-js';
import pngjs from 'pngjs';
import { checkKeys } from '../core/options.js';
import { ConfigError, DatasetError, describe } from '../errors.js';
import { createResizer, type Resample } from './multimnist.js';

/** An image input column of a schema (see `InputColumnsSpec.images`). */
export interface ImageInputSpec {
  /** The column holding image file paths, relative to the table file's folder (or absolute). */
  column: string;
  /** Output [height, width] in pixels. */
  size: [number, number];
  /** 1 (grayscale, luma) or 3 (RGB). */
  channels: 1 | 3;
  /** Resize filter: 'bilinear' (default, antialiased when shrinking) or 'nearest'. */
  resize?: Resample;
}

/** A fitted image input column (as saved with the model). */
export interface FittedImage {
  /** Column name. */
  column: string;
  /** Input kind. */
  kind: 'image';
  /** Output [height, width]. */
  size: [number, number];
  /** 1 or 3. */
  channels: 1 | 3;
  /** Resize filter. */
  resize: Resample;
}

/** A decoded image: width × height pixels of 8-bit RGBA, row-major. */
export interface DecodedImage {
  /** Pixels per row. */
  width: number;
  /** Rows. */
  height: number;
  /** width × height × 4 bytes: R, G, B, A per pixel. */
  data: Uint8Array;
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const JPEG_MAX_MEGAPIXELS = 100;
/** Source sizes whose resizers are kept; past this (a folder of images of many sizes) the cache restarts. */
const MAX_CACHED_SIZES = 16;

/**
 * Checks an image input spec and returns its fitted form.
 * @param where the spec's key path in messages, e.g. 'schema.inputs.images[0]'.
 * @throws ConfigError on unknown keys or a bad column, size, channels or resize.
 */
export function fitImageInput(spec: ImageInputSpec, where: string): FittedImage {
  checkKeys(spec, ['column', 'size', 'channels', 'resize'], where);
  if (typeof spec.column !== 'string' || spec.column === '') {
    throw new ConfigError(`Expected a column name for ${where}.column but received ${describe(spec.column)}`);
  }
  const size = spec.size;
  if (!Array.isArray(size) || size.length !== 2 || !size.every((s) => Number.isInteger(s) && s >= 1)) {
    throw new ConfigError(`Expected [height, width] (two positive integers) for ${where}.size but received ${describe(size)}`);
  }
  if (spec.channels !== 1 && spec.channels !== 3) {
    throw new ConfigError(`Expected 1 or 3 for ${where}.channels but received ${describe(spec.channels)}`);
  }
  const resize = spec.resize ?? 'bilinear';
  if (resize !== 'bilinear' && resize !== 'nearest') {
    throw new ConfigError(`Expected 'bilinear' or 'nearest' for ${where}.resize but received ${describe(resize)}`);
  }
  return { column: spec.column, kind: 'image', size: [size[0], size[1]], channels: spec.channels, resize };
}

/**
 * Decodes a PNG or JPEG file's bytes to 8-bit RGBA.
 * @param name the file, named in errors.
 * @throws DatasetError when the bytes are neither PNG nor JPEG or do not decode.
 */
export function decodeImage(bytes: Uint8Array, name: string): DecodedImage {
  const isPng = bytes.length >= 8 && PNG_SIGNATURE.every((b, i) => bytes[i] === b);
  const isJpeg = bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
  if (!isPng && !isJpeg) throw new DatasetError(`${name}: not a PNG or JPEG image (unrecognised first bytes)`);
  try {
    if (isPng) {
      const png = pngjs.PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      return { width: png.width, height: png.height, data: png.data };
    }
    const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: JPEG_MAX_MEGAPIXELS });
    return { width: img.width, height: img.height, data: img.data };
  } catch (e) {
    throw new DatasetError(`${name}: cannot decode as ${isPng ? 'PNG' : 'JPEG'}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/**
 * Reads image files into C × H × W float planes for one fitted image input. Resizers are built
 * once per source size and the scratch plane is reused, so a dataset of same-sized images costs
 * one decode and one resize per image and nothing else.
 */
export class ImageReader {
  private readonly resizers = new Map<string, (src: ArrayLike<number>, out: Float32Array, srcOffset?: number, outOffset?: number) => void>();
  private plane = new Float32Array(0);

  constructor(private readonly input: FittedImage) {}

  /** Values per image: channels × height × width. */
  get featureSize(): number {
    return this.input.channels * this.input.size[0] * this.input.size[1];
  }

  /**
   * Reads, decodes and resizes one image file into out[offset .. offset + featureSize).
   * @throws DatasetError naming the file when it cannot be read or decoded.
   */
  read(file: string, out: Float32Array, offset: number): void {
    let bytes: Buffer;
    try {
      bytes = readFileSync(file);
    } catch (e) {
      throw new DatasetError(`${file}: cannot read the image: ${e instanceof Error ? e.message : String(e)}`);
    }
    this.write(decodeImage(bytes, file), out, offset);
  }

  /** Converts, scales and resizes a decoded image into out[offset .. offset + featureSize). */
  write(image: DecodedImage, out: Float32Array, offset: number): void {
    const { width, height, data } = image;
    const [h, w] = this.input.size;
    const pixels = width * height;
    if (this.plane.length < pixels) this.plane = new Float32Array(pixels);
    const plane = this.plane;
    const key = `${height}x${width}`;
    let resize = this.resizers.get(key);
    if (resize === undefined) {
      if (this.resizers.size >= MAX_CACHED_SIZES) this.resizers.clear();
      resize = createResizer(height, width, h, w, this.input.resize);
      this.resizers.set(key, resize);
    }
    if (this.input.channels === 1) {
      for (let p = 0; p < pixels; p++) plane[p] = (0.299 * data[4 * p] + 0.587 * data[4 * p + 1] + 0.114 * data[4 * p + 2]) / 255;
      resize(plane, out, 0, offset);
      return;
    }
    for (let c = 0; c < 3; c++) {
      for (let p = 0; p < pixels; p++) plane[p] = data[4 * p + c] / 255;
      resize(plane, out, 0, offset + c * h * w);
    }
  }
}
