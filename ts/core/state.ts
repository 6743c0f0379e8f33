/**
 * Reading back state that a checkpoint stored: a weighting strategy's learned values, the
 * auxiliary-task stopper's history, a random generator's state. A checkpoint is data from
 * outside (a file may be corrupt or edited), so every reader checks the type, length and range
 * of what it reads and throws CheckpointError naming the key path
 * ("weighting.state.logVariance[2]"), never a TypeError. Checkpoint state is JSON, which writes
 * NaN and ±Infinity as null: `nullAs` reads such a null back.
 */
import { CheckpointError, describe } from '../errors.js';

export interface NumberRule {
  /** Inclusive bounds (default: any finite number). */
  min?: number;
  max?: number;
  integer?: boolean;
  /** What a null stands for (NaN, Infinity), when the state may hold a non-finite number. */
  nullAs?: number;
}

function invalid(where: string, expected: string, value: unknown): CheckpointError {
  return new CheckpointError(`Invalid checkpoint state at ${where}: expected ${expected} but received ${describe(value)}`);
}

function expected(rule: NumberRule): string {
  const kind = rule.integer ? 'an integer' : 'a finite number';
  const { min = -Infinity, max = Infinity } = rule;
  const range = min === -Infinity && max === Infinity ? '' : min === -Infinity ? ` ≤ ${max}` : max === Infinity ? ` ≥ ${min}` : ` in [${min}, ${max}]`;
  return `${kind}${range}${rule.nullAs === undefined ? '' : ' or null'}`;
}

/** `value` as a plain object (not null, not an array). */
export function stateObject(value: unknown, where: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw invalid(where, 'an object', value);
  return value as Record<string, unknown>;
}

/** A number following `rule`. */
export function stateNumber(value: unknown, where: string, rule: NumberRule = {}): number {
  if (value === null && rule.nullAs !== undefined) return rule.nullAs;
  const { min = -Infinity, max = Infinity } = rule;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max || (rule.integer && !Number.isInteger(value))) {
    throw invalid(where, expected(rule), value);
  }
  return value;
}

/** An array of numbers following `rule`: exactly `length` of them, when given. */
export function stateNumbers(value: unknown, where: string, length: number | undefined, rule: NumberRule = {}): number[] {
  if (!Array.isArray(value) || (length !== undefined && value.length !== length)) {
    throw invalid(where, `an array of ${length ?? 'any number of'} values, each ${expected(rule)},`, value);
  }
  return value.map((v, i) => stateNumber(v, `${where}[${i}]`, rule));
}
