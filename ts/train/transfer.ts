/**
 * Transferability between tasks, Taskonomy-style (Zamir et al. 2018), offline: for each source
 * task i, a hard-sharing network is trained on task i alone; its trunk is then frozen and, for
 * each target task j, a fresh head for j is fitted on a limited label budget (the first
 * `budget` samples of a seeded shuffle of the training set) and evaluated on the validation set.
 * The baseline of target j is the same head-only fit on a randomly initialised frozen trunk
 * (the model's own initialisation, same seed), and optionally (`scratch`) the whole network
 * trained from scratch end-to-end on the same budget. The gain of i → j is
 *
 *   gain(i → j) = metric(i → j) − metric(random trunk → j)
 *
 * on j's headline metric (its first), sign-flipped for metrics where lower is better, so a
 * positive gain always means the source's trunk helps. Every fit uses the same optimizer, batch
 * size and seed; the head fits freeze the trunk with Optimizer.restrict (its parameters and
 * optimizer state never move; a dropout layer in the trunk still drops in training mode). The
 * metric reported is the last epoch's (no selection on the validation set).
 */
import type { Backend } from '../backends/backend.js';
import { Rng } from '../core/random.js';
import { checkKeys } from '../core/options.js';
import type { MultiTaskDataset } from '../data/dataset.js';
import { ConfigError, describe, expectInt } from '../errors.js';
import { type ModelConfig, MultiTaskModel } from '../mtl/model.js';
import { HIGHER_IS_BETTER, resolveTask } from '../mtl/task.js';
import type { OptimizerConfig } from './optimizer.js';
import { Trainer } from './trainer.js';

/** How one stage (source training, head fit) trains. */
export interface TransferStage {
  /** The optimizer. */
  optimizer: OptimizerConfig;
  /** Samples per step (≤ the model's maxBatch). */
  batchSize: number;
  /** Epochs. */
  epochs: number;
}

/** Options of {@link transferability}. Unknown keys are ConfigErrors. */
export interface TransferOptions {
  /** The backend every run trains on. */
  backend: Backend;
  /** Training set: the sources train on all of it, the head fits on `budget` samples of it. */
  train: MultiTaskDataset;
  /** Where every head fit is evaluated. */
  validation: MultiTaskDataset;
  /** Trunk, heads and tasks (hard sharing only; the tasks are the sources and the targets). */
  model: ModelConfig;
  /** How each source network trains on its task alone. */
  source: TransferStage;
  /** How each head is fitted (default: the source's settings). */
  target?: TransferStage;
  /** Labelled samples each head fit (and the scratch baseline) sees. */
  budget: number;
  /** Also train each target from scratch end-to-end on the budget (default false). */
  scratch?: boolean;
  /** Only these tasks, in this order (default: every task of the model). */
  tasks?: readonly string[];
  /** Seed of the budget's shuffle, the initialisations and the training (default 1). */
  seed?: number;
  /** One line per finished fit. */
  log?: (line: string) => void;
}

/** What {@link transferability} measured; plain JSON. */
export interface TransferResult {
  /** Task names: rows (sources) and columns (targets) of every table. */
  tasks: string[];
  /** Per target task, the metric reported (its first). */
  metric: Record<string, string>;
  /** Whether a larger metric is better, per target. */
  higherIsBetter: Record<string, boolean>;
  /** The label budget of each head fit. */
  budget: number;
  /** metric[i][j]: target j's metric with a head fitted on source i's frozen trunk. */
  table: number[][];
  /** Per target: the head fitted on a randomly initialised frozen trunk. */
  baseline: number[];
  /** Per target: the whole network trained from scratch on the budget (with `scratch`). */
  scratch?: number[];
  /** gain[i][j] = table[i][j] − baseline[j] (negated where lower is better): > 0, the source helps. */
  gain: number[][];
  /** Per source: its own metric after source training (trained on the whole training set). */
  sourceMetric: number[];
}

const OPTION_KEYS = ['backend', 'train', 'validation', 'model', 'source', 'target', 'budget', 'scratch', 'tasks', 'seed', 'log'];
const STAGE_KEYS = ['optimizer', 'batchSize', 'epochs'];

/**
 * The T×T transferability table of the module comment. Trains T source networks and T·(T + 1)
 * head fits (T more with `scratch`), one after another. ConfigError for unknown keys, a sharing
 * kind other than hard, an unknown task name; ValueError for a budget outside [1, train.length].
 */
