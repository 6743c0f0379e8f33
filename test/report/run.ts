/**
 * A short real run for the report specs: a tiny MLP on MultiMNIST (two main tasks and an
 * auxiliary one), trained 2 epochs with uncertainty weighting, a cosine schedule, auxiliary-task
 * stopping and the affinity probe, into a run folder with its confusion.json and report.html.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Backend } from '../../ts/backends/backend.js';
import { createBackend } from '../../ts/backends/create.js';
import { BackendUnavailableError } from '../../ts/errors.js';
import { makeMultiMnist, multiMnistTaskSpecs } from '../../ts/data/multimnist.js';
import { MultiTaskModel } from '../../ts/mtl/model.js';
import { describeEnvironment } from '../../ts/report/run-folder.js';
import { type WrittenReport, finishReport, reportCallbacks, writeEnvironment } from '../../ts/report/write.js';
import { Trainer } from '../../ts/train/trainer.js';

/** The charts the short run's report must draw. */
export const SHORT_RUN_CHARTS = [
  'loss', 'validation', 'weights', 'weighting-state', 'lr', 'stopping',
  'confusion-left', 'confusion-right', 'confusion-left-parity', 'affinity-lookahead',
];

/** Trains the short run into a fresh folder and writes its report; the folder and what writeReport said. */
export async function shortRun(): Promise<{ dir: string; report: WrittenReport }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hydranet-report-'));
  let backend: Backend;
  try {
    backend = await createBackend('cpu');
  } catch (e) {
    if (!(e instanceof BackendUnavailableError)) throw e;
    backend = await createBackend('reference'); // the tiny MLP trains in a few seconds there too
  }
  const names = ['left', 'right', 'left-parity'] as const;
  const tasks = [...multiMnistTaskSpecs(['left', 'right']), { ...multiMnistTaskSpecs(['left-parity'])[0], auxiliary: true }];
  const model = new MultiTaskModel(backend, { inputShape: [28, 28], trunk: [{ type: 'dense', units: 16, activation: 'relu' }], tasks, maxBatch: 64, seed: 1 });
  writeEnvironment(dir, describeEnvironment(backend, ['test/report/run.ts']));
  const trainer = new Trainer(model, {
    optimizer: { kind: 'sgd', lr: 0.05, momentum: 0.9 }, batchSize: 64, epochs: 2, seed: 1, weighting: 'uncertainty',
    lrSchedule: { kind: 'cosine' }, auxiliaryStopping: { k: 1, threshold: 1 }, affinity: { method: 'lookahead', every: 2 },
    runDir: dir, progress: false, log: null, callbacks: reportCallbacks(dir),
  });
  const train = makeMultiMnist({ split: 'train', seed: 1, count: 384, tasks: [...names] });
  const validation = makeMultiMnist({ split: 'test', seed: 2, count: 256, tasks: [...names] });
  try {
    await trainer.fit(train, { validation });
    const report = await finishReport(dir, { backend, validation, warn: (line) => { throw new Error(line); } });
    return { dir, report: report! };
  } finally {
    backend.dispose();
  }
}
