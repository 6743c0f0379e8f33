/**
 * CSV and TSV tables, read through papaparse (an RFC 4180 parser: quoted fields, embedded
 * delimiters and newlines; a byte-order mark is stripped here), streaming, so a file is never
 * held in memory as text. Text without any quote character is split on line breaks and
 * delimiters here, as papaparse itself does with such text (see {@link csvTable}). The table is
 * kept column by column; every row keeps the line it came from, so later errors can name file,
 * line and column. Columns of few distinct texts are kept with dictionary codes beside their
 * cells, and numeric columns of many values as numbers whose cells (the file's exact texts) are
 * made only when asked for, so neither costs a string per cell.
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
   * so a changed cell is a new array (as `{ ...table, values: ... }` makes). A CSV reader keeps
   * a numeric column of many distinct values as numbers and makes its cells, each the exact text
   * of the file, the first time `values[c]` is read (see {@link readCsv}).
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
 * source and columns and each row's line. What a CSV reader kept beside a column while reading
 * it (its numbers, its dictionary codes) comes along, and a column kept as numbers stays so, so
 * the schema does not parse the picked cells again.
 */
export function pickRows(table: Table, indices: readonly number[]): Table {
  const lazy = numberColumns.get(table.values);
  const columns = table.columns.map((_, c): Cell[] | NumberColumn => {
    const col = lazy?.[c];
    if (col !== undefined && col.cells === null) {
      const others = new Map<number, string>();
      const formats = Uint8Array.from(indices, (i, k) => {
        const f = col.formats[i];
        if (f === FORMAT_OTHER) others.set(k, col.others.get(i)!);
        return f;
      });
      return { numbers: Float64Array.from(indices, (i) => col.numbers[i]), formats, others, cells: null };
    }
    const cells = table.values[c];
    const picked = indices.map((i) => cells[i]);
    const numbers = readNumbers.get(cells);
    if (numbers !== undefined) readNumbers.set(picked, Float64Array.from(indices, (i) => numbers[i]));
    const coded = codedColumns.get(cells);
    if (coded !== undefined) codedColumns.set(picked, { codes: Int32Array.from(indices, (i) => coded.codes[i]), texts: coded.texts });
    return picked;
  });
  return makeTable(table.source, table.columns, columns, indices.map((i) => table.lines[i]));
}

/** {@link NumberColumn.formats} of a cell whose text is not `toFixed` of its number: the text is in `others`. */
const FORMAT_OTHER = 255;

/**
 * A numeric column a CSV reader keeps as numbers rather than as one string per cell (which the
 * garbage collector would copy and trace): row r's text is `numbers[r].toFixed(formats[r])`
 * exactly, or `others.get(r)` where formats[r] is FORMAT_OTHER (a missing text, '007', '-0',
 * anything not a plain decimal). Its cells are made when first asked for.
 */
interface NumberColumn {
  /** cellNumber of each cell. */
  readonly numbers: Float64Array;
  /** Per row, the digits after the point of its text, or FORMAT_OTHER. */
  readonly formats: Uint8Array;
  /** The texts of the rows whose format is FORMAT_OTHER. */
  readonly others: ReadonlyMap<number, string>;
  /** The cells, once made. */
  cells: Cell[] | null;
}

/** A column's distinct texts and, per row, its text's index among them: what a CSV reader knew while pooling the column's strings. */
export interface CodedColumn {
  /** Per row, an index into texts. */
  readonly codes: Int32Array;
  /** The distinct texts (some may be used by no row of a table made by pickRows). */
  readonly texts: readonly string[];
}

/** Per table (by its values array), the columns kept as numbers until asked for. */
const numberColumns = new WeakMap<readonly (readonly Cell[])[], readonly (NumberColumn | undefined)[]>();

/** Columns read from CSV text with few distinct values: their dictionary codes, by the column's cell array. */
const codedColumns = new WeakMap<readonly Cell[], CodedColumn>();

