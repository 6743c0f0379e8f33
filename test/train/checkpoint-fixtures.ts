/**
 * Shared by the checkpoint specs (and their child process): a tiny two-task model on the
 * reference backend, its data, and a way to take a safetensors file apart and put it together
 * again (to write files the way an older hydranet did, or with a corrupted header).
 */
import { ReferenceBackend } from '../../ts/backends/reference.js';
import { Rng } from '../../ts/core/random.js';
import { MultiTaskDataset } from '../../ts/data/dataset.js';
import { type ModelConfig, MultiTaskModel } from '../../ts/mtl/model.js';

/** Four inputs, a dense trunk, a 3-class main task and an auxiliary regression task. */
export function tinyModel(seed = 3, units = 3, inputs = 4): MultiTaskModel {
  const config: ModelConfig = {
    inputShape: [inputs],
    trunk: [{ type: 'dense', units, activation: 'relu' }],
    tasks: [
      { name: 'a', kind: 'classification', classes: 3 },
      { name: 'b', kind: 'regression', auxiliary: true },
    ],
    maxBatch: 8,
    seed,
  };
  return new MultiTaskModel(new ReferenceBackend(), config);
}

/** n samples for tinyModel. */
export function tinyData(n: number, seed: number): MultiTaskDataset {
  const rng = new Rng(seed);
  const inputs = rng.uniformArray(n * 4, -1, 1);
  const a = Float32Array.from({ length: n }, (_, i) => (inputs[4 * i] > 0 ? 1 : 0) + (inputs[4 * i + 1] > 0.5 ? 1 : 0));
  const b = Float32Array.from({ length: n }, (_, i) => inputs[4 * i + 2] - inputs[4 * i + 3]);
  return new MultiTaskDataset({ inputs, inputShape: [4], labels: { a, b } });
}

/** A safetensors file's header (parsed) and data section. */
export function splitSafetensors(buf: Buffer): { header: Record<string, unknown>; data: Buffer } {
  const len = Number(buf.readBigUInt64LE(0));
  return { header: JSON.parse(buf.toString('utf8', 8, 8 + len)), data: buf.subarray(8 + len) };
}

/** A safetensors file from a header (an object, or raw text) and a data section. */
export function joinSafetensors(header: unknown, data: Buffer): Buffer {
  const head = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header), 'utf8');
  const out = Buffer.alloc(8 + head.length + data.length);
  out.writeBigUInt64LE(BigInt(head.length), 0);
  head.copy(out, 8);
  data.copy(out, 8 + head.length);
  return out;
}

/** The file as hydranet wrote it before checksums existed: the same header without them. */
export function withoutChecksums(buf: Buffer): Buffer {
  const { header, data } = splitSafetensors(buf);
  const meta = header.__metadata__ as Record<string, string>;
  delete meta['hydranet.crc32.data'];
  delete meta['hydranet.crc32.header'];
  return joinSafetensors(header, data);
}
