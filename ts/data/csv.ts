/**
 * CSV and TSV tables, read through papaparse (an RFC 4180 parser: quoted fields, embedded
 * delimiters and newlines; a byte-order mark is stripped here), streaming, so a file is never
 * held in memory as text. Text without any quote character is cut into rows and cells here,
 * from its bytes, as papaparse itself cuts such text (see {@link csvTable}). The table is kept
 * column by column; every row keeps the line it came from, so later errors can name file, line
 * and column. Columns of few distinct texts are kept as dictionary codes, and numeric columns
 * of many values as numbers; the cells of either (the file's exact texts) are made only when
 * asked for, so neither costs a string per cell.
 */
import { open, stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import Papa from 'papaparse';
import { addonLocations, tryLoadAddon } from '../backends/native.js';
import { checkKeys } from '../core/options.js';
import { ConfigError, DatasetError, describe } from '../errors.js';

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
   * a column of few distinct texts as dictionary codes and a numeric column of many distinct
   * values as numbers, and makes its cells, each the exact text of the file, the first time
   * `values[c]` is read (see {@link readCsv}).
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
  if (c < 0) throw new DatasetError(notInFile(table, name, 'column'));
  return table.values[c];
}

/**
 * The message for a column `name` that `table` lacks (`what`: how to call it, e.g. 'column'):
 * the file's columns, a name with a blank at either end quoted (a header cell " age" shows as
 * such), and the column that matches but for case or such blanks, if one does.
 */
export function notInFile(table: Table, name: string, what: string): string {
  const key = (s: string): string => s.trim().toLowerCase();
  const near = table.columns.find((c) => key(c) === key(name));
  const list = table.columns.map((c) => (c.trim() === c ? c : JSON.stringify(c))).join(', ');
  return `${table.source}: ${what} ${JSON.stringify(name)} is not in the file (columns: ${list})${near === undefined ? '' : `; did you mean ${JSON.stringify(near)}?`}`;
}

/**
 * The rows of `table` at `indices` (0-based, in the order given), as a new table with the same
 * source and columns and each row's line. What a CSV reader kept of a column (its numbers, its
 * dictionary codes) comes along for the rows picked, still without a string per cell, so the
 * schema does not parse the picked cells again.
 */
