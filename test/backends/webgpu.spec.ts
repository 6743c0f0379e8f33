/**
 * What is particular to the webgpu backend (its kernels are in the shared parity suite):
 * a clear BackendUnavailableError without an adapter, shader errors thrown as KernelError
 * naming the file, in-place variants where the contract allows aliasing, overlapping
 * arguments refused, and a training step recorded into few submits with nothing read back.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Backend } from '../../ts/backends/backend.js';
import type { WebGpuBackend } from '../../ts/backends/webgpu.js';
import { Rng } from '../../ts/core/random.js';
import { createBackend } from '../../ts/backends/create.js';
import { ConfigError, KernelError, ShapeError } from '../../ts/errors.js';
import { MultiTaskModel } from '../../ts/mtl/model.js';
import { Optimizer } from '../../ts/train/optimizer.js';
import { assertClose, backendsUnderTest, compareOp, randomArray, referenceBackend } from './harness.js';

const found = (await backendsUnderTest()).find((b) => b.name === 'webgpu');
const here = path.dirname(fileURLToPath(import.meta.url));

describe('webgpu backend', function () {
  this.timeout(120_000);
  before(function () {
    if (!found?.backend) {
      console.log(`      skipped: ${found?.skip ?? 'webgpu not under test'}`);
      this.skip();
    }
  });
  const be = (): WebGpuBackend => found!.backend as WebGpuBackend;

  it('throws BackendUnavailableError saying how to get an adapter when Vulkan has no driver', () => {
    const create = path.join(here, '../../ts/backends/create.js');
    const script = `import(${JSON.stringify(create)}).then((m) => m.createBackend('webgpu')).then(() => console.log('CREATED'), (e) => console.log(e.name + ': ' + e.message))`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      env: { ...process.env, VK_ICD_FILENAMES: '/nonexistent/icd.json', VK_DRIVER_FILES: '/nonexistent/icd.json' },
      timeout: 60_000,
    });
    assert.match(r.stdout, /^BackendUnavailableError: No WebGPU adapter was found\. .*lavapipe.*mesa-vulkan-drivers/m, r.stdout + r.stderr);
  });

  it('reports a WGSL error as KernelError naming the shader file and line', async () => {
    const rt = (be() as unknown as { rt: { compileModule(file: string, code: string): Promise<unknown> } }).rt;
    await assert.rejects(rt.compileModule('broken.wgsl', 'fn f() -> f32 {\n  return undefined_name;\n}\n'), (e: Error) => {
      return e instanceof KernelError && /^shaders\/broken\.wgsl:2:\d+: .*undefined_name/.test(e.message);
    });
  });

  it('computes in place where the contract allows an output to alias an input', async () => {
    const rng = new Rng(7);
    for (const n of [1, 17, 1000]) {
      const x = randomArray(rng, n, -3, 3);
      const y = randomArray(rng, n);
      const run = async (b: Backend): Promise<Float32Array[]> => {
        const X = b.upload(x, [n]);
        const Y = b.upload(y, [n]);
        const M = b.alloc([n]);
        b.activationForward('tanh', X, X); // y = x
        b.activationBackward('tanh', X, Y, Y); // dx = dy
        b.add(X, Y, X); // out = a
        b.mul(Y, X, X); // out = b
        b.add(Y, Y, Y); // out = a = b
        b.dropoutForward(X, X, M, 0.3, 11); // y = x
        return [await b.read(X), await b.read(Y), await b.read(M)];
      };
      const want = await run(referenceBackend);
      const got = await run(be());
      want.forEach((w, i) => assertClose(got[i], w, { atol: 1e-6, rtol: 1e-5 }, `n=${n} output ${i}`));
    }
  });

  // The parity suite runs the variant this adapter picks; the others (for GPUs, or other block
  // shapes) are checked here on the same awkward shapes, every transpose and the epilogue.
  for (const variant of ['shared', 'blocks4', 'sg8x8', 'sg16x24', 'sg32x32']) {
    it(`GEMM variant ${variant} matches the reference`, async function () {
      if (variant.startsWith('sg') && be().adapter.subgroupSize !== 8) this.skip();
      const saved = process.env.HYDRANET_WEBGPU_GEMM;
      process.env.HYDRANET_WEBGPU_GEMM = variant;
      const b = await createBackend('webgpu');
      if (saved === undefined) delete process.env.HYDRANET_WEBGPU_GEMM;
      else process.env.HYDRANET_WEBGPU_GEMM = saved;
      try {
        const rng = new Rng(11);
        for (const [m, n, k] of [[1, 1, 1], [3, 17, 5], [17, 3, 255], [64, 100, 36], [255, 33, 1000], [40, 8, 4]]) {
          for (const [transA, transB] of [[false, false], [false, true], [true, false], [true, true]]) {
            const a = randomArray(rng, m * k);
            const bb = randomArray(rng, k * n);
            const c = randomArray(rng, m * n);
            const bias = randomArray(rng, n);
            await compareOp(b, {
              what: `${variant} ${m}×${n}×${k} ${transA ? 'T' : 'N'}${transB ? 'T' : 'N'}`,
              inputs: { a: { data: a, shape: transA ? [k, m] : [m, k] }, b: { data: bb, shape: transB ? [n, k] : [k, n] }, bias: { data: bias, shape: [n] } },
              outputs: { c: { data: c, shape: [m, n], tol: { atol: 1e-4, rtol: 1e-4 } } },
              op: (be, t) => be.gemm(t.a, t.b, t.c, { transA, transB, alpha: 0.5, beta: 0.75, bias: t.bias, activation: 'tanh' }),
            });
          }
        }
      } finally {
        b.dispose();
      }
    });
  }

  it('refuses a GEMM variant it cannot run, naming the variable', async () => {
    process.env.HYDRANET_WEBGPU_GEMM = 'sg40x40';
    try {
      await assert.rejects(createBackend('webgpu'), (e: Error) => e instanceof ConfigError && /HYDRANET_WEBGPU_GEMM=sg40x40/.test(e.message));
    } finally {
      delete process.env.HYDRANET_WEBGPU_GEMM;
    }
  });

  it('refuses an output that partly overlaps an input', () => {
    const base = be().alloc([256]);
    const a = be().view(base, 0, [128]);
    const b = be().view(base, 64, [128]);
    assert.throws(() => be().add(a, a, b), ShapeError);
    be().free(base);
  });

  it('records a training step into at most two submits, reading nothing back; throttle bounds the queue', async () => {
    const b = be();
    const model = new MultiTaskModel(b, {
      inputShape: [64],
      trunk: [{ type: 'dense', units: 32, activation: 'relu' }],
      heads: { hidden: [16], dropout: 0.1 },
      tasks: [
        { name: 'a', kind: 'classification', classes: 5 },
        { name: 'b', kind: 'regression', outputs: 2 },
      ],
      maxBatch: 32,
    });
    const opt = new Optimizer(b, model.params, { kind: 'sgd', lr: 0.01, momentum: 0.9 });
    const rng = new Rng(3);
    const step = (i: number): void => {
      model.loadBatch(32, rng.uniformArray(32 * 64), Float32Array.from({ length: 32 * 3 }, (_, j) => (j % 3 === 0 ? rng.int(5) : rng.normal())));
      model.forwardBackward(32, { training: true, seed: i });
      opt.step();
    };
    step(0);
    await b.sync();
    const before = { ...b.stats };
    const rt = (b as unknown as { rt: { inFlight: number } }).rt;
    let most = 0;
    for (let i = 1; i <= 10; i++) {
      step(i);
      await b.throttle();
      most = Math.max(most, rt.inFlight);
    }
    assert.ok(most <= 4, `throttle left ${most} submits queued (at most 4)`);
    await b.sync();
    const after = b.stats;
    assert.ok(after.submits - before.submits <= 2 * 10 + 1, `submits: ${after.submits - before.submits} for 10 steps`);
    assert.equal(after.reads - before.reads, 1, 'reads: only the status check of sync');
    for (const key of ['buffers', 'pipelines', 'bindGroups'] as const) assert.equal(after[key], before[key], `${key} created in steady state`);
  });
});
