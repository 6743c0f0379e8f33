/**
 * maxPool2d forward and backward on every backend present against the reference, bit-exact:
 * windows with leftovers, overlaps and ties (the first maximum wins), NaN winning its window;
 * on cpu, a backward whose argmax points outside its own window (but inside the plane: the
 * reference adds it there, which the cpu's 2×2 stride-2 vector loop hands to its general loop;
 * webgpu's gather adds only argmaxes inside their window, all a forward produces), and an argmax
 * outside the plane refused without writing through it.
 */
import assert from 'node:assert/strict';
import { Pool2dGeometry } from '../../../ts/backends/backend.js';
import { Rng } from '../../../ts/core/random.js';
import { EXACT, compareOp, describeParity, randomArray, referenceBackend } from '../harness.js';

await describeParity('pool', ({ name, b, it }) => {
  /** [label, n, C, H, W, size, stride]. */
  const poolCases: [string, number, number, number, number, number, number][] = [
    ['1×1 window on 1×1', 1, 1, 1, 1, 1, 1],
    ['2×2 stride 2 on 2×2', 1, 1, 2, 2, 2, 2],
    ['2×2 stride 2 on 7×9 (leftover row and column)', 3, 3, 7, 9, 2, 2],
    ['3×3 stride 1 on 7×9 (overlapping windows)', 3, 3, 7, 9, 3, 1],
    ['3×3 stride 2 on 5×6', 17, 1, 5, 6, 3, 2],
    ['3×3 stride 3 on 10×11', 3, 10, 10, 11, 3, 3],
    // Output rows longer than the cpu forward's block of 64 outputs (and a leftover block).
    ['2×2 stride 2 on 3×151 (a 75-wide output row)', 2, 2, 3, 151, 2, 2],
    ['3×3 stride 1 on 4×140 (a 138-wide output row)', 2, 1, 4, 140, 3, 1],
    // 2×2 stride 2 output rows of 1, 3, 8, 9 and 17 windows (the cpu's 8- and 16-window vector
    // steps, whole and partial), one sample.
    ['2×2 stride 2 on 3×3 (1-wide output row)', 1, 2, 3, 3, 2, 2],
    ['2×2 stride 2 on 6×7 (3-wide output rows)', 2, 3, 6, 7, 2, 2],
    ['2×2 stride 2 on 4×17 (8-wide output rows)', 1, 2, 4, 17, 2, 2],
    ['2×2 stride 2 on 5×18 (9-wide output rows)', 2, 1, 5, 18, 2, 2],
    ['2×2 stride 2 on 4×35 (17-wide output rows)', 1, 3, 4, 35, 2, 2],
    ['LeNet pool1: 24×24×10', 17, 10, 24, 24, 2, 2],
    ['LeNet pool2: 8×8×20', 256, 20, 8, 8, 2, 2],
  ];
  for (const [label, n, C, H, W, size, stride] of poolCases) {
    for (const ties of [false, true]) {
      it(`maxPool2d ${label}, batch ${n}${ties ? ', with ties' : ''}: forward and backward`, async () => {
        const geo = new Pool2dGeometry(C, H, W, size, stride);
        const rng = new Rng(n * 100 + H * 10 + size + (ties ? 1 : 0));
        const xShape = [n, C, H, W];
        const yShape = [n, C, geo.outH, geo.outW];
        const ySize = n * C * geo.outH * geo.outW;
        // With ties, values from {-1, 0, 1} (and some -∞): the first maximum must win.
        const x = ties
          ? new Float32Array(n * C * H * W).map(() => (rng.uniform() < 0.05 ? -Infinity : rng.int(3) - 1))
          : randomArray(rng, n * C * H * W);
        const { argmax } = await compareOp(b(), {
          what: 'maxPool2dForward',
          inputs: { x: { data: x, shape: xShape } },
          outputs: {
            y: { data: new Float32Array(ySize).fill(NaN), shape: yShape, tol: EXACT },
            argmax: { data: new Float32Array(ySize).fill(NaN), shape: yShape, tol: EXACT },
          },
          op: (be, t) => be.maxPool2dForward(t.x, t.y, t.argmax, geo),
        });
        await compareOp(b(), {
          what: 'maxPool2dBackward',
          inputs: {
            dy: { data: randomArray(rng, ySize), shape: yShape },
            argmax: { data: Float32Array.from(argmax), shape: yShape },
          },
          // The same f32 additions in the same order: exact.
          outputs: { dx: { data: randomArray(rng, n * C * H * W), shape: xShape, tol: EXACT } },
          op: (be, t) => be.maxPool2dBackward(t.dy, t.argmax, t.dx, geo),
        });
      });
    }
  }
  for (const [label, n, C, H, W] of name === 'cpu' ? ([
    ['on 24×24 (LeNet pool1)', 3, 2, 24, 24],
    ['on 7×41 (leftover row and column, a 20-wide output row)', 2, 3, 7, 41],
  ] as const) : []) {
    it(`maxPool2dBackward 2×2 stride 2 ${label}: argmax anywhere in the plane (other windows, shared targets), and −0 in dy`, async () => {
      const geo = new Pool2dGeometry(C, H, W, 2, 2);
      const rng = new Rng(H * 1000 + W);
      const yShape = [n, C, geo.outH, geo.outW];
      const ySize = n * C * geo.outH * geo.outW;
      const outPlane = geo.outH * geo.outW;
      // Each argmax in its own window's top-left corner, except one output per plane (in the
      // second plane only: the first keeps every argmax at home) sent elsewhere in the plane,
      // onto an element another window also targets.
      const argmax = new Float32Array(ySize).map((_, k) => {
        const o = k % outPlane;
        return 2 * Math.floor(o / geo.outW) * W + 2 * (o % geo.outW);
      });
      for (let p = 1; p < n * C; p += 2) argmax[p * outPlane + outPlane - 1] = 0;
      const dy = randomArray(rng, ySize);
      for (let k = 0; k < ySize; k += 7) dy[k] = -0;
      await compareOp(b(), {
        what: 'maxPool2dBackward',
        inputs: { dy: { data: dy, shape: yShape }, argmax: { data: argmax, shape: yShape } },
        outputs: { dx: { data: randomArray(rng, n * C * H * W), shape: [n, C, H, W], tol: EXACT } },
        op: (be, t) => be.maxPool2dBackward(t.dy, t.argmax, t.dx, geo),
      });
    });
  }
  it('maxPool2d: NaN wins its window, as on the reference', async () => {
    const geo = new Pool2dGeometry(1, 4, 4, 2, 2);
    const x = new Float32Array(16).map((_, i) => i % 5);
    x[5] = NaN; // window (0, 0), after its first element
    x[2] = NaN; // window (0, 1), first
    x[3] = NaN; // window (0, 1) again: the first NaN stays
    const outs: Float32Array[][] = [];
    for (const be of [referenceBackend, b()]) {
      const y = be.alloc([1, 1, 2, 2]);
      const a = be.alloc([1, 1, 2, 2]);
      be.maxPool2dForward(be.upload(x, [1, 1, 4, 4]), y, a, geo);
      outs.push([await be.read(y), await be.read(a)]);
    }
    assert.deepEqual(Array.from(outs[1][0]), Array.from(outs[0][0]));
    assert.deepEqual(Array.from(outs[1][1]), Array.from(outs[0][1]));
    assert.deepEqual(Array.from(outs[1][1]).slice(0, 2), [5, 2]);
  });
  if (name === 'cpu') {
    it('maxPool2dBackward (native) rejects an argmax outside the plane without writing through it', async () => {
      const be = b();
      const geo = new Pool2dGeometry(2, 4, 4, 2, 2);
      for (const bad of [16, -1, 1e9, 0.5, NaN]) {
        const argmax = new Float32Array(2 * 4).fill(3);
        argmax[5] = bad;
        const base = be.upload(new Float32Array(64 + 32 + 64).fill(-7), [160]);
        const dx = be.view(base, 64, [1, 2, 4, 4]);
        assert.throws(
          () => be.maxPool2dBackward(be.upload(new Float32Array(8).fill(1), [1, 2, 2, 2]), be.upload(argmax, [1, 2, 2, 2]), dx, geo),
          (e: Error) => e instanceof RangeError && /argmax\[5\]/.test(e.message),
        );
        const all = await be.read(base);
        assert.ok(all.subarray(0, 64).every((v) => v === -7) && all.subarray(96).every((v) => v === -7), `guard written for argmax ${bad}`);
      }
    });
  }
});
