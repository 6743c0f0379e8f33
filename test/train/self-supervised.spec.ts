/**
 * Self-supervised auxiliary tasks (reconstruction, rotation): rotations are exact pixel
 * permutations, the staged batch is arranged as documented (main tasks on unrotated rows,
 * rotation on rotated copies, reconstruction targets = inputs), the tasks need no labels, train
 * with every sharing kind, stop by the TCDCN criterion, resume exactly, and bad
 * configurations are typed errors.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ReferenceBackend } from '../../ts/backends/reference.js';
import { MultiTaskDataset } from '../../ts/data/dataset.js';
import { makeMultiMnist } from '../../ts/data/multimnist.js';
import { Rotations, rotationPermutation, squareImage } from '../../ts/data/rotation.js';
import { ConfigError, ShapeError } from '../../ts/errors.js';
import { type ModelConfig, MultiTaskModel } from '../../ts/mtl/model.js';
import type { TaskSpec } from '../../ts/mtl/task.js';
import { packedOf } from '../../ts/backends/packed.js';
import { rotationOf, rotationStepSeed } from '../../ts/train/self-supervised.js';
import { BatchStager, Trainer } from '../../ts/train/trainer.js';
import { backendsUnderTest } from '../backends/harness.js';

const fast = (await backendsUnderTest()).find((b) => b.backend)?.backend ?? new ReferenceBackend();

/** Main tasks left/right plus the given self-supervised tasks, on 14×14 one-channel images. */
function config(extra: TaskSpec[], sharing: ModelConfig['sharing'] = { kind: 'hard' }, maxBatch = 64): ModelConfig {
  return {
    inputShape: [14, 14],
    trunk: [{ type: 'dense', units: 32, activation: 'relu' }],
    sharing,
    tasks: [{ name: 'left', kind: 'classification', classes: 10 }, { name: 'right', kind: 'classification', classes: 10 }, ...extra],
    maxBatch,
    seed: 3,
  };
}

/** MultiMNIST pairs at 14×14 (2×2 mean pooling), labels for left and right only. */
function small(split: 'train' | 'test', count: number, seed: number): MultiTaskDataset {
  const ds = makeMultiMnist({ split, count, seed });
  const x = new Float32Array(count * 196);
  for (let s = 0; s < count; s++) {
    for (let i = 0; i < 14; i++) {
      for (let j = 0; j < 14; j++) {
        let v = 0;
        for (const [a, b] of [[0, 0], [0, 1], [1, 0], [1, 1]]) v += ds.inputs[s * 784 + (2 * i + a) * 28 + 2 * j + b];
        x[s * 196 + i * 14 + j] = v / 4;
      }
    }
  }
  return new MultiTaskDataset({ inputs: x, inputShape: [14, 14], labels: { left: ds.labels('left'), right: ds.labels('right') } });
}

