/**
 * Soft parameter sharing: one tower per task feeding the fused heads through the stacked
 * layout, and the L2 penalty between the towers. Gradients of the whole objective (losses +
 * penalty) against finite differences on the reference; cpu against reference; the penalty's
 * value; the penalty pulling towers together; MultiMNIST training; strategies that need
 * shared parameters refused. The sharing registry: every kind's defaults as checkpoints record
 * them, its body, and the CLI's spec form.
 */
import assert from 'node:assert/strict';
import type { Backend, Tensor } from '../../ts/backends/backend.js';
import { ReferenceBackend } from '../../ts/backends/reference.js';
import { Rng } from '../../ts/core/random.js';
import { makeMultiMnist } from '../../ts/data/multimnist.js';
import { ConfigError } from '../../ts/errors.js';
import { type ModelConfig, MultiTaskModel } from '../../ts/mtl/model.js';
import { SHARINGS, type SharingConfig, parseSharingSpec } from '../../ts/mtl/sharing/index.js';
import { Trainer } from '../../ts/train/trainer.js';
import { assertModelGradients } from '../backends/gradcheck.js';
import { assertClose, backendsUnderTest } from '../backends/harness.js';
import { multiMnistMlp } from '../fixtures.js';

const cpu = (await backendsUnderTest()).find((b) => b.name === 'cpu')?.backend ?? null;
const fast: Backend = cpu ?? new ReferenceBackend();
const data = (t: Tensor): Float32Array => (t as unknown as { data: Float32Array }).data;

const soft = (penalty: number): ModelConfig => ({
  inputShape: [6],
  trunk: [
    { type: 'dense', units: 5, activation: 'tanh' },
    { type: 'dense', units: 4, activation: 'gelu' },
  ],
  sharing: { kind: 'soft', penalty },
  heads: { hidden: [3], activation: 'tanh' },
  tasks: [
    { name: 'a', kind: 'classification', classes: 3, weight: 0.7 },
    { name: 'b', kind: 'regression', outputs: 2 },
    { name: 'c', kind: 'binary', weight: 1.3 },
  ],
  maxBatch: 8,
  seed: 5,
});

/** λ·Σ_{i<j}‖θ_i − θ_j‖² computed on the host from the parameter arena. */
function hostPenalty(model: MultiTaskModel, arena: Float32Array, lambda: number): number {
  const towers = model.tasks.map((t) => model.params.parameters.filter((p) => p.name.startsWith(`towers.${t.name}.`)));
  let total = 0;
  for (let i = 0; i < towers.length; i++) {
    for (let j = i + 1; j < towers.length; j++) {
      towers[i].forEach((p, k) => {
        const q = towers[j][k];
        for (let e = 0; e < p.size; e++) total += (arena[p.offset + e] - arena[q.offset + e]) ** 2;
      });
    }
  }
  return lambda * total;
}

function loadBatch(model: MultiTaskModel, n: number, seed = 11): void {
  const rng = new Rng(seed);
  const targets = new Float32Array(n * 4);
  for (let i = 0; i < n; i++) targets.set([rng.int(3), rng.normal(), rng.normal(), rng.int(2)], i * 4);
  model.loadBatch(n, rng.uniformArray(n * 6, -1, 1), targets);
}

