/**
 * MGDA (Sener & Koltun 2018): the min-norm point of the convex hull of the gradients, with
 * the two-task closed form, Frank-Wolfe with away steps and Wolfe's exact polish, and MGDA's
 * gradient normalisations.
 */
import { ShapeError, ValueError, describe, expectInt, expectNumber } from '../../../errors.js';
import { luSolve, matVec, quadForm } from '../linalg.js';
import { type Gram, checkGram, maxDiagonal, uniform } from './gram.js';

/**
 * The two-task min-norm problem in closed form (Sener & Koltun 2018, Algorithm 1):
 *   min_{γ∈[0,1]} ‖γ g₁ + (1−γ) g₂‖²  ⇒  γ = clip(((g₂ − g₁)·g₂) / ‖g₁ − g₂‖², 0, 1)
 *                                        = clip((k22 − k12) / (k11 + k22 − 2 k12), 0, 1).
 * Returns γ, the weight of task 1 (task 2 gets 1 − γ). When g₁ = g₂ (so ‖g₁ − g₂‖ = 0) every γ
 * is optimal and 0.5 is returned. Sener's code clips to [0.001, 0.999] at the ends; this
 * returns the exact minimiser in [0, 1].
 */
export function minNorm2(k11: number, k12: number, k22: number): number {
  const denom = k11 + k22 - 2 * k12;
  if (!(denom > 1e-14 * Math.abs(k11 + k22))) return 0.5;
  const g = (k22 - k12) / denom;
  return g <= 0 ? 0 : g >= 1 ? 1 : g;
}

/** Options of `minNormCoefficients`. */
export interface MinNormOptions {
  /** Frank-Wolfe iterations at most (default 20000; each costs O(T²), most problems stop in tens). */
  maxIter?: number;
  /**
   * Stop when the duality gap ‖d‖² − min_t g_t·d ≤ tol · ‖d‖² + T·1e-15 · max_t ‖g_t‖² (default
   * tol 1e-10): relative to the solution's own norm, plus the rounding floor of the gap computed
   * from K. The gap ≥ 0 is the KKT condition of the min-norm problem (g_t·d ≥ ‖d‖² for every t
   * at the optimum); the same threshold decides which vertices Wolfe's exact finishing step adds.
   */
  tol?: number;
}

/**
 * MGDA's min-norm point of the convex hull of the gradients (Sener & Koltun 2018, "Multi-Task
 * Learning as Multi-Objective Optimization", eq. (3) and their `MinNormSolver`):
 *   α = argmin_{α ∈ Δ^T} ‖Σ_t α_t g_t‖² = argmin_{α∈Δ} αᵀ K α.
 *
 * Like Sener's `find_min_norm_element_FW`: start from the best pair (the two-task closed form
 * `minNorm2` over every pair), then Frank-Wolfe steps towards the vertex g_s with the smallest
 * g_s·d, each with the exact line search, which is the two-point closed form between d and g_s.
 * Unlike it (plain FW, 250 iterations, stop when ‖Δα‖₁ < 1e-5), this adds *away steps*
 * (Lacoste-Julien & Jaggi 2015: move weight off the active vertex with the largest g_v·d), which
 * makes the convergence linear instead of O(1/k), stops on the duality gap, and finishes with
 * Wolfe's (1976) exact min-norm-point cycles on the support found (`polishMinNorm`), so the
 * result meets the KKT condition to `tol`. T = 2 returns the closed form directly.
 *
 * Scale: K is divided by its largest diagonal entry max_t ‖g_t‖² first, and every threshold is
 * relative (to ‖d‖², with a rounding floor relative to max_t ‖g_t‖²), so α does not depend on
 * the gradients' scale (K ≈ 1e-20 solves as K ≈ 1) and a solution much shorter than the
 * gradients (‖d*‖ ≪ max‖g‖: near-colinear conflicting gradients, a near-zero gradient) still gets
 * its exact active set. On such inputs d = Σ α_t g_t is as accurate as K allows: K's rounding
 * (≈ 1e-16·max‖g‖²) limits the relative error of d to about 1e-16 · max‖g‖/‖d*‖. Measured in
 * test/mtl/solvers.spec.ts against an exhaustive float64 active-set solve on the gradients
 * themselves (27 seeded cases: K scaled by 1e-16 and 1e-20, near-antiparallel pairs, a
 * near-zero gradient, ‖d*‖ down to 1e-7·max‖g‖): at most 1e-15 on the scaled ones and at most
 * 1/25 of the bound 1e-14 · max‖g‖/‖d*‖ on all; before (absolute thresholds) up to 7e-10 on the
 * scaled ones (the exact finish skipped) and up to 1.2e-5 where a wrong active set survived.
 *
 * Degenerate input: all-zero K gives the uniform α = 1/T; a zero-gradient task is found by the
 * pair search (its vertex has norm 0) and gets α_t = 1, correctly d = 0.
 */
