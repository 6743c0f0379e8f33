/**
 * The column schema: from a table of raw rows to a MultiTaskDataset.
 *
 * `fitSchema(trainingTable, spec)` learns, from the training rows only, everything the
 * transform needs and returns it as a plain JSON-serialisable {@link FittedSchema}, to be saved
 * with the model; `applySchema(fitted, rows)` turns any rows (training, validation, prediction)
 * into a dataset the same way, with a report of what it did.
 *
 * Rules:
 * - Missing values: '', '?', 'NA' (after trimming; configurable with `missing`) and null
 *   (JSON Lines, or a key a row lacks).
 * - Numeric inputs are standardised, (x − mean) / std, with the training mean and population
 *   std (std 1 when a column is constant). A missing value becomes the training mean (0 after
 *   standardising); a numeric column that had missing values in training also gets a
 *   missing-indicator feature `name:missing` (1 when missing).
 * - Categorical inputs are one-hot over the training vocabulary (sorted), plus a slot
 *   `name=<missing>` for missing values and a slot `name=<unseen>` for values not seen in training;
 *   or, encoded as an embedding (`inputs.encoding`, see {@link CategoricalEncoding}; the default
 *   for more than {@link ONEHOT_MAX_VALUES} training values), ONE feature holding the value's
 *   index in that same order: 0 .. V − 1 the training values, V missing, V + 1 unseen (the OOV
 *   slot), for a model whose `embedding` option has a field on that feature with vocab V + 2
 *   ({@link embeddingFields} gives them; `hydranet train --config` sets them itself).
 * - When `inputs.numeric` / `inputs.categorical` are not given, every column that is not a label
 *   (nor in `inputs.exclude`) is an input: numeric when every non-missing training value parses
 *   as a number, else categorical.
 * - Labels per task kind: `classification`: strings or integers, vocabulary from the training
 *   rows (sorted numerically when every value is a number, else as strings), the label is the
 *   class index; `binary`: 0/1 or true/false, or with `positive` set, 1 when the value equals
 *   it and 0 otherwise; `regression`: a number, kept as is; `multi-label`: either `columns`,
 *   several 0/1 or true/false columns (one label each), or `column` with `separator` (default
 *   '|'), one cell listing the labels present (vocabulary from training, sorted). A missing
 *   label (for multi-label, any of its columns missing) masks that sample for that task.
 * - Image inputs (`inputs.images`, see ./images.ts): one column of PNG/JPEG file paths, relative
 *   to the table file's folder (to the working directory for rows given in code), each decoded,
 *   resized to `size`, scaled to [0, 1] and laid out C × H × W; the dataset's inputShape is then
 *   [C, H, W], for a convolutional trunk. An image input is the only input: exactly one image
 *   column, no numeric or categorical inputs beside it (nor inferred ones), because a model has
 *   one input tensor and a conv trunk takes it as [C, H, W]; there is no layer that joins pixels
 *   with tabular features (a ConfigError says so, see {@link imageAloneMessage}). A missing cell or a
 *   file that cannot be read or decoded is a DatasetError naming file, line, column and path.
 */
import { createReadStream } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { createGunzip } from 'node:zlib';
import { checkKeys } from '../core/options.js';
import { CheckpointError, ConfigError, DatasetError, describe } from '../errors.js';
import type { MultiTaskModel } from '../mtl/model.js';
import type { EmbeddingConfig, EmbeddingFieldConfig } from '../nn/embedding.js';
import type { PredictOptions } from '../mtl/predict.js';
import type { Cell, Row, Table } from './csv.js';
import type { CodedColumn } from './csv.js';
import { cellNumber, columnCell, columnCodes, columnLength, columnNumbers, columnOtherTexts, csvTable, nativeSchemaInputs, notInFile, readCsv, tableFromRows } from './csv.js';
import { MultiTaskDataset, markFiniteInputs } from './dataset.js';
import { ImageReader, fitImageInput } from './images.js';
import type { FittedImage, ImageInputSpec } from './images.js';
import { parseJsonl, readJsonl } from './jsonl.js';

/** How a task's labels are read from the rows. */
export interface TaskColumnSpec {
  /** Task name (as in the model's tasks). */
  name: string;
  /** The task kind, as in the model's tasks. */
  kind: 'classification' | 'binary' | 'regression' | 'multi-label';
  /** The label column; default the task name. For multi-label, a column listing labels with `separator`. */
  column?: string;
  /** multi-label only: several 0/1 or true/false columns, one per label (instead of `column`). */
  columns?: string[];
  /** multi-label with `column` only: what separates the labels in a cell; default '|'. */
  separator?: string;
  /** binary only: the value meaning 1; every other non-missing value means 0. */
  positive?: string | number | boolean;
  /**
   * regression only: train on standardised labels, (y − mean) / std with the training rows'
   * mean and population std (1 when constant), kept in the fitted task; predictions made from
   * raw rows ({@link toOriginalUnits}, `hydranet predict`) are turned back into the original units.
   */
  standardize?: boolean;
}

/** Which columns are inputs. Without `numeric` and `categorical`, every non-label column is one. */
export interface InputColumnsSpec {
  /** Numeric input columns. */
  numeric?: string[];
  /** Categorical input columns. */
  categorical?: string[];
  /** Columns left out when the inputs are inferred (ids, say). */
  exclude?: string[];
  /**
   * One image column (file paths): the dataset's inputs become its C × H × W images. Allowed
   * only alone: not with `numeric` or `categorical`, and no other input is inferred.
   */
  images?: ImageInputSpec[];
  /**
   * Per categorical column (by name), how it is encoded: 'onehot', or an embedding
   * ('embedding:16' of width 16; 'embedding' of the default width). A column not named here
   * follows the default rule by its training vocabulary ({@link defaultEncoding}).
   */
  encoding?: Record<string, CategoricalEncoding>;
}

/**
 * How a categorical input column is encoded: 'onehot' (one feature per training value, plus
 * missing and unseen), or 'embedding' / 'embedding:D' (one feature, the value's index, looked up
 * by the model in a learned table of width D; the default width without D: {@link defaultEncoding}).
 */
export type CategoricalEncoding = 'onehot' | 'embedding' | `embedding:${number}`;

/** The most training values a categorical column has for the default encoding to be one-hot. */
export const ONEHOT_MAX_VALUES = 16;

/** The widest embedding the default rule gives. */
export const DEFAULT_EMBEDDING_MAX_DIM = 16;

/**
 * The default encoding of a categorical column with `values` training values: one-hot up to
 * {@link ONEHOT_MAX_VALUES} (a handful of features, nothing to learn per category beyond a
 * weight), else an embedding of width min(16, ⌈1.6·rows^0.56⌉) over its rows = values + 2
 * (missing, unseen): fastai's empirical rule (`emb_sz_rule`, Howard & Gugger 2020: 1.6·n^0.56,
 * fitted on their tabular benchmarks) capped at 16, the width the click-prediction models
 * (DeepFM, DCN, MMoE's recommendation setting) use for every field. 17 values give 8, 100 give
 * 21 → 16, 1e5 give 16.
 */
export function defaultEncoding(values: number): CategoricalEncoding {
  return values <= ONEHOT_MAX_VALUES ? 'onehot' : `embedding:${defaultEmbeddingDim(values)}`;
}

/** The default embedding width of a column with `values` training values: min(16, ⌈1.6·(values + 2)^0.56⌉) (see {@link defaultEncoding}). */
export function defaultEmbeddingDim(values: number): number {
  return Math.min(DEFAULT_EMBEDDING_MAX_DIM, Math.ceil(1.6 * (values + 2) ** 0.56));
}

