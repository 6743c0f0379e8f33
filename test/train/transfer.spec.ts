/**
 * Transferability on a tiny synthetic problem: task `xor` (the sign of x0·x1, which a linear
 * head on a random trunk learns poorly from 64 labels), task `copy` (the very same labels) and
 * task `noise` (random labels). A trunk trained on xor or copy transfers to both; nothing
 * transfers to or from noise.
 */
import assert from 'node:assert/strict';
import { ReferenceBackend } from '../../ts/backends/reference.js';
import { Rng } from '../../ts/core/random.js';
import { MultiTaskDataset } from '../../ts/data/dataset.js';
import { ConfigError, ValueError } from '../../ts/errors.js';
import type { ModelConfig } from '../../ts/mtl/model.js';
import { type TransferOptions, formatTransfer, transferability } from '../../ts/train/transfer.js';

function makeSet(n: number, seed: number): MultiTaskDataset {
  const rng = new Rng(seed);
  const d = 6;
  const inputs = new Float32Array(n * d);
  const xor = new Float32Array(n);
  const noise = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < d; k++) inputs[i * d + k] = rng.normal();
    xor[i] = inputs[i * d] * inputs[i * d + 1] > 0 ? 1 : 0;
    noise[i] = rng.int(2);
  }
  return new MultiTaskDataset({ inputs, inputShape: [d], labels: { xor, copy: xor.slice(), noise } });
}

const model: ModelConfig = {
  inputShape: [6],
  trunk: [{ type: 'dense', units: 32, activation: 'relu' }, { type: 'dense', units: 16, activation: 'relu' }],
  tasks: [
    { name: 'xor', kind: 'classification', classes: 2 },
    { name: 'copy', kind: 'classification', classes: 2 },
    { name: 'noise', kind: 'classification', classes: 2 },
  ],
  maxBatch: 64,
};

describe('transferability', () => {
  const backend = new ReferenceBackend();
  const train = makeSet(1200, 1);
  const validation = makeSet(600, 2);
  const options: TransferOptions = {
    backend,
    train,
    validation,
    model,
    source: { optimizer: { kind: 'sgd', lr: 0.1, momentum: 0.9 }, batchSize: 64, epochs: 15 },
    target: { optimizer: { kind: 'sgd', lr: 0.1, momentum: 0.9 }, batchSize: 32, epochs: 20 },
    budget: 64,
    scratch: true,
  };

  it('a task transfers to its copy and not to or from noise', async () => {
    const r = await transferability(options);
    const at = (s: string, t: string): number => r.gain[r.tasks.indexOf(s)][r.tasks.indexOf(t)];
    const msg = formatTransfer(r);
    assert.deepEqual(r.tasks, ['xor', 'copy', 'noise']);
    assert.equal(r.metric.xor, 'accuracy');
    // The sources learned their tasks (the noise source cannot).
    assert.ok(r.sourceMetric[0] > 0.85 && r.sourceMetric[1] > 0.85, msg);
    // Related tasks: a large gain both ways and onto itself.
    for (const [s, t] of [['xor', 'copy'], ['copy', 'xor'], ['xor', 'xor'], ['copy', 'copy']]) assert.ok(at(s, t) > 0.15, `${s} → ${t}\n${msg}`);
    // Noise: its trunk helps nothing much, and no trunk helps it.
    for (const t of ['xor', 'copy']) assert.ok(at('noise', t) < at('xor', t) - 0.1, `noise → ${t}\n${msg}`);
    for (const s of ['xor', 'copy', 'noise']) assert.ok(Math.abs(at(s, 'noise')) < 0.1, `${s} → noise\n${msg}`);
    // gain = table − baseline, per cell.
    r.table.forEach((row, i) => row.forEach((v, j) => assert.ok(Math.abs(r.gain[i][j] - (v - r.baseline[j])) < 1e-12)));
    assert.equal(r.scratch?.length, 3);
    // JSON round trip.
    assert.deepEqual(JSON.parse(JSON.stringify(r)), r);
  });

  it('rejects what it cannot run, before training', async () => {
    await assert.rejects(transferability({ ...options, model: { ...model, sharing: { kind: 'soft' } } }), /needs hard sharing/);
    await assert.rejects(transferability({ ...options, budget: 5000 }), /exceeds the 1200 training samples/);
    await assert.rejects(transferability({ ...options, budget: 0 }), ValueError);
    await assert.rejects(transferability({ ...options, tasks: ['xor', 'nope'] }), /no task "nope"/);
    await assert.rejects(transferability({ ...options, budgets: 3 } as never), ConfigError);
  });
});
