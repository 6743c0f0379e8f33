/**
 * CSV and TSV tables, read through csv-parse (a streaming, RFC 4180 parser: quoted fields,
 * embedded delimiters and newlines, a byte-order mark), so a file is never held in memory as
 * text. Every row keeps the line it came from, so later errors can name file, line and column.
 */
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { parse } from 'csv-parse';
import { checkKeys } from '../core/options.js';
import { DatasetError, describe } from '../errors.js';

/** One value of a table: a CSV field is always a string; JSON Lines keeps numbers, booleans and null. */
export type Cell = string | number | boolean | null;

/** One row of a table, by column name. A column the row does not have reads as null (missing). */
export type Row = Record<string, Cell>;

/** Rows read from a file, with where each came from. */
export interface Table {
  /** The file read (or the name given for in-memory text), used in error messages. */
  readonly source: string;
  /** Column names in file order (CSV header; JSON Lines keys in order of first appearance). */
  readonly columns: readonly string[];
  /** The rows, in file order. */
  readonly rows: readonly Row[];
  /** Per row, the 1-based line of the file it ends on. */
  readonly lines: readonly number[];
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
  return csvTable(createReadStream(file), file, options);
}

/** Like {@link readCsv}, on text in memory; `source` names it in error messages. */
export async function parseCsv(text: string, options: CsvOptions = {}, source = '<text>'): Promise<Table> {
  return csvTable(Readable.from([text]), source, options);
}

async function csvTable(input: Readable, source: string, options: CsvOptions): Promise<Table> {
  checkKeys(options, CSV_KEYS, 'CSV options');
  const delimiter = options.delimiter ?? (/\.(tsv|tab)$/i.test(source) ? '\t' : ',');
  if (typeof delimiter !== 'string' || delimiter.length === 0) {
    throw new DatasetError(`Expected a non-empty string for delimiter but received ${describe(delimiter)}`);
  }
  const parser = input.pipe(
    parse({ delimiter, bom: true, info: true, skip_empty_lines: true, relax_column_count: true }),
  );
  input.on('error', (e) => parser.destroy(e));
  let columns: string[] | null = null;
  const rows: Row[] = [];
  const lines: number[] = [];
  try {
    for await (const { record, info } of parser as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
      if (columns === null) {
        columns = header(record, source, info.lines);
        continue;
      }
      if (record.length !== columns.length) {
        throw new DatasetError(
          `${source}:${info.lines}: expected ${columns.length} fields (as in the header) but received ${record.length}`,
        );
      }
      const row: Row = Object.create(null) as Row;
      for (let c = 0; c < columns.length; c++) row[columns[c]] = record[c];
      rows.push(row);
      lines.push(info.lines);
    }
  } catch (e) {
    if (e instanceof DatasetError) throw e;
    const err = e as { message?: string; lines?: number };
    const at = typeof err.lines === 'number' ? `:${err.lines}` : '';
    throw new DatasetError(`${source}${at}: cannot read as CSV: ${err.message ?? String(e)}`);
  }
  if (columns === null) throw new DatasetError(`${source}: expected a header row but the file is empty`);
  return { source, columns, rows, lines };
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
