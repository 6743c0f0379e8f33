/**
 * The embedding workload E1 in the main bench (bench/phases/embedding.ts): --workload accepts
 * it (alone: the cpu backend only; by default it runs beside W1 and W2 when cpu is measured);
 * PyTorch's records are its fastest variant at each thread count and its ratio is best against
 * best; the report and the human text render its rows; its step breaks down into the issue's
 * parts (embedding gather / scatter-add, experts' and gates' GEMMs, gates' mixture, towers,
 * loss, optimizer with the row-sparse step), whose GEMMs are exactly the step's GEMM FLOPs and
 * whose times add up to the hooked step; the PyTorch peer runs only the variants it is given.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { breakdown, breakdownMarkdown, breakdownSection } from '../../bench/breakdown.js';
import { EMBEDDING_WORKLOAD, embeddingStepFlops, torchEmbeddingArgs } from '../../bench/embedding/workload.js';
import { embeddingText } from '../../bench/human.js';
import { childArgs, parseOptions } from '../../bench/options.js';
import { machineInfo, peerEnv, runTorchEmbedding } from '../../bench/peers.js';
import { breakdownRecord } from '../../bench/phases/breakdown.js';
import { EMBEDDING_TORCH_VARIANTS, embeddingRatios, torchEmbeddingRecords } from '../../bench/phases/embedding.js';
import { type BenchRecord, markdownReport } from '../../bench/report.js';
import { createBackend } from '../../ts/index.js';

describe('bench: the embedding workload E1', function () {
  this.timeout(120_000);

  it('--workload accepts E1, alone (cpu only) or with others; it is in the default set when cpu is measured', () => {
    const alone = parseOptions(['--workload', 'e1', '--quick']);
    assert.deepEqual(alone.workloads, []);
    assert.equal(alone.embedding, true);
    assert.deepEqual(alone.backends, ['cpu']);
    const both = parseOptions(['--workload', 'W1,E1']);
    assert.deepEqual(both.workloads.map((w) => w.name), ['W1']);
    assert.equal(both.embedding, true);
    assert.deepEqual(both.backends, ['cpu', 'reference', 'webgpu', 'cuda']);
    assert.equal(parseOptions([]).embedding, true);
    assert.equal(parseOptions(['--workload', 'W2']).embedding, false);
    assert.equal(parseOptions(['--backend', 'webgpu']).embedding, false, 'E1 runs on cpu only');
    assert.equal(parseOptions(['--workload', 'E1', '--backend', 'webgpu']).embedding, false);
    // A child process of the run gets the same workloads.
    const child = parseOptions([...childArgs(both, ['webgpu']), '--phase', 'x']);
    assert.deepEqual(child.workloads.map((w) => w.name), ['W1']);
    assert.equal(child.embedding, false, 'the webgpu child does not run E1');
    assert.throws(() => parseOptions(['--workload', 'E2']), /Expected W1, W2, W3 or E1 \(or several, comma-separated\) for --workload but received "E2"/);
    assert.throws(() => parseOptions(['--workload', 'W1,']), /for --workload/);
  });

  const peer = (threads: number, median: number, variant: string, cpuMs: number): BenchRecord => ({
    workload: 'E1',
    system: 'pytorch',
    backend: 'cpu',
    metric: 'train_steps_per_s',
    median,
    min: median - 0.5,
    max: median + 0.5,
    threads,
    variant,
    cpu_ms_per_step: cpuMs,
    kernels: 'OpenBLAS 0.3.21',
  });
  const mine = (threads: number, median: number, cpuMs: number): BenchRecord => ({
    workload: 'E1',
    system: 'hydranet',
    backend: 'cpu',
    metric: 'train_steps_per_s',
    median,
    min: median - 0.25,
    max: median + 0.25,
    threads,
    cpu_ms_per_step: cpuMs,
  });

  it("PyTorch's record at each thread count is its fastest variant there; the ratio is best against best", () => {
    const run = (threads: number, median: number, variant: string) => ({ median, min: median - 0.5, max: median + 0.5, samples: [median], iterations: 0, seconds: 0, threads, variant, description: `d ${variant}`, loss: 1.4, cpuSecondsPerStep: 0.3 });
    const r = {
      ok: true,
      value: {
        runs: [run(1, 6, 'concat/sparse/fused'), run(1, 6.5, 'fields/sparse/loop'), run(2, 5, 'concat/sparse/fused'), run(2, 4, 'fields/sparse/loop')],
        info: { version: '1.13', threads: 2, heads: 'concat', python: 'python3', blas: { library: '/usr/lib/libopenblas.so.0', openblas: { config: 'OpenBLAS 0.3.21 x', core: 'SkylakeX', threads: 2 } } },
      },
    };
    const { records, notes } = torchEmbeddingRecords(r, [1, 2], { windows: 7, minSeconds: 1, warmupSeconds: 1 });
    assert.deepEqual(records.map((x) => [x.threads, x.median, x.variant]), [[1, 6.5, 'd fields/sparse/loop'], [2, 5, 'd concat/sparse/fused']]);
    assert.equal((records[0].by_variant as unknown[]).length, 2);
    assert.equal(records[0].representative, true);
    assert.match(notes[0], /1 thread 6\.50 steps\/s \(d fields\/sparse\/loop\), 2 threads 5\.00 steps\/s .*OpenBLAS's GEMMs keep 2 threads/);
    // The ratio: hydranet's best thread count (2: 8) over PyTorch's best (1 thread: 6.5).
    const all = [mine(1, 4, 220), mine(2, 8, 240), ...records];
    const ratios = embeddingRatios(all);
    const steps = ratios.find((x) => x.metric === 'train_steps_per_s_ratio')!;
    assert.ok(Math.abs(steps.median! - 8 / 6.5) < 1e-12);
    assert.ok(Math.abs(steps.min! - 7.75 / 7) < 1e-12, 'worst pairing: our min over their max');
    assert.deepEqual([steps.threads, steps.peer_threads], [2, 1]);
    // At one thread by CPU time: PyTorch's 300 ms / hydranet's 220 ms.
    assert.ok(Math.abs(ratios.find((x) => x.metric === 'cpu_time_per_step_ratio')!.median! - 300 / 220) < 1e-12);
    // A peer that could not run: a skipped record per thread count, with the reason, and no ratio.
    const failed = torchEmbeddingRecords({ ok: false, reason: 'no torch' }, [1, 2], { windows: 1, minSeconds: 1, warmupSeconds: 0 });
    assert.deepEqual(failed.records.map((x) => [x.threads, x.median, x.skipped]), [[1, null, 'no torch'], [2, null, 'no torch']]);
    assert.deepEqual(embeddingRatios([mine(2, 8, 240), ...failed.records]), []);
    // A peer on the reference BLAS gets no ratio.
    assert.deepEqual(embeddingRatios([mine(2, 8, 240), { ...peer(1, 6, 'x', 300), representative: false }]), []);
  });

  it('the report and the human text render E1’s rows and its ratio', () => {
    const recs: BenchRecord[] = [
      { workload: 'LeNet', system: 'hydranet', backend: 'cpu', metric: 'train_steps_per_s', median: 100, min: 99, max: 101, threads: 2 },
      mine(1, 4.5, 220),
      mine(2, 8.25, 240),
      peer(1, 6.75, 'one table + offsets, sparse, experts fused', 290),
      peer(2, 6, 'one table + offsets, dense, experts loop', 310),
    ];
    recs.push(...embeddingRatios(recs));
    const md = markdownReport(recs, 'header');
    const lines = md.split('\n');
    const rowAt = (re: RegExp): number => lines.findIndex((l) => re.test(l));
    assert.ok(rowAt(/^\| E1 \| hydranet cpu \| 1 \| 4\.50 \[4\.25 … 4\.75\] \|$/) > rowAt(/^\| LeNet \|/), 'E1 after MultiLeNet');
    assert.ok(rowAt(/^\| E1 \| hydranet cpu \| 2 \| 8\.25 \[8\.00 … 8\.50\] \|$/) > 0);
    assert.ok(rowAt(/^\| E1 \| PyTorch cpu \| 1 \| 6\.75 \[6\.25 … 7\.25\] \|$/) > 0);
    assert.ok(rowAt(/^\| E1 \| hydranet cpu \| pytorch cpu \| 1\.22× \[1\.10× … 1\.36×\] \|$/) > 0, md);
    assert.match(md, /\nE1: 13 numeric \+ 26 categorical fields .*; PyTorch at each thread count in the fastest of its variants there \(1: one table \+ offsets, sparse, experts fused; 2: one table \+ offsets, dense, experts loop\)\.\n/);
    assert.doesNotMatch(markdownReport(recs.filter((r) => r.workload !== 'E1'), 'header'), /E1/);
    const text = embeddingText(recs).join('\n');
    assert.match(text, /hydranet cpu +2 +8\.25 \[8\.00 … 8\.50\] +121 +292 +240/);
    assert.match(text, /PyTorch cpu +1 +6\.75 \[6\.25 … 7\.25\] +148 +239 +290 +one table \+ offsets, sparse, experts fused/);
    assert.match(text, /at 1 thread, by CPU time per step \(every thread's; PyTorch's OpenBLAS GEMMs keep their own threads\): PyTorch cpu \/ hydranet cpu = 1\.32×/);
    assert.deepEqual(embeddingText(recs.filter((r) => r.workload !== 'E1')), []);
  });

  it('the step FLOPs count every GEMM of the experts, gates and towers', () => {
    const w = EMBEDDING_WORKLOAD;
    // 429 features → 256 → 256 per expert, 429 → 16 gate logits, 256 → 64 → 1 per tower; ×3 passes.
    const perSample = 8 * (429 * 256 + 256 * 256) + 429 * 16 + 2 * (256 * 64 + 64);
    assert.equal(embeddingStepFlops(w), 2 * 3 * 4096 * perSample);
    assert.equal(embeddingStepFlops({ ...w, batch: 1 }) * 4096, embeddingStepFlops(w));
  });

  it('its step breaks down into the issue’s parts, lists exactly the step’s GEMMs, and its parts add up to the hooked step', async () => {
    const be = await createBackend('cpu', { threads: 1 });
    try {
      const b = await breakdown(be, 'E1', 1, 0.01);
      const part = (p: string) => b.rows.find((r) => r.part === p);
      // 8 experts × 2 layers: forward and dW each; dX for both layers (the first's input is the embedding's output).
      assert.equal(part('experts gemm fwd')?.calls, 16);
      assert.equal(part('experts gemm dW')?.calls, 16);
      assert.equal(part('experts gemm dX')?.calls, 16);
      for (const p of ['gates gemm fwd', 'gates gemm dW', 'gates gemm dX', 'embedding gather (fwd)', 'embedding scatter-add (bwd)', 'optimizer: row-sparse SGD (tables)', 'optimizer: SGD (dense params)', 'gates: softmax + mixture fwd', 'gates: softmax + mixture bwd', 'loss (multiLoss)']) {
        assert.equal(part(p)?.calls, 1, p);
      }
      assert.ok(part('towers fwd (headsForward)')!.calls >= 1 && part('towers bwd (headsBackward)')!.calls >= 1);
      assert.equal(part('embeddingForward'), undefined, 'no kernel left under its own name where the workload names it');
      // The GEMMs timed alone are the step's, and their FLOPs the workload's.
      assert.equal(b.gemmFlops, embeddingStepFlops());
      assert.ok(b.gemms.some((g) => g.role === 'gates gemm fwd') && b.gemms.some((g) => g.role.startsWith('towers')));
      assert.equal(b.limitKind, 'gemm-only');
      // The JS side is the hooked step's time less its kernels' (so the parts add up by
      // construction): the kernels, each timed inside the window, never exceed it (none counted twice).
      assert.ok(b.jsMs >= 0, `kernels ${b.hookedMs - b.jsMs} ms of a hooked step of ${b.hookedMs} ms`);
      assert.ok(b.rows.every((r) => r.ms >= 0));
      // The GEMMs take most of the step, and the whole step no less than they do alone.
      const gemmMs = b.rows.filter((r) => / gemm /.test(r.part)).reduce((a, r) => a + r.ms, 0);
      assert.ok(gemmMs > 0.3 * b.hookedMs, `GEMMs ${gemmMs} of ${b.hookedMs} ms`);
      assert.ok(b.fastestStepMs >= 0.8 * b.gemmLimitFastestMs, `fastest step ${b.fastestStepMs} ms, its GEMMs alone ${b.gemmLimitFastestMs} ms`);
      const rec = breakdownRecord(b);
      assert.equal(rec.workload, 'E1');
      assert.match(breakdownSection([rec]).join('\n'), /E1 \(cpu [a-z0-9]+, 1 threads\): step .*\n {2}GEMM-only limit/);
      assert.match(breakdownMarkdown([rec]).join('\n'), /^\| E1 \| 1 \|/m);
    } finally {
      be.dispose();
    }
  });

  it('the PyTorch peer runs exactly the variants it is given, at each thread count, and refuses a malformed one', function () {
    if (!fs.existsSync(process.env.HYDRANET_BENCH_PYTHON || '/usr/bin/python3')) this.skip();
    const small = torchEmbeddingArgs({ ...EMBEDDING_WORKLOAD, vocabs: [10, 100], batch: 32 });
    const env = peerEnv(machineInfo()).env;
    const plan = { windows: 1, minSeconds: 0.01, warmupSeconds: 0 };
    // The bench's own variant list (every entry one the script accepts), on a small workload.
    const r = runTorchEmbedding(small, EMBEDDING_TORCH_VARIANTS, [1], plan, 1, env);
    if (!r.ok && /torch/.test(String(r.reason)) && /install/.test(String(r.reason))) this.skip();
    assert.ok(r.ok, r.reason);
    assert.deepEqual(r.value!.runs.map((x) => [x.variant, x.threads]), EMBEDDING_TORCH_VARIANTS.map((v) => [v, 1]));
    const described = (v: string): string | undefined => r.value!.runs.find((x) => x.variant === v)?.description;
    assert.equal(described('concat/sparse/fused'), 'one table + offsets, sparse, experts fused');
    assert.equal(described('fields/dense/loop'), 'per-field tables, dense, experts loop');
    assert.ok(r.value!.runs.every((x) => x.median > 0 && Number.isFinite(x.loss) && x.cpuSecondsPerStep > 0));
    const bad = runTorchEmbedding(small, ['concat/sparse'], [1], plan, 1, env);
    assert.ok(!bad.ok);
    assert.match(String(bad.reason), /--variants: 'concat\/sparse' is not EMB\/SPARSE\/IMPL/);
  });
});
