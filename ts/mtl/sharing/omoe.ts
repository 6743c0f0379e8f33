/**
 * One-gate mixture of experts (OMoE, the baseline of Ma et al. 2018): MMoE's shared experts
 * with ONE softmax gate that every task shares, so every head reads the same mixture
 * (experts.ts). With one task it is MMoE.
 */
import { expectInt } from '../../errors.js';
import { ExpertBody } from '../experts.js';
import type { SharingEntry } from './body.js';

/** OMoE sharing's config. */
export interface OmoeSharing {
  /** One-gate mixture of experts (Ma et al. 2018's baseline): shared experts, one softmax gate every task shares. */
  kind: 'omoe';
  /** Experts, all shared (default 4). */
  experts?: number;
}

export const OMOE: SharingEntry<{ kind: 'omoe'; shared: number; perTask: number; oneGate: true }> = {
  description: 'N shared experts (4), one softmax gate every task shares',
  usage: 'omoe[:experts=N]',
  keys: ['kind', 'experts'],
  resolve: (c) => ({ kind: 'omoe', shared: expectInt('sharing.experts', c.experts ?? 4), perTask: 0, oneGate: true }),
  config: (s) => ({ kind: 'omoe', experts: s.shared }),
  create: (ctx, s) => new ExpertBody(ctx, s),
};
