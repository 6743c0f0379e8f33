/**
 * Development bench for the cpu GEMM (native/cpu/gemm.cc): GFLOP/s of hydranet_cpu.node's gemm
 * at the training shapes of W1 and W2 (each layer's forward x·Wᵀ, dX = dY·W and dW += dYᵀ·X, as
 * bench/workloads.ts's gemmCases lists them) and a square 1024³, on 1 and 2 threads, beside
 * OpenBLAS's cblas_sgemm and the machine's FMA peak
 * (bench/gemm-dev/peak.cc). Several addons (e.g. a saved copy of the previous build) are timed
 * in the same process, case by case, so an A/B comparison sees the same load; OpenBLAS
 * (the bench's peer bench/peers/openblas_sgemm.c, compiled into a temp folder, one window per
 * case) runs in a child process between the rounds. Each window is
 * timed by the wall clock and by the process's CPU time: on a shared, loaded machine the rate per
 * CPU-second (flops / CPU seconds, i.e. per busy core) still says how close a kernel gets to the
 * core's peak, where the wall-clock rate mostly says how busy the machine was. Figures are the
 * best over rounds; a second table per thread count gives each addon's fastest and median single
 * call by the wall clock (the fastest is a call no other process interrupted).
 * Not part of `npm run bench`; run after `npm run build:ts`:
 *   node dist/bench/gemm-dev/cpu-gemm.js [--rounds 3] [--seconds 0.4] [--threads 1,2]
 *     [--addon build/Release/hydranet_cpu.node] [--addon /tmp/old.node] [--no-openblas]
 *     [--peak GFLOPS_PER_THREAD] [--only W1|W2|E1]
 * (`--only E1`: one expert's GEMMs of the embedding workload E1, bench/embedding/workload.ts,
 * and the forward, dX and dW of its first layer with the 8 experts side by side, ×8)
 * (without --peak, peak.cc is compiled with g++ and run on one thread first).
 * `--contend BUSY,SLEEP` (e.g. 10,10) times everything while a competing child process steals
 * part of a core: it spins BUSY ms, sleeps SLEEP ms, and so on, until the bench ends (on this
 * 2-core machine 10,10 takes half of one core, as another tenant might).
 */
import { spawn, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { machineInfo, peerEnv } from '../peers.js';
import { EMBEDDING_NAME, EMBEDDING_WORKLOAD } from '../embedding/workload.js';
import { type GemmCase as Case, SQUARE_GEMM, WORKLOADS, gemmCases } from '../workloads.js';

type GemmFn = (...args: unknown[]) => void;

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '0.4' },
    threads: { type: 'string', default: '1,2' },
    addon: { type: 'string', multiple: true },
    'no-openblas': { type: 'boolean', default: false },
    peak: { type: 'string' },
    only: { type: 'string' },
    contend: { type: 'string' },
  },
});
const rounds = Number(values.rounds);
const seconds = Number(values.seconds);
const threadCounts = values.threads.split(',').map(Number);
const root = process.cwd();
const addonPaths = values.addon ?? [path.join(root, 'build/Release/hydranet_cpu.node')];
const require = createRequire(import.meta.url);
const addons = addonPaths.map((p) => ({ path: p, gemm: (require(path.resolve(p)) as { gemm: GemmFn }).gemm }));

/** E1's expert GEMMs: one expert (a Dense trunk of expertUnits over the embedded width), then its first layer's for all experts side by side. */
function embeddingCases(): Case[] {
  const w = EMBEDDING_WORKLOAD;
  const width = w.numeric + w.vocabs.length * w.dim;
  const expert = { name: 'W1' as const, input: width, trunk: w.expertUnits, heads: w.tasks, classes: 2, batch: w.batch };
  const wide = { ...expert, trunk: [w.experts * w.expertUnits[0]] };
  return [
    ...gemmCases(expert).map((c) => ({ ...c, workload: EMBEDDING_NAME, label: `${EMBEDDING_NAME} expert ${c.label}` })),
    ...gemmCases(wide).map((c) => ({ ...c, workload: EMBEDDING_NAME, label: `${EMBEDDING_NAME} ×${w.experts} ${c.label}` })),
  ];
}

