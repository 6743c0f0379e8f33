/**
 * Child process of native-nan.spec.ts: with HYDRANET_CPU_ISA forcing one SIMD path, runs the
 * cpu backend's NaN-sensitive kernels (every activation forward and backward, the GEMM epilogue
 * with every activation on the micro-kernel and the dot-product paths) on inputs holding NaN,
 * and prints { isa, supported, missing }: the path that ran, the paths this CPU supports, and
 * each output element that should be NaN but is not; or { unavailable } when the addon is not built.
 */
import { ACTIVATIONS } from '../../ts/backends/backend.js';
import { CpuBackend } from '../../ts/backends/cpu.js';
import { loadCpuAddon } from '../../ts/backends/native.js';
import { BackendUnavailableError } from '../../ts/errors.js';

let be: CpuBackend;
try {
  be = new CpuBackend({ threads: 1 });
} catch (e) {
  if (!(e instanceof BackendUnavailableError)) throw e;
  console.log(JSON.stringify({ unavailable: e.message }));
  process.exit(0);
}
const missing: string[] = [];
const expectNaN = (what: string, got: Float32Array, at: number[]): void => {
  for (const i of at) if (!Number.isNaN(got[i])) missing.push(`${what}[${i}] = ${got[i]}`);
};

// 37 elements: NaN in the first vector, the middle and the masked tail of every path's lanes.
const n = 37;
const xNaN = [0, 17, 36];
const dyNaN = [3, 20]; // at y ≤ 0 (x = −2) and y > 0 (x = 2)
const x = Float32Array.from({ length: n }, (_, i) => (xNaN.includes(i) ? NaN : i === 3 ? -2 : i === 20 ? 2 : Math.sin(i) * 4));
const dy = Float32Array.from({ length: n }, (_, i) => (dyNaN.includes(i) ? NaN : Math.cos(i)));
const xt = be.upload(x, [n]);
const dyt = be.upload(dy, [n]);
for (const kind of ACTIVATIONS) {
  const y = be.alloc([n]);
  const dx = be.alloc([n]);
  be.activationForward(kind, xt, y);
  be.activationBackward(kind, y, dyt, dx, xt);
  expectNaN(`${kind} y`, await be.read(y), xNaN);
  expectNaN(`${kind} dx`, await be.read(dx), dyNaN);
}

// C [m, n] = act(A·Bᵀ + bias) with A's row 1 and bias column 2 NaN: blocked and dot-product paths.
for (const [m, cols, k] of [
  [37, 45, 19],
  [2, 3, 200],
]) {
  const a = be.upload(Float32Array.from({ length: m * k }, (_, i) => (i === k + 3 ? NaN : Math.sin(i))), [m, k]);
  const b = be.upload(Float32Array.from({ length: cols * k }, (_, i) => Math.cos(i)), [cols, k]);
  const bias = be.upload(Float32Array.from({ length: cols }, (_, j) => (j === 2 ? NaN : j)), [cols]);
  for (const activation of ACTIVATIONS) {
    const c = be.alloc([m, cols]);
    be.gemm(a, b, c, { transB: true, bias, activation });
    const row1 = Array.from({ length: cols }, (_, j) => cols + j);
    const col2 = Array.from({ length: m }, (_, i) => i * cols + 2);
    expectNaN(`gemm ${m}×${cols}×${k} ${activation}`, await be.read(c), [...row1, ...col2]);
  }
}
console.log(JSON.stringify({ isa: be.isa, supported: loadCpuAddon().info().supported, missing }));
