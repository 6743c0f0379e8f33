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
 *   `name=<missing>` for missing values and a slot `name=<unseen>` for values not seen in training.
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
 *   column, no numeric or categorical inputs beside it (nor inferred ones). A missing cell or a
 *   file that cannot be read or decoded is a DatasetError naming file, line, column and path.
 */
import { dirname, resolve } from 'node:path';
import { checkKeys, ownEntry } from '../core/options.js';
import { ConfigError, DatasetError, describe } from '../errors.js';
import type { Cell, Row, Table } from './csv.js';
import { readCsv } from './csv.js';
import { MultiTaskDataset } from './dataset.js';
import { ImageReader, fitImageInput } from './images.js';
import type { FittedImage, ImageInputSpec } from './images.js';
import { readJsonl } from './jsonl.js';

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
  /** Training values, sorted; one feature each, then <missing>, then <unseen>. */
  vocabulary: string[];
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
const KINDS = ['classification', 'binary', 'regression', 'multi-label'] as const;

/** Options of {@link readTable}. */
export interface ReadTableOptions {
  /** The file's format; default from its extension (.csv; .tsv or .tab; .jsonl or .ndjson). */
  format?: 'csv' | 'tsv' | 'jsonl';
  /** CSV/TSV only: the field delimiter (default ',' for csv, a tab for tsv). */
  delimiter?: string;
}

/**
 * Reads a table: CSV/TSV through {@link readCsv}, JSON Lines through {@link readJsonl}.
 * @throws ConfigError on an unknown format or option; DatasetError as the reader does.
 */
export async function readTable(file: string, options: ReadTableOptions = {}): Promise<Table> {
  checkKeys(options, ['format', 'delimiter'], 'readTable options');
  const ext = /\.([^./\\]+)$/.exec(file)?.[1].toLowerCase();
  const format = options.format ?? (ext === 'tsv' || ext === 'tab' ? 'tsv' : ext === 'jsonl' || ext === 'ndjson' ? 'jsonl' : ext === 'csv' ? 'csv' : undefined);
  if (format === 'jsonl') {
    if (options.delimiter !== undefined) throw new ConfigError('Expected no delimiter for a JSON Lines file');
    return readJsonl(file);
  }
  if (format === 'csv' || format === 'tsv') return readCsv(file, { delimiter: options.delimiter ?? (format === 'tsv' ? '\t' : ',') });
  throw new ConfigError(`Expected format 'csv', 'tsv' or 'jsonl' (or a file ending in .csv, .tsv, .jsonl) for ${file} but received ${describe(options.format ?? ext)}`);
}

/** Rows as given in code: numbered 1.. and named '<rows>' in errors. */
function asTable(rows: Table | readonly Row[]): Table {
  if (!Array.isArray(rows)) return rows as Table;
  const columns: string[] = [];
  const seen = new Set<string>();
  for (const r of rows as readonly Row[]) for (const k of Object.keys(r)) if (!seen.has(k)) { seen.add(k); columns.push(k); }
  return { source: '<rows>', columns, rows: rows as readonly Row[], lines: (rows as readonly Row[]).map((_, i) => i + 1) };
}

/** Reads cells of one column, telling missing values apart and naming file:line:column in errors. */
class Cells {
  /** Whether every row has no prototype (as CSV rows): then a defined value is an own one, no check needed. */
  private readonly bare: boolean;
  constructor(private readonly table: Table, private readonly missing: ReadonlySet<string>) {
    this.bare = table.rows.every((row) => Object.getPrototypeOf(row) === null);
  }
  get(r: number, column: string): Cell {
    const row = this.table.rows[r];
    if (!this.bare) return ownEntry(row, column) ?? null;
    return row[column] ?? null;
  }
  isMissing(v: Cell): boolean {
    if (v === null) return true;
    if (typeof v !== 'string') return false;
    // Trim only when an end is whitespace (a code unit ≤ ' ' or a Unicode space): most cells skip the copy.
    const n = v.length;
    return this.missing.has(n > 0 && (v.charCodeAt(0) <= 32 || v.charCodeAt(n - 1) <= 32 || v.charCodeAt(0) > 127 || v.charCodeAt(n - 1) > 127) ? v.trim() : v);
  }
  /** A number, or NaN when the cell does not hold one. */
  static number(v: Cell): number {
    if (typeof v === 'number') return v;
    if (typeof v !== 'string') return NaN;
    const x = Number(v);
    // Number('') and Number('  ') are 0: only then is the trim needed to tell a blank cell.
    if (x === 0 && v.trim() === '') return NaN;
    return Number.isFinite(x) ? x : NaN;
  }
  error(r: number, column: string, what: string): DatasetError {
    return new DatasetError(`${this.table.source}:${this.table.lines[r]}: column ${JSON.stringify(column)}: ${what}`);
  }
  numeric(r: number, column: string, v: Cell): number {
    const x = Cells.number(v);
    if (Number.isNaN(x)) throw this.error(r, column, `expected a number (or a missing value) but received ${describe(v)}`);
    return x;
  }
  flag(r: number, column: string, v: Cell): number {
    const s = typeof v === 'string' ? v.trim().toLowerCase() : v;
    if (s === true || s === 1 || s === '1' || s === 'true') return 1;
    if (s === false || s === 0 || s === '0' || s === 'false') return 0;
    throw this.error(r, column, `expected 0/1 or true/false but received ${describe(v)}`);
  }
}

