/**
 * The weighting strategies by name (the names the CLI's --weighting takes), and the spec
 * syntax "name" or "name:key=value,key=value" (e.g. "cagrad:c=0.4,space=representation").
 */
import { checkKeys, nameTable, ownEntry } from '../../core/options.js';
import { ConfigError, describe } from '../../errors.js';
import { GRADIENT_STRATEGIES } from './gradient-based.js';
import {
  DwaWeighting,
  EqualWeighting,
  type FamoDelta,
  FamoWeighting,
  FixedWeighting,
  GlsWeighting,
  RlwWeighting,
  UncertaintyWeighting,
} from './loss-based.js';
import type { WeightingContext, WeightingEntry, WeightingStrategy } from './strategy.js';

/** A strategy's options by key ("c", "space", "alpha", ...); each strategy checks its own keys (ConfigError for an unknown one). */
export type WeightingOptions = Record<string, string | number | boolean>;
/** A weighting strategy by name with its options: the object form of "name:key=value,...". */
export interface WeightingSpec {
  /** A name of {@link WEIGHTINGS} ("fixed", "uncertainty", "pcgrad", ...). */
  name: string;
  /** The strategy's options (default: none, its defaults). */
  options?: WeightingOptions;
}

const num = (opts: WeightingOptions, key: string): number | undefined => {
  const v = opts[key];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new ConfigError(`weighting option ${key} must be a number, got ${describe(v)}`);
  return n;
};

/** The strategies by name (a table without a prototype: "constructor" is no strategy). */
export const WEIGHTINGS: Record<string, WeightingEntry> = nameTable({
  equal: { description: 'every task weighted 1', options: [], create: (ctx) => new EqualWeighting(ctx) },
  fixed: { description: "the tasks' own weights (default)", options: [], create: (ctx) => new FixedWeighting(ctx) },
  uncertainty: {
    description: 'learned log-variances (Kendall et al. 2018)',
    options: [],
    create: (ctx) => new UncertaintyWeighting(ctx),
  },
  dwa: {
    description: 'dynamic weight average (Liu et al. 2019); option temperature (2)',
    options: ['temperature'],
    create: (ctx, o) => new DwaWeighting(ctx, { temperature: num(o, 'temperature') }),
  },
  rlw: { description: 'random loss weighting (Lin et al. 2022)', options: [], create: (ctx) => new RlwWeighting(ctx) },
  gls: { description: 'geometric mean of the losses (Chennupati et al. 2019)', options: [], create: (ctx) => new GlsWeighting(ctx) },
  famo: {
    description:
      'fast adaptive multitask optimisation (Liu et al. 2023); options lr (0.025), decay (0.001), delta (same-batch: one extra forward per step, as the authors; or next-batch)',
    options: ['lr', 'decay', 'delta'],
    create: (ctx, o) => new FamoWeighting(ctx, { lr: num(o, 'lr'), decay: num(o, 'decay'), delta: o.delta as FamoDelta | undefined }),
  },
  ...GRADIENT_STRATEGIES,
});

/** Parses "name" or "name:key=value,...". */
export function parseWeightingSpec(text: string): WeightingSpec {
  if (typeof text !== 'string') throw new ConfigError(`Expected a weighting spec string like "dwa:temperature=2" but received ${describe(text)}`);
  const [name, rest] = text.split(/:(.*)/s, 2);
  const options: WeightingOptions = {};
  if (rest) {
    for (const part of rest.split(',')) {
      const m = /^\s*([A-Za-z][\w-]*)\s*=\s*(\S+)\s*$/.exec(part);
      if (!m) throw new ConfigError(`Expected key=value options after "${name}:" but received ${JSON.stringify(part)}`);
      const v = m[2];
      options[m[1]] = v === 'true' ? true : v === 'false' ? false : Number.isFinite(Number(v)) ? Number(v) : v;
    }
  }
  return { name: name.trim(), options };
}

/**
 * Creates a strategy from a name, a "name:options" string or a { name, options } object.
 * ConfigError for an unknown name, and for an option key the strategy does not take (both
 * forms: "dwa:tempreture=5" and { name: 'dwa', options: { tempreture: 5 } }), naming the keys
 * it takes.
 */
export function createWeighting(spec: string | WeightingSpec, ctx: WeightingContext): WeightingStrategy {
  const s = typeof spec === 'string' ? parseWeightingSpec(spec) : (checkKeys(spec, ['name', 'options'], 'weighting') as Partial<WeightingSpec>);
  const entry = ownEntry(WEIGHTINGS, s.name);
  if (!entry) {
    throw new ConfigError(`Unknown weighting ${describe(s.name)}; expected one of ${Object.keys(WEIGHTINGS).join(', ')}`);
  }
  const options = checkKeys(s.options ?? {}, entry.options, `the options of weighting ${s.name}`);
  for (const [key, v] of Object.entries(options)) {
    if (v !== undefined && typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
      throw new ConfigError(`Expected a number, string or boolean for option ${key} of weighting ${s.name} but received ${describe(v)}`);
    }
  }
  return entry.create(ctx, options as WeightingOptions);
}

export { WeightingStrategy } from './strategy.js';
export type { WeightingContext, WeightingEntry } from './strategy.js';
export { WeightedStep } from './step.js';
export { PerTaskGradients, GRADIENT_SPACES } from './per-task-gradients.js';
export type { GradientSpace } from './per-task-gradients.js';
