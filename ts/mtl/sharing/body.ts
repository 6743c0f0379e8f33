/**
 * The shared part of a multi-task model, whatever the sharing kind: a hard trunk, one tower
 * per task (soft, cross-stitch), or gated experts (MMoE, CGC, PLE). Every body is built from
 * the trunk's layer specs with one signature, declares its parameters while it is built,
 * allocates every buffer once for maxBatch, and runs forward and backward with one signature,
 * so the model, the weighting code and the trainer never ask which kind they hold.
 */
import type { Backend, Tensor } from '../../backends/backend.js';
import type { StepContext } from '../../nn/layer.js';
import type { ParameterStore } from '../../nn/parameters.js';
import type { Sequential } from '../../nn/sequential.js';
import type { Task } from '../task.js';

/** What a sharing kind builds its {@link Body} from. */
export interface BodyContext {
  /** The sharing kind's name, for descriptions. */
  readonly kind: string;
  /** The tasks, in model order. */
  readonly tasks: readonly Task[];
  /** A fresh copy of the trunk's layers, not yet built: the trunk, each tower or each expert is one. */
  readonly layers: () => Sequential;
  /** Where the body declares its parameters (before the heads'). */
  readonly params: ParameterStore;
  /** Per-sample input shape. */
  readonly inputShape: readonly number[];
  /** Largest batch the body's buffers hold. */
  readonly maxBatch: number;
}

/**
 * The shared part of a {@link MultiTaskModel}, between the inputs and the fused heads. Its
 * representation is either one [n, width] tensor that every head reads (`stackStride` 0), or
 * one [n, width] block per task, stacked `stackStride` elements apart.
 */
export interface Body {
  /** Width of the representation the heads read. */
  readonly width: number;
  /**
   * 0 when every task reads one representation computed by parameters all tasks share (hard
   * sharing: what gradient-based weighting needs); else the elements between consecutive
   * tasks' blocks of the stacked representation.
   */
  readonly stackStride: number;
  /** Allocates every buffer, once, for maxBatch samples (the parameters already are). */
  allocate(backend: Backend, maxBatch: number, params: ParameterStore): void;
  /** The representation of the inputs x [n, F] (a body-owned buffer). */
  forward(x: Tensor, n: number, step: StepContext): Tensor;
  /**
   * Backward from dL/d(representation) into the parameter gradients (+=); with `dx`, also the
   * gradient at the body's input x [n, F] written into it (=): what an input layer below the
   * body (the embedding) needs. Without it no input gradient is computed.
   */
  backward(dRepresentation: Tensor, n: number, dx?: Tensor | null): void;
  /**
   * Makes backward tell `ready` (null: nobody) after each block whose gradients are final, the
   * arena offset from which every gradient is (MultiTaskModel.setGradientsReady). Absent for
   * kinds that only finish as a whole: the model then tells once, after the body's backward.
   */
  setGradientsReady?(ready: ((from: number) => void) | null): void;
  /** A penalty the body adds to the objective, at the current parameters (soft sharing's L2); absent when it has none. */
  penalty?(): Promise<number>;
  /** One line for model summaries. */
  describe(): string;
  /**
   * For {@link MultiTaskModel.extend}: sets the parameter parts whose shape grew with the
   * tasks (a cross-stitch unit, PLE's shared gates), whose name the model with fewer tasks
   * also has, so that the old tasks' outputs stay what they were. `values` is this body's
   * model's arena on the host (freshly initialised), `old` the old model's arena and `oldParams`
   * its store; `grown` names the parts to set. Returns the names it set; absent for kinds whose
   * parts never change shape (every old part is then copied as it is).
   */
  inherit?(values: Float32Array, params: ParameterStore, old: Float32Array, oldParams: ParameterStore, grown: ReadonlySet<string>): Set<string>;
}

/** A sharing configuration with its defaults filled in, as checkpoints record it. */
export interface ResolvedSharing {
  /** The sharing kind (a name of {@link SHARINGS}). */
  readonly kind: string;
  /** The kind's options, checked, defaults filled in. */
  readonly [option: string]: unknown;
}

/**
 * One sharing kind of the registry ({@link SHARINGS}): the keys its config takes, how the CLI
 * writes it, how its config is checked and completed, and how its body is built.
 */
export interface SharingEntry<R extends ResolvedSharing = ResolvedSharing> {
  /** What it does, for `--help`. */
  readonly description: string;
  /** The CLI form of its `--sharing` value, e.g. "soft[:penalty=X]". */
  readonly usage: string;
  /** The keys its config takes, `kind` included. */
  readonly keys: readonly string[];
  /** The config's values checked (ValueError / ConfigError naming `sharing.KEY`), defaults filled in. */
  resolve(config: Readonly<Record<string, unknown>>): R;
  /**
   * The resolved form as a config that `resolve` takes back to the same resolved form (what
   * checkpoints store to rebuild the model). Absent when the resolved form is such a config.
   */
  config?(resolved: R): Record<string, unknown>;
  /** Builds the body (declaring its parameters in ctx.params), checking what depends on the trunk (ConfigError). */
  create(ctx: BodyContext, sharing: R): Body;
}
