#!/usr/bin/env node
/**
 * The hydranet command line. `hydranet train` with no arguments trains a hard-sharing MLP on
 * MultiMNIST (tasks: left digit, right digit) on the cpu backend and writes a run folder.
 */
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { BACKEND_NAMES, createBackend } from './backends/create.js';
import { UsageError, int, num, optimizerFlags, widths } from './cli-args.js';
import { compareCommand } from './cli-compare.js';
import { makeMultiMnist } from './data/multimnist.js';
import { HydranetError } from './errors.js';
import { type LayerSpec, MultiTaskModel, type SharingConfig } from './mtl/model.js';
import { PRESETS } from './mtl/presets.js';
import { WEIGHTINGS, parseWeightingSpec } from './mtl/weighting/index.js';
import { Trainer } from './train/trainer.js';

const TRAIN_HELP = `Usage: hydranet train [options]

Trains a hard-parameter-sharing MLP on MultiMNIST (Sener & Koltun 2018): two digits on one
28×28 image, tasks "left" (top-left digit) and "right" (bottom-right digit). Prints per-task
validation accuracy each epoch and writes a run folder with config.json, metrics.json,
checkpoint.safetensors (last epoch) and best.safetensors (best mean validation accuracy).

Options:
  --preset NAME         ${Object.keys(PRESETS).join(' | ')} (default multimnist-mlp):
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
  --sharing SPEC        hard (one shared trunk, default), soft[:penalty=X] (a tower per task,
                        L2 penalty λ = X (default 0.001) between corresponding parameters) or
                        cross-stitch (a tower per task, mixed after every layer by learned units),
                        mmoe[:experts=N] (N experts, 4 by default, gated per task) or
                        cgc[:shared=S,perTask=P] (S shared + P own experts per task; 2 and 1)
                        or ple[:levels=L,shared=S,perTask=P] (L levels of CGC, 2 by default)
  --train-size N        use the first N of the 60,000 training pairs
  --test-size N         use the first N of the 10,000 test pairs
  --resume FILE         continue from a checkpoint.safetensors of the same configuration
  --no-progress         no progress bar, even on a terminal
  -h, --help            this text

Weighting strategies (--weighting):
${Object.entries(WEIGHTINGS)
  .map(([name, w]) => `  ${name.padEnd(20)}${w.description}`)
  .join('\n')}
`;

const HELP = `Usage: hydranet <command> [options]

Commands:
  train     train a multi-task network on MultiMNIST (run \`hydranet train --help\`)
  compare   single-task baselines vs weighting strategies on MultiMNIST, with Δm
            (run \`hydranet compare --help\`)

hydranet trains multi-task networks (a shared trunk, one head per task) from Node.js on a
native CPU backend. See README.md for the library API.
`;

function parseSharing(v: string | undefined): SharingConfig | undefined {
  if (v === undefined) return undefined;
  const [kind, rest] = v.split(/:(.*)/s, 2);
  const opts: Record<string, number> = {};
  for (const part of rest ? rest.split(',') : []) {
    const m = /^\s*(penalty|experts|shared|perTask|levels)\s*=\s*(\S+)\s*$/.exec(part);
    if (!m) throw new UsageError(`--sharing: unknown option ${JSON.stringify(part)} (penalty, experts, shared, perTask, levels)`);
    opts[m[1]] = num(`sharing ${m[1]}`, m[2], 0);
  }
  switch (kind) {
    case 'hard':
    case 'cross-stitch':
      return { kind };
    case 'soft':
      return { kind, penalty: opts.penalty };
    case 'mmoe':
      return { kind, experts: opts.experts };
    case 'cgc':
      return { kind, shared: opts.shared, perTask: opts.perTask };
    case 'ple':
      return { kind, levels: opts.levels, shared: opts.shared, perTask: opts.perTask };
    default:
      throw new UsageError(`--sharing expects hard, soft[:penalty=X], cross-stitch, mmoe[:experts=N], cgc[:shared=S,perTask=P] or ple[:levels=L,...], got ${JSON.stringify(v)}`);
  }
}

function parseWeights(v: string | undefined): Record<string, number> | undefined {
  if (v === undefined) return undefined;
  const out: Record<string, number> = {};
  for (const part of v.split(',')) {
    const m = /^\s*([A-Za-z0-9_-]+)\s*=\s*([^\s]+)\s*$/.exec(part);
    if (!m) throw new UsageError(`--weights expects task=weight pairs like left=1,right=0.5, got ${JSON.stringify(part)}`);
    out[m[1]] = num(`weights (${m[1]})`, m[2], 1);
  }
  return out;
}

function timestamp(): string {
  return new Date().toISOString().replace(/[:T]/g, '-').replace(/\..*$/, '');
}

