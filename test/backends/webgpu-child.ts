/**
 * Scenarios of test/backends/webgpu.spec.ts that may crash or bloat a process, run in a child
 * (through test/backends/child.ts) so that the suite survives them. Each prints one JSON value
 * on stdout, and names each risky step on stderr before it runs.
 *
 *   node webgpu-child.js huge       sizes past the device's limits: each must throw a typed
 *                                   error, and the backend must go on working afterwards
 *   node webgpu-child.js cycles N   RSS after warm-up and after N create/use/dispose cycles
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import type { Backend } from '../../ts/backends/backend.js';
import { createBackend } from '../../ts/backends/create.js';
import type { WebGpuBackend } from '../../ts/backends/webgpu.js';
import { MultiTaskModel } from '../../ts/mtl/model.js';

/** Collects garbage (the flag set at run time, so the child needs no --expose-gc). */
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

/** The error a call threw, as { name, message }, or null when it returned. */
function attempt(step: string, f: () => unknown): { name: string; message: string } | null {
  process.stderr.write(`${step}\n`);
  try {
    f();
    return null;
  } catch (e) {
    return { name: (e as Error).name, message: (e as Error).message };
  }
}

/** A small GEMM with an epilogue, read back: what a user does with a backend. */
async function use(b: Backend): Promise<number[]> {
  const x = b.upload(Float32Array.from([1, 2, 3, 4]), [2, 2]);
  const w = b.upload(Float32Array.from([0.5, -1, 1, 0.25]), [2, 2]);
  const y = b.alloc([2, 2]);
  b.gemm(x, w, y, { transB: true, activation: 'relu' });
  b.activationForward('tanh', y, y);
  const out = [...(await b.read(y))];
  for (const t of [x, w, y]) b.free(t);
  return out;
}

async function huge(): Promise<void> {
  const b = (await createBackend('webgpu')) as WebGpuBackend;
  const n = 540e6; // the upload: 2.16 GB, past the binding limit of lavapipe (128 MiB)
  const result = {
    maxTensorBytes: (b as unknown as { rt: { maxTensorBytes: number } }).rt.maxTensorBytes,
    // null (after freeing what was made) where the device can bind that much
    alloc: attempt('alloc', () => b.free(b.alloc([n]))),
    upload: attempt('upload', () => b.free(b.upload(new Float32Array(n), [n]))),
    model: attempt(
      'model',
      () =>
        new MultiTaskModel(b, {
          inputShape: [784],
          trunk: [{ type: 'dense', units: 1e6 }],
          tasks: [{ name: 'digit', kind: 'classification', classes: 10 }],
          maxBatch: 256,
        }),
    ),
    after: [] as number[],
  };
  process.stderr.write('a GEMM after the refusals\n');
  result.after = await use(b);
  process.stderr.write('sync, dispose, collect, exit\n');
  await b.sync();
  b.dispose();
  // A crash from a half-made object would come at the collection or at exit: give it both.
  gc();
  await new Promise((r) => setTimeout(r, 50));
  console.log(JSON.stringify(result));
}

async function cycles(count: number): Promise<void> {
  const rss = (): number => process.memoryUsage().rss / 2 ** 20;
  const cycle = async (): Promise<void> => {
    const b = await createBackend('webgpu');
    await use(b);
    b.dispose();
    gc();
  };
  for (let i = 0; i < 3; i++) await cycle();
  const warm = rss();
  for (let i = 0; i < count; i++) await cycle();
  console.log(JSON.stringify({ warm, final: rss(), cycles: count }));
}

const [scenario, arg] = process.argv.slice(2);
if (scenario === 'huge') await huge();
else if (scenario === 'cycles') await cycles(Number(arg));
else throw new Error(`unknown scenario ${scenario}`);
