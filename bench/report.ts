/**
 * What the bench prints: the records (the JSON form, one per measurement, peer, ratio or
 * skip) and the aligned text tables built from them.
 */
import { EMBEDDING_NAME, describeEmbedding } from './embedding/workload.js';
import type { Summary } from './stats.js';

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
  /** A peer's kernels: the BLAS PyTorch calls, tfjs's JS / XNNPACK-wasm kernels, the adapter. */
  kernels?: string;
  /** false: the peer ran on kernels that do not represent it (the reference BLAS): no ratio against it. */
  representative?: boolean;
  /** The command that makes a non-representative peer representative. */
  fix?: string;
  [extra: string]: unknown;
}

/** One element of the array `npm run bench -- --json` prints. */
export interface BenchRecord extends RecordBase {
  median: number | null;
  min: number | null;
  max: number | null;
}

/** The median, min, max and window count of a measurement, as record fields. */
export function summaryFields(s: Summary): Pick<BenchRecord, 'median' | 'min' | 'max' | 'windows'> {
  return { median: s.median, min: s.min, max: s.max, windows: s.samples.length || undefined };
}

/** The record of a measurement that did not run, and why. */
export function skipped(base: RecordBase, reason: string): BenchRecord {
  return { ...base, median: null, min: null, max: null, skipped: reason };
}

/** An error as one line for a record or a note: "Name: message". */
export function errText(e: unknown): string {
  if (e instanceof Error) return `${e.name}: ${e.message}`;
  return String(e);
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

/**
 * The ratio record of two measurements: median/median, with the widest min/max range; null when
 * either is missing or not representative (a peer on the reference BLAS gets no ratio).
 */
export function ratioRecord(a: BenchRecord, b: BenchRecord, base: Partial<BenchRecord>): BenchRecord | null {
  if (a.representative === false || b.representative === false) return null;
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

const SYSTEM_ORDER = ['hydranet', 'pytorch', 'tfjs', 'openblas'];
const BACKEND_ORDER = ['cpu', 'reference', 'webgpu', 'cuda', 'wasm', 'tensorflow'];

/** Display order of records: hydranet's backends, then PyTorch, then TensorFlow.js; skipped ones last within each system. */
export function bySystem(a: BenchRecord, b: BenchRecord): number {
  const rank = (xs: string[], x: string): number => (xs.includes(x) ? xs.indexOf(x) : xs.length);
  return rank(SYSTEM_ORDER, a.system) - rank(SYSTEM_ORDER, b.system) || rank(BACKEND_ORDER, a.backend) - rank(BACKEND_ORDER, b.backend);
}

/** "hydranet cpu", "PyTorch cpu", "TensorFlow.js wasm". */
export function systemName(r: Pick<BenchRecord, 'system' | 'backend'>): string {
  const names: Record<string, string> = { pytorch: 'PyTorch', tfjs: 'TensorFlow.js' };
  return `${names[r.system] ?? r.system} ${r.backend}`;
}

/** The flag on a non-representative peer's figure (its row keeps the figure). */
export function representativeFlag(r: BenchRecord): string {
  return r.representative === false ? 'NOT REPRESENTATIVE, no ratio against it (see Peers)' : '';
}

/**
 * One line per peer that measured training steps: the kernels it really ran on, and for a
 * non-representative one, why no ratio is printed against it and the command that fixes it.
 */
export function peerKernelLines(records: readonly BenchRecord[]): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const r of [...records].filter((x) => x.metric === 'train_steps_per_s' && x.system !== 'hydranet' && x.kernels).sort(bySystem)) {
    const who = systemName(r);
    if (seen.has(who)) continue;
    seen.add(who);
    out.push(
      r.representative === false
        ? `${who}: NOT REPRESENTATIVE: ${r.kernels}; its figures are shown but no ratio is printed against them; fix: ${r.fix ?? 'install an optimised BLAS'}`
        : `${who}: ${r.kernels}`,
    );
  }
  return out;
}

