/**
 * CSV and TSV tables, read through papaparse (an RFC 4180 parser: quoted fields, embedded
 * delimiters and newlines; a byte-order mark is stripped here), streaming, so a file is never
 * held in memory as text. The table is kept column by column; every row keeps the line it came
 * from, so later errors can name file, line and column.
 */
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import Papa from 'papaparse';
import { checkKeys } from '../core/options.js';
import { DatasetError, describe } from '../errors.js';

/** One value of a table: a CSV field is always a string; JSON Lines keeps numbers, booleans and null. */
export type Cell = string | number | boolean | null;

/** One row by column name, as rows are given in code (see {@link tableFromRows}). A column the row does not have reads as null (missing). */
export type Row = Record<string, Cell>;

/**
 * Rows read from a file, stored column by column: one array of cells per column, so a reader
 * makes no object per row and the schema walks a column as one array.
 */
export interface Table {
  /** The file read (or the name given for in-memory text), used in error messages. */
  readonly source: string;
  /** Column names in file order (CSV header; JSON Lines keys in order of first appearance). */
  readonly columns: readonly string[];
  /**
   * The cells, column by column: `values[c][r]` is row r's cell of `columns[c]` (null when
   * missing). Treat them as read-only: the schema keeps a column's parsed numbers by its array,
   * so a changed cell is a new array (as `{ ...table, values: ... }` makes).
   */
  readonly values: readonly (readonly Cell[])[];
  /** Per row, the 1-based line of the file it ends on; its length is the number of rows. */
  readonly lines: readonly number[];
}

/**
 * A table of rows given in code: columns in order of first appearance, a key a row lacks (or
 * has only through its prototype) read as null, rows numbered 1, 2, ... as their lines.
 */
export function tableFromRows(rows: readonly Row[], source = '<rows>'): Table {
  const columns: string[] = [];
  const index = new Map<string, number>();
  for (const r of rows) for (const k of Object.keys(r)) if (!index.has(k)) { index.set(k, columns.length); columns.push(k); }
  const values = columns.map((c) => rows.map((r) => (Object.hasOwn(r, c) ? r[c] ?? null : null)));
  return { source, columns, values, lines: rows.map((_, i) => i + 1) };
}

/** The cells of column `name` of `table`, top to bottom; DatasetError naming the file when it has no such column. */
export function tableColumn(table: Table, name: string): readonly Cell[] {
  const c = table.columns.indexOf(name);
  if (c < 0) throw new DatasetError(`${table.source}: column ${JSON.stringify(name)} is not in the file (columns: ${table.columns.join(', ')})`);
  return table.values[c];
}

/**
 * The rows of `table` at `indices` (0-based, in the order given), as a new table with the same
 * source and columns and each row's line. The numbers a CSV reader parsed for a column while
 * reading it come along, so the schema does not parse the picked cells again.
 */
export function pickRows(table: Table, indices: readonly number[]): Table {
  const values = table.values.map((cells) => {
    const picked = indices.map((i) => cells[i]);
    const numbers = readNumbers.get(cells);
    if (numbers !== undefined) readNumbers.set(picked, Float64Array.from(indices, (i) => numbers[i]));
    return picked;
  });
  return { source: table.source, columns: table.columns, values, lines: indices.map((i) => table.lines[i]) };
}

/**
 * A cell as a number, or NaN when it does not hold one: a number as is; a string through
 * Number, except a blank one (Number('') is 0) and one that is not finite; anything else NaN.
 */
export function cellNumber(v: Cell): number {
  if (typeof v === 'number') return v;
  if (typeof v !== 'string') return NaN;
  const fast = decimal(v);
  if (fast === fast) return fast;
  const x = Number(v);
  // Number('') and Number('  ') are 0: only then is the trim needed to tell a blank cell.
  if (x === 0 && v.trim() === '') return NaN;
  return Number.isFinite(x) ? x : NaN;
}

/** Powers of ten 10^0 … 10^15, written out: each is a double exactly. */
const POWERS_OF_TEN = [1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];

/**
 * A plain decimal, [-]digits[.digits] with at most 15 digits, as Number would read it; NaN for
 * anything else (Number decides those). Exact: the digits make an integer below 2^53 and 10^e is
 * exact, so the one division rounds correctly, as Number does (Clinger's fast path).
 */
