/**
 * The gradient-combination solvers (ts/mtl/weighting/solvers/) against independent
 * expectations: explicit small gradient vectors g_t ∈ R^d drawn with the seeded Rng, K = G Gᵀ,
 * the solver's α, and d = Σ α_t g_t formed here, checked for each method's defining property
 * (KKT conditions, projections, closed forms, brute-force grids, a vector-space re-run of the
 * algorithm).
 */
import assert from 'node:assert/strict';
import { Rng } from '../../ts/core/random.js';
import { CheckpointError, ConfigError, ShapeError, ValueError } from '../../ts/errors.js';
import { choleskySolve, jacobiEigen, luSolve, nonNegativeQP, projectSimplex, quadForm } from '../../ts/mtl/weighting/linalg.js';
import {
  GradVac,
  alignedMtlCoefficients,
  alignedMtlMatrix,
  cagradCoefficients,
  imtlCoefficients,
  mgdaCoefficients,
  mgdaNormalisation,
  minNorm2,
  minNormCoefficients,
  nashMtlCoefficients,
  pcgradCoefficients,
  pcgradMatrix,
  upgradCoefficients,
} from '../../ts/mtl/weighting/solvers/index.js';

type Vec = number[];

const dot = (a: Vec, b: Vec): number => a.reduce((s, v, i) => s + v * b[i], 0);
const norm = (a: Vec): number => Math.sqrt(dot(a, a));
const add = (a: Vec, b: Vec, s = 1): Vec => a.map((v, i) => v + s * b[i]);
const scaleVec = (a: Vec, s: number): Vec => a.map((v) => v * s);

function randomGrads(rng: Rng, T: number, d: number, shift = 0): Vec[] {
  return Array.from({ length: T }, () => Array.from({ length: d }, (_, k) => rng.normal() + (k === 0 ? shift : 0)));
}

/**
 * `trials` random problems drawn in turn from one Rng(seed): problem `trial` has
 * T = 2 + (trial mod spread) gradients in R^d, shifted by shift(trial) along the first axis.
 */
function* gradientTrials(
  seed: number,
  trials: number,
  spread: number,
  d: number,
  shift: (trial: number) => number = () => 0,
): Generator<{ trial: number; T: number; G: Vec[] }> {
  const rng = new Rng(seed);
  for (let trial = 0; trial < trials; trial++) {
    const T = 2 + (trial % spread);
    yield { trial, T, G: randomGrads(rng, T, d, shift(trial)) };
  }
}

function gramOf(G: Vec[]): Float64Array {
  const T = G.length;
  const K = new Float64Array(T * T);
  for (let i = 0; i < T; i++) for (let j = 0; j < T; j++) K[i * T + j] = dot(G[i], G[j]);
  return K;
}

/** d = Σ_t α_t g_t. */
function combine(alpha: ArrayLike<number>, G: Vec[]): Vec {
  const d = new Array<number>(G[0].length).fill(0);
  G.forEach((g, t) => g.forEach((v, k) => (d[k] += alpha[t] * v)));
  return d;
}

/** Rows of C applied to G: modified gradient i = Σ_k C[i][k] g_k. */
function rowsOf(C: Float64Array, G: Vec[]): Vec[] {
  const T = G.length;
  return G.map((_, i) => combine(Array.from(C.subarray(i * T, (i + 1) * T)), G));
}

const maxSq = (G: Vec[]): number => Math.max(...G.map((g) => dot(g, g)));

function close(actual: number, expected: number, tol: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= tol, `${what}: ${actual} vs ${expected} (tol ${tol})`);
}

function allFinite(a: ArrayLike<number>): boolean {
  return Array.from(a).every(Number.isFinite);
}

/** Every point of the simplex grid {k/n} in 3 dimensions. */
function* simplexGrid3(n: number): Generator<[number, number, number]> {
  for (let i = 0; i <= n; i++) for (let j = 0; j <= n - i; j++) yield [i / n, j / n, (n - i - j) / n];
}

const relativeError = (d: Vec, ref: Vec): number => norm(add(d, ref, -1)) / norm(ref);

/**
 * The min-norm point of the convex hull of G by exhaustive active sets, in float64 on the
 * vectors themselves: for every subset S, the affine minimiser of {g_s : s ∈ S} by least squares
 * on the differences g_s − g_b (modified Gram-Schmidt, twice); of the feasible ones (α ≥ 0), the
 * one that best meets the KKT condition g_t·d ≥ ‖d‖² for every t (exactly one does, the optimum;
 * comparing norms instead would be a comparison at rounding level when ‖d*‖ ≪ max‖g‖).
 */
