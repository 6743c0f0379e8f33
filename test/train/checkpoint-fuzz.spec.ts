/**
 * Seeded structural fuzz of checkpoints: real checkpoints (a tiny model trained for two epochs
 * on the reference backend, with AdamW, a stateful weighting strategy and auxiliary-task
 * stopping) are mutated — JSON values replaced, deleted or retyped at random key paths of the
 * header and of the JSON inside its metadata, names given twice, bits flipped, files truncated,
 * header lengths changed — and loaded. Every failure must be a HydranetError (a CheckpointError
 * nearly always), never a TypeError or SyntaxError. A smaller share resumes training from the
 * mutated file, which also runs the weighting strategy's and the stopper's setState.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Rng } from '../../ts/core/random.js';
import { CheckpointError, HydranetError } from '../../ts/errors.js';
import type { MultiTaskModel } from '../../ts/mtl/model.js';
import { decodeSafetensors, loadCheckpoint } from '../../ts/io/checkpoint.js';
import { Optimizer } from '../../ts/train/optimizer.js';
import { Trainer, type TrainerConfig } from '../../ts/train/trainer.js';
import { joinSafetensors, splitSafetensors, tinyData, tinyModel } from './checkpoint-fixtures.js';

const train = tinyData(16, 1);
const validation = tinyData(8, 2);
const config = (weighting: string): TrainerConfig => ({
  optimizer: { kind: 'adamw', lr: 0.01 },
  batchSize: 8,
  epochs: 2,
  seed: 5,
  log: null,
  progress: false,
  weighting,
  auxiliaryStopping: { k: 1, threshold: 1e9 },
});

/** The JSON documents inside a checkpoint's metadata strings. */
const NESTED = ['architecture', 'optimizer', 'training'] as const;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Values a mutation puts in: every JSON type, edge numbers, nesting. */
const JUNK: Json[] = [null, true, false, 0, -1, 1.5, -0.5, 3, 2 ** 31, 2 ** 32, 2 ** 53, 1e308, -1e308, '', 'x', '12', 'NaN', [], [1], [null], [-1, 2], [1, 2, 3, 4], {}, { a: 1 }, { name: 'x' }, [[1]], { epoch: 1 }];

/** Every [container, key] pair below `root` (arrays and objects), root's own slot included. */
function slots(root: { value: Json }): [Record<string, Json> | Json[], string | number][] {
  const out: [Record<string, Json> | Json[], string | number][] = [[root as unknown as Record<string, Json>, 'value']];
  const walk = (v: Json): void => {
    if (Array.isArray(v)) {
      v.forEach((x, i) => {
        out.push([v, i]);
        walk(x);
      });
    } else if (v !== null && typeof v === 'object') {
      for (const k of Object.keys(v)) {
        out.push([v, k]);
        walk(v[k]);
      }
    }
  };
  walk(root.value);
  return out;
}

/** One random structural change somewhere in `root.value`; returns what it did. */
function mutateJson(root: { value: Json }, rng: Rng): string {
  const all = slots(root);
  const [holder, key] = all[rng.int(all.length)];
  const h = holder as Record<string | number, Json>;
  const old = h[key];
  const at = `${key}`;
  switch (rng.int(5)) {
    case 0: {
      const v = JUNK[rng.int(JUNK.length)];
      h[key] = structuredClone(v);
      return `${at} = ${JSON.stringify(v)}`;
    }
    case 1:
      if (Array.isArray(holder)) holder.splice(key as number, 1);
      else delete h[key];
      return `delete ${at}`;
    case 2: // retype
      if (Array.isArray(old)) h[key] = Object.fromEntries(old.map((x, i) => [String(i), x]));
      else if (old !== null && typeof old === 'object') h[key] = Object.values(old);
      else if (typeof old === 'number') h[key] = String(old);
      else if (typeof old === 'string') h[key] = Number(old) || old.length;
      else h[key] = [old];
      return `retype ${at}`;
    case 3: // a number nudged, an array grown
      if (typeof old === 'number') h[key] = [old + 1, old - 1, -old, old * 2 ** 20, old + 0.5][rng.int(5)];
      else if (Array.isArray(old)) old.push(structuredClone(old[0] ?? 0));
      else h[key] = structuredClone(JUNK[rng.int(JUNK.length)]);
      return `nudge ${at}`;
    default: // swap with another slot's value
    {
      const [other, k2] = all[rng.int(all.length)];
      const o = other as Record<string | number, Json>;
      const tmp = structuredClone(o[k2]);
      o[k2] = structuredClone(old);
      h[key] = tmp;
      return `swap ${at} and ${k2}`;
    }
  }
}

