/**
 * JSON Lines tables: one JSON object per line, read line by line (streaming). Values must be
 * strings, numbers, booleans or null; a key a row lacks reads as null (missing). The table is
 * kept column by column, as CSV tables are. Also where a JSON text fails to parse (line and
 * column, {@link locateJsonError}), shared with the command line's JSON files.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { DatasetError } from '../errors.js';
import type { Cell, Table } from './csv.js';

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
  const index = new Map<string, number>();
  const values: Cell[][] = [];
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
        const at = locateJsonError(text, e as Error);
        throw new DatasetError(`${source}:${line}${at.column === undefined ? '' : `:${at.column}`}: not valid JSON: ${at.message}`);
      }
      if (value === null || typeof value !== 'object' || Array.isArray(value)) {
        throw new DatasetError(`${source}:${line}: expected a JSON object but received ${Array.isArray(value) ? 'an array' : JSON.stringify(value)}`);
      }
      const r = lines.length;
      for (const [key, v] of Object.entries(value)) {
        if (v !== null && typeof v === 'object') {
          throw new DatasetError(`${source}:${line}: column ${JSON.stringify(key)}: expected a string, number, boolean or null but received a nested ${Array.isArray(v) ? 'array' : 'object'}`);
        }
        let c = index.get(key);
        if (c === undefined) {
          // A new column: the rows before this one lack it.
          c = columns.length;
          index.set(key, c);
          columns.push(key);
          values.push(new Array<Cell>(r).fill(null));
        }
        values[c][r] = v as Cell;
      }
      lines.push(line);
      // A key this row lacks is missing.
      for (const column of values) if (column.length === r) column.push(null);
    }
  } catch (e) {
    if (e instanceof DatasetError) throw e;
    throw new DatasetError(`${source}: cannot read: ${(e as Error).message}`);
  }
  return { source, columns, values, lines };
}

/** Where JSON.parse failed on a text, and why, on one line. */
export interface JsonErrorPlace {
  /** 1-based line of the offending character (the end of the text for an unexpected end); undefined when not found. */
  line?: number;
  /** 1-based column of that character in its line. */
  column?: number;
  /** V8's message without its quote of the text and its "at position N". */
  message: string;
}

/**
 * Where JSON.parse's SyntaxError `error` on `text` happened: V8's "at position N" when its
 * message gives one, else where a small scanner of the JSON grammar ({@link jsonErrorOffset})
 * first fails; and the message on one line.
 */
export function locateJsonError(text: string, error: Error): JsonErrorPlace {
  const given = /at position (\d+)/.exec(error.message);
  const offset = given ? Number(given[1]) : jsonErrorOffset(text);
  // V8 quotes the text in some messages ("Unexpected token '}', "{ ..." is not valid JSON"): one line is enough.
  const message = error.message.replace(/, .*is not valid JSON$/s, '').replace(/ (in|after) JSON at position \d+.*$/s, '').replace(/\s+/g, ' ');
  if (offset < 0) return { message };
  const before = text.slice(0, offset);
  return { line: before.split('\n').length, column: offset - before.lastIndexOf('\n'), message };
}

/**
 * The offset in `text` of its first JSON syntax error (`text.length` when it ends too early), by
 * a small recursive scanner of the JSON grammar (RFC 8259); -1 when it finds none (valid JSON, or
 * nesting too deep to scan).
 */
export function jsonErrorOffset(text: string): number {
  const fail = (at: number): never => {
    throw new JsonSyntaxAt(Math.min(at, text.length));
  };
  let i = 0;
  const space = (): void => {
    while (i < text.length && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++;
  };
  const expect = (c: string): void => {
    space();
    if (text[i] !== c) fail(i);
    i++;
  };
  const string = (): void => {
    i++; // the opening quote
    for (;;) {
      if (i >= text.length) fail(i);
      const c = text.charCodeAt(i);
      if (c === 0x22) break;
      if (c < 0x20) fail(i);
      if (c === 0x5c) {
        const e = text[i + 1];
        if (e === 'u') {
          for (let k = 2; k < 6; k++) if (!/[0-9a-fA-F]/.test(text[i + k] ?? '')) fail(i + k);
          i += 6;
          continue;
        }
        if (e === undefined || !'"\\/bfnrt'.includes(e)) fail(i + 1);
        i += 2;
        continue;
      }
      i++;
    }
    i++;
  };
  const value = (): void => {
    space();
    const c = text[i];
    if (c === '{' || c === '[') {
      const close = c === '{' ? '}' : ']';
      i++;
      space();
      if (text[i] === close) {
        i++;
        return;
      }
      for (;;) {
        if (c === '{') {
          space();
          if (text[i] !== '"') fail(i);
          string();
          expect(':');
        }
        value();
        space();
        if (text[i] === ',') i++;
        else if (text[i] === close) {
          i++;
          return;
        } else fail(i);
      }
    }
    if (c === '"') return string();
    const number = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
    number.lastIndex = i;
    if (number.test(text)) {
      i = number.lastIndex;
      return;
    }
    for (const word of ['true', 'false', 'null']) {
      if (text[i] !== word[0]) continue;
      for (let k = 0; k < word.length; k++) if (text[i + k] !== word[k]) fail(i + k);
      i += word.length;
      return;
    }
    fail(i);
  };
  try {
    value();
    space();
    if (i < text.length) fail(i);
    return -1;
  } catch (e) {
    if (e instanceof JsonSyntaxAt) return e.offset;
    if (e instanceof RangeError) return -1; // nested too deep for the stack
    throw e;
  }
}

/** Where jsonErrorOffset's scan failed (thrown inside it only). */
class JsonSyntaxAt extends Error {
  constructor(readonly offset: number) {
    super(`JSON syntax error at ${offset}`);
  }
}