function minNormReference(G: Vec[]): Vec {
  const T = G.length;
  let best: Vec | null = null;
  let bestViolation = Infinity;
  for (let mask = 1; mask < 1 << T; mask++) {
    const S = G.map((_, t) => t).filter((t) => (mask >> t) & 1);
    const [b, ...rest] = S;
    const Q: Vec[] = [];
    const R: Vec[] = [];
    let independent = true;
    for (const s of rest) {
      const raw = add(G[s], G[b], -1);
      let v = raw;
      const col = new Array<number>(rest.length).fill(0);
      for (let pass = 0; pass < 2; pass++) {
        Q.forEach((q, i) => {
          const r = dot(q, v);
          col[i] += r;
          v = add(v, q, -r);
        });
      }
      const nv = norm(v);
      if (!(nv > 1e-12 * norm(raw))) {
        independent = false;
        break;
      }
      col[Q.length] = nv;
      Q.push(scaleVec(v, 1 / nv));
      R.push(col);
    }
    if (!independent) continue;
    // min ‖g_b + D y‖: y = −R⁻¹ Qᵀ g_b (R upper triangular, stored by columns).
    const m = rest.length;
    const y = new Array<number>(m).fill(0);
    for (let i = m - 1; i >= 0; i--) {
      let acc = -dot(Q[i], G[b]);
      for (let k = i + 1; k < m; k++) acc -= R[k][i] * y[k];
      y[i] = acc / R[i][i];
    }
    const alpha = new Array<number>(T).fill(0);
    alpha[b] = 1 - y.reduce((acc, v) => acc + v, 0);
    rest.forEach((s, i) => (alpha[s] = y[i]));
    if (alpha.some((v) => v < 0)) continue;
    const d = combine(alpha, G);
    const dd = dot(d, d);
    const violation = Math.max(0, ...G.map((g) => dd - dot(g, d)));
    if (violation < bestViolation) {
      bestViolation = violation;
      best = d;
    }
  }
  return best!;
}

/**
 * CAGrad's direction by exhaustive active sets of the primal max_d min_t g_t·d over the sphere
 * ‖d − g0‖ = r (r = c‖g0‖), in float64 on the vectors: on an active set A, d = g0 + r Σ_A y_t g_t
 * with y ≥ 0, yᵀK_AA y = 1 and g_t·d = μ on A, so y = (μ K_AA⁻¹1 − K_AA⁻¹b)/r (b_t = g_t·g0) with
 * μ a root of a quadratic; every candidate lies on the sphere, and the one with the largest
 * primal value min_t g_t·d is the optimum.
 */
function cagradReference(G: Vec[], c: number): Vec {
  const T = G.length;
  const g0 = combine(new Array<number>(T).fill(1 / T), G);
  const r = c * norm(g0);
  let best: Vec | null = null;
  let bestValue = -Infinity;
  for (let mask = 1; mask < 1 << T; mask++) {
    const A = G.map((_, t) => t).filter((t) => (mask >> t) & 1);
    const m = A.length;
    const KA = new Float64Array(m * m);
    A.forEach((s, i) => A.forEach((t, j) => (KA[i * m + j] = dot(G[s], G[t]))));
    const b = A.map((t) => dot(G[t], g0));
    const p = luSolve(KA, m, new Array<number>(m).fill(1));
    const q = luSolve(KA, m, b);
    if (p === null || q === null) continue;
    const sp = p.reduce((acc, v) => acc + v, 0);
    const sq = q.reduce((acc, v) => acc + v, 0);
    const disc = sq * sq - sp * (dot(b, Array.from(q)) - r * r);
    if (!(disc >= 0)) continue;
    for (const mu of [(sq + Math.sqrt(disc)) / sp, (sq - Math.sqrt(disc)) / sp]) {
      const y = Array.from(p, (pv, i) => (mu * pv - q[i]) / r);
      if (y.some((v) => v < 0)) continue;
      const d = add(g0, combine(y, A.map((t) => G[t])), r);
      const value = Math.min(...G.map((g) => dot(g, d)));
      if (value > bestValue) {
        bestValue = value;
        best = d;
      }
    }
  }
  return best!;
}

/**
 * Seeded hard cases for the solvers' thresholds: gradients scaled by 1e-8 and 1e-10 (K ≈ 1e-16,
 * 1e-20); near-colinear conflicting pairs (g_2 = −g_1 + noise); one near-zero gradient; a mean
 * gradient near zero; and (MGDA) a conflicting pair whose short min-norm point a third gradient
 * shifts by a small amount, the case where a wrong active set used to survive.
 */
function hardCases(seed: number): { name: string; G: Vec[]; pushed?: true }[] {
  const rng = new Rng(seed);
  const cases: { name: string; G: Vec[]; pushed?: true }[] = [];
  for (const T of [3, 4, 5]) {
    for (const s of [1e-8, 1e-10]) cases.push({ name: `T=${T}, gradients ×${s}`, G: randomGrads(rng, T, 8).map((g) => scaleVec(g, s)) });
    for (const e of [1e-4, 1e-6]) {
      const G = randomGrads(rng, T, 8);
      G[T - 1] = scaleVec(G[T - 1], e);
      cases.push({ name: `T=${T}, one gradient ×${e}`, G });
    }
    const H = randomGrads(rng, T, 8);
    H[1] = H[0].map((v) => -v + 1e-4 * rng.normal());
    cases.push({ name: `T=${T}, g_2 = −g_1 + 1e-4 noise`, G: H });
    const M = randomGrads(rng, T, 8);
    const sum = M.slice(1).reduce((acc, g) => add(acc, g), new Array<number>(8).fill(0));
    M[0] = sum.map((v) => -v + 1e-4 * rng.normal());
    cases.push({ name: `T=${T}, mean gradient ≈ 1e-4/T`, G: M });
    const C = randomGrads(rng, T, 8).map((g) => scaleVec(g, 1e-9));
    C[1] = C[0].map((v) => -v + 1e-13 * rng.normal());
    cases.push({ name: `T=${T}, ×1e-9 with g_2 = −g_1 + 1e-13 noise`, G: C });
  }
  for (const [eps, push] of [
    [1e-6, 1e-5],
    [1e-7, 1e-6],
  ]) {
    for (let rep = 0; rep < 3; rep++) {
      const g1 = randomGrads(rng, 1, 6)[0];
      const g2 = g1.map((v) => -v + eps * rng.normal());
      const d0 = minNormReference([g1, g2]);
      const n0 = norm(d0);
      const x = randomGrads(rng, 1, 6)[0];
      const third = add(add(x, d0, -dot(x, d0) / (n0 * n0)), d0, -push / n0); // g_3·d0 = −push·‖d0‖
      cases.push({ name: `conflicting pair (‖d‖ ≈ ${eps}) + third pushing by ${push}`, G: [g1, g2, third], pushed: true });
    }
  }
  return cases;
}

