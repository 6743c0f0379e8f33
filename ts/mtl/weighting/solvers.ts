/**
 * Gradient-combination solvers for the gradient-based multi-task weightings.
 *
 * Every method here (MGDA, PCGrad, CAGrad, IMTL-G, Nash-MTL, Aligned-MTL, UPGrad, GradVac)
 * needs the per-task gradients g_1..g_T only through their inner products, so it runs on the
 * T×T Gram matrix K[i][j] = g_i·g_j (row-major `Float64Array`, T = 2–16) while the gradients
 * themselves stay on the device. Each solver returns combination coefficients α (length T):
 * the update direction is d = Σ_t α_t g_t, which the caller forms on the device (for example as
 * the gradient of Σ_t α_t L_t, or as a weighted sum of the stored gradients).
 *
 * PCGrad and GradVac modify each gradient by adding multiples of the others, so a modified
 * gradient is itself a combination Σ_k C[i][k] g_k: they track the T×T matrix C (row i = the
 * coefficients of modified gradient i), compute every inner product they need as
 * (C K Cᵀ)[i][j] or (C K)[i][j], and return α_k = Σ_i C[i][k]. `pcgradMatrix` and
 * `GradVac.coefficientMatrix` expose C itself.
 *
 * Degenerate inputs: an all-zero Gram (every gradient zero) gives finite coefficients for every
 * method (documented per function), a task with a zero gradient never causes a division by
 * zero, and no function returns NaN for finite input. Non-finite or wrongly sized input throws
 * `ValueError` / `ShapeError`.
 *
 * References for semantics and defaults: LibMTL (Lin & Zhang, `LibMTL/weighting/*.py`) and
 * TorchJD (`torchjd.aggregation`). Where this file differs from them it says so, and why.
 */
import type { Rng } from '../../core/random.js';
import { stateNumbers, stateObject } from '../../core/state.js';
import { ShapeError, ValueError, describe, expectInt, expectNumber } from '../../errors.js';
import {
  choleskySolve,
  jacobiEigen,
  luSolve,
  matVec,
  nonNegativeQP,
  projectSimplex,
  quadForm,
  symmetrize,
} from './linalg.js';

/** A row-major T×T Gram matrix K[i·T + j] = g_i·g_j. */
export type Gram = Float64Array;

/** A task's gradient counts as zero when K_tt ≤ ZERO_REL · max_s K_ss (‖g_t‖ ≤ 1e-10·max‖g_s‖). */
const ZERO_REL = 1e-20;

/** float32 machine epsilon (torch.finfo(torch.float32).eps), used by Aligned-MTL's rank cut. */
const FLOAT32_EPS = 1.1920928955078125e-7;

/** Validates (K, T) and returns the symmetric part of K as a fresh array. */
function checkGram(fn: string, K: unknown, T: unknown): Float64Array {
  expectInt(`${fn}: T`, T, 1);
  const n = T as number;
  if (!(K instanceof Float64Array)) {
    throw new ValueError(`Expected a Float64Array for ${fn}: K but received ${describe(K)}`);
  }
  if (K.length !== n * n) {
    throw new ShapeError(`Expected ${fn}: K of length T·T = ${n * n} (T = ${n}) but received length ${K.length}`);
  }
  for (let i = 0; i < K.length; i++) {
    if (!Number.isFinite(K[i])) {
      throw new ValueError(`Expected finite entries in ${fn}: K but received ${K[i]} at index ${i}`);
    }
  }
  return symmetrize(K, n);
}

function maxDiagonal(S: Float64Array, T: number): number {
  let m = 0;
  for (let t = 0; t < T; t++) m = Math.max(m, S[t * T + t]);
  return m;
}

function uniform(T: number, value = 1 / T): Float64Array {
  return new Float64Array(T).fill(value);
}

/** α_k = Σ_i C[i][k]: the coefficients of Σ_i (modified gradient i). */
export function columnSums(C: Float64Array, T: number): Float64Array {
  const a = new Float64Array(T);
  for (let i = 0; i < T; i++) for (let k = 0; k < T; k++) a[k] += C[i * T + k];
  return a;
}

