/**
 * Parallel runs of a fair comparison (compare() with `jobs` > 1, ts/train/compare.ts): up to N
 * runs at once, each in a child process of its own (node's child_process.fork of
 * ts/train/compare-worker.ts) with its own backend.
 *
 * Why forked processes running a small module rather than the CLI in a hidden single-run mode:
 * compare() is a library call whose datasets, model config and trainer settings need not come
 * from anything the CLI can rebuild (a user's own arrays, a run file's fitted encoders), so a
 * child must be handed exactly what the parent holds. The parent writes each dataset once to a
 * temporary binary file (the test set only when the first seed run starts, after every search
 * has finished, so that the search never reads it) and sends every run's model config and
 * trainer settings over the IPC channel (structured clone); a child loads the files once and
 * trains one run at a time with the same function the in-process path uses (trainRun), and
 * sends the run's record back. The parent alone writes records to the run folder, so run
 * records are the same whichever path trained them. Processes rather than worker threads: a
 * child that crashes (or is killed, out of memory, say) takes nothing else with it and is
 * reported with its run.
 *
 * A child exits when its IPC channel closes (the parent died, however), ignores SIGINT (a
 * Ctrl-C on the terminal reaches the whole process group; the parent decides, and kills its
 * children), and is killed when the parent's signal aborts.
 *
 * The dataset files live in a folder `hydranet-compare-jobs-*` of os.tmpdir(), removed by
 * {@link RunPool.close} or, on a process exit that skipped it, by an exit handler. A parent
 * killed outright (SIGKILL, out of memory) runs neither, so the folder holds an `owner` file
 * (the parent's pid, its start time and the host): the next pool made on that host removes
 * every such folder whose owner is gone ({@link removeStaleJobDirs}).
 */
import { type ChildProcess, fork } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MultiTaskDataset } from '../data/dataset.js';
import { processAlive } from '../io/files.js';
import {
  BackendUnavailableError,
  BusyError,
  CheckpointError,
  ConfigError,
  DatasetError,
  FileWriteError,
  HydranetError,
  KernelError,
  LabelError,
  NonFiniteLossError,
  ShapeError,
  TrainingAbortedError,
  ValueError,
  expectInt,
} from '../errors.js';

/** The backends whose runs may go to child processes. */
export const JOB_BACKENDS: readonly string[] = ['cpu', 'reference'];

/**
 * Threads of each child's cpu backend: `threads` when given, else max(1, ⌊cores / jobs⌋).
 * @throws ConfigError on a jobs or threads count that is not a positive integer.
 */
export function childThreads(jobs: number, threads?: number): number {
  expectInt('jobs', jobs);
  if (threads !== undefined) return expectInt('threads', threads);
  return Math.max(1, Math.floor(os.availableParallelism() / jobs));
}

/**
 * Checks that runs can go to `jobs` child processes on a backend named `backend`, and that
 * what each run is sent can be sent (plain data: structured-cloneable, no functions, no data-
 * parallel group or batch hook).
 * @throws ConfigError naming what cannot.
 */
export function checkJobs(jobs: number, backend: string, sent: { model?: unknown; trainer?: Record<string, unknown>; configurations?: unknown }): void {
  expectInt('jobs', jobs);
  if (jobs === 1) return;
  if (!JOB_BACKENDS.includes(backend)) {
    throw new ConfigError(
      `compare: jobs ${jobs} trains runs in child processes on the cpu or reference backend only, not on ${backend}: a ${backend} backend drives one device, ` +
        'which every child would open a context of its own on, competing for its memory and queue instead of running at once (and the device already ' +
        'runs each step in parallel); use jobs 1',
    );
  }
  for (const k of ['distributed', 'batchStaged', 'callbacks'] as const) {
    if (sent.trainer?.[k] != null) throw new ConfigError(`compare: jobs ${jobs} cannot send trainer.${k} to a child process; use jobs 1`);
  }
  const names = { model: 'model config', trainer: 'trainer settings', configurations: 'configurations' } as const;
  for (const [k, value] of Object.entries(sent)) {
    try {
      structuredClone(value);
    } catch (e) {
      throw new ConfigError(`compare: jobs ${jobs} sends the ${names[k as keyof typeof names]} to child processes, and it is not plain data (${(e as Error).message}); use jobs 1`);
    }
  }
}

