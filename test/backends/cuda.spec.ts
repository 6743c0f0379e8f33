/**
 * The cuda backend where no GPU is present (CI, this machine): the addon is built whenever nvcc
 * is found (so a build break fails CI), loads without a GPU, says why it cannot run, and checks
 * its arguments before touching the device. Its kernels' parity runs in test/backends/parity/,
 * on the machines that have a GPU (backendsUnderTest includes cuda; here it reports the skip).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { createBackend } from '../../ts/backends/create.js';
import { loadCudaAddon } from '../../ts/backends/cuda.js';
import { packageRoot } from '../../ts/backends/native.js';
import { BackendUnavailableError } from '../../ts/errors.js';

const nvcc = spawnSync('nvcc', ['--version'], { encoding: 'utf8' });
const hasNvcc = nvcc.status === 0;

describe('cuda backend (build and availability)', function () {
  this.timeout(60_000);

  it('is built as build/Release/hydranet_cuda.node wherever nvcc is found, and loads without a GPU', function () {
    if (!hasNvcc) {
      console.log('      skipped: nvcc is not on PATH, so the CUDA addon is not built here');
      this.skip();
    }
    const file = path.join(packageRoot(), 'build', 'Release', 'hydranet_cuda.node');
    assert.ok(existsSync(file), `${file} was not built although nvcc exists (see CMakeLists.txt, HYDRANET_CUDA)`);
    const addon = loadCudaAddon();
    const info = addon.info();
    assert.equal(typeof info.devices, 'number');
    assert.ok(info.runtimeVersion >= 12000, `CUDA runtime ${info.runtimeVersion}`);
  });

  it('createBackend("cuda") throws BackendUnavailableError with the reason when it cannot run', async function () {
    let backend = null;
    try {
      backend = await createBackend('cuda');
    } catch (e) {
      assert.ok(e instanceof BackendUnavailableError, String(e));
      assert.match((e as Error).message, /not built|No CUDA GPU/);
      return;
    }
    backend.dispose();
    this.skip(); // a GPU is present: test/backends/parity/ tests the backend itself
  });

  it('refuses kernel calls before init and malformed device ranges, without touching a device', function () {
    if (!hasNvcc) this.skip();
    const addon = loadCudaAddon();
    if (addon.info().devices > 0) this.skip();
    const gemm = addon.gemm as (...args: unknown[]) => void;
    assert.throws(() => gemm([1, 0, 4], [1, 0, 4], [1, 0, 4], null, 2, 2, 2, false, false, 1, 0, 0), /not initialised/);
    assert.throws(() => addon.alloc(16), /not initialised/);
    assert.throws(() => (addon.fill as (...a: unknown[]) => void)(), /arguments expected/);
  });
});
