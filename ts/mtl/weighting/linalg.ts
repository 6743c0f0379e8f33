/**
 * Small dense linear algebra for the gradient-combination solvers (ts/mtl/weighting/solvers/).
 *
 * Every matrix here is a row-major n×n `Float64Array` with n the number of tasks (2–16), so
 * the algorithms favour robustness and simplicity over speed: cyclic Jacobi for symmetric
 * eigendecompositions, Cholesky and partial-pivoting LU for solves, Lawson–Hanson-style active
 * sets for non-negatively constrained quadratic programs, and the sort-based Euclidean
 * projection onto the probability simplex. None of them allocates more than a few n×n arrays.
 */

/** y = A x for a row-major n×n matrix A. */
export function matVec(A: Float64Array, n: number, x: ArrayLike<number>, out = new Float64Array(n)): Float64Array {
  for (let i = 0; i < n; i++) {
    let s = 0;
    const row = i * n;
    for (let j = 0; j < n; j++) s += A[row + j] * x[j];
    out[i] = s;
  }
  return out;
}

/** xᵀ A y for a row-major n×n matrix A. */
export function quadForm(A: Float64Array, n: number, x: ArrayLike<number>, y: ArrayLike<number> = x): number {
  let s = 0;
  for (let i = 0; i < n; i++) {
    if (x[i] === 0) continue;
    let r = 0;
    const row = i * n;
    for (let j = 0; j < n; j++) r += A[row + j] * y[j];
    s += x[i] * r;
  }
  return s;
}

/** The symmetric part (A + Aᵀ)/2, as a new array. */
export function symmetrize(A: Float64Array, n: number): Float64Array {
  const S = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    S[i * n + i] = A[i * n + i];
    for (let j = i + 1; j < n; j++) {
      const v = 0.5 * (A[i * n + j] + A[j * n + i]);
      S[i * n + j] = v;
      S[j * n + i] = v;
    }
  }
  return S;
}

/**
 * Eigendecomposition of a symmetric matrix by the cyclic Jacobi method (Golub & Van Loan,
 * Algorithm 8.5.3, with the rotation of Numerical Recipes' `jacobi`): sweeps of plane rotations
 * that zero each off-diagonal entry in turn, until the off-diagonal mass is below
 * `1e-15 · ‖A‖_F` (or 100 sweeps). Accurate to working precision, also for tiny eigenvalues
 * relative to the largest one (it works on A itself, not on a factorisation).
 *
 * @returns `values` in ascending order and `vectors`, row-major n×n with **column** k the unit
 *   eigenvector of `values[k]` (so A = V diag(values) Vᵀ).
 */
