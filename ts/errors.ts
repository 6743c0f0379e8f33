/**
 * Typed errors. Every error hydranet throws on bad input is one of these, raised before any
 * kernel runs, with a message that names the argument, what was expected and what was received.
 */

/** Base class of every hydranet error. */
export class HydranetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A tensor or array has the wrong shape or length. */
export class ShapeError extends HydranetError {}

/**
 * A call that the Backend contract allows but this backend cannot run: beyond one of its
 * declared limits (the cuda mixture kernels take at most 32 tasks, say) or an op it does not
 * implement. Thrown by the op table before any kernel runs; nothing is written.
 */
export class CapabilityError extends ShapeError {
  constructor(
    /** The backend's name. */
    readonly backend: string,
    /** The Backend method. */
    readonly op: string,
    /** What the backend cannot do: 'supports at most 32 tasks in the layout (got 33)'. */
    readonly reason: string,
  ) {
    super(`${op}: the ${backend} backend ${reason}`);
  }
}

/** A value has the wrong type, or a number is outside its allowed range (NaN, Inf, negative...). */
export class ValueError extends HydranetError {}

/** A configuration object is invalid: unknown names, inconsistent options. */
export class ConfigError extends HydranetError {}

/** A label is outside the range its task allows (a class index >= classes, say). */
export class LabelError extends HydranetError {}

/** A dataset file is missing, truncated or not in the format expected. */
export class DatasetError extends HydranetError {}

/** A checkpoint is corrupt, or was written by a model of another architecture. */
export class CheckpointError extends HydranetError {}

/** A backend cannot run here: its native addon was not built, no adapter/driver exists... */
export class BackendUnavailableError extends HydranetError {}

/**
 * A GPU kernel failed: its shader did not compile, a pipeline or dispatch failed validation, or
 * the device reported an error while it ran. The message names the kernel (shader file and entry).
 */
export class KernelError extends HydranetError {}

/** The GPU device was lost (driver reset, device removed, out of memory); the backend cannot go on. */
export class DeviceLostError extends BackendUnavailableError {}

/** Training produced a NaN or Inf loss. */
export class NonFiniteLossError extends HydranetError {
  constructor(
    message: string,
    /** The global step (1-based) at which the non-finite loss was seen. */
    readonly step: number,
    /** The task whose loss was not finite. */
    readonly task: string,
  ) {
    super(message);
  }
}

/**
 * A file could not be written completely (disk full, read-only folder, a path under a file...).
 * The file's previous content, if any, is kept; `path` names the file or folder.
 */
export class FileWriteError extends HydranetError {
  constructor(
    message: string,
    /** The file or folder that could not be written. */
    readonly path: string,
  ) {
    super(message);
  }
}

/** A model (or trainer) is already running fit() or evaluate(); calls on one model do not interleave. */
export class BusyError extends HydranetError {}

/**
 * Training was stopped on request (an AbortSignal, SIGINT in the CLI) after finishing its
 * current step; the run folder's checkpoint holds the state at that step, to resume from.
 */
export class TrainingAbortedError extends HydranetError {
  constructor(
    message: string,
    /** The global step after which training stopped. */
    readonly step: number,
  ) {
    super(message);
  }
}

/** Describes a received value briefly for error messages. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name} of length ${(value as unknown as { length: number }).length}`;
  if (typeof value === 'function') return 'a function';
  return `an object (${Object.prototype.toString.call(value)})`;
}

/** Throws ValueError unless `value` is an integer >= min. Message shape follows sharp/onnxruntime. */
export function expectInt(name: string, value: unknown, min = 1): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    const what = min === 1 ? 'positive integer' : min === 0 ? 'non-negative integer' : `integer >= ${min}`;
    throw new ValueError(`Expected ${what} for ${name} but received ${describe(value)}`);
  }
  return value;
}

/** Throws ValueError unless `value` is a finite number in [min, max]. */
export function expectNumber(name: string, value: unknown, min = -Infinity, max = Infinity): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    const range =
      min === -Infinity && max === Infinity ? 'finite number' : `finite number in [${min}, ${max}]`;
    throw new ValueError(`Expected ${range} for ${name} but received ${describe(value)}`);
  }
  return value;
}
