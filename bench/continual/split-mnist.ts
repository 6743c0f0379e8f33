/**
 * Split MNIST, task-incremental (van de Ven & Tolias 2019, arXiv 1904.07734; their code
 * GMvandeVen/continual-learning, param_values.py): MNIST split into five 2-class tasks
 * (0/1, 2/3, 4/5, 6/7, 8/9), one head each; a fully connected network with two hidden layers
 * of 400 ReLU units; Adam (AdamW with weight decay 0), lr 0.001, batch 128, 2000 iterations per
 * task (here whole epochs: round(2000·128 / n) epochs of a task's n training samples; with
 * replay every step also trains on 128 samples drawn from the buffer, as theirs); test
 * accuracy per task after every stage. Differences from their code: 28×28 inputs (they pad to
 * 32×32), pixels in [0, 1] as they are; our epochs reshuffle the data where they draw batches.
 *
 *   node dist/bench/continual/split-mnist.js --retain none --seeds 1 [--backend cpu]
 *       [--iterations 2000] [--replay-size 1000] [--json out.json] [--optimizer carry]
 *       [--lambda 1e5] [--gamma 1] [--fisher exact] [--fisher-samples N]
 *
 * --retain: none, replay, ewc, online-ewc, lwf or freeze-trunk. LwF's defaults are their code's
 * (T = 2; loss_fn_kd without the T² factor; task-IL weighting L_new + Σ_old KD: α = 1 each). EWC's defaults are their code's for
 * Split MNIST task-IL (params/param_values.py: ewc_lambda 1e5; options.py: Fisher from every
 * training sample of the task, batches of 1, labels 'all' = our 'exact'; online γ = 1);
 * --fisher-samples takes a seeded subset instead.
 *
 * By default each stage adds its head with MultiTaskModel.extend and trains with a new Trainer
 * (trainStages: Adam starts afresh every stage). `--optimizer carry` is their code's default
 * instead (one Adam whose state carries over from task to task, every head there from the
 * start, the tasks not yet seen masked out): one model of five heads and one Trainer whose
 * fit() continues stage after stage (fine-tuning only).
 *
 * Prints R and ACC / BWT / forgetting / FWT per seed, and the mean over seeds.
 */
import * as fs from 'node:fs';
import { createBackend } from '../../ts/backends/create.js';
import { MultiTaskDataset } from '../../ts/data/dataset.js';
import { loadMnist } from '../../ts/data/mnist.js';
import { labelledFor } from '../../ts/data/replay.js';
import { MultiTaskModel } from '../../ts/mtl/model.js';
import { type ContinualMetrics, type RetainConfig, type StageConfig, type StagesResult, type TrainStagesConfig, continualMetrics, formatContinualTable, trainStages } from '../../ts/train/continual.js';
import { type EpochRecord, Trainer } from '../../ts/train/trainer.js';
import { arg, meanLine, retainFromArgs } from './common.js';

const PAIRS = [
  [0, 1],
  [2, 3],
  [4, 5],
  [6, 7],
  [8, 9],
];
const BATCH = 128;

/** The samples of `split` whose digit is in `pair`, labelled 0/1 (the digit's place in the pair) for task `name`. */
function task(split: 'train' | 'test', pair: number[], name: string): MultiTaskDataset {
  const m = loadMnist(split);
  const px = m.rows * m.cols;
  const rows: number[] = [];
  for (let i = 0; i < m.count; i++) if (pair.includes(m.labels[i])) rows.push(i);
  const inputs = new Float32Array(rows.length * px);
  const y = new Float32Array(rows.length);
  rows.forEach((r, k) => {
    for (let p = 0; p < px; p++) inputs[k * px + p] = m.images[r * px + p] / 255;
    y[k] = pair.indexOf(m.labels[r]);
  });
  return new MultiTaskDataset({ inputs, inputShape: [m.rows, m.cols], labels: { [name]: y } });
}

const seeds = arg('seeds', '1').split(',').map(Number);
const iterations = Number(arg('iterations', '2000'));
const backendName = arg('backend', 'cpu');
const jsonOut = arg('json', '');
const carry = arg('optimizer', 'reset') === 'carry';
const { retain, text: retainText } = retainFromArgs('1e5');

