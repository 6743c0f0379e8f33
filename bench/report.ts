/**
 * What the bench prints: the records (the JSON form, one per measurement, peer, ratio or
 * skip) and the aligned text tables built from them.
 */

/** What identifies a record, and its optional fields, without the numbers. */
export interface RecordBase {
  workload: string;
  system: string;
  backend: string;
  metric: string;
  unit?: string;
  threads?: number;
  isa?: string;
  windows?: number;
  case?: string;
  m?: number;
  n?: number;
  k?: number;
  transA?: boolean;
  transB?: boolean;
  /** Why there is no number (backend unavailable, peer not installed, budget). */
  skipped?: string;
  note?: string;
  [extra: string]: unknown;
}

/** One element of the array `npm run bench -- --json` prints. */
export interface BenchRecord extends RecordBase {
  median: number | null;
  min: number | null;
  max: number | null;
}

/** A number with about three significant digits, never in exponent form. */
export function fmt(x: number | null | undefined): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '—';
  const a = Math.abs(x);
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  if (a >= 0.01) return x.toFixed(3);
  return x.toPrecision(2);
}

/** "1.23×" */
export function ratio(x: number | null | undefined): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '—';
  return `${x >= 10 ? x.toFixed(1) : x >= 0.1 ? x.toFixed(2) : x.toPrecision(2)}×`;
}

/** The ratio record of two measurements: median/median, with the widest min/max range. */
export function ratioRecord(a: BenchRecord, b: BenchRecord, base: Partial<BenchRecord>): BenchRecord | null {
  if (a.median === null || b.median === null || a.min === null || b.min === null || a.max === null || b.max === null) return null;
  return {
    workload: a.workload,
    system: `${a.system}/${b.system}`,
    backend: a.backend,
    metric: `${a.metric}_ratio`,
    median: a.median / b.median,
    min: a.min / b.max,
    max: a.max / b.min,
    unit: 'x',
    ...base,
  };
}

export type Align = 'l' | 'r';

/** An aligned text table; numbers right-aligned, a rule under the header. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[], align?: readonly Align[]): string {
  const cols = headers.length;
  const width = headers.map((h, c) => Math.max(len(h), ...rows.map((r) => len(r[c] ?? ''))));
  const al = align ?? headers.map((_, c) => (c === 0 ? 'l' : 'r'));
  const line = (cells: readonly string[]): string =>
    cells
      .slice(0, cols)
      .map((s, c) => (al[c] === 'l' ? pad(s, width[c], false) : pad(s, width[c], true)))
      .join('  ')
      .trimEnd();
  return [line(headers), width.map((w) => '─'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** Display length: code points (the tables use ³, ×, ᵀ, →, all one column wide). */
function len(s: string): number {
  return [...s].length;
}

function pad(s: string, w: number, right: boolean): string {
  const fill = ' '.repeat(Math.max(0, w - len(s)));
  return right ? fill + s : s + fill;
}
