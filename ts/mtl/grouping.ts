/**
 * Which tasks should train together: the group search of TAG (Fifty et al. 2021) over a T×T
 * task-affinity matrix Z (row i = source, column j = target: Z[i][j] is how much a step on
 * task i helps task j; the diagonal is ignored).
 *
 * Scores. In a group G, member j scores the mean affinity onto it from the other members:
 *
 *   s(G, j) = (1 / (|G| − 1)) Σ_{i ∈ G, i ≠ j} Z[i][j]          (|G| ≥ 2)
 *
 * A group of one task has no inter-task affinity; its member scores `singletonScore`, 0 by
 * default: training alone neither helps nor hurts it, so a task goes alone exactly when every
 * group it could join scores it below 0 (and there are groups to spare). TAG's own code gives
 * singletons −1e6 instead, which takes them only when nothing else covers the task; pass
 * `singletonScore: -1e6` for that rule.
 *
 * Objective. Choose at most `maxGroups` groups that cover every task; each task counts its best
 * score among the chosen groups that contain it; maximise the mean of those over the tasks.
 * Without `overlap` the groups partition the tasks (each task in exactly one group).
 *
 * Exact search (`method: 'exact'`, the default up to {@link EXACT_MAX_TASKS} tasks). With
 * overlap, an optimal choice can be read as a partition of the tasks into "served" sets S_k
 * (the tasks whose best group is G_k ⊇ S_k), so both cases are one dynamic programme over the
 * subsets: val(S) = Σ_{j∈S} s(S, j) without overlap, val(S) = max_{G ⊇ S} Σ_{j∈S} s(G, j) with
 * it (one pass over every pair S ⊆ G: 3^T pairs), then best(m, k) = max over the block S of
 * m's lowest task of val(S) + best(m \ S, k − 1) (k·3^T). At T = 12 that is about 0.5 M pair
 * visits per group count, milliseconds; the memory is 2^T·T numbers. It is the optimum of the
 * published enumeration of all (2^T − 1 choose ≤ k) group sets, without enumerating them.
 *
 * Beam search (`method: 'beam'`, the default beyond {@link EXACT_MAX_TASKS} tasks, up to
 * {@link MAX_TASKS}): tasks are placed one at a time, in index order, into one of the open
 * groups or a new one (at most maxGroups); after each task only the `beamWidth` (default 64)
 * partial partitions with the highest sum of member scores survive. With overlap, each block
 * of the final candidates then greedily takes extra members (tasks outside it that raise its own
 * members' summed score, best first) and the best candidate wins. It is a heuristic: the test
 * suite bounds its gap to the exact optimum on random matrices.
 *
 * Ties go to fewer groups, then to the first choice in enumeration order: the result is
 * deterministic.
 */
import { checkKeys } from '../core/options.js';
import { ConfigError, ShapeError, ValueError, describe, expectInt, expectNumber } from '../errors.js';

/** Task count up to which `method` 'auto' (the default) searches exactly. */
export const EXACT_MAX_TASKS = 12;
/** Task count up to which an exact search may be asked for explicitly (3^16 ≈ 43 M pair visits). */
export const EXACT_LIMIT_TASKS = 16;
/** Most tasks a search takes (groups are 31-bit masks). */
export const MAX_TASKS = 30;

/**
 * A task-affinity matrix: task names and a T×T matrix with row i = source task, column j =
 * target task, as `matrix`, or as `mean` (a bare matrix, or the affinity probe's export, an
 * AffinityReport, whose `mean` holds one matrix per measure: `lookahead`, `linearised`,
 * `cosine`; {@link GroupingOptions.measure} picks one). The diagonal is ignored.
 */
export type AffinityInput = AffinityMatrixInput | AffinityReportInput;

/** A bare affinity matrix. */
export interface AffinityMatrixInput {
  /** Task names: the rows (sources) and columns (targets), in order. */
  readonly tasks: readonly string[];
  /** T×T, row i = source, column j = target. */
  readonly matrix: readonly (readonly number[])[];
}

