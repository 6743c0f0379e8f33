/**
 * Checkpoints in the safetensors format (an 8-byte little-endian header length, a JSON header,
 * then raw little-endian f32 data), so PyTorch's `safetensors.torch.load_file` reads them.
 * Parameters are stored under readable names ("trunk.0.weight", "heads.left.0.weight");
 * optimizer state and training progress go along so a run resumes exactly.
 *
 * What is guaranteed:
 * - Files are replaced atomically (ts/io/files.ts): a failed or interrupted write keeps the
 *   previous file and throws FileWriteError; no checkpoint is ever half-written.
 * - Every file hydranet writes carries two CRC-32s in its metadata, one of the tensor data and
 *   one of the header, verified on every read: a flipped bit is reported as CheckpointError,
 *   never trained on. Files without them (older hydranet, other writers) still load.
 * - Reading validates every field it uses and throws only CheckpointError (naming the file and
 *   what is wrong), before anything is written into the model or optimizer.
 * - No checkpoint holds a NaN or infinite parameter: saving refuses, naming the parameter.
 */
import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import { checkKeys } from '../core/options.js';
import { Rng } from '../core/random.js';
import { stateNumber, stateObject } from '../core/state.js';
import { CheckpointError, ShapeError, ValueError, describe } from '../errors.js';
import type { JsonValue, ModelConfig, MultiTaskModel } from '../mtl/model.js';
import type { ParameterStore } from '../nn/parameters.js';
import { writeFileAtomic } from './files.js';
import type { Optimizer } from '../train/optimizer.js';

export { writeFileAtomic } from './files.js';

/** One tensor of a safetensors file, on the host. */
export interface StoredTensor {
  /** Dimensions, outermost first. */
  shape: number[];
  /** The values, row-major (f32; stored little-endian in the file). */
  data: Float32Array;
}

/** The content of a safetensors file: named f32 tensors and string metadata. */
export interface Safetensors {
  /** Tensors by name, in file order ("trunk.0.weight", "optimizer.adam.m", ...). */
  tensors: Map<string, StoredTensor>;
  /** The header's `__metadata__`: string keys to string values. */
  metadata: Record<string, string>;
}

/** Metadata keys of the checksums (8 lowercase hex digits each), written and checked here. */
const DATA_CRC = 'hydranet.crc32.data';
const HEADER_CRC = 'hydranet.crc32.header';

const isLittleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** The bytes of `data` in little-endian order (a view when the machine is little-endian). */
function littleEndianBytes(data: Float32Array): Buffer {
  const view = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return isLittleEndian ? view : Buffer.from(view).swap32();
}

/**
 * Writes tensors and string metadata as safetensors. The metadata gains two checksums
 * (`hydranet.crc32.data`: CRC-32 of the data section; `hydranet.crc32.header`: CRC-32 of the
 * header JSON as written without that key), which decodeSafetensors verifies.
 */
export function encodeSafetensors(tensors: Map<string, StoredTensor>, metadata: Record<string, string>): Buffer {
  if (!isPlainObject(metadata)) throw new ValueError(`Expected an object of strings for the safetensors metadata but received ${describe(metadata)}`);
  // Null-prototype objects: any name, "__proto__" included, is an ordinary key.
  const meta = Object.create(null) as Record<string, string>;
  for (const [key, value] of Object.entries(metadata)) {
    if (typeof value !== 'string') throw new ValueError(`Expected a string for safetensors metadata ${key} but received ${describe(value)}`);
    if (key === DATA_CRC || key === HEADER_CRC) throw new ValueError(`safetensors metadata key ${key} is reserved (hydranet writes its checksum there)`);
    meta[key] = value;
  }
  const header = Object.create(null) as Record<string, unknown>;
  header.__metadata__ = meta;
  const chunks: Buffer[] = [];
  let offset = 0;
  let dataCrc = 0;
  for (const [name, t] of tensors) {
    if (name === '__metadata__') throw new ValueError('a tensor cannot be named __metadata__ (safetensors keeps its metadata there)');
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (!(t.data instanceof Float32Array) || t.data.length !== count) {
      throw new ShapeError(`tensor ${name} has shape [${t.shape}] (${count} values) but its data is ${describe(t.data)}`);
    }
    const bytes = littleEndianBytes(t.data);
    header[name] = { dtype: 'F32', shape: [...t.shape], data_offsets: [offset, offset + bytes.length] };
    offset += bytes.length;
    dataCrc = crc32(bytes, dataCrc);
    chunks.push(bytes);
  }
  meta[DATA_CRC] = hex32(dataCrc);
  meta[HEADER_CRC] = hex32(crc32(Buffer.from(JSON.stringify(header), 'utf8')));
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const head = Buffer.from(json, 'utf8');
  const out = Buffer.allocUnsafe(8 + head.length + offset);
  out.writeBigUInt64LE(BigInt(head.length), 0);
  head.copy(out, 8);
  let at = 8 + head.length;
  for (const bytes of chunks) at += bytes.copy(out, at);
  return out;
}

