/**
 * The cpu backend's SIMD paths agree: the same ops run in child processes with
 * HYDRANET_CPU_ISA forced to every path this CPU supports, and each result is compared with the
 * best path's (the parity spec compares the best path with the reference), the mixture's NaN
 * rows included (NaN exactly where the best path has it). Results travel as
 * their bits (NaN and −0 survive the JSON). Dropout masks, bias gradients and 2×2 stride-2 max
 * pooling (each ISA's own vector loops) must be bit-identical. A bad HYDRANET_CPU_ISA is a
 * ConfigError naming the variable.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { loadCpuAddon } from '../../ts/backends/native.js';
import { BackendUnavailableError } from '../../ts/errors.js';
import { assertClose, runWithIsa } from './harness.js';

const cpuModule = pathToFileURL(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../ts/backends/cpu.js')).href;
const backendModule = cpuModule.replace(/cpu\.js$/, 'backend.js');
const randomModule = cpuModule.replace(/backends\/cpu\.js$/, 'core/random.js');

/** Runs the ops on a fresh backend in a child process and returns every output by name. */
const SCRIPT = `
import { CpuBackend } from '${cpuModule}';
import { ACTIVATIONS, LossLayout, MixtureLayout, Pool2dGeometry } from '${backendModule}';
import { Rng } from '${randomModule}';
const be = new CpuBackend();
const rng = new Rng(5);
const rand = (n) => Float32Array.from({ length: n }, () => rng.normal());
const out = { isa: be.isa };
const put = async (name, t) => { out[name] = Array.from(new Uint32Array((await be.read(t)).buffer)); };
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
// maxPool2d 2×2 stride 2 (rows of 20 windows: a whole and a partial vector step on AVX2 and
// AVX-512; a leftover row and column): ties, NaN, −∞ and −0, and a backward with every argmax in
// its own window (the vector path) and one with an argmax elsewhere (the general loop).
{
  const geo = new Pool2dGeometry(3, 7, 41, 2, 2);
  const xs = rand(2 * 3 * 7 * 41).map((v) => Math.round(2 * v) / 2);
  xs[5] = NaN; xs[50] = -Infinity; xs[51] = -Infinity; xs[41] = -Infinity; xs[42] = -Infinity; xs[300] = -0;
  const ys = [2, 3, geo.outH, geo.outW];
  const px = be.upload(xs, [2, 3, 7, 41]);
  const py = be.alloc(ys);
  const pa = be.alloc(ys);
  be.maxPool2dForward(px, py, pa, geo);
  await put('maxPool2d y', py);
  await put('maxPool2d argmax', pa);
  const g = rand(2 * 3 * geo.outH * geo.outW).map((v, k) => (k % 7 === 0 ? -0 : v));
  const pdx = be.upload(rand(2 * 3 * 7 * 41), [2, 3, 7, 41]);
  be.maxPool2dBackward(be.upload(g, ys), pa, pdx, geo);
  await put('maxPool2d dx', pdx);
  const moved = Float32Array.from(await be.read(pa));
  moved[geo.outH * geo.outW + 4] = 0; // plane 1, window 4 (its dy is not −0)
  be.maxPool2dBackward(be.upload(g, ys), be.upload(moved, ys), pdx, geo);
  await put('maxPool2d dx (an argmax elsewhere)', pdx);
}
// multiLoss: each ISA's softmax numerators (isa_extras().exp_shifted).
{
  const layout = new LossLayout([
    { kind: 'softmax-ce', outOffset: 0, outWidth: 10, tgtOffset: 0 },
    { kind: 'gce', outOffset: 10, outWidth: 10, tgtOffset: 1 },
  ]);
  const losses = be.alloc([2]);
  const dlogits = be.alloc([37, 20]);
  const tg = Float32Array.from({ length: 74 }, (_, k) => (k * 7) % 10);
  be.multiLoss(be.upload(rand(37 * 20).map((v) => 3 * v), [37, 20]), be.upload(tg, [37, 2]), null, be.upload(Float32Array.from([1, 0.5]), [2]), layout, losses, dlogits);
  await put('multiLoss losses', losses);
  await put('multiLoss dlogits', dlogits);
}
// mixtureForward / mixtureBackward: each ISA's softmax exps, gated sums (width 83: whole blocks
// of vectors, a lone vector, a tail; width 3: a tail alone) and expert passes (experts 0 and 1
// each read by 6 gate columns: two passes of up to 4), with a NaN first logit (row 2, task 0)
// and a NaN later logit (row 5, task 1).
for (const D of [83, 3]) {
  const lists = [[0, 1, 2], [1, 0], [0, 2, 1], [2, 0, 1], [1, 0], [0, 1]];
  const n = 9, stride = Math.ceil((n * D) / 64) * 64;
  const layout = new MixtureLayout(lists, 3, D, stride, stride);
  const zw = layout.gateWidth;
  const xs = be.upload(rand(3 * stride), [3 * stride]);
  const z = rand(n * zw).map((v) => 3 * v);
  z[2 * zw] = NaN;
  z[5 * zw + layout.gateOffsets[1] + 1] = NaN;
  const g = be.alloc([n, zw]);
  const mo = be.alloc([lists.length * stride]);
  be.mixtureForward(xs, be.upload(z, [n, zw]), g, mo, layout);
  await put('mixture g, width ' + D, g);
  await put('mixture out, width ' + D, mo);
  const mdx = be.alloc([3 * stride]);
  const mdz = be.alloc([n, zw]);
  be.mixtureBackward(xs, g, be.upload(rand(lists.length * stride), [lists.length * stride]), mdx, mdz, layout);
  await put('mixture dx, width ' + D, mdx);
  await put('mixture dz, width ' + D, mdz);
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

const runWith = (isa: string) => runWithIsa<{ isa: string } & Record<string, number[] | string>>(SCRIPT, isa);

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
    for (const r of results.slice(0, -1)) {
      for (const [name, want] of Object.entries(best)) {
        if (name === 'isa') continue;
        const bits = Uint32Array.from(r[name] as number[]);
        const wantBits = Uint32Array.from(want as number[]);
        // Exact: dropout's hash, biasGrad (every path sums each column in double in row order)
        // and max pooling (comparisons and copies only): the same bits, −0 and NaN included.
        if (name === 'dropout mask' || name.startsWith('biasGrad') || name.startsWith('maxPool2d')) {
          assert.deepEqual(bits, wantBits, `${r.isa} vs ${best.isa}: ${name}`);
          continue;
        }
        const tol = name.startsWith('gemm') ? { atol: 1e-3, rtol: 1e-4 } : { atol: 1e-6, rtol: 1e-5 };
        assertClose(new Float32Array(bits.buffer), new Float32Array(wantBits.buffer), tol, `${r.isa} vs ${best.isa}: ${name}`);
      }
    }
  });

  it('rejects an unknown HYDRANET_CPU_ISA with a ConfigError naming it', function () {
    assert.throws(() => runWith('avx1024'), /ConfigError: HYDRANET_CPU_ISA=avx1024 is not one of scalar, avx2, avx512/);
  });
});