/** An affinity report (the probe's affinity.json), or a bare matrix under the name `mean`. */
export interface AffinityReportInput {
  /** Task names: the rows (sources) and columns (targets), in order. */
  readonly tasks: readonly string[];
  /** A T×T matrix, or one per measure: { lookahead?, linearised?, cosine? } (other keys, e.g. probes, are ignored). */
  readonly mean: readonly (readonly number[])[] | { readonly [measure: string]: unknown };
}

/** Options of {@link selectGroups}. */
export interface GroupingOptions {
  /** At most this many groups (a positive integer; more than the task count counts as the task count). */
  maxGroups: number;
  /** Groups may share tasks (TAG's search); default false: the groups partition the tasks. */
  overlap?: boolean;
  /** 'exact' (dynamic programme, at most 16 tasks), 'beam', or 'auto' (default): exact up to 12 tasks, beam beyond. */
  method?: 'auto' | 'exact' | 'beam';
  /** Partial solutions kept per task by the beam search (default 64). */
  beamWidth?: number;
  /** What a task alone in its group scores (default 0; TAG's code: −1e6). */
  singletonScore?: number;
  /**
   * Which measure of an affinity report (`mean.lookahead`, `mean.linearised`, `mean.cosine`) to
   * group by; default 'lookahead', or the report's only measure. Only for report input.
   */
  measure?: string;
}

/** One chosen group. */
export interface TaskGroup {
  /** Its tasks, in the matrix's order. */
  tasks: string[];
  /** Each member's score in this group (the mean affinity onto it from the other members). */
  scores: Record<string, number>;
}

/** Where a task's score comes from in a {@link Grouping}. */
export interface TaskAssignment {
  /** Index in Grouping.groups of the task's best group. */
  group: number;
  /** The task's score there. */
  score: number;
}

/** What {@link selectGroups} chose. */
export interface Grouping {
  /** Every task, in the matrix's order. */
  tasks: string[];
  /** The chosen groups, ordered by their first task. */
  groups: TaskGroup[];
  /** Per task: the index in `groups` of its best group (the first on a tie) and its score there. */
  assignment: Record<string, TaskAssignment>;
  /** The objective: the mean over the tasks of each task's best score. */
  total: number;
  /** The search that ran. */
  method: 'exact' | 'beam';
  /** Whether groups could share tasks. */
  overlap: boolean;
  /** The measure of an affinity report grouped by ('lookahead', ...); absent for a bare matrix. */
  measure?: string;
}

const OPTION_KEYS = ['maxGroups', 'overlap', 'method', 'beamWidth', 'singletonScore', 'measure'];
const METHODS = ['auto', 'exact', 'beam'] as const;

/**
 * The TAG group search (see the module comment for the scores, the objective and both
 * methods). ConfigError for unknown option keys, a method that cannot run on this many tasks,
 * or a malformed affinity object; ShapeError for a matrix that is not T×T; ValueError for a
 * non-finite off-diagonal entry or an out-of-range option.
 */
