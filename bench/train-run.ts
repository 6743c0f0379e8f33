/**
 * hydranet's MultiMNIST runner for the time-to-accuracy and parity benchmark (see MNIST_RUN in
 * workloads.ts), run by the bench as its own process so that its peak RSS is its own:
 *   node dist/bench/train-run.js --backend cpu|webgpu|cuda|reference --epochs E --seed S
 *        [--train-size N] [--test-size M] [--weights W1,W2] [--init FILE] [--threads T]
 * Trains with Trainer.fit exactly as `hydranet train` does (same datasets, model, optimizer,
 * shuffling), validating after every epoch. --init writes the initial weights (a hydranet
 * checkpoint) before training, for the tfjs runner to start from. Prints one JSON line
 * (MnistRunResult).
 */
import { type BackendName, createBackend } from '../ts/backends/create.js';
import { MultiTaskModel } from '../ts/mtl/model.js';
import { Rng } from '../ts/core/random.js';
import { saveCheckpoint } from '../ts/io/checkpoint.js';
import { Trainer } from '../ts/train/trainer.js';
import { childMain, peakRss } from './child.js';
import { MNIST_RUN, type MnistRunResult, mnistRunSetup } from './workloads.js';

async function main(): Promise<MnistRunResult> {
  const started = performance.now();
  const { flags, seed, epochs, weights, train, test, dataRss } = mnistRunSetup(process.argv.slice(2));
  const name = (flags.backend ?? 'cpu') as BackendName;
  const backend = await createBackend(name, flags.threads ? { threads: Number(flags.threads) } : {});
  const model = new MultiTaskModel(backend, {
    inputShape: [28, 28],
    trunk: MNIST_RUN.trunk.map((units) => ({ type: 'dense' as const, units, activation: 'relu' as const })),
    heads: { hidden: [] },
    tasks: MNIST_RUN.tasks.map((task, t) => ({ name: task, kind: 'classification' as const, classes: MNIST_RUN.classes, weight: weights[t] })),
    maxBatch: MNIST_RUN.batch,
    seed,
  });
  if (flags.init) await saveCheckpoint(flags.init, model, null, { epoch: 0, step: 0, rngState: new Rng(0).getState() });
  const trainer = new Trainer(model, {
    optimizer: { kind: 'sgd', lr: MNIST_RUN.lr, momentum: MNIST_RUN.momentum },
    batchSize: MNIST_RUN.batch,
    epochs,
    seed,
    progress: false,
    log: null,
    lossCheckEvery: MNIST_RUN.readEvery,
  });
  const setup = (performance.now() - started) / 1000;
  const history = await trainer.fit(train, { validation: test });
  const extra = backend as unknown as { threads?: number; adapter?: MnistRunResult['adapter'] };
  const result: MnistRunResult = {
    system: 'hydranet',
    backend: name,
    threads: typeof extra.threads === 'number' ? extra.threads : undefined,
    epochs: history.map((r) => ({
      epoch: r.epoch,
      seconds: r.seconds,
      loss: MNIST_RUN.tasks.reduce((sum, t, i) => sum + weights[i] * r.train[t], 0),
      accuracy: MNIST_RUN.tasks.map((t) => r.validation?.[t]?.accuracy ?? NaN),
    })),
    train_size: train.length,
    test_size: test.length,
    setup_seconds: setup,
    peak_rss: peakRss(),
    data_rss: dataRss,
    device_bytes: backend.deviceBytes() ?? undefined,
    adapter: extra.adapter ? { ...extra.adapter } : undefined,
  };
  backend.dispose();
  return result;
}

childMain(main, { system: 'hydranet' });
