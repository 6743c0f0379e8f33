/**
 * Named model + training configurations (`hydranet train --preset NAME`).
 *
 * multimnist-lenet: Sener & Koltun's (2018) MultiLeNet (their multi_task/models/multi_lenet.py):
 * trunk conv 5×5 ×10 → max-pool 2 → ReLU → conv 5×5 ×20 → dropout2d 0.5 → max-pool 2 → ReLU →
 * dense 320→50 → ReLU; heads dense 50→50 → ReLU → dropout 0.5 → dense 50→10; SGD, batch 256.
 * Differences from their code, on purpose: their dropouts do not rescale by 1/(1−p) (so
 * activations at evaluation are twice those in training) and their conv2 dropout mask is shared
 * by the whole batch; ours are the standard inverted, per-sample dropouts. Their MNIST learning
 * rate is not in their configs; lr 0.01 with momentum 0.9 is ours.
 *
 * multimnist-affinity: the MultiLeNet trunk and heads with five tasks from the same images (left,
 * right, left-parity, sum-mod10, noise: see MultiMnistTask), for `hydranet affinity` (issue 17's
 * demonstration), sized for a 2-core CPU (about 15 s): 10,000 training pairs, batch 64, 4
 * epochs, plain SGD with lr 0.1. No momentum on purpose: with momentum every source's lookahead
 * step also carries the same μ·(momentum buffer), which shifts each target's column by one
 * common amount, so the sign of Z(i→j) no longer tells whether task i's own gradient helps j.
 *
 * mmoe-synthetic: Ma et al.'s (2018) synthetic two-task regression (makeMmoeSynthetic) with the
 * MMoE of {@link MMOE_SYNTHETIC_PRESET}; `--preset mmoe-synthetic:rho=0.5` sets the task
 * correlation ρ (default 0.7).
 */
import { checkKeys, nameTable, ownEntry } from '../core/options.js';
import type { MultiTaskDataset } from '../data/dataset.js';
import { makeMmoeSynthetic } from '../data/mmoe-synthetic.js';
import { type MultiMnistTask, makeMultiMnist, multiMnistTaskSpecs } from '../data/multimnist.js';
import { ConfigError, describe } from '../errors.js';
import type { LayerSpec } from '../mtl/model.js';
import type { SharingConfig } from '../mtl/sharing/index.js';
import type { TaskSpec } from '../mtl/task.js';
import { parseWeightingSpec } from '../mtl/weighting/index.js';
import type { HeadsConfig } from '../nn/heads.js';
import type { OptimizerConfig } from './optimizer.js';

/** Where a preset's data comes from: MultiMNIST pairs, or Ma et al.'s synthetic regression (makeMmoeSynthetic). */
export type PresetData = 'multimnist' | 'mmoe-synthetic';

/** A named model + training configuration. */
export interface Preset {
  description: string;
  /** The data it trains on (default 'multimnist'). */
  data?: PresetData;
  inputShape: readonly number[];
  trunk: readonly LayerSpec[];
  heads: HeadsConfig;
  /** How the tasks share the trunk (default hard; the CLI's --sharing replaces it). */
  sharing?: SharingConfig;
  batchSize: number;
  epochs: number;
  optimizer: OptimizerConfig;
  /** The MultiMNIST tasks (default ['left', 'right']; multimnist data only). */
  tasks?: readonly MultiMnistTask[];
  /** Training samples used (MultiMNIST: the first N of the 60,000 pairs; default all). */
  trainSize?: number;
  /** Test samples used (MultiMNIST: the first N of the 10,000 pairs; default all). */
  testSize?: number;
  /** mmoe-synthetic data: the task correlation ρ in [−1, 1] (the generator's; default 0.7). */
  rho?: number;
}

/** Sener & Koltun's MultiLeNet trunk (see the file's comment). */
const LENET_TRUNK: readonly LayerSpec[] = [
  { type: 'conv2d', filters: 10, kernel: 5 },
  { type: 'maxpool2d', size: 2 },
  { type: 'activation', activation: 'relu' },
  { type: 'conv2d', filters: 20, kernel: 5 },
  { type: 'dropout2d', p: 0.5 },
  { type: 'maxpool2d', size: 2 },
  { type: 'activation', activation: 'relu' },
  { type: 'flatten' },
  { type: 'dense', units: 50, activation: 'relu' },
];
/** MultiLeNet's heads: 50 → 50 → ReLU → dropout 0.5 → outputs. */
const LENET_HEADS: HeadsConfig = { hidden: [50], activation: 'relu', dropout: 0.5 };

/**
 * Ma et al.'s (2018) synthetic benchmark (makeMmoeSynthetic, ρ a knob): MMoE with 8 experts of
 * one dense layer of 16 ReLU units and a softmax gate per task, towers of one hidden layer of 8
 * ReLU units, two regression tasks y1, y2 on 100 features; Adam lr 1e-3, batch 128, 100 epochs;
 * 10,000 training and 2,000 test samples of one draw (ρ 0.7 unless set). The CLI's
 * `--preset mmoe-synthetic`; bench/mmoe/synthetic.ts trains it beside hard sharing and OMoE.
 */
export const MMOE_SYNTHETIC_PRESET: Preset & { sharing: SharingConfig } = {
  description: "Ma et al.'s synthetic two-task regression y1, y2 (rho 0.7; mmoe-synthetic:rho=X sets it): MMoE, 8 experts of 16 units, towers of 8 (Adam, batch 128, 100 epochs)",
  data: 'mmoe-synthetic',
  inputShape: [100],
  trunk: [{ type: 'dense', units: 16, activation: 'relu' }],
  heads: { hidden: [8], activation: 'relu' },
  sharing: { kind: 'mmoe', experts: 8 },
  batchSize: 128,
  epochs: 100,
  optimizer: { kind: 'adamw', lr: 1e-3, weightDecay: 0 },
  trainSize: 10000,
  testSize: 2000,
  rho: 0.7,
};

