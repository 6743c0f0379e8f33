/**
 * Finishes CAGrad's solution exactly on an active set, as Wolfe's cycles finish MGDA's: on K̂
 * (unit max diagonal), with b = K̂ 1/T and r = c‖ĝ0‖, the primal optimum is
 * d̂ = ĝ0 + r Σ_{t∈A} y_t ĝ_t with y ≥ 0, yᵀ K̂_AA y = 1 and ĝ_t·d̂ = μ on the active set A
 * (≥ μ elsewhere, μ the primal value max_d min_t g_t·d). So y = (μ p − q)/r with
 * p = K̂_AA⁻¹ 1, q = K̂_AA⁻¹ b_A, and μ is the larger root of
 * μ²·Σp − 2μ·Σq + b_A·q − r² = 0. Starting from the support of the iterative solution x, a
 * round drops the most negative y_t or adds the task that most violates ĝ_t·d̂ ≥ μ; every
 * candidate is a point of the sphere ‖d − g0‖ = c‖g0‖ (checked: a solve too ill-conditioned to
 * land on it stops the rounds), and replaces `alpha` (= 1/T + r y, before rescaling) only when its
 * primal value min_t ĝ_t·d̂ is at least as high. A singular K̂_AA (linearly dependent active
 * gradients) stops it. Returns whether it ended on a point that meets
 * every condition (then in `alpha`).
 */
function polishCagrad(Sh: Float64Array, T: number, b: Float64Array, r: number, x: Float64Array, alpha: Float64Array): boolean {
  const primal = (a: Float64Array): number => Math.min(...matVec(Sh, T, a));
  let best = primal(alpha);
  const tol = 1e-12 * (Math.abs(best) + r);
  const active = new Array<boolean>(T).fill(false);
  let maxX = 0;
  for (let t = 0; t < T; t++) maxX = Math.max(maxX, x[t]);
  for (let t = 0; t < T; t++) active[t] = x[t] > 1e-9 * maxX;
  const cand = new Float64Array(T);
  for (let round = 0; round < 4 * T + 4; round++) {
    const idx: number[] = [];
    for (let t = 0; t < T; t++) if (active[t]) idx.push(t);
    const m = idx.length;
    if (m === 0) return false;
    const KA = new Float64Array(m * m);
    for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) KA[i * m + j] = Sh[idx[i] * T + idx[j]];
    const p = luSolve(KA, m, new Float64Array(m).fill(1));
    const q = luSolve(KA, m, idx.map((t) => b[t]));
    if (p === null || q === null) return false;
    let sp = 0;
    let sq = 0;
    let bq = 0;
    for (let i = 0; i < m; i++) {
      sp += p[i];
      sq += q[i];
      bq += b[idx[i]] * q[i];
    }
    const disc = sq * sq - sp * (bq - r * r);
    if (!(sp > 0) || !(disc >= 0)) return false;
    const mu = (sq + Math.sqrt(disc)) / sp;
    let neg = -1;
    for (let i = 0; i < m; i++) {
      const yi = (mu * p[i] - q[i]) / r;
      if (yi < 0 && (neg < 0 || yi < (mu * p[neg] - q[neg]) / r)) neg = i;
    }
    if (neg >= 0) {
      active[idx[neg]] = false; // minor cycle
      continue;
    }
    cand.fill(0);
    for (let i = 0; i < m; i++) cand[idx[i]] = mu * p[i] - q[i];
    // On the sphere (r y)ᵀ K̂ (r y) = r², unless the solve was too ill-conditioned to trust.
    if (!cand.every(Number.isFinite) || !(Math.abs(quadForm(Sh, T, cand) / (r * r) - 1) <= 1e-6)) return false;
    for (let t = 0; t < T; t++) cand[t] += 1 / T;
    const Kd = matVec(Sh, T, cand);
    // The rounding of ĝ_t·d̂ = (K̂ α)_t grows with Σ|α| (large on near-antiparallel pairs).
    let size = 0;
    for (let t = 0; t < T; t++) size += Math.abs(cand[t]);
    const slack = tol + 4 * T * 2.2e-16 * size;
    let worst = -1;
    for (let t = 0; t < T; t++) if (!active[t] && Kd[t] < mu - slack && (worst < 0 || Kd[t] < Kd[worst])) worst = t;
    const value = Math.min(...Kd);
    const better = value >= best - slack;
    if (better) {
      best = Math.max(best, value);
      alpha.set(cand);
    }
    if (worst < 0) return better;
    active[worst] = true; // major cycle
  }
  return false;
}

