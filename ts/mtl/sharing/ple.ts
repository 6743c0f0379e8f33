/** Progressive layered extraction (Tang et al. 2020): CGC levels stacked (../ple.ts). */
import { expectInt } from '../../errors.js';
import { PleBody } from '../ple.js';
import type { SharingEntry } from './body.js';

/** PLE sharing's config. */
export interface PleSharing {
  /** Progressive layered extraction (Tang et al. 2020): CGC levels stacked. */
  kind: 'ple';
  /** Levels of experts (default 2). */
  levels?: number;
  /** Shared experts per level (default 2). */
  shared?: number;
  /** Experts of each task per level (default 1). */
  perTask?: number;
}

export const PLE: SharingEntry<{ kind: 'ple'; levels: number; shared: number; perTask: number }> = {
  description: 'L levels of CGC (2; S 2, P 1), a shared gate between levels',
  usage: 'ple[:levels=L,shared=S,perTask=P]',
  keys: ['kind', 'levels', 'shared', 'perTask'],
  resolve: (c) => ({
    kind: 'ple',
    levels: expectInt('sharing.levels', c.levels ?? 2),
    shared: expectInt('sharing.shared', c.shared ?? 2),
    perTask: expectInt('sharing.perTask', c.perTask ?? 1, 0),
  }),
  create: (ctx, s) => new PleBody(ctx, s),
};