/**
 * Reads a safetensors buffer (F32 tensors only). Every field is checked (a header that is an
 * object, entries with exactly dtype/shape/data_offsets, integer shapes whose size matches the
 * offsets, tensors that tile the data section without gaps or overlaps, string metadata) and
 * the checksums are verified when present; anything else is a CheckpointError naming `source`.
 */
export function decodeSafetensors(buf: Buffer, source: string): Safetensors {
  const bad = (why: string): CheckpointError => new CheckpointError(`${source} is not a valid safetensors file: ${why}`);
  if (!Buffer.isBuffer(buf)) throw new ValueError(`Expected a Buffer for the safetensors data of ${source} but received ${describe(buf)}`);
  if (buf.length < 8) throw bad(`it has only ${buf.length} bytes`);
  const claimed = buf.readBigUInt64LE(0);
  if (claimed > BigInt(buf.length - 8)) {
    throw bad(`the header claims ${claimed} bytes but the file has ${buf.length - 8} after the length (truncated?)`);
  }
  // The reference implementation's limit; it also keeps the header within one JS string.
  if (claimed > 100_000_000n) throw bad(`the header claims ${claimed} bytes, more than the 100 MB safetensors allows`);
  const headLen = Number(claimed);
  const dataStart = 8 + headLen;
  const dataLen = buf.length - dataStart;
  let header: unknown;
  try {
    header = JSON.parse(buf.toString('utf8', 8, dataStart));
  } catch (e) {
    throw bad(`the header is not JSON (${(e as Error).message})`);
  }
  if (!isPlainObject(header)) throw bad(`the header is ${describe(header)}, not a JSON object`);

  const metadata = Object.create(null) as Record<string, string>;
  const entries: { name: string; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (!isPlainObject(entry)) throw bad(`__metadata__ is ${describe(entry)}, not an object of strings`);
      for (const [key, value] of Object.entries(entry)) {
        if (typeof value !== 'string') throw bad(`metadata ${key} is ${describe(value)}, not a string`);
        metadata[key] = value;
      }
      continue;
    }
    const what = `tensor ${JSON.stringify(name)}`;
    if (!isPlainObject(entry)) throw bad(`${what} is ${describe(entry)}, not an object`);
    for (const key of Object.keys(entry)) {
      if (key !== 'dtype' && key !== 'shape' && key !== 'data_offsets') throw bad(`${what} has an unknown key ${JSON.stringify(key)}`);
    }
    if (entry.dtype !== 'F32') throw bad(`${what} has dtype ${describe(entry.dtype)}; hydranet reads F32 only`);
    const shape = entry.shape;
    if (!Array.isArray(shape) || !shape.every(isCount)) throw bad(`${what} has shape ${JSON.stringify(shape) ?? 'undefined'}, not a list of non-negative integers`);
    let count = 1;
    for (const d of shape) {
      count *= d;
      if (count * 4 > dataLen) throw bad(`${what} of shape [${shape}] needs more than the ${dataLen} bytes of data in the file`);
    }
    const offsets = entry.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
      throw bad(`${what} has data_offsets ${JSON.stringify(offsets) ?? 'undefined'}, not two non-negative integers`);
    }
    const [begin, end] = offsets as number[];
    if (end < begin || end > dataLen) throw bad(`${what} has data_offsets [${begin}, ${end}] outside the ${dataLen} bytes of data (truncated?)`);
    if (end - begin !== count * 4) throw bad(`${what} has ${end - begin} bytes of data but its shape [${shape}] needs ${count * 4}`);
    entries.push({ name, shape, begin, end });
  }
  // The tensors must tile the data section exactly (as in the reference implementation): this
  // also catches overlapping tensors, gaps, trailing bytes and names given twice.
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  for (const e of sorted) {
    if (e.begin !== covered) {
      throw bad(`tensor ${JSON.stringify(e.name)} starts at byte ${e.begin} of the data but the tensors before it end at ${covered} (overlapping tensors, a gap, or a name given twice)`);
    }
    covered = e.end;
  }
  if (covered !== dataLen) throw bad(`the tensors cover ${covered} bytes but the data section has ${dataLen}`);

  verifyChecksums(buf.subarray(dataStart), header, metadata, source);

  const tensors = new Map<string, StoredTensor>();
  for (const { name, shape, begin, end } of entries) {
    const bytes = Buffer.from(buf.subarray(dataStart + begin, dataStart + end));
    if (!isLittleEndian) bytes.swap32();
    tensors.set(name, { shape, data: new Float32Array(bytes.buffer, bytes.byteOffset, (end - begin) / 4) });
  }
  return { tensors, metadata };
}