/** What {@link fitSchema} is told. */
export interface SchemaSpec {
  /** Input columns; omitted (or only `exclude` given) = every non-label column, typed from the data. */
  inputs?: InputColumnsSpec;
  /** The tasks and where their labels are. */
  tasks: TaskColumnSpec[];
  /** Cell texts that mean missing (after trimming); default ['', '?', 'NA']. */
  missing?: string[];
}

/** A fitted numeric input column. */
export interface FittedNumeric {
  /** Column name. */
  column: string;
  /** Input kind. */
  kind: 'numeric';
  /** Training mean. */
  mean: number;
  /** Training population std (1 for a constant column). */
  std: number;
  /** Whether a missing-indicator feature follows the value. */
  indicator: boolean;
}

/** A fitted categorical input column. */
export interface FittedCategorical {
  /** Column name. */
  column: string;
  /** Input kind. */
  kind: 'categorical';
  /** Training values, sorted; one feature each, then <missing>, then <unseen> (one-hot); their indices 0 .. V − 1, then V, V + 1 (embedding). */
  vocabulary: string[];
  /** Embedded: the width of its vectors, and the column is ONE feature, the index. Absent: one-hot. */
  embedding?: number;
}

/** A fitted task: its label encoding. */
export interface FittedTask {
  /** Task name. */
  name: string;
  /** Task kind. */
  kind: TaskColumnSpec['kind'];
  /** Columns read, in order (one, or one per label for multi-label `columns`). */
  columns: string[];
  /** classification: class index → value; multi-label with a separator: label index → label. */
  vocabulary?: string[];
  /** binary: the positive value, when given. */
  positive?: string | number | boolean;
  /**
   * binary with `positive`: the label that means 0, as predictions write it: the one other
   * value seen in the training rows when there is exactly one, else `not-<positive>`.
   */
  negative?: string;
  /** regression with `standardize`: the training labels' mean and std; the dataset's labels are (y − mean) / std. */
  standardize?: {
    /** The training labels' mean. */
    mean: number;
    /** The training labels' population std (1 when they are constant). */
    std: number;
  };
  /** multi-label with one column: the separator. */
  separator?: string;
  /** Label values per sample (classes count for multi-label, else 1). */
  width: number;
}

/** The fitted preprocessing: JSON-serialisable, saved with the model. */
export interface FittedSchema {
  /** Format version. */
  version: 1;
  /** Texts that mean missing. */
  missing: string[];
  /** Input columns in feature order (an image input is alone). */
  inputs: (FittedNumeric | FittedCategorical | FittedImage)[];
  /** Tasks in dataset order. */
  tasks: FittedTask[];
  /** One name per feature of the dataset's input rows; for an image input, only its column. */
  featureNames: string[];
  /** The dataset's per-sample input shape when it is not [featureNames.length]: [C, H, W] for an image input. */
  inputShape?: number[];
}

/** Rows {@link applySchema} left out for one reason. */
export interface DroppedRows {
  /** Why, e.g. 'no label for any task'. */
  reason: string;
  /** How many rows. */
  count: number;
  /** The first (up to 10) of their lines. */
  lines: number[];
}

/** What {@link applySchema} returns. */
export interface SchemaResult {
  /** The rows kept, as a dataset: inputs of featureNames.length values, one label set per task. */
  dataset: MultiTaskDataset;
  /** What was read, dropped, replaced and masked. */
  report: SchemaReport;
}

/** What {@link applySchema} did. */
export interface SchemaReport {
  /** Rows given. */
  rowsRead: number;
  /** Rows in the dataset. */
  rowsKept: number;
  /** Rows left out, by reason. */
  dropped: DroppedRows[];
  /** Per input column, missing values replaced. */
  missingInputs: Record<string, number>;
  /** Per categorical column, values not in the training vocabulary. */
  unseen: Record<string, number>;
  /** Per task, samples masked for a missing (or absent) label. */
  masked: Record<string, number>;
}

/** Options of {@link applySchema}. */
export interface ApplyOptions {
  /**
   * 'required' (default): every label column must exist; rows with no label for any task are
   * dropped; a label outside the training vocabulary is an error. 'optional': absent label
   * columns mask their task. 'none': labels are not read, every task is masked (prediction).
   */
  labels?: 'required' | 'optional' | 'none';
}

const DEFAULT_MISSING = ['', '?', 'NA'];

/** The largest finite float32: a standardised value beyond it would be stored as ±Infinity. */
const FLOAT32_MAX = 3.4028234663852886e38;

/** Bytes of the dataset's inputs applySchema writes at a time, every column of them (see applySchema): about a second-level cache. */
const BLOCK_BYTES = 256 * 1024;
const KINDS = ['classification', 'binary', 'regression', 'multi-label'] as const;

/** Options of {@link readTable}. */
export interface ReadTableOptions {
  /** The file's format; default from its extension (.csv; .tsv or .tab; .jsonl or .ndjson; each optionally followed by .gz). */
  format?: 'csv' | 'tsv' | 'jsonl';
  /** CSV/TSV only: the field delimiter (default ',' for csv, a tab for tsv). */
  delimiter?: string;
}

/**
 * Reads a table: CSV/TSV through {@link readCsv}, JSON Lines through {@link readJsonl}. A file
 * whose name ends in .gz is gzip, decompressed as it is read; its format is its name's without
 * the .gz (data.csv.gz is CSV).
 * @throws ConfigError on an unknown format or option; DatasetError as the reader does, and on
 *   a .gz file that is not valid gzip.
 */
export async function readTable(file: string, options: ReadTableOptions = {}): Promise<Table> {
  checkKeys(options, ['format', 'delimiter'], 'readTable options');
  const gzip = /\.gz$/i.test(file);
  const ext = /\.([^./\\]+)$/.exec(gzip ? file.slice(0, -3) : file)?.[1].toLowerCase();
  const format = options.format ?? (ext === 'tsv' || ext === 'tab' ? 'tsv' : ext === 'jsonl' || ext === 'ndjson' ? 'jsonl' : ext === 'csv' ? 'csv' : undefined);
  if (format === 'jsonl') {
    if (options.delimiter !== undefined) throw new ConfigError('Expected no delimiter for a JSON Lines file');
    if (!gzip) return readJsonl(file);
    const chunks: Buffer[] = [];
    for await (const chunk of gunzipped(file)) chunks.push(chunk);
    return parseJsonl(Buffer.concat(chunks).toString('utf8'), file);
  }
  if (format === 'csv' || format === 'tsv') {
    const csv = { delimiter: options.delimiter ?? (format === 'tsv' ? '\t' : ',') };
    return gzip ? csvTable(gunzipped(file), file, csv) : readCsv(file, csv);
  }
  throw new ConfigError(`Expected format 'csv', 'tsv' or 'jsonl' (or a file ending in .csv, .tsv, .jsonl, or one of these and .gz) for ${file} but received ${describe(options.format ?? ext)}`);
}

/** The bytes of the gzip file `file`, decompressed as they are read; DatasetError naming the file when it cannot be read or is not gzip. */
async function* gunzipped(file: string): AsyncGenerator<Buffer> {
  const source = createReadStream(file);
  const gunzip = createGunzip();
  source.on('error', (e) => gunzip.destroy(e));
  try {
    for await (const chunk of source.pipe(gunzip)) yield chunk as Buffer;
  } catch (e) {
    const { code, message } = e as { code?: string; message?: string };
    throw new DatasetError(`${file}: cannot read as gzip: ${code?.startsWith('Z_') ? `not gzip data (${message ?? code}); a file ending in .gz must be gzip-compressed` : message ?? String(e)}`);
  } finally {
    source.destroy();
  }
}

/**
 * Rows as given in code become a table ({@link tableFromRows}: named '<rows>' in errors,
 * numbered 1..); a table is checked to be column-wise, one array of cells per column, each as
 * long as `lines`.
 */
