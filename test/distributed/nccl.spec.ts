/**
 * NCCL on the cuda backend (ts/distributed/nccl.ts, native/cuda/nccl.cc), one rank: NCCL runs
 * one rank per GPU, so a single GPU can only check one. In a child process (worker.ts nccl):
 * the average and the sum of a device tensor over one rank leave it as it was (NaN in → NaN
 * out), the broadcast from rank 0 too, and DataParallel on a cuda model picks NCCL and trains.
 * Skipped, saying why, without a GPU (NCCL reduces device memory), without the cuda addon or
 * the MPI addon, or without libnccl.so.2.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadCudaAddon } from '../../ts/backends/cuda.js';
import { mpiAvailable } from '../../ts/distributed/mpi.js';

const worker = path.join(path.dirname(fileURLToPath(import.meta.url)), 'worker.js');

/** Why the smoke test cannot run here, or null. */
function missing(): string | null {
  let devices = 0;
  try {
    const info = loadCudaAddon().info();
    devices = info.devices;
    if (devices < 1) return `no CUDA GPU here (${info.error || 'no device'}): NCCL all-reduces GPU memory, so this test needs a GPU and libnccl.so.2`;
  } catch (e) {
    return `the cuda addon does not load (${(e as Error).message.split('\n')[0]}): NCCL runs inside it`;
  }
  if (!mpiAvailable()) return 'hydranet_mpi.node is not built: the NCCL id travels over MPI (install an MPI, then npm run build:native)';
  return null;
}

describe('NCCL on the cuda backend (one rank)', function () {
  this.timeout(120_000);

  before(function () {
    const why = missing();
    if (why) {
      console.log(`      skipped: ${why}`);
      this.skip();
    }
  });

  it('averages, sums and broadcasts device tensors, and DataParallel trains a cuda model through it', function () {
    const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'hydranet-nccl-')), 'nccl');
    const r = spawnSync(process.execPath, [worker, 'nccl', out], { encoding: 'utf8', timeout: 100_000, killSignal: 'SIGKILL' });
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
    const d = JSON.parse(fs.readFileSync(`${out}.0`, 'utf8')) as Record<string, unknown>;
    if (d.error === 'BackendUnavailableError' && /libnccl\.so\.2/.test(String(d.message))) {
      console.log(`      skipped: a GPU is here but NCCL is not: ${String(d.message)}`);
      this.skip();
    }
    assert.equal(d.error, undefined, String(d.message));
    const one = ['1', '-2.5', 'NaN', '1e+30'];
    assert.deepEqual(d.averaged, one, 'the average over one rank is the tensor (NaN in → NaN out)');
    assert.deepEqual(d.summed, one);
    assert.deepEqual(d.broadcast, one);
    assert.equal(d.engine, 'nccl', 'DataParallel picks NCCL for a cuda model');
    assert.equal(d.steps, 8, 'every step all-reduced its gradients through NCCL');
    for (const v of Object.values(d.train as Record<string, number>)) assert.ok(Number.isFinite(v));
  });
});
