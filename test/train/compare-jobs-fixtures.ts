/**
 * The fixed comparison of test/train/compare-jobs.spec.ts, shared with the child process of
 * compare-jobs-tmp.spec.ts (compare-jobs-child.ts): a synthetic dataset, a small model, the
 * pinned configuration, and the compare-worker children of a process.
 */
import * as fs from 'node:fs';
import type { Backend } from '../../ts/backends/backend.js';
import { MultiTaskDataset } from '../../ts/data/dataset.js';
import type { ModelConfig } from '../../ts/mtl/model.js';
import type { CompareOptions } from '../../ts/train/compare.js';

/** A fixed synthetic dataset: n rows of 4 inputs, tasks a (3 classes) and b (2). */
export function synthetic(n: number, off: number): MultiTaskDataset {
  return new MultiTaskDataset({
    inputs: Float32Array.from({ length: n * 4 }, (_, i) => Math.sin(0.37 * (i + off))),
    inputShape: [4],
    labels: {
      a: Float32Array.from({ length: n }, (_, i) => (i * 7 + off) % 3),
      b: Float32Array.from({ length: n }, (_, i) => (i * 5 + off) % 2),
    },
  });
}

export const MODEL: ModelConfig = {
  inputShape: [4],
  trunk: [{ type: 'dense', units: 6, activation: 'relu' }],
  tasks: [
    { name: 'a', kind: 'classification', classes: 3 },
    { name: 'b', kind: 'classification', classes: 2 },
  ],
  maxBatch: 8,
  seed: 3,
};

/** The fixed configuration whose run records are pinned: 2 baselines + equal, lr ∈ {0.05, 0.1}, 1 seed: 9 runs. */
export const pinned = (backend: Backend, outDir: string, extra: Partial<CompareOptions> = {}): CompareOptions => ({
  backend,
  train: synthetic(40, 0),
  test: synthetic(12, 1000),
  model: MODEL,
  trainer: { optimizer: { kind: 'sgd', lr: 0.05, momentum: 0.9 }, batchSize: 8, epochs: 2, seed: 4 },
  configurations: [{ label: 'equal', weighting: 'equal' }],
  search: { lr: [0.05, 0.1] },
  seeds: 1,
  validationFraction: 0.25,
  outDir,
  ...extra,
});

/** The compare-worker child processes of process `parent` that are alive. */
export function workersOf(parent: number): number[] {
  const pids: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === parent && fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').includes('compare-worker')) pids.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}