describe('weighting solvers: linear algebra helpers', () => {
  it('Jacobi eigendecomposition reconstructs a symmetric matrix with orthonormal vectors', () => {
    const rng = new Rng(11);
    const n = 6;
    const G = randomGrads(rng, n, 5); // rank 5 of 6: one zero eigenvalue
    const A = gramOf(G);
    const { values, vectors } = jacobiEigen(A, n);
    for (let k = 1; k < n; k++) assert.ok(values[k] >= values[k - 1]);
    close(values[0], 0, 1e-10 * values[n - 1], 'smallest eigenvalue of a rank-5 Gram');
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        let rec = 0;
        let orth = 0;
        for (let k = 0; k < n; k++) {
          rec += vectors[i * n + k] * values[k] * vectors[j * n + k];
          orth += vectors[k * n + i] * vectors[k * n + j];
        }
        close(rec, A[i * n + j], 1e-10 * values[n - 1], `(V Λ Vᵀ)[${i}][${j}]`);
        close(orth, i === j ? 1 : 0, 1e-12, `(Vᵀ V)[${i}][${j}]`);
      }
    }
  });

  it('Cholesky and LU solve, and report singular matrices', () => {
    const A = new Float64Array([4, 2, 0, 2, 5, 1, 0, 1, 3]);
    const b = [2, -1, 4];
    for (const x of [choleskySolve(A, 3, b)!, luSolve(A, 3, b)!]) {
      for (let i = 0; i < 3; i++) close(A[i * 3] * x[0] + A[i * 3 + 1] * x[1] + A[i * 3 + 2] * x[2], b[i], 1e-12, 'Ax = b');
    }
    const N = new Float64Array([0, 1, 2, 3]); // not PD, but invertible
    assert.equal(choleskySolve(N, 2, [1, 1]), null);
    assert.ok(luSolve(N, 2, [1, 1]) !== null);
    assert.equal(luSolve(new Float64Array([1, 2, 2, 4]), 2, [1, 1]), null);
  });

  it('nonNegativeQP meets the KKT conditions; projectSimplex lands on the simplex', () => {
    const rng = new Rng(12);
    for (let trial = 0; trial < 20; trial++) {
      const n = 2 + (trial % 6);
      const Q = gramOf(randomGrads(rng, n, n + 2));
      const c = Array.from({ length: n }, () => rng.normal());
      const z = nonNegativeQP(Q, n, c);
      for (let i = 0; i < n; i++) {
        let gi = c[i];
        for (let j = 0; j < n; j++) gi += Q[i * n + j] * z[j];
        assert.ok(z[i] >= 0);
        assert.ok(gi >= -1e-9, `gradient component ${gi} < 0`);
        assert.ok(Math.abs(z[i] * gi) <= 1e-9, 'complementarity');
      }
    }
    const p = projectSimplex([0.3, -2, 1.5, 0.9]);
    close(p.reduce((a, b) => a + b, 0), 1, 1e-12, 'Σ');
    assert.ok(p.every((v) => v >= 0));
    assert.deepEqual(Array.from(projectSimplex([0.2, 0.3, 0.5])), [0.2, 0.3, 0.5]);
  });
});

