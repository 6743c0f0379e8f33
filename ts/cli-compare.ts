/**
 * `hydranet compare`: single-task baselines against multi-task weighting strategies on
 * MultiMNIST, reported as a table with each configuration's Δm over the baselines
 * (see ts/train/compare.ts). With --config run.json: on the run file's data (read and fitted
 * as `hydranet train --config` does, by ts/cli-config.ts), every sharing kind of --sharings
 * crossed with every weighting of --weightings. With --search / --seeds: the fair protocol of
 * compare() (a search per row on a validation split carved from the training data, then every
 * seed on the test set, mean ± sd), resumable from the runs recorded in --out.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Backend } from './backends/backend.js';
import { BACKEND_NAMES, createBackend } from './backends/create.js';
import { UsageError, commandFlags, int, modelFlags, num, optimizerFlags, readJsonFile } from './cli-args.js';
import { prepareConfigRun } from './cli-config.js';
import { ownEntry } from './core/options.js';
import { ConfigError } from './errors.js';
import {
  type CompareConfiguration,
  type CompareOptions,
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
import { presetData, presetTasks } from './train/presets.js';
import { describeEnvironment } from './report/run-folder.js';
import { finishReport } from './report/write.js';
import { type SharingConfig, parseSharingSpec, sharingHelp } from './mtl/sharing/index.js';
import { WEIGHTINGS, parseWeightingSpec } from './mtl/weighting/index.js';
import { GRADIENT_STRATEGIES } from './mtl/weighting/gradient-based.js';
import type { MultiTaskDataset } from './data/dataset.js';
import type { OptimizerConfig } from './train/optimizer.js';
import { type SearchSpace, checkSearchSpace, parseSearchSpec } from './train/search.js';
import { checkJobs, childThreads } from './train/compare-jobs.js';

/** The configurations compared when --weightings is not given (those this build has). */
export const DEFAULT_WEIGHTINGS = ['equal', 'uncertainty', 'dwa', 'mgda-ub', 'pcgrad'].filter((w) => w in WEIGHTINGS);


