/**
 * The towers' passes without a copy or an add (TowerBody: soft sharing, cross-stitch): a tower
 * layer whose output is stacked (before a cross-stitch unit, or the last layer) writes its block
 * itself (Dense.forwardInto), a layer under a cross-stitch unit adds its input gradient into the
 * unit's zeroed dM blocks (Dense.backwardAccumulate), and the first layers add theirs into the
 * body's dL/dx, zeroed once. Checked against the path the towers took before (Dense's methods
 * removed: outputs copied, gradients copied / added) on the reference, cpu and webgpu, and those
 * against the reference, over training steps at batch sizes 17, 1, 3, 17 (stale rows beyond the batch
 * in the stacked buffers), with and without an embedding (whose tables are reached only
 * through dL/dx); towers ending or starting in a non-dense layer keep the copy / add; backend
 * calls counted per step.
 */
import assert from 'node:assert/strict';
import type { Backend } from '../../ts/backends/backend.js';
import { ReferenceBackend } from '../../ts/backends/reference.js';
import { MultiTaskModel } from '../../ts/mtl/model.js';
import type { SharingConfig } from '../../ts/mtl/sharing/index.js';
import { assertClose, backendsUnderTest } from '../backends/harness.js';
import {
  ACROSS,
  type Chain,
  type PassCalls,
  SAME_BACKEND,
  copyAndAddPath,
  loadPassesBatch,
  passesConfig,
  spyPasses,
  trainPasses,
} from './passes-harness.js';

const cpu = (await backendsUnderTest()).find((b) => b.name === 'cpu')?.backend ?? null;
const gpu = (await backendsUnderTest()).find((b) => b.name === 'webgpu')?.backend ?? null;
const backends = (): Backend[] => [new ReferenceBackend(), ...(cpu ? [cpu] : []), ...(gpu ? [gpu] : [])];

const SHARINGS: [string, SharingConfig][] = [
  ['soft', { kind: 'soft', penalty: 0.01 }],
  ['cross-stitch after every layer', { kind: 'cross-stitch' }],
  ['cross-stitch after layer 0', { kind: 'cross-stitch', after: [0] }],
];

const config = (sharing: SharingConfig, width: number, tower: Chain, embedding: boolean) => passesConfig(sharing, width, tower, embedding, 11);
const train = (be: Backend, cfg: ReturnType<typeof config>): Promise<Float32Array> => trainPasses(be, cfg, 30);

