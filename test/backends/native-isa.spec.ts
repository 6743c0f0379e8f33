/**
 * The cpu backend's SIMD paths agree: the same ops run in child processes with
 * HYDRANET_CPU_ISA forced to every path this CPU supports, and each result is compared with the
 * best path's (the parity spec compares the best path with the reference). Dropout masks must be
 * bit-identical. A bad HYDRANET_CPU_ISA is a ConfigError naming the variable.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { loadCpuAddon } from '../../ts/backends/native.js';
import { BackendUnavailableError } from '../../ts/errors.js';
import { assertClose } from './harness.js';

const cpuModule = pathToFileURL(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../ts/backends/cpu.js')).href;
const backendModule = cpuModule.replace(/cpu\.js$/, 'backend.js');
const randomModule = cpuModule.replace(/backends\/cpu\.js$/, 'core/random.js');

/** Runs the ops on a fresh backend in a child process and returns every output by name. */
const SCRIPT = `
import { CpuBackend } from '${cpuModule}';
import { ACTIVATIONS, LossLayout } from '${backendModule}';
import { Rng } from '${randomModule}';
const be = new CpuBackend();
const rng = new Rng(5);
const rand = (n) => Float32Array.from({ length: n }, () => rng.normal());
const out = { isa: be.isa };
const put = async (name, t) => { out[name] = Array.from(await be.read(t)); };
for (const [m, n, k, tA, tB] of [[37, 45, 300, false, true], [64, 20, 257, true, false], [255, 256, 33, true, true]]) {
  const a = be.upload(rand(m * k), tA ? [k, m] : [m, k]);
  const b = be.upload(rand(k * n), tB ? [n, k] : [k, n]);
  const c = be.upload(rand(m * n), [m, n]);
  be.gemm(a, b, c, { transA: tA, transB: tB, alpha: 0.5, beta: 0.25, bias: be.upload(rand(n), [n]), activation: 'gelu' });
  await put('gemm ' + [m, n, k, tA, tB].join('x'), c);
}
const x = be.upload(rand(1001).map((v) => 4 * v), [1001]);
const dy = be.upload(rand(1001), [1001]);
for (const kind of ACTIVATIONS) {
  const y = be.alloc([1001]);
  const dx = be.alloc([1001]);
  be.activationForward(kind, x, y);
  be.activationBackward(kind, y, dy, dx, x);
  await put(kind + ' y', y);
  await put(kind + ' dx', dx);
}
// biasGrad: each ISA's column sums (blocks of register-held columns, a partial vector, a tail).
for (const [rows, cols] of [[256, 512], [17, 255], [3, 1]]) {
  const db = be.upload(rand(cols), [cols]);
  be.biasGrad(be.upload(rand(rows * cols), [rows, cols]), db);
  await put('biasGrad ' + rows + 'x' + cols, db);
}
const y = be.alloc([1001]);
const mask = be.alloc([1001]);
be.dropoutForward(x, y, mask, 0.3, 12345);
await put('dropout mask', mask);
const p = be.upload(rand(1001), [1001]);
const m1 = be.upload(rand(1001), [1001]);
const v1 = be.upload(rand(1001).map(Math.abs), [1001]);
be.adamwStep(p, dy, m1, v1, { lr: 0.01, step: 3 });
be.sgdStep(p, dy, m1, { lr: 0.1, momentum: 0.9, weightDecay: 1e-4, nesterov: true });
await put('optimizer p', p);
console.log(JSON.stringify(out));
`;

function runWith(isa: string): Record<string, number[] | string> {
  const stdout = execFileSync(process.execPath, ['--input-type=module', '-e', SCRIPT], {
    env: { ...process.env, HYDRANET_CPU_ISA: isa },
    encoding: 'utf8',
    stdio: 'pipe',
    maxBuffer: 1 << 26,
  });
  return JSON.parse(stdout) as Record<string, number[] | string>;
}

describe('cpu backend SIMD paths', function () {
  let supported: string[] = [];

  before(function () {
    try {
      const info = loadCpuAddon().info();
      supported = (['scalar', 'avx2', 'avx512'] as const).filter((isa) => info.supported[isa]);
    } catch (e) {
      if (e instanceof BackendUnavailableError && process.env.CI !== 'true') this.skip();
      throw e;
    }
  });

  it('every supported path gives the best path’s results', function () {
    if (supported.length < 2) this.skip();
    const results = supported.map(runWith);
    const best = results[results.length - 1];
    results.forEach((r, i) => assert.equal(r.isa, supported[i], 'HYDRANET_CPU_ISA was not honoured'));
    for (const r of results.slice(0, -1)) {
      for (const [name, want] of Object.entries(best)) {
        if (name === 'isa') continue;
        const got = Float32Array.from(r[name] as number[]);
        // Exact: dropout's hash, and biasGrad (every path sums each column in double in row order).
        const exact = name === 'dropout mask' || name.startsWith('biasGrad');
        const tol = exact ? { atol: 0, rtol: 0 } : name.startsWith('gemm') ? { atol: 1e-3, rtol: 1e-4 } : { atol: 1e-6, rtol: 1e-5 };
        assertClose(got, Float32Array.from(want as number[]), tol, `${r.isa} vs ${best.isa}: ${name}`);
      }
    }
  });

  it('rejects an unknown HYDRANET_CPU_ISA with a ConfigError naming it', function () {
    assert.throws(() => runWith('avx1024'), /ConfigError: HYDRANET_CPU_ISA=avx1024 is not one of scalar, avx2, avx512/);
  });
});