function requireColumn(table: Table, column: string, what: string): void {
  if (!table.columns.includes(column)) {
    throw new DatasetError(`${table.source}: ${what} column ${JSON.stringify(column)} is not in the file (columns: ${table.columns.join(', ')})`);
  }
}

/** Sum, sum of squares and count of a numeric column's non-missing values. */
interface NumericSums {
  sum: number;
  sumSq: number;
  count: number;
}

/**
 * A numeric column's sums. On a value that is not a number: null when `inferring` (the column is
 * categorical), else a DatasetError naming file, line and column.
 */
function numericSums(cells: Cells, n: number, column: string, inferring: boolean): NumericSums | null {
  const s: NumericSums = { sum: 0, sumSq: 0, count: 0 };
  for (let r = 0; r < n; r++) {
    const v = cells.get(r, column);
    if (cells.isMissing(v)) continue;
    const x = inferring ? Cells.number(v) : cells.numeric(r, column, v);
    if (Number.isNaN(x)) return null;
    s.sum += x;
    s.sumSq += x * x;
    s.count++;
  }
  return s;
}

/** Sorted distinct values: numerically when all are numbers, else as strings. */
function vocabulary(values: Iterable<string>): string[] {
  const v = [...new Set(values)];
  return v.every((s) => !Number.isNaN(Cells.number(s))) ? v.sort((a, b) => Number(a) - Number(b)) : v.sort();
}

function splitLabels(v: Cell, separator: string): string[] {
  return String(v).split(separator).map((s) => s.trim()).filter((s) => s !== '');
}