function decimal(v: string): number {
  const n = v.length;
  let i = v.charCodeAt(0) === 45 ? 1 : 0; // '-'
  let m = 0;
  let digits = 0;
  let point = -1;
  for (; i < n; i++) {
    const ch = v.charCodeAt(i);
    if (ch >= 48 && ch <= 57) {
      m = m * 10 + (ch - 48);
      digits++;
    } else if (ch === 46 && point < 0) point = i;
    else return NaN;
  }
  if (digits === 0 || digits > 15) return NaN;
  const x = point < 0 ? m : m / POWERS_OF_TEN[n - 1 - point];
  return v.charCodeAt(0) === 45 ? -x : x;
}

/** Columns read from CSV text that look numeric: their cells through {@link cellNumber}, by the column's cell array. */
const readNumbers = new WeakMap<readonly Cell[], Float64Array>();

/**
 * The numbers of a column read by {@link readCsv} or {@link parseCsv}, `cellNumber` of each
 * cell, parsed while the cells were read (and hot in the cache); undefined for a column that
 * showed more than a few distinct non-numeric texts (categorical) or that no CSV reader made.
 */
export function readCellNumbers(cells: readonly Cell[]): Float64Array | undefined {
  return readNumbers.get(cells);
}

/** Options of {@link readCsv} and {@link parseCsv}. */
export interface CsvOptions {
  /** Field delimiter; default ',' (or a tab when the file name ends in .tsv or .tab). */
  delimiter?: string;
}

const CSV_KEYS = ['delimiter'] as const;

/**
 * Reads a CSV or TSV file with a header row, streaming. Empty lines are skipped.
 * @throws DatasetError on an unreadable file, a malformed quote, a duplicate or empty header
 *   name, or a ragged row (naming the file and line); ConfigError on an unknown option.
 */
export async function readCsv(file: string, options: CsvOptions = {}): Promise<Table> {
  return csvTable(createReadStream(file, { highWaterMark: CHUNK_BYTES, encoding: 'utf8' }), file, options);
}

/** Like {@link readCsv}, on text in memory; `source` names it in error messages. */
export async function parseCsv(text: string, options: CsvOptions = {}, source = '<text>'): Promise<Table> {
  return csvTable(Readable.from([text]), source, options);
}

/**
 * Distinct values a column keeps one string of (see csvTable) before it stops looking: a
 * categorical column's cells (or a numeric column with few values) then share a few strings
 * instead of holding one each, which the garbage collector would otherwise copy and trace.
 */
const POOL_SIZE = 4096;

/** Distinct non-numeric texts (missing markers, say) a column may show and still have its numbers parsed as it is read. */
const NON_NUMERIC_TEXTS = 8;

/** Characters papaparse cannot take as a delimiter (it would silently use ',' instead). */
const BAD_DELIMITERS = ['\r', '\n', '"', '\ufeff'];

/**
 * Bytes read from the file at a time, decoded as UTF-8 by the stream (a character split across
 * two reads is decoded whole): larger than a stream's 64 KiB, so papaparse parses fewer, larger chunks.
 */
const CHUNK_BYTES = 1 << 20;

/**
 * Papaparse parses the stream chunk by chunk (a chunk without a quote character is split on
 * newlines and delimiters, the fast path); each chunk's rows are appended to the column arrays
 * as they come, so no row outlives its chunk. Papaparse does not number lines: a row ends on the
 * line after the previous row's, plus the newlines inside its quoted fields, counted only once
 * the input has shown a quote character (before that, no field can hold a newline). A column's
 * repeated values are kept as one string each while it has at most POOL_SIZE distinct ones; a
 * column that looks numeric has its numbers parsed as its cells come (see {@link readCellNumbers}).
 */
