/**
 * The channel-wise kernels (dropout2dForward, scaleChannels) on every backend present against
 * the reference, bit-exact: exact channel masks, out of place and in place (y = x, out = x).
 */
import { Rng } from '../../../ts/core/random.js';
import { EXACT, compareOp, describeParity, randomArray } from '../harness.js';

await describeParity('channels', ({ b, it }) => {
  const channelShapes: number[][] = [
    [1, 1, 1, 1],
    [3, 10, 7, 9],
    [17, 20, 8, 8],
    [256, 10, 12, 12],
    [5, 3, 1000],
  ];
  for (const shape of channelShapes) {
    const size = shape.reduce((p, d) => p * d, 1);
    const rows = shape[0] * shape[1];
    it(`dropout2d and scaleChannels, out of place and in place (y = x, out = x), over [${shape.join(', ')}]`, async () => {
      const rng = new Rng(size + rows);
      const x = randomArray(rng, size);
      for (const p of [0, 0.1, 0.5]) {
        for (const aliases of [{}, { y: 'x' }] as Record<string, string>[]) {
          await compareOp(b(), {
            what: `dropout2d p=${p}${'y' in aliases ? ', y = x' : ''}`,
            inputs: { x: { data: x, shape } },
            outputs: {
              y: { data: new Float32Array(size).fill(NaN), shape, tol: EXACT },
              mask: { data: new Float32Array(rows).fill(NaN), shape: [shape[0], shape[1]], tol: EXACT },
            },
            aliases,
            op: (be, t) => be.dropout2dForward(t.x, t.y, t.mask, p, 777 + size),
          });
        }
      }
      const s = randomArray(rng, rows, -2, 2);
      for (const aliases of [{}, { out: 'x' }] as Record<string, string>[]) {
        await compareOp(b(), {
          what: `scaleChannels${'out' in aliases ? ', out = x' : ''}`,
          inputs: { x: { data: x, shape }, s: { data: s, shape: [shape[0], shape[1]] } },
          outputs: { out: { data: new Float32Array(size).fill(NaN), shape, tol: EXACT } },
          aliases,
          op: (be, t) => be.scaleChannels(t.x, t.s, t.out),
        });
      }
    });
  }
  it('scaleChannels in place (out = x)', async () => {
    const x = new Float32Array(2 * 3 * 5).map((_, i) => i);
    await compareOp(b(), {
      what: 'scaleChannels, out = x',
      inputs: { x: { data: x, shape: [2, 3, 5] }, s: { data: Float32Array.from([1, -2, 0.5, 0, 3, 4]), shape: [2, 3] } },
      outputs: { out: { data: x, shape: [2, 3, 5], tol: EXACT } },
      aliases: { out: 'x' },
      op: (be, t) => be.scaleChannels(t.x, t.s, t.out),
    });
  });
});
