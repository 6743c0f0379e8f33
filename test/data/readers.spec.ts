/** Readers: CSV/TSV (csv-parse), JSON Lines and .npy (fixtures written by NumPy 2.4), with their errors. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseCsv, readCsv } from '../../ts/data/csv.js';
import { parseJsonl, readJsonl } from '../../ts/data/jsonl.js';
import { parseNpy, readNpy } from '../../ts/data/npy.js';
import { readTable } from '../../ts/data/schema.js';
import { ConfigError, DatasetError } from '../../ts/errors.js';
import { fixture } from './fixtures/paths.js';


describe('data/csv', () => {
  it('reads a header, quoted fields with the delimiter inside, and keeps every field a string', async () => {
    const t = await readCsv(fixture('people.csv'));
    assert.deepEqual(t.columns, ['age', 'city', 'score', 'income', 'tags']);
    assert.equal(t.rows.length, 4);
    assert.equal(t.rows[1].city, 'Lyon, FR');
    assert.equal(t.rows[0].age, '25');
    assert.equal(t.rows[2].age, '');
    assert.deepEqual(t.lines, [2, 3, 4, 5]);
  });

  it('reads TSV by extension or delimiter, skips empty lines and a BOM, and numbers lines of the file', async () => {
    assert.deepEqual((await readTable(fixture('people.tsv'))).rows.map((r) => r.city), ['Paris', 'Rome']);
    const t = await parseCsv('\ufeffa;b\n1;"x\ny"\n\n3;4\n', { delimiter: ';' });
    assert.deepEqual(t.columns, ['a', 'b']);
    assert.equal(t.rows[0].b, 'x\ny');
    assert.deepEqual(t.lines, [3, 5]);
  });

  it('rejects a ragged row, a duplicate or empty header name and an empty file, naming file and line', async () => {
    await assert.rejects(readCsv(fixture('ragged.csv')), (e: Error) => e instanceof DatasetError && /ragged\.csv:3: expected 2 fields .* received 1/.test(e.message));
    await assert.rejects(parseCsv('a,a\n1,2\n', {}, 'd.csv'), (e: Error) => e instanceof DatasetError && /d\.csv:1: column "a" appears twice/.test(e.message));
    await assert.rejects(parseCsv('a,\n1,2\n'), (e: Error) => e instanceof DatasetError && /column 2 of the header has no name/.test(e.message));
    await assert.rejects(parseCsv(''), DatasetError);
    await assert.rejects(parseCsv('a,b\n"1,2\n', {}, 'q.csv'), (e: Error) => e instanceof DatasetError && /^q\.csv.*cannot read as CSV/.test(e.message));
    await assert.rejects(readCsv(fixture('absent.csv')), (e: Error) => e instanceof DatasetError && /absent\.csv/.test(e.message));
    await assert.rejects(parseCsv('a\n1\n', { delimter: ';' } as never), (e: Error) => e instanceof ConfigError && /did you mean "delimiter"/.test(e.message));
  });
});

describe('data/jsonl', () => {
  it('keeps numbers, booleans and null; columns in order of first appearance; absent keys read as missing', async () => {
    const t = await readJsonl(fixture('people.jsonl'));
    assert.deepEqual(t.columns, ['age', 'city', 'clicked', 'rating']);
    assert.deepEqual(t.lines, [1, 2, 4]);
    assert.equal(t.rows[0].age, 25);
    assert.equal(t.rows[0].clicked, true);
    assert.equal(t.rows[1].age, null);
    assert.equal(t.rows[1].rating, undefined);
    assert.equal((await readTable(fixture('people.jsonl'))).rows.length, 3);
  });

  it('rejects bad JSON, non-objects and nested values, naming file, line and key', async () => {
    await assert.rejects(parseJsonl('{"a":1}\n{"a":\n', 'x.jsonl'), (e: Error) => e instanceof DatasetError && /^x\.jsonl:2: not valid JSON/.test(e.message));
    await assert.rejects(parseJsonl('[1,2]\n', 'x.jsonl'), (e: Error) => e instanceof DatasetError && /x\.jsonl:1: expected a JSON object but received an array/.test(e.message));
    await assert.rejects(parseJsonl('{"a":1}\n\n{"tags":["x"]}\n', 'x.jsonl'), (e: Error) => e instanceof DatasetError && /x\.jsonl:3: column "tags".*nested array/.test(e.message));
  });

  it('readTable rejects an unknown extension or option', async () => {
    await assert.rejects(readTable('data.parquet'), (e: Error) => e instanceof ConfigError && /parquet/.test(e.message));
    await assert.rejects(readTable('a.csv', { sep: ',' } as never), ConfigError);
  });
});

describe('data/npy', () => {
  const cases: [string, string, number[], number[]][] = [
    ['f4.npy', '<f4', [2, 3], [0, 0.5, 1, 1.5, 2, 2.5]],
    ['f8.npy', '<f8', [3], [1.5, -2.25, 1e10]],
    ['i8.npy', '<i8', [2, 2], [-3, 4, 5, -6]],
    ['u1.npy', '|u1', [3], [0, 255, 7]],
    ['i2.npy', '<i2', [2], [-32768, 32767]],
    ['u4.npy', '<u4', [1], [4000000000]],
    ['bool.npy', '|b1', [3], [1, 0, 1]],
    ['scalar.npy', '<f4', [], [3.5]],
    ['v2.npy', '<i4', [4], [0, 1, 2, 3]],
  ];
  for (const [file, dtype, shape, values] of cases) {
    it(`reads ${file} (${dtype}, shape [${shape.join(', ')}]) as written by NumPy`, () => {
      const a = readNpy(fixture(file));
      assert.equal(a.dtype, dtype);
      assert.deepEqual(a.shape, shape);
      assert.deepEqual([...a.data], values.map((v) => Math.fround(v)));
    });
  }

  it('rejects big-endian, Fortran order, object dtype, bad magic and truncated data with the reason', () => {
    const rejects = (f: () => unknown, pattern: RegExp): void => assert.throws(f, (e: Error) => e instanceof DatasetError && pattern.test(e.message));
    rejects(() => readNpy(fixture('big-endian.npy')), /big-endian\.npy: .*big-endian; save it little-endian/);
    rejects(() => readNpy(fixture('fortran.npy')), /Fortran order is not supported/);
    rejects(() => readNpy(fixture('object.npy')), /dtype "\|O" is not one of/);
    rejects(() => parseNpy(Buffer.from('PK\x03\x04 not npy'), 'z.npy'), /z\.npy: .*magic/);
    const good = readNpyBytes('f4.npy');
    rejects(() => parseNpy(good.subarray(0, good.length - 1), 'cut.npy'), /cut\.npy: .*needs 24 data bytes but the file has 23/);
    rejects(() => parseNpy(good.subarray(0, 20), 'cut.npy'), /header of \d+ bytes is truncated/);
    rejects(() => readNpy(fixture('absent.npy')), /absent\.npy: cannot read/);
  });
});

function readNpyBytes(name: string): Buffer {
  return readFileSync(fixture(name));
}
