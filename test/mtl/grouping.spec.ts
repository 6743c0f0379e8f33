/**
 * The TAG group search: hand-computed optima (with and without overlap, both singleton rules),
 * the exact search against an independent brute force over every choice of groups on random
 * matrices, the beam search against the exact one, and the errors.
 */
import assert from 'node:assert/strict';
import { Rng } from '../../ts/core/random.js';
import { ConfigError, ShapeError, ValueError } from '../../ts/errors.js';
import { type Grouping, selectGroups } from '../../ts/mtl/grouping.js';

/** s(G, j) computed the plain way: mean of Z[i][j] over the other members, `single` alone. */
function memberScore(z: number[][], group: number[], j: number, single: number): number {
  const others = group.filter((i) => i !== j);
  return others.length === 0 ? single : others.reduce((s, i) => s + z[i][j], 0) / others.length;
}

/** Every non-empty subset of 0..T−1 as an index list. */
function subsets(T: number): number[][] {
  const out: number[][] = [];
  for (let m = 1; m < 1 << T; m++) out.push([...Array(T).keys()].filter((i) => m & (1 << i)));
  return out;
}

/** The objective of a set of groups (−Infinity when a task is uncovered). */
function objective(z: number[][], groups: number[][], single: number): number {
  const T = z.length;
  let total = 0;
  for (let j = 0; j < T; j++) {
    let best = -Infinity;
    for (const g of groups) if (g.includes(j)) best = Math.max(best, memberScore(z, g, j, single));
    total += best;
  }
  return total / T;
}

/** Brute force: every set of at most k distinct groups (overlap), or every partition into at most k blocks. */
function bruteForce(z: number[][], k: number, overlap: boolean, single = 0): number {
  const T = z.length;
  let best = -Infinity;
  if (overlap) {
    const all = subsets(T);
    const choose = (from: number, picked: number[][]): void => {
      if (picked.length > 0) best = Math.max(best, objective(z, picked, single));
      if (picked.length === k) return;
      for (let i = from; i < all.length; i++) choose(i + 1, [...picked, all[i]]);
    };
    choose(0, []);
  } else {
    // Restricted growth strings: task t joins one of the blocks so far or opens a new one.
    const assign = (t: number, blocks: number[][]): void => {
      if (t === T) {
        best = Math.max(best, objective(z, blocks, single));
        return;
      }
      blocks.forEach((_, b) => assign(t + 1, blocks.map((x, i) => (i === b ? [...x, t] : x))));
      if (blocks.length < k) assign(t + 1, [...blocks, [t]]);
    };
    assign(0, []);
  }
  return best;
}

function randomMatrix(rng: Rng, T: number): number[][] {
  return Array.from({ length: T }, () => Array.from({ length: T }, () => 2 * rng.uniform() - 1));
}

/** The grouping is well formed: groups cover every task (a partition without overlap), the assignment and total agree with an independent recomputation. */
function checkConsistent(g: Grouping, z: number[][], k: number, single = 0): void {
  const T = z.length;
  const index = (name: string): number => g.tasks.indexOf(name);
  const groups = g.groups.map((x) => x.tasks.map(index));
  assert.ok(groups.length <= k, `${groups.length} groups > ${k}`);
  const counts = new Array<number>(T).fill(0);
  for (const x of groups) for (const j of x) counts[j]++;
  assert.ok(counts.every((c) => c >= 1), 'every task covered');
  if (!g.overlap) assert.ok(counts.every((c) => c === 1), 'a partition');
  assert.ok(Math.abs(g.total - objective(z, groups, single)) < 1e-12, 'total = the objective of the groups');
  g.tasks.forEach((name, j) => {
    const a = g.assignment[name];
    assert.ok(g.groups[a.group].tasks.includes(name));
    assert.ok(Math.abs(a.score - memberScore(z, groups[a.group], j, single)) < 1e-12);
  });
}

const names = (T: number): string[] => Array.from({ length: T }, (_, i) => `t${i}`);