/**
 * Fine-tuning with one Adam across the stages: every stage's head built up front (masked out
 * until its stage), one Trainer whose fit() goes on stage after stage. R's row i is measured
 * after stage i on every task (before their stage, the untrained heads); b_j before any training.
 */
async function carried(config: TrainStagesConfig): Promise<StagesResult> {
  if (typeof config.model === 'function' || !config.backend) throw new Error('carried: a model configuration and a backend');
  const stages = config.stages;
  const model = new MultiTaskModel(config.backend, { ...config.model, tasks: stages.flatMap((s) => s.tasks) });
  const trainer = new Trainer(model, config.trainer);
  const names = model.tasks.map((t) => t.name);
  const measure = async (): Promise<number[]> => {
    const row: number[] = [];
    for (let s = 0; s < stages.length; s++) row.push((await trainer.evaluate(labelledFor(stages[s].validation, model.tasks)))[names[s]].accuracy!);
    return row;
  };
  const randomInit = await measure();
  const accuracy: number[][] = [];
  const histories: EpochRecord[][] = [];
  let epochs = 0;
  for (const stage of stages) {
    const done = trainer.history.length;
    epochs += stage.epochs ?? config.trainer.epochs;
    await trainer.fit(labelledFor(stage.train, model.tasks), { epochs });
    histories.push(trainer.history.slice(done));
    accuracy.push(await measure());
  }
  const introduced = names.map((_, j) => j);
  const metrics = continualMetrics(accuracy, { randomInit });
  return { model, tasks: names, introduced, accuracy, randomInit, metrics, histories, table: formatContinualTable(accuracy, metrics, names) };
}

const backend = await createBackend(backendName);
const data = PAIRS.map((pair, t) => ({ name: `t${t}`, train: task('train', pair, `t${t}`), test: task('test', pair, `t${t}`) }));
const results: { seed: number; retain: RetainConfig; steps: number[]; seconds: number; accuracy: number[][]; randomInit: number[]; metrics: ContinualMetrics }[] = [];
for (const seed of seeds) {
  const started = Date.now();
  const stages: StageConfig[] = data.map((d) => ({
    tasks: [{ name: d.name, kind: 'classification', classes: 2 }],
    train: d.train,
    validation: d.test,
    retain: { ...retain, ...(retain.kind === 'replay' ? { seed } : {}) } as RetainConfig,
    // About `iterations` steps per task (with replay, each step also trains on a replayed batch of BATCH).
    epochs: Math.max(1, Math.round((iterations * BATCH) / d.train.length)),
  }));
  const out = await (carry ? carried : trainStages)({
    model: {
      inputShape: [28, 28],
      trunk: [
        { type: 'dense', units: 400, activation: 'relu' },
        { type: 'dense', units: 400, activation: 'relu' },
      ],
      maxBatch: 1024,
      seed,
    },
    backend,
    stages,
    trainer: { optimizer: { kind: 'adamw', lr: 0.001, weightDecay: 0 }, batchSize: BATCH, epochs: 1, seed, log: null, progress: false, lossCheckEvery: 50 },
  });
  const seconds = (Date.now() - started) / 1000;
  const steps = out.histories.map((h, i) => h.at(-1)!.step - (carry && i > 0 ? out.histories[i - 1].at(-1)!.step : 0));
  console.log(`\nSplit MNIST task-IL${carry ? ' (one Adam across stages)' : ''}, retain ${retainText}, seed ${seed}, ${backendName}: steps per task ${steps.join(', ')}, ${seconds.toFixed(0)} s`);
  console.log(out.table);
  results.push({ seed, retain, steps, seconds, accuracy: out.accuracy, randomInit: out.randomInit, metrics: out.metrics });
}
console.log(`\n${meanLine(results)}`);
if (jsonOut) fs.writeFileSync(jsonOut, JSON.stringify({ benchmark: 'split-mnist-task-il', backend: backendName, iterations, optimizer: carry ? 'carry' : 'reset', retain, results }, null, 1));
