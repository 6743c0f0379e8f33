/**
 * Gradient-based weighting strategies. Each turns the Gram matrix of the per-task gradients
 * (per-task-gradients.ts) into coefficients α of the combined gradient Σ α_t·g_t with a
 * solver of solvers/ (one file per method). The option `space` chooses where the task
 * gradients are taken: 'parameters' (the shared trunk's parameters, one trunk backward per
 * task; LibMTL's default) or 'representation' (the trunk output, one backward in all;
 * MGDA-UB's upper bound).
 */
import type { Backend, Tensor } from '../../backends/backend.js';
import { stateNumber, stateNumbers } from '../../core/state.js';
import { ConfigError, describe } from '../../errors.js';
import { GRADIENT_SPACES, type GradientSpace } from './per-task-gradients.js';
import {
  GradVac,
  type MgdaNormalisation,
  alignedMtlCoefficients,
  cagradCoefficients,
  imtlCoefficients,
  mgdaCoefficients,
  nashMtlCoefficients,
  pcgradCoefficients,
  upgradCoefficients,
} from './solvers/index.js';
import { type WeightingContext, type WeightingEntry, WeightingStrategy } from './strategy.js';

type Options = Record<string, string | number | boolean>;

/** A strategy whose coefficients come from `solve(K, T, losses)`. */
export class GradientWeighting extends WeightingStrategy {
  readonly mode: GradientSpace;

  constructor(
    ctx: WeightingContext,
    readonly name: string,
    space: GradientSpace,
    private readonly solve: (gram: Float64Array, T: number, losses: Float32Array) => Float64Array,
    private readonly stateful?: { getState(): Record<string, unknown>; setState(s: Record<string, unknown>, where: string): void },
  ) {
    super(ctx);
    this.mode = space;
  }

  override combine(gram: Float64Array, losses: Float32Array): Float64Array {
    return this.solve(gram, this.ctx.tasks.length, losses);
  }

  override getState(): Record<string, unknown> {
    return { ...super.getState(), ...(this.stateful?.getState() ?? {}) };
  }

  override setState(state: Record<string, unknown>, where = 'training.weighting.state'): void {
    super.setState(state, where);
    this.stateful?.setState(state, where);
  }
}

function space(opts: Options, dflt: GradientSpace): GradientSpace {
  const s = opts.space ?? dflt;
  if (!GRADIENT_SPACES.includes(s as GradientSpace)) {
    throw new ConfigError(`Expected space=${GRADIENT_SPACES.join(' or space=')} but received ${describe(s)}`);
  }
  return s as GradientSpace;
}

function number(opts: Options, key: string, dflt: number, min = -Infinity, max = Infinity): number {
  const v = opts[key] ?? dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || n > max) {
    throw new ConfigError(`Expected a number in [${min}, ${max}] for weighting option ${key} but received ${describe(v)}`);
  }
  return n;
}

const NORMALISATIONS: readonly MgdaNormalisation[] = ['none', 'l2', 'loss', 'loss+'];

/** MGDA: the min-norm point of the convex hull of the (normalised) task gradients. */
function mgda(ctx: WeightingContext, opts: Options, dflt: GradientSpace, name: string): GradientWeighting {
  const norm = (opts.normalisation ?? opts.normalization ?? 'loss+') as MgdaNormalisation;
  if (!NORMALISATIONS.includes(norm)) {
    throw new ConfigError(`Expected normalisation ${NORMALISATIONS.join(', ')} for ${name} but received ${describe(norm)}`);
  }
  // As Sener & Koltun's code (LibMTL instead combines the normalised gradients): the
  // normalisation only shapes the solve, and α then weighs the raw task gradients.
  return new GradientWeighting(ctx, name, space(opts, dflt), (K, T, losses) =>
    mgdaCoefficients(K, T, { normalisation: norm, losses, combine: 'raw' }),
  );
}

export class GradNormWeighting extends WeightingStrategy {
  readonly name = 'gradnorm';
  readonly mode: GradientSpace;
  readonly alpha: number;
  readonly lr: number;
  readonly weights: Float64Array;
  private initial: Float64Array | null = null;

  constructor(ctx: WeightingContext, opts: Options = {}) {
    super(ctx);
    this.mode = space(opts, 'parameters');
    this.alpha = number(opts, 'alpha', 1.5, 0);
    this.lr = number(opts, 'lr', ctx.lr, 0);
    this.weights = new Float64Array(ctx.tasks.length).fill(1);
  }