/** Verifies (and removes from `metadata`) the checksums hydranet writes; a file without them passes. */
function verifyChecksums(data: Buffer, header: Record<string, unknown>, metadata: Record<string, string>, source: string): void {
  const corrupt = (what: string, stored: string, actual: number): CheckpointError =>
    new CheckpointError(
      `${source}: ${what} does not match its checksum: the file is corrupt (CRC-32 ${hex32(actual)}, stored ${stored}); ` +
        'restore it from a copy or use another checkpoint',
    );
  const check = (key: string): string | null => {
    const stored = metadata[key];
    if (stored === undefined) return null;
    if (!/^[0-9a-f]{8}$/.test(stored)) throw new CheckpointError(`${source}: metadata ${key} is ${describe(stored)}, not 8 hex digits: the file is corrupt`);
    delete metadata[key];
    return stored;
  };
  if ((metadata[HEADER_CRC] === undefined) !== (metadata[DATA_CRC] === undefined)) {
    // hydranet writes both (older versions neither): one alone means a corrupted key name.
    throw new CheckpointError(`${source}: the metadata has only one of ${HEADER_CRC} and ${DATA_CRC}: the file is corrupt`);
  }
  const headerCrc = check(HEADER_CRC);
  if (headerCrc !== null) {
    // The header as written before its checksum was added: JSON.stringify of the same object
    // (its parse keeps every key and value, and their order).
    delete (header.__metadata__ as Record<string, unknown>)[HEADER_CRC];
    const actual = crc32(Buffer.from(JSON.stringify(header), 'utf8'));
    if (hex32(actual) !== headerCrc) throw corrupt('the header', headerCrc, actual);
  }
  const dataCrc = check(DATA_CRC);
  if (dataCrc !== null) {
    const actual = crc32(data);
    if (hex32(actual) !== dataCrc) throw corrupt('the tensor data', dataCrc, actual);
  }
}

/** What a trainer needs to resume, stored in the checkpoint's metadata (see parseTrainingState). */
export interface TrainingState {
  /** Epochs completed. */
  epoch: number;
  /** Optimizer steps taken. */
  step: number;
  /** The shuffling generator's state (Rng.getState). */
  rngState: number[];
  /** The best selection score so far; absent when none yet (JSON writes -Infinity as null). */
  bestScore?: number;
  /** The weighting strategy's name, state and generator state. */
  weighting?: {
    /** The strategy's registry name ("uncertainty", "pcgrad", ...). */
    name: string;
    /** Its own state (WeightingStrategy.getState). */
    state: Record<string, unknown>;
    /** Its random generator's state (Rng.getState). */
    rngState: number[];
  };
  /** The auxiliary-task stopper's state. */
  auxiliaryStopping?: Record<string, unknown>;
  /** The per-epoch records so far (Trainer.history). */
  history?: Record<string, unknown>[];
  [key: string]: unknown;
}

