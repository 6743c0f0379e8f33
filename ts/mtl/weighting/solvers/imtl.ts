/**
 * IMTL-G (Liu et al. 2021): the combination with equal projections onto every unit gradient.
 */
import { choleskySolve, luSolve } from '../linalg.js';
import { type Gram, checkGram, nonZeroTasks, uniform } from './gram.js';

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
  const idx = nonZeroTasks(S, T);
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