describe('selectGroups', () => {
  it('finds the hand-computed partition (a helps b, c hurts both)', () => {
    // Rows = source. Partitions into ≤ 2 groups (singleton 0):
    //   {a,b,c}: a (0.2 − 0.2)/2 = 0, b (0.4 − 0.4)/2 = 0, c (−0.1 − 0.3)/2 = −0.2 → −0.0667
    //   {a,b}{c}: a 0.2, b 0.4, c 0 → 0.2 (the optimum)
    //   {a,c}{b}: a −0.2, c −0.1, b 0 → −0.1;  {b,c}{a}: b −0.4, c −0.3 → −0.2333
    const affinity = { tasks: ['a', 'b', 'c'], matrix: [[0, 0.4, -0.1], [0.2, 0, -0.3], [-0.2, -0.4, 0]] };
    const g = selectGroups(affinity, { maxGroups: 2 });
    assert.deepEqual(g.groups.map((x) => x.tasks), [['a', 'b'], ['c']]);
    assert.ok(Math.abs(g.total - 0.2) < 1e-12);
    assert.deepEqual(g.assignment, { a: { group: 0, score: 0.2 }, b: { group: 0, score: 0.4 }, c: { group: 1, score: 0 } });
    assert.equal(g.method, 'exact');
    const one = selectGroups(affinity, { maxGroups: 1 });
    assert.deepEqual(one.groups.map((x) => x.tasks), [['a', 'b', 'c']]);
    assert.ok(Math.abs(one.total + 0.2 / 3) < 1e-12);
  });

  it('uses overlap when a hub task helps two tasks that hurt each other', () => {
    // a → b 0.5, a → c 0.5, b ↔ c −1, b → a 0.1, c → a 0.15.
    //   without overlap: {a,c}{b}: (0.15 + 0.5 + 0)/3 beats {a,b}{c}: (0.1 + 0.5 + 0)/3 and {a,b,c}: (0.125 − 0.25 − 0.25)/3
    //   with overlap {a,b}{a,c}: a max(0.1, 0.15), b 0.5, c 0.5 → 1.15/3
    const affinity = { tasks: ['a', 'b', 'c'], mean: [[0, 0.5, 0.5], [0.1, 0, -1], [0.15, -1, 0]] };
    const plain = selectGroups(affinity, { maxGroups: 2 });
    assert.ok(Math.abs(plain.total - 0.65 / 3) < 1e-12);
    assert.deepEqual(plain.groups.map((x) => x.tasks), [['a', 'c'], ['b']]);
    const shared = selectGroups(affinity, { maxGroups: 2, overlap: true });
    assert.deepEqual(shared.groups.map((x) => x.tasks), [['a', 'b'], ['a', 'c']]);
    assert.ok(Math.abs(shared.total - 1.15 / 3) < 1e-12);
    assert.deepEqual(shared.assignment.a, { group: 1, score: 0.15 });
    assert.deepEqual(shared.assignment.b, { group: 0, score: 0.5 });
    assert.deepEqual(shared.assignment.c, { group: 1, score: 0.5 });
  });

  it('puts a task that every other task hurts alone, unless singletons score −1e6 (TAG\'s code)', () => {
    // noise ↔ others −0.3; x ↔ y +0.2.
    const affinity = { tasks: ['x', 'y', 'noise'], matrix: [[0, 0.2, -0.3], [0.2, 0, -0.3], [-0.3, -0.3, 0]] };
    const g = selectGroups(affinity, { maxGroups: 3 });
    assert.deepEqual(g.groups.map((x) => x.tasks), [['x', 'y'], ['noise']]);
    // Singletons at −1e6 are a last resort: with 2 groups allowed and overlap, noise joins a pair.
    const tag = selectGroups(affinity, { maxGroups: 2, overlap: true, singletonScore: -1e6 });
    assert.ok(tag.groups.every((x) => x.tasks.length >= 2), JSON.stringify(tag.groups));
    assert.ok(tag.groups.some((x) => x.tasks.includes('noise')));
  });

  it('matches a brute force over every choice of groups on random matrices (exact)', () => {
    const rng = new Rng(7);
    for (let trial = 0; trial < 12; trial++) {
      const T = 3 + (trial % 3); // 3..5 tasks
      const z = randomMatrix(rng, T);
      for (const k of [1, 2, 3]) {
        for (const overlap of [false, true]) {
          for (const single of [0, -0.5]) {
            const g = selectGroups({ tasks: names(T), matrix: z }, { maxGroups: k, overlap, singletonScore: single, method: 'exact' });
            checkConsistent(g, z, k, single);
            const want = bruteForce(z, k, overlap, single);
            assert.ok(Math.abs(g.total - want) < 1e-12, `T=${T} k=${k} overlap=${overlap} single=${single}: ${g.total} vs brute force ${want}`);
          }
        }
      }
    }
  });

  it('beam search: exact when the beam holds every partition, within 0.02 of the optimum at the default width', () => {
    const rng = new Rng(11);
    let worst = 0;
    for (let trial = 0; trial < 10; trial++) {
      const T = 6 + (trial % 3); // 6..8 tasks
      const z = randomMatrix(rng, T);
      for (const k of [2, 3]) {
        const exact = selectGroups({ tasks: names(T), matrix: z }, { maxGroups: k, method: 'exact' });
        const wide = selectGroups({ tasks: names(T), matrix: z }, { maxGroups: k, method: 'beam', beamWidth: 5000 });
        assert.equal(wide.method, 'beam');
        checkConsistent(wide, z, k);
        assert.ok(Math.abs(wide.total - exact.total) < 1e-12, `T=${T} k=${k}: ${wide.total} vs ${exact.total}`);
        for (const overlap of [false, true]) {
          const ex = overlap ? selectGroups({ tasks: names(T), matrix: z }, { maxGroups: k, overlap, method: 'exact' }) : exact;
          const beam = selectGroups({ tasks: names(T), matrix: z }, { maxGroups: k, overlap, method: 'beam' });
          checkConsistent(beam, z, k);
          assert.ok(beam.total <= ex.total + 1e-12, 'never above the optimum');
          worst = Math.max(worst, ex.total - beam.total);
        }
      }
    }
    assert.ok(worst <= 0.02, `largest gap ${worst}`);
  });

  it('switches to the beam beyond 12 tasks and runs exactly on 12 (3^12 subset pairs)', () => {
    const rng = new Rng(3);
    const z12 = randomMatrix(rng, 12);
    const g12 = selectGroups({ tasks: names(12), matrix: z12 }, { maxGroups: 3, overlap: true });
    assert.equal(g12.method, 'exact');
    checkConsistent(g12, z12, 3);
    const z14 = randomMatrix(rng, 14);
    const g14 = selectGroups({ tasks: names(14), matrix: z14 }, { maxGroups: 3 });
    assert.equal(g14.method, 'beam');
    checkConsistent(g14, z14, 3);
    assert.throws(() => selectGroups({ tasks: names(17), matrix: randomMatrix(rng, 17) }, { maxGroups: 2, method: 'exact' }), ConfigError);
  });

  it("reads the affinity probe's report: mean.lookahead by default, another measure on request", () => {
    const report = {
      tasks: ['a', 'b', 'c'],
      mean: { probes: 3, lookahead: [[0, 0.4, -0.1], [0.2, 0, -0.3], [-0.2, -0.4, 0]], cosine: [[1, -1, 1], [-1, 1, 1], [1, 1, 1]] },
    };
    assert.deepEqual(selectGroups(report, { maxGroups: 2 }).groups.map((x) => x.tasks), [['a', 'b'], ['c']]);
    // cosine: a ↔ c and b ↔ c +1, a ↔ b −1: {a,c}{b} (or {b,c}{a}): (1 + 1 + 0)/3.
    const byCosine = selectGroups(report, { maxGroups: 2, measure: 'cosine' });
    assert.ok(Math.abs(byCosine.total - 2 / 3) < 1e-12);
    assert.throws(() => selectGroups(report, { maxGroups: 2, measure: 'linearised' }), /no "linearised" matrix in mean \(it has lookahead, cosine\)/);
    assert.throws(() => selectGroups({ tasks: ['a', 'b'], matrix: [[0, 1], [1, 0]] }, { maxGroups: 1, measure: 'cosine' }), ConfigError);
  });

  it('rejects bad input with errors naming what is wrong', () => {
    const ok = { tasks: ['a', 'b'], matrix: [[0, 1], [1, 0]] };
    assert.throws(() => selectGroups(ok, { maxGroups: 2, overlaps: true } as never), /Unknown key "overlaps".*did you mean "overlap"/);
    assert.throws(() => selectGroups(ok, { maxGroups: 0 }), ValueError);
    assert.throws(() => selectGroups(ok, { maxGroups: 1, method: 'greedy' as never }), ConfigError);
    assert.throws(() => selectGroups({ tasks: ['a', 'b'], matrix: [[0, 1]] }, { maxGroups: 1 }), ShapeError);
    assert.throws(() => selectGroups({ tasks: ['a', 'b'], matrix: [[0, NaN], [1, 0]] }, { maxGroups: 1 }), /affinity\.matrix\[0\]\[1\] \(a → b\)/);
    assert.throws(() => selectGroups({ tasks: ['a', 'a'], matrix: [[0, 1], [1, 0]] }, { maxGroups: 1 }), /names "a" twice/);
    assert.throws(() => selectGroups({ tasks: ['a', 'b'] } as never, { maxGroups: 1 }), /affinity\.matrix/);
    // The diagonal is ignored, NaN included.
    assert.equal(selectGroups({ tasks: ['a', 'b'], matrix: [[NaN, 1], [1, NaN]] }, { maxGroups: 2 }).total, 1);
  });
});