/**
 * Checks a training state read from a checkpoint (already JSON-parsed) and returns it typed:
 * epoch and step non-negative integers, rngState (and weighting.rngState) states Rng.setState
 * accepts, bestScore a finite number or absent (null, JSON's -Infinity, counts as absent),
 * weighting { name, state, rngState } or absent, auxiliaryStopping an object or absent, history
 * an array of objects or absent. Other keys pass through unchecked. CheckpointError naming
 * `source` and the key path ("training.weighting.rngState[2]") otherwise.
 */
export function parseTrainingState(value: unknown, source: string): TrainingState {
  return inFile(source, () => {
    const s = stateObject(value, 'training');
    const count = { integer: true, min: 0 };
    const state: TrainingState = {
      ...s,
      epoch: stateNumber(s.epoch, 'training.epoch', count),
      step: stateNumber(s.step, 'training.step', count),
      rngState: rngState(s.rngState, 'training.rngState'),
    };
    delete state.bestScore;
    if (s.bestScore !== undefined && s.bestScore !== null) state.bestScore = stateNumber(s.bestScore, 'training.bestScore');
    if (s.weighting !== undefined) {
      const w = stateObject(s.weighting, 'training.weighting');
      const unknown = Object.keys(w).find((k) => k !== 'name' && k !== 'state' && k !== 'rngState');
      if (unknown !== undefined) throw new CheckpointError(`Invalid checkpoint state at training.weighting: unknown key ${JSON.stringify(unknown)}`);
      if (typeof w.name !== 'string') throw new CheckpointError(`Invalid checkpoint state at training.weighting.name: expected a string but received ${describe(w.name)}`);
      state.weighting = { name: w.name, state: stateObject(w.state, 'training.weighting.state'), rngState: rngState(w.rngState, 'training.weighting.rngState') };
    }
    if (s.auxiliaryStopping !== undefined) stateObject(s.auxiliaryStopping, 'training.auxiliaryStopping');
    if (s.history !== undefined) {
      if (!Array.isArray(s.history)) throw new CheckpointError(`Invalid checkpoint state at training.history: expected an array of epoch records but received ${describe(s.history)}`);
      s.history.forEach((r, i) => stateObject(r, `training.history[${i}]`));
    }
    return state;
  });
}

/** A generator state as Rng.setState accepts it (the one check of what a generator state is). */
function rngState(value: unknown, where: string): number[] {
  const probe = new Rng(0);
  probe.setState(value as number[], where);
  return probe.getState();
}

/** Runs `read`, prefixing the message of a CheckpointError it throws with the file's name. */
function inFile<T>(source: string, read: () => T): T {
  try {
    return read();
  } catch (e) {
    if (e instanceof CheckpointError) throw new CheckpointError(`${source}: ${e.message}`);
    throw e;
  }
}

/** The first parameter value that is NaN or infinite. */
export interface NonFiniteValue {
  /** The tensor's checkpoint name ("trunk.0.weight", "heads.left.0.bias", "optimizer.adam.m"). */
  name: string;
  /** The element's index in that tensor (row-major). */
  index: number;
  /** The value found: NaN, Infinity or -Infinity. */
  value: number;
  /** "trunk.0.weight[123] is NaN". */
  text: string;
}

function nonFinite(name: string, data: Float32Array, from: number, to: number): NonFiniteValue | null {
  for (let i = from; i < to; i++) {
    const v = data[i];
    if (v - v !== 0) return { name, index: i - from, value: v, text: `${name}[${i - from}] is ${v}` };
  }
  return null;
}

/**
 * Finds the first NaN or infinite value in a parameter arena (as read from
 * `model.params.values`), named as in checkpoints; null when every parameter is finite.
 * One pass over the arena.
 */
