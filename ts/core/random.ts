/**
 * Seeded randomness. The same seed gives the same numbers everywhere: `Rng` drives weight
 * initialisation and shuffling in TypeScript; `hash32` / `dropoutKeep` are counter-based, so a
 * backend kernel (C++, WGSL, CUDA) computes the identical dropout mask from (seed, index)
 * without any state. Keep the native copy (native/random.h, used by the CPU and CUDA kernels) and the WGSL one
 * (shaders/include/random.wgsl) in step with this file.
 */
import { CheckpointError } from '../errors.js';
import { stateNumbers } from './state.js';

/** murmur3's 32-bit finaliser over (seed, index): a well-mixed uint32. */
export function hash32(seed: number, index: number): number {
  let h = (Math.imul(index >>> 0, 0x9e3779b1) ^ (seed >>> 0)) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}

/** A uniform float in [0, 1) with 24 bits, from hash32. */
export function hashUniform(seed: number, index: number): number {
  return (hash32(seed, index) >>> 8) * (1 / 16777216);
}

/** Whether element `index` survives dropout with drop probability p. */
/**
 * The integer form of dropoutKeep for kernels: keep ⇔ (hash32(seed, i) >>> 8) ≥ dropoutThreshold(p),
 * exactly as hashUniform ≥ p in f64 (hashUniform is that 24-bit integer / 2^24).
 */
export function dropoutThreshold(p: number): number {
  return Math.ceil(p * 16777216);
}

/**
 * Whether dropout keeps element `index` for `seed` at drop probability p in [0, 1): the
 * counter-based rule every backend's dropout kernels follow (hashUniform(seed, index) ≥ p), so a
 * seed gives the same mask on every backend and needs no stored state.
 */
export function dropoutKeep(seed: number, index: number, p: number): boolean {
  return hashUniform(seed, index) >= p;
}

/** xoshiro128** seeded by splitmix32: small, fast, good enough for init and shuffling. */
export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  private spare: number | null = null;

  constructor(seed: number) {
    let x = seed >>> 0;
    const next = (): number => {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
  }

  /** The full state, for checkpoints. */
  getState(): number[] {
    return [this.s0, this.s1, this.s2, this.s3];
  }

  /**
   * Restores `getState()` output: four uint32 words, not all zero (xoshiro's one degenerate
   * state, from which every draw is 0). CheckpointError otherwise, naming `where`.
   */
  setState(state: readonly number[], where = 'rngState'): void {
    const words = stateNumbers(state, where, 4, { integer: true, min: 0, max: 0xffffffff });
    if (words.every((w) => w === 0)) throw new CheckpointError(`Invalid checkpoint state at ${where}: a generator state of four zeros never leaves zero`);
    [this.s0, this.s1, this.s2, this.s3] = words;
    this.spare = null;
  }

  /** A uniform uint32. */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.s1 << 9) >>> 0;
    this.s2 = (this.s2 ^ this.s0) >>> 0;
    this.s3 = (this.s3 ^ this.s1) >>> 0;
    this.s1 = (this.s1 ^ this.s2) >>> 0;
    this.s0 = (this.s0 ^ this.s3) >>> 0;
    this.s2 = (this.s2 ^ t) >>> 0;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** A uniform float in [0, 1). */
  uniform(): number {
    return (this.nextU32() >>> 8) * (1 / 16777216);
  }

  /** A uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  /** A standard normal (Box-Muller). */
  normal(): number {
    if (this.spare !== null) {
      const s = this.spare;
      this.spare = null;
      return s;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** Shuffles `a` in place (Fisher-Yates). */
  shuffle<T extends { length: number; [i: number]: number }>(a: T): T {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = a[i];
      a[i] = a[j];
      a[j] = tmp;
    }
    return a;
  }

  /** A Float32Array of uniforms in [lo, hi). */
  uniformArray(n: number, lo = 0, hi = 1): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * this.uniform();
    return out;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
