/**
 * The experts' passes without a copy or an add (ExpertBody: MMoE, CGC, OMoE; PleBody): each
 * expert chain writes its block of the stacked outputs itself (Sequential.forwardInto, a dense
 * last layer's GEMM writing there) and adds its dL/dx into the body's input gradient itself
 * (Sequential.backwardAccumulate, a dense first layer's GEMM with beta 1). Checked against the
 * path every chain took before (Dense's forwardInto / backwardAccumulate removed: the chain's
 * output copied, its input gradient computed into its own buffer and added), on the reference
 * and cpu, and cpu against the reference, over training steps at batch sizes 1, 3 and 17 and
 * widths 3 and 17, with and without an embedding (whose table gradient is the body's dL/dx);
 * chains ending or starting in a non-dense layer (dropout, a standalone activation) keep the
 * copy / add and the same results; backend calls counted (no copy or add from the experts);
 * squared per-sample gradients (the Fisher's batch path) with the input gradient accumulated;
 * Sequential.backwardAccumulate against backward + add, gradientsReady told the same offsets.
 */
import assert from 'node:assert/strict';
import type { Backend } from '../../ts/backends/backend.js';
import { ReferenceBackend } from '../../ts/backends/reference.js';
import { Rng } from '../../ts/core/random.js';
import type { ExpertBody } from '../../ts/mtl/experts.js';
import { type LayerSpec, MultiTaskModel, buildLayer } from '../../ts/mtl/model.js';
import type { SharingConfig } from '../../ts/mtl/sharing/index.js';
import { ParameterStore } from '../../ts/nn/parameters.js';
import { Sequential } from '../../ts/nn/sequential.js';
import { EXACT, assertClose, backendsUnderTest } from '../backends/harness.js';
import {
  type Chain as Trunk,
  F,
  ACROSS,
  type PassCalls,
  SAME_BACKEND,
  copyAndAddPath,
  loadPassesBatch as loadBatch,
  passesConfig as config,
  spyPasses,
  trainPasses as train,
} from './passes-harness.js';

const cpu = (await backendsUnderTest()).find((b) => b.name === 'cpu')?.backend ?? null;

const SHARINGS: SharingConfig[] = [
  { kind: 'mmoe', experts: 3 },
  { kind: 'cgc', shared: 1, perTask: 2 },
  { kind: 'omoe', experts: 2 },
  { kind: 'ple', levels: 2, shared: 2, perTask: 1 },
];

