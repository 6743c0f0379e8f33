/**
 * Data-parallel training over MPI (ts/distributed), run for real under `mpirun --oversubscribe`
 * (test/distributed/worker.ts is the program each rank runs): the collectives on 2 and 3
 * processes; two ranks with batch b/2 each end with the parameters of one process with batch b
 * for equal, uncertainty, MGDA-UB and Nash-MTL (representation space), PCGrad (parameter space),
 * GLS and DB-MTL, and three ranks with batch b/3 as one process with batch b; gradient buckets
 * start during the backward pass with bit-identical results (overlap on and off); validation
 * sharded over the ranks gives one process's metrics bit for bit; a stop asked on one rank stops
 * every rank after the same step;
 * ranks that disagree on the data fail with the same error naming the rank; a checkpoint resumes
 * with the world size that wrote it and is refused, saying why, with another; a rank that dies
 * makes the job end (mpirun) or the others fail on the collective's timeout: never a hang.
 * Skipped, saying why, where mpirun or hydranet_mpi.node is missing.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { mpiAvailable } from '../../ts/distributed/mpi.js';

const worker = path.join(path.dirname(fileURLToPath(import.meta.url)), 'worker.js');
const cli = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../ts/cli.js');
const env = { ...process.env, OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1', OMPI_MCA_rmaps_base_oversubscribe: '1' };

/** Why these tests cannot run here, or null. */
function missing(): string | null {
  const probe = spawnSync('mpirun', ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) return 'no mpirun here (apt-get install openmpi-bin libopenmpi-dev, then npm run build:native)';
  if (!mpiAvailable()) return 'hydranet_mpi.node is not built (install an MPI, then npm run build:native)';
  return null;
}

