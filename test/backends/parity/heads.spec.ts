/**
 * The fused task heads (headsForward, headsBackward with per-task dx) on every backend present
 * against the reference: shared, segmented and stacked layouts of 1 to 8 tasks, batches 1, 17,
 * 255, GEMM tolerances (mm: TF32 on cuda); W1's heads (shared 256→(10, 10), batch 256) backward
 * without per-task dx (the cpu runs its dW and dx GEMMs as one hand-off); and a NaN in a row of x
 * reaching that row of every head.
 */
import { type Activation, HeadLayout } from '../../../ts/backends/backend.js';
import { Rng } from '../../../ts/core/random.js';
import { compareOp, describeParity, gemmTol, nanAt, randomArray, withNaN } from '../harness.js';

await describeParity('heads', ({ b, mm, it }) => {
  const layouts: [string, HeadLayout][] = [
    ['1 task, shared 1→1', new HeadLayout('shared', [1], [1])],
    ['2 tasks, shared 256→10', new HeadLayout('shared', [256, 256], [10, 10])],
    ['3 tasks, shared 17→(3,1,255)', new HeadLayout('shared', [17, 17, 17], [3, 1, 255])],
    ['8 tasks, shared 255→10', new HeadLayout('shared', Array(8).fill(255), Array(8).fill(10))],
    ['3 tasks, segmented (17,3,50)→(10,1,3)', new HeadLayout('segmented', [17, 3, 50], [10, 1, 3])],
    ['2 tasks, segmented (1000,1)→(17,255)', new HeadLayout('segmented', [1000, 1], [17, 255])],
    ['3 tasks, stacked 17→(10,1,3), stride 255·17 padded', new HeadLayout('stacked', [17, 17, 17], [10, 1, 3], 4352)],
    ['2 tasks, stacked 3→(255,17), stride 768', new HeadLayout('stacked', [3, 3], [255, 17], 768)],
  ];
  for (const [label, layout] of layouts) {
    for (const n of [1, 17, 255]) {
      it(`${label}, batch ${n}: forward, backward, per-task dx`, async () => {
        const rng = new Rng(n * 31 + layout.totalOut);
        const xShape = layout.input === 'stacked' ? [layout.tasks, layout.stride] : [n, layout.totalIn];
        const x = randomArray(rng, layout.inputSize(n));
        const w = randomArray(rng, layout.weightSize, -0.5, 0.5);
        const bias = randomArray(rng, layout.totalOut);
        const k = Math.max(...layout.inSizes);
        for (const activation of ['none', 'relu'] as Activation[]) {
          await compareOp(b(), {
            what: `headsForward ${activation}`,
            inputs: {
              x: { data: x, shape: xShape },
              w: { data: w, shape: [layout.weightSize] },
              b: { data: bias, shape: [layout.totalOut] },
            },
            outputs: { y: { data: new Float32Array(n * layout.totalOut), shape: [n, layout.totalOut], tol: mm(k) } },
            op: (be, t) => be.headsForward(t.x, t.w, t.b, t.y, layout, activation),
          });
        }
        const outputs: Parameters<typeof compareOp>[1]['outputs'] = {
          dx: { data: randomArray(rng, layout.inputSize(n)), shape: xShape, tol: mm(layout.totalOut) },
          dw: { data: randomArray(rng, layout.weightSize), shape: [layout.weightSize], tol: mm(n) },
          db: { data: randomArray(rng, layout.totalOut), shape: [layout.totalOut], tol: gemmTol(n) },
        };
        if (layout.sharedInput) {
          outputs.per = {
            data: new Float32Array(layout.tasks * n * layout.totalIn),
            shape: [layout.tasks, n, layout.totalIn],
            tol: mm(layout.totalOut),
          };
        }
        await compareOp(b(), {
          what: 'headsBackward',
          inputs: {
            x: { data: x, shape: xShape },
            w: { data: w, shape: [layout.weightSize] },
            dy: { data: randomArray(rng, n * layout.totalOut), shape: [n, layout.totalOut] },
          },
          outputs,
          op: (be, t) => be.headsBackward(t.x, t.w, t.dy, t.dx, t.dw, t.db, layout, t.per ?? null),
        });
      });
    }
  }

  it('shared 256→(10, 10), batch 256, backward without per-task dx (W1\'s heads; on cpu dW and dx run as one hand-off)', async () => {
    const layout = new HeadLayout('shared', [256, 256], [10, 10]);
    const n = 256;
    const rng = new Rng(2560);
    await compareOp(b(), {
      what: 'headsBackward',
      inputs: {
        x: { data: randomArray(rng, n * 256), shape: [n, 256] },
        w: { data: randomArray(rng, layout.weightSize, -0.5, 0.5), shape: [layout.weightSize] },
        dy: { data: randomArray(rng, n * 20), shape: [n, 20] },
      },
      outputs: {
        dx: { data: randomArray(rng, n * 256), shape: [n, 256], tol: mm(20) },
        dw: { data: randomArray(rng, layout.weightSize), shape: [layout.weightSize], tol: mm(n) },
        db: { data: randomArray(rng, 20), shape: [20], tol: gemmTol(n) },
      },
      op: (be, t) => be.headsBackward(t.x, t.w, t.dy, t.dx, t.dw, t.db, layout, null),
    });
  });

  describe('NaN in, NaN out', () => {
    it('fused heads forward (relu, tanh): a NaN in a row of x gives NaN in that row of every head', async () => {
      const layout = new HeadLayout('shared', [17, 17], [10, 3]);
      const n = 5;
      const rng = new Rng(55);
      const x = withNaN(randomArray(rng, n * 17), [2 * 17 + 4]); // row 2
      for (const activation of ['relu', 'tanh'] as Activation[]) {
        const { y } = await compareOp(b(), {
          what: `headsForward ${activation} with NaN`,
          inputs: {
            x: { data: x, shape: [n, 17] },
            w: { data: randomArray(rng, layout.weightSize, -0.5, 0.5), shape: [layout.weightSize] },
            b: { data: randomArray(rng, layout.totalOut), shape: [layout.totalOut] },
          },
          outputs: { y: { data: new Float32Array(n * layout.totalOut), shape: [n, layout.totalOut], tol: mm(17) } },
          op: (be, t) => be.headsForward(t.x, t.w, t.b, t.y, layout, activation),
        });
        nanAt(y, Array.from({ length: layout.totalOut }, (_, j) => 2 * layout.totalOut + j), `headsForward ${activation}`);
      }
    });
  });
});
