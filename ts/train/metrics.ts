/**
 * Per-task evaluation metrics accumulated over batches of logits read back to the host:
 * accuracy (argmax for classification, logit > 0 for binary and multi-label, averaged over
 * labels), MSE and MAE (averaged over outputs). Masked-out samples are skipped.
 */
import type { MetricName, Task } from '../mtl/task.js';

/**
 * One task's evaluation: its declared metrics ('accuracy' as a fraction, 'mse', 'mae'), its mean
 * loss when computed, and the number of labelled samples they cover.
 */
export type TaskMetrics = Partial<Record<MetricName | 'loss', number>> & {
  /** Labelled samples evaluated (masked-out samples are skipped; NaN metrics when 0). */
  count: number;
};

export class MetricAccumulator {
  private correct = 0;
  private labelsSeen = 0;
  private se = 0;
  private ae = 0;
  private samples = 0;
  private lossSum = 0;
  private lossWeight = 0;

  constructor(
    readonly task: Task,
    private readonly logitOffset: number,
    private readonly logitWidth: number,
  ) {}

  /** Adds rows [0, n) of logits [n, logitWidth] against labels [n, labelWidth] (row offset `from` in them). */
  add(logits: Float32Array, n: number, labels: Float32Array, mask: Uint8Array | null, from: number): void {
    const t = this.task;
    const K = t.outputs;
    const w = t.labelWidth;
    for (let i = 0; i < n; i++) {
      if (mask && mask[from + i] === 0) continue;
      this.samples++;
      const z = this.logitOffset + i * this.logitWidth;
      const y = (from + i) * w;
      if (t.kind === 'classification') {
        let best = 0;
        for (let k = 1; k < K; k++) if (logits[z + k] > logits[z + best]) best = k;
        this.labelsSeen++;
        if (best === labels[y]) this.correct++;
      } else if (t.kind === 'regression') {
        for (let k = 0; k < K; k++) {
          const d = logits[z + k] - labels[y + k];
          this.se += d * d;
          this.ae += Math.abs(d);
        }
      } else {
        for (let k = 0; k < K; k++) {
          this.labelsSeen++;
          if (logits[z + k] > 0 === labels[y + k] >= 0.5) this.correct++;
        }
      }
    }
  }

  /** Adds a batch's mean loss, weighted by its labelled-sample count. */
  addLoss(meanLoss: number, labelled: number): void {
    this.lossSum += meanLoss * labelled;
    this.lossWeight += labelled;
  }

  result(): TaskMetrics {
    const out: TaskMetrics = { count: this.samples };
    if (this.lossWeight > 0) out.loss = this.lossSum / this.lossWeight;
    for (const m of this.task.metrics) {
      if (m === 'accuracy') out.accuracy = this.labelsSeen ? this.correct / this.labelsSeen : NaN;
      if (m === 'mse') out.mse = this.samples ? this.se / (this.samples * this.task.outputs) : NaN;
      if (m === 'mae') out.mae = this.samples ? this.ae / (this.samples * this.task.outputs) : NaN;
    }
    return out;
  }
}