/**
 * CAGrad (Liu et al. 2021): conflict-averse gradient descent, its dual solved over the
 * simplex.
 */
import { ValueError, describe, expectInt, expectNumber } from '../../../errors.js';
import { luSolve, matVec, projectSimplex, quadForm } from '../linalg.js';
import { type Gram, checkGram, maxDiagonal, uniform } from './gram.js';

/** Options of `cagradCoefficients`. */
export interface CagradOptions {
  /**
   * LibMTL's `rescale` (default 1, LibMTL's default): 0 returns d = g0 + λ g_w as is, 1 divides
   * it by 1 + c², 2 divides it by 1 + c.
   */
  rescale?: 0 | 1 | 2;
  /** Projected-gradient iterations at most for the dual problem (default 5000). */
  maxIter?: number;
}

/** The minimiser of a convex F over the 2-simplex {(p, 1 − p)}, by golden-section search on p. */
function minimiseOnSegment(F: (w: Float64Array) => number): Float64Array {
  const at = (p: number): Float64Array => Float64Array.from([p, 1 - p]);
  const r = (Math.sqrt(5) - 1) / 2;
  let lo = 0;
  let hi = 1;
  let a = hi - r * (hi - lo);
  let b = lo + r * (hi - lo);
  let fa = F(at(a));
  let fb = F(at(b));
  while (hi - lo > 1e-12) {
    if (fa <= fb) {
      hi = b;
      b = a;
      fb = fa;
      a = hi - r * (hi - lo);
      fa = F(at(a));
    } else {
      lo = a;
      a = b;
      fa = fb;
      b = lo + r * (hi - lo);
      fb = F(at(b));
    }
  }
  // The end points too: the minimum of a convex function on a segment may sit at one.
  const candidates = [lo, (lo + hi) / 2, hi, 0, 1];
  let best = candidates[0];
  for (const p of candidates) if (F(at(p)) < F(at(best))) best = p;
  return at(best);
}

