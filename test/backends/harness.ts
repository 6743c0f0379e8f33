/**
 * The parity harness shared by every backend's tests (after ggml's test-backend-ops): each op's
 * cases are defined once ({@link OpCase}), run on the reference and on every backend present
 * from the same inputs, and compared elementwise with stated tolerances
 * ({@link describeParity} declares a family's suite for each backend, skipped with its reason
 * where the backend cannot run here).
 *
 * On the backend under test every tensor of a case, inputs and outputs alike, is a view inside
 * a larger buffer whose guard zones hold a sentinel, and every tensor is read back after the op:
 * a kernel that writes out of bounds, or into one of its inputs, fails. NaN must appear exactly
 * where the reference has NaN (NaN in, NaN out). A case may name outputs that are one of its
 * inputs (`aliases`), where the contract allows it, to run the kernel in place.
 *
 * A case the backend under test declares it cannot run (an op it does not support, or a case
 * beyond its declared limits: a CapabilityError, see ts/backends/ops.ts) is neither passed nor
 * failed: compareOp checks that the refusal wrote nothing and throws {@link OpSkipped}, and the
 * family's `it` ({@link ParityContext.it}) reports the case as skipped with the reason.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { type Backend, type Tensor } from '../../ts/backends/backend.js';
import { createBackend } from '../../ts/backends/create.js';
import { CapabilityError } from '../../ts/errors.js';
import { ReferenceBackend } from '../../ts/backends/reference.js';
import { Rng } from '../../ts/core/random.js';
import { BackendUnavailableError } from '../../ts/errors.js';

export const GUARD = 64;
const SENTINEL = -7.25e7;

/** A backend to test, or why it is skipped. In CI a backend that should run but cannot fails. */
export interface BackendUnderTest {
  name: string;
  backend: Backend | null;
  skip?: string;
}

/** The backends other than reference that can run here. */
export async function backendsUnderTest(): Promise<BackendUnderTest[]> {
  const out: BackendUnderTest[] = [];
  for (const name of ['cpu', 'webgpu', 'cuda']) {
    try {
      out.push({ name, backend: await createBackend(name) });
    } catch (e) {
      // CI has no GPU: cuda may skip there (its addon's build is checked in cuda.spec.ts);
      // cpu and webgpu (lavapipe) must run.
      if (!(e instanceof BackendUnavailableError) || (process.env.CI === 'true' && name !== 'cuda')) throw e;
      out.push({ name, backend: null, skip: e.message });
    }
  }
  return out;
}

/** Tolerance: |got − want| ≤ atol + rtol·|want| elementwise. */
export interface Tol {
  atol: number;
  rtol: number;
}

/**
 * Elementwise kernels: 1e-5 relative is about 80 f32 ulps, room for exp, tanh and erf
 * implemented differently on each backend (not "a few ulps").
 */
export const ELEMENTWISE: Tol = { atol: 1e-6, rtol: 1e-5 };
/** Bit-exact: the same f32 operations in the same order (max, masks, copies, scaling). */
export const EXACT: Tol = { atol: 0, rtol: 0 };
/** f32 sums of k products carry rounding that grows with k: atol = 2e-6·k. */
export const gemmTol = (k: number): Tol => ({ atol: 2e-6 * k + 1e-6, rtol: 1e-4 });
/**
 * The cuda backend's GEMMs (and the heads and convolutions built on them) use TF32 tensor
 * cores: inputs rounded to a 10-bit mantissa (relative error ≤ 2^-11 each), so a sum of k
 * products of values in [-1, 1] is off by about 2^-11·√k; 3e-3·√k is about six of those.
 */
export const tf32Tol = (k: number): Tol => ({ atol: 3e-3 * Math.sqrt(k) + 1e-5, rtol: 3e-3 });

export function assertClose(got: Float32Array, want: Float32Array, tol: Tol, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  let worst = 0;
  let worstAt = -1;
  for (let i = 0; i < want.length; i++) {
    const w = want[i];
    const g = got[i];
    if (Number.isNaN(g) !== Number.isNaN(w)) assert.fail(`${what}: ${g} at ${i} where the reference has ${w} (NaN in, NaN out)`);
    if (Number.isNaN(w)) continue;
    const excess = Math.abs(g - w) - (tol.atol + tol.rtol * Math.abs(w));
    if (excess > worst || Number.isNaN(excess)) {
      worst = excess;
      worstAt = i;
    }
  }
  if (worstAt >= 0) {
    assert.fail(
      `${what}: element ${worstAt} is ${got[worstAt]}, reference ${want[worstAt]} ` +
        `(tolerance ${tol.atol} + ${tol.rtol}·|ref|)`,
    );
  }
}

