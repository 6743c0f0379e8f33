/**
 * gemm on every backend present against the reference: [m, n, k] covering the awkward sizes 1,
 * 3, 17, 255, 1000 in every position and tiny outputs over a long k, every transpose, the fused
 * epilogue (alpha, beta, bias, every activation), ShapeError before work, and a NaN in A, the
 * bias or C reaching its row, column or element. f32 sums of k products carry rounding that
 * grows with k: atol = 2e-6·k (TF32 on cuda, see tf32Tol). On cpu, a tiny output over a long k
 * (the Gram of MGDA-UB and friends) gives the same bits on 1 and 2 threads, and so do the six
 * training GEMMs of bench workload W2 (too big for the reference backend: 500 sampled entries of
 * each are checked against dot products in double instead). Threaded shapes with the awkward
 * sizes give the same bits on 1, 2 and 3 threads and on a repeated 2-thread call, and shapes the
 * cpu GEMM splits into dynamically claimed row blocks give the same bits on oversubscribed 4
 * and 7 threads too, on every SIMD path this CPU has (HYDRANET_CPU_ISA in a child process).
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ACTIVATIONS, type GemmOptions } from '../../../ts/backends/backend.js';
import { CpuBackend } from '../../../ts/backends/cpu.js';
import { Rng } from '../../../ts/core/random.js';
import { ShapeError } from '../../../ts/errors.js';
import { loadCpuAddon } from '../../../ts/backends/native.js';
import { assertClose, compareOp, describeParity, gemmTol, nanAt, randomArray, runWithIsa, withNaN } from '../harness.js';

/** [m, n, k] triples covering the awkward sizes in every position. */
const GEMM_SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [1, 3, 17],
  [3, 17, 1],
  [17, 1, 3],
  [255, 17, 3],
  [3, 255, 17],
  [17, 3, 255],
  [1000, 17, 3],
  [3, 1000, 17],
  [17, 3, 1000],
  [255, 255, 255],
  [1000, 255, 17],
  [64, 1000, 255],
  [256, 20, 256],
  // columns over two of the cpu GEMM's packed blocks of B (2048) and k over two slices (256)
  [33, 2100, 300],
  // tiny outputs over a long k (Gram matrices of per-task gradients): the dot-product path
  [1, 1, 4096],
  [2, 2, 50000],
  [3, 17, 40000],
  [8, 8, 8193],
];

/** [transA, transB]: every combination. */
const TRANSPOSES = [
  [false, false],
  [false, true],
  [true, false],
  [true, true],
] as const;

await describeParity('gemm', ({ b, mm, it }) => {
  GEMM_SHAPES.forEach(([m, n, k], idx) => {
    for (const [transA, transB] of TRANSPOSES) {
      it(`${m}×${n}×${k} transA=${transA} transB=${transB}`, async () => {
        const rng = new Rng(1000 + idx);
        await compareOp(b(), {
          what: 'gemm',
          inputs: {
            a: { data: randomArray(rng, m * k), shape: transA ? [k, m] : [m, k] },
            b: { data: randomArray(rng, k * n), shape: transB ? [n, k] : [k, n] },
          },
          outputs: { c: { data: new Float32Array(m * n).fill(NaN), shape: [m, n], tol: mm(k) } },
          op: (be, t) => be.gemm(t.a, t.b, t.c, { transA, transB }),
        });
      });
    }
  });
  for (const activation of ACTIVATIONS) {
    it(`epilogue: alpha, beta, bias, ${activation}`, async () => {
      const rng = new Rng(7);
      const [m, n, k] = [37, 255, 129];
      await compareOp(b(), {
        what: `gemm+${activation}`,
        inputs: {
          a: { data: randomArray(rng, m * k), shape: [m, k] },
          b: { data: randomArray(rng, k * n), shape: [n, k] },
          bias: { data: randomArray(rng, n), shape: [n] },
        },
        outputs: { c: { data: randomArray(rng, m * n), shape: [m, n], tol: mm(k) } },
        op: (be, t) => be.gemm(t.a, t.b, t.c, { transB: true, alpha: 0.75, beta: 0.5, bias: t.bias, activation }),
      });
    });
  }
  it('rejects mismatched shapes with ShapeError before running', () => {
    const a = b().alloc([3, 4]);
    const bb = b().alloc([5, 6]);
    const c = b().alloc([3, 6]);
    assert.throws(() => b().gemm(a, bb, c), ShapeError);
    assert.throws(() => b().gemm(a, b().alloc([4, 6]), c, { bias: b().alloc([5]) }), ShapeError);
  });

  describe('NaN in, NaN out', () => {
    // [m, n, k, transB]: the blocked path, and a tiny output over a long k (the dot-product path).
    for (const [m, n, k, transB] of [
      [37, 45, 19, false],
      [2, 3, 200, true],
    ] as const) {
      for (const activation of ACTIVATIONS) {
        it(`gemm ${m}×${n}×${k} with bias, beta and ${activation}: a NaN in A, in the bias or in C reaches its row, column or element`, async () => {
          const rng = new Rng(m + n + k);
          const c = randomArray(rng, m * n);
          c[m * n - 1] = NaN; // beta·C
          const { c: got } = await compareOp(b(), {
            what: `gemm+${activation} with NaN`,
            inputs: {
              a: { data: withNaN(randomArray(rng, m * k), [k + 3]), shape: [m, k] }, // row 1
              b: { data: randomArray(rng, k * n), shape: transB ? [n, k] : [k, n] },
              bias: { data: withNaN(randomArray(rng, n), [2]), shape: [n] }, // column 2
            },
            outputs: { c: { data: c, shape: [m, n], tol: mm(k) } },
            op: (be, t) => be.gemm(t.a, t.b, t.c, { transB, alpha: 0.75, beta: 0.5, bias: t.bias, activation }),
          });
          const row1 = Array.from({ length: n }, (_, j) => n + j);
          const col2 = Array.from({ length: m }, (_, i) => i * n + 2);
          nanAt(got, [...row1, ...col2, m * n - 1], `gemm+${activation}`);
        });
      }
    }
  });
});

