/**
 * Optimizer.restrict: stepping a sub-range of the parameter arena. Outside the range the
 * parameters and the optimizer state stay bit-identical; inside, they match an unrestricted
 * optimizer given the same gradients (SGD with momentum, AdamW), on every backend.
 */
import assert from 'node:assert/strict';
import type { Backend } from '../../ts/backends/backend.js';
import { ReferenceBackend } from '../../ts/backends/reference.js';
import { Rng } from '../../ts/core/random.js';
import { ConfigError, ValueError } from '../../ts/errors.js';
import { ParameterStore } from '../../ts/nn/parameters.js';
import { Optimizer, type OptimizerConfig } from '../../ts/train/optimizer.js';
import { parityBackends, randomArray } from '../backends/harness.js';

/** Three parameters: 100 values at 0, 200 at 128, 70 at 384 (arena 512). */
function store(backend: Backend): ParameterStore {
  const p = new ParameterStore();
  p.add('trunk.w', [10, 10], { kind: 'uniform', bound: 1 });
  p.add('trunk.b', [200], { kind: 'uniform', bound: 1 });
  p.add('heads.w', [7, 10], { kind: 'uniform', bound: 1 });
  p.allocate(backend, new Rng(4));
  return p;
}

const CONFIGS: OptimizerConfig[] = [
  { kind: 'sgd', lr: 0.1, momentum: 0.9, weightDecay: 0.01 },
  { kind: 'sgd', lr: 0.1, momentum: 0.9, nesterov: true },
  { kind: 'adamw', lr: 0.01, weightDecay: 0.1 },
];

async function checkRestrict(backend: Backend, config: OptimizerConfig, range: { offset: number; length: number }): Promise<void> {
  const frozen = store(backend);
  const free = store(backend);
  const a = new Optimizer(backend, frozen, config);
  const b = new Optimizer(backend, free, config);
  a.restrict(range);
  assert.deepEqual(a.range, range);
  const before = await backend.read(frozen.values);
  const stateBefore = await Promise.all(Object.values(a.state).map((t) => backend.read(t)));
  const rng = new Rng(9);
  for (let s = 0; s < 4; s++) {
    const g = randomArray(rng, frozen.arenaSize);
    backend.write(frozen.grads, g);
    backend.write(free.grads, g);
    a.step();
    b.step();
  }
  const got = await backend.read(frozen.values);
  const want = await backend.read(free.values);
  const end = range.offset + range.length;
  let moved = 0;
  for (let i = 0; i < got.length; i++) {
    if (i >= range.offset && i < end) {
      assert.ok(Object.is(got[i], want[i]), `${config.kind} [${i}] in range: ${got[i]} vs unrestricted ${want[i]}`);
      if (got[i] !== before[i]) moved++;
    } else {
      assert.ok(Object.is(got[i], before[i]), `${config.kind} [${i}] outside the range moved: ${before[i]} → ${got[i]}`);
    }
  }
  assert.ok(moved > range.length / 2, 'the range did train');
  const states = Object.values(a.state);
  const unrestricted = Object.values(b.state);
  for (let k = 0; k < states.length; k++) {
    const s = await backend.read(states[k]);
    const u = await backend.read(unrestricted[k]);
    for (let i = 0; i < s.length; i++) {
      const inside = i >= range.offset && i < end;
      assert.ok(Object.is(s[i], inside ? u[i] : stateBefore[k][i]), `${config.kind} state ${k} [${i}]`);
    }
  }
  assert.equal(a.steps, 4);
}

describe('Optimizer.restrict', () => {
  const reference = new ReferenceBackend();

  it('freezes everything outside the range; inside, matches an unrestricted optimizer (reference)', async () => {
    for (const config of CONFIGS) {
      await checkRestrict(reference, config, { offset: 128, length: 300 }); // trunk.b and most of heads.w
      await checkRestrict(reference, config, { offset: 384, length: 128 }); // the heads: a frozen prefix
    }
  });

  it('restrict(null) steps the whole arena again', async () => {
    const p = store(reference);
    const o = new Optimizer(reference, p, { kind: 'sgd', lr: 1 });
    o.restrict({ offset: 384, length: 128 });
    o.restrict(null);
    assert.deepEqual(o.range, { offset: 0, length: p.arenaSize });
    const before = await reference.read(p.values);
    reference.fill(p.grads, 1);
    o.step();
    const after = await reference.read(p.values);
    for (let i = 0; i < 100; i++) assert.ok(Math.abs(after[i] - (before[i] - 1)) < 1e-6);
  });

  it('rejects ranges that are not aligned, empty or outside the arena', () => {
    const o = new Optimizer(reference, store(reference), { kind: 'sgd', lr: 1 });
    assert.throws(() => o.restrict({ offset: 10, length: 64 }), /multiple of 64/);
    assert.throws(() => o.restrict({ offset: 0, length: 0 }), ValueError);
    assert.throws(() => o.restrict({ offset: 448, length: 128 }), /leaves the parameter arena of 512/);
    assert.throws(() => o.restrict({ offset: 0, length: 64, size: 3 } as never), ConfigError);
  });

  describe('on the other backends', () => {
    for (const config of CONFIGS) {
      it(`${config.kind}${'nesterov' in config ? ' nesterov' : ''}: cpu, webgpu, cuda where available`, async function () {
        let ran = 0;
        for (const { name, backend, skip } of await parityBackends()) {
          if (!backend) {
            console.log(`      (${name} skipped: ${skip})`);
            continue;
          }
          await checkRestrict(backend, config, { offset: 128, length: 300 });
          ran++;
        }
        if (ran === 0) this.skip();
      });
    }
  });
});