// ---------------------------------------------------------------------------------------------
// MGDA
// ---------------------------------------------------------------------------------------------

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
   * Stop when the duality gap ‖d‖² − min_t g_t·d ≤ tol · max_t ‖g_t‖² (default 1e-10). This is
   * the KKT condition of the min-norm problem: g_t·d ≥ ‖d‖² for every t at the optimum.
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
 * Degenerate input: all-zero K gives the uniform α = 1/T; a zero-gradient task is found by the
 * pair search (its vertex has norm 0) and gets α_t = 1, correctly d = 0.
 */
export function minNormCoefficients(K: Gram, T: number, opts: MinNormOptions = {}): Float64Array {
  const S = checkGram('minNormCoefficients', K, T);
  const maxIter = expectInt('minNormCoefficients: maxIter', opts.maxIter ?? 20000, 0);
  const tol = expectNumber('minNormCoefficients: tol', opts.tol ?? 1e-10, 0);
  return minNormOnSymmetric(S, T, maxIter, tol);
}

function minNormOnSymmetric(S: Float64Array, T: number, maxIter: number, tol: number): Float64Array {
  if (T === 1) return new Float64Array([1]);
  const scale = maxDiagonal(S, T);
  if (!(scale > 0)) return uniform(T);
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
  const stop = tol * scale;
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
    if (!(gapFW > stop)) break;
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
  polishMinNorm(S, T, alpha, stop);
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
 * dependent support, possible when T exceeds the gradients' rank) just stops the polish.
 */
function polishMinNorm(S: Float64Array, T: number, alpha: Float64Array, stop: number): void {
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
      for (let t = 0; t < T; t++) if (!support[t] && q - Ka[t] > stop && (worst < 0 || Ka[t] < Ka[worst])) worst = t;
      if (worst < 0) {
        if (q <= q0 + stop) alpha.set(cur);
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

// ---------------------------------------------------------------------------------------------
// PCGrad
// ---------------------------------------------------------------------------------------------

/**
 * PCGrad's projected gradients as combinations of the originals (Yu et al. 2020, "Gradient
 * Surgery for Multi-Task Learning", Algorithm 1): for each task i, g_i^PC starts as g_i; for the
 * other tasks j in a random order (a fresh `rng.shuffle` per i), if g_i^PC·g_j < 0 then
 *   g_i^PC ← g_i^PC − (g_i^PC·g_j / ‖g_j‖²) g_j.
 * Returns C (row-major T×T) with g_i^PC = Σ_k C[i][k] g_k; g_i^PC·g_j = (C K)[i][j].
 *
 * Differences from LibMTL / the authors' code: they shuffle *all* tasks including i itself (a
 * no-op unless g_i^PC·g_i < 0) and divide by ‖g_j‖² + 1e-8; this follows the paper (others only)
 * and skips a zero-gradient g_j instead (its inner product is 0, so it never conflicts).
 */
export function pcgradMatrix(K: Gram, T: number, rng: Rng): Float64Array {
  const S = checkGram('pcgradMatrix', K, T);
  const scale = maxDiagonal(S, T);
  const C = new Float64Array(T * T);
  for (let i = 0; i < T; i++) C[i * T + i] = 1;
  for (let i = 0; i < T; i++) {
    const order: number[] = [];
    for (let j = 0; j < T; j++) if (j !== i) order.push(j);
    rng.shuffle(order);
    for (const j of order) {
      const kjj = S[j * T + j];
      if (!(kjj > ZERO_REL * scale)) continue;
      let dot = 0;
      for (let k = 0; k < T; k++) dot += C[i * T + k] * S[k * T + j];
      if (dot < 0) C[i * T + j] -= dot / kjj;
    }
  }
  return C;
}

/**
 * PCGrad coefficients: α = column sums of `pcgradMatrix`, i.e. d = Σ_i g_i^PC (the paper and
 * LibMTL sum the projected gradients). Non-conflicting gradients give α = 1 for every task.
 */
export function pcgradCoefficients(K: Gram, T: number, rng: Rng): Float64Array {
  return columnSums(pcgradMatrix(K, T, rng), T);
}

// ---------------------------------------------------------------------------------------------
// CAGrad
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// IMTL-G
// ---------------------------------------------------------------------------------------------

/**
 * IMTL-G (Liu et al. 2021, "Towards Impartial Multi-task Learning", eq. (6)–(8)), as in LibMTL's
 * `IMTL` gradient part: find d = Σ α_t g_t with Σ α_t = 1 whose projections onto every unit
 * gradient u_t = g_t/‖g_t‖ are equal, d·u_1 = d·u_t. With D_t = g_1 − g_t, U_t = u_1 − u_t
 * (t = 2..T):
 *   α_{2..T} = g_1 Uᵀ (D Uᵀ)⁻¹,   α_1 = 1 − Σ_{t≥2} α_t,
 * where (D Uᵀ)[i][j] = K_11/n_1 − K_1j/n_j − K_i1/n_1 + K_ij/n_j and (g_1 Uᵀ)_j = K_11/n_1 −
 * K_1j/n_j, n_t = √K_tt: everything from the Gram matrix. (IMTL-L, the learned loss scales, is
 * not a gradient solver and lives elsewhere.)
 *
 * Degenerate input: tasks with a zero gradient (no unit vector) are left out and get α_t = 0; if
 * none is left, α = 1/T. If D Uᵀ is singular (e.g. two identical gradients) the least-squares
 * solution of the same system (Tikhonov-regularised normal equations) is used instead of
 * LibMTL's `torch.inverse`, which would fail or return garbage.
 */
export function imtlCoefficients(K: Gram, T: number): Float64Array {
  const S = checkGram('imtlCoefficients', K, T);
  const scale = maxDiagonal(S, T);
  const idx: number[] = [];
  for (let t = 0; t < T; t++) if (S[t * T + t] > ZERO_REL * scale && scale > 0) idx.push(t);
  const alpha = new Float64Array(T);
  if (idx.length === 0) return uniform(T);
  if (idx.length === 1) {
    alpha[idx[0]] = 1;
    return alpha;
  }
  const m = idx.length - 1;
  const n = idx.map((t) => Math.sqrt(S[t * T + t]));
  const k = (a: number, b: number): number => S[idx[a] * T + idx[b]];
  // M = D Uᵀ (m×m), b = g_1 Uᵀ; we need x with xᵀ M = bᵀ, i.e. Mᵀ x = b.
  const Mt = new Float64Array(m * m);
  const b = new Float64Array(m);
  for (let j = 0; j < m; j++) {
    b[j] = k(0, 0) / n[0] - k(0, j + 1) / n[j + 1];
    for (let i = 0; i < m; i++) {
      const mij = k(0, 0) / n[0] - k(0, j + 1) / n[j + 1] - k(i + 1, 0) / n[0] + k(i + 1, j + 1) / n[j + 1];
      Mt[j * m + i] = mij;
    }
  }
  let x = luSolve(Mt, m, b);
  if (x === null) {
    // Least squares: minimise ‖Mt x − b‖² + ε‖x‖², i.e. (Mtᵀ Mt + εI) x = Mtᵀ b.
    const N = new Float64Array(m * m);
    const r = new Float64Array(m);
    let tr = 0;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < m; j++) {
        let s = 0;
        for (let l = 0; l < m; l++) s += Mt[l * m + i] * Mt[l * m + j];
        N[i * m + j] = s;
      }
      tr += N[i * m + i];
      let s = 0;
      for (let l = 0; l < m; l++) s += Mt[l * m + i] * b[l];
      r[i] = s;
    }
    const eps = 1e-12 * (tr > 0 ? tr / m : 1);
    for (let i = 0; i < m; i++) N[i * m + i] += eps;
    x = choleskySolve(N, m, r);
  }
  if (x === null || !x.every(Number.isFinite)) {
    for (const t of idx) alpha[t] = 1 / idx.length;
    return alpha;
  }
  let sum = 0;
  for (let j = 0; j < m; j++) {
    alpha[idx[j + 1]] = x[j];
    sum += x[j];
  }
  alpha[idx[0]] = 1 - sum;
  return alpha;
}

// ---------------------------------------------------------------------------------------------
// Nash-MTL
// ---------------------------------------------------------------------------------------------

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
  const scale = maxDiagonal(S, T);
  const idx: number[] = [];
  for (let t = 0; t < T; t++) if (scale > 0 && S[t * T + t] > ZERO_REL * scale) idx.push(t);
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

// ---------------------------------------------------------------------------------------------
// Aligned-MTL
// ---------------------------------------------------------------------------------------------

/**
 * Aligned-MTL's alignment matrix B (Senushkin et al. 2023, "Independent Component Alignment for
 * Multi-Task Learning", Algorithm 1), as in LibMTL's `Aligned_MTL`: with K = V Λ Vᵀ (eigenvalues
 * sorted descending, truncated to the numerical rank r: λ > λ_max · T · ε_float32, LibMTL's
 * tolerance with torch's default float32 eps),
 *   B = √λ_r · V_r Λ_r^{-1/2} V_rᵀ,
 * so that the aligned gradients g'_i = Σ_t B[i][t] g_t have Gram B K Bᵀ = λ_r V_r V_rᵀ: equal
 * norms √λ_r, mutually orthogonal (condition number 1) on the span of the gradients, scaled by
 * the smallest singular value. Uses the Jacobi eigensolver of ./linalg.ts.
 * All-zero K (rank 0, where LibMTL would index an empty tensor) gives B = I.
 */
export function alignedMtlMatrix(K: Gram, T: number): Float64Array {
  const S = checkGram('alignedMtlMatrix', K, T);
  const { values, vectors } = jacobiEigen(S, T);
  const lmax = values[T - 1];
  const tol = lmax * T * FLOAT32_EPS;
  const kept: number[] = [];
  for (let k = T - 1; k >= 0; k--) if (values[k] > tol && values[k] > 0) kept.push(k);
  const B = new Float64Array(T * T);
  if (kept.length === 0) {
    for (let t = 0; t < T; t++) B[t * T + t] = 1;
    return B;
  }
  const lr = values[kept[kept.length - 1]];
  const sr = Math.sqrt(lr);
  for (const k of kept) {
    const w = sr / Math.sqrt(values[k]);
    for (let i = 0; i < T; i++) {
      const vi = vectors[i * T + k] * w;
      if (vi === 0) continue;
      for (let j = 0; j < T; j++) B[i * T + j] += vi * vectors[j * T + k];
    }
  }
  return B;
}

/**
 * Aligned-MTL coefficients: α = column sums of `alignedMtlMatrix` (LibMTL's `B.sum(0)`), i.e.
 * d = Σ_i g'_i, the sum of the aligned gradients. For orthogonal gradients of equal norm B = I
 * and α = 1 (plain summation). All-zero K gives α = 1.
 */
export function alignedMtlCoefficients(K: Gram, T: number): Float64Array {
  return columnSums(alignedMtlMatrix(K, T), T);
}

// ---------------------------------------------------------------------------------------------
// UPGrad
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// GradVac
// ---------------------------------------------------------------------------------------------

/**
 * GradVac's checkpointable state: a plain object (a type alias, so it is assignable to
 * `Record<string, unknown>` and can be merged into a strategy's state) with prefixed keys.
 */
export type GradVacState = {
  /** Row-major T×T EMA targets φ̂_ij of cos(g_i, g_j) (the diagonal is unused). */
  gradvacTargets: number[];
};

/**
 * GradVac (Wang et al. 2021, "Gradient Vaccine: Investigating and Improving Multi-task
 * Optimization in Massively Multilingual Models", Algorithm 1), whole-model granularity
 * (LibMTL's `GradVac_group_type` 0). State: EMA targets φ̂_ij, initially 0. Each step, for each
 * task i and the other tasks j in a random order: with φ_ij = cos(g_i^GV, g_j) (g_i^GV the
 * current, partially modified gradient of task i),
 *   if φ_ij < φ̂_ij:  g_i^GV ← g_i^GV + w g_j,
 *     w = ‖g_i^GV‖ (φ̂_ij √(1 − φ_ij²) − φ_ij √(1 − φ̂_ij²)) / (‖g_j‖ √(1 − φ̂_ij²)),
 *   which sets cos(g_i^GV, g_j) to exactly φ̂_ij;
 *   φ̂_ij ← (1 − β) φ̂_ij + β φ_ij.
 * Then d = Σ_i g_i^GV. Everything is tracked as a coefficient matrix over the Gram, as PCGrad.
 *
 * Difference from LibMTL: LibMTL's code updates the EMA only inside the `if φ < φ̂` branch (so
 * targets start at 0 and can only decrease, and GradVac degenerates towards PCGrad); this
 * follows the paper's Algorithm 1 and updates every pair every step. LibMTL adds 1e-8 to the
 * cosine's and w's denominators; here a zero-norm gradient gives φ = 0 and skips the
 * adjustment, as does a target |φ̂| = 1 (no finite w reaches it).
 */
export class GradVac {
  readonly T: number;
  readonly beta: number;
  private targets: Float64Array;

  constructor(T: number, beta = 0.5) {
    this.T = expectInt('GradVac: T', T, 1);
    this.beta = expectNumber('GradVac: beta', beta, 0, 1);
    this.targets = new Float64Array(T * T);
  }

  /**
   * One GradVac step: returns C with g_i^GV = Σ_k C[i][k] g_k, and updates the EMA targets.
   */
  coefficientMatrix(K: Gram, T: number, rng: Rng): Float64Array {
    const S = checkGram('GradVac.coefficients', K, T);
    if (T !== this.T) {
      throw new ShapeError(`Expected GradVac.coefficients: T = ${this.T} (the number of tasks it was built for) but received ${T}`);
    }
    const scale = maxDiagonal(S, T);
    const C = new Float64Array(T * T);
    for (let i = 0; i < T; i++) C[i * T + i] = 1;
    const row = new Float64Array(T);
    for (let i = 0; i < T; i++) {
      const order: number[] = [];
      for (let j = 0; j < T; j++) if (j !== i) order.push(j);
      rng.shuffle(order);
      for (const j of order) {
        for (let k = 0; k < T; k++) row[k] = C[i * T + k];
        let dot = 0;
        for (let k = 0; k < T; k++) dot += row[k] * S[k * T + j];
        const ni = Math.sqrt(Math.max(quadForm(S, T, row), 0));
        const nj = Math.sqrt(Math.max(S[j * T + j], 0));
        const live = scale > 0 && ni * ni > ZERO_REL * scale && nj * nj > ZERO_REL * scale;
        let phi = live ? dot / (ni * nj) : 0;
        phi = Math.min(1, Math.max(-1, phi));
        const target = this.targets[i * T + j];
        if (live && phi < target) {
          const st = Math.sqrt(Math.max(1 - target * target, 0));
          if (st > 1e-12) {
            const w = (ni * (target * Math.sqrt(Math.max(1 - phi * phi, 0)) - phi * st)) / (nj * st);
            C[i * T + j] += w;
          }
        }
        this.targets[i * T + j] = (1 - this.beta) * target + this.beta * phi;
      }
    }
    return C;
  }

  /** One GradVac step's coefficients α = column sums of `coefficientMatrix` (d = Σ_i g_i^GV). */
  coefficients(K: Gram, T: number, rng: Rng): Float64Array {
    return columnSums(this.coefficientMatrix(K, T, rng), T);
  }

  /** The EMA targets, for checkpoints. */
  getState(): GradVacState {
    return { gradvacTargets: Array.from(this.targets) };
  }

  /**
   * Restores `getState()` output. Other keys in `state` are ignored, so a strategy may merge this
   * state into its own; the targets must be T² numbers in [−1, 1] (CheckpointError naming the
   * key under `where` otherwise).
   */
  setState(state: Record<string, unknown>, where = 'GradVac state'): void {
    const s = stateObject(state, where);
    this.targets = Float64Array.from(stateNumbers(s.gradvacTargets, `${where}.gradvacTargets`, this.T * this.T, { min: -1, max: 1 }));
  }
}
