/**
 * The processes that test/distributed/*.spec.ts start, under `mpirun -np N` or alone:
 *   node worker.js collectives OUT        all-reduce / broadcast / all-gather / Iallreduce results per rank
 *   node worker.js train WEIGHTING BATCH DIST OUT [N]
 *                                         trains a tiny two-task model for 2 epochs with batch
 *                                         BATCH (per rank when DIST is 1, under DataParallel);
 *                                         every rank writes its final parameters and history to
 *                                         OUT.<rank>; N samples (default 64)
 *   node worker.js die                    rank 1 exits at once, the others all-reduce (a dead peer)
 *   node worker.js mismatch               rank 1 has a smaller training set (a configuration check)
 *   node worker.js resume DIR [CHECKPOINT] trains 1 epoch into DIR, or resumes CHECKPOINT to epoch 2
 * Each writes one JSON file per rank (OUT.<rank>) or prints what happened.
 */
import * as fs from 'node:fs';
import { createBackend } from '../../ts/backends/create.js';
import { Rng } from '../../ts/core/random.js';
import { MultiTaskDataset } from '../../ts/data/dataset.js';
import { DataParallel } from '../../ts/distributed/data-parallel.js';
import { MpiWorld, loadMpiAddon } from '../../ts/distributed/mpi.js';
import { MultiTaskModel } from '../../ts/mtl/model.js';
import { Trainer } from '../../ts/train/trainer.js';

/** A seeded dataset of n samples, 8 features: a 3-class task "a" and a regression task "b". */
function dataset(n: number): MultiTaskDataset {
  const rng = new Rng(11);
  const inputs = Float32Array.from({ length: n * 8 }, () => rng.uniform() * 2 - 1);
  const a = new Float32Array(n);
  const b = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    a[i] = (inputs[i * 8] + inputs[i * 8 + 1] > 0 ? 1 : 0) + (inputs[i * 8 + 2] > 0.5 ? 1 : 0);
    b[i] = inputs[i * 8 + 3] - 0.5 * inputs[i * 8 + 4];
  }
  return new MultiTaskDataset({ inputs, inputShape: [8], labels: { a, b } });
}

async function train(weighting: string, batch: number, dist: boolean, out: string, n = 64, resume: { runDir: string; from?: string } | null = null): Promise<void> {
  const parallel = dist ? DataParallel.init({ timeoutMs: 20_000 }) : null;
  const backend = await createBackend('cpu', { threads: 1 }).catch(() => createBackend('reference'));
  const model = new MultiTaskModel(backend, {
    inputShape: [8],
    trunk: [{ type: 'dense', units: 16, activation: 'tanh' }],
    tasks: [
      { name: 'a', kind: 'classification', classes: 3 },
      { name: 'b', kind: 'regression', outputs: 1 },
    ],
    maxBatch: 16,
    seed: parallel ? 100 + parallel.rank : 100, // ranks start apart: the broadcast must unify them
  });
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
  const history = await trainer.fit(dataset(n), resume?.from ? { resumeFrom: resume.from } : {});
  const params = await backend.read(model.params.values);
  const rank = parallel?.rank ?? 0;
  fs.writeFileSync(`${out}.${rank}`, JSON.stringify({ params: Array.from(params), history, stats: parallel?.stats ?? null }));
  parallel?.world.finalize();
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
else if (mode === 'die') die();
else if (mode === 'mismatch') await mismatch(args[0]);
else if (mode === 'resume') await resume(args[0], args[1]);
else throw new Error(`unknown mode ${mode}`);