export async function transferability(opts: TransferOptions): Promise<TransferResult> {
  checkKeys(opts, OPTION_KEYS, 'transferability options');
  const { backend, train, validation, model } = opts;
  checkKeys(opts.source, STAGE_KEYS, 'transferability options.source');
  const target = opts.target ?? opts.source;
  checkKeys(target, STAGE_KEYS, 'transferability options.target');
  const budget = expectInt('transferability options.budget', opts.budget);
  if (budget > train.length) throw new ConfigError(`transferability options.budget ${budget} exceeds the ${train.length} training samples`);
  const seed = expectInt('transferability options.seed', opts.seed ?? 1, 0);
  const sharing = model?.sharing?.kind ?? 'hard';
  if (sharing !== 'hard') throw new ConfigError(`transferability needs hard sharing (one trunk to freeze and hand over), got sharing ${describe(sharing)}`);
  if (!Array.isArray(model?.tasks)) throw new ConfigError(`Expected a model config with tasks but received ${describe(model)}`);
  const names = opts.tasks ? [...opts.tasks] : model.tasks.map((t) => t.name);
  const specs = names.map((n) => {
    const spec = model.tasks.find((t) => t.name === n);
    if (!spec) throw new ConfigError(`transferability options.tasks: no task ${JSON.stringify(n)} in the model (it has ${model.tasks.map((t) => t.name).join(', ')})`);
    return spec;
  });
  const tasks = specs.map((s, i) => resolveTask(s, i));
  const log = opts.log ?? (() => {});

  // The budget: the first `budget` samples of a seeded shuffle.
  const order = new Rng(seed).shuffle(Int32Array.from({ length: train.length }, (_, i) => i));
  const small = train.select(order.slice(0, budget).sort());

  const single = (k: number): ModelConfig => ({ ...model, sharing: { kind: 'hard' }, tasks: [specs[k]], seed });
  const settings = (stage: TransferStage) => ({ ...stage, seed, progress: false, log: null, runDir: null });
  const fit = async (net: MultiTaskModel, stage: TransferStage, data: MultiTaskDataset, frozenTrunk: boolean): Promise<number> => {
    const trainer = new Trainer(net, settings(stage));
    if (frozenTrunk) {
      const shared = net.sharedParameterSize;
      trainer.optimizer.restrict({ offset: shared, length: net.params.arenaSize - shared });
    }
    const history = await trainer.fit(data, { validation });
    const task = net.tasks[0];
    return history.at(-1)?.validation?.[task.name]?.[task.metrics[0]] ?? NaN;
  };

  // Baselines: a head on the randomly initialised trunk (and, asked for, the whole network from scratch).
  const baseline: number[] = [];
  const scratch: number[] = [];
  for (let j = 0; j < tasks.length; j++) {
    baseline.push(await fit(new MultiTaskModel(backend, single(j)), target, small, true));
    if (opts.scratch) scratch.push(await fit(new MultiTaskModel(backend, single(j)), target, small, false));
    log(`baseline ${tasks[j].name}: random trunk ${format(baseline[j])}${opts.scratch ? `, from scratch ${format(scratch[j])}` : ''}`);
  }

  const table: number[][] = [];
  const sourceMetric: number[] = [];
  for (let i = 0; i < tasks.length; i++) {
    const src = new MultiTaskModel(backend, single(i));
    sourceMetric.push(await fit(src, opts.source, train, false));
    const row: number[] = [];
    for (let j = 0; j < tasks.length; j++) {
      const net = new MultiTaskModel(backend, single(j));
      copyTrunk(src, net);
      row.push(await fit(net, target, small, true));
    }
    table.push(row);
    log(`source ${tasks[i].name} (own ${format(sourceMetric[i])}): ${tasks.map((t, j) => `${t.name} ${format(row[j])}`).join(', ')}`);
  }
  const higher = tasks.map((t) => HIGHER_IS_BETTER[t.metrics[0]]);
  return {
    tasks: tasks.map((t) => t.name),
    metric: Object.fromEntries(tasks.map((t) => [t.name, t.metrics[0]])),
    higherIsBetter: Object.fromEntries(tasks.map((t, j) => [t.name, higher[j]])),
    budget,
    table,
    baseline,
    ...(opts.scratch && { scratch }),
    gain: table.map((row) => row.map((v, j) => (higher[j] ? v - baseline[j] : baseline[j] - v))),
    sourceMetric,
  };
}

/** Copies `from`'s trunk (the arena prefix of sharedParameterSize) into `to`, after checking the two trunks are laid out alike. */
function copyTrunk(from: MultiTaskModel, to: MultiTaskModel): void {
  const size = from.sharedParameterSize;
  const layout = (m: MultiTaskModel): string =>
    m.params.parameters.filter((p) => p.offset < size).map((p) => `${p.name}@${p.offset}[${p.shape.join(',')}]`).join(' ');
  if (size === 0 || to.sharedParameterSize !== size || layout(from) !== layout(to)) {
    throw new ConfigError(`transferability: the trunks of ${from.tasks[0].name} and ${to.tasks[0].name} are not laid out alike`);
  }
  const b = from.backend;
  b.copy(b.view(from.params.values, 0, [size]), b.view(to.params.values, 0, [size]));
}

function format(v: number): string {
  return v.toFixed(4);
}

/** The table as aligned text: the gain of each source (row) onto each target (column), the baselines below. */
export function formatTransfer(result: TransferResult): string {
  const w = Math.max(10, ...result.tasks.map((t) => t.length + 1));
  const cell = (s: string): string => s.padStart(w);
  const lines = [
    `gain of a head on source's frozen trunk over a head on a random trunk (${result.budget} labelled samples; rows: source, columns: target)`,
    ''.padEnd(w) + result.tasks.map(cell).join(''),
    ...result.tasks.map((s, i) => s.padEnd(w) + result.gain[i].map((g) => cell(`${g >= 0 ? '+' : ''}${g.toFixed(4)}`)).join('')),
    'random'.padEnd(w) + result.baseline.map((v) => cell(v.toFixed(4))).join(''),
  ];
  if (result.scratch) lines.push('scratch'.padEnd(w) + result.scratch.map((v) => cell(v.toFixed(4))).join(''));
  return lines.join('\n') + '\n';
}
