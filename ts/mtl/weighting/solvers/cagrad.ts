/**
 * CAGrad (Liu et al. 2021): conflict-averse gradient descent, its dual solved over the
 * simplex.
 */
import { ValueError, describe, expectInt, expectNumber } from '../../../errors.js';
import { matVec, projectSimplex, quadForm } from '../linalg.js';
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
 * to ‖g_w‖; here F is minimised by accelerated projected gradient (FISTA with backtracking,
 * gradient restart and Euclidean projection onto the simplex) on K scaled to unit max diagonal,
 * so the result does not depend on the gradients' scale; it stops when the Frank-Wolfe duality
 * gap (an upper bound on F(w) − min F) is ≤ 1e-10 · max_t ‖g_t‖², or after `maxIter` steps.
 * c = 0 gives the mean gradient exactly.
 * When the dual optimum has g_w ≈ 0 (0 is in the hull and c ≥ 1) the correction term is
 * dropped, d = g0, instead of LibMTL's c/(‖g_w‖ + 1e-8) blow-up; all-zero K gives α = 1/T
 * (then rescaled).
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
    const ch = c * Math.sqrt(g0sq / scale);
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
    for (let it = 0; it < (T === 2 ? 0 : maxIter); it++) {
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
      let change = 0;
      let restart = 0;
      for (let t = 0; t < T; t++) {
        change += Math.abs(xn[t] - x[t]);
        restart += (y[t] - xn[t]) * (xn[t] - x[t]);
      }
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
      if (change < 1e-13) break;
      // Frank-Wolfe duality gap at x, an upper bound on F(x) − min F (F is convex).
      grad(x, gx);
      let gap = 0;
      let gmin = Infinity;
      for (let t = 0; t < T; t++) {
        gap += x[t] * gx[t];
        gmin = Math.min(gmin, gx[t]);
      }
      if (gap - gmin <= 1e-10) break;
    }
    const gwNorm = Math.sqrt(Math.max(quadForm(S, T, x), 0));
    if (gwNorm > 1e-12 * Math.sqrt(scale)) {
      const lambda = (c * Math.sqrt(g0sq)) / gwNorm;
      for (let t = 0; t < T; t++) alpha[t] += lambda * x[t];
    }
  }
  for (let t = 0; t < T; t++) alpha[t] /= divisor;
  return alpha;
}
