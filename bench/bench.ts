/**
 * `npm run bench [-- flags]`: training steps per second of the W1/W2 workloads on hydranet's
 * backends and on PyTorch CPU, and GEMM GFLOP/s of the cpu backend against OpenBLAS, all
 * measured in the same run; medians with min and max over several windows after warm-up.
 *
 * Flags:
 *   --quick               fewer, shorter windows (a sanity run, well under a minute)
 *   --json                print only a JSON array of records on stdout (progress goes to stderr)
 *   --workload W1|W2      one workload (default both)
 *   --backend cpu|reference   one hydranet backend (default both)
 *   --no-peers            skip PyTorch and OpenBLAS
 *   --threads N           threads for the cpu backend and the peers (default: every core)
 *
 * Honesty rules: every timed step is a real training step including the optimizer; the
 * batch is uploaded once, outside the windows; nothing is read back inside a window; the
 * backend is synchronised before a window's clock is read; warm-up is never timed.
 */
import { parseArgs } from 'node:util';
import { type Backend, createBackend } from '../ts/index.js';
import { type Machine, type PeerPlan, machineInfo, peerEnv, runOpenBlas, runTorch } from './peers.js';
import { type BenchRecord, type RecordBase, fmt, ratio, ratioRecord, table } from './report.js';
import { type Summary, type WindowPlan, measure } from './stats.js';
import { benchLenet, benchTfjsLenet } from './lenet.js';
import { benchWeighting } from './weighting.js';
import {
  type GemmCase,
  GemmOperands,
  SQUARE_GEMM,
  TrainingStep,
  WORKLOADS,
  type Workload,
  describeWorkload,
  gemmCases,
  gemmShape,
  stepFlops,
} from './workloads.js';

interface Options {
  quick: boolean;
  json: boolean;
  workloads: Workload[];
  backends: ('cpu' | 'reference')[];
  peers: boolean;
  threads: number | undefined;
}

const USAGE =
  'usage: npm run bench -- [--quick] [--json] [--workload W1|W2] [--backend cpu|reference] [--no-peers] [--threads N]';

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      workload: { type: 'string' },
      backend: { type: 'string' },
      'no-peers': { type: 'boolean', default: false },
      threads: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const workloads = values.workload === undefined ? [...WORKLOADS] : WORKLOADS.filter((w) => w.name === values.workload!.toUpperCase());
  if (workloads.length === 0) throw new Error(`Expected W1 or W2 for --workload but received ${JSON.stringify(values.workload)}`);
  let backends: Options['backends'] = ['cpu', 'reference'];
  if (values.backend !== undefined) {
    if (values.backend !== 'cpu' && values.backend !== 'reference') {
      throw new Error(`Expected cpu or reference for --backend but received ${JSON.stringify(values.backend)}`);
    }
    backends = [values.backend];
  }
  let threads: number | undefined;
  if (values.threads !== undefined) {
    threads = Number(values.threads);
    if (!Number.isInteger(threads) || threads < 1) throw new Error(`Expected a positive integer for --threads but received ${JSON.stringify(values.threads)}`);
  }
  return { quick: values.quick!, json: values.json!, workloads, backends, peers: !values['no-peers'], threads };
}

/**
 * Window plans: full (7 windows of ≥ 0.3 s) or --quick (3 of ≥ 0.1 s). The budgets only bind
 * for a very slow backend (they cap one measurement's time; the record then says so).
 */
function plans(quick: boolean): { step: WindowPlan; gemm: WindowPlan; peer: PeerPlan } {
  return quick
    ? {
        step: { windows: 3, minSeconds: 0.1, warmupSeconds: 0.2, warmupIters: 2, budgetSeconds: 3 },
        gemm: { windows: 3, minSeconds: 0.1, warmupSeconds: 0.1, warmupIters: 2, budgetSeconds: 1.5 },
        peer: { windows: 3, minSeconds: 0.1, warmupSeconds: 0.2 },
      }
    : {
        step: { windows: 7, minSeconds: 0.3, warmupSeconds: 1, warmupIters: 3, budgetSeconds: 15 },
        gemm: { windows: 7, minSeconds: 0.3, warmupSeconds: 0.3, warmupIters: 2, budgetSeconds: 6 },
        peer: { windows: 7, minSeconds: 0.3, warmupSeconds: 1 },
      };
}