describe('weighting solvers: MGDA', () => {
  it('minNorm2 is the minimiser over γ ∈ [0, 1] and T = 2 returns it', () => {
    const rng = new Rng(1);
    for (let trial = 0; trial < 30; trial++) {
      const G = randomGrads(rng, 2, 4, trial % 3 === 0 ? 2 : 0);
      const K = gramOf(G);
      const g = minNorm2(K[0], K[1], K[3]);
      assert.ok(g >= 0 && g <= 1);
      const f = (x: number): number => x * x * K[0] + 2 * x * (1 - x) * K[1] + (1 - x) * (1 - x) * K[3];
      for (let k = 0; k <= 1000; k++) assert.ok(f(g) <= f(k / 1000) + 1e-12);
      // The closed form of the brief: clip(((g2 − g1)·g2) / ‖g1 − g2‖², 0, 1).
      const diff = add(G[1], G[0], -1);
      const expected = Math.min(1, Math.max(0, dot(diff, G[1]) / dot(diff, diff)));
      close(g, expected, 1e-12, 'closed form');
      const a = minNormCoefficients(K, 2);
      close(a[0], expected, 1e-12, 'Frank-Wolfe α_1');
      close(a[1], 1 - expected, 1e-12, 'Frank-Wolfe α_2');
    }
    assert.equal(minNorm2(1, 1, 1), 0.5); // identical gradients: any γ, 0.5
    assert.equal(minNorm2(0, 0, 0), 0.5);
  });

  it('T = 3: no worse than a fine simplex grid, and satisfies the KKT condition', () => {
    const rng = new Rng(2);
    for (let trial = 0; trial < 12; trial++) {
      const G = randomGrads(rng, 3, trial % 2 ? 5 : 3, trial % 3 === 0 ? 1.5 : 0);
      const K = gramOf(G);
      const a = minNormCoefficients(K, 3);
      close(a[0] + a[1] + a[2], 1, 1e-12, 'Σα');
      assert.ok(a.every((v) => v >= 0));
      const d = combine(a, G);
      const dd = dot(d, d);
      let gridBest = Infinity;
      for (const w of simplexGrid3(300)) {
        const x = combine(w, G);
        gridBest = Math.min(gridBest, dot(x, x));
      }
      assert.ok(dd <= gridBest + 1e-12, `‖d‖² = ${dd} > grid ${gridBest}`);
      const tol = 1e-8 * maxSq(G);
      for (const g of G) assert.ok(dot(g, d) >= dd - tol, `KKT: g·d = ${dot(g, d)} < ‖d‖² = ${dd}`);
    }
  });

  it('T = 6: KKT holds, and d ≈ 0 when 0 is in the hull', () => {
    const rng = new Rng(3);
    const G = randomGrads(rng, 6, 10, 1);
    const d = combine(minNormCoefficients(gramOf(G), 6), G);
    for (const g of G) assert.ok(dot(g, d) >= dot(d, d) - 1e-8 * maxSq(G));
    const H = randomGrads(rng, 6, 2); // six random directions in the plane: 0 is inside
    const e = combine(minNormCoefficients(gramOf(H), 6), H);
    assert.ok(dot(e, e) <= 1e-10 * maxSq(H), `‖d‖² = ${dot(e, e)}`);
  });

  it('tiny and near-degenerate Gram matrices: d matches an exhaustive float64 active-set solve', () => {
    // K's rounding (≈ 1e-16·max‖g‖²) limits d's relative accuracy to about 1e-16·max‖g‖/‖d*‖;
    // the bound allows 100 times that. (Before the thresholds were made relative: gradients
    // scaled by 1e-8/1e-10 gave 1e-10–3e-9, the 1e-9-scaled near-colinear pairs 1e-6–6e-6, and
    // the pushed pairs 5e-7–7e-6, a third gradient's weight left at 0.)
    for (const { name, G } of hardCases(21)) {
      const ref = minNormReference(G);
      const ratio = Math.sqrt(maxSq(G)) / norm(ref);
      const err = relativeError(combine(minNormCoefficients(gramOf(G), G.length), G), ref);
      assert.ok(err <= 1e-14 * Math.max(ratio, 1), `${name}: relative error of d ${err.toExponential(2)} > ${(1e-14 * ratio).toExponential(2)} (max‖g‖/‖d*‖ = ${ratio.toExponential(1)})`);
    }
  });

  it('normalisations scale the gradients and fold back into α', () => {
    const rng = new Rng(4);
    const G = randomGrads(rng, 3, 4);
    G[1] = scaleVec(G[1], 10);
    const K = gramOf(G);
    const losses = [0.5, 2, 1.25];
    const norms = G.map(norm);
    assert.deepEqual(Array.from(mgdaNormalisation('none', K, 3)), [1, 1, 1]);
    mgdaNormalisation('l2', K, 3).forEach((c, t) => close(c, norms[t], 1e-12, 'l2'));
    mgdaNormalisation('loss', K, 3, losses).forEach((c, t) => close(c, losses[t], 0, 'loss'));
    mgdaNormalisation('loss+', K, 3, losses).forEach((c, t) => close(c, losses[t] * norms[t], 1e-12, 'loss+'));
    // With l2 the solution is the min-norm point of the unit gradients' hull: sol_t = α_t ‖g_t‖.
    const a = mgdaCoefficients(K, 3, { normalisation: 'l2' });
    const sol = Array.from(a, (v, t) => v * norms[t]);
    close(sol[0] + sol[1] + sol[2], 1, 1e-12, 'Σ sol');
    const U = G.map((g, t) => scaleVec(g, 1 / norms[t]));
    const d = combine(a, G);
    for (const u of U) assert.ok(dot(u, d) >= dot(d, d) - 1e-9, 'KKT on the unit gradients');
    assert.deepEqual(Array.from(mgdaCoefficients(K, 3)), Array.from(minNormCoefficients(K, 3)));
    assert.throws(() => mgdaNormalisation('loss', K, 3), ValueError);
    assert.throws(() => mgdaNormalisation('loss', K, 3, [1, -1, 1]), ValueError);
    assert.throws(() => mgdaNormalisation('loss+', K, 3, [1, 1]), ShapeError);
    assert.throws(() => mgdaNormalisation('l3' as 'l2', K, 3), ValueError);
    // A zero loss falls back to 1 instead of dividing by zero.
    assert.ok(allFinite(mgdaCoefficients(K, 3, { normalisation: 'loss', losses: [0, 1, 1] })));
  });
});