describe('the experts write their stacked outputs and add their input gradients in place', function () {
  this.timeout(300_000);

  for (const sharing of SHARINGS) {
    for (const embedding of [false, true]) {
      it(`${sharing.kind}${embedding ? ' after an embedding' : ''}: trains to the parameters of the copy / add path (reference, cpu) and cpu to the reference's, widths 3 and 17, batches 17, 1, 3`, async () => {
        const backends: [string, Backend][] = [['reference', new ReferenceBackend()], ...(cpu ? [['cpu', cpu] as [string, Backend]] : [])];
        for (const width of [3, 17]) {
          const cfg = config(sharing, width, 'dense', embedding);
          const initial = new MultiTaskModel(new ReferenceBackend(), cfg);
          const fresh = await initial.backend.read(initial.params.values);
          const results: Float32Array[] = [];
          for (const [name, be] of backends) {
            const now = await train(be, cfg);
            const before = await copyAndAddPath(() => train(be, cfg));
            assertClose(now, before, SAME_BACKEND, `${sharing.kind} width ${width} on ${name}: parameters against the copy / add path`);
            results.push(now);
          }
          if (results.length > 1) assertClose(results[1], results[0], ACROSS, `${sharing.kind} width ${width}: cpu against the reference`);
          // Training moved every part: the experts, and with an embedding its tables (reached only through the body's dL/dx).
          for (const p of initial.params.parameters) {
            if (p.name.includes('.bias') || p.name.includes('gates')) continue; // gate biases may stay tiny; weights must move
            const moved = results[0].subarray(p.offset, p.offset + p.size).some((v, i) => Math.abs(v - fresh[p.offset + i]) > 1e-7);
            assert.ok(moved, `${p.name} moved`);
          }
        }
      });
    }
  }

  for (const trunk of ['dropout last', 'activation first'] as const) {
    it(`a chain with a non-dense ${trunk === 'dropout last' ? 'last' : 'first'} layer (${trunk}) keeps the ${trunk === 'dropout last' ? 'copy' : 'add'} and the same parameters (MMoE, PLE; after an embedding; reference, cpu)`, async () => {
      for (const sharing of [SHARINGS[0], SHARINGS[3]]) {
        const cfg = config(sharing, 17, trunk, true);
        const results: Float32Array[] = [];
        for (const be of [new ReferenceBackend(), ...(cpu ? [cpu] : [])]) {
          const now = await train(be, cfg);
          assertClose(now, await copyAndAddPath(() => train(be, cfg)), SAME_BACKEND, `${sharing.kind}, ${trunk}: against the copy / add path`);
          results.push(now);
        }
        if (results.length > 1) assertClose(results[1], results[0], ACROSS, `${sharing.kind}, ${trunk}: cpu against the reference`);
      }
    });
  }

  it('one training step makes no copy and no add for dense experts; E copies / E adds where the chains end / start in a non-dense layer', async () => {
    for (const be of [new ReferenceBackend(), ...(cpu ? [cpu] : [])]) {
      const calls: PassCalls = { copy: 0, add: 0, fill: 0 };
      const spied = spyPasses(be, calls);
      const count = async (sharing: SharingConfig, trunk: Trunk, old = false): Promise<{ copy: number; add: number }> => {
        const step = async (): Promise<{ copy: number; add: number }> => {
          const model = new MultiTaskModel(spied, config(sharing, 5, trunk, true));
          loadBatch(model, 3, 1);
          model.forwardBackward(3, { training: true, seed: 1 }); // warm-up: every view made
          calls.copy = calls.add = 0;
          model.forwardBackward(3, { training: true, seed: 2 });
          return { copy: calls.copy, add: calls.add };
        };
        return old ? copyAndAddPath(step) : step();
      };
      try {
        // MMoE, 3 experts after an embedding (the body's dL/dx needed): none of either now; before, one copy and one add per expert.
        assert.deepEqual(await count(SHARINGS[0], 'dense'), { copy: 0, add: 0 }, `${be.name}: mmoe, dense experts`);
        assert.deepEqual(await count(SHARINGS[0], 'dense', true), { copy: 3, add: 3 }, `${be.name}: mmoe, the copy / add path`);
        assert.deepEqual(await count(SHARINGS[1], 'dense'), { copy: 0, add: 0 }, `${be.name}: cgc, dense experts`);
        // PLE, 2 levels of 2 shared + 1 per task (5 experts each): level 1's experts add into the blocks of level 0's outputs they read.
        assert.deepEqual(await count(SHARINGS[3], 'dense'), { copy: 0, add: 0 }, `${be.name}: ple, dense experts`);
        assert.deepEqual(await count(SHARINGS[3], 'dense', true), { copy: 10, add: 10 }, `${be.name}: ple, the copy / add path`);
        assert.deepEqual(await count(SHARINGS[0], 'dropout last'), { copy: 3, add: 0 }, `${be.name}: mmoe, experts ending in dropout`);
        assert.deepEqual(await count(SHARINGS[0], 'activation first'), { copy: 0, add: 3 }, `${be.name}: mmoe, experts starting with an activation`);
      } finally {
        spied.restore(); // even when an assertion fails: the backend is this file's, used by the next test
      }
    }
  });

  it("squared per-sample gradients (the Fisher's batch path) with dL/dx accumulated: the same squares and dx as the copy / add path, cpu as the reference", async () => {
    const cfg = config({ kind: 'mmoe', experts: 3 }, 17, 'dense', false);
    const run = async (be: Backend): Promise<{ squares: Float32Array; dx: Float32Array }> => {
      const model = new MultiTaskModel(be, cfg);
      const body = model.body as ExpertBody;
      const rng = new Rng(5);
      const n = 13;
      const x = be.upload(rng.uniformArray(n * F, -1, 1), [n, F]);
      const out = body.forward(x, n, { training: false, seed: 1 });
      const dOut = be.upload(rng.uniformArray(out.shape.reduce((a, b) => a * b, 1), -1, 1), out.shape);
      const arena = be.alloc(model.params.grads.shape);
      be.fill(arena, 0);
      const dx = be.upload(new Float32Array(n * F).fill(7), [n, F]); // stale: the gates' part is written (=) first
      body.squaredGradients(arena);
      body.backward(dOut, n, dx);
      body.squaredGradients(null);
      return { squares: await be.read(arena), dx: await be.read(dx) };
    };
    const results = [];
    for (const be of [new ReferenceBackend(), ...(cpu ? [cpu] : [])]) {
      const now = await run(be);
      const before = await copyAndAddPath(() => run(be));
      assertClose(now.squares, before.squares, SAME_BACKEND, `${be.name}: squares against the copy / add path`);
      assertClose(now.dx, before.dx, SAME_BACKEND, `${be.name}: dx against the copy / add path`);
      results.push(now);
    }
    const model = new MultiTaskModel(new ReferenceBackend(), cfg);
    for (const p of model.params.parameters.filter((q) => q.name.startsWith('experts.'))) {
      assert.ok(results[0].squares.subarray(p.offset, p.offset + p.size).some((v) => v > 0), `${p.name}: squares accumulated`);
    }
    assert.ok(results[0].dx.every((v) => Number.isFinite(v) && v !== 7), 'dx written');
    if (results.length > 1) {
      assertClose(results[1].squares, results[0].squares, ACROSS, 'squares: cpu against the reference');
      assertClose(results[1].dx, results[0].dx, ACROSS, 'dx: cpu against the reference');
    }
  });

  it("Sequential.backwardAccumulate: backward's parameter gradients, dL/dx added to what dx held, and gradientsReady told the same offsets (first layer dense or an activation)", async () => {
    const chains: [string, LayerSpec[]][] = [
      ['dense first', [{ type: 'dense', units: 4, activation: 'tanh' }, { type: 'activation', activation: 'relu' }, { type: 'dense', units: 3, activation: 'relu' }]],
      ['activation first', [{ type: 'activation', activation: 'tanh' }, { type: 'dense', units: 4, activation: 'relu' }, { type: 'dense', units: 3, activation: 'tanh' }]],
    ];
    for (const [name, specs] of chains) {
      const run = async (accumulate: boolean): Promise<{ told: number[]; grads: Float32Array; dx: Float32Array; out: Float32Array }> => {
        const be = new ReferenceBackend();
        const params = new ParameterStore();
        const chain = new Sequential(specs.map(buildLayer), 'experts.0');
        chain.build({ params, prefix: 'experts.0', maxBatch: 5 }, [6]);
        params.allocate(be, new Rng(3));
        chain.allocate(be, 5);
        const told: number[] = [];
        chain.gradientsReady = (from) => told.push(from);
        const rng = new Rng(4);
        const out = be.alloc([5, 3]);
        chain.forwardInto(be.upload(rng.uniformArray(5 * 6, -1, 1), [5, 6]), 5, { training: true, seed: 1 }, out);
        const dy = be.upload(rng.uniformArray(5 * 3, -1, 1), [5, 3]);
        const dx = be.upload(rng.uniformArray(5 * 6, -1, 1), [5, 6]); // what dx held: added to, not overwritten
        if (accumulate) chain.backwardAccumulate(dy, 5, dx);
        else be.add(dx, chain.backward(dy, 5, true)!, dx);
        return { told, grads: await be.read(params.grads), dx: await be.read(dx), out: await be.read(out) };
      };
      const [now, before] = [await run(true), await copyAndAddPath(() => run(false))];
      assert.deepEqual(now.told, before.told, `${name}: gradientsReady offsets`);
      assert.equal(now.told.length, 2, `${name}: told once per layer with parameters (${now.told.join(', ')})`);
      assertClose(now.out, before.out, EXACT, `${name}: forwardInto's output`);
      assertClose(now.grads, before.grads, SAME_BACKEND, `${name}: parameter gradients`);
      assertClose(now.dx, before.dx, SAME_BACKEND, `${name}: dx`);
    }
  });
});
