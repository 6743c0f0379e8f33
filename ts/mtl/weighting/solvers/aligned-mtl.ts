/**
 * Aligned-MTL (Senushkin et al. 2023): the gradients aligned to equal norms and mutual
 * orthogonality on their span.
 */
import { jacobiEigen } from '../linalg.js';
import { type Gram, checkGram, columnSums } from './gram.js';

/** float32 machine epsilon (torch.finfo(torch.float32).eps), used by Aligned-MTL's rank cut. */
const FLOAT32_EPS = 1.1920928955078125e-7;

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
