/**
 * Child process of test/train/checkpoint.spec.ts: saves a checkpoint of a 256→128 model
 * (about 130 KiB) to argv[2] under whatever limits the parent set (ulimit -f), and prints
 * what happened as one JSON line: { ok: true } or the error's name, message and path.
 */
import { Rng } from '../../ts/core/random.js';
import { saveCheckpoint } from '../../ts/io/checkpoint.js';
import { tinyModel } from './checkpoint-fixtures.js';

const [file, seed] = process.argv.slice(2);
const model = tinyModel(Number(seed), 128, 256);
try {
  await saveCheckpoint(file, model, null, { epoch: 0, step: 0, rngState: new Rng(0).getState() });
  console.log(JSON.stringify({ ok: true }));
} catch (e) {
  const err = e as Error & { path?: string; code?: string };
  console.log(JSON.stringify({ ok: false, name: err.name, message: err.message, path: err.path, code: err.code }));
}
