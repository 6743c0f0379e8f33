/**
 * A newcomer's real files (issue 16, checked with scikit-learn's bundled data: digits.csv.gz,
 * diabetes_data_raw.csv.gz): gzip tables read by readTable as they are decompressed, and the
 * hints a ragged row under a one-field header gives about the delimiter, and a column the file
 * lacks about the one that matches but for blanks at either end or case (" age", "Species").
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { type Table, columnCell, parseCsv, tableColumn } from '../../ts/data/csv.js';
import { fitSchema, readTable } from '../../ts/data/schema.js';
import { DatasetError } from '../../ts/errors.js';

/** Every cell of a table, row by row, with its line. */
function cells(t: Table): unknown[][] {
  return t.lines.map((line, r) => [line, ...t.columns.map((_, c) => columnCell(t, c, r))]);
}

describe('newcomer: gzip tables, the delimiter and column-name hints', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hydranet-newcomer-'));
  // Spaces in names, a quoted field, CRLF line ends, a byte-order mark: the quirks of a real export.
  const csv = '\ufeff"sepal length (cm)",species,note\r\n5.1,setosa,"a, b"\r\n4.9,setosa,\r\n7.0,versicolor,x\r\n';

  it('reads .csv.gz, .tsv.gz and .jsonl.gz as the uncompressed files, format from the name before .gz', async () => {
    writeFileSync(join(dir, 'iris.csv'), csv);
    writeFileSync(join(dir, 'iris.csv.gz'), gzipSync(csv));
    const plain = await readTable(join(dir, 'iris.csv'));
    const gz = await readTable(join(dir, 'iris.csv.gz'));
    assert.deepEqual(gz.columns, ['sepal length (cm)', 'species', 'note']);
    assert.deepEqual(cells(gz), cells(plain));
    assert.equal(gz.source, join(dir, 'iris.csv.gz'), 'errors name the file given');
    // Larger than one decompressed chunk (64 KiB), so rows cross chunk boundaries.
    const big = ['x,y', ...Array.from({ length: 20000 }, (_, i) => `${i},${i % 7 === 0 ? '' : `v${i % 13}`}`)].join('\n');
    writeFileSync(join(dir, 'big.csv.gz'), gzipSync(big));
    const b = await readTable(join(dir, 'big.csv.gz'));
    assert.equal(b.lines.length, 20000);
    assert.equal(columnCell(b, 0, 19999), '19999');
    assert.deepEqual(cells(b), cells(await parseCsv(big)));
    writeFileSync(join(dir, 'iris.tsv.gz'), gzipSync('a\tb\n1\t2\n'));
    assert.deepEqual((await readTable(join(dir, 'iris.tsv.gz'))).columns, ['a', 'b']);
    writeFileSync(join(dir, 'rows.jsonl.gz'), gzipSync('{"a": 1, "b": "x"}\n{"a": null}\n'));
    const j = await readTable(join(dir, 'rows.jsonl.gz'));
    assert.deepEqual(cells(j), [[1, 1, 'x'], [2, null, null]]);
  });

  it('names the file of a .gz that is not gzip or is not there (DatasetError)', async () => {
    writeFileSync(join(dir, 'plain.csv.gz'), csv);
    await assert.rejects(readTable(join(dir, 'plain.csv.gz')), (e: Error) => e instanceof DatasetError && /plain\.csv\.gz: cannot read as gzip: not gzip data .*must be gzip-compressed/.test(e.message));
    await assert.rejects(readTable(join(dir, 'absent.csv.gz')), (e: Error) => e instanceof DatasetError && /absent\.csv\.gz: .*ENOENT/.test(e.message));
  });

  it('names a column the file lacks with the one that matches but for blanks or case, quoting names with blanks', async () => {
    writeFileSync(join(dir, 'spaces.csv'), '" sepal length (cm)",Species,x\n5.1,setosa,1\n4.9,virginica,2\n');
    const t = await readTable(join(dir, 'spaces.csv'));
    assert.throws(() => fitSchema(t, { tasks: [{ name: 'species', kind: 'classification' }] }), (e: Error) => e instanceof DatasetError && /spaces\.csv: task "species"'s label column "species" is not in the file \(columns: " sepal length \(cm\)", Species, x\); did you mean "Species"\?$/.test(e.message));
    assert.throws(() => fitSchema(t, { inputs: { numeric: ['sepal length (cm)'] }, tasks: [{ name: 'Species', kind: 'classification' }] }), (e: Error) => e instanceof DatasetError && /did you mean " sepal length \(cm\)"\?$/.test(e.message));
    assert.throws(() => tableColumn(t, 'y'), (e: Error) => /spaces\.csv: column "y" is not in the file \(columns: " sepal length \(cm\)", Species, x\)$/.test(e.message));
  });

  it('a ragged row under a one-field header that holds ";" suggests that delimiter', async () => {
    // A European spreadsheet's export read with the default ','.
    await assert.rejects(parseCsv('x;y\n1,5;0\n', {}, 'euro.csv'), (e: Error) => e instanceof DatasetError && /^euro\.csv:2: expected 1 fields \(as in the header\) but received 2; the header is one field that holds ";": if that is the file's delimiter, say so \(data\.delimiter/.test(e.message));
    await assert.rejects(parseCsv('x\ty\n1,5\t0\n', {}, 't.csv'), (e: Error) => /holds "\\t"/.test(e.message));
    // A header of several fields: no guess.
    await assert.rejects(parseCsv('x,y\n1,2,3\n', {}, 'r.csv'), (e: Error) => /^r\.csv:2: expected 2 fields \(as in the header\) but received 3$/.test(e.message));
  });
});
