/**
 * The fair protocol of compare() (search on a validation split carved from the training data,
 * then every seed on the test set) and its pieces in ts/train/search.ts: the test set is never
 * read before every setting is selected (a spy) and poisoning it changes nothing but the
 * reported test metrics; selection is deterministic for a seed; an interrupted comparison
 * resumed from its folder gives the same result as an uninterrupted one.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Backend } from '../../ts/backends/backend.js';
import { ReferenceBackend } from '../../ts/backends/reference.js';
import { MultiTaskDataset } from '../../ts/data/dataset.js';
import { makeMultiMnist } from '../../ts/data/multimnist.js';
import { ConfigError, TrainingAbortedError, ValueError } from '../../ts/errors.js';
import {
  type CompareOptions,
  type CompareRunEvent,
  type ComparisonResult,
  compare,
  deltaM,
  formatComparison,
} from '../../ts/train/compare.js';
import {
  RunStore,
  applySetting,
  carveValidation,
  checkSearchSpace,
  datasetFingerprint,
  parseSearchSpec,
  searchGrid,
  stableJson,
} from '../../ts/train/search.js';
import { backendsUnderTest } from '../backends/harness.js';
import { multiMnistMlp } from '../fixtures.js';

const SGD = { kind: 'sgd', lr: 0.05, momentum: 0.9 } as const;

describe('search space', () => {
  it('parses --search specs into keys and typed values', () => {
    assert.deepEqual(parseSearchSpec('lr=0.005,0.01'), ['lr', [0.005, 0.01]]);
    assert.deepEqual(parseSearchSpec('cagrad:c=0.2, 0.5'), ['cagrad:c', [0.2, 0.5]]);
    assert.deepEqual(parseSearchSpec('mgda-ub:normalize=true,false'), ['mgda-ub:normalize', [true, false]]);
    assert.throws(() => parseSearchSpec('lr'), (e: Error) => e instanceof ConfigError && /like "lr=0.01,0.02"/.test(e.message));
    assert.throws(() => parseSearchSpec('lr=0.1,,0.2'), /search lr: empty value/);
  });

  it('rejects unknown keys, bad values and duplicates, naming the key', () => {
    const bad = (space: Record<string, unknown[]>, pattern: RegExp, optimizer: Parameters<typeof checkSearchSpace>[1] = SGD): void =>
      assert.throws(() => checkSearchSpace(space as never, optimizer, 64), (e: Error) => e instanceof ConfigError && pattern.test(e.message), pattern.source);
    checkSearchSpace({ lr: [0.01], 'weight-decay': [0, 1e-4], momentum: [0, 0.9], batchSize: [32, 64], 'cagrad:c': [0.2] }, SGD, 64);
    bad({ lrate: [0.1] }, /Unknown search key "lrate": expected lr, momentum/);
    bad({ 'cagrad:alpha': [1] }, /weighting cagrad has the options c/);
    bad({ 'equal:x': [1] }, /weighting equal has no options/);
    bad({ 'magic:c': [1] }, /Unknown search key "magic:c"/);
    bad({ lr: [] }, /search\.lr must be a non-empty array/);
    bad({ lr: [0.1, 0.1] }, /search\.lr lists 0\.1 twice/);
    bad({ lr: [0] }, /search\.lr expects a positive number for each value, got 0/);
    bad({ lr: ['fast'] }, /search\.lr expects a positive number/);
    bad({ momentum: [1.5] }, /momentum expects a number in \[0, 1\]/);
    bad({ batchSize: [2.5] }, /batchSize expects a positive integer/);
    bad({ batchSize: [128] }, /exceeds the model's maxBatch 64/);
    bad({ momentum: [0.9] }, /momentum is an option of sgd, not of adamw/, { kind: 'adamw', lr: 1e-3 });
  });

  it('grids the keys that apply to a strategy, first key slowest; a strategy key reaches only its strategy', () => {
    const space = { lr: [0.01, 0.02], 'cagrad:c': [0.2, 0.5] };
    assert.deepEqual(searchGrid(space, 'equal'), [{ lr: 0.01 }, { lr: 0.02 }]);
    assert.deepEqual(searchGrid(space, 'cagrad'), [
      { lr: 0.01, 'cagrad:c': 0.2 },
      { lr: 0.01, 'cagrad:c': 0.5 },
      { lr: 0.02, 'cagrad:c': 0.2 },
      { lr: 0.02, 'cagrad:c': 0.5 },
    ]);
    assert.deepEqual(searchGrid({}, 'equal'), [{}]);
    const a = applySetting({ lr: 0.02, 'cagrad:c': 0.5, batchSize: 32 }, SGD, 64, 'cagrad:c=0.4,space=representation');
    assert.deepEqual(a, { optimizer: { ...SGD, lr: 0.02 }, batchSize: 32, weighting: 'cagrad:c=0.5,space=representation' });
    assert.equal(applySetting({ lr: 0.02 }, SGD, 64, 'pcgrad').weighting, 'pcgrad', 'a spec without strategy keys is kept as written');
  });

  it('draws a budget of distinct grid points, the same for a seed, in grid order', () => {
    const space = { lr: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05], momentum: [0, 0.5, 0.9] };
    const grid = searchGrid(space, 'equal');
    assert.equal(grid.length, 18);
    const pick = (seed: number): number[] => searchGrid(space, 'equal', 5, seed).map((s) => grid.findIndex((g) => stableJson(g) === stableJson(s)));
    const a = pick(7);
    assert.equal(a.length, 5);
    assert.equal(new Set(a).size, 5, 'distinct');
    assert.ok(a.every((i) => i >= 0), 'grid points');
    assert.deepEqual([...a].sort((x, y) => x - y), a, 'in grid order');
    assert.deepEqual(pick(7), a, 'the same for the same seed');
    assert.ok([1, 2, 3, 4, 5].some((s) => stableJson(pick(s)) !== stableJson(a)), 'another seed draws another subset');
    assert.equal(searchGrid(space, 'equal', 50, 7).length, 18, 'a budget above the grid takes the grid');
  });
});

describe('validation split and run records', () => {
  const ds = new MultiTaskDataset({
    inputs: Float32Array.from({ length: 40 }, (_, i) => i),
    inputShape: [2],
    labels: { y: Float32Array.from({ length: 20 }, (_, i) => i) },
  });

  it('carves a seeded validation split from the training rows: disjoint, complete, ordered', () => {
    const { train, validation } = carveValidation(ds, 0.25, 3);
    assert.equal(validation.length, 5);
    assert.equal(train.length, 15);
    const ids = (d: MultiTaskDataset): number[] => Array.from(d.labels('y'));
    assert.deepEqual([...ids(train), ...ids(validation)].sort((a, b) => a - b), ids(ds));
    assert.deepEqual([...ids(validation)].sort((a, b) => a - b), ids(validation), 'rows keep their order');
    assert.deepEqual(ids(carveValidation(ds, 0.25, 3).validation), ids(validation), 'the same for the seed');
    assert.notDeepEqual(ids(carveValidation(ds, 0.25, 4).validation), ids(validation));
    assert.throws(() => carveValidation(ds, 1, 3), (e: Error) => e instanceof ValueError && /\(0, 1\)/.test(e.message));
    assert.throws(() => carveValidation(ds, 0.01, 3), /leaves no validation rows/);
  });

  it('fingerprints datasets by content', () => {
    const copy = ds.slice(0, ds.length);
    assert.equal(datasetFingerprint(copy), datasetFingerprint(ds));
    const labels = Float32Array.from(ds.labels('y'));
    labels[7] = 0;
    assert.notEqual(datasetFingerprint(new MultiTaskDataset({ inputs: ds.inputs, inputShape: [2], labels: { y: labels } })), datasetFingerprint(ds));
  });

  it('stores records under their key, whatever the key order, and ignores a record stored under another key', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hydranet-runstore-'));
    const store = new RunStore(dir);
    assert.equal(store.get({ a: 1 }), undefined);
    store.put({ a: 1, b: { c: 2, d: 3 } }, { score: 0.5 });
    assert.deepEqual(store.get({ b: { d: 3, c: 2 }, a: 1 }), { score: 0.5 });
    assert.equal(store.get({ a: 1, b: { c: 2, d: 4 } }), undefined);
    const [file] = fs.readdirSync(dir);
    const obj = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'));
    obj.key.a = 2; // the file no longer holds the key its name stands for
    fs.writeFileSync(path.join(dir, file), JSON.stringify(obj));
    assert.equal(store.get({ a: 1, b: { c: 2, d: 3 } }), undefined);
    fs.writeFileSync(path.join(dir, file), '{"key": {"a": 1, "b"'); // cut short
    assert.equal(store.get({ a: 1, b: { c: 2, d: 3 } }), undefined);
  });
});

/** Zeroes every wall-time field, so results of separate calls compare equal. */
const timeless = (r: ComparisonResult): unknown =>
  JSON.parse(JSON.stringify(r, (k, v: unknown) => (k === 'seconds' || k === 'stepsPerSecond' ? 0 : v)));

