/**
 * JSON Lines tables: one JSON object per line, read line by line (streaming). Values must be
 * strings, numbers, booleans or null; a key a row lacks reads as null (missing).
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { DatasetError } from '../errors.js';
import type { Row, Table } from './csv.js';

/**
 * Reads a JSON Lines file (.jsonl, .ndjson). Blank lines are skipped.
 * @throws DatasetError on an unreadable file, a line that is not a JSON object, or a nested
 *   value (array or object), naming the file, line and key.
 */
export async function readJsonl(file: string): Promise<Table> {
  return jsonlTable(createReadStream(file), file);
}

/** Like {@link readJsonl}, on text in memory; `source` names it in error messages. */
export async function parseJsonl(text: string, source = '<text>'): Promise<Table> {
  return jsonlTable(Readable.from([text]), source);
}

async function jsonlTable(input: Readable, source: string): Promise<Table> {
  const columns: string[] = [];
  const known = new Set<string>();
  const rows: Row[] = [];
  const lines: number[] = [];
  let line = 0;
  try {
    for await (const text of createInterface({ input, crlfDelay: Infinity })) {
      line++;
      if (text.trim() === '') continue;
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (e) {
        throw new DatasetError(`${source}:${line}: not valid JSON: ${(e as Error).message}`);
      }
      if (value === null || typeof value !== 'object' || Array.isArray(value)) {
        throw new DatasetError(`${source}:${line}: expected a JSON object but received ${Array.isArray(value) ? 'an array' : JSON.stringify(value)}`);
      }
      const row: Row = Object.create(null) as Row;
      for (const [key, v] of Object.entries(value)) {
        if (v !== null && typeof v === 'object') {
          throw new DatasetError(`${source}:${line}: column ${JSON.stringify(key)}: expected a string, number, boolean or null but received a nested ${Array.isArray(v) ? 'array' : 'object'}`);
        }
        row[key] = v as Row[string];
        if (!known.has(key)) {
          known.add(key);
          columns.push(key);
        }
      }
      rows.push(row);
      lines.push(line);
    }
  } catch (e) {
    if (e instanceof DatasetError) throw e;
    throw new DatasetError(`${source}: cannot read: ${(e as Error).message}`);
  }
  return { source, columns, rows, lines };
}
