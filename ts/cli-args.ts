/**
 * Flag parsing helpers shared by the hydranet subcommands: typed values with messages that
 * name the flag ("--epochs expects an integer >= 1, got \"zero\""). A UsageError makes the
 * command exit with status 2.
 */
import { HydranetError } from './errors.js';
import type { OptimizerConfig } from './train/optimizer.js';

/** A bad command line; the CLI prints its message and exits with status 2. */
export class UsageError extends HydranetError {}

/** An integer flag >= min, or dflt when absent. */
export function int(name: string, v: string | undefined, dflt: number, min = 1): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n) || n < min) throw new UsageError(`--${name} expects an integer >= ${min}, got ${JSON.stringify(v)}`);
  return n;
}

/** A non-negative number flag, or dflt when absent. */
export function num(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < 0) throw new UsageError(`--${name} expects a non-negative number, got ${JSON.stringify(v)}`);
  return n;
}

/** A comma-separated list of layer widths ("512,256"; "" for none), or dflt when absent. */
export function widths(name: string, v: string | undefined, dflt: number[]): number[] {
  if (v === undefined) return dflt;
  if (v.trim() === '') return [];
  return v.split(',').map((s) => int(name, s.trim(), 0));
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
      lr: num('lr', values.lr, d?.lr ?? 0.05),
      momentum: num('momentum', values.momentum, d?.momentum ?? 0.9),
      weightDecay: num('weight-decay', values['weight-decay'], d?.weightDecay ?? 0),
    };
  }
  if (name === 'adamw') {
    return { kind: 'adamw', lr: num('lr', values.lr, same?.lr ?? 1e-3), weightDecay: num('weight-decay', values['weight-decay'], same?.weightDecay ?? 0.01) };
  }
  throw new UsageError(`--optimizer expects sgd or adamw, got ${JSON.stringify(name)}`);
}