/**
 * The reference backend is plain TypeScript: on W2 one step takes tens of seconds, so it
 * gets a fixed budget instead of the usual windows. Warm-up there is one step on the first
 * 16 rows (same code paths, JIT warmed, a fraction of the cost), then windows of one step.
 */
function referencePlan(w: Workload, quick: boolean): { plan: WindowPlan; warmRows?: number; note: string } | { skip: string } {
  if (w.name === 'W1') {
    return quick
      ? { plan: { windows: 2, minSeconds: 0.2, warmupSeconds: 0, warmupIters: 1, budgetSeconds: 6 }, note: 'reduced budget: 1 warm-up step, 2 windows of ≥ 0.2 s' }
      : { plan: { windows: 3, minSeconds: 1, warmupSeconds: 0, warmupIters: 1, budgetSeconds: 12 }, note: 'reduced budget: 1 warm-up step, 3 windows of ≥ 1 s' };
  }
  if (quick) return { skip: 'skipped in --quick: one reference step on W2 takes about a minute; run without --quick' };
  return {
    plan: { windows: 1, minSeconds: 0, warmupSeconds: 0, warmupIters: 0 },
    warmRows: 16,
    note: 'fixed budget: warm-up on 16 rows, then 1 window of exactly 1 full step (median = min = max)',
  };
}

const log = (msg: string): void => {
  process.stderr.write(`${msg}\n`);
};

function errText(e: unknown): string {
  if (e instanceof Error) return `${e.name}: ${e.message}`;
  return String(e);
}

/** Backend handles: created once, or the reason they cannot run here. */
interface BackendSlot {
  name: 'cpu' | 'reference';
  backend: Backend | null;
  reason?: string;
  threads?: number;
  isa?: string;
}

async function openBackend(name: 'cpu' | 'reference', threads: number | undefined): Promise<BackendSlot> {
  try {
    const backend = await createBackend(name, threads === undefined ? {} : { threads });
    const extra = backend as unknown as { threads?: unknown; isa?: unknown };
    return {
      name,
      backend,
      threads: typeof extra.threads === 'number' ? extra.threads : name === 'reference' ? 1 : undefined,
      isa: typeof extra.isa === 'string' ? extra.isa : name === 'reference' ? 'js' : undefined,
    };
  } catch (e) {
    return { name, backend: null, reason: errText(e) };
  }
}

function summaryFields(s: Summary): Pick<BenchRecord, 'median' | 'min' | 'max' | 'windows'> {
  return { median: s.median, min: s.min, max: s.max, windows: s.samples.length || undefined };
}

function skipped(base: RecordBase, reason: string): BenchRecord {
  return { ...base, median: null, min: null, max: null, skipped: reason };
}

async function benchSteps(slot: BackendSlot, w: Workload, opts: Options, records: BenchRecord[]): Promise<void> {
  const base = { workload: w.name, system: 'hydranet', backend: slot.name, metric: 'train_steps_per_s', unit: 'steps/s' };
  if (!slot.backend) {
    records.push(skipped(base, `backend unavailable: ${slot.reason}`));
    return;
  }
  let plan = plans(opts.quick).step;
  let note: string | undefined;
  let warmRows: number | undefined;
  if (slot.name === 'reference') {
    const rp = referencePlan(w, opts.quick);
    if ('skip' in rp) {
      records.push(skipped(base, rp.skip));
      return;
    }
    ({ plan, note, warmRows } = rp);
  }
  log(`  ${w.name} on ${slot.name}${note ? ` (${note})` : ''} …`);
  const be = slot.backend;
  try {
    const s = new TrainingStep(be, w);
    if (warmRows) {
      s.run(1, warmRows);
      await be.sync();
    }
    const summary = await measure((k) => s.run(k), () => be.sync(), plan);
    const losses = await s.losses();
    const finalLoss = losses.reduce((a, b) => a + b, 0);
    records.push({
      ...base,
      ...summaryFields(summary),
      threads: slot.threads,
      isa: slot.isa,
      flops_per_step: stepFlops(w),
      final_loss: finalLoss,
      note: [note, summary.reduced, Number.isFinite(finalLoss) ? '' : 'THE LOSS IS NOT FINITE after the timed steps'].filter(Boolean).join('; ') || undefined,
    });
  } catch (e) {
    records.push(skipped(base, `failed: ${errText(e)}`));
  }
}