/** Checks `inputs.images` (one column, alone) and fits it. */
function fitImageColumn(table: Table, inputSpec: InputColumnsSpec, labelColumns: ReadonlySet<string>): FittedImage {
  const images = inputSpec.images;
  if (!Array.isArray(images) || images.length !== 1) {
    throw new ConfigError(`Expected an array of one image input for schema.inputs.images but received ${describe(images)}`);
  }
  if (inputSpec.numeric !== undefined || inputSpec.categorical !== undefined) {
    throw new ConfigError('schema.inputs.images cannot be combined with schema.inputs.numeric or schema.inputs.categorical: an image input is the only input');
  }
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
  const n = table.rows.length;
  const labelColumns = new Set<string>();
  const tasks = spec.tasks.map((t, i): FittedTask => {
    const where = `schema.tasks[${i}]`;
    checkKeys(t, ['name', 'kind', 'column', 'columns', 'separator', 'positive'], where);
    if (typeof t.name !== 'string' || t.name === '') throw new ConfigError(`Expected a non-empty string for ${where}.name but received ${describe(t.name)}`);
    if (!KINDS.includes(t.kind)) throw new ConfigError(`Expected one of ${KINDS.join(', ')} for ${where}.kind but received ${describe(t.kind)}`);
    if (spec.tasks.findIndex((u) => u.name === t.name) !== i) throw new ConfigError(`Task ${JSON.stringify(t.name)} appears twice in schema.tasks`);
    const allowed = (key: keyof TaskColumnSpec, kind: string, extra = true): void => {
      if (t[key] !== undefined && (t.kind !== kind || !extra)) throw new ConfigError(`${where}.${key} applies only to ${kind} tasks${kind === 'multi-label' && key === 'separator' ? ' with one column' : ''}`);
    };
    allowed('columns', 'multi-label', t.column === undefined);
    allowed('separator', 'multi-label', t.columns === undefined);
    allowed('positive', 'binary');
    const columns = t.columns ?? [t.column ?? t.name];
    if (columns.length === 0) throw new ConfigError(`Expected at least one column in ${where}.columns`);
    for (const c of columns) {
      requireColumn(table, c, `task ${JSON.stringify(t.name)}'s label`);
      labelColumns.add(c);
    }
    const task: FittedTask = { name: t.name, kind: t.kind, columns, width: 1 };
    const col = columns[0];
    const present = (): string[] => {
      const out: string[] = [];
      for (let r = 0; r < n; r++) {
        const v = cells.get(r, col);
        if (!cells.isMissing(v)) out.push(String(v).trim());
      }
      return out;
    };
    if (t.kind === 'classification') {
      task.vocabulary = vocabulary(present());
      if (task.vocabulary.length < 2) throw new DatasetError(`${table.source}: column ${JSON.stringify(col)}: task ${JSON.stringify(t.name)} needs at least 2 classes in the training rows but found ${task.vocabulary.length}`);
    } else if (t.kind === 'binary') {
      if (t.positive !== undefined) task.positive = t.positive;
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

  const inputSpec = spec.inputs === undefined ? {} : checkKeys(spec.inputs, ['numeric', 'categorical', 'exclude', 'images'], 'schema.inputs') as InputColumnsSpec;
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

  const featureNames: string[] = [];
  const inputs = chosen.map(({ column, kind, sums }): FittedNumeric | FittedCategorical => {
    if (kind === 'categorical') {
      const values: string[] = [];
      for (let r = 0; r < n; r++) {
        const v = cells.get(r, column);
        if (!cells.isMissing(v)) values.push(String(v).trim());
      }
      const vocab = vocabulary(values);
      featureNames.push(...vocab.map((v) => `${column}=${v}`), `${column}=<missing>`, `${column}=<unseen>`);
      return { column, kind, vocabulary: vocab };
    }
    const { sum, sumSq, count } = sums ?? numericSums(cells, n, column, false)!;
    const mean = count > 0 ? sum / count : 0;
    const variance = count > 0 ? Math.max(0, sumSq / count - mean * mean) : 0;
    const std = variance > 1e-24 ? Math.sqrt(variance) : 1;
    const indicator = count < n;
    featureNames.push(column);
    if (indicator) featureNames.push(`${column}:missing`);
    return { column, kind, mean, std, indicator };
  });
  return { version: 1, missing: [...missing], inputs, tasks, featureNames };
}

/**
 * Turns rows into a dataset with a fitted schema (from {@link fitSchema}, or as saved).
 * @throws DatasetError naming file, line and column: an input column absent from the rows, a
 *   non-numeric value in a numeric column, a label outside its vocabulary or not 0/1, and (with
 *   labels 'required') an absent label column; ConfigError on bad options or a fitted object of
 *   another version.
 */
export function applySchema(fitted: FittedSchema, rows: Table | readonly Row[], options: ApplyOptions = {}): SchemaResult {
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

  const n = table.rows.length;
  // Counts by column or task name, without a prototype: a column may be called "toString".
  const counts = (): Record<string, number> => Object.create(null) as Record<string, number>;
  const report: SchemaReport = { rowsRead: n, rowsKept: 0, dropped: [], missingInputs: counts(), unseen: counts(), masked: counts() };
  const inputShape = fitted.inputShape ?? [fitted.featureNames.length];
  const f = inputShape.reduce((a, b) => a * b, 1);
  const x = new Float32Array(n * f);
  const images = new ImageFiles(table, cells);
  const labels = fitted.tasks.map((t) => new Float32Array(n * t.width));
  const masks = fitted.tasks.map(() => new Uint8Array(n));
  const index = fitted.inputs.map((c) => (c.kind === 'categorical' ? new Map(c.vocabulary.map((v, i) => [v, i])) : null));
  const classIndex = fitted.tasks.map((t) => (t.vocabulary ? new Map(t.vocabulary.map((v, i) => [v, i])) : null));
  const keep: number[] = [];
  const noLabels: number[] = [];

  const values: Cell[] = []; // one task's label cells, reused row after row
  for (let r = 0; r < n; r++) {
    const k = keep.length;
    let labelled = false;
    for (let ti = 0; ti < fitted.tasks.length; ti++) {
      if (!taskRead[ti]) continue;
      const t = fitted.tasks[ti];
      const y = labels[ti];
      let absentLabel = false;
      for (let j = 0; j < t.columns.length; j++) {
        values[j] = cells.get(r, t.columns[j]);
        if (cells.isMissing(values[j])) absentLabel = true;
      }
      if (absentLabel) continue;
      const col = t.columns[0];
      const v = values[0];
      if (t.kind === 'classification') {
        const c = classIndex[ti]!.get(String(v).trim());
        if (c === undefined) throw cells.error(r, col, `label ${describe(v)} of task ${JSON.stringify(t.name)} is not one of its training classes (${t.vocabulary!.join(', ')})`);
        y[k] = c;
      } else if (t.kind === 'binary') {
        y[k] = t.positive !== undefined ? (String(v).trim() === String(t.positive) ? 1 : 0) : cells.flag(r, col, v);
      } else if (t.kind === 'regression') {
        y[k] = cells.numeric(r, col, v);
      } else if (t.vocabulary === undefined) {
        for (let j = 0; j < t.columns.length; j++) y[k * t.width + j] = cells.flag(r, t.columns[j], values[j]);
      } else {
        for (const label of splitLabels(v, t.separator!)) {
          const c = classIndex[ti]!.get(label);
          if (c === undefined) throw cells.error(r, col, `label ${JSON.stringify(label)} of task ${JSON.stringify(t.name)} is not one of its training labels (${t.vocabulary.join(', ')})`);
          y[k * t.width + c] = 1;
        }
      }
      masks[ti][k] = 1;
      labelled = true;
    }
    if (mode === 'required' && !labelled) {
      noLabels.push(table.lines[r]);
      continue;
    }
    let o = k * f;
    for (let ci = 0; ci < fitted.inputs.length; ci++) {
      const c = fitted.inputs[ci];
      const v = cells.get(r, c.column);
      if (c.kind === 'image') {
        o = images.read(r, c, v, x, o);
        continue;
      }
      const absent = cells.isMissing(v);
      if (absent) report.missingInputs[c.column] = (report.missingInputs[c.column] ?? 0) + 1;
      if (c.kind === 'numeric') {
        x[o++] = absent ? 0 : (cells.numeric(r, c.column, v) - c.mean) / c.std;
        if (c.indicator) x[o++] = absent ? 1 : 0;
      } else {
        const size = c.vocabulary.length;
        let slot = absent ? size : index[ci]!.get(String(v).trim());
        if (slot === undefined) {
          slot = size + 1;
          report.unseen[c.column] = (report.unseen[c.column] ?? 0) + 1;
        }
        x[o + slot] = 1;
        o += size + 2;
      }
    }
    keep.push(r);
  }
  const kept = keep.length;
  if (noLabels.length > 0) report.dropped.push({ reason: 'no label for any task', count: noLabels.length, lines: noLabels.slice(0, 10) });
  report.rowsKept = kept;
  const datasetLabels: Record<string, Float32Array> = {};
  const labelWidths: Record<string, number> = {};
  const datasetMasks: Record<string, Uint8Array> = {};
  fitted.tasks.forEach((t, ti) => {
    datasetLabels[t.name] = labels[ti].slice(0, kept * t.width);
    labelWidths[t.name] = t.width;
    const m = masks[ti].slice(0, kept);
    const masked = kept - m.reduce((a, b) => a + b, 0);
    report.masked[t.name] = masked;
    if (masked > 0) datasetMasks[t.name] = m;
  });
  const dataset = new MultiTaskDataset({ inputs: kept === n ? x : x.slice(0, kept * f), inputShape, labels: datasetLabels, labelWidths, masks: datasetMasks });
  return { dataset, report };
}

/** Reads a table's image cells: paths resolved against the table file's folder, errors naming file, line, column and path. */
class ImageFiles {
  private readonly root: string;
  private readonly readers = new Map<FittedImage, ImageReader>();

  constructor(table: Table, private readonly cells: Cells) {
    this.root = /^<.*>$/.test(table.source) ? process.cwd() : dirname(table.source);
  }

  /** Writes row r's image into x at o; returns the offset past it. */
  read(r: number, input: FittedImage, v: Cell, x: Float32Array, o: number): number {
    if (this.cells.isMissing(v) || typeof v !== 'string') throw this.cells.error(r, input.column, `expected an image file path but received ${describe(v)}`);
    let reader = this.readers.get(input);
    if (reader === undefined) {
      reader = new ImageReader(input);
      this.readers.set(input, reader);
    }
    const path = v.trim();
    try {
      reader.read(resolve(this.root, path), x, o);
    } catch (e) {
      if (e instanceof DatasetError) throw this.cells.error(r, input.column, `image ${JSON.stringify(path)}: ${e.message}`);
      throw e;
    }
    return o + reader.featureSize;
  }
}
