/**
 * conv2d forward and backward on every backend present against the reference: awkward batches,
 * channels, kernels, strides and paddings (GEMM tolerances: mm, TF32 on cuda; db a plain sum),
 * ShapeError before work, NaN reaching everything it touches; on cpu, the same bits for any
 * thread count, the native entry points refusing an inconsistent packed geometry, and every SIMD
 * path the CPU supports (child processes with HYDRANET_CPU_ISA forced) against the reference on
 * the direct kernels' shapes, AVX2 and AVX-512 giving the same forward and dx bits.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type Activation, Conv2dGeometry, Pool2dGeometry } from '../../../ts/backends/backend.js';
import { CpuBackend } from '../../../ts/backends/cpu.js';
import { loadCpuAddon } from '../../../ts/backends/native.js';
import { Rng } from '../../../ts/core/random.js';
import { ShapeError } from '../../../ts/errors.js';
import { type IsaCase, runIsaCase } from './conv-isa-case.js';
import { assertClose, compareOp, describeParity, gemmTol, nanAt, randomArray, referenceBackend, runWithIsa, withNaN } from '../harness.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const backendsDir = path.resolve(here, '../../../ts/backends');
/** Runs each case (runIsaCase) on a fresh CpuBackend: the child process of the SIMD-path test. */
const ISA_SCRIPT = `
import { CpuBackend } from '${pathToFileURL(path.join(backendsDir, 'cpu.js')).href}';
import { runIsaCase } from '${pathToFileURL(path.join(here, 'conv-isa-case.js')).href}';
let input = '';
for await (const chunk of process.stdin) input += chunk;
const be = new CpuBackend({ threads: 2 });
const out = [];
for (const c of JSON.parse(input)) {
  const r = await runIsaCase(be, c);
  out.push(Object.fromEntries(Object.entries(r).map(([key, v]) => [key, [...v]])));
}
console.log(JSON.stringify({ isa: be.isa, out }));
`;

