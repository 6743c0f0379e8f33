/**
 * Configuration errors, up front and typed (issue 13): user-given names never reach
 * Object.prototype; a misspelled option key is a ConfigError naming the key, where it was and
 * the keys known there; a layer that does not fit its input, or a size no tensor can hold, is
 * a ShapeError (or ValueError) naming the layer, raised before any tensor is allocated.
 * Reference backend only: nothing here runs a kernel.
 */
import assert from 'node:assert/strict';
import type { Tensor } from '../../ts/backends/backend.js';
import { createBackend } from '../../ts/backends/create.js';
import { ReferenceBackend } from '../../ts/backends/reference.js';
import { Rng } from '../../ts/core/random.js';
import { MultiTaskDataset } from '../../ts/data/dataset.js';
import { ConfigError, HydranetError, ShapeError, ValueError } from '../../ts/errors.js';
import { type LayerSpec, type ModelConfig, MultiTaskModel } from '../../ts/mtl/model.js';
import { PRESETS } from '../../ts/train/presets.js';
import { HIGHER_IS_BETTER, type TaskSpec, resolveTask } from '../../ts/mtl/task.js';
import { WEIGHTINGS, type WeightingContext, createWeighting } from '../../ts/mtl/weighting/index.js';
import { Optimizer, type OptimizerConfig } from '../../ts/train/optimizer.js';
import { AuxiliaryTaskStopper } from '../../ts/train/task-stopping.js';

const PROTO_NAMES = ['constructor', 'toString', '__proto__'];

/** The reference backend, counting the tensors it allocates. */
class CountingBackend extends ReferenceBackend {
  tensors = 0;
  override alloc(shape: readonly number[]): Tensor {
    this.tensors++;
    return super.alloc(shape);
  }
  override upload(data: Float32Array, shape: readonly number[]): Tensor {
    this.tensors++;
    return super.upload(data, shape);
  }
}

const base: ModelConfig = {
  inputShape: [4],
  trunk: [{ type: 'dense', units: 3, activation: 'relu' }],
  tasks: [
    { name: 'a', kind: 'classification', classes: 3 },
    { name: 'b', kind: 'regression' },
  ],
  maxBatch: 4,
};

function context(): WeightingContext {
  const tasks = ['a', 'b'].map((name, i) => resolveTask({ name, kind: 'classification', classes: 3 }, i));
  return { tasks, rng: new Rng(1), baseWeights: new Float32Array(2).fill(1), lr: 0.1 };
}

/** Asserts `fn` throws an instance of `type` whose message matches every pattern. */
function throwsTyped(fn: () => unknown, type: new (...a: never[]) => HydranetError, ...patterns: RegExp[]): void {
  assert.throws(fn, (e: Error) => {
    assert.ok(e instanceof type, `expected a ${type.name}, got ${e.name}: ${e.message}`);
    for (const p of patterns) assert.match(e.message, p);
    return true;
  });
}

const model = (config: Partial<ModelConfig>, be = new ReferenceBackend()): MultiTaskModel => new MultiTaskModel(be, { ...base, ...config });