async function csvTable(input: Readable, source: string, options: CsvOptions): Promise<Table> {
  checkKeys(options, CSV_KEYS, 'CSV options');
  const delimiter = options.delimiter ?? (/\.(tsv|tab)$/i.test(source) ? '\t' : ',');
  if (typeof delimiter !== 'string' || delimiter.length === 0 || BAD_DELIMITERS.some((b) => delimiter.includes(b))) {
    throw new DatasetError(`Expected a non-empty string without a quote, CR, LF or byte-order mark for delimiter but received ${describe(delimiter)}`);
  }
  let columns: string[] | null = null;
  let values: string[][] = [];
  let pools: (Map<string, string> | null)[] = [];
  let numbers: (number[] | null)[] = [];
  let texts: Set<string>[] = [];
  const lines: number[] = [];
  let line = 0; // the line the last row seen ended on
  let quoted = false; // whether the input has shown a quote character yet
  input.on('data', (chunk: string) => {
    if (!quoted && chunk.includes('"')) quoted = true;
  });
  return new Promise<Table>((resolve, reject) => {
    let settled = false;
    const fail = (e: unknown, parser?: Papa.Parser): void => {
      if (settled) return;
      settled = true;
      parser?.abort();
      input.destroy();
      if (e instanceof DatasetError) reject(e);
      else {
        reject(new DatasetError(`${source}: cannot read as CSV: ${(e as { message?: string }).message ?? String(e)}`));
      }
    };
    const onChunk = (results: Papa.ParseResult<string[]>, parser: Papa.Parser): void => {
      if (settled) return;
      const data = results.data;
      const newline = results.meta.linebreak === '\r' ? '\r' : '\n';
      const bad = results.errors.length > 0 ? results.errors[0] : null;
      for (let i = 0; i < data.length; i++) {
        const record = data[i];
        const start = ++line; // a bad quote is named by the line its row starts on
        if (quoted) for (let c = 0; c < record.length; c++) line += newlines(record[c], newline);
        if (bad !== null && i === bad.row) return fail(new DatasetError(`${source}:${start}: cannot read as CSV: ${bad.message}`), parser);
        if (record.length === 1 && record[0] === '') continue; // an empty line
        if (columns === null) {
          try {
            columns = header(record, source, line);
          } catch (e) {
            return fail(e, parser);
          }
          values = columns.map(() => []);
          pools = columns.map(() => new Map<string, string>());
          numbers = columns.map(() => []);
          texts = columns.map(() => new Set<string>());
        } else {
          if (record.length !== columns.length) {
            return fail(new DatasetError(`${source}:${line}: expected ${columns.length} fields (as in the header) but received ${record.length}`), parser);
          }
          for (let c = 0; c < record.length; c++) {
            let v = record[c];
            const pool = pools[c];
            if (pool !== null) {
              const kept = pool.get(v);
              if (kept !== undefined) v = kept;
              else if (pool.size < POOL_SIZE) pool.set(v, v);
              else pools[c] = null; // too many distinct values: every cell kept as read
            }
            values[c].push(v);
            const xs = numbers[c];
            if (xs !== null) {
              const x = cellNumber(v);
              xs.push(x);
              if (x !== x && texts[c].add(v).size > NON_NUMERIC_TEXTS) numbers[c] = null;
            }
          }
          lines.push(line);
        }
      }
      if (bad !== null) fail(new DatasetError(`${source}:${line + 1}: cannot read as CSV: ${bad.message}`), parser);
    };
    Papa.parse<string[]>(input, {
      delimiter,
      skipEmptyLines: false,
      beforeFirstChunk: (chunk) => (chunk.charCodeAt(0) === 0xfeff ? chunk.slice(1) : chunk),
      chunk: onChunk,
      complete: () => {
        if (settled) return;
        settled = true;
        if (columns === null) reject(new DatasetError(`${source}: expected a header row but the file is empty`));
        else {
          numbers.forEach((xs, c) => xs !== null && readNumbers.set(values[c], Float64Array.from(xs)));
          resolve({ source, columns, values, lines });
        }
      },
      error: (e: unknown) => fail(e),
    });
  });
}

/** How many times `newline` occurs in `text`. */
function newlines(text: string, newline: string): number {
  let n = 0;
  for (let at = text.indexOf(newline); at >= 0; at = text.indexOf(newline, at + 1)) n++;
  return n;
}

function header(record: string[], source: string, line: number): string[] {
  const seen = new Set<string>();
  record.forEach((name, i) => {
    if (name.trim() === '') throw new DatasetError(`${source}:${line}: column ${i + 1} of the header has no name`);
    if (seen.has(name)) throw new DatasetError(`${source}:${line}: column ${JSON.stringify(name)} appears twice in the header`);
    seen.add(name);
  });
  return record;
}
