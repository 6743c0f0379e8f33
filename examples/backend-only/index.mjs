// A two-task MLP trained by hand on hydranet's Backend kernels: no MultiTaskModel, no Trainer.
//
//   x [N, D] ── gemm (+ bias, relu, fused) ──► h [N, H] ── headsForward (one GEMM) ──► logits [N, 3 + 1]
//   logits ── multiLoss: softmax-CE on columns 0..2 (a class), MSE on column 3 (masked) ──► losses [2]
//
// Usage: node index.mjs [cpu|reference|webgpu|cuda] [steps]   (default: cpu, 300 steps)
// Prints the two task losses as they fall. See README.md for the contract's rules.
import {
  createBackend,
  HeadLayout,
  LossLayout,
  Rng,
  ShapeError,
  ValueError,
  BackendUnavailableError,
} from 'hydranet';

const backendName = process.argv[2] ?? 'cpu';
const steps = Number(process.argv[3] ?? 300);

const N = 256; // samples (one full batch)
const D = 16; // input features
const H = 32; // hidden units
const CLASSES = 3; // task 0: which of 3 directions x points to most
const rng = new Rng(7);

// ---- synthetic data, made on the host ------------------------------------------------------
const directions = rng.uniformArray(CLASSES * D, -1, 1);
const xs = rng.uniformArray(N * D, -1, 1);
const targets = new Float32Array(N * 2); // [N, 2]: column 0 the class index (as f32), column 1 the value
const mask = new Float32Array(N * 2); // [N, T]: 1 = labelled
for (let i = 0; i < N; i++) {
  const row = xs.subarray(i * D, (i + 1) * D);
  let best = 0;
  let bestScore = -Infinity;
  for (let c = 0; c < CLASSES; c++) {
    let s = 0;
    for (let k = 0; k < D; k++) s += row[k] * directions[c * D + k];
    if (s > bestScore) [best, bestScore] = [c, s];
  }
  targets[i * 2] = best;
  targets[i * 2 + 1] = row[0] * row[1] + 0.5 * row[2]; // task 1: a regression
  mask[i * 2] = 1;
  mask[i * 2 + 1] = i % 4 === 0 ? 0 : 1; // a quarter of the regression labels are missing
}

let backend;
try {
  backend = await createBackend(backendName);
} catch (err) {
  if (!(err instanceof BackendUnavailableError)) throw err;
  console.error(`backend ${backendName} is not available here: ${err.message}`);
  process.exit(2);
}
console.log(`backend: ${backend.name}`);

// ---- layouts: built once, validated when built -----------------------------------------------
const heads = new HeadLayout('shared', [H, H], [CLASSES, 1]); // both heads read h: ONE GEMM
const losses = new LossLayout([
  { kind: 'softmax-ce', outOffset: 0, outWidth: CLASSES, tgtOffset: 0 },
  { kind: 'mse', outOffset: CLASSES, outWidth: 1, tgtOffset: 1 },
]);

// ---- one parameter arena, and views into it (view offsets are multiples of 64) --------------
const align = (n) => Math.ceil(n / 64) * 64;
const parts = { w1: H * D, b1: H, wh: heads.weightSize, bh: heads.totalOut };
const offsets = {};
let arenaSize = 0;
for (const [name, size] of Object.entries(parts)) {
  offsets[name] = arenaSize;
  arenaSize += align(size);
}
const init = new Float32Array(arenaSize); // He-initialised weights, zero biases
for (let k = 0; k < parts.w1; k++) init[offsets.w1 + k] = rng.normal() * Math.sqrt(2 / D);
for (let k = 0; k < parts.wh; k++) init[offsets.wh + k] = rng.normal() * Math.sqrt(1 / H);
const params = backend.upload(init, [arenaSize]);
const grads = backend.alloc([arenaSize]);
const adamM = backend.alloc([arenaSize]);
const adamV = backend.alloc([arenaSize]);
const views = (arena) => ({
  w1: backend.view(arena, offsets.w1, [H, D]), // W[out, in], as PyTorch
  b1: backend.view(arena, offsets.b1, [H]),
  wh: backend.view(arena, offsets.wh, [heads.weightSize]), // per-task blocks W_t[out_t, H]
  bh: backend.view(arena, offsets.bh, [heads.totalOut]),
});
const p = views(params);
const g = views(grads);

// ---- data and activations: allocated once, reused every step ---------------------------------
const x = backend.upload(xs, [N, D]);
const tgt = backend.upload(targets, [N, losses.totalTgt]);
const m = backend.upload(mask, [N, losses.tasks]);
const taskWeights = backend.upload(new Float32Array([1, 1]), [losses.tasks]);
const h = backend.alloc([N, H]);
const logits = backend.alloc([N, heads.totalOut]);
const dlogits = backend.alloc([N, heads.totalOut]);
const dh = backend.alloc([N, H]);
const lossValues = backend.alloc([losses.tasks]);

// Errors come before any kernel runs: a wrong shape is a ShapeError, and nothing was written.
try {
  backend.gemm(x, p.w1, logits, { transB: true });
} catch (err) {
  if (!(err instanceof ShapeError)) throw err;
  console.log(`shape checked first: ${err.constructor.name}`);
}

const report = Math.max(1, Math.floor(steps / 10));
for (let step = 1; step <= steps; step++) {
  // forward (= : activations are overwritten)
  backend.gemm(x, p.w1, h, { transB: true, bias: p.b1, activation: 'relu' }); // h = relu(x·W1ᵀ + b1)
  backend.headsForward(h, p.wh, p.bh, logits, heads); // logits[:, seg_t] = h·W_tᵀ + b_t
  backend.multiLoss(logits, tgt, m, taskWeights, losses, lossValues, dlogits);

  // backward (+= : parameter gradients accumulate, so zero them once per step)
  backend.fill(grads, 0);
  backend.headsBackward(h, p.wh, dlogits, dh, g.wh, g.bh, heads); // dh = Σ_t dy_t·W_t (=)
  backend.activationBackward('relu', h, dh, dh); // through the fused relu (dx may alias dy)
  backend.gemm(dh, x, g.w1, { transA: true, beta: 1 }); // dW1 += dhᵀ·x
  backend.biasGrad(dh, g.b1); // db1 += Σ_rows dh

  backend.adamwStep(params, grads, adamM, adamV, { lr: 0.01, weightDecay: 0, step }); // one call, whole arena

  if (step === 1 || step % report === 0 || step === steps) {
    const [ce, mse] = await backend.read(lossValues); // the only way back; waits for queued work
    console.log(`step ${String(step).padStart(4)}  softmax-ce ${ce.toFixed(4)}  mse ${mse.toFixed(4)}`);
  } else {
    await backend.throttle(); // GPU backends: keep the queue short when nothing is read
  }
}

// ---- ownership: free what we allocated (views need no free), then dispose --------------------
for (const t of [params, grads, adamM, adamV, x, tgt, m, taskWeights, h, logits, dlogits, dh]) backend.free(t);
try {
  await backend.read(lossValues);
  backend.free(lossValues);
  await backend.read(lossValues); // use after free
} catch (err) {
  if (!(err instanceof ValueError)) throw err;
  console.log(`use after free refused: ${err.constructor.name}`);
}
backend.dispose();
