/**
 * Nash-MTL (Navon et al. 2022): the Nash bargaining solution α ⊙ (K α) = 1, by damped Newton.
 */
import { checkKeys } from '../../../core/options.js';
import { ConfigError, expectInt, expectNumber } from '../../../errors.js';
import { choleskySolve, matVec } from '../linalg.js';
import { type Gram, checkGram, nonZeroTasks, uniform } from './gram.js';

/** Options of `nashMtlCoefficients`. */
export interface NashMtlOptions {
  /** Newton iterations at most (default 500; typically 5–30 are used). */
  maxIter?: number;
  /** Stop when the Newton decrement λ(α) falls below tol (default 1e-10). */
  tol?: number;
}

/**
 * Nash-MTL (Navon et al. 2022, "Multi-Task Learning as a Bargaining Game"): the Nash bargaining
 * solution d = Σ α_t g_t with α > 0 solving
 *   Gᵀ G α = 1/α,   i.e.   α_t (K α)_t = 1 for every t.
 * This is the stationarity condition of the strictly convex
 *   f(α) = ½ αᵀ K α − Σ_t log α_t   (α > 0),
 * which is minimised here by damped Newton (Nesterov & Nemirovski's step 1/(1+λ) while the
 * Newton decrement λ ≥ 1/4, full steps after; f is self-concordant, so this converges globally
 * and quadratically near the solution, and every iterate stays positive), in the variables
 * β_t = α_t ‖g_t‖, for which K becomes the cosine matrix R (unit diagonal): β ⊙ (R β) = 1,
 * independent of the gradients' scales; α = β / ‖g‖ afterwards.
 *
 * LibMTL (following the authors) instead runs up to `optim_niter` = 20 convex subproblems in
 * CVXPY (ECOS), warm-started from the previous step's α, and stops early when
 * ‖Kα − 1/α‖ < 1e-3; this solves the same equation to `tol`. Both divide K by
 * `normalization_factor` = ‖K‖_F before solving, but that factor cancels in their subproblem
 * (the constraint is −log(α_t·nf) − log((K/nf)α)_t ≤ 0 and the objective's linearised term is
 * divided by nf), so their solver returns the α* of the raw K: what this function returns.
 * (An earlier `gramNormalisation: 'frobenius'` option here, documented as theirs, solved for
 * K/‖K‖_F and so returned α*·√‖K‖_F, which neither computes; it was removed, and passing it is a
 * ConfigError.)
 *
 * LibMTL's `update_weights_every` and its `max_norm` clipping belong to the caller. Note that at
 * the solution ‖d‖² = αᵀKα = Σ_t α_t (Kα)_t = T exactly, whatever the gradients' scale, so
 * LibMTL's and the authors' default clip of the shared parameters' gradient to `max_norm` = 1
 * fires on every step with T ≥ 2 (‖d‖ = √T > 1): their shared update is d/√T (to their
 * solver's 1e-3 tolerance). Here d is returned unclipped; the Trainer's `clipGradNorm: 1`
 * clips the whole gradient, heads included, so it is close to but not the same as theirs.
 *
 * Degenerate input: zero-gradient tasks (no α can satisfy α_t·0 = 1) get α_t = 0 and the
 * system is solved for the rest; all-zero K gives α = 1/T. When the gradients are linearly
 * dependent with a conflicting combination (e.g. g_2 = −g_1) no solution exists; a ridge of
 * ρ = 1e-10·I on R keeps the problem bounded, so α stays finite (large) and d stays finite.
 * The ridge solves β ⊙ ((R + ρI) β) = 1 instead; for two tasks at angle θ this gives
 * β_t = 1/√(1 + cos θ + ρ) instead of 1/√(1 + cos θ), so d shrinks by the relative amount
 * 1 − √((1 + cos θ)/(1 + cos θ + ρ)) ≈ ρ / (2(1 + cos θ)); in general about ρ/(2λ_min(R)).
 * Measured (seeded near-colinear conflicting pairs g_2 = −g_1 + noise, T = 2, 3 and 5, five
 * draws each, against the same Newton without the ridge): 1 + cos θ ≈ 5e-5 moves d by
 * 3e-7–5e-6 relative, ≈ 5e-7 by 4e-5–2e-4, ≈ 4e-9 by 0.4–1.8 %, ≈ 5e-11 by 20–64 %; for
 * gradients at least 1° from antiparallel (1 + cos θ > 1.5e-4) by less than 1e-6.
 */
export function nashMtlCoefficients(K: Gram, T: number, opts: NashMtlOptions = {}): Float64Array {
  const S = checkGram('nashMtlCoefficients', K, T);
  const maxIter = expectInt('nashMtlCoefficients: maxIter', opts.maxIter ?? 500, 1);
  const tol = expectNumber('nashMtlCoefficients: tol', opts.tol ?? 1e-10, 0);
  if ((opts as Record<string, unknown>).gramNormalisation !== undefined) {
    throw new ConfigError(
      "nashMtlCoefficients: the option gramNormalisation was removed: LibMTL's and the authors' Nash-MTL return the α of the raw Gram matrix (their normalisation by ‖K‖_F cancels), which is what this computes; drop the option",
    );
  }
  checkKeys(opts, ['maxIter', 'tol'], 'nashMtlCoefficients options');
  const idx = nonZeroTasks(S, T);
  const out = new Float64Array(T);
  if (idx.length === 0) return uniform(T);
  const m = idx.length;
  // Substitute α_t = β_t / n_t (n_t = ‖g_t‖): β ⊙ (R β) = 1 with R = D K D the cosine matrix
  // (unit diagonal), which is scale-free and well conditioned whatever the gradients' norms.
  const nrm = idx.map((t) => Math.sqrt(S[t * T + t]));
  const A = new Float64Array(m * m);
  for (let a = 0; a < m; a++) {
    for (let b = 0; b < m; b++) A[a * m + b] = S[idx[a] * T + idx[b]] / (nrm[a] * nrm[b]);
    A[a * m + a] += 1e-10;
  }
  const alpha = new Float64Array(m).fill(1);
  const Ka = new Float64Array(m);
  const g = new Float64Array(m);
  const H = new Float64Array(m * m);
  for (let it = 0; it < maxIter; it++) {
    matVec(A, m, alpha, Ka);
    for (let a = 0; a < m; a++) g[a] = Ka[a] - 1 / alpha[a];
    H.set(A);
    for (let a = 0; a < m; a++) H[a * m + a] += 1 / (alpha[a] * alpha[a]);
    const step = choleskySolve(H, m, g);
    if (step === null) break;
    let dec2 = 0;
    for (let a = 0; a < m; a++) dec2 += g[a] * step[a];
    const dec = Math.sqrt(Math.max(dec2, 0));
    if (!(dec > tol)) break;
    let tau = dec >= 0.25 ? 1 / (1 + dec) : 1;
    // The damped step stays inside the Dikin ellipsoid (so α > 0); guard rounding anyway.
    for (let tries = 0; tries < 60; tries++) {
      let ok = true;
      for (let a = 0; a < m; a++) if (!(alpha[a] - tau * step[a] > 0)) ok = false;
      if (ok) break;
      tau *= 0.5;
    }
    for (let a = 0; a < m; a++) alpha[a] = Math.max(alpha[a] - tau * step[a], 1e-300);
  }
  // Back to α = β / n.
  for (let a = 0; a < m; a++) out[idx[a]] = alpha[a] / nrm[a];
  return out;
}
