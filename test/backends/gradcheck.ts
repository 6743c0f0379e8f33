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


/** What assertModelGradients needs of a model (kept structural so this file stays backend-level). */
interface CheckableModel {
  tasks: readonly { weight: number }[];
  params: { parameters: readonly { name: string; offset: number; size: number }[]; values: object; grads: object };
  losses: object;
  forward(n: number): object;
  computeLoss(n: number, logits: never): unknown;
  forwardBackward(n: number, step: { training: boolean; seed: number }): void;
}

/**
 * Checks every parameter gradient of a model on the reference backend, for its loaded batch of
 * n samples, against finite differences of Σ_t w_t·L_t + extra() (extra: e.g. a penalty).
 */
export function assertModelGradients(model: CheckableModel, n: number, extra: () => number = () => 0): void {
  const data = (t: object): Float32Array => (t as { data: Float32Array }).data;
  const weights = model.tasks.map((t) => t.weight);
  const objective = (): number => {
    model.computeLoss(n, model.forward(n) as never);
    return data(model.losses).reduce((s, l, t) => s + weights[t] * l, 0) + extra();
  };
  model.forwardBackward(n, { training: true, seed: 1 });
  const analytic = Float32Array.from(data(model.params.grads));
  for (const p of model.params.parameters) {
    const values = data(model.params.values).subarray(p.offset, p.offset + p.size);
    assertGradClose(analytic.subarray(p.offset, p.offset + p.size), numericGradient(values, objective), p.name);
  }
}

/**
 * Checks a kernel's gradients: `wrt` names (by their gradient's name) the arrays that f reads;
 * after their central differences are taken, `analytic` runs the backward and returns the
 * gradients by the same names, each compared with assertGradClose.
 */
export function assertGradients(
  wrt: Record<string, Float32Array>,
  f: () => number,
  analytic: () => Record<string, Float32Array>,
): void {
  const numeric = Object.entries(wrt).map(([name, x]) => [name, numericGradient(x, f)] as const);
  const got = analytic();
  for (const [name, num] of numeric) assertGradClose(got[name], num, name);
}