/** The identifying fields of a GEMM record, shared by our backends and the OpenBLAS peer. */
function gemmRecordBase(c: GemmCase, system: string, backend: string): RecordBase {
  const { workload, label, m, n, k, transA, transB } = c;
  return { workload, system, backend, metric: 'gemm_gflops', unit: 'GFLOP/s', case: label, m, n, k, transA, transB };
}

async function benchGemm(be: Backend, slot: BackendSlot, c: GemmCase, opts: Options, records: BenchRecord[]): Promise<void> {
  const base = gemmRecordBase(c, 'hydranet', slot.name);
  let ops: GemmOperands | null = null;
  try {
    ops = new GemmOperands(be, c);
    const o = ops;
    const s = await measure((k) => o.run(k), () => be.sync(), plans(opts.quick).gemm);
    const g = o.flops / 1e9;
    records.push({
      ...base,
      median: s.median * g,
      min: s.min * g,
      max: s.max * g,
      windows: s.samples.length,
      threads: slot.threads,
      isa: slot.isa,
      note: s.reduced,
    });
  } catch (e) {
    records.push(skipped(base, `failed: ${errText(e)}`));
  } finally {
    ops?.dispose();
  }
}

interface Shape {
  m?: number;
  n?: number;
  k?: number;
  transA?: boolean;
  transB?: boolean;
}

function sameShape(r: Shape, c: Shape): boolean {
  return r.m === c.m && r.n === c.n && r.k === c.k && r.transA === c.transA && r.transB === c.transB;
}

// ---- human output ---------------------------------------------------------------------------

