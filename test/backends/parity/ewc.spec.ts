/**
 * The fused EWC penalty gradient (ewcPenalty: g += λ·F ⊙ (p − θ*)) on every backend present
 * against the reference, over the awkward sizes and several λ (0 leaves g exactly as it was);
 * NaN in any input making its g NaN (and no other); the op table's checks before any kernel.
 * The reference itself is checked against the formula here and by finite differences in
 * reference-gradcheck.spec.ts.
 */
import assert from 'node:assert/strict';
import { Rng } from '../../../ts/core/random.js';
import { ShapeError, ValueError } from '../../../ts/errors.js';
import { AWKWARD, ELEMENTWISE, compareOp, describeParity, nanAt, randomArray, referenceBackend, withNaN } from '../harness.js';

describe('ewcPenalty on the reference', () => {
  it('adds λ·F·(p − θ*) to g, element by element, in f32', async () => {
    const ref = referenceBackend;
    const p = ref.upload(Float32Array.of(1, -2, 0.5, 3), [4]);
    const a = ref.upload(Float32Array.of(0, 1, 0.5, -1), [4]);
    const f = ref.upload(Float32Array.of(2, 0.25, 7, 0), [4]);
    const g = ref.upload(Float32Array.of(0.1, 0.2, 0.3, 0.4), [4]);
    ref.ewcPenalty(p, a, f, g, 4);
    assert.deepEqual([...(await ref.read(g))], [0.1 + 8, 0.2 - 3, 0.3, 0.4].map(Math.fround));
  });

  it('rejects mismatched sizes and a negative or non-finite λ before anything is written', async () => {
    const ref = referenceBackend;
    const t = (n: number) => ref.upload(new Float32Array(n).fill(1), [n]);
    const g = t(3);
    assert.throws(() => ref.ewcPenalty(t(3), t(3), t(4), g, 1), ShapeError);
    assert.throws(() => ref.ewcPenalty(t(3), t(3), t(3), g, -1), ValueError);
    assert.throws(() => ref.ewcPenalty(t(3), t(3), t(3), g, Infinity), ValueError);
    assert.throws(() => ref.ewcPenalty(t(3), t(3), t(3), g, NaN), ValueError);
    assert.deepEqual([...(await ref.read(g))], [1, 1, 1]);
  });
});

await describeParity('ewc', ({ b, it }) => {
  for (const n of AWKWARD) {
    it(`g += λ·F ⊙ (p − θ*) over ${n} parameters, λ ∈ {0, 0.5, 1e4}`, async () => {
      const rng = new Rng(n + 7);
      const p = randomArray(rng, n);
      const anchor = randomArray(rng, n);
      const fisher = randomArray(rng, n, 0, 1);
      const g = randomArray(rng, n);
      for (const lambda of [0, 0.5, 1e4]) {
        const got = await compareOp(b(), {
          what: `ewcPenalty λ=${lambda}`,
          inputs: { p: { data: p, shape: [n] }, anchor: { data: anchor, shape: [n] }, fisher: { data: fisher, shape: [n] } },
          // λ = 1e4 scales the terms to ~1e4: the tolerance is relative to each output.
          outputs: { g: { data: g, shape: [n], tol: ELEMENTWISE } },
          op: (be, t) => be.ewcPenalty(t.p, t.anchor, t.fisher, t.g, lambda),
        });
        if (lambda === 0) assert.deepEqual([...got.g], [...g], 'λ = 0 leaves g unchanged');
      }
    });
  }

  describe('NaN in, NaN out', () => {
    it('a NaN in p, θ*, F or g makes that element of g NaN, and no other', async () => {
      const n = 37;
      const rng = new Rng(61);
      const at = { p: [0], anchor: [11], fisher: [20], g: [36] };
      const { g } = await compareOp(b(), {
        what: 'ewcPenalty with NaN inputs',
        inputs: {
          p: { data: withNaN(randomArray(rng, n), at.p), shape: [n] },
          anchor: { data: withNaN(randomArray(rng, n), at.anchor), shape: [n] },
          fisher: { data: withNaN(randomArray(rng, n, 0, 1), at.fisher), shape: [n] },
        },
        outputs: { g: { data: withNaN(randomArray(rng, n), at.g), shape: [n], tol: ELEMENTWISE } },
        op: (be, t) => be.ewcPenalty(t.p, t.anchor, t.fisher, t.g, 2),
      });
      const nan = [...at.p, ...at.anchor, ...at.fisher, ...at.g];
      nanAt(g, nan, 'ewc g');
      for (let i = 0; i < n; i++) if (!nan.includes(i)) assert.ok(Number.isFinite(g[i]), `g[${i}] finite`);
    });
  });
});