export function jacobiEigen(A: Float64Array, n: number): { values: Float64Array; vectors: Float64Array } {
  const a = symmetrize(A, n);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  let frob = 0;
  for (let i = 0; i < n * n; i++) frob += a[i] * a[i];
  frob = Math.sqrt(frob);
  if (frob > 0 && Number.isFinite(frob)) {
    for (let sweep = 0; sweep < 100; sweep++) {
      let off = 0;
      for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p * n + q] * a[p * n + q];
      if (Math.sqrt(off) <= 1e-15 * frob) break;
      for (let p = 0; p < n; p++) {
        for (let q = p + 1; q < n; q++) {
          const apq = a[p * n + q];
          if (apq === 0) continue;
          const app = a[p * n + p];
          const aqq = a[q * n + q];
          // tan of the rotation angle: the smaller root of t² + 2θt − 1 = 0, θ = (aqq − app)/(2apq).
          const theta = (aqq - app) / (2 * apq);
          const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
          const c = 1 / Math.sqrt(t * t + 1);
          const s = t * c;
          for (let k = 0; k < n; k++) {
            // Columns p and q of A·J.
            const akp = a[k * n + p];
            const akq = a[k * n + q];
            a[k * n + p] = c * akp - s * akq;
            a[k * n + q] = s * akp + c * akq;
          }
          for (let k = 0; k < n; k++) {
            // Rows p and q of Jᵀ·(A·J).
            const apk = a[p * n + k];
            const aqk = a[q * n + k];
            a[p * n + k] = c * apk - s * aqk;
            a[q * n + k] = s * apk + c * aqk;
          }
          a[p * n + q] = 0;
          a[q * n + p] = 0;
          for (let k = 0; k < n; k++) {
            const vkp = v[k * n + p];
            const vkq = v[k * n + q];
            v[k * n + p] = c * vkp - s * vkq;
            v[k * n + q] = s * vkp + c * vkq;
          }
        }
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => a[i * n + i] - a[j * n + j]);
  const values = new Float64Array(n);
  const vectors = new Float64Array(n * n);
  order.forEach((src, k) => {
    values[k] = a[src * n + src];
    for (let i = 0; i < n; i++) vectors[i * n + k] = v[i * n + src];
  });
  return { values, vectors };
}

/**
 * Solves A x = b for a symmetric positive-definite A by Cholesky (A = L Lᵀ).
 * @returns x, or null when A is not numerically positive definite (a pivot ≤ 1e-14·max|diag|).
 */
export function choleskySolve(A: Float64Array, n: number, b: ArrayLike<number>): Float64Array | null {
  const L = new Float64Array(n * n);
  let maxDiag = 0;
  for (let i = 0; i < n; i++) maxDiag = Math.max(maxDiag, Math.abs(A[i * n + i]));
  const floor = 1e-14 * maxDiag;
  for (let j = 0; j < n; j++) {
    let d = A[j * n + j];
    for (let k = 0; k < j; k++) d -= L[j * n + k] * L[j * n + k];
    if (!(d > floor) || !Number.isFinite(d)) return null;
    const ljj = Math.sqrt(d);
    L[j * n + j] = ljj;
    for (let i = j + 1; i < n; i++) {
      let s = A[i * n + j];
      for (let k = 0; k < j; k++) s -= L[i * n + k] * L[j * n + k];
      L[i * n + j] = s / ljj;
    }
  }
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = b[i];
    for (let k = 0; k < i; k++) s -= L[i * n + k] * y[k];
    y[i] = s / L[i * n + i];
  }
  const x = new Float64Array(n);
  for (let i = n - 1; i >= 0; i--) {
    let s = y[i];
    for (let k = i + 1; k < n; k++) s -= L[k * n + i] * x[k];
    x[i] = s / L[i * n + i];
  }
  return x;
}

/**
 * Solves A x = b for a general square A by LU with partial pivoting.
 * @returns x, or null when A is numerically singular (a pivot ≤ 1e-13·max|A|).
 */
export function luSolve(A: Float64Array, n: number, b: ArrayLike<number>): Float64Array | null {
  const M = Float64Array.from(A);
  const x = Float64Array.from({ length: n }, (_, i) => b[i]);
  let scale = 0;
  for (let i = 0; i < n * n; i++) scale = Math.max(scale, Math.abs(M[i]));
  if (!(scale > 0) || !Number.isFinite(scale)) return null;
  const floor = 1e-13 * scale;
  for (let k = 0; k < n; k++) {
    let piv = k;
    for (let i = k + 1; i < n; i++) if (Math.abs(M[i * n + k]) > Math.abs(M[piv * n + k])) piv = i;
    if (!(Math.abs(M[piv * n + k]) > floor)) return null;
    if (piv !== k) {
      for (let j = 0; j < n; j++) {
        const t = M[k * n + j];
        M[k * n + j] = M[piv * n + j];
        M[piv * n + j] = t;
      }
      const t = x[k];
      x[k] = x[piv];
      x[piv] = t;
    }
    const d = M[k * n + k];
    for (let i = k + 1; i < n; i++) {
      const f = M[i * n + k] / d;
      if (f === 0) continue;
      for (let j = k; j < n; j++) M[i * n + j] -= f * M[k * n + j];
      x[i] -= f * x[k];
    }
  }
  for (let i = n - 1; i >= 0; i--) {
    let s = x[i];
    for (let j = i + 1; j < n; j++) s -= M[i * n + j] * x[j];
    x[i] = s / M[i * n + i];
  }
  return x;
}

