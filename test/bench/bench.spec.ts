/**
 * The bench's own logic: the MultiMNIST runners of hydranet and TensorFlow.js train the same
 * run (same weights, batches and weighted loss: their losses agree to float rounding), time to
 * target and parity are computed as documented, the plan's progress estimates, the tfjs-node
 * check, and the processes: only the cpu backend opens in the bench's own process; the others
 * are described by a child and each of their phases runs in a child of its own, whose records
 * join the run's.
 */
import assert from 'node:assert/strict';
import { describeInChild, opensInProcess, slotOpen } from '../../bench/backends.js';
import { BENCH_SCRIPT, type BenchContext, phaseRun } from '../../bench/context.js';
import { childArgs, parseOptions } from '../../bench/options.js';
import { initFile, mnistComparisons, mnistRecords, runHydranetMnist, runTfjsMnist, type MnistPlan } from '../../bench/multimnist.js';
import { tfjsNodeAvailable } from '../../bench/peers/tfjs_common.js';
import { clock, runPhases } from '../../bench/progress.js';
import { type BenchRecord, bySystem, replaceBenchSection } from '../../bench/report.js';
import type { MnistRunResult } from '../../bench/workloads.js';

describe('bench', function () {
  this.timeout(180_000);

  describe('MultiMNIST runners', () => {
    const plan: MnistPlan = { epochs: 2, trainSize: 1024, testSize: 256, target: 0.3, seed: 5, noiseSeeds: [], weights: [0.7, 0.3] };

    it('hydranet cpu and tfjs wasm train the same run: same weighted losses and accuracies from the same initial weights', () => {
      const init = initFile();
      try {
        const mine = runHydranetMnist('cpu', plan, plan.seed, init.file);
        assert.ok(mine.ok, mine.ok ? '' : mine.reason);
        const theirs = runTfjsMnist('wasm', plan, init.file);
        assert.ok(theirs.ok, theirs.ok ? '' : theirs.reason);
        const a = mine.value.epochs;
        const b = theirs.value.epochs;
        assert.equal(a.length, 2);
        assert.equal(b.length, 2);
        for (let e = 0; e < 2; e++) {
          // Σ 0.7·CE_left + 0.3·CE_right over the same batches: equal up to f32 rounding.
          assert.ok(Math.abs(a[e].loss - b[e].loss) <= 1e-4 * Math.abs(a[e].loss), `epoch ${e + 1}: hydranet ${a[e].loss}, tfjs ${b[e].loss}`);
          a[e].accuracy.forEach((acc, t) => assert.ok(Math.abs(acc - b[e].accuracy[t]) <= 1 / 256 + 1e-9, `epoch ${e + 1} task ${t}: ${acc} vs ${b[e].accuracy[t]}`));
        }
        assert.ok(a[1].loss < a[0].loss, 'the loss falls: the runs really train');
        assert.ok(mine.value.peak_rss >= mine.value.data_rss && mine.value.data_rss > 0);
        assert.equal(theirs.value.threads, 1, 'tfjs wasm runs single-threaded under Node');
        // The same run with other weights is another run: the loss above depends on them.
        const other = runHydranetMnist('cpu', { ...plan, weights: [1, 1] }, plan.seed);
        assert.ok(other.ok && Math.abs(other.value.epochs[0].loss - a[0].loss) > 1e-3);
      } finally {
        init.remove();
      }
    });

    it('the tfjs runner needs the initial weights and says so', () => {
      const r = runTfjsMnist('cpu', plan, '/nonexistent/init.safetensors');
      assert.ok(!r.ok);
      assert.match(r.reason, /Cannot read checkpoint \/nonexistent\/init\.safetensors/);
    });
  });

  describe('MultiMNIST records', () => {
    const plan: MnistPlan = { epochs: 3, target: 0.8, seed: 1, noiseSeeds: [2, 3], testSize: 1000 };
    const run = (system: string, backend: string, secs: number[], accs: [number, number][]): MnistRunResult => ({
      system,
      backend,
      epochs: secs.map((s, i) => ({ epoch: i + 1, seconds: s, loss: 1, accuracy: accs[i] })),
      train_size: 1000,
      test_size: 1000,
      setup_seconds: 0.1,
      peak_rss: 300 * 2 ** 20,
      data_rss: 100 * 2 ** 20,
    });

    it('time to target is the training time through the first epoch with every task at the target', () => {
      const recs = mnistRecords(run('hydranet', 'cpu', [2, 3, 4], [[0.85, 0.7], [0.9, 0.81], [0.95, 0.9]]), plan);
      const t = recs.find((r) => r.metric === 'time_to_target_s')!;
      assert.equal(t.median, 5);
      assert.equal(t.epochs_to_target, 2);
      assert.equal(recs.find((r) => r.metric === 'epoch_seconds')!.median, 3);
      assert.equal(recs.find((r) => r.metric === 'val_accuracy' && r.case === 'right')!.median, 90);
      assert.equal(recs.find((r) => r.metric === 'peak_rss_mib')!.median, 300);
    });

    it('a target never reached is a skipped record naming the best accuracies', () => {
      const recs = mnistRecords(run('tfjs', 'wasm', [1, 1, 1], [[0.5, 0.6], [0.7, 0.79], [0.75, 0.7]]), plan);
      const t = recs.find((r) => r.metric === 'time_to_target_s')!;
      assert.equal(t.median, null);
      assert.match(String(t.skipped), /not reached in 3 epochs \(best left 75\.0 %, right 79\.0 %\)/);
    });

    it('ratios point the documented way and parity is judged against the measured noise', () => {
      const recs: BenchRecord[] = [
        ...mnistRecords(run('hydranet', 'cpu', [1, 1, 1], [[0.9, 0.9], [0.9, 0.9], [0.92, 0.9]]), plan),
        ...mnistRecords(run('hydranet', 'cpu', [1, 1, 1], [[0.9, 0.9], [0.9, 0.9], [0.93, 0.89]]), plan, { seed: 2 }),
        ...mnistRecords(run('hydranet', 'cpu', [1, 1, 1], [[0.9, 0.9], [0.9, 0.9], [0.91, 0.91]]), plan, { seed: 3 }),
        ...mnistRecords(run('tfjs', 'wasm', [10, 10, 10], [[0.9, 0.9], [0.9, 0.9], [0.915, 0.80]]), plan),
      ];
      const out = mnistComparisons(recs, plan);
      const speed = out.find((r) => r.metric === 'time_to_target_speedup')!;
      assert.equal(speed.median, 10, 'tfjs time / hydranet time');
      assert.equal(out.find((r) => r.metric === 'peak_rss_mib_ratio')!.median, 1);
      const left = out.find((r) => r.metric === 'accuracy_difference' && r.case === 'left')!;
      const right = out.find((r) => r.metric === 'accuracy_difference' && r.case === 'right')!;
      assert.ok(Math.abs(left.median! - 0.5) < 1e-9);
      assert.equal(left.within_noise, true);
      assert.ok(Math.abs(right.median! - 10) < 1e-9);
      assert.equal(right.within_noise, false, '10 points is far outside a 1-point seed spread and a 0.9-point binomial SE');
      assert.equal(right.seeds, 3);
    });
  });

  describe('processes', () => {
    it('opens only the cpu backend in its own process; a child command line keeps the plans, workloads and threads', () => {
      assert.deepEqual((['cpu', 'reference', 'webgpu', 'cuda'] as const).filter(opensInProcess), ['cpu']);
      const opts = parseOptions(['--quick', '--workload', 'w1', '--threads', '2']);
      assert.deepEqual(opts.backends, ['cpu', 'reference', 'webgpu', 'cuda']);
      const child = parseOptions([...childArgs(opts, ['reference', 'webgpu']), '--phase', 'x']);
      assert.equal(child.quick, true);
      assert.deepEqual(child.workloads.map((w) => w.name), ['W1']);
      assert.equal(child.threads, 2);
      assert.deepEqual(child.backends, ['reference', 'webgpu']);
      assert.equal(child.peers, false);
      assert.equal(child.phase, 'x');
      assert.deepEqual(parseOptions([]).workloads.map((w) => w.name), ['W1', 'W2']);
      assert.deepEqual(parseOptions(childArgs(parseOptions([]), ['cuda'])).workloads.map((w) => w.name), ['W1', 'W2']);
      assert.throws(() => parseOptions(['--backend', 'cpu,tpu']), /Expected cpu, reference, webgpu or cuda .* but received "cpu,tpu"/);
    });

    it('a child process describes the backends the bench does not open itself', () => {
      const opts = parseOptions(['--quick', '--workload', 'W1']);
      const [ref] = describeInChild(['reference'], BENCH_SCRIPT, childArgs(opts, ['reference']));
      assert.equal(ref.name, 'reference');
      assert.equal(ref.backend, null, 'not opened in this process');
      assert.equal(ref.isolated, true);
      assert.equal(ref.reason, undefined);
      assert.equal(ref.isa, 'js');
      assert.equal(ref.threads, 1);
      assert.ok(slotOpen(ref));
      assert.ok(!slotOpen({ name: 'cuda', backend: null, isolated: true, reason: 'no GPU' }));
    });

    it('an isolated backend’s phase runs in a child process, and its records join the run’s', async () => {
      const opts = parseOptions(['--quick', '--workload', 'W1', '--threads', '1']);
      const ctx = { opts, records: [] } as unknown as BenchContext;
      const slot = { name: 'cpu' as const, backend: null, isolated: true };
      let here = 0;
      await phaseRun(ctx, slot, 'hydranet cpu W1 training steps', { workload: 'W1', metric: 'train_steps_per_s' }, async () => void here++)();
      assert.equal(here, 0, 'not run in this process');
      assert.equal(ctx.records.length, 1);
      const r = ctx.records[0];
      assert.equal(r.skipped, undefined, String(r.skipped));
      assert.deepEqual([r.workload, r.system, r.backend, r.metric, r.windows, r.threads], ['W1', 'hydranet', 'cpu', 'train_steps_per_s', 3, 1]);
      assert.ok(Number(r.median) > 0 && Number.isFinite(Number(r.final_loss)));
      // A phase the child's plan does not have: a skipped record with the reason.
      await phaseRun(ctx, slot, 'no such phase', { workload: 'W1', metric: 'train_steps_per_s' }, async () => void here++)();
      assert.equal(here, 0);
      assert.match(String(ctx.records[1].skipped), /failed in its own process: no phase "no such phase" in this plan/);
      // Opened here: the phase runs here.
      await phaseRun(ctx, { name: 'cpu', backend: null }, 'any', { workload: 'W1', metric: 'm' }, async () => void here++)();
      assert.equal(here, 1);
    });
  });

  describe('progress and reports', () => {
    it('announces the total estimate, then each phase with its number and what is left', async () => {
      const lines: string[] = [];
      const order: string[] = [];
      const timings = await runPhases(
        [
          { label: 'a', estimate: 60, run: async () => void order.push('a') },
          { label: 'b', estimate: 1, refine: () => 90, run: async () => void order.push('b') },
        ],
        (l) => lines.push(l),
      );
      assert.deepEqual(order, ['a', 'b']);
      assert.match(lines[0], /2 phases, about 1:01/);
      assert.match(lines[1], /^\[1\/2\] a {2}\(0:00 elapsed, about 1:01 left\)/);
      assert.match(lines[2], /^\[2\/2\] b {2}\(0:00 elapsed, about 1:30 left\)/, 'the refined estimate');
      assert.equal(timings[1].estimate, 90);
      assert.equal(clock(3725), '1:02:05');
    });

    it('orders systems hydranet first, then PyTorch, then TensorFlow.js', () => {
      const r = (system: string, backend: string): BenchRecord => ({ workload: 'W1', system, backend, metric: 'm', median: 1, min: 1, max: 1 });
      const sorted = [r('tfjs', 'wasm'), r('pytorch', 'cpu'), r('hydranet', 'webgpu'), r('tfjs', 'webgpu'), r('hydranet', 'cpu')].sort(bySystem);
      assert.deepEqual(sorted.map((x) => `${x.system} ${x.backend}`), ['hydranet cpu', 'hydranet webgpu', 'pytorch cpu', 'tfjs webgpu', 'tfjs wasm']);
    });

    it('regenerates only the marked README section, and refuses a document without one', () => {
      const doc = 'intro\n<!-- bench:begin -->\nold\n<!-- bench:end -->\nrest\n';
      assert.equal(replaceBenchSection(doc, 'new'), 'intro\n<!-- bench:begin -->\nnew\n<!-- bench:end -->\nrest\n');
      assert.throws(() => replaceBenchSection('no markers', 'x'), /bench:begin/);
    });

    it('says why tfjs-node is not run when it is not installed', function () {
      const r = tfjsNodeAvailable();
      if (r.ok) this.skip();
      assert.match(String(r.reason), /tfjs-node is not installed: its installer downloads libtensorflow/);
    });
  });
});
