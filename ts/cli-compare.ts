/**
 * `hydranet compare`: single-task baselines against multi-task weighting strategies on
 * MultiMNIST, reported as a table with each configuration's Δm over the baselines
 * (see ts/train/compare.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BACKEND_NAMES, createBackend } from './backends/create.js';
import { UsageError, commandFlags, int, modelFlags, optimizerFlags } from './cli-args.js';
import { ownEntry } from './core/options.js';
import { makeMultiMnist } from './data/multimnist.js';
import { ConfigError } from './errors.js';
import {
  type CompareConfiguration,
  type MetricTable,
  SELECTIONS,
  type Selection,
  checkConfigurations,
  compare,
  formatComparison,
} from './train/compare.js';
import type { ModelConfig } from './mtl/model.js';
import { type TaskSpec, resolveTask } from './mtl/task.js';
import { writeFileAtomic } from './io/checkpoint.js';
import { WEIGHTINGS, parseWeightingSpec } from './mtl/weighting/index.js';

/** The configurations compared when --weightings is not given (those this build has). */
export const DEFAULT_WEIGHTINGS = ['equal', 'uncertainty', 'dwa', 'mgda-ub', 'pcgrad'].filter((w) => w in WEIGHTINGS);

const TASKS: TaskSpec[] = [
  { name: 'left', kind: 'classification', classes: 10 },
  { name: 'right', kind: 'classification', classes: 10 },
];

export const COMPARE_HELP = `Usage: hydranet compare [options]

Compares multi-task weighting strategies on MultiMNIST (tasks "left" and "right"). Trains one
single-task baseline per task (the same trunk and head, that task alone), then one multi-task
network per weighting, all with the same data, epochs, batch size, optimizer and seed, and
prints a table: each task's validation accuracy, Δm and wall time per configuration.

Δm (LibMTL's count_improvement) is the mean over tasks of the relative change over the
single-task baseline, in %, signed so that positive is better than single-task:
  Δm = (1/T) Σ_t (1/M_t) Σ_m (−1)^{w_t,m} (B_t,m − N_t,m) / B_t,m × 100, w = 1 where higher is better.
Every run (baselines included) is reported at the epoch chosen by --select: by default the
epoch with the best mean validation accuracy over the tasks (ties: the earlier epoch). The
validation set is the MultiMNIST test split, as in Sener & Koltun (2018).
With the defaults (all 60,000 pairs, a 512-256 trunk, 10 epochs, 2 baselines + 5 weightings)
it takes a few minutes on two cores; --train-size and --epochs shorten it.

Options:
  --weightings LIST     weighting specs to compare, comma-separated (default
                        ${DEFAULT_WEIGHTINGS.join(',')}); a spec may carry options, e.g.
                        equal,cagrad:c=0.4,space=representation (a key=value part continues
                        the spec before it)
  --epochs N            training epochs of every run (default 10)
  --batch-size N        samples per step (default 256)
  --backend NAME        ${BACKEND_NAMES.join(' | ')} (default cpu)
  --threads N           worker threads of the cpu backend (default: every core)
  --seed N              seed of data pairing, initialisation, shuffling and dropout (default 1)
  --preset NAME         multimnist-mlp (default) or multimnist-lenet (Sener & Koltun's MultiLeNet,
                        SGD lr 0.01, batch 256; its epochs default stays 10 here)
  --hidden LIST         MLP trunk widths, e.g. 512,256 (default 512,256; multimnist-mlp only)
  --head-hidden LIST    hidden widths of each task head (default none: linear heads)
  --train-size N        use the first N of the 60,000 training pairs (default all)
  --test-size N         use the first N of the 10,000 test pairs (default all)
  --optimizer NAME      sgd | adamw (default sgd)
  --lr X                learning rate (default 0.05 for sgd, 0.001 for adamw)
  --momentum X          sgd momentum (default 0.9)
  --weight-decay X      weight decay (default 0 for sgd, 0.01 for adamw)
  --select RULE         ${SELECTIONS.join(' | ')}: which epoch of each run is reported (default best)
  --json FILE           also write the results (settings, baselines, every run with its
                        per-epoch history) as JSON to FILE
  --baselines FILE      reuse the single-task baselines of an earlier --json FILE run
                        with the same settings instead of training them again
  --no-progress         no progress bars, even on a terminal
  -h, --help            this text

Weighting strategies:
${Object.entries(WEIGHTINGS)
  .map(([name, w]) => `  ${name.padEnd(20)}${w.description}`)
  .join('\n')}
`;

/** Splits "equal,cagrad:c=0.4,space=representation" into specs; key=value parts continue the spec before. */
export function splitWeightings(text: string): string[] {
  const specs: string[] = [];
  for (const raw of text.split(',')) {
    const part = raw.trim();
    if (part === '') throw new UsageError(`--weightings expects a comma-separated list of weighting specs, got ${JSON.stringify(text)}`);
    if (/^[A-Za-z][\w-]*=/.test(part) && !part.includes(':')) {
      if (specs.length === 0 || !specs[specs.length - 1].includes(':')) {
        throw new UsageError(`--weightings: option ${JSON.stringify(part)} follows no "name:" spec in ${JSON.stringify(text)}`);
      }
      specs[specs.length - 1] += `,${part}`;
    } else {
      specs.push(part);
    }
  }
  return specs;
}

/** The settings that must match for baselines to be reused. */
interface Settings {
  trainSize: number;
  testSize: number;
  seed: number;
  model: Omit<ModelConfig, 'maxBatch'>;
  epochs: number;
  batchSize: number;
  optimizer: unknown;
  select: Selection;
}

