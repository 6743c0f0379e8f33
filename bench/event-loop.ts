/**
 * `node dist/bench/event-loop.js [--backend cpu] [--threads N] [--rounds R] [--steps S]`:
 * what yielding to the event loop costs Trainer.fit, and what it buys. Standalone (not part
 * of `npm run bench`).
 *
 * The workload is W1 (bench/workloads.ts: trunk 784→512→256 ReLU, 2 heads of 10 classes,
 * batch 256, SGD with momentum) trained through Trainer.fit (host staging, the per-step loss
 * read, the epoch end), on a synthetic data set of S batches (random inputs, random labels).
 * Two trainers, one with yielding on (every `eventLoopYield.everyMs` of work, the default) and
 * one with it off, each train one more epoch per round; the order alternates between rounds
 * so that drift favours neither. For each fit: steps per second, the ticks of a 10 ms
 * setInterval that ran during it, and the longest wait of that timer (from the fit's start or
 * the previous tick to the next tick or the fit's end). Medians over the rounds, after one
 * warm-up epoch each.
 */
import { parseArgs } from 'node:util';
import { type BackendName, MultiTaskDataset, MultiTaskModel, Rng, Trainer, createBackend } from '../ts/index.js';
import { eventLoopYield } from '../ts/train/trainer.js';
import { summarize } from './stats.js';
import { OPTIMIZER, WORKLOADS, describeWorkload } from './workloads.js';

interface FitSample {
  stepsPerSecond: number;
  ticks: number;
  longestWaitMs: number;
}

/** One fit of one more epoch, timed, with a 10 ms timer counting its ticks. */
async function timedFit(trainer: Trainer, data: MultiTaskDataset, epochs: number): Promise<FitSample> {
  let ticks = 0;
  let last = performance.now();
  let longest = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
    ticks++;
  }, 10);
  const t0 = performance.now();
  try {
    const history = await trainer.fit(data, { epochs });
    const seconds = (performance.now() - t0) / 1000;
    longest = Math.max(longest, performance.now() - last);
    const steps = history[history.length - 1].step - (history.length > 1 ? history[history.length - 2].step : 0);
    return { stepsPerSecond: steps / seconds, ticks, longestWaitMs: longest };
  } finally {
    clearInterval(timer);
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      backend: { type: 'string', default: 'cpu' },
      threads: { type: 'string' },
      rounds: { type: 'string', default: '7' },
      steps: { type: 'string', default: '40' },
    },
    strict: true,
  });
  const rounds = Number(values.rounds);
  const stepsPerEpoch = Number(values.steps);
  if (!(Number.isInteger(rounds) && rounds >= 1)) throw new Error(`--rounds expects a positive integer, got ${values.rounds}`);
  if (!(Number.isInteger(stepsPerEpoch) && stepsPerEpoch >= 1)) throw new Error(`--steps expects a positive integer, got ${values.steps}`);
  const w = WORKLOADS.find((x) => x.name === 'W1')!;
  const backend = await createBackend(values.backend as BackendName, values.threads ? { threads: Number(values.threads) } : {});
  const rng = new Rng(7);
  const n = w.batch * stepsPerEpoch;
  const data = new MultiTaskDataset({
    inputs: rng.uniformArray(n * w.input),
    inputShape: [w.input],
    labels: Object.fromEntries(Array.from({ length: w.heads }, (_, t) => [`task${t}`, Float32Array.from({ length: n }, () => rng.int(w.classes))])),
  });
  const trainer = (): Trainer => {
    const model = new MultiTaskModel(backend, {
      inputShape: w.input,
      trunk: w.trunk.map((units) => ({ type: 'dense' as const, units, activation: 'relu' as const })),
      tasks: Array.from({ length: w.heads }, (_, t) => ({ name: `task${t}`, kind: 'classification' as const, classes: w.classes })),
      maxBatch: w.batch,
      seed: 1,
    });
    return new Trainer(model, { optimizer: OPTIMIZER, batchSize: w.batch, epochs: 1, seed: 1, log: null, progress: false });
  };
  const everyMs = eventLoopYield.everyMs;
  const modes = [
    { label: `yielding every ${everyMs} ms`, everyMs, trainer: trainer(), samples: [] as FitSample[] },
    { label: 'yielding off', everyMs: Infinity, trainer: trainer(), samples: [] as FitSample[] },
  ];
  const threads = 'threads' in backend ? `, ${String((backend as { threads: number }).threads)} threads` : '';
  console.log(`Trainer.fit on W1 (${describeWorkload(w)}), ${backend.name}${threads}: ${stepsPerEpoch} steps per fit, ${rounds} rounds after a warm-up epoch`);
  for (let round = 0; round <= rounds; round++) {
    const order = round % 2 === 0 ? modes : [...modes].reverse();
    for (const m of order) {
      eventLoopYield.everyMs = m.everyMs;
      const sample = await timedFit(m.trainer, data, round + 1);
      if (round > 0) m.samples.push(sample);
    }
  }
  eventLoopYield.everyMs = everyMs;
  const rows = modes.map((m) => {
    const rate = summarize(m.samples.map((s) => s.stepsPerSecond));
    const ticks = summarize(m.samples.map((s) => s.ticks));
    const wait = summarize(m.samples.map((s) => s.longestWaitMs));
    return { label: m.label, rate, ticks, wait, seconds: stepsPerEpoch / rate.median };
  });
  const pad = Math.max(...rows.map((r) => r.label.length));
  for (const r of rows) {
    console.log(
      `${r.label.padEnd(pad)}  ${r.rate.median.toFixed(1)} steps/s (min ${r.rate.min.toFixed(1)}, max ${r.rate.max.toFixed(1)})  ` +
        `10 ms timer: ${r.ticks.median} ticks in a ${r.seconds.toFixed(2)} s fit, longest wait ${r.wait.median.toFixed(0)} ms (median)`,
    );
  }
  console.log(`steps/s with yielding / without: ${(rows[0].rate.median / rows[1].rate.median).toFixed(3)}`);
  backend.dispose();
}

await main();