describe('weighting solvers: PCGrad', () => {
  it('two conflicting gradients: each projected one is orthogonal to the other gradient', () => {
    const G = [
      [1, 0.2, 0],
      [-1, 1, 0.5],
    ];
    const K = gramOf(G);
    const C = pcgradMatrix(K, 2, new Rng(5));
    const P = rowsOf(C, G);
    close(dot(P[0], G[1]), 0, 1e-12, 'g1^PC·g2');
    close(dot(P[1], G[0]), 0, 1e-12, 'g2^PC·g1');
    const k12 = dot(G[0], G[1]);
    const a = pcgradCoefficients(K, 2, new Rng(5));
    close(a[0], 1 - k12 / dot(G[0], G[0]), 1e-12, 'α_1');
    close(a[1], 1 - k12 / dot(G[1], G[1]), 1e-12, 'α_2');
  });

  it('non-conflicting gradients are left unchanged (α = 1)', () => {
    const rng = new Rng(6);
    const G = randomGrads(rng, 4, 5, 6); // a large shared component: all g_i·g_j > 0
    const K = gramOf(G);
    for (let i = 0; i < 16; i++) assert.ok(K[i] > 0);
    assert.deepEqual(Array.from(pcgradCoefficients(K, 4, rng)), [1, 1, 1, 1]);
  });

  it('matches PCGrad run on the vectors themselves with the same random order', () => {
    for (const { trial, T, G } of gradientTrials(7, 10, 4, 6)) {
      const seed = 100 + trial;
      const a = pcgradCoefficients(gramOf(G), T, new Rng(seed));
      // Independent vector-space PCGrad.
      const order = new Rng(seed);
      const P = G.map((g) => [...g]);
      for (let i = 0; i < T; i++) {
        const others: number[] = [];
        for (let j = 0; j < T; j++) if (j !== i) others.push(j);
        order.shuffle(others);
        for (const j of others) {
          const c = dot(P[i], G[j]);
          if (c < 0) P[i] = add(P[i], G[j], -c / dot(G[j], G[j]));
        }
      }
      const expected = P.reduce((s, p) => add(s, p));
      const d = combine(a, G);
      d.forEach((v, k) => close(v, expected[k], 1e-10, `d[${k}]`));
    }
  });
});

describe('weighting solvers: CAGrad', () => {
  it('c = 0 gives the mean gradient', () => {
    const K = gramOf(randomGrads(new Rng(8), 4, 5));
    for (const rescale of [0, 1, 2] as const) {
      Array.from(cagradCoefficients(K, 4, 0, { rescale })).forEach((v) => close(v, 0.25, 0, 'α'));
    }
  });

  it('solves max_d min_t g_t·d over the ball ‖d − g0‖ ≤ c‖g0‖ (rescale 0), and rescales', () => {
    const rng = new Rng(9);
    for (let trial = 0; trial < 8; trial++) {
      const G = randomGrads(rng, 3, 4, trial % 2 ? 1 : 0.3);
      const K = gramOf(G);
      const c = trial % 4 === 3 ? 0.9 : 0.5;
      const a = cagradCoefficients(K, 3, c, { rescale: 0 });
      const d = combine(a, G);
      const g0 = combine([1 / 3, 1 / 3, 1 / 3], G);
      const r = c * norm(g0);
      close(norm(add(d, g0, -1)), r, 1e-9 * norm(g0), '‖d − g0‖');
      const primal = Math.min(...G.map((g) => dot(g, d)));
      // Strong duality: the primal value equals min_w g_w·g0 + r‖g_w‖; a fine grid bounds it.
      let dual = Infinity;
      for (const w of simplexGrid3(300)) {
        const gw = combine(w, G);
        dual = Math.min(dual, dot(gw, g0) + r * norm(gw));
      }
      assert.ok(primal <= dual + 1e-9, `weak duality ${primal} > ${dual}`);
      assert.ok(primal >= dual - 1e-3 * maxSq(G), `primal ${primal} far below the dual ${dual}`);
      // No random point of the ball does better.
      for (let s = 0; s < 300; s++) {
        const dir = Array.from({ length: 4 }, () => rng.normal());
        const x = add(g0, dir, r / norm(dir));
        assert.ok(Math.min(...G.map((g) => dot(g, x))) <= primal + 1e-9);
      }
      const a1 = cagradCoefficients(K, 3, c);
      const a2 = cagradCoefficients(K, 3, c, { rescale: 2 });
      a.forEach((v, t) => {
        close(a1[t], v / (1 + c * c), 1e-12, 'rescale 1 (default)');
        close(a2[t], v / (1 + c), 1e-12, 'rescale 2');
      });
    }
  });
});

describe('weighting solvers: CAGrad on hard cases', () => {
  it('tiny and near-degenerate Gram matrices: d matches an exhaustive float64 active-set solve', () => {
    // K's rounding limits d through ‖g0‖² = mean(K), computed with cancellation when the mean
    // gradient is short, and through the active gradients' conditioning (λ_min of the cosine
    // matrix R, 1 + cos θ for a near-antiparallel pair): the bound is
    // 1e-13 + 1e-14·(max‖g‖/‖g0‖)² + 1e-15/λ_min(R). (Before: gradients scaled by 1e-8/1e-10
    // gave 1e-11–7e-9, near-antiparallel pairs 2e-7–1e-4, a gradient ×1e-6 up to 7e-5. The
    // pushed pairs of the MGDA test are left out: ‖g_1 + g_2‖ ≈ 1e-7 puts λ_min(R) near 1e-15,
    // beyond both this solver and the reference's solves.)
    for (const { name, G } of hardCases(22).filter((h) => !h.pushed)) {
      const T = G.length;
      const g0 = norm(combine(new Array<number>(T).fill(1 / T), G));
      const ratio = Math.sqrt(maxSq(G)) / g0;
      const R = Float64Array.from(gramOf(G.map((g) => scaleVec(g, 1 / norm(g)))));
      const bound = 1e-13 + 1e-14 * ratio * ratio + 1e-15 / jacobiEigen(R, T).values[0];
      for (const c of [0.5, 0.9]) {
        const err = relativeError(combine(cagradCoefficients(gramOf(G), T, c, { rescale: 0 }), G), cagradReference(G, c));
        assert.ok(err <= bound, `${name}, c = ${c}: relative error of d ${err.toExponential(2)} > ${bound.toExponential(2)}`);
      }
    }
  });
});