const cases: Case[] = [SQUARE_GEMM];
for (const w of WORKLOADS.filter((x) => x.name !== 'W3' && (!values.only || x.name === values.only))) {
  for (const c of gemmCases(w)) cases.push({ ...c, label: `${w.name} ${c.label}` });
}
if (values.only === EMBEDDING_NAME) cases.push(...embeddingCases());

function rand(n: number, seed: number): Float32Array {
  const x = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    x[i] = (s >>> 8) / 16777216 * 2 - 1;
  }
  return x;
}

interface Rate {
  wall: number; // GFLOP/s by the wall clock
  cpu: number; // GFLOP/s per CPU-second of the process
  calls?: number[]; // each call's GFLOP/s by the wall clock (addons only)
}

/** One window of calls lasting at least `seconds`. */
function window(gemm: GemmFn, c: Case, a: Float32Array, b: Float32Array, out: Float32Array, threads: number): Rate {
  const call = (): void => gemm(a, b, out, null, c.m, c.n, c.k, c.transA, c.transB, 1, c.beta, 0, threads);
  call();
  let reps = 0;
  const calls: number[] = [];
  const u0 = process.cpuUsage();
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < seconds * 1000) {
    call();
    reps++;
    const t1 = performance.now();
    calls.push((2 * c.m * c.n * c.k) / ((t1 - t) / 1000) / 1e9);
    t = t1;
  }
  const u = process.cpuUsage(u0);
  const flops = 2 * c.m * c.n * c.k * reps;
  return { wall: flops / ((t - t0) / 1000) / 1e9, cpu: flops / ((u.user + u.system) / 1e6) / 1e9, calls };
}

/** OpenBLAS's rates per case at `threads` (one child process, one window per case). */
function openblas(exe: string, threads: number): Rate[] {
  const shapes = cases.map((c) => `${c.m},${c.n},${c.k},${c.transA ? 1 : 0},${c.transB ? 1 : 0},${c.beta}`);
  const r = spawnSync(exe, ['1', String(seconds), '0', ...shapes], {
    encoding: 'utf8',
    // The bench's peer environment (OpenBLAS's SkylakeX kernels on AVX-512 AMD CPUs, which its own detection misses), at `threads`.
    env: { ...peerEnv(machineInfo()).env, OPENBLAS_NUM_THREADS: String(threads) },
  });
  if (r.status !== 0) throw new Error(`openblas_sgemm: ${r.stderr}`);
  // The first line is the library's config; then one line per case: its window's rate by the wall clock (median) and per CPU-second.
  return r.stdout
    .trim()
    .split('\n')
    .slice(1)
    .map((l) => JSON.parse(l) as { median: number; cpu: number })
    .map((x) => ({ wall: x.median, cpu: x.cpu }));
}

let blas: string | null = null;
if (!values['no-openblas']) {
  const exe = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'gemm-dev-')), 'openblas_sgemm');
  const b = spawnSync(process.env.CC ?? 'cc', ['-O2', '-o', exe, path.join(root, 'bench/peers/openblas_sgemm.c'), '-lopenblas'], { encoding: 'utf8' });
  if (b.status === 0) blas = exe;
  else console.error(`OpenBLAS peer not built: ${b.stderr}`);
}