describe('self-supervised auxiliary tasks', function () {
  this.timeout(300_000);

  it('rotates by exact pixel permutations: 90° of a known image, four turns the identity', () => {
    const img = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const rot = new Rotations(squareImage([3, 3], 'test'));
    const out = new Float32Array(9);
    rot.rotate(img, 0, out, 0, 1);
    assert.deepEqual([...out], [3, 6, 9, 2, 5, 8, 1, 4, 7], 'numpy rot90([[1,2,3],[4,5,6],[7,8,9]])');
    rot.rotate(img, 0, out, 0, 2);
    assert.deepEqual([...out], [9, 8, 7, 6, 5, 4, 3, 2, 1]);
    rot.rotate(img, 0, out, 0, 3);
    assert.deepEqual([...out], [7, 4, 1, 8, 5, 2, 9, 6, 3]);
    const image = squareImage([2, 5, 5], 'test');
    for (let k = 0; k < 4; k++) {
      const p = rotationPermutation(image, k);
      assert.deepEqual([...p].sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => i), `rotation ${k} is a permutation`);
      for (let q = 0; q < 50; q++) assert.equal(Math.floor(p[q] / 25), Math.floor(q / 25), 'channels stay apart');
    }
    const x = Float32Array.from({ length: 50 }, (_, i) => Math.sin(i) * 7);
    const r4 = new Rotations(image);
    let a = x.slice();
    const b = new Float32Array(50);
    for (let t = 0; t < 4; t++) {
      r4.rotate(a, 0, b, 0, 1);
      a = b.slice();
      if (t < 3) assert.notDeepEqual([...a], [...x]);
    }
    assert.deepEqual([...a], [...x], 'four quarter-turns give the image back, bit for bit');
    r4.rotate(x, 0, b, 0, 1);
    const c = new Float32Array(50);
    r4.rotate(b, 0, c, 0, 3);
    assert.deepEqual([...c], [...x], '90° then 270°');
  });

  it('stages the batch as documented: reconstruction targets are the inputs, rotated copies for rotation only', () => {
    const model = new MultiTaskModel(fast, config([{ name: 'recon', kind: 'reconstruction' }, { name: 'rot', kind: 'rotation' }]));
    assert.deepEqual(model.tasks.map((t) => [t.kind, t.outputs, t.auxiliary]), [
      ['classification', 10, false], ['classification', 10, false], ['regression', 196, true], ['classification', 4, true],
    ]);
    const ds = small('train', 16, 1);
    const stager = new BatchStager(model);
    assert.equal(stager.rowsPerSample, 2);
    const order = Int32Array.from({ length: 16 }, (_, i) => 15 - i);
    const n = 10;
    const seed = rotationStepSeed(7, 3);
    assert.equal(stager.stage(ds, order, 2, n, seed), true);
    const F = 196;
    const T = 4;
    const layout = packedOf(model.lossLayout);
    const ld = model.lossLayout.totalTgt;
    const [offLeft, offRecon, offRot] = [layout[3], layout[5 * 2 + 3], layout[5 * 3 + 3]];
    const rot = new Rotations(squareImage([14, 14], 'test'));
    const expect = new Float32Array(F);
    const ks = new Set<number>();
    for (let i = 0; i < n; i++) {
      const src = order[2 + i];
      const k = rotationOf(seed, i, src);
      ks.add(k);
      assert.deepEqual(stager.inputs.slice(i * F, (i + 1) * F), ds.inputs.slice(src * F, (src + 1) * F), 'row i: the sample unrotated');
      rot.rotate(ds.inputs, src * F, expect, 0, k);
      assert.deepEqual(stager.inputs.slice((n + i) * F, (n + i + 1) * F), expect, 'row n+i: the sample rotated by k');
      for (const r of [i, n + i]) {
        assert.deepEqual(stager.targets.slice(r * ld + offRecon, r * ld + offRecon + F), stager.inputs.slice(r * F, (r + 1) * F), 'reconstruction target = input');
        assert.equal(stager.mask[r * T + 2], 1);
      }
      assert.equal(stager.targets[i * ld + offLeft], ds.labels('left')[src]);
      assert.deepEqual([...stager.mask.slice(i * T, i * T + 2)], [1, 1], 'main tasks on the unrotated row');
      assert.equal(stager.mask[i * T + 3], 0, 'rotation masked out on the unrotated row');
      assert.deepEqual([...stager.mask.slice((n + i) * T, (n + i) * T + 2)], [0, 0], 'main tasks masked out on the rotated row');
      assert.equal(stager.mask[(n + i) * T + 3], 1);
      assert.equal(stager.targets[(n + i) * ld + offRot], k, 'rotation label');
    }
    assert.ok(ks.size >= 3, `rotations vary within a batch: ${[...ks]}`);
    // Evaluation (no step seed): one fixed rotation per sample, whatever its position.
    stager.stage(ds, order, 0, 4, null);
    const first = [...stager.selfSupervised!.rotationLabels.slice(0, 4)];
    stager.stage(ds, order.slice().reverse(), 12, 4, null);
    assert.deepEqual([...stager.selfSupervised!.rotationLabels.slice(0, 4)].reverse(), first);
  });

  const kinds = [
    [{ kind: 'hard' }, 'pcgrad'],
    [{ kind: 'mmoe', experts: 2 }, 'uncertainty'],
    [{ kind: 'soft' }, 'dwa'],
    [{ kind: 'cross-stitch' }, 'famo'],
    [{ kind: 'cgc', shared: 1, perTask: 1 }, 'fixed'],
    [{ kind: 'ple', levels: 2 }, 'equal'],
  ] as const;
  for (const [sharing, weighting] of kinds) {
    it(`trains with ${sharing.kind} sharing and ${weighting} weighting on a dataset without labels for them, validated on rotated samples`, async () => {
      const model = new MultiTaskModel(fast, config([{ name: 'recon', kind: 'reconstruction' }, { name: 'rot', kind: 'rotation' }], sharing));
      const trainer = new Trainer(model, { optimizer: { kind: 'adamw', lr: 3e-3 }, batchSize: 32, epochs: 4, seed: 1, log: null, weighting });
      const history = await trainer.fit(small('train', 256, 1), { validation: small('test', 96, 2) });
      const v = history.at(-1)!.validation!;
      assert.equal(v.rot.count, 96, 'every validation sample, rotated once');
      assert.equal(v.recon.count, 192, 'reconstruction over both copies');
      assert.ok(v.rot.accuracy! > 0.4, `rotation head learns (chance 0.25): ${v.rot.accuracy}`);
      assert.ok(history.at(-1)!.train.recon < history[0].train.recon, 'reconstruction loss falls');
      assert.ok(history.at(-1)!.train.rot < history[0].train.rot, 'rotation loss falls');
      assert.ok(Number.isFinite(v.left.accuracy) && v.left.count === 96);
      const ev = await trainer.evaluate(small('test', 96, 2));
      assert.deepEqual(ev.rot, v.rot, 'evaluate() gives the same rotation metrics (fixed rotations)');
    });
  }

  it('stops them by the TCDCN criterion', async () => {
    const model = new MultiTaskModel(fast, { ...config([{ name: 'recon', kind: 'reconstruction' }, { name: 'rot', kind: 'rotation' }]), trunk: [{ type: 'dense', units: 128, activation: 'relu' }] });
    const trainer = new Trainer(model, {
      optimizer: { kind: 'adamw', lr: 3e-3 }, batchSize: 32, epochs: 8, seed: 1, log: null, auxiliaryStopping: { k: 1, threshold: 0 },
    });
    const history = await trainer.fit(small('train', 64, 1), { validation: small('test', 64, 2) });
    for (const name of ['recon', 'rot']) {
      const stop = history.find((r) => r.stopped?.[name] !== undefined);
      assert.ok(stop && stop.epoch < 8, `${name} stops: ${JSON.stringify(history.map((r) => [r.train[name], r.validation![name].loss]))}`);
      for (const r of history.filter((h) => h.epoch > stop.epoch)) assert.equal(r.weights[name], 0);
    }
  });

  it('resumes exactly: the rotations of a resumed run are those of the uninterrupted one', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hydranet-ssl-'));
    const settings = { optimizer: { kind: 'sgd' as const, lr: 0.05, momentum: 0.9 }, batchSize: 32, seed: 4, log: null };
    const train = small('train', 96, 1);
    const straight = new MultiTaskModel(fast, config([{ name: 'rot', kind: 'rotation' }]));
    await new Trainer(straight, { ...settings, epochs: 3 }).fit(train);
    const a = new MultiTaskModel(fast, config([{ name: 'rot', kind: 'rotation' }]));
    await new Trainer(a, { ...settings, epochs: 1, runDir: dir }).fit(train);
    const b = new MultiTaskModel(fast, config([{ name: 'rot', kind: 'rotation' }]));
    await new Trainer(b, { ...settings, epochs: 3 }).fit(train, { resumeFrom: path.join(dir, 'checkpoint.safetensors') });
    assert.deepEqual(await fast.read(b.params.values), await fast.read(straight.params.values));
    // Stopped in the middle of epoch 2 (after its 2nd of 3 steps), then resumed.
    const dir2 = fs.mkdtempSync(path.join(os.tmpdir(), 'hydranet-ssl-'));
    const stop = new AbortController();
    const d = new MultiTaskModel(fast, config([{ name: 'rot', kind: 'rotation' }]));
    const callbacks = { stepEvery: 1, onStepEnd: (s: { step: number }) => { if (s.step === 5) stop.abort(); } };
    await assert.rejects(new Trainer(d, { ...settings, epochs: 3, runDir: dir2, callbacks }).fit(train, { signal: stop.signal }), /stopped on request at step 5/);
    const e = new MultiTaskModel(fast, config([{ name: 'rot', kind: 'rotation' }]));
    await new Trainer(e, { ...settings, epochs: 3 }).fit(train, { resumeFrom: path.join(dir2, 'checkpoint.safetensors') });
    assert.deepEqual(await fast.read(e.params.values), await fast.read(straight.params.values), 'resumed mid-epoch');
    const other = new MultiTaskModel(fast, config([{ name: 'rot', kind: 'rotation' }]));
    await new Trainer(other, { ...settings, seed: 5, epochs: 1 }).fit(train);
    const c = new MultiTaskModel(fast, config([{ name: 'rot', kind: 'rotation' }]));
    await new Trainer(c, { ...settings, epochs: 1 }).fit(train);
    assert.notDeepEqual(await fast.read(other.params.values), await fast.read(c.params.values), 'the seed matters');
  });

  it('rejects what it cannot do with typed errors', () => {
    for (const inputShape of [[196], [14, 12], [1, 2, 3, 3]]) {
      assert.throws(
        () => new MultiTaskModel(fast, { ...config([{ name: 'rot', kind: 'rotation' }]), inputShape }),
        (e: Error) => e instanceof ShapeError && /tasks\[2\] \(rotation\)/.test(e.message) && e.message.includes(`[${inputShape.join(', ')}]`),
      );
    }
    assert.throws(() => new MultiTaskModel(fast, config([{ name: 'rot', kind: 'rotation', classes: 4 } as TaskSpec])), (e: Error) => e instanceof ConfigError && /classes/.test(e.message));
    assert.throws(() => new MultiTaskModel(fast, config([{ name: 'r', kind: 'reconstruction', outputs: 3 } as TaskSpec])), (e: Error) => e instanceof ConfigError && /outputs/.test(e.message));
    assert.throws(() => new MultiTaskModel(fast, config([{ name: 'r', kind: 'reconstruction', loss: 'softmax-ce' }])), (e: Error) => e instanceof ConfigError && /tasks\[2\]\.loss/.test(e.message));
    const model = new MultiTaskModel(fast, config([{ name: 'rot', kind: 'rotation' }], { kind: 'hard' }, 48));
    assert.throws(
      () => new Trainer(model, { optimizer: { kind: 'sgd', lr: 0.1 }, batchSize: 32, epochs: 1 }),
      (e: Error) => e instanceof ConfigError && /maxBatch ≥ 64/.test(e.message) && /batchSize ≤ 24/.test(e.message),
    );
    const json = new MultiTaskModel(fast, model.resolvedConfig);
    assert.equal(json.tasks[2].selfSupervised, 'rotation', 'resolvedConfig rebuilds the self-supervised task');
  });
});
