/**
 * Ma et al.'s (2018) synthetic benchmark (ts/data/mmoe-synthetic.ts): final test MSE of hard
 * sharing (shared-bottom), OMoE and MMoE as the task correlation ρ falls, over several seeds.
 *
 *   node dist/bench/mmoe/synthetic.js [--rhos 0.5,0.7,0.9,1] [--seeds 5] [--epochs E]
 *        [--train N] [--test M] [--backend cpu] [--threads T] [--json FILE]
 *        [--hard-units H (128)] [--expert-units U (the preset's 16)]
 *
 * Each (ρ, seed) draws one dataset (the seed fixes the tasks and the samples), trains every
 * model from the same seed on its first N samples, and reads the test loss (the mean over the
 * two tasks of the MSE) on the next M after the last epoch. Sizes are those of the
 * MMOE_SYNTHETIC_PRESET (ts/train/presets.ts): MMoE with 8 experts of one dense layer of 16
 * ReLU units, a softmax gate per task; OMoE the same experts with one softmax gate both tasks
 * share; hard sharing with one dense layer of 128 ReLU units (8 × 16, the experts' total width);
 * all with towers of one hidden layer of 8 ReLU units; Adam (lr 1e-3), batch 128. Prints a
 * markdown table: mean ± sample standard deviation over the seeds, and MMoE's advantages
 * (hard − MMoE, OMoE − MMoE) with their spreads over the paired seeds.
 */
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { type BackendName, createBackend } from '../../ts/backends/create.js';
import { makeMmoeSynthetic } from '../../ts/data/mmoe-synthetic.js';
import { MultiTaskModel } from '../../ts/mtl/model.js';
import type { SharingConfig } from '../../ts/mtl/sharing/index.js';
import { MMOE_SYNTHETIC_PRESET } from '../../ts/train/presets.js';
import { Trainer } from '../../ts/train/trainer.js';

const { values } = parseArgs({
  options: {
    rhos: { type: 'string', default: '0.5,0.7,0.9,1' },
    seeds: { type: 'string', default: '5' },
    epochs: { type: 'string' },
    train: { type: 'string' },
    test: { type: 'string' },
    backend: { type: 'string', default: 'cpu' },
    threads: { type: 'string' },
    json: { type: 'string' },
    'hard-units': { type: 'string', default: '128' },
    'expert-units': { type: 'string' },
    kinds: { type: 'string', default: 'hard,omoe,mmoe' },
  },
});

const preset = MMOE_SYNTHETIC_PRESET;
const rhos = values.rhos.split(',').map(Number);
const seeds = Number(values.seeds);
const epochs = values.epochs === undefined ? preset.epochs : Number(values.epochs);
const trainSize = values.train === undefined ? (preset.trainSize ?? 10000) : Number(values.train);
const testSize = values.test === undefined ? (preset.testSize ?? 2000) : Number(values.test);
const expertTrunk = values['expert-units'] === undefined ? preset.trunk : [{ type: 'dense' as const, units: Number(values['expert-units']), activation: 'relu' as const }];
const experts = preset.sharing.kind === 'mmoe' ? (preset.sharing.experts ?? 4) : 8;
const allKinds: { name: string; label: string; sharing: SharingConfig; trunk: typeof preset.trunk }[] = [
  { name: 'hard', label: 'hard sharing', sharing: { kind: 'hard' }, trunk: [{ type: 'dense', units: Number(values['hard-units']), activation: 'relu' }] },
  { name: 'omoe', label: 'OMoE', sharing: { kind: 'omoe', experts }, trunk: expertTrunk },
  { name: 'mmoe', label: 'MMoE', sharing: preset.sharing, trunk: expertTrunk },
];
const kinds = values.kinds.split(',').map((name) => {
  const kind = allKinds.find((k) => k.name === name);
  if (!kind) throw new Error(`--kinds takes ${allKinds.map((k) => k.name).join(', ')}, got ${name}`);
  return kind;
});

const backend = await createBackend(values.backend as BackendName, values.threads ? { threads: Number(values.threads) } : {});
const started = performance.now();
const losses: Record<string, number[][]> = Object.fromEntries(kinds.map((k) => [k.name, rhos.map(() => [] as number[])]));
for (const [r, rho] of rhos.entries()) {
  for (let seed = 1; seed <= seeds; seed++) {
    const data = makeMmoeSynthetic({ rho, n: trainSize + testSize, seed });
    const train = data.slice(0, trainSize);
    const test = data.slice(trainSize, trainSize + testSize);
    for (const kind of kinds) {
      const model = new MultiTaskModel(backend, {
        inputShape: preset.inputShape,
        trunk: kind.trunk,
        heads: preset.heads,
        sharing: kind.sharing,
        tasks: [
          { name: 'y1', kind: 'regression' },
          { name: 'y2', kind: 'regression' },
        ],
        maxBatch: preset.batchSize,
        seed,
      });
      const trainer = new Trainer(model, { optimizer: preset.optimizer, batchSize: preset.batchSize, epochs, seed, progress: false, log: null });
      const history = await trainer.fit(train, { validation: test });
      const v = history.at(-1)?.validation;
      const loss = ((v?.y1?.mse ?? NaN) + (v?.y2?.mse ?? NaN)) / 2;
      losses[kind.name][r].push(loss);
      console.error(`rho ${rho} seed ${seed} ${kind.name}: test MSE ${loss.toFixed(4)} (${((performance.now() - started) / 1000).toFixed(0)} s)`);
    }
  }
}
const seconds = (performance.now() - started) / 1000;

function meanStd(xs: readonly number[]): string {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1)) : 0;
  return `${mean.toFixed(4)} ± ${sd.toFixed(4)}`;
}
// MMoE's advantage over each other kind, paired by seed (when MMoE ran).
const others = losses.mmoe ? kinds.filter((k) => k.name !== 'mmoe') : [];
const row = (cells: readonly (string | number)[]): string => `| ${cells.join(' | ')} |`;
const lines = [
  row(['ρ', ...kinds.map((k) => k.label), ...others.map((k) => `${k.name} − MMoE`)]),
  row(['---', ...kinds.map(() => '---'), ...others.map(() => '---')]),
  ...rhos.map((rho, r) =>
    row([rho, ...kinds.map((k) => meanStd(losses[k.name][r])), ...others.map((k) => meanStd(losses[k.name][r].map((h, i) => h - losses.mmoe[r][i])))]),
  ),
];
console.log(lines.join('\n'));
console.log(`\ntest MSE (mean of y1, y2) after ${epochs} epochs; hard: one layer of ${values['hard-units']} units; OMoE, MMoE: ${experts} experts of ${values['expert-units'] ?? 16}; towers [8]; ${trainSize} training / ${testSize} test samples, ${seeds} seeds, mean ± sd; backend ${backend.name}; ${seconds.toFixed(0)} s`);
if (values.json) fs.writeFileSync(values.json, JSON.stringify({ rhos, seeds, epochs, trainSize, testSize, backend: backend.name, seconds, losses }, null, 2) + '\n');
backend.dispose();
