/**
 * Presets beyond MultiMNIST: `hydranet train --preset mmoe-synthetic[:rho=X]` (Ma et al.'s
 * synthetic regression with the preset's MMoE; --sharing replaces the sharing), the same data
 * as makeMmoeSynthetic draws, `hydranet affinity` on it, and the preset spec's errors
 * (exit status 2, naming what is wrong).
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { makeMmoeSynthetic } from '../../ts/data/mmoe-synthetic.js';
import { ReferenceBackend } from '../../ts/backends/reference.js';
import { MultiTaskModel } from '../../ts/mtl/model.js';
import { MMOE_SYNTHETIC_PRESET, presetData, presetTasks, resolvePreset } from '../../ts/train/presets.js';
import { backend, runCli, tmpDir } from './fixtures/cli.js';

const tiny = ['--train-size', '300', '--test-size', '100', '--epochs', '1', '--backend', backend, '--no-progress'];

describe('presets: mmoe-synthetic', function () {
  this.timeout(120_000);

  it('lists mmoe-synthetic and its rho option in train --help', () => {
    const r = runCli('train', '--help');
    assert.equal(r.status, 0);
    assert.match(r.stdout, /mmoe-synthetic:rho=X/);
    assert.match(r.stdout, /mmoe-synthetic: Ma et al.'s synthetic two-task regression/);
  });

  it(`trains the preset's MMoE on the synthetic data at the given rho, into a run folder that loads (${backend})`, async () => {
    const out = path.join(tmpDir(), 'run');
    const r = runCli('train', '--preset', 'mmoe-synthetic:rho=0.5', ...tiny, '--out', out);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /MMoE synthetic \(rho 0\.5\): 300 training and 100 test samples/);
    assert.match(r.stdout, /mmoe sharing, 8 experts \(8 shared\), a softmax gate per task: dense 100→16 relu/);
    assert.match(r.stdout, /final validation:\n {2}y1: loss [\d.]+, mse [\d.]+, mae [\d.]+ \(100 labelled\)\n {2}y2: /);
    const model = await MultiTaskModel.load(new ReferenceBackend(), out);
    assert.deepEqual(model.resolvedConfig.sharing, { kind: 'mmoe', experts: 8 });
    assert.deepEqual(model.resolvedConfig.tasks.map((t) => [t.name, t.kind]), [['y1', 'regression'], ['y2', 'regression']]);
  });

  it('takes --sharing over the preset\'s, and hard sharing with the default rho', () => {
    const omoe = runCli('train', '--preset', 'mmoe-synthetic', '--sharing', 'omoe:experts=4', ...tiny, '--out', path.join(tmpDir(), 'run'));
    assert.equal(omoe.status, 0, omoe.stderr);
    assert.match(omoe.stdout, /MMoE synthetic \(rho 0\.7\)/);
    assert.match(omoe.stdout, /omoe sharing, 4 experts \(4 shared\), one softmax gate shared by every task/);
    const hard = runCli('train', '--preset', 'mmoe-synthetic', '--sharing', 'hard', ...tiny, '--out', path.join(tmpDir(), 'run'));
    assert.equal(hard.status, 0, hard.stderr);
    assert.match(hard.stdout, /trunk: dense 100→16 relu/);
  });

  it('draws what makeMmoeSynthetic draws: one seeded draw, train first, at the preset rho', () => {
    const { name, preset } = resolvePreset('mmoe-synthetic:rho=-0.25');
    assert.equal(name, 'mmoe-synthetic');
    assert.equal(preset.rho, -0.25);
    assert.equal(MMOE_SYNTHETIC_PRESET.rho, 0.7, 'the table entry is not changed');
    const { train, validation } = presetData(preset, { seed: 3, trainSize: 40, testSize: 10 });
    const all = makeMmoeSynthetic({ rho: -0.25, n: 50, seed: 3 });
    assert.deepEqual(train.inputs, all.slice(0, 40).inputs);
    assert.deepEqual(validation.inputs, all.slice(40, 50).inputs);
    assert.deepEqual(validation.labels('y2'), all.slice(40, 50).labels('y2'));
    // The same inputs at the preset's rho 0.7, other labels for task 2.
    const other = presetData(MMOE_SYNTHETIC_PRESET, { seed: 3, trainSize: 40, testSize: 10 }).train;
    assert.deepEqual(other.inputs, train.inputs);
    assert.notDeepEqual(other.labels('y2'), train.labels('y2'));
    assert.deepEqual(presetTasks(preset).map((t) => t.name), train.taskNames);
    assert.deepEqual(presetTasks(resolvePreset('multimnist-affinity').preset).map((t) => t.name), ['left', 'right', 'left-parity', 'sum-mod10', 'noise']);
  });

  it(`hydranet affinity trains on it (${backend})`, () => {
    const out = path.join(tmpDir(), 'a.json');
    const r = runCli('affinity', '--preset', 'mmoe-synthetic:rho=0.9', ...tiny, '--batch-size', '50', '--every', '2', '--out', out);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /MMoE synthetic \(rho 0\.9\): 300 training and 100 test samples \([\d.]+ s\), tasks y1, y2\n/);
    assert.match(r.stdout, /lookahead affinity/);
  });

  it('refuses bad preset specs with status 2, naming the problem', () => {
    for (const [spec, message] of [
      ['mmoe-synthetic:rho=2', /--preset: Expected a number in \[-1, 1\] for rho of preset mmoe-synthetic but received 2/],
      ['mmoe-synthetic:rho=high', /for rho of preset mmoe-synthetic but received "high"/],
      ['mmoe-synthetic:tau=1', /Unknown key "tau" in the options of preset mmoe-synthetic; known keys: rho/],
      ['multimnist-mlp:rho=0.5', /Unknown key "rho" in the options of preset multimnist-mlp/],
      ['mmoe', /--preset: Expected one of the presets multimnist-mlp, .*mmoe-synthetic but received "mmoe"/],
    ] as const) {
      const r = runCli('train', '--preset', spec, '--out', path.join(tmpDir(), 'run'));
      assert.equal(r.status, 2, `${spec}: ${r.stderr}`);
      assert.match(r.stderr, message, spec);
    }
    const r = runCli('train', '--preset', 'mmoe-synthetic', '--hidden', '32', '--out', path.join(tmpDir(), 'run'));
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--hidden and --head-hidden shape the multimnist-mlp preset only/);
  });
});