/** The training-step ratios, one line each: "W1: hydranet cpu / PyTorch cpu = 1.39× [1.16× … 1.60×]". */
export function stepRatioLines(records: readonly BenchRecord[]): string[] {
  return records
    .filter((r) => r.metric === 'train_steps_per_s_ratio')
    .map((r) => {
      const peer = systemName({ system: r.system.split('/')[1], backend: typeof r.peer_backend === 'string' ? r.peer_backend : '' }).trim();
      return `${r.workload}: hydranet ${r.backend} / ${peer} = ${ratio(r.median)} [${ratio(r.min)} … ${ratio(r.max)}]`;
    });
}

/** A Markdown table (pipes in cells escaped). */
export function markdownTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const cell = (c: string): string => c.replace(/\|/g, '\\|');
  return [headers, headers.map(() => '---'), ...rows].map((r) => `| ${r.map(cell).join(' | ')} |`).join('\n');
}

/**
 * The Markdown form of a run (training steps per second of every system, and the ratios),
 * headed by when, where and with which command it was measured: what README.md's performance
 * section is regenerated from (`npm run bench -- --update-readme README.md`).
 */
export function markdownReport(records: readonly BenchRecord[], header: string): string {
  const order = (r: BenchRecord): number => {
    const i = ['W1', 'W2', 'W3', 'LeNet', EMBEDDING_NAME].indexOf(r.workload);
    return i < 0 ? 99 : i;
  };
  const steps = records.filter((r) => r.metric === 'train_steps_per_s').sort((a, b) => order(a) - order(b) || bySystem(a, b));
  const rows = steps.map((r) => [
    r.workload,
    systemName(r),
    r.threads !== undefined ? String(r.threads) : '',
    r.median === null ? `skipped: ${r.skipped ?? ''}` : [`${fmt(r.median)} [${fmt(r.min)} … ${fmt(r.max)}]`, representativeFlag(r)].filter(Boolean).join(' ⚠ '),
  ]);
  const ratios = records
    .filter((r) => r.metric === 'train_steps_per_s_ratio')
    .map((r) => [r.workload, `hydranet ${r.backend}`, `${r.system.split('/')[1]} ${String(r.peer_backend ?? '')}`.trim(), `${ratio(r.median)} [${ratio(r.min)} … ${ratio(r.max)}]`]);
  const peers = peerKernelLines(records);
  const emb = steps.filter((r) => r.workload === EMBEDDING_NAME);
  const torchEmb = emb.filter((r) => r.system === 'pytorch' && r.variant);
  return [
    header,
    '',
    markdownTable(['workload', 'system', 'threads', 'training steps/s, median [min … max]'], rows),
    ...(emb.length
      ? [
          '',
          `${EMBEDDING_NAME}: ${describeEmbedding()}` +
            (torchEmb.length ? `; PyTorch at each thread count in the fastest of its variants there (${torchEmb.map((r) => `${String(r.threads)}: ${String(r.variant)}`).join('; ')})` : '') +
            '.',
        ]
      : []),
    '',
    'Ratios, measured in the same run (median/median [worst … best window pairing]):',
    '',
    markdownTable(['workload', 'hydranet', 'peer', 'ratio'], ratios),
    ...(peers.length ? ['', 'Peers (the kernels each ran on):', '', ...peers.map((l) => `- ${l}`)] : []),
  ].join('\n');
}

/** Replaces the text between `<!-- bench:begin -->` and `<!-- bench:end -->` in `doc`. */
export function replaceBenchSection(doc: string, body: string): string {
  const begin = '<!-- bench:begin -->';
  const end = '<!-- bench:end -->';
  const i = doc.indexOf(begin);
  const j = doc.indexOf(end);
  if (i < 0 || j < i) throw new Error(`the document has no ${begin} … ${end} section to regenerate`);
  return `${doc.slice(0, i + begin.length)}\n${body}\n${doc.slice(j)}`;
}
