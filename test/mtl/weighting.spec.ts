/**
 * Weighting strategies and the per-task gradient mechanism: the loss-based strategies against
 * their formulas, the mechanism against plain weighted backward passes (same gradients for
 * fixed coefficients, the Gram matrix equal to explicit dot products), masked tasks leaving
 * their heads untouched, and every strategy training MultiMNIST above chance.
 */
import assert from 'node:assert/strict';
import type { Backend } from '../../ts/backends/backend.js';
import { ReferenceBackend } from '../../ts/backends/reference.js';
import { Rng, hashUniform } from '../../ts/core/random.js';
import { makeMultiMnist } from '../../ts/data/multimnist.js';
import { ConfigError } from '../../ts/errors.js';
import { type ModelConfig, MultiTaskModel } from '../../ts/mtl/model.js';
import { resolveTask } from '../../ts/mtl/task.js';
import { DwaWeighting, FamoWeighting, GlsWeighting, RlwWeighting, UncertaintyWeighting } from '../../ts/mtl/weighting/loss-based.js';
import { MultiTaskDataset } from '../../ts/data/dataset.js';
import { DbMtlWeighting, GradNormWeighting, GradientWeighting } from '../../ts/mtl/weighting/gradient-based.js';
import { WEIGHTINGS, WeightedStep, type WeightingContext, createWeighting, parseWeightingSpec } from '../../ts/mtl/weighting/index.js';
import { Trainer } from '../../ts/train/trainer.js';
import { assertClose, backendsUnderTest } from '../backends/harness.js';
import { multiMnistMlp } from '../fixtures.js';

const others = (await backendsUnderTest()).filter((b) => b.backend).map((b) => b.backend!);
const fast: Backend = others[0] ?? new ReferenceBackend();

function context(kinds: ('classification' | 'regression')[], lr = 0.1): WeightingContext {
  const tasks = kinds.map((kind, i) => resolveTask({ name: `t${i}`, kind, ...(kind === 'classification' ? { classes: 3 } : {}) }, i));
  return { tasks, rng: new Rng(1), baseWeights: new Float32Array(kinds.length).fill(1), lr };
}

