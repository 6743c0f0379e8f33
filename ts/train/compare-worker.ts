/**
 * The child process of compare()'s `jobs` (started by RunPool, ts/train/compare-jobs.ts with
 * child_process.fork; not a module to import): it creates its backend and reads the training
 * and validation sets once ('init'), the test set when told ('test'), then trains one run at
 * a time ('run') with trainRun, the function compare() uses in process, and sends back the
 * run's record or its error. It ignores SIGINT (the parent stops it) and exits when the
 * parent's IPC channel closes.
 */
import type { Backend } from '../backends/backend.js';
import { createBackend } from '../backends/create.js';
import type { MultiTaskDataset } from '../data/dataset.js';
import { type WorkerInit, type WorkerReply, type WorkerRun, readDatasetFile } from './compare-jobs.js';
import { type RunJob, type RunRecord, trainRun } from './compare.js';

type Message = { type: 'init'; init: WorkerInit } | { type: 'test'; file: string } | WorkerRun<RunJob>;

if (typeof process.send !== 'function') {
  process.stderr.write('compare-worker: a child process of compare() jobs, started by it; not a command\n');
  process.exit(2);
}

process.on('SIGINT', () => {});
process.on('disconnect', () => process.exit(0));

let backend: Backend | null = null;
const data: { train?: MultiTaskDataset; validation?: MultiTaskDataset; test?: MultiTaskDataset } = {};

const reply = (msg: WorkerReply<RunRecord>): void => {
  process.send!(msg);
};

async function handle(msg: Message): Promise<void> {
  if (msg.type === 'init') {
    backend = await createBackend(msg.init.backend, { threads: msg.init.threads });
    data.train = readDatasetFile(msg.init.data.train);
    data.validation = readDatasetFile(msg.init.data.validation);
  } else if (msg.type === 'test') {
    data.test = readDatasetFile(msg.file);
  } else {
    try {
      const record = await trainRun(backend!, msg.job, { train: data.train!, validation: data.validation!, ...(data.test && { test: data.test }) });
      reply({ type: 'done', id: msg.id, record });
    } catch (e) {
      const err = e as Error & { step?: number; task?: string; path?: string };
      reply({
        type: 'error',
        id: msg.id,
        error: {
          name: err?.name ?? 'Error',
          message: err?.message ?? String(e),
          ...(err?.stack !== undefined && { stack: err.stack }),
          ...(typeof err?.step === 'number' && { step: err.step }),
          ...(typeof err?.task === 'string' && { task: err.task }),
          ...(typeof err?.path === 'string' && { path: err.path }),
        },
      });
    }
  }
}

// One message after another: a run starts only once init (and any test set sent before it) is done.
let queue: Promise<void> = Promise.resolve();
process.on('message', (msg: Message) => {
  queue = queue.then(() => handle(msg)).catch((e: unknown) => {
    // init or test failed (a file unreadable, the backend unavailable): nothing can run here.
    process.stderr.write(`compare-worker: ${(e as Error)?.stack ?? String(e)}\n`);
    process.exit(1);
  });
});
