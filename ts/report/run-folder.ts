/**
 * What a report is drawn from: the files a hydranet command leaves behind, read into one
 * {@link ReportRun}. A run folder of `hydranet train` / `hydranet extend` holds config.json,
 * metrics.json (the epoch history), and when the run had them affinity.json, continual.json,
 * confusion.json (the best checkpoint's confusion matrices on the validation set) and
 * environment.json (backend, machine, time); a `hydranet compare --json FILE` or
 * `hydranet affinity --out FILE` result is one JSON file, read on its own (with the
 * groups.json of `hydranet group` when one lies beside it). Every file is optional; what is
 * missing is simply not drawn.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Backend } from '../backends/backend.js';
import { ConfigError, DatasetError, ValueError, describe } from '../errors.js';
import type { TaskSpec } from '../mtl/task.js';
import type { Grouping } from '../mtl/grouping.js';
import type { AffinityReport } from '../train/affinity.js';
import type { ComparisonResult } from '../train/compare.js';
import type { EpochRecord } from '../train/trainer.js';

/** One classification (or binary) task's confusion matrix: counts[true][predicted]. */
export interface ConfusionMatrix {
  /** Class labels in row/column order ("0", "1", ... or the schema's class names). */
  labels: string[];
  /** counts[i][j]: validation samples of class i predicted as class j. */
  counts: number[][];
}

/** confusion.json: the confusion matrices of a run's best checkpoint on its validation set. */
export interface ConfusionReport {
  /** The epoch of the checkpoint evaluated (best.safetensors), when known. */
  epoch: number | null;
  /** Which checkpoint file was evaluated. */
  checkpoint: string;
  /** Validation samples evaluated (before per-task masks). */
  samples: number;
  /** Per classification or binary task, by name. */
  tasks: Record<string, ConfusionMatrix>;
}

/** environment.json: where and when a run ran. */
export interface RunEnvironment {
  /** The backend's name, with its thread count where it has one ("cpu (2 threads)"). */
  backend: string;
  /** The machine: host name, CPU model and count, memory, OS. */
  machine: string;
  /** Node.js version and the hydranet version. */
  software: string;
  /** The command line that made the run, when it came from the CLI. */
  command?: string;
  /** When the run started (ISO 8601, UTC). */
  started: string;
  /** When the report was last refreshed (ISO 8601, UTC). */
  updated?: string;
}

/** continual.json's accuracy matrix part (written by `hydranet extend`). */
export interface ContinualSummary {
  /** Task names, in column order. */
  tasks: string[];
  /** The stage that introduced each task. */
  introduced: number[];
  /** R[i][j]: accuracy on task j after stage i; null where not measured. */
  accuracy: (number | null)[][];
  /** ACC, BWT, forgetting, FWT and the like, as written (null where undefined). */
  metrics: Record<string, number | number[] | null | (number | null)[]>;
}

/** config.json as the Trainer writes it. */
export interface RunConfigFile {
  /** The model configuration (tasks, trunk, heads, sharing, ...). */
  model?: {
    /** The task specs, in model order. */
    tasks?: TaskSpec[];
  } & Record<string, unknown>;
  /** The model's architecture in words. */
  architecture?: unknown;
  /** The Trainer configuration. */
  trainer?: Record<string, unknown>;
}

/** The JSON file of `hydranet compare --json`: the comparison, with the settings and the backend. */
export interface ComparisonFile extends ComparisonResult {
  /** What every run shared (data sizes, model, epochs, optimizer, ...). */
  settings?: Record<string, unknown>;
  /** The backend's name. */
  backend?: string;
}

/** continual.json of `hydranet extend` (the parts a report reads; the rest is kept as written). */
export interface ContinualFile extends Record<string, unknown> {
  /** The run folder extended. */
  from?: string;
  /** How the old tasks were retained (replay, EWC, ...). */
  retain?: unknown;
  /** The accuracy matrix and its metrics, when the old tasks could be evaluated. */
  continual?: ContinualSummary | null;
}

/** What a report shows: every part optional, each read from its own file. */
export interface ReportRun {
  /** The folder or file the run was read from. */
  source: string;
  /** The run's title (the folder or file name). */
  title: string;
  /** config.json: { model, architecture, trainer } as the Trainer writes it. */
  config?: RunConfigFile;
  /** metrics.json: one record per epoch. */
  history?: EpochRecord[];
  /** affinity.json (a train run with affinity, or `hydranet affinity --out`). */
  affinity?: AffinityReport;
  /** groups.json of `hydranet group`, when it lies beside the affinity. */
  groups?: Grouping;
  /** A `hydranet compare --json` result. */
  comparison?: ComparisonFile;
  /** continual.json of `hydranet extend`. */
  continual?: ContinualFile;
  /** confusion.json. */
  confusion?: ConfusionReport;
  /** environment.json. */
  environment?: RunEnvironment;
}

/** The files of a run folder a report reads, by the ReportRun key they fill. */
export const RUN_FILES = {
  /** The Trainer's configuration file. */
  config: 'config.json',
  /** The epoch history. */
  history: 'metrics.json',
  /** A run with TrainerConfig.affinity. */
  affinity: 'affinity.json',
  /** `hydranet group --out-dir` into the run folder. */
  groups: 'groups.json',
  /** A compare result saved into the folder. */
  comparison: 'compare.json',
  /** `hydranet extend`. */
  continual: 'continual.json',
  /** The best checkpoint's confusion matrices. */
  confusion: 'confusion.json',
  /** Backend, machine and time. */
  environment: 'environment.json',
} as const satisfies Record<Exclude<keyof ReportRun, 'source' | 'title'>, string>;

