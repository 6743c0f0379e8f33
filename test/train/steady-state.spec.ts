/**
 * "No work in the hot loop that can be done once": after warm-up, training steps make no
 * backend allocation (alloc, upload, view) and read nothing back unless asked (the trainer
 * reads the parameters once per epoch, to check them before validation and checkpoints).
 */
import assert from 'node:assert/strict';
import type { Backend } from '../../ts/backends/backend.js';
import { ReferenceBackend } from '../../ts/backends/reference.js';
import { makeMultiMnist } from '../../ts/data/multimnist.js';
import { type LayerSpec, MultiTaskModel } from '../../ts/mtl/model.js';
import { Trainer } from '../../ts/train/trainer.js';
import { backendsUnderTest } from '../backends/harness.js';

/** Wraps a backend so that calls of the named methods are counted. */
function counting(inner: Backend, names: string[]): { backend: Backend; counts: Map<string, number> } {
  const counts = new Map<string, number>();
  const backend = new Proxy(inner, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function' || !names.includes(String(prop))) return v;
      return function (this: unknown, ...args: unknown[]) {
        counts.set(String(prop), (counts.get(String(prop)) ?? 0) + 1);
        return v.apply(this, args);
      };
    },
  });
  return { backend, counts };
}

const others = (await backendsUnderTest()).filter((b) => b.backend).map((b) => b.backend!);

describe('steady-state training step', () => {
  const mlp: LayerSpec[] = [{ type: 'dense', units: 32, activation: 'gelu' }, { type: 'dropout', p: 0.1 }];
  const conv: LayerSpec[] = [
    { type: 'conv2d', filters: 3, kernel: 5, stride: 2, activation: 'relu' },
    { type: 'dropout2d', p: 0.2 },
    { type: 'maxpool2d', size: 2 },
    { type: 'flatten' },
    { type: 'dense', units: 16, activation: 'relu' },
  ];
  const cases = [new ReferenceBackend(), ...others].flatMap((inner) => [
    ...(['hard', 'soft', 'cross-stitch', 'mmoe', 'cgc', 'ple'] as const).map((sharing) => ({ inner, sharing, trunk: mlp, name: 'MLP' })),
    { inner, sharing: 'hard' as const, trunk: conv, name: 'conv' },
  ]);
  for (const { inner, sharing, trunk, name } of cases) {
    it(`allocates nothing and reads back only the losses it was asked for and the parameters once an epoch (${inner.name}, ${name}, ${sharing} sharing)`, async () => {
      const { backend, counts } = counting(inner, ['alloc', 'upload', 'view', 'read', 'write']);
      const data = makeMultiMnist({ split: 'test', seed: 3, count: 200 }); // 3 full batches + one of 8
      const model = new MultiTaskModel(backend, {
        inputShape: [1, 28, 28],
        trunk,
        heads: { hidden: [8], dropout: 0.1 },
        sharing: { kind: sharing },
        tasks: [
          { name: 'left', kind: 'classification', classes: 10 },
          { name: 'right', kind: 'classification', classes: 10 },
        ],
        maxBatch: 64,
      });
      const trainer = new Trainer(model, {
        optimizer: { kind: 'adamw', lr: 1e-3 },
        batchSize: 64,
        epochs: 1,
        log: null,
        lossCheckEvery: 1000,
      });
      await trainer.fit(data); // warm-up: every batch size once
      counts.clear();
      // A GPU backend also counts the objects it creates (buffers, pipelines, bind groups): none
      // after the new trainer's first epoch (which binds its new optimizer state once).
      const gpu = (inner as { stats?: Record<string, number> }).stats;
      let afterFirstEpoch: Record<string, number> | null = null;
      const log = (): void => {
        if (gpu && !afterFirstEpoch) afterFirstEpoch = { ...gpu };
      };
      const more = new Trainer(model, { optimizer: { kind: 'adamw', lr: 1e-3 }, batchSize: 64, epochs: 3, log, lossCheckEvery: 1000 });
      counts.clear(); // the new trainer's optimizer state is a one-time allocation
      await more.fit(data);
      if (gpu) {
        const first = afterFirstEpoch!;
        for (const key of ['buffers', 'pipelines', 'bindGroups']) assert.equal(gpu[key], first[key], `GPU ${key} created after the first epoch`);
      }
      assert.equal(counts.get('alloc') ?? 0, 0, 'alloc calls');
      assert.equal(counts.get('upload') ?? 0, 0, 'upload calls');
      assert.equal(counts.get('view') ?? 0, 0, 'view calls');
      // Per step only the batch is written (inputs and targets); the fixed loss weights go once.
      assert.equal(counts.get('write'), 2 * 3 * 4 + 1, 'write calls: inputs + targets, 4 steps × 3 epochs, + the weights once');
      // Per epoch, none per step: one loss read (its last step) and one read of the parameter
      // arena (checked for non-finite values at the epoch end, and what a checkpoint would
      // store); soft sharing also reads its penalty, for the epoch record.
      assert.equal(counts.get('read'), 3 * (sharing === 'soft' ? 3 : 2), 'read calls');
    });
  }
});