function readBaselines(file: string, settings: Settings): MetricTable {
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UsageError(`--baselines: cannot read ${file}: ${(e as Error).message}`);
  }
  const obj = json as { baselines?: MetricTable; settings?: Record<string, unknown> };
  if (!obj || typeof obj !== 'object' || typeof obj.baselines !== 'object' || obj.baselines === null) {
    throw new UsageError(`--baselines: ${file} holds no "baselines" (write one with --json)`);
  }
  if (obj.settings) {
    const differ = (Object.keys(settings) as (keyof Settings)[]).filter(
      (k) => JSON.stringify(obj.settings![k]) !== JSON.stringify(settings[k]),
    );
    if (differ.length > 0) {
      throw new UsageError(
        `--baselines: ${file} was run with other settings (${differ
          .map((k) => `${k} ${JSON.stringify(obj.settings![k])} there, ${JSON.stringify(settings[k])} here`)
          .join('; ')})`,
      );
    }
  }
  return obj.baselines;
}

export async function compareCommand(argv: string[]): Promise<void> {
  const own = { weightings: { type: 'string' }, select: { type: 'string' }, json: { type: 'string' }, baselines: { type: 'string' } } as const;
  const values = commandFlags(argv, own, COMPARE_HELP);
  if (!values) return;
  // Every flag is checked here, before any data is loaded or anything trains.
  const { presetName, preset, mlp, hidden, trunk, heads } = modelFlags(values);
  const epochs = int('epochs', values.epochs, 10);
  const batchSize = int('batch-size', values['batch-size'], preset.batchSize);
  const seed = int('seed', values.seed, 1, 0);
  const threads = values.threads === undefined ? undefined : int('threads', values.threads, 1);
  const trainSize = int('train-size', values['train-size'], 60000);
  const testSize = int('test-size', values['test-size'], 10000);
  if (trainSize > 60000) throw new UsageError(`--train-size expects at most 60000 (the MultiMNIST training pairs), got ${trainSize}`);
  if (testSize > 10000) throw new UsageError(`--test-size expects at most 10000 (the MultiMNIST test pairs), got ${testSize}`);
  const optimizer = optimizerFlags(values, preset.optimizer);
  const select = (values.select ?? 'best') as Selection;
  if (!SELECTIONS.includes(select)) throw new UsageError(`--select expects ${SELECTIONS.join(' or ')}, got ${JSON.stringify(values.select)}`);
  const specs = values.weightings === undefined ? DEFAULT_WEIGHTINGS : splitWeightings(values.weightings);
  for (const spec of specs) {
    const name = parseWeightingSpec(spec).name;
    if (!ownEntry(WEIGHTINGS, name)) {
      throw new UsageError(`--weightings expects names from ${Object.keys(WEIGHTINGS).join(', ')}, got ${JSON.stringify(name)}`);
    }
  }
  const configurations: CompareConfiguration[] = specs.map((w) => ({ label: w, weighting: w }));
  try {
    checkConfigurations(TASKS.map(resolveTask), configurations, optimizer.lr);
  } catch (e) {
    if (e instanceof ConfigError) throw new UsageError(`--weightings: ${e.message}`);
    throw e;
  }
  const model: ModelConfig = { inputShape: preset.inputShape, trunk, heads, tasks: TASKS, maxBatch: batchSize, seed };
  const settings: Settings = {
    trainSize,
    testSize,
    seed,
    model: { inputShape: model.inputShape, trunk, heads: model.heads, tasks: TASKS, seed },
    epochs,
    batchSize,
    optimizer,
    select,
  };
  const baselines = values.baselines === undefined ? undefined : readBaselines(values.baselines, settings);
  const jsonFile = values.json === undefined ? undefined : path.resolve(values.json);
  if (jsonFile) {
    try {
      fs.mkdirSync(path.dirname(jsonFile), { recursive: true });
      fs.accessSync(path.dirname(jsonFile), fs.constants.W_OK);
    } catch (e) {
      throw new UsageError(`--json: cannot write into ${path.dirname(jsonFile)}: ${(e as Error).message}`);
    }
  }
  const backend = await createBackend(values.backend ?? 'cpu', { threads });

  const t0 = performance.now();
  const trainSet = makeMultiMnist({ split: 'train', seed, count: trainSize });
  const testSet = makeMultiMnist({ split: 'test', seed: seed + 1, count: testSize });
  const threadInfo = 'threads' in backend ? ` (${String((backend as { threads: number }).threads)} threads)` : '';
  console.log(
    `MultiMNIST: ${trainSet.length} training and ${testSet.length} test pairs (${((performance.now() - t0) / 1000).toFixed(1)} s); ` +
      `backend ${backend.name}${threadInfo}; ${mlp ? `trunk ${hidden.join('-') || 'none'}` : presetName}; ${epochs} epochs of ${Math.ceil(trainSet.length / batchSize)} steps; ` +
      `${baselines ? 'given baselines' : `${TASKS.length} baselines`} + ${configurations.length} configurations, reporting the ${select === 'best' ? 'best-validation' : 'last'} epoch`,
  );
  const result = await compare({
    backend,
    train: trainSet,
    validation: testSet,
    model,
    trainer: { optimizer, batchSize, epochs, seed, progress: values.progress && process.stderr.isTTY === true },
    configurations,
    selection: select,
    baselines,
    log: (line) => console.log(line),
  });
  console.log(`\n${formatComparison(result)}`);
  if (jsonFile) {
    writeFileAtomic(jsonFile, JSON.stringify({ settings, backend: backend.name, ...result }, null, 2) + '\n');
    console.log(`results: ${jsonFile}`);
  }
  backend.dispose();
}
