/**
 * The embedding input layer: categorical inputs as learned vectors. The flat input rows hold, in
 * some columns, a category's index (an integer stored as f32, exact up to 2^24); each such field
 * owns a table [vocab, dim], and the layer's output is the numeric columns passed through
 * followed by every field's looked-up vector: [numericWidth + Σ dim] per sample, what the model's
 * body then sees (see Backend.embeddingForward and EmbeddingLayout for the exact layout).
 *
 * Every field's table lives in ONE parameter (`embedding.table`, the fields' tables one after
 * another; one checkpoint tensor per field, `embedding.<name>` [vocab, dim]), so the forward is
 * one gather and the backward one scatter-add over all fields (race-free and deterministic on
 * every backend: repeated indices add up in batch order). Initialisation: N(0, 1/dim) per field,
 * so each looked-up vector has an expected squared norm of 1 whatever its width, as a
 * standardised numeric feature contributes 1 per column (PyTorch's nn.Embedding draws N(0, 1),
 * which makes wide embeddings dominate the first layer's input). An index that is not an integer
 * in [0, vocab) is a LabelError: at the forward on host backends (cpu, reference), at the next
 * read or sync on GPU backends (see Backend.embeddingForward).
 *
 * Under SGD at momentum 0 and weight decay 0 the optimizer steps the tables row-sparsely
 * ({@link Embedding.sgdStep}, Backend.embeddingSgdStep): only the rows the batch looked up are
 * read and written, with exactly the dense step's result, and their gradient is left zero, so
 * the model's next gradient zeroing skips the tables ({@link Embedding.takeZeroGradient}).
 */
import { type Backend, EmbeddingLayout, MAX_EMBEDDING_VOCAB, type Tensor } from '../backends/backend.js';
import { checkKeys } from '../core/options.js';
import { Rng } from '../core/random.js';
import { ConfigError, ShapeError, describe } from '../errors.js';
import { BatchBuffer, type BuildContext, type Layer, stringSeed } from './layer.js';
import type { Parameter } from './parameters.js';
import type { ArenaRange } from '../train/optimizer.js';

/** One categorical field of an {@link EmbeddingConfig}. */
export interface EmbeddingFieldConfig {
  /** Index of the input feature (column of the flat input) that holds the field's category index. */
  column: number;
  /** Number of categories: the field's indices are the integers in [0, vocab). At most 2^24. */
  vocab: number;
  /** Width of the field's vectors. */
  dim: number;
  /** Names the field's table in checkpoints (`embedding.<name>`); default `column<column>`. */
  name?: string;
}

/**
 * The embedding input layer of a model (the `embedding` option of ModelConfig): which input columns are
 * categorical indices, and each one's vocabulary and vector width. Every other column is a
 * numeric feature, passed through. Unknown keys are ConfigErrors.
 */
export interface EmbeddingConfig {
  /** The categorical fields, at least one, each on its own column. */
  fields: readonly EmbeddingFieldConfig[];
}

const FIELD_KEYS = ['column', 'vocab', 'dim', 'name'];

/**
 * The embedding config checked against the flat input width (ConfigError naming
 * `embedding.fields[i].<key>`: an unknown key, a column outside the input or used twice, a vocab
 * outside [1, 2^24], a dim < 1, a repeated or empty name), with every name filled in.
 */
export function resolveEmbedding(config: EmbeddingConfig, inputWidth: number): Required<EmbeddingFieldConfig>[] {
  checkKeys(config, ['fields'], 'embedding');
  const fields: unknown = config.fields;
  if (!Array.isArray(fields) || fields.length === 0) {
    throw new ConfigError(`Expected a non-empty array of { column, vocab, dim } for embedding.fields but received ${describe(fields)}`);
  }
  const columns = new Map<number, number>();
  const names = new Set<string>();
  return fields.map((f: EmbeddingFieldConfig, i) => {
    const where = `embedding.fields[${i}]`;
    checkKeys(f, FIELD_KEYS, where);
    const int = (key: 'column' | 'vocab' | 'dim', lo: number, hi: number, what: string): number => {
      const v: unknown = f[key];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) {
        throw new ConfigError(`Expected ${what} (an integer in [${lo}, ${hi}]) for ${where}.${key} but received ${describe(v)}`);
      }
      return v;
    };
    const column = int('column', 0, inputWidth - 1, `an input column of the ${inputWidth} features`);
    const vocab = int('vocab', 1, MAX_EMBEDDING_VOCAB, 'the number of categories');
    const dim = int('dim', 1, 2 ** 31 - 1, 'the vector width');
    const other = columns.get(column);
    if (other !== undefined) throw new ConfigError(`${where}.column: column ${column} is already embedding.fields[${other}]'s; each field needs its own column`);
    columns.set(column, i);
    const name = f.name ?? `column${column}`;
    if (typeof name !== 'string' || !/^[A-Za-z0-9_-]+$/.test(name)) {
      throw new ConfigError(`Expected a name of letters, digits, _ and - for ${where}.name but received ${describe(f.name)}`);
    }
    if (names.has(name)) throw new ConfigError(`${where}.name: ${name} names another field too; field names must be unique`);
    names.add(name);
    return { column, vocab, dim, name };
  });
}

/**
 * The embedding input layer (see the module doc): its table parameter is declared by
 * {@link build} (before the body's parameters, so it is part of the shared parameters), its
 * buffers allocated once for maxBatch; a step allocates nothing.
 */