function asTable(rows: Table | readonly Row[]): Table {
  if (Array.isArray(rows)) return tableFromRows(rows as readonly Row[]);
  const t = rows as Table;
  const n = Array.isArray(t?.lines) ? t.lines.length : -1;
  if (n < 0 || !Array.isArray(t.columns) || !Array.isArray(t.values) || t.values.length !== t.columns.length || !t.columns.every((_, c) => columnLength(t, c) === n)) {
    throw new ConfigError(`Expected an array of rows or a Table (columns, values: one array of cells per column, lines: one per row) but received ${describe(rows)}`);
  }
  return t;
}

/** A column's cells parsed as numbers (see Cells.numbers), by the column's cell array; with the missing texts they were parsed under. */
const parsedColumns = new WeakMap<readonly Cell[], { missing: string; numbers: Float64Array }>();

/** A column's numbers by its dictionary codes (see Cells.numbers), with the missing texts they were parsed under. */
const parsedCodes = new WeakMap<Int32Array, { missing: string; numbers: Float64Array }>();

/** Numbers of a column (see Cells.numbers) whose every NaN is a missing cell, with the missing texts that was checked under. */
const checkedNumbers = new WeakMap<Float64Array, string>();

/** Reads cells of a table's columns, telling missing values apart and naming file:line:column in errors. */
class Cells {
  /** The longest missing text: a longer cell with no blank at either end is not missing, with no lookup. */
  private readonly longest: number;
  private readonly index = new Map<string, number>();
  /** The missing texts as one string: part of the key of a column's parsed numbers. */
  private readonly key: string;
  /** Whether a missing text is itself a number ('-999', say): then a number read from a cell may still be missing. */
  private readonly numericMissing: boolean;
  constructor(private readonly table: Table, private readonly missing: ReadonlySet<string>) {
    this.longest = Math.max(0, ...[...missing].map((m) => m.length));
    this.key = JSON.stringify([...missing]);
    this.numericMissing = [...missing].some((m) => !Number.isNaN(cellNumber(m)));
    table.columns.forEach((c, i) => this.index.set(c, i));
  }
  /** The cells of a column (present: checked by requireColumn first). */
  column(name: string): readonly Cell[] {
    return this.table.values[this.index.get(name)!];
  }
  /** Row r's cell of a column, without making the cells of a column the CSV reader kept as numbers. */
  cell(r: number, name: string): Cell {
    return columnCell(this.table, this.index.get(name)!, r);
  }
  /** A column's dictionary codes, when the CSV reader kept them. */
  codes(name: string): CodedColumn | undefined {
    return columnCodes(this.table, this.index.get(name)!);
  }
  isMissing(v: Cell): boolean {
    if (v === null) return true;
    if (typeof v !== 'string') return false;
    // Trim only when an end is whitespace (a code unit ≤ ' ' or a Unicode space): most cells skip the copy.
    const n = v.length;
    if (n > 0 && (v.charCodeAt(0) <= 32 || v.charCodeAt(n - 1) <= 32 || v.charCodeAt(0) > 127 || v.charCodeAt(n - 1) > 127)) return this.missing.has(v.trim());
    return n <= this.longest && this.missing.has(v);
  }
  /**
   * Column `name` as numbers, NaN where a cell is missing. At the first cell that is neither
   * missing nor a number: null when `stopAtBad`, else NaN there too (tell the two apart with
   * isMissing on the cell, or skip that when {@link Cells.onlyMissing} says there is none).
   * Parsed once per column and missing texts: fitSchema parses a column, applySchema on the
   * same table reuses it. A column with dictionary codes is parsed one distinct text at a time.
   */
  numbers(name: string, stopAtBad: boolean): Float64Array | null {
    const c = this.index.get(name)!;
    const read = this.numericMissing ? undefined : columnNumbers(this.table, c);
    if (read !== undefined) {
      // Parsed by the CSV reader; no missing text is a number, so a number is never missing:
      // the reader's numbers are the column's, once its non-numbers are seen to be missing.
      if (checkedNumbers.get(read) === this.key) return read;
      const coded = this.codes(name);
      if (coded !== undefined) return this.fromCodes(coded, stopAtBad, read);
      const others = columnOtherTexts(this.table, c);
      // Kept as numbers: only a row whose text is not a plain decimal can be NaN, and its text is at hand.
      if (others !== undefined) {
        for (let i = 0; i < others.rows.length; i++) {
          if (Number.isNaN(read[others.rows[i]]) && !this.isMissing(others.texts[i])) return stopAtBad ? null : read;
        }
        checkedNumbers.set(read, this.key);
        return read;
      }
      for (let r = 0; r < read.length; r++) {
        if (Number.isNaN(read[r]) && !this.isMissing(this.cell(r, name))) {
          return stopAtBad ? null : read;
        }
      }
      checkedNumbers.set(read, this.key);
      return read;
    }
    const coded = this.codes(name);
    return coded !== undefined ? this.fromCodes(coded, stopAtBad) : this.parse(name, stopAtBad);
  }
  /**
   * Numbers of a column with dictionary codes, each distinct text parsed (or found missing) once;
   * `read`, the reader's numbers of the column, when given, checked instead of made.
   */
  private fromCodes({ codes, texts }: CodedColumn, stopAtBad: boolean, read?: Float64Array): Float64Array | null {
    const cached = parsedCodes.get(codes);
    if (cached !== undefined && cached.missing === this.key) return cached.numbers;
    const textNumbers = new Float64Array(texts.length);
    const bad = new Uint8Array(texts.length);
    texts.forEach((v, k) => {
      textNumbers[k] = this.isMissing(v) ? NaN : cellNumber(v);
      bad[k] = Number.isNaN(textNumbers[k]) && !this.isMissing(v) ? 1 : 0;
    });
    // A column with a text that is neither a number nor missing is not made, when a row has one.
    if (stopAtBad && bad.includes(1)) for (let r = 0; r < codes.length; r++) if (bad[codes[r]] === 1) return null;
    // The reader's numbers are already these (no missing text is a number then): only checked.
    const x = read ?? new Float64Array(codes.length);
    let clean = true;
    for (let r = 0; r < codes.length; r++) {
      const k = codes[r];
      if (bad[k] === 1) {
        if (stopAtBad) return null;
        clean = false;
      }
      if (read === undefined) x[r] = textNumbers[k];
    }
    if (clean) checkedNumbers.set(x, this.key);
    if (read === undefined) parsedCodes.set(codes, { missing: this.key, numbers: x });
    return x;
  }
  /** Whether every NaN of `x` (from {@link Cells.numbers}) is known to be a missing cell, so none needs checking. */
  onlyMissing(x: Float64Array): boolean {
    return checkedNumbers.get(x) === this.key;
  }
  /** Column `name` parsed cell by cell, as {@link Cells.numbers} returns it. */
  private parse(name: string, stopAtBad: boolean): Float64Array | null {
    const cells = this.column(name);
    const cached = parsedColumns.get(cells);
    if (cached !== undefined && cached.missing === this.key) return cached.numbers;
    const x = new Float64Array(cells.length);
    let clean = true;
    for (let r = 0; r < cells.length; r++) {
      const v = cells[r];
      if (this.isMissing(v)) x[r] = NaN;
      else {
        const y = Cells.number(v);
        if (Number.isNaN(y)) {
          if (stopAtBad) return null;
          clean = false;
        }
        x[r] = y;
      }
    }
    if (clean) checkedNumbers.set(x, this.key);
    parsedColumns.set(cells, { missing: this.key, numbers: x });
    return x;
  }
  /**
   * The distinct texts of column `name` that are not missing, trimmed, in the order the rows
   * first show them (a text may come twice when two cells differ only in blanks); each distinct
   * cell once when the column has dictionary codes, else every cell.
   */
  present(name: string): string[] {
    const out: string[] = [];
    const coded = this.codes(name);
    if (coded !== undefined) {
      const { codes } = coded;
      const seen = new Uint8Array(coded.texts.length);
      for (let r = 0; r < codes.length; r++) {
        const k = codes[r];
        if (seen[k] === 1) continue;
        seen[k] = 1;
        const v = coded.texts[k];
        if (!this.isMissing(v)) out.push(v.trim());
      }
      return out;
    }
    for (const v of this.column(name)) if (!this.isMissing(v)) out.push(typeof v === 'string' ? v.trim() : String(v));
    return out;
  }
  /** A number, or NaN when the cell does not hold one ({@link cellNumber}). */
  static readonly number = cellNumber;
  error(r: number, column: string, what: string): DatasetError {
    return new DatasetError(`${this.table.source}:${this.table.lines[r]}: column ${JSON.stringify(column)}: ${what}`);
  }
  /** Throws the numeric error of row r's cell of `column` unless it is missing. */
  checkMissing(r: number, column: string): void {
    const v = this.cell(r, column);
    if (!this.isMissing(v)) throw this.notANumber(r, column, v);
  }
  private notANumber(r: number, column: string, v: Cell): DatasetError {
    return this.error(r, column, notANumber(v));
  }
}