/** Row r's text of a column kept as numbers. */
function numberText(col: NumberColumn, r: number): string {
  const f = col.formats[r];
  return f === FORMAT_OTHER ? col.others.get(r)! : col.numbers[r].toFixed(f);
}

/** Makes (once) the cells of a column kept as numbers, and puts them in `values` at c. */
function materialize(values: Cell[][], c: number, col: NumberColumn): Cell[] {
  if (col.cells === null) {
    const n = col.numbers.length;
    const cells = new Array<Cell>(n);
    for (let r = 0; r < n; r++) cells[r] = numberText(col, r);
    readNumbers.set(cells, col.numbers);
    col.cells = cells;
  }
  Object.defineProperty(values, c, { value: col.cells, writable: true, enumerable: true, configurable: true });
  return col.cells;
}

/** A table whose columns are cell arrays, or columns kept as numbers whose cells `values[c]` makes on first reading. */
function makeTable(source: string, columns: readonly string[], data: readonly (Cell[] | NumberColumn)[], lines: readonly number[]): Table {
  const values = new Array<Cell[]>(data.length);
  const lazy: (NumberColumn | undefined)[] = new Array<NumberColumn | undefined>(data.length).fill(undefined);
  let any = false;
  data.forEach((col, c) => {
    if (Array.isArray(col)) values[c] = col;
    else {
      any = true;
      lazy[c] = col;
      Object.defineProperty(values, c, { get: () => materialize(values, c, col), enumerable: true, configurable: true });
    }
  });
  if (any) numberColumns.set(values, lazy);
  return { source, columns, values, lines };
}

/** Column c's numbers as a CSV reader parsed them (see {@link readCellNumbers}), without making the cells of a column kept as numbers. */
export function columnNumbers(table: Table, c: number): Float64Array | undefined {
  const col = numberColumns.get(table.values)?.[c];
  return col !== undefined ? col.numbers : readNumbers.get(table.values[c]);
}

/** Row r's cell of column c, without making the cells of a column kept as numbers. */
export function columnCell(table: Table, c: number, r: number): Cell {
  const col = numberColumns.get(table.values)?.[c];
  return col !== undefined && col.cells === null ? numberText(col, r) : table.values[c][r];
}

/** The number of cells of column c, without making the cells of a column kept as numbers; -1 when it is not an array. */
export function columnLength(table: Table, c: number): number {
  const col = numberColumns.get(table.values)?.[c];
  if (col !== undefined) return col.numbers.length;
  const cells = table.values[c];
  return Array.isArray(cells) ? cells.length : -1;
}

