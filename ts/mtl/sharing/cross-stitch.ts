/**
 * Cross-stitch networks (Misra et al. 2016): one tower per task, mixed after chosen layers by
 * learned T×T units (towers.ts).
 */
import { ConfigError, describe, expectNumber } from '../../errors.js';
import { TowerBody } from '../towers.js';
import type { SharingEntry } from './body.js';

/** Cross-stitch sharing's config. */
export interface CrossStitchSharing {
  /** One tower per task, mixed after chosen layers by learned cross-stitch units (Misra et al. 2016). */
  kind: 'cross-stitch';
  /** Tower layers after which a cross-stitch unit mixes the towers (default: every layer). */
  after?: number[];
  /** Initial self weight of each unit (default 0.9; the rest spread over the other tasks). */
  self?: number;
}

export const CROSS_STITCH: SharingEntry<{ kind: 'cross-stitch'; after: number[] | null; self: number }> = {
  description: 'a tower per task, mixed after every layer by learned units (self weight X, 0.9)',
  usage: 'cross-stitch[:self=X]',
  keys: ['kind', 'after', 'self'],
  resolve: (c) => {
    const after = c.after === undefined ? null : c.after;
    if (after !== null && !Array.isArray(after)) throw new ConfigError(`Expected an array of layer indices for sharing.after but received ${describe(after)}`);
    return { kind: 'cross-stitch', after: after as number[] | null, self: expectNumber('sharing.self', c.self ?? 0.9, 0, 1) };
  },
  config: (s) => (s.after === null ? { kind: 'cross-stitch', self: s.self } : { ...s, after: [...s.after] }),
  create: (ctx, s) => new TowerBody(ctx, { stitchAfter: s.after, stitchSelf: s.self }),
};