/** The error message of a cell `v` that a number column holds and that is neither a number nor missing. */
function notANumber(v: Cell): string {
  return `expected a number (or a missing value) but received ${describe(v)}`;
}

function requireColumn(table: Table, column: string, what: string): void {
  if (!table.columns.includes(column)) {
    throw new DatasetError(notInFile(table, column, `${what} column`));
  }
}

/** Sum, sum of squared deviations from the mean, and count of a numeric column's non-missing values. */
interface NumericSums {
  sum: number;
  sqDev: number;
  count: number;
}

/**
 * A numeric column's sums. On a value that is not a number: null when `inferring` (the column is
 * categorical), else a DatasetError naming file, line and column.
 */
function numericSums(cells: Cells, n: number, column: string, inferring: boolean): NumericSums | null {
  const x = cells.numbers(column, inferring);
  if (x === null) return null;
  if (!cells.onlyMissing(x)) checkNaNs(cells, x, n, column);
  // One loop per function: V8 compiles each with the feedback of its own loop (a function of
  // three loops was compiled while running the first, and sent back to the interpreter at the
  // next, column after column).
  const { sum, count } = presentSum(x, n);
  // Two passes: the squared deviations lose nothing to cancellation when the mean is far from 0.
  const mean = count > 0 ? sum / count : 0;
  return { sum, sqDev: squaredDeviations(x, n, mean), count };
}

/** Throws the error of the first NaN of x[0, n) whose cell of `column` is not missing. */
function checkNaNs(cells: Cells, x: Float64Array, n: number, column: string): void {
  for (let r = 0; r < n; r++) if (x[r] !== x[r]) cells.checkMissing(r, column);
}

/** The sum of x[0, n) that are not NaN, in order, and how many they are. */
function presentSum(x: Float64Array, n: number): { sum: number; count: number } {
  let sum = 0;
  let count = 0;
  for (let r = 0; r < n; r++) {
    const v = x[r];
    if (v === v) {
      sum += v;
      count++;
    }
  }
  return { sum, count };
}

/** The sum of (v − mean)² over x[0, n) that are not NaN, in order. */
function squaredDeviations(x: Float64Array, n: number, mean: number): number {
  let sqDev = 0;
  for (let r = 0; r < n; r++) {
    const v = x[r];
    if (v === v) sqDev += (v - mean) * (v - mean);
  }
  return sqDev;
}

/** The mean and population std of a column's values; std 1 when the column is constant (or empty). */
function meanStd({ sum, sqDev, count }: NumericSums): { mean: number; std: number } {
  const mean = count > 0 ? sum / count : 0;
  const variance = count > 0 ? sqDev / count : 0;
  return { mean, std: variance > 1e-24 * Math.max(1, mean * mean) ? Math.sqrt(variance) : 1 };
}

/** Sorted distinct values: numerically when all are numbers, else as strings. */
function vocabulary(values: Iterable<string>): string[] {
  const v = [...new Set(values)];
  return v.every((s) => !Number.isNaN(Cells.number(s))) ? v.sort((a, b) => Number(a) - Number(b)) : v.sort();
}

function splitLabels(v: Cell, separator: string): string[] {
  return String(v).split(separator).map((s) => s.trim()).filter((s) => s !== '');
}

/**
 * schema.inputs.encoding checked: an object naming categorical input columns, each 'onehot',
 * 'embedding' or 'embedding:D' (D a positive integer); ConfigError naming the key otherwise.
 */
function encodingSpec(spec: unknown, chosen: readonly { column: string; kind: string }[]): Map<string, CategoricalEncoding> {
  const out = new Map<string, CategoricalEncoding>();
  if (spec === undefined) return out;
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) {
    throw new ConfigError(`Expected an object of column → "onehot" | "embedding" | "embedding:D" for schema.inputs.encoding but received ${describe(spec)}`);
  }
  for (const [column, value] of Object.entries(spec as Record<string, unknown>)) {
    const where = `schema.inputs.encoding.${column}`;
    const input = chosen.find((c) => c.column === column);
    if (!input) throw new ConfigError(`${where}: ${JSON.stringify(column)} is not an input column`);
    if (input.kind !== 'categorical') throw new ConfigError(`${where}: ${JSON.stringify(column)} is a numeric input; an encoding applies to categorical columns`);
    const m = typeof value === 'string' ? /^(onehot|embedding)(?::([1-9][0-9]{0,5}))?$/.exec(value) : null;
    if (!m || (m[1] === 'onehot' && m[2] !== undefined)) {
      throw new ConfigError(`Expected "onehot", "embedding" or "embedding:D" (D a positive integer) for ${where} but received ${describe(value)}`);
    }
    out.set(column, value as CategoricalEncoding);
  }
  return out;
}

/**
 * The `embedding` option of a model (ModelConfig.embedding) for a fitted schema's embedded
 * categorical columns: one field per column, on its feature, with vocab = its training values
 * + 2 (missing, unseen) and its width; undefined when no column is embedded.
 */
export function embeddingFields(fitted: FittedSchema): EmbeddingConfig | undefined {
  const fields: Required<EmbeddingFieldConfig>[] = [];
  const names = new Set<string>();
  let feature = 0;
  for (const c of fitted.inputs) {
    if (c.kind === 'categorical' && c.embedding !== undefined) {
      let name = fieldName(c.column, fields.length);
      if (names.has(name)) name = `${name}_${fields.length}`;
      names.add(name);
      fields.push({ column: feature, vocab: c.vocabulary.length + 2, dim: c.embedding, name });
      feature += 1;
    } else feature += c.kind === 'categorical' ? c.vocabulary.length + 2 : c.kind === 'numeric' ? (c.indicator ? 2 : 1) : 0;
  }
  return fields.length > 0 ? { fields } : undefined;
}

/** A checkpoint-safe field name from a column name (letters, digits, _ and -), unique by its position. */
function fieldName(column: string, index: number): string {
  const clean = column.replace(/[^A-Za-z0-9_-]/g, '_');
  return clean === '' ? `field${index}` : `${clean}${/^[A-Za-z0-9_-]+$/.test(column) ? '' : `_${index}`}`;
}

/**
 * Why an image input cannot sit beside numeric or categorical inputs, for the inputs section at
 * `keyPath` (e.g. 'schema.inputs', or 'inputs of run.json').
 */
