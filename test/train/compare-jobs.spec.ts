/**
 * compare()'s fair protocol with `jobs` (runs in child processes, ts/train/compare-jobs.ts)
 * and `selectSeeds` (selection on the mean over seeds), and the compatibility of its run
 * records: the file names (hashes of each run's key) of one fixed configuration are pinned to
 * the literals the code wrote before either option existed, so that a comparison recorded
 * then (the long Table 2 run) resumes with this code.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Backend } from '../../ts/backends/backend.js';
import { createBackend } from '../../ts/backends/create.js';
import { ReferenceBackend } from '../../ts/backends/reference.js';
import { MultiTaskDataset } from '../../ts/data/dataset.js';
import { ConfigError, HydranetError, NonFiniteLossError, TrainingAbortedError, ValueError } from '../../ts/errors.js';
import { type CompareOptions, type CompareRunEvent, type ComparisonResult, compare, formatComparison } from '../../ts/train/compare.js';
import { readDatasetFile, rebuildError, writeDatasetFile } from '../../ts/train/compare-jobs.js';
import { pinned, synthetic, workersOf } from './compare-jobs-fixtures.js';
import { backendsUnderTest } from '../backends/harness.js';

/**
 * The run files the fixed configuration wrote before `jobs` and `selectSeeds` existed
 * (computed with that code, commit 02e8d76): a run's file name is the hash of its key, so these
 * change only if a run's key does, and then every recorded comparison would train again.
 */
const PINNED_FILES: Record<string, string[]> = {
  reference: [
    '1af61d22d231632197c8ec99674687ad.json',
    '20e86698fa5267596a2095390b8a6f8a.json',
    '4bc501d55454009e32ab3f24011de58d.json',
    '4bfcbda653b2ad5a1649adbfe55a789b.json',
    '4dc241a52bd5b03cef870364e1bbcf5b.json',
    'a99590d7f7e0cb64a3813dd8f8f29a6d.json',
    'ac7206fb844b524e5e830ced06c80e94.json',
    'b163d718fe9738056f387952889cb5e8.json',
    'f02ea75e3706fa8782240e5cf137f4b9.json',
  ],
  cpu: [
    '45b32dd9df893ec51a1189bf51633cee.json',
    '547a632ed0809bd91388e09defa52366.json',
    '820ee2e447dec40cb227fd50b9d698c5.json',
    'a2f3b6822b04fac3c65319f29455f674.json',
    'bbb0a454cdb95af536bbdf79c5636236.json',
    'c669262be57ae70e3964e257a6c21096.json',
    'ce7b0fe369d42a930fd213174be58290.json',
    'd32e95d7d1b6e7f31718976e5e2bb299.json',
    'e60a5ff3dd73610ce7803672db80bdda.json',
  ],
};

const made: string[] = [];
const tmp = (what: string): string => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `hydranet-compare-${what}-`));
  made.push(dir);
  return dir;
};
const runFiles = (dir: string): string[] => fs.readdirSync(dir).filter((f) => /^[0-9a-f]{32}\.json$/.test(f)).sort();
/** A run file with its wall times zeroed. */
const timelessFile = (file: string): string =>
  JSON.stringify(JSON.parse(fs.readFileSync(file, 'utf8')), (k, v: unknown) => (k === 'seconds' || k === 'stepsPerSecond' ? 0 : v));
const timeless = (r: ComparisonResult): unknown =>
  JSON.parse(JSON.stringify(r, (k, v: unknown) => (k === 'seconds' || k === 'stepsPerSecond' ? 0 : v)));
const noTime = (t: string): string => t.replace(/\d+\.\d s/g, 'T');

/** The compare-worker child processes of this process that are alive. */
const workers = (): number[] => workersOf(process.pid);

async function noWorkersLeft(): Promise<void> {
  for (let i = 0; i < 100 && workers().length > 0; i++) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(workers(), [], 'every child process has exited');
}

