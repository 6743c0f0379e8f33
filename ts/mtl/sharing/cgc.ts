/** Customized gate control (Tang et al. 2020): shared experts plus experts of each task alone (experts.ts). */
import { expectInt } from '../../errors.js';
import { ExpertBody } from '../experts.js';
import type { SharingEntry } from './body.js';

/** CGC sharing's config. */
export interface CgcSharing {
  /** Customized gate control (Tang et al. 2020): shared experts plus experts of each task alone. */
  kind: 'cgc';
  /** Shared experts (default 2). */
  shared?: number;
  /** Experts of each task alone (default 1). */
  perTask?: number;
}

export const CGC: SharingEntry<{ kind: 'cgc'; shared: number; perTask: number }> = {
  description: 'S shared + P own experts per task (2 and 1), a softmax gate per task',
  usage: 'cgc[:shared=S,perTask=P]',
  keys: ['kind', 'shared', 'perTask'],
  resolve: (c) => ({ kind: 'cgc', shared: expectInt('sharing.shared', c.shared ?? 2, 0), perTask: expectInt('sharing.perTask', c.perTask ?? 1, 0) }),
  create: (ctx, s) => new ExpertBody(ctx, s),
};
