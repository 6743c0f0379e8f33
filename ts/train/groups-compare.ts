/**
 * The proof of use of a task grouping (TAG, Fifty et al. 2021, section 5): train the groups a
 * search proposes, one hard-sharing network per group, against all tasks in one network and
 * each task alone, on the same data and budget (epochs, batch size, optimizer, seed per
 * network), and report each configuration's Δm over the single-task baselines.
 *
 * Built on {@link compare}: its first call trains the baselines and the all-tasks network; each
 * group of two or more tasks is one more compare() run with those baselines given. Rules:
 * - a task's metrics come from the group its grouping assigns it to (`assignment`, as
 *   selectGroups returns it: the group where it scores best), else the first group holding it;
 * - a group of one main task is that task's single-task baseline (the same network, data and
 *   budget), not trained twice; a group with no main task (only auxiliary tasks, e.g. a noise
 *   task kept out of Δm) is not trained, since nothing is judged on it;
 * - the same group in two groupings is trained once;
 * - Δm is over the main tasks, as compare() counts it; auxiliary tasks' metrics are reported.
 */
import { ConfigError, describe } from '../errors.js';
import type { TaskAssignment, TaskGroup } from '../mtl/grouping.js';
import { resolveTask } from '../mtl/task.js';
import { type CompareOptions, type MetricTable, type MultiTaskRunResult, type RunResult, type Selection, compare, deltaM } from './compare.js';

/** One grouping to evaluate: a label and its groups (a {@link Grouping} from selectGroups fits, with a label added). */
export interface GroupingCandidate {
  /** Names the configuration in the result; non-empty and unique. */
  label: string;
  /** The groups: task names (or TaskGroup-like objects), every task of the model in at least one. */
  groups: readonly (readonly string[])[] | readonly Pick<TaskGroup, 'tasks'>[];
  /** Per task, the index of the group its metrics come from (default: the first group holding it). */
  assignment?: Readonly<Record<string, Pick<TaskAssignment, 'group'>>>;
}

/** One network of a {@link GroupingResult}. */
export interface GroupNetwork {
  /** The group's tasks. */
  tasks: string[];
  /** 'trained'; 'baseline' for a group of one main task (its single-task run); 'skipped' for a group without a main task. */
  source: 'trained' | 'baseline' | 'skipped';
  /** Its run (absent when skipped). */
  run?: RunResult;
}

/** What {@link compareGroups} trains: compare()'s options, with groupings in place of configurations. */
export interface GroupsCompareOptions extends Omit<CompareOptions, 'configurations'> {
  /** The groupings to evaluate. */
  groupings: readonly GroupingCandidate[];
  /** The weighting of every multi-task network (default 'equal'). */
  weighting?: string;
}

/** One grouping's result. */
export interface GroupingResult {
  /** The grouping's label. */
  label: string;
  /** Its groups. */
  groups: string[][];
  /** Per group, its network. */
  networks: GroupNetwork[];
  /** Every task's validation metrics, from its assigned group. */
  metrics: MetricTable;
  /** Δm over the single-task baselines, percent. */
  deltaM: number;
  /** Networks trained or reused for it (skipped groups left out). */
  networkCount: number;
  /** Sum of its networks' wall times, seconds (a reused baseline counts its own time). */
  seconds: number;
}

/** What {@link compareGroups} returns. */
export interface GroupsComparison {
  /** Main tasks, in model order. */
  tasks: string[];
  /** How every run's epoch was selected. */
  selection: Selection;
  /** Single-task baselines (main tasks). */
  baselines: MetricTable;
  /** The baseline runs by task (empty when given). */
  baselineRuns: Record<string, RunResult>;
  /** All tasks in one network. */
  all: MultiTaskRunResult;
  /** The groupings, in the order given. */
  groupings: GroupingResult[];
}

/**
 * Trains the baselines, the all-tasks network and every grouping's networks (see the module
 * comment). ConfigError, before anything trains, for an empty or duplicate label, a group naming
 * a task the model lacks, a task no group holds, or an assignment to a group not holding it.
 */
