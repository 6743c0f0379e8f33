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
 */
import { nameTable } from '../core/options.js';
import type { LayerSpec } from '../mtl/model.js';
import type { HeadsConfig } from '../nn/heads.js';
import type { MultiMnistTask } from '../data/multimnist.js';
import type { OptimizerConfig } from './optimizer.js';
import type { SharingConfig } from '../mtl/sharing/index.js';

/** A named model + training configuration. */
export interface Preset {
  description: string;
  inputShape: readonly number[];
  trunk: readonly LayerSpec[];
  heads: HeadsConfig;
  batchSize: number;
  epochs: number;
  optimizer: OptimizerConfig;
  /** The MultiMNIST tasks (default ['left', 'right']). */
  tasks?: readonly MultiMnistTask[];
  /** Training pairs used (the first N of the 60,000; default all). */
  trainSize?: number;
  /** Test pairs used (the first N of the 10,000; default all). */
  testSize?: number;
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
});

/**
 * Ma et al.'s (2018) synthetic benchmark (makeMmoeSynthetic, ρ a knob): MMoE with 8 experts of
 * one dense layer of 16 ReLU units and a softmax gate per task, towers of one hidden layer of 8
 * ReLU units, two regression tasks y1, y2 on 100 features; Adam lr 1e-3, batch 128, 100 epochs;
 * 10,000 training and 2,000 test samples of one draw. Kept out of {@link PRESETS} (whose entries are
 * MultiMNIST runs the CLI trains): bench/mmoe/synthetic.ts trains it beside hard sharing.
 */
export const MMOE_SYNTHETIC_PRESET: Preset & { sharing: SharingConfig } = {
  description: "Ma et al.'s synthetic two-task regression: MMoE, 8 experts of 16 units, towers of 8 (Adam, batch 128, 100 epochs)",
  inputShape: [100],
  trunk: [{ type: 'dense', units: 16, activation: 'relu' }],
  heads: { hidden: [8], activation: 'relu' },
  sharing: { kind: 'mmoe', experts: 8 },
  batchSize: 128,
  epochs: 100,
  optimizer: { kind: 'adamw', lr: 1e-3, weightDecay: 0 },
  trainSize: 10000,
  testSize: 2000,
};
