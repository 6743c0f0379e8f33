/**
 * Checkpoints never lose data: atomic writes that fail loudly (disk full, file size limit, a
 * parent that is a file) and keep the old file, stale temporaries of killed writers removed,
 * checksums that catch every flipped bit, typed errors for corrupt files, a validated training
 * state, and no NaN ever written.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as zlib from 'node:zlib';
import { Rng } from '../../ts/core/random.js';
import { CheckpointError, ConfigError, FileWriteError, HydranetError, ShapeError, ValueError } from '../../ts/errors.js';
import {
  type TrainingState,
  crc32Table,
  decodeSafetensors,
  findNonFiniteParameter,
  loadCheckpoint,
  parseTrainingState,
  readCheckpointFile,
  saveCheckpoint,
} from '../../ts/io/checkpoint.js';
import { temporaryPath, writeFileAtomic } from '../../ts/io/files.js';
import { Optimizer } from '../../ts/train/optimizer.js';
import { joinSafetensors, splitSafetensors, tinyModel, withoutChecksums } from './checkpoint-fixtures.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const tmp = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'hydranet-checkpoint-'));
const state = (epoch = 1): TrainingState => ({ epoch, step: 4 * epoch, rngState: new Rng(epoch).getState() });
const temporaries = (dir: string): string[] => fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'));

/** A saved checkpoint of tinyModel with AdamW state, and the model and optimizer. */
async function saved(dir: string, name = 'checkpoint.safetensors') {
  const model = tinyModel();
  const optimizer = new Optimizer(model.backend, model.params, { kind: 'adamw', lr: 0.01 });
  optimizer.steps = 4;
  const file = path.join(dir, name);
  await saveCheckpoint(file, model, optimizer, state());
  return { file, model, optimizer, bytes: fs.readFileSync(file) };
}

const isCheckpointError = (pattern: RegExp) => (e: unknown) => {
  assert.ok(e instanceof CheckpointError, `expected CheckpointError, got ${(e as Error)?.stack ?? e}`);
  assert.match(e.message, pattern);
  return true;
};