describe('the towers write their stacked outputs and add their input gradients in place', function () {
  this.timeout(300_000);

  for (const [name, sharing] of SHARINGS) {
    for (const embedding of [false, true]) {
      it(`${name}${embedding ? ' after an embedding' : ''}: trains to the parameters of the copy / add path (reference, cpu, webgpu) and cpu, webgpu to the reference's, widths 3 and 17, batches 17, 1, 3`, async () => {
        for (const width of [3, 17]) {
          const cfg = config(sharing, width, 'dense', embedding);
          const initial = new MultiTaskModel(new ReferenceBackend(), cfg);
          const fresh = await initial.backend.read(initial.params.values);
          const results: Float32Array[] = [];
          const list = backends();
          for (const be of list) {
            const now = await train(be, cfg);
            assertClose(now, await copyAndAddPath(() => train(be, cfg)), SAME_BACKEND, `${name} width ${width} on ${be.name}: against the copy / add path`);
            results.push(now);
          }
          for (const [i, r] of results.entries()) if (i > 0) assertClose(r, results[0], ACROSS, `${name} width ${width}: ${list[i].name} against the reference`);
          // Every weight moved: the towers, the cross-stitch units and, with an embedding, its tables (reached only through dL/dx).
          for (const p of initial.params.parameters) {
            if (p.name.endsWith('.bias')) continue;
            const moved = results[0].subarray(p.offset, p.offset + p.size).some((v, i) => Math.abs(v - fresh[p.offset + i]) > 1e-7);
            assert.ok(moved, `${p.name} moved`);
          }
        }
      });
    }
  }

  for (const tower of ['dropout last', 'activation first'] as const) {
    it(`towers with a non-dense ${tower === 'dropout last' ? 'last' : 'first'} layer (${tower}) keep the ${tower === 'dropout last' ? 'copy' : 'copy / add'} and the same parameters (soft, cross-stitch; after an embedding; reference, cpu, webgpu)`, async () => {
      for (const [name, sharing] of SHARINGS) {
        const cfg = config(sharing, 17, tower, true);
        const results: Float32Array[] = [];
        const list = backends();
        for (const be of list) {
          const now = await train(be, cfg);
          assertClose(now, await copyAndAddPath(() => train(be, cfg)), SAME_BACKEND, `${name}, ${tower}, ${be.name}: against the copy / add path`);
          results.push(now);
        }
        for (const [i, r] of results.entries()) if (i > 0) assertClose(r, results[0], ACROSS, `${name}, ${tower}: ${list[i].name} against the reference`);
      }
    });
  }

  it('one training step: copies and adds per step for dense towers, the old path, and non-dense towers (3 tasks, after an embedding)', async () => {
    for (const be of backends()) {
      const calls: PassCalls = { copy: 0, add: 0, fill: 0 };
      const spied = spyPasses(be, calls);
      const count = async (sharing: SharingConfig, tower: Chain, old = false): Promise<PassCalls> => {
        const step = async (): Promise<PassCalls> => {
          const model = new MultiTaskModel(spied, config(sharing, 5, tower, true));
          loadPassesBatch(model, 3, 1);
          model.forwardBackward(3, { training: true, seed: 1 }); // warm-up
          calls.copy = calls.add = calls.fill = 0;
          model.forwardBackward(3, { training: true, seed: 2 });
          return { ...calls };
        };
        return old ? copyAndAddPath(step) : step();
      };
      const [soft, stitchAll, stitch0] = SHARINGS.map(([, s]) => s);
      const at = (s: string): string => `${be.name}: ${s}`;
      // Soft: before, the 3 last layers' outputs copied into the stacked output and dL/dx = copy + 2 adds; now one fill of dx.
      const softOld = await count(soft, 'dense', true);
      assert.deepEqual(await count(soft, 'dense'), { copy: 0, add: 0, fill: softOld.fill + 1 }, at('soft, dense towers'));
      assert.deepEqual({ copy: softOld.copy, add: softOld.add }, { copy: 3 + 1, add: 2 }, at('soft, the copy / add path'));
      // Cross-stitch after both layers: before, 3 copies into each unit's input, 3 into each dM, dx 1 copy + 2 adds;
      // now only the top unit's dM takes the caller's gradient (3 copies).
      const allOld = await count(stitchAll, 'dense', true);
      assert.deepEqual({ copy: allOld.copy, add: allOld.add }, { copy: 6 + 6 + 1, add: 2 }, at('cross-stitch (every layer), the copy / add path'));
      assert.deepEqual(await count(stitchAll, 'dense'), { copy: 3, add: 0, fill: allOld.fill + 1 }, at('cross-stitch (every layer), dense towers'));
      // Cross-stitch after layer 0 only: before, 3 copies into the unit, 3 into the output, 3 into dM, dx 1 + 2; now none.
      const oneOld = await count(stitch0, 'dense', true);
      assert.deepEqual({ copy: oneOld.copy, add: oneOld.add }, { copy: 9 + 1, add: 2 }, at('cross-stitch after layer 0, the copy / add path'));
      assert.deepEqual(await count(stitch0, 'dense'), { copy: 0, add: 0, fill: oneOld.fill + 1 }, at('cross-stitch after layer 0, dense towers'));
      // Non-dense ends keep their copies / adds: dropout last copies its output; an activation first copies + adds into dx.
      assert.deepEqual(await count(soft, 'dropout last'), { copy: 3, add: 0, fill: softOld.fill + 1 }, at('soft, towers ending in dropout'));
      assert.deepEqual(await count(soft, 'activation first'), { copy: 1, add: 2, fill: softOld.fill }, at('soft, towers starting with an activation'));
      assert.deepEqual(await count(stitchAll, 'activation first'), { copy: 3 + 3 + 1, add: 2, fill: allOld.fill }, at('cross-stitch, towers starting with an activation'));
      spied.restore();
    }
  });
});