describe('compare: run records, jobs and selectSeeds', function () {
  this.timeout(300_000);
  const reference = new ReferenceBackend();
  let cpu: Backend | undefined;
  before(async () => {
    if ((await backendsUnderTest()).some((b) => b.name === 'cpu' && b.backend)) cpu = await createBackend('cpu', { threads: 1 });
  });
  after(() => {
    cpu?.dispose();
    for (const d of made) fs.rmSync(d, { recursive: true, force: true });
  });

  it('keeps the file names of the runs recorded before jobs and selectSeeds existed (their keys unchanged)', async () => {
    for (const [backend, names] of [[reference, PINNED_FILES.reference], ...(cpu ? [[cpu, PINNED_FILES.cpu] as const] : [])] as const) {
      const dir = tmp('pinned');
      await compare(pinned(backend, dir));
      assert.deepEqual(runFiles(dir), names, `${backend.name}: the hash of some run's key changed`);
      // The defaults given explicitly are the same runs.
      const again: CompareRunEvent[] = [];
      await compare(pinned(backend, dir, { selectSeeds: 1, jobs: 1, onRun: (e) => again.push(e) }));
      assert.ok(again.length === 9 && again.every((e) => e.recorded), 'read back, not trained');
      assert.deepEqual(runFiles(dir), names);
      const rec = JSON.parse(fs.readFileSync(path.join(dir, names[0]), 'utf8'));
      assert.deepEqual(Object.keys(rec), ['key', 'record']);
      assert.deepEqual(Object.keys(rec.key).sort(), ['backend', 'data', 'model', 'phase', 'protocol', 'selection', 'trainer']);
    }
  });

  it('jobs 2 trains in child processes and writes the same run records, in the same files, with the same table', async () => {
    const runs: [Backend, number | undefined][] = [[reference, undefined], ...(cpu ? [[cpu, 1] as [Backend, number]] : [])];
    for (const [backend, threads] of runs) {
      const one = tmp('jobs1');
      const two = tmp('jobs2');
      const r1 = await compare(pinned(backend, one));
      const events: CompareRunEvent[] = [];
      const r2 = await compare(pinned(backend, two, { jobs: 2, ...(threads !== undefined && { threads }), onRun: (e) => events.push(e) }));
      assert.deepEqual(runFiles(two), runFiles(one));
      for (const f of runFiles(one)) assert.equal(timelessFile(path.join(two, f)), timelessFile(path.join(one, f)), `${backend.name} ${f}`);
      assert.deepEqual(timeless(r2), timeless(r1));
      assert.equal(noTime(formatComparison(r2)), noTime(formatComparison(r1)));
      assert.deepEqual(events.map((e) => e.index), [1, 2, 3, 4, 5, 6, 7, 8, 9], 'counted as they finish');
      assert.deepEqual(events.map((e) => e.phase), [...Array(6).fill('search'), ...Array(3).fill('seed')], 'every search before the first seed run');
      assert.ok(events.slice(0, 8).every((e) => typeof e.secondsLeft === 'number' && e.secondsLeft >= 0), 'an estimate on every run but the last');
      assert.equal(events[8].secondsLeft, undefined);
    }
    await noWorkersLeft();
  });

  it('stops every child on abort, keeps the finished runs, and resumes with jobs 1 to the same result', async () => {
    const dir = tmp('abort');
    const controller = new AbortController();
    const first: CompareRunEvent[] = [];
    await assert.rejects(
      compare(
        pinned(reference, dir, {
          jobs: 2,
          signal: controller.signal,
          onRun: (e) => {
            first.push(e);
            if (e.index === 3) controller.abort();
          },
        }),
      ),
      (e: Error) => e instanceof TrainingAbortedError && /compare stopped with 3 of 9 runs finished .*rerun with the same outDir/.test(e.message),
    );
    await noWorkersLeft();
    assert.equal(runFiles(dir).length, 3, 'the finished runs are recorded, the ones in progress dropped');
    const second: CompareRunEvent[] = [];
    const resumed = await compare(pinned(reference, dir, { onRun: (e) => second.push(e) }));
    assert.equal(second.filter((e) => e.recorded).length, 3);
    assert.deepEqual(timeless(resumed), timeless(await compare(pinned(reference, tmp('whole')))));
  });

  it('reports a child killed mid-run with its run, and stops the others', async () => {
    const dir = tmp('killed');
    let killed: number[] = [];
    await assert.rejects(
      compare(
        pinned(reference, dir, {
          jobs: 2,
          onRun: (e) => {
            if (e.index === 1) {
              killed = workers();
              for (const pid of killed) process.kill(pid, 'SIGKILL');
            }
          },
        }),
      ),
      (e: Error) => e instanceof HydranetError && /^run (search (single-task [ab]|equal) lr=0\.\d+ \(seed 4\)|seed 4 .*): its child process \(pid \d+\) (was killed by SIGKILL|failed)/.test(e.message),
    );
    assert.ok(killed.length > 0);
    await noWorkersLeft();
    assert.ok(runFiles(dir).length >= 1, 'the finished run is recorded');
  });

  it('selectSeeds trains each searched setting with the first K seeds and selects on the mean; the first seed reuses the records of selectSeeds 1', async () => {
    const dir = tmp('select');
    await compare(pinned(reference, dir, { seeds: 2 })); // 6 search runs + 3 × 2 seed runs
    const events: CompareRunEvent[] = [];
    const lines: string[] = [];
    const opts = pinned(reference, dir, { seeds: 2, selectSeeds: 2, onRun: (e) => events.push(e), log: (l) => lines.push(l) });
    const r = await compare(opts);
    assert.match(lines[0], /12 search runs \(6 settings × 2 seeds, selected on the mean\) \+ 3 × 2 seed runs = 18 runs/);
    const search = events.filter((e) => e.phase === 'search');
    assert.equal(search.length, 12);
    assert.deepEqual(search.map((e) => e.recorded), search.map((e) => e.seed === 4), 'the first seed\'s search runs are the records of selectSeeds 1');
    assert.equal(r.tuning!.selectSeeds, 2);
    for (const row of [...Object.values(r.tuning!.baselines), ...r.tuning!.runs]) {
      for (const t of row.trials) {
        assert.deepEqual(t.seeds!.map((s) => s.seed), [4, 5]);
        assert.equal(t.score, (t.seeds![0].score + t.seeds![1].score) / 2);
        assert.equal(t.seconds, t.seeds![0].seconds + t.seeds![1].seconds);
      }
      const best = row.trials.reduce((b, t) => (t.score > b.score ? t : b));
      assert.deepEqual(row.setting, best.setting, `${row.label}: selected on the mean`);
    }
    // Deterministic: the same again without the records (trained, in two child processes).
    assert.deepEqual(timeless(await compare({ ...opts, outDir: tmp('select2'), jobs: 2, onRun: undefined, log: undefined })), timeless(r));
    await noWorkersLeft();
  });

  it('refuses jobs, threads and selectSeeds that do not fit, before anything trains', async () => {
    const bad = async (extra: Partial<CompareOptions>, pattern: RegExp, backend: Backend = reference): Promise<void> => {
      let logged = 0;
      await assert.rejects(
        compare({ ...pinned(backend, tmp('bad'), extra), log: () => logged++ }),
        (e: Error) => (e instanceof ConfigError || e instanceof ValueError) && pattern.test(e.message),
        pattern.source,
      );
      assert.equal(logged, 0, 'nothing trained');
    };
    await bad({ selectSeeds: 2 }, /selectSeeds 2 exceeds the 1 seed \(each searched setting/);
    await bad({ selectSeeds: 0 }, /positive integer for selectSeeds/);
    await bad({ jobs: 0 }, /positive integer for jobs/);
    await bad({ threads: 2 }, /threads sets the threads of the child processes of jobs > 1/);
    await bad({ jobs: 2, trainer: { optimizer: { kind: 'sgd', lr: 0.05 }, batchSize: 8, epochs: 1, batchStaged: { rows: 0, stage: () => false } } as never }, /cannot send trainer\.batchStaged to a child process/);
    const gpu = Object.assign(Object.create(reference) as Backend, { name: 'webgpu' });
    await assert.rejects(compare(pinned(gpu, tmp('bad'), { jobs: 2 })), /jobs 2 trains runs in child processes on the cpu or reference backend only, not on webgpu: .*one device/);
    await assert.rejects(compare({ ...pinned(reference, tmp('bad')), test: undefined, search: undefined, seeds: undefined, outDir: undefined, validation: synthetic(8, 5), validationFraction: undefined, jobs: 2 }), /jobs belongs to the fair protocol/);
  });

  it('sends datasets to a child through a file, whole; and rebuilds a child\'s error as its class', () => {
    const dir = tmp('data');
    const masks = { b: Uint8Array.from({ length: 12 }, (_, i) => i % 2) };
    const ds = new MultiTaskDataset({ inputs: synthetic(12, 3).inputs, inputShape: [2, 2], labels: { a: synthetic(12, 3).labels('a'), b: synthetic(12, 3).labels('b') }, masks });
    writeDatasetFile(path.join(dir, 'd.bin'), ds);
    const back = readDatasetFile(path.join(dir, 'd.bin'));
    assert.deepEqual(back.inputShape, [2, 2]);
    assert.deepEqual(back.inputs, ds.inputs);
    assert.deepEqual(back.labels('b'), ds.labels('b'));
    assert.deepEqual(back.mask('b'), masks.b);
    assert.equal(back.mask('a'), null);
    const e = rebuildError({ type: 'error', id: 0, error: { name: 'NonFiniteLossError', message: 'loss NaN', step: 7, task: 'a' } }, 'run search equal lr=0.1');
    assert.ok(e instanceof NonFiniteLossError && e.step === 7 && e.task === 'a' && e.message === 'run search equal lr=0.1: loss NaN');
    assert.ok(rebuildError({ type: 'error', id: 0, error: { name: 'ConfigError', message: 'x' } }, 'r') instanceof ConfigError);
    assert.match(rebuildError({ type: 'error', id: 0, error: { name: 'TypeError', message: 'x' } }, 'r').message, /^r: x \(TypeError in the child process\)$/);
  });
});
