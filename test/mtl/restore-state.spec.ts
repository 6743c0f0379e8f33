/**
 * Restoring state read back from a checkpoint (issue 13): every weighting strategy's setState,
 * the auxiliary-task stopper's and the random generator's take back exactly what getState gave
 * (through JSON, as a checkpoint stores it, NaN and Infinity included), and refuse anything
 * else (null, numbers, wrong lengths, NaN, nested junk, a missing key, an unknown task) with a
 * CheckpointError naming the key, never a TypeError.
 */
import assert from 'node:assert/strict';
import { Rng } from '../../ts/core/random.js';
import { CheckpointError } from '../../ts/errors.js';
import { resolveTask } from '../../ts/mtl/task.js';
import { WEIGHTINGS, type WeightingContext, type WeightingStrategy, createWeighting } from '../../ts/mtl/weighting/index.js';
import { AuxiliaryTaskStopper } from '../../ts/train/task-stopping.js';

type Json = null | number | string | boolean | Json[] | { [key: string]: Json };

function context(): WeightingContext {
  const tasks = [
    resolveTask({ name: 'a', kind: 'classification', classes: 3 }, 0),
    resolveTask({ name: 'b', kind: 'regression' }, 1),
    resolveTask({ name: 'c', kind: 'binary' }, 2),
  ];
  return { tasks, rng: new Rng(5), baseWeights: Float32Array.from([1, 0.5, 2]), lr: 0.1 };
}

/** A few steps and epochs, so that every piece of state is set (FAMO's prev holds a NaN: task c had no labels). */
function exercise(s: WeightingStrategy): void {
  const gram = Float64Array.from([4, 1, -1, 1, 3, 0.5, -1, 0.5, 2]);
  for (let step = 0; step < 3; step++) {
    const losses = Float32Array.from([1 + step, 0.5 / (step + 1), step === 0 ? 0 : 0.2]);
    if (s.mode === 'loss') s.beforeStep();
    if (s.needsCurrentLosses) s.fromCurrentLosses(losses);
    if (s.mode !== 'loss' && !s.combineOnDevice) s.current.set(s.combine(gram, losses));
    s.afterStep(losses);
    s.endEpoch();
  }
}

/** Every key path of a JSON value, objects and arrays alike. */
function paths(v: Json, prefix: (string | number)[] = []): (string | number)[][] {
  if (v === null || typeof v !== 'object') return [];
  const keys: (string | number)[] = Array.isArray(v) ? v.map((_, i) => i) : Object.keys(v);
  return keys.flatMap((k) => [[...prefix, k], ...paths((v as Record<string | number, Json>)[k], [...prefix, k])]);
}

/** A copy of `v` with the value at `path` replaced (or deleted when `value` is undefined). */
function mutate(v: Json, path: (string | number)[], value: unknown): Json {
  const copy = JSON.parse(JSON.stringify(v)) as Json;
  let o = copy as Record<string | number, unknown>;
  for (const k of path.slice(0, -1)) o = o[k] as Record<string | number, unknown>;
  const last = path.at(-1)!;
  if (value === undefined && !Array.isArray(o)) delete o[last];
  else o[last] = value;
  return copy;
}

const JUNK: unknown[] = [null, 7, -1, 1.5, NaN, Infinity, 'x', true, [], [NaN], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], {}, { a: { b: [1] } }, undefined];

/** Calls `fn`; it may succeed, or throw a CheckpointError whose message names `key`: nothing else. */
function succeedsOrNames(fn: () => void, key: string, what: string): void {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof CheckpointError, `${what}: expected a CheckpointError, got ${(e as Error).name}: ${(e as Error).message}`);
    assert.ok(e.message.includes(key), `${what}: the message should name ${key}: ${e.message}`);
  }
}