const MAGIC = 'hydranet-dataset-1';

/** The name prefix of a pool's folder of dataset files in os.tmpdir(). */
export const JOB_DIR_PREFIX = 'hydranet-compare-jobs-';
/** The file in a pool's folder naming the process that made it. */
const OWNER_FILE = 'owner';

/** Who made a pool's folder: the process (pid and start time) on which host. */
interface JobDirOwner {
  pid: number;
  /** Field 22 of /proc/<pid>/stat (clock ticks after boot), null where there is no /proc: tells a reused pid from the owner. */
  start: string | null;
  host: string;
}

/** The start time of process `pid` (field 22 of /proc/<pid>/stat), or null when it cannot be read. */
function processStart(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: count from the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

/** Whether the process that wrote `owner` still runs (a live process with its pid and another start time is not it). */
function ownerAlive(owner: JobDirOwner): boolean {
  if (!processAlive(owner.pid)) return false;
  if (owner.start === null) return true;
  const now = processStart(owner.pid);
  return now === null || now === owner.start;
}

/**
 * Removes the folders of dataset files that pools of dead processes left in `root` (a parent
 * killed before it could close its pool): every `hydranet-compare-jobs-*` folder whose
 * `owner` file names a process of this host that no longer runs. A folder without a readable
 * owner (one being made, or one of a hydranet that wrote none) or of another host is left
 * alone, and so is a live process's. Called by every new {@link RunPool}.
 * @returns The folders removed.
 */
export function removeStaleJobDirs(root: string = os.tmpdir()): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = fs.readdirSync(root);
  } catch {
    return removed;
  }
  const host = os.hostname();
  for (const name of names) {
    if (!name.startsWith(JOB_DIR_PREFIX)) continue;
    const dir = path.join(root, name);
    let owner: JobDirOwner;
    try {
      owner = JSON.parse(fs.readFileSync(path.join(dir, OWNER_FILE), 'utf8')) as JobDirOwner;
    } catch {
      continue;
    }
    if (!Number.isInteger(owner?.pid) || owner.pid <= 0 || owner.host !== host || (owner.start !== null && typeof owner.start !== 'string')) continue;
    if (ownerAlive(owner)) continue;
    try {
      fs.rmSync(dir, { recursive: true, force: true });
      removed.push(dir);
    } catch {
      // Not ours to fight over (permissions): left as it is.
    }
  }
  return removed;
}

/**
 * Writes `ds` to `file` for a child process: a JSON header line (rows, input shape, each
 * task's label width and whether it has a mask) then the raw inputs, labels and masks.
 */