describe('gemm on cpu: a tiny output over a long k gives the same bits on 1 and 2 threads', () => {
  it('[2, 2] from k = 70,001 (split into parts by k alone, summed in a fixed order)', async () => {
    const rng = new Rng(31);
    const k = 70001;
    const a = randomArray(rng, 2 * k, -1, 1);
    const b = randomArray(rng, 2 * k, -1, 1);
    const results = await cpuGemms([1, 2], [2, 2, k], a, b, new Float32Array(4), { transB: true });
    assert.deepEqual(results[1], results[0]);
    assert.ok(results[0].every(Number.isFinite) && results[0].some((x) => x !== 0));
  });
});

/** One cpu gemm per entry of `threadCounts`, each on its own CpuBackend of that many threads, from the same C. */
async function cpuGemms(
  threadCounts: number[],
  [m, n, k]: [number, number, number],
  a: Float32Array,
  b: Float32Array,
  c0: Float32Array,
  opts: Omit<GemmOptions, 'bias'> & { bias?: Float32Array },
): Promise<Float32Array[]> {
  const results: Float32Array[] = [];
  for (const threads of threadCounts) {
    const be = new CpuBackend({ threads });
    try {
      const c = be.upload(c0, [m, n]);
      const bias = opts.bias ? be.upload(opts.bias, [n]) : null;
      be.gemm(be.upload(a, opts.transA ? [k, m] : [m, k]), be.upload(b, opts.transB ? [n, k] : [k, n]), c, { ...opts, bias });
      results.push(await be.read(c));
    } finally {
      be.dispose();
    }
  }
  return results;
}

/**
 * `count` entries of C (its corners among them) against op(A)·op(B) summed in double, then
 * `epilogue(sum, element, column)`, within gemmTol(k).
 */
function checkSampled(
  got: Float32Array,
  [m, n, k]: [number, number, number],
  a: Float32Array,
  b: Float32Array,
  { transA, transB }: { transA?: boolean; transB?: boolean },
  rng: Rng,
  count: number,
  epilogue: (sum: number, e: number, j: number) => number,
): void {
  const at = [0, n - 1, (m - 1) * n, m * n - 1, ...Array.from({ length: count - 4 }, () => rng.int(m * n))];
  const want = new Float32Array(at.length);
  const picked = new Float32Array(at.length);
  at.forEach((e, q) => {
    const i = Math.floor(e / n), j = e % n;
    let sum = 0;
    for (let p = 0; p < k; p++) sum += a[transA ? p * m + i : i * k + p] * b[transB ? j * k + p : p * n + j];
    want[q] = epilogue(sum, e, j);
    picked[q] = got[e];
  });
  assertClose(picked, want, gemmTol(k), `gemm ${m}×${n}×${k}`);
}