describe('loss-based weighting', () => {
  it('uncertainty: ∂L/∂s matches finite differences of Σ c·e^{−s}·L + ½s, and weights are c·e^{−s}', () => {
    const u = new UncertaintyWeighting(context(['classification', 'regression']));
    u.logVariance.set([0.3, -0.7]);
    u.beforeStep();
    assert.ok(Math.abs(u.current[0] - Math.exp(-0.3)) < 1e-12);
    assert.ok(Math.abs(u.current[1] - 0.5 * Math.exp(0.7)) < 1e-12);
    const losses = [1.7, 0.4];
    const c = [1, 0.5];
    const objective = (s: Float64Array): number => s.reduce((acc, st, t) => acc + c[t] * Math.exp(-st) * losses[t] + 0.5 * st, 0);
    const g = u.gradient(losses);
    for (let t = 0; t < 2; t++) {
      const up = Float64Array.from(u.logVariance);
      const down = Float64Array.from(u.logVariance);
      up[t] += 1e-6;
      down[t] -= 1e-6;
      const numeric = (objective(up) - objective(down)) / 2e-6;
      assert.ok(Math.abs(g[t] - numeric) < 1e-6, `task ${t}: ${g[t]} vs ${numeric}`);
    }
    // A step moves s toward its optimum s* = log(2·c·L).
    const before = Float64Array.from(u.logVariance);
    u.afterStep(Float32Array.from(losses));
    for (let t = 0; t < 2; t++) {
      const optimum = Math.log(2 * c[t] * losses[t]);
      assert.ok(Math.abs(u.logVariance[t] - optimum) < Math.abs(before[t] - optimum));
    }
  });

  it('dwa: weights 1 for two epochs, then T·softmax(L(e−1)/L(e−2)/τ)', () => {
    const d = new DwaWeighting(context(['classification', 'classification', 'classification']), { temperature: 2 });
    const epochs = [
      [1, 2, 3],
      [0.5, 2, 1.5],
      [0.5, 1, 1.5],
    ];
    for (const [e, losses] of epochs.entries()) {
      assert.deepEqual(Array.from(d.current), e < 2 ? [1, 1, 1] : Array.from(d.current));
      d.afterStep(Float32Array.from(losses));
      d.afterStep(Float32Array.from(losses));
      d.endEpoch();
    }
    const r = [0.5 / 0.5, 1 / 2, 1.5 / 1.5].map((x) => Math.exp(x / 2));
    const z = r.reduce((a, b) => a + b, 0);
    r.forEach((x, t) => assert.ok(Math.abs(d.current[t] - (3 * x) / z) < 1e-12));
    assert.ok(Math.abs(d.current.reduce((a, b) => a + b, 0) - 3) < 1e-12);
  });

  it('rlw: fresh softmax weights each step, summing to 1, reproducible by seed', () => {
    const draw = (): number[][] => {
      const w = new RlwWeighting(context(['classification', 'classification']));
      return [0, 1, 2].map(() => (w.beforeStep(), Array.from(w.current)));
    };
    const a = draw();
    assert.deepEqual(a, draw());
    for (const w of a) assert.ok(Math.abs(w[0] + w[1] - 1) < 1e-12);
    assert.notDeepEqual(a[0], a[1]);
  });

  it('gls: w_t = ∂(Π L)^{1/T}/∂L_t', () => {
    const g = new GlsWeighting(context(['classification', 'classification', 'regression']));
    const losses = Float32Array.from([0.5, 2, 1.25]);
    g.fromCurrentLosses(losses);
    const geo = (l: number[]): number => Math.exp(l.reduce((a, b) => a + Math.log(b), 0) / l.length);
    for (let t = 0; t < 3; t++) {
      const up = Array.from(losses);
      const down = Array.from(losses);
      up[t] += 1e-6;
      down[t] -= 1e-6;
      assert.ok(Math.abs(g.current[t] - (geo(up) - geo(down)) / 2e-6) < 1e-6);
    }
    // A task without labels in the batch (loss 0) sits the step out.
    g.fromCurrentLosses(Float32Array.from([0, 1, 4]));
    assert.deepEqual(Array.from(g.current), [0, 2 / 2 / 1, 2 / 2 / 4]);
  });

  it('famo: the same-batch δ (default) moves ξ after the optimizer step; next-batch between steps', () => {
    const ctx = context(['classification', 'classification', 'regression']);
    const adamStep = (g: number[]): number[] => g.map((x) => (-0.025 * x) / (Math.abs(x) + 1e-8)); // first Adam step from ξ = 0
    const famoGradient = (before: number[], after: number[]): number[] => {
      // Jᵀδ of the softmax at z = 1/3 (ξ = 0, so no decay term).
      const delta = before.map((l, t) => Math.log(l) - Math.log(after[t]));
      const zd = delta.reduce((a, b) => a + b, 0) / 3;
      return delta.map((d) => (d - zd) / 3);
    };
    const same = createWeighting('famo', ctx) as FamoWeighting;
    assert.equal(same.delta, 'same-batch');
    assert.equal(same.needsLossesAfterStep, true);
    same.fromCurrentLosses(Float32Array.from([1, 2, 4]));
    const c = (1 / 3) * (1 / 1 + 1 / 2 + 1 / 4);
    [1, 2, 4].forEach((l, t) => assert.ok(Math.abs(same.current[t] - 1 / 3 / (c * l)) < 1e-12, 'w_t = z_t/(c·L_t)'));
    assert.deepEqual(Array.from(same.logits), [0, 0, 0], 'no update before the step');
    same.afterOptimizerStep(Float32Array.from([0.5, 2, 3]));
    const expected = adamStep(famoGradient([1, 2, 4], [0.5, 2, 3]));
    expected.forEach((x, t) => assert.ok(Math.abs(same.logits[t] - x) < 1e-9, `ξ_${t}: ${same.logits[t]} vs ${x}`));
    assert.ok(same.logits[0] < 0 && same.logits[1] > 0, 'the task whose loss fell most loses weight');
    // The next step's losses do not move ξ before its own optimizer step.
    const held = Array.from(same.logits);
    same.fromCurrentLosses(Float32Array.from([0.7, 1.5, 3.5]));
    assert.deepEqual(Array.from(same.logits), held);

    const next = createWeighting('famo:delta=next-batch', ctx) as FamoWeighting;
    assert.equal(next.needsLossesAfterStep, false);
    next.fromCurrentLosses(Float32Array.from([1, 2, 4]));
    next.afterOptimizerStep(Float32Array.from([9, 9, 9])); // ignored in this form
    assert.deepEqual(Array.from(next.logits), [0, 0, 0]);
    next.fromCurrentLosses(Float32Array.from([0.5, 2, 3]));
    expected.forEach((x, t) => assert.ok(Math.abs(next.logits[t] - x) < 1e-9, `next-batch ξ_${t}`));
    assert.throws(() => createWeighting('famo:delta=sideways', ctx), /famo delta same-batch or next-batch/);
  });

  it('famo same-batch: the trainer re-evaluates the step\'s batch after the optimizer step, once per step', async () => {
    const n = 8;
    for (const spec of ['famo', 'famo:delta=next-batch']) {
      const model = new MultiTaskModel(fast, tiny(n));
      const trainer = new Trainer(model, { optimizer: { kind: 'sgd', lr: 0.1 }, batchSize: n, epochs: 1, weighting: spec, log: null });
      const step = (trainer as unknown as { weightedStep: WeightedStep }).weightedStep;
      const strategy = trainer.weighting as FamoWeighting;
      const seen: Float32Array[] = [];
      const record = strategy.afterOptimizerStep.bind(strategy);
      strategy.afterOptimizerStep = (losses) => {
        seen.push(Float32Array.from(losses));
        record(losses);
      };
      // One step by hand, as the trainer's loop does it: the re-evaluated losses are exactly the
      // batch's losses under the new parameters, with the step's dropout seed.
      loadTiny(model, n);
      const context = { training: true, seed: 5 };
      await step.run(n, context);
      const before = Float32Array.from(await fast.read(model.losses));
      trainer.optimizer.step();
      assert.equal(step.reevaluates, spec === 'famo');
      if (step.reevaluates) await step.reevaluate(n, context);
      if (spec === 'famo') {
        assert.equal(seen.length, 1);
        model.computeLoss(n, model.forward(n, context));
        assert.deepEqual(seen[0], await fast.read(model.losses));
        assert.notDeepEqual(seen[0], before, 'the parameters moved');
      } else {
        assert.equal(seen.length, 0);
      }
      // Through fit: one re-evaluation per step in the same-batch form, none in the other.
      seen.length = 0;
      const rng = new Rng(2);
      const count = 3 * n;
      const data = new MultiTaskDataset({
        inputs: rng.uniformArray(count * 12, -1, 1),
        inputShape: [12],
        labels: {
          a: Float32Array.from({ length: count }, () => rng.int(4)),
          b: Float32Array.from({ length: 2 * count }, () => rng.normal()),
          c: Float32Array.from({ length: count }, () => rng.int(2)),
        },
        labelWidths: { b: 2 },
      });
      await trainer.fit(data);
      assert.equal(seen.length, spec === 'famo' ? 3 : 0, spec);
      assert.ok(strategy.logits.some((x) => x !== 0) && strategy.logits.every(Number.isFinite), `${spec}: ξ learned`);
    }
  });

  it('parses specs and rejects unknown names and bad options', () => {
    assert.deepEqual(parseWeightingSpec('cagrad:c=0.4,space=representation'), { name: 'cagrad', options: { c: 0.4, space: 'representation' } });
    const ctx = context(['classification', 'classification']);
    assert.throws(() => createWeighting('frobnicate', ctx), /Unknown weighting "frobnicate"; expected one of equal, fixed/);
    assert.throws(() => createWeighting('cagrad:space=everywhere', ctx), /space=representation or space=parameters/);
    assert.throws(() => createWeighting('mgda:normalisation=l3', ctx), /normalisation/);
    assert.throws(() => createWeighting('dwa:temperature=abc', ctx), ConfigError);
  });
});