/** Column c's dictionary codes, when a CSV reader kept them (a column of at most 4,096 distinct texts); undefined otherwise. */
export function columnCodes(table: Table, c: number): CodedColumn | undefined {
  if (numberColumns.get(table.values)?.[c] !== undefined) return undefined;
  return codedColumns.get(table.values[c]);
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
 * Set by {@link decimal} on a number it reads: how many digits follow the point when
 * `x.toFixed(that)` gives back the text exactly (an integer part without leading zeros, not
 * '-0', not '5.' or '.5'), else FORMAT_OTHER. Exact because a decimal of at most 15 digits is
 * within a quarter of its last digit of the double it reads as.
 */
let decimalFormat = FORMAT_OTHER;

/**
 * The text v[from, to) as a plain decimal, [-]digits[.digits] with at most 15 digits, as Number
 * would read it; NaN for anything else (Number decides those). Exact: the digits make an integer
 * below 2^53 and 10^e is exact, so the one division rounds correctly, as Number does (Clinger's
 * fast path). Sets {@link decimalFormat}.
 */
function decimal(v: string, from = 0, to = v.length): number {
  decimalFormat = FORMAT_OTHER;
  const n = to;
  const negative = from < to && v.charCodeAt(from) === 45; // '-'
  const lead = negative ? from + 1 : from; // the first digit
  let i = lead;
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
  const whole = (point < 0 ? n : point) - lead; // digits before the point
  if (whole > 0 && point !== n - 1 && !(whole > 1 && v.charCodeAt(lead) === 48) && !(negative && m === 0)) {
    decimalFormat = point < 0 ? 0 : n - 1 - point;
  }
  return negative ? -x : x;
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

/** A growable typed array's next capacity. */
const grown = (n: number): number => Math.max(1024, n * 2);

/**
 * One column as a CSV reader takes its cells in: while it has at most POOL_SIZE distinct texts,
 * as dictionary codes (each distinct text kept once and parsed once); past that, as numbers
 * while it looks numeric (a {@link NumberColumn}: no string kept per cell), else as its cells.
 */
class ColumnReader {
  /** Rows taken. */
  n = 0;
  /** Distinct text → code, while the column has at most POOL_SIZE of them. */
  private dict: Map<string, number> | null = new Map();
  private texts: string[] = [];
  private textNumbers: number[] = [];
  private textFormats: number[] = [];
  private codes: Int32Array | null = new Int32Array(1024);
  /** Distinct texts that are not numbers: past NON_NUMERIC_TEXTS the column is not numeric. */
  private nonNumeric = new Set<string>();
  /** Kept as numbers (after the dictionary filled up while the column looked numeric). */
  private numbers: Float64Array | null = null;
  private formats: Uint8Array | null = null;
  private others: Map<number, string> | null = null;
  /** Kept as cells (after the dictionary filled up otherwise). */
  private cells: string[] | null = null;

  add(v: string): void {
    const r = this.n++;
    const dict = this.dict;
    if (dict !== null) {
      let k = dict.get(v);
      if (k === undefined) {
        if (this.texts.length === POOL_SIZE) {
          this.n = r;
          this.leaveDictionary();
          return this.add(v);
        }
        k = this.texts.length;
        dict.set(v, k);
        this.texts.push(v);
        const x = parseCell(v);
        this.textNumbers.push(x);
        this.textFormats.push(decimalFormat);
        if (x !== x) this.nonNumeric.add(v);
      }
      if (r === this.codes!.length) this.codes = grow(this.codes!, Int32Array);
      this.codes![r] = k;
    } else if (this.numbers !== null) {
      if (r === this.numbers.length) {
        this.numbers = grow(this.numbers, Float64Array);
        this.formats = grow(this.formats!, Uint8Array);
      }
      const x = parseCell(v);
      this.numbers[r] = x;
      this.formats![r] = decimalFormat;
      if (decimalFormat === FORMAT_OTHER) this.others!.set(r, v);
      if (x !== x && this.nonNumeric.add(v).size > NON_NUMERIC_TEXTS) {
        // Not numeric after all: every cell so far as its text.
        const col: NumberColumn = { numbers: this.numbers, formats: this.formats!, others: this.others!, cells: null };
        this.cells = Array.from({ length: r + 1 }, (_, i) => numberText(col, i));
        this.numbers = this.formats = this.others = null;
      }
    } else this.cells!.push(v);
  }

  /**
   * Takes the cell row[from, to): a plain decimal is read in place by a column kept as numbers,
   * with no string made for it; anything else is cut out and taken by {@link add}.
   */
  addRange(row: string, from: number, to: number): void {
    if (this.numbers !== null) {
      const r = this.n;
      if (r < this.numbers.length) {
        const x = decimal(row, from, to);
        if (decimalFormat !== FORMAT_OTHER) {
          this.numbers[r] = x;
          this.formats![r] = decimalFormat;
          this.n++;
          return;
        }
      }
    }
    this.add(row.slice(from, to));
  }

  /** The dictionary is full: the column goes on as numbers when it looks numeric, else as cells. */
  private leaveDictionary(): void {
    const { texts, textNumbers, textFormats } = this;
    const codes = this.codes!.subarray(0, this.n);
    if (this.nonNumeric.size <= NON_NUMERIC_TEXTS) {
      const numbers = new Float64Array(grown(this.n));
      const formats = new Uint8Array(numbers.length);
      const others = new Map<number, string>();
      for (let r = 0; r < codes.length; r++) {
        const k = codes[r];
        numbers[r] = textNumbers[k];
        formats[r] = textFormats[k];
        if (textFormats[k] === FORMAT_OTHER) others.set(r, texts[k]);
      }
      this.numbers = numbers;
      this.formats = formats;
      this.others = others;
    } else this.cells = Array.from(codes, (k) => texts[k]);
    this.dict = this.codes = null;
    this.texts = [];
  }

  /** The column read: its cells, with their numbers and codes beside them, or a column kept as numbers. */
  finish(): Cell[] | NumberColumn {
    const n = this.n;
    if (this.dict !== null) {
      const codes = this.codes!.slice(0, n);
      const { texts, textNumbers } = this;
      const cells = new Array<Cell>(n);
      for (let r = 0; r < n; r++) cells[r] = texts[codes[r]];
      codedColumns.set(cells, { codes, texts });
      if (this.nonNumeric.size <= NON_NUMERIC_TEXTS) {
        const numbers = new Float64Array(n);
        for (let r = 0; r < n; r++) numbers[r] = textNumbers[codes[r]];
        readNumbers.set(cells, numbers);
      }
      return cells;
    }
    if (this.numbers !== null) return { numbers: this.numbers.slice(0, n), formats: this.formats!.slice(0, n), others: this.others!, cells: null };
    return this.cells!;
  }
}

/** A typed array twice as long (at least 1024), holding `a`'s values. */
function grow<T extends Int32Array | Float64Array | Uint8Array>(a: T, Type: { new (n: number): T }): T {
  const b = new Type(grown(a.length));
  b.set(a);
  return b;
}

/** {@link cellNumber} of a CSV cell, setting {@link decimalFormat} (FORMAT_OTHER unless the text is a plain decimal `toFixed` gives back). */
function parseCell(v: string): number {
  const fast = decimal(v);
  if (fast === fast) return fast;
  decimalFormat = FORMAT_OTHER;
  return cellNumber(v);
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
 * Distinct values a column keeps as a dictionary (see ColumnReader) before it stops looking: a
 * categorical column's cells (or a numeric column with few values) then share a few strings
 * instead of holding one each, which the garbage collector would otherwise copy and trace, and
 * each distinct text is parsed as a number once.
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
 * Reads CSV text from `input` into a table. While the input has shown no quote character, its
 * chunks are split here: on the line break papaparse finds in the first chunk, then on the
 * delimiter, exactly as papaparse's own path for text without quotes does, without papaparse's
 * streaming machinery (a third of the reading time). From the first chunk that holds a quote
 * on, papaparse parses the rest (quoted fields, embedded delimiters and line breaks, malformed
 * quotes). `fast` false gives papaparse the whole input (the tests compare the two). Papaparse
 * does not number lines: a row ends on the line after the previous row's, plus the line breaks
 * inside its quoted fields. Each column's cells go to its ColumnReader: dictionary codes while
 * it has at most POOL_SIZE distinct texts, then numbers (a column that looks numeric: its cells
 * are made only when asked for) or plain cells.
 */
export async function csvTable(input: Readable, source: string, options: CsvOptions, fast = true): Promise<Table> {
  checkKeys(options, CSV_KEYS, 'CSV options');
  const delimiter = options.delimiter ?? (/\.(tsv|tab)$/i.test(source) ? '\t' : ',');
  if (typeof delimiter !== 'string' || delimiter.length === 0 || BAD_DELIMITERS.some((b) => delimiter.includes(b))) {
    throw new DatasetError(`Expected a non-empty string without a quote, CR, LF or byte-order mark for delimiter but received ${describe(delimiter)}`);
  }
  let columns: string[] | null = null;
  let readers: ColumnReader[] = [];
  const lines: number[] = [];
  let line = 0; // the line the last row seen ended on
  const ragged = (received: number): DatasetError => new DatasetError(`${source}:${line}: expected ${columns!.length} fields (as in the header) but received ${received}`);
  /** Takes one record that ends on `line`: the header, or a row (a ragged one is an error). */
  const take = (record: string[]): void => {
    if (record.length === 1 && record[0] === '') return; // an empty line
    if (columns === null) {
      columns = header(record, source, line);
      readers = columns.map(() => new ColumnReader());
    } else {
      if (record.length !== columns.length) throw ragged(record.length);
      for (let c = 0; c < record.length; c++) readers[c].add(record[c]);
      lines.push(line);
    }
  };
  /** Takes a row of text without quotes after the header: its cells cut at each delimiter, as papaparse would (see ColumnReader.addRange). */
  const takeRow = (row: string): void => {
    const last = readers.length - 1;
    for (let c = 0, from = 0; c <= last; c++) {
      let to = row.indexOf(delimiter, from);
      if ((to < 0) !== (c === last)) throw ragged(row.split(delimiter).length);
      if (to < 0) to = row.length;
      readers[c].addRange(row, from, to);
      from = to + delimiter.length;
    }
    lines.push(line);
  };
  const finish = (): Table => {
    if (columns === null) throw new DatasetError(`${source}: expected a header row but the file is empty`);
    return makeTable(source, columns, readers.map((r) => r.finish()), lines);
  };
  const chunks = input[Symbol.asyncIterator]() as AsyncIterator<string>;
  let newline: '\n' | '\r' | '\r\n' | undefined;
  let rest = ''; // the text after the last line break
  let first = true;
  try {
    for (let next = await chunks.next(); !next.done; next = await chunks.next()) {
      let chunk = next.value;
      if (first && chunk.charCodeAt(0) === 0xfeff) chunk = chunk.slice(1);
      if (!fast || chunk.includes('"')) return await papaparsed(rest + chunk);
      first = false;
      const text = rest + chunk;
      newline ??= Papa.parse(text, { delimiter, preview: 1 }).meta.linebreak as '\n' | '\r' | '\r\n';
      const rows = text.split(newline);
      rest = rows.pop()!;
      for (const row of rows) {
        line++;
        if (columns === null || row === '') take(row.split(delimiter));
        else takeRow(row);
      }
    }
    line++;
    take(rest.split(delimiter));
    return finish();
  } catch (e) {
    input.destroy();
    if (e instanceof DatasetError) throw e;
    throw new DatasetError(`${source}: cannot read as CSV: ${(e as { message?: string }).message ?? String(e)}`);
  }

  /** Papaparse parses `head` (its byte-order mark stripped) and the chunks after it. */
  function papaparsed(head: string): Promise<Table> {
    const text = Readable.from((async function* () {
      yield head;
      for (let next = await chunks.next(); !next.done; next = await chunks.next()) yield next.value;
    })());
    return new Promise<Table>((resolve, reject) => {
      let settled = false;
      const fail = (e: unknown, parser?: Papa.Parser): void => {
        if (settled) return;
        settled = true;
        parser?.abort();
        text.destroy();
        reject(e);
      };
      const onChunk = (results: Papa.ParseResult<string[]>, parser: Papa.Parser): void => {
        if (settled) return;
        const data = results.data;
        const inside = results.meta.linebreak === '\r' ? '\r' : '\n';
        const bad = results.errors.length > 0 ? results.errors[0] : null;
        try {
          for (let i = 0; i < data.length; i++) {
            const record = data[i];
            const start = ++line; // a bad quote is named by the line its row starts on
            for (let c = 0; c < record.length; c++) line += newlines(record[c], inside);
            if (bad !== null && i === bad.row) throw new DatasetError(`${source}:${start}: cannot read as CSV: ${bad.message}`);
            take(record);
          }
          if (bad !== null) throw new DatasetError(`${source}:${line + 1}: cannot read as CSV: ${bad.message}`);
        } catch (e) {
          fail(e, parser);
        }
      };
      Papa.parse<string[]>(text, {
        delimiter,
        ...(newline !== undefined && { newline }),
        skipEmptyLines: false,
        chunk: onChunk,
        complete: () => {
          if (settled) return;
          settled = true;
          try {
            resolve(finish());
          } catch (e) {
            reject(e);
          }
        },
        error: (e: unknown) => fail(e),
      });
    });
  }
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