const sameBits = (x: Float32Array, y: Float32Array): boolean => x.every((v, i) => Object.is(v, y[i]));

describe('gemm on cpu: 1, 2 and 3 threads give the same bits, and so do repeated calls', () => {
  // Each big enough to be threaded (2·m·n·k ≥ 2²¹). The cpu GEMM runs [400, 2100, 300] and
  // [300, 2100, 1100] as dynamic row blocks (one packed B shared by the threads, (row block, k
  // slice) tasks taken as threads come free: from 2²⁸ flops and, on AVX-512, 12 row tiles at 2
  // threads, 18 at 3) and the others as a grid with its own packing per thread:
  // [400, 2100, 300], [300, 2100, 1100], [33, 2100, 300] and [60, 2100, 1100] cross two column
  // blocks of B (2048; the shared B's second block is narrower), [100, 100, 1300],
  // [300, 2100, 1100] and [60, 2100, 1100] take k in 3 to 5 slices, n = 3 and m = 3 leave a
  // part nearly empty.
  const shapes: [number, number, number][] = [
    [1000, 255, 17],
    [255, 1000, 17],
    [17, 1000, 255],
    [1000, 3, 1000],
    [3, 1000, 1000],
    [33, 2100, 300],
    [400, 2100, 300],
    [300, 2100, 1100],
    [100, 100, 1300],
    [60, 2100, 1100],
    [17, 4200, 40],
  ];
  for (const shape of shapes) {
    const [m, n, k] = shape;
    for (const [transA, transB] of TRANSPOSES) {
      it(`${m}×${n}×${k} transA=${transA} transB=${transB} with alpha, beta, bias, tanh: sampled entries right`, async () => {
        const rng = new Rng(m + 3 * n + 5 * k);
        const a = randomArray(rng, m * k);
        const b = randomArray(rng, k * n);
        const bias = randomArray(rng, n);
        const c0 = randomArray(rng, m * n);
        const opts = { transA, transB, alpha: 0.75, beta: 0.5, bias, activation: 'tanh' as const };
        const results = await cpuGemms([1, 2, 3, 2], shape, a, b, c0, opts);
        assert.ok(sameBits(results[0], results[1]), '1 and 2 threads give the same bits');
        assert.ok(sameBits(results[0], results[2]), '1 and 3 threads give the same bits');
        assert.ok(sameBits(results[1], results[3]), 'a second call on 2 threads gives the same bits');
        checkSampled(results[0], shape, a, b, opts, rng, 200, (sum, e, j) => Math.tanh(0.75 * sum + 0.5 * c0[e] + bias[j]));
      });
    }
  }
});

describe('gemm on cpu: the W2 training shapes (batch 1024, 784→2048→2048)', () => {
  // [m, n, k, transA, transB, beta]: each trunk layer's forward x·Wᵀ, dX = dY·W and dW += dYᵀ·X.
  const shapes: [number, number, number, boolean, boolean, number][] = [
    [1024, 2048, 784, false, true, 0],
    [1024, 784, 2048, false, false, 0],
    [2048, 784, 1024, true, false, 1],
    [1024, 2048, 2048, false, true, 0],
    [1024, 2048, 2048, false, false, 0],
    [2048, 2048, 1024, true, false, 1],
  ];
  for (const [m, n, k, transA, transB, beta] of shapes) {
    it(`${m}×${n}×${k} transA=${transA} transB=${transB} beta=${beta}: sampled entries right, the same bits on 1 and 2 threads`, async () => {
      const rng = new Rng(m + 7 * n + 13 * k);
      const a = randomArray(rng, m * k);
      const b = randomArray(rng, k * n);
      const c0 = randomArray(rng, m * n);
      const results = await cpuGemms([1, 2], [m, n, k], a, b, c0, { transA, transB, beta });
      assert.ok(sameBits(results[0], results[1]), '1 and 2 threads give the same bits');
      // 500 entries (the corners among them) against dot products in double.
      checkSampled(results[0], [m, n, k], a, b, { transA, transB }, rng, 500, (sum, e) => beta * c0[e] + sum);
    });
  }
});

