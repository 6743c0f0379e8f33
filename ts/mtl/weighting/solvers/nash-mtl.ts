/**
 * Nash-MTL (Navon et al. 2022): the Nash bargaining solution α ⊙ (K α) = 1, by damped Newton.
 */
import { ValueError, describe, expectInt, expectNumber } from '../../../errors.js';
import { choleskySolve, matVec } from '../linalg.js';
import { type Gram, checkGram, nonZeroTasks, uniform } from './gram.js';

/** Options of `nashMtlCoefficients`. */
export interface NashMtlOptions {
  /** Newton iterations at most (default 500; typically 5–30 are used). */
  maxIter?: number;
  /** Stop when the Newton decrement λ(α) falls below tol (default 1e-10). */
  tol?: number;
  /**
   * 'none' (default): solve α ⊙ (K α) = 1 for the K given, as in the paper. 'frobenius': solve
   * it for K / ‖K‖_F as LibMTL and the authors' code do (their `normalization_factor`), which
   * scales α by √‖K‖_F relative to 'none'.
   */
  gramNormalisation?: 'none' | 'frobenius';
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
 * ‖Kα − 1/α‖ < 1e-3; this solves the same equation to `tol`. LibMTL's `update_weights_every`
 * and `max_norm` gradient clipping belong to the caller.
 *
 * Degenerate input: zero-gradient tasks (no α can satisfy α_t·0 = 1) get α_t = 0 and the
 * system is solved for the rest; all-zero K gives α = 1/T. When the gradients are linearly
 * dependent with a conflicting combination (e.g. g_2 = −g_1) no solution exists; a ridge of
 * 1e-10·I on R keeps the problem bounded, so α stays finite (large) and d stays finite. The
 * ridge perturbs α ⊙ (Kα) = 1 by 1e-10·β_t², negligible otherwise.
 */
export function nashMtlCoefficients(K: Gram, T: number, opts: NashMtlOptions = {}): Float64Array {
  const S = checkGram('nashMtlCoefficients', K, T);
  const maxIter = expectInt('nashMtlCoefficients: maxIter', opts.maxIter ?? 500, 1);
  const tol = expectNumber('nashMtlCoefficients: tol', opts.tol ?? 1e-10, 0);
  const norm = opts.gramNormalisation ?? 'none';
  if (norm !== 'none' && norm !== 'frobenius') {
    throw new ValueError(`Expected 'none' or 'frobenius' for nashMtlCoefficients: gramNormalisation but received ${describe(norm)}`);
  }
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
  // Back to α = β / n. LibMTL solves for K/‖K‖_F instead: multiply by √‖K‖_F.
  let f = 1;
  if (norm === 'frobenius') {
    let fro = 0;
    for (let i = 0; i < T * T; i++) fro += S[i] * S[i];
    f = Math.sqrt(Math.sqrt(fro));
  }
  for (let a = 0; a < m; a++) out[idx[a]] = (alpha[a] / nrm[a]) * f;
  return out;
}
