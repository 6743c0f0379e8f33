/**
 * NumPy .npy arrays (format versions 1.0, 2.0 and 3.0): little-endian (or byte-sized) f4, f8,
 * i1, i2, i4, i8, u1, u2, u4, u8 and bool, in C order. Values are returned as a Float32Array
 * (64-bit integers and doubles are rounded to the nearest float32).
 */
import { readFileSync } from 'node:fs';
import { DatasetError } from '../errors.js';

/** A parsed .npy array. */
export interface NpyArray {
  /** The header's dtype descriptor, e.g. '<f4', '|u1', '|b1'. */
  readonly dtype: string;
  /** The array's shape ([] for a scalar). */
  readonly shape: readonly number[];
  /** The values in C order, as float32. */
  readonly data: Float32Array;
}

const MAGIC = '\x93NUMPY';

/** Bytes per value and how to read one value at a byte offset, per dtype without byte order. */
const DTYPES: Record<string, { size: number; get: (v: DataView, o: number) => number }> = {
  f4: { size: 4, get: (v, o) => v.getFloat32(o, true) },
  f8: { size: 8, get: (v, o) => v.getFloat64(o, true) },
  i1: { size: 1, get: (v, o) => v.getInt8(o) },
  i2: { size: 2, get: (v, o) => v.getInt16(o, true) },
  i4: { size: 4, get: (v, o) => v.getInt32(o, true) },
  i8: { size: 8, get: (v, o) => Number(v.getBigInt64(o, true)) },
  u1: { size: 1, get: (v, o) => v.getUint8(o) },
  u2: { size: 2, get: (v, o) => v.getUint16(o, true) },
  u4: { size: 4, get: (v, o) => v.getUint32(o, true) },
  u8: { size: 8, get: (v, o) => Number(v.getBigUint64(o, true)) },
  b1: { size: 1, get: (v, o) => (v.getUint8(o) !== 0 ? 1 : 0) },
};

/** Reads a .npy file. @throws DatasetError naming the file on an unreadable or unsupported file. */
export function readNpy(file: string): NpyArray {
  let buf: Buffer;
  try {
    buf = readFileSync(file);
  } catch (e) {
    throw new DatasetError(`${file}: cannot read: ${(e as Error).message}`);
  }
  return parseNpy(buf, file);
}

/**
 * Parses .npy bytes; `source` names them in error messages.
 * @throws DatasetError on a bad magic string or version, a header that is not the dict NumPy
 *   writes, a big-endian or unsupported dtype, Fortran order, or data shorter or longer than
 *   the shape says.
 */
export function parseNpy(buf: Uint8Array, source = '<buffer>'): NpyArray {
  const fail = (what: string): never => {
    throw new DatasetError(`${source}: not a supported .npy file: ${what}`);
  };
  if (buf.length < 10 || String.fromCharCode(...buf.subarray(0, 6)) !== MAGIC) fail('expected the magic string \\x93NUMPY');
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const major = buf[6];
  if (major < 1 || major > 3) fail(`expected format version 1, 2 or 3 but received ${major}.${buf[7]}`);
  const lenBytes = major === 1 ? 2 : 4;
  if (buf.length < 8 + lenBytes) fail('truncated header length');
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = 8 + lenBytes;
  if (buf.length < start + headerLen) fail(`header of ${headerLen} bytes is truncated`);
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(buf.subarray(start, start + headerLen));

  const field = (key: string, pattern: string): string => {
    const m = new RegExp(`['"]${key}['"]\\s*:\\s*(${pattern})`).exec(header);
    return m === null ? fail(`header has no valid '${key}' entry: ${header.trim()}`) : m[1];
  };
  const descr = field('descr', `'[^']*'|"[^"]*"`).slice(1, -1);
  if (field('fortran_order', 'True|False') === 'True') fail('Fortran order is not supported; save the array with np.ascontiguousarray');
  const shapeText = field('shape', '\\([^)]*\\)').slice(1, -1).trim();
  const shape = shapeText === '' ? [] : shapeText.split(',').filter((s) => s.trim() !== '').map((s) => {
    const d = Number(s.trim().replace(/L$/, ''));
    return Number.isInteger(d) && d >= 0 ? d : fail(`bad dimension ${JSON.stringify(s.trim())} in shape`);
  });

  const order = descr[0];
  const kind = descr.slice(1);
  const type = Object.prototype.hasOwnProperty.call(DTYPES, kind) ? DTYPES[kind] : undefined;
  if (type === undefined || !'<>|='.includes(order) || descr.length < 2) {
    fail(`dtype ${JSON.stringify(descr)} is not one of f4, f8, i1..i8, u1..u8, b1`);
  }
  if (order === '>' && type!.size > 1) fail(`dtype ${JSON.stringify(descr)} is big-endian; save it little-endian (arr.astype('<${kind}'))`);

  const count = shape.reduce((a, b) => a * b, 1);
  const dataBytes = buf.length - start - headerLen;
  if (dataBytes !== count * type!.size) {
    fail(`shape (${shape.join(', ')}) of ${descr} needs ${count * type!.size} data bytes but the file has ${dataBytes}`);
  }
  const data = new Float32Array(count);
  const base = start + headerLen;
  for (let i = 0; i < count; i++) data[i] = type!.get(view, base + i * type!.size);
  return { dtype: descr, shape, data };
}
