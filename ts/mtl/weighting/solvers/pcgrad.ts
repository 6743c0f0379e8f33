/**
 * PCGrad (Yu et al. 2020): gradient surgery, tracked as a coefficient matrix over the Gram.
 */
import type { Rng } from '../../../core/random.js';
import { type Gram, ZERO_REL, checkGram, columnSums, maxDiagonal } from './gram.js';

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
