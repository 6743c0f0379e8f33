/**
 * The trainer never loses data or blocks its host silently (issue 13): the history survives a
 * resume, the run folder is checked before training, model selection copes with unlabelled
 * validation tasks, non-finite parameters stop training before they reach a checkpoint, calls
 * on one model do not interleave, a second fit() is defined, fit() yields to the event loop,
 * and an AbortSignal stops a run cleanly, resumable exactly where it stopped.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Backend } from '../../ts/backends/backend.js';
import { ReferenceBackend } from '../../ts/backends/reference.js';
import { MultiTaskDataset } from '../../ts/data/dataset.js';
import { makeMultiMnist } from '../../ts/data/multimnist.js';
import { BusyError, ConfigError, FileWriteError, NonFiniteLossError, TrainingAbortedError } from '../../ts/errors.js';
import { type ModelConfig, MultiTaskModel } from '../../ts/mtl/model.js';
import { loadCheckpoint, readCheckpointFile } from '../../ts/io/checkpoint.js';
import { type EpochRecord, Trainer, type TrainerConfig, eventLoopYield, selectionScore } from '../../ts/train/trainer.js';
import { backendsUnderTest } from '../backends/harness.js';
import { multiMnistMlp } from '../fixtures.js';

const cpu = (await backendsUnderTest()).find((b) => b.name === 'cpu')?.backend ?? null;
const fast: Backend = cpu ?? new ReferenceBackend();
const reference = new ReferenceBackend();

const data = makeMultiMnist({ split: 'train', seed: 1, count: 256 });
const val = makeMultiMnist({ split: 'test', seed: 2, count: 64 });

const mlp = (extra: Partial<ModelConfig> = {}): ModelConfig => multiMnistMlp([16], 32, 3, extra);
const sgd = (epochs: number, extra: Partial<TrainerConfig> = {}): TrainerConfig => ({
  optimizer: { kind: 'sgd', lr: 0.05, momentum: 0.9 },
  batchSize: 32,
  epochs,
  seed: 5,
  log: null,
  ...extra,
});
const tmp = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'hydranet-safety-'));
const json = (x: unknown): unknown => JSON.parse(JSON.stringify(x));

/** `data` with the labels of `tasks` all missing. */
function unlabelled(ds: MultiTaskDataset, tasks: string[]): MultiTaskDataset {
  return new MultiTaskDataset({
    inputs: ds.inputs,
    inputShape: [28, 28],
    labels: { left: ds.labels('left'), right: ds.labels('right') },
    masks: Object.fromEntries(tasks.map((t) => [t, new Uint8Array(ds.length)])),
  });
}

/** Calls `then` right after the optimizer's step number `at` (a deterministic point inside a run). */
function afterStep(trainer: Trainer, at: number, then: () => void): void {
  const step = trainer.optimizer.step.bind(trainer.optimizer);
  trainer.optimizer.step = () => {
    step();
    if (trainer.optimizer.steps === at) then();
  };
}