export function selectGroups(affinity: AffinityInput, options: GroupingOptions): Grouping {
  checkKeys(options, OPTION_KEYS, 'selectGroups options');
  const { tasks, z, measure } = readAffinity(affinity, options.measure);
  const T = tasks.length;
  const maxGroups = Math.min(expectInt('selectGroups options.maxGroups', options.maxGroups), T);
  const overlap = options.overlap ?? false;
  if (typeof overlap !== 'boolean') throw new ConfigError(`Expected true or false for selectGroups options.overlap but received ${describe(overlap)}`);
  const singleton = expectNumber('selectGroups options.singletonScore', options.singletonScore ?? 0);
  const beamWidth = expectInt('selectGroups options.beamWidth', options.beamWidth ?? 64);
  const asked = options.method ?? 'auto';
  if (!(METHODS as readonly string[]).includes(asked)) throw new ConfigError(`Expected selectGroups options.method ${METHODS.join(', ')} but received ${describe(asked)}`);
  if (asked === 'exact' && T > EXACT_LIMIT_TASKS) {
    throw new ConfigError(`selectGroups: an exact search over ${T} tasks visits 3^${T} subset pairs; exact takes at most ${EXACT_LIMIT_TASKS} tasks, use method 'beam'`);
  }
  const method = asked === 'auto' ? (T <= EXACT_MAX_TASKS ? 'exact' : 'beam') : asked;
  const scorer = new GroupScorer(z, T, singleton);
  const chosen = method === 'exact' ? exactSearch(scorer, maxGroups, overlap) : beamSearch(scorer, maxGroups, overlap, beamWidth);
  const grouping = describeGrouping(scorer, tasks, chosen, method, overlap);
  return measure === undefined ? grouping : { ...grouping, measure };
}

/** The task names and the matrix as a flat row-major Float64Array, checked. */
function readAffinity(affinity: AffinityInput, measure: string | undefined): { tasks: string[]; z: Float64Array; measure?: string } {
  if (affinity === null || typeof affinity !== 'object') throw new ConfigError(`Expected an affinity object { tasks, matrix } but received ${describe(affinity)}`);
  const a = affinity as { tasks?: unknown; matrix?: unknown; mean?: unknown };
  const tasks = a.tasks;
  if (!Array.isArray(tasks) || tasks.length === 0 || tasks.some((t) => typeof t !== 'string' || t === '')) {
    throw new ConfigError(`Expected a non-empty array of task names for affinity.tasks but received ${describe(tasks)}`);
  }
  const dup = tasks.find((t, i) => tasks.indexOf(t) !== i);
  if (dup !== undefined) throw new ConfigError(`affinity.tasks names ${JSON.stringify(dup)} twice`);
  if (tasks.length > MAX_TASKS) throw new ConfigError(`selectGroups takes at most ${MAX_TASKS} tasks, got ${tasks.length}`);
  let key = a.matrix !== undefined ? 'matrix' : 'mean';
  let m = a.matrix ?? a.mean;
  let picked: string | undefined;
  if (m === undefined) throw new ConfigError('Expected affinity.matrix (or affinity.mean): a T×T array, row = source task, column = target task');
  if (m !== null && typeof m === 'object' && !Array.isArray(m)) {
    // An affinity report: mean = { probes, lookahead?, linearised?, cosine? }.
    const record = m as Record<string, unknown>;
    const present = Object.keys(record).filter((k) => Array.isArray(record[k]));
    const pick = measure ?? (present.includes('lookahead') || present.length !== 1 ? 'lookahead' : present[0]);
    if (!Object.hasOwn(record, pick) || !Array.isArray(record[pick])) {
      throw new ConfigError(`the affinity report has no ${JSON.stringify(pick)} matrix in mean (it has ${present.length > 0 ? present.join(', ') : 'none'})`);
    }
    key = `mean.${pick}`;
    m = record[pick];
    picked = pick;
  } else if (measure !== undefined) {
    throw new ConfigError(`selectGroups options.measure ${JSON.stringify(measure)} applies to an affinity report (mean: { lookahead, ... }), not to a bare matrix`);
  }
  const T = tasks.length;
  if (!Array.isArray(m) || m.length !== T) throw new ShapeError(`Expected affinity.${key} to have ${T} rows (one per task) but received ${describe(m)}`);
  const z = new Float64Array(T * T);
  m.forEach((row: unknown, i) => {
    if (!Array.isArray(row) || row.length !== T) throw new ShapeError(`Expected affinity.${key}[${i}] to have ${T} entries but received ${describe(row)}`);
    row.forEach((v: unknown, j) => {
      if (i === j) return;
      if (typeof v !== 'number' || !Number.isFinite(v)) {
        throw new ValueError(`Expected a finite number for affinity.${key}[${i}][${j}] (${tasks[i] as string} → ${tasks[j] as string}) but received ${describe(v)}`);
      }
      z[i * T + j] = v;
    });
  });
  return { tasks: tasks as string[], z, ...(picked !== undefined && { measure: picked }) };
}

