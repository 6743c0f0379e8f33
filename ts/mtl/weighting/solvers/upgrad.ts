/**
 * UPGrad (Quinton & Rey 2024): each gradient projected onto the dual cone of all of them.
 */
import { ShapeError, expectNumber } from '../../../errors.js';
import { matVec, nonNegativeQP } from '../linalg.js';
import { type Gram, checkGram, uniform } from './gram.js';

/** Options of `upgradCoefficients` (TorchJD `UPGrad` / `UPGradWeighting`). */
export interface UpgradOptions {
  /** Preference vector p; the projected rows are combined with weights p (default 1/T: mean). */
  pref?: ArrayLike<number>;
  /**
   * TorchJD's `norm_eps` (default 1e-4): K is normalised by its trace, and a trace below
   * normEps is treated as an all-zero Gram.
   */
  normEps?: number;
  /** TorchJD's `reg_eps` (default 1e-4): added to the diagonal of the normalised Gram. */
  regEps?: number;
}

/**
 * UPGrad (Quinton & Rey 2024, "Jacobian Descent for Multi-Objective Optimization"), as in
 * TorchJD's `UPGradWeighting` (and LibMTL's copy): project each p_i g_i onto the dual cone
 * {x : x·g_j ≥ 0 ∀j} of the gradients and sum the projections (with p = 1/T: average). By their
 * Proposition 1 the projection of Jᵀu is Jᵀv with
 *   v = argmin_v vᵀ G v   s.t.   v ≥ u,
 * G the Gram, here normalised as TorchJD does: G = K / tr(K) (0 if tr(K) < normEps) + regEps·I.
 * Each QP is solved exactly by the active-set method `nonNegativeQP` on z = v − u ≥ 0
 * (min ½ zᵀGz + (Gu)ᵀz) instead of quadprog. α = Σ_i v_i.
 *
 * The result satisfies d·g_t ≥ −O(regEps) for every t (non-conflicting), and equals the mean
 * gradient when no pair of gradients conflicts enough to leave the dual cone. All-zero K gives
 * the mean weights p. Note TorchJD's normEps is absolute: a Gram whose trace is below 1e-4
 * (gradients of norm ≲ 1e-2) is treated as zero and gives plain averaging; pass a smaller
 * normEps for tiny gradients.
 */
export function upgradCoefficients(K: Gram, T: number, opts: UpgradOptions = {}): Float64Array {
  const S = checkGram('upgradCoefficients', K, T);
  const normEps = expectNumber('upgradCoefficients: normEps', opts.normEps ?? 1e-4, 0);
  const regEps = expectNumber('upgradCoefficients: regEps', opts.regEps ?? 1e-4, 0);
  let pref: Float64Array;
  if (opts.pref === undefined) pref = uniform(T);
  else {
    if (opts.pref.length !== T) {
      throw new ShapeError(`Expected upgradCoefficients: pref of length ${T} but received length ${opts.pref.length}`);
    }
    pref = Float64Array.from(opts.pref);
    for (let t = 0; t < T; t++) expectNumber(`upgradCoefficients: pref[${t}]`, pref[t], 0);
  }
  let tr = 0;
  for (let t = 0; t < T; t++) tr += S[t * T + t];
  const G = new Float64Array(T * T);
  if (tr >= normEps && tr > 0) for (let i = 0; i < T * T; i++) G[i] = S[i] / tr;
  for (let t = 0; t < T; t++) G[t * T + t] += regEps;
  const alpha = new Float64Array(T);
  const u = new Float64Array(T);
  for (let i = 0; i < T; i++) {
    u.fill(0);
    u[i] = pref[i];
    if (pref[i] === 0) continue;
    const Gu = matVec(G, T, u);
    const z = nonNegativeQP(G, T, Gu);
    for (let t = 0; t < T; t++) alpha[t] += u[t] + z[t];
  }
  return alpha;
}
