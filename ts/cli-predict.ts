/**
 * `hydranet predict` and `hydranet evaluate`: a model trained with `hydranet train --config`
 * (a run folder or a checkpoint; its fitted schema travels in the checkpoint as
 * model.preprocessing) applied to raw rows of a CSV/TSV/JSON Lines file.
 */
import * as path from 'node:path';
import type { Backend } from './backends/backend.js';
import { BACKEND_NAMES, createBackend } from './backends/create.js';
import { UsageError, int, parseFlags } from './cli-args.js';
import { describeRows } from './cli-config.js';
import { type Cell, type Table, tableColumn } from './data/csv.js';
import { type FittedSchema, type FittedTask, type ReadTableOptions, applySchema, fittedSchemaOf, metricsInOriginalUnits, predictRows, readTable } from './data/schema.js';
import { writeFileAtomic } from './io/files.js';
import { MultiTaskModel } from './mtl/model.js';
import type { Predictions } from './mtl/predict.js';
import type { TaskMetrics } from './train/metrics.js';
import { Trainer } from './train/trainer.js';

const MODEL_FLAGS = `  --model PATH          a run folder (its best.safetensors, else checkpoint.safetensors) or a
                        checkpoint file written by \`hydranet train --config\`
  --data FILE           rows to read: .csv, .tsv/.tab or .jsonl/.ndjson, the training columns
  --format FORMAT       csv | tsv | jsonl, when the file's extension does not say it
  --delimiter CHAR      the CSV field delimiter, e.g. ';' (default ',', a tab for .tsv/.tab;
                        as the training run's data.delimiter)
  --checkpoint WHICH    in a run folder: best (default) or last
  --batch-size N        samples per forward pass (default: the model's maxBatch)
  --backend NAME        ${BACKEND_NAMES.join(' | ')} (default cpu)
  --threads N           worker threads of the cpu backend (default: every core)
  -h, --help            this text`;

/** `hydranet predict --help`. */
export const PREDICT_HELP = `Usage: hydranet predict --model RUN_OR_CHECKPOINT --data FILE --out preds.csv

Runs a trained model on raw rows: the input columns go through the preprocessing stored in the
checkpoint (label columns, if present, are ignored) and one CSV row per input row is written
(atomically), in input order, with per task:
  classification  TASK (the predicted class, from the training labels), TASK:CLASS (probability)
  binary          TASK (probability of 1), TASK:label (when TASK >= 0.5: 1, or the
                  \`positive\` value; else 0, or the one other value seen in training, or
                  not-POSITIVE when there were several)
  multi-label     TASK:LABEL (probability), one per label (or label column)
  regression      TASK (the value, in the label's units also when trained standardised;
                  TASK:0, TASK:1, ... with several outputs)
Prints a summary: rows read, rows dropped, missing inputs, unseen categories.

Options:
  --out FILE            the CSV to write
  --keep COLUMNS        columns of the input file copied first into each row of FILE, as
                        they are (comma-separated, e.g. --keep id: to join the predictions back)
${MODEL_FLAGS}
`;

/** `hydranet evaluate --help`. */
export const EVALUATE_HELP = `Usage: hydranet evaluate --model RUN_OR_CHECKPOINT --data FILE [--json FILE]

Per-task loss and metrics (the task's metrics as trained: accuracy, auc, f1, mse, mae, ...) of a
trained model on labelled rows, preprocessed as in training. A row with no label for any task is
dropped; a missing label masks that task for the row. A regression task trained with
"standardize": true has its mse and mae in the label's own units (mse × std², mae × std); its
loss stays the training loss, on the standardised labels.

Options:
  --json FILE           also write the metrics as JSON { task: { metric: value, count } }
${MODEL_FLAGS}
`;

