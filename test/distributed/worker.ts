/**
 * The processes that test/distributed/*.spec.ts start, under `mpirun -np N` or alone:
 *   node worker.js collectives OUT        all-reduce / broadcast / all-gather / Iallreduce results per rank
 *   node worker.js train WEIGHTING BATCH DIST OUT [N]
 *                                         trains a tiny two-task model for 2 epochs with batch
 *                                         BATCH (per rank when DIST is 1, under DataParallel);
 *                                         every rank writes its final parameters and history to
 *                                         OUT.<rank>; N samples (default 64)
 *   node worker.js overlap WEIGHTING ON OUT [embedding]
 *                                         as train with batch 4 per rank on 2 ranks, but a trunk of
 *                                         three wide layers (2.1 MB of gradients, three 1 MB buckets)
 *                                         and DataParallel's overlap ON (1) or off (0); with
 *                                         `embedding`, column 7 is a category looked up in a table
 *   node worker.js validate OUT           trains 2 epochs on 2 ranks with a validation set of 37
 *                                         samples (3 batches of ≤ 16: not a multiple of 2 ranks), a
 *                                         masked binary task (accuracy, AUC, F1), a 3-class task and a
 *                                         regression (MSE, MAE); writes each epoch's (sharded)
 *                                         validation, trainer.evaluate's (every rank evaluates every
 *                                         batch) at the end, and the evaluation forward passes of fit
 *   node worker.js stop HOW EVERY OUT     2 ranks, stopEvery EVERY; after step 5 rank 1 alone asks to
 *                                         stop: HOW 'callback' (control.stop()) or 'signal' (its
 *                                         AbortSignal); every rank writes where its run ended
 *   node worker.js nccl OUT               one rank on the cuda backend: NCCL's all-reduce (average and
 *                                         sum) and broadcast of a device tensor, then a short fit with
 *                                         DataParallel, which must pick NCCL (needs a GPU and NCCL)
 *   node worker.js die                    rank 1 exits at once, the others all-reduce (a dead peer)
 *   node worker.js mismatch               rank 1 has a smaller training set (a configuration check)
 *   node worker.js resume DIR [CHECKPOINT] trains 1 epoch into DIR, or resumes CHECKPOINT to epoch 2
 * Each writes one JSON file per rank (OUT.<rank>) or prints what happened.
 */
import * as fs from 'node:fs';
import type { Backend } from '../../ts/backends/backend.js';
import { createBackend } from '../../ts/backends/create.js';
import { Rng } from '../../ts/core/random.js';
import { MultiTaskDataset } from '../../ts/data/dataset.js';
import { DataParallel } from '../../ts/distributed/data-parallel.js';
import { MpiWorld, loadMpiAddon } from '../../ts/distributed/mpi.js';
import { NcclComm } from '../../ts/distributed/nccl.js';
import { type LayerSpec, MultiTaskModel } from '../../ts/mtl/model.js';
import { Trainer } from '../../ts/train/trainer.js';

/** A seeded dataset of n samples, 8 features: a 3-class task "a" and a regression task "b". */
function dataset(n: number, categorical = false): MultiTaskDataset {
  const rng = new Rng(11);
  const inputs = Float32Array.from({ length: n * 8 }, () => rng.uniform() * 2 - 1);
  if (categorical) for (let i = 0; i < n; i++) inputs[i * 8 + 7] = i % 5; // column 7: a category of 5 (the embedding runs)
  const a = new Float32Array(n);
  const b = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    a[i] = (inputs[i * 8] + inputs[i * 8 + 1] > 0 ? 1 : 0) + (inputs[i * 8 + 2] > 0.5 ? 1 : 0);
    b[i] = inputs[i * 8 + 3] - 0.5 * inputs[i * 8 + 4];
  }
  return new MultiTaskDataset({ inputs, inputShape: [8], labels: { a, b } });
}

