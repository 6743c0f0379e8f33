/**
 * Central finite differences for gradient checks. Values are stored in f32, so with step
 * h = 1e-2 the numerical derivative carries an error of about 1e-4 relative; the tolerance is
 * |analytic − numeric| ≤ 2e-3 + 2e-2·|numeric|.
 */
import assert from 'node:assert/strict';

const H = 1e-2;

/** Central-difference gradient of f w.r.t. every element of `x` (mutated and restored). */
export function numericGradient(x: Float32Array, f: () => number): Float64Array {
  const g = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const old = x[i];
    x[i] = old + H;
    const up = f();
    x[i] = old - H;
    const down = f();
    x[i] = old;
    g[i] = (up - down) / (2 * H);
  }
  return g;
}

export function assertGradClose(analytic: Float32Array, numeric: Float64Array, what: string): void {
  assert.equal(analytic.length, numeric.length);
  for (let i = 0; i < numeric.length; i++) {
    const err = Math.abs(analytic[i] - numeric[i]);
    assert.ok(
      err <= 2e-3 + 2e-2 * Math.abs(numeric[i]),
      `${what}[${i}]: analytic ${analytic[i]} vs numeric ${numeric[i]}`,
    );
  }
}

