/**
 * Data-parallel throughput over MPI (ts/distributed) on the W1 / W2 workloads of
 * bench/workloads.ts, trained through Trainer.fit on a synthetic data set (random inputs in
 * [0, 1), random labels; SGD with momentum as the workloads):
 *
 *   node dist/bench/distributed/throughput.js --workload W1 --threads 2            one process
 *   mpirun -np 2 node dist/bench/distributed/throughput.js --workload W1 --threads 1 --distributed
 *
 * The global batch is the workload's (W1 256, W2 1024): with --distributed each of the N ranks
 * trains batch/N per step. One warm-up epoch, then `--epochs` timed epochs of `--steps` global
 * steps; prints (rank 0) one JSON line: samples per second (median over the timed epochs), and
 * with --distributed the seconds per step spent in the gradient all-reduce (waiting for the
 * slower rank included) and the bytes all-reduced per step and rank, and how many gradient
 * buckets per step started during the backward pass (overlap; --no-overlap starts them all
 * after it, as before; --stop-every N agrees on stop requests every N steps instead of every one).
 *
 *   mpirun -np 2 node dist/bench/distributed/throughput.js --workload W1 --distributed --allreduce-only
 *
 * times the gradient all-reduce alone (the model's gradient arena in its buckets, 50 times after
 * 5 warm-ups, no training between): the communication cost without waiting for a slower rank;
 * and the same for the per-step stop agreement (an all-reduce of two numbers).
 */
import { parseArgs } from 'node:util';
import { MultiTaskDataset, MultiTaskModel, Rng, Trainer, createBackend } from '../../ts/index.js';
import { DataParallel } from '../../ts/distributed/data-parallel.js';
import { summarize } from '../stats.js';
import { OPTIMIZER, WORKLOADS, describeWorkload } from '../workloads.js';

const { values } = parseArgs({
  options: {
    workload: { type: 'string', default: 'W1' },
    threads: { type: 'string', default: '1' },
    steps: { type: 'string', default: '20' },
    epochs: { type: 'string', default: '3' },
    distributed: { type: 'boolean', default: false },
    'bucket-mb': { type: 'string', default: '8' },
    'allreduce-only': { type: 'boolean', default: false },
    'no-overlap': { type: 'boolean', default: false },
    'stop-every': { type: 'string', default: '1' },
  },
});
const w = WORKLOADS.find((x) => x.name === values.workload);
if (!w || w.name === 'W3') throw new Error(`Expected W1 or W2 for --workload but received ${values.workload}`);
const parallel = values.distributed
  ? DataParallel.init({ bucketMB: Number(values['bucket-mb']), overlap: !values['no-overlap'], stopEvery: Number(values['stop-every']) })
  : null;
const ranks = parallel?.size ?? 1;
if (w.batch % ranks !== 0) throw new Error(`the global batch ${w.batch} does not split over ${ranks} ranks`);
const steps = Number(values.steps);
const backend = await createBackend('cpu', { threads: Number(values.threads) });
const model = new MultiTaskModel(backend, {
  inputShape: w.input,
  trunk: w.trunk.map((units) => ({ type: 'dense' as const, units, activation: 'relu' as const })),
  tasks: Array.from({ length: w.heads }, (_, t) => ({ name: `task${t}`, kind: 'classification' as const, classes: w.classes })),
  maxBatch: w.batch / ranks,
  seed: 1,
});
const rng = new Rng(2);
const n = steps * w.batch;
const labels = Object.fromEntries(Array.from({ length: w.heads }, (_, t) => [`task${t}`, Float32Array.from({ length: n }, () => rng.int(w.classes))]));
const data = new MultiTaskDataset({ inputs: rng.uniformArray(n * w.input), inputShape: [w.input], labels });
if (values['allreduce-only']) {
  if (!parallel) throw new Error('--allreduce-only needs --distributed');
  const times: number[] = [];
  const flagTimes: number[] = [];
  const flags = new Float64Array(2);
  for (let i = 0; i < 55; i++) {
    parallel.world.barrier();
    const t0 = performance.now();
    await parallel.reduceGradients(model);
    if (i >= 5) times.push((performance.now() - t0) / 1000);
    parallel.world.barrier();
    const t1 = performance.now();
    parallel.agreeStop(flags);
    if (i >= 5) flagTimes.push((performance.now() - t1) / 1000);
  }
  if (parallel.rank === 0) {
    const s = summarize(times);
    console.log(
      JSON.stringify({
        workload: w.name,
        ranks,
        parameters: model.params.arenaSize,
        bytes: 4 * model.params.arenaSize,
        bucketMB: Number(values['bucket-mb']),
        secondsMedian: s.median,
        secondsMin: Math.min(...times),
        stopFlagSecondsMedian: summarize(flagTimes).median,
        stopFlagSecondsMin: Math.min(...flagTimes),
      }),
    );
  }
  parallel.world.finalize();
  process.exit(0);
}
const trainer = new Trainer(model, { optimizer: OPTIMIZER, batchSize: w.batch / ranks, epochs: 1, seed: 3, log: null, progress: false, distributed: parallel });
await trainer.fit(data); // warm-up
const rates: number[] = [];
const comm: number[] = [];
const early: number[] = [];
const epochs = Number(values.epochs);
for (let e = 2; e <= epochs + 1; e++) {
  const before = parallel ? { ...parallel.stats } : null;
  const [record] = (await trainer.fit(data, { epochs: e })).slice(-1);
  rates.push(record.stepsPerSecond * w.batch);
  if (parallel && before) {
    comm.push((parallel.stats.seconds - before.seconds) / (parallel.stats.steps - before.steps));
    early.push((parallel.stats.overlappedBuckets - before.overlappedBuckets) / (parallel.stats.steps - before.steps));
  }
}
if (!parallel || parallel.rank === 0) {
  console.log(
    JSON.stringify({
      workload: `${w.name} (${describeWorkload(w)})`,
      ranks,
      threadsPerRank: Number(values.threads),
      batchPerRank: w.batch / ranks,
      stepsPerEpoch: steps,
      timedEpochs: epochs,
      samplesPerSecond: summarize(rates).median,
      commSecondsPerStep: parallel ? summarize(comm).median : null,
      allreduceBytesPerStepPerRank: parallel ? (4 * model.params.arenaSize) : null,
      parameters: model.params.arenaSize,
      bucketMB: parallel ? Number(values['bucket-mb']) : null,
      overlap: parallel ? parallel.overlap : null,
      bucketsPerStep: parallel ? Math.ceil(model.params.arenaSize / parallel.bucketElements) : null,
      bucketsStartedInBackwardPerStep: parallel ? summarize(early).median : null,
      stopEvery: parallel ? parallel.stopEvery : null,
    }),
  );
}
parallel?.world.finalize();