export function findNonFiniteParameter(params: ParameterStore, arena: Float32Array): NonFiniteValue | null {
  if (!(arena instanceof Float32Array) || arena.length !== params.arenaSize) {
    throw new ShapeError(`Expected the parameter arena (a Float32Array of length ${params.arenaSize}) but received ${describe(arena)}`);
  }
  for (const { name, start, end } of params.partRanges()) {
    const found = nonFinite(name, arena, start, end);
    if (found) return found;
  }
  return null;
}

const FORMAT = 'hydranet-checkpoint/1';

/** Options of {@link saveCheckpoint}. Unknown keys are ConfigErrors. */
export interface SaveCheckpointOptions {
  /**
   * The parameter arena, already read from `model.params.values` (a trainer that just read it
   * to check it passes it on instead of reading it again).
   */
  parameters?: Float32Array;
  /**
   * More named tensors stored beside the parameters (an EWC state: ewcTensors in
   * ts/train/ewc.ts), read back from CheckpointContents.tensors. A name must not be a parameter's
   * or start with 'optimizer.' (ValueError); non-finite values are refused like parameters.
   */
  extra?: Record<string, StoredTensor> | null;
}

/**
 * Writes the model's parameters, the optimizer's state and `state` to `file`, atomically.
 * CheckpointError (and the previous file kept) when a parameter or optimizer value is NaN or
 * infinite; FileWriteError when the file cannot be written.
 */
export async function saveCheckpoint(
  file: string,
  model: MultiTaskModel,
  optimizer: Optimizer | null,
  state: TrainingState,
  options: SaveCheckpointOptions = {},
): Promise<void> {
  checkKeys(options, ['parameters', 'extra'], 'saveCheckpoint options');
  const be = model.backend;
  const arena = options.parameters ?? (await be.read(model.params.values));
  const refuse = (found: NonFiniteValue): CheckpointError =>
    new CheckpointError(`Refusing to write ${file}: ${found.text}; a checkpoint never holds non-finite values (the previous file, if any, is kept)`);
  const found = findNonFiniteParameter(model.params, arena);
  if (found) throw refuse(found);
  const tensors = new Map<string, StoredTensor>();
  for (const { name, shape, start, end } of model.params.partRanges()) {
    tensors.set(name, { shape: [...shape], data: arena.subarray(start, end) });
  }
  if (optimizer) {
    for (const [name, t] of Object.entries(optimizer.state)) {
      const data = await be.read(t);
      const bad = nonFinite(`optimizer.${name}`, data, 0, data.length);
      if (bad) throw refuse(bad);
      tensors.set(`optimizer.${name}`, { shape: [...t.shape], data });
    }
  }
  for (const [name, t] of Object.entries(options.extra ?? {})) {
    if (tensors.has(name) || name.startsWith('optimizer.')) throw new ValueError(`Cannot write ${file}: extra tensor ${JSON.stringify(name)} clashes with a parameter or optimizer tensor`);
    const bad = nonFinite(name, t.data, 0, t.data.length);
    if (bad) throw refuse(bad);
    tensors.set(name, { shape: [...t.shape], data: t.data });
  }
  let training: string;
  try {
    training = JSON.stringify(state);
  } catch (e) {
    throw new ValueError(`Cannot write ${file}: the training state is not JSON (${(e as Error).message})`);
  }
  let preprocessing: string;
  try {
    preprocessing = JSON.stringify(model.preprocessing ?? null);
  } catch (e) {
    throw new ValueError(`Cannot write ${file}: model.preprocessing is not JSON (${(e as Error).message})`);
  }
  const metadata: Record<string, string> = {
    format: FORMAT,
    architecture: JSON.stringify(model.architecture()),
    model: JSON.stringify(model.resolvedConfig),
    preprocessing,
    optimizer: JSON.stringify(optimizer ? { config: optimizer.config, steps: optimizer.steps } : null),
    training,
  };
  writeFileAtomic(file, encodeSafetensors(tensors, metadata));
}