async function train(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      epochs: { type: 'string' },
      'batch-size': { type: 'string' },
      backend: { type: 'string' },
      threads: { type: 'string' },
      seed: { type: 'string' },
      out: { type: 'string' },
      weights: { type: 'string' },
      weighting: { type: 'string' },
      optimizer: { type: 'string' },
      lr: { type: 'string' },
      momentum: { type: 'string' },
      'weight-decay': { type: 'string' },
      hidden: { type: 'string' },
      preset: { type: 'string' },
      'head-hidden': { type: 'string' },
      sharing: { type: 'string' },
      'train-size': { type: 'string' },
      'test-size': { type: 'string' },
      resume: { type: 'string' },
      progress: { type: 'boolean', default: true },
      help: { type: 'boolean', short: 'h' },
    },
    allowNegative: true,
    strict: true,
  });
  if (values.help) {
    process.stdout.write(TRAIN_HELP);
    return;
  }
  const presetName = values.preset ?? 'multimnist-mlp';
  const preset = PRESETS[presetName];
  if (!preset) throw new UsageError(`--preset expects one of ${Object.keys(PRESETS).join(', ')}, got ${JSON.stringify(presetName)}`);
  if (presetName !== 'multimnist-mlp' && (values.hidden !== undefined || values['head-hidden'] !== undefined)) {
    throw new UsageError('--hidden and --head-hidden shape the multimnist-mlp preset only');
  }
  const epochs = int('epochs', values.epochs, preset.epochs);
  const batchSize = int('batch-size', values['batch-size'], preset.batchSize);
  const seed = int('seed', values.seed, 1, 0);
  const optimizer = optimizerFlags(values, preset.optimizer);
  const threads = values.threads === undefined ? undefined : int('threads', values.threads, 1);
  const weights = parseWeights(values.weights);
  const sharing = parseSharing(values.sharing);
  if (values.weighting !== undefined && !(parseWeightingSpec(values.weighting).name in WEIGHTINGS)) {
    throw new UsageError(`--weighting expects one of ${Object.keys(WEIGHTINGS).join(', ')}, got ${JSON.stringify(values.weighting)}`);
  }
  const headHidden = widths('head-hidden', values['head-hidden'], []);
  const hidden = widths('hidden', values.hidden, [512, 256]);
  const trainSize = values['train-size'] === undefined ? undefined : int('train-size', values['train-size'], 60000);
  const testSize = values['test-size'] === undefined ? undefined : int('test-size', values['test-size'], 10000);
  const backendName = values.backend ?? 'cpu';
  const backend = await createBackend(backendName, { threads });
  const out = path.resolve(values.out ?? path.join('runs', timestamp()));

  const t0 = performance.now();
  const trainSet = makeMultiMnist({ split: 'train', seed, count: trainSize });
  const testSet = makeMultiMnist({ split: 'test', seed: seed + 1, count: testSize });
  console.log(
    `MultiMNIST: ${trainSet.length} training and ${testSet.length} test pairs (${((performance.now() - t0) / 1000).toFixed(1)} s)`,
  );

  const mlp = presetName === 'multimnist-mlp';
  const trunk: readonly LayerSpec[] = mlp ? hidden.map((units) => ({ type: 'dense', units, activation: 'relu' })) : preset.trunk;
  const model = new MultiTaskModel(backend, {
    inputShape: preset.inputShape,
    trunk,
    heads: mlp ? { hidden: headHidden } : preset.heads,
    sharing,
    tasks: [
      { name: 'left', kind: 'classification', classes: 10 },
      { name: 'right', kind: 'classification', classes: 10 },
    ],
    maxBatch: batchSize,
    seed,
  });
  const threadInfo = 'threads' in backend ? ` (${String((backend as { threads: number }).threads)} threads)` : '';
  console.log(`backend ${backend.name}${threadInfo}\n${model.summary()}`);
  const trainer = new Trainer(model, {
    optimizer,
    batchSize,
    epochs,
    seed,
    weights,
    weighting: values.weighting,
    progress: values.progress ? undefined : false,
    runDir: out,
  });
  const history = await trainer.fit(trainSet, { validation: testSet, resumeFrom: values.resume });
  const last = history.at(-1);
  if (last?.validation) {
    const acc = Object.entries(last.validation)
      .map(([task, m]) => `${task} ${(100 * (m.accuracy ?? NaN)).toFixed(2)}%`)
      .join(', ');
    console.log(`final validation accuracy: ${acc}`);
  }
  console.log(`run folder: ${out}`);
  backend.dispose();
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
      process.stdout.write(HELP);
      return 0;
    }
    if (command === 'train') {
      await train(rest);
      return 0;
    }
    if (command === 'compare') {
      await compareCommand(rest);
      return 0;
    }
    throw new UsageError(`unknown command ${JSON.stringify(command)}; try \`hydranet --help\``);
  } catch (e) {
    if (e instanceof HydranetError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`hydranet: ${(e as Error).message}\n`);
      return 2;
    }
    throw e;
  }
}

process.exitCode = await main(process.argv.slice(2));
