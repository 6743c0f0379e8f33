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
 * One file per method (mgda.ts, pcgrad.ts, cagrad.ts, imtl.ts, nash-mtl.ts, aligned-mtl.ts,
 * upgrad.ts, gradvac.ts); what they share (the Gram type, its validation, the zero-gradient
 * threshold) is in gram.ts, the dense linear algebra in ../linalg.ts.
 *
 * References for semantics and defaults: LibMTL (Lin & Zhang, `LibMTL/weighting/*.py`) and
 * TorchJD (`torchjd.aggregation`). Where a method differs from them its file says so, and why.
 */
export { type Gram, columnSums } from './gram.js';
export {
  type MgdaNormalisation,
  type MgdaOptions,
  type MinNormOptions,
  mgdaCoefficients,
  mgdaNormalisation,
  minNorm2,
  minNormCoefficients,
} from './mgda.js';
export { pcgradCoefficients, pcgradMatrix } from './pcgrad.js';
export { type CagradOptions, cagradCoefficients } from './cagrad.js';
export { imtlCoefficients } from './imtl.js';
export { type NashMtlOptions, nashMtlCoefficients } from './nash-mtl.js';
export { alignedMtlCoefficients, alignedMtlMatrix } from './aligned-mtl.js';
export { type UpgradOptions, upgradCoefficients } from './upgrad.js';
export { GradVac, type GradVacState } from './gradvac.js';