/** The optimizer part of a checkpoint's metadata. */
export interface SavedOptimizer {
  /** The optimizer's configuration (see OptimizerConfig). */
  config: {
    /** 'sgd' or 'adamw'. */
    kind: string;
    [key: string]: unknown;
  };
  /** Optimizer steps taken (AdamW's bias correction resumes from here). */
  steps: number;
}

/** A checkpoint read and checked: tensors, raw metadata and the parsed JSON metadata. */
export interface CheckpointContents extends Safetensors {
  /** The model's architecture() when written. */
  architecture: Record<string, unknown>;
  /** The optimizer's configuration and step count; null when saved without an optimizer. */
  optimizer: SavedOptimizer | null;
  /** The training state as stored (loadCheckpoint checks it with parseTrainingState). */
  training: unknown;
  /**
   * The model's complete configuration (MultiTaskModel.resolvedConfig), from which
   * MultiTaskModel.load rebuilds it; null in checkpoints written before it was stored.
   */
  model: ModelConfig | null;
  /** The model's preprocessing (MultiTaskModel.preprocessing); null when none was stored. */
  preprocessing: JsonValue;
}

/**
 * Reads a checkpoint file: CheckpointError when missing, unreadable, corrupt (checksum,
 * structure), not a hydranet checkpoint, or when its architecture/optimizer/training metadata
 * is not the JSON hydranet writes.
 */
export function readCheckpointFile(file: string): CheckpointContents {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    throw new CheckpointError(`Cannot read checkpoint ${file}: ${(e as Error).message}`);
  }
  const st = decodeSafetensors(buf, file);
  const format = st.metadata.format;
  if (format !== FORMAT) {
    throw new CheckpointError(`${file} is a safetensors file but not a hydranet checkpoint (format ${format === undefined ? 'missing' : describe(format)}, expected ${FORMAT})`);
  }
  const json = (key: string, optional = false): unknown => {
    const text = st.metadata[key];
    if (text === undefined && optional) return null;
    if (text === undefined) throw new CheckpointError(`${file}: the metadata has no ${key}; the file is not a complete hydranet checkpoint`);
    try {
      return JSON.parse(text);
    } catch (e) {
      throw new CheckpointError(`${file}: the ${key} metadata is not JSON (${(e as Error).message}); the file is corrupt`);
    }
  };
  const architecture = json('architecture');
  if (!isPlainObject(architecture)) throw new CheckpointError(`${file}: the architecture metadata is ${describe(architecture)}, not an object`);
  const optimizer = json('optimizer');
  if (optimizer !== null) {
    inFile(file, () => {
      const o = stateObject(optimizer, 'optimizer');
      const config = stateObject(o.config, 'optimizer.config');
      if (typeof config.kind !== 'string') throw new CheckpointError(`Invalid checkpoint state at optimizer.config.kind: expected a string but received ${describe(config.kind)}`);
      stateNumber(o.steps, 'optimizer.steps', { integer: true, min: 0 });
    });
  }
  const model = json('model', true);
  if (model !== null && !isPlainObject(model)) throw new CheckpointError(`${file}: the model metadata is ${describe(model)}, not an object`);
  return {
    ...st,
    architecture,
    optimizer: optimizer as SavedOptimizer | null,
    training: json('training'),
    model: model as ModelConfig | null,
    preprocessing: json('preprocessing', true) as JsonValue,
  };
}

/**
 * Loads parameters (and optimizer state, when given) into a model built with the same
 * architecture; returns the stored training state. Everything is checked before anything is
 * written: CheckpointError, with the first difference named, when the architectures differ,
 * a tensor is missing or of another shape, a value is not finite, or the file is corrupt.
 */
export async function loadCheckpoint(
  file: string,
  model: MultiTaskModel,
  optimizer: Optimizer | null = null,
): Promise<TrainingState> {
  return applyCheckpoint(readCheckpointFile(file), file, model, optimizer);
}