export function imageAloneMessage(keyPath: string): string {
  return `${keyPath}: "images" cannot be combined with "numeric" or "categorical": a model has one input, and an image input makes it [C, H, W] for a convolutional trunk, which cannot take tabular features beside the pixels. Supported: one image column as the only input (other columns are not inputs then; labels are read as usual), or numeric and categorical inputs without images`;
}

/** Checks `inputs.images` (one column, alone) and fits it. */
function fitImageColumn(table: Table, inputSpec: InputColumnsSpec, labelColumns: ReadonlySet<string>): FittedImage {
  const images = inputSpec.images;
  if (!Array.isArray(images) || images.length !== 1) {
    throw new ConfigError(`Expected an array of one image input for schema.inputs.images but received ${describe(images)}`);
  }
  if (inputSpec.numeric !== undefined || inputSpec.categorical !== undefined) throw new ConfigError(imageAloneMessage('schema.inputs'));
  const image = fitImageInput(images[0], 'schema.inputs.images[0]');
  requireColumn(table, image.column, 'schema.inputs.images[0]');
  if (labelColumns.has(image.column)) throw new ConfigError(`Column ${JSON.stringify(image.column)} is both an input and a label`);
  return image;
}

/**
 * Learns the preprocessing from training rows.
 * @throws ConfigError on a bad spec (unknown keys, kinds, duplicate task names); DatasetError on
 *   a column not in the table or a non-numeric value in a numeric column (file, line, column).
 */
export function fitSchema(rows: Table | readonly Row[], spec: SchemaSpec): FittedSchema {
  const table = asTable(rows);
  checkKeys(spec, ['inputs', 'tasks', 'missing'], 'schema');
  const missing = spec.missing ?? DEFAULT_MISSING;
  if (!Array.isArray(missing) || !missing.every((m) => typeof m === 'string')) {
    throw new ConfigError(`Expected an array of strings for schema.missing but received ${describe(missing)}`);
  }
  const cells = new Cells(table, new Set(missing));
  if (!Array.isArray(spec.tasks) || spec.tasks.length === 0) {
    throw new ConfigError(`Expected a non-empty array for schema.tasks but received ${describe(spec.tasks)}`);
  }
  const n = table.lines.length;
  const labelColumns = new Set<string>();
  const tasks = spec.tasks.map((t, i): FittedTask => {
    const where = `schema.tasks[${i}]`;
    checkKeys(t, ['name', 'kind', 'column', 'columns', 'separator', 'positive', 'standardize'], where);
    if (typeof t.name !== 'string' || t.name === '') throw new ConfigError(`Expected a non-empty string for ${where}.name but received ${describe(t.name)}`);
    if (!KINDS.includes(t.kind)) throw new ConfigError(`Expected one of ${KINDS.join(', ')} for ${where}.kind but received ${describe(t.kind)}`);
    if (spec.tasks.findIndex((u) => u.name === t.name) !== i) throw new ConfigError(`Task ${JSON.stringify(t.name)} appears twice in schema.tasks`);
    const allowed = (key: keyof TaskColumnSpec, kind: string, extra = true): void => {
      if (t[key] !== undefined && (t.kind !== kind || !extra)) throw new ConfigError(`${where}.${key} applies only to ${kind} tasks${kind === 'multi-label' && key === 'separator' ? ' with one column' : ''}`);
    };
    allowed('columns', 'multi-label', t.column === undefined);
    allowed('separator', 'multi-label', t.columns === undefined);
    allowed('positive', 'binary');
    allowed('standardize', 'regression');
    if (t.standardize !== undefined && typeof t.standardize !== 'boolean') throw new ConfigError(`Expected true or false for ${where}.standardize but received ${describe(t.standardize)}`);
    const columns = t.columns ?? [t.column ?? t.name];
    if (columns.length === 0) throw new ConfigError(`Expected at least one column in ${where}.columns`);
    for (const c of columns) {
      requireColumn(table, c, `task ${JSON.stringify(t.name)}'s label`);
      labelColumns.add(c);
    }
    const task: FittedTask = { name: t.name, kind: t.kind, columns, width: 1 };
    const col = columns[0];
    const present = (): string[] => cells.present(col);
    if (t.kind === 'classification') {
      task.vocabulary = vocabulary(present());
      if (task.vocabulary.length < 2) throw new DatasetError(`${table.source}: column ${JSON.stringify(col)}: task ${JSON.stringify(t.name)} needs at least 2 classes in the training rows but found ${task.vocabulary.length}`);
    } else if (t.kind === 'binary') {
      if (t.positive !== undefined) {
        task.positive = t.positive;
        const others = new Set(present()).add(String(t.positive));
        others.delete(String(t.positive));
        task.negative = others.size === 1 ? [...others][0] : `not-${String(t.positive)}`;
      }
    } else if (t.kind === 'regression' && t.standardize === true) {
      const sums = numericSums(cells, n, col, false)!;
      const { mean, std } = meanStd(sums);
      task.standardize = { mean, std };
    } else if (t.kind === 'multi-label') {
      if (t.columns !== undefined) task.width = columns.length;
      else {
        task.separator = t.separator ?? '|';
        if (typeof task.separator !== 'string' || task.separator === '') throw new ConfigError(`Expected a non-empty string for ${where}.separator`);
        task.vocabulary = vocabulary(present().flatMap((v) => splitLabels(v, task.separator!)));
        task.width = task.vocabulary.length;
        if (task.width === 0) throw new DatasetError(`${table.source}: column ${JSON.stringify(col)}: task ${JSON.stringify(t.name)} has no labels in the training rows`);
      }
    }
    return task;
  });

  const inputSpec = spec.inputs === undefined ? {} : checkKeys(spec.inputs, ['numeric', 'categorical', 'exclude', 'images', 'encoding'], 'schema.inputs') as InputColumnsSpec;
  if (inputSpec.images !== undefined) {
    const image = fitImageColumn(table, inputSpec, labelColumns);
    return { version: 1, missing: [...missing], inputs: [image], tasks, featureNames: [image.column], inputShape: [image.channels, ...image.size] };
  }
  for (const key of ['numeric', 'categorical', 'exclude'] as const) {
    const list = inputSpec[key];
    if (list !== undefined && (!Array.isArray(list) || !list.every((c) => typeof c === 'string'))) {
      throw new ConfigError(`Expected an array of column names for schema.inputs.${key} but received ${describe(list)}`);
    }
    for (const c of list ?? []) requireColumn(table, c, `schema.inputs.${key}`);
  }
  const listed = inputSpec.numeric !== undefined || inputSpec.categorical !== undefined;
  const exclude = new Set(inputSpec.exclude ?? []);
  // An inferred numeric column keeps the sums its inference pass gathered, so it is parsed once.
  const chosen: { column: string; kind: 'numeric' | 'categorical'; sums?: NumericSums }[] = listed
    ? [...(inputSpec.numeric ?? []).map((column) => ({ column, kind: 'numeric' as const })),
       ...(inputSpec.categorical ?? []).map((column) => ({ column, kind: 'categorical' as const }))]
    : table.columns.filter((c) => !labelColumns.has(c) && !exclude.has(c)).map((column) => {
        const sums = numericSums(cells, n, column, true);
        return sums === null ? { column, kind: 'categorical' as const } : { column, kind: 'numeric' as const, sums };
      });
  const seen = new Set<string>();
  for (const { column } of chosen) {
    if (labelColumns.has(column)) throw new ConfigError(`Column ${JSON.stringify(column)} is both an input and a label`);
    if (seen.has(column)) throw new ConfigError(`Column ${JSON.stringify(column)} is listed twice in schema.inputs`);
    seen.add(column);
  }
  if (chosen.length === 0) throw new ConfigError(`${table.source}: no input columns (every column is a label or excluded)`);
  const encodings = encodingSpec(inputSpec.encoding, chosen);

  const featureNames: string[] = [];
  const inputs = chosen.map(({ column, kind, sums }): FittedNumeric | FittedCategorical => {
    if (kind === 'categorical') {
      // Each distinct text once, in the order the rows show them (equal numbers keep that order in the vocabulary).
      const values = cells.present(column);
      const vocab = vocabulary(values);
      const encoding = encodings.get(column) ?? defaultEncoding(vocab.length);
      if (encoding !== 'onehot') {
        featureNames.push(column);
        const dim = encoding === 'embedding' ? defaultEmbeddingDim(vocab.length) : Number(encoding.slice('embedding:'.length));
        return { column, kind, vocabulary: vocab, embedding: dim };
      }
      featureNames.push(...vocab.map((v) => `${column}=${v}`), `${column}=<missing>`, `${column}=<unseen>`);
      return { column, kind, vocabulary: vocab };
    }
    const numeric = sums ?? numericSums(cells, n, column, false)!;
    const { mean, std } = meanStd(numeric);
    const indicator = numeric.count < n;
    featureNames.push(column);
    if (indicator) featureNames.push(`${column}:missing`);
    return { column, kind, mean, std, indicator };
  });
  return { version: 1, missing: [...missing], inputs, tasks, featureNames };
}

