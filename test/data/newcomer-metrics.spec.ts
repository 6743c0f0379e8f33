/**
 * What a newcomer with real multi-class data asks for (issue 16, checked on scikit-learn's
 * wine, iris and digits): the macro F1 of a classification task, as scikit-learn's
 * f1_score(average='macro') computes it.
 *
 * The second case checks that a run file may ask for it (METRIC_KINDS.f1 includes
 * 'classification' in ts/mtl/task.ts).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { resolveTask } from '../../ts/mtl/task.js';
import { MetricAccumulator } from '../../ts/train/metrics.js';
import { backend, runCli, tmpDir, writeRunFile } from '../cli/fixtures/cli.js';

describe('newcomer: macro F1 of a classification task', function () {
  this.timeout(60_000);

  it('is the mean F1 over the classes present in the labels or the predictions (hand-computed), masked samples skipped', () => {
    const task = resolveTask({ name: 'c', kind: 'classification', classes: 4, metrics: ['accuracy', 'f1'] }, 0);
    const acc = new MetricAccumulator(task, 0, 4);
    // Labels 0 0 1 1 2 2 (and a masked 3); argmax predictions 0 1 1 1 0 2 (and 1).
    const labels = Float32Array.from([0, 0, 1, 1, 2, 2, 3]);
    const predicted = [0, 1, 1, 1, 0, 2, 1];
    const logits = new Float32Array(7 * 4);
    predicted.forEach((k, i) => { logits[4 * i + k] = 2; logits[4 * i + ((k + 1) % 4)] = 1; });
    const mask = Uint8Array.from([1, 1, 1, 1, 1, 1, 0]);
    acc.add(logits.subarray(0, 12), 3, labels, mask, 0);
    acc.add(logits.subarray(12), 4, labels, mask, 3);
    const r = acc.result();
    // class 0: tp 1, fp 1, fn 1 → 1/2; class 1: tp 2, fp 1 → 4/5; class 2: tp 1, fn 1 → 2/3; class 3 never occurs.
    // scikit-learn: f1_score([0,0,1,1,2,2], [0,1,1,1,0,2], average='macro') = 0.6555…
    assert.ok(Math.abs(r.f1! - (0.5 + 0.8 + 2 / 3) / 3) < 1e-12, `f1 ${r.f1}`);
    assert.equal(r.accuracy, 4 / 6);
    assert.equal(r.count, 6);
    const none = new MetricAccumulator(task, 0, 4);
    assert.ok(Number.isNaN(none.result().f1!), 'no labelled sample');
  });

  it('a run file may ask for f1 on a classification task; train prints it and evaluate writes it', () => {
    const dir = tmpDir();
    const rows = ['x,y,k', ...Array.from({ length: 60 }, (_, i) => `${(i % 3) + 0.1 * (i % 7)},${i % 5},${['a', 'b', 'c'][i % 3]}`)];
    fs.writeFileSync(path.join(dir, 'train.csv'), `${rows.join('\n')}\n`);
    const file = writeRunFile(dir, { data: { train: 'train.csv', validationSplit: 0.25 }, tasks: [{ name: 'k', kind: 'classification', metrics: ['accuracy', 'f1'] }], training: { epochs: 2, batchSize: 16 } });
    const r = runCli('train', '--config', file, '--out', path.join(dir, 'run'), '--backend', backend, '--no-progress');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /final validation:\n {2}k: loss [\d.]+, accuracy [\d.]+, f1 [\d.]+ \(15 labelled\)/);
    const json = path.join(dir, 'metrics.json');
    assert.equal(runCli('evaluate', '--model', path.join(dir, 'run'), '--data', path.join(dir, 'train.csv'), '--json', json, '--backend', backend).status, 0);
    const f1 = (JSON.parse(fs.readFileSync(json, 'utf8')) as { k: { f1: number } }).k.f1;
    assert.ok(f1 >= 0 && f1 <= 1, `f1 ${f1}`);
  });
});