describe('gemm on cpu: dynamic row blocks give the same bits however the threads claim them', () => {
  // 4 and 7 threads on this 2-core machine are oversubscribed: workers start late or are
  // descheduled mid-task, so each run hands the tasks to the threads in a different order, and
  // some find a panel of the shared B still being packed by another thread (and pack their own
  // copy) or their row block still busy with the slice before (and leave the task to that
  // thread). [1000, 255, 1100] (3 k slices, the bias and activation on the last) runs as dynamic
  // row blocks at 2, 4 and 7 threads; [256, 429, 4096] Aᵀ with beta = 1, E1's long-k dW (8 k
  // slices), at 2 threads (6 row blocks on AVX-512), and as a grid at 4 and 7 (too few row
  // tiles), so the two ways must agree too.
  const cases: [[number, number, number], Omit<GemmOptions, 'bias'> & { bias?: Float32Array }][] = [
    [[256, 429, 4096], { transA: true, beta: 1 }],
    [[1000, 255, 1100], { transB: true, alpha: 0.75, beta: 0.5, activation: 'tanh' }],
  ];
  for (const [shape, opts] of cases) {
    const [m, n, k] = shape;
    it(`${m}×${n}×${k} ${JSON.stringify(opts)}: 1, 2, 4, 7 and again 2 threads, sampled entries right`, async () => {
      const rng = new Rng(m + n + k);
      const a = randomArray(rng, m * k);
      const b = randomArray(rng, k * n);
      const c0 = randomArray(rng, m * n);
      const bias = randomArray(rng, n);
      const results = await cpuGemms([1, 2, 4, 7, 2], shape, a, b, c0, { ...opts, bias });
      for (const [i, threads] of [2, 4, 7, 2].entries()) {
        assert.ok(sameBits(results[0], results[i + 1]), `1 and ${threads} threads give the same bits (run ${i + 2})`);
      }
      const act = opts.activation === 'tanh' ? Math.tanh : (x: number) => x;
      const [alpha, beta] = [opts.alpha ?? 1, opts.beta ?? 0];
      checkSampled(results[0], shape, a, b, opts, rng, 200, (sum, e, j) => act(alpha * sum + beta * c0[e] + bias[j]));
    });
  }
});

describe('gemm on cpu: the dynamic row blocks of every SIMD path give the same bits on 1, 2 and 4 threads', () => {
  // [400, 700, 500] Bᵀ (2.8·10⁸ flops, over the 2²⁸ where the dynamic schedule starts) with
  // alpha, beta, bias and tanh, in a child process per path (HYDRANET_CPU_ISA): on AVX2 and the
  // scalar path (mr 6 and 4, nr 16 and 4, kc 256: 2 k slices) it runs 67 and 100 row tiles as
  // dynamic row blocks at 2 and 4 threads, with other tiles and panels than on AVX-512.
  const cpuModule = pathToFileURL(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../ts/backends/cpu.js')).href;
  const SCRIPT = `
import { CpuBackend } from '${cpuModule}';
const [m, n, k] = [400, 700, 500];
const fill = (len, seed) => Float32Array.from({ length: len }, (_, i) => Math.sin(seed * 1000 + i * 0.37));
const out = { runs: [] };
for (const threads of [1, 2, 4]) {
  const be = new CpuBackend({ threads });
  out.isa = be.isa;
  const c = be.upload(fill(m * n, 3), [m, n]);
  be.gemm(be.upload(fill(m * k, 1), [m, k]), be.upload(fill(n * k, 2), [n, k]), c,
    { transB: true, alpha: 0.75, beta: 0.5, bias: be.upload(fill(n, 4), [n]), activation: 'tanh' });
  out.runs.push(Array.from(new Uint32Array((await be.read(c)).buffer)));
  be.dispose();
}
console.log(JSON.stringify(out));
`;
  for (const isa of ['scalar', 'avx2', 'avx512'] as const) {
    it(`${isa}: 1, 2 and 4 threads`, function () {
      if (!loadCpuAddon().info().supported[isa]) this.skip();
      const { runs } = runWithIsa<{ isa: string; runs: number[][] }>(SCRIPT, isa);
      assert.ok(runs[0].some((x) => x !== 0), 'a nonzero result');
      assert.deepEqual(runs[1], runs[0], `${isa}: 1 and 2 threads give the same bits`);
      assert.deepEqual(runs[2], runs[0], `${isa}: 1 and 4 threads give the same bits`);
    });
  }
});
