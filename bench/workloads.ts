/**
 * The benchmark workloads, defined once and shared by hydranet and the PyTorch peer
 * (bench/peers/torch_mlp.py mirrors these numbers; keep the two in step).
 *
 *  W1: trunk 784→512→256 ReLU, 2 heads 256→10, softmax CE, batch 256
 *  W2: trunk 784→2048→2048 ReLU, 8 heads 2048→10, softmax CE, batch 1024
 *  W3: trunk 4096→4096→4096 ReLU, 16 heads 4096→10, softmax CE, batch 4096 (GPU-sized: run
 *      by default on the cuda backend only)
 *
 * A training step is what Trainer does per batch, minus the host staging: the batch (random
 * inputs in [0, 1), random labels) is uploaded ONCE, then each step is
 * model.forwardBackward (zero grads, forward, fused multi-loss, backward) + optimizer.step
 * (SGD, momentum 0.9, lr 0.01). Task weights are all 1 (the summed loss).
 */
import { parseArgs } from 'node:util';
import { type Backend, type MultiTaskDataset, MultiTaskModel, Optimizer, Rng, type Tensor, makeMultiMnist } from '../ts/index.js';

export interface Workload {
  name: 'W1' | 'W2' | 'W3';
  input: number;
  /** Trunk widths, each a Dense layer with ReLU. */
  trunk: readonly number[];
  heads: number;
  classes: number;
  batch: number;
}

export const WORKLOADS: readonly Workload[] = [
  { name: 'W1', input: 784, trunk: [512, 256], heads: 2, classes: 10, batch: 256 },
  { name: 'W2', input: 784, trunk: [2048, 2048], heads: 8, classes: 10, batch: 1024 },
  { name: 'W3', input: 4096, trunk: [4096, 4096], heads: 16, classes: 10, batch: 4096 },
];

export const OPTIMIZER = { kind: 'sgd', lr: 0.01, momentum: 0.9 } as const;

export function describeWorkload(w: Workload): string {
  return `trunk ${[w.input, ...w.trunk].join('→')} ReLU, ${w.heads} heads ${w.trunk[w.trunk.length - 1]}→${w.classes}, softmax CE, batch ${w.batch}`;
}

/** Floating-point operations of one training step (GEMMs only: 2mnk each). */
export function stepFlops(w: Workload): number {
  let flops = 0;
  let inSize = w.input;
  const layers = [...w.trunk, w.heads * w.classes];
  layers.forEach((out, i) => {
    const mnk = 2 * w.batch * out * inSize;
    flops += mnk * (i === 0 ? 2 : 3); // forward, dW, and dX except for the first layer
    inSize = out;
  });
  return flops;
}

/** A model, its optimizer and one uploaded batch, ready to step. */
export class TrainingStep {
  readonly model: MultiTaskModel;
  readonly optimizer: Optimizer;
  private count = 0;

  constructor(
    readonly backend: Backend,
    readonly workload: Workload,
    seed = 1,
  ) {
    const w = workload;
    this.model = new MultiTaskModel(backend, {
      inputShape: w.input,
      trunk: w.trunk.map((units) => ({ type: 'dense' as const, units, activation: 'relu' as const })),
      tasks: Array.from({ length: w.heads }, (_, t) => ({ name: `task${t}`, kind: 'classification' as const, classes: w.classes, weight: 1 })),
      maxBatch: w.batch,
      seed,
    });
    this.optimizer = new Optimizer(backend, this.model.params, OPTIMIZER);
    const rng = new Rng(seed + 1);
    const inputs = rng.uniformArray(w.batch * w.input);
    const targets = Float32Array.from({ length: w.batch * w.heads }, () => rng.int(w.classes));
    this.model.loadBatch(w.batch, inputs, targets);
  }

  /** `k` training steps on the loaded batch (its first `rows` rows; default all). No readbacks. */
  run(k: number, rows = this.workload.batch): void {
    for (let i = 0; i < k; i++) {
      this.count++;
      this.model.forwardBackward(rows, { training: true, seed: this.count });
      this.optimizer.step();
    }
  }

  /** The per-task losses of the last step (a readback: call outside the timed windows). */
  async losses(): Promise<Float32Array> {
    await this.backend.sync();
    return this.backend.read(this.model.losses);
  }
}

/** One GEMM of a Dense layer's training step: C[m,n] = op(A)·op(B) (+ C for dW). */
export interface GemmCase {
  /** 'gemm' for the square case, else the workload name. */
  workload: string;
  /** e.g. 'trunk.0 forward x·Wᵀ'. */
  label: string;
  m: number;
  n: number;
  k: number;
  transA: boolean;
  transB: boolean;
  /** 1 for parameter gradients (they accumulate), else 0. */
  beta: number;
}

export const SQUARE_GEMM: GemmCase = { workload: 'gemm', label: '1024³ A·B', m: 1024, n: 1024, k: 1024, transA: false, transB: false, beta: 0 };

/** Each trunk Dense layer's three GEMMs: forward x·Wᵀ (transB), dX = dY·W, dW += dYᵀ·X (transA). */
export function gemmCases(w: Workload): GemmCase[] {
  const cases: GemmCase[] = [];
  let inSize = w.input;
  w.trunk.forEach((out, i) => {
    const N = w.batch;
    cases.push({ workload: w.name, label: `trunk.${i} fwd  x·Wᵀ`, m: N, n: out, k: inSize, transA: false, transB: true, beta: 0 });
    cases.push({ workload: w.name, label: `trunk.${i} dX = dY·W${i === 0 ? ' *' : ''}`, m: N, n: inSize, k: out, transA: false, transB: false, beta: 0 });
    cases.push({ workload: w.name, label: `trunk.${i} dW += dYᵀ·X`, m: out, n: inSize, k: N, transA: true, transB: false, beta: 1 });
    inSize = out;
  });
  return cases;
}

