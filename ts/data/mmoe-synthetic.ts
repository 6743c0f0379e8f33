/**
 * The synthetic two-task regression benchmark of Ma et al. (2018), "Modeling Task Relationships
 * in Multi-task Learning with Multi-gate Mixture-of-Experts" (KDD 2018), whose task correlation
 * ρ is a knob:
 *
 *   μ1, μ2: orthogonal unit vectors in R^d (d = 100); c = 0.3;
 *   w1 = c·μ1, w2 = c·(ρ·μ1 + √(1 − ρ²)·μ2), so cos(w1, w2) = ρ exactly;
 *   α_i, β_i ~ N(0, 1), i = 1..m (m = 5), shared by both tasks;
 *   x ~ N(0, I_d);  y_k = w_kᵀx + Σ_i sin(α_i·w_kᵀx + β_i) + ε_k.
 *
 * The paper writes ε ~ N(0, 0.01); we read the second parameter as a variance, as in the usual
 * N(μ, σ²) notation: ε has standard deviation 0.1. (Some public re-implementations draw it with
 * standard deviation 0.01; either is small beside the signal, whose variance is about 2.5.)
 * Because x ~ N(0, I), the linear parts w1ᵀx and w2ᵀx have Pearson correlation exactly ρ in the
 * population (cov = w1ᵀw2 = c²ρ, variances c²); a sample's correlation is ρ up to sampling error.
 * The full targets' correlation (sines included) is not exactly ρ, but grows with it.
 *
 * `seed` fixes the two tasks (μ1, μ2, α, β) and the samples; draw one dataset of train + test
 * samples and split it with {@link MultiTaskDataset.slice}, so both halves share the same tasks.
 */
import { checkKeys } from '../core/options.js';
import { Rng, hash32 } from '../core/random.js';
import { ValueError, expectInt, expectNumber } from '../errors.js';
import { MultiTaskDataset } from './dataset.js';

/** The scale c of both task vectors (Ma et al. 2018). */
export const MMOE_SYNTHETIC_SCALE = 0.3;
/** The number m of sine terms (Ma et al. 2018). */
export const MMOE_SYNTHETIC_SINES = 5;
/** The noise's standard deviation: √0.01 (see the file's comment). */
export const MMOE_SYNTHETIC_NOISE_STD = 0.1;
/** Stream ids: the tasks' parameters and the samples come from separate generators. */
const TASK_STREAM = 0x7461736b;
const SAMPLE_STREAM = 0x73616d70;

/** Options of {@link makeMmoeSynthetic}. */
export interface MmoeSyntheticOptions {
  /** The task correlation ρ in [−1, 1]: the cosine between w1 and w2. */
  rho: number;
  /** Samples to draw (train and test together; split with `slice`). */
  n: number;
  /** Seed of the tasks (μ1, μ2, α, β) and of the samples. Same seed, same dataset. Default 0. */
  seed?: number;
  /** Input dimension d (≥ 2 for two orthogonal vectors). Default 100, as in the paper. */
  d?: number;
}

/** The two tasks of one {@link makeMmoeSynthetic} draw: what the labels are computed from. */
export interface MmoeSyntheticTasks {
  /** Task 1's vector w1 = c·μ1 (length d). */
  w1: Float64Array;
  /** Task 2's vector w2 = c·(ρμ1 + √(1 − ρ²)μ2) (length d). */
  w2: Float64Array;
  /** The m sine frequencies α_i, shared by both tasks. */
  alpha: Float64Array;
  /** The m sine phases β_i, shared by both tasks. */
  beta: Float64Array;
}

function checkOptions(options: MmoeSyntheticOptions): { rho: number; n: number; seed: number; d: number } {
  checkKeys(options, ['rho', 'n', 'seed', 'd'], 'makeMmoeSynthetic options');
  const rho = expectNumber('rho', options.rho, -1, 1);
  const n = expectInt('n', options.n);
  const seed = expectInt('seed', options.seed ?? 0, 0);
  const d = expectInt('d', options.d ?? 100, 2);
  if (n * d > 0x7fffffff) throw new ValueError(`Expected n × d ≤ 2^31 − 1 input values but received n ${n} × d ${d}`);
  return { rho, n, seed, d };
}