await describeParity('conv', ({ name, b, mm, it }) => {
  /** [label, n, C, H, W, outC, k, stride, padding]: awkward batches, channels, kernels, strides, paddings. */
  const convCases: [string, number, number, number, number, number, number, number, number][] = [
    ['1×1 kernel, direct path', 1, 1, 5, 5, 1, 1, 1, 0],
    ['1×1 kernel, 10→20 channels, direct path', 17, 10, 8, 8, 20, 1, 1, 0],
    ['1×1 kernel, stride 2, padding 1', 3, 20, 9, 7, 3, 1, 2, 1],
    ['3×3, 3→10, padding 1 on 7×9', 3, 3, 7, 9, 10, 3, 1, 1],
    ['3×3, 3→20, stride 2 on 7×9', 17, 3, 7, 9, 20, 3, 2, 0],
    ['5×5, 10→3, stride 2, padding 2 on 7×9', 3, 10, 7, 9, 3, 5, 2, 2],
    ['5×5 over a 3×3 input with padding 2', 1, 3, 3, 3, 3, 5, 1, 2],
    ['3×3, stride 2, padding 1 on 2×3', 3, 1, 2, 3, 10, 3, 2, 1],
    ['5×5, 1→10, padding 2 on 28×28', 3, 1, 28, 28, 10, 5, 1, 2],
    ['LeNet conv1: 28×28×1 → 24×24×10', 64, 1, 28, 28, 10, 5, 1, 0],
    ['LeNet conv2: 12×12×10 → 8×8×20', 40, 10, 12, 12, 20, 5, 1, 0],
    // The edges of the cpu's direct (im2col-free) kernels, stride 1 and no padding: output rows
    // of 1, 3, 4, 7, 9, 16, 17 and 28 pixels (whole and partial vectors of 8 and 16 lanes), odd
    // output heights, filter counts that are no multiple of a kernel's block, one sample; on
    // AVX2 and AVX-512 (HYDRANET_CPU_ISA) and the portable path alike.
    ['5×5, 1→7 on 5×5 (1-pixel output)', 1, 1, 5, 5, 7, 5, 1, 0],
    ['3×3, 2→5 on 5×5 (3-pixel rows)', 2, 2, 5, 5, 5, 3, 1, 0],
    ['2×2, 4→11 on 5×5 (4-pixel rows, 5-pixel image rows)', 3, 4, 5, 5, 11, 2, 1, 0],
    ['5×5, 10→20 on 11×11 (7-pixel rows, odd height)', 2, 10, 11, 11, 20, 5, 1, 0],
    ['5×5, 2→8 on 13×13 (9-pixel rows)', 2, 2, 13, 13, 8, 5, 1, 0],
    ['3×3, 2→6 on 18×18 (16-pixel rows)', 1, 2, 18, 18, 6, 3, 1, 0],
    ['5×5, 1→9 on 21×21 (17-pixel rows)', 3, 1, 21, 21, 9, 5, 1, 0],
    ['5×5, 1→10 on 32×32 (28-pixel rows)', 2, 1, 32, 32, 10, 5, 1, 0],
    ['5×5, 3→13 on 32×32 (28-pixel rows)', 1, 3, 32, 32, 13, 5, 1, 0],
  ];
  for (const [label, n, C, H, W, outC, k, stride, padding] of convCases) {
    it(`conv2d ${label}, batch ${n}: forward (bias, activations) and backward (dx =, dw and db +=)`, async () => {
      const geo = new Conv2dGeometry(C, H, W, outC, k, k, stride, padding);
      const rng = new Rng(n * 1000 + C * 100 + H + outC + k);
      const xShape = [n, C, H, W];
      const yShape = [n, outC, geo.outH, geo.outW];
      const ySize = n * outC * geo.outH * geo.outW;
      const x = randomArray(rng, n * C * H * W);
      const w = randomArray(rng, outC * C * k * k, -0.5, 0.5);
      const bias = randomArray(rng, outC);
      const plans: [Activation, boolean][] = [
        ['none', true],
        ['relu', true],
        ['relu', false],
        ['tanh', false],
      ];
      for (const [activation, withBias] of plans) {
        await compareOp(b(), {
          what: `conv2dForward ${activation}${withBias ? ' + bias' : ''}`,
          inputs: {
            x: { data: x, shape: xShape },
            w: { data: w, shape: [outC, C, k, k] },
            b: { data: bias, shape: [outC] },
          },
          outputs: { y: { data: new Float32Array(ySize).fill(NaN), shape: yShape, tol: mm(C * k * k) } },
          op: (be, t) => be.conv2dForward(t.x, t.w, withBias ? t.b : null, t.y, geo, activation),
        });
      }
      const dy = randomArray(rng, ySize);
      const sums = n * geo.outH * geo.outW;
      // dx and db, neither, and db without dx (a first layer, as MultiLeNet's conv1 trains).
      for (const [withDx, withDb] of [[true, true], [false, false], [false, true]]) {
        await compareOp(b(), {
          what: `conv2dBackward${withDx ? '' : ' (no dx)'}${withDb ? '' : ' (no db)'}`,
          inputs: {
            x: { data: x, shape: xShape },
            w: { data: w, shape: [outC, C, k, k] },
            dy: { data: dy, shape: yShape },
          },
          outputs: {
            dx: { data: randomArray(rng, n * C * H * W), shape: xShape, tol: mm(outC * k * k) },
            dw: { data: randomArray(rng, outC * C * k * k), shape: [outC, C, k, k], tol: mm(sums) },
            db: { data: randomArray(rng, outC), shape: [outC], tol: gemmTol(sums) }, // a plain sum: no TF32
          },
          op: (be, t) => be.conv2dBackward(t.x, t.w, t.dy, withDx ? t.dx : null, t.dw, withDb ? t.db : null, geo),
        });
      }
    });
  }
  it('conv2d rejects mismatched tensors with ShapeError', () => {
    const be = b();
    const geo = new Conv2dGeometry(3, 7, 9, 10, 3, 3, 1, 1);
    const x = be.alloc([2, 3, 7, 9]);
    const w = be.alloc([10, 3, 3, 3]);
    assert.throws(() => be.conv2dForward(x, w, null, be.alloc([2, 10, 7, 8]), geo), ShapeError);
    assert.throws(() => be.conv2dForward(x, be.alloc([10, 3, 3, 2]), null, be.alloc([2, 10, 7, 9]), geo), ShapeError);
    assert.throws(() => be.conv2dForward(x, w, be.alloc([9]), be.alloc([2, 10, 7, 9]), geo), ShapeError);
    assert.throws(() => be.conv2dBackward(x, w, be.alloc([2, 10, 7, 9]), be.alloc([2, 3, 7, 8]), be.alloc([10, 3, 3, 3]), null, geo), ShapeError);
  });
  if (name === 'cpu') {
    it('the cpu backend runs the ISA HYDRANET_CPU_ISA forces (so these cases cover that path)', function () {
      const forced = process.env.HYDRANET_CPU_ISA;
      if (!forced) this.skip();
      assert.equal(new CpuBackend().isa, forced);
    });
    it('conv2d gives the same bits with 1, 2 and 3 threads (forward, dx, dw, db; a first layer without dx)', async () => {
      // [label, C, H, outC, n, dx]: 37 samples are threaded over samples; 2 (fewer than threads)
      // take the threaded GEMM; MultiLeNet's conv1 (1 channel) trains without dx, as a first layer.
      const cases: [string, number, number, number, number, boolean][] = [
        ['conv2, batch 37', 10, 12, 20, 37, true],
        ['conv2, batch 2', 10, 12, 20, 2, true],
        ['conv1 without dx, batch 45', 1, 28, 10, 45, false],
      ];
      const rng = new Rng(99);
      for (const [label, C, H, outC, n, withDx] of cases) {
        const geo = new Conv2dGeometry(C, H, H, outC, 5, 5, 1, 0);
        const xShape = [n, C, H, H];
        const yShape = [n, outC, geo.outH, geo.outW];
        const x = randomArray(rng, n * C * H * H);
        const w = randomArray(rng, outC * C * 25, -0.5, 0.5);
        const bias = randomArray(rng, outC);
        const dy = randomArray(rng, n * outC * geo.outH * geo.outW);
        const runs: number[][] = [];
        for (const threads of [1, 2, 3]) {
          const be = new CpuBackend({ threads });
          const xt = be.upload(x, xShape);
          const wt = be.upload(w, [outC, C, 5, 5]);
          const y = be.alloc(yShape);
          const dx = withDx ? be.alloc(xShape) : null;
          const dw = be.upload(new Float32Array(outC * C * 25).fill(0.25), [outC, C, 5, 5]);
          const db = be.alloc([outC]);
          be.conv2dForward(xt, wt, be.upload(bias, [outC]), y, geo, 'relu');
          be.conv2dBackward(xt, wt, be.upload(dy, yShape), dx, dw, db, geo);
          runs.push([...(await be.read(y)), ...(dx ? await be.read(dx) : []), ...(await be.read(dw)), ...(await be.read(db))]);
          be.dispose();
        }
        assert.deepEqual(runs[1], runs[0], `${label}, 2 threads`);
        assert.deepEqual(runs[2], runs[0], `${label}, 3 threads`);
      }
    });
    it('every SIMD path this CPU supports matches the reference on the direct kernels\' shapes; AVX2 and AVX-512 give the same forward and dx bits', async function () {
      const info = loadCpuAddon().info();
      const isas = (['scalar', 'avx2', 'avx512'] as const).filter((isa) => info.supported[isa]);
      // Stride 1, no padding, kernels wider than 1: the shapes of the AVX2 and AVX-512 direct kernels.
      const rng = new Rng(4242);
      const cases: IsaCase[] = convCases
        .filter(([, , , , , , k, stride, padding]) => stride === 1 && padding === 0 && k > 1)
        .map(([, n0, C, H, W, oc, k]) => {
          const n = Math.min(n0, 3);
          const [oh, ow] = [H - k + 1, W - k + 1];
          const arr = (len: number, lo?: number, hi?: number) => Array.from(randomArray(rng, len, lo, hi));
          return { geo: [C, H, W, oc, k], n, x: arr(n * C * H * W), w: arr(oc * C * k * k, -0.5, 0.5), b: arr(oc), dy: arr(n * oc * oh * ow) };
        });
      const input = JSON.stringify(cases);
      const runs = isas.map((isa) => runWithIsa<{ isa: string; out: Record<'y' | 'dx' | 'dw' | 'db', number[]>[] }>(ISA_SCRIPT, isa, input));
      const ref = referenceBackend;
      for (const [j, c] of cases.entries()) {
        const { geo: [C, H, W, oc, k], n } = c;
        const sums = n * (H - k + 1) * (W - k + 1);
        const want = await runIsaCase(ref, c);
        const tol = { y: mm(C * k * k), dx: mm(oc * k * k), dw: mm(sums), db: gemmTol(sums) };
        const label = `${C}×${H}×${W} → ${oc}, ${k}×${k}, batch ${n}`;
        for (const r of runs) {
          for (const key of ['y', 'dx', 'dw', 'db'] as const) {
            assertClose(Float32Array.from(r.out[j][key]), want[key], tol[key], `${r.isa} ${label}: ${key}`);
          }
        }
        const [avx2, avx512] = [runs.find((r) => r.isa === 'avx2'), runs.find((r) => r.isa === 'avx512')];
        if (avx2 && avx512) {
          assert.deepEqual(avx2.out[j].y, avx512.out[j].y, `${label}: y, avx2 vs avx512`);
          assert.deepEqual(avx2.out[j].dx, avx512.out[j].dx, `${label}: dx, avx2 vs avx512`);
        }
      }
    });
    it('the native entry points reject an inconsistent packed geometry', () => {
      const addon = loadCpuAddon();
      const conv = new Conv2dGeometry(3, 7, 9, 10, 3, 3, 1, 1).packed.slice();
      conv[8] += 1; // outH no longer follows from H, kh, stride and padding
      const x = new Float32Array(3 * 7 * 9);
      const w = new Float32Array(10 * 27);
      assert.throws(() => addon.conv2dForward(conv, x, w, null, new Float32Array(10 * 8 * 9), 1, 0, 1), RangeError);
      assert.throws(() => addon.conv2dForward(conv.subarray(0, 9), x, w, null, new Float32Array(10 * 7 * 9), 1, 0, 1), RangeError);
      const pool = new Pool2dGeometry(1, 4, 4, 2, 2).packed.slice();
      pool[3] = 5; // a window larger than the plane
      assert.throws(() => addon.maxPool2dForward(pool, new Float32Array(16), new Float32Array(4), new Float32Array(4), 1, 1), RangeError);
      // lengths are checked against the geometry too
      const good = new Conv2dGeometry(3, 7, 9, 10, 3, 3, 1, 1).packed;
      assert.throws(() => addon.conv2dForward(good, x, w, null, new Float32Array(10 * 7 * 9 - 1), 1, 0, 1), RangeError);
    });
  }

  describe('NaN in, NaN out', () => {
    it('conv2d (relu, sigmoid): a NaN pixel, weight or output gradient reaches everything it touches', async () => {
      const geo = new Conv2dGeometry(2, 5, 5, 3, 3, 3, 1, 1);
      const rng = new Rng(56);
      const x = withNaN(randomArray(rng, 2 * 25), [2 * 5 + 2]); // channel 0, pixel (2, 2)
      const covered: number[] = [];
      for (let o = 0; o < 3; o++) for (let oy = 1; oy <= 3; oy++) for (let ox = 1; ox <= 3; ox++) covered.push(o * 25 + oy * 5 + ox);
      for (const activation of ['relu', 'sigmoid'] as Activation[]) {
        const { y } = await compareOp(b(), {
          what: `conv2dForward ${activation} with NaN`,
          inputs: {
            x: { data: x, shape: [1, 2, 5, 5] },
            w: { data: randomArray(rng, 3 * 18, -0.5, 0.5), shape: [3, 2, 3, 3] },
            b: { data: randomArray(rng, 3), shape: [3] },
          },
          outputs: { y: { data: new Float32Array(75), shape: [1, 3, 5, 5], tol: mm(18) } },
          op: (be, t) => be.conv2dForward(t.x, t.w, t.b, t.y, geo, activation),
        });
        nanAt(y, covered, `conv2dForward ${activation}`);
      }
      // A NaN weight reaches every output of its channel, padded taps included (0·NaN = NaN),
      // and a NaN in dy reaches all of its channel's dw and db.
      const w = withNaN(randomArray(rng, 3 * 18, -0.5, 0.5), [18]); // output channel 1, first tap
      const { y } = await compareOp(b(), {
        what: 'conv2dForward with a NaN weight',
        inputs: { x: { data: randomArray(rng, 2 * 25), shape: [1, 2, 5, 5] }, w: { data: w, shape: [3, 2, 3, 3] } },
        outputs: { y: { data: new Float32Array(75), shape: [1, 3, 5, 5], tol: mm(18) } },
        op: (be, t) => be.conv2dForward(t.x, t.w, null, t.y, geo, 'relu'),
      });
      nanAt(y, Array.from({ length: 25 }, (_, p) => 25 + p), 'conv2dForward with a NaN weight');
      const { dw, db } = await compareOp(b(), {
        what: 'conv2dBackward with a NaN in dy',
        inputs: {
          x: { data: randomArray(rng, 2 * 25), shape: [1, 2, 5, 5] },
          w: { data: randomArray(rng, 3 * 18, -0.5, 0.5), shape: [3, 2, 3, 3] },
          dy: { data: withNaN(randomArray(rng, 75), [2 * 25 + 12]), shape: [1, 3, 5, 5] }, // channel 2, centre
        },
        outputs: {
          dx: { data: new Float32Array(50), shape: [1, 2, 5, 5], tol: mm(27) },
          dw: { data: new Float32Array(54), shape: [3, 2, 3, 3], tol: mm(25) },
          db: { data: new Float32Array(3), shape: [3], tol: gemmTol(25) },
        },
        op: (be, t) => be.conv2dBackward(t.x, t.w, t.dy, t.dx, t.dw, t.db, geo),
      });
      nanAt(dw, Array.from({ length: 18 }, (_, k) => 36 + k), 'conv2dBackward dw');
      nanAt(db, [2], 'conv2dBackward db');
    });
  });
});