/**
 * Runs `script` (an ES module's text) in a child node process with HYDRANET_CPU_ISA = `isa`,
 * `input` on its stdin, and returns what it printed, parsed as JSON: an object whose `isa` (the
 * backend's, as it reports it) must be `isa`. The cpu backend's SIMD-path tests run each path so.
 */
export function runWithIsa<T extends { isa: string }>(script: string, isa: string, input = ''): T {
  const stdout = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, HYDRANET_CPU_ISA: isa },
    input,
    encoding: 'utf8',
    stdio: 'pipe',
    maxBuffer: 1 << 26,
  });
  const result = JSON.parse(stdout) as T;
  assert.equal(result.isa, isa, 'HYDRANET_CPU_ISA was not honoured');
  return result;
}

/** One tensor of a case: its contents before the op, and its shape. */
export interface TensorSpec {
  data: Float32Array;
  shape: number[];
}

/** An output of a case: its contents before the op (some ops accumulate) and its tolerance. */
export interface OutputSpec extends TensorSpec {
  tol: Tol;
}

/** One op case, defined once and run on the reference and on each backend under test. */
export interface OpCase {
  /** Names the op and the case in failure messages. */
  what: string;
  /** Read by the op: must be unchanged, guard zones included, after it (unless aliased). */
  inputs: Record<string, TensorSpec>;
  /** Written by the op: compared with the reference, guard zones checked. */
  outputs: Record<string, OutputSpec>;
  /**
   * Outputs that are one of the inputs (output name → input name), where the contract allows
   * it: the op gets the input's tensor for that output, starting from the input's contents
   * (the output's `data` is not used), and the result is compared with the reference run the
   * same way.
   */
  aliases?: Record<string, string>;
  /** Runs the op on a backend, given the tensors by name. */
  op: (b: Backend, t: Record<string, Tensor>) => void;
}

/** A tensor inside a buffer with `GUARD` sentinels on each side. */
interface Guarded {
  base: Tensor;
  view: Tensor;
  size: number;
}

function uploadGuarded(be: Backend, v: TensorSpec): Guarded {
  const size = v.data.length;
  const padded = new Float32Array(size + 2 * GUARD).fill(SENTINEL);
  padded.set(v.data, GUARD);
  const base = be.upload(padded, [padded.length]);
  return { base, view: be.view(base, GUARD, v.shape), size };
}

/** Reads a guarded tensor back, failing if either guard zone was written. */
async function readGuarded(be: Backend, g: Guarded, what: string): Promise<Float32Array> {
  const padded = await be.read(g.base);
  for (let i = 0; i < GUARD; i++) {
    assert.equal(padded[i], SENTINEL, `${what}: guard zone before the tensor was overwritten at ${i}`);
    assert.equal(padded[GUARD + g.size + i], SENTINEL, `${what}: guard zone after the tensor was overwritten at +${i}`);
  }
  return padded.subarray(GUARD, GUARD + g.size);
}

/** Fails unless `got` holds the same values as `want` (NaN where NaN): an input left alone. */
function assertUnchanged(got: Float32Array, want: Float32Array, what: string): void {
  for (let i = 0; i < want.length; i++) {
    if (got[i] !== want[i] && !(Number.isNaN(got[i]) && Number.isNaN(want[i]))) {
      assert.fail(`${what}: the op wrote ${got[i]} into its input at ${i} (was ${want[i]})`);
    }
  }
}

/** The reason a case was not run on the backend under test: it declares that it cannot run it. */
export class OpSkipped extends Error {}

/**
 * Runs one op case on the reference and on `backend` with the same inputs and compares the
 * outputs (see {@link OpCase}); on `backend` every tensor is guard-zoned and every input is
 * read back unchanged. Returns the backend's outputs by name. Throws {@link OpSkipped} when the
 * backend refuses the case with a CapabilityError (after checking that it wrote nothing).
 */
