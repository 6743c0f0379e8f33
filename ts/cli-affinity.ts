/**
 * `hydranet affinity`: trains once with the affinity probe (ts/train/affinity.ts) on a
 * MultiMNIST preset or on a run file's data, prints the run's mean T×T matrices (rows: source
 * task i, columns: target task j) and writes them as JSON (AffinityReport).
 */
import * as path from 'node:path';
import type { Backend } from './backends/backend.js';
import { BACKEND_NAMES, createBackend } from './backends/create.js';
import { UsageError, commandFlags, int, modelFlags, optimizerFlags, parseWeights } from './cli-args.js';
import { inSection, prepareConfigRun } from './cli-config.js';
import type { MultiTaskDataset } from './data/dataset.js';
import { writeFileAtomic } from './io/checkpoint.js';
import { MultiTaskModel } from './mtl/model.js';
import { describeEnvironment } from './report/run-folder.js';
import { finishReport } from './report/write.js';
import { AFFINITY_METHODS, type AffinityMethod, type AffinityReport, formatAffinity, measuresOf, rankAgreement } from './train/affinity.js';
import { PRESETS, presetData, presetTasks } from './train/presets.js';
import { Trainer, type TrainerConfig } from './train/trainer.js';

/** The preset `hydranet affinity` trains when neither --preset nor --config is given. */
export const AFFINITY_DEFAULT_PRESET = 'multimnist-affinity';

/** The --help text of `hydranet affinity`. */
export const AFFINITY_HELP = `Usage: hydranet affinity [--preset NAME | --config run.json] [options]

Which tasks help each other: trains one multi-task network once, measuring every K steps how
one optimizer step on each task's loss alone changes every task's loss on the same batch (TAG,
Fifty et al. 2021): Z(i→j) = 1 − L_j(after a step on task i) / L_j(before), averaged per epoch
and over the run. Positive: training on i helps j. Prints the run's mean matrix (rows: source
task i, columns: target task j) and writes every epoch's matrices and the mean as JSON, the
input of \`hydranet group\`.

Options:
  --preset NAME         ${Object.keys(PRESETS).join(' | ')} (default ${AFFINITY_DEFAULT_PRESET}:
                        ${PRESETS[AFFINITY_DEFAULT_PRESET].description})
  --config FILE         a run file of \`hydranet train --config\`: your data, tasks and model
  --method NAME         lookahead (default: the exact TAG lookahead) | linearised
                        (lr·<g_i, g_j>/L_j from the per-task gradients' Gram, nearly free) |
                        cosine (gradient cosine) | all (the three, and how well they agree)
  --every K             probe every K steps (default 10)
  --per-lr              divide lookahead and linearised by the learning rate (TAG's code)
  --epochs N            training epochs (default: the preset's or the run file's)
  --out FILE            the JSON written (default affinity.json)
  --batch-size N, --seed N, --optimizer NAME, --lr X, --momentum X, --weight-decay X,
  --weights SPEC, --backend NAME (${BACKEND_NAMES.join(' | ')}), --threads N,
  --train-size N, --test-size N (presets: MultiMNIST pairs used), --no-progress: as for
                        \`hydranet train\`
  -h, --help            this text

Affinity needs hard sharing (one trunk every task reads). The probe costs, every K steps,
1 + T forward passes and T trunk backward passes; the training itself is unchanged.
`;

const AFFINITY_FLAGS = {
  config: { type: 'string' },
  method: { type: 'string' },
  every: { type: 'string' },
  'per-lr': { type: 'boolean' },
  out: { type: 'string' },
  weights: { type: 'string' },
} as const;

type AffinityFlags = NonNullable<ReturnType<typeof commandFlags<typeof AFFINITY_FLAGS>>>;

/** What the command trains: the model and Trainer, and the data. */
interface AffinityPlan {
  build(backend: Backend, trainer: Pick<TrainerConfig, 'affinity' | 'progress' | 'log'>): { model: MultiTaskModel; trainer: Trainer };
  data(): Promise<{ train: MultiTaskDataset; validation?: MultiTaskDataset; lines: string[] }>;
}

/** A preset (MultiMNIST, or mmoe-synthetic with hard sharing): its tasks and sizes; every flag checked before any data is made. */
function presetPlan(values: AffinityFlags): AffinityPlan {
  const { preset, trunk, heads } = modelFlags({ ...values, preset: values.preset ?? AFFINITY_DEFAULT_PRESET });
  const epochs = int('epochs', values.epochs, preset.epochs);
  const batchSize = int('batch-size', values['batch-size'], preset.batchSize);
  const seed = int('seed', values.seed, 1, 0);
  const optimizer = optimizerFlags(values, preset.optimizer);
  const weights = parseWeights(values.weights);
  const trainSize = int('train-size', values['train-size'], preset.trainSize ?? 60000);
  const testSize = int('test-size', values['test-size'], preset.testSize ?? 10000);
  const multiMnist = (preset.data ?? 'multimnist') === 'multimnist';
  if (multiMnist && trainSize > 60000) throw new UsageError(`--train-size expects at most 60000 (the MultiMNIST training pairs), got ${trainSize}`);
  if (multiMnist && testSize > 10000) throw new UsageError(`--test-size expects at most 10000 (the MultiMNIST test pairs), got ${testSize}`);
  const tasks = presetTasks(preset);
  return {
    build: (backend, extra) => {
      const model = new MultiTaskModel(backend, { inputShape: preset.inputShape, trunk, heads, tasks, maxBatch: batchSize, seed });
      const trainer = new Trainer(model, { optimizer, batchSize, epochs, seed, weights, ...extra });
      return { model, trainer };
    },
    data: () => {
      const { train, validation, line } = presetData(preset, { seed, trainSize, testSize });
      return Promise.resolve({ train, validation, lines: [`${line}, tasks ${tasks.map((t) => t.name).join(', ')}`] });
    },
  };
}

