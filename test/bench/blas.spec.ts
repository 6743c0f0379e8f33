/**
 * The bench's peers say which kernels they really ran on, and a peer on the reference BLAS is
 * flagged as not representative, with the command that fixes it, and gets no ratio (issue 13:
 * PyTorch silently ran on Debian's netlib BLAS and the bench printed hydranet 37× faster).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { type Machine, type TorchBlas, blasKindOfPath, classifyBlas, machineInfo, peerEnv, runTorch, tfjsKernels } from '../../bench/peers.js';
import { type BenchRecord, markdownReport, peerKernelLines, ratioRecord, stepRatioLines } from '../../bench/report.js';

const LIB = '/usr/lib/x86_64-linux-gnu';
const ALT = 'libblas.so.3-x86_64-linux-gnu';
const alternative = (value: string, status: 'auto' | 'manual', candidates: string[]): TorchBlas['alternative'] => ({
  name: ALT,
  link: `${LIB}/libblas.so.3`,
  status,
  value,
  candidates,
});
// Debian with OpenBLAS installed: liblapack.so.3 is OpenBLAS's, so libopenblas is mapped even when
// libblas.so.3 is the reference: what is mapped does not say what is called.
const MAPPED = [`${LIB}/openblas-pthread/libopenblasp-r0.3.21.so`, `${LIB}/openblas-pthread/liblapack.so.3`];
const OPENBLAS_CANDIDATE = `${LIB}/openblas-pthread/libblas.so.3`;

describe('bench: which BLAS each peer ran on', function () {
  this.timeout(60_000);

  describe('classifyBlas', () => {
    it('OpenBLAS (Debian alternative): representative, with its version, core type and threads', () => {
      const v = classifyBlas({
        library: OPENBLAS_CANDIDATE,
        found_by: 'sgemm_ as resolved from libtorch_cpu',
        openblas: { config: 'OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64', core: 'Haswell', threads: 2 },
        alternative: alternative(OPENBLAS_CANDIDATE, 'auto', [`${LIB}/blas/libblas.so.3`, OPENBLAS_CANDIDATE]),
        mapped: MAPPED,
        built_with: 'generic',
      });
      assert.equal(v.kind, 'openblas');
      assert.equal(v.representative, true);
      assert.equal(v.fix, undefined);
      assert.match(v.summary, /^OpenBLAS 0\.3\.21, core Haswell, 2 threads \(sgemm_ in \/usr\/lib\/x86_64-linux-gnu\/openblas-pthread\/libblas\.so\.3, chosen by .*libblas\.so\.3 → \/etc\/alternatives\/libblas\.so\.3-x86_64-linux-gnu \(auto mode\)\)$/);
    });

    it('the reference BLAS chosen by the alternative while OpenBLAS is installed: not representative, fixed by update-alternatives --set', () => {
      const v = classifyBlas({
        library: `${LIB}/blas/libblas.so.3.11.0`,
        openblas: null,
        alternative: alternative(`${LIB}/blas/libblas.so.3`, 'manual', [`${LIB}/blas/libblas.so.3`, OPENBLAS_CANDIDATE]),
        mapped: [...MAPPED, `${LIB}/blas/libblas.so.3.11.0`],
        built_with: 'generic',
      });
      assert.equal(v.kind, 'reference');
      assert.equal(v.representative, false);
      assert.equal(v.fix, `update-alternatives --set ${ALT} ${OPENBLAS_CANDIDATE}`);
      assert.match(v.summary, /reference BLAS \(netlib\), unoptimised \(sgemm_ in \/usr\/lib\/x86_64-linux-gnu\/blas\/libblas\.so\.3\.11\.0/);
    });

    it('the reference BLAS with no optimised one installed: fixed by apt-get install libopenblas-dev (and --auto when the choice was manual)', () => {
      const only = [`${LIB}/blas/libblas.so.3`];
      const auto = classifyBlas({ library: `${LIB}/blas/libblas.so.3.11.0`, alternative: alternative(only[0], 'auto', only) });
      assert.equal(auto.representative, false);
      assert.equal(auto.fix, 'apt-get install -y libopenblas-dev');
      const manual = classifyBlas({ library: `${LIB}/blas/libblas.so.3.11.0`, alternative: alternative(only[0], 'manual', only) });
      assert.equal(manual.fix, `apt-get install -y libopenblas-dev && update-alternatives --auto ${ALT}`);
      // Outside Debian's alternatives (a plain libblas.so.3, or netlib's librefblas).
      for (const library of ['/usr/lib64/libblas.so.3.12.0', '/usr/lib/librefblas.so']) {
        const v = classifyBlas({ library });
        assert.equal(v.kind, 'reference', library);
        assert.equal(v.representative, false);
        assert.equal(v.fix, 'apt-get install -y libopenblas-dev');
      }
    });

    it('MKL, BLIS, ATLAS, Accelerate: representative, named by their path even behind a libblas.so.3 name', () => {
      const cases: Array<[string, string]> = [
        ['/opt/intel/oneapi/mkl/2024.0/lib/libmkl_rt.so.2', 'mkl'],
        [`${LIB}/blis-openmp/libblas.so.3`, 'blis'],
        [`${LIB}/atlas/libblas.so.3.10.3`, 'atlas'],
        ['/System/Library/Frameworks/Accelerate.framework/Versions/A/Frameworks/vecLib.framework/libBLAS.dylib', 'accelerate'],
      ];
      for (const [library, kind] of cases) {
        const v = classifyBlas({ library });
        assert.equal(v.kind, kind, library);
        assert.equal(v.representative, true, library);
      }
      assert.equal(blasKindOfPath(`${LIB}/blas/libblas.so.3`), 'reference');
      assert.equal(blasKindOfPath(`${LIB}/libgfortran.so.5`), null);
    });

    it('MKL linked into torch (pip wheels: no BLAS library to find) is told by the build configuration', () => {
      const v = classifyBlas({ library: null, built_with: 'mkl', mapped: [] });
      assert.equal(v.kind, 'mkl');
      assert.equal(v.representative, true);
    });

    it('threadpoolctl and FlexiBLAS: the backend they report decides', () => {
      const pooled = classifyBlas({
        library: '/opt/lib/libopenblas64_p-r0.3.27.so',
        found_by: 'threadpoolctl',
        threadpoolctl: [{ internal_api: 'openblas', filepath: '/opt/lib/libopenblas64_p-r0.3.27.so', version: '0.3.27', num_threads: 4, architecture: 'SkylakeX' }],
      });
      assert.equal(pooled.kind, 'openblas');
      assert.match(pooled.summary, /0\.3\.27, core SkylakeX, 4 threads \(\/opt\/lib\/libopenblas64_p-r0\.3\.27\.so, found by threadpoolctl\)/);
      const netlib = classifyBlas({ library: '/usr/lib64/libflexiblas.so.3.3', flexiblas_backend: 'NETLIB' });
      assert.equal(netlib.kind, 'reference');
      assert.equal(netlib.representative, false);
      assert.match(netlib.fix ?? '', /flexiblas default/);
      assert.equal(classifyBlas({ library: '/usr/lib64/libflexiblas.so.3.3', flexiblas_backend: 'OPENBLAS-OPENMP' }).representative, true);
    });

    it('a BLAS it cannot identify is not taken as representative either', () => {
      const v = classifyBlas({ library: '/opt/vendor/libfastmath.so', mapped: ['/opt/vendor/libfastmath.so'] });
      assert.equal(v.kind, 'unknown');
      assert.equal(v.representative, false);
      assert.match(v.fix ?? '', /apt-get install -y libopenblas-dev/);
    });
  });

  it('tfjs peers name their kernels: plain JavaScript, XNNPACK-wasm with or without SIMD and its threads, WGSL on the adapter', () => {
    assert.equal(tfjsKernels('cpu', { threads: 1 }), 'tfjs-backend-cpu: plain JavaScript kernels, 1 thread');
    assert.equal(tfjsKernels('wasm', { threads: 1, simd: true }), 'tfjs-backend-wasm: XNNPACK compiled to WebAssembly, with SIMD (tfjs-backend-wasm-simd.wasm), 1 thread');
    assert.match(tfjsKernels('wasm', { threads: 4, simd: false }), /without SIMD \(tfjs-backend-wasm\.wasm\), 4 threads$/);
    assert.equal(tfjsKernels('webgpu', { adapter: 'mesa llvmpipe, CPU adapter' }), 'tfjs-backend-webgpu: WGSL on mesa llvmpipe, CPU adapter');
  });

  describe('report', () => {
    const step = (system: string, backend: string, median: number, extra: Partial<BenchRecord> = {}): BenchRecord => ({
      workload: 'W1',
      system,
      backend,
      metric: 'train_steps_per_s',
      unit: 'steps/s',
      median,
      min: median * 0.9,
      max: median * 1.1,
      ...extra,
    });
    const fix = `update-alternatives --set ${ALT} ${OPENBLAS_CANDIDATE}`;
    const mine = step('hydranet', 'cpu', 86);
    const torch = step('pytorch', 'cpu', 2.3, { kernels: `the reference BLAS (netlib), unoptimised (sgemm_ in ${LIB}/blas/libblas.so.3.11.0)`, representative: false, fix });
    const wasm = step('tfjs', 'wasm', 3, { kernels: 'tfjs-backend-wasm: XNNPACK compiled to WebAssembly, with SIMD (tfjs-backend-wasm-simd.wasm), 1 thread' });

    it('prints no ratio against a peer on the reference BLAS; its row keeps its figure, flagged, with the fix', () => {
      assert.equal(ratioRecord(mine, torch, { peer_backend: 'cpu' }), null);
      const vsWasm = ratioRecord(mine, wasm, { peer_backend: 'wasm' });
      assert.ok(vsWasm);
      const records = [mine, torch, wasm, vsWasm];

      const lines = stepRatioLines(records);
      assert.deepEqual(lines, ['W1: hydranet cpu / TensorFlow.js wasm = 28.7× [23.5× … 35.0×]']);
      const peers = peerKernelLines(records);
      assert.equal(peers.length, 2);
      assert.match(peers[0], /^PyTorch cpu: NOT REPRESENTATIVE: the reference BLAS .*no ratio is printed against them; fix: update-alternatives --set libblas\.so\.3-x86_64-linux-gnu \/usr\/lib\/x86_64-linux-gnu\/openblas-pthread\/libblas\.so\.3$/);
      assert.match(peers[1], /^TensorFlow\.js wasm: tfjs-backend-wasm: XNNPACK .*with SIMD.*1 thread$/);

      const md = markdownReport(records, 'header');
      const ratioTable = md.slice(md.indexOf('Ratios'), md.indexOf('Peers (the kernels'));
      assert.doesNotMatch(ratioTable, /pytorch/i);
      assert.match(ratioTable, /\| W1 \| hydranet cpu \| tfjs wasm \| 28\.7×/);
      assert.match(md, /\| W1 \| PyTorch cpu \|  \| 2\.30 \[2\.07 … 2\.53\] ⚠ NOT REPRESENTATIVE, no ratio against it \(see Peers\) \|/);
      assert.match(md, /- PyTorch cpu: NOT REPRESENTATIVE: .*fix: update-alternatives --set /);
    });

    it('a representative PyTorch gets its ratio as before', () => {
      const ok = { ...torch, median: 75, min: 70, max: 80, representative: true, fix: undefined, kernels: 'OpenBLAS 0.3.21, core Haswell, 2 threads' };
      const rr = ratioRecord(mine, ok, { peer_backend: 'cpu' });
      assert.ok(rr);
      assert.deepEqual(stepRatioLines([rr]), ['W1: hydranet cpu / PyTorch cpu = 1.15× [0.97× … 1.35×]']);
      assert.deepEqual(peerKernelLines([ok]), ['PyTorch cpu: OpenBLAS 0.3.21, core Haswell, 2 threads']);
    });
  });

  it('the peers run with passive OpenMP on every core, and OpenBLAS’s SkylakeX kernels on AVX-512 AMD over the environment’s core type', () => {
    const m: Machine = { ...machineInfo(), cores: 4, vendor: 'AuthenticAMD', avx512f: true };
    const saved = process.env.OPENBLAS_CORETYPE;
    process.env.OPENBLAS_CORETYPE = 'Haswell';
    try {
      // '' for no ISA forced (HYDRANET_CPU_ISA unset or empty, as cpu_features.cc reads it): an explicit
      // undefined would take the default, process.env.HYDRANET_CPU_ISA, and fail under HYDRANET_CPU_ISA=avx2.
      const amd = peerEnv(m, '');
      assert.deepEqual(amd.shown, { OMP_WAIT_POLICY: 'passive', OMP_NUM_THREADS: '4', OPENBLAS_NUM_THREADS: '4', OPENBLAS_CORETYPE: 'SkylakeX' });
      assert.equal(amd.env.OPENBLAS_CORETYPE, 'SkylakeX');
      assert.equal(amd.env.PATH, process.env.PATH, 'the rest of the environment is kept');
      // Elsewhere OpenBLAS's own detection stands: the environment's setting is left as it is.
      assert.equal(peerEnv({ ...m, avx512f: false }, '').env.OPENBLAS_CORETYPE, 'Haswell');
      assert.equal(peerEnv({ ...m, vendor: 'GenuineIntel' }, '').shown.OPENBLAS_CORETYPE, undefined);
      // hydranet forced onto AVX2 on an AVX-512 machine: the peers are held to AVX2 too (any vendor).
      for (const vendor of ['AuthenticAMD', 'GenuineIntel']) {
        const held = peerEnv({ ...m, vendor }, 'avx2').shown;
        assert.equal(held.OPENBLAS_CORETYPE, 'Haswell');
        assert.equal(held.DNNL_MAX_CPU_ISA, 'AVX2');
        assert.equal(held.ATEN_CPU_CAPABILITY, 'avx2');
      }
      // On an AVX2 machine there is nothing to hold back; the scalar path has no peer equivalent.
      assert.equal(peerEnv({ ...m, avx512f: false }, 'avx2').shown.DNNL_MAX_CPU_ISA, undefined);
      assert.equal(peerEnv(m, 'scalar').shown.OPENBLAS_CORETYPE, 'SkylakeX');
    } finally {
      if (saved === undefined) delete process.env.OPENBLAS_CORETYPE;
      else process.env.OPENBLAS_CORETYPE = saved;
    }
  });

  describe('detection in a real torch process (bench/peers/torch_mlp.py)', () => {
    const plan = { windows: 1, minSeconds: 0, warmupSeconds: 0 };
    const probe = (env: NodeJS.ProcessEnv = process.env): TorchBlas | string => {
      const r = runTorch([], plan, 1, env);
      return r.ok && r.value ? r.value.info.blas : (r.reason ?? 'failed');
    };
    let here: TorchBlas | string = '';

    before(function () {
      here = probe();
      if (typeof here === 'string') {
        // CI does not install torch (.ci/run): skipped there, with the reason.
        console.log(`      skipped: PyTorch is not importable here (${here})`);
        this.skip();
      }
    });

    it('names the library whose sgemm_ torch calls: a file that exists, chosen by the alternative when there is one', () => {
      const b = here as TorchBlas;
      assert.ok(b.library, `no library found (mapped: ${b.mapped?.join(', ')})`);
      assert.ok(fs.existsSync(b.library), b.library);
      assert.ok(b.mapped?.includes(b.library), 'the library is mapped into the process');
      if (b.alternative?.link) assert.equal(fs.realpathSync(b.alternative.link), b.library, 'the alternative is resolved to the real library');
      const v = classifyBlas(b);
      assert.notEqual(v.kind, 'unknown', v.summary);
      if (v.kind === 'openblas') {
        assert.ok(b.openblas && b.openblas.core && b.openblas.threads >= 1, JSON.stringify(b.openblas));
        assert.equal(v.representative, true);
      }
    });

    it('under peerEnv, the OpenBLAS torch calls runs the core peerEnv asks for, over the environment’s', function () {
      const pe = peerEnv(machineInfo());
      const b = probe({ ...pe.env });
      assert.ok(typeof b !== 'string', String(b));
      if (!b.openblas || !pe.shown.OPENBLAS_CORETYPE) {
        console.log(`      skipped: ${b.openblas ? 'peerEnv sets no core type on this CPU' : 'torch does not call OpenBLAS here'}`);
        this.skip();
      }
      assert.equal(b.openblas.core.toLowerCase(), pe.shown.OPENBLAS_CORETYPE.toLowerCase(), JSON.stringify(b.openblas));
    });

    it('sees the reference BLAS when the loader picks it, although OpenBLAS is mapped too', function () {
      const refDir = '/usr/lib/x86_64-linux-gnu/blas';
      if (!fs.existsSync(`${refDir}/libblas.so.3`)) {
        console.log(`      skipped: the reference BLAS (libblas3) is not installed in ${refDir}`);
        this.skip();
      }
      // The loader searches LD_LIBRARY_PATH first: this torch process gets netlib's libblas.so.3.
      const b = probe({ ...process.env, LD_LIBRARY_PATH: refDir });
      assert.ok(typeof b !== 'string', String(b));
      assert.equal(fs.realpathSync(`${refDir}/libblas.so.3`), b.library);
      const v = classifyBlas(b);
      assert.equal(v.kind, 'reference', v.summary);
      assert.equal(v.representative, false);
      assert.ok(v.fix);
    });
  });
});