/** Why a label cell cannot be read: the message of the error that names its row and column. */
class LabelProblem {
  constructor(readonly message: string) {}
}

/**
 * What a label cell means for its task: null when missing; the label value (a class index, 0/1,
 * a number; for multi-label `columns`, that column's 0/1); for a multi-label column with a
 * separator, the indices of the labels it lists; or why it cannot be read.
 */
type LabelRead = number | readonly number[] | null | LabelProblem;

/** What a label cell `v` of task `t` means (see LabelRead). */
function readLabel(cells: Cells, t: FittedTask, classIndex: ReadonlyMap<string, number> | null, v: Cell): LabelRead {
  if (cells.isMissing(v)) return null;
  if (t.kind === 'classification') {
    const c = classIndex!.get(String(v).trim());
    return c ?? new LabelProblem(`label ${describe(v)} of task ${JSON.stringify(t.name)} is not one of its training classes (${t.vocabulary!.join(', ')})`);
  }
  if (t.kind === 'binary' && t.positive !== undefined) return String(v).trim() === String(t.positive) ? 1 : 0;
  if (t.kind === 'regression') {
    const value = cellNumber(v);
    if (Number.isNaN(value)) return new LabelProblem(notANumber(v));
    return t.standardize ? (value - t.standardize.mean) / t.standardize.std : value;
  }
  if (t.kind === 'binary' || t.vocabulary === undefined) {
    const s = typeof v === 'string' ? v.trim().toLowerCase() : v;
    if (s === true || s === 1 || s === '1' || s === 'true') return 1;
    if (s === false || s === 0 || s === '0' || s === 'false') return 0;
    return new LabelProblem(`expected 0/1 or true/false but received ${describe(v)}`);
  }
  const out: number[] = [];
  for (const label of splitLabels(v, t.separator!)) {
    const c = classIndex!.get(label);
    if (c === undefined) return new LabelProblem(`label ${JSON.stringify(label)} of task ${JSON.stringify(t.name)} is not one of its training labels (${t.vocabulary.join(', ')})`);
    out.push(c);
  }
  return out;
}

/**
 * Where a task's label column is read from: each distinct text's label read once (`reads`, by
 * code) when the column has dictionary codes; else each row's (`reads`, by row, `codes` null).
 */
interface LabelSource {
  readonly codes: Int32Array | null;
  readonly reads: readonly LabelRead[];
}

/** Task t's label column `column` as a LabelSource. */
function labelSource(cells: Cells, t: FittedTask, column: string): LabelSource {
  const classIndex = t.vocabulary ? new Map(t.vocabulary.map((v, i) => [v, i])) : null;
  const coded = cells.codes(column);
  // Every text's label, a problem too: it is an error only when a row has that text (and no missing label for that task).
  if (coded === undefined) return { codes: null, reads: cells.column(column).map((v) => readLabel(cells, t, classIndex, v)) };
  return { codes: coded.codes, reads: coded.texts.map((v) => readLabel(cells, t, classIndex, v)) };
}

/** A label read's state: 0 a label, 1 a cell that cannot be read, 2 missing (which masks the task, and wins over a problem). */
const readState = (m: LabelRead): number => (m === null ? 2 : m instanceof LabelProblem ? 1 : 0);

/** Each row's state for a task read from `sources` (its columns): the largest of its cells' states (see readState). */
function labelStates(sources: readonly LabelSource[], n: number): Uint8Array {
  const state = new Uint8Array(n);
  for (const { codes, reads } of sources) {
    const byRead = Uint8Array.from(reads, readState);
    for (let r = 0; r < n; r++) {
      const v = byRead[codes !== null ? codes[r] : r];
      if (v > state[r]) state[r] = v;
    }
  }
  return state;
}

/**
 * Writes label column j of a task (width w) for the kept samples whose row has state 0: the
 * label's value, or a 1 at each label index a multi-label cell lists; sets their mask.
 */
function writeLabels(y: Float32Array, mask: Uint8Array, w: number, j: number, { codes, reads }: LabelSource, state: Uint8Array, keep: Int32Array | null, kept: number): void {
  if (reads.every((m) => typeof m !== 'object' || m === null || m instanceof LabelProblem)) {
    // Plain values: a typed lookup per row (NaN for a read no labelled row has).
    const values = Float32Array.from(reads, (m) => (typeof m === 'number' ? m : NaN));
    for (let k = 0; k < kept; k++) {
      const r = keep === null ? k : keep[k];
      if (state[r] !== 0) continue;
      y[k * w + j] = values[codes !== null ? codes[r] : r];
      mask[k] = 1;
    }
    return;
  }
  for (let k = 0; k < kept; k++) {
    const r = keep === null ? k : keep[k];
    if (state[r] !== 0) continue;
    const m = reads[codes !== null ? codes[r] : r];
    if (typeof m === 'number') y[k * w + j] = m;
    else for (const c of m as number[]) y[k * w + c] = 1;
    mask[k] = 1;
  }
}

/** Per numeric input column, what applySchema learns as it writes: missing cells; whether a value was beyond float32's range. */
class InputCounts {
  missing = 0;
  finite = true;
}

/**
 * Writes samples k0 .. k1 − 1 of a numeric input, standardised, at feature `first` of each
 * sample (and a 1 in the next feature for a missing cell when `indicator`): sample k is row
 * keep[k] (row k when keep is null). A NaN is checked to be a missing cell unless `checked`.
 */
function writeNumeric(
  x: Float32Array, f: number, first: number, numbers: Float64Array, keep: Int32Array | null, k0: number, k1: number,
  mean: number, std: number, indicator: boolean, checked: boolean, cells: Cells, column: string, counts: InputCounts,
): void {
  let missing = 0;
  let finite = true;
  for (let k = k0, at = k0 * f + first; k < k1; k++, at += f) {
    const r = keep === null ? k : keep[k];
    const v = numbers[r];
    if (v !== v) {
      if (!checked) cells.checkMissing(r, column);
      missing++;
      if (indicator) x[at + 1] = 1;
    } else {
      const z = (v - mean) / std;
      if (!(Math.abs(z) <= FLOAT32_MAX)) finite = false;
      x[at] = z;
    }
  }
  counts.missing += missing;
  if (!finite) counts.finite = false;
}

/**
 * Writes samples k0 .. k1 − 1 of a categorical input: row r's slot is slots[codes[r]] (sample k
 * is row keep[k], or row k), written as the feature's value (embedded) or a 1 at feature first
 * + slot (one-hot); each slot's samples counted in `slotCounts`.
 */
