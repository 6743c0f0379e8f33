/**
 * `hydranet extend` (issue 19): a run trained with `train --config` on customers.csv (churned,
 * spend) gets a new task, plan (from customers-plan.csv: the same columns plus the plan), into a
 * new run folder; the trained run's files stay byte for byte as they were; the grown run
 * predicts and evaluates every task; freeze-trunk leaves the old tasks' metrics exactly as they
 * were; bad command lines and run files exit with status 2 before anything is written.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createBackend } from '../../ts/backends/create.js';
import { parseRetainSpec, trainExtension } from '../../ts/cli-extend.js';
import { MultiTaskDataset } from '../../ts/data/dataset.js';
import { ConfigError } from '../../ts/errors.js';
import { readCheckpointFile } from '../../ts/io/checkpoint.js';
import { MultiTaskModel } from '../../ts/mtl/model.js';
import { UsageError } from '../../ts/cli-args.js';
import { backend, fixture, runCli, tmpDir, trainRun, writeRunFile } from './fixtures/cli.js';

/** A digest of every file under `dir` (names and bytes), to show a folder was not written. */
function folderHash(dir: string): string {
  const h = createHash('sha256');
  const walk = (d: string): void => {
    for (const name of fs.readdirSync(d).sort()) {
      const p = path.join(d, name);
      const st = fs.statSync(p);
      h.update(`${path.relative(dir, p)}\0${st.mtimeMs}\0`);
      if (st.isDirectory()) walk(p);
      else h.update(fs.readFileSync(p));
    }
  };
  walk(dir);
  return h.digest('hex');
}

/** The run file of the new task: plan, from customers-plan.csv with a seeded validation split. */
function planConfig(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    data: { train: fixture('customers-plan.csv'), validationSplit: 0.25, seed: 3 },
    tasks: [{ name: 'plan', kind: 'classification' }],
    training: { epochs: 3, batchSize: 32, optimizer: { kind: 'adamw', lr: 0.01, weightDecay: 0 } },
    ...extra,
  };
}

interface ContinualJson {
  oldTasks: string[];
  newTasks: string[];
  before: Record<string, Record<string, number>>;
  after: Record<string, Record<string, number>>;
  continual: { tasks: string[]; introduced: number[]; accuracy: number[][]; metrics: { backwardTransfer: number; averageAccuracy: number } } | null;
}

