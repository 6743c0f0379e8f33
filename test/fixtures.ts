/** Shared test fixtures: the MultiMNIST two-task MLP most training tests use. */
import type { ModelConfig } from '../ts/mtl/model.js';

/** A hard-sharing MLP on 28×28 MultiMNIST with linear heads for "left" and "right". */
export function multiMnistMlp(units: readonly number[], maxBatch: number, seed: number, extra: Partial<ModelConfig> = {}): ModelConfig {
  return {
    inputShape: [28, 28],
    trunk: units.map((u) => ({ type: 'dense' as const, units: u, activation: 'relu' as const })),
    tasks: [
      { name: 'left', kind: 'classification', classes: 10 },
      { name: 'right', kind: 'classification', classes: 10 },
    ],
    maxBatch,
    seed,
    ...extra,
  };
}