function writeSlots(
  x: Float32Array, f: number, first: number, slots: Int32Array, codes: Int32Array, keep: Int32Array | null, k0: number, k1: number,
  embedded: boolean, slotCounts: Int32Array,
): void {
  for (let k = k0, at = k0 * f + first; k < k1; k++, at += f) {
    const slot = slots[codes[keep === null ? k : keep[k]]];
    slotCounts[slot]++;
    if (embedded) x[at] = slot;
    else x[at + slot] = 1;
  }
}

/**
 * Turns rows into a dataset with a fitted schema (from {@link fitSchema}, or as saved).
 * @throws DatasetError naming file, line and column: an input column absent from the rows, a
 *   non-numeric value in a numeric column, a label outside its vocabulary or not 0/1, and (with
 *   labels 'required') an absent label column; ConfigError on bad options or a fitted object of
 *   another version.
 */
export function applySchema(fitted: FittedSchema, rows: Table | readonly Row[], options: ApplyOptions = {}): SchemaResult {
  return applySchemaBy(fitted, rows, options, true);
}

/**
 * {@link applySchema}, its inputs written by the cpu addon (native/cpu/csv.cc: schemaInputs)
 * when `nativeInputs` and the addon is built, else here (the reference; the tests compare the
 * two). Not exported from the package.
 */
export function applySchemaBy(fitted: FittedSchema, rows: Table | readonly Row[], options: ApplyOptions, nativeInputs: boolean): SchemaResult {
  checkKeys(options, ['labels'], 'applySchema options');
  const mode = options.labels ?? 'required';
  if (!['required', 'optional', 'none'].includes(mode)) throw new ConfigError(`Expected 'required', 'optional' or 'none' for labels but received ${describe(mode)}`);
  if (fitted === null || typeof fitted !== 'object' || fitted.version !== 1) throw new ConfigError(`Expected a fitted schema of version 1 but received ${describe(fitted?.version)}`);
  const table = asTable(rows);
  const cells = new Cells(table, new Set(fitted.missing));
  for (const input of fitted.inputs) requireColumn(table, input.column, 'input');
  const taskRead = fitted.tasks.map((t) => mode !== 'none' && t.columns.every((c) => {
    if (mode === 'required') requireColumn(table, c, `task ${JSON.stringify(t.name)}'s label`);
    return table.columns.includes(c);
  }));

  const n = table.lines.length;
  // Counts by column or task name, without a prototype: a column may be called "toString".
  const counts = (): Record<string, number> => Object.create(null) as Record<string, number>;
  const report: SchemaReport = { rowsRead: n, rowsKept: 0, dropped: [], missingInputs: counts(), unseen: counts(), masked: counts() };

  // Labels: they decide which rows are kept (with labels 'required', a row needs one). A label
  // cell's meaning depends on its text only, so a column with dictionary codes reads each
  // distinct text once (see labelSource); rows are then typed-array lookups.
  const tasks = fitted.tasks;
  const labels = tasks.map((t) => new Float32Array(n * t.width));
  const masks = tasks.map(() => new Uint8Array(n));
  const sources = tasks.map((t, ti) => (taskRead[ti] ? t.columns.map((c) => labelSource(cells, t, c)) : []));
  const states = sources.map((s) => (s.length > 0 ? labelStates(s, n) : null));
  // The first row with a label that cannot be read (and no missing label in that task) is an error: its first such task and column.
  let bad = n;
  for (const state of states) {
    const r = state === null ? -1 : state.indexOf(1);
    if (r >= 0 && r < bad) bad = r;
  }
  if (bad < n) {
    const ti = states.findIndex((state) => state !== null && state[bad] === 1);
    const at = ({ codes }: LabelSource): number => (codes !== null ? codes[bad] : bad);
    const j = sources[ti].findIndex((source) => source.reads[at(source)] instanceof LabelProblem);
    throw cells.error(bad, tasks[ti].columns[j], (sources[ti][j].reads[at(sources[ti][j])] as LabelProblem).message);
  }
  // keep[k]: the row of sample k; null when every row is kept, in order.
  let keep: Int32Array | null = null;
  const noLabels: number[] = [];
  if (mode === 'required') {
    const labelled = new Uint8Array(n);
    for (const state of states) if (state !== null) for (let r = 0; r < n; r++) if (state[r] === 0) labelled[r] = 1;
    let count = 0;
    for (let r = 0; r < n; r++) count += labelled[r];
    if (count < n) {
      keep = new Int32Array(count);
      for (let r = 0, k = 0; r < n; r++) {
        if (labelled[r] === 1) keep[k++] = r;
        else noLabels.push(table.lines[r]);
      }
    }
  }
  const kept = keep === null ? n : keep.length;
  tasks.forEach((t, ti) => sources[ti].forEach((source, j) => writeLabels(labels[ti], masks[ti], t.width, j, source, states[ti]!, keep, kept)));

  // Inputs straight into the dataset's array (sample k is row keep[k]), a block of samples at a
  // time, every column of the block before the next: the block's part of the array stays in the cache.
  const inputShape = fitted.inputShape ?? [fitted.featureNames.length];
  const f = inputShape.reduce((a, b) => a * b, 1);
  const x = new Float32Array(kept * f);
  /** Whether every input written is finite, known as written (no image input, no numeric value beyond float32). */
  let finite = true;
  /** Per input column, what writes samples k0 .. k1 − 1 of it; then its counts go to the report. */
  const writers: { write: (k0: number, k1: number) => void; done: () => void }[] = [];
  /** The same columns for the cpu addon's schemaInputs: usable without image inputs and numeric columns whose every NaN is a missing value. */
  const scatter = {
    usable: true, numbers: [] as Float64Array[], numericParams: [] as number[], numericCounts: [] as InputCounts[],
    codes: [] as Int32Array[], slots: [] as Int32Array[], slotParams: [] as number[], slotCounts: [] as Int32Array[],
  };
  const rowOf = (k: number): number => (keep === null ? k : keep[k]);
  let o = 0; // the column's first feature in a sample
  for (const c of fitted.inputs) {
    const first = o;
    if (c.kind === 'image') {
      const column = cells.column(c.column);
      const images = new ImageFiles(table, cells, c);
      finite = false;
      scatter.usable = false;
      writers.push({ write: (k0, k1) => { for (let k = k0; k < k1; k++) images.read(rowOf(k), column[rowOf(k)], x, k * f + first); }, done: () => {} });
      o += images.featureSize;
      continue;
    }
    const counts = new InputCounts();
    if (c.kind === 'numeric') {
      const numbers = cells.numbers(c.column, false)!;
      const checked = cells.onlyMissing(numbers);
      const { mean, std, indicator } = c;
      if (!checked) scatter.usable = false;
      scatter.numbers.push(numbers);
      scatter.numericParams.push(first, mean, std, indicator ? 1 : 0);
      scatter.numericCounts.push(counts);
      writers.push({ write: (k0, k1) => writeNumeric(x, f, first, numbers, keep, k0, k1, mean, std, indicator, checked, cells, c.column, counts), done: () => {
        if (!counts.finite) finite = false;
        if (counts.missing > 0) report.missingInputs[c.column] = counts.missing;
      } });
      o += indicator ? 2 : 1;
    } else {
      const size = c.vocabulary.length;
      const index = new Map(c.vocabulary.map((v, i) => [v, i]));
      // A cell's slot: its value's index, size when missing, size + 1 when unseen.
      const slotOf = (v: Cell): number => (cells.isMissing(v) ? size : index.get(typeof v === 'string' ? v.trim() : String(v)) ?? size + 1);
      const coded = cells.codes(c.column);
      // With the reader's dictionary codes, each distinct text is looked up once; else each row's
      // slot is found once, and is its own code.
      const codes = coded !== undefined ? coded.codes : Int32Array.from(cells.column(c.column), slotOf);
      const slots = coded !== undefined ? Int32Array.from(coded.texts, slotOf) : Int32Array.from({ length: size + 2 }, (_, i) => i);
      const slotCounts = new Int32Array(size + 2);
      const embedded = c.embedding !== undefined;
      scatter.codes.push(codes);
      scatter.slots.push(slots);
      scatter.slotParams.push(first, embedded ? 1 : 0);
      scatter.slotCounts.push(slotCounts);
      writers.push({ write: (k0, k1) => writeSlots(x, f, first, slots, codes, keep, k0, k1, embedded, slotCounts), done: () => {
        if (slotCounts[size] > 0) report.missingInputs[c.column] = slotCounts[size];
        if (slotCounts[size + 1] > 0) report.unseen[c.column] = slotCounts[size + 1];
      } });
      o += embedded ? 1 : size + 2;
    }
  }
  const native = nativeInputs ? nativeSchemaInputs() : undefined;
  if (native !== undefined && scatter.usable) {
    // The same writes in the cpu addon (native/cpu/csv.cc: schemaInputs), counts into the writers'.
    const m = scatter.numbers.length;
    const out = new Float64Array(2 * m);
    native(x, f, keep, n, scatter.numbers, Float64Array.from(scatter.numericParams), out, scatter.codes, scatter.slots, Int32Array.from(scatter.slotParams), scatter.slotCounts);
    scatter.numericCounts.forEach((counts, j) => {
      counts.missing = out[2 * j];
      counts.finite = out[2 * j + 1] === 1;
    });
  } else {
    const block = Math.max(1, Math.floor(BLOCK_BYTES / (4 * f)));
    for (let k0 = 0; k0 < kept; k0 += block) for (const w of writers) w.write(k0, Math.min(kept, k0 + block));
  }
  for (const w of writers) w.done();

  if (noLabels.length > 0) report.dropped.push({ reason: 'no label for any task', count: noLabels.length, lines: noLabels.slice(0, 10) });
  report.rowsKept = kept;
  const datasetLabels: Record<string, Float32Array> = {};
  const labelWidths: Record<string, number> = {};
  const datasetMasks: Record<string, Uint8Array> = {};
  fitted.tasks.forEach((t, ti) => {
    datasetLabels[t.name] = kept === n ? labels[ti] : labels[ti].slice(0, kept * t.width);
    labelWidths[t.name] = t.width;
    const m = kept === n ? masks[ti] : masks[ti].slice(0, kept);
    let masked = kept;
    for (let k = 0; k < kept; k++) masked -= m[k];
    report.masked[t.name] = masked;
    if (masked > 0) datasetMasks[t.name] = m;
  });
  if (finite) markFiniteInputs(x);
  const dataset = new MultiTaskDataset({ inputs: x, inputShape, labels: datasetLabels, labelWidths, masks: datasetMasks });
  return { dataset, report };
}

