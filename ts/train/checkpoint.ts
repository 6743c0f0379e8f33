/**
 * Checkpoints in the safetensors format (an 8-byte little-endian header length, a JSON header,
 * then raw little-endian f32 data), so PyTorch's `safetensors.torch.load_file` reads them.
 * Parameters are stored under readable names ("trunk.0.weight", "heads.left.0.weight");
 * optimizer state and training progress go along so a run resumes exactly. Files are written
 * to a temporary name, flushed and renamed: a crash never leaves a half-written checkpoint.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CheckpointError } from '../errors.js';
import type { MultiTaskModel } from '../mtl/model.js';
import type { Optimizer } from './optimizer.js';

export interface StoredTensor {
  shape: number[];
  data: Float32Array;
}

export interface Safetensors {
  tensors: Map<string, StoredTensor>;
  metadata: Record<string, string>;
}

export function encodeSafetensors(tensors: Map<string, StoredTensor>, metadata: Record<string, string>): Buffer {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const [name, t] of tensors) {
    const bytes = t.data.length * 4;
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const head = Buffer.from(json, 'utf8');
  const out = Buffer.alloc(8 + head.length + offset);
  out.writeBigUInt64LE(BigInt(head.length), 0);
  head.copy(out, 8);
  let at = 8 + head.length;
  for (const t of tensors.values()) {
    const src = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    if (!isLittleEndian) swap32(src);
    src.copy(out, at);
    at += src.length;
  }
  return out;
}

const isLittleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
function swap32(b: Buffer): void {
  b.swap32();
}

export function decodeSafetensors(buf: Buffer, source: string): Safetensors {
  const bad = (why: string): CheckpointError => new CheckpointError(`${source} is not a valid safetensors file: ${why}`);
  if (buf.length < 8) throw bad(`only ${buf.length} bytes`);
  const headLen = Number(buf.readBigUInt64LE(0));
  if (headLen > buf.length - 8) throw bad(`the header claims ${headLen} bytes but the file has ${buf.length - 8} after the length`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(buf.subarray(8, 8 + headLen).toString('utf8'));
  } catch (e) {
    throw bad(`the header is not JSON (${(e as Error).message})`);
  }
  const dataStart = 8 + headLen;
  const tensors = new Map<string, StoredTensor>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = entry as Record<string, string>;
      continue;
    }
    const e = entry as { dtype?: string; shape?: number[]; data_offsets?: [number, number] };
    if (e.dtype !== 'F32') throw bad(`tensor ${name} has dtype ${e.dtype}; hydranet reads F32`);
    const [begin, end] = e.data_offsets ?? [NaN, NaN];
    const count = (e.shape ?? []).reduce((a, b) => a * b, 1);
    if (!(begin >= 0 && end - begin === count * 4 && dataStart + end <= buf.length)) {
      throw bad(`tensor ${name} has offsets [${begin}, ${end}] that do not fit its shape or the file (truncated?)`);
    }
    const bytes = Buffer.from(buf.subarray(dataStart + begin, dataStart + end));
    if (!isLittleEndian) swap32(bytes);
    tensors.set(name, { shape: e.shape ?? [], data: new Float32Array(bytes.buffer, bytes.byteOffset, count) });
  }
  return { tensors, metadata };
}

/** Writes `data` to `file` atomically: a temporary file in the same folder, fsync, rename. */
export function writeFileAtomic(file: string, data: Buffer | string): void {
  const dir = path.dirname(file);
  fs.mkdirSync(dir, { recursive: true });
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.tmp`);
  const fd = fs.openSync(tmp, 'w');
  try {
    if (typeof data === 'string') fs.writeSync(fd, data);
    else fs.writeSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}

/** What a trainer needs to resume, stored in the checkpoint's metadata. */
export interface TrainingState {
  epoch: number;
  step: number;
  rngState: number[];
  [key: string]: unknown;
}

const FORMAT = 'hydranet-checkpoint/1';

export async function saveCheckpoint(
  file: string,
  model: MultiTaskModel,
  optimizer: Optimizer | null,
  state: TrainingState,
): Promise<void> {
  const be = model.backend;
  const arena = await be.read(model.params.values);
  const tensors = new Map<string, StoredTensor>();
  for (const p of model.params.parameters) {
    for (const part of p.parts) {
      const start = p.offset + part.offset;
      const size = part.shape.reduce((a, b) => a * b, 1);
      tensors.set(part.name, { shape: [...part.shape], data: arena.subarray(start, start + size) });
    }
  }
  if (optimizer) {
    for (const [name, t] of Object.entries(optimizer.state)) {
      tensors.set(`optimizer.${name}`, { shape: [...t.shape], data: await be.read(t) });
    }
  }
  const metadata: Record<string, string> = {
    format: FORMAT,
    architecture: JSON.stringify(model.architecture()),
    optimizer: JSON.stringify(optimizer ? { config: optimizer.config, steps: optimizer.steps } : null),
    training: JSON.stringify(state),
  };
  writeFileAtomic(file, encodeSafetensors(tensors, metadata));
}

/** Reads a checkpoint file; CheckpointError when missing or corrupt. */
export function readCheckpointFile(file: string): Safetensors {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    throw new CheckpointError(`Cannot read checkpoint ${file}: ${(e as Error).message}`);
  }
  const st = decodeSafetensors(buf, file);
  if (st.metadata.format !== FORMAT) {
    throw new CheckpointError(`${file} is a safetensors file but not a hydranet checkpoint (format ${st.metadata.format ?? 'missing'})`);
  }
  return st;
}

/**
 * Loads parameters (and optimizer state, when given) into a model built with the same
 * architecture; returns the stored training state. CheckpointError, with the first
 * difference named, when the architectures differ.
 */
export async function loadCheckpoint(
  file: string,
  model: MultiTaskModel,
  optimizer: Optimizer | null = null,
): Promise<TrainingState> {
  const st = readCheckpointFile(file);
  const theirs = JSON.parse(st.metadata.architecture ?? 'null') as Record<string, unknown> | null;
  const ours = model.architecture();
  for (const key of Object.keys(ours)) {
    const a = JSON.stringify(ours[key]);
    const b = JSON.stringify(theirs?.[key]);
    if (a !== b) {
      throw new CheckpointError(`${file} was written by a model of another architecture: its ${key} is ${b}, this model's is ${a}`);
    }
  }
  const be = model.backend;
  const arena = new Float32Array(model.params.arenaSize);
  for (const p of model.params.parameters) {
    for (const part of p.parts) {
      const t = st.tensors.get(part.name);
      if (!t || t.shape.join(',') !== part.shape.join(',')) {
        throw new CheckpointError(`${file}: tensor ${part.name} is ${t ? `[${t.shape}]` : 'missing'}, expected [${part.shape}]`);
      }
      arena.set(t.data, p.offset + part.offset);
    }
  }
  be.write(model.params.values, arena);
  if (optimizer) {
    const saved = JSON.parse(st.metadata.optimizer ?? 'null') as { config: { kind: string }; steps: number } | null;
    if (!saved || saved.config.kind !== optimizer.config.kind) {
      throw new CheckpointError(`${file} holds ${saved ? saved.config.kind : 'no'} optimizer state; cannot resume ${optimizer.config.kind}`);
    }
    for (const [name, tensor] of Object.entries(optimizer.state)) {
      const t = st.tensors.get(`optimizer.${name}`);
      if (!t || t.data.length !== tensor.size) throw new CheckpointError(`${file}: optimizer state ${name} is missing or of another size`);
      be.write(tensor, t.data);
    }
    optimizer.steps = saved.steps;
  }
  return JSON.parse(st.metadata.training ?? '{}') as TrainingState;
}