/**
 * CAGrad (Liu et al. 2021, "Conflict-Averse Gradient Descent for Multi-task Learning"), as in
 * LibMTL's `CAGrad`: with g0 = (1/T) Σ g_t the mean gradient, the primal
 *   max_d min_t g_t·d   s.t.   ‖d − g0‖ ≤ c ‖g0‖
 * has the dual over the simplex
 *   w* = argmin_{w∈Δ} g_wᵀ g0 + c ‖g0‖ ‖g_w‖,   g_w = Σ w_t g_t,
 * i.e. F(w) = wᵀ K 1/T + c ‖g0‖ √(wᵀ K w) with ‖g0‖² = mean(K), and
 *   d = g0 + (c ‖g0‖ / ‖g_w‖) g_w,   α = 1/T + (c ‖g0‖ / ‖g_w‖) w*,
 * then divided according to `rescale` (LibMTL default 1: by 1 + c²).
 *
 * LibMTL minimises F with scipy's SLSQP from w = 1/T and adds 1e-8 inside both square roots and
 * to ‖g_w‖; here, on K scaled to unit max diagonal (so the result does not depend on the
 * gradients' scale), F is minimised by accelerated projected gradient (FISTA with backtracking,
 * gradient restart and Euclidean projection onto the simplex) until the Frank-Wolfe duality gap
 * (an upper bound on F(w) − min F) is ≤ 1e-6 · ‖g0‖ ‖g_w‖ (relative to F's own size, plus a
 * rounding floor of T·1e-15·(1 + c)·max_t ‖g_t‖²) or for 200 steps, which identifies the active
 * tasks; then the optimum on that active set is solved exactly (`polishCagrad`: a quadratic in
 * the primal value, Wolfe-style add/drop rounds, accepted only when it meets every optimality
 * condition and is no worse). Should that fail (linearly dependent active gradients), FISTA goes
 * on to a gap of 1e-10 · ‖g0‖ ‖g_w‖ (+ the floor), or `maxIter` steps in all. So d is as
 * accurate as K's rounding allows also on gradients scaled by 1e-8 or 1e-10, near-antiparallel
 * pairs, a near-zero gradient or a short mean gradient: test/mtl/solvers.spec.ts checks 42 such
 * seeded cases against an exhaustive float64 active-set solve of the primal, within
 * 1e-13 + 1e-14·(max‖g‖/‖g0‖)² + 1e-15/λ_min(cosine matrix) (before, with an absolute gap and
 * a stop on small steps: errors of 1e-11–1.6e-4 on 28 of them, and 0.6 on another seeded
 * near-zero-gradient case; random gradients also stop after tens of steps now, where they used
 * to run into the thousands). c = 0 gives the mean gradient exactly.
 * When the dual optimum has g_w ≈ 0 (0 is in the hull and c ≥ 1), so that ‖g_w‖² is at the
 * rounding level of wᵀKw (≤ 16·T·ε·(Σ_t w_t ‖g_t‖)²), the correction term is dropped, d = g0,
 * instead of LibMTL's c/(‖g_w‖ + 1e-8) blow-up (unless the exact finish finds a point of the
 * sphere with a higher primal value); all-zero K gives α = 1/T (then rescaled).
 */