export function writeDatasetFile(file: string, ds: MultiTaskDataset): void {
  const tasks = ds.taskNames.map((t) => ({ name: t, width: ds.labelWidth(t), mask: ds.mask(t) !== null }));
  const header = Buffer.from(JSON.stringify({ magic: MAGIC, rows: ds.length, inputShape: ds.inputShape, tasks }) + '\n');
  const fd = fs.openSync(file, 'w');
  try {
    const write = (a: ArrayBufferView): void => {
      const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
      for (let off = 0; off < bytes.length; ) off += fs.writeSync(fd, bytes, off, bytes.length - off);
    };
    write(header);
    write(ds.inputs);
    for (const t of ds.taskNames) write(ds.labels(t));
    for (const t of ds.taskNames) {
      const m = ds.mask(t);
      if (m) write(m);
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** Reads a dataset written by {@link writeDatasetFile}. @throws DatasetError on a file that is not one. */
export function readDatasetFile(file: string): MultiTaskDataset {
  const fd = fs.openSync(file, 'r');
  try {
    const head = Buffer.alloc(64 * 1024);
    const got = fs.readSync(fd, head, 0, head.length, 0);
    const nl = head.subarray(0, got).indexOf(10);
    if (nl < 0) throw new DatasetError(`${file}: no dataset header`);
    const h = JSON.parse(head.subarray(0, nl).toString('utf8')) as {
      magic: string;
      rows: number;
      inputShape: number[];
      tasks: { name: string; width: number; mask: boolean }[];
    };
    if (h.magic !== MAGIC) throw new DatasetError(`${file}: not a dataset file of compare's jobs`);
    let pos = nl + 1;
    const read = <T extends Float32Array | Uint8Array>(a: T): T => {
      const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
      for (let off = 0; off < bytes.length; ) {
        const n = fs.readSync(fd, bytes, off, bytes.length - off, pos + off);
        if (n === 0) throw new DatasetError(`${file}: cut short`);
        off += n;
      }
      pos += bytes.length;
      return a;
    };
    const inputs = read(new Float32Array(h.rows * h.inputShape.reduce((a, b) => a * b, 1)));
    const labels: Record<string, Float32Array> = {};
    const labelWidths: Record<string, number> = {};
    for (const t of h.tasks) {
      labels[t.name] = read(new Float32Array(h.rows * t.width));
      labelWidths[t.name] = t.width;
    }
    const masks: Record<string, Uint8Array> = {};
    for (const t of h.tasks) if (t.mask) masks[t.name] = read(new Uint8Array(h.rows));
    return new MultiTaskDataset({ inputs, inputShape: h.inputShape, labels, labelWidths, masks });
  } finally {
    fs.closeSync(fd);
  }
}

/** What a child is started with. */
export interface WorkerInit {
  /** The backend each child creates ('cpu' or 'reference'). */
  backend: string;
  /** Threads of its cpu backend. */
  threads: number;
  /** Dataset files by role: train and validation. */
  data: Record<string, string>;
}

/** One run sent to a child: the arguments of trainRun but the backend and the data. */
export type WorkerRun<J> = { type: 'run'; id: number; job: J };

/** The messages a child sends back. */
export type WorkerReply<R> =
  | { type: 'done'; id: number; record: R }
  | { type: 'error'; id: number; error: { name: string; message: string; stack?: string; step?: number; task?: string; path?: string } };

/** Errors a child reports, rebuilt as their own class in the parent. */
const ERRORS: Record<string, new (message: string) => Error> = {
  ShapeError,
  ValueError,
  ConfigError,
  LabelError,
  DatasetError,
  CheckpointError,
  BackendUnavailableError,
  KernelError,
  BusyError,
};

/** An error a child sent, as its own class where hydranet has it, its message prefixed with `prefix`. */
export function rebuildError(e: WorkerReply<unknown> & { type: 'error' }, prefix: string): Error {
  const { name, message } = e.error;
  const text = `${prefix}: ${message}`;
  let err: Error;
  if (name === 'NonFiniteLossError') err = new NonFiniteLossError(text, e.error.step ?? 0, e.error.task ?? '');
  else if (name === 'TrainingAbortedError') err = new TrainingAbortedError(text, e.error.step ?? 0);
  else if (name === 'FileWriteError') err = new FileWriteError(text, e.error.path ?? '');
  else if (name in ERRORS) err = new ERRORS[name](text);
  else {
    err = new HydranetError(`${text} (${name} in the child process)`);
  }
  return err;
}

/** One child process and what it is doing. */
interface Child {
  proc: ChildProcess;
  /** The run in progress, if any. */
  busy: { id: number; resolve: (r: unknown) => void; reject: (e: Error) => void; describe: string } | null;
  /** Whether it has been sent the test set. */
  hasTest: boolean;
  /** The last few KB of its stderr, for a crash report. */
  stderr: string;
}

/**
 * Up to `jobs` child processes training runs of one comparison. Children start on the first
 * run that needs one and are reused; {@link close} ends them and removes the dataset files.
 */
export class RunPool<J, R> {
  private readonly children: Child[] = [];
  private readonly dir: string;
  private readonly init: WorkerInit;
  private testFile: string | null = null;
  private nextId = 0;
  private closed = false;
  /** Removes the folder on a process exit that did not close the pool first (process.exit, an uncaught error). */
  private readonly onExit = (): void => {
    fs.rmSync(this.dir, { recursive: true, force: true });
  };

  /**
   * @param jobs Children at most.
   * @param backend 'cpu' or 'reference'.
   * @param threads Threads of each child's cpu backend.
   * @param data The training and validation sets, written to temporary files now, in a folder
   *   of os.tmpdir() marked with this process as its owner (after the folders of dead owners
   *   there are removed: {@link removeStaleJobDirs}).
   */
  constructor(
    readonly jobs: number,
    backend: string,
    threads: number,
    data: { train: MultiTaskDataset; validation: MultiTaskDataset },
  ) {
    removeStaleJobDirs();
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), JOB_DIR_PREFIX));
    const files: Record<string, string> = {};
    try {
      const owner: JobDirOwner = { pid: process.pid, start: processStart(process.pid), host: os.hostname() };
      fs.writeFileSync(path.join(this.dir, OWNER_FILE), JSON.stringify(owner));
      for (const [role, ds] of Object.entries(data)) {
        files[role] = path.join(this.dir, `${role}.bin`);
        writeDatasetFile(files[role], ds);
      }
    } catch (e) {
      fs.rmSync(this.dir, { recursive: true, force: true });
      throw e;
    }
    this.init = { backend, threads, data: files };
    process.once('exit', this.onExit);
  }

  /** Makes the test set available to the runs from now on (written once, sent to each child before its first run that needs it). */
  setTest(test: MultiTaskDataset): void {
    if (this.testFile !== null) return;
    const file = path.join(this.dir, 'test.bin');
    writeDatasetFile(file, test);
    this.testFile = file;
  }

  /**
   * Trains `job` in a free child; resolves with the record it sends back. Rejects with the
   * child's error (its class kept, the message prefixed with `label`) or, when the child
   * exits or is killed mid-run, an error naming `label`, its pid, its exit and the end of its stderr.
   */
  run(job: J, label: string, needsTest: boolean): Promise<R> {
    if (this.closed) return Promise.reject(new HydranetError(`${label}: the pool of child processes is closed`));
    let child = this.children.find((c) => c.busy === null);
    if (!child) {
      if (this.children.length >= this.jobs) return Promise.reject(new HydranetError(`${label}: no free child process`));
      child = this.start();
    }
    if (needsTest && !child.hasTest) {
      if (this.testFile === null) return Promise.reject(new HydranetError(`${label}: the test set is not available yet`));
      child.proc.send({ type: 'test', file: this.testFile });
      child.hasTest = true;
    }
    const id = this.nextId++;
    const c = child;
    return new Promise<R>((resolve, reject) => {
      c.busy = { id, resolve: resolve as (r: unknown) => void, reject, describe: label };
      c.proc.send({ type: 'run', id, job } satisfies WorkerRun<J>);
    });
  }

  private start(): Child {
    const worker = fileURLToPath(new URL('./compare-worker.js', import.meta.url));
    // The parent's node flags (a heap limit, say), but not an inspector: each child would ask for the parent's port.
    const execArgv = process.execArgv.filter((a) => !a.startsWith('--inspect'));
    const proc = fork(worker, [], { serialization: 'advanced', stdio: ['ignore', 'ignore', 'pipe', 'ipc'], execArgv });
    const child: Child = { proc, busy: null, hasTest: false, stderr: '' };
    proc.stderr?.on('data', (chunk: Buffer) => {
      child.stderr = (child.stderr + chunk.toString('utf8')).slice(-4000);
    });
    proc.on('message', (msg: WorkerReply<R>) => {
      const busy = child.busy;
      if (!busy || msg.id !== busy.id) return;
      child.busy = null;
      if (msg.type === 'done') busy.resolve(msg.record);
      else busy.reject(rebuildError(msg, busy.describe));
    });
    const gone = (how: string): void => {
      const i = this.children.indexOf(child);
      if (i >= 0) this.children.splice(i, 1);
      const busy = child.busy;
      child.busy = null;
      if (busy) {
        const tail = child.stderr.trim().split('\n').slice(-5).join('\n');
        busy.reject(new HydranetError(`${busy.describe}: its child process (pid ${proc.pid}) ${how}${tail ? `; its last output:\n${tail}` : ''}`));
      }
    };
    proc.on('exit', (code, signal) => gone(signal ? `was killed by ${signal}` : `exited with status ${code}`));
    proc.on('error', (e) => gone(`failed: ${e.message}`));
    proc.send({ type: 'init', init: this.init });
    this.children.push(child);
    return child;
  }

  /** Kills every child (a run in progress rejects) and removes the folder of dataset files. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const c of [...this.children]) {
      if (c.busy) {
        const busy = c.busy;
        c.busy = null;
        busy.reject(new TrainingAbortedError(`${busy.describe}: stopped`, 0));
      }
      c.proc.kill('SIGKILL');
    }
    this.children.length = 0;
    process.off('exit', this.onExit);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
