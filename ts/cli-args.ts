/**
 * Helpers shared by the hydranet subcommands: flag parsing with typed values and messages that
 * name the flag ("--epochs expects an integer >= 1, got \"zero\""), and JSON files read with
 * errors naming file, line and column. A UsageError makes the command exit with status 2.
 */
import * as fs from 'node:fs';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { locateJsonError } from './data/jsonl.js';
import { ConfigError, HydranetError } from './errors.js';
import type { LayerSpec } from './mtl/model.js';
import type { HeadsConfig } from './nn/heads.js';
import type { OptimizerConfig } from './train/optimizer.js';
import { type Preset, resolvePreset } from './train/presets.js';

/** A bad command line; the CLI prints its message and exits with status 2. */
export class UsageError extends HydranetError {}

type FlagOptions = NonNullable<ParseArgsConfig['options']>;

/** The parsed values of `options`, typed as node:util's parseArgs types them. */
export type FlagValues<O extends FlagOptions> = ReturnType<
  typeof parseArgs<{ args: string[]; options: O; allowNegative: true; strict: true; allowPositionals: false }>
>['values'];

/**
 * Parses `argv` strictly (unknown flags are errors) against `options`. A value that is a
 * negative number may follow its flag as a separate word (`--lr -1`, which node:util's parser
 * calls ambiguous): it is taken as the value, so the flag's own check judges it.
 */
export function parseFlags<const O extends FlagOptions>(argv: readonly string[], options: O): FlagValues<O> {
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      args.push(...argv.slice(i));
      break;
    }
    const next = argv[i + 1];
    const flag = a.startsWith('--') && !a.includes('=') ? options[a.slice(2)] : undefined;
    if (flag?.type === 'string' && next !== undefined && isNegativeNumber(next)) {
      args.push(`${a}=${next}`);
      i++;
    } else {
      args.push(a);
    }
  }
  return parseArgs({ args, options, allowNegative: true, strict: true, allowPositionals: false }).values;
}

/** The flags `hydranet train` and `hydranet compare` share: model, data, optimizer, backend. */
export const SHARED_FLAGS = {
  preset: { type: 'string' },
  hidden: { type: 'string' },
  'head-hidden': { type: 'string' },
  epochs: { type: 'string' },
  'batch-size': { type: 'string' },
  backend: { type: 'string' },
  threads: { type: 'string' },
  seed: { type: 'string' },
  'train-size': { type: 'string' },
  'test-size': { type: 'string' },
  optimizer: { type: 'string' },
  lr: { type: 'string' },
  momentum: { type: 'string' },
  'weight-decay': { type: 'string' },
  progress: { type: 'boolean', default: true },
  help: { type: 'boolean', short: 'h' },
} as const satisfies FlagOptions;

/**
 * A subcommand's flags: SHARED_FLAGS plus its own, parsed as parseFlags does. With --help it
 * prints `help` and returns null.
 */
export function commandFlags<const O extends FlagOptions>(argv: readonly string[], own: O, help: string): FlagValues<typeof SHARED_FLAGS & O> | null {
  const values = parseFlags<typeof SHARED_FLAGS & O>(argv, { ...SHARED_FLAGS, ...own });
  if (!(values as { help?: boolean }).help) return values;
  process.stdout.write(help);
  return null;
}

function isNegativeNumber(word: string): boolean {
  return word.length > 1 && word.startsWith('-') && word.trim() === word && !Number.isNaN(Number(word));
}

/** A flag's value as received, for messages: bare when it reads as a number, else quoted. */
function shown(v: string): string {
  return v.trim() !== '' && !Number.isNaN(Number(v)) ? v : JSON.stringify(v);
}

/** An integer flag >= min, or dflt when absent. */
export function int(name: string, v: string | undefined, dflt: number, min = 1): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n) || n < min) throw new UsageError(`--${name} expects an integer >= ${min}, got ${shown(v)}`);
  return n;
}

/** The values a number flag accepts: 'positive' (> 0), 'non-negative' (>= 0) or 'fraction' (in [0, 1]). */
export type NumberRange = 'positive' | 'non-negative' | 'fraction';

const RANGES: Record<NumberRange, { test: (n: number) => boolean; words: string }> = {
  positive: { test: (n) => n > 0, words: 'a positive number' },
  'non-negative': { test: (n) => n >= 0, words: 'a non-negative number' },
  fraction: { test: (n) => n >= 0 && n <= 1, words: 'a number in [0, 1]' },
};

/** A finite number flag in `range` (default non-negative), or dflt when absent. */
export function num(name: string, v: string | undefined, dflt: number, range: NumberRange = 'non-negative'): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  const r = RANGES[range];
  if (v.trim() === '' || !Number.isFinite(n) || !r.test(n)) throw new UsageError(`--${name} expects ${r.words}, got ${shown(v)}`);
  return n;
}

