/**
 * Ma et al.'s (2018) synthetic data: shape and task names, reproducibility by seed, the task
 * vectors' geometry (cos(w1, w2) = ρ, |w_k| = c), the linear parts' empirical correlation ≈ ρ,
 * labels that follow the formula up to the noise, and typed errors on bad options.
 */
import assert from 'node:assert/strict';
import {
  MMOE_SYNTHETIC_NOISE_STD,
  MMOE_SYNTHETIC_SCALE,
  makeMmoeSynthetic,
  mmoeSyntheticTasks,
} from '../../ts/data/mmoe-synthetic.js';
import { ConfigError, ValueError } from '../../ts/errors.js';

function dot(a: ArrayLike<number>, b: ArrayLike<number>, offset = 0): number {
  let s = 0;
  for (let i = 0; i < b.length; i++) s += a[offset + i] * b[i];
  return s;
}

function pearson(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i] / n;
    mb += b[i] / n;
  }
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) ** 2;
    sbb += (b[i] - mb) ** 2;
  }
  return sab / Math.sqrt(saa * sbb);
}

describe('data/mmoe-synthetic', () => {
  it('gives n samples of d features and two regression tasks y1, y2', () => {
    const data = makeMmoeSynthetic({ rho: 0.5, n: 30, seed: 3, d: 7 });
    assert.equal(data.length, 30);
    assert.deepEqual(data.inputShape, [7]);
    assert.deepEqual(data.taskNames, ['y1', 'y2']);
    assert.equal(data.labels('y1').length, 30);
    assert.equal(data.labels('y2').length, 30);
    assert.equal(makeMmoeSynthetic({ rho: 0.5, n: 2 }).featureSize, 100);
  });

  it('is reproducible by seed, and another seed gives other tasks and samples', () => {
    const a = makeMmoeSynthetic({ rho: 0.7, n: 50, seed: 11, d: 10 });
    const b = makeMmoeSynthetic({ rho: 0.7, n: 50, seed: 11, d: 10 });
    const c = makeMmoeSynthetic({ rho: 0.7, n: 50, seed: 12, d: 10 });
    assert.deepEqual(a.inputs, b.inputs);
    assert.deepEqual(a.labels('y1'), b.labels('y1'));
    assert.deepEqual(a.labels('y2'), b.labels('y2'));
    assert.notDeepEqual(a.inputs, c.inputs);
    assert.notDeepEqual(mmoeSyntheticTasks({ rho: 0.7, seed: 11 }).alpha, mmoeSyntheticTasks({ rho: 0.7, seed: 12 }).alpha);
    // A prefix: more samples of the same seed start with the same ones (one stream per seed).
    const longer = makeMmoeSynthetic({ rho: 0.7, n: 80, seed: 11, d: 10 });
    assert.deepEqual(longer.slice(0, 50).labels('y2'), a.labels('y2'));
  });

  for (const rho of [-0.3, 0, 0.5, 0.9, 1]) {
    it(`ρ = ${rho}: cos(w1, w2) = ρ and |w_k| = c exactly; the linear parts correlate ≈ ρ`, () => {
      const { w1, w2 } = mmoeSyntheticTasks({ rho, seed: 5 });
      const c = MMOE_SYNTHETIC_SCALE;
      assert.ok(Math.abs(Math.sqrt(dot(w1, w1)) - c) < 1e-12);
      assert.ok(Math.abs(Math.sqrt(dot(w2, w2)) - c) < 1e-12);
      assert.ok(Math.abs(dot(w1, w2) / (c * c) - rho) < 1e-12, `cos ${dot(w1, w2) / (c * c)}`);
      const n = 4000;
      const d = w1.length;
      const data = makeMmoeSynthetic({ rho, n, seed: 5 });
      const u1 = new Float64Array(n);
      const u2 = new Float64Array(n);
      for (let r = 0; r < n; r++) {
        u1[r] = dot(data.inputs, w1, r * d);
        u2[r] = dot(data.inputs, w2, r * d);
      }
      // Sampling error of a correlation over 4000 samples: sd (1 − ρ²)/√n ≤ 0.016.
      assert.ok(Math.abs(pearson(u1, u2) - rho) < 0.05, `empirical ${pearson(u1, u2)} vs ρ ${rho}`);
    });
  }

  it('labels follow y_k = w_kᵀx + Σ sin(α_i w_kᵀx + β_i) + ε with ε of sd 0.1', () => {
    const n = 3000;
    const data = makeMmoeSynthetic({ rho: 0.8, n, seed: 2, d: 20 });
    const { w1, w2, alpha, beta } = mmoeSyntheticTasks({ rho: 0.8, seed: 2, d: 20 });
    for (const [task, w] of [['y1', w1], ['y2', w2]] as const) {
      const y = data.labels(task);
      let sq = 0;
      for (let r = 0; r < n; r++) {
        const u = dot(data.inputs, w, r * 20);
        let f = u;
        for (let i = 0; i < alpha.length; i++) f += Math.sin(alpha[i] * u + beta[i]);
        sq += (y[r] - f) ** 2;
      }
      const sd = Math.sqrt(sq / n);
      assert.ok(Math.abs(sd - MMOE_SYNTHETIC_NOISE_STD) < 0.01, `${task}: residual sd ${sd}`);
    }
  });

  it('rejects bad options with typed errors naming them', () => {
    assert.throws(() => makeMmoeSynthetic({ rho: 1.5, n: 10 }), (e) => e instanceof ValueError && /rho/.test(e.message));
    assert.throws(() => makeMmoeSynthetic({ rho: NaN, n: 10 }), (e) => e instanceof ValueError && /rho/.test(e.message));
    assert.throws(() => makeMmoeSynthetic({ rho: 0.5, n: 0 }), (e) => e instanceof ValueError && /\bn\b/.test(e.message));
    assert.throws(() => makeMmoeSynthetic({ rho: 0.5, n: 10, seed: -1 }), (e) => e instanceof ValueError && /seed/.test(e.message));
    assert.throws(() => makeMmoeSynthetic({ rho: 0.5, n: 10, d: 1 }), (e) => e instanceof ValueError && /\bd\b/.test(e.message));
    assert.throws(
      () => makeMmoeSynthetic({ rho: 0.5, n: 10, corr: 0.5 } as never),
      (e) => e instanceof ConfigError && /Unknown key "corr"/.test(e.message),
    );
  });
});