export function gemmShape(c: GemmCase): string {
  const t = [c.transA ? 'Aᵀ' : '', c.transB ? 'Bᵀ' : ''].filter(Boolean).join(',');
  return `${c.m}×${c.n}×${c.k}${t ? ' ' + t : ''}`;
}

/** Operands of a GEMM case on a backend, filled with values in [-1, 1). */
export class GemmOperands {
  readonly a: Tensor;
  readonly b: Tensor;
  readonly c: Tensor;

  constructor(
    readonly backend: Backend,
    readonly gc: GemmCase,
  ) {
    const rng = new Rng(7);
    const rand = (n: number): Float32Array => rng.uniformArray(n, -1, 1);
    const { m, n, k } = gc;
    this.a = backend.upload(rand(m * k), gc.transA ? [k, m] : [m, k]);
    this.b = backend.upload(rand(k * n), gc.transB ? [n, k] : [k, n]);
    this.c = backend.alloc([m, n]);
  }

  get flops(): number {
    return 2 * this.gc.m * this.gc.n * this.gc.k;
  }

  run(iterations: number): void {
    const { transA, transB, beta } = this.gc;
    for (let i = 0; i < iterations; i++) this.backend.gemm(this.a, this.b, this.c, { transA, transB, beta });
  }

  dispose(): void {
    for (const t of [this.a, this.b, this.c]) this.backend.free(t);
  }
}

/**
 * The MultiMNIST training run of the time-to-accuracy and accuracy-parity benchmark:
 * `hydranet train`'s default configuration (the multimnist-mlp preset: trunk 784→512→256 ReLU,
 * linear heads `left` and `right`, batch 256, SGD lr 0.05 momentum 0.9, loss weights 1 each),
 * on MultiMNIST built by makeMultiMnist (train split with `seed`, test split with seed + 1, as
 * the CLI builds them). Both runners (bench/train-run.ts for hydranet,
 * bench/peers/tfjs_train.ts for TensorFlow.js) start from the same weights (hydranet's
 * initialisation with `seed`, handed to tfjs as a checkpoint) and visit the batches in the same
 * order (Rng(seed).shuffle of 0..n−1 each epoch, as Trainer does). Each reads the loss back
 * every `readEvery` steps (a progress read, and a bound on the GPU work queued).
 */
export const MNIST_RUN = {
  input: 784,
  trunk: [512, 256] as readonly number[],
  tasks: ['left', 'right'] as readonly string[],
  classes: 10,
  batch: 256,
  lr: 0.05,
  momentum: 0.9,
  weights: [1, 1] as readonly number[],
  readEvery: 8,
} as const;

/** A MultiMNIST runner's command line (both runners take the same flags) and its datasets. */
export interface MnistRunSetup {
  flags: { backend?: string; init?: string; threads?: string };
  seed: number;
  epochs: number;
  weights: readonly number[];
  train: MultiTaskDataset;
  test: MultiTaskDataset;
  /** Resident set once the datasets were built, bytes. */
  dataRss: number;
}

/**
 * Parses a runner's flags (--backend B --epochs E --seed S [--train-size N] [--test-size M]
 * [--weights w1,w2] [--init FILE] [--threads T]) and builds its datasets as the CLI builds them:
 * MultiMNIST train with `seed`, test with seed + 1. One function for both runners, so that they
 * cannot build different runs.
 */
export function mnistRunSetup(argv: readonly string[]): MnistRunSetup {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      backend: { type: 'string' },
      epochs: { type: 'string' },
      seed: { type: 'string' },
      'train-size': { type: 'string' },
      'test-size': { type: 'string' },
      weights: { type: 'string' },
      init: { type: 'string' },
      threads: { type: 'string' },
    },
  });
  const seed = Number(values.seed ?? 1);
  const count = (v: string | undefined): number | undefined => (v === undefined ? undefined : Number(v));
  const train = makeMultiMnist({ split: 'train', seed, count: count(values['train-size']) });
  const test = makeMultiMnist({ split: 'test', seed: seed + 1, count: count(values['test-size']) });
  return {
    flags: { backend: values.backend, init: values.init, threads: values.threads },
    seed,
    epochs: Number(values.epochs ?? 2),
    weights: values.weights ? values.weights.split(',').map(Number) : MNIST_RUN.weights,
    train,
    test,
    dataRss: process.memoryUsage().rss,
  };
}

/** What a MultiMNIST runner prints (one JSON line). */
export interface MnistRunResult {
  system: string;
  backend: string;
  threads?: number;
  /**
   * Per epoch: training seconds (validation excluded), the weighted loss Σ_t w_t·CE_t averaged
   * over the epoch's loss reads (every readEvery steps and the last step), accuracy per task.
   */
  epochs: { epoch: number; seconds: number; loss: number; accuracy: number[] }[];
  train_size: number;
  test_size: number;
  /** Seconds from process start until the datasets were built and the model was ready. */
  setup_seconds: number;
  /** Peak resident set of the runner's process, bytes. */
  peak_rss: number;
  /** Resident set once the datasets were built (before the model existed), bytes. */
  data_rss: number;
  /** Device memory the backend held at the end (hydranet GPU backends, tfjs webgpu), bytes. */
  device_bytes?: number;
  adapter?: { vendor: string; architecture: string; device: string; description: string };
  error?: string;
}