export class Embedding implements Layer {
  /** The fields, checked, names filled in. */
  readonly fields: readonly Required<EmbeddingFieldConfig>[];
  /** The packed layout the kernels take. */
  readonly layout: EmbeddingLayout;
  private table!: Parameter;
  private backend!: Backend;
  private out!: BatchBuffer;
  private dOut!: BatchBuffer;
  private input: Tensor | null = null;
  /** True from a row-sparse step (the table's gradient is then zero everywhere) until the next backward or {@link takeZeroGradient}. */
  private zeroGradient = false;

  constructor(
    config: EmbeddingConfig,
    /** Width of the flat input rows (numeric and index columns). */
    readonly inputWidth: number,
    /** Seed of the tables' initialisation (the model's seed). */
    readonly seed: number,
    /** Names the layer in messages. */
    readonly where = 'embedding',
  ) {
    this.fields = resolveEmbedding(config, inputWidth);
    this.layout = new EmbeddingLayout(this.fields, inputWidth);
  }

  /** Width of the output rows: the numeric columns plus Σ dim. */
  get width(): number {
    return this.layout.outWidth;
  }

  /** One line: the numeric width, each field's table, the output width. */
  describe(): string {
    const l = this.layout;
    return `embedding: ${l.numericWidth} numeric + ${this.fields.map((f) => `${f.name} ${f.vocab}×${f.dim}`).join(', ')} → ${l.outWidth}`;
  }

  /** Declares the table parameter (one checkpoint part per field); returns [outWidth]. ShapeError unless the input is [inputWidth]. */
  build(ctx: BuildContext, inShape: readonly number[]): readonly number[] {
    if (inShape.length !== 1 || inShape[0] !== this.inputWidth) {
      throw new ShapeError(`${this.where}: expected flat inputs of ${this.inputWidth} features, got shape [${inShape.join(', ')}]`);
    }
    const l = this.layout;
    this.table = ctx.params.add(
      `${ctx.prefix}.table`,
      [l.tableSize],
      { kind: 'zeros' }, // drawn by allocate(), per field (N(0, 1/dim)), from the model's seed
      this.fields.map((f, k) => ({ name: `${ctx.prefix}.${f.name}`, offset: l.tableOffsets[k], shape: [f.vocab, f.dim] })),
      this.where,
    );
    this.tableRange = { offset: this.table.offset, length: this.table.size };
    return [l.outWidth];
  }

  /** Allocates the output and its gradient for maxBatch rows and draws the tables (one field at a time on the host). */
  allocate(backend: Backend, maxBatch: number): void {
    this.backend = backend;
    this.out = new BatchBuffer(backend, maxBatch, [this.layout.outWidth]);
    this.dOut = new BatchBuffer(backend, maxBatch, [this.layout.outWidth]);
    const rng = new Rng((this.seed ^ stringSeed(this.table.name)) >>> 0);
    this.fields.forEach((f, k) => {
      const std = 1 / Math.sqrt(f.dim);
      const host = new Float32Array(f.vocab * f.dim);
      for (let i = 0; i < host.length; i++) host[i] = rng.normal() * std;
      backend.write(this.table.value, host, this.layout.tableOffsets[k]);
    });
  }

  /** The output, [n, outWidth]: the numeric columns of x [n, inputWidth], then each field's vector. */
  forward(x: Tensor, n: number): Tensor {
    this.input = x;
    const y = this.out.rows(n);
    this.backend.embeddingForward(x, this.table.value, y, this.layout);
    return y;
  }

  /** The buffer the body writes dL/d(output) into, for the first n rows. */
  outputGradient(n: number): Tensor {
    return this.dOut.rows(n);
  }

  /** Adds the tables' gradient from dy [n, outWidth] (+=); the inputs take none (returns null). */
  backward(dy: Tensor, n: number): Tensor | null {
    if (!this.input) throw new ShapeError(`${this.where}: backward before forward`);
    this.zeroGradient = false;
    this.backend.embeddingBackward(this.input, dy, this.table.grad, this.layout);
    return null;
  }

  /** The table parameter's arena range (offset: 0 in a model, which declares it first); made once by build, read every step. */
  get range(): Readonly<ArenaRange> {
    return this.tableRange;
  }
  private tableRange: Readonly<ArenaRange> = { offset: 0, length: 0 };

  /**
   * Row-sparse SGD (momentum 0, weight decay 0) of the tables with learning rate lr: every row
   * the last forward's batch looked up steps by −lr·gradient, once, and its gradient is zeroed
   * (Backend.embeddingSgdStep); no other row is read or written. Exact, equal to the dense step,
   * when the gradient holds only those rows, as after the batch's backward over a zeroed arena:
   * then the whole table gradient is zero afterwards, which {@link takeZeroGradient} reports.
   */
  sgdStep(lr: number): void {
    if (!this.input) throw new ShapeError(`${this.where}: a row-sparse step before any forward has no rows to step`);
    this.backend.embeddingSgdStep(this.input, this.table.value, this.table.grad, this.layout, lr);
    this.zeroGradient = true;
  }

  /**
   * Whether the table's gradient is known to be zero everywhere (a row-sparse step ran and no
   * backward since), so zeroing the gradient arena may skip it; resets the flag (one skip per
   * step: a second zeroing of the same step fills the table too).
   */
  takeZeroGradient(): boolean {
    const zero = this.zeroGradient;
    this.zeroGradient = false;
    return zero;
  }
}