describe('soft parameter sharing', function () {
  this.timeout(300_000);

  it('gradients of Σ w_t·L_t + λ·Σ‖θ_i − θ_j‖² match finite differences (reference)', () => {
    const be = new ReferenceBackend();
    const lambda = 0.3;
    const model = new MultiTaskModel(be, soft(lambda));
    assert.match(model.summary(), /one tower per task/);
    // Towers start from different random initialisations, so the penalty is not zero.
    const n = 5;
    loadBatch(model, n);
    assertModelGradients(model, n, () => hostPenalty(model, data(model.params.values), lambda));
  });

  it('reports the penalty and matches the reference on cpu', async function () {
    if (!cpu) this.skip();
    const results = [];
    for (const be of [new ReferenceBackend(), cpu!]) {
      const model = new MultiTaskModel(be, soft(0.05));
      loadBatch(model, 7);
      model.forwardBackward(7, { training: true, seed: 1 });
      const arena = await be.read(model.params.values);
      const penalty = await model.sharingPenalty();
      assert.ok(Math.abs(penalty - hostPenalty(model, arena, 0.05)) < 1e-4 * Math.max(1, penalty), `${be.name} penalty ${penalty}`);
      results.push({ grads: await be.read(model.params.grads), logits: await be.read(model.forward(7)) });
    }
    assertClose(results[1].grads, results[0].grads, { atol: 1e-5, rtol: 1e-4 }, 'gradients');
    assertClose(results[1].logits, results[0].logits, { atol: 1e-5, rtol: 1e-4 }, 'logits');
  });

  it('trains MultiMNIST above chance, and a larger λ keeps the towers closer', async () => {
    const train = makeMultiMnist({ split: 'train', seed: 1, count: 2000 });
    const test = makeMultiMnist({ split: 'test', seed: 2, count: 400 });
    const penalties: number[] = [];
    for (const lambda of [0, 0.05]) {
      const model = new MultiTaskModel(fast, multiMnistMlp([32], 64, 3, { sharing: { kind: 'soft', penalty: lambda } }));
      const history = await new Trainer(model, { optimizer: { kind: 'sgd', lr: 0.05, momentum: 0.9 }, batchSize: 64, epochs: 2, log: null }).fit(train, {
        validation: test,
      });
      const v = history.at(-1)!.validation!;
      assert.ok(v.left.accuracy! > 0.4 && v.right.accuracy! > 0.4, `λ=${lambda}: ${v.left.accuracy} / ${v.right.accuracy}`);
      assert.equal(typeof history.at(-1)!.penalty, 'number');
      penalties.push(hostPenalty(model, await fast.read(model.params.values), 1));
    }
    assert.ok(penalties[1] < 0.5 * penalties[0], `Σ‖θ_i − θ_j‖²: λ=0 ${penalties[0]}, λ=0.05 ${penalties[1]}`);
  });

  it('refuses gradient-based weighting (no shared parameters) and bad sharing configs', () => {
    const model = new MultiTaskModel(fast, soft(0.1));
    assert.throws(
      () => new Trainer(model, { optimizer: { kind: 'sgd', lr: 0.1 }, batchSize: 8, epochs: 1, weighting: 'mgda' }),
      (e: Error) => e instanceof ConfigError && /loss-based/.test(e.message),
    );
    new Trainer(model, { optimizer: { kind: 'sgd', lr: 0.1 }, batchSize: 8, epochs: 1, weighting: 'uncertainty' });
    assert.throws(() => new MultiTaskModel(fast, { ...soft(0.1), sharing: { kind: 'mixed' } as never }), /hard, soft, cross-stitch, mmoe, omoe, cgc or ple/);
    assert.throws(() => new MultiTaskModel(fast, { ...soft(0.1), sharing: { kind: 'cross-stitch', after: [5] } }), /after tower layers 0..1/);
    assert.throws(() => new MultiTaskModel(fast, { ...soft(-1) }), /sharing.penalty/);
  });
});

