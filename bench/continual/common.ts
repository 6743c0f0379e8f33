/**
 * What the continual-learning benchmarks (split-mnist.ts, permuted-mnist.ts, fisher-speed.ts)
 * share: their command-line flags, the backend and the retain strategy they name, MNIST as
 * [0, 1] pixels, and the summary over seeds.
 */
import type { Backend } from '../../ts/backends/backend.js';
import { createBackend } from '../../ts/backends/create.js';
import type { ContinualMetrics, RetainConfig } from '../../ts/train/continual.js';
import type { FisherVariant } from '../../ts/train/ewc.js';

/** The value of `--name`, or `fallback`. */
export function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

/** The backend of `--backend` (default cpu) at `--threads` (default: the backend's own), opened; both flags as given. */
export async function backendFromArgs(): Promise<{ backend: Backend; name: string; threads: string }> {
  const name = arg('backend', 'cpu');
  const threads = arg('threads', '');
  return { backend: await createBackend(name, threads ? { threads: Number(threads) } : {}), name, threads };
}

/**
 * The retain strategy of `--retain` (none, replay, ewc, online-ewc, lwf, freeze-trunk) with its
 * flags: --replay-size, --replay-batch (default: the batch size); --lambda (default `lambda`), --gamma (1), --fisher (exact),
 * --fisher-samples (all); --temperature (2), --alpha (1) for lwf; and a line describing it.
 */
export function retainFromArgs(lambdaDefault: string): { retain: RetainConfig; text: string } {
  const name = arg('retain', 'none');
  const replaySize = Number(arg('replay-size', '1000'));
  const lambda = Number(arg('lambda', lambdaDefault));
  const gamma = Number(arg('gamma', '1'));
  const fisher = arg('fisher', 'exact') as FisherVariant;
  const samples = arg('fisher-samples', '');
  const ewc = { lambda, fisher, ...(samples ? { samples: Number(samples) } : {}) };
  const ewcText = `λ ${lambda}${name === 'online-ewc' ? `, γ ${gamma}` : ''}, ${fisher} Fisher on ${samples || 'all'} samples of each task`;
  switch (name) {
    case 'none':
    case 'freeze-trunk':
      return { retain: { kind: name }, text: name };
    case 'replay': {
      const batch = arg('replay-batch', '');
      return { retain: { kind: 'replay', size: replaySize, ...(batch ? { batch: Number(batch) } : {}) }, text: `replay (${replaySize} samples, ${batch || 'a batch size of'} replayed per step)` };
    }
    case 'ewc':
      return { retain: { kind: 'ewc', ...ewc }, text: `ewc (${ewcText})` };
    case 'online-ewc':
      return { retain: { kind: 'online-ewc', gamma, ...ewc }, text: `online-ewc (${ewcText})` };
    case 'lwf': {
      const temperature = Number(arg('temperature', '2'));
      const alpha = Number(arg('alpha', '1'));
      return { retain: { kind: 'lwf', temperature, alpha }, text: `lwf (T ${temperature}, α ${alpha} per old task)` };
    }
    default:
      throw new Error(`unknown --retain ${name}: none, replay, ewc, online-ewc, lwf or freeze-trunk`);
  }
}

/** The mean over seeds of ACC, BWT and forgetting, in % and percentage points. */
export function meanLine(results: readonly { metrics: ContinualMetrics }[]): string {
  const mean = (k: 'averageAccuracy' | 'backwardTransfer' | 'averageForgetting'): number => (100 * results.reduce((s, r) => s + r.metrics[k], 0)) / results.length;
  const acc = results.map((r) => 100 * r.metrics.averageAccuracy);
  const sd = Math.sqrt(acc.reduce((s, a) => s + (a - mean('averageAccuracy')) ** 2, 0) / Math.max(1, acc.length - 1));
  return `mean over ${results.length} seed(s): ACC ${mean('averageAccuracy').toFixed(2)} ± ${sd.toFixed(2)} % (sample sd), BWT ${mean('backwardTransfer').toFixed(2)} pp, forgetting ${mean('averageForgetting').toFixed(2)} pp`;
}