describe('writeFileAtomic', () => {
  it('keeps the old checkpoint when the file size limit is hit mid-write (RLIMIT_FSIZE, EFBIG), and says so', async () => {
    const dir = tmp();
    const file = path.join(dir, 'checkpoint.safetensors');
    const child = path.join(here, 'checkpoint-child.js');
    const run = (limit: string) =>
      spawnSync('bash', ['-c', `trap '' XFSZ; ${limit} exec "${process.execPath}" "${child}" "${file}" 2`], { encoding: 'utf8' });
    const good = run('');
    assert.equal(good.status, 0, good.stderr);
    assert.deepEqual(JSON.parse(good.stdout), { ok: true });
    const before = fs.readFileSync(file);
    assert.ok(before.length > 100 * 1024, `the checkpoint must exceed the 64 KiB limit (${before.length})`);
    // Under a 64 KiB file size limit the first write comes back short and the next fails with
    // EFBIG: the old code ignored the short count and renamed a truncated file over the good one.
    const limited = run('ulimit -f 64;');
    assert.equal(limited.status, 0, limited.stderr);
    const result = JSON.parse(limited.stdout);
    assert.equal(result.name, 'FileWriteError', limited.stdout);
    assert.equal(result.path, file);
    assert.match(result.message, /EFBIG/);
    assert.match(result.message, /previous .* is kept unchanged/);
    assert.ok(fs.readFileSync(file).equals(before), 'the good checkpoint is byte-identical');
    assert.deepEqual(temporaries(dir), []);
  });

  it('reports a full disk (ENOSPC, through /dev/full) and keeps the old file', function () {
    if (!fs.existsSync('/dev/full')) this.skip();
    const dir = tmp();
    const file = path.join(dir, 'metrics.json');
    fs.writeFileSync(file, 'old');
    // This process's temporary file is a link to /dev/full: every write to it fails with ENOSPC.
    fs.symlinkSync('/dev/full', temporaryPath(file));
    assert.throws(
      () => writeFileAtomic(file, 'x'.repeat(10_000)),
      (e: unknown) => e instanceof FileWriteError && e.path === file && /the disk is full \(ENOSPC\)/.test(e.message),
    );
    assert.equal(fs.readFileSync(file, 'utf8'), 'old');
    assert.deepEqual(temporaries(dir), []);
  });

  it('says when a parent is a file (ENOTDIR) or the target is a folder, leaving nothing behind', () => {
    const dir = tmp();
    fs.writeFileSync(path.join(dir, 'plain'), 'x');
    const under = path.join(dir, 'plain', 'run', 'checkpoint.safetensors');
    assert.throws(
      () => writeFileAtomic(under, 'data'),
      (e: unknown) => e instanceof FileWriteError && e.path === under && /a parent is a file/.test(e.message) && /no file was written/.test(e.message),
    );
    const folder = path.join(dir, 'folder');
    fs.mkdirSync(folder);
    assert.throws(() => writeFileAtomic(folder, 'data'), (e: unknown) => e instanceof FileWriteError && /renaming/.test(e.message));
    assert.ok(fs.statSync(folder).isDirectory());
    assert.deepEqual(temporaries(dir), []);
    assert.throws(() => writeFileAtomic(path.join(dir, 'x'), { not: 'bytes' } as never), ValueError);
  });

  it('says when the folder is read-only (EACCES; not testable as root, where permission bits do not apply)', function () {
    if (process.getuid?.() === 0 || process.platform === 'win32') this.skip();
    const dir = tmp();
    const file = path.join(dir, 'checkpoint.safetensors');
    fs.writeFileSync(file, 'old');
    fs.chmodSync(dir, 0o555);
    try {
      assert.throws(() => writeFileAtomic(file, 'new'), (e: unknown) => e instanceof FileWriteError && /permission denied \(EACCES\)/.test(e.message));
      assert.equal(fs.readFileSync(file, 'utf8'), 'old');
    } finally {
      fs.chmodSync(dir, 0o755);
    }
  });

  it("removes the temporaries of writers that were killed, never a live process's or another file's", () => {
    const dir = tmp();
    const file = path.join(dir, 'checkpoint.safetensors');
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!; // exited: its pid no longer exists
    const stale = temporaryPath(file, dead);
    const live = temporaryPath(file, 1); // init never exits
    const other = temporaryPath(path.join(dir, 'best.safetensors'), dead);
    for (const f of [stale, live, other]) fs.writeFileSync(f, 'half a checkpoint');
    writeFileAtomic(file, 'complete');
    assert.equal(fs.readFileSync(file, 'utf8'), 'complete');
    assert.ok(!fs.existsSync(stale), 'the dead writer’s temporary is removed');
    assert.ok(fs.existsSync(live), 'a live process’s temporary is kept');
    assert.ok(fs.existsSync(other), 'another file’s temporary is kept');
  });
});

