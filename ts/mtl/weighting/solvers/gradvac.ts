/**
 * GradVac (Wang et al. 2021): gradient vaccine, EMA targets of the pairwise cosines.
 */
import type { Rng } from '../../../core/random.js';
import { stateNumbers, stateObject } from '../../../core/state.js';
import { ShapeError, expectInt, expectNumber } from '../../../errors.js';
import { quadForm } from '../linalg.js';
import { type Gram, ZERO_REL, checkGram, columnSums, maxDiagonal } from './gram.js';

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
 * The EMA update of every pair every step follows the paper's Algorithm 1, current LibMTL
 * (`LibMTL/weighting/GradVac.py` since its commit "fix a bug in GradVac", 2024-02-15; before it,
 * LibMTL updated the EMA only inside the `if φ < φ̂` branch, so its targets started at 0 and
 * could only decrease, and GradVac degenerated towards PCGrad) and TorchJD's `GradVacWeighting`
 * (which also works on the Gram matrix through the coefficient matrix C). One difference
 * remains: both add eps = 1e-8 to the cosine's and w's denominators; here a zero-norm gradient
 * gives φ = 0 and skips the adjustment, as does a target |φ̂| = 1 (no finite w reaches it).
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