describe('names from users never reach Object.prototype', () => {
  for (const name of PROTO_NAMES) {
    it(`"${name}" is no weighting, preset, task kind, loss, metric, activation, layer, sharing, optimizer, space or backend`, async () => {
      const ctx = context();
      throwsTyped(() => createWeighting(name, ctx), ConfigError, /Unknown weighting/);
      throwsTyped(() => createWeighting({ name }, ctx), ConfigError, /Unknown weighting/);
      throwsTyped(() => createWeighting(`cagrad:space=${name}`, ctx), ConfigError, /space/);
      throwsTyped(() => createWeighting(`mgda:normalisation=${name}`, ctx), ConfigError, /normalisation/);
      // The tables themselves have no prototype, for code that indexes them directly.
      assert.equal(name in WEIGHTINGS, false);
      assert.equal(PRESETS[name], undefined);
      assert.equal((HIGHER_IS_BETTER as Record<string, unknown>)[name], undefined);

      const task = (spec: Record<string, unknown>): TaskSpec => ({ name: 't', kind: 'regression', ...spec }) as TaskSpec;
      throwsTyped(() => model({ tasks: [task({ kind: name })] }), ConfigError, /tasks\[0\]\.kind/);
      throwsTyped(() => model({ tasks: [task({ loss: name })] }), ConfigError, /tasks\[0\]\.loss/);
      throwsTyped(() => model({ tasks: [task({ metrics: [name] })] }), ConfigError, /tasks\[0\]\.metrics/);
      throwsTyped(() => model({ trunk: [{ type: name } as never] }), ConfigError, /trunk\[0\]/);
      throwsTyped(() => model({ trunk: [{ type: 'dense', units: 2, activation: name } as never] }), ValueError, /activation/);
      throwsTyped(() => model({ heads: { hidden: [2], activation: name as never } }), ValueError, /activation/);
      throwsTyped(() => model({ sharing: { kind: name } as never }), ConfigError, /sharing kind/);
      const m = model({});
      throwsTyped(() => new Optimizer(m.backend, m.params, { kind: name, lr: 0.1 } as never), ConfigError, /optimizer kind/);
      await assert.rejects(createBackend(name), ConfigError);
    });
  }

  it('"__proto__" is no task name; a task named "constructor" is an ordinary task of a dataset', () => {
    throwsTyped(() => model({ tasks: [{ name: '__proto__', kind: 'regression' }] }), ConfigError, /tasks\[0\]\.name/);
    const labels = { constructor: new Float32Array(2), toString: new Float32Array(4) };
    const ds = new MultiTaskDataset({ inputs: new Float32Array(2), inputShape: [1], labels, labelWidths: { toString: 2 } });
    assert.equal(ds.labelWidth('constructor'), 1);
    assert.equal(ds.labelWidth('toString'), 2);
    assert.equal(ds.mask('constructor'), null);
    // A mask for a task without labels is refused, whatever its name.
    throwsTyped(
      () => new MultiTaskDataset({ inputs: new Float32Array(2), inputShape: [1], labels: { a: new Float32Array(2) }, masks: { valueOf: new Uint8Array(2) } }),
      ConfigError,
      /masks only for tasks with labels/,
    );
  });
});