describe('cross-stitch networks', function () {
  this.timeout(300_000);
  const stitched = (after?: number[]): ModelConfig => ({ ...soft(0), sharing: { kind: 'cross-stitch', after, self: 0.8 } });

  it('gradients (towers, cross-stitch units, heads) match finite differences, with stale rows in every buffer (reference)', () => {
    const be = new ReferenceBackend();
    const model = new MultiTaskModel(be, stitched());
    assert.match(model.summary(), /cross-stitch after layer 0, 1/);
    // A full batch first, so the stacked buffers hold rows beyond the next, smaller batch.
    loadBatch(model, 8);
    model.forwardBackward(8, { training: true, seed: 1 });
    const n = 5;
    loadBatch(model, n, 3);
    const names = model.params.parameters.map((p) => p.name);
    assert.ok(names.includes('cross-stitch.0') && names.includes('cross-stitch.1'));
    assertModelGradients(model, n);
  });

  it('units start at self weight on the diagonal and match the reference on cpu', async function () {
    const model = new MultiTaskModel(new ReferenceBackend(), stitched([1]));
    const unit = model.params.parameters.find((p) => p.name === 'cross-stitch.1')!;
    const A = (await model.backend.read(model.params.values)).slice(unit.offset, unit.offset + 9);
    assert.deepEqual(Array.from(A), [0.8, 0.1, 0.1, 0.1, 0.8, 0.1, 0.1, 0.1, 0.8].map(Math.fround));
    if (!cpu) this.skip();
    const results = [];
    for (const be of [new ReferenceBackend(), cpu!]) {
      const m = new MultiTaskModel(be, stitched());
      loadBatch(m, 7);
      m.forwardBackward(7, { training: true, seed: 1 });
      results.push(await be.read(m.params.grads));
    }
    assertClose(results[1], results[0], { atol: 1e-5, rtol: 1e-4 }, 'gradients');
  });

  it('trains MultiMNIST above chance', async () => {
    const train = makeMultiMnist({ split: 'train', seed: 1, count: 2000 });
    const test = makeMultiMnist({ split: 'test', seed: 2, count: 400 });
    const model = new MultiTaskModel(fast, multiMnistMlp([64, 32], 64, 3, { sharing: { kind: 'cross-stitch' } }));
    const history = await new Trainer(model, { optimizer: { kind: 'sgd', lr: 0.05, momentum: 0.9 }, batchSize: 64, epochs: 2, log: null }).fit(train, {
      validation: test,
    });
    const v = history.at(-1)!.validation!;
    assert.ok(v.left.accuracy! > 0.4 && v.right.accuracy! > 0.4, `${v.left.accuracy} / ${v.right.accuracy}`);
  });
});

describe('mixtures of experts (MMoE, CGC, PLE)', function () {
  this.timeout(300_000);
  const experts = (sharing: ModelConfig['sharing']): ModelConfig => ({ ...soft(0), sharing });

  for (const [label, sharing] of [
    ['MMoE with 3 experts', { kind: 'mmoe', experts: 3 }],
    ['CGC with 2 shared + 1 per task', { kind: 'cgc', shared: 2, perTask: 1 }],
    ['PLE, 3 levels of 2 shared + 1 per task', { kind: 'ple', levels: 3, shared: 2, perTask: 1 }],
    ['PLE, 2 levels of 1 shared + 2 per task', { kind: 'ple', levels: 2, shared: 1, perTask: 2 }],
  ] as const) {
    it(`${label}: gradients (experts, gates, heads) match finite differences after a larger batch (reference)`, () => {
      const be = new ReferenceBackend();
      const model = new MultiTaskModel(be, experts(sharing));
      assert.match(model.summary(), /softmax gate per task/);
      loadBatch(model, 8);
      model.forwardBackward(8, { training: true, seed: 1 });
      const n = 5;
      loadBatch(model, n, 9);
      assertModelGradients(model, n);
    });
  }

  it('names the gates per task, and matches the reference on cpu', async function () {
    const model = new MultiTaskModel(new ReferenceBackend(), experts({ kind: 'cgc', shared: 1, perTask: 2 }));
    const names = model.params.parameters.flatMap((p) => p.parts.map((q) => `${q.name} [${q.shape}]`));
    for (const expected of ['gates.a.weight [3,6]', 'gates.c.bias [3]', 'experts.shared.0.0.weight [5,6]', 'experts.b.1.1.bias [4]']) {
      assert.ok(names.includes(expected), `${expected} in ${names.join(', ')}`);
    }
    if (!cpu) this.skip();
    for (const sharing of [{ kind: 'mmoe', experts: 3 }, { kind: 'cgc', shared: 2, perTask: 1 }, { kind: 'ple', levels: 2 }] as const) {
      const results = [];
      for (const be of [new ReferenceBackend(), cpu!]) {
        const m = new MultiTaskModel(be, experts(sharing));
        loadBatch(m, 7);
        m.forwardBackward(7, { training: true, seed: 1 });
        results.push(await be.read(m.params.grads));
      }
      assertClose(results[1], results[0], { atol: 1e-5, rtol: 1e-4 }, `${sharing.kind} gradients`);
    }
  });

  for (const sharing of [{ kind: 'mmoe' }, { kind: 'cgc' }, { kind: 'ple' }] as const) {
    it(`${sharing.kind}: trains MultiMNIST above chance`, async () => {
      const train = makeMultiMnist({ split: 'train', seed: 1, count: 2000 });
      const test = makeMultiMnist({ split: 'test', seed: 2, count: 400 });
      const model = new MultiTaskModel(fast, multiMnistMlp([32], 64, 3, { sharing }));
      const history = await new Trainer(model, { optimizer: { kind: 'sgd', lr: 0.05, momentum: 0.9 }, batchSize: 64, epochs: 2, log: null }).fit(train, {
        validation: test,
      });
      const v = history.at(-1)!.validation!;
      assert.ok(v.left.accuracy! > 0.4 && v.right.accuracy! > 0.4, `${v.left.accuracy} / ${v.right.accuracy}`);
    });
  }
});