function printHuman(records: BenchRecord[], opts: Options, peerNotes: string[]): void {
  const out: string[] = [''];
  const find = (p: (r: BenchRecord) => boolean): BenchRecord | undefined => records.find(p);

  // Training steps.
  out.push(`Training steps per second (forward + multi-loss + backward + SGD momentum 0.9, lr 0.01; median [min … max] over windows)`);
  const rows: string[][] = [];
  const skips: string[] = [];
  for (const w of opts.workloads) {
    const stepRecs = records.filter((r) => r.workload === w.name && r.metric === 'train_steps_per_s');
    for (const r of stepRecs) {
      const who = r.system === 'hydranet' ? `hydranet ${r.backend}` : r.system === 'pytorch' ? 'PyTorch cpu' : r.system;
      if (r.median === null) {
        skips.push(`  ${w.name} ${who}: ${r.skipped}`);
        rows.push([w.name, who, '', '—', '', '', '', '', '', 'skipped (below)']);
        continue;
      }
      const gf = (r.median * stepFlops(w)) / 1e9;
      rows.push([
        w.name,
        who,
        r.threads !== undefined ? String(r.threads) : '',
        fmt(r.median),
        fmt(r.min),
        fmt(r.max),
        String(r.windows ?? ''),
        fmt(1000 / r.median),
        fmt(gf),
        r.note ?? '',
      ]);
    }
  }
  out.push(
    table(['workload', 'system', 'threads', 'steps/s', 'min', 'max', 'windows', 'ms/step', 'GFLOP/s*', 'note'], rows, ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'l']),
  );
  out.push('  * effective: GEMM FLOPs of one step (forward, dW, dX except the first layer) × steps/s');
  for (const w of opts.workloads) out.push(`  ${w.name}: ${describeWorkload(w)}`);
  const ratios = records.filter((r) => r.metric === 'train_steps_per_s_ratio');
  if (ratios.length) {
    out.push('', 'Ratios measured in this run (median/median [worst … best window pairing]):');
    for (const r of ratios) out.push(`  ${r.workload}: hydranet ${r.backend} / ${r.system.split('/')[1] === 'pytorch' ? 'PyTorch cpu' : r.system.split('/')[1]} = ${ratio(r.median)} [${ratio(r.min)} … ${ratio(r.max)}]`);
  }
  if (skips.length) out.push('', 'Skipped:', ...skips);

  // GEMM.
  const gemmRecs = records.filter((r) => r.metric === 'gemm_gflops' && r.system === 'hydranet');
  if (gemmRecs.length || records.some((r) => r.metric === 'gemm_gflops')) {
    out.push('', 'GEMM GFLOP/s (FLOPs = 2mnk; m×n×k with op(A) m×k, op(B) k×n; median [min … max])');
    const grows: string[][] = [];
    const gskips: string[] = [];
    for (const r of gemmRecs) {
      const blas = find((b) => b.system === 'openblas' && b.metric === 'gemm_gflops' && sameShape(b, r));
      const rr = find((b) => b.metric === 'gemm_gflops_ratio' && sameShape(b, r) && b.workload === r.workload);
      if (r.median === null) gskips.push(`  ${r.workload} ${r.case}: ${r.skipped}`);
      grows.push([
        r.workload === 'gemm' ? '—' : r.workload,
        r.case ?? '',
        gemmShape({ workload: r.workload, label: '', m: r.m!, n: r.n!, k: r.k!, transA: !!r.transA, transB: !!r.transB, beta: 0 }),
        r.median === null ? 'skipped' : `${fmt(r.median)} [${fmt(r.min)} … ${fmt(r.max)}]`,
        blas && blas.median !== null ? `${fmt(blas.median)} [${fmt(blas.min)} … ${fmt(blas.max)}]` : '—',
        rr ? ratio(rr.median) : '—',
        r.note ?? '',
      ]);
    }
    out.push(table(['workload', 'case', 'shape', 'hydranet cpu', 'OpenBLAS', 'cpu/OpenBLAS', 'note'], grows, ['l', 'l', 'l', 'r', 'r', 'r', 'l']));
    out.push('  * the first layer\'s dX is not computed in training (its input is the data); listed for completeness.');
    out.push('  dW uses beta = 1 (gradients accumulate), as in training.');
    const reasons = new Set(gemmRecs.filter((r) => r.median === null).map((r) => r.skipped));
    if (gskips.length === gemmRecs.length && reasons.size === 1) out.push('', `Skipped (every case): ${[...reasons][0]}`);
    else if (gskips.length) out.push('', 'Skipped:', ...gskips);
  }
  // Weighting strategies.
  const wrecs = records.filter((r) => r.metric === 'weighting_steps_per_s');
  if (wrecs.length) {
    out.push('', `Weighting strategies on ${wrecs[0].workload}, ${wrecs[0].backend} (steps/s, median [min … max]; ratio to equal weighting: median [min … max] of per-round ratios, strategies interleaved)`);
    const wrows = wrecs.map((r) => {
      const rr = find((b) => b.metric === 'weighting_vs_equal_ratio' && b.case === r.case);
      return [String(r.case), String(r.mode), `${fmt(r.median)} [${fmt(r.min)} … ${fmt(r.max)}]`, rr ? `${ratio(rr.median)} [${ratio(rr.min)} … ${ratio(rr.max)}]` : '1×'];
    });
    out.push(table(['weighting', 'mode', 'steps/s', 'vs equal'], wrows, ['l', 'l', 'r', 'r']));
  }
  // MultiLeNet.
  const lenet = records.filter((r) => r.workload === 'LeNet' && r.metric === 'train_steps_per_s');
  if (lenet.length) {
    out.push('', 'MultiLeNet training steps per second (conv trunk + 2 heads, batch 256, SGD; an epoch of MultiMNIST is 235 steps)');
    const ours = lenet.find((r) => r.system === 'hydranet')?.median ?? null;
    const lrows = lenet.map((r) => {
      const who = r.system === 'hydranet' ? `hydranet ${r.backend}` : `tfjs ${r.backend}`;
      if (r.median === null) return [who, '—', '—', r.skipped ?? ''];
      const vs = ours !== null && r.system !== 'hydranet' ? `hydranet / this = ${ratio(ours / r.median)}` : '';
      return [who, `${fmt(r.median)} [${fmt(r.min)} … ${fmt(r.max)}]`, `${fmt(235 / r.median)} s`, [vs, r.note].filter(Boolean).join('; ')];
    });
    out.push(table(['system', 'steps/s', 'epoch', 'note'], lrows, ['l', 'r', 'r', 'l']));
  }
  if (peerNotes.length) out.push('', 'Peers:', ...peerNotes.map((n) => `  ${n}`));
  console.log(out.join('\n'));
}

// ---- main -------------------------------------------------------------------------------------