describe('misspelled option keys are errors naming the key, the place and the known keys', () => {
  it('model config, layer specs (by type), task specs (by kind) and heads', () => {
    throwsTyped(() => model({ maxbatch: 4 } as never), ConfigError, /Unknown key "maxbatch" in the model config \(did you mean "maxBatch"\?\)/, /known keys: inputShape, trunk/);
    const layer = (spec: Record<string, unknown>): void => void model({ inputShape: [1, 6, 6], trunk: [{ type: 'flatten' }, spec as unknown as LayerSpec] });
    throwsTyped(() => layer({ type: 'dense', units: 2, activaton: 'relu' }), ConfigError, /"activaton" in trunk\[1\] \(dense\) \(did you mean "activation"\?\); known keys: type, units, activation$/);
    throwsTyped(() => layer({ type: 'dense', units: 2, kernel: 3 }), ConfigError, /"kernel" in trunk\[1\] \(dense\)/);
    throwsTyped(() => model({ inputShape: [1, 6, 6], trunk: [{ type: 'conv2d', filters: 2, kernel: 3, strides: 2 } as never, { type: 'flatten' }] }), ConfigError, /"strides" in trunk\[0\] \(conv2d\)/);
    throwsTyped(() => model({ inputShape: [1, 6, 6], trunk: [{ type: 'maxpool2d', size: 2, padding: 1 } as never, { type: 'flatten' }] }), ConfigError, /"padding" in trunk\[0\] \(maxpool2d\)/);
    throwsTyped(() => layer({ type: 'dropout', rate: 0.5 }), ConfigError, /"rate" in trunk\[1\] \(dropout\)/);
    throwsTyped(() => layer({ type: 'flatten', units: 2 }), ConfigError, /"units" in trunk\[1\] \(flatten\); known keys: type$/);
    throwsTyped(() => model({ tasks: [{ name: 'r', kind: 'regression', classes: 3 } as TaskSpec] }), ConfigError, /"classes" in tasks\[0\] \(regression\)/);
    throwsTyped(() => model({ tasks: [{ name: 'c', kind: 'classification', clases: 3 } as never] }), ConfigError, /"clases" in tasks\[0\] \(classification\) \(did you mean "classes"\?\)/);
    throwsTyped(() => model({ tasks: [{ name: 'c', kind: 'binary', auxilary: true } as never] }), ConfigError, /"auxilary" in tasks\[0\] \(binary\)/);
    throwsTyped(() => model({ heads: { hiden: [5] } as never }), ConfigError, /"hiden" in heads \(did you mean "hidden"\?\); known keys: hidden, activation, dropout/);
  });

  it('sharing, each kind with its own keys (as the CLI passes --sharing hard:penalty=5)', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ kind: 'hard', penalty: 5 }, /"penalty" in sharing \(hard\); known keys: kind$/],
      [{ kind: 'soft', penalti: 5 }, /"penalti" in sharing \(soft\) \(did you mean "penalty"\?\)/],
      [{ kind: 'cross-stitch', afer: [0] }, /"afer" in sharing \(cross-stitch\)/],
      [{ kind: 'mmoe', expert: 2 }, /"expert" in sharing \(mmoe\)/],
      [{ kind: 'mmoe', shared: 2 }, /"shared" in sharing \(mmoe\)/],
      [{ kind: 'cgc', pertask: 2 }, /"pertask" in sharing \(cgc\) \(did you mean "perTask"\?\)/],
      [{ kind: 'ple', level: 2 }, /"level" in sharing \(ple\)/],
    ];
    for (const [sharing, message] of cases) throwsTyped(() => model({ sharing: sharing as never }), ConfigError, message);
    throwsTyped(() => model({ sharing: 'soft' as never }), ConfigError, /for sharing/);
  });

  it('weighting options, in the string and the object form, for every strategy', () => {
    const ctx = context();
    throwsTyped(() => createWeighting('dwa:tempreture=5', ctx), ConfigError, /"tempreture" in the options of weighting dwa \(did you mean "temperature"\?\); known keys: temperature$/);
    throwsTyped(() => createWeighting({ name: 'dwa', options: { tempreture: 5 } }, ctx), ConfigError, /"tempreture" in the options of weighting dwa/);
    throwsTyped(() => createWeighting({ name: 'dwa', option: { temperature: 5 } } as never, ctx), ConfigError, /"option" in weighting \(did you mean "options"\?\)/);
    throwsTyped(() => createWeighting({ name: 'dwa', options: 5 } as never, ctx), ConfigError, /Expected an object for the options of weighting dwa/);
    throwsTyped(() => createWeighting({ name: 'cagrad', options: { c: [0.4] } } as never, ctx), ConfigError, /option c of weighting cagrad/);
    for (const name of Object.keys(WEIGHTINGS)) {
      throwsTyped(() => createWeighting(`${name}:bogus=1`, ctx), ConfigError, new RegExp(`"bogus" in the options of weighting ${name}`));
      const known = WEIGHTINGS[name].options;
      throwsTyped(() => createWeighting({ name, options: { bogus: 1 } }, ctx), ConfigError, new RegExp(`known keys: ${known.length ? known.join(', ') : 'none'}$`));
    }
    createWeighting('dwa:temperature=5', ctx);
    createWeighting({ name: 'mgda', options: { normalization: 'l2', space: 'representation' } }, ctx);
  });

  it('optimizer configs by kind, auxiliary stopping, backend options', async () => {
    const m = model({});
    const opt = (config: Record<string, unknown>): Optimizer => new Optimizer(m.backend, m.params, config as unknown as OptimizerConfig);
    throwsTyped(() => opt({ kind: 'sgd', lr: 0.1, moment: 0.9 }), ConfigError, /"moment" in optimizer \(sgd\) \(did you mean "momentum"\?\)/);
    throwsTyped(() => opt({ kind: 'adamw', lr: 0.1, momentum: 0.9 }), ConfigError, /"momentum" in optimizer \(adamw\); known keys: kind, lr, beta1, beta2, eps, weightDecay/);
    throwsTyped(() => opt({ kind: 'sgd', lr: 0.1, nesterov: 'yes' }), ConfigError, /optimizer \(sgd\)\.nesterov/);
    throwsTyped(() => opt({ kind: 'adamw', lr: 0.1, beta2: 1 }), ValueError, /\[0, 1\) for optimizer \(adamw\)\.beta2/);
    opt({ kind: 'adamw', lr: 0.1, beta1: 0.5, eps: 1e-6 });
    throwsTyped(() => new AuxiliaryTaskStopper({ k: 3, threshhold: 1 } as never), ConfigError, /"threshhold" in auxiliaryStopping \(did you mean "threshold"\?\)/);
    await assert.rejects(createBackend('reference', { thread: 2 } as never), /Unknown key "thread" in the backend options \(did you mean "threads"\?\)/);
  });
});