export function minNormCoefficients(K: Gram, T: number, opts: MinNormOptions = {}): Float64Array {
  const S = checkGram('minNormCoefficients', K, T);
  const maxIter = expectInt('minNormCoefficients: maxIter', opts.maxIter ?? 20000, 0);
  const tol = expectNumber('minNormCoefficients: tol', opts.tol ?? 1e-10, 0);
  return minNormOnSymmetric(S, T, maxIter, tol);
}

/** The rounding floor of a duality gap computed from K scaled to unit max diagonal, per task. */
const GAP_FLOOR = 1e-15;

function minNormOnSymmetric(S: Float64Array, T: number, maxIter: number, tol: number): Float64Array {
  if (T === 1) return new Float64Array([1]);
  const scale = maxDiagonal(S, T);
  if (!(scale > 0)) return uniform(T);
  // Unit max diagonal: thresholds (here, and luSolve's relative to the 1s bordering K in the
  // polish) are then independent of the gradients' scale.
  for (let i = 0; i < T * T; i++) S[i] /= scale;
  const floor = T * GAP_FLOOR;
  // Sener's initialisation: the best of the T(T−1)/2 two-task solutions.
  let bi = 0;
  let bj = 1;
  let bg = 0.5;
  let bestCost = Infinity;
  for (let i = 0; i < T; i++) {
    for (let j = i + 1; j < T; j++) {
      const kii = S[i * T + i];
      const kij = S[i * T + j];
      const kjj = S[j * T + j];
      const g = minNorm2(kii, kij, kjj);
      const cost = g * g * kii + 2 * g * (1 - g) * kij + (1 - g) * (1 - g) * kjj;
      if (cost < bestCost) {
        bestCost = cost;
        bi = i;
        bj = j;
        bg = g;
      }
    }
  }
  const alpha = new Float64Array(T);
  alpha[bi] = bg;
  alpha[bj] = 1 - bg;
  if (T === 2) return alpha;
  const Ka = new Float64Array(T);
  for (let it = 0; it < maxIter; it++) {
    matVec(S, T, alpha, Ka);
    let q = 0;
    for (let t = 0; t < T; t++) q += alpha[t] * Ka[t];
    let s = 0;
    let v = -1;
    for (let t = 0; t < T; t++) {
      if (Ka[t] < Ka[s]) s = t;
      if (alpha[t] > 0 && (v < 0 || Ka[t] > Ka[v])) v = t;
    }
    const gapFW = q - Ka[s];
    const gapAway = v >= 0 ? Ka[v] - q : 0;
    if (!(gapFW > tol * q + floor)) break;
    if (gapFW >= gapAway || v < 0 || alpha[v] >= 1) {
      // Towards vertex s: d + γ(g_s − d), γ ∈ [0, 1]; ‖g_s − d‖² = q − 2 Ka_s + K_ss.
      const denom = q - 2 * Ka[s] + S[s * T + s];
      const gamma = denom > 0 ? Math.min(1, gapFW / denom) : 1;
      for (let t = 0; t < T; t++) alpha[t] *= 1 - gamma;
      alpha[s] += gamma;
    } else {
      // Away from vertex v: d + γ(d − g_v), γ ∈ [0, α_v/(1−α_v)].
      const gmax = alpha[v] / (1 - alpha[v]);
      const denom = q - 2 * Ka[v] + S[v * T + v];
      const gamma = denom > 0 ? Math.min(gmax, gapAway / denom) : gmax;
      for (let t = 0; t < T; t++) alpha[t] *= 1 + gamma;
      alpha[v] -= gamma;
      if (gamma === gmax || alpha[v] < 1e-16) alpha[v] = 0;
    }
  }
  polishMinNorm(S, T, alpha, tol, floor);
  // Renormalise against rounding drift.
  let sum = 0;
  for (let t = 0; t < T; t++) {
    if (!(alpha[t] > 0)) alpha[t] = 0;
    sum += alpha[t];
  }
  if (!(sum > 0)) return uniform(T);
  for (let t = 0; t < T; t++) alpha[t] /= sum;
  return alpha;
}