describe('weighting solvers: IMTL-G', () => {
  it('d has equal projections on every unit gradient and Σα = 1', () => {
    for (const { T, G } of gradientTrials(10, 10, 4, 7)) {
      G[0] = scaleVec(G[0], 5);
      const a = imtlCoefficients(gramOf(G), T);
      close(a.reduce((s, v) => s + v, 0), 1, 1e-12, 'Σα');
      const d = combine(a, G);
      const proj = G.map((g) => dot(d, g) / norm(g));
      for (const p of proj) close(p, proj[0], 1e-9 * Math.abs(proj[0]) + 1e-12, 'd·u_t');
    }
  });

  it('equal-norm pairs get equal weights; zero and duplicate gradients stay finite', () => {
    const G = [
      [3, 0],
      [0, 3],
    ];
    assert.deepEqual(Array.from(imtlCoefficients(gramOf(G), 2)), [0.5, 0.5]);
    const rng = new Rng(13);
    const H = randomGrads(rng, 3, 4);
    H[1] = [0, 0, 0, 0];
    const a = imtlCoefficients(gramOf(H), 3);
    assert.ok(allFinite(a));
    assert.equal(a[1], 0);
    const d = combine(a, H);
    close(dot(d, H[0]) / norm(H[0]), dot(d, H[2]) / norm(H[2]), 1e-9, 'projections of the non-zero tasks');
    const D = [H[0], H[0], H[2]]; // a duplicated task: D Uᵀ is singular
    const b = imtlCoefficients(gramOf(D), 3);
    assert.ok(allFinite(b));
    const e = combine(b, D);
    close(dot(e, D[0]) / norm(D[0]), dot(e, D[2]) / norm(D[2]), 1e-6 * norm(e), 'projections (duplicate)');
  });
});

describe('weighting solvers: Nash-MTL', () => {
  it('α > 0 and α ⊙ (Kα) = 1', () => {
    for (const { T, G } of gradientTrials(14, 10, 5, 8, (trial) => trial % 2 ? 0 : 1)) {
      G[T - 1] = scaleVec(G[T - 1], 30);
      const K = gramOf(G);
      const a = nashMtlCoefficients(K, T);
      assert.ok(a.every((v) => v > 0));
      const d = combine(a, G);
      G.forEach((g, t) => close(a[t] * dot(g, d), 1, 1e-7, `α_t g_t·d (task ${t})`));
    }
  });

  it('orthogonal gradients give α_t = 1/‖g_t‖; scaling K by s scales α by 1/√s; ‖d‖² = T', () => {
    const G = [
      [2, 0, 0],
      [0, 0.5, 0],
      [0, 0, 4],
    ];
    const K = gramOf(G);
    const a = nashMtlCoefficients(K, 3);
    G.forEach((g, t) => close(a[t], 1 / norm(g), 1e-8, 'α_t'));
    const rng = new Rng(15);
    const H = randomGrads(rng, 4, 6);
    const KH = gramOf(H);
    const b = nashMtlCoefficients(KH, 4);
    const b100 = nashMtlCoefficients(KH.map((v) => v * 100), 4);
    b.forEach((v, t) => close(b100[t], v / 10, 1e-9 * v, 'scaled'));
    // ‖d‖² = αᵀKα = Σ α_t (Kα)_t = T whatever the scale (so LibMTL's max_norm = 1 clip always fires).
    close(quadForm(KH, 4, b), 4, 1e-7, '‖d‖²'); // T − ρ Σ β_t², ρ = 1e-10 the ridge
    close(quadForm(KH.map((v) => v * 100), 4, b100), 4, 1e-7, '‖d‖² at scale 100');
    // The removed LibMTL-normalisation option is named in the error, and unknown keys are rejected.
    assert.throws(() => nashMtlCoefficients(KH, 4, { gramNormalisation: 'frobenius' } as never), (e: unknown) => e instanceof ConfigError && /gramNormalisation was removed/.test(e.message));
    assert.throws(() => nashMtlCoefficients(KH, 4, { maxIters: 3 } as never), ConfigError);
  });

  it('the ridge moves d by ρ/(2(1 + cos θ)) for two near-antiparallel gradients, as documented', () => {
    // Exact without the ridge: β_t = 1/√(1 + cos θ), α_t = β_t/‖g_t‖.
    const rng = new Rng(16);
    for (const eps of [1e-2, 1e-3, 1e-4]) {
      const g1 = Array.from({ length: 16 }, () => rng.normal());
      const g2 = g1.map((v) => -v + (eps * norm(g1) * rng.normal()) / 4);
      const K = gramOf([g1, g2]);
      const cos = K[1] / Math.sqrt(K[0] * K[3]);
      const beta = 1 / Math.sqrt(1 + cos);
      const exact = combine([beta / norm(g1), beta / norm(g2)], [g1, g2]);
      const rel = relativeError(combine(nashMtlCoefficients(K, 2), [g1, g2]), exact);
      const predicted = 1 - Math.sqrt((1 + cos) / (1 + cos + 1e-10));
      close(rel, predicted, 0.02 * predicted + 1e-9, `relative change of d at 1 + cos θ = ${(1 + cos).toExponential(1)}`);
    }
  });

  it('opposite gradients (no solution) stay finite', () => {
    const g = [1, 2, 0];
    const G = [g, scaleVec(g, -1), [0, 0, 1]];
    const a = nashMtlCoefficients(gramOf(G), 3);
    assert.ok(allFinite(a) && a.every((v) => v > 0));
    assert.ok(allFinite(combine(a, G)));
  });
});