function readJson(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new DatasetError(`Cannot read ${file}: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new DatasetError(`${file} is not JSON: ${(e as Error).message}`);
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Which part of a report a parsed JSON file is, by its shape; null when none. */
function partOf(value: unknown): Exclude<keyof ReportRun, 'source' | 'title'> | null {
  if (Array.isArray(value)) return value.every((r) => isObject(r) && typeof r.epoch === 'number' && isObject(r.train)) ? 'history' : null;
  if (!isObject(value)) return null;
  if (Array.isArray(value.runs) && isObject(value.baselines)) return 'comparison';
  if (Array.isArray(value.tasks) && isObject(value.mean) && Array.isArray(value.epochs)) return 'affinity';
  if (Array.isArray(value.groups) && isObject(value.assignment)) return 'groups';
  if ('continual' in value && 'newTasks' in value) return 'continual';
  if (isObject(value.tasks) && 'checkpoint' in value && 'samples' in value) return 'confusion';
  if (typeof value.backend === 'string' && typeof value.machine === 'string') return 'environment';
  if (isObject(value.model) && isObject(value.trainer)) return 'config';
  return null;
}

/**
 * Reads a run for {@link renderReport}: a run folder (every file of {@link RUN_FILES} that is
 * there; a malformed one is a DatasetError naming it) or one JSON file (a compare, affinity,
 * groups, continual or metrics file, recognised by its shape; groups.json beside an affinity
 * file is read too).
 * @throws ConfigError when the path does not exist or a file is of no known kind; DatasetError
 *   for a file that cannot be read or is not JSON, or a folder holding none of the run files.
 */
export function readRun(source: string): ReportRun {
  if (typeof source !== 'string' || source === '') throw new ValueError(`Expected a run folder or a JSON file for readRun but received ${describe(source)}`);
  const where = path.resolve(source);
  if (!fs.existsSync(where)) throw new ConfigError(`${where} does not exist: give a run folder (runs/<date>-<time>) or a JSON file of hydranet compare / affinity`);
  const run: ReportRun = { source: where, title: path.basename(where) };
  const put = (key: Exclude<keyof ReportRun, 'source' | 'title'>, value: unknown): void => {
    (run as unknown as Record<string, unknown>)[key] = value;
  };
  if (fs.statSync(where).isDirectory()) {
    let found = 0;
    for (const [key, name] of Object.entries(RUN_FILES) as [Exclude<keyof ReportRun, 'source' | 'title'>, string][]) {
      const file = path.join(where, name);
      if (!fs.existsSync(file)) continue;
      const value = readJson(file);
      const kind = partOf(value);
      if (kind !== key) throw new DatasetError(`${file} is not the ${name} hydranet writes (it reads as ${kind ?? 'nothing hydranet writes'})`);
      put(key, value);
      found++;
    }
    if (found === 0) throw new DatasetError(`${where} holds none of the files of a run (${Object.values(RUN_FILES).join(', ')})`);
    // hydranet extend also puts its accuracy matrix on metrics.json's last record.
    const last = run.history?.at(-1) as (EpochRecord & { continual?: ContinualSummary }) | undefined;
    if (!run.continual && isObject(last?.continual)) run.continual = { continual: last.continual };
    return run;
  }
  const value = readJson(where);
  const kind = partOf(value);
  if (kind === null) throw new ConfigError(`${where} is none of the files hydranet writes (metrics.json, compare --json, affinity --out, groups.json, continual.json)`);
  put(kind, value);
  run.title = path.basename(where, '.json');
  if (kind === 'affinity') {
    const groups = path.join(path.dirname(where), RUN_FILES.groups);
    if (fs.existsSync(groups) && partOf(readJson(groups)) === 'groups') run.groups = readJson(groups) as Grouping;
  }
  return run;
}

/** The hydranet version, from the package.json two folders above this file (dist/ts/report or ts/report). */
function hydranetVersion(): string {
  for (const up of ['../../..', '../..']) {
    try {
      const pkg = JSON.parse(fs.readFileSync(new URL(`${up}/package.json`, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'hydranet' && pkg.version) return pkg.version;
    } catch {
      // Not there: try the next.
    }
  }
  return 'unknown';
}

/**
 * The environment.json of a run on `backend` that started at `started` (default now; a CLI
 * command that describes its run at the end passes the process's start,
 * `new Date(performance.timeOrigin)`), with its command line when it came from the CLI.
 */
export function describeEnvironment(backend: Pick<Backend, 'name'>, command?: readonly string[], started: Date = new Date()): RunEnvironment {
  const threads = 'threads' in backend ? ` (${String((backend as { threads: unknown }).threads)} threads)` : '';
  const cpus = os.cpus();
  const gib = (os.totalmem() / 2 ** 30).toFixed(1);
  return {
    backend: `${backend.name}${threads}`,
    machine: `${os.hostname()}: ${cpus.length} × ${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${gib} GiB, ${os.type()} ${os.release()} ${os.arch()}`,
    software: `Node.js ${process.version}, hydranet ${hydranetVersion()}`,
    ...(command ? { command: command.join(' ') } : {}),
    started: started.toISOString(),
  };
}