describe('the sharing registry', () => {
  // What checkpoints record as the architecture's sharing: the defaults, keys in this order.
  const defaults: [SharingConfig | undefined, string, unknown][] = [
    [undefined, 'trunk: ', { kind: 'hard' }],
    [{ kind: 'soft' }, 'soft sharing, one tower per task', { kind: 'soft', penalty: 1e-3 }],
    [{ kind: 'cross-stitch' }, 'cross-stitch sharing, one tower per task', { kind: 'cross-stitch', after: null, self: 0.9 }],
    [{ kind: 'mmoe' }, 'mmoe sharing, 4 experts', { kind: 'mmoe', shared: 4, perTask: 0 }],
    [{ kind: 'cgc' }, 'cgc sharing, 5 experts', { kind: 'cgc', shared: 2, perTask: 1 }],
    [{ kind: 'ple' }, 'ple sharing, 2 PLE level(s)', { kind: 'ple', levels: 2, shared: 2, perTask: 1 }],
  ];

  it('lists every kind, in order, and fills in the defaults checkpoints record', () => {
    assert.deepEqual(Object.keys(SHARINGS), ['hard', 'soft', 'cross-stitch', 'mmoe', 'omoe', 'cgc', 'ple']);
    for (const [sharing, summary, resolved] of defaults) {
      const model = new MultiTaskModel(new ReferenceBackend(), { ...soft(0), sharing });
      assert.equal(JSON.stringify(model.architecture().sharing), JSON.stringify(resolved));
      assert.ok(model.summary().split('\n')[1].startsWith(summary), model.summary());
      // One representation for every task (what gradient-based weighting needs) only when hard;
      // a penalty to report only with soft sharing.
      assert.equal(model.body.stackStride === 0, sharing === undefined, `${sharing?.kind} stackStride`);
      assert.equal(model.body.penalty !== undefined, sharing?.kind === 'soft', `${sharing?.kind} penalty`);
    }
  });

  it('reads the CLI form NAME[:key=value,...] and checks it as the model does', () => {
    assert.deepEqual(parseSharingSpec('cgc:shared=3,perTask=0'), { shared: 3, perTask: 0, kind: 'cgc' });
    assert.deepEqual(parseSharingSpec('hard'), { kind: 'hard' });
    assert.throws(() => parseSharingSpec('hard:penalty=5'), (e: unknown) => e instanceof ConfigError && /"penalty" in sharing \(hard\)/.test(e.message));
    assert.throws(() => parseSharingSpec('mixed'), /hard, soft, cross-stitch, mmoe, omoe, cgc or ple/);
    assert.throws(() => parseSharingSpec('soft:penalty=-1'), /sharing.penalty/);
  });
});