describe('weighting solvers: Aligned-MTL', () => {
  it('orthogonal gradients of equal norm: plain summation', () => {
    const G = [
      [2, 0, 0, 0],
      [0, 0, 2, 0],
      [0, -2, 0, 0],
    ];
    Array.from(alignedMtlCoefficients(gramOf(G), 3)).forEach((v) => close(v, 1, 1e-12, 'α'));
  });

  it('the aligned gradients have a Gram that is λ_min times the identity', () => {
    for (const { T, G } of gradientTrials(16, 6, 4, 7, () => 1)) {
      G[0] = scaleVec(G[0], 4);
      const K = gramOf(G);
      const B = alignedMtlMatrix(K, T);
      const A = rowsOf(B, G); // aligned gradients g'_i = Σ_t B[i][t] g_t
      const KA = gramOf(A);
      const lmin = jacobiEigen(K, T).values[0];
      for (let i = 0; i < T; i++) {
        for (let j = 0; j < T; j++) close(KA[i * T + j], i === j ? lmin : 0, 1e-9 * maxSq(G), `(B K Bᵀ)[${i}][${j}]`);
      }
      const a = alignedMtlCoefficients(K, T);
      const d = combine(a, G);
      const sum = A.reduce((s, v) => add(s, v));
      d.forEach((v, k) => close(v, sum[k], 1e-9 * Math.sqrt(maxSq(G)), 'd = Σ aligned'));
    }
  });

  it('rank-deficient gradients: the aligned Gram is λ_r times a projector', () => {
    const rng = new Rng(17);
    const G = randomGrads(rng, 4, 2); // rank 2
    const K = gramOf(G);
    const KA = gramOf(rowsOf(alignedMtlMatrix(K, 4), G));
    const lr = jacobiEigen(K, 4).values[2];
    // (KA/λ_r)² = KA/λ_r and trace = rank.
    let tr = 0;
    for (let i = 0; i < 4; i++) {
      tr += KA[i * 4 + i] / lr;
      for (let j = 0; j < 4; j++) {
        let sq = 0;
        for (let k = 0; k < 4; k++) sq += (KA[i * 4 + k] / lr) * (KA[k * 4 + j] / lr);
        close(sq, KA[i * 4 + j] / lr, 1e-8, 'projector');
      }
    }
    close(tr, 2, 1e-8, 'trace = rank');
  });
});

describe('weighting solvers: UPGrad', () => {
  it('d does not conflict with any gradient', () => {
    for (const { T, G } of gradientTrials(18, 12, 5, 4)) {
      const K = gramOf(G);
      const tr = G.reduce((s, g) => s + dot(g, g), 0);
      const d = combine(upgradCoefficients(K, T, { regEps: 1e-12 }), G);
      for (const g of G) assert.ok(dot(g, d) >= -1e-9 * tr, `g·d = ${dot(g, d)}`);
      // TorchJD's default reg_eps = 1e-4 relaxes this by O(1e-4) of the trace.
      const e = combine(upgradCoefficients(K, T), G);
      for (const g of G) assert.ok(dot(g, e) >= -1e-3 * tr, `g·d = ${dot(g, e)} (default regEps)`);
    }
  });

  it('non-conflicting inputs give the mean; two conflicting ones give half the PCGrad sum', () => {
    const rng = new Rng(19);
    const G = randomGrads(rng, 4, 5, 6);
    Array.from(upgradCoefficients(gramOf(G), 4)).forEach((v) => close(v, 0.25, 1e-15, 'α'));
    const H = [
      [1, 0.2, 0],
      [-1, 1, 0.5],
    ];
    const KH = gramOf(H);
    const up = upgradCoefficients(KH, 2, { regEps: 0 });
    const pc = pcgradCoefficients(KH, 2, rng);
    up.forEach((v, t) => close(v, pc[t] / 2, 1e-12, 'α'));
    // A preference vector weights the projections.
    const w = upgradCoefficients(gramOf(G), 4, { pref: [1, 0, 0, 0] });
    assert.deepEqual(Array.from(w), [1, 0, 0, 0]);
  });
});