describe('compare with search and seeds', function () {
  this.timeout(300_000);
  let backend: Backend;
  const train = makeMultiMnist({ split: 'train', seed: 1, count: 800 });
  const test = makeMultiMnist({ split: 'test', seed: 2, count: 200 });
  const opts = (extra: Partial<CompareOptions> = {}): CompareOptions => ({
    backend,
    train,
    test,
    model: multiMnistMlp([16], 64, 3),
    trainer: { optimizer: SGD, batchSize: 64, epochs: 2, seed: 5 },
    configurations: [
      { label: 'equal', weighting: 'equal' },
      { label: 'uncertainty', weighting: 'uncertainty' },
    ],
    search: { lr: [0.003, 0.1] },
    seeds: 2,
    ...extra,
  });

  before(async () => {
    backend = (await backendsUnderTest()).find((b) => b.name === 'cpu')?.backend ?? new ReferenceBackend();
  });

  let reference: ComparisonResult;
  const events: CompareRunEvent[] = [];
  const lines: string[] = [];

  it('searches each row on the carved validation split, then reports every seed on the test set', async () => {
    reference = await compare(opts({ onRun: (e) => events.push(e), log: (l) => lines.push(l) }));
    const tuning = reference.tuning!;
    assert.deepEqual(tuning.seeds, [5, 6]);
    assert.deepEqual(tuning.validation, { rows: 80, carved: true, fraction: 0.1 });
    assert.equal(tuning.trainRows, 720);
    assert.equal(tuning.testRows, 200);
    // 4 rows (2 baselines, 2 configurations) × (2 search runs + 2 seed runs), searches first.
    assert.equal(events.length, 16);
    assert.deepEqual(events.map((e) => e.phase), [...Array(8).fill('search'), ...Array(8).fill('seed')]);
    assert.ok(events.every((e, i) => e.index === i + 1 && e.total === 16 && !e.recorded));
    assert.match(lines[0], /4 rows \(2 single-task \+ 2 configurations\); 8 search runs \+ 4 × 2 seed runs = 16 runs; training 720 rows, validation 80 rows \(carved/);
    assert.match(lines[2], /^time estimate: about \d+ (s|min)/);
    for (const row of [...Object.values(tuning.baselines), ...tuning.runs]) {
      assert.equal(row.trials.length, 2);
      const best = row.trials.reduce((b, t) => (t.score > b.score ? t : b));
      assert.deepEqual(row.setting, best.setting, `${row.label}: the best validation score is selected`);
      assert.deepEqual(row.seeds.map((s) => s.seed), [5, 6]);
      for (const s of row.seeds) assert.ok(s.test[Object.keys(s.test)[0]].accuracy! > 0.1, `${row.label} learns`);
    }
    // The means are the seeds' means, and Δm is each seed's over the mean baselines.
    const eq = tuning.runs[0];
    assert.equal(eq.mean.left.accuracy, (eq.seeds[0].test.left.accuracy! + eq.seeds[1].test.left.accuracy!) / 2);
    assert.equal(reference.baselines.left.accuracy, tuning.baselines.left.mean.left.accuracy);
    for (const s of eq.seeds) assert.equal(s.deltaM, deltaM(reference.baselines, s.test));
    assert.ok(Math.abs(eq.deltaM!.sd - Math.abs(eq.seeds[0].deltaM! - eq.seeds[1].deltaM!) / Math.SQRT2) < 1e-9, 'sample sd of two');
    assert.equal(reference.runs[0].metrics, eq.mean);
    assert.equal(reference.runs[0].deltaM, eq.deltaM!.mean);
    const table = formatComparison(reference);
    assert.match(table, /^configuration\s+setting\s+left acc\s+right acc\s+Δm\s+epochs\s+time$/m);
    assert.match(table, /^single-task left\s+lr=0\.\d+\s+\d+\.\d\d ± \d+\.\d\d%\s+—/m);
    assert.match(table, /^equal\s+lr=0\.\d+\s+\d+\.\d\d ± \d+\.\d\d%\s+\d+\.\d\d ± \d+\.\d\d%\s+[+-]\d+\.\d\d ± \d+\.\d\d%\s+[12],[12]\/2/m);
  });

  /**
   * The test set with wrong labels everywhere, and a spy on every way a dataset is read (the
   * trainer's, and the copy a child process of jobs is sent): `reads()` counts the reads before
   * `searchDone()` is called.
   */
  const poisonedTestSet = (): { poisoned: MultiTaskDataset; searchDone: () => void; reads: () => number } => {
    const poisoned = new MultiTaskDataset({
      inputs: test.inputs,
      inputShape: test.inputShape,
      labels: Object.fromEntries(test.taskNames.map((t) => [t, test.labels(t).map((y) => (y + 3) % 10)])),
    });
    let phase: 'search' | 'seed' = 'search';
    let readsDuringSearch = 0;
    const spy = (): void => {
      if (phase === 'search') readsDuringSearch++;
    };
    for (const m of ['labels', 'mask', 'gatherInputs', 'labelWidth'] as const) {
      const original = poisoned[m].bind(poisoned) as (...a: unknown[]) => unknown;
      Object.defineProperty(poisoned, m, { value: (...a: unknown[]) => (spy(), original(...a)) });
    }
    const inputs = poisoned.inputs;
    Object.defineProperty(poisoned, 'inputs', { get: () => (spy(), inputs) });
    return { poisoned, searchDone: () => (phase = 'seed'), reads: () => readsDuringSearch };
  };
  const tunedRows = (x: ComparisonResult) => [...Object.values(x.tuning!.baselines), ...x.tuning!.runs];

  it('never reads the test set before every setting is selected, and poisoned test labels change only the test metrics', async () => {
    const { poisoned, searchDone, reads } = poisonedTestSet();
    const r = await compare(
      opts({
        test: poisoned,
        onRun: (e) => {
          if (e.phase === 'search' && e.index === 8) searchDone(); // the last search run has finished
        },
      }),
    );
    assert.equal(reads(), 0, 'the test set was read during the search');
    const rows = tunedRows;
    for (const [a, b] of rows(r).map((row, i) => [row, rows(reference)[i]] as const)) {
      assert.deepEqual(a.trials.map((t) => [t.setting, t.score]), b.trials.map((t) => [t.setting, t.score]), `${a.label}: the same search`);
      assert.deepEqual(a.setting, b.setting, `${a.label}: the same selection`);
      assert.deepEqual(a.seeds.map((s) => s.validation), b.seeds.map((s) => s.validation), `${a.label}: the same seed runs`);
      assert.ok(a.seeds.every((s, i) => Object.keys(s.test).every((t) => s.test[t].accuracy! < b.seeds[i].test[t].accuracy!)), `${a.label}: worse on wrong labels`);
    }
  });

  it('with selectSeeds 2 and jobs 2 as well: no test-set read during the search, the same selections on the mean as with clean labels', async () => {
    const clean = await compare(opts({ selectSeeds: 2, jobs: 2 }));
    const { poisoned, searchDone, reads } = poisonedTestSet();
    const events: CompareRunEvent[] = [];
    const r = await compare(
      opts({
        test: poisoned,
        selectSeeds: 2,
        jobs: 2,
        onRun: (e) => {
          events.push(e);
          if (e.index === 16) searchDone(); // 4 rows × 2 settings × 2 seeds: every search run has finished
        },
      }),
    );
    assert.deepEqual(events.map((e) => e.phase), [...Array(16).fill('search'), ...Array(8).fill('seed')]);
    assert.equal(reads(), 0, 'the test set was read during the search');
    for (const [a, b] of tunedRows(r).map((row, i) => [row, tunedRows(clean)[i]] as const)) {
      assert.deepEqual(a.trials.map((t) => [t.setting, t.score, t.seeds!.map((s) => s.score)]), b.trials.map((t) => [t.setting, t.score, t.seeds!.map((s) => s.score)]), `${a.label}: the same search`);
      assert.deepEqual(a.setting, b.setting, `${a.label}: the same selection`);
      assert.ok(a.seeds.every((s, i) => Object.keys(s.test).every((t) => s.test[t].accuracy! < b.seeds[i].test[t].accuracy!)), `${a.label}: worse on wrong labels`);
    }
  });

  it('selects the same settings and gets the same results for the same seed', async () => {
    const again = await compare(opts());
    assert.deepEqual(timeless(again), timeless(reference));
  });

  it('resumes an interrupted comparison from its folder and gives the same table', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hydranet-compare-resume-'));
    const controller = new AbortController();
    const first: CompareRunEvent[] = [];
    await assert.rejects(
      compare(
        opts({
          outDir: dir,
          signal: controller.signal,
          onRun: (e) => {
            first.push(e);
            if (e.index === 5) controller.abort(); // killed after 5 runs: the searches of 2½ rows
          },
        }),
      ),
      (e: Error) => e instanceof TrainingAbortedError && /compare stopped before run 6 of 16; rerun with the same outDir/.test(e.message),
    );
    assert.equal(first.length, 5);
    assert.equal(fs.readdirSync(dir).filter((f) => f.endsWith('.json')).length, 5, 'one record per finished run');
    const second: CompareRunEvent[] = [];
    const lines: string[] = [];
    const resumed = await compare(opts({ outDir: dir, onRun: (e) => second.push(e), log: (l) => lines.push(l) }));
    assert.deepEqual(second.map((e) => e.recorded), [...Array(5).fill(true), ...Array(11).fill(false)], 'continues where it stopped');
    // An estimate before the first run it trains, from the recorded runs' times; then one on every line.
    assert.match(lines[6], /^time estimate: about \d+ s for the 11 runs left \(\d+\.\d s per run, from the times of 5 recorded runs\)$/);
    assert.match(lines[7], /^\[6\/16\] search .*\d s\); about \d+ s left$/);
    assert.deepEqual(timeless(resumed), timeless(reference));
    const noTime = (t: string): string => t.replace(/\d+\.\d s/g, 'T');
    assert.equal(noTime(formatComparison(resumed)), noTime(formatComparison(reference)));
    // Once more: everything is read back, nothing trains, the same result to the last digit.
    const third: CompareRunEvent[] = [];
    const read = await compare(opts({ outDir: dir, onRun: (e) => third.push(e) }));
    assert.ok(third.every((e) => e.recorded));
    assert.deepEqual(read, { ...resumed });
    // Another setting is another run: a different key, trained, not read.
    const other: CompareRunEvent[] = [];
    await compare(opts({ outDir: dir, configurations: [], search: { lr: [0.003, 0.05] }, seeds: 1, onRun: (e) => other.push(e) }));
    assert.deepEqual(other.map((e) => e.recorded), [true, false, true, false, false, false]);
  });

  it('rejects options of the fair protocol that do not fit, before anything trains', async () => {
    const bad = async (extra: Partial<CompareOptions>, pattern: RegExp): Promise<void> => {
      let logged = 0;
      await assert.rejects(compare(opts({ ...extra, log: () => logged++ })), (e: Error) => (e instanceof ConfigError || e instanceof ValueError) && pattern.test(e.message), pattern.source);
      assert.equal(logged, 0, 'nothing trained');
    };
    await bad({ test: undefined }, /search and seeds report on a test set/);
    await bad({ baselines: { left: { accuracy: 0.9 }, right: { accuracy: 0.9 } } }, /given baselines do not apply/);
    await bad({ search: { lrate: [1] } }, /Unknown search key "lrate"/);
    await bad({ seeds: 0 }, /positive integer for seeds/);
    await bad({ seeds: [1, 1] }, /seeds lists a seed twice/);
    await bad({ validation: test, validationFraction: 0.2 }, /give one or the other/);
    await bad({ validationFraction: 1 }, /\(0, 1\) for validationFraction/);
    await bad({ searchBudget: 0 }, /positive integer for searchBudget/);
    // A combination only the trainer can refuse fails before the rows before it train.
    await bad(
      { configurations: [{ label: 'equal', weighting: 'equal' }, { label: 'soft pcgrad', weighting: 'pcgrad', sharing: { kind: 'soft' } }] },
      /configuration "soft pcgrad": gradient-based weighting .* soft sharing has none/,
    );
    await assert.rejects(compare({ ...opts(), test: undefined, search: undefined, seeds: undefined, outDir: '/tmp/x' }), /outDir belongs to the fair protocol/);
  });
});