export function pickRows(table: Table, indices: readonly number[]): Table {
  const kept = keptColumns.get(table.values);
  const columns = table.columns.map((_, c): Cell[] | KeptColumn => {
    const col = kept?.[c];
    if (col?.kind === 'numbers') {
      const others = new RowTexts();
      const formats = Uint8Array.from(indices, (i, k) => {
        const f = col.formats[i];
        if (f === FORMAT_OTHER) others.add(k, col.others.get(i));
        return f;
      });
      return { kind: 'numbers', numbers: Float64Array.from(indices, (i) => col.numbers[i]), formats, others, cells: null };
    }
    if (col?.kind === 'codes') {
      const numbers = col.numbers === null ? null : Float64Array.from(indices, (i) => col.numbers![i]);
      return { kind: 'codes', codes: Int32Array.from(indices, (i) => col.codes[i]), texts: col.texts, textNumbers: col.textNumbers, numbers, cells: null };
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
 * A column a CSV reader keeps without a string per cell (which the garbage collector would copy
 * and trace); its cells are made the first time `values[c]` is read.
 */
type KeptColumn = NumberColumn | DictionaryColumn;

/**
 * A numeric column of many distinct values, kept as numbers: row r's text is
 * `numbers[r].toFixed(formats[r])` exactly, or `others.get(r)` where formats[r] is FORMAT_OTHER
 * (a missing text, '007', '-0', anything not a plain decimal).
 */
interface NumberColumn {
  readonly kind: 'numbers';
  /** cellNumber of each cell. */
  readonly numbers: Float64Array;
  /** Per row, the digits after the point of its text, or FORMAT_OTHER. */
  readonly formats: Uint8Array;
  /** The texts of the rows whose format is FORMAT_OTHER. */
  readonly others: RowTexts;
  /** The cells, once made. */
  cells: Cell[] | null;
}

/** A column of few distinct texts, kept as dictionary codes: row r's text is `texts[codes[r]]`. */
interface DictionaryColumn extends CodedColumn {
  readonly kind: 'codes';
  /** cellNumber of each text; null when the column showed more than NON_NUMERIC_TEXTS texts that are not numbers. */
  readonly textNumbers: Float64Array | null;
  /** cellNumber of each row's text, made when first asked for. */
  numbers: Float64Array | null;
  /** The cells, once made. */
  cells: Cell[] | null;
}

/** Texts of some rows of a column, the rows added in increasing order (see NumberColumn.others). */
class RowTexts {
  /** The rows added, increasing. */
  readonly rows: number[] = [];
  /** Their texts. */
  readonly texts: string[] = [];

  /** Adds row r's text; r is above every row added before. */
  add(r: number, text: string): void {
    this.rows.push(r);
    this.texts.push(text);
  }

  /** Row r's text (r was added). */
  get(r: number): string {
    let lo = 0;
    let hi = this.rows.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.rows[mid] < r) lo = mid + 1;
      else hi = mid;
    }
    return this.texts[lo];
  }
}

/** A column's distinct texts and, per row, its text's index among them: what a CSV reader knew while pooling the column's strings. */
export interface CodedColumn {
  /** Per row, an index into texts. */
  readonly codes: Int32Array;
  /** The distinct texts (some may be used by no row of a table made by pickRows). */
  readonly texts: readonly string[];
}

/** Per table (by its values array), the columns a CSV reader kept (see KeptColumn). */
const keptColumns = new WeakMap<readonly (readonly Cell[])[], readonly (KeptColumn | undefined)[]>();

/** Columns with dictionary codes, by the column's cell array: for cells made from a DictionaryColumn, which a table of the same cells (`{ ...table, values }`) keeps. */
const codedColumns = new WeakMap<readonly Cell[], CodedColumn>();

/** Row r's text of a kept column. */
function keptText(col: KeptColumn, r: number): string {
  if (col.kind === 'codes') return col.texts[col.codes[r]];
  const f = col.formats[r];
  return f === FORMAT_OTHER ? col.others.get(r) : col.numbers[r].toFixed(f);
}

/** The numbers of a kept column's rows, cellNumber of each; undefined for a dictionary column that is not numeric. */
function keptNumbers(col: KeptColumn): Float64Array | undefined {
  if (col.kind === 'numbers') return col.numbers;
  const { textNumbers, codes } = col;
  if (textNumbers === null) return undefined;
  if (col.numbers === null) {
    const numbers = new Float64Array(codes.length);
    for (let r = 0; r < codes.length; r++) numbers[r] = textNumbers[codes[r]];
    col.numbers = numbers;
  }
  return col.numbers;
}

/** Makes (once) the cells of a kept column, and puts them in `values` at c. */
function materialize(values: Cell[][], c: number, col: KeptColumn): Cell[] {
  if (col.cells === null) {
    const n = col.kind === 'codes' ? col.codes.length : col.numbers.length;
    const cells = new Array<Cell>(n);
    for (let r = 0; r < n; r++) cells[r] = keptText(col, r);
    const numbers = keptNumbers(col);
    if (numbers !== undefined) readNumbers.set(cells, numbers);
    if (col.kind === 'codes') codedColumns.set(cells, col);
    col.cells = cells;
  }
  Object.defineProperty(values, c, { value: col.cells, writable: true, enumerable: true, configurable: true });
  return col.cells;
}

/** A table whose columns are cell arrays, or kept columns whose cells `values[c]` makes on first reading. */
function makeTable(source: string, columns: readonly string[], data: readonly (Cell[] | KeptColumn)[], lines: readonly number[]): Table {
  const values = new Array<Cell[]>(data.length);
  const kept: (KeptColumn | undefined)[] = new Array<KeptColumn | undefined>(data.length).fill(undefined);
  let any = false;
  data.forEach((col, c) => {
    if (Array.isArray(col)) values[c] = col;
    else {
      any = true;
      kept[c] = col;
      Object.defineProperty(values, c, { get: () => materialize(values, c, col), enumerable: true, configurable: true });
    }
  });
  if (any) keptColumns.set(values, kept);
  return { source, columns, values, lines };
}

/**
 * Column c's numbers as a CSV reader ({@link readCsv}, {@link parseCsv}) parsed them while it
 * read the cells: `cellNumber` of each cell, without making the cells of a kept column; kept by
 * {@link pickRows} for the rows it picks. Undefined for a column that showed more than a few
 * distinct non-numeric texts (categorical), or one no CSV reader made.
 */
export function columnNumbers(table: Table, c: number): Float64Array | undefined {
  const col = keptColumns.get(table.values)?.[c];
  return col !== undefined ? keptNumbers(col) : readNumbers.get(table.values[c]);
}

/**
 * The rows of column c whose text is not a plain decimal (a missing text, '007', '-0', anything
 * not a number), increasing, with their texts, when a CSV reader kept the column as numbers
 * ({@link columnNumbers}); undefined otherwise. Each other row's cell is a plain decimal: its
 * number is not NaN.
 */
export function columnOtherTexts(table: Table, c: number): { readonly rows: readonly number[]; readonly texts: readonly string[] } | undefined {
  const col = keptColumns.get(table.values)?.[c];
  return col?.kind === 'numbers' ? col.others : undefined;
}

/** Row r's cell of column c, without making the cells of a column a CSV reader kept. */
export function columnCell(table: Table, c: number, r: number): Cell {
  const col = keptColumns.get(table.values)?.[c];
  return col !== undefined && col.cells === null ? keptText(col, r) : table.values[c][r];
}

/** The number of cells of column c, without making the cells of a column a CSV reader kept; -1 when it is not an array. */
export function columnLength(table: Table, c: number): number {
  const col = keptColumns.get(table.values)?.[c];
  if (col !== undefined) return col.kind === 'codes' ? col.codes.length : col.numbers.length;
  const cells = table.values[c];
  return Array.isArray(cells) ? cells.length : -1;
}

/** Column c's dictionary codes, when a CSV reader kept them (a column of few distinct texts); undefined otherwise. */
export function columnCodes(table: Table, c: number): CodedColumn | undefined {
  const col = keptColumns.get(table.values)?.[c];
  if (col !== undefined) return col.kind === 'codes' ? col : undefined;
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
 * The text v as a plain decimal, [-]digits[.digits] with at most 15 digits, as Number would
 * read it; NaN for anything else (Number decides those). Exact: the digits make an integer
 * below 2^53 and 10^e is exact, so the one division rounds correctly, as Number does (Clinger's
 * fast path). Sets {@link decimalFormat}. ColumnReader.addBytes reads the same rules from bytes.
 */
function decimal(v: string): number {
  decimalFormat = FORMAT_OTHER;
  const n = v.length;
  const negative = n > 0 && v.charCodeAt(0) === 45; // '-'
  const lead = negative ? 1 : 0; // the first digit
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

/** A growable typed array's next capacity. */
const grown = (n: number): number => Math.max(1024, n * 2);

/**
 * How the bytes of text without quotes are cut: the delimiter's UTF-8 bytes and the line
 * break's (one or two bytes). Neither holds a byte of the other (a delimiter has no CR or LF),
 * and UTF-8 never puts an ASCII byte inside a longer character, so a match of these bytes is a
 * match of the characters.
 */
interface Cuts {
  /** The delimiter's bytes. */
  readonly delimiter: Uint8Array;
  /** Its first byte. */
  readonly d0: number;
  /** The line break's first byte, and its second (-1 when it has none). */
  readonly n0: number;
  readonly n1: number;
  /** A delimiter and a line break of one byte each: a cell ends at the first of the two. */
  readonly simple: boolean;
}

/** Whether `cuts.delimiter` starts at i (before end). */
function delimiterAt(buf: Uint8Array, i: number, end: number, cuts: Cuts): boolean {
  const d = cuts.delimiter;
  if (buf[i] !== d[0] || i + d.length > end) return false;
  for (let j = 1; j < d.length; j++) if (buf[i + j] !== d[j]) return false;
  return true;
}

/** Whether the line break starts at i (before end). */
function lineBreakAt(buf: Uint8Array, i: number, end: number, cuts: Cuts): boolean {
  return buf[i] === cuts.n0 && (cuts.n1 < 0 || (i + 1 < end && buf[i + 1] === cuts.n1));
}

/** Where the field that starts at i ends: the first delimiter or line break from i, else end. */
function fieldEnd(buf: Uint8Array, i: number, end: number, cuts: Cuts): number {
  const { d0, n0 } = cuts;
  if (cuts.simple) {
    for (; i < end; i++) if (buf[i] === d0 || buf[i] === n0) return i;
    return end;
  }
  for (; i < end; i++) {
    const b = buf[i];
    if ((b === d0 && delimiterAt(buf, i, end, cuts)) || (b === n0 && lineBreakAt(buf, i, end, cuts))) return i;
  }
  return end;
}

/**
 * A column's distinct cell texts by their bytes: an open-addressing table of (hash, bytes) →
 * code, so a cell already seen is found without making its string. Two byte strings that
 * decode to the same text (invalid UTF-8 both decodes as U+FFFD) are two entries with one code.
 */
class ByteDictionary {
  /** Per slot, an entry + 1 (0: empty); a power of two, at most 3/4 full. */
  private slots = new Int32Array(64);
  private hashes = new Int32Array(32);
  private starts = new Int32Array(32);
  private lengths = new Int32Array(32);
  private codes = new Int32Array(32);
  /** Every entry's bytes, one after the other. */
  private bytes = new Uint8Array(512);
  private used = 0;
  /** Entries. */
  size = 0;

  /** The code of buf[from, to) (hash h), or -1 when it has no entry. */
  find(buf: Uint8Array, from: number, to: number, h: number): number {
    const mask = this.slots.length - 1;
    const len = to - from;
    for (let s = h & mask; ; s = (s + 1) & mask) {
      const e = this.slots[s] - 1;
      if (e < 0) return -1;
      if (this.hashes[e] !== h || this.lengths[e] !== len) continue;
      const start = this.starts[e];
      let j = 0;
      while (j < len && this.bytes[start + j] === buf[from + j]) j++;
      if (j === len) return this.codes[e];
    }
  }

  /** Adds buf[from, to) (hash h) with `code`. */
  add(buf: Uint8Array, from: number, to: number, h: number, code: number): void {
    const e = this.size++;
    if (e === this.hashes.length) {
      this.hashes = grow(this.hashes, Int32Array);
      this.starts = grow(this.starts, Int32Array);
      this.lengths = grow(this.lengths, Int32Array);
      this.codes = grow(this.codes, Int32Array);
    }
    const len = to - from;
    while (this.used + len > this.bytes.length) this.bytes = grow(this.bytes, Uint8Array);
    this.bytes.set(buf.subarray(from, to), this.used);
    this.hashes[e] = h;
    this.starts[e] = this.used;
    this.lengths[e] = len;
    this.codes[e] = code;
    this.used += len;
    if (4 * this.size > 3 * this.slots.length) {
      this.slots = new Int32Array(this.slots.length * 2);
      for (let k = 0; k < this.size; k++) this.insert(k);
    } else this.insert(e);
  }

  private insert(e: number): void {
    const mask = this.slots.length - 1;
    let s = this.hashes[e] & mask;
    while (this.slots[s] !== 0) s = (s + 1) & mask;
    this.slots[s] = e + 1;
  }
}

/**
 * One column as a CSV reader takes its cells in: while it has at most POOL_SIZE distinct texts,
 * as dictionary codes (each distinct text kept once and parsed once); past that (or earlier, for
 * a numeric column of mostly distinct values: EARLY_NUMBERS), as numbers while it looks numeric
 * (a {@link NumberColumn}: no string kept per cell), else as its cells.
 * Cells come as strings ({@link add}) or, from text without quotes, as bytes ({@link addBytes}),
 * which make a string only for a text the column has not shown before or one that is not a
 * plain decimal.
 */
class ColumnReader {
  /** Rows taken. */
  n = 0;
  /** Distinct text → code, while the column has at most POOL_SIZE of them. */
  private dict: Map<string, number> | null = new Map();
  /** The same codes by the texts' bytes (cells taken as bytes). */
  private byteDict: ByteDictionary | null = new ByteDictionary();
  private texts: string[] = [];
  private textNumbers: number[] = [];
  private textFormats: number[] = [];
  private codes: Int32Array | null = new Int32Array(1024);
  /** Distinct texts that are not numbers: past NON_NUMERIC_TEXTS the column is not numeric. */
  private nonNumeric = new Set<string>();
  /** Kept as numbers (after the dictionary filled up while the column looked numeric). */
  private numbers: Float64Array | null = null;
  private formats: Uint8Array | null = null;
  private others: RowTexts | null = null;
  /** Kept as cells (after the dictionary filled up otherwise). */
  private cells: string[] | null = null;

  constructor(private readonly cuts: Cuts | null) {}

  /** Takes the next cell, `v`. */
  add(v: string): void {
    if (this.dict !== null) {
      const k = this.code(v);
      if (k >= 0) return this.addCode(k);
    }
    const r = this.n++;
    if (this.numbers !== null) {
      if (r === this.numbers.length) {
        this.numbers = grow(this.numbers, Float64Array);
        this.formats = grow(this.formats!, Uint8Array);
      }
      // An empty cell (a missing number, often) is no number: no need to parse it.
      const x = v === '' ? NaN : parseCell(v);
      this.numbers[r] = x;
      const format = v === '' ? FORMAT_OTHER : decimalFormat;
      this.formats![r] = format;
      if (format === FORMAT_OTHER) this.others!.add(r, v);
      if (x !== x && this.nonNumeric.add(v).size > NON_NUMERIC_TEXTS) {
        // Not numeric after all: every cell so far as its text.
        const col: NumberColumn = { kind: 'numbers', numbers: this.numbers, formats: this.formats!, others: this.others!, cells: null };
        this.cells = Array.from({ length: r + 1 }, (_, i) => keptText(col, i));
        this.numbers = this.formats = this.others = null;
      }
    } else this.cells!.push(v);
  }

  /**
   * Takes the next cell from the bytes of text without quotes: the field that starts at `from`,
   * up to the first delimiter or line break (or `end`). Returns where the field ends.
   */
  addBytes(buf: Buffer, from: number, end: number): number {
    const cuts = this.cuts!;
    const { d0, n0 } = cuts;
    if (this.byteDict !== null) {
      let h = 0x811c9dc5 | 0; // FNV-1a
      let i = from;
      if (cuts.simple) {
        for (; i < end; i++) {
          const b = buf[i];
          if (b === d0 || b === n0) break;
          h = Math.imul(h ^ b, 0x01000193);
        }
      } else {
        for (; i < end; i++) {
          const b = buf[i];
          if ((b === d0 && delimiterAt(buf, i, end, cuts)) || (b === n0 && lineBreakAt(buf, i, end, cuts))) break;
          h = Math.imul(h ^ b, 0x01000193);
        }
      }
      let k = this.byteDict.find(buf, from, i, h);
      if (k < 0) {
        const v = buf.toString('utf8', from, i);
        k = this.code(v);
        if (k < 0) {
          this.add(v);
          return i;
        }
        // A table of at most 3/4 · 2 · POOL_SIZE slots: past that, a new byte string goes by its text (invalid UTF-8 only).
        if (this.byteDict.size < POOL_SIZE * 2) this.byteDict.add(buf, from, i, h, k);
      }
      this.addCode(k);
      return i;
    }
    if (this.numbers !== null) {
      // A plain decimal, read in place (the rules of `decimal`); anything else by its text.
      const negative = from < end && buf[from] === 45; // '-'
      const lead = negative ? from + 1 : from;
      let i = lead;
      let m = 0;
      let digits = 0;
      let point = -1;
      for (; i < end; i++) {
        const b = buf[i];
        if (b >= 48 && b <= 57) {
          m = m * 10 + (b - 48);
          digits++;
        } else if (b === 46 && point < 0) point = i;
        else break;
      }
      const r = this.n;
      const b = buf[i];
      if (i === end || (cuts.simple ? b === d0 || b === n0 : (b === d0 && delimiterAt(buf, i, end, cuts)) || (b === n0 && lineBreakAt(buf, i, end, cuts)))) {
        const whole = (point < 0 ? i : point) - lead;
        if (digits > 0 && digits <= 15 && whole > 0 && point !== i - 1 && !(whole > 1 && buf[lead] === 48) && !(negative && m === 0) && r < this.numbers.length) {
          const x = point < 0 ? m : m / POWERS_OF_TEN[i - 1 - point];
          this.numbers[r] = negative ? -x : x;
          this.formats![r] = point < 0 ? 0 : i - 1 - point;
          this.n = r + 1;
          return i;
        }
      } else i = fieldEnd(buf, i, end, cuts);
      this.add(buf.toString('utf8', from, i));
      return i;
    }
    const i = fieldEnd(buf, from, end, cuts);
    this.add(buf.toString('utf8', from, i));
    return i;
  }

  private addCode(k: number): void {
    const r = this.n++;
    if (r === this.codes!.length) this.codes = grow(this.codes!, Int32Array);
    this.codes![r] = k;
  }

  /** Text v's code, a new one for a new text; -1 when the dictionary is full (the column has then left it). */
  private code(v: string): number {
    const dict = this.dict!;
    let k = dict.get(v);
    if (k !== undefined) return k;
    const size = this.texts.length;
    // Full; or numeric with (so far) mostly distinct values: kept as numbers, not looked up.
    if (size === POOL_SIZE || (size >= EARLY_NUMBERS && 2 * size > this.n && this.nonNumeric.size <= NON_NUMERIC_TEXTS)) {
      this.leaveDictionary();
      return -1;
    }
    k = this.texts.length;
    dict.set(v, k);
    this.texts.push(v);
    const x = parseCell(v);
    this.textNumbers.push(x);
    this.textFormats.push(decimalFormat);
    if (x !== x) this.nonNumeric.add(v);
    return k;
  }

  /**
   * Takes the state of the native scan's column (csvExport of native/cpu/csv.cc) as this
   * column's, as if it had read the same cells: the same dictionary (by text and by bytes) or
   * numbers, the same texts that are not numbers.
   */
  restore(s: NativeColumnState): void {
    this.n = s.n;
    this.nonNumeric = new Set(nativeTexts(s.nonNumericBytes, s.nonNumericEnds));
    if (s.dictionary) {
      const ends = s.textEnds!;
      const texts = nativeTexts(s.textBytes!, ends);
      this.texts = texts;
      this.dict = new Map(texts.map((t, k) => [t, k]));
      const byteDict = new ByteDictionary();
      for (let k = 0; k < texts.length; k++) byteDict.add(s.textBytes!, k === 0 ? 0 : ends[k - 1], ends[k], s.textHashes![k], k);
      this.byteDict = byteDict;
      this.textNumbers = Array.from(s.textNumbers!);
      this.textFormats = Array.from(s.textFormats!);
      this.codes = s.codes!;
    } else {
      this.dict = this.codes = this.byteDict = null;
      this.texts = [];
      this.numbers = s.numbers!;
      this.formats = s.formats!;
      const texts = nativeTexts(s.otherBytes!, s.otherEnds!);
      const others = new RowTexts();
      const rows = s.otherRows!;
      const ids = s.otherIds!;
      for (let k = 0; k < rows.length; k++) others.add(rows[k], texts[ids[k]]);
      this.others = others;
    }
  }

  /** Rows the column expects in all (see reserve). */
  private expected = 0;

  /** Makes room for `rows` rows in all: the arrays grow once instead of doubling. */
  reserve(rows: number): void {
    this.expected = rows;
    if (this.codes !== null && this.codes.length < rows) this.codes = resized(this.codes, rows, Int32Array);
    if (this.numbers !== null && this.numbers.length < rows) {
      this.numbers = resized(this.numbers, rows, Float64Array);
      this.formats = resized(this.formats!, rows, Uint8Array);
    }
  }

  /** The dictionary is full: the column goes on as numbers when it looks numeric, else as cells. */
  private leaveDictionary(): void {
    const { texts, textNumbers, textFormats } = this;
    const codes = this.codes!.subarray(0, this.n);
    if (this.nonNumeric.size <= NON_NUMERIC_TEXTS) {
      const numbers = new Float64Array(Math.max(grown(this.n), this.expected));
      const formats = new Uint8Array(numbers.length);
      const others = new RowTexts();
      for (let r = 0; r < codes.length; r++) {
        const k = codes[r];
        numbers[r] = textNumbers[k];
        formats[r] = textFormats[k];
        if (textFormats[k] === FORMAT_OTHER) others.add(r, texts[k]);
      }
      this.numbers = numbers;
      this.formats = formats;
      this.others = others;
    } else this.cells = Array.from(codes, (k) => texts[k]);
    this.dict = this.codes = null;
    this.byteDict = null;
    this.texts = [];
  }

  /** The column read: as dictionary codes, as numbers, or as its cells. */
  finish(): Cell[] | KeptColumn {
    const n = this.n;
    if (this.dict !== null) {
      const textNumbers = this.nonNumeric.size <= NON_NUMERIC_TEXTS ? Float64Array.from(this.textNumbers) : null;
      return { kind: 'codes', codes: trimmed(this.codes!, n), texts: this.texts, textNumbers, numbers: null, cells: null };
    }
    if (this.numbers !== null) return { kind: 'numbers', numbers: trimmed(this.numbers, n), formats: trimmed(this.formats!, n), others: this.others!, cells: null };
    return this.cells!;
  }
}

/** A typed array twice as long (at least 1024), holding `a`'s values. */
function grow<T extends Int32Array | Float64Array | Uint8Array>(a: T, Type: { new (n: number): T }): T {
  return resized(a, grown(a.length), Type);
}

/** The first n values of `a`: a view when `a` is at most a quarter longer (sized by reserve, say), else a copy. */
function trimmed<T extends Int32Array | Float64Array | Uint8Array>(a: T, n: number): T {
  return (4 * a.length <= 5 * n ? a.subarray(0, n) : a.slice(0, n)) as T;
}

/** A typed array of length n (at least a's), holding `a`'s values. */
function resized<T extends Int32Array | Float64Array | Uint8Array>(a: T, n: number, Type: { new (n: number): T }): T {
  const b = new Type(n);
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
  // The file's size, to size the columns once (see csvTable); an unreadable file fails in fileChunks.
  const bytes = await stat(file).then((st) => st.size, () => undefined);
  return csvTable(fileChunks(file), file, options, true, bytes);
}

/**
 * The bytes of `file`, CHUNK_BYTES at a time, read into three buffers in turn, each chunk's read
 * begun as the chunk before is handed out (the read runs while that chunk is cut). A chunk stays
 * intact until the one after the next is handed out, which is all csvTable keeps of it (the
 * bytes after its last line break, until the next chunk comes). No new memory per chunk, so
 * reading a large file does not make the garbage collector run for memory outside the heap.
 */
async function* fileChunks(file: string): AsyncGenerator<Buffer> {
  const handle = await open(file, 'r');
  const buffers = [Buffer.allocUnsafe(CHUNK_BYTES), Buffer.allocUnsafe(CHUNK_BYTES), Buffer.allocUnsafe(CHUNK_BYTES)];
  const read = (k: number): Promise<{ bytesRead: number }> => {
    const p = handle.read(buffers[k % 3], 0, CHUNK_BYTES, null);
    p.catch(() => undefined); // handled where it is awaited (or dropped when the reader stops early)
    return p;
  };
  let next = read(0);
  try {
    for (let k = 0; ; k++) {
      const { bytesRead } = await next;
      if (bytesRead === 0) return;
      next = read(k + 1); // into the buffer of the chunk before the last, no longer held
      yield buffers[k % 3].subarray(0, bytesRead);
    }
  } finally {
    await next.catch(() => undefined); // the read in flight ends before the file is closed
    await handle.close();
  }
}

/** Like {@link readCsv}, on text in memory; `source` names it in error messages. */
export async function parseCsv(text: string, options: CsvOptions = {}, source = '<text>'): Promise<Table> {
  return csvTable(Readable.from([text]), source, options);
}

/**
 * Distinct values a column keeps as a dictionary (see ColumnReader) before it stops looking: a
 * categorical column (or a numeric column with few values) then holds a code per row instead of
 * a string, which the garbage collector would otherwise copy and trace, and each distinct text
 * is parsed as a number once.
 */
const POOL_SIZE = 4096;

/**
 * Distinct texts after which a numeric-looking column that has shown a new text in more than
 * half of its rows so far leaves its dictionary for numbers (see ColumnReader): a numeric column
 * of mostly distinct values, each of which would otherwise be made a string and looked up.
 */
const EARLY_NUMBERS = 256;

/** Distinct non-numeric texts (missing markers, say) a column may show and still have its numbers parsed as it is read. */
const NON_NUMERIC_TEXTS = 8;

/** Characters papaparse cannot take as a delimiter (it would silently use ',' instead). */
const BAD_DELIMITERS = ['\r', '\n', '"', '\ufeff'];

/**
 * Bytes read from the file at a time (a character split across two reads is decoded whole: a
 * row is cut from the bytes once its line break has come): larger than a stream's 64 KiB, so
 * fewer, larger chunks.
 */
const CHUNK_BYTES = 1 << 20;

/**
 * Reads CSV text from `input` (chunks of UTF-8 bytes, or strings; a chunk is not kept past the
 * one after it) into a table. While the input
 * has shown no quote character, its bytes are cut here: on the line break papaparse finds in the
 * first chunk, then on the delimiter, exactly as papaparse's own path for text without quotes
 * cuts the decoded text, and each cell goes to its column's ColumnReader as bytes (a string is
 * made only for a text the column has not shown before, or one that is not a plain decimal).
 * From the first chunk that holds a quote on, papaparse parses the rest, decoded (quoted fields,
 * embedded delimiters and line breaks, malformed quotes). `fast` false gives papaparse the
 * whole input (the tests compare the two). Rows without quotes after the header go to the cpu
 * addon's csvScan (native/cpu/csv.cc) when it is built (a chunk split between two threads, see
 * {@link setDataThreads}), which keeps the same columns by the same rules and hands its state
 * back ({@link ColumnReader.restore}) at the end, at a quote, or at a cell it leaves to this
 * file (see csv.cc); `fast` 'bytes' keeps them here, as when the addon is not built. Papaparse does not number lines: a row ends on the
 * line after the previous row's, plus the line breaks inside its quoted fields. `bytes`, the
 * input's size when known, sizes the columns after the first chunk (by its bytes per row).
 */
export async function csvTable(input: AsyncIterable<string | Buffer>, source: string, options: CsvOptions, fast: boolean | 'bytes' = true, bytes?: number): Promise<Table> {
  checkKeys(options, CSV_KEYS, 'CSV options');
  const delimiter = options.delimiter ?? (/\.(tsv|tab)$/i.test(source) ? '\t' : ',');
  if (typeof delimiter !== 'string' || delimiter.length === 0 || BAD_DELIMITERS.some((b) => delimiter.includes(b))) {
    throw new DatasetError(`Expected a non-empty string without a quote, CR, LF or byte-order mark for delimiter but received ${describe(delimiter)}`);
  }
  let columns: string[] | null = null;
  let readers: ColumnReader[] = [];
  let cuts: Cuts | null = null;
  let lines: number[] = [];
  /** The native scan while it reads the rows (see NativeCsv), else null. */
  let scan: { readonly addon: NativeCsv; readonly reader: unknown; readonly out: Int32Array } | null = null;
  let expected = 0; // the rows the file's size suggests (0: not known yet)
  let reserve = 0; // that, for the native scan's next call
  let line = 0; // the line the last row seen ended on
  const ragged = (received: number): DatasetError => new DatasetError(`${source}:${line}: expected ${columns!.length} fields (as in the header) but received ${received}${delimiterHint(columns!, delimiter)}`);
  /** Takes one record that ends on `line`: the header, or a row (a ragged one is an error). */
  const take = (record: string[]): void => {
    if (record.length === 1 && record[0] === '') return; // an empty line
    if (columns === null) {
      columns = header(record, source, line);
      readers = columns.map(() => new ColumnReader(cuts));
      const addon = fast === true && cuts !== null ? nativeCsv() : null;
      if (addon !== null) scan = { addon, reader: addon.csvReader(columns.length, cuts!.delimiter, cuts!.n0, cuts!.n1, dataThreads.threads < 2 ? 0 : dataThreads.apart ? -dataThreads.minBytes : dataThreads.minBytes), out: new Int32Array(4) };
    } else {
      if (record.length !== columns.length) throw ragged(record.length);
      for (let c = 0; c < record.length; c++) readers[c].add(record[c]);
      lines.push(line);
    }
  };
  /**
   * Takes the rows of the bytes buf[start, end) of text without quotes: each ends on a line break,
   * except the last when `end` is the end of the input. A row's cells go to the readers as bytes
   * (see ColumnReader.addBytes), each reader finding where its cell ends.
   */
  const takeRows = (buf: Buffer, start: number, end: number): void => {
    const c = cuts!;
    const breakLength = c.n1 < 0 ? 1 : 2;
    for (let p = start; p < end;) {
      if (scan !== null) {
        const status = scan.addon.csvScan(scan.reader, buf, p, end, line, reserve, scan.out);
        reserve = 0;
        const [last, row, column, cell] = scan.out;
        line = last;
        if (status === SCAN_DONE) return;
        if (status === SCAN_RAGGED) throw ragged(buf.toString('utf8', row, rowEnd(buf, row, end, c)).split(delimiter).length);
        // A cell the native scan leaves to this file: the rest of the file is read here.
        handOver();
        p = takeRow(buf, row, end, column, cell);
        continue;
      }
      line++;
      if (lineBreakAt(buf, p, end, c)) p += breakLength; // an empty line
      else if (columns === null) {
        const e = rowEnd(buf, p, end, c);
        take(buf.toString('utf8', p, e).split(delimiter));
        p = e + breakLength;
      } else p = takeRow(buf, p, end, 0, p);
    }
  };
  /**
   * Takes the cells of the row that starts at p (and ends on `line`) from column k0, whose cell
   * starts at `at` (0 and p but for a row the native scan stopped in), as bytes (see
   * ColumnReader.addBytes), each reader finding where its cell ends. Returns where the next row
   * starts.
   */
  const takeRow = (buf: Buffer, p: number, end: number, k0: number, at: number): number => {
    const c = cuts!;
    const last = readers.length - 1;
    for (let k = k0; ; k++) {
      const to = readers[k].addBytes(buf, at, end);
      // A cell ends at a delimiter, a line break or the end (a delimiter holds no CR or LF).
      const rowDone = to === end || buf[to] === c.n0;
      if (rowDone !== (k === last)) throw ragged(buf.toString('utf8', p, rowEnd(buf, p, end, c)).split(delimiter).length);
      if (rowDone) {
        lines.push(line);
        return to + (c.n1 < 0 ? 1 : 2);
      }
      at = to + c.delimiter.length;
    }
  };
  /**
   * The native scan's state becomes the readers' (and its rows' lines, lines'); the scan ends.
   * `more`: rows will follow (the readers' arrays are then sized for the rows expected).
   */
  const handOver = (more = true): void => {
    if (scan === null) return;
    const state = scan.addon.csvExport(scan.reader);
    scan = null;
    const from = state.lines;
    lines = new Array<number>(from.length); // filled in a plain loop: Array.from over a typed array is several times slower
    for (let i = 0; i < from.length; i++) lines[i] = from[i];
    readers.forEach((r, c) => {
      r.restore(state.columns[c]);
      if (more && expected > 0) r.reserve(expected);
    });
  };
  const finish = (): Table => {
    if (columns === null) throw new DatasetError(`${source}: expected a header row but the file is empty`);
    handOver(false);
    return makeTable(source, columns, readers.map((r) => r.finish()), lines);
  };
  const chunks = input[Symbol.asyncIterator]() as AsyncIterator<string | Buffer>;
  let newline: '\n' | '\r' | '\r\n' | undefined;
  let rest: Buffer = Buffer.alloc(0); // the bytes after the last line break
  let held = ''; // a string chunk's last character when it is the first half of a surrogate pair
  let first = true;
  let sized = false; // whether the columns were sized from `bytes`
  const decoder = new StringDecoder('utf8');
  try {
    for (let next = await chunks.next(); !next.done; next = await chunks.next()) {
      let value = next.value;
      if (value.length === 0) continue;
      if (typeof value === 'string') {
        if (first && value.charCodeAt(0) === 0xfeff) value = value.slice(1);
        value = held + value;
        held = '';
        if (value.length > 0 && value.charCodeAt(value.length - 1) >> 10 === 0xd800 >> 10) {
          held = value.slice(-1);
          value = value.slice(0, -1);
        }
        // A lone surrogate has no UTF-8 bytes: papaparse takes such text as it is.
        if (!fast || value.includes('"') || !wellFormed(value)) return await papaparsed(decoder.write(rest) + value + held);
      } else if (first && value[0] === 0xef && value[1] === 0xbb && value[2] === 0xbf) value = value.subarray(3);
      first = false;
      if (typeof value !== 'string' && (!fast || value.includes(QUOTE))) return await papaparsed(decoder.write(Buffer.concat([rest, value])));
      if (cuts === null) {
        const text = typeof value === 'string' ? value : value.toString('utf8', 0, Math.min(value.length, 4 << 20));
        newline = Papa.parse(text, { delimiter, preview: 1 }).meta.linebreak as '\n' | '\r' | '\r\n';
        const d = Buffer.from(delimiter, 'utf8');
        cuts = { delimiter: d, d0: d[0], n0: newline.charCodeAt(0), n1: newline.length > 1 ? newline.charCodeAt(1) : -1, simple: d.length === 1 && newline.length === 1 };
      }
      const chunk = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
      const breakLength = cuts.n1 < 0 ? 1 : 2;
      let start = 0;
      if (rest.length > 0) {
        // The row begun in the chunks before ends at this chunk's first line break (a CRLF may
        // begin in them: its CR is then the last byte before the first CRLF found here).
        const firstBreak = breakLength === 1 ? chunk.indexOf(cuts.n0) : chunk.indexOf(CRLF);
        if (firstBreak < 0) {
          rest = Buffer.concat([rest, chunk]);
          continue;
        }
        start = firstBreak + breakLength;
        const rows = Buffer.concat([rest, chunk.subarray(0, start)]);
        takeRows(rows, 0, rows.length);
      }
      // Whole rows up to the last line break; the bytes after it wait for the next chunk.
      const last = breakLength === 1 ? chunk.lastIndexOf(cuts.n0) : chunk.lastIndexOf(CRLF);
      const end = Math.max(start, last < 0 ? 0 : last + breakLength);
      takeRows(chunk, start, end);
      // Rows so far: the native scan counts lines, the header's and any empty ones included.
      const taken = scan !== null ? line - 1 : lines.length;
      if (bytes !== undefined && !sized && taken > 0) {
        sized = true;
        const rows = Math.ceil((1.05 * bytes * taken) / end) + 16;
        if (rows < 1 << 26) {
          expected = reserve = rows;
          // The native scan sizes its own columns (reserve); the readers, when it hands over.
          if (scan === null) for (const r of readers) r.reserve(rows);
        }
      }
      rest = chunk.subarray(end);
    }
    if (held !== '') return await papaparsed(decoder.write(rest) + held);
    if (cuts !== null) takeRows(rest, 0, rest.length);
    return finish();
  } catch (e) {
    await chunks.return?.();
    if (e instanceof DatasetError) throw e;
    throw new DatasetError(`${source}: cannot read as CSV: ${(e as { message?: string }).message ?? String(e)}`);
  }

  /** Papaparse parses `head` (its byte-order mark stripped) and the chunks after it. */
  function papaparsed(head: string): Promise<Table> {
    handOver();
    const text = Readable.from((async function* () {
      yield head;
      for (let next = await chunks.next(); !next.done; next = await chunks.next()) yield typeof next.value === 'string' ? next.value : decoder.write(next.value);
      const tail = decoder.end();
      if (tail !== '') yield tail;
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

/** What native/cpu/csv.cc's csvExport gives of one column (see ColumnReader.restore). */
interface NativeColumnState {
  /** Still a dictionary (else kept as numbers). */
  readonly dictionary: boolean;
  /** Rows taken. */
  readonly n: number;
  /** Dictionary: per row its text's code; the texts' bytes one after the other, each text's end, FNV-1a hash (as ByteDictionary's), cellNumber and format. */
  readonly codes?: Int32Array;
  readonly textBytes?: Uint8Array;
  readonly textEnds?: Int32Array;
  readonly textHashes?: Int32Array;
  readonly textNumbers?: Float64Array;
  readonly textFormats?: Uint8Array;
  /** Numbers: per row its number and format; the rows of format FORMAT_OTHER and the index of their text among otherBytes / otherEnds. */
  readonly numbers?: Float64Array;
  readonly formats?: Uint8Array;
  readonly otherRows?: Int32Array;
  readonly otherIds?: Int32Array;
  readonly otherBytes?: Uint8Array;
  readonly otherEnds?: Int32Array;
  /** The distinct texts seen that are not numbers. */
  readonly nonNumericBytes: Uint8Array;
  readonly nonNumericEnds: Int32Array;
}

/** The cpu addon's CSV entries (native/cpu/csv.cc). */
interface NativeCsv {
  /** A reader of rows of `columns` cells, cut at the delimiter's bytes and the line break's (n1 -1: one byte); csvScan splits a range of at least `split` bytes between two threads (0: never). */
  csvReader(columns: number, delimiter: Uint8Array, n0: number, n1: number, split: number): unknown;
  /** Takes the rows of buf[start, end): SCAN_DONE; 1, stopped before a cell it leaves to csvTable; or SCAN_RAGGED; out: [line, row start, column, cell start]. */
  csvScan(reader: unknown, buf: Uint8Array, start: number, end: number, line: number, reserve: number, out: Int32Array): number;
  /** The reader's state, its rows' lines and every column (the reader is empty after it). */
  csvExport(reader: unknown): { readonly lines: Int32Array; readonly splitRows: number; readonly columns: readonly NativeColumnState[] };
  /** applySchema's inputs (see native/cpu/csv.cc and ts/data/schema.ts) on up to `threads` threads, absent from an older build. */
  schemaInputs?: (...args: [...Parameters<NativeSchemaInputs>, threads: number]) => void;
}

/** How the cpu addon shares the data path's work (see {@link setDataThreads}). */
export interface DataThreads {
  /** Threads of the scan and of schemaInputs (1: the calling thread alone). */
  threads: number;
  /** The fewest bytes of rows (or of inputs) worth splitting between threads. */
  minBytes: number;
  /** Tests: scan the second half apart and merge it even when the calling thread could go on. */
  apart: boolean;
}

/** The data path's threads in the cpu addon (see {@link setDataThreads}). */
const dataThreads: DataThreads = { threads: Math.min(2, availableParallelism()), minBytes: 1 << 16, apart: false };

/**
 * Sets how the cpu addon shares the data path's work: csvScan splits a range of at least
 * `minBytes` bytes of rows between two threads when `threads` > 1, and schemaInputs splits
 * inputs of at least `minBytes` bytes between up to `threads` threads. The default: 2 threads
 * (1 on a single core), 64 KiB. When no worker thread is free, the calling thread goes on with
 * the second half itself; `apart` (tests) makes it scan the second half as the worker would, and
 * merge it. The results are the same for any setting (tests compare them); returns the previous
 * setting.
 */
export function setDataThreads(threads: number, minBytes = 1 << 16, apart = false): DataThreads {
  if (!Number.isInteger(threads) || threads < 1 || threads > 256 || !Number.isInteger(minBytes) || minBytes < 1 || minBytes > 0x7fffffff || typeof apart !== 'boolean') {
    throw new ConfigError(`Expected an integer in [1, 256] for threads, an integer in [1, 2^31 - 1] for minBytes and a boolean for apart but received ${describe(threads)}, ${describe(minBytes)}, ${describe(apart)}`);
  }
  const before = { ...dataThreads };
  dataThreads.threads = threads;
  dataThreads.minBytes = minBytes;
  dataThreads.apart = apart;
  return before;
}

/**
 * The cpu addon's writing of applySchema's inputs (native/cpu/csv.cc: schemaInputs): sample k
 * from row keep[k] (k when null) of n rows into x [kept, f] (zero-filled); numeric column j:
 * numbers[j], numericParams[4j ..] = first feature, mean, std, indicator (0/1), numericOut[2j ..]
 * ← missing rows, 1 when every value was within float32's range (else 0); categorical column j:
 * codes[j], slots[j] (slot per code), slotParams[2j ..] = first feature, embedded (0/1),
 * slotCounts[j][slot] += rows.
 */
export type NativeSchemaInputs = (
  x: Float32Array, f: number, keep: Int32Array | null, n: number,
  numbers: Float64Array[], numericParams: Float64Array, numericOut: Float64Array,
  codes: Int32Array[], slots: Int32Array[], slotParams: Int32Array, slotCounts: Int32Array[],
) => void;

/** csvScan's results: every row taken; a ragged row (1: stopped before a cell it leaves to csvTable). */
const SCAN_DONE = 0;
const SCAN_RAGGED = 2;

let nativeLoaded: NativeCsv | null | undefined;

/** The cpu addon's CSV entries, when it is built (loaded once); null otherwise: the reading is then all in this file. */
function nativeCsv(): NativeCsv | null {
  if (nativeLoaded === undefined) {
    try {
      const load = tryLoadAddon<NativeCsv>(addonLocations('cpu'), ['csvReader', 'csvScan', 'csvExport']);
      nativeLoaded = load.ok ? load.addon : null;
    } catch {
      nativeLoaded = null; // no package root to look in
    }
  }
  return nativeLoaded;
}

/** Whether {@link csvTable} cuts text without quotes in the cpu addon (built, with its CSV entries). */
export function nativeCsvAvailable(): boolean {
  return nativeCsv() !== null;
}

/** The cpu addon's schemaInputs (for applySchema), when it is built; undefined otherwise. */
export function nativeSchemaInputs(): NativeSchemaInputs | undefined {
  const addon = nativeCsv();
  if (typeof addon?.schemaInputs !== 'function') return undefined;
  const schemaInputs = addon.schemaInputs.bind(addon);
  return (...args) => schemaInputs(...args, 4 * args[0].length >= dataThreads.minBytes ? dataThreads.threads : 1);
}

/** The texts bytes[ends[k-1], ends[k]) of a native state, decoded. */
function nativeTexts(bytes: Uint8Array, ends: Int32Array): string[] {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  return Array.from(ends, (e, k) => b.toString('utf8', k === 0 ? 0 : ends[k - 1], e));
}

/** Whether `s` has no lone surrogate (String.prototype.isWellFormed, Node 20). */
const wellFormed = (s: string): boolean => (s as string & { isWellFormed(): boolean }).isWellFormed();

/** A quote character's byte. */
const QUOTE = 0x22;

/** The one line break of two bytes papaparse finds. */
const CRLF = Buffer.from('\r\n');

/** Where the row that starts at p ends: its line break, else end. */
function rowEnd(buf: Uint8Array, p: number, end: number, cuts: Cuts): number {
  for (let i = p; i < end; i++) if (buf[i] === cuts.n0 && lineBreakAt(buf, i, end, cuts)) return i;
  return end;
}

/** How many times `newline` occurs in `text`. */
function newlines(text: string, newline: string): number {
  let n = 0;
  for (let at = text.indexOf(newline); at >= 0; at = text.indexOf(newline, at + 1)) n++;
  return n;
}

/**
 * After a ragged row under a header of one field that holds another usual delimiter (';' of a
 * European spreadsheet's export, a tab, '|', ','): a hint that the file uses that one.
 */
function delimiterHint(columns: readonly string[], delimiter: string): string {
  const other = columns.length === 1 ? [';', '\t', '|', ','].find((d) => d !== delimiter && columns[0].includes(d)) : undefined;
  if (other === undefined) return '';
  return `; the header is one field that holds ${JSON.stringify(other)}: if that is the file's delimiter, say so (data.delimiter in a run file, --delimiter for hydranet predict and evaluate, { delimiter } for readTable)`;
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
