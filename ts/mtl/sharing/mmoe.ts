/** Multi-gate mixture of experts (Ma et al. 2018): shared experts, one softmax gate per task (experts.ts). */
import { expectInt } from '../../errors.js';
import { ExpertBody } from '../experts.js';
import type { SharingEntry } from './body.js';

/** MMoE sharing's config. */
export interface MmoeSharing {
  /** Multi-gate mixture of experts (Ma et al. 2018): shared experts, one softmax gate per task. */
  kind: 'mmoe';
  /** Experts, all shared (default 4). */
  experts?: number;
}

export const MMOE: SharingEntry<{ kind: 'mmoe'; shared: number; perTask: number }> = {
  description: 'N shared experts (4), a softmax gate per task',
  usage: 'mmoe[:experts=N]',
  keys: ['kind', 'experts'],
  resolve: (c) => ({ kind: 'mmoe', shared: expectInt('sharing.experts', c.experts ?? 4), perTask: 0 }),
  // Resolved as the experts body reads it (and as architecture() has always recorded it).
  config: (s) => ({ kind: 'mmoe', experts: s.shared }),
  create: (ctx, s) => new ExpertBody(ctx, s),
};
