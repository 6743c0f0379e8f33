/** Readers: CSV/TSV (papaparse), JSON Lines and .npy (fixtures written by NumPy 2.4), with their errors. */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { cellNumber, columnCell, columnCodes, columnNumbers, csvTable, parseCsv, pickRows, readCsv, tableColumn, tableFromRows } from '../../ts/data/csv.js';
import type { Table } from '../../ts/data/csv.js';
import { jsonErrorOffset, locateJsonError, parseJsonl, readJsonl } from '../../ts/data/jsonl.js';
import { parseNpy, readNpy } from '../../ts/data/npy.js';
import { fitSchema, readTable } from '../../ts/data/schema.js';
import { ConfigError, DatasetError } from '../../ts/errors.js';
import { fixture } from './fixtures/paths.js';


describe('data/csv', () => {
  it('reads a header, quoted fields with the delimiter inside, and keeps every field a string', async () => {
    const t = await readCsv(fixture('people.csv'));
    assert.deepEqual(t.columns, ['age', 'city', 'score', 'income', 'tags']);
    assert.equal(t.lines.length, 4);
    assert.equal(tableColumn(t, 'city')[1], 'Lyon, FR');
    assert.deepEqual(tableColumn(t, 'age'), ['25', '35', '', '45']);
    assert.deepEqual(t.lines, [2, 3, 4, 5]);
    assert.equal(t.values.length, t.columns.length, 'one array of cells per column');
    assert.throws(() => tableColumn(t, 'agee'), (e: Error) => e instanceof DatasetError && /people\.csv: column "agee" is not in the file/.test(e.message));
  });

  it('reads TSV by extension or delimiter, skips empty lines and a BOM, and numbers lines of the file', async () => {
    assert.deepEqual(tableColumn(await readTable(fixture('people.tsv')), 'city'), ['Paris', 'Rome']);
    const t = await parseCsv('\ufeffa;b\n1;"x\ny"\n\n3;4\n', { delimiter: ';' });
    assert.deepEqual(t.columns, ['a', 'b']);
    assert.deepEqual(t.values, [['1', '3'], ['x\ny', '4']]);
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

describe('data/csv: line numbers, chunks and parsed numbers', () => {
  it('numbers CRLF lines through quoted fields holding CRLF, and names the line of a ragged row or a bad quote after them', async () => {
    const t = await parseCsv('a,b\r\n1,"p\r\nq"\r\n\r\n3,4\r\n', {}, 'crlf.csv');
    assert.deepEqual(t.values, [['1', '3'], ['p\r\nq', '4']]);
    assert.deepEqual(t.lines, [3, 5]);
    await assert.rejects(parseCsv('a,b\r\n1,"p\r\nq"\r\n3\r\n', {}, 'r.csv'), (e: Error) => e instanceof DatasetError && /^r\.csv:4: expected 2 fields .* received 1$/.test(e.message));
    await assert.rejects(parseCsv('a,b\n1,"x\ny"\n3,"z"w\n5,6\n', {}, 'q.csv'), (e: Error) => e instanceof DatasetError && /^q\.csv:4: cannot read as CSV: .*malformed/.test(e.message));
    await assert.rejects(parseCsv('a,b\n1,2\n3,"4\n5,6\n7,8\n', {}, 'u.csv'), (e: Error) => e instanceof DatasetError && /^u\.csv:3: cannot read as CSV: .*unterminated/.test(e.message), 'the line the open quote is on');
    await assert.rejects(parseCsv('a\n1\n', { delimiter: '"' }), (e: Error) => e instanceof DatasetError && /delimiter .*"\\""/.test(e.message));
  });

  it('reads a file of several chunks: characters split across reads, a quoted newline only after the first chunk', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hydranet-csv-'));
    try {
      // 5 MB of 'é' rows (two bytes each, so reads split characters; five reads of 1 MiB into three
      // buffers, each read begun while the chunk before is cut, so reads reuse the memory of
      // chunks no longer held), then a quoted newline, then a row.
      const rows = 400_000;
      const body = Array.from({ length: rows }, (_, i) => `${i},é${i % 7}é`).join('\n');
      const file = join(dir, 'big.csv');
      writeFileSync(file, `n,s\n${body}\n${rows},"two\nlines"\n${rows + 1},end\n`);
      const t = await readCsv(file);
      assert.equal(t.lines.length, rows + 2);
      assert.ok(tableColumn(t, 's').slice(0, rows).every((s, i) => s === `é${i % 7}é`), 'every é decoded whole');
      assert.deepEqual(t.lines.slice(-3), [rows + 1, rows + 3, rows + 4]);
      assert.deepEqual(tableColumn(t, 's').slice(-2), ['two\nlines', 'end']);
      assert.equal(columnNumbers(t, 0)?.[rows + 1], rows + 1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('cellNumber reads every text as Number does (its plain-decimal fast path included), blanks and non-finite values as NaN', () => {
    const byNumber = (v: string): number => {
      const x = Number(v);
      return (x === 0 && v.trim() === '') || !Number.isFinite(x) ? NaN : x;
    };
    const texts = ['', ' ', '-', '.', '-.', '1.', '.5', '-.5', '-0', '0', '007', '1e5', ' 1', '1 ', '+1', '0x10', '1..2', '1-2', 'NA', 'Infinity', '1e400',
      '123456789012345', '1234567890123456', '9007199254740993', '0.1', '0.30000000000000004', '-999.000', '1,5', '١٢'];
    // Seeded digits with a point and a sign here and there, 1 to 18 digits: around the 15-digit limit of the fast path.
    let seed = 7;
    const next = (k: number): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % k;
    };
    for (let i = 0; i < 20000; i++) {
      let t = '';
      for (let d = 1 + next(18); d > 0; d--) t += String(next(10));
      const point = next(t.length + 2) - 1;
      if (point >= 0) t = `${t.slice(0, point)}.${t.slice(point)}`;
      texts.push(next(3) === 0 ? `-${t}` : t);
    }
    for (const t of texts) assert.ok(Object.is(cellNumber(t), byNumber(t)), `${JSON.stringify(t)}: ${cellNumber(t)} but Number gives ${byNumber(t)}`);
    assert.ok(Object.is(cellNumber(-0), -0) && Number.isNaN(cellNumber(null)) && Number.isNaN(cellNumber(true)));
  });

  it('parses a numeric-looking column as it reads it (as cellNumber would), not a categorical one; a numeric missing text still counts', async () => {
    const categories = Array.from({ length: 12 }, (_, i) => `c${i}`);
    const text = `x,c,y\n${[' 1.5 ', '', 'NA', '-999', '0x10', '1e400', ...Array.from({ length: 6 }, (_, i) => String(i))].map((x, i) => `"${x}",${categories[i]},${'ab'[i % 2]}`).join('\n')}\n`;
    const t = await parseCsv(text);
    const x = tableColumn(t, 'x');
    assert.deepEqual([...columnNumbers(t, 0)!], x.map(cellNumber));
    assert.deepEqual([...columnNumbers(t, 0)!].slice(0, 6), [1.5, NaN, NaN, -999, 16, NaN]);
    assert.equal(columnNumbers(t, 1), undefined, '12 distinct texts: categorical');
    assert.equal(columnNumbers(tableFromRows([{ a: '1' }, { a: '2' }]), 0), undefined, 'cells no CSV reader made');
    const picked = pickRows(t, [8, 0, 3]);
    assert.deepEqual(picked.values, [['2', ' 1.5 ', '-999'], ['c8', 'c0', 'c3'], ['a', 'a', 'b']]);
    assert.deepEqual(picked.lines, [10, 2, 5]);
    assert.deepEqual([...columnNumbers(picked, 0)!], [2, 1.5, -999], 'the read numbers come along');
    assert.equal(columnNumbers(picked, 1), undefined);
    // '-999' as a missing text: the read numbers say -999, the schema must still see a missing value.
    const fitted = fitSchema(t, { inputs: { numeric: ['x'] }, tasks: [{ name: 'y', kind: 'classification' }], missing: ['', 'NA', '-999', '1e400'] });
    const kept = [1.5, 16, 0, 1, 2, 3, 4, 5];
    const mean = kept.reduce((a, b) => a + b) / kept.length;
    const std = Math.sqrt(kept.reduce((a, b) => a + (b - mean) ** 2, 0) / kept.length);
    const got = fitted.inputs[0] as { mean: number; std: number; indicator: boolean };
    assert.ok(Math.abs(got.mean - mean) < 1e-12 && Math.abs(got.std - std) < 1e-12 && got.indicator, JSON.stringify(got));
  });
});

/** What a CSV read gives, comparable: the table's parts (every cell made), or the error's class and message. */
async function outcome(chunks: (string | Buffer)[], fast: boolean, delimiter?: string): Promise<unknown> {
  try {
    const t = await csvTable(Readable.from(chunks), 'c.csv', delimiter === undefined ? {} : { delimiter }, fast);
    return { columns: t.columns, values: t.values.map((cells) => [...cells]), lines: t.lines, numbers: t.columns.map((_, c) => columnNumbers(t, c)) };
  } catch (e) {
    return { error: (e as Error).constructor.name, message: (e as Error).message };
  }
}

describe('data/csv: the quote-free path and columns kept as numbers', () => {
  it('splits text without quotes exactly as papaparse does, cut into chunks anywhere, and hands over to papaparse at the first quote', async () => {
    const texts = [
      'a,b\r\n1,2\r\n\r\n3,4\r\n', // CRLF and an empty line
      'a,b\n1,2\r\n3,4', // mixed line breaks, no final one
      'a,b\r1,2\r3,4\r', // CR alone
      '\ufeffa,b\n\ufeff1,2\n', // a byte-order mark, and one that is a cell
      'a\n\n\n1\n\n2', // empty lines, one column
      'x,y\n1,2\n3\n', // ragged
      'x,x\n1,2\n', // duplicate header name
      '\n\n', // no header
      'é,ü\n€,1.50\n-0,007\n', // non-ASCII, texts that are not toFixed of their number
      'a,b\n1,2\n3,"x\ny"\n5,6\n7,8\n', // a quote after quote-free lines
      'a,b\n1,2\n3,"x\n4,5\n', // an unterminated quote after them
      'a,b\r\n1,2\r\n3,"p\r\nq"\r\n5\r\n', // a ragged row after a quoted CRLF
    ];
    // Papaparse finds the line break in the first chunk, as this path does (a real chunk is 1 MiB).
    const same = async (chunks: string[], what: string): Promise<void> => assert.deepEqual(await outcome(chunks, true), await outcome(chunks, false), what);
    for (const text of texts) {
      await same([text], JSON.stringify(text));
      const lineBreak = text.search(/[\r\n]/);
      for (let cut = 1; cut < text.length; cut++) {
        if (cut <= lineBreak + 1) continue; // a first chunk without the whole first line break
        await same([text.slice(0, cut), text.slice(cut)], `${JSON.stringify(text)} cut at ${cut}`);
        const third = Math.min(text.length, cut + 3);
        await same([text.slice(0, cut), text.slice(cut, third), text.slice(third)], `${JSON.stringify(text)} cut at ${cut}, ${third}`);
      }
    }
    // Past 4096 distinct values, numbers are read in place: texts toFixed does not give back, and ragged rows, there too.
    const many = `a,b\n${Array.from({ length: 5000 }, (_, i) => `${i / 4},${-i}`).join('\n')}\n`;
    for (const tail of ['007,-0\n.5,5.\n-0.0,1e3\n , \n', '1,2,3\n', '1\n', 'x,\n']) {
      await same([many + tail], JSON.stringify(tail));
      await same([many.slice(0, 30000), many.slice(30000) + tail], `${JSON.stringify(tail)}, cut`);
    }
    // A delimiter of several characters, split across chunks too.
    const text = 'a::b\n1::2\n3::4::5\n';
    assert.deepEqual(await outcome(['a:', ':b\n1:', ':2\n3::4::5\n'], true, '::'), await outcome([text], false, '::'));
    assert.match(JSON.stringify(await outcome([text], true, '::')), /c\.csv:3: expected 2 fields/);
  });

  it('cuts the bytes of a file as papaparse cuts its decoded text, chunks split anywhere (inside a character, a CRLF, a delimiter)', async () => {
    const texts = [
      'é,ü\n€,1.50\n-0,007\n€,2\n', // characters of 2 and 3 bytes
      'a;;b\r\nx;;1\r\n\r\ny;;2;;3\r\n', // CRLF, a delimiter of two characters, a ragged row
      'a§b\n1§2\n3§😀\n', // a delimiter of two bytes, a character of four
      '\ufeffa,b\r1,2\r3,4', // a byte-order mark, CR alone, no final line break
      'a,b\n1,2\n3,"x\ny"\n', // a quote after quote-free lines
    ];
    for (const text of texts) {
      const delimiter = text.includes(';;') ? ';;' : text.includes('§') ? '§' : undefined;
      const bytes = Buffer.from(text);
      // Papaparse reads the same chunks, decoded by Node's StringDecoder (it finds the line break in its first chunk, as this path does).
      const same = async (chunks: Buffer[], what: string): Promise<void> => assert.deepEqual(await outcome(chunks, true, delimiter), await outcome(chunks, false, delimiter), what);
      assert.deepEqual(await outcome([bytes], true, delimiter), await outcome([text], false, delimiter), JSON.stringify(text));
      const lineBreak = bytes.findIndex((b) => b === 10 || b === 13);
      for (let cut = lineBreak + 2; cut < bytes.length; cut++) {
        await same([bytes.subarray(0, cut), bytes.subarray(cut)], `${JSON.stringify(text)} cut at byte ${cut}`);
        const third = Math.min(bytes.length, cut + 2);
        await same([bytes.subarray(0, cut), bytes.subarray(cut, third), bytes.subarray(third)], `${JSON.stringify(text)} cut at bytes ${cut}, ${third}`);
      }
    }
    // Invalid UTF-8: two byte strings that both decode as U+FFFD are one text of the column, as in papaparse's decoded text.
    const invalid = Buffer.concat([Buffer.from('a,b\n'), Buffer.from([0xff]), Buffer.from(',1\n'), Buffer.from([0xfe]), Buffer.from(',2\n'), Buffer.from([0xe2, 0x82]), Buffer.from(',3\n')]);
    const decoded = await outcome([invalid], false);
    assert.deepEqual(await outcome([invalid], true), decoded);
    assert.deepEqual((decoded as { values: string[][] }).values[0], ['\ufffd', '\ufffd', '\ufffd']);
    // Texts whose bytes hash alike (FNV-1a): of one length, and one the other plus a byte. Each stays its own text.
    const alike = ['k4uzla', 'kf2apa', 'pkrcbu', 'pkrcbuD'];
    const hashed = `a,b\n${Array.from({ length: 40 }, (_, i) => `${alike[(i * 3) % 4]},${alike[i % 4]}`).join('\n')}\n`;
    assert.deepEqual(await outcome([Buffer.from(hashed)], true), await outcome([hashed], false));
    assert.deepEqual(columnCodes(await parseCsv(hashed), 1)?.texts, alike);
    // Strings: a surrogate pair cut between chunks, and a lone surrogate (no UTF-8 bytes: papaparse takes that text).
    for (const chunks of [['a,b\n1,\ud83d', '\ude00\n'], ['a,b\n1,\ud83d\n2,3\n'], ['a,b\n1,2\n', '3,\udc00\n'], ['a,b\n1,\ud83d']]) {
      assert.deepEqual(await outcome(chunks, true), await outcome([chunks.join('')], false), JSON.stringify(chunks));
    }
  });

  it('leaves the dictionary of a numeric column of mostly distinct values early, and keeps every text and number', async () => {
    // p: 3000 distinct decimals, then 9 non-numeric texts (not numeric after all); q: 1500 distinct, then few repeated.
    const ps = [...Array.from({ length: 3000 }, (_, i) => (i * 1.25 - 7).toFixed(2)), ...Array.from({ length: 9 }, (_, i) => `p${i}`)];
    const qs = ps.map((_, i) => (i < 1500 ? String(i * 3) : String(i % 5)));
    const text = `p,q\n${ps.map((p, i) => `${p},${qs[i]}`).join('\n')}\n`;
    const cuts = [text.slice(0, 5000), text.slice(5000, 20000), text.slice(20000)];
    assert.deepEqual(await outcome(cuts, true), await outcome([text], false));
    const t = await parseCsv(text);
    assert.equal(columnNumbers(t, 0), undefined, 'p: categorical after all');
    assert.deepEqual([...columnNumbers(t, 1)!], qs.map(Number));
    assert.deepEqual(tableColumn(t, 'p'), ps);
    assert.deepEqual(tableColumn(t, 'q'), qs);
  });

  it('keeps a numeric column of many values as numbers and makes its cells, each the exact text, when asked for', async () => {
    // 5000 distinct numbers (past the 4096 a dictionary keeps), then texts that toFixed does not give back.
    const odd = ['007', '-0', '-0.000', '1.50', '.5', '5.', '1e3', ' 3 ', '+2', 'NA', '', '0.000001', '0.0000001', '123456789012345', '1234567890123456', '-12.0100'];
    const xs = [...Array.from({ length: 5000 }, (_, i) => ((i * 7919) % 10007 / 8 - 600).toFixed(i % 5)), ...odd];
    // w: numeric for 4100 rows, then 9 distinct non-numeric texts: not numeric after all.
    const ws = xs.map((_, i) => (i < 4100 ? String(i) : `w${i % 9}`));
    const text = `x,w,k\n${xs.map((x, i) => `${x},${ws[i]},k${i % 3}`).join('\n')}\n`;
    const t = await parseCsv(text, {}, 'n.csv');
    const row = (r: number): number => t.lines.indexOf(r + 2);
    assert.equal(columnCell(t, 0, row(5003)), '1.50', 'one cell, without making the column');
    const x = tableColumn(t, 'x');
    assert.deepEqual(x, xs, 'every cell as written');
    assert.ok(x === tableColumn(t, 'x') && x === t.values[0], 'made once');
    assert.deepEqual([...columnNumbers(t, 0)!], xs.map(cellNumber));
    assert.deepEqual(tableColumn(t, 'w'), ws);
    assert.equal(columnNumbers(t, 1), undefined);
    assert.deepEqual(tableColumn(t, 'k'), xs.map((_, i) => `k${i % 3}`));
    // pickRows on a table whose x cells were never made keeps them as numbers, texts exact.
    const fresh = await parseCsv(text, {}, 'n.csv');
    const picks = [5003, 0, 5000, 4999, 5011, 5001];
    const picked = pickRows(fresh, picks);
    assert.equal(columnCell(picked, 0, 0), '1.50');
    assert.deepEqual(tableColumn(picked, 'x'), picks.map((i) => xs[i]));
    assert.deepEqual([...columnNumbers(picked, 0)!], picks.map((i) => cellNumber(xs[i])));
    assert.deepEqual(picked.lines, picks.map((i) => i + 2));
    // And a table of cells made the same way as the reader's compares equal, cell for cell.
    const same: Table = tableFromRows(xs.map((v, i) => ({ x: v, w: ws[i], k: `k${i % 3}` })));
    assert.deepEqual((await parseCsv(text)).values, same.values);
  });
});

describe('data/jsonl', () => {
  it('keeps numbers, booleans and null; columns in order of first appearance; absent keys read as missing', async () => {
    const t = await readJsonl(fixture('people.jsonl'));
    assert.deepEqual(t.columns, ['age', 'city', 'clicked', 'rating']);
    assert.deepEqual(t.lines, [1, 2, 4]);
    assert.deepEqual(tableColumn(t, 'age'), [25, null, 41]);
    assert.equal(tableColumn(t, 'clicked')[0], true);
    assert.equal(tableColumn(t, 'rating')[1], null, 'a key the row lacks');
    assert.ok(t.values.every((column) => column.length === 3));
    assert.equal((await readTable(fixture('people.jsonl'))).lines.length, 3);
  });

  it('fills a column first seen on a later row with null above it, and rows given in code the same way', async () => {
    const t = await parseJsonl('{"a":1}\n{"b":"x"}\n{"a":3,"b":null}\n');
    assert.deepEqual(t.columns, ['a', 'b']);
    assert.deepEqual(t.values, [[1, null, 3], [null, 'x', null]]);
    const proto = Object.create({ inherited: 'no' }) as Record<string, string>;
    proto.a = '2';
    const r = tableFromRows([{ a: '1', c: 'z' }, proto]);
    assert.deepEqual(r.columns, ['a', 'c']);
    assert.deepEqual(r.values, [['1', '2'], ['z', null]]);
    assert.deepEqual(r.lines, [1, 2]);
    assert.equal(r.source, '<rows>');
  });

  it('rejects bad JSON, non-objects and nested values, naming file, line and key', async () => {
    await assert.rejects(parseJsonl('{"a":1}\n{"a":\n', 'x.jsonl'), (e: Error) => e instanceof DatasetError && /^x\.jsonl:2:6: not valid JSON: Unexpected end of JSON input$/.test(e.message));
    await assert.rejects(parseJsonl('{"a":1}\n\n{"a": tru, "b": 2}\n', 'x.jsonl'), (e: Error) => e instanceof DatasetError && /^x\.jsonl:3:10: not valid JSON: Unexpected token ','$/.test(e.message));
    await assert.rejects(parseJsonl('[1,2]\n', 'x.jsonl'), (e: Error) => e instanceof DatasetError && /x\.jsonl:1: expected a JSON object but received an array/.test(e.message));
    await assert.rejects(parseJsonl('{"a":1}\n\n{"tags":["x"]}\n', 'x.jsonl'), (e: Error) => e instanceof DatasetError && /x\.jsonl:3: column "tags".*nested array/.test(e.message));
  });

  it('finds where a JSON text breaks: line and column, with or without a position in V8\'s message', () => {
    for (const valid of ['{}', ' [1, -2.5e+3, "\\u00e9\\n", true, false, null, {"a": {"b": []}}] ', '"x"', '0']) assert.equal(jsonErrorOffset(valid), -1, valid);
    const cases: [string, number][] = [['[1, 2', 5], ['{"a":1}}', 7], ['{"a": tru}', 9], ['"\\x"', 2], ['"\\u12G4"', 5], ['{"a" 1}', 5], ['[01]', 2], ['', 0], ['{"a":\n  nul }', 11]];
    for (const [text, offset] of cases) assert.equal(jsonErrorOffset(text), offset, text);
    const place = (text: string): unknown => {
      try {
        JSON.parse(text);
      } catch (e) {
        return locateJsonError(text, e as Error);
      }
      return null;
    };
    assert.deepEqual(place('{\n  "a": [1,\n  }'), { line: 3, column: 3, message: "Unexpected token '}'" });
    assert.deepEqual(place('{"a" 1}'), { line: 1, column: 6, message: "Expected ':' after property name" });
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