export const COMPARE_HELP = `Usage: hydranet compare [options]
       hydranet compare --config run.json [--sharings LIST] [--weightings LIST] [options]
       hydranet compare --search lr=0.005,0.01,0.02,0.05 [--search KEY=V1,V2 ...] --seeds 3 [options]

Compares multi-task weighting strategies (and sharing kinds) on a preset's data: MultiMNIST (tasks
"left" and "right", or the preset's own, e.g. multimnist-affinity's five) or MMoE's synthetic
regression pair (mmoe-synthetic[:rho=X]). Trains one single-task baseline per task (the same
trunk and head, that task alone), then one multi-task network per weighting, all with the
same data, epochs, batch size, optimizer and seed, and prints a table: each task's validation
accuracy, Δm and wall time per configuration.

Δm (LibMTL's count_improvement) is the mean over tasks of the relative change over the
single-task baseline, in %, signed so that positive is better than single-task:
  Δm = (1/T) Σ_t (1/M_t) Σ_m (−1)^{w_t,m} (B_t,m − N_t,m) / B_t,m × 100, w = 1 where higher is better.
Every run (baselines included) is reported at the epoch chosen by --select: by default the
epoch with the best mean validation accuracy over the tasks (ties: the earlier epoch). The
validation set is the MultiMNIST test split, as in Sener & Koltun (2018).
With the defaults (all 60,000 pairs, a 512-256 trunk, 10 epochs, 2 baselines + 5 weightings)
it takes a few minutes on two cores; --train-size and --epochs shorten it.

Fair comparison (--search, --seeds, --search-budget or --validation-fraction): every row,
the single-task baselines included, gets its own search over the --search options (the grid of
their values, or --search-budget settings drawn from it, seeded), each setting trained once and
scored on a validation split carved from the training data (--validation-fraction, default
0.1; never the test set); the best setting is then trained with each of --seeds seeds and
reported on the test set (MultiMNIST's test split; with --config, the file's validation rows)
at the epoch selected on the validation split, as mean ± sd over the seeds, with Δm (over the
mean single-task results) and its sd. A search key is a training option (lr, momentum,
weight-decay, batch-size) or a strategy's option as strategy:option (cagrad:c,
gradnorm:alpha), which applies to that strategy's rows only. It prints the number of runs, a
time estimate once a run's time is known (refreshed on each run's line: "about 1 h 5 min
left"), and a line per run. Every finished run is recorded in --out (default runs/compare):
run the same command again after an interruption (Ctrl-C stops it, keeping the finished runs)
and it continues where it stopped, with the same table, whatever --jobs either time.
--select-seeds K selects each row's setting on the mean over K seeds rather than one (a
setting that diverges on one of them is not selected); --jobs N trains N runs at once.

With --config run.json it compares on your own data instead: the run file of
\`hydranet train --config\` (its data, validation file or validationSplit, inputs, tasks, model
and training sections, read and preprocessed the same way). Every sharing kind of --sharings is
crossed with every weighting of --weightings; each single-task baseline (one per main task) is
the file's trunk and head with hard sharing. The table gives each main task's validation
metrics (its declared metrics, the first the headline), Δm over the baselines, the epoch and the
time. The file's training options (learning-rate schedule, clipping, early stopping, weights)
apply to every run; its training.weighting is replaced by --weightings. --epochs, --batch-size,
--seed, --optimizer, --lr, --momentum and --weight-decay override the file; --preset, --hidden,
--head-hidden, --train-size and --test-size are refused.

Options:
  --config FILE         compare on the data of this run file (see above)
  --sharings LIST       sharing specs to compare, comma-separated, each crossed with every
                        weighting (default: the preset's own sharing, hard unless it names one
                        (mmoe-synthetic: MMoE); with --config hard plus the
                        file's model.sharing, or hard,mmoe when it sets none), e.g.
                        hard,mmoe:experts=4,soft:penalty=0.001 (a key=value part continues the
                        spec before it); the baselines keep hard sharing
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
  --search KEY=LIST     fair comparison: search KEY over LIST per row (repeatable), e.g.
                        --search lr=0.005,0.01,0.02 --search cagrad:c=0.2,0.5
  --search-budget N     at most N settings per row, a seeded random subset of the grid
  --seeds N             fair comparison: train each row's selected setting with seeds
                        --seed .. --seed+N-1 and report mean ± sd (default 1)
  --select-seeds K      fair comparison: train each searched setting with the first K
                        seeds and select on the mean validation score (default 1; K <= N)
  --jobs N              fair comparison: train up to N runs at once, each in a child process
                        with its own backend (cpu or reference; the cpu one with --threads
                        threads, default cores / N); the same results as one at a time (on
                        cpu, with the same --threads: some reductions sum per thread)
  --validation-fraction X
                        fair comparison: the share of the training data carved out to
                        select on (default 0.1)
  --out DIR             fair comparison: the folder recording every finished run, to resume
                        from (default runs/compare)
  --no-progress         no progress bars, even on a terminal
  -h, --help            this text

Weighting strategies:
${Object.entries(WEIGHTINGS)
  .map(([name, w]) => `  ${name.padEnd(20)}${w.description}`)
  .join('\n')}

Sharing kinds (--sharings):
${sharingHelp('  ', 36)}
`;

/** Splits "equal,cagrad:c=0.4,space=representation" into specs; key=value parts continue the spec before. */
export function splitWeightings(text: string): string[] {
  return splitSpecs('weightings', 'weighting', text);
}

/** Splits the value of --`flag` into NAME[:key=value,...] specs; key=value parts continue the spec before. */
function splitSpecs(flag: string, what: string, text: string): string[] {
  const specs: string[] = [];
  for (const raw of text.split(',')) {
    const part = raw.trim();
    if (part === '') throw new UsageError(`--${flag} expects a comma-separated list of ${what} specs, got ${JSON.stringify(text)}`);
    if (/^[A-Za-z][\w-]*=/.test(part) && !part.includes(':')) {
      if (specs.length === 0 || !specs[specs.length - 1].includes(':')) {
        throw new UsageError(`--${flag}: option ${JSON.stringify(part)} follows no "name:" spec in ${JSON.stringify(text)}`);
      }
      specs[specs.length - 1] += `,${part}`;
    } else {
      specs.push(part);
    }
  }
  return specs;
}

