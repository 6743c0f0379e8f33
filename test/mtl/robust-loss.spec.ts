/**
 * The noise-robust losses of a classification task (gce, sce, bootstrap-soft, bootstrap-hard,
 * label-smoothing): the reference kernel against the published formulas written out here in
 * f64 (shared/REFERENCES.md "Noisy labels"), their limits (GCE → CE as q → 0 and 1 − p_y at
 * q = 1; bootstrapping with β = 1, label smoothing with ε = 0 and SCE with α = 1, β = 0 equal
 * CE exactly), the masked-mean convention, the task spec ('gce:q=0.7' or { kind, q }, unknown
 * parameters and bad values as typed errors), and a model trained with one on noisy labels.
 * Also LwF's soft-target distill kind against KL(q‖softmax(z/T)) written out in f64, and its
 * labels (a probability per class).
 */
import assert from 'node:assert/strict';
import { LossLayout, type LossName, type Tensor } from '../../ts/backends/backend.js';
import { ReferenceBackend } from '../../ts/backends/reference.js';
import { Rng } from '../../ts/core/random.js';
import { MultiTaskDataset } from '../../ts/data/dataset.js';
import { injectLabelNoise } from '../../ts/data/noise.js';
import { ConfigError, LabelError, ValueError } from '../../ts/errors.js';
import { MultiTaskModel } from '../../ts/mtl/model.js';
import { type TaskSpec, resolveTask, validateLabels } from '../../ts/mtl/task.js';
import { Trainer } from '../../ts/train/trainer.js';

const be = new ReferenceBackend();
const data = (t: Tensor): Float32Array => (t as unknown as { data: Float32Array }).data;

const N = 9;
const C = 5;
const rng = new Rng(42);
const logits = Float32Array.from({ length: N * C }, () => 6 * rng.uniform() - 3);
const labels = Float32Array.from({ length: N }, () => rng.int(C));
const mask = Float32Array.from({ length: N }, (_, i) => (i % 4 === 3 ? 0 : 1));

/** The kernel's loss and dlogits for one task of loss `kind` over the batch above (optionally masked). */
function run(kind: LossName, withMask = false): { loss: number; grad: Float32Array } {
  const layout = new LossLayout([{ kind, outOffset: 0, outWidth: C, tgtOffset: 0 }]);
  const losses = be.alloc([1]);
  const grad = be.alloc([N, C]);
  const m = withMask ? be.upload(mask, [N, 1]) : null;
  be.multiLoss(be.upload(logits, [N, C]), be.upload(labels, [N, 1]), m, be.upload(Float32Array.of(1), [1]), layout, losses, grad);
  return { loss: data(losses)[0], grad: data(grad).slice() };
}