/** The two-task model of these runs (a 3-class task "a", a regression "b"), on `backend`. */
function model2(backend: Backend, seed: number, trunk: LayerSpec[] = [{ type: 'dense', units: 16, activation: 'tanh' }], embedding = false): MultiTaskModel {
  return new MultiTaskModel(backend, {
    inputShape: [8],
    trunk,
    ...(embedding && { embedding: { fields: [{ column: 7, vocab: 5, dim: 4 }] } }),
    tasks: [
      { name: 'a', kind: 'classification', classes: 3 },
      { name: 'b', kind: 'regression', outputs: 1 },
    ],
    maxBatch: 16,
    seed,
  });
}

/** The trunk of the overlap runs: three wide layers, so that the gradients fill three 1 MB buckets. */
const WIDE: LayerSpec[] = [
  { type: 'dense', units: 512, activation: 'tanh' },
  { type: 'dense', units: 512, activation: 'tanh' },
  { type: 'dense', units: 512, activation: 'tanh' },
];

async function train(
  weighting: string,
  batch: number,
  dist: boolean,
  out: string,
  n = 64,
  resume: { runDir: string; from?: string } | null = null,
  wide: { overlap: boolean; embedding: boolean } | null = null,
): Promise<void> {
  const parallel = dist ? DataParallel.init({ timeoutMs: 20_000, ...(wide && { overlap: wide.overlap, bucketMB: 1 }) }) : null;
  const backend = await createBackend('cpu', { threads: 1 }).catch(() => createBackend('reference'));
  // Ranks start apart: the broadcast must unify them.
  const model = model2(backend, parallel ? 100 + parallel.rank : 100, wide ? WIDE : undefined, wide?.embedding);
  const trainer = new Trainer(model, {
    optimizer: { kind: 'sgd', lr: 0.05, momentum: 0.9 },
    batchSize: batch,
    epochs: resume?.from ? 2 : resume ? 1 : 2,
    seed: 3,
    weighting,
    log: null,
    runDir: resume?.runDir ?? null,
    distributed: parallel,
  });
  const history = await trainer.fit(dataset(n, wide?.embedding), resume?.from ? { resumeFrom: resume.from } : {});
  const params = await backend.read(model.params.values);
  const rank = parallel?.rank ?? 0;
  fs.writeFileSync(`${out}.${rank}`, JSON.stringify({ params: Array.from(params), history, stats: parallel?.stats ?? null }));
  parallel?.world.finalize();
}

async function validate(out: string): Promise<void> {
  const parallel = DataParallel.init({ timeoutMs: 20_000 });
  const backend = await createBackend('cpu', { threads: 1 }).catch(() => createBackend('reference'));
  const model = new MultiTaskModel(backend, {
    inputShape: [8],
    trunk: [{ type: 'dense', units: 16, activation: 'tanh' }],
    tasks: [
      { name: 'a', kind: 'classification', classes: 3, metrics: ['accuracy'] },
      { name: 'b', kind: 'regression', outputs: 1, metrics: ['mse', 'mae'] },
      { name: 'c', kind: 'binary', metrics: ['accuracy', 'auc', 'f1'] },
    ],
    maxBatch: 16,
    seed: 100,
  });
  const data = (n: number, seed: number): MultiTaskDataset => {
    const rng = new Rng(seed);
    const inputs = Float32Array.from({ length: n * 8 }, () => rng.uniform() * 2 - 1);
    const a = Float32Array.from({ length: n }, (_, i) => (inputs[i * 8] + inputs[i * 8 + 1] > 0 ? 1 : 0) + (inputs[i * 8 + 2] > 0.5 ? 1 : 0));
    const b = Float32Array.from({ length: n }, (_, i) => inputs[i * 8 + 3] - 0.5 * inputs[i * 8 + 4]);
    const c = Float32Array.from({ length: n }, (_, i) => (inputs[i * 8 + 5] > 0 ? 1 : 0));
    const mask = Uint8Array.from({ length: n }, (_, i) => (i % 5 === 3 ? 0 : 1));
    return new MultiTaskDataset({ inputs, inputShape: [8], labels: { a, b, c }, masks: { c: mask } });
  };
  const trainer = new Trainer(model, { optimizer: { kind: 'sgd', lr: 0.05 }, batchSize: 4, epochs: 2, seed: 3, log: null, distributed: parallel });
  let forwards = 0;
  const forward = model.forward.bind(model);
  model.forward = (n, step) => {
    if (step === undefined) forwards++; // evaluation batches (training steps pass a step context)
    return forward(n, step);
  };
  const validation = data(37, 12);
  const history = await trainer.fit(data(64, 11), { validation });
  const fitForwards = forwards;
  const evaluated = await trainer.evaluate(validation);
  fs.writeFileSync(`${out}.${parallel.rank}`, JSON.stringify({ validation: history.map((r) => r.validation), evaluated, fitForwards }));
  parallel.world.finalize();
}

