/**
 * The gated mixture of experts (shaders/mixture.wgsl) on WebGPU.
 *
 * Forward = gates (softmax per row and task) + combine; backward = expert grads (dx,
 * a gather over the gate columns that use each expert) + gate grads (dz through the softmax):
 * two launches each. Per-task sizes and expert lists live in a small table uploaded once per
 * distinct layout (cached; a steady-state step uploads nothing) and bound read-only, so a
 * layout of any size fits.
 */
import { packedOf } from '../packed.js';
import type { MixtureLayout } from '../backend.js';
import { type Bound, family, type GpuRuntime, type GpuTensor, grid } from './runtime.js';

const K = family('mixture', { gates: 'rwr', combine: 'rrwr', expert_grads: 'rrwr', gate_grads: 'rrrwr' });

interface LayoutTable {
  table: Bound;
  /** Word offsets of the per-expert index and of the (task, column) list. */
  inv: number;
  list: number;
}

export class MixtureKernels {
  /** Tables by layout content (identical layouts share one), and by layout object (no key to build per step). */
  private readonly tables = new Map<string, LayoutTable>();
  private readonly byLayout = new WeakMap<MixtureLayout, LayoutTable>();

  constructor(readonly rt: GpuRuntime) {}

  /** The layout table of mixture.wgsl, uploaded on first use. */
  private table(layout: MixtureLayout): LayoutTable {
    const known = this.byLayout.get(layout);
    if (known) return known;
    const key = packedOf(layout).join(',');
    let entry = this.tables.get(key);
    if (!entry) {
      const T = layout.tasks;
      const E = layout.experts;
      const inv = packedOf(layout).length;
      const list = inv + 2 * E;
      const words = new Uint32Array(list + 2 * layout.gateWidth);
      words.set(packedOf(layout));
      let q = 0;
      for (let e = 0; e < E; e++) {
        words[inv + 2 * e + 1] = q;
        for (let t = 0; t < T; t++) {
          const j = layout.expertsOf[t].indexOf(e);
          if (j < 0) continue;
          words[list + 2 * q] = t;
          words[list + 2 * q + 1] = layout.gateOffsets[t] + j;
          q++;
        }
        words[inv + 2 * e] = q - words[inv + 2 * e + 1];
      }
      // upload copies the words bit for bit (as the bytes of a Float32Array).
      const storage = this.rt.upload(new Float32Array(words.buffer), `the mixture layout table (${words.length} words)`);
      entry = { table: { storage, offset: 0, size: words.length }, inv, list };
      this.tables.set(key, entry);
    }
    this.byLayout.set(layout, entry);
    return entry;
  }

  private params(layout: MixtureLayout, n: number, total: number, t: LayoutTable): { u: number[] } {
    const { tasks, experts, width, expertStride, outStride, gateWidth } = layout;
    return { u: [n, total, tasks, experts, width, expertStride, outStride, gateWidth, t.inv, t.list] };
  }

  forward(x: GpuTensor, z: GpuTensor, g: GpuTensor, out: GpuTensor, layout: MixtureLayout, n: number): void {
    const t = this.table(layout);
    const rows = n * layout.tasks;
    this.rt.launch(K.gates, [z, g, t.table], this.params(layout, n, rows, t), grid(rows, 256));
    const total = layout.tasks * n * layout.width;
    this.rt.launch(K.combine, [x, g, out, t.table], this.params(layout, n, total, t), grid(total, 256));
  }

  backward(x: GpuTensor, g: GpuTensor, dOut: GpuTensor, dx: GpuTensor, dz: GpuTensor, layout: MixtureLayout, n: number): void {
    const t = this.table(layout);
    const total = layout.experts * n * layout.width;
    this.rt.launch(K.expert_grads, [g, dOut, dx, t.table], this.params(layout, n, total, t), grid(total, 256));
    const rows = n * layout.tasks;
    this.rt.launch(K.gate_grads, [x, g, dOut, dz, t.table], this.params(layout, n, rows, t), grid(rows, 256));
  }

}