describe('GradNorm', () => {
  it('keeps Σw = T and moves weight toward the task whose loss falls slower, at balanced gradient norms', () => {
    const g = createWeighting('gradnorm:alpha=1.5,lr=0.1', context(['classification', 'classification', 'classification'])) as GradNormWeighting;
    const K = Float64Array.from([1, 0, 0, 0, 1, 0, 0, 0, 1]); // equal, orthogonal gradient norms
    const first = g.combine(K, Float32Array.from([2, 2, 2]));
    assert.deepEqual(Array.from(first), [1, 1, 1], 'the step uses the weights before their update');
    // Task 0's loss stayed at 2 while the others halved: r_0 > r_1 = r_2, so w_0 grows.
    g.combine(K, Float32Array.from([2, 1, 1]));
    const w = Array.from(g.weights);
    assert.ok(Math.abs(w.reduce((a, b) => a + b, 0) - 3) < 1e-12, `Σw = ${w}`);
    assert.ok(w[0] > 1 && w[1] < 1 && Math.abs(w[1] - w[2]) < 1e-12, `weights ${w}`);
  });
});

describe('DB-MTL', () => {
  it('averages gradients as ĝ ← c·ĝ + (1 − c)·g with c = β/step^σ and scales every task to the largest norm', async () => {
    const be = new ReferenceBackend();
    const db = createWeighting('db-mtl:beta=0.8,sigma=0.5', context(['classification', 'classification'])) as DbMtlWeighting;
    const g1 = Float32Array.from({ length: 128 }, (_, i) => (i % 7) - 3);
    const g2 = Float32Array.from({ length: 128 }, (_, i) => (i % 5) - 2);
    const a1 = await be.read(db.transformGradients(be, be.upload(g1, [2, 64])));
    const c1 = 0.8;
    a1.forEach((v, i) => assert.ok(Math.abs(v - (1 - c1) * g1[i]) < 1e-6, `step 1 [${i}]`));
    const a2 = await be.read(db.transformGradients(be, be.upload(g2, [2, 64])));
    const c2 = 0.8 / Math.sqrt(2);
    a2.forEach((v, i) => assert.ok(Math.abs(v - (c2 * a1[i] + (1 - c2) * g2[i])) < 1e-5, `step 2 [${i}]`));
    assert.deepEqual(Array.from(db.combine(Float64Array.from([4, 0, 0, 1]))).map((x) => +x.toFixed(6)), [1, 2]);
    db.fromCurrentLosses(Float32Array.from([0.5, 0]));
    assert.ok(Math.abs(db.lossWeights[0] - 2) < 1e-6 && db.lossWeights[1] === 0, 'log-loss weights 1/L (0 without labels)');
    assert.throws(() => createWeighting('db-mtl:space=representation', context(['classification', 'classification'])), /parameters only/);
  });
});

