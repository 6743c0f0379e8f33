/**
 * Option objects from users (model, layer, task, heads, sharing, optimizer, weighting and
 * trainer configurations) are checked key by key: a misspelled key ("tempreture", "hiden",
 * "moment") is an error naming the key, where it was found and the keys that are known, never
 * silently ignored. Lookups by a user-given name go through `ownEntry`, so "constructor",
 * "toString" or "__proto__" never reach Object.prototype.
 */
import { ConfigError, describe } from '../errors.js';

/**
 * Throws ConfigError unless `value` is a plain object whose keys are all in `known`.
 * `where` names the object in messages ("heads", "optimizer (sgd)", "layers[2] (conv2d)").
 * Keys whose value is undefined count as absent.
 */
export function checkKeys(value: unknown, known: readonly string[], where: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigError(`Expected an object for ${where} but received ${describe(value)}`);
  }
  const obj = value as Record<string, unknown>;
  for (const key of Object.keys(obj)) {
    if (obj[key] !== undefined && !known.includes(key)) {
      const close = known.filter((k) => similar(k, key));
      const hint = close.length > 0 ? ` (did you mean ${close.map((k) => JSON.stringify(k)).join(' or ')}?)` : '';
      throw new ConfigError(
        `Unknown key ${JSON.stringify(key)} in ${where}${hint}; known keys: ${known.length > 0 ? known.join(', ') : 'none'}`,
      );
    }
  }
  return obj;
}

/**
 * A table of entries by name (weightings, presets, ...) with no prototype, so that even code
 * that indexes it directly (`table[name]`, `name in table`) never finds "constructor",
 * "toString" or "__proto__" in it. Look names up with `ownEntry` all the same.
 */
export function nameTable<T>(entries: Record<string, T>): Record<string, T> {
  return Object.assign(Object.create(null) as Record<string, T>, entries);
}

/** `table[name]` when `name` is one of the table's own keys, else undefined (never a prototype member). */
export function ownEntry<T>(table: Readonly<Record<string, T>>, name: unknown): T | undefined {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(table, name) ? table[name] : undefined;
}

/** Edit distance ≤ 2, or one a prefix of the other: close enough to suggest. */
function similar(a: string, b: string): boolean {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  if (x.startsWith(y) || y.startsWith(x)) return true;
  if (Math.abs(x.length - y.length) > 2) return false;
  let prev = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const cur = [i];
    for (let j = 1; j <= y.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x[i - 1] === y[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[y.length] <= 2;
}
