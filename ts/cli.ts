#!/usr/bin/env node
/**
 * The hydranet command line. `hydranet train` with no arguments trains a hard-sharing MLP on
 * MultiMNIST (tasks: left digit, right digit) on the cpu backend and writes a run folder.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Backend } from './backends/backend.js';
import { BACKEND_NAMES, createBackend } from './backends/create.js';
import { UsageError, commandFlags, int, modelFlags, optimizerFlags, parseWeights } from './cli-args.js';
import { metricsInOriginalUnits } from './data/schema.js';
import { bestRecord, inSection, prepareConfigRun } from './cli-config.js';
import { evaluateCommand, formatMetrics, predictCommand } from './cli-predict.js';
import { compareCommand } from './cli-compare.js';
import { affinityCommand } from './cli-affinity.js';
import { groupCommand } from './cli-group.js';
import { extendCommand } from './cli-extend.js';
import { reportCommand } from './cli-report.js';
import { describeEnvironment } from './report/run-folder.js';
import { finishReport, reportCallbacks, writeEnvironment } from './report/write.js';
import { ownEntry } from './core/options.js';
import {
  BackendUnavailableError,
  CheckpointError,
  DatasetError,
  FileWriteError,
  HydranetError,
  KernelError,
  NonFiniteLossError,
  TrainingAbortedError,
} from './errors.js';
import type { MultiTaskDataset } from './data/dataset.js';
import { type JsonValue, MultiTaskModel } from './mtl/model.js';
import { parseSharingSpec, sharingHelp } from './mtl/sharing/index.js';
import { WEIGHTINGS, parseWeightingSpec } from './mtl/weighting/index.js';
import { PRESETS, presetData, presetTasks } from './train/presets.js';
import { type EpochRecord, Trainer, checkRunDir } from './train/trainer.js';
import { DataParallel } from './distributed/data-parallel.js';

const TRAIN_HELP = `Usage: hydranet train [options]

Trains a hard-parameter-sharing MLP on MultiMNIST (Sener & Koltun 2018): two digits on one
28×28 image, tasks "left" (top-left digit) and "right" (bottom-right digit). Prints per-task
validation accuracy each epoch and writes a run folder with config.json, metrics.json,
checkpoint.safetensors (last epoch) and best.safetensors (best mean validation accuracy), and
report.html: the run's charts in one file that opens offline (\`hydranet report --help\`).

With --config run.json it trains on your own data instead (see "Run files" below).

Options:
  --config FILE         a run file: your data, tasks, model and training options as JSON
  --preset NAME         ${Object.keys(PRESETS).join(' | ')} (default multimnist-mlp;
                        mmoe-synthetic:rho=X sets its task correlation, default 0.7):
${Object.entries(PRESETS)
  .map(([name, p]) => `                          ${name}: ${p.description}`)
  .join('\n')}
  --epochs N            training epochs (default: the preset's, 10 for the MLP)
  --batch-size N        samples per step (default 256)
  --backend NAME        ${BACKEND_NAMES.join(' | ')} (default cpu)
  --threads N           worker threads of the cpu backend (default: every core)
  --seed N              seed of data pairing, initialisation, shuffling and dropout (default 1)
  --out DIR             run folder (default runs/<date>-<time>)
  --weights SPEC        task loss weights, e.g. left=1,right=0.5 (default 1 each)
  --weighting SPEC      how task losses combine (default fixed: the --weights), as NAME or
                        NAME:key=value,... e.g. cagrad:c=0.4,space=representation
  --optimizer NAME      sgd | adamw (default sgd)
  --lr X                learning rate (default 0.05 for sgd, 0.001 for adamw)
  --momentum X          sgd momentum (default 0.9)
  --weight-decay X      weight decay (default 0 for sgd, 0.01 for adamw)
  --hidden LIST         MLP trunk widths, e.g. 512,256 (default 512,256; multimnist-mlp only)
  --head-hidden LIST    hidden widths of each task head (default none: linear heads)
  --sharing SPEC        how the tasks share the trunk (default hard), as NAME or
                        NAME:key=value,... e.g. soft:penalty=0.01 (the kinds are listed below)
  --train-size N        use the first N of the 60,000 training pairs (mmoe-synthetic: draw N
                        training samples, default 10000)
  --test-size N         use the first N of the 10,000 test pairs (mmoe-synthetic: N, default 2000)
  --resume FILE         continue from a checkpoint.safetensors of the same configuration;
                        --epochs is the total, the resumed epochs included
  --no-progress         no progress bar, even on a terminal
  --distributed         data-parallel over MPI: start with mpirun -np N hydranet train
                        --distributed ...; --batch-size is then per process; rank 0 alone
                        prints and writes the run folder (needs hydranet_mpi.node: an MPI
                        installed when hydranet was built)
  -h, --help            this text

The run folder is created and checked for writing before anything else. Ctrl-C stops training
after the current step, writes the checkpoint (mid-epoch too) and prints the command that
resumes it exactly there; a second Ctrl-C exits at once. \`hydranet --help\` lists the exit
statuses.

Run files (--config): JSON with the library's names; unknown keys are errors naming them.
  { "data": { "train": "train.csv", "validation": "val.csv" },    (or "validationSplit": 0.2,
                                                                  "seed": 1: a seeded shuffle)
    "inputs": { "numeric": ["age"], "categorical": ["city"] },    (optional: inferred)
    "tasks": [ { "name": "churn", "kind": "binary", "column": "churned" },
               { "name": "spend", "kind": "regression" } ],
    "model": { "trunk": [ { "type": "dense", "units": 64, "activation": "relu" } ],
               "heads": { "hidden": [32] }, "sharing": { "kind": "hard" } },
    "training": { "epochs": 10, "batchSize": 256, "optimizer": { "kind": "adamw", "lr": 0.001 },
                  "weighting": "equal", "lrSchedule": ..., "clipGradNorm": 1,
                  "earlyStopping": ... } }
  data paths are relative to the run file; the fitted preprocessing is saved in the run folder's
  checkpoints, for \`hydranet predict\` and \`hydranet evaluate\`. The flags --epochs,
  --batch-size, --seed, --optimizer, --lr, --momentum, --weight-decay, --weights, --weighting
  and --sharing override the file; --preset, --hidden, --head-hidden, --train-size and
  --test-size are for the presets only. Defaults: one dense layer of 64 ReLU units, 10 epochs,
  batch 256, adamw with lr 0.001, seed 1.

Sharing kinds (--sharing):
${sharingHelp('  ', 36)}

Weighting strategies (--weighting):
${Object.entries(WEIGHTINGS)
  .map(([name, w]) => `  ${name.padEnd(20)}${w.description}`)
  .join('\n')}
`;

const HELP = `Usage: hydranet <command> [options]

Commands:
  train     train a multi-task network: on your data (--config run.json) or on MultiMNIST
            (run \`hydranet train --help\`)
  predict   a trained model's predictions on raw rows, as CSV (\`hydranet predict --help\`)
  evaluate  a trained model's per-task metrics on labelled rows (\`hydranet evaluate --help\`)
  compare   single-task baselines vs weighting strategies and sharing kinds, on MultiMNIST
            or your data (--config), with Δm (run \`hydranet compare --help\`)
  affinity  which tasks help each other: trains once and prints the T×T task affinity
            (run \`hydranet affinity --help\`)
  group     which tasks should train together, from an affinity matrix; one run file per
            group (run \`hydranet group --help\`)
  extend    add tasks to a trained run, into a new run folder, keeping the old tasks (replay,
            EWC, freeze-trunk) (run \`hydranet extend --help\`)
  report    a run's report as one self-contained HTML file with its charts (train, extend,
            compare and affinity write theirs themselves) (\`hydranet report --help\`)

hydranet trains multi-task networks (a shared trunk, one head per task) from Node.js on a
native CPU backend. See README.md for the library API.

Exit status: 0 success, 1 an internal error (a bug: please report it), 2 a bad command line or
configuration, 3 a file that cannot be written (the run folder, a checkpoint: read-only, disk
full, ...), 4 a checkpoint that cannot be read or resumed, 5 a dataset that cannot be read,
6 training diverged (a NaN or infinite loss or parameter), 7 a backend that cannot run,
130 interrupted (Ctrl-C). Errors are one message on stderr, without a stack trace.
`;

function timestamp(): string {
  return new Date().toISOString().replace(/[:T]/g, '-').replace(/\..*$/, '');
}

function removeIfEmpty(dir: string): void {
  try {
    fs.rmdirSync(dir);
  } catch {
    // Not empty, or gone: leave it.
  }
}

/** The command that resumes an interrupted `hydranet train` run: the same flags, the same folder. */
function resumeCommand(argv: readonly string[], out: string, checkpoint: string): string {
  const kept: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--resume' || a === '--out') {
      i++;
      continue;
    }
    if (a.startsWith('--resume=') || a.startsWith('--out=')) continue;
    kept.push(a);
  }
  const quote = (w: string): string => (/^[\w./=:,+-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`);
  return ['hydranet', 'train', ...kept, '--out', out, '--resume', checkpoint].map(quote).join(' ');
}

/**
 * Ctrl-C while training: the first SIGINT stops the run after the step in progress (the
 * checkpoint is written, training state included); a second one exits at once with status 130.
 * Returns the signal to pass to fit() and a function that removes the handler.
 */
function stopOnSigint(): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const onSigint = (): void => {
    if (controller.signal.aborted) {
      process.stderr.write('\nhydranet: interrupted again: exiting now, without writing a checkpoint\n');
      process.exit(EXIT.interrupted);
    }
    process.stderr.write('\nhydranet: interrupted: stopping after the current step and writing the checkpoint (Ctrl-C again to exit at once)\n');
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  return { signal: controller.signal, dispose: () => process.off('SIGINT', onSigint) };
}

/** What a training run needs, from the presets or from a run file. */
interface TrainPlan {
  /** The model and Trainer on `backend`; they check their options before any data is loaded. */
  build(backend: Backend, runDir: string, distributed: DataParallel | null): { model: MultiTaskModel; trainer: Trainer };
  /** The training and validation sets, and lines saying what was read. */
  data(): Promise<{ train: MultiTaskDataset; validation?: MultiTaskDataset; lines: string[] }>;
  /** The closing lines, from the run's epoch records. */
  final(history: readonly EpochRecord[], model: MultiTaskModel): string | null;
}

type TrainFlags = NonNullable<ReturnType<typeof commandFlags<typeof TRAIN_FLAGS>>>;

const TRAIN_FLAGS = {
  out: { type: 'string' },
  weights: { type: 'string' },
  weighting: { type: 'string' },
  sharing: { type: 'string' },
  resume: { type: 'string' },
  config: { type: 'string' },
  distributed: { type: 'boolean' },
} as const;

/** A preset run (no --config; MultiMNIST or the MMoE synthetic data): every flag checked here, before the run folder, the model or the data exist. */
function presetPlan(values: TrainFlags): TrainPlan {
  const { preset, trunk, heads } = modelFlags(values);
  const epochs = int('epochs', values.epochs, preset.epochs);
  const batchSize = int('batch-size', values['batch-size'], preset.batchSize);
  const seed = int('seed', values.seed, 1, 0);
  const optimizer = optimizerFlags(values, preset.optimizer);
  const weights = parseWeights(values.weights);
  const sharing = values.sharing === undefined ? preset.sharing : parseSharingSpec(values.sharing);
  const trainSize = values['train-size'] === undefined ? preset.trainSize : int('train-size', values['train-size'], 60000);
  const testSize = values['test-size'] === undefined ? preset.testSize : int('test-size', values['test-size'], 10000);
  return {
    build: (backend, runDir, distributed) => {
      const model = new MultiTaskModel(backend, {
        inputShape: preset.inputShape,
        trunk,
        heads,
        sharing,
        tasks: presetTasks(preset),
        maxBatch: batchSize,
        seed,
      });
      const trainer = new Trainer(model, {
        optimizer, batchSize, epochs, seed, weights, weighting: values.weighting, progress: values.progress ? undefined : false, runDir, callbacks: distributed?.rank ? null : reportCallbacks(runDir), distributed,
      });
      return { model, trainer };
    },
    data: async () => {
      const { train, validation, line } = presetData(preset, { seed, trainSize, testSize });
      return { train, validation, lines: [line] };
    },
    final: (history) => {
      const last = history.at(-1);
      if (!last?.validation) return null;
      if (preset.data === 'mmoe-synthetic') return `final validation:\n${formatMetrics(last.validation).map((l) => `  ${l}`).join('\n')}`;
      const acc = Object.entries(last.validation).map(([task, m]) => `${task} ${(100 * (m.accuracy ?? NaN)).toFixed(2)}%`).join(', ');
      return `final validation accuracy: ${acc}`;
    },
  };
}

/** A run described by a run file (--config): its data read and preprocessed before the run folder exists. */
async function configPlan(file: string, values: TrainFlags): Promise<TrainPlan> {
  const run = await prepareConfigRun(file, values);
  return {
    build: (backend, runDir, distributed) => {
      const model = inSection(file, 'model', () => new MultiTaskModel(backend, run.model));
      // The fitted schema travels in every checkpoint of the run folder: predict reads raw rows through it.
      model.preprocessing = run.data.fitted as unknown as JsonValue;
      const trainer = inSection(file, 'training', () => new Trainer(model, { ...run.trainer, runDir, callbacks: distributed?.rank ? null : reportCallbacks(runDir), distributed }));
      return { model, trainer };
    },
    data: () => Promise.resolve({ train: run.data.train, validation: run.data.validation, lines: run.data.summary }),
    final: (history, model) => {
      const last = history.at(-1);
      if (!last?.validation) return null;
      const lines = (r: EpochRecord): string => formatMetrics(metricsInOriginalUnits(run.data.fitted, r.validation!)).map((l) => `  ${l}`).join('\n');
      const final = `final validation:\n${lines(last)}`;
      // best.safetensors, which predict and evaluate read by default, may hold an earlier epoch.
      const best = bestRecord(history, model.tasks);
      if (best === undefined || best === last || !best.validation) return final;
      const restored = run.trainer.earlyStopping?.restoreBest ? '; the parameters the run ended with (restoreBest)' : '';
      return `${final}\nbest validation, epoch ${best.epoch} of ${last.epoch} (best.safetensors: what predict and evaluate use by default${restored}):\n${lines(best)}`;
    },
  };
}

async function train(argv: string[]): Promise<number> {
  const values = commandFlags(argv, TRAIN_FLAGS, TRAIN_HELP);
  if (!values) return 0;
  const threads = values.threads === undefined ? undefined : int('threads', values.threads, 1);
  if (values.weighting !== undefined && !ownEntry(WEIGHTINGS, parseWeightingSpec(values.weighting).name)) {
    throw new UsageError(`--weighting expects one of ${Object.keys(WEIGHTINGS).join(', ')}, got ${JSON.stringify(values.weighting)}`);
  }
  const plan = values.config === undefined ? presetPlan(values) : await configPlan(values.config, values);
  // --distributed: one process per rank (mpirun); rank 0's run folder, output and files only.
  const parallel = values.distributed ? DataParallel.init() : null;
  if (parallel?.rank) console.log = () => {};
  const out = path.resolve(parallel ? parallel.world.broadcastJson(values.out ?? path.join('runs', timestamp()), 0, 'the run folder') : values.out ?? path.join('runs', timestamp()));
  const createdOut = checkRunDir(out);
  const stop = stopOnSigint();
  let backend: Backend | null = null;
  let training = false;
  try {
    backend = await createBackend(values.backend ?? 'cpu', { threads });
    const { model, trainer } = plan.build(backend, out, parallel);
    const data = await plan.data();
    for (const line of data.lines) console.log(line);
    const threadInfo = 'threads' in backend ? ` (${String((backend as { threads: number }).threads)} threads)` : '';
    console.log(`backend ${backend.name}${threadInfo}\n${model.summary()}`);
    if (parallel) console.log(`data-parallel over MPI: ${parallel.size} processes, ${trainer.config.batchSize} samples per process and step`);
    training = true;
    if (!parallel?.rank) writeEnvironment(out, describeEnvironment(backend, ['hydranet', 'train', ...argv]));
    const history = await trainer.fit(data.train, { validation: data.validation, resumeFrom: values.resume, signal: stop.signal });
    const final = plan.final(history, model);
    if (final !== null) console.log(final);
    const report = parallel?.rank ? null : await finishReport(out, { backend, validation: data.validation });
    if (report) console.log(`report: ${report.file}`);
    console.log(`run folder: ${out}`);
    parallel?.world.finalize(); // mpirun takes a rank that exits without it for a failure
    return 0;
  } catch (e) {
    if (e instanceof TrainingAbortedError) {
      const checkpoint = path.join(out, 'checkpoint.safetensors');
      const resume = fs.existsSync(checkpoint) ? `\nhydranet: resume with: ${resumeCommand(argv, out, checkpoint)}` : '';
      process.stderr.write(`hydranet: ${e.message}${resume}\n`);
      return EXIT.interrupted;
    }
    // A run that failed before training leaves no empty run folder behind.
    if (createdOut && !training) removeIfEmpty(out);
    throw e;
  } finally {
    stop.dispose();
    backend?.dispose();
  }
}

/**
 * Exit statuses, one per kind of failure (documented in --help): 0 success, 1 an unexpected
 * internal error, 2 a bad command line or configuration, 3 a file that cannot be written (run
 * folder, checkpoint), 4 a checkpoint that cannot be read or resumed, 5 a dataset that cannot
 * be read, 6 training diverged (a NaN or infinite loss or parameter), 7 a backend that cannot
 * run (not built, no device, device lost, a kernel failed), 130 interrupted (Ctrl-C).
 */
const EXIT = { internal: 1, usage: 2, write: 3, checkpoint: 4, dataset: 5, diverged: 6, backend: 7, interrupted: 130 } as const;

/** The exit status of an error: the first class it is an instance of (subclasses before their bases). */
const EXIT_BY_ERROR: readonly [abstract new (...args: never[]) => Error, number][] = [
  [TrainingAbortedError, EXIT.interrupted],
  [FileWriteError, EXIT.write],
  [CheckpointError, EXIT.checkpoint],
  [DatasetError, EXIT.dataset],
  [NonFiniteLossError, EXIT.diverged],
  [BackendUnavailableError, EXIT.backend],
  [KernelError, EXIT.backend],
  [HydranetError, EXIT.usage],
];

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
      process.stdout.write(HELP);
      return 0;
    }
    if (command === 'train') return await train(rest);
    if (command === 'predict') return await predictCommand(rest);
    if (command === 'evaluate') return await evaluateCommand(rest);
    if (command === 'affinity') return await affinityCommand(rest);
    if (command === 'group') return await groupCommand(rest);
    if (command === 'report') return await reportCommand(rest);
    if (command === 'extend') return await extendCommand(rest, timestamp, stopOnSigint);
    if (command === 'compare') {
      await compareCommand(rest);
      return 0;
    }
    throw new UsageError(`unknown command ${JSON.stringify(command)}; try \`hydranet --help\``);
  } catch (e) {
    // Every failure is one line (or a few) on stderr, never a stack trace, and its own status.
    const entry = EXIT_BY_ERROR.find(([cls]) => e instanceof cls);
    const code = (e as { code?: unknown } | null)?.code;
    if (entry || (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS'))) {
      process.stderr.write(`hydranet: ${(e as Error).message}\n`);
      return entry ? entry[1] : EXIT.usage;
    }
    const debug = process.env.HYDRANET_DEBUG ? `\n${(e as Error)?.stack}` : ' (set HYDRANET_DEBUG=1 to see where; please report it)';
    process.stderr.write(`hydranet: internal error: ${e instanceof Error ? e.message : String(e)}${debug}\n`);
    return EXIT.internal;
  }
}

process.exitCode = await main(process.argv.slice(2));
