/**
 * The embedding-heavy workload (issue 20), one definition for hydranet (run.ts, and the main
 * bench's workload E1: bench/phases/embedding.ts, bench/breakdown.ts), PyTorch
 * (torch_embedding.py, given these values on its command line by torchEmbeddingArgs) and
 * TensorFlow.js (tfjs_embedding.ts): 13 numeric fields and 26 categorical fields whose
 * vocabularies are log-spaced from 10 to 100,000 (324,475 rows in all), each embedded in 16
 * values; the 13 + 26·16 = 429 features feed an MMoE of 8 experts of two dense ReLU layers of 256
 * units with a softmax gate per task, towers of one hidden ReLU layer of 64 units, two binary
 * tasks (sigmoid cross-entropy, batch mean, summed), batch 4096, plain SGD (lr 0.01, no momentum),
 * the tables stepped row-sparsely as the Trainer steps them (only the rows the batch looked up).
 */
import type { Backend } from '../../ts/backends/backend.js';
import { Rng } from '../../ts/core/random.js';
import { MultiTaskModel } from '../../ts/mtl/model.js';
import { Optimizer } from '../../ts/train/optimizer.js';

export const EMBEDDING_WORKLOAD = {
  numeric: 13,
  /** 26 vocabularies, log-spaced from 10 to 1e5. */
  vocabs: Array.from({ length: 26 }, (_, f) => Math.round(10 ** (1 + (4 * f) / 25))),
  dim: 16,
  experts: 8,
  expertUnits: [256, 256],
  tower: 64,
  tasks: 2,
  batch: 4096,
  lr: 0.01,
};

/** The workload's shape, with the batch as run. */
export type EmbeddingWorkload = typeof EMBEDDING_WORKLOAD;

/** The embedding workload's name among the main bench's workloads (`--workload E1`). */
export const EMBEDDING_NAME = 'E1';

/** "13 numeric + 26 categorical fields (…), MMoE 8 experts of 256×256, towers [64], 2 binary tasks, batch 4096, SGD lr 0.01 (row-sparse tables)". */
export function describeEmbedding(w: EmbeddingWorkload = EMBEDDING_WORKLOAD): string {
  const rows = w.vocabs.reduce((a, b) => a + b, 0);
  return (
    `${w.numeric} numeric + ${w.vocabs.length} categorical fields (vocab ${w.vocabs[0]}…${w.vocabs.at(-1)}, ${rows} rows, dim ${w.dim}), ` +
    `MMoE ${w.experts} experts of ${w.expertUnits.join('×')}, towers [${w.tower}], ${w.tasks} binary tasks, batch ${w.batch}, SGD lr ${w.lr} (row-sparse tables)`
  );
}

/**
 * GEMM floating-point operations of one training step (2mnk each: forward, dX and dW of every
 * expert layer, the gates and the towers; every dX is computed, the first expert layer's too,
 * since its input is the embedding's output).
 */
export function embeddingStepFlops(w: EmbeddingWorkload = EMBEDDING_WORKLOAD): number {
  const width = w.numeric + w.vocabs.length * w.dim;
  const macs = (ins: number, outs: readonly number[]): number => outs.reduce((a, o, i) => a + (i ? outs[i - 1] : ins) * o, 0);
  const perSample = w.experts * macs(width, w.expertUnits) + width * w.experts * w.tasks + w.tasks * macs(w.expertUnits.at(-1)!, [w.tower, 1]);
  return 2 * 3 * w.batch * perSample;
}

/**
 * The workload's model, its optimizer (SGD, momentum 0, the tables row-sparse as the Trainer
 * passes model.embedding) and one uploaded batch (N(0, 1) numeric values, uniform random
 * indices as f32 in the categorical columns, random labels) on `backend`: `run(k)` is k real
 * training steps, no readbacks.
 */
export class EmbeddingStep {
  readonly model: MultiTaskModel;
  readonly optimizer: Optimizer;
  private count = 0;

  constructor(
    readonly backend: Backend,
    readonly workload: EmbeddingWorkload = EMBEDDING_WORKLOAD,
  ) {
    const w = workload;
    const width = w.numeric + w.vocabs.length;
    this.model = new MultiTaskModel(backend, {
      inputShape: [width],
      embedding: { fields: w.vocabs.map((vocab, f) => ({ column: w.numeric + f, vocab, dim: w.dim })) },
      trunk: w.expertUnits.map((units) => ({ type: 'dense' as const, units, activation: 'relu' as const })),
      sharing: { kind: 'mmoe', experts: w.experts },
      heads: { hidden: [w.tower], activation: 'relu' },
      tasks: Array.from({ length: w.tasks }, (_, t) => ({ name: `task${t}`, kind: 'binary' as const })),
      maxBatch: w.batch,
      seed: 1,
    });
    this.optimizer = new Optimizer(backend, this.model.params, { kind: 'sgd', lr: w.lr, momentum: 0 }, this.model.embedding);
    const rng = new Rng(2);
    const inputs = new Float32Array(w.batch * width);
    for (let i = 0; i < w.batch; i++) {
      for (let c = 0; c < w.numeric; c++) inputs[i * width + c] = rng.normal();
      w.vocabs.forEach((vocab, f) => (inputs[i * width + w.numeric + f] = rng.int(vocab)));
    }
    const targets = Float32Array.from({ length: w.batch * w.tasks }, () => rng.int(2));
    this.model.loadBatch(w.batch, inputs, targets);
  }

  /** `k` training steps on the loaded batch. No readbacks. */
  run(k: number): void {
    for (let i = 0; i < k; i++) {
      this.model.forwardBackward(this.workload.batch, { training: true, seed: ++this.count });
      this.optimizer.step();
    }
  }

  /** Process CPU seconds (every thread's) per step over `steps` more steps: with one thread, close to a quiet machine's step even when other work shares the cores. */
  async cpuSecondsPerStep(steps: number): Promise<number> {
    const c0 = process.cpuUsage();
    this.run(steps);
    await this.backend.sync();
    const c = process.cpuUsage(c0);
    return (c.user + c.system) / 1e6 / steps;
  }

  /** The summed loss of the last step (a readback: call outside the timed windows). */
  async loss(): Promise<number> {
    await this.backend.sync();
    return (await this.backend.read(this.model.losses)).reduce((a, b) => a + b, 0);
  }
}

/** The workload as bench/embedding/torch_embedding.py's flags (so that both sides train the same model). */
export function torchEmbeddingArgs(w: EmbeddingWorkload = EMBEDDING_WORKLOAD): string[] {
  return [
    ...['--numeric', w.numeric, '--vocabs', w.vocabs.join(','), '--dim', w.dim, '--experts', w.experts, '--expert-units', w.expertUnits.join(',')],
    ...['--tower', w.tower, '--tasks', w.tasks, '--batch', w.batch, '--lr', w.lr],
  ].map(String);
}