describe('GradDrop', () => {
  it('keeps every contribution where the tasks agree in sign, and one sign (drawn with P) where they conflict', async () => {
    const be = new ReferenceBackend();
    // Columns: agree (+), conflict with P = ½(1 + (−1)/3) = ⅓, conflict with P = ½.
    const g = be.upload(Float32Array.from([1, -2, 3, 2, 1, -3]), [2, 3]);
    const out = be.alloc([3]);
    for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
      be.gradDrop(g, out, seed, 0);
      const o = await be.read(out);
      assert.equal(o[0], 3);
      const u1 = hashUniform(seed, 1);
      assert.equal(o[1], u1 < 1 / 3 ? 1 : -2, `seed ${seed}`);
      assert.equal(o[2], hashUniform(seed, 2) < 0.5 ? 3 : -3, `seed ${seed}`);
    }
    be.gradDrop(g, out, 9, 1);
    assert.deepEqual(Array.from(await be.read(out)), [3, -1, 0], 'leak 1 passes the plain sum');
    assert.throws(() => createWeighting('graddrop:space=parameters', context(['classification', 'classification'])), /representation only/);
  });
});

const tiny = (maxBatch: number): ModelConfig => ({
  inputShape: [12],
  trunk: [
    { type: 'dense', units: 9, activation: 'tanh' },
    { type: 'dense', units: 7, activation: 'relu' },
  ],
  heads: { hidden: [5] },
  tasks: [
    { name: 'a', kind: 'classification', classes: 4 },
    { name: 'b', kind: 'regression', outputs: 2 },
    { name: 'c', kind: 'binary' },
  ],
  maxBatch,
  seed: 9,
});