export async function compareOp(backend: Backend, spec: OpCase): Promise<Record<string, Float32Array>> {
  const ref = referenceBackend;
  const aliases = spec.aliases ?? {};
  const aliased = new Set(Object.values(aliases));
  const refT: Record<string, Tensor> = {};
  const gotT: Record<string, Tensor> = {};
  const guarded: Record<string, Guarded> = {};
  for (const [name, v] of [...Object.entries(spec.inputs), ...Object.entries(spec.outputs)]) {
    const input = aliases[name];
    if (input !== undefined) {
      assert.ok(input in spec.inputs, `${spec.what}: output ${name} aliases ${input}, which is not an input`);
      refT[name] = refT[input];
      gotT[name] = gotT[input];
      guarded[name] = guarded[input];
      continue;
    }
    refT[name] = ref.upload(v.data, v.shape);
    guarded[name] = uploadGuarded(backend, v);
    gotT[name] = guarded[name].view;
  }
  const freeAll = (): void => {
    for (const [name, g] of Object.entries(guarded)) if (!(name in aliases)) backend.free(g.base);
  };
  spec.op(ref, refT);
  try {
    spec.op(backend, gotT);
  } catch (e) {
    if (!(e instanceof CapabilityError)) throw e;
    for (const [name, v] of [...Object.entries(spec.inputs), ...Object.entries(spec.outputs)]) {
      if (name in aliases) continue;
      const what = `${spec.what}: ${name} after the refusal`;
      assertUnchanged(await readGuarded(backend, guarded[name], what), v.data, what);
    }
    freeAll();
    throw new OpSkipped(`${spec.what}: ${e.message}`);
  }
  await backend.sync();
  const results: Record<string, Float32Array> = {};
  for (const [name, v] of Object.entries(spec.outputs)) {
    const want = await ref.read(refT[name]);
    const got = await readGuarded(backend, guarded[name], `${spec.what}: ${name}`);
    assertClose(got, want, v.tol, `${spec.what}: ${name}${aliases[name] ? ` (= ${aliases[name]})` : ''}`);
    results[name] = got;
  }
  for (const [name, v] of Object.entries(spec.inputs)) {
    if (aliased.has(name)) continue;
    assertUnchanged(await readGuarded(backend, guarded[name], `${spec.what}: input ${name}`), v.data, `${spec.what}: input ${name}`);
  }
  freeAll();
  return results;
}

export const referenceBackend = new ReferenceBackend();

let shared: Promise<BackendUnderTest[]> | null = null;

/** {@link backendsUnderTest}, created once per process and shared by every parity spec. */
export function parityBackends(): Promise<BackendUnderTest[]> {
  shared ??= backendsUnderTest();
  return shared;
}

/** What a family's cases see of the backend under test. */
export interface ParityContext {
  /** 'cpu', 'webgpu' or 'cuda'. */
  name: string;
  /** The backend under test (valid inside tests: the suite is skipped when it is absent). */
  b: () => Backend;
  /** Tolerance of a GEMM-like op with inner dimension k on this backend (TF32 on cuda). */
  mm: (k: number) => Tol;
  /**
   * mocha's `it`, reporting a case the backend cannot run ({@link OpSkipped}) as skipped with
   * its reason: family specs destructure it, so that every case they declare is this one.
   */
  it: (title: string, fn: (this: Mocha.Context) => void | Promise<void>) => void;
}

/**
 * A test body that is reported as skipped, with the reason logged, when it throws
 * {@link OpSkipped} (a case the backend declares it cannot run); other outcomes are its own.
 */
export function skippable(fn: (this: Mocha.Context) => void | Promise<void>): (this: Mocha.Context) => Promise<void> {
  return async function () {
    try {
      await fn.call(this);
    } catch (e) {
      if (!(e instanceof OpSkipped)) throw e;
      console.log(`      skipped: ${e.message}`);
      this.skip();
    }
  };
}

/**
 * Declares one kernel family's parity suite, `parity <family>: <backend> vs reference`, once per
 * backend (created once per process and shared by every family's spec); a backend that cannot
 * run here is skipped with its reason, and so is a case it declares it cannot run (see
 * {@link ParityContext.it}). `body` defines the family's cases once.
 */
export async function describeParity(family: string, body: (ctx: ParityContext) => void): Promise<void> {
  for (const { name, backend, skip } of await parityBackends()) {
    describe(`parity ${family}: ${name} vs reference`, function () {
      before(function () {
        if (!backend) {
          console.log(`      skipped: ${skip}`);
          this.skip();
        }
      });
      body({
        name,
        b: () => backend!,
        mm: (k) => (name === 'cuda' ? tf32Tol(k) : gemmTol(k)),
        it: (title, fn) => it(title, skippable(fn)),
      });
    });
  }
}

/** Seeded random arrays for test inputs. */
export function randomArray(rng: Rng, n: number, lo = -1, hi = 1): Float32Array {
  return rng.uniformArray(n, lo, hi);
}

/*
 * NaN in, NaN out: a NaN input must give NaN in every output it reaches, on every backend, as on
 * the reference: a max or compare-select that drops NaN (relu, the clamp inside exp, tanh and
 * sigmoid) would let NaN weights train on "successfully". compareOp requires NaN exactly where
 * the reference has it; `nanAt` also states the expected NaN directly.
 */

/** Sets data[i] = NaN for each i in `at`; returns data. */
export function withNaN(data: Float32Array, at: number[]): Float32Array {
  for (const i of at) data[i] = NaN;
  return data;
}

/** Fails unless got[i] is NaN for each i in `at`. */
export function nanAt(got: Float32Array, at: number[], what: string): void {
  for (const i of at) assert.ok(Number.isNaN(got[i]), `${what}: element ${i} is ${got[i]}, expected NaN`);
}

/** The awkward sizes every kernel is tested on. */
export const AWKWARD = [1, 3, 17, 255, 1000] as const;