/** {@link loadCheckpoint} of a checkpoint already read (by readCheckpointFile) from `file`. */
export async function applyCheckpoint(
  ck: CheckpointContents,
  file: string,
  model: MultiTaskModel,
  optimizer: Optimizer | null,
): Promise<TrainingState> {
  const ours = model.architecture();
  for (const key of Object.keys(ours)) {
    const a = JSON.stringify(ours[key]);
    const b = JSON.stringify(Object.hasOwn(ck.architecture, key) ? ck.architecture[key] : undefined);
    if (a !== b) {
      throw new CheckpointError(`${file} was written by a model of another architecture: its ${key} is ${b}, this model's is ${a}`);
    }
  }
  const arena = new Float32Array(model.params.arenaSize);
  for (const { name, shape, start } of model.params.partRanges()) {
    const t = ck.tensors.get(name);
    if (!t || t.shape.join(',') !== shape.join(',')) {
      throw new CheckpointError(`${file}: tensor ${name} is ${t ? `[${t.shape}]` : 'missing'}, expected [${shape}]`);
    }
    arena.set(t.data, start);
  }
  const found = findNonFiniteParameter(model.params, arena);
  if (found) throw new CheckpointError(`${file}: ${found.text}; a model cannot resume from non-finite parameters`);
  const optimizerState: [string, Float32Array][] = [];
  if (optimizer) {
    const saved = ck.optimizer;
    if (!saved || saved.config.kind !== optimizer.config.kind) {
      throw new CheckpointError(`${file} holds ${saved ? `${saved.config.kind} optimizer state` : 'no optimizer state'}; cannot resume ${optimizer.config.kind}`);
    }
    for (const [name, tensor] of Object.entries(optimizer.state)) {
      const t = ck.tensors.get(`optimizer.${name}`);
      if (!t || t.data.length !== tensor.size) {
        throw new CheckpointError(`${file}: optimizer state ${name} is ${t ? `of ${t.data.length} values` : 'missing'}, expected ${tensor.size} values`);
      }
      const bad = nonFinite(`optimizer.${name}`, t.data, 0, t.data.length);
      if (bad) throw new CheckpointError(`${file}: ${bad.text}; an optimizer cannot resume from non-finite state`);
      optimizerState.push([name, t.data]);
    }
  }
  const training = parseTrainingState(ck.training, file);
  const be = model.backend;
  be.write(model.params.values, arena);
  if (optimizer) {
    for (const [name, data] of optimizerState) be.write(optimizer.state[name], data);
    optimizer.steps = ck.optimizer!.steps;
  }
  return training;
}

/** CRC-32 (IEEE 802.3, as zlib and PNG), continuing from `previous`. */
export function crc32(bytes: Uint8Array, previous = 0): number {
  return zlibCrc32 ? zlibCrc32(bytes, previous) : crc32Table(bytes, previous);
}

/** zlib.crc32 exists from Node 20.15 / 22.2; crc32Table is the fallback before that. */
const zlibCrc32 = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;

let tables: Int32Array | null = null;

/** Table-driven CRC-32, eight bytes per step (slicing-by-8): about 1 GB/s. */
export function crc32Table(bytes: Uint8Array, previous = 0): number {
  const T = (tables ??= slicingTables());
  let c = ~previous;
  let i = 0;
  const end8 = bytes.length - (bytes.length % 8);
  for (; i < end8; i += 8) {
    c ^= bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24);
    c =
      T[1792 + (c & 255)] ^
      T[1536 + ((c >>> 8) & 255)] ^
      T[1280 + ((c >>> 16) & 255)] ^
      T[1024 + (c >>> 24)] ^
      T[768 + bytes[i + 4]] ^
      T[512 + bytes[i + 5]] ^
      T[256 + bytes[i + 6]] ^
      T[bytes[i + 7]];
  }
  for (; i < bytes.length; i++) c = T[(c ^ bytes[i]) & 255] ^ (c >>> 8);
  return ~c >>> 0;
}

function slicingTables(): Int32Array {
  const T = new Int32Array(256 * 8);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    T[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    let c = T[n];
    for (let k = 1; k < 8; k++) {
      c = T[c & 255] ^ (c >>> 8);
      T[k * 256 + n] = c;
    }
  }
  return T;
}

function hex32(x: number): string {
  return (x >>> 0).toString(16).padStart(8, '0');
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** A non-negative safe integer (a size, an offset, a count). */
function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}