  override combine(gram: Float64Array, losses: Float32Array): Float64Array {
    const T = this.weights.length;
    const used = Float64Array.from(this.weights);
    const norms = Float64Array.from({ length: T }, (_, t) => Math.sqrt(Math.max(0, gram[t * T + t])));
    if (!this.initial) this.initial = Float64Array.from(losses, (l) => Math.max(l, 1e-12));
    const ratio = Float64Array.from(losses, (l, t) => l / this.initial![t]);
    const meanRatio = ratio.reduce((a, b) => a + b, 0) / T;
    const G = norms.map((n, t) => used[t] * n);
    const meanG = G.reduce((a, b) => a + b, 0) / T;
    for (let t = 0; t < T; t++) {
      const target = meanG * Math.pow(ratio[t] / Math.max(meanRatio, 1e-12), this.alpha);
      this.weights[t] = Math.max(1e-6, this.weights[t] - this.lr * Math.sign(G[t] - target) * norms[t]);
    }
    const sum = this.weights.reduce((a, b) => a + b, 0);
    this.weights.forEach((w, t) => (this.weights[t] = (T * w) / sum));
    return used;
  }

  override getState(): Record<string, unknown> {
    return { ...super.getState(), weights: Array.from(this.weights), initial: this.initial && Array.from(this.initial) };
  }

  override setState(state: Record<string, unknown>, where = 'training.weighting.state'): void {
    super.setState(state, where);
    const T = this.weights.length;
    this.weights.set(stateNumbers(state.weights, `${where}.weights`, T, { min: 1e-12 }));
    this.initial = state.initial === null ? null : Float64Array.from(stateNumbers(state.initial, `${where}.initial`, T, { min: 1e-12 }));
  }
}

/**
 * GradDrop (Chen et al. 2020): at the shared representation, each element of the combined
 * gradient keeps only the tasks' contributions of one sign, chosen at random with probability
 * P = ½(1 + Σ g/Σ|g|) for the positive sign (the gradients' sign purity); `leak` (0) lets a
 * fraction of every gradient through. Works on the backend (Backend.gradDrop) with a per-step
 * seed: no Gram matrix, no readback beyond the T losses. Representation space only, as LibMTL.
 */
export class GradDropWeighting extends WeightingStrategy {
  readonly name = 'graddrop';
  readonly mode = 'representation';
  readonly leak: number;
  override readonly combineOnDevice = (be: Backend, g: Tensor, out: Tensor, seed: number): void =>
    be.gradDrop(g, out, seed, this.leak);

  constructor(ctx: WeightingContext, opts: Options = {}) {
    super(ctx);
    if (opts.space !== undefined && opts.space !== 'representation') {
      throw new ConfigError('graddrop works at the shared representation only (space=representation)');
    }
    this.leak = number(opts, 'leak', 0, 0, 1);
    this.current.fill(1);
  }
}

/**
 * DB-MTL, dual-balancing MTL (Lin et al. 2023), as LibMTL implements it: losses are
 * log-transformed (the per-task gradients are those of log L_t, i.e. ∇L_t / L_t: the fused
 * loss applies weights 1/L_t); each task's shared-parameter gradient is averaged over steps,
 * ĝ_t ← c·ĝ_t + (1 − c)·g_t with c = β / step^σ (β 0.9, σ 0.5), in a [T, P] buffer on the
 * backend (one GEMM); the update is Σ_t α_t·ĝ_t with α_t = max_s ‖ĝ_s‖ / ‖ĝ_t‖ (every task's
 * averaged gradient scaled up to the largest norm). Parameter space only.
 */
export class DbMtlWeighting extends WeightingStrategy {
  readonly name = 'db-mtl';
  readonly mode = 'parameters';
  override readonly needsCurrentLosses = true;
  readonly beta: number;
  readonly sigma: number;
  private average: Tensor | null = null;
  private mix: Tensor | null = null;
  private readonly mixHost: Float32Array;
  private steps = 0;

  constructor(ctx: WeightingContext, opts: Options = {}) {
    super(ctx);
    if (opts.space !== undefined && opts.space !== 'parameters') {
      throw new ConfigError('db-mtl averages shared-parameter gradients across steps: space=parameters only');
    }
    this.beta = number(opts, 'beta', 0.9, 0, 1);
    this.sigma = number(opts, 'sigma', 0.5, 0);
    const T = ctx.tasks.length;
    this.mixHost = new Float32Array(T * T);
  }

  override fromCurrentLosses(losses: Float32Array): void {
    losses.forEach((l, t) => (this.lossWeights[t] = l > 0 ? 1 / (l + 1e-8) : 0));
  }

  override readonly transformGradients = (be: Backend, g: Tensor): Tensor => {
    const T = this.ctx.tasks.length;
    this.average ??= be.alloc([...g.shape]);
    this.mix ??= be.alloc([T, T]);
    this.steps++;
    const c = this.beta / Math.pow(this.steps, this.sigma);
    for (let t = 0; t < T; t++) this.mixHost[t * T + t] = 1 - c;
    be.write(this.mix, this.mixHost);
    be.gemm(this.mix, g, this.average, { beta: c }); // ĝ ← c·ĝ + (1 − c)·g
    return this.average;
  };