describe('checkpoint checksums', () => {
  it('reports a flipped bit in the tensor data, naming the file', async () => {
    const dir = tmp();
    const { file, model, bytes } = await saved(dir);
    const { data } = splitSafetensors(bytes);
    const flipped = Buffer.from(bytes);
    flipped[bytes.length - data.length + 5] ^= 0x10;
    fs.writeFileSync(file, flipped);
    await assert.rejects(loadCheckpoint(file, model), (e: unknown) => {
      assert.ok(e instanceof CheckpointError, String(e));
      assert.ok(e.message.startsWith(file), e.message);
      assert.match(e.message, /the tensor data does not match its checksum: the file is corrupt/);
      return true;
    });
  });

  it('reports a flipped bit in the header (here: epoch 1 becomes 3, valid JSON)', async () => {
    const dir = tmp();
    const { file, model, bytes } = await saved(dir);
    const at = bytes.indexOf('\\"epoch\\":1');
    assert.ok(at > 0);
    const flipped = Buffer.from(bytes);
    flipped[at + '\\"epoch\\":'.length] ^= 0x02; // '1' → '3'
    fs.writeFileSync(file, flipped);
    await assert.rejects(loadCheckpoint(file, model), isCheckpointError(/the header does not match its checksum: the file is corrupt/));
  });

  it('reports every single-bit flip anywhere in a checkpoint file', async () => {
    const { bytes } = await saved(tmp());
    let reported = 0;
    for (let i = 0; i < bytes.length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        bytes[i] ^= 1 << bit;
        try {
          decodeSafetensors(bytes, 'f');
        } catch (e) {
          if (!(e instanceof CheckpointError)) throw e;
          reported++;
        }
        bytes[i] ^= 1 << bit;
      }
    }
    assert.equal(reported, bytes.length * 8);
  });

  it('still loads a checkpoint written before checksums existed', async () => {
    const dir = tmp();
    const { file, model, optimizer, bytes } = await saved(dir);
    fs.writeFileSync(file, withoutChecksums(bytes));
    const fresh = tinyModel(77);
    const again = new Optimizer(fresh.backend, fresh.params, optimizer.config);
    assert.deepEqual(await loadCheckpoint(file, fresh, again), state());
    assert.deepEqual(await fresh.backend.read(fresh.params.values), await model.backend.read(model.params.values));
    assert.equal(again.steps, 4);
  });

  it('computes CRC-32 without zlib (Node < 20.15) exactly as zlib does', () => {
    const bytes = Buffer.from(new Rng(9).uniformArray(10_001).buffer);
    const zlibCrc = (zlib as { crc32?: (b: Uint8Array, v?: number) => number }).crc32;
    if (zlibCrc) assert.equal(zlibCrc(bytes), crc32Table(bytes));
    assert.equal(crc32Table(Buffer.from('123456789')), 0xcbf43926); // the standard check value
    assert.equal(crc32Table(bytes.subarray(3000), crc32Table(bytes.subarray(0, 3000))), crc32Table(bytes));
  });
});