/**
 * Finishes the Frank-Wolfe solution exactly with Wolfe's (1976) min-norm-point cycles, started
 * from its support: the affine minimiser of the support ([K_SS 1; 1ᵀ 0][x; μ] = [0; 1]) replaces
 * α when it is inside the simplex (minor cycles step back to the boundary and drop a vertex;
 * major cycles add the vertex that most violates the KKT condition). Keeps `alpha` unchanged
 * unless it finds a feasible point that is at least as good; a singular system (affinely
 * dependent support, possible when T exceeds the gradients' rank) just stops the polish. S has
 * unit max diagonal; a vertex violates the KKT condition when ‖d‖² − g_t·d > tol·‖d‖² + floor.
 */
function polishMinNorm(S: Float64Array, T: number, alpha: Float64Array, tol: number, floor: number): void {
  const cur = Float64Array.from(alpha);
  const support = new Array<boolean>(T).fill(false);
  for (let t = 0; t < T; t++) support[t] = cur[t] > 0;
  const Ka = new Float64Array(T);
  const objective = (a: Float64Array): number => quadForm(S, T, a);
  const q0 = objective(alpha);
  for (let round = 0; round < 4 * T + 4; round++) {
    const idx: number[] = [];
    for (let t = 0; t < T; t++) if (support[t]) idx.push(t);
    const m = idx.length;
    const B = new Float64Array((m + 1) * (m + 1));
    const rhs = new Float64Array(m + 1);
    for (let a = 0; a < m; a++) {
      for (let b = 0; b < m; b++) B[a * (m + 1) + b] = S[idx[a] * T + idx[b]];
      B[a * (m + 1) + m] = 1;
      B[m * (m + 1) + a] = 1;
    }
    rhs[m] = 1;
    const x = luSolve(B, m + 1, rhs);
    if (x === null || !x.every(Number.isFinite)) return;
    let inside = true;
    for (let a = 0; a < m; a++) if (!(x[a] > 0)) inside = false;
    if (inside) {
      cur.fill(0);
      for (let a = 0; a < m; a++) cur[idx[a]] = x[a];
      matVec(S, T, cur, Ka);
      const q = objective(cur);
      let worst = -1;
      const stop = tol * q + floor;
      for (let t = 0; t < T; t++) if (!support[t] && q - Ka[t] > stop && (worst < 0 || Ka[t] < Ka[worst])) worst = t;
      if (worst < 0) {
        if (q <= q0 + tol * q0 + floor) alpha.set(cur);
        return;
      }
      support[worst] = true; // major cycle
      continue;
    }
    // Minor cycle: from cur towards x until the first support weight reaches zero.
    let theta = 1;
    let hit = -1;
    for (let a = 0; a < m; a++) {
      if (!(x[a] > 0)) {
        const c = cur[idx[a]];
        const th = c - x[a] > 0 ? c / (c - x[a]) : 0;
        if (hit < 0 || th < theta) {
          theta = th;
          hit = a;
        }
      }
    }
    for (let a = 0; a < m; a++) cur[idx[a]] += theta * (x[a] - cur[idx[a]]);
    support[idx[hit]] = false;
    cur[idx[hit]] = 0;
    for (let a = 0; a < m; a++) {
      if (support[idx[a]] && !(cur[idx[a]] > 0)) {
        support[idx[a]] = false;
        cur[idx[a]] = 0;
      }
    }
    let any = false;
    for (let t = 0; t < T; t++) any ||= support[t];
    if (!any) return;
  }
}