/** Reads a table's image cells of one input: paths resolved against the table file's folder, errors naming file, line, column and path. */
class ImageFiles {
  private readonly root: string;
  private readonly reader: ImageReader;

  constructor(table: Table, private readonly cells: Cells, private readonly input: FittedImage) {
    this.root = /^<.*>$/.test(table.source) ? process.cwd() : dirname(table.source);
    this.reader = new ImageReader(input);
  }

  /** Values per image. */
  get featureSize(): number {
    return this.reader.featureSize;
  }

  /** Writes row r's image (cell v) into x at o. */
  read(r: number, v: Cell, x: Float32Array, o: number): void {
    if (this.cells.isMissing(v) || typeof v !== 'string') throw this.cells.error(r, this.input.column, `expected an image file path but received ${describe(v)}`);
    const path = v.trim();
    try {
      this.reader.read(resolve(this.root, path), x, o);
    } catch (e) {
      if (e instanceof DatasetError) throw this.cells.error(r, this.input.column, `image ${JSON.stringify(path)}: ${e.message}`);
      throw e;
    }
  }
}

/**
 * Predictions made on a dataset from {@link applySchema}, per task, in the labels' original
 * units: a regression task fitted with `standardize` has its values turned back, v × std + mean
 * (into new arrays); every other task's outputs are returned as they are.
 */
export function toOriginalUnits(fitted: FittedSchema, predictions: Readonly<Record<string, Float32Array>>): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = Object.create(null) as Record<string, Float32Array>;
  for (const [name, p] of Object.entries(predictions)) out[name] = p;
  for (const t of fitted.tasks) {
    const p = predictions[t.name];
    if (t.standardize === undefined || p === undefined) continue;
    const { mean, std } = t.standardize;
    out[t.name] = p.map((v) => v * std + mean);
  }
  return out;
}

/**
 * Per-task metrics of a model on a dataset from {@link applySchema}, with those of regression
 * tasks fitted with `standardize` in the labels' original units: mse × std², mae × std (exact:
 * every error scales by std). `loss` stays the training loss, on the standardised labels.
 */
export function metricsInOriginalUnits<
  M extends {
    /** Mean squared error. */
    mse?: number;
    /** Mean absolute error. */
    mae?: number;
  },
>(fitted: FittedSchema, metrics: Readonly<Record<string, M>>): Record<string, M> {
  const out: Record<string, M> = { ...metrics };
  for (const t of fitted.tasks) {
    const m = metrics[t.name];
    if (t.standardize === undefined || m === undefined) continue;
    const { std } = t.standardize;
    out[t.name] = { ...m, ...(m.mse !== undefined && { mse: m.mse * std * std }), ...(m.mae !== undefined && { mae: m.mae * std }) };
  }
  return out;
}

/**
 * A model's stored preprocessing (model.preprocessing) as a fitted schema.
 * @throws CheckpointError naming `source` when the model carries none.
 */
export function fittedSchemaOf(model: Pick<MultiTaskModel, 'preprocessing'>, source: string): FittedSchema {
  const p = model.preprocessing as unknown as FittedSchema | null;
  if (p === null || typeof p !== 'object' || p.version !== 1 || !Array.isArray(p.tasks) || !Array.isArray(p.inputs)) {
    throw new CheckpointError(`${source}: the model stores no fitted column schema (models trained with \`hydranet train --config\` or with model.preprocessing = fitSchema(...) have one)`);
  }
  return p;
}

/** What {@link predictRows} returns. */
export interface RowPredictions {
  /** Per task, n × outputs values in the labels' original units (see {@link toOriginalUnits}). */
  predictions: Record<string, Float32Array>;
  /** The fitted schema the rows went through (the model's preprocessing). */
  fitted: FittedSchema;
  /** What reading the rows did (every row is kept: labels are not read). */
  report: SchemaReport;
  /** Rows predicted. */
  length: number;
}

/**
 * Predicts on raw rows (a table, or rows given in code) with a model that carries its fitted
 * schema in model.preprocessing (trained with `hydranet train --config`, loaded with
 * MultiTaskModel.load, or given fitSchema's result): the rows go through {@link applySchema}
 * (labels not read), the model predicts, and standardised regression outputs are turned back into
 * their original units.
 * @throws CheckpointError when the model has no fitted schema; DatasetError as applySchema does.
 */
export async function predictRows(
  model: Pick<MultiTaskModel, 'preprocessing' | 'predict'>,
  rows: Table | readonly Row[],
  options: PredictOptions = {},
): Promise<RowPredictions> {
  const fitted = fittedSchemaOf(model, 'model');
  const { dataset, report } = applySchema(fitted, rows, { labels: 'none' });
  const predictions = toOriginalUnits(fitted, await model.predict(dataset, options));
  return { predictions, fitted, report, length: dataset.length };
}
