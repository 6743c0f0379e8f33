/** IDX parsing on hand-built buffers: good files, bad magic, wrong types, truncation. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseIdx, parseIdxImages, parseIdxLabels, readIdxFile } from '../../ts/data/idx.js';
import { DatasetError } from '../../ts/errors.js';

/** An IDX buffer: magic bytes 0 0 dtype ndims, big-endian dims, then the data. */
function idx(dtype: number, dims: number[], data: number[]): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header[2] = dtype;
  header[3] = dims.length;
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, Buffer.from(data)]);
}

describe('data/idx', () => {
  it('parses a label file (magic 0x00000801)', () => {
    const buf = idx(0x08, [3], [5, 0, 9]);
    assert.equal(buf.readUInt32BE(0), 0x801);
    assert.deepEqual([...parseIdxLabels(buf)], [5, 0, 9]);
  });

  it('parses an image file (magic 0x00000803) with big-endian dims', () => {
    const pixels = Array.from({ length: 2 * 2 * 3 }, (_, i) => i * 10);
    const buf = idx(0x08, [2, 2, 3], pixels);
    assert.equal(buf.readUInt32BE(0), 0x803);
    const img = parseIdxImages(buf);
    assert.equal(img.count, 2);
    assert.equal(img.rows, 2);
    assert.equal(img.cols, 3);
    assert.deepEqual([...img.data], pixels);
  });

  it('reads dimensions above 255 and 65535 (big-endian, all four bytes)', () => {
    const buf = idx(0x08, [70000], new Array(70000).fill(1));
    assert.deepEqual(parseIdx(buf).dims, [70000]);
  });

  it('works on a Buffer that is a slice of a larger ArrayBuffer', () => {
    const inner = idx(0x08, [2], [7, 8]);
    const outer = Buffer.concat([Buffer.from([1, 2, 3]), inner]);
    assert.deepEqual([...parseIdxLabels(outer.subarray(3))], [7, 8]);
  });

  it('rejects a bad magic number, naming the source', () => {
    const buf = idx(0x08, [1], [1]);
    buf[0] = 0x1f;
    buf[1] = 0x8b;
    assert.throws(() => parseIdx(buf, 'labels.gz'), (e: unknown) => {
      assert.ok(e instanceof DatasetError);
      assert.match(e.message, /labels\.gz/);
      assert.match(e.message, /magic/);
      return true;
    });
  });

  it('rejects element types other than uint8', () => {
    assert.throws(() => parseIdx(idx(0x0d, [1], [0, 0, 0, 0])), (e: unknown) => {
      assert.ok(e instanceof DatasetError);
      assert.match(e.message, /float32/);
      return true;
    });
  });

  it('rejects a label file where images are expected, and vice versa', () => {
    assert.throws(() => parseIdxImages(idx(0x08, [2], [1, 2])), /0x00000803.*received 1/);
    assert.throws(() => parseIdxLabels(idx(0x08, [1, 1, 1], [1])), DatasetError);
  });

  it('rejects truncated headers and truncated data', () => {
    assert.throws(() => parseIdx(Buffer.from([0, 0])), /truncated/);
    assert.throws(() => parseIdx(Buffer.from([0, 0, 8, 3, 0, 0, 0, 1])), /truncated/);
    const short = idx(0x08, [2, 2, 2], [1, 2, 3, 4, 5, 6, 7]);
    assert.throws(() => parseIdxImages(short), (e: unknown) => {
      assert.ok(e instanceof DatasetError);
      assert.match(e.message, /Expected 8 data bytes.*received 7.*truncated/);
      return true;
    });
  });

  it('rejects trailing bytes', () => {
    assert.throws(() => parseIdxLabels(idx(0x08, [2], [1, 2, 3])), /trailing/);
  });

  it('reads a file, and names a missing one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hydranet-idx-'));
    try {
      const path = join(dir, 'labels-idx1-ubyte');
      writeFileSync(path, idx(0x08, [2], [3, 4]));
      assert.deepEqual([...readIdxFile(path, 1).data], [3, 4]);
      assert.throws(() => readIdxFile(join(dir, 'nope')), (e: unknown) => {
        assert.ok(e instanceof DatasetError);
        assert.match(e.message, /nope/);
        return true;
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
