/**
 * The parity harness shared by every backend's tests (after ggml's test-backend-ops): each op's
 * cases are defined once, run on the reference and on the backend under test from the same
 * inputs, and compared elementwise with stated tolerances. Outputs on the backend under test
 * are views inside a larger buffer whose guard zones hold a sentinel, so out-of-bounds writes
 * fail the test. NaN must appear exactly where the reference has NaN (NaN in, NaN out).
 */
import assert from 'node:assert/strict';
import { type Backend, type Tensor } from '../../ts/backends/backend.js';
import { createBackend } from '../../ts/backends/create.js';
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
 * Runs one op on the reference and on `backend` with the same inputs and compares outputs.
 * `inputs` are uploaded to both; `outputs` are allocated (with initial contents, since some
 * ops accumulate) on both, guard-zoned on the backend under test; `op` runs the op given the
 * backend and the tensors by name.
 */
export async function compareOp(
  backend: Backend,
  spec: {
    inputs: Record<string, { data: Float32Array; shape: number[] }>;
    outputs: Record<string, { data: Float32Array; shape: number[]; tol: Tol }>;
    op: (b: Backend, t: Record<string, Tensor>) => void;
    what: string;
  },
): Promise<Record<string, Float32Array>> {
  const ref = referenceBackend;
  const refT: Record<string, Tensor> = {};
  const gotT: Record<string, Tensor> = {};
  const bases: Record<string, Tensor> = {};
  for (const [name, v] of Object.entries(spec.inputs)) {
    refT[name] = ref.upload(v.data, v.shape);
    gotT[name] = backend.upload(v.data, v.shape);
  }
  for (const [name, v] of Object.entries(spec.outputs)) {
    refT[name] = ref.upload(v.data, v.shape);
    const padded = new Float32Array(v.data.length + 2 * GUARD).fill(SENTINEL);
    padded.set(v.data, GUARD);
    bases[name] = backend.upload(padded, [padded.length]);
    gotT[name] = backend.view(bases[name], GUARD, v.shape);
  }
  spec.op(ref, refT);
  spec.op(backend, gotT);
  await backend.sync();
  const results: Record<string, Float32Array> = {};
  for (const [name, v] of Object.entries(spec.outputs)) {
    const want = await ref.read(refT[name]);
    const padded = await backend.read(bases[name]);
    for (let i = 0; i < GUARD; i++) {
      assert.equal(padded[i], SENTINEL, `${spec.what}: ${name} guard zone before the output was overwritten at ${i}`);
      const j = GUARD + v.data.length + i;
      assert.equal(padded[j], SENTINEL, `${spec.what}: ${name} guard zone after the output was overwritten at +${i}`);
    }
    const got = padded.subarray(GUARD, GUARD + v.data.length);
    assertClose(got, want, v.tol, `${spec.what}: ${name}`);
    results[name] = got;
  }
  for (const t of [...Object.values(gotT), ...Object.values(bases)]) backend.free(t);
  return results;
}

export const referenceBackend = new ReferenceBackend();

/** Seeded random arrays for test inputs. */
export function randomArray(rng: Rng, n: number, lo = -1, hi = 1): Float32Array {
  return rng.uniformArray(n, lo, hi);
}

/** The awkward sizes every kernel is tested on. */
export const AWKWARD = [1, 3, 17, 255, 1000] as const;