describe('shapes and sizes are checked at model construction, before any tensor exists', () => {
  /** Builds a model on a counting backend; asserts it throws `type` and allocated nothing. */
  function refused(config: Partial<ModelConfig>, type: new (...a: never[]) => HydranetError, ...patterns: RegExp[]): void {
    const be = new CountingBackend();
    throwsTyped(() => model(config, be), type, ...patterns);
    assert.equal(be.tensors, 0, 'no tensor allocated before the error');
  }
  const image = (trunk: LayerSpec[], inputShape = [1, 4, 4]): Partial<ModelConfig> => ({ inputShape, trunk: [...trunk, { type: 'flatten' }] });

  it('a layer that does not fit its input, naming the layer', () => {
    refused(image([{ type: 'conv2d', filters: 2, kernel: 1 }, { type: 'maxpool2d', size: 5 }]), ShapeError, /^trunk\[1\] \(maxpool2d\): a 5×5 window does not fit a 4×4 input$/);
    refused(image([{ type: 'conv2d', filters: 2, kernel: 7, padding: 1 }]), ShapeError, /^trunk\[0\] \(conv2d\): a 7×7 kernel does not fit a 4×4 input \(6×6 with padding 1\)$/);
    refused(image([{ type: 'conv2d', filters: 2, kernel: 3 }], [16]), ShapeError, /^trunk\[0\] \(conv2d\): needs an image input/);
    refused(image([{ type: 'dropout2d', p: 0.5 }], [16]), ShapeError, /^trunk\[0\] \(dropout2d\): needs an image input/);
    refused({ inputShape: [2, 3], trunk: [] }, ConfigError, /flat feature vector/);
    // Towers and experts are built from the same specs and say the same.
    refused({ ...image([{ type: 'maxpool2d', size: 5 }]), sharing: { kind: 'soft' } }, ShapeError, /^trunk\[0\] \(maxpool2d\)/);
    refused({ ...image([{ type: 'maxpool2d', size: 5 }]), sharing: { kind: 'ple' } }, ShapeError, /^trunk\[0\] \(maxpool2d\)/);
  });

  it('sizes no tensor can hold: parameters, activations for maxBatch, heads, experts', () => {
    const dense = (units: number): LayerSpec => ({ type: 'dense', units });
    refused({ inputShape: [784], trunk: [dense(1e9)] }, ShapeError, /^trunk\[0\] \(dense\): parameter trunk\.0\.weight \[1000000000 × 784\] would hold 784000000000 values; a tensor holds at most 2147483647/);
    refused(
      { inputShape: [1], trunk: [dense(1e6), dense(1200), dense(1e6)] },
      ShapeError,
      /^trunk\[2\] \(dense\): parameter trunk\.2\.weight \[1000000 × 1200\] brings the model to \d+ parameter values; they live in one tensor/,
    );
    refused(image([{ type: 'conv2d', filters: 1e9, kernel: 3 }]), ShapeError, /^trunk\[0\] \(conv2d\): parameter trunk\.0\.weight \[1000000000 × 1 × 3 × 3\]/);
    refused({ inputShape: [1], trunk: [dense(4096)], maxBatch: 2 ** 20 }, ShapeError, /^trunk\[0\] \(dense\): its output for maxBatch 1048576 \[1048576 × 4096\]/);
    refused({ inputShape: [1 << 15, 1 << 15], trunk: [] }, ShapeError, /^the inputs for maxBatch 4 \[4 × 1073741824\]/);
    refused({ tasks: [{ name: 'c', kind: 'classification', classes: 1e9 }] }, ShapeError, /^heads \(layer 0\): activations for maxBatch 4/);
    refused({ tasks: [{ name: 'c', kind: 'classification', classes: 1e8 }], trunk: [dense(30)] }, ShapeError, /^heads \(layer 0\): parameter heads\.0\.weight/);
    refused({ heads: { hidden: [1e9] } }, ShapeError, /^heads \(layer 0\)/);
    refused({ sharing: { kind: 'mmoe', experts: 1e9 } }, ValueError, /sharing \(mmoe\): 1000000000 shared \+ 0 per task × 2 tasks make 1000000000 experts; at most 1024/);
    refused({ sharing: { kind: 'ple', levels: 1e9 } }, ValueError, /at most 64 for sharing\.levels/);
    refused({ trunk: [dense(1e10)] }, ValueError, /Expected an integer in \[1, 2147483647\] for trunk\[0\] \(dense\)\.units but received 10000000000/);
    refused(image([{ type: 'conv2d', filters: 2, kernel: 3, stride: 0 }]), ValueError, /trunk\[0\] \(conv2d\)\.stride/);
    refused({ maxBatch: 2 ** 31 }, ValueError, /maxBatch/);
    refused({ inputShape: { 0: 4 } as never }, ConfigError, /inputShape/);
    refused({ seed: -1 }, ValueError, /seed/);
  });

  it('threads for a backend in [1, 1024]', async () => {
    for (const threads of [0, 5000, 2.5, '4']) {
      await assert.rejects(createBackend('reference', { threads: threads as number }), (e: Error) => e instanceof ValueError && /\[1, 1024\] for threads/.test(e.message));
    }
    (await createBackend('reference', { threads: 1024 })).dispose();
  });
});