/** Member scores s(G, j) from the matrix; groups are bit masks over the task indices. */
class GroupScorer {
  constructor(
    readonly z: Float64Array,
    readonly T: number,
    readonly singleton: number,
  ) {}

  /** s(G, j) for a member j of G. */
  score(group: number, j: number): number {
    const size = popcount(group);
    if (size === 1) return this.singleton;
    let sum = 0;
    for (let i = 0; i < this.T; i++) if (i !== j && group & (1 << i)) sum += this.z[i * this.T + j];
    return sum / (size - 1);
  }

  /** Σ_{j ∈ served} s(G, j). */
  served(group: number, served: number): number {
    let sum = 0;
    for (let j = 0; j < this.T; j++) if (served & (1 << j)) sum += this.score(group, j);
    return sum;
  }
}

/** A search's answer: blocks (served sets) and the group chosen for each. */
interface Chosen {
  blocks: number[];
  groups: number[];
}

function popcount(x: number): number {
  let c = 0;
  for (let v = x; v !== 0; v &= v - 1) c++;
  return c;
}

/** The exact dynamic programme of the module comment. */
function exactSearch(scorer: GroupScorer, maxGroups: number, overlap: boolean): Chosen {
  const { T, z, singleton } = scorer;
  const N = 1 << T;
  // inSum[G·T + j] = Σ_{i ∈ G, i ≠ j} Z[i][j], by peeling G's lowest task b.
  const inSum = new Float64Array(N * T);
  const size = new Uint8Array(N);
  for (let g = 1; g < N; g++) {
    const b = 31 - Math.clz32(g & -g);
    const rest = g & (g - 1);
    size[g] = size[rest] + 1;
    for (let j = 0; j < T; j++) inSum[g * T + j] = inSum[rest * T + j] + (j === b ? 0 : z[b * T + j]);
  }
  const memberScore = (g: number, j: number): number => (size[g] === 1 ? singleton : inSum[g * T + j] / (size[g] - 1));
  // val[S] and, with overlap, the group G ⊇ S reaching it.
  const val = new Float64Array(N).fill(-Infinity);
  const via = new Int32Array(N);
  if (!overlap) {
    for (let s = 1; s < N; s++) {
      let sum = 0;
      for (let j = 0; j < T; j++) if (s & (1 << j)) sum += memberScore(s, j);
      val[s] = sum;
      via[s] = s;
    }
  } else {
    const part = new Float64Array(N);
    for (let g = 1; g < N; g++) {
      // Submasks of g in increasing order, so S minus its lowest task is done before S.
      for (let s = (0 - g) & g; s !== 0; s = (s - g) & g) {
        const b = 31 - Math.clz32(s & -s);
        const v = part[s & (s - 1)] + memberScore(g, b);
        part[s] = v;
        // Ties: the smallest group G wins (groups are visited in increasing mask order).
        if (v > val[s]) {
          val[s] = v;
          via[s] = g;
        }
      }
    }
  }
  // best[k][m]: the best sum over m's tasks with at most k blocks; pick[k][m]: m's lowest task's block, or 0 for "k − 1 blocks suffice".
  let prev = val;
  const picks: Int32Array[] = [Int32Array.from({ length: N }, (_, m) => m)];
  for (let k = 2; k <= maxGroups; k++) {
    const best = Float64Array.from(prev);
    const pick = new Int32Array(N);
    for (let m = 1; m < N; m++) {
      const low = m & -m;
      const others = m ^ low;
      // S = low ∪ (a proper submask of the other tasks), the rest non-empty.
      for (let sub = (others - 1) & others; ; sub = (sub - 1) & others) {
        const s = low | sub;
        const v = val[s] + prev[m ^ s];
        if (v > best[m]) {
          best[m] = v;
          pick[m] = s;
        }
        if (sub === 0) break;
      }
    }
    picks.push(pick);
    prev = best;
  }
  const blocks: number[] = [];
  let m = N - 1;
  for (let k = maxGroups; m !== 0; ) {
    const p = k === 1 ? m : picks[k - 1][m];
    if (p === 0) {
      k--;
      continue;
    }
    blocks.push(p);
    m ^= p;
    k--;
  }
  return { blocks, groups: blocks.map((s) => via[s]) };
}