export async function compareGroups(opts: GroupsCompareOptions): Promise<GroupsComparison> {
  const { groupings, weighting = 'equal', ...base } = opts;
  if (!Array.isArray(base.model?.tasks)) throw new ConfigError(`Expected a model config with tasks but received ${describe(base.model)}`);
  const specs = base.model.tasks;
  const names = specs.map((t) => t.name);
  const auxiliary = new Set(specs.map(resolveTask).filter((t) => t.auxiliary).map((t) => t.name));
  const labels = new Set<string>(['all tasks']);
  const plans = groupings.map((g, gi) => {
    if (typeof g?.label !== 'string' || g.label === '' || labels.has(g.label)) throw new ConfigError(`groupings[${gi}].label must be a non-empty string other than the other labels and "all tasks", got ${describe(g?.label)}`);
    labels.add(g.label);
    const groups = (g.groups as readonly unknown[]).map((x) => [...(Array.isArray(x) ? (x as string[]) : (x as { tasks: string[] }).tasks)]);
    for (const group of groups) {
      const unknown = group.filter((t) => !names.includes(t));
      if (unknown.length > 0 || group.length === 0) throw new ConfigError(`grouping ${JSON.stringify(g.label)}: group [${group.join(', ')}] ${group.length === 0 ? 'is empty' : `names tasks the model lacks: ${unknown.join(', ')}`}`);
    }
    const owner = Object.fromEntries(names.map((t) => {
      const k = g.assignment?.[t]?.group ?? groups.findIndex((x) => x.includes(t));
      if (k < 0) throw new ConfigError(`grouping ${JSON.stringify(g.label)}: no group holds task ${t}`);
      if (!groups[k]?.includes(t)) throw new ConfigError(`grouping ${JSON.stringify(g.label)}: task ${t} is assigned to group ${k}, which does not hold it`);
      return [t, k];
    }));
    return { label: g.label, groups, owner };
  });

  const first = await compare({ ...base, configurations: [{ label: 'all tasks', weighting }] });
  const { baselines, baselineRuns } = first;
  const log = base.log ?? (() => {});
  const trained = new Map<string, RunResult>();
  const results: GroupingResult[] = [];
  for (const plan of plans) {
    const networks: GroupNetwork[] = [];
    for (const group of plan.groups) {
      const main = group.filter((t) => !auxiliary.has(t));
      const key = [...group].sort().join('\u0000');
      if (main.length === 0) {
        networks.push({ tasks: group, source: 'skipped' });
      } else if (group.length === 1) {
        const run = baselineRuns[group[0]];
        networks.push({ tasks: group, source: 'baseline', ...(run && { run }) });
      } else {
        let run = trained.get(key);
        if (!run) {
          const model = { ...base.model, tasks: specs.filter((s) => group.includes(s.name)) };
          const given = Object.fromEntries(main.map((t) => [t, baselines[t]]));
          const r = await compare({ ...base, model, baselines: given, configurations: [{ label: group.join('+'), weighting }] });
          run = r.runs[0];
          trained.set(key, run);
        }
        networks.push({ tasks: group, source: 'trained', run });
      }
    }
    const metrics: MetricTable = {};
    for (const t of names) {
      const net = networks[plan.owner[t]];
      if (net.source === 'baseline') metrics[t] = net.run?.metrics[t] ?? baselines[t];
      else if (net.run) metrics[t] = net.run.metrics[t];
    }
    const dm = deltaM(baselines, metrics);
    const used = networks.filter((n) => n.source !== 'skipped');
    const result: GroupingResult = {
      label: plan.label,
      groups: plan.groups,
      networks,
      metrics,
      deltaM: dm,
      networkCount: used.length,
      seconds: used.reduce((s, n) => s + (n.run?.seconds ?? 0), 0),
    };
    results.push(result);
    log(`grouping ${plan.label}: ${plan.groups.map((g) => `[${g.join(', ')}]`).join(' ')}, Δm ${dm >= 0 ? '+' : ''}${dm.toFixed(2)}%`);
  }
  return { tasks: first.tasks, selection: first.selection, baselines, baselineRuns, all: first.runs[0], groupings: results };
}

/**
 * The comparison as an aligned table: single-task, all tasks, each grouping; a column per task
 * (its headline metric: accuracy in %, others as numbers; auxiliary tasks included, marked *),
 * Δm, networks and summed wall time.
 */
export function formatGroupsComparison(result: GroupsComparison, allTasks: readonly string[] = result.tasks): string {
  const headline = (m: MetricTable, t: string): string => {
    const entries = Object.entries(m[t] ?? {});
    if (entries.length === 0) return '—';
    const [metric, v] = entries[0];
    return metric === 'accuracy' ? `${(100 * v).toFixed(2)}%` : v.toFixed(4);
  };
  const signed = (v: number): string => `${v >= 0 ? '+' : ''}${v.toFixed(2)}%`;
  const header = ['configuration', ...allTasks.map((t) => (result.tasks.includes(t) ? t : `${t}*`)), 'Δm', 'networks', 'time'];
  const baseSeconds = Object.values(result.baselineRuns).reduce((s, r) => s + r.seconds, 0);
  const rows: string[][] = [
    ['single-task', ...allTasks.map((t) => headline(result.baselines, t)), '—', String(result.tasks.length), `${baseSeconds.toFixed(1)} s`],
    ['all tasks', ...allTasks.map((t) => headline(result.all.metrics, t)), signed(result.all.deltaM), '1', `${result.all.seconds.toFixed(1)} s`],
    ...result.groupings.map((g) => [
      `${g.label}: ${g.groups.map((x) => `[${x.join(',')}]`).join(' ')}`,
      ...allTasks.map((t) => headline(g.metrics, t)),
      signed(g.deltaM),
      String(g.networkCount),
      `${g.seconds.toFixed(1)} s`,
    ]),
  ];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n') + '\n';
}