let peak = values.peak ? Number(values.peak) : NaN;
if (!values.peak) {
  const exe = path.join(os.tmpdir(), `gemm-dev-peak-${process.pid}`);
  const b = spawnSync('g++', ['-O2', '-mavx512f', '-pthread', '-o', exe, path.join(root, 'bench/gemm-dev/peak.cc')], { encoding: 'utf8' });
  if (b.status === 0) {
    const r = spawnSync(exe, ['1'], { encoding: 'utf8' });
    peak = (JSON.parse(r.stdout) as { peak_gflops: number }).peak_gflops;
    fs.rmSync(exe, { force: true });
  }
}
// The competing process of --contend: busy BUSY ms, asleep SLEEP ms, until this process exits.
if (values.contend) {
  const [busy, sleep] = values.contend.split(',').map(Number);
  if (!(busy > 0 && sleep >= 0)) throw new Error(`--contend: expected BUSY,SLEEP in ms (e.g. 10,10), got '${values.contend}'`);
  // The child also exits when its IPC channel closes: when this process dies in any way (a
  // plain kill included), not only when it exits normally.
  const loop = `process.on('disconnect',()=>process.exit(0));(function f(){const t=Date.now();while(Date.now()-t<${busy}){}setTimeout(f,${sleep})})()`;
  const child = spawn(process.execPath, ['-e', loop], { stdio: ['ignore', 'ignore', 'ignore', 'ipc'] });
  child.unref(); // this process still exits when the bench ends, killing the child then
  child.channel?.unref();
  process.on('exit', () => child.kill());
  console.log(`contended: a child process (pid ${child.pid}) spins ${busy} ms, sleeps ${sleep} ms, until the bench ends`);
}
console.log(`load: ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}; FMA peak per thread ${peak.toFixed(1)} GFLOP/s`);

// results[system][threads][case] = rates per round
const systems = [...addons.map((a) => a.path), ...(blas ? ['openblas'] : [])];
const results = new Map<string, Rate[][][]>(systems.map((s) => [s, threadCounts.map(() => cases.map(() => [] as Rate[]))]));
const operands = cases.map((c, i) => ({
  a: rand(c.m * c.k, 3 * i + 1),
  b: rand(c.k * c.n, 3 * i + 2),
  c: new Float32Array(c.m * c.n),
}));
for (let r = 0; r < rounds; r++) {
  for (const [ti, t] of threadCounts.entries()) {
    for (const [ci, c] of cases.entries()) {
      const o = operands[ci];
      for (const a of addons) results.get(a.path)![ti][ci].push(window(a.gemm, c, o.a, o.b, o.c, t));
    }
    if (blas) openblas(blas, t).forEach((g, ci) => results.get('openblas')![ti][ci].push(g));
  }
}

const best = (x: number[]): number => Math.max(...x);
for (const [ti, t] of threadCounts.entries()) {
  console.log(
    `\n${t} thread${t === 1 ? '' : 's'}: best GFLOP/s per CPU-second (% of one core's peak ${peak.toFixed(0)}) / best wall-clock GFLOP/s (% of ${t}·peak)`,
  );
  const head = ['case', 'm×n×k', ...systems.map((s) => (s === 'openblas' ? 'OpenBLAS' : path.basename(s)))];
  console.log(head.join(' | '));
  for (const [ci, c] of cases.entries()) {
    const shape = `${c.m}×${c.n}×${c.k}${c.transA ? ' Aᵀ' : ''}${c.transB ? ' Bᵀ' : ''}`;
    const cells = systems.map((s) => {
      const x = results.get(s)![ti][ci];
      const cpu = best(x.map((r) => r.cpu));
      const wall = best(x.map((r) => r.wall));
      return `${cpu.toFixed(0)} (${((100 * cpu) / peak).toFixed(0)} %) / ${wall.toFixed(0)} (${((100 * wall) / (peak * t)).toFixed(0)} %)`;
    });
    console.log([c.label, shape, ...cells].join(' | '));
  }
  // Single calls: on a shared machine the fastest call is the one no other process interrupted
  // (every thread on a core of its own), the median what a call typically got.
  console.log(`\n${t} thread${t === 1 ? '' : 's'}: single calls, wall-clock GFLOP/s: fastest / median over all rounds`);
  console.log(['case', 'm×n×k', ...addons.map((a) => path.basename(a.path))].join(' | '));
  for (const [ci, c] of cases.entries()) {
    const cells = addons.map((a) => {
      const x = results.get(a.path)![ti][ci].flatMap((r) => r.calls ?? []).sort((p, q) => p - q);
      return `${x[x.length - 1].toFixed(0)} / ${x[x.length >> 1].toFixed(0)}`;
    });
    console.log([c.label, `${c.m}×${c.n}×${c.k}`, ...cells].join(' | '));
  }
}
