/**
 * The embedding input layer on WebGPU (shaders/embedding.wgsl): forward one invocation per output
 * element, backward one per embedded output column (each owns that column of its field's table:
 * race-free without float atomics, which WGSL lacks, and in the reference's order). The per-column
 * table is uploaded once per distinct layout (cached; a steady-state step uploads nothing). A bad
 * index cannot be seen before the kernel runs (x lives on the device): the kernel reports it
 * through the runtime's status words (code 2) and the next read or sync throws LabelError.
 */
import { packedOf } from '../packed.js';
import type { EmbeddingLayout } from '../backend.js';
import { embeddingIndexError } from '../validate.js';
import { type Bound, family, type GpuRuntime, type GpuTensor, grid } from './runtime.js';

const K = family('embedding', { forward: 'rrwrw', backward: 'rrwrw', sgd_step: 'rwwr' });
/** The status code of the embedding kernels (word 0; multiLoss's is 1). */
const STATUS_CODE = 2;

export class EmbeddingKernels {
  /** Tables by layout content (identical layouts share one), and by layout object. */
  private readonly tables = new Map<string, Bound>();
  private readonly byLayout = new WeakMap<EmbeddingLayout, Bound>();
  /** The layout and op of the latest launch, for the error message of a bad index. */
  private layout: EmbeddingLayout | null = null;
  private op = 'embeddingForward';
  private readonly explain = (w: Uint32Array): Error => {
    const y = new Float32Array(w.buffer, w.byteOffset + 12, 1)[0];
    return embeddingIndexError(this.op, this.layout!, w[1], w[2], y);
  };

  constructor(private readonly rt: GpuRuntime) {}

  /** The layout table of embedding.wgsl, uploaded on first use. */
  private table(layout: EmbeddingLayout): Bound {
    const known = this.byLayout.get(layout);
    if (known) return known;
    const key = packedOf(layout).join(',');
    let entry = this.tables.get(key);
    if (!entry) {
      const O = layout.outWidth;
      const words = new Uint32Array(4 * O + layout.fields.length);
      layout.numericColumns.forEach((c, j) => words.set([c, 0, 0, 0], 4 * j));
      layout.fields.forEach((f, k) => {
        for (let d = 0; d < f.dim; d++) words.set([f.column, k + 1, layout.tableOffsets[k] + d, f.dim], 4 * (layout.outOffsets[k] + d));
        words[4 * O + k] = f.vocab;
      });
      // upload copies the words bit for bit (as the bytes of a Float32Array).
      const storage = this.rt.upload(new Float32Array(words.buffer), `the embedding layout table (${words.length} words)`);
      entry = { storage, offset: 0, size: words.length };
      this.tables.set(key, entry);
    }
    this.byLayout.set(layout, entry);
    return entry;
  }

  private arm(op: string, layout: EmbeddingLayout): void {
    this.op = op;
    this.layout = layout;
    this.rt.armStatus(this.explain, STATUS_CODE);
  }

  forward(x: GpuTensor, table: GpuTensor, out: GpuTensor, layout: EmbeddingLayout, n: number): void {
    this.arm('embeddingForward', layout);
    const total = n * layout.outWidth;
    const u = [n, total, layout.inputWidth, layout.outWidth, layout.numericWidth];
    this.rt.launch(K.forward, [x, table, out, this.table(layout), this.rt.status], { u }, grid(total, 256));
  }

  backward(x: GpuTensor, dOut: GpuTensor, dTable: GpuTensor, layout: EmbeddingLayout, n: number): void {
    this.arm('embeddingBackward', layout);
    const total = layout.outWidth - layout.numericWidth;
    const u = [n, total, layout.inputWidth, layout.outWidth, layout.numericWidth];
    this.rt.launch(K.backward, [x, dOut, dTable, this.table(layout), this.rt.status], { u }, grid(total, 256));
  }

  /** Row-sparse SGD at the rows x picks (one invocation per embedded column, as backward); bad indices skipped, nothing reported. */
  sgdStep(x: GpuTensor, table: GpuTensor, dTable: GpuTensor, layout: EmbeddingLayout, lr: number, n: number): void {
    const total = layout.outWidth - layout.numericWidth;
    const u = [n, total, layout.inputWidth, layout.outWidth, layout.numericWidth];
    this.rt.launch(K.sgd_step, [x, table, dTable, this.table(layout)], { u, f: [lr] }, grid(total, 256));
  }
}