/** MGDA gradient normalisations (Sener & Koltun's `gradient_normalizers`, LibMTL `mgda_gn`). */
export type MgdaNormalisation = 'none' | 'l2' | 'loss' | 'loss+';

/**
 * Per-task scale factors c_t of MGDA's gradient normalisation: g_t is replaced by g_t / c_t
 * before the min-norm problem is solved.
 *   'none': c_t = 1 (LibMTL's default);  'l2': c_t = ‖g_t‖;  'loss': c_t = L_t;
 *   'loss+': c_t = L_t · ‖g_t‖.
 * A factor that is zero (zero gradient, zero loss) falls back to 1 rather than dividing by zero.
 * 'loss' and 'loss+' need the per-task losses, which must be finite and non-negative (a negative
 * divisor would flip the gradient).
 */
export function mgdaNormalisation(
  kind: MgdaNormalisation,
  K: Gram,
  T: number,
  losses?: ArrayLike<number>,
): Float64Array {
  const S = checkGram('mgdaNormalisation', K, T);
  if (kind !== 'none' && kind !== 'l2' && kind !== 'loss' && kind !== 'loss+') {
    throw new ValueError(`Expected 'none', 'l2', 'loss' or 'loss+' for mgdaNormalisation: kind but received ${describe(kind)}`);
  }
  const c = uniform(T, 1);
  if (kind === 'none') return c;
  if (kind === 'loss' || kind === 'loss+') {
    if (losses === undefined || losses === null || typeof losses.length !== 'number') {
      throw new ValueError(`Expected per-task losses for MGDA normalisation '${kind}' but received ${describe(losses)}`);
    }
    if (losses.length !== T) {
      throw new ShapeError(`Expected ${T} losses for MGDA normalisation '${kind}' but received ${losses.length}`);
    }
    for (let t = 0; t < T; t++) {
      const l = losses[t];
      if (typeof l !== 'number' || !Number.isFinite(l) || l < 0) {
        throw new ValueError(`Expected finite non-negative losses for MGDA normalisation '${kind}' but received ${describe(l)} for task ${t}`);
      }
    }
  }
  for (let t = 0; t < T; t++) {
    const norm = Math.sqrt(Math.max(S[t * T + t], 0));
    const v = kind === 'l2' ? norm : kind === 'loss' ? losses![t] : losses![t] * norm;
    c[t] = v > 0 && Number.isFinite(v) ? v : 1;
  }
  return c;
}

/** Options of `mgdaCoefficients`. */
export interface MgdaOptions extends MinNormOptions {
  /** Gradient normalisation (default 'none', as LibMTL). */
  normalisation?: MgdaNormalisation;
  /** Per-task losses, needed by 'loss' and 'loss+'. */
  losses?: ArrayLike<number>;
  /**
   * What the solution weighs: 'normalised' gradients g_t / c_t (LibMTL, the default: α_t =
   * sol_t / c_t) or the 'raw' gradients g_t (Sener & Koltun's training script: α_t = sol_t).
   */
  combine?: 'normalised' | 'raw';
}

/**
 * MGDA end to end: normalise, solve the min-norm problem on K̃_ij = K_ij/(c_i c_j), and fold the
 * normalisation back, α_t = sol_t / c_t, so that d = Σ sol_t (g_t/c_t) = Σ α_t g_t. This is
 * LibMTL's behaviour (it combines the *normalised* gradients with sol); Sener & Koltun's own
 * training script instead weights the raw losses by sol (`combine: 'raw'`). With 'none' both
 * agree.
 */
export function mgdaCoefficients(K: Gram, T: number, opts: MgdaOptions = {}): Float64Array {
  const S = checkGram('mgdaCoefficients', K, T);
  const c = mgdaNormalisation(opts.normalisation ?? 'none', S, T, opts.losses);
  const Kn = new Float64Array(T * T);
  for (let i = 0; i < T; i++) for (let j = 0; j < T; j++) Kn[i * T + j] = S[i * T + j] / (c[i] * c[j]);
  const sol = minNormCoefficients(Kn, T, opts);
  if (opts.combine !== 'raw') for (let t = 0; t < T; t++) sol[t] /= c[t];
  return sol;
}
