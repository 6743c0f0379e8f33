/**
 * The elementwise kernels (activations forward and backward, biasGrad, mul, add, dropout) on
 * every backend present against the reference, over the awkward sizes: ELEMENTWISE tolerance
 * (1e-5 relative, about 80 f32 ulps), exact dropout masks, biasGrad as a sum over rows
 * (gemmTol), NaN in NaN out, and in place wherever the contract lets an output alias an input.
 */
import { ACTIVATIONS, type Activation } from '../../../ts/backends/backend.js';
import { Rng } from '../../../ts/core/random.js';
import {
  AWKWARD,
  ELEMENTWISE,
  EXACT,
  type OpCase,
  compareOp,
  describeParity,
  gemmTol,
  nanAt,
  randomArray,
  referenceBackend,
  withNaN,
} from '../harness.js';

/** y = act(x) on the reference, to feed a backward case. */
async function activation(kind: Activation, x: Float32Array): Promise<Float32Array> {
  const ref = referenceBackend;
  const y = ref.alloc([x.length]);
  ref.activationForward(kind, ref.upload(x, [x.length]), y);
  return ref.read(y);
}

await describeParity('elementwise', ({ b, it }) => {
  for (const kind of ACTIVATIONS) {
    for (const n of AWKWARD) {
      it(`activation ${kind} forward + backward, ${n} elements`, async () => {
        const rng = new Rng(n);
        const x = randomArray(rng, n, -4, 4);
        const { y } = await compareOp(b(), {
          what: `${kind} forward`,
          inputs: { x: { data: x, shape: [n] } },
          outputs: { y: { data: new Float32Array(n), shape: [n], tol: ELEMENTWISE } },
          op: (be, t) => be.activationForward(kind, t.x, t.y),
        });
        await compareOp(b(), {
          what: `${kind} backward`,
          inputs: {
            x: { data: x, shape: [n] },
            y: { data: Float32Array.from(y), shape: [n] },
            dy: { data: randomArray(rng, n), shape: [n] },
          },
          outputs: { dx: { data: new Float32Array(n), shape: [n], tol: ELEMENTWISE } },
          op: (be, t) => be.activationBackward(kind, t.y, t.dy, t.dx, t.x),
        });
      });
    }
  }
  for (const [rows, cols] of [
    [1, 1],
    [3, 17],
    [1000, 3],
    [255, 1000],
    [17, 255],
    [256, 512], // W1's first layer: two column strips
  ]) {
    it(`biasGrad accumulates over ${rows}×${cols}`, async () => {
      const rng = new Rng(rows * cols);
      await compareOp(b(), {
        what: 'biasGrad',
        inputs: { dy: { data: randomArray(rng, rows * cols), shape: [rows, cols] } },
        outputs: { db: { data: randomArray(rng, cols), shape: [cols], tol: gemmTol(rows) } },
        op: (be, t) => be.biasGrad(t.dy, t.db),
      });
    });
  }
  for (const n of AWKWARD) {
    it(`mul, add and dropout (exact masks), ${n} elements`, async () => {
      const rng = new Rng(n + 1);
      await compareOp(b(), {
        what: 'mul',
        inputs: { a: { data: randomArray(rng, n), shape: [n] }, b: { data: randomArray(rng, n), shape: [n] } },
        outputs: { out: { data: new Float32Array(n), shape: [n], tol: ELEMENTWISE } },
        op: (be, t) => be.mul(t.a, t.b, t.out),
      });
      await compareOp(b(), {
        what: 'add',
        inputs: { a: { data: randomArray(rng, n), shape: [n] }, b: { data: randomArray(rng, n), shape: [n] } },
        outputs: { out: { data: new Float32Array(n), shape: [n], tol: ELEMENTWISE } },
        op: (be, t) => be.add(t.a, t.b, t.out),
      });
      for (const p of [0, 0.1, 0.5]) {
        await compareOp(b(), {
          what: `dropout p=${p}`,
          inputs: { x: { data: randomArray(rng, n), shape: [n] } },
          outputs: {
            y: { data: new Float32Array(n), shape: [n], tol: ELEMENTWISE },
            mask: { data: new Float32Array(n), shape: [n], tol: EXACT },
          },
          op: (be, t) => be.dropoutForward(t.x, t.y, t.mask, p, 12345 + n),
        });
      }
    });
  }

  describe('in place, where the contract lets an output alias an input', () => {
    for (const n of AWKWARD) {
      it(`activations (y = x, dx = dy), mul and add (out = a, out = b, out = a = b), dropout (y = x), ${n} elements`, async () => {
        const rng = new Rng(n + 2);
        const x = randomArray(rng, n, -4, 4);
        const dy = randomArray(rng, n);
        for (const kind of ACTIVATIONS) {
          await compareOp(b(), {
            what: `${kind} forward, y = x`,
            inputs: { x: { data: x, shape: [n] } },
            outputs: { y: { data: x, shape: [n], tol: ELEMENTWISE } },
            aliases: { y: 'x' },
            op: (be, t) => be.activationForward(kind, t.x, t.y),
          });
          await compareOp(b(), {
            what: `${kind} backward, dx = dy`,
            inputs: { x: { data: x, shape: [n] }, y: { data: await activation(kind, x), shape: [n] }, dy: { data: dy, shape: [n] } },
            outputs: { dx: { data: dy, shape: [n], tol: ELEMENTWISE } },
            aliases: { dx: 'dy' },
            op: (be, t) => be.activationBackward(kind, t.y, t.dy, t.dx, t.x),
          });
        }
        const inputs: OpCase['inputs'] = { a: { data: x, shape: [n] }, b: { data: dy, shape: [n] } };
        for (const kernel of ['mul', 'add'] as const) {
          for (const [label, into, second] of [
            ['out = a', 'a', 'b'],
            ['out = b', 'b', 'b'],
            ['out = a = b', 'a', 'a'],
          ] as const) {
            await compareOp(b(), {
              what: `${kernel}, ${label}`,
              inputs,
              outputs: { out: { data: inputs[into].data, shape: [n], tol: ELEMENTWISE } },
              aliases: { out: into },
              op: (be, t) => be[kernel](t.a, t[second], t.out),
            });
          }
        }
        for (const p of [0, 0.5]) {
          await compareOp(b(), {
            what: `dropout p=${p}, y = x`,
            inputs: { x: { data: x, shape: [n] } },
            outputs: { y: { data: x, shape: [n], tol: ELEMENTWISE }, mask: { data: new Float32Array(n), shape: [n], tol: EXACT } },
            aliases: { y: 'x' },
            op: (be, t) => be.dropoutForward(t.x, t.y, t.mask, p, 54321 + n),
          });
        }
      });
    }
  });

  describe('NaN in, NaN out', () => {
    for (const kind of ACTIVATIONS) {
      it(`activation ${kind}: forward of NaN is NaN; backward of a NaN dy is NaN`, async () => {
        const n = 37; // NaN in the first vector, in the middle, and in the masked tail
        const rng = new Rng(37);
        const xNaN = [0, 17, 36];
        const x = withNaN(randomArray(rng, n, -4, 4), xNaN);
        x[3] = -2; // relu: a NaN dy where y = 0 must stay NaN (dy·0)
        x[20] = 2;
        const { y } = await compareOp(b(), {
          what: `${kind} forward with NaN`,
          inputs: { x: { data: x, shape: [n] } },
          outputs: { y: { data: new Float32Array(n), shape: [n], tol: ELEMENTWISE } },
          op: (be, t) => be.activationForward(kind, t.x, t.y),
        });
        nanAt(y, xNaN, `${kind} forward`);
        const dyNaN = [3, 20];
        const { dx } = await compareOp(b(), {
          what: `${kind} backward with NaN`,
          inputs: {
            x: { data: x, shape: [n] },
            y: { data: Float32Array.from(y), shape: [n] },
            dy: { data: withNaN(randomArray(rng, n), dyNaN), shape: [n] },
          },
          outputs: { dx: { data: new Float32Array(n), shape: [n], tol: ELEMENTWISE } },
          op: (be, t) => be.activationBackward(kind, t.y, t.dy, t.dx, t.x),
        });
        nanAt(dx, dyNaN, `${kind} backward`);
      });
    }
  });
});