export function cagradCoefficients(K: Gram, T: number, c = 0.5, opts: CagradOptions = {}): Float64Array {
  const S = checkGram('cagradCoefficients', K, T);
  expectNumber('cagradCoefficients: c', c, 0);
  const rescale = opts.rescale ?? 1;
  if (rescale !== 0 && rescale !== 1 && rescale !== 2) {
    throw new ValueError(`Expected 0, 1 or 2 for cagradCoefficients: rescale but received ${describe(rescale)}`);
  }
  const maxIter = expectInt('cagradCoefficients: maxIter', opts.maxIter ?? 5000, 1);
  const divisor = rescale === 0 ? 1 : rescale === 1 ? 1 + c * c : 1 + c;
  const alpha = uniform(T);
  const scale = maxDiagonal(S, T);
  let g0sq = 0;
  for (let i = 0; i < T * T; i++) g0sq += S[i];
  g0sq /= T * T;
  if (c > 0 && scale > 0 && g0sq > 0) {
    const Sh = new Float64Array(T * T);
    for (let i = 0; i < T * T; i++) Sh[i] = S[i] / scale;
    const g0n = Math.sqrt(g0sq / scale); // ‖g0‖ / max_t ‖g_t‖
    const ch = c * g0n;
    const Sb = matVec(Sh, T, alpha); // K̂ (1/T)
    const Sw = new Float64Array(T);
    const F = (w: Float64Array): number => {
      let lin = 0;
      for (let t = 0; t < T; t++) lin += w[t] * Sb[t];
      return lin + ch * Math.sqrt(Math.max(quadForm(Sh, T, w), 0));
    };
    const grad = (w: Float64Array, out: Float64Array): void => {
      matVec(Sh, T, w, Sw);
      let q = 0;
      for (let t = 0; t < T; t++) q += w[t] * Sw[t];
      const norm = Math.sqrt(Math.max(q, 0));
      const f = norm > 1e-150 ? ch / norm : 0;
      for (let t = 0; t < T; t++) out[t] = Sb[t] + f * Sw[t];
    };
    let x = T === 2 ? minimiseOnSegment(F) : uniform(T);
    let Fx = F(x);
    let y = Float64Array.from(x);
    let tk = 1;
    let L = 1;
    const gy = new Float64Array(T);
    const gx = new Float64Array(T);
    const trial = new Float64Array(T);
    // Two tasks: the simplex is a segment and F is convex on it; the golden-section search
    // above is already exact to 1e-12, so the iterations below only run for T > 2.
    let used = T === 2 ? maxIter : 0;
    /** FISTA steps until the duality gap is ≤ tolRel·‖ĝ0‖‖ĝ_w‖ + rounding floor, or `limit` steps in all. */
    const iterate = (tolRel: number, limit: number): void => {
      for (; used < limit; used++) {
        grad(y, gy);
        const Fy = F(y);
        let xn: Float64Array;
        let Fxn: number;
        for (;;) {
          for (let t = 0; t < T; t++) trial[t] = y[t] - gy[t] / L;
          xn = projectSimplex(trial);
          Fxn = F(xn);
          let lin = 0;
          let sq = 0;
          for (let t = 0; t < T; t++) {
            const dlt = xn[t] - y[t];
            lin += gy[t] * dlt;
            sq += dlt * dlt;
          }
          if (Fxn <= Fy + lin + 0.5 * L * sq + 1e-15 * Math.abs(Fy) || L > 1e30) break;
          L *= 2;
        }
        let restart = 0;
        for (let t = 0; t < T; t++) restart += (y[t] - xn[t]) * (xn[t] - x[t]);
        const tn = restart > 0 ? 1 : (1 + Math.sqrt(1 + 4 * tk * tk)) / 2;
        const mom = restart > 0 ? 0 : (tk - 1) / tn;
        const yn = new Float64Array(T);
        for (let t = 0; t < T; t++) yn[t] = xn[t] + mom * (xn[t] - x[t]);
        if (Fxn <= Fx) {
          x = xn;
          Fx = Fxn;
        } else {
          // Keep the best iterate; restart the momentum from it.
          tk = 1;
          y = Float64Array.from(x);
          continue;
        }
        y = yn;
        tk = tn;
        L = Math.max(L * 0.9, 1e-12);
        // Frank-Wolfe duality gap at x, an upper bound on F(x) − min F (F is convex).
        grad(x, gx);
        let gap = 0;
        let gmin = Infinity;
        for (let t = 0; t < T; t++) {
          gap += x[t] * gx[t];
          gmin = Math.min(gmin, gx[t]);
        }
        // Relative to F's own scale (F = ‖g0‖·(g_w·g0/‖g0‖ + c‖g_w‖), on K scaled to unit max
        // diagonal), plus the rounding floor of a gap computed from that K.
        if (gap - gmin <= tolRel * g0n * Math.sqrt(Math.max(quadForm(Sh, T, x), 0)) + T * 1e-15 * (1 + c)) break;
      }
    };
    /**
     * α = 1/T + (c‖g0‖/‖g_w‖) x from the dual iterate x; the correction is dropped when ‖g_w‖² is
     * at the rounding level of wᵀK̂w, 16·T·ε·(Σ_t w_t ‖ĝ_t‖)² (g_w ≈ 0 by cancellation).
     */
    const fromDual = (): void => {
      alpha.fill(1 / T);
      const q = quadForm(Sh, T, x);
      let spread = 0;
      for (let t = 0; t < T; t++) spread += x[t] * Math.sqrt(Sh[t * T + t]);
      if (q > 16 * T * 2.2e-16 * spread * spread) {
        const lambda = ch / Math.sqrt(q);
        for (let t = 0; t < T; t++) alpha[t] += lambda * x[t];
      }
    };
    // A loose solve (at most 200 steps) finds the active set, the exact finish solves on it;
    // when the finish cannot certify its point (a singular active Gram), the iterations go on
    // to the tight gap.
    iterate(1e-6, Math.min(maxIter, 200));
    fromDual();
    if (!polishCagrad(Sh, T, Sb, ch, x, alpha)) {
      iterate(1e-10, maxIter);
      fromDual();
      polishCagrad(Sh, T, Sb, ch, x, alpha);
    }
  }
  for (let t = 0; t < T; t++) alpha[t] /= divisor;
  return alpha;
}