/** Runs worker.js (or `script`) with `args` on `np` ranks (np 0: plain node, no mpirun); never longer than `limitMs`. */
function run(np: number, args: string[], limitMs = 60_000, mca: string[] = [], script = worker): { status: number | null; out: string; ms: number } {
  const t0 = Date.now();
  const cmd = np === 0 ? process.execPath : 'mpirun';
  const argv = np === 0 ? [script, ...args] : ['--oversubscribe', '-quiet', ...mca, '-np', String(np), process.execPath, script, ...args];
  const r = spawnSync(cmd, argv, { env, encoding: 'utf8', timeout: limitMs, killSignal: 'SIGKILL' });
  return { status: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}`, ms: Date.now() - t0 };
}

const read = <T>(file: string): T => JSON.parse(fs.readFileSync(file, 'utf8')) as T;

describe('data-parallel training over MPI', function () {
  this.timeout(120_000);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hydranet-mpi-'));

  before(function () {
    const why = missing();
    // .ci/run installs OpenMPI: in CI a missing MPI is a failure, not a skip (as the webgpu and browser tests).
    if (why && process.env.CI === 'true') throw new Error(`the MPI tests must run in CI, but ${why}`);
    if (why) {
      console.log(`      skipped: ${why}`);
      this.skip();
    }
  });

  for (const np of [2, 3]) {
    it(`all-reduces, broadcasts and all-gathers on ${np} processes`, () => {
      const out = path.join(dir, `collectives-${np}`);
      const r = run(np, ['collectives', out]);
      assert.equal(r.status, 0, r.out);
      const tri = (np * (np + 1)) / 2; // Σ (rank + 1)
      for (let rank = 0; rank < np; rank++) {
        const d = read<Record<string, unknown>>(`${out}.${rank}`);
        assert.equal(d.rank, rank);
        assert.equal(d.size, np);
        (d.f32 as number[]).forEach((v, i) => assert.equal(v, i * tri, `f32[${i}] on rank ${rank}`));
        assert.deepEqual(d.f64, [(np * (np - 1)) / 2, np * 1e-300, 0.5 * np]);
        assert.deepEqual(d.nan, ['NaN'], 'NaN in → NaN out');
        assert.deepEqual(d.bcast, [np - 1, 2 * (np - 1)], 'broadcast from the last rank');
        assert.deepEqual(d.json, { hello: [1, 2, 'x'] });
        assert.deepEqual(d.gathered, Array.from({ length: np }, (_, r2) => [r2, r2 * 10]));
        assert.deepEqual(d.buckets, [Array(5).fill(tri), Array(3).fill(2 * tri)], 'Iallreduce buckets');
        assert.match(d.badType as string, /^TypeError: .*expected a Float32Array or Float64Array/);
        assert.equal(d.polled, tri, 'an Iallreduce polled with MPI_Test until done, then finished');
        const [gather, root, handle, testHandle, timeout, count] = d.badArgs as string[];
        assert.match(testHandle, /^RangeError: hydranet_mpi.test: no all-reduce in flight has handle 12345/);
        assert.match(gather, new RegExp(`^RangeError: hydranet_mpi.allgather: recv has ${2 * np + 1} elements, expected size·send.length = ${np}·2`));
        assert.match(root, new RegExp(`^RangeError: hydranet_mpi.broadcast: expected an integer in \\[0, ${np - 1}\\] for root, received ${np}`));
        assert.match(handle, /^RangeError: hydranet_mpi.wait: no all-reduce in flight has handle 12345/);
        assert.match(timeout, /^RangeError: hydranet_mpi.allreduceSum: expected timeoutMs in \[0, /);
        assert.match(count, /^RangeError: hydranet_mpi.allreduceSum: 2 arguments expected, received 1/);
      }
    });
  }

  // 2 epochs of 8 SGD steps with momentum on a 3-class + regression model. f32 sums taken in a
  // different order (two half-batch means, then their average) differ in the last bits; 1e-5
  // absolute is ~100 ulps of parameters of size ~1 and far below the gap to batch b/2 alone
  // (checked: > 1e-3), which is what a missing reduction would give.
  // gls and db-mtl re-weight with this step's losses before the backward (db-mtl then in parameter
  // space, through its moving average). MGDA-UB's coefficients do not change when the Gram is
  // scaled; Nash-MTL's do, so it checks the 1/W² that makes the ranks' Grams the whole batch's.
  for (const weighting of ['equal', 'uncertainty', 'mgda-ub', 'pcgrad', 'gls', 'db-mtl', 'nash-mtl:space=representation']) {
    it(`two ranks with batch 4 each train as one process with batch 8 (${weighting})`, () => {
      const single = path.join(dir, `single-${weighting}`);
      const half = path.join(dir, `half-${weighting}`);
      const dist = path.join(dir, `dist-${weighting}`);
      for (const [np, args] of [[0, ['train', weighting, '8', '0', single]], [0, ['train', weighting, '4', '0', half]], [2, ['train', weighting, '4', '1', dist]]] as const) {
        const r = run(np, [...args]);
        assert.equal(r.status, 0, r.out);
      }
      type Result = { params: number[]; history: { weights: Record<string, number> }[] };
      const s = read<Result>(`${single}.0`);
      const h = read<Result>(`${half}.0`);
      const [d0, d1] = [read<Result>(`${dist}.0`), read<Result>(`${dist}.1`)];
      const gap = (a: number[], b: number[]): number => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
      assert.equal(gap(d0.params, d1.params), 0, 'both ranks hold the same parameters');
      assert.ok(gap(d0.params, s.params) < 1e-5, `parameters differ from batch 8 in one process by ${gap(d0.params, s.params)}`);
      assert.ok(gap(h.params, s.params) > 1e-3, 'batch 4 alone trains differently (the test can tell)');
      for (const t of ['a', 'b']) assert.ok(Math.abs(d0.history[1].weights[t] - s.history[1].weights[t]) < 1e-5, `${weighting}'s mean weight of ${t}`);
    });
  }

  // Overlap: a trunk of three 512-wide layers makes 2.1 MB of gradients, three 1 MB buckets laid
  // out from the end of the arena: the first is final after the last trunk layer's backward, the
  // second after the middle one's, the third only at the end. So 2 of the 3 buckets of each of the
  // 16 steps start while the pass still runs; with overlap off none does, and the parameters are
  // bit for bit the same (the same buckets, summed alike). PCGrad (parameter space) runs the body
  // once per task and averages the shared rows itself: it keeps the reduction after the pass.
  // With an embedding table (first in the arena, its gradient written last, after the trunk's)
  // the trunk's buckets still start early and the table's bucket waits for the end.
  for (const [weighting, early, embedding] of [['equal', 32, ''], ['mgda-ub', 32, ''], ['pcgrad', 0, ''], ['equal', 32, 'embedding']] as const) {
    it(`starts gradient buckets during the backward pass, with the parameters of the reduction after it (${weighting}${embedding && ', embedding'})`, () => {
      type Result = { params: number[]; stats: { overlappedBuckets: number; steps: number } };
      const results = ['1', '0'].map((on) => {
        const out = path.join(dir, `overlap-${weighting}-${on}${embedding}`);
        const r = run(2, ['overlap', weighting, on, out, ...(embedding ? [embedding] : [])]);
        assert.equal(r.status, 0, r.out);
        return [read<Result>(`${out}.0`), read<Result>(`${out}.1`)];
      });
      const [[on0, on1], [off0, off1]] = results;
      assert.equal(on0.stats.steps, 16);
      assert.equal(on0.stats.overlappedBuckets, early, 'buckets started before the backward pass ended');
      assert.equal(on1.stats.overlappedBuckets, early);
      assert.equal(off0.stats.overlappedBuckets, 0);
      const same = (a: number[], b: number[]): boolean => a.length === b.length && a.every((v, i) => Object.is(v, b[i]));
      assert.ok(same(on0.params, on1.params), 'both ranks hold the same parameters');
      assert.ok(same(off0.params, off1.params));
      assert.ok(same(on0.params, off0.params), 'overlap on and off end with bit-identical parameters');
    });
  }

  // 37 validation samples in batches of 16: rank 0 evaluates batches 0 and 2, rank 1 batch 1.
  // JSON carries every double exactly; a metric summed per rank and then over the ranks would
  // differ in its last bits from the one-process sum, an AUC from a rank's scores alone by far.
  it('shards the validation set over the ranks, with the metrics of one process evaluating it all', () => {
    const out = path.join(dir, 'validate');
    const r = run(2, ['validate', out]);
    assert.equal(r.status, 0, r.out);
    type Result = { validation: Record<string, Record<string, number>>[]; evaluated: Record<string, Record<string, number>>; fitForwards: number };
    const [v0, v1] = [read<Result>(`${out}.0`), read<Result>(`${out}.1`)];
    assert.equal(v0.fitForwards, 2 * 2, 'rank 0 evaluated 2 of the 3 batches in each of 2 epochs');
    assert.equal(v1.fitForwards, 2 * 1, 'rank 1 evaluated 1 of the 3 batches in each of 2 epochs');
    assert.deepEqual(v0.validation[1], v0.evaluated, 'the sharded evaluation gives what evaluating every batch gives');
    assert.deepEqual(v1.validation, v0.validation, 'every rank has the same metrics');
    const c = v0.evaluated.c;
    assert.equal(c.count, 37 - 7, 'the masked samples are left out');
    for (const m of ['accuracy', 'auc', 'f1']) assert.ok(Number.isFinite(c[m]) && c[m] > 0, `c.${m} = ${c[m]}`);
    for (const [t, m] of [['a', 'accuracy'], ['b', 'mse'], ['b', 'mae']]) assert.ok(Number.isFinite(v0.evaluated[t][m]), `${t}.${m}`);
  });

  // 64 samples in global batches of 8: 8 steps per epoch, 3 epochs. Rank 1 alone asks to stop
  // after step 5 (rank 0 never does): without the agreement rank 1 would stop alone and rank 0
  // fail on its 20 s timeout in step 6's all-reduce. Between steps the agreement is pipelined:
  // with stopEvery 1 rank 1's flags go out before step 6 and the answer comes before step 7, so
  // both end after step 6; with stopEvery 4 no agreed place comes before the epoch end, which
  // agrees at once (after step 8); with 3 the flags go out before step 7 and the epoch end
  // collects them: both end after step 8 (a signal: aborted before epoch 2).
  for (const [how, every, step] of [['callback', 1, 6], ['signal', 1, 6], ['callback', 4, 8], ['signal', 3, 8]] as const) {
    it(`stops every rank after the same step when one rank asks (${how}, stopEvery ${every})`, () => {
      const out = path.join(dir, `stop-${how}-${every}`);
      const r = run(2, ['stop', how, String(every), out], 60_000);
      assert.equal(r.status, 0, r.out);
      const ranks = [0, 1].map((k) => read<{ error?: string; step: number; epochs?: number; stoppedBy?: string; message?: string }>(`${out}.${k}`));
      for (const d of ranks) {
        if (how === 'signal') assert.equal(d.error, 'TrainingAbortedError', JSON.stringify(d));
        else assert.deepEqual([d.epochs, d.stoppedBy], [1, 'callback'], JSON.stringify(d));
        assert.equal(d.step, step, `rank ${ranks.indexOf(d)} ended after step ${d.step}`);
      }
    });
  }

  // Three ranks: 72 samples in 6 global batches of 3 × 4; the Gram's 1/W² and the rows' 1/W with W = 3.
  for (const weighting of ['nash-mtl:space=representation', 'pcgrad']) {
    it(`three ranks with batch 4 each train as one process with batch 12 (${weighting})`, () => {
      const single = path.join(dir, `single12-${weighting}`);
      const dist = path.join(dir, `dist3-${weighting}`);
      for (const [np, args] of [[0, ['train', weighting, '12', '0', single, '72']], [3, ['train', weighting, '4', '1', dist, '72']]] as const) {
        const r = run(np, [...args]);
        assert.equal(r.status, 0, r.out);
      }
      const s = read<{ params: number[] }>(`${single}.0`).params;
      const ranks = [0, 1, 2].map((r) => read<{ params: number[] }>(`${dist}.${r}`).params);
      const gap = (a: number[], b: number[]): number => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
      assert.equal(gap(ranks[0], ranks[1]) + gap(ranks[0], ranks[2]), 0, 'every rank holds the same parameters');
      assert.ok(gap(ranks[0], s) < 1e-5, `parameters differ from batch 12 in one process by ${gap(ranks[0], s)}`);
    });
  }

  it('fails on every rank, naming the rank, when the ranks have different data', () => {
    const r = run(2, ['mismatch', path.join(dir, 'mismatch')]);
    const lines = r.out.split('\n').filter((l) => l.startsWith('ConfigError'));
    assert.equal(lines.length, 2, r.out);
    for (const l of lines) assert.match(l, /rank 1's training set size \(samples\) is 60, not rank 0's 64/);
  });

  it('resumes a checkpoint with the world size that wrote it, and says so when it differs', () => {
    const runDir = path.join(dir, 'resume');
    const first = run(2, ['resume', runDir]);
    assert.match(first.out, /resumed: ok/);
    const checkpoint = path.join(runDir, 'checkpoint.safetensors');
    const other = run(3, ['resume', runDir, checkpoint]);
    const lines = other.out.split('\n').filter((l) => l.startsWith('CheckpointError'));
    assert.equal(lines.length, 3, other.out);
    for (const l of lines) assert.match(l, /written by a run of 2 processes and this one has 3.*Resume it with mpirun -np 2/);
    assert.match(run(2, ['resume', runDir, checkpoint]).out, /resumed: ok/);
  });

  it('hydranet train --distributed: rank 0 alone prints and writes the run folder', () => {
    const out = path.join(dir, 'cli-run');
    const args = ['train', '--distributed', '--preset', 'mmoe-synthetic', '--epochs', '1', '--train-size', '512', '--test-size', '128', '--batch-size', '32', '--threads', '1', '--no-progress', '--out', out];
    const r = run(2, args, 60_000, [], cli);
    assert.equal(r.status, 0, r.out);
    assert.equal(r.out.match(/^epoch 1\/1 /gm)?.length, 1, `one epoch line, from rank 0:\n${r.out}`);
    assert.match(r.out, /data-parallel over MPI: 2 processes, 32 samples per process and step/);
    const config = read<{ trainer: { distributed: { worldSize: number } } }>(path.join(out, 'config.json'));
    assert.equal(config.trainer.distributed.worldSize, 2);
    const history = read<{ step: number }[]>(path.join(out, 'metrics.json'));
    assert.equal(history[0].step, 8, '512 samples in global batches of 2 × 32');
  });

  it('ends the job when a rank dies: mpirun stops the others, or they fail on the timeout', () => {
    // Default Open MPI: mpirun kills the survivors as soon as a rank exits non-zero.
    const killed = run(2, ['die'], 30_000);
    assert.notEqual(killed.status, null, 'mpirun hung (killed by the test after 30 s)');
    assert.notEqual(killed.status, 0);
    assert.doesNotMatch(killed.out, /the all-reduce returned/);
    // Told not to (orte_abort_on_non_zero_status 0), the survivor's collective times out (3 s in the worker).
    const waited = run(2, ['die'], 40_000, ['--mca', 'orte_abort_on_non_zero_status', '0']);
    assert.notEqual(waited.status, null, 'the survivor hung (killed by the test after 40 s)');
    assert.match(waited.out, /rank 0: CommunicationError: .*no answer from every rank within 3000 ms/);
  });
});
