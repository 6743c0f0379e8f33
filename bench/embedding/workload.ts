/**
 * The embedding-heavy workload of bench/embedding (issue 20), one definition for hydranet
 * (run.ts), PyTorch (torch_embedding.py, given these values on its command line) and
 * TensorFlow.js (tfjs_embedding.ts): 13 numeric fields and 26 categorical fields whose
 * vocabularies are log-spaced from 10 to 100,000 (324,475 rows in all), each embedded in 16
 * values; the 13 + 26·16 = 429 features feed an MMoE of 8 experts of two dense ReLU layers of 256
 * units with a softmax gate per task, towers of one hidden ReLU layer of 64 units, two binary
 * tasks (sigmoid cross-entropy, batch mean, summed), batch 4096, plain SGD (lr 0.01, no momentum).
 */
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