async function stopRun(how: string, every: number, out: string): Promise<void> {
  const parallel = DataParallel.init({ timeoutMs: 20_000, stopEvery: every });
  const backend = await createBackend('cpu', { threads: 1 }).catch(() => createBackend('reference'));
  const model = model2(backend, 0);
  const controller = new AbortController();
  const trainer = new Trainer(model, {
    optimizer: { kind: 'sgd', lr: 0.05 },
    batchSize: 4,
    epochs: 3,
    seed: 3,
    log: null,
    distributed: parallel,
    callbacks: {
      stepEvery: 1,
      onStepEnd: (info, control) => {
        if (parallel.rank !== 1 || info.step !== 5) return;
        if (how === 'callback') control.stop();
        else controller.abort();
      },
    },
  });
  let result: Record<string, unknown>;
  try {
    const history = await trainer.fit(dataset(64), { signal: controller.signal });
    result = { epochs: history.length, step: history.at(-1)!.step, stoppedBy: history.at(-1)!.stoppedBy ?? null };
  } catch (e) {
    result = { error: (e as Error).constructor.name, step: (e as { step?: number }).step ?? null, message: (e as Error).message };
  }
  fs.writeFileSync(`${out}.${parallel.rank}`, JSON.stringify(result));
  parallel.world.finalize();
}

async function ncclSmoke(out: string): Promise<void> {
  const world = MpiWorld.init({ timeoutMs: 20_000 });
  const backend = await createBackend('cuda');
  let result: Record<string, unknown>;
  try {
    const comm = NcclComm.init(world, backend);
    const t = backend.alloc([4]);
    backend.write(t, Float32Array.from([1, -2.5, NaN, 1e30]));
    comm.allReduce(t);
    const averaged = Array.from(await backend.read(t)).map(String);
    comm.allReduce(t, false);
    const summed = Array.from(await backend.read(t)).map(String);
    comm.broadcast(t, 0);
    const broadcast = Array.from(await backend.read(t)).map(String);
    comm.destroy();
    const parallel = new DataParallel(world, { timeoutMs: 20_000 });
    const model = model2(backend, 0);
    const trainer = new Trainer(model, { optimizer: { kind: 'sgd', lr: 0.05 }, batchSize: 8, epochs: 1, seed: 3, log: null, distributed: parallel });
    const history = await trainer.fit(dataset(64));
    result = { averaged, summed, broadcast, engine: parallel.engine, steps: parallel.stats.steps, train: history[0].train };
  } catch (e) {
    result = { error: (e as Error).constructor.name, message: (e as Error).message };
  }
  fs.writeFileSync(`${out}.0`, JSON.stringify(result));
  world.finalize();
}