const FLAGS = {
  model: { type: 'string' },
  data: { type: 'string' },
  format: { type: 'string' },
  delimiter: { type: 'string' },
  checkpoint: { type: 'string' },
  'batch-size': { type: 'string' },
  backend: { type: 'string' },
  threads: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** What the two commands share: the flags checked, the model loaded, the rows read. */
async function withModel<T>(
  values: { model?: string; data?: string; format?: string; delimiter?: string; checkpoint?: string; 'batch-size'?: string; backend?: string; threads?: string },
  command: string,
  body: (model: MultiTaskModel, fitted: FittedSchema, data: () => Promise<Table>) => Promise<T>,
): Promise<T> {
  if (values.model === undefined) throw new UsageError(`${command} needs --model RUN_FOLDER_OR_CHECKPOINT`);
  const file = values.data;
  if (file === undefined) throw new UsageError(`${command} needs --data FILE`);
  const format = values.format;
  if (format !== undefined && format !== 'csv' && format !== 'tsv' && format !== 'jsonl') throw new UsageError(`--format expects csv, tsv or jsonl, got ${JSON.stringify(format)}`);
  if (values.delimiter === '') throw new UsageError('--delimiter expects a character, e.g. ";" (quote it in the shell)');
  const options: ReadTableOptions = { ...(format !== undefined && { format: format as ReadTableOptions['format'] }), ...(values.delimiter !== undefined && { delimiter: values.delimiter }) };
  const which = values.checkpoint ?? 'best';
  if (which !== 'best' && which !== 'last') throw new UsageError(`--checkpoint expects best or last, got ${JSON.stringify(which)}`);
  const batch = values['batch-size'] === undefined ? undefined : int('batch-size', values['batch-size'], 1);
  const threads = values.threads === undefined ? undefined : int('threads', values.threads, 1);
  let backend: Backend | null = null;
  try {
    backend = await createBackend(values.backend ?? 'cpu', { threads });
    const model = await MultiTaskModel.load(backend, values.model, { checkpoint: which, ...(batch !== undefined && { maxBatch: batch }) });
    return await body(model, fittedSchemaOf(model, values.model), () => readTable(file, options));
  } finally {
    backend?.dispose();
  }
}

/** Runs `hydranet predict`; returns the exit status. */
export async function predictCommand(argv: readonly string[]): Promise<number> {
  const values = parseFlags(argv, { ...FLAGS, out: { type: 'string' }, keep: { type: 'string' } });
  if (values.help) {
    process.stdout.write(PREDICT_HELP);
    return 0;
  }
  if (values.out === undefined) throw new UsageError('predict needs --out FILE (the CSV to write)');
  const out = path.resolve(values.out);
  const keep = values.keep === undefined ? [] : values.keep.split(',');
  if (keep.some((c) => c === '')) throw new UsageError(`--keep expects column names separated by commas, got ${JSON.stringify(values.keep)}`);
  return withModel(values, 'predict', async (model, fitted, read) => {
    const table = await read();
    const kept = keep.map((name) => ({ name, cells: tableColumn(table, name) }));
    // predictRows reads no labels and drops no row: prediction i is row i, as --keep's cells are.
    const { predictions, report, length } = await predictRows(model, table);
    writeFileAtomic(out, predictionsCsv(fitted.tasks, predictions, length, kept));
    // Every label is masked at prediction: not worth a word.
    console.log(`${describeRows(table.source, { ...report, masked: {} })}; ${length} predictions written to ${out}`);
    return 0;
  });
}

/** Runs `hydranet evaluate`; returns the exit status. */
export async function evaluateCommand(argv: readonly string[]): Promise<number> {
  const values = parseFlags(argv, { ...FLAGS, json: { type: 'string' } });
  if (values.help) {
    process.stdout.write(EVALUATE_HELP);
    return 0;
  }
  const json = values.json === undefined ? undefined : path.resolve(values.json);
  return withModel(values, 'evaluate', async (model, fitted, read) => {
    const table = await read();
    const { dataset, report } = applySchema(fitted, table, { labels: 'required' });
    console.log(describeRows(table.source, report));
    // evaluate() lives on the Trainer; these options are never used to train.
    const trainer = new Trainer(model, { optimizer: { kind: 'sgd', lr: 0 }, batchSize: model.maxBatch, epochs: 1, progress: false, log: null });
    // Standardised regression tasks: mse and mae in the labels' units, loss as trained.
    const metrics = metricsInOriginalUnits(fitted, await trainer.evaluate(dataset));
    for (const line of formatMetrics(metrics)) console.log(line);
    if (json !== undefined) writeFileAtomic(json, `${JSON.stringify(metrics, null, 2)}\n`);
    return 0;
  });
}

/** One line per task: "task: metric value, ... (n labelled)". */
export function formatMetrics(metrics: Record<string, TaskMetrics>): string[] {
  return Object.entries(metrics).map(([task, m]) => {
    const parts = Object.entries(m)
      .filter(([k]) => k !== 'count')
      .map(([k, v]) => `${k} ${typeof v === 'number' ? v.toFixed(4) : String(v)}`);
    return `${task}: ${parts.join(', ')} (${m.count} labelled)`;
  });
}

/** The header of a task's output columns and a writer of one sample's cells. */
function taskColumns(task: FittedTask, outputs: number): { header: string[]; cells: (p: Float32Array, i: number) => string[] } {
  const at = (p: Float32Array, i: number): Float32Array => p.subarray(i * outputs, (i + 1) * outputs);
  switch (task.kind) {
    case 'classification': {
      const classes = task.vocabulary ?? Array.from({ length: outputs }, (_, c) => String(c));
      return {
        header: [task.name, ...classes.map((c) => `${task.name}:${c}`)],
        cells: (p, i) => {
          const row = at(p, i);
          let best = 0;
          for (let c = 1; c < outputs; c++) if (row[c] > row[best]) best = c;
          return [classes[best], ...Array.from(row, number)];
        },
      };
    }
    case 'binary': {
      const [yes, no] = binaryLabels(task);
      return { header: [task.name, `${task.name}:label`], cells: (p, i) => [number(p[i]), p[i] >= 0.5 ? yes : no] };
    }
    case 'multi-label': {
      const labels = task.vocabulary ?? task.columns;
      return { header: labels.map((l) => `${task.name}:${l}`), cells: (p, i) => Array.from(at(p, i), number) };
    }
    case 'regression':
      return {
        header: outputs === 1 ? [task.name] : Array.from({ length: outputs }, (_, k) => `${task.name}:${k}`),
        cells: (p, i) => Array.from(at(p, i), number),
      };
  }
}

/**
 * The labels a binary task's predictions are written with, [for 1, for 0]: with `positive`, the
 * positive value and the other value seen in training when there was exactly one, else
 * `not-<positive>` (as fitSchema stored it in `negative`); without, '1' and '0'.
 */
function binaryLabels(task: FittedTask): [string, string] {
  if (task.positive === undefined) return ['1', '0'];
  return [String(task.positive), task.negative ?? `not-${String(task.positive)}`];
}

/**
 * The predictions as CSV text: a header, then one line per sample; the `kept` columns (cells of
 * the input rows, one per sample: `--keep`) first, as they are (a missing cell empty). A kept
 * column named as an output column is a UsageError.
 */
export function predictionsCsv(tasks: readonly FittedTask[], predictions: Predictions, n: number, kept: readonly { name: string; cells: readonly Cell[] }[] = []): string {
  const columns = tasks.map((t) => {
    const p = predictions[t.name];
    return { p, ...taskColumns(t, n > 0 ? p.length / n : 1) };
  });
  const header = [...kept.map((k) => k.name), ...columns.flatMap((c) => c.header)];
  const clash = header.find((h, i) => header.indexOf(h) !== i);
  if (clash !== undefined) throw new UsageError(`--keep ${JSON.stringify(clash)}: the predictions have a column of that name (or it is kept twice)`);
  const lines = [header.map(csvField).join(',')];
  for (let i = 0; i < n; i++) lines.push([...kept.map((k) => String(k.cells[i] ?? '')), ...columns.flatMap((c) => c.cells(c.p, i))].map(csvField).join(','));
  return `${lines.join('\n')}\n`;
}

/** A value with 7 significant digits, without trailing zeros. */
function number(x: number): string {
  return String(Number(x.toPrecision(7)));
}

/** A CSV field, quoted when it holds a comma, a quote or a line break. */
function csvField(s: string): string {
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}
