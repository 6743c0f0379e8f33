/**
 * What every gradient-combination solver shares: the Gram matrix type, its validation, and the
 * small helpers over it (the largest squared norm, the tasks whose gradient is not zero, the
 * uniform weights, and the column sums that turn a coefficient matrix C into α).
 */
import { ShapeError, ValueError, describe, expectInt } from '../../../errors.js';
import { symmetrize } from '../linalg.js';

/** A row-major T×T Gram matrix K[i·T + j] = g_i·g_j. */
export type Gram = Float64Array;

/** A task's gradient counts as zero when K_tt ≤ ZERO_REL · max_s K_ss (‖g_t‖ ≤ 1e-10·max‖g_s‖). */
export const ZERO_REL = 1e-20;

/** Validates (K, T) and returns the symmetric part of K as a fresh array. */
export function checkGram(fn: string, K: unknown, T: unknown): Float64Array {
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

/** The largest diagonal entry of S (max_t ‖g_t‖²; 0 for an all-zero Gram). */
export function maxDiagonal(S: Float64Array, T: number): number {
  let m = 0;
  for (let t = 0; t < T; t++) m = Math.max(m, S[t * T + t]);
  return m;
}

/**
 * The tasks whose gradient is not zero (K_tt > ZERO_REL · max_s K_ss), in order; none when K is
 * all zero.
 */
export function nonZeroTasks(S: Float64Array, T: number): number[] {
  const scale = maxDiagonal(S, T);
  const idx: number[] = [];
  for (let t = 0; t < T; t++) if (scale > 0 && S[t * T + t] > ZERO_REL * scale) idx.push(t);
  return idx;
}

/** A length-T array filled with `value` (default 1/T: the mean weights). */
export function uniform(T: number, value = 1 / T): Float64Array {
  return new Float64Array(T).fill(value);
}

/** α_k = Σ_i C[i][k]: the coefficients of Σ_i (modified gradient i). */
export function columnSums(C: Float64Array, T: number): Float64Array {
  const a = new Float64Array(T);
  for (let i = 0; i < T; i++) for (let k = 0; k < T; k++) a[k] += C[i * T + k];
  return a;
}