function collectives(out: string): void {
  const w = MpiWorld.init({ timeoutMs: 20_000 });
  const f32 = Float32Array.from({ length: 1000 }, (_, i) => i * (w.rank + 1));
  w.sum(f32);
  const f64 = Float64Array.from([w.rank, 1e-300, 0.5]);
  w.sum(f64);
  const nan = new Float32Array([w.rank === 1 ? NaN : 1]);
  w.sum(nan);
  const bcast = new Float32Array([w.rank, w.rank * 2]);
  w.broadcast(bcast, w.size - 1);
  const json = w.broadcastJson(w.rank === 0 ? { hello: [1, 2, 'x'] } : null);
  const gathered = w.allgather([w.rank, w.rank * 10]);
  const buckets = [new Float32Array(5).fill(w.rank + 1), new Float32Array(3).fill(2 * (w.rank + 1))];
  const pending = buckets.map((b, i) => w.startSum(b, `bucket ${i}`));
  for (const p of pending) w.finish(p);
  // Polled to completion (MPI_Test), then finished: wait() on a completed request returns at once.
  const polledArray = new Float32Array([w.rank + 1]);
  const polled = w.startSum(polledArray, 'a polled sum');
  while (!w.poll(polled));
  w.finish(polled);
  const refused = (f: () => void): string => {
    try {
      f();
      return 'accepted';
    } catch (e) {
      return `${(e as Error).constructor.name}: ${(e as Error).message}`;
    }
  };
  const addon = loadMpiAddon();
  const badType = refused(() => w.sum(new Int32Array(2) as unknown as Float32Array));
  const badArgs = [
    refused(() => addon.allgather(new Float64Array(2), new Float64Array(2 * w.size + 1), 1000)),
    refused(() => addon.broadcast(new Float32Array(1), w.size, 1000)),
    refused(() => addon.wait(12345, 1000)),
    refused(() => addon.test(12345)),
    refused(() => addon.allreduceSum(new Float32Array(1), -1)),
    refused(() => (addon.allreduceSum as unknown as (a: unknown) => void)(new Float32Array(1))),
  ];
  w.barrier();
  fs.writeFileSync(
    `${out}.${w.rank}`,
    JSON.stringify({
      rank: w.rank,
      size: w.size,
      f32: Array.from(f32),
      f64: Array.from(f64),
      nan: Array.from(nan).map(String),
      bcast: Array.from(bcast),
      json,
      gathered,
      buckets: buckets.map((b) => Array.from(b)),
      polled: polledArray[0],
      badType,
      badArgs,
    }),
  );
  w.finalize();
}

function die(): void {
  const w = MpiWorld.init({ timeoutMs: 3000 });
  if (w.rank === 1) process.exit(3);
  try {
    w.sum(new Float32Array(4));
    console.log(`rank ${w.rank}: the all-reduce returned`);
  } catch (e) {
    console.log(`rank ${w.rank}: ${(e as Error).constructor.name}: ${(e as Error).message}`);
    process.exit(2);
  }
}

/** After an error every rank threw alike: every rank's output is out before any exits (mpirun ends the job at the first exit without MPI_Finalize). */
function endCleanly(): void {
  const w = MpiWorld.init({ timeoutMs: 20_000 });
  w.barrier();
  w.finalize();
}

async function mismatch(out: string): Promise<void> {
  try {
    await train('equal', 4, true, out, DataParallel.init().rank === 1 ? 60 : 64);
  } catch (e) {
    console.log(`${(e as Error).constructor.name}: ${(e as Error).message}`);
    endCleanly();
  }
}

/** Trains one epoch into runDir, or (from set) resumes its checkpoint: prints the error, if any. */
async function resume(runDir: string, from: string | undefined): Promise<void> {
  try {
    await train('equal', 4, true, `${runDir}/result`, 64, { runDir, from });
    console.log('resumed: ok');
  } catch (e) {
    console.log(`${(e as Error).constructor.name}: ${(e as Error).message}`);
    endCleanly();
  }
}

const [mode, ...args] = process.argv.slice(2);
if (mode === 'collectives') collectives(args[0]);
else if (mode === 'train') await train(args[0], Number(args[1]), args[2] === '1', args[3], args[4] === undefined ? 64 : Number(args[4]));
else if (mode === 'overlap') await train(args[0], 4, true, args[2], 64, null, { overlap: args[1] === '1', embedding: args[3] === 'embedding' });
else if (mode === 'validate') await validate(args[0]);
else if (mode === 'stop') await stopRun(args[0], Number(args[1]), args[2]);
else if (mode === 'nccl') await ncclSmoke(args[0]);
else if (mode === 'die') die();
else if (mode === 'mismatch') await mismatch(args[0]);
else if (mode === 'resume') await resume(args[0], args[1]);
else throw new Error(`unknown mode ${mode}`);