/** A run file's data, model and training sections (read and fitted as `hydranet train --config` does). */
async function configPlan(file: string, values: AffinityFlags): Promise<AffinityPlan> {
  const run = await prepareConfigRun(file, values);
  return {
    build: (backend, extra) => {
      const model = inSection(file, 'model', () => new MultiTaskModel(backend, run.model));
      const trainer = inSection(file, 'training', () => new Trainer(model, { ...run.trainer, ...extra }));
      return { model, trainer };
    },
    data: () => Promise.resolve({ train: run.data.train, validation: run.data.validation, lines: run.data.summary }),
  };
}

/** The lines printed for a report: each measure's mean matrix, and with several, their rank agreement. */
export function formatAffinityReport(report: AffinityReport): string[] {
  const lines: string[] = [];
  const measures = measuresOf(report.method);
  const scale = report.perLr ? ' / lr' : '';
  const what = { lookahead: `lookahead affinity Z(i→j) = 1 − L_j(after a step on i) / L_j(before)${scale}`, linearised: `linearised lookahead lr·<g_i, g_j> / L_j${scale}`, cosine: 'gradient cosine <g_i, g_j> / (|g_i| |g_j|)' };
  for (const m of measures) {
    lines.push(`${what[m]}, mean of ${report.mean.probes} probes (rows: source i, columns: target j):`, formatAffinity(report.mean[m]!, report.tasks), '');
  }
  const first = report.mean[measures[0]]!;
  lines.push(`sources ranked by ${measures[0]} onto each target (best first):`);
  report.tasks.forEach((target, j) => {
    const sources = report.tasks.map((name, i) => ({ name, v: first[i][j] })).filter((_, i) => i !== j).sort((a, b) => b.v - a.v);
    lines.push(`  ${target} ← ${sources.map((s) => `${s.name} ${s.v.toPrecision(2)}`).join(', ')}`);
  });
  if (measures.length > 1) {
    const pairs: string[] = [];
    for (let a = 0; a < measures.length; a++) {
      for (let b = a + 1; b < measures.length; b++) pairs.push(`${measures[a]} vs ${measures[b]} ${rankAgreement(report.mean[measures[a]]!, report.mean[measures[b]]!).toFixed(3)}`);
    }
    lines.push(`rank agreement of the off-diagonal entries (Spearman): ${pairs.join(', ')}`);
  }
  return lines;
}

/** `hydranet affinity [options]`: see AFFINITY_HELP. Returns the exit status. */
export async function affinityCommand(argv: string[]): Promise<number> {
  const values = commandFlags(argv, AFFINITY_FLAGS, AFFINITY_HELP);
  if (!values) return 0;
  const method = (values.method ?? 'lookahead') as AffinityMethod;
  if (!AFFINITY_METHODS.includes(method)) throw new UsageError(`--method expects ${AFFINITY_METHODS.join(' | ')}, got ${JSON.stringify(values.method)}`);
  const every = int('every', values.every, 10);
  const threads = values.threads === undefined ? undefined : int('threads', values.threads, 1);
  const out = path.resolve(values.out ?? 'affinity.json');
  if (values.config !== undefined && values.preset !== undefined) throw new UsageError('give --preset or --config, not both');
  const plan = values.config === undefined ? presetPlan(values) : await configPlan(values.config, values);
  const backend = await createBackend(values.backend ?? 'cpu', { threads });
  try {
    const { model, trainer } = plan.build(backend, { affinity: { method, every, perLr: values['per-lr'] ?? false }, progress: values.progress ? undefined : false });
    const data = await plan.data();
    for (const line of data.lines) console.log(line);
    console.log(`backend ${backend.name}; ${model.tasks.length} tasks; a probe every ${every} steps (${method})`);
    await trainer.fit(data.train, { validation: data.validation });
    const report = trainer.affinity!;
    if (report.mean.probes === 0) {
      throw new UsageError(`no probe ran: the run had ${trainer.history.at(-1)?.step ?? 0} steps and --every is ${every}; lower --every or train longer`);
    }
    console.log('');
    for (const line of formatAffinityReport(report)) console.log(line);
    writeFileAtomic(out, `${JSON.stringify(report, null, 2)}\n`);
    console.log(`written: ${out}`);
    const html = await finishReport(out, { environment: describeEnvironment(backend, ['hydranet', 'affinity', ...argv], new Date(performance.timeOrigin)) });
    if (html) console.log(`report: ${html.file}`);
    return 0;
  } finally {
    backend.dispose();
  }
}
