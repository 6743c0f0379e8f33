/**
 * Development bench for the WebGPU GEMM kernels (llm.c's dev/ idea): GFLOP/s of gemm on the
 * current adapter for the training shapes of W1/W2 and a square 1024³, every transpose the
 * model uses. It only times them: every variant is checked against the reference by
 * test/backends/webgpu.spec.ts ("GEMM variant … matches the reference"). Not part of
 * `npm run bench`; run after `npm run build:ts`:
 *   node dist/bench/gemm-dev/webgpu-gemm.js [seconds per case] [variants, e.g. sg32x32,blocks4,shared]
 */
import { createBackend } from '../../ts/backends/create.js';

const cases: [number, number, number, boolean, boolean][] = [
  [1024, 1024, 1024, false, false],
  [1024, 2048, 2048, false, true], // W2 forward
  [1024, 2048, 2048, false, false], // W2 dx
  [2048, 2048, 1024, true, false], // W2 dW
  [256, 512, 784, false, true], // W1 forward
];

const seconds = Number(process.argv[2] ?? 2);
const variants = (process.argv[3] ?? 'sg32x32,blocks4').split(',');
const backends = [];
for (const v of variants) {
  process.env.HYDRANET_WEBGPU_GEMM = v;
  backends.push(await createBackend('webgpu'));
}
console.log(`adapter: ${JSON.stringify((backends[0] as unknown as { adapter: unknown }).adapter)}`);
for (const [m, n, k, ta, tb] of cases) for (const [vi, be] of backends.entries()) {
  const a = be.upload(new Float32Array(m * k).map(() => Math.random()), ta ? [k, m] : [m, k]);
  const b = be.upload(new Float32Array(k * n).map(() => Math.random()), tb ? [n, k] : [k, n]);
  const c = be.alloc([m, n]);
  be.gemm(a, b, c, { transA: ta, transB: tb });
  await be.sync();
  let reps = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) {
    be.gemm(a, b, c, { transA: ta, transB: tb });
    await be.sync();
    reps++;
  }
  const s = (performance.now() - t0) / 1000;
  const used = process.cpuUsage(cpu0);
  const cpuSeconds = (used.user + used.system) / 1e6;
  const gflop = (2 * m * n * k * reps) / 1e9;
  // GFLOP per CPU-second (lavapipe's threads are this process's) is steadier than wall time
  // on a shared machine.
  console.log(
    `${variants[vi]} ${m}×${n}×${k} ${ta ? 'T' : 'N'}${tb ? 'T' : 'N'}: ${(gflop / s).toFixed(2)} GFLOP/s, ${(gflop / cpuSeconds).toFixed(2)} GFLOP per CPU-second (${reps} reps)`,
  );
  for (const t of [a, b, c]) be.free(t);
}
for (const be of backends) be.dispose();