/** Loads the same random batch of n samples (labels for the tiny config) into a model. */
function loadTiny(model: MultiTaskModel, n: number, mask?: Float32Array): void {
  const rng = new Rng(4);
  const targets = new Float32Array(n * 4);
  for (let i = 0; i < n; i++) targets.set([rng.int(4), rng.normal(), rng.normal(), rng.int(2)], i * 4);
  model.loadBatch(n, rng.uniformArray(n * 12, -1, 1), targets, mask ?? null);
}

/** A strategy that records the Gram matrix and returns fixed coefficients. */
function fixedAlpha(ctx: WeightingContext, space: 'representation' | 'parameters', alpha: number[], grams: Float64Array[]) {
  return new GradientWeighting(ctx, 'test', space, (K) => {
    grams.push(Float64Array.from(K));
    return Float64Array.from(alpha);
  });
}

describe('per-task gradients (the gradient-method mechanism)', () => {
  for (const be of [new ReferenceBackend(), ...others]) {
    for (const space of ['representation', 'parameters'] as const) {
      it(`${space}: fixed α reproduces the α-weighted backward on shared parameters, and the Gram matrix is G·Gᵀ (${be.name})`, async () => {
        const n = 17;
        const alpha = [0.7, 1.3, 0.4];
        // Reference gradients: loss mode with weights = α (shared part) and with one-hot
        // weights (each task's own shared gradient, for the Gram matrix).
        const plain = new MultiTaskModel(be, tiny(32));
        loadTiny(plain, n);
        const shared = plain.sharedParameterSize;
        const gradOf = async (w: number[]): Promise<Float32Array> => {
          plain.setTaskWeights(Float32Array.from(w));
          plain.forwardBackward(n, { training: true, seed: 1 });
          return (await be.read(plain.params.grads)).slice(0, shared);
        };
        const weighted = await gradOf(alpha);
        const perTask = [await gradOf([1, 0, 0]), await gradOf([0, 1, 0]), await gradOf([0, 0, 1])];
        await gradOf([1, 1, 1]); // heads receive their own task's unweighted gradient
        const headGrads = (await be.read(plain.params.grads)).slice(shared);
        assert.ok(shared > 0 && headGrads.length > 0);

        const model = new MultiTaskModel(be, tiny(32));
        loadTiny(model, n);
        const grams: Float64Array[] = [];
        const strategy = fixedAlpha(
          { tasks: model.tasks, rng: new Rng(1), baseWeights: new Float32Array(3).fill(1), lr: 0.1 },
          space,
          alpha,
          grams,
        );
        const step = new WeightedStep(model, strategy, new Float32Array(3));
        await step.run(n, { training: true, seed: 1 });
        const got = await be.read(model.params.grads);
        assertClose(got.slice(0, shared), weighted, { atol: 1e-5, rtol: 1e-4 }, 'shared gradient Σ α_t g_t');
        assertClose(got.slice(shared), headGrads, { atol: 1e-5, rtol: 1e-4 }, 'head gradients (unweighted)');
        assert.deepEqual(Array.from(strategy.current), alpha);
        if (space === 'parameters') {
          const K = grams[0];
          for (let i = 0; i < 3; i++) {
            for (let j = 0; j < 3; j++) {
              const dot = perTask[i].reduce((s, v, k) => s + v * perTask[j][k], 0);
              assert.ok(Math.abs(K[i * 3 + j] - dot) <= 1e-4 + 1e-3 * Math.abs(dot), `K[${i}][${j}] ${K[i * 3 + j]} vs ${dot}`);
            }
          }
        } else {
          // At the representation, K is positive semi-definite with K_tt = ‖∂L_t/∂Z‖² > 0.
          for (let t = 0; t < 3; t++) assert.ok(grams[0][t * 3 + t] > 0);
        }
      });
    }
  }

  it('a task without labels in the batch leaves its head unchanged, under every kind of strategy', async () => {
    const n = 8;
    const mask = new Float32Array(n * 3).map((_, i) => (i % 3 === 1 ? 0 : 1)); // task b unlabelled
    for (const name of ['fixed', 'uncertainty', 'gls', 'famo', 'gradnorm', 'mgda', 'pcgrad:space=representation', 'cagrad', 'imtl', 'nash-mtl', 'aligned-mtl', 'upgrad', 'gradvac', 'graddrop', 'db-mtl']) {
      const model = new MultiTaskModel(fast, tiny(8));
      const trainer = new Trainer(model, { optimizer: { kind: 'sgd', lr: 0.1, momentum: 0.9 }, batchSize: 8, epochs: 1, weighting: name, log: null });
      const before = await fast.read(model.params.values);
      loadTiny(model, n, mask);
      await (trainer as unknown as { weightedStep: WeightedStep }).weightedStep.run(n, { training: true, seed: 1 });
      trainer.optimizer.step();
      const after = await fast.read(model.params.values);
      for (const p of model.params.parameters) {
        for (const part of p.parts.filter((q) => q.name.startsWith('heads.b.'))) {
          const size = part.shape.reduce((a, b) => a * b, 1);
          const from = p.offset + part.offset;
          assert.deepEqual(after.slice(from, from + size), before.slice(from, from + size), `${name}: ${part.name} changed`);
        }
      }
      assert.notDeepEqual(after, before, `${name}: something trained`);
    }
  });
});

describe('every weighting strategy trains MultiMNIST', function () {
  this.timeout(300_000);
  const train = makeMultiMnist({ split: 'train', seed: 1, count: 3000 });
  const test = makeMultiMnist({ split: 'test', seed: 2, count: 500 });
  for (const name of Object.keys(WEIGHTINGS)) {
    it(`${name}: both tasks well above chance after 2 epochs (${fast.name})`, async () => {
      const model = new MultiTaskModel(fast, multiMnistMlp([64], 64, 2));
      const trainer = new Trainer(model, {
        optimizer: { kind: 'sgd', lr: 0.05, momentum: 0.9 },
        batchSize: 64,
        epochs: 2,
        seed: 3,
        weighting: name,
        log: null,
      });
      const history = await trainer.fit(train, { validation: test });
      const v = history.at(-1)!.validation!;
      assert.ok(v.left.accuracy! > 0.4 && v.right.accuracy! > 0.4, `${name}: ${v.left.accuracy} / ${v.right.accuracy}`);
      for (const w of Object.values(history.at(-1)!.weights)) assert.ok(Number.isFinite(w), `${name}: weights finite`);
      assert.equal(history.at(-1)!.weighting.name, name, 'the strategy state is recorded per epoch');
    });
  }
});