/**
 * Solves the non-negatively constrained convex quadratic program
 *   min_z ½ zᵀ Q z + cᵀ z   subject to z ≥ 0,
 * for a symmetric positive-definite Q, by the primal active-set method of Lawson & Hanson's NNLS
 * (1974, ch. 23) written on the normal equations: grow the free ("passive") set by the index of
 * the most negative gradient, solve the unconstrained problem on it, and step back to the
 * boundary whenever a free variable would turn non-positive. It terminates in finitely many
 * steps with the exact KKT point (up to rounding): z ≥ 0, Qz + c ≥ −tol, zᵀ(Qz + c) = 0.
 *
 * @param tol  a gradient component counts as negative below −tol (default 1e-13·(max|Q|+max|c|)).
 */
export function nonNegativeQP(Q: Float64Array, n: number, c: ArrayLike<number>, tol?: number): Float64Array {
  let scale = 0;
  for (let i = 0; i < n * n; i++) scale = Math.max(scale, Math.abs(Q[i]));
  for (let i = 0; i < n; i++) scale = Math.max(scale, Math.abs(c[i]));
  const eps = tol ?? 1e-13 * scale;
  const z = new Float64Array(n);
  const free = new Array<boolean>(n).fill(false);
  const grad = new Float64Array(n);
  // Solves the problem restricted to the free set, zero elsewhere; null if Q_FF is singular.
  const solveFree = (): Float64Array | null => {
    const idx: number[] = [];
    for (let i = 0; i < n; i++) if (free[i]) idx.push(i);
    const m = idx.length;
    const sub = new Float64Array(m * m);
    const rhs = new Float64Array(m);
    for (let a = 0; a < m; a++) {
      rhs[a] = -c[idx[a]];
      for (let b = 0; b < m; b++) sub[a * m + b] = Q[idx[a] * n + idx[b]];
    }
    const y = choleskySolve(sub, m, rhs) ?? luSolve(sub, m, rhs);
    if (y === null) return null;
    const s = new Float64Array(n);
    for (let a = 0; a < m; a++) s[idx[a]] = y[a];
    return s;
  };
  for (let outer = 0; outer < 4 * n + 10; outer++) {
    matVec(Q, n, z, grad);
    let best = -1;
    let bestVal = eps;
    for (let i = 0; i < n; i++) {
      const g = -(grad[i] + c[i]);
      if (!free[i] && g > bestVal) {
        bestVal = g;
        best = i;
      }
    }
    if (best < 0) break;
    free[best] = true;
    let progressed = false;
    for (let inner = 0; inner < 2 * n + 5; inner++) {
      const s = solveFree();
      if (s === null) break;
      let ok = true;
      for (let i = 0; i < n; i++) if (free[i] && !(s[i] > 0)) ok = false;
      if (ok) {
        z.set(s);
        progressed = true;
        break;
      }
      // Step from z towards s until the first free variable hits zero.
      let step = 1;
      let hit = -1;
      for (let i = 0; i < n; i++) {
        if (free[i] && !(s[i] > 0)) {
          const denom = z[i] - s[i];
          const t = denom > 0 ? z[i] / denom : 0;
          if (hit < 0 || t < step) {
            step = t;
            hit = i;
          }
        }
      }
      for (let i = 0; i < n; i++) if (free[i]) z[i] += step * (s[i] - z[i]);
      free[hit] = false;
      z[hit] = 0;
      for (let i = 0; i < n; i++) {
        if (free[i] && !(z[i] > 0)) {
          free[i] = false;
          z[i] = 0;
        }
      }
      if (step > 0) progressed = true;
    }
    if (!progressed) break; // numerically stuck: keep the last feasible z
  }
  for (let i = 0; i < n; i++) if (!(z[i] > 0)) z[i] = 0;
  return z;
}

/**
 * Euclidean projection onto the probability simplex {x ≥ 0, Σx = 1} (the sort-based algorithm
 * of Held, Wolfe & Crowder 1974 / Duchi et al. 2008).
 */
export function projectSimplex(y: ArrayLike<number>): Float64Array {
  const n = y.length;
  const u = Array.from(y).sort((a, b) => b - a);
  let cum = 0;
  let theta = 0;
  for (let k = 0; k < n; k++) {
    cum += u[k];
    const t = (cum - 1) / (k + 1);
    if (u[k] - t > 0) theta = t;
  }
  const x = new Float64Array(n);
  for (let i = 0; i < n; i++) x[i] = Math.max(y[i] - theta, 0);
  return x;
}
