/**
 * Embedded categorical columns through `hydranet train --config` (issue 20): a CSV with a
 * high-cardinality column (60 items, above the one-hot limit of 16) gets, by the default rule,
 * one index feature and an embedding field in the stored model configuration (vocab = values +
 * missing + unseen, dim by the rule); the model learns from it; predict (with an unseen item:
 * the OOV slot) and evaluate work from the run folder (the model rebuilt from the checkpoint);
 * `"encoding": "onehot"` keeps the one-hot features and no embedding; a bad encoding is a run-file
 * error (exit 2) naming the key path.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { defaultEncoding } from '../../ts/data/schema.js';
import { readCheckpointFile } from '../../ts/io/checkpoint.js';
import { backend, runCli, tmpDir, writeRunFile } from './fixtures/cli.js';

/** rows of item (item0 .. item59), color (3 values), x (numeric); click = item's number is even; conv = click and x > 0. */
function writeCsv(file: string, rows: number, seed: number, extraItem = false): void {
  let s = seed;
  const next = (): number => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const lines = ['item,color,x,click,conv'];
  for (let i = 0; i < rows; i++) {
    const item = extraItem && i < 3 ? 99 : i % 60;
    const x = (next() * 2 - 1).toFixed(3);
    const click = item % 2 === 0 ? 'yes' : 'no';
    lines.push(`item${item},${['red', 'green', 'blue'][i % 3]},${x},${click},${click === 'yes' && Number(x) > 0 ? 1 : 0}`);
  }
  fs.writeFileSync(file, lines.join('\n') + '\n');
}

function runFile(dir: string, encoding?: Record<string, string>): Record<string, unknown> {
  return {
    data: { train: path.join(dir, 'clicks.csv') },
    inputs: { categorical: ['item', 'color'], numeric: ['x'], ...(encoding && { encoding }) },
    tasks: [
      { name: 'click', kind: 'binary', column: 'click', positive: 'yes', metrics: ['accuracy', 'auc'] },
      { name: 'conv', kind: 'binary', column: 'conv' },
    ],
    model: { trunk: [{ type: 'dense', units: 16, activation: 'relu' }] },
    training: { epochs: 30, batchSize: 60, optimizer: { kind: 'adamw', lr: 0.03 }, weighting: 'equal' },
  };
}

describe('hydranet train --config with embedded categorical columns', function () {
  this.timeout(180_000);
  let dir = '';

  before(() => {
    dir = tmpDir();
    writeCsv(path.join(dir, 'clicks.csv'), 240, 1);
    writeCsv(path.join(dir, 'new.csv'), 12, 2, true);
  });

  it(`embeds the 60-item column by default, learns from it, predicts and evaluates from the run folder (${backend})`, () => {
    const out = path.join(dir, 'run');
    const r = runCli('train', '--config', writeRunFile(dir, runFile(dir)), '--backend', backend, '--out', out, '--no-progress');
    assert.equal(r.status, 0, r.stderr);
    const ck = readCheckpointFile(path.join(out, 'checkpoint.safetensors'));
    const fitted = ck.preprocessing as { featureNames: string[]; inputs: { column: string; embedding?: number }[] };
    assert.deepEqual(fitted.featureNames, ['x', 'item', 'color=blue', 'color=green', 'color=red', 'color=<missing>', 'color=<unseen>']);
    assert.equal(defaultEncoding(60), 'embedding:16');
    assert.deepEqual(ck.model?.embedding, { fields: [{ column: 1, vocab: 62, dim: 16, name: 'item' }] });
    assert.equal(fitted.inputs[2].embedding, undefined, 'color (3 values) stays one-hot');

    const json = path.join(dir, 'metrics.json');
    const e = runCli('evaluate', '--model', out, '--data', path.join(dir, 'clicks.csv'), '--json', json, '--backend', backend);
    assert.equal(e.status, 0, e.stderr);
    const metrics = JSON.parse(fs.readFileSync(json, 'utf8')) as Record<string, Record<string, number>>;
    // click is a function of the item alone: only its embedding can carry it.
    assert.ok(metrics.click.auc > 0.9, `click auc ${metrics.click.auc}`);

    const preds = path.join(dir, 'preds.csv');
    const p = runCli('predict', '--model', out, '--data', path.join(dir, 'new.csv'), '--out', preds, '--backend', backend);
    assert.equal(p.status, 0, p.stderr);
    assert.match(p.stdout, /unseen categories: item 3/);
    const lines = fs.readFileSync(preds, 'utf8').trimEnd().split('\n');
    assert.equal(lines.length, 13);
    for (const line of lines.slice(1)) assert.ok(Number(line.split(',')[0]) >= 0 && Number(line.split(',')[0]) <= 1, line);
  });

  it('"encoding": "onehot" keeps one feature per item and no embedding; a bad encoding is exit 2 naming the key', () => {
    const out = path.join(dir, 'onehot');
    const r = runCli('train', '--config', writeRunFile(dir, runFile(dir, { item: 'onehot' })), '--epochs', '1', '--backend', backend, '--out', out, '--no-progress');
    assert.equal(r.status, 0, r.stderr);
    const ck = readCheckpointFile(path.join(out, 'checkpoint.safetensors'));
    const fitted = ck.preprocessing as { featureNames: string[] };
    assert.equal(fitted.featureNames.length, 62 + 5 + 1);
    assert.ok(fitted.featureNames.includes('item=<unseen>'));
    assert.equal(ck.model?.embedding, undefined);
    const small = runCli('train', '--config', writeRunFile(dir, runFile(dir, { color: 'embedding:4' })), '--epochs', '1', '--backend', backend, '--out', path.join(dir, 'color'), '--no-progress');
    assert.equal(small.status, 0, small.stderr);
    const ck2 = readCheckpointFile(path.join(dir, 'color', 'checkpoint.safetensors'));
    assert.deepEqual(ck2.model?.embedding?.fields.map((f) => [f.name, f.vocab, f.dim]), [['item', 62, 16], ['color', 5, 4]]);
    for (const [encoding, pattern] of [[{ item: 'embedding:0' }, /schema\.inputs\.encoding\.item/], [{ x: 'embedding:4' }, /"x" is a numeric input/], [{ nope: 'onehot' }, /"nope" is not an input column/]] as const) {
      const bad = runCli('train', '--config', writeRunFile(dir, runFile(dir, encoding)), '--out', path.join(dir, 'never'), '--no-progress');
      assert.equal(bad.status, 2, bad.stderr);
      assert.match(bad.stderr, pattern);
    }
  });
});