async function main(): Promise<void> {
  let opts: Options;
  try {
    opts = parseOptions(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n${USAGE}\n`);
    process.exit(2);
  }
  const started = performance.now();
  const machine: Machine = machineInfo();
  const threads = opts.threads ?? machine.cores;
  const { env, shown } = peerEnv(machine);
  if (opts.threads !== undefined) {
    env.OMP_NUM_THREADS = env.OPENBLAS_NUM_THREADS = shown.OMP_NUM_THREADS = shown.OPENBLAS_NUM_THREADS = String(threads);
  }
  const records: BenchRecord[] = [];
  const peerNotes: string[] = [];
  const p = plans(opts.quick);

  const slots: BackendSlot[] = [];
  for (const name of opts.backends) slots.push(await openBackend(name, opts.threads));

  const header = [
    `hydranet bench${opts.quick ? ' (--quick)' : ''}`,
    `machine   ${machine.model} (${[machine.vendor, machine.family].filter(Boolean).join(' ')}), ${machine.cores} cores${machine.avx512f ? ', AVX-512F' : ''}, ${machine.memoryGiB.toFixed(0)} GiB; ${machine.os}; Node ${machine.node}`,
    ...slots.map((s) =>
      s.backend
        ? `backend   ${s.name}: isa ${s.isa ?? '?'}, threads ${s.threads ?? '?'}`
        : `backend   ${s.name}: UNAVAILABLE: ${s.reason}`,
    ),
    `windows   steps: ${p.step.windows} × ≥ ${p.step.minSeconds} s after ≥ ${p.step.warmupSeconds} s warm-up; GEMM: ${p.gemm.windows} × ≥ ${p.gemm.minSeconds} s; reference: reduced budget (see notes)`,
  ];
  if (opts.peers) header.push(`peer env  ${Object.entries(shown).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  // Human mode: the header goes to stdout now, the tables at the end; progress goes to stderr.
  if (!opts.json) console.log(header.join('\n'));

  records.push({
    workload: 'machine',
    system: 'hydranet',
    backend: slots.map((s) => s.name).join(','),
    metric: 'info',
    median: null,
    min: null,
    max: null,
    cpu: machine.model,
    cores: machine.cores,
    vendor: machine.vendor,
    family: machine.family,
    avx512f: machine.avx512f,
    os: machine.os,
    node: machine.node,
    quick: opts.quick,
    backends: Object.fromEntries(slots.map((s) => [s.name, s.backend ? { isa: s.isa, threads: s.threads } : { unavailable: s.reason }])),
    peer_env: opts.peers ? shown : undefined,
  });

  // 1. Training steps on hydranet's backends.
  log('training steps:');
  for (const w of opts.workloads) {
    for (const slot of slots) await benchSteps(slot, w, opts, records);
  }

  // 1b. The overhead of each weighting strategy against equal weighting (W1, cpu).
  const w1 = opts.workloads.find((w) => w.name === 'W1');
  const cpuSlot = slots.find((sl) => sl.name === 'cpu' && sl.backend);
  if (w1 && cpuSlot?.backend) {
    log('weighting strategies:');
    records.push(...(await benchWeighting(cpuSlot.backend, w1, p.step, log)));
  }

  // 1c. MultiLeNet (issue: image trunks) beside TensorFlow.js.
  if (cpuSlot?.backend && opts.workloads.some((w) => w.name === 'W1')) {
    log('MultiLeNet (batch 256):');
    log('  hydranet cpu …');
    const mine = await benchLenet(cpuSlot.backend, p.step);
    records.push(mine);
    if (opts.peers) {
      for (const be of ['cpu', 'wasm'] as const) {
        if (be === 'cpu' && opts.quick) {
          records.push({ workload: 'LeNet', system: 'tfjs', backend: 'cpu', metric: 'train_steps_per_s', unit: 'steps/s', median: null, min: null, max: null, skipped: 'skipped with --quick (about 20 s a step)' });
          continue;
        }
        log(`  tfjs ${be} …`);
        const peer = benchTfjsLenet(be, be === 'cpu' ? 45 : 20, be === 'cpu' ? 3 : 20);
        records.push(peer);
        const rr = ratioRecord(mine, peer, {});
        if (rr) records.push(rr);
      }
    }
  }

  // 2. PyTorch on the same workloads.
  const names = opts.workloads.map((w) => w.name);
  if (opts.peers) {
    log(`  PyTorch cpu (${names.join(', ')}) …`);
    const t = runTorch(names, p.peer, threads, env);
    if (t.ok && t.value) {
      const { info, steps } = t.value;
      peerNotes.push(
        `PyTorch ${info.version} (${info.python}), ${info.threads} threads, heads ${info.heads === 'concat' ? 'concatenated into one nn.Linear' : 'one nn.Linear each'}; BLAS: ${info.blas.join(', ') || 'unknown'}`,
      );
      for (const s of steps) {
        records.push({
          workload: s.workload,
          system: 'pytorch',
          backend: 'cpu',
          metric: 'train_steps_per_s',
          unit: 'steps/s',
          median: s.median,
          min: s.min,
          max: s.max,
          windows: p.peer.windows,
          threads: s.threads,
          version: info.version,
          heads: info.heads,
          final_loss: s.loss,
        });
      }
    } else {
      peerNotes.push(`PyTorch skipped: ${t.reason}`);
      for (const w of names) {
        records.push(skipped({ workload: w, system: 'pytorch', backend: 'cpu', metric: 'train_steps_per_s', unit: 'steps/s' }, t.reason ?? 'unavailable'));
      }
    }
  } else {
    peerNotes.push('PyTorch and OpenBLAS skipped (--no-peers)');
  }
  for (const w of names) {
    const torch = records.find((r) => r.workload === w && r.system === 'pytorch' && r.metric === 'train_steps_per_s');
    for (const slot of slots) {
      const mine = records.find((r) => r.workload === w && r.system === 'hydranet' && r.backend === slot.name && r.metric === 'train_steps_per_s');
      const rr = mine && torch ? ratioRecord(mine, torch, {}) : null;
      if (rr) records.push(rr);
    }
  }

  // 3. GEMM on the cpu backend, then OpenBLAS at the same shapes.
  const cpu = slots.find((s) => s.name === 'cpu');
  const cases = [SQUARE_GEMM, ...opts.workloads.flatMap(gemmCases)];
  if (cpu) {
    log('GEMM:');
    for (const c of cases) {
      if (cpu.backend) {
        log(`  cpu ${c.workload} ${c.label} (${gemmShape(c)}) …`);
        await benchGemm(cpu.backend, cpu, c, opts, records);
      } else {
        records.push(
          skipped(
            { workload: c.workload, system: 'hydranet', backend: 'cpu', metric: 'gemm_gflops', unit: 'GFLOP/s', case: c.label, m: c.m, n: c.n, k: c.k, transA: c.transA, transB: c.transB },
            `backend unavailable: ${cpu.reason}`,
          ),
        );
      }
    }
    if (opts.peers) {
      log('  OpenBLAS sgemm (same shapes) …');
      // Duplicate shapes (W1/W2 share none today, but keep it general) are measured once.
      const unique = cases.filter((c, i) => cases.findIndex((d) => sameShape(d, c) && d.beta === c.beta) === i);
      const b = runOpenBlas(unique, p.gemm, env);
      if (b.ok && b.value) {
        peerNotes.push(`OpenBLAS: ${b.value.info.config}; core ${b.value.info.core}; ${b.value.info.threads} threads (cblas_sgemm, compiled at bench time into a temp folder)`);
        for (const c of cases) {
          const g = b.value.gemms.find((x) => sameShape(c, x));
          if (!g) continue;
          const rec: BenchRecord = {
            ...gemmRecordBase(c, 'openblas', 'cblas_sgemm'),
            median: g.median,
            min: g.min,
            max: g.max,
            windows: p.gemm.windows,
            threads: b.value.info.threads,
            core: b.value.info.core,
          };
          records.push(rec);
          const mine = records.find((r) => r.system === 'hydranet' && r.metric === 'gemm_gflops' && r.workload === c.workload && r.case === c.label);
          const rr = mine ? ratioRecord(mine, rec, { case: c.label, m: c.m, n: c.n, k: c.k, transA: c.transA, transB: c.transB }) : null;
          if (rr) records.push(rr);
        }
      } else {
        peerNotes.push(`OpenBLAS skipped: ${b.reason}`);
        records.push(skipped({ workload: 'gemm', system: 'openblas', backend: 'cblas_sgemm', metric: 'gemm_gflops', unit: 'GFLOP/s' }, b.reason ?? 'unavailable'));
      }
    }
  }

  for (const s of slots) s.backend?.dispose();
  const seconds = (performance.now() - started) / 1000;
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(records, null, 1)}\n`);
  } else {
    printHuman(records, opts, peerNotes);
    console.log(`\n(bench took ${seconds.toFixed(0)} s)`);
  }
}

main().catch((e) => {
  process.stderr.write(`bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
