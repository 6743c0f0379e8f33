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
 */
import { nameTable } from '../core/options.js';
import type { LayerSpec } from '../mtl/model.js';
import type { HeadsConfig } from '../nn/heads.js';
import type { OptimizerConfig } from './optimizer.js';

/** A named model + training configuration. */
export interface Preset {
  description: string;
  inputShape: readonly number[];
  trunk: readonly LayerSpec[];
  heads: HeadsConfig;
  batchSize: number;
  epochs: number;
  optimizer: OptimizerConfig;
}

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
    trunk: [
      { type: 'conv2d', filters: 10, kernel: 5 },
      { type: 'maxpool2d', size: 2 },
      { type: 'activation', activation: 'relu' },
      { type: 'conv2d', filters: 20, kernel: 5 },
      { type: 'dropout2d', p: 0.5 },
      { type: 'maxpool2d', size: 2 },
      { type: 'activation', activation: 'relu' },
      { type: 'flatten' },
      { type: 'dense', units: 50, activation: 'relu' },
    ],
    heads: { hidden: [50], activation: 'relu', dropout: 0.5 },
    batchSize: 256,
    epochs: 100,
    optimizer: { kind: 'sgd', lr: 0.01, momentum: 0.9 },
  },
});
