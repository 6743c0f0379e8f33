/**
 * GradDrop (shaders/graddrop.wgsl) on WebGPU: one launch; see graddrop.wgsl for how its keep
 * decisions match the f64 reference.
 */
import { GRADDROP_EPSILON } from '../backend.js';
import { family, type GpuRuntime, type GpuTensor, grid } from './runtime.js';

const K = family('graddrop', { apply: 'rw' });

/** f64(GRADDROP_EPSILON) as three 24-bit chunks of its 53-bit mantissa and the bit position
 * of its lowest bit in units of 2^-149, for graddrop.wgsl's exact path. */
const EPSILON_WORDS: readonly number[] = (() => {
  const bits = new DataView(new Float64Array([GRADDROP_EPSILON]).buffer);
  const hi = bits.getUint32(4, true);
  const lo = bits.getUint32(0, true);
  const exponent = (hi >>> 20) & 0x7ff; // normal: value = (2^52 + fraction) · 2^(exponent − 1075)
  const mantissa = BigInt(((hi & 0xfffff) | 0x100000) >>> 0) * 2n ** 32n + BigInt(lo >>> 0);
  const chunk = (i: number): number => Number((mantissa >> BigInt(24 * i)) & 0xffffffn);
  return [chunk(0), chunk(1), chunk(2), exponent - 1075 + 149];
})();

/** The GradDrop launcher. */
export class GradDropKernels {
  constructor(private readonly rt: GpuRuntime) {}

  launch(g: GpuTensor, out: GpuTensor, tasks: number, m: number, seed: number, leak: number): void {
    const leakHi = Math.fround(leak);
    const leakLo = Math.fround(leak - leakHi);
    const params = { u: [tasks, m, seed, ...EPSILON_WORDS, 0], f: [Math.fround(GRADDROP_EPSILON), leakHi, leakLo] };
    this.rt.launch(K.apply, [g, out], params, grid(m, 256));
  }
}