/** The settings that must match for baselines to be reused (MultiMNIST presets). */
interface Settings {
  trainSize: number;
  testSize: number;
  seed: number;
  model: Omit<ModelConfig, 'maxBatch'>;
  epochs: number;
  batchSize: number;
  optimizer: unknown;
  select: Selection;
  /** --sharings, when given (not part of what baselines must match: they keep hard sharing). */
  sharings?: string[];
}

function readBaselines(file: string, settings: Record<string, unknown>): MetricTable {
  let json: unknown;
  try {
    json = readJsonFile(file, 'baselines file');
  } catch (e) {
    throw new UsageError(`--baselines: ${(e as Error).message}`);
  }
  const obj = json as { baselines?: MetricTable; settings?: Record<string, unknown> };
  if (!obj || typeof obj !== 'object' || typeof obj.baselines !== 'object' || obj.baselines === null) {
    throw new UsageError(`--baselines: ${file} holds no "baselines" (write one with --json)`);
  }
  if (obj.settings) {
    const differ = Object.keys(settings).filter((k) => JSON.stringify(obj.settings![k]) !== JSON.stringify(settings[k]));
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

/** The flags of `hydranet compare` beyond SHARED_FLAGS. */
const COMPARE_FLAGS = {
  weightings: { type: 'string' },
  select: { type: 'string' },
  json: { type: 'string' },
  baselines: { type: 'string' },
  config: { type: 'string' },
  sharings: { type: 'string' },
  search: { type: 'string', multiple: true },
  'search-budget': { type: 'string' },
  seeds: { type: 'string' },
  'validation-fraction': { type: 'string' },
  out: { type: 'string' },
  'select-seeds': { type: 'string' },
  jobs: { type: 'string' },
} as const;

/** The fair protocol's flags, checked: undefined when none of them is given. */
interface FairFlags {
  search: SearchSpace;
  searchBudget?: number;
  seeds: number;
  /** --select-seeds, when above 1. */
  selectSeeds?: number;
  /** --jobs, when above 1. */
  jobs?: number;
  /** --threads, with --jobs above 1: each child's. */
  threads?: number;
  validationFraction: number;
  outDir: string;
}

/**
 * --search, --search-budget, --seeds, --select-seeds, --validation-fraction, --jobs and --out,
 * checked against the optimizer and the backend; undefined without any of the first five.
 */
function fairFlags(values: CompareFlagValues, optimizer: OptimizerConfig): FairFlags | undefined {
  const given =
    values.search !== undefined ||
    values['search-budget'] !== undefined ||
    values.seeds !== undefined ||
    values['select-seeds'] !== undefined ||
    values['validation-fraction'] !== undefined;
  if (!given) {
    for (const flag of ['out', 'jobs'] as const) {
      if (values[flag] !== undefined) {
        throw new UsageError(`--${flag} ${flag === 'out' ? 'records' : 'runs'} the runs of a fair comparison (--search, --seeds, --select-seeds, --search-budget or --validation-fraction)`);
      }
    }
    return undefined;
  }
  if (values.baselines !== undefined) throw new UsageError('--baselines does not apply to a fair comparison (every baseline is searched and trained with every seed)');
  const search: SearchSpace = {};
  for (const spec of values.search ?? []) {
    try {
      const [key, list] = parseSearchSpec(spec);
      if (key in search) throw new UsageError(`--search ${key} is given twice`);
      search[key] = list;
    } catch (e) {
      if (e instanceof ConfigError) throw new UsageError(`--search: ${e.message}`);
      throw e;
    }
  }
  try {
    checkSearchSpace(search, optimizer);
  } catch (e) {
    if (e instanceof ConfigError) throw new UsageError(`--search: ${e.message}`);
    throw e;
  }
  const fraction = num('validation-fraction', values['validation-fraction'], 0.1, 'fraction');
  if (!(fraction > 0 && fraction < 1)) throw new UsageError(`--validation-fraction expects a number in (0, 1), got ${fraction}`);
  const seeds = int('seeds', values.seeds, 1);
  const selectSeeds = int('select-seeds', values['select-seeds'], 1);
  if (selectSeeds > seeds) throw new UsageError(`--select-seeds ${selectSeeds} exceeds --seeds ${seeds} (each searched setting trains with the first --select-seeds of the seeds)`);
  const jobs = int('jobs', values.jobs, 1);
  if (jobs > 1) {
    try {
      checkJobs(jobs, values.backend ?? 'cpu', {});
    } catch (e) {
      if (e instanceof ConfigError) throw new UsageError(`--jobs: ${e.message.replace(/^compare: /, '')}`);
      throw e;
    }
  }
  return {
    search,
    ...(values['search-budget'] !== undefined && { searchBudget: int('search-budget', values['search-budget'], 1) }),
    seeds,
    ...(selectSeeds > 1 && { selectSeeds }),
    ...(jobs > 1 && { jobs }),
    ...(jobs > 1 && values.threads !== undefined && { threads: int('threads', values.threads, 1) }),
    validationFraction: fraction,
    outDir: path.resolve(values.out ?? path.join('runs', 'compare')),
  };
}

/** --select, checked. */
function selectFlag(v: string | undefined): Selection {
  const select = (v ?? 'best') as Selection;
  if (!SELECTIONS.includes(select)) throw new UsageError(`--select expects ${SELECTIONS.join(' or ')}, got ${JSON.stringify(v)}`);
  return select;
}

/** --weightings as specs whose names this build has (the defaults when absent). */
function weightingsFlag(v: string | undefined): string[] {
  const specs = v === undefined ? DEFAULT_WEIGHTINGS : splitWeightings(v);
  for (const spec of specs) {
    const name = parseWeightingSpec(spec).name;
    if (!ownEntry(WEIGHTINGS, name)) {
      throw new UsageError(`--weightings expects names from ${Object.keys(WEIGHTINGS).join(', ')}, got ${JSON.stringify(name)}`);
    }
  }
  return specs;
}

/** Checks every weighting of `configurations` for `tasks`; a ConfigError becomes a UsageError naming --weightings. */
function checkWeightings(tasks: readonly TaskSpec[], configurations: readonly CompareConfiguration[], lr: number): void {
  try {
    checkConfigurations(tasks.map(resolveTask), configurations, lr);
  } catch (e) {
    if (e instanceof ConfigError) throw new UsageError(`--weightings: ${e.message}`);
    throw e;
  }
}

/** --json's absolute path with its folder made and writable, or undefined when absent. */
function jsonFlag(v: string | undefined): string | undefined {
  if (v === undefined) return undefined;
  const jsonFile = path.resolve(v);
  try {
    fs.mkdirSync(path.dirname(jsonFile), { recursive: true });
    fs.accessSync(path.dirname(jsonFile), fs.constants.W_OK);
  } catch (e) {
    throw new UsageError(`--json: cannot write into ${path.dirname(jsonFile)}: ${(e as Error).message}`);
  }
  return jsonFile;
}

/** "mmoe:experts=4" for a sharing config: its kind, then its options as the --sharings spec writes them. */
export function sharingLabel(config: SharingConfig | undefined): string {
  if (config === undefined) return 'hard';
  const { kind, ...options } = config as { kind?: string } & Record<string, unknown>;
  const parts = Object.entries(options).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  return `${kind ?? 'hard'}${parts.length > 0 ? `:${parts.join(',')}` : ''}`;
}

/**
 * Every sharing crossed with every weighting, labelled "sharing weighting" when there are
 * several sharings. With the default weightings (`defaults`), the gradient-based ones are
 * left out for the sharing kinds that have no one shared representation (every kind but hard:
 * the trainer refuses those pairs), with a line saying so; weightings the user names are all
 * kept, and such a pair is then the trainer's ConfigError.
 */
export function crossConfigurations(
  sharings: readonly { label: string; sharing: SharingConfig }[],
  weightings: readonly string[],
  defaults: boolean,
  log: (line: string) => void = (line) => console.log(line),
): CompareConfiguration[] {
  return sharings.flatMap((s) => {
    const hard = (s.sharing.kind ?? 'hard') === 'hard';
    const kept = defaults && !hard ? weightings.filter((w) => !ownEntry(GRADIENT_STRATEGIES, parseWeightingSpec(w).name)) : weightings;
    if (kept.length < weightings.length) {
      const left = weightings.filter((w) => !kept.includes(w));
      log(`note: ${s.label} sharing has no one shared representation, so the default gradient-based weightings (${left.join(', ')}) are not run with it`);
    }
    return kept.map((w) => ({ label: sharings.length > 1 ? `${s.label} ${w}` : w, weighting: w, sharing: s.sharing }));
  });
}

/** --sharings as labelled sharing configs (each checked as the model checks it), or the defaults for the file's sharing. */
function sharingsFlag(v: string | undefined, fileSharing: SharingConfig | undefined): { label: string; sharing: SharingConfig }[] {
  if (v === undefined) {
    const second: SharingConfig = fileSharing !== undefined && (fileSharing.kind ?? 'hard') !== 'hard' ? fileSharing : { kind: 'mmoe' };
    return [{ kind: 'hard' } as SharingConfig, second].map((sharing) => ({ label: sharingLabel(sharing), sharing }));
  }
  const out: { label: string; sharing: SharingConfig }[] = [];
  for (const spec of splitSpecs('sharings', 'sharing', v)) {
    let sharing: SharingConfig;
    try {
      sharing = parseSharingSpec(spec);
    } catch (e) {
      if (e instanceof ConfigError) throw new UsageError(`--sharings: ${JSON.stringify(spec)}: ${e.message}`);
      throw e;
    }
    if (out.some((o) => o.label === spec)) throw new UsageError(`--sharings: ${JSON.stringify(spec)} appears twice`);
    out.push({ label: spec, sharing });
  }
  return out;
}

/** Trains the comparison on `backend`, prints its table and writes --json; disposes the backend. */
async function runComparison(
  backend: Backend,
  options: Omit<CompareOptions, 'backend' | 'log'>,
  settings: Record<string, unknown>,
  jsonFile: string | undefined,
  fair?: { flags: FairFlags; test: MultiTaskDataset },
): Promise<void> {
  // Ctrl-C in a fair comparison: the first stops it (the finished runs are recorded in --out; with --jobs every child is killed), a second exits at once.
  const controller = new AbortController();
  const onSigint = (): void => {
    if (controller.signal.aborted) {
      process.stderr.write('\nhydranet: interrupted again: exiting now\n');
      process.exit(130);
    }
    process.stderr.write(
      `\nhydranet: interrupted: stopping${fair?.flags.jobs ? ' every run in progress' : ' after the current step'}; the finished runs are recorded in ${fair?.flags.outDir} (Ctrl-C again to exit at once)\n`,
    );
    controller.abort();
  };
  if (fair) process.on('SIGINT', onSigint);
  try {
    const protocol: Partial<CompareOptions> = fair ? { ...fair.flags, test: fair.test, validation: undefined, signal: controller.signal } : {};
    // The settings of the results file: what determines them (not --jobs, --threads or --out).
    if (fair) {
      const { outDir: _outDir, jobs: _jobs, threads: _threads, ...determining } = fair.flags;
      settings = { ...settings, ...determining };
    }
    const result = await compare({ ...options, ...protocol, backend, log: (line) => console.log(line) });
    console.log(`\n${formatComparison(result)}`);
    const json = JSON.stringify({ settings, backend: backend.name, ...result }, null, 2) + '\n';
    const environment = describeEnvironment(backend, undefined, new Date(performance.timeOrigin));
    if (jsonFile) {
      writeFileAtomic(jsonFile, json);
      console.log(`results: ${jsonFile}`);
      const report = await finishReport(jsonFile, { environment });
      if (report) console.log(`report: ${report.file}`);
    }
    if (fair) {
      // The fair comparison's folder of runs is its run folder: the results and their report go there too.
      writeFileAtomic(path.join(fair.flags.outDir, 'compare.json'), json);
      const report = await finishReport(fair.flags.outDir, { environment });
      if (report) console.log(`report: ${report.file}`);
    }
  } finally {
    process.off('SIGINT', onSigint);
    backend.dispose();
  }
}

/** " (2 threads)" for a cpu backend; with --jobs, the jobs and each child's threads. */
function threadInfo(backend: Backend, fair?: FairFlags): string {
  if (fair?.jobs) {
    const threads = childThreads(fair.jobs, fair.threads);
    return `; ${fair.jobs} runs at a time in child processes${'threads' in backend ? `, ${threads} thread${threads > 1 ? 's' : ''} each` : ''}`;
  }
  return 'threads' in backend ? ` (${String((backend as { threads: number }).threads)} threads)` : '';
}

/** Runs `hydranet compare` with `argv` (the words after "compare"). */
export async function compareCommand(argv: string[]): Promise<void> {
  const values = commandFlags(argv, COMPARE_FLAGS, COMPARE_HELP);
  if (!values) return;
  if (values.config !== undefined) return compareConfig(values.config, values);
  // Every flag is checked here, before any data is loaded or anything trains.
  const { presetName, preset, mlp, hidden, trunk, heads } = modelFlags(values);
  const epochs = int('epochs', values.epochs, 10);
  const batchSize = int('batch-size', values['batch-size'], preset.batchSize);
  const seed = int('seed', values.seed, 1, 0);
  const threads = values.threads === undefined ? undefined : int('threads', values.threads, 1);
  const trainSize = int('train-size', values['train-size'], preset.trainSize ?? 60000);
  const testSize = int('test-size', values['test-size'], preset.testSize ?? 10000);
  // The preset's tasks (MultiMNIST's left and right unless it names others; mmoe-synthetic's y1, y2).
  const TASKS: TaskSpec[] = presetTasks(preset);
  const multiMnist = (preset.data ?? 'multimnist') === 'multimnist';
  if (multiMnist && trainSize > 60000) throw new UsageError(`--train-size expects at most 60000 (the MultiMNIST training pairs), got ${trainSize}`);
  if (multiMnist && testSize > 10000) throw new UsageError(`--test-size expects at most 10000 (the MultiMNIST test pairs), got ${testSize}`);
  const optimizer = optimizerFlags(values, preset.optimizer);
  const select = selectFlag(values.select);
  const weightings = weightingsFlag(values.weightings);
  // --sharings, else the preset's own sharing (mmoe-synthetic's MMoE), else hard.
  const sharings =
    values.sharings !== undefined ? sharingsFlag(values.sharings, undefined) : preset.sharing ? [{ label: sharingLabel(preset.sharing), sharing: preset.sharing }] : undefined;
  const configurations: CompareConfiguration[] = sharings
    ? crossConfigurations(sharings, weightings, values.weightings === undefined)
    : weightings.map((w) => ({ label: w, weighting: w }));
  checkWeightings(TASKS, weightings.map((w) => ({ label: w, weighting: w })), optimizer.lr);
  const fair = fairFlags(values, optimizer);
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
    ...(sharings && { sharings: sharings.map((s) => s.label) }),
  };
  const { sharings: _sharings, ...baselineSettings } = settings;
  const baselines = values.baselines === undefined ? undefined : readBaselines(values.baselines, baselineSettings);
  const jsonFile = jsonFlag(values.json);
  // With --jobs the runs train in child processes: this backend only checks the configurations.
  const backend = await createBackend(values.backend ?? 'cpu', { threads: fair?.jobs ? 1 : threads });

  const { train: trainSet, validation: testSet, line } = presetData(preset, { seed, trainSize, testSize });
  console.log(
    `${line}; ` +
      `backend ${backend.name}${threadInfo(backend, fair)}; ${mlp ? `trunk ${hidden.join('-') || 'none'}` : presetName}; ${epochs} epochs of ${Math.ceil(trainSet.length / batchSize)} steps; ` +
      `${baselines ? 'given baselines' : `${TASKS.length} baselines`} + ${configurations.length} configurations` +
      (fair ? '' : `, reporting the ${select === 'best' ? 'best-validation' : 'last'} epoch`),
  );
  const options = { train: trainSet, validation: testSet, model, configurations, selection: select, baselines };
  const trainer = { optimizer, batchSize, epochs, seed, progress: values.progress && process.stderr.isTTY === true };
  await runComparison(backend, { ...options, trainer }, { ...settings }, jsonFile, fair && { flags: fair, test: testSet });
}

type CompareFlagValues = NonNullable<ReturnType<typeof commandFlags<typeof COMPARE_FLAGS>>>;

/**
 * `hydranet compare --config FILE`: the run file's data read and fitted as `train --config` does
 * (prepareConfigRun, flags over the file), every --sharings kind crossed with every --weightings
 * strategy, the single-task baselines with hard sharing.
 */
async function compareConfig(file: string, values: CompareFlagValues): Promise<void> {
  // The flags of compare itself first, then the file's structure and the shared flags (prepareConfigRun), then the data.
  const select = selectFlag(values.select);
  const weightings = weightingsFlag(values.weightings);
  if (values.sharings !== undefined) sharingsFlag(values.sharings, undefined);
  const threads = values.threads === undefined ? undefined : int('threads', values.threads, 1);
  const jsonFile = jsonFlag(values.json);
  const run = await prepareConfigRun(file, values);
  const { sharing: fileSharing, ...model } = run.model;
  // The file's weighting is the thing compared: --weightings replaces it.
  const { weighting: _fileWeighting, progress: fileProgress, ...trainer } = run.trainer;
  const sharings = sharingsFlag(values.sharings, fileSharing);
  const configurations = crossConfigurations(sharings, weightings, values.weightings === undefined);
  checkWeightings(model.tasks, weightings.map((w) => ({ label: w, weighting: w })), trainer.optimizer.lr);
  const fair = fairFlags(values, trainer.optimizer);
  const { maxBatch: _maxBatch, ...judgedModel } = model;
  const settings = { config: path.resolve(file), model: judgedModel, trainer, select };
  const baselines = values.baselines === undefined ? undefined : readBaselines(values.baselines, settings);
  const validation = run.data.validation;
  if (!validation) throw new UsageError(`${file}: compare needs validation rows to select and report on (data.validation or data.validationSplit)`);
  const backend = await createBackend(values.backend ?? 'cpu', { threads: fair?.jobs ? 1 : threads });
  for (const line of run.data.summary) console.log(line);
  console.log(
    `backend ${backend.name}${threadInfo(backend, fair)}; ${trainer.epochs} epochs of ${Math.ceil(run.data.train.length / trainer.batchSize)} steps; ` +
      `${baselines ? 'given baselines' : `${model.tasks.filter((t) => !t.auxiliary).length} baselines`} + ${configurations.length} configurations ` +
      `(sharing ${sharings.map((s) => s.label).join(', ')} × weighting ${weightings.join(', ')})` +
      (fair ? `; the file's validation rows are the test set` : `, reporting the ${select === 'best' ? 'best-validation' : 'last'} epoch`),
  );
  const progress = values.progress && fileProgress !== false && process.stderr.isTTY === true;
  await runComparison(
    backend,
    { train: run.data.train, validation, model, trainer: { ...trainer, progress }, configurations, selection: select, baselines },
    settings,
    jsonFile,
    fair && { flags: fair, test: validation },
  );
}