describe('Trainer safety', function () {
  this.timeout(120_000);

  it('restores the history on resume: metrics.json and fit() hold every epoch', async () => {
    const dir = tmp();
    const first = await new Trainer(new MultiTaskModel(fast, mlp()), sgd(2, { runDir: dir })).fit(data, { validation: val });
    // The checkpoint's best score includes its own epoch (a resume must not overwrite a better best.safetensors).
    const state = await loadCheckpoint(path.join(dir, 'checkpoint.safetensors'), new MultiTaskModel(fast, mlp()));
    const tasks = new MultiTaskModel(fast, mlp()).tasks;
    assert.equal(state.bestScore, Math.max(...first.map((r) => selectionScore(r, tasks))));
    const resumed = new Trainer(new MultiTaskModel(fast, mlp()), sgd(3, { runDir: dir }));
    const history = await resumed.fit(data, { validation: val, resumeFrom: path.join(dir, 'checkpoint.safetensors') });
    assert.deepEqual(history.map((r) => r.epoch), [1, 2, 3]);
    assert.deepEqual(json(history.slice(0, 2)), json(first));
    const metrics = JSON.parse(fs.readFileSync(path.join(dir, 'metrics.json'), 'utf8')) as EpochRecord[];
    assert.deepEqual(metrics.map((r) => r.epoch), [1, 2, 3]);
  });

  it('checks the run folder before the first step: FileWriteError naming the folder', async () => {
    const dir = tmp();
    const file = path.join(dir, 'a-file');
    fs.writeFileSync(file, 'not a folder');
    const model = new MultiTaskModel(reference, mlp());
    const before = await reference.read(model.params.values);
    const runDir = path.join(file, 'run');
    await assert.rejects(new Trainer(model, sgd(1, { runDir })).fit(data), (e: Error) => {
      assert.ok(e instanceof FileWriteError, String(e));
      assert.equal(e.path, runDir);
      assert.match(e.message, /run folder/);
      return true;
    });
    assert.deepEqual(await reference.read(model.params.values), before, 'nothing trained');
  });

  it('chooses best.safetensors over the main tasks that have validation labels, and says so once', async () => {
    const dir = tmp();
    const lines: string[] = [];
    const trainer = new Trainer(new MultiTaskModel(fast, mlp()), sgd(2, { runDir: dir, log: (l) => lines.push(l) }));
    await trainer.fit(data, { validation: unlabelled(val, ['right']) });
    assert.ok(fs.existsSync(path.join(dir, 'best.safetensors')), 'best.safetensors is written');
    const notes = lines.filter((l) => l.startsWith('model selection'));
    assert.equal(notes.length, 1, lines.join('\n'));
    assert.match(notes[0], /right has no labels in the validation set .*scored on left/);

    const none = tmp();
    const told: string[] = [];
    const t2 = new Trainer(new MultiTaskModel(fast, mlp()), sgd(1, { runDir: none, log: (l) => told.push(l) }));
    await t2.fit(data, { validation: unlabelled(val, ['left', 'right']) });
    assert.ok(fs.existsSync(path.join(none, 'best.safetensors')));
    assert.ok(told.some((l) => /no main task has labels in the validation set .*training loss/.test(l)), told.join('\n'));
  });

  it('stops with NonFiniteLossError when a parameter is not finite at an epoch end, before any checkpoint', async () => {
    const dir = tmp();
    const model = new MultiTaskModel(fast, mlp());
    const trainer = new Trainer(model, sgd(2, { runDir: dir, lossCheckEvery: 1000 }));
    // The last update of epoch 1 overflows one weight: the epoch's loss reads came before it.
    const part = model.params.parameters.flatMap((p) => p.parts.map((q) => ({ ...q, at: p.offset + q.offset }))).find((q) => q.name === 'heads.right.0.weight')!;
    afterStep(trainer, 8, () => fast.write(model.params.values, Float32Array.of(Infinity), part.at + 3));
    await assert.rejects(trainer.fit(data), (e: Error) => {
      assert.ok(e instanceof NonFiniteLossError, String(e));
      assert.match(e.message, /heads\.right\.0\.weight\[3\] is Infinity at the end of epoch 1/);
      assert.equal(e.step, 8);
      assert.equal(e.task, 'right');
      return true;
    });
    assert.ok(!fs.existsSync(path.join(dir, 'checkpoint.safetensors')), 'no checkpoint holds the bad parameter');
  });

  it('a diverging run (lr 1e4) stops with NonFiniteLossError and no checkpoint holds a NaN', async () => {
    const dir = tmp();
    const model = new MultiTaskModel(reference, mlp({ trunk: [{ type: 'dense', units: 16, activation: 'tanh' }] }));
    const trainer = new Trainer(model, sgd(6, { runDir: dir, optimizer: { kind: 'adamw', lr: 1e4 }, lossCheckEvery: 1000 }));
    await assert.rejects(trainer.fit(data), NonFiniteLossError);
    for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.safetensors'))) {
      const st = readCheckpointFile(path.join(dir, f));
      for (const [name, t] of st.tensors) assert.ok(t.data.every(Number.isFinite), `${f}: ${name}`);
    }
  });

  it('refuses concurrent calls on one model with BusyError, and runs them one after the other', async () => {
    const model = new MultiTaskModel(fast, mlp());
    const trainer = new Trainer(model, sgd(1));
    const attempts: Record<string, () => unknown> = {
      'fit()': () => trainer.fit(data),
      'evaluate()': () => trainer.evaluate(val),
      'fit() of a second trainer': () => other.fit(data),
      'a new trainer': () => new Trainer(model, sgd(1)),
      'predict()': () => model.predict(val.inputs),
    };
    const other = new Trainer(model, sgd(1));
    // Each call's outcome is settled at once (the error, or null), so no rejection waits unhandled.
    const outcomes: [string, Promise<unknown>][] = [];
    // In the middle of the fit (inside its third step), each call is refused.
    afterStep(trainer, 3, () => {
      for (const [what, call] of Object.entries(attempts)) outcomes.push([what, (async () => call())().then(() => null, (e: unknown) => e)]);
    });
    await trainer.fit(data);
    assert.equal(outcomes.length, 5);
    for (const [what, outcome] of outcomes) {
      const e = await outcome;
      assert.ok(e instanceof BusyError && /^model is busy: fit\(\) is running on it/.test(e.message), `${what}: ${String(e)}`);
    }
    const evaluating = trainer.evaluate(val);
    await assert.rejects(trainer.evaluate(val), (e: Error) => e instanceof BusyError && /evaluate\(\) is running/.test(e.message));
    await evaluating;
    const predicting = model.predict(val.inputs);
    await assert.rejects(trainer.fit(data, { epochs: 2 }), (e: Error) => e instanceof BusyError && /predict\(\) is running/.test(e.message));
    await predicting;
    // Once a call has finished, the next one runs; other models train at the same time.
    await Promise.all([other.fit(data), new Trainer(new MultiTaskModel(fast, mlp()), sgd(1)).fit(data)]);
  });

  it('a second fit() trains to a new total with { epochs }, and one with nothing left to train is a ConfigError', async () => {
    const straight = new Trainer(new MultiTaskModel(reference, mlp()), sgd(3));
    await straight.fit(data);
    const model = new MultiTaskModel(reference, mlp());
    const trainer = new Trainer(model, sgd(2));
    await trainer.fit(data);
    await assert.rejects(trainer.fit(data), (e: Error) => e instanceof ConfigError && /trained 2 epochs and the target is 2.*epochs: 3/.test(e.message));
    const history = await trainer.fit(data, { epochs: 3 });
    assert.deepEqual(history.map((r) => r.epoch), [1, 2, 3]);
    assert.deepEqual(await reference.read(model.params.values), await reference.read(straight.model.params.values), '2 + 1 epochs = 3 epochs');
    assert.throws(() => new Trainer(model, { ...sgd(1), epoch: 3 } as TrainerConfig), /Unknown key "epoch" in trainer config \(did you mean "epochs"\?\)/);
    await assert.rejects(trainer.fit(data, { validaton: val } as never), (e: Error) => e instanceof ConfigError && /"validaton" in fit options/.test(e.message));
  });

  it('gives the event loop a turn while fit() and evaluate() run', async () => {
    const model = new MultiTaskModel(reference, multiMnistMlp([64], 32, 3));
    const controller = new AbortController();
    let ticks = 0;
    // A 10 ms timer stops the run once it has fired 5 times: a fit that never yields to the
    // event loop runs all its epochs instead.
    const timer = setInterval(() => ++ticks >= 5 && controller.abort(), 10);
    try {
      await assert.rejects(new Trainer(model, sgd(200)).fit(data, { signal: controller.signal }), TrainingAbortedError);
    } finally {
      clearInterval(timer);
    }
    // evaluate(), yielding after every batch: an immediate callback runs between batches.
    const every = eventLoopYield.everyMs;
    eventLoopYield.everyMs = 0;
    let turns = 0;
    let spinning = true;
    const spin = (): void => {
      turns++;
      if (spinning) setImmediate(spin);
    };
    try {
      setImmediate(spin);
      await new Trainer(model, sgd(1)).evaluate(data); // 8 batches
    } finally {
      spinning = false;
      eventLoopYield.everyMs = every;
    }
    assert.ok(turns >= 7, `${turns} event-loop turns during evaluate()`);
  });

  // uncertainty learns every step; dwa keeps running loss sums through the epoch, which decide
  // the weights of the epoch after the stop (so 3 epochs, stopped in the 2nd).
  for (const weighting of ['uncertainty', 'dwa']) it(`stops on its signal after the current step; the checkpoint resumes exactly there, mid-epoch (${weighting})`, async () => {
    const config = mlp({ heads: { hidden: [8], dropout: 0.2 } });
    const straight = new Trainer(new MultiTaskModel(reference, config), sgd(3, { weighting }));
    const expected = await straight.fit(data, { validation: val });

    const dir = tmp();
    const model = new MultiTaskModel(reference, config);
    const stopped = new Trainer(model, sgd(3, { runDir: dir, weighting }));
    const controller = new AbortController();
    afterStep(stopped, 11, () => controller.abort()); // epoch 2, 3 of its 8 steps done
    await assert.rejects(stopped.fit(data, { validation: val, signal: controller.signal }), (e: Error) => {
      assert.ok(e instanceof TrainingAbortedError, String(e));
      assert.equal(e.step, 11);
      assert.match(e.message, /in epoch 2 \(3 of its 8 steps done\)/);
      return true;
    });
    const file = path.join(dir, 'checkpoint.safetensors');
    const state = await loadCheckpoint(file, new MultiTaskModel(reference, config));
    assert.equal(state.step, 11);

    const resumed = new Trainer(new MultiTaskModel(reference, config), sgd(3, { weighting }));
    const history = await resumed.fit(data, { validation: val, resumeFrom: file });
    assert.deepEqual(await reference.read(resumed.model.params.values), await reference.read(straight.model.params.values));
    assert.deepEqual(history.map((r) => [r.step, r.train, r.validation, r.weights, r.weighting]), expected.map((r) => [r.step, r.train, r.validation, r.weights, r.weighting]));
    // The stopped trainer itself also continues where it stopped.
    await stopped.fit(data, { validation: val });
    assert.deepEqual(await reference.read(model.params.values), await reference.read(straight.model.params.values));
  });

  it('an already aborted signal stops before the first step, writing nothing', async () => {
    const dir = tmp();
    const model = new MultiTaskModel(reference, mlp());
    const before = await reference.read(model.params.values);
    await assert.rejects(
      new Trainer(model, sgd(1, { runDir: dir })).fit(data, { signal: AbortSignal.abort() }),
      (e: Error) => e instanceof TrainingAbortedError && e.step === 0 && /Nothing was trained/.test(e.message),
    );
    assert.deepEqual(await reference.read(model.params.values), before);
    assert.ok(!fs.existsSync(path.join(dir, 'checkpoint.safetensors')));
  });
});
