/**
 * Evaluation metrics: ROC-AUC against a hand-computed case with ties, F1 of the positive class
 * and micro F1, and which task kinds each metric applies to.
 */
import assert from 'node:assert/strict';
import { ConfigError } from '../../ts/errors.js';
import { resolveTask } from '../../ts/mtl/task.js';
import { MetricAccumulator, rocAuc } from '../../ts/train/metrics.js';

describe('metrics', () => {
  it('computes ROC-AUC with ties at the average rank (hand-computed)', () => {
    // Positives score 0.9, 0.5, 0.5; negatives 0.5, 0.2. Pairs (pos, neg): 0.9 beats both (2);
    // each 0.5 ties the 0.5 (½) and beats 0.2 (1): 2 × 1.5 = 3. AUC = 5 / (3·2) = 5/6.
    assert.ok(Math.abs(rocAuc([0.9, 0.5, 0.5, 0.5, 0.2], [1, 1, 1, 0, 0]) - 5 / 6) < 1e-12);
    assert.equal(rocAuc([0.1, 0.2, 0.3], [0, 1, 1]), 1);
    assert.equal(rocAuc([0.1, 0.2, 0.3], [1, 0, 0]), 0);
    assert.equal(rocAuc([1, 1, 1, 1], [1, 0, 1, 0]), 0.5, 'every score tied');
    assert.ok(Number.isNaN(rocAuc([0.1, 0.2], [1, 1])), 'one class only');
  });

  it('accumulates AUC and F1 for a binary task over batches, skipping masked samples', () => {
    const task = resolveTask({ name: 'b', kind: 'binary', metrics: ['auc', 'f1', 'accuracy'] }, 0);
    const acc = new MetricAccumulator(task, 0, 1);
    // Logits (> 0 predicts positive) and labels; the third sample is masked out.
    const logits = [2.2, 0, 5, 0, 0, -1.4];
    const labels = Float32Array.from([1, 1, 0, 1, 0, 0]);
    const mask = Uint8Array.from([1, 1, 0, 1, 1, 1]);
    acc.add(Float32Array.from(logits.slice(0, 3)), 3, labels, mask, 0);
    acc.add(Float32Array.from(logits.slice(3)), 3, labels, mask, 3);
    const r = acc.result();
    assert.equal(r.count, 5);
    // Kept: (2.2,1) (0,1) (0,1) (0,0) (-1.4,0): the same case as above → 5/6.
    assert.ok(Math.abs(r.auc! - 5 / 6) < 1e-12, `auc ${r.auc}`);
    // Predicted positive only 2.2: tp 1, fp 0, fn 2 → F1 = 2/(2 + 2) = 0.5; accuracy 3/5.
    assert.equal(r.f1, 0.5);
    assert.equal(r.accuracy, 0.6);
  });

  it('averages AUC over a multi-label task\'s labels (macro) and pools F1 counts (micro)', () => {
    const task = resolveTask({ name: 'm', kind: 'multi-label', classes: 2, metrics: ['auc', 'f1'] }, 0);
    const acc = new MetricAccumulator(task, 0, 2);
    // Label 0: scores 1, 2, 3 for truths 0, 1, 1 → AUC 1. Label 1: scores 3, 2, 1 for truths 0, 1, 1 → 0.
    // Label 1 constant would be skipped; here both have two classes: macro = 0.5.
    acc.add(Float32Array.from([1, 3, 2, 2, 3, 1]), 3, Float32Array.from([0, 0, 1, 1, 1, 1]), null, 0);
    const r = acc.result();
    assert.equal(r.auc, 0.5);
    // Every logit > 0: tp 4, fp 2, fn 0 → F1 = 8 / 10.
    assert.equal(r.f1, 0.8);
  });

  it('accepts auc only for binary and multi-label tasks, f1 for every classifying task, neither for regression', () => {
    assert.throws(() => resolveTask({ name: 'c', kind: 'classification', classes: 3, metrics: ['auc'] }, 0), ConfigError);
    assert.throws(() => resolveTask({ name: 'r', kind: 'regression', metrics: ['f1'] }, 0), ConfigError);
    assert.throws(() => resolveTask({ name: 'r', kind: 'regression', metrics: ['accuracy'] }, 0), ConfigError);
    assert.deepEqual(resolveTask({ name: 'b', kind: 'binary', metrics: ['f1'] }, 0).metrics, ['f1']);
    assert.deepEqual(resolveTask({ name: 'c', kind: 'classification', classes: 3, metrics: ['f1'] }, 0).metrics, ['f1']);
  });
});