/** The beam search of the module comment. */
function beamSearch(scorer: GroupScorer, maxGroups: number, overlap: boolean, width: number): Chosen {
  const { T } = scorer;
  const blockValue = (b: number): number => scorer.served(b, b);
  let beam: { blocks: number[]; value: number }[] = [{ blocks: [], value: 0 }];
  for (let t = 0; t < T; t++) {
    const next: { blocks: number[]; value: number }[] = [];
    for (const state of beam) {
      const options = state.blocks.map((_, k) => k);
      if (state.blocks.length < maxGroups) options.push(state.blocks.length);
      for (const k of options) {
        const blocks = [...state.blocks];
        const before = k < blocks.length ? blockValue(blocks[k]) : 0;
        blocks[k] = (blocks[k] ?? 0) | (1 << t);
        next.push({ blocks, value: state.value - before + blockValue(blocks[k]) });
      }
    }
    // Stable sort: equal values keep generation order (fewer groups first within a parent).
    next.sort((a, b) => b.value - a.value);
    beam = next.slice(0, width);
  }
  let best: Chosen | null = null;
  let bestValue = -Infinity;
  for (const state of beam) {
    const groups = state.blocks.map((b) => (overlap ? extend(scorer, b) : b));
    const value = state.blocks.reduce((s, b, k) => s + scorer.served(groups[k], b), 0);
    if (value > bestValue) {
      bestValue = value;
      best = { blocks: state.blocks, groups };
    }
  }
  return best!;
}

/** Greedily adds tasks outside `served` to its group while that raises the served tasks' summed score. */
function extend(scorer: GroupScorer, served: number): number {
  let group = served;
  let value = scorer.served(group, served);
  for (;;) {
    let bestTask = -1;
    let bestValue = value;
    for (let u = 0; u < scorer.T; u++) {
      if (group & (1 << u)) continue;
      const v = scorer.served(group | (1 << u), served);
      if (v > bestValue) {
        bestValue = v;
        bestTask = u;
      }
    }
    if (bestTask < 0) return group;
    group |= 1 << bestTask;
    value = bestValue;
  }
}

/** The chosen groups (duplicates merged), each task's best group and score, and the mean. */
function describeGrouping(scorer: GroupScorer, tasks: string[], chosen: Chosen, method: 'exact' | 'beam', overlap: boolean): Grouping {
  const masks = [...new Set(chosen.groups)].sort((a, b) => (a & -a) - (b & -b) || a - b);
  const groups: TaskGroup[] = masks.map((g) => {
    const members = tasks.map((_, j) => j).filter((j) => g & (1 << j));
    return { tasks: members.map((j) => tasks[j]), scores: Object.fromEntries(members.map((j) => [tasks[j], scorer.score(g, j)])) };
  });
  const assignment: Record<string, TaskAssignment> = {};
  let total = 0;
  tasks.forEach((name, j) => {
    let group = -1;
    let score = -Infinity;
    masks.forEach((g, k) => {
      if (g & (1 << j) && groups[k].scores[name] > score) {
        score = groups[k].scores[name];
        group = k;
      }
    });
    assignment[name] = { group, score };
    total += score;
  });
  return { tasks: [...tasks], groups, assignment, total: total / tasks.length, method, overlap };
}