/** Row i's softmax in f64. */
function softmax(i: number): number[] {
  const z = Array.from(logits.subarray(i * C, (i + 1) * C));
  const max = Math.max(...z);
  const e = z.map((v) => Math.exp(v - max));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

/** The published per-sample loss of each kind, written from the formulas (not the kernel's algebra). */
const oracle: Record<string, (p: number[], y: number, params: number[]) => number> = {
  ce: (p, y) => -Math.log(p[y]),
  gce: (p, y, [q]) => (1 - p[y] ** q) / q,
  // −Σ_k p_k log t_k with log 0 clipped to A = −4 (and log 1 = 0).
  sce: (p, y, [a, b]) => a * -Math.log(p[y]) + b * -p.reduce((s, pk, k) => s + pk * (k === y ? 0 : -4), 0),
  'bootstrap-soft': (p, y, [b]) => -p.reduce((s, pk, k) => s + (b * (k === y ? 1 : 0) + (1 - b) * pk) * Math.log(pk), 0),
  'bootstrap-hard': (p, y, [b]) => {
    const top = p.indexOf(Math.max(...p));
    return -p.reduce((s, pk, k) => s + (b * (k === y ? 1 : 0) + (1 - b) * (k === top ? 1 : 0)) * Math.log(pk), 0);
  },
  'label-smoothing': (p, y, [e]) => -p.reduce((s, pk, k) => s + ((1 - e) * (k === y ? 1 : 0) + e / C) * Math.log(pk), 0),
};

/** The masked mean of the oracle's per-sample loss. */
function expected(kind: string, params: number[], withMask = false): number {
  let sum = 0;
  let count = 0;
  for (let i = 0; i < N; i++) {
    if (withMask && mask[i] === 0) continue;
    sum += oracle[kind](softmax(i), labels[i], params);
    count++;
  }
  return sum / count;
}

const close = (a: number, b: number, rel: number, what: string): void => assert.ok(Math.abs(a - b) <= rel * Math.abs(b) + 1e-6, `${what}: ${a} vs ${b}`);

describe('mtl/robust losses', () => {
  describe('the reference kernel against the published formulas (f64, written out here)', () => {
    const cases: [LossName, string, number[]][] = [
      ['gce', 'gce', [0.7]],
      ['gce:q=0.3', 'gce', [0.3]],
      ['sce', 'sce', [0.1, 1]],
      ['sce:alpha=0.5,beta=2', 'sce', [0.5, 2]],
      ['bootstrap-soft', 'bootstrap-soft', [0.95]],
      ['bootstrap-soft:beta=0.4', 'bootstrap-soft', [0.4]],
      ['bootstrap-hard', 'bootstrap-hard', [0.8]],
      ['bootstrap-hard:beta=0.2', 'bootstrap-hard', [0.2]],
      ['label-smoothing', 'label-smoothing', [0.1]],
      ['label-smoothing:epsilon=0.6', 'label-smoothing', [0.6]],
    ];
    for (const [name, kind, params] of cases) {
      it(`${name}: the loss, plain and as a masked mean`, () => {
        close(run(name).loss, expected(kind, params), 1e-5, name);
        close(run(name, true).loss, expected(kind, params, true), 1e-5, `${name} masked`);
        // Masked rows get no gradient.
        const g = run(name, true).grad;
        for (let i = 3; i < N; i += 4) assert.ok(g.subarray(i * C, (i + 1) * C).every((v) => v === 0), `row ${i}`);
      });
    }
  });

  describe('limits', () => {
    const ce = run('softmax-ce');
    it('GCE tends to CE as q → 0 (loss and gradient)', () => {
      let previous = Infinity;
      for (const q of [0.1, 0.01, 0.001, 0.0001]) {
        const g = run(`gce:q=${q}`);
        const gap = Math.abs(g.loss - ce.loss);
        assert.ok(gap < previous, `q ${q}: |GCE − CE| = ${gap} did not shrink`);
        previous = gap;
      }
      const g = run('gce:q=0.0001');
      close(g.loss, ce.loss, 1e-3, 'loss');
      g.grad.forEach((v, k) => assert.ok(Math.abs(v - ce.grad[k]) < 1e-3, `dlogits[${k}]: ${v} vs ${ce.grad[k]}`));
    });
    it('GCE at q = 1 is the MAE on probabilities, 1 − p_y', () => {
      close(run('gce:q=1').loss, expected('gce', [1]), 1e-6, 'q = 1');
      let mae = 0;
      for (let i = 0; i < N; i++) mae += 1 - softmax(i)[labels[i]];
      close(run('gce:q=1').loss, mae / N, 1e-6, '1 − p_y');
    });
    for (const name of ['bootstrap-soft:beta=1', 'bootstrap-hard:beta=1', 'label-smoothing:epsilon=0', 'sce:alpha=1,beta=0'] as const) {
      it(`${name} equals CE exactly (loss and gradient)`, () => {
        const r = run(name);
        assert.equal(r.loss, ce.loss);
        assert.deepEqual(r.grad, ce.grad);
      });
    }
    it('a robust loss is not CE away from its limit (the limits above are not vacuous)', () => {
      for (const name of ['gce', 'sce', 'bootstrap-soft', 'bootstrap-hard', 'label-smoothing'] as const) {
        assert.ok(Math.abs(run(name).loss - ce.loss) > 1e-3, name);
      }
    });
  });

  describe('distill (LwF soft targets)', () => {
    /** Row i's softmax(z/T) in f64. */
    const softT = (z: ArrayLike<number>, T: number): number[] => {
      const v = Array.from(z, (x) => x / T);
      const max = Math.max(...v);
      const e = v.map((x) => Math.exp(x - max));
      const sum = e.reduce((a, b) => a + b, 0);
      return e.map((x) => x / sum);
    };
    it('is KL(q‖softmax(z/T)) averaged over the labelled rows, with the gradient (p − q)/T (no T² factor)', () => {
      for (const T of [2, 0.5]) {
        const q = new Float32Array(N * C);
        // Targets: another row's softened outputs (one entry of row 1 exactly 0, renormalised).
        for (let i = 0; i < N; i++) {
          const r = softT(logits.subarray(((i + 3) % N) * C, ((i + 3) % N + 1) * C), 1.5).map((v, k) => (i === 1 && k === 2 ? 0 : v));
          const sum = r.reduce((a, b) => a + b, 0);
          r.forEach((v, k) => (q[i * C + k] = v / sum));
        }
        const layout = new LossLayout([{ kind: `distill:temperature=${T}`, outOffset: 0, outWidth: C, tgtOffset: 0 }]);
        const losses = be.alloc([1]);
        const grad = be.alloc([N, C]);
        be.multiLoss(be.upload(logits, [N, C]), be.upload(q, [N, C]), be.upload(mask, [N, 1]), be.upload(Float32Array.of(1), [1]), layout, losses, grad);
        let sum = 0;
        let count = 0;
        for (let i = 0; i < N; i++) {
          if (mask[i] === 0) continue;
          count++;
          const p = softT(logits.subarray(i * C, (i + 1) * C), T);
          for (let k = 0; k < C; k++) if (q[i * C + k] > 0) sum += q[i * C + k] * Math.log(q[i * C + k] / p[k]);
        }
        close(data(losses)[0], sum / count, 1e-5, `T ${T}: loss`);
        for (let i = 0; i < N; i++) {
          const p = softT(logits.subarray(i * C, (i + 1) * C), T);
          const qs = Array.from(q.subarray(i * C, (i + 1) * C)).reduce((a, b) => a + b, 0);
          for (let k = 0; k < C; k++) {
            const want = mask[i] === 0 ? 0 : (p[k] * qs - q[i * C + k]) / T / count;
            close(data(grad)[i * C + k], want, 1e-5, `T ${T}: gradient [${i}, ${k}]`);
          }
        }
      }
    });
    it('makes a classification task take a probability per class as its labels, checked in [0, 1]', () => {
      const task = resolveTask({ name: 'old', kind: 'classification', classes: 3, loss: 'distill' }, 0);
      assert.equal(task.loss, 'distill:temperature=2');
      assert.equal(task.labelWidth, 3);
      validateLabels(task, Float32Array.of(0.2, 0.3, 0.5, 1, 0, 0), null, 'train');
      assert.throws(() => validateLabels(task, Float32Array.of(0.2, 1.5, 0.5), null, 'train'), (e: Error) => e instanceof LabelError && /task old, sample 0, output 1: expected a soft target/.test(e.message));
      assert.throws(() => resolveTask({ name: 'old', kind: 'classification', classes: 3, loss: 'distill:temperature=0' }, 0), ValueError);
      assert.throws(() => resolveTask({ name: 'old', kind: 'binary', loss: 'distill' }, 0), ConfigError);
    });
  });

  describe('the task spec', () => {
    const spec = (loss: unknown): TaskSpec => ({ name: 'digit', kind: 'classification', classes: 10, loss: loss as TaskSpec['loss'] });
    it('takes a name with parameters or an object, fills in defaults and keeps the canonical name', () => {
      assert.equal(resolveTask(spec('gce:q=0.5'), 0).loss, 'gce:q=0.5');
      assert.equal(resolveTask(spec('gce'), 0).loss, 'gce:q=0.7');
      assert.equal(resolveTask(spec({ kind: 'sce', beta: 2 }), 0).loss, 'sce:alpha=0.1,beta=2');
      assert.equal(resolveTask(spec('sce:beta=0.5,alpha=1'), 0).loss, 'sce:alpha=1,beta=0.5');
      assert.equal(resolveTask(spec('bootstrap-hard'), 0).loss, 'bootstrap-hard:beta=0.8');
      assert.equal(resolveTask(spec('label-smoothing:epsilon=0'), 0).loss, 'label-smoothing:epsilon=0');
      assert.equal(resolveTask(spec(undefined), 0).loss, 'softmax-ce');
      // The canonical name resolves to itself (checkpoints and configs store it).
      assert.equal(resolveTask(spec(resolveTask(spec({ kind: 'bootstrap-soft' }), 0).loss), 0).loss, 'bootstrap-soft:beta=0.95');
    });
    it('rejects unknown kinds and parameters, malformed names, bad values and kinds that do not fit the task, naming tasks[i].loss', () => {
      const bad = (loss: unknown, cls: typeof ConfigError | typeof ValueError, re: RegExp, kind: TaskSpec['kind'] = 'classification'): void => {
        assert.throws(
          () => resolveTask({ ...spec(loss), kind, classes: kind === 'regression' || kind === 'binary' ? undefined : 10 }, 3),
          (e: Error) => e instanceof cls && re.test(e.message),
          JSON.stringify(loss),
        );
      };
      bad('gce:p=0.7', ConfigError, /Unknown parameter "p" of loss gce in tasks\[3\]\.loss; known parameters: q/);
      bad({ kind: 'gce', alpha: 1 }, ConfigError, /Unknown parameter "alpha" of loss gce/);
      bad('softmax-ce:q=1', ConfigError, /known parameters: none/);
      bad('gce:q', ConfigError, /name=value parameters after the colon in tasks\[3\]\.loss/);
      bad('gce:q=0.5,q=0.6', ConfigError, /given twice/);
      bad('gcee', ConfigError, /Expected one of softmax-ce, .*gce.* for tasks\[3\]\.loss but received "gcee"/);
      bad('gce:q=0', ValueError, /> 0 for tasks\[3\]\.loss parameter q/);
      bad('gce:q=1.5', ValueError, /\[0, 1\] for tasks\[3\]\.loss parameter q but received 1.5/);
      bad('gce:q=abc', ValueError, /parameter q but received NaN/);
      bad({ kind: 'gce', q: '0.5' }, ValueError, /parameter q but received "0.5"/);
      bad('label-smoothing:epsilon=-0.1', ValueError, /epsilon/);
      bad('sce:alpha=-1', ValueError, /alpha/);
      bad('gce', ConfigError, /bce for tasks\[3\]\.loss \(a binary task\)/, 'binary');
      bad('label-smoothing', ConfigError, /a regression task/, 'regression');
      bad(42, ConfigError, /a loss name or \{ kind, \.\.\.parameters \}/);
    });
    it('reaches the model\'s loss layout (the kernels\' parameters, as f32) and its architecture', () => {
      const model = new MultiTaskModel(be, {
        inputShape: [4],
        trunk: [{ type: 'dense', units: 3, activation: 'relu' }],
        tasks: [
          { name: 'a', kind: 'classification', classes: 3, loss: 'sce:alpha=0.2,beta=0.5' },
          { name: 'b', kind: 'classification', classes: 4, loss: { kind: 'gce', q: 0.3 } },
          { name: 'c', kind: 'regression' },
        ],
        maxBatch: 4,
      });
      assert.deepEqual(model.lossLayout.losses.map((l) => l.kind), ['sce', 'gce', 'mse']);
      assert.deepEqual(model.lossLayout.losses[0].params, [Math.fround(0.2), 0.5]);
      assert.deepEqual(model.lossLayout.losses[1].params, [Math.fround(0.3)]);
      assert.deepEqual(
        (model.architecture().tasks as { loss: string }[]).map((t) => t.loss),
        ['sce:alpha=0.2,beta=0.5', 'gce:q=0.3', 'mse'],
      );
    });
  });

  it('trains on noisy labels: GCE on 3 separable classes with 40 % symmetric noise, above 90 % on the clean labels', async () => {
    // 3 Gaussian blobs in 2-D, 600 samples; labels corrupted at 40 %, evaluated on the clean ones.
    const n = 600;
    const r = new Rng(7);
    const centres = [[2, 0], [-1, 1.7], [-1, -1.7]];
    const inputs = new Float32Array(2 * n);
    const clean = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      clean[i] = i % 3;
      inputs[2 * i] = centres[i % 3][0] + 0.5 * r.normal();
      inputs[2 * i + 1] = centres[i % 3][1] + 0.5 * r.normal();
    }
    const ds = new MultiTaskDataset({ inputs, inputShape: [2], labels: { c: clean } });
    const noisy = injectLabelNoise(ds, { task: 'c', type: 'symmetric', rate: 0.4, seed: 3 });
    assert.ok(noisy.rate > 0.3 && noisy.rate < 0.5, `realised ${noisy.rate}`);
    const model = new MultiTaskModel(be, {
      inputShape: [2],
      trunk: [{ type: 'dense', units: 16, activation: 'relu' }],
      tasks: [{ name: 'c', kind: 'classification', classes: 3, loss: 'gce:q=0.7' }],
      maxBatch: 50,
      seed: 1,
    });
    const trainer = new Trainer(model, { optimizer: { kind: 'adamw', lr: 0.02 }, batchSize: 50, epochs: 8, seed: 2, log: null });
    const history = await trainer.fit(noisy.dataset);
    const losses = history.map((h) => h.train.c);
    assert.ok(losses.at(-1)! < losses[0], `the GCE loss fell: ${losses.join(', ')}`);
    const acc = (await trainer.evaluate(ds)).c.accuracy ?? NaN;
    assert.ok(acc > 0.9, `clean accuracy ${acc}`);
  });
});