/**
 * The task vectors and sine parameters that `makeMmoeSynthetic` with the same rho, seed and d
 * labels its samples with (for tests and for reading what a benchmark learned).
 * @throws ValueError on a bad rho, seed or d; ConfigError on an unknown option.
 */
export function mmoeSyntheticTasks(options: Omit<MmoeSyntheticOptions, 'n'>): MmoeSyntheticTasks {
  const { rho, seed, d } = checkOptions({ ...options, n: 1 });
  const rng = new Rng(hash32(seed, TASK_STREAM));
  const mu1 = new Float64Array(d);
  const mu2 = new Float64Array(d);
  for (let i = 0; i < d; i++) mu1[i] = rng.normal();
  for (let i = 0; i < d; i++) mu2[i] = rng.normal();
  normalise(mu1);
  // Gram-Schmidt: μ2 ⟂ μ1, then unit length.
  const dot = dotProduct(mu1, mu2);
  for (let i = 0; i < d; i++) mu2[i] -= dot * mu1[i];
  normalise(mu2);
  const c = MMOE_SYNTHETIC_SCALE;
  const s = Math.sqrt(Math.max(0, 1 - rho * rho));
  const w1 = new Float64Array(d);
  const w2 = new Float64Array(d);
  for (let i = 0; i < d; i++) {
    w1[i] = c * mu1[i];
    w2[i] = c * (rho * mu1[i] + s * mu2[i]);
  }
  const alpha = new Float64Array(MMOE_SYNTHETIC_SINES);
  const beta = new Float64Array(MMOE_SYNTHETIC_SINES);
  for (let i = 0; i < alpha.length; i++) alpha[i] = rng.normal();
  for (let i = 0; i < beta.length; i++) beta[i] = rng.normal();
  return { w1, w2, alpha, beta };
}

/**
 * Ma et al.'s (2018) synthetic data (see the file's comment): n samples of d standard normal
 * features (inputShape [d]) with two regression tasks 'y1' and 'y2' whose linear parts have
 * correlation ρ.
 * @throws ValueError on a rho outside [−1, 1], a non-positive n, a negative seed or d < 2;
 *   ConfigError on an unknown option.
 */
export function makeMmoeSynthetic(options: MmoeSyntheticOptions): MultiTaskDataset {
  const { n, seed, d } = checkOptions(options);
  const { w1, w2, alpha, beta } = mmoeSyntheticTasks({ rho: options.rho, seed, d });
  const rng = new Rng(hash32(seed, SAMPLE_STREAM));
  const inputs = new Float32Array(n * d);
  const y1 = new Float32Array(n);
  const y2 = new Float32Array(n);
  const target = (u: number): number => {
    let sum = u;
    for (let i = 0; i < alpha.length; i++) sum += Math.sin(alpha[i] * u + beta[i]);
    return sum;
  };
  for (let r = 0; r < n; r++) {
    let u1 = 0;
    let u2 = 0;
    for (let i = 0; i < d; i++) {
      const x = Math.fround(rng.normal());
      inputs[r * d + i] = x;
      u1 += w1[i] * x;
      u2 += w2[i] * x;
    }
    y1[r] = target(u1) + MMOE_SYNTHETIC_NOISE_STD * rng.normal();
    y2[r] = target(u2) + MMOE_SYNTHETIC_NOISE_STD * rng.normal();
  }
  return new MultiTaskDataset({ inputs, inputShape: [d], labels: { y1, y2 } });
}

function dotProduct(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

function normalise(v: Float64Array): void {
  const norm = Math.sqrt(dotProduct(v, v));
  for (let i = 0; i < v.length; i++) v[i] /= norm;
}