  override combine(gram: Float64Array): Float64Array {
    const T = this.ctx.tasks.length;
    const norms = Float64Array.from({ length: T }, (_, t) => Math.sqrt(Math.max(0, gram[t * T + t])));
    const max = Math.max(...norms);
    return norms.map((u) => (u > 0 ? max / (u + 1e-8) : 0));
  }

  override getState(): Record<string, unknown> {
    // The gradient average lives on the backend and restarts on resume (it decays fast).
    return { ...super.getState(), steps: this.steps };
  }

  override setState(state: Record<string, unknown>, where = 'training.weighting.state'): void {
    super.setState(state, where);
    this.steps = stateNumber(state.steps, `${where}.steps`, { integer: true, min: 0 });
  }
}

const MGDA_OPTIONS = ['normalisation', 'normalization', 'space'];
const SPACE = ['space'];

export const GRADIENT_STRATEGIES: Record<string, WeightingEntry> = {
  mgda: {
    description: 'min-norm convex combination (Sener & Koltun 2018); options normalisation (loss+), space (parameters)',
    options: MGDA_OPTIONS,
    create: (ctx, o) => mgda(ctx, o, 'parameters', 'mgda'),
  },
  'mgda-ub': {
    description: 'MGDA at the shared representation: one backward pass (Sener & Koltun 2018)',
    options: MGDA_OPTIONS,
    create: (ctx, o) => mgda(ctx, o, 'representation', 'mgda-ub'),
  },
  pcgrad: {
    description: 'project conflicting gradients (Yu et al. 2020); option space (parameters)',
    options: SPACE,
    create: (ctx, o) => new GradientWeighting(ctx, 'pcgrad', space(o, 'parameters'), (K, T) => pcgradCoefficients(K, T, ctx.rng)),
  },
  cagrad: {
    description: 'conflict-averse gradient descent (Liu et al. 2021); options c (0.5), space',
    options: ['c', 'space'],
    create: (ctx, o) => {
      const c = number(o, 'c', 0.5, 0);
      return new GradientWeighting(ctx, 'cagrad', space(o, 'parameters'), (K, T) => cagradCoefficients(K, T, c));
    },
  },
  imtl: {
    description: 'impartial MTL, gradient part IMTL-G (Liu et al. 2021); option space',
    options: SPACE,
    create: (ctx, o) => new GradientWeighting(ctx, 'imtl', space(o, 'parameters'), (K, T) => imtlCoefficients(K, T)),
  },
  'nash-mtl': {
    description: 'Nash bargaining solution Kα = 1/α (Navon et al. 2022); option space',
    options: SPACE,
    create: (ctx, o) => new GradientWeighting(ctx, 'nash-mtl', space(o, 'parameters'), (K, T) => nashMtlCoefficients(K, T)),
  },
  'aligned-mtl': {
    description: 'aligned gradients, condition number 1 (Senushkin et al. 2023); option space',
    options: SPACE,
    create: (ctx, o) => new GradientWeighting(ctx, 'aligned-mtl', space(o, 'parameters'), (K, T) => alignedMtlCoefficients(K, T)),
  },
  upgrad: {
    description: 'unconflicting projection of gradients (TorchJD UPGrad); option space',
    options: SPACE,
    create: (ctx, o) => new GradientWeighting(ctx, 'upgrad', space(o, 'parameters'), (K, T) => upgradCoefficients(K, T)),
  },
  gradnorm: {
    description: 'gradient normalisation with learned weights (Chen et al. 2018); options alpha (1.5), lr, space',
    options: ['alpha', 'lr', 'space'],
    create: (ctx, o) => new GradNormWeighting(ctx, o),
  },
  'db-mtl': {
    description: 'dual-balancing: log-losses, averaged gradients scaled to the largest norm (Lin et al. 2023); options beta (0.9), sigma (0.5)',
    options: ['beta', 'sigma', 'space'],
    create: (ctx, o) => new DbMtlWeighting(ctx, o),
  },
  graddrop: {
    description: 'random sign-consistent gradient dropout at the representation (Chen et al. 2020); option leak (0)',
    options: ['leak', 'space'],
    create: (ctx, o) => new GradDropWeighting(ctx, o),
  },
  gradvac: {
    description: 'gradient vaccine, EMA cosine targets (Wang et al. 2021); options beta (0.5), space',
    options: ['beta', 'space'],
    create: (ctx, o) => {
      const vac = new GradVac(ctx.tasks.length, number(o, 'beta', 0.5, 0, 1));
      return new GradientWeighting(ctx, 'gradvac', space(o, 'parameters'), (K, T) => vac.coefficients(K, T, ctx.rng), vac);
    },
  },
};
