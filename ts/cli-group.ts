/**
 * `hydranet group affinity.json --max-groups K`: the TAG group search (ts/mtl/grouping.ts) over
 * an affinity matrix (the affinity.json of `hydranet affinity` or of a run folder, or any
 * { tasks, matrix }), printed; with --config run.json, one run file per group that
 * `hydranet train --config` accepts: the same data, inputs, model and training sections, the
 * tasks restricted to the group (auxiliary flags and the other task keys kept). With --preset,
 * one { preset, tasks } file per group (see GROUP_HELP: `train --config` takes no presets).
 */
import * as path from 'node:path';
import { UsageError, int, parseFlags, readJsonFile } from './cli-args.js';
import { readRunConfig } from './cli-config.js';
import { ownEntry } from './core/options.js';
import { ConfigError, HydranetError } from './errors.js';
import { checkWritableFolder, writeFileAtomic } from './io/files.js';
import { type Grouping, selectGroups } from './mtl/grouping.js';
import { PRESETS, presetTasks } from './train/presets.js';

/** `hydranet group --help`. */
export const GROUP_HELP = `Usage: hydranet group AFFINITY.json --max-groups K [options]

Chooses which tasks should train together from a task-affinity matrix (TAG, Fifty et al. 2021):
a task's score in a group is the mean affinity onto it from the other members (a task alone
scores --singleton-score, 0 by default); the search picks at most K groups covering every task
that maximise the mean over the tasks of each task's best score. Without --overlap the groups
partition the tasks. Exact up to 12 tasks, a beam search beyond.

AFFINITY.json: the affinity.json that \`hydranet affinity\` writes (rows: source task, columns:
target task; its mean matrix of --measure), or any { "tasks": [...], "matrix": [[...]] }.

Options:
  --max-groups K        at most K groups (required)
  --overlap             groups may share tasks (each task then counts its best group)
  --measure NAME        which matrix of an affinity report: lookahead (default), linearised, cosine
  --method NAME         auto (default) | exact | beam
  --beam-width N        partial solutions the beam keeps (default 64)
  --singleton-score X   what a task alone scores (default 0; TAG's code: -1e6, singletons last)
  --config FILE         a run file (hydranet train --config): write one run file per group
  --preset NAME         a MultiMNIST preset (${Object.keys(PRESETS).join(' | ')}): write one
                        { "preset", "tasks" } file per group
  --out-dir DIR         where the group files and groups.json go (default: groups)
  -h, --help            this text

With --config, DIR/group-N.json is the run file with only group N's tasks: "training.weights"
keeps the members' weights, data paths are rewritten relative to DIR, and when the inputs are
inferred from the data the label columns of the other tasks are excluded from them (so no
dropped task's labels become inputs). Train each with \`hydranet train --config DIR/group-N.json\`.
With --preset, \`hydranet train --config\` does not take presets yet: the files name the preset
and the group's tasks, for the library (makeMultiMnist({ tasks }) with the preset's model).
`;

const GROUP_FLAGS = {
  'max-groups': { type: 'string' },
  overlap: { type: 'boolean' },
  measure: { type: 'string' },
  method: { type: 'string' },
  'beam-width': { type: 'string' },
  'singleton-score': { type: 'string' },
  config: { type: 'string' },
  preset: { type: 'string' },
  'out-dir': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** A run file (as JSON) restricted to `group`'s tasks, written to live in `outDir` (see GROUP_HELP). */
export function groupRunConfig(raw: Record<string, unknown>, configFile: string, group: readonly string[], outDir: string): Record<string, unknown> {
  const config = structuredClone(raw) as {
    data: Record<string, unknown>;
    inputs?: { numeric?: string[]; categorical?: string[]; images?: unknown[]; exclude?: string[] };
    tasks: { name: string; column?: string; columns?: string[] }[];
    training?: { weights?: Record<string, number> };
  };
  const dropped = config.tasks.filter((t) => !group.includes(t.name));
  config.tasks = config.tasks.filter((t) => group.includes(t.name));
  const from = path.dirname(path.resolve(configFile));
  for (const key of ['train', 'validation'] as const) {
    const p = config.data[key];
    if (typeof p === 'string') config.data[key] = path.relative(path.resolve(outDir), path.resolve(from, p)) || '.';
  }
  const inputs = config.inputs ?? {};
  const inferred = inputs.numeric === undefined && inputs.categorical === undefined && inputs.images === undefined;
  if (inferred && dropped.length > 0) {
    const labels = dropped.flatMap((t) => t.columns ?? [t.column ?? t.name]);
    config.inputs = { ...inputs, exclude: [...new Set([...(inputs.exclude ?? []), ...labels])] };
  }
  if (config.training?.weights) {
    config.training.weights = Object.fromEntries(Object.entries(config.training.weights).filter(([k]) => group.includes(k)));
  }
  return config as unknown as Record<string, unknown>;
}

/** The grouping as lines: a header, then each group with its members' scores. */
export function formatGrouping(g: Grouping, maxGroups: number): string[] {
  const fmt = (v: number): string => (Math.abs(v) >= 1e5 ? v.toExponential(0) : v.toFixed(4));
  return [
    `${g.groups.length} group${g.groups.length === 1 ? '' : 's'} (${g.method} search, at most ${maxGroups}, ${g.overlap ? 'overlap allowed' : 'a partition'}; ` +
      `score: mean ${g.measure ? `${g.measure} ` : ''}affinity onto each task from its group; objective ${fmt(g.total)}):`,
    ...g.groups.map((x, k) => `  group ${k + 1}: ${x.tasks.join(', ')}  (${x.tasks.map((t) => `${t} ${fmt(x.scores[t])}`).join(', ')})`),
  ];
}

/** Splits off the one positional argument (the affinity file) from the flags. */
function positional(argv: readonly string[]): { file: string | undefined; rest: string[] } {
  const rest: string[] = [];
  let file: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const spec = a.startsWith('--') && !a.includes('=') ? ownEntry(GROUP_FLAGS as Record<string, { type: string }>, a.slice(2)) : undefined;
    if (spec?.type === 'string') {
      rest.push(a, ...(i + 1 < argv.length ? [argv[++i]] : []));
    } else if (!a.startsWith('-') && file === undefined) {
      file = a;
    } else if (!a.startsWith('-')) {
      throw new UsageError(`hydranet group takes one affinity file, got ${JSON.stringify(file)} and ${JSON.stringify(a)}`);
    } else {
      rest.push(a);
    }
  }
  return { file, rest };
}