/** The presets by name (a table without a prototype: look names up with ownEntry). */
export const PRESETS: Record<string, Preset> = nameTable({
  'multimnist-mlp': {
    description: 'hard-sharing MLP 784→512→256 with linear heads (the default)',
    inputShape: [28, 28],
    trunk: [
      { type: 'dense', units: 512, activation: 'relu' },
      { type: 'dense', units: 256, activation: 'relu' },
    ],
    heads: { hidden: [] },
    batchSize: 256,
    epochs: 10,
    optimizer: { kind: 'sgd', lr: 0.05, momentum: 0.9 },
  },
  'multimnist-lenet': {
    description: "Sener & Koltun's MultiLeNet: shared LeNet trunk, heads 50→50→10 (SGD, batch 256, 100 epochs)",
    inputShape: [1, 28, 28],
    trunk: LENET_TRUNK,
    heads: LENET_HEADS,
    batchSize: 256,
    epochs: 100,
    optimizer: { kind: 'sgd', lr: 0.01, momentum: 0.9 },
  },
  'multimnist-affinity': {
    description: 'MultiLeNet with tasks left, right, left-parity, sum-mod10 and noise, for hydranet affinity (10,000 pairs, batch 64, 4 epochs, SGD lr 0.1)',
    inputShape: [1, 28, 28],
    trunk: LENET_TRUNK,
    heads: LENET_HEADS,
    batchSize: 64,
    epochs: 4,
    optimizer: { kind: 'sgd', lr: 0.1, momentum: 0 },
    tasks: ['left', 'right', 'left-parity', 'sum-mod10', 'noise'],
    trainSize: 10000,
    testSize: 1000,
  },
  'mmoe-synthetic': MMOE_SYNTHETIC_PRESET,
});


/** The options a preset name may carry ("mmoe-synthetic:rho=0.5"), by data source. */
const PRESET_OPTIONS: Record<PresetData, readonly string[]> = { multimnist: [], 'mmoe-synthetic': ['rho'] };

/**
 * A preset by its CLI form "NAME" or "NAME:key=value" (mmoe-synthetic takes rho, a number in
 * [−1, 1]): the preset with the options set. ConfigError naming what is wrong: an unknown name
 * (listing the names), a key the preset does not take, a bad value.
 */
export function resolvePreset(text: string): { name: string; preset: Preset } {
  const { name, options = {} } = parseWeightingSpec(text);
  const preset = ownEntry(PRESETS, name);
  if (!preset) throw new ConfigError(`Expected one of the presets ${Object.keys(PRESETS).join(', ')} but received ${describe(name)}`);
  checkKeys(options, PRESET_OPTIONS[preset.data ?? 'multimnist'], `the options of preset ${name}`);
  if (options.rho === undefined) return { name, preset };
  const rho = options.rho;
  if (typeof rho !== 'number' || !(rho >= -1 && rho <= 1)) throw new ConfigError(`Expected a number in [-1, 1] for rho of preset ${name} but received ${describe(rho)}`);
  return { name, preset: { ...preset, rho } };
}

/** A preset's tasks, as the model takes them: its MultiMNIST tasks, or mmoe-synthetic's regressions y1 and y2. */
export function presetTasks(preset: Preset): TaskSpec[] {
  if (preset.data === 'mmoe-synthetic') {
    return [
      { name: 'y1', kind: 'regression' },
      { name: 'y2', kind: 'regression' },
    ];
  }
  return multiMnistTaskSpecs(preset.tasks ?? ['left', 'right']);
}

/** What {@link presetData} makes: the training and validation sets and a line saying what they are. */
export interface PresetDataSets {
  train: MultiTaskDataset;
  validation: MultiTaskDataset;
  /** e.g. "MultiMNIST: 60000 training and 10000 test pairs (1.2 s)". */
  line: string;
}

/**
 * A preset's data, seeded: MultiMNIST's first `trainSize` training and `testSize` test pairs
 * (default all; the test pairs with seed + 1), or one makeMmoeSynthetic draw of trainSize +
 * testSize samples at the preset's ρ (default 10,000 + 2,000), split in that order.
 */
export function presetData(preset: Preset, options: { seed: number; trainSize?: number; testSize?: number }): PresetDataSets {
  const { seed, trainSize, testSize } = options;
  const t0 = performance.now();
  const took = (): string => `${((performance.now() - t0) / 1000).toFixed(1)} s`;
  if (preset.data === 'mmoe-synthetic') {
    const nTrain = trainSize ?? preset.trainSize ?? 10000;
    const nTest = testSize ?? preset.testSize ?? 2000;
    const rho = preset.rho ?? 0.7;
    const data = makeMmoeSynthetic({ rho, n: nTrain + nTest, seed });
    const train = data.slice(0, nTrain);
    const validation = data.slice(nTrain, nTrain + nTest);
    return { train, validation, line: `MMoE synthetic (rho ${rho}): ${train.length} training and ${validation.length} test samples (${took()})` };
  }
  const train = makeMultiMnist({ split: 'train', seed, count: trainSize, tasks: preset.tasks });
  const validation = makeMultiMnist({ split: 'test', seed: seed + 1, count: testSize, tasks: preset.tasks });
  return { train, validation, line: `MultiMNIST: ${train.length} training and ${validation.length} test pairs (${took()})` };
}