describe('reading corrupt checkpoints', () => {
  /** The saved checkpoint with its header rewritten by `edit` (and no checksums, so the checks below them are reached). */
  async function edited(edit: (header: Record<string, unknown>) => unknown): Promise<{ file: string; model: ReturnType<typeof tinyModel> }> {
    const dir = tmp();
    const { file, model, bytes } = await saved(dir);
    const { header, data } = splitSafetensors(withoutChecksums(bytes));
    fs.writeFileSync(file, joinSafetensors(edit(header) ?? header, data));
    return { file, model };
  }
  const meta = (h: Record<string, unknown>) => h.__metadata__ as Record<string, unknown>;
  const first = (h: Record<string, unknown>) => h['trunk.0.weight'] as Record<string, unknown>;

  const cases: [string, (h: Record<string, unknown>) => unknown, RegExp][] = [
    ['a header that is null', () => 'null', /the header is null, not a JSON object/],
    ['a header that is an array', () => '[1, 2]', /not a JSON object/],
    ['an entry that is null', (h) => void (h['trunk.0.weight'] = null), /tensor "trunk.0.weight" is null/],
    ['a shape that is not an array', (h) => void (first(h).shape = 12), /shape 12, not a list/],
    ['a fractional dimension', (h) => void (first(h).shape = [3, 1.5]), /not a list of non-negative integers/],
    ['offsets that are not iterable', (h) => void (first(h).data_offsets = 7), /data_offsets 7/],
    ['offsets that are out of order', (h) => void (first(h).data_offsets = [48, 0]), /outside/],
    ['overlapping tensors', (h) => void ((h['trunk.0.bias'] as Record<string, unknown>).data_offsets = first(h).data_offsets), /overlapping|needs/],
    ['a shape that does not match its offsets', (h) => void (first(h).shape = [2, 4]), /needs 32/],
    ['an unknown dtype', (h) => void (first(h).dtype = 'F64'), /dtype "F64"/],
    ['metadata that is not an object', (h) => void (h.__metadata__ = 'x'), /__metadata__ is "x"/],
    ['a metadata value that is not a string', (h) => void (meta(h).training = { epoch: 1 }), /metadata training is an object/],
    ['architecture that is not JSON', (h) => void (meta(h).architecture = '{"trunk": ['), /architecture metadata is not JSON/],
    ['architecture that is null', (h) => void (meta(h).architecture = 'null'), /architecture metadata is null/],
    ['optimizer that is not JSON', (h) => void (meta(h).optimizer = 'nope'), /optimizer metadata is not JSON/],
    ['an optimizer without a config', (h) => void (meta(h).optimizer = '{"steps":3}'), /at optimizer.config: expected an object but received undefined/],
    ['training that is not JSON', (h) => void (meta(h).training = '{'), /training metadata is not JSON/],
    ['training that is null', (h) => void (meta(h).training = 'null'), /at training: expected an object but received null/],
    ['missing training metadata', (h) => void delete meta(h).training, /has no training/],
    ['another format', (h) => void (meta(h).format = 'x/2'), /not a hydranet checkpoint/],
  ];
  for (const [what, edit, message] of cases) {
    it(`reports ${what} as CheckpointError`, async () => {
      const { file, model } = await edited(edit);
      const params = await model.backend.read(model.params.values);
      await assert.rejects(loadCheckpoint(file, model, new Optimizer(model.backend, model.params, { kind: 'adamw', lr: 0.01 })), isCheckpointError(message));
      assert.deepEqual(await model.backend.read(model.params.values), params, 'nothing was written into the model');
    });
  }

  it('reports a header length beyond the file, and a file that is too short', () => {
    const b = Buffer.alloc(16);
    b.writeBigUInt64LE(2n ** 63n, 0);
    assert.throws(() => decodeSafetensors(b, 'f'), isCheckpointError(/claims 9223372036854775808 bytes/));
    assert.throws(() => decodeSafetensors(Buffer.alloc(3), 'f'), isCheckpointError(/only 3 bytes/));
  });

  it('reads a checkpoint of another writer without the optimizer metadata it does not need', async () => {
    const { file } = await edited((h) => void (meta(h).optimizer = 'null'));
    assert.equal(readCheckpointFile(file).optimizer, null);
  });
});

describe('the training state of a checkpoint', () => {
  const good = (): Record<string, unknown> => ({
    epoch: 2,
    step: 8,
    rngState: [1, 2, 3, 4],
    bestScore: null,
    weighting: { name: 'dwa', state: { history: [] }, rngState: [5, 6, 7, 0xffffffff] },
    auxiliaryStopping: { history: {} },
    history: [{ epoch: 1 }, { epoch: 2 }],
  });

  it('passes a well-formed state, with a null bestScore (JSON of -Infinity) as absent', () => {
    const s = parseTrainingState(good(), 'f');
    assert.equal(s.epoch, 2);
    assert.ok(!('bestScore' in s));
    assert.deepEqual(s.weighting!.rngState, [5, 6, 7, 0xffffffff]);
    assert.equal(s.history!.length, 2);
    assert.equal(parseTrainingState({ ...good(), bestScore: -0.5 }, 'f').bestScore, -0.5);
  });

  const bad: [string, unknown, RegExp][] = [
    ['epoch', -1, /at training.epoch: expected an integer ≥ 0 but received -1/],
    ['step', 1.5, /at training.step: .* received 1.5/],
    ['rngState', [1, 2, 3], /at training.rngState: expected an array of 4 values/],
    ['rngState', [1, 2, 3, 2 ** 32], /at training.rngState\[3\]/],
    ['rngState', [0, 0, 0, 0], /four zeros/],
    ['bestScore', '1', /at training.bestScore: .* received "1"/],
    ['weighting', { name: 'dwa', state: null, rngState: [1, 2, 3, 4] }, /at training.weighting.state: expected an object but received null/],
    ['weighting', { name: 7, state: {}, rngState: [1, 2, 3, 4] }, /at training.weighting.name: expected a string but received 7/],
    ['weighting', { name: 'dwa', state: {}, rngState: 'x' }, /at training.weighting.rngState/],
    ['auxiliaryStopping', [], /at training.auxiliaryStopping: expected an object/],
    ['history', {}, /at training.history: expected an array/],
    ['history', [null], /at training.history\[0\]: expected an object but received null/],
  ];
  for (const [key, value, message] of bad) {
    it(`refuses ${key} = ${JSON.stringify(value)}`, () => {
      assert.throws(() => parseTrainingState({ ...good(), [key]: value }, 'run/checkpoint.safetensors'), isCheckpointError(message));
      assert.throws(() => parseTrainingState({ ...good(), [key]: value }, 'run/checkpoint.safetensors'), /^CheckpointError: run\/checkpoint.safetensors: /);
    });
  }
});