/** A mutated copy of checkpoint `bytes`, and a description of the mutation. */
function mutate(bytes: Buffer, rng: Rng, focus: 'any' | 'training'): { buf: Buffer; what: string } {
  if (focus === 'any' && rng.uniform() < 0.3) return mutateBytes(bytes, rng);
  const { header, data } = splitSafetensors(bytes);
  const meta = header.__metadata__ as Record<string, string>;
  const keepChecksums = rng.uniform() < 0.1; // then the header checksum catches the change
  if (!keepChecksums) {
    delete meta['hydranet.crc32.data'];
    delete meta['hydranet.crc32.header'];
  }
  const what: string[] = [];
  const n = 1 + rng.int(3);
  for (let i = 0; i < n; i++) {
    if (focus === 'training' || rng.uniform() < 0.5) {
      const key = focus === 'training' && rng.uniform() < 0.8 ? 'training' : NESTED[rng.int(NESTED.length)];
      if (typeof meta?.[key] !== 'string') continue;
      if (rng.uniform() < 0.05) {
        meta[key] = meta[key].slice(0, rng.int(meta[key].length));
        what.push(`${key} truncated`);
        continue;
      }
      let root: { value: Json };
      try {
        root = { value: JSON.parse(meta[key]) };
      } catch {
        continue; // truncated by an earlier mutation
      }
      what.push(`${key}: ${mutateJson(root, rng)}`);
      meta[key] = JSON.stringify(root.value);
    } else {
      const root = { value: header as Json };
      what.push(`header: ${mutateJson(root, rng)}`);
      if (root.value !== header) return { buf: joinSafetensors(root.value === undefined ? '' : root.value, data), what: what.join('; ') };
    }
  }
  let text = JSON.stringify(header);
  if (focus === 'any' && rng.uniform() < 0.05) {
    // A tensor name given twice (JSON.parse keeps the last).
    const m = /"(trunk\.0\.weight|heads\.a\.0\.bias)":\{[^}]*\}/.exec(text);
    if (m) {
      text = text.replace(m[0], `${m[0]},${m[0]}`);
      what.push(`${m[1]} twice`);
    }
  }
  return { buf: joinSafetensors(text, data), what: what.join('; ') };
}

/** Byte-level damage, checksums intact: bit flips, truncation, a wrong header length, junk appended. */
function mutateBytes(bytes: Buffer, rng: Rng): { buf: Buffer; what: string } {
  const buf = Buffer.from(bytes);
  switch (rng.int(4)) {
    case 0: {
      const flips = 1 + rng.int(4);
      for (let i = 0; i < flips; i++) buf[rng.int(buf.length)] ^= 1 << rng.int(8);
      return { buf, what: `${flips} bit flips` };
    }
    case 1: {
      const n = rng.int(buf.length);
      return { buf: buf.subarray(0, n), what: `truncated to ${n} bytes` };
    }
    case 2: {
      const len = buf.readBigUInt64LE(0);
      const next = [len + BigInt(1 + rng.int(16)), len - BigInt(1 + rng.int(16)), BigInt(rng.int(64)), BigInt(rng.nextU32()) << 32n, 2n ** 64n - 1n][rng.int(5)];
      buf.writeBigUInt64LE(next < 0n ? 0n : next, 0);
      return { buf, what: `header length ${next}` };
    }
    default: {
      const extra = Buffer.from(rng.uniformArray(1 + rng.int(8)).buffer);
      return { buf: Buffer.concat([buf, extra]), what: `${extra.length} bytes appended` };
    }
  }
}

describe('checkpoint fuzz (seeded)', function () {
  this.timeout(120_000);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hydranet-fuzz-'));
  const target = path.join(dir, 'fuzzed.safetensors');
  const originals = new Map<string, Buffer>();
  let model: MultiTaskModel;

  before(async () => {
    for (const weighting of ['famo', 'dwa']) {
      const m = tinyModel();
      const runDir = path.join(dir, weighting);
      await new Trainer(m, { ...config(weighting), runDir }).fit(train, { validation });
      originals.set(weighting, fs.readFileSync(path.join(runDir, 'checkpoint.safetensors')));
    }
    model = tinyModel();
  });

  /** Loads each case, returning the cases that failed with anything but a HydranetError. */
  async function run(cases: number, seed: number, focus: 'any' | 'training', load: (weighting: string) => Promise<unknown>) {
    const rng = new Rng(seed);
    const generic: string[] = [];
    const counts = { loaded: 0, checkpointError: 0, otherTyped: 0, generic: 0 };
    for (let i = 0; i < cases; i++) {
      const weighting = i % 2 === 0 ? 'famo' : 'dwa';
      const { buf, what } = mutate(originals.get(weighting)!, rng, focus);
      try {
        // Most cases fail in decoding, which needs no file (loading starts with the same decode).
        decodeSafetensors(buf, target);
        fs.writeFileSync(target, buf);
        await load(weighting);
        counts.loaded++;
      } catch (e) {
        if (e instanceof CheckpointError) counts.checkpointError++;
        else if (e instanceof HydranetError) counts.otherTyped++;
        else {
          counts.generic++;
          if (generic.length < 20) {
            const training = (() => {
              try {
                return (splitSafetensors(buf).header.__metadata__ as Record<string, unknown>).training;
              } catch {
                return '(header unreadable)';
              }
            })();
            generic.push(`case ${i} (${weighting}): ${what}\n    ${(e as Error).stack?.split('\n').slice(0, 3).join('\n    ')}\n    training: ${String(training)}`);
          }
        }
      }
    }
    return { generic, counts };
  }

  it('loads 10,000 mutated checkpoints: every failure is typed', async () => {
    const optimizer = new Optimizer(model.backend, model.params, { kind: 'adamw', lr: 0.01 });
    const { generic, counts } = await run(10_000, 0xc0ffee, 'any', () => loadCheckpoint(target, model, optimizer));
    assert.equal(counts.generic, 0, `generic errors:\n${generic.join('\n')}`);
    // The fuzz reaches the checks: most mutations are refused, some are harmless.
    assert.ok(counts.checkpointError > 5_000 && counts.loaded > 100, JSON.stringify(counts));
  });

  it('resumes training from 500 mutated checkpoints: every failure is typed', async () => {
    const { generic, counts } = await run(500, 0xbadcab1e, 'training', (weighting) =>
      new Trainer(model, { ...config(weighting), epochs: 3 }).fit(train, { validation, resumeFrom: target }),
    );
    assert.equal(counts.generic, 0, `generic errors (${JSON.stringify(counts)}):\n${generic.join('\n')}`);
    assert.ok(counts.checkpointError > 100, JSON.stringify(counts));
  });
});
