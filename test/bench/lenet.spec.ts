/**
 * The MultiLeNet bench (bench/lenet.ts): hydranet's timed epoch, the PyTorch peer
 * (bench/peers/torch_lenet.py) in a real torch process at tiny settings, and the ratios and
 * epoch lines built from the records (PyTorch's best thread count is the peer; a
 * non-representative peer gets no ratio).
 */
import assert from 'node:assert/strict';
import { benchLenet, benchLenetEpoch, benchTorchLenet, lenetCpuLines, lenetEpochLines, lenetTorchRatios, torchLenetThreads } from '../../bench/lenet.js';
import { machineInfo, peerEnv, runTorch } from '../../bench/peers.js';
import type { BenchRecord } from '../../bench/report.js';
import { stepRatioLines } from '../../bench/report.js';
import { type Backend, createBackend } from '../../ts/index.js';

describe('bench: MultiLeNet', function () {
  this.timeout(120_000);

  it('PyTorch runs at 1 and 2 threads, and at every core when there are more', () => {
    assert.deepEqual(torchLenetThreads(1), [1]);
    assert.deepEqual(torchLenetThreads(2), [1, 2]);
    assert.deepEqual(torchLenetThreads(16), [1, 2, 16]);
  });

  describe('ratios and epoch lines', () => {
    const mine: BenchRecord = { workload: 'LeNet', system: 'hydranet', backend: 'cpu', metric: 'train_steps_per_s', unit: 'steps/s', median: 150, min: 140, max: 160, threads: 2, cpu_ms_per_step: 10 };
    const mineEpoch: BenchRecord = { workload: 'LeNet', system: 'hydranet', backend: 'cpu', metric: 'epoch_seconds', unit: 's', median: 2, min: 2, max: 2, threads: 2, train_seconds: 1.8, validation_seconds: 0.2 };
    const torch: BenchRecord = { workload: 'LeNet', system: 'pytorch', backend: 'cpu', metric: 'train_steps_per_s', unit: 'steps/s', median: 60, min: 50, max: 70, threads: 1, representative: true, variant: 'oneDNN on, channels_last, heads separate', cpu_ms_per_step: 16 };
    const torchEpoch: BenchRecord = { workload: 'LeNet', system: 'pytorch', backend: 'cpu', metric: 'epoch_seconds', unit: 's', median: 5, min: 5, max: 5, threads: 1, representative: true, train_seconds: 4.5, validation_seconds: 0.5 };

    it('hydranet / PyTorch steps/s and the epoch speed-up, against PyTorch’s best thread count', () => {
      const rs = lenetTorchRatios([mine, mineEpoch, torch, torchEpoch]);
      const steps = rs.find((r) => r.metric === 'train_steps_per_s_ratio')!;
      assert.equal(steps.median, 2.5);
      assert.equal(steps.min, 2);
      assert.equal(steps.max, 3.2);
      assert.equal(steps.peer_threads, 1);
      assert.deepEqual(stepRatioLines(rs), ['LeNet: hydranet cpu / PyTorch cpu = 2.50× [2.00× … 3.20×]']);
      assert.equal(rs.find((r) => r.metric === 'cpu_time_per_step_ratio')!.median, 1.6);
      assert.deepEqual(lenetCpuLines([mine, torch, ...rs]), [
        'CPU time per step (every thread), hydranet cpu: 10.0 ms',
        'CPU time per step (every thread), PyTorch cpu: 16.0 ms',
        'CPU time per step: PyTorch cpu / hydranet cpu = 1.60×',
      ]);
      const epoch = rs.find((r) => r.metric === 'epoch_speedup')!;
      assert.equal(epoch.median, 2.5);
      const lines = lenetEpochLines([mineEpoch, torchEpoch, ...rs]);
      assert.deepEqual(lines, [
        'hydranet cpu, 2 threads: 2.00 s (training 1.80 s, validation 0.200 s)',
        'PyTorch cpu, 1 thread: 5.00 s (training 4.50 s, validation 0.500 s)',
        "PyTorch cpu / hydranet cpu = 2.50× (hydranet's epoch is 2.50× as fast)",
      ]);
    });

    it('no ratio against a non-representative PyTorch, nor against a skipped one', () => {
      const bad = { ...torch, representative: false };
      const badEpoch = { ...torchEpoch, representative: false };
      assert.deepEqual(lenetTorchRatios([mine, mineEpoch, bad, badEpoch]), []);
      const gone: BenchRecord = { ...torch, median: null, min: null, max: null, skipped: 'no torch' };
      assert.deepEqual(lenetTorchRatios([mine, gone]), []);
    });
  });

  describe('hydranet’s step and epoch', () => {
    let be: Backend;
    before(async () => {
      be = await createBackend('cpu', { threads: 1 });
    });
    after(() => be.dispose());

    it('times the step, with its CPU time per step on cpu', async () => {
      const r = await benchLenet(be, { windows: 1, minSeconds: 0.01, warmupSeconds: 0, warmupIters: 1 });
      assert.ok(r.median! > 0 && Number(r.cpu_ms_per_step) > 0, JSON.stringify(r));
    });

    it('times Trainer.fit of one epoch with its validation, and says how long each part took', async () => {
      const r = await benchLenetEpoch(be, { train: 512, test: 256 });
      assert.equal(r.metric, 'epoch_seconds');
      assert.equal(r.system, 'hydranet');
      assert.equal(r.threads, 1);
      const train = Number(r.train_seconds);
      const validation = Number(r.validation_seconds);
      assert.ok(train > 0 && validation > 0, `${train} ${validation}`);
      assert.ok(Math.abs(train + validation - r.median!) < 1e-9);
      assert.match(String(r.note), /512 random samples \+ validation on 256/);
    });
  });

  describe('the PyTorch peer in a real torch process (bench/peers/torch_lenet.py)', () => {
    before(function () {
      const probe = runTorch([], { windows: 1, minSeconds: 0, warmupSeconds: 0 }, 1, process.env);
      if (!probe.ok) {
        // CI does not install torch (.ci/run): skipped there, with the reason.
        console.log(`      skipped: PyTorch is not importable here (${probe.reason})`);
        this.skip();
      }
    });

    it('trains MultiLeNet at each thread count in its fastest variant, and times an epoch with validation', () => {
      const notes: string[] = [];
      const recs = benchTorchLenet([1, 2], { windows: 2, minSeconds: 0.02, warmupSeconds: 0 }, { train: 256, test: 256 }, peerEnv(machineInfo()).env, notes);
      const steps = recs.find((r) => r.metric === 'train_steps_per_s')!;
      assert.ok(steps.median !== null && steps.median > 0, JSON.stringify(steps));
      const by = steps.by_threads as { threads: number; median: number; variant: string; blas_threads: number | null }[];
      assert.deepEqual(by.map((x) => x.threads), [1, 2]);
      // The peer is the best thread count, and each count ran the best of the eight variants it probed.
      assert.equal(steps.median, Math.max(...by.map((x) => x.median)));
      const probes = steps.probes as { variant: string; steps_per_s: number }[];
      assert.equal(probes.length, 8);
      assert.equal(steps.variant, probes.reduce((a, b) => (b.steps_per_s > a.steps_per_s ? b : a)).variant);
      assert.ok(Number.isFinite(Number(steps.final_loss)));
      assert.ok(Number(steps.cpu_ms_per_step) > 0, String(steps.cpu_ms_per_step));
      if (steps.blas_kind === 'openblas') assert.deepEqual(by.map((x) => x.blas_threads), [1, 2], 'OpenBLAS runs at the same thread count');
      const epoch = recs.find((r) => r.metric === 'epoch_seconds')!;
      assert.ok(epoch.median! > 0 && Number(epoch.train_seconds) > 0 && Number(epoch.validation_seconds) > 0);
      assert.match(notes.join('\n'), /1 thread .* steps\/s .*2 threads .* steps\/s/);
    });
  });
});
