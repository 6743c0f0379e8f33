/**
 * Soft sharing (Duong et al. 2015; Yang & Hospedales 2017): one tower per task, pulled
 * together by an L2 penalty λ·Σ_{i<j}‖θ_i − θ_j‖² between corresponding tower parameters
 * (towers.ts).
 */
import { expectNumber } from '../../errors.js';
import { TowerBody } from '../towers.js';
import type { SharingEntry } from './body.js';

/** Soft sharing's config. */
export interface SoftSharing {
  /** One tower per task, pulled together by an L2 penalty between their parameters. */
  kind: 'soft';
  /** λ of the L2 penalty (default 1e-3). */
  penalty?: number;
}

export const SOFT: SharingEntry<{ kind: 'soft'; penalty: number }> = {
  description: 'a tower per task, L2 penalty λ = X (0.001) between the towers',
  usage: 'soft[:penalty=X]',
  keys: ['kind', 'penalty'],
  resolve: (c) => ({ kind: 'soft', penalty: expectNumber('sharing.penalty', c.penalty ?? 1e-3, 0) }),
  create: (ctx, s) => new TowerBody(ctx, { penalty: s.penalty, stitchAfter: [] }),
};
