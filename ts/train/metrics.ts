/**
 * Per-task evaluation metrics accumulated over batches of logits read back to the host:
 * accuracy (argmax for classification, logit > 0 for binary and multi-label, averaged over
 * labels), MSE and MAE (averaged over outputs), ROC-AUC for binary and multi-label tasks, F1 for
 * binary and multi-label tasks and (macro) for classification. Masked-out samples are skipped.
 */
import type { MetricName, Task } from '../mtl/task.js';

/**
 * ROC-AUC of `scores` against 0/1 `labels` (≥ 0.5 counts as positive): the probability that a
 * random positive scores above a random negative, ties counting one half (the Mann-Whitney U
 * statistic with tied scores given their average rank). NaN unless both classes occur.
 */
export function rocAuc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const n = scores.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a] - scores[b]);
  let positives = 0;
  let rankSum = 0;
  for (let i = 0; i < n; ) {
    let j = i;
    while (j + 1 < n && scores[order[j + 1]] === scores[order[i]]) j++;
    const rank = (i + j) / 2 + 1; // the average of ranks i+1 .. j+1
    for (let k = i; k <= j; k++) {
      if (labels[order[k]] >= 0.5) {
        positives++;
        rankSum += rank;
      }
    }
    i = j + 1;
  }
  const negatives = n - positives;
  if (positives === 0 || negatives === 0) return NaN;
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

/**
 * One task's evaluation: its declared metrics ('accuracy' as a fraction, 'mse', 'mae', 'auc',
 * 'f1'), its mean
 * loss when computed, and the number of labelled samples they cover.
 */
export type TaskMetrics = Partial<Record<MetricName | 'loss', number>> & {
  /** Labelled samples evaluated (masked-out samples are skipped; NaN metrics when 0). */
  count: number;
};

/**
 * Accumulates one task's metrics over batches of logits (host side, at evaluation only). For
 * 'auc' it keeps every labelled score: a multi-label task's AUC is the mean over its labels
 * (macro) of those with both classes present. 'f1' counts logit > 0 as positive: a binary
 * task's F1 of the positive class, a multi-label task's micro F1 (counts pooled over labels); a
 * classification task's is the macro F1 (the argmax as the prediction): the mean over the classes
 * that occur among the labels or the predictions of each class's F1, as scikit-learn's
 * f1_score(average='macro') computes it.
 */
export class MetricAccumulator {
  private readonly scores: number[][];
  private readonly truths: number[][];
  private tp = 0;
  private fp = 0;
  private fn = 0;
  /** Classification with 'f1': per class, true positives, false positives and false negatives (3 per class). */
  private readonly classCounts: Float64Array | null;
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
  ) {
    const K = task.metrics.includes('auc') ? task.outputs : 0;
    this.scores = Array.from({ length: K }, () => []);
    this.truths = Array.from({ length: K }, () => []);
    this.classCounts = task.kind === 'classification' && task.metrics.includes('f1') ? new Float64Array(3 * task.outputs) : null;
  }

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
        const counts = this.classCounts;
        const truth = labels[y];
        if (counts !== null && Number.isInteger(truth) && truth >= 0 && truth < K) {
          if (best === truth) counts[3 * best]++;
          else {
            counts[3 * best + 1]++;
            counts[3 * truth + 2]++;
          }
        }
      } else if (t.kind === 'regression') {
        for (let k = 0; k < K; k++) {
          const d = logits[z + k] - labels[y + k];
          this.se += d * d;
          this.ae += Math.abs(d);
        }
      } else {
        const auc = this.scores.length > 0;
        for (let k = 0; k < K; k++) {
          this.labelsSeen++;
          const predicted = logits[z + k] > 0;
          const actual = labels[y + k] >= 0.5;
          if (predicted === actual) this.correct++;
          if (predicted && actual) this.tp++;
          else if (predicted) this.fp++;
          else if (actual) this.fn++;
          if (auc) {
            this.scores[k].push(logits[z + k]);
            this.truths[k].push(labels[y + k]);
          }
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
      if (m === 'f1') out.f1 = this.classCounts !== null ? macroF1(this.classCounts) : f1(this.tp, this.fp, this.fn);
      if (m === 'auc') {
        const per = this.scores.map((s, k) => rocAuc(s, this.truths[k])).filter((v) => !Number.isNaN(v));
        out.auc = per.length ? per.reduce((a, b) => a + b, 0) / per.length : NaN;
      }
    }
    return out;
  }
}

/** F1 of counts: 2tp / (2tp + fp + fn), NaN when all three are 0. */
function f1(tp: number, fp: number, fn: number): number {
  return tp + fp + fn > 0 ? (2 * tp) / (2 * tp + fp + fn) : NaN;
}

/** The mean F1 over the classes of `counts` (tp, fp, fn per class) that occur in the labels or the predictions; NaN when none does. */
function macroF1(counts: Float64Array): number {
  let sum = 0;
  let classes = 0;
  for (let k = 0; k < counts.length; k += 3) {
    if (counts[k] + counts[k + 1] + counts[k + 2] === 0) continue;
    sum += f1(counts[k], counts[k + 1], counts[k + 2]);
    classes++;
  }
  return classes > 0 ? sum / classes : NaN;
}
