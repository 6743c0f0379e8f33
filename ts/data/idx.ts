/**
 * IDX files, the format MNIST ships in (http://yann.lecun.com/exdb/mnist/):
 *
 *   bytes 0-1   0x00 0x00
 *   byte  2     element type: 0x08 unsigned byte (the only type MNIST uses, and the only one
 *               read here), 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64
 *   byte  3     number of dimensions d
 *   next 4·d    each dimension as a big-endian uint32
 *   the rest    the elements, row-major, exactly Π dims of them
 *
 * So labels carry the magic 0x00000801 (ubyte, 1-D) and images 0x00000803 (ubyte, 3-D:
 * count × rows × cols).
 */
import { readFileSync } from 'node:fs';
import { DatasetError } from '../errors.js';

/** Magic number of an IDX label file: unsigned bytes, one dimension. */
export const IDX_LABELS_MAGIC = 0x00000801;
/** Magic number of an IDX image file: unsigned bytes, three dimensions. */
export const IDX_IMAGES_MAGIC = 0x00000803;

const UBYTE = 0x08;
const TYPE_NAMES: Record<number, string> = {
  0x08: 'uint8',
  0x09: 'int8',
  0x0b: 'int16',
  0x0c: 'int32',
  0x0d: 'float32',
  0x0e: 'float64',
};

/** A parsed IDX file of unsigned bytes. */
export interface IdxArray {
  /** The dimensions from the header, outermost first. */
  readonly dims: readonly number[];
  /**
   * The elements, row-major. A view over the source buffer, not a copy: treat it as read-only
   * (loadMnist caches it).
   */
  readonly data: Uint8Array;
}

function hex(magic: number): string {
  return '0x' + (magic >>> 0).toString(16).padStart(8, '0');
}

/**
 * Parses an IDX buffer of unsigned bytes.
 * @param buf the whole file.
 * @param source names the file in error messages (a path, say).
 * @param expectedDims when given, the number of dimensions the file must have.
 * @throws DatasetError on a bad magic number, an element type other than uint8, a wrong number
 *   of dimensions, or a length that disagrees with the header (truncated or trailing bytes).
 */
export function parseIdx(buf: Uint8Array, source = 'IDX buffer', expectedDims?: number): IdxArray {
  if (buf.length < 4) {
    throw new DatasetError(
      `Expected at least 4 header bytes in ${source} but received ${buf.length} bytes: the file is truncated`,
    );
  }
  const magic = ((buf[0] << 24) | (buf[1] << 16) | (buf[2] << 8) | buf[3]) >>> 0;
  if (buf[0] !== 0 || buf[1] !== 0) {
    throw new DatasetError(
      `Expected an IDX magic number 0x0000TTDD in ${source} but received ${hex(magic)}: not an IDX file ` +
        `(a gzip-compressed file starts with 0x1f8b; decompress it first)`,
    );
  }
  const dtype = buf[2];
  const ndims = buf[3];
  if (dtype !== UBYTE) {
    const name = TYPE_NAMES[dtype] ?? 'an unknown type';
    throw new DatasetError(
      `Expected element type 0x08 (uint8) in ${source} but received 0x${dtype.toString(16).padStart(2, '0')} ` +
        `(${name}), magic ${hex(magic)}`,
    );
  }
  if (expectedDims !== undefined && ndims !== expectedDims) {
    const want = expectedDims === 1 ? IDX_LABELS_MAGIC : expectedDims === 3 ? IDX_IMAGES_MAGIC : undefined;
    throw new DatasetError(
      `Expected ${expectedDims} dimension(s)${want !== undefined ? ` (magic ${hex(want)})` : ''} in ${source} ` +
        `but received ${ndims} (magic ${hex(magic)})`,
    );
  }
  if (ndims === 0) {
    throw new DatasetError(`Expected at least one dimension in ${source} but received 0 (magic ${hex(magic)})`);
  }
  const headerBytes = 4 + 4 * ndims;
  if (buf.length < headerBytes) {
    throw new DatasetError(
      `Expected a ${headerBytes}-byte header for ${ndims} dimension(s) in ${source} but received ` +
        `${buf.length} bytes: the file is truncated`,
    );
  }
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const dims: number[] = [];
  let elements = 1;
  for (let d = 0; d < ndims; d++) {
    const size = view.getUint32(4 + 4 * d, false);
    dims.push(size);
    elements *= size;
  }
  const actual = buf.length - headerBytes;
  if (actual !== elements) {
    const what = actual < elements ? 'the file is truncated' : 'the file has trailing bytes';
    throw new DatasetError(
      `Expected ${elements} data bytes for dimensions [${dims.join(', ')}] in ${source} but received ` +
        `${actual}: ${what}`,
    );
  }
  // A plain Uint8Array view (not a Buffer subclass), so hot loops see one array type.
  return { dims, data: new Uint8Array(buf.buffer, buf.byteOffset + headerBytes, elements) };
}

/** Parses an IDX label file (magic 0x00000801): one uint8 per sample. */
export function parseIdxLabels(buf: Uint8Array, source = 'IDX label buffer'): Uint8Array {
  return parseIdx(buf, source, 1).data;
}

/** Parses an IDX image file (magic 0x00000803): count × rows × cols uint8 pixels. */
export function parseIdxImages(
  buf: Uint8Array,
  source = 'IDX image buffer',
): {
  /** count × rows × cols pixels, row-major (a view of `buf`). */
  data: Uint8Array;
  /** Number of images. */
  count: number;
  /** Image height. */
  rows: number;
  /** Image width. */
  cols: number;
} {
  const { dims, data } = parseIdx(buf, source, 3);
  return { data, count: dims[0], rows: dims[1], cols: dims[2] };
}

/**
 * Reads and parses a whole IDX file (uncompressed).
 * @throws DatasetError when the file cannot be read or is not a valid uint8 IDX file.
 */
export function readIdxFile(path: string, expectedDims?: number): IdxArray {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (err) {
    throw new DatasetError(`Cannot read IDX file ${path}: ${(err as Error).message}`);
  }
  return parseIdx(buf, path, expectedDims);
}