/** A comma-separated list of layer widths ("512,256"; "" for none), or dflt when absent. */
export function widths(name: string, v: string | undefined, dflt: number[]): number[] {
  if (v === undefined) return dflt;
  if (v.trim() === '') return [];
  return v.split(',').map((s) => int(name, s.trim(), 0));
}

/** What the model flags give: the preset and its name, and the trunk and heads to build. */
export interface ModelFlags {
  presetName: string;
  preset: Preset;
  /** Whether the preset is the MLP that --hidden and --head-hidden shape. */
  mlp: boolean;
  /** The MLP trunk's widths (--hidden). */
  hidden: number[];
  trunk: readonly LayerSpec[];
  heads: HeadsConfig;
}

/**
 * The model flags --preset (NAME, or NAME:key=value as mmoe-synthetic:rho=0.5 takes),
 * --hidden and --head-hidden (those two shape the multimnist-mlp preset only).
 */
export function modelFlags(values: { preset?: string; hidden?: string; 'head-hidden'?: string }): ModelFlags {
  let presetName: string;
  let preset: Preset;
  try {
    ({ name: presetName, preset } = resolvePreset(values.preset ?? 'multimnist-mlp'));
  } catch (e) {
    if (e instanceof ConfigError) throw new UsageError(`--preset: ${e.message}`);
    throw e;
  }
  const mlp = presetName === 'multimnist-mlp';
  if (!mlp && (values.hidden !== undefined || values['head-hidden'] !== undefined)) {
    throw new UsageError('--hidden and --head-hidden shape the multimnist-mlp preset only');
  }
  const hidden = widths('hidden', values.hidden, [512, 256]);
  const headHidden = widths('head-hidden', values['head-hidden'], []);
  const trunk: readonly LayerSpec[] = mlp ? hidden.map((units) => ({ type: 'dense', units, activation: 'relu' })) : preset.trunk;
  return { presetName, preset, mlp, hidden, trunk, heads: mlp ? { hidden: headHidden } : preset.heads };
}

/** The optimizer flags --optimizer, --lr, --momentum and --weight-decay, with their defaults. */
export function optimizerFlags(
  values: { optimizer?: string; lr?: string; momentum?: string; 'weight-decay'?: string },
  defaults?: OptimizerConfig,
): OptimizerConfig {
  const name = values.optimizer ?? defaults?.kind ?? 'sgd';
  const same = defaults?.kind === name ? defaults : undefined;
  if (name === 'sgd') {
    const d = same as Extract<OptimizerConfig, { kind: 'sgd' }> | undefined;
    return {
      kind: 'sgd',
      lr: num('lr', values.lr, d?.lr ?? 0.05, 'positive'),
      momentum: num('momentum', values.momentum, d?.momentum ?? 0.9, 'fraction'),
      weightDecay: num('weight-decay', values['weight-decay'], d?.weightDecay ?? 0),
    };
  }
  if (name === 'adamw') {
    if (values.momentum !== undefined) throw new UsageError('--momentum applies to --optimizer sgd only (adamw has its own moments)');
    return {
      kind: 'adamw',
      lr: num('lr', values.lr, same?.lr ?? 1e-3, 'positive'),
      weightDecay: num('weight-decay', values['weight-decay'], same?.weightDecay ?? 0.01),
    };
  }
  throw new UsageError(`--optimizer expects sgd or adamw, got ${shown(name)}`);
}

/** The --weights flag: task=weight pairs ("left=1,right=0.5"), or undefined when absent. */
export function parseWeights(v: string | undefined): Record<string, number> | undefined {
  if (v === undefined) return undefined;
  const out: Record<string, number> = {};
  for (const part of v.split(',')) {
    const m = /^\s*([A-Za-z0-9_-]+)\s*=\s*([^\s]+)\s*$/.exec(part);
    if (!m) throw new UsageError(`--weights expects task=weight pairs like left=1,right=0.5, got ${JSON.stringify(part)}`);
    out[m[1]] = num(`weights (${m[1]})`, m[2], 1);
  }
  return out;
}

/**
 * Reads and parses a JSON file the command line was given (a run file, ...).
 * @throws ConfigError: `Cannot read <what> <file>: <reason>` when it cannot be read, and
 *   `<file>:<line>:<column>: not valid JSON: <what is wrong>` on a syntax error (see {@link parseJsonText}).
 */
export function readJsonFile(file: string, what = 'file'): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`Cannot read ${what} ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  return parseJsonText(text, file);
}

/**
 * JSON.parse of `text`, a syntax error becoming a ConfigError `<source>:<line>:<column>: not valid
 * JSON: <what is wrong>` (1-based line and column of the offending character; the end of the
 * text for an unexpected end), as {@link locateJsonError} finds them.
 */
export function parseJsonText(text: string, source: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    const at = locateJsonError(text, e as Error);
    throw new ConfigError(`${source}${at.line === undefined ? '' : `:${at.line}:${at.column}`}: not valid JSON: ${at.message}`);
  }
}