describe('weighting solvers: GradVac', () => {
  it('non-conflicting first step leaves gradients unchanged and sets targets to β·cos', () => {
    const rng = new Rng(20);
    const G = randomGrads(rng, 3, 5, 5);
    const vac = new GradVac(3, 0.5);
    assert.deepEqual(vac.getState().gradvacTargets, new Array(9).fill(0));
    assert.deepEqual(Array.from(vac.coefficients(gramOf(G), 3, rng)), [1, 1, 1]);
    const targets = vac.getState().gradvacTargets;
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) {
        const expected = i === j ? 0 : (0.5 * dot(G[i], G[j])) / (norm(G[i]) * norm(G[j]));
        close(targets[i * 3 + j], expected, 1e-12, `target[${i}][${j}]`);
      }
    }
  });

  it('moves the cosine to the target exactly; targets 0 reproduce PCGrad for two tasks', () => {
    const G = [
      [1, 0.2, 0],
      [-1, 1, 0.5],
    ];
    const K = gramOf(G);
    const first = new GradVac(2).coefficients(K, 2, new Rng(1));
    const pc = pcgradCoefficients(K, 2, new Rng(1));
    first.forEach((v, t) => close(v, pc[t], 1e-12, 'α'));
    const vac = new GradVac(2, 0.25);
    vac.setState({ gradvacTargets: [0, 0.5, 0.5, 0] });
    const C = vac.coefficientMatrix(K, 2, new Rng(1));
    const P = rowsOf(C, G);
    close(dot(P[0], G[1]) / (norm(P[0]) * norm(G[1])), 0.5, 1e-12, 'cos(g1^GV, g2)');
    close(dot(P[1], G[0]) / (norm(P[1]) * norm(G[0])), 0.5, 1e-12, 'cos(g2^GV, g1)');
    const cos = dot(G[0], G[1]) / (norm(G[0]) * norm(G[1]));
    const t = vac.getState().gradvacTargets;
    close(t[1], 0.75 * 0.5 + 0.25 * cos, 1e-12, 'EMA target');
    close(t[2], 0.75 * 0.5 + 0.25 * cos, 1e-12, 'EMA target');
  });

  it('state round-trips through a checkpoint and is validated', () => {
    const rng = new Rng(21);
    const a = new GradVac(3);
    for (let s = 0; s < 3; s++) a.coefficients(gramOf(randomGrads(rng, 3, 4)), 3, rng);
    const b = new GradVac(3);
    b.setState({ step: 7, ...a.getState() }); // extra keys of a merged strategy state are ignored
    const K = gramOf(randomGrads(rng, 3, 4));
    assert.deepEqual(Array.from(b.coefficients(K, 3, new Rng(3))), Array.from(a.coefficients(K, 3, new Rng(3))));
    assert.deepEqual(b.getState(), a.getState());
    assert.throws(() => b.setState({ gradvacTargets: [0, 0] }), CheckpointError);
    assert.throws(() => b.setState({}), CheckpointError);
    assert.throws(() => b.setState({ gradvacTargets: new Array(9).fill(2) }), /gradvacTargets\[0\]/);
    assert.throws(() => b.coefficients(gramOf(randomGrads(rng, 2, 4)), 2, rng), ShapeError);
    assert.throws(() => new GradVac(2, 1.5), ValueError);
  });
});

describe('weighting solvers: degenerate and invalid input', () => {
  const methods: [string, (K: Float64Array, T: number) => Float64Array][] = [
    ['mgda', (K, T) => minNormCoefficients(K, T)],
    ['mgda l2', (K, T) => mgdaCoefficients(K, T, { normalisation: 'l2' })],
    ['mgda loss+', (K, T) => mgdaCoefficients(K, T, { normalisation: 'loss+', losses: new Array(T).fill(1) })],
    ['pcgrad', (K, T) => pcgradCoefficients(K, T, new Rng(1))],
    ['cagrad', (K, T) => cagradCoefficients(K, T)],
    ['cagrad c=2', (K, T) => cagradCoefficients(K, T, 2)],
    ['imtl', (K, T) => imtlCoefficients(K, T)],
    ['nash-mtl', (K, T) => nashMtlCoefficients(K, T)],
    ['aligned-mtl', (K, T) => alignedMtlCoefficients(K, T)],
    ['upgrad', (K, T) => upgradCoefficients(K, T)],
    ['gradvac', (K, T) => new GradVac(T).coefficients(K, T, new Rng(1))],
  ];

  for (const [name, solve] of methods) {
    it(`${name}: zero gradients, one zero gradient and T = 1 give finite α`, () => {
      for (const T of [1, 2, 3, 5]) assert.ok(allFinite(solve(new Float64Array(T * T), T)), `all zero, T = ${T}`);
      const rng = new Rng(22);
      for (const T of [2, 3, 4]) {
        const G = randomGrads(rng, T, 3);
        G[T - 1] = [0, 0, 0];
        const a = solve(gramOf(G), T);
        assert.ok(allFinite(a), `one zero gradient, T = ${T}: ${Array.from(a)}`);
        assert.ok(allFinite(combine(a, G)));
      }
      const one = solve(gramOf([[3, 4]]), 1);
      assert.equal(one.length, 1);
      assert.ok(allFinite(one));
      // Parallel and identical gradients (rank 1).
      const g = [1, -2, 0.5];
      assert.ok(allFinite(solve(gramOf([g, g, scaleVec(g, 3)]), 3)));
    });
  }

  it('rejects a wrongly sized or non-finite Gram', () => {
    assert.throws(() => minNormCoefficients(new Float64Array(5), 2), ShapeError);
    assert.throws(() => nashMtlCoefficients(new Float64Array([1, NaN, NaN, 1]), 2), ValueError);
    assert.throws(() => upgradCoefficients(new Float64Array(4), 0), ValueError);
    assert.throws(() => cagradCoefficients(new Float64Array(4), 2, -1), ValueError);
    assert.throws(() => imtlCoefficients([1, 0, 0, 1] as unknown as Float64Array, 2), ValueError);
  });
});