/** `hydranet group`: returns the exit status. */
export async function groupCommand(argv: string[]): Promise<number> {
  const { file, rest } = positional(argv);
  const values = parseFlags(rest, GROUP_FLAGS);
  if (values.help) {
    process.stdout.write(GROUP_HELP);
    return 0;
  }
  if (file === undefined) throw new UsageError('hydranet group needs an affinity file: hydranet group affinity.json --max-groups 2');
  if (values['max-groups'] === undefined) throw new UsageError('hydranet group needs --max-groups K');
  const maxGroups = int('max-groups', values['max-groups'], 1);
  const beamWidth = values['beam-width'] === undefined ? undefined : int('beam-width', values['beam-width'], 1);
  const singleton = values['singleton-score'];
  const singletonScore = singleton === undefined ? undefined : Number(singleton);
  if (singleton !== undefined && (singleton.trim() === '' || !Number.isFinite(singletonScore))) {
    throw new UsageError(`--singleton-score expects a number, got ${JSON.stringify(singleton)}`);
  }
  if (values.method !== undefined && !['auto', 'exact', 'beam'].includes(values.method)) {
    throw new UsageError(`--method expects auto, exact or beam, got ${JSON.stringify(values.method)}`);
  }
  if (values.config !== undefined && values.preset !== undefined) throw new UsageError('--config and --preset exclude each other');
  const preset = values.preset === undefined ? undefined : ownEntry(PRESETS, values.preset);
  if (values.preset !== undefined && !preset) throw new UsageError(`--preset expects one of ${Object.keys(PRESETS).join(', ')}, got ${JSON.stringify(values.preset)}`);
  // Everything read and checked before anything is written.
  const run = values.config === undefined ? undefined : readRunConfig(values.config);
  const affinity = readJsonFile(file, 'the affinity file');
  let grouping: Grouping;
  try {
    grouping = selectGroups(affinity as never, {
      maxGroups,
      overlap: values.overlap ?? false,
      method: values.method as 'auto' | 'exact' | 'beam' | undefined,
      beamWidth,
      singletonScore,
      measure: values.measure,
    });
  } catch (e) {
    if (e instanceof HydranetError) throw new ConfigError(`${file}: ${e.message}`);
    throw e;
  }
  const tasks = grouping.tasks;
  const known = run ? run.tasks.map((t) => t.name) : preset ? presetTasks(preset).map((t) => t.name) : undefined;
  if (known) {
    const where = run ? values.config! : `preset ${values.preset!}`;
    const missing = tasks.filter((t) => !known.includes(t));
    const extra = known.filter((t) => !tasks.includes(t));
    if (missing.length > 0) throw new ConfigError(`${file} has tasks that ${where} does not: ${missing.join(', ')} (it has ${known.join(', ')})`);
    if (extra.length > 0) throw new ConfigError(`${where} has tasks without affinity in ${file}: ${extra.join(', ')}; every task must be grouped`);
  }
  for (const line of formatGrouping(grouping, maxGroups)) console.log(line);
  if (values['out-dir'] === undefined && !run && !preset) return 0;
  const outDir = path.resolve(values['out-dir'] ?? 'groups');
  checkWritableFolder(outDir, 'output folder');
  writeFileAtomic(path.join(outDir, 'groups.json'), JSON.stringify(grouping, null, 2) + '\n');
  console.log(`wrote ${path.join(outDir, 'groups.json')}`);
  for (const [k, g] of grouping.groups.entries()) {
    const out = path.join(outDir, `group-${k + 1}.json`);
    const body = run
      ? groupRunConfig(run as unknown as Record<string, unknown>, values.config!, g.tasks, outDir)
      : preset
        ? { preset: values.preset!, tasks: g.tasks }
        : undefined;
    if (!body) continue;
    writeFileAtomic(out, JSON.stringify(body, null, 2) + '\n');
    console.log(`wrote ${out} (${g.tasks.join(', ')})${run ? `: hydranet train --config ${path.relative(process.cwd(), out) || out}` : ''}`);
  }
  if (preset) console.log(`note: hydranet train --config takes no presets yet; the group files name the preset and the tasks (see hydranet group --help)`);
  return 0;
}
