/**
 * Writing reports: report.html into a run folder (or X.html beside a compare / affinity JSON
 * file X.json), atomically (temp file, fsync, rename: ts/io/files.ts), so a browser reloading
 * it never sees half a page; the Trainer callbacks that refresh it after every epoch (throttled
 * so that rendering costs at most ~2 % of the training time); and the end of a CLI run
 * (confusion matrices of the best checkpoint, then the report).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Backend } from '../backends/backend.js';
import type { MultiTaskDataset } from '../data/dataset.js';
import { writeFileAtomic } from '../io/files.js';
import type { TrainerCallbacks } from '../train/callbacks.js';
import { writeBestConfusion } from './confusion.js';
import { renderReport } from './html.js';
import { RUN_FILES, type RunEnvironment, readRun } from './run-folder.js';

/**
 * Whether the commands write reports by themselves: yes, unless the environment variable
 * HYDRANET_REPORT is "0" (or "false"/"off"/"no"); `hydranet report` and {@link writeReport}
 * write one whatever it says.
 */
export function reportsEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = env.HYDRANET_REPORT?.trim().toLowerCase();
  return !(v === '0' || v === 'false' || v === 'off' || v === 'no');
}

/** The report file of a source: RUN_DIR/report.html for a run folder, X.html beside a file X.json. */
export function reportPath(source: string): string {
  const where = path.resolve(source);
  if (fs.existsSync(where) && fs.statSync(where).isDirectory()) return path.join(where, 'report.html');
  return path.join(path.dirname(where), `${path.basename(where, '.json')}.html`);
}

/** What {@link writeReport} did. */
export interface WrittenReport {
  /** The HTML file written. */
  file: string;
  /** The charts drawn, by id. */
  charts: string[];
  /** Seconds spent reading the run, rendering and writing. */
  seconds: number;
}

/**
 * Reads a run folder or JSON file ({@link readRun}), renders its report ({@link renderReport})
 * and writes it atomically to `out` (default {@link reportPath}). `environment` is shown when
 * the source records none (a compare or affinity JSON file).
 * @throws what readRun and renderReport throw; FileWriteError when `out` cannot be written.
 */
export async function writeReport(source: string, out: string = reportPath(source), environment?: RunEnvironment): Promise<WrittenReport> {
  const t0 = performance.now();
  const run = readRun(source);
  run.environment ??= environment && { ...environment };
  if (run.environment) run.environment.updated = new Date().toISOString();
  const html = await renderReport(run);
  writeFileAtomic(out, html);
  const charts = [...html.matchAll(/<figure class="chart" data-chart="([^"]+)"/g)].map((m) => m[1]);
  return { file: out, charts, seconds: (performance.now() - t0) / 1000 };
}

/** The part of the training time report refreshes may take: a refresh waits until it costs at most this share of the training since the last. */
export const REFRESH_SHARE = 0.02;

/**
 * What the first refresh is assumed to cost before one was measured, seconds: about what
 * loading vega and drawing the charts of a two-task run takes on one busy core (the first
 * report of a run then comes after 25 s of training; later ones are spaced by the cost measured).
 */
const FIRST_REFRESH_ESTIMATE = 0.5;

/** Options of {@link reportCallbacks}. */
export interface ReportCallbackOptions {
  /** Written once as environment.json (backend, machine, time) before the first refresh. */
  environment?: RunEnvironment;
  /** Where a refresh that failed is said (once); default console.error. Training goes on. */
  warn?: (line: string) => void;
}

/**
 * Trainer callbacks that keep RUN_DIR/report.html current: after an epoch (its metrics.json
 * written), the report is rendered again once the training seconds since the last refresh are
 * at least 1 / {@link REFRESH_SHARE} (50) times what the last refresh cost (before the first: an
 * estimate of 0.5 s), so refreshing costs at most ~2 % of the training time: with epochs of a
 * minute every epoch refreshes, with epochs of a second every few dozen. A refresh that fails is
 * said once and training goes on; with HYDRANET_REPORT=0 nothing is written. Pass them as TrainerConfig.callbacks (with a runDir); the
 * report at the end of a run is for the caller to write ({@link writeReport}, {@link finishReport}).
 */
export function reportCallbacks(runDir: string, options: ReportCallbackOptions = {}): TrainerCallbacks {
  let renderSeconds = FIRST_REFRESH_ESTIMATE;
  let trainedSince = 0;
  let warned = false;
  let environmentWritten = false;
  const warn = options.warn ?? ((line: string) => console.error(line));
  return {
    onEpochEnd: async (record) => {
      if (!reportsEnabled()) return;
      trainedSince += record.seconds;
      if (renderSeconds > REFRESH_SHARE * trainedSince) return;
      try {
        if (!environmentWritten && options.environment) writeEnvironment(runDir, options.environment);
        environmentWritten = true;
        renderSeconds = (await writeReport(runDir)).seconds;
        trainedSince = 0;
      } catch (e) {
        if (!warned) warn(`hydranet: the report ${path.join(runDir, 'report.html')} was not refreshed: ${(e as Error).message}`);
        warned = true;
      }
    },
  };
}

/**
 * The end of a CLI run: with a validation set, the best checkpoint's confusion matrices
 * (confusion.json), then the report. Returns the report written, or null after saying (with
 * `warn`) why not: a report that cannot be made never fails the run that trained. Nothing is
 * done (null, nothing said) when HYDRANET_REPORT=0 ({@link reportsEnabled}).
 */
export async function finishReport(
  source: string,
  options: {
    /** The backend to count the confusion matrices on (with `validation`). */
    backend?: Backend;
    /** The validation set of the confusion matrices. */
    validation?: MultiTaskDataset;
    /** The run's environment: written as environment.json into a run folder that has none, shown in the report of a JSON file. */
    environment?: RunEnvironment;
    /** Where a failure is said (default console.error). */
    warn?: (line: string) => void;
  } = {},
): Promise<WrittenReport | null> {
  const warn = options.warn ?? ((line: string) => console.error(line));
  if (!reportsEnabled()) return null;
  try {
    const folder = fs.statSync(source).isDirectory();
    const hasCheckpoint = folder && ['best.safetensors', 'checkpoint.safetensors'].some((f) => fs.existsSync(path.join(source, f)));
    if (options.backend && options.validation && hasCheckpoint) await writeBestConfusion(options.backend, source, options.validation);
    if (folder && options.environment && !fs.existsSync(path.join(source, RUN_FILES.environment))) writeEnvironment(source, options.environment);
    return await writeReport(source, reportPath(source), options.environment);
  } catch (e) {
    warn(`hydranet: no report written for ${source}: ${(e as Error).message}`);
    return null;
  }
}

/** Writes a run folder's environment.json (see {@link describeEnvironment}) atomically. */
export function writeEnvironment(runDir: string, environment: RunEnvironment): void {
  writeFileAtomic(path.join(runDir, RUN_FILES.environment), `${JSON.stringify(environment, null, 2)}\n`);
}