describe('hydranet extend', function () {
  this.timeout(120_000);
  let dir = '';
  let run = '';
  let hash = '';

  before(() => {
    dir = tmpDir();
    const r = trainRun(dir, ['--epochs', '5']);
    assert.equal(r.status, 0, r.stderr);
    run = r.out;
    hash = folderHash(run);
  });

  afterEach(() => {
    assert.equal(folderHash(run), hash, 'the trained run folder was written');
  });

  it(`adds a task into a new run folder: old tasks before and after, the new one, continual.json (${backend})`, () => {
    const sub = path.join(dir, 'none');
    fs.mkdirSync(sub);
    const out = path.join(sub, 'run');
    const r = runCli('extend', '--model', run, '--config', writeRunFile(sub, planConfig()), '--out', out, '--backend', backend, '--no-progress');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /customers-plan\.csv \(training part\): 180 rows read, 180 kept/);
    assert.match(r.stdout, /old tasks before:\n {2}churned: loss [\d.]+, accuracy [\d.]+, auc [\d.]+ \(\d+ labelled\)\n {2}spend: loss/);
    assert.match(r.stdout, /old tasks after:\n {2}churned: /);
    assert.match(r.stdout, /new tasks after:\n {2}plan: loss [\d.]+, accuracy [\d.]+ \(60 labelled\)/);
    assert.match(r.stdout, /ACC [\d.]+ % {2}BWT [+-][\d.]+ pp/);
    for (const f of ['config.json', 'metrics.json', 'checkpoint.safetensors', 'best.safetensors', 'continual.json']) assert.ok(fs.existsSync(path.join(out, f)), f);
    const report = JSON.parse(fs.readFileSync(path.join(out, 'continual.json'), 'utf8')) as ContinualJson;
    assert.deepEqual(report.oldTasks, ['churned', 'spend']);
    assert.deepEqual(report.newTasks, ['plan']);
    assert.deepEqual(report.continual?.tasks, ['churned', 'plan'], 'spend (regression) has no accuracy: left out of R');
    assert.deepEqual(report.continual?.introduced, [0, 1]);
    const [[c0], [c1]] = report.continual!.accuracy;
    assert.equal(c0, report.before.churned.accuracy);
    assert.ok(Math.abs(report.continual!.metrics.backwardTransfer - (c1 - c0)) < 1e-12, 'BWT = the old task\'s change');
    assert.equal((JSON.parse(fs.readFileSync(path.join(out, 'metrics.json'), 'utf8')) as unknown[]).length, 3);

    // The grown run evaluates every task through the combined preprocessing.
    const e = runCli('evaluate', '--model', out, '--data', fixture('customers-plan.csv'), '--backend', backend);
    assert.equal(e.status, 0, e.stderr);
    assert.match(e.stdout, /^churned: .*\n^spend: .*\n^plan: loss [\d.]+, accuracy [\d.]+ \(240 labelled\)$/m);
    const p = runCli('predict', '--model', out, '--data', fixture('customers-new.csv'), '--out', path.join(sub, 'preds.csv'), '--backend', backend);
    assert.equal(p.status, 0, p.stderr);
    assert.equal(fs.readFileSync(path.join(sub, 'preds.csv'), 'utf8').split('\n')[0], 'churned,churned:label,spend,plan,plan:basic,plan:plus,plan:pro');
  });

  it('freeze-trunk leaves the old tasks exactly as they were (AdamW without weight decay)', () => {
    const sub = path.join(dir, 'freeze');
    fs.mkdirSync(sub);
    const out = path.join(sub, 'run');
    const r = runCli('extend', '--model', run, '--config', writeRunFile(sub, planConfig()), '--retain', 'freeze-trunk', '--out', out, '--backend', backend, '--no-progress');
    assert.equal(r.status, 0, r.stderr);
    const report = JSON.parse(fs.readFileSync(path.join(out, 'continual.json'), 'utf8')) as ContinualJson;
    assert.deepEqual(report.after.churned, report.before.churned);
    assert.deepEqual(report.after.spend, report.before.spend);
    assert.ok(report.after.plan.count === 60);
    assert.equal(report.continual!.metrics.backwardTransfer, 0);
  });

  it('replay and EWC read the trained run\'s rows from data.previous through the old schema', () => {
    const sub = path.join(dir, 'previous');
    fs.mkdirSync(sub);
    const file = writeRunFile(sub, planConfig({ data: { train: fixture('customers-plan.csv'), validationSplit: 0.25, seed: 3, previous: { train: fixture('customers.csv') } } }));
    const replay = runCli('extend', '--model', run, '--config', file, '--retain', 'replay:size=50,seed=2', '--out', path.join(sub, 'replay'), '--backend', backend, '--no-progress');
    assert.equal(replay.status, 0, replay.stderr);
    assert.match(replay.stdout, /customers\.csv: 240 rows read, 240 kept, .*\(the trained run's tasks\)/);
    assert.match(replay.stdout, /retain replay \(50 samples, seed 2\)/);
    const ewc = runCli('extend', '--model', run, '--config', file, '--retain', 'ewc:lambda=100,fisher=empirical,samples=40', '--out', path.join(sub, 'ewc'), '--backend', backend, '--no-progress');
    assert.equal(ewc.status, 0, ewc.stderr);
    assert.match(ewc.stdout, /retain ewc \(λ 100, empirical Fisher on 40 samples\)/);
    const metrics = JSON.parse(fs.readFileSync(path.join(sub, 'ewc', 'metrics.json'), 'utf8')) as { ewcPenalty?: number }[];
    assert.ok(metrics.every((m) => typeof m.ewcPenalty === 'number' && m.ewcPenalty >= 0), 'the penalty is on');
  });

  it('EWC without data.previous: the exact Fisher on the new rows\' inputs; label-based variants refused (status 2)', () => {
    const sub = path.join(dir, 'ewc-new');
    fs.mkdirSync(sub);
    const file = writeRunFile(sub, planConfig());
    const ok = runCli('extend', '--model', run, '--config', file, '--retain', 'online-ewc:lambda=10,gamma=0.5,samples=30', '--out', path.join(sub, 'ok'), '--backend', backend, '--no-progress');
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /retain online-ewc \(λ 10, γ 0\.5, exact Fisher on 30 samples\)/);
    assert.match(ok.stdout, /EWC: the exact Fisher needs a likelihood; spend has none and is not protected/);
    assert.deepEqual((JSON.parse(fs.readFileSync(path.join(sub, 'ok', 'continual.json'), 'utf8')) as { fisherTasks: string[] }).fisherTasks, ['churned']);
    const bad = runCli('extend', '--model', run, '--config', file, '--retain', 'ewc:lambda=10,fisher=empirical', '--out', path.join(sub, 'bad'), '--backend', backend);
    assert.equal(bad.status, 2, bad.stderr);
    assert.match(bad.stderr, /empirical Fisher needs the old tasks' labels: give previous\.train/);
    const replay = runCli('extend', '--model', run, '--config', file, '--retain', 'replay:size=10', '--out', path.join(sub, 'replay'), '--backend', backend);
    assert.equal(replay.status, 2, replay.stderr);
    assert.match(replay.stderr, /replay needs the trained run's training samples/);
    assert.ok(!fs.existsSync(path.join(sub, 'bad')) && !fs.existsSync(path.join(sub, 'replay')), 'no run folder left behind');
  });

  it('lwf from the command line; EWC on an extended run keeps its penalty and adds the Fisher of the task it added; the continual report in metrics.json', () => {
    const sub = path.join(dir, 'chain');
    fs.mkdirSync(sub);
    // A run of one classification task (LwF distils classification tasks): plan.
    const first = runCli('train', '--config', writeRunFile(sub, {
      data: { train: fixture('customers-plan.csv'), validationSplit: 0.25, seed: 3 },
      inputs: { exclude: ['id', 'churned', 'spend'] },
      tasks: [{ name: 'plan', kind: 'classification' }],
      model: { trunk: [{ type: 'dense', units: 8, activation: 'relu' }] },
      training: { epochs: 3, batchSize: 32, optimizer: { kind: 'adamw', lr: 0.01, weightDecay: 0 } },
    }), '--backend', backend, '--out', path.join(sub, 'one'), '--no-progress');
    assert.equal(first.status, 0, first.stderr);
    const churned = (retain: string, out: string) => runCli('extend', '--model', path.join(sub, 'one'), '--config', writeRunFile(sub, {
      data: { train: fixture('customers.csv'), validationSplit: 0.25, seed: 3, previous: { train: fixture('customers-plan.csv'), validation: fixture('customers-plan.csv') } },
      tasks: [{ name: 'churned', kind: 'binary', positive: 'yes' }],
      training: { epochs: 2, batchSize: 32, optimizer: { kind: 'adamw', lr: 0.01, weightDecay: 0 } },
    }), '--retain', retain, '--out', path.join(sub, out), '--backend', backend, '--no-progress');
    const lwf = churned('lwf:temperature=2,alpha=1', 'lwf');
    assert.equal(lwf.status, 0, lwf.stderr);
    assert.match(lwf.stdout, /retain lwf \(T 2, α 1 per old task\)/);
    assert.match(lwf.stdout, /ACC [\d.]+ % {2}BWT [+-][\d.]+ pp {2}forgetting [+-][\d.]+ pp {2}FWT [+-][\d.]+ pp/, 'FWT printed');
    for (const f of ['config.json', 'metrics.json', 'checkpoint.safetensors', 'best.safetensors', 'continual.json']) assert.ok(fs.existsSync(path.join(sub, 'lwf', f)), f);
    const records = JSON.parse(fs.readFileSync(path.join(sub, 'lwf', 'metrics.json'), 'utf8')) as { continual?: { tasks: string[]; accuracy: number[][] } }[];
    const report = JSON.parse(fs.readFileSync(path.join(sub, 'lwf', 'continual.json'), 'utf8')) as ContinualJson;
    assert.deepEqual(records.at(-1)!.continual?.accuracy, report.continual!.accuracy, "metrics.json's last record holds the continual report");
    const e = runCli('evaluate', '--model', path.join(sub, 'lwf'), '--data', fixture('customers-plan.csv'), '--backend', backend);
    assert.equal(e.status, 0, e.stderr);
    assert.match(e.stdout, /^plan: loss [\d.]+, accuracy [\d.]+ .*\n^churned: /m);

    // EWC twice: plan → + churned → + spend. The third run keeps the second's penalty on plan.
    const two = churned('ewc:lambda=10', 'two');
    assert.equal(two.status, 0, two.stderr);
    const three = runCli('extend', '--model', path.join(sub, 'two'), '--checkpoint', 'last', '--config', writeRunFile(sub, {
      data: { train: fixture('customers.csv'), validationSplit: 0.25, seed: 3, previous: { train: fixture('customers-plan.csv') } },
      tasks: [{ name: 'spend', kind: 'regression' }],
      training: { epochs: 2, batchSize: 32, optimizer: { kind: 'adamw', lr: 0.01, weightDecay: 0 } },
    }), '--retain', 'ewc:lambda=10', '--out', path.join(sub, 'three'), '--backend', backend, '--no-progress');
    assert.equal(three.status, 0, three.stderr);
    assert.match(three.stdout, /EWC: the trained run's penalty on plan is kept; the penalty now covers plan, churned/);
    assert.deepEqual((JSON.parse(fs.readFileSync(path.join(sub, 'three', 'continual.json'), 'utf8')) as { fisherTasks: string[] }).fisherTasks, ['plan', 'churned']);
    const ck2 = readCheckpointFile(path.join(sub, 'two', 'checkpoint.safetensors'));
    const ck3 = readCheckpointFile(path.join(sub, 'three', 'checkpoint.safetensors'));
    assert.ok(ck2.tensors.has('ewc.task.plan') && !ck2.tensors.has('ewc.task.churned'));
    assert.ok(ck3.tensors.has('ewc.task.plan') && ck3.tensors.has('ewc.task.churned'));
    const head = (ck: typeof ck2, task: string): number[] => [...ck.tensors.get(`ewc.fisher.heads.${task}.0.weight`)!.data];
    assert.ok(head(ck2, 'plan').some((v) => v > 0));
    assert.deepEqual(head(ck3, 'plan'), head(ck2, 'plan'), "plan's head: the second stage's Fisher, kept (churned's adds 0 there)");
    assert.ok(head(ck3, 'churned').some((v) => v > 0), "churned's Fisher added");
  });

  it('bad flags and run files exit with status 2 and write nothing; a missing model with status 4', () => {
    const sub = path.join(dir, 'bad');
    fs.mkdirSync(sub);
    const file = writeRunFile(sub, planConfig());
    const cases: [string[], RegExp][] = [
      [['--retain', 'bogus'], /--retain expects one of none, replay, ewc, online-ewc, freeze-trunk, lwf/],
      [['--retain', 'replay'], /--retain replay needs size=/],
      [['--retain', 'ewc:lambda=-1'], /--retain ewc: lambda expects a non-negative number, got "-1"/],
      [['--retain', 'ewc:lambda=1,gamma=0.5'], /--retain ewc takes lambda, fisher, samples, seed, got "gamma"/],
      [['--retain', 'ewc:lambda=1,fisher=magic'], /fisher expects exact, sampled, empirical, batched/],
      [['--epochs', '0'], /--epochs expects an integer >= 1, got 0/],
      [['--hidden', '8'], /Unknown option '--hidden'/],
      [['--checkpoint', 'first'], /--checkpoint expects best or last/],
    ];
    for (const [flags, message] of cases) {
      const r = runCli('extend', '--model', run, '--config', file, '--out', path.join(sub, 'out'), '--backend', backend, ...flags);
      assert.equal(r.status, 2, `${flags.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message, flags.join(' '));
    }
    const intoOld = runCli('extend', '--model', run, '--config', file, '--out', path.join(run, 'grown'), '--backend', backend);
    assert.equal(intoOld.status, 2);
    assert.match(intoOld.stderr, /is inside the trained run's folder/);
    assert.equal(runCli('extend', '--model', run, '--config', file, '--out', run).status, 2);
    assert.match(runCli('extend', '--config', file).stderr, /extend needs --model/);
    const files: [Record<string, unknown>, RegExp][] = [
      [planConfig({ inputs: { exclude: ['id'] } }), /"inputs" and "missing" come from the trained run/],
      [planConfig({ model: { trunk: [] } }), /Unknown key "trunk" in model of .*run\.json \(the network is the trained run's; .*known keys: seed, maxBatch/],
      [{ ...planConfig(), tasks: [{ name: 'churned', kind: 'binary' }] }, /already has a task "churned"/],
      [{ ...planConfig(), tasks: [{ name: 'p2', kind: 'classification', column: 'income' }] }, /Column "income" is both an input and a label/],
      [planConfig({ data: { train: fixture('customers-plan.csv'), previous: { test: 'x.csv' } } }), /data\.previous/],
    ];
    for (const [config, message] of files) {
      const r = runCli('extend', '--model', run, '--config', writeRunFile(sub, config), '--out', path.join(sub, 'out'), '--backend', backend);
      assert.equal(r.status, 2, `${JSON.stringify(config)}: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
    assert.ok(!fs.existsSync(path.join(sub, 'out')), 'no run folder left behind');
    const missing = runCli('extend', '--model', path.join(sub, 'nope'), '--config', writeRunFile(sub, planConfig()), '--out', path.join(sub, 'out'), '--backend', backend);
    assert.equal(missing.status, 4, missing.stderr);
  });

  it('trainExtension: the new samples train the new tasks only (their old labels masked); lwf writes the grown run folder', async () => {
    const be = await createBackend(backend);
    try {
      const n = 64;
      const inputs = Float32Array.from({ length: n * 4 }, (_, i) => Math.sin(i * 1.7));
      const label = (k: number): Float32Array => Float32Array.from({ length: n }, (_, i) => (inputs[i * 4 + k] > 0 ? 1 : 0));
      const data = new MultiTaskDataset({ inputs, inputShape: [4], labels: { a: label(0), b: label(1) } });
      const old = new MultiTaskModel(be, { inputShape: [4], trunk: [{ type: 'dense', units: 8, activation: 'relu' }], tasks: [{ name: 'a', kind: 'classification', classes: 2 }], maxBatch: 16, seed: 1 });
      const trainer = { optimizer: { kind: 'sgd' as const, lr: 0.5, momentum: 0 }, batchSize: 16, epochs: 2, seed: 1, progress: false as const, log: null };
      const b = { name: 'b', kind: 'classification' as const, classes: 2 };
      const r = await trainExtension({ model: old, tasks: [b], train: data, validation: data, retain: { kind: 'freeze-trunk' }, trainer });
      assert.deepEqual((await r.model.predict(inputs)).a, (await old.predict(inputs)).a, "task a's labels in the new samples moved its head");
      assert.notDeepEqual(r.after.b, r.before.b, 'b trained');
      assert.deepEqual(r.continual?.tasks, ['a', 'b']);
      const runDir = path.join(dir, 'lwf');
      const l = await trainExtension({ model: old, tasks: [b], train: data, validation: data, retain: { kind: 'lwf' }, trainer: { ...trainer, runDir } });
      for (const f of ['config.json', 'metrics.json', 'checkpoint.safetensors', 'best.safetensors']) assert.ok(fs.existsSync(path.join(runDir, f)), f);
      const loaded = await MultiTaskModel.load(be, runDir);
      assert.deepEqual(loaded.resolvedConfig.tasks.map((t) => t.loss), l.model.resolvedConfig.tasks.map((t) => t.loss), "the tasks' own losses, not the student's distillation");
      assert.deepEqual(await loaded.predict(inputs), await l.model.predict(inputs));
      const records = JSON.parse(fs.readFileSync(path.join(runDir, 'metrics.json'), 'utf8')) as { continual?: { tasks: string[]; metrics: { forwardTransfer: number } } }[];
      assert.equal(records.length, 2);
      assert.deepEqual(records[1].continual?.tasks, ['a', 'b']);
      assert.equal(records[0].continual, undefined);
      assert.ok(Number.isFinite(records[1].continual!.metrics.forwardTransfer), 'FWT measured');
      await assert.rejects(trainExtension({ model: old, tasks: [b], train: data, retain: { kind: 'bogus' } as never, trainer }), ConfigError);
    } finally {
      be.dispose();
    }
  });

  it('parseRetainSpec reads every kind', () => {
    assert.deepEqual(parseRetainSpec('none'), { kind: 'none' });
    assert.deepEqual(parseRetainSpec('freeze-trunk'), { kind: 'freeze-trunk' });
    assert.deepEqual(parseRetainSpec('replay:size=500,seed=3'), { kind: 'replay', size: 500, seed: 3 });
    assert.deepEqual(parseRetainSpec('replay:size=500,batch=64'), { kind: 'replay', size: 500, batch: 64 });
    assert.deepEqual(parseRetainSpec('lwf'), { kind: 'lwf' });
    assert.deepEqual(parseRetainSpec('lwf:temperature=4,alpha=0.5'), { kind: 'lwf', temperature: 4, alpha: 0.5 });
    assert.throws(() => parseRetainSpec('lwf:temperature=0'), /temperature expects a number in \(0, 1000\]/);
    assert.throws(() => parseRetainSpec('lwf:lambda=1'), /lwf takes temperature, alpha/);
    assert.deepEqual(parseRetainSpec('ewc:lambda=1e5'), { kind: 'ewc', lambda: 1e5 });
    assert.deepEqual(parseRetainSpec('online-ewc:lambda=10,gamma=0.9,fisher=sampled,samples=100,seed=1'), { kind: 'online-ewc', lambda: 10, gamma: 0.9, fisher: 'sampled', samples: 100, seed: 1 });
    assert.throws(() => parseRetainSpec('replay:size=0'), UsageError);
    assert.throws(() => parseRetainSpec('freeze-trunk:size=1'), /freeze-trunk takes no options/);
    assert.throws(() => parseRetainSpec('online-ewc:lambda=1,gamma=2'), /gamma expects a number in \[0, 1\]/);
  });
});