describe('saveCheckpoint', () => {
  it('refuses non-finite parameters, naming the first, and keeps the previous file', async () => {
    const dir = tmp();
    const { file, model, optimizer, bytes } = await saved(dir);
    const arena = await model.backend.read(model.params.values);
    const bias = model.params.parameters.find((p) => p.name === 'trunk.0.bias')!;
    arena[bias.offset + 2] = NaN;
    model.backend.write(model.params.values, arena);
    assert.deepEqual(findNonFiniteParameter(model.params, arena), { name: 'trunk.0.bias', index: 2, value: NaN, text: 'trunk.0.bias[2] is NaN' });
    await assert.rejects(saveCheckpoint(file, model, optimizer, state(2)), isCheckpointError(/Refusing to write .*: trunk.0.bias\[2\] is NaN/));
    assert.ok(fs.readFileSync(file).equals(bytes));
    // The per-task head blocks are named as in the file.
    arena[bias.offset + 2] = 0;
    const head = model.params.parameters.find((p) => p.parts.some((q) => q.name === 'heads.b.0.weight'))!;
    const part = head.parts.find((q) => q.name === 'heads.b.0.weight')!;
    arena[head.offset + part.offset + 1] = -Infinity;
    assert.equal(findNonFiniteParameter(model.params, arena)!.text, 'heads.b.0.weight[1] is -Infinity');
    assert.throws(() => findNonFiniteParameter(model.params, arena.subarray(1)), ShapeError);
  });

  it('refuses to load non-finite parameters (from a file written before the check)', async () => {
    const dir = tmp();
    const { file, model, bytes } = await saved(dir);
    const { header, data } = splitSafetensors(withoutChecksums(bytes));
    const entry = header['trunk.0.weight'] as { data_offsets: number[] };
    data.writeFloatLE(Infinity, entry.data_offsets[0] + 4);
    fs.writeFileSync(file, joinSafetensors(header, data));
    await assert.rejects(loadCheckpoint(file, model), isCheckpointError(/trunk.0.weight\[1\] is Infinity/));
  });

  it('writes the parameter arena it is given instead of reading it again', async () => {
    const dir = tmp();
    const { file, model } = await saved(dir);
    const arena = await model.backend.read(model.params.values);
    const w = model.params.parameters.find((p) => p.name === 'trunk.0.weight')!;
    arena[w.offset] = 42;
    await saveCheckpoint(file, model, null, state(), { parameters: arena });
    assert.equal(readCheckpointFile(file).tensors.get('trunk.0.weight')!.data[0], 42);
    await assert.rejects(saveCheckpoint(file, model, null, state(), { parameters: arena.subarray(3) }), ShapeError);
    await assert.rejects(saveCheckpoint(file, model, null, state(), { parametres: arena } as never), ConfigError);
    await assert.rejects(saveCheckpoint(file, model, null, { ...state(), x: 1n }), (e: unknown) => e instanceof HydranetError);
  });
});