describe('weighting strategies restore exactly their own state, and refuse anything else', () => {
  for (const name of Object.keys(WEIGHTINGS)) {
    it(name, () => {
      const s = createWeighting(name, context());
      exercise(s);
      const state = JSON.parse(JSON.stringify(s.getState())) as { [key: string]: Json };
      const restored = createWeighting(name, context());
      restored.setState(state);
      assert.deepEqual(JSON.parse(JSON.stringify(restored.getState())), state, 'round trip through JSON');

      for (const junk of [null, 5, 'state', [], true]) {
        assert.throws(() => restored.setState(junk as never), (e: Error) => e instanceof CheckpointError && /weighting\.state/.test(e.message));
      }
      for (const path of paths(state)) {
        const key = `training.weighting.state.${path[0]}`;
        for (const junk of JUNK) {
          const what = `${name}: ${path.join('.')} = ${JSON.stringify(junk) ?? 'deleted'}`;
          succeedsOrNames(() => createWeighting(name, context()).setState(mutate(state, path, junk) as never), key, what);
        }
      }
      // A key getState writes is required.
      for (const key of Object.keys(state)) {
        assert.throws(() => createWeighting(name, context()).setState(mutate(state, [key], undefined) as never), CheckpointError, `${name}: without ${key}`);
      }
    });
  }

  it('names the exact key: a wrong length, a NaN, a negative second moment', () => {
    const u = createWeighting('uncertainty', context());
    const state = u.getState() as { logVariance: number[]; adam: { v: number[] } };
    assert.throws(() => u.setState({ ...state, logVariance: [0, 0] }), /at training\.weighting\.state\.logVariance: expected an array of 3 values, each a finite number, but received an array of length 2/);
    assert.throws(() => u.setState({ ...state, logVariance: [0, NaN, 0] }), /at training\.weighting\.state\.logVariance\[1\]: expected a finite number but received NaN/);
    assert.throws(() => u.setState({ ...state, adam: { ...state.adam, v: [0, -1, 0] } }), /at training\.weighting\.state\.adam\.v\[1\]: expected a finite number ≥ 0 but received -1/);
    const dwa = createWeighting('dwa', context());
    assert.throws(() => dwa.setState({ ...dwa.getState(), history: [[1, 1, 1], [1, 1, 1], [1, 1, 1]] }), /weighting\.state\.history: expected the mean losses of at most 2 epochs/);
  });
});

describe('the auxiliary-task stopper restores its state, and refuses anything else', () => {
  it('round trip through JSON, an infinite criterion included', () => {
    const s = new AuxiliaryTaskStopper({ k: 2, threshold: 1 }, ['aux']);
    for (let e = 1; e <= 3; e++) s.update('aux', e, 0, 1, 1); // zero training error: the criterion is ∞
    assert.equal(s.stopped.get('aux')?.value, Infinity);
    const state = JSON.parse(JSON.stringify(s.getState())) as Record<string, unknown>;
    const r = new AuxiliaryTaskStopper({ k: 2, threshold: 1 }, ['aux']);
    r.setState(state);
    assert.deepEqual(r.stopped.get('aux'), { epoch: 3, value: Infinity });
    assert.deepEqual(r.getState(), s.getState());
  });

  it('refuses junk, naming the key', () => {
    const r = new AuxiliaryTaskStopper({}, ['aux']);
    const cases: [unknown, RegExp][] = [
      [null, /at training\.auxiliaryStopping: expected an object but received null/],
      [{ history: {} }, /at training\.auxiliaryStopping\.stopped: expected an object but received undefined/],
      [{ history: 5, stopped: {} }, /at training\.auxiliaryStopping\.history: expected an object/],
      [{ history: { aux: 'x' }, stopped: {} }, /at training\.auxiliaryStopping\.history\.aux: expected an array/],
      [{ history: { aux: [1, NaN] }, stopped: {} }, /at training\.auxiliaryStopping\.history\.aux\[1\]/],
      [{ history: { aux: [-1] }, stopped: {} }, /at training\.auxiliaryStopping\.history\.aux\[0\]: expected a finite number ≥ 0/],
      [{ history: {}, stopped: { aux: null } }, /at training\.auxiliaryStopping\.stopped\.aux: expected an object/],
      [{ history: {}, stopped: { aux: { epoch: 0, value: 1 } } }, /at training\.auxiliaryStopping\.stopped\.aux\.epoch: expected an integer ≥ 1/],
      [{ history: {}, stopped: { aux: { epoch: 2, value: 'x' } } }, /at training\.auxiliaryStopping\.stopped\.aux\.value/],
      [{ history: { main: [1] }, stopped: {} }, /at training\.auxiliaryStopping\.history: "main" is not an auxiliary task of this model \(aux\)/],
      [{ history: {}, stopped: { constructor: { epoch: 1, value: 2 } } }, /"constructor" is not an auxiliary task/],
    ];
    for (const [state, message] of cases) assert.throws(() => r.setState(state as never), (e: Error) => e instanceof CheckpointError && message.test(e.message));
    assert.equal(r.stopped.size, 0, 'nothing restored from a refused state');
  });
});

describe('Rng.setState', () => {
  it('takes four uint32 words, not all zero, and continues the same sequence', () => {
    const a = new Rng(9);
    a.normal();
    const b = new Rng(1);
    b.setState(JSON.parse(JSON.stringify(a.getState())) as number[]);
    assert.equal(b.nextU32(), a.nextU32());
    const junk: unknown[] = [null, 5, 'abcd', {}, [1, 2, 3], [1, 2, 3, 4, 5], [1, 2, 3, -1], [1, 2, 3, 2 ** 32], [1, 2, 3, 1.5], [1, 2, 3, NaN], [1, 2, 3, '4'], [0, 0, 0, 0]];
    for (const state of junk) {
      assert.throws(() => b.setState(state as never, 'weighting.rngState'), (e: Error) => e instanceof CheckpointError && /weighting\.rngState/.test(e.message), JSON.stringify(state));
    }
    assert.equal(b.nextU32(), a.nextU32(), 'a refused state changes nothing');
  });
});
