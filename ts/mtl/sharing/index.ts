/**
 * The sharing kinds by name (the names `sharing.kind` and the CLI's --sharing take), beside the
 * weighting registry: a new kind is one file (its config type, its entry, and the body it
 * builds) plus one line in SHARINGS and one member of SharingConfig.
 */
import { checkKeys, nameTable, ownEntry } from '../../core/options.js';
import { ConfigError, describe } from '../../errors.js';
import { parseWeightingSpec } from '../weighting/index.js';
import type { ResolvedSharing, SharingEntry } from './body.js';
import { CGC, type CgcSharing } from './cgc.js';
import { CROSS_STITCH, type CrossStitchSharing } from './cross-stitch.js';
import { HARD, type HardSharing } from './hard.js';
import { MMOE, type MmoeSharing } from './mmoe.js';
import { OMOE, type OmoeSharing } from './omoe.js';
import { PLE, type PleSharing } from './ple.js';
import { SOFT, type SoftSharing } from './soft.js';

/** How the tasks share the body of the network: one of the configs of {@link SHARINGS}. */
export type SharingConfig = HardSharing | SoftSharing | CrossStitchSharing | MmoeSharing | OmoeSharing | CgcSharing | PleSharing;

/** The sharing kinds by name, in the order help and messages list them (a table without a prototype). */
export const SHARINGS: Record<string, SharingEntry> = nameTable({
  hard: HARD,
  soft: SOFT,
  'cross-stitch': CROSS_STITCH,
  mmoe: MMOE,
  omoe: OMOE,
  cgc: CGC,
  ple: PLE,
});

/** The sharing kind's entry and its config checked (its kind, the keys it takes, their values), defaults filled in. */
export function resolveSharing(config: SharingConfig | undefined): { entry: SharingEntry; sharing: ResolvedSharing } {
  if (config === undefined) return { entry: HARD, sharing: HARD.resolve({}) };
  if (typeof config !== 'object' || config === null) {
    throw new ConfigError(`Expected an object like { kind: 'soft', penalty: 0.001 } for sharing but received ${describe(config)}`);
  }
  const kind: unknown = config.kind ?? 'hard';
  const entry = ownEntry(SHARINGS, kind);
  if (!entry) {
    const names = Object.keys(SHARINGS);
    throw new ConfigError(`Expected sharing kind ${names.slice(0, -1).join(', ')} or ${names.at(-1)} but received ${describe(kind)}`);
  }
  return { entry, sharing: entry.resolve(checkKeys(config, entry.keys, `sharing (${String(kind)})`)) };
}

/**
 * "NAME[:key=value,...]" (the CLI's --sharing) as a sharing config, checked as the model
 * checks it (ConfigError for an unknown kind, a key it does not take or a bad value). The
 * NAME:key=value form is the one --weighting uses, read by the same parser.
 */
export function parseSharingSpec(text: string): SharingConfig {
  const { name, options } = parseWeightingSpec(text);
  const config = { ...options, kind: name } as SharingConfig;
  resolveSharing(config);
  return config;
}

/** One line per sharing kind, "usage  description", for `--help`. */
export function sharingHelp(indent: string, column: number): string {
  return Object.values(SHARINGS)
    .map((s) => `${indent}${s.usage.padEnd(column)}${s.description}`)
    .join('\n');
}

export type { Body, BodyContext, ResolvedSharing, SharingEntry } from './body.js';
export type { HardSharing, SoftSharing, CrossStitchSharing, MmoeSharing, OmoeSharing, CgcSharing, PleSharing };
