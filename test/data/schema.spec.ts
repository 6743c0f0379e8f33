/** The column schema: fitting on training rows, standardising, one-hot, missing values, labels, masks, errors. */
import assert from 'node:assert/strict';
import { parseCsv, pickRows, readCsv, tableColumn } from '../../ts/data/csv.js';
import type { Cell, Row, Table } from '../../ts/data/csv.js';
import { readJsonl } from '../../ts/data/jsonl.js';
import { applySchema, fitSchema, metricsInOriginalUnits, predictRows, toOriginalUnits } from '../../ts/data/schema.js';
import { ReferenceBackend } from '../../ts/backends/reference.js';
import { MultiTaskModel } from '../../ts/mtl/model.js';
import { Trainer } from '../../ts/train/trainer.js';
import type { JsonValue } from '../../ts/mtl/model.js';
import type { FittedSchema } from '../../ts/data/schema.js';
import { ConfigError, DatasetError, ValueError } from '../../ts/errors.js';
import { fixture } from './fixtures/paths.js';

const close = (a: ArrayLike<number>, b: number[]): void => {
  assert.equal(a.length, b.length);
  for (let i = 0; i < b.length; i++) assert.ok(Math.abs(a[i] - b[i]) < 1e-6, `at ${i}: ${a[i]} vs ${b[i]}`);
};

/** A copy of `table` with row r's cell of `column` replaced. */
function withCell(table: Table, r: number, column: string, value: Cell): Table {
  const c = table.columns.indexOf(column);
  return { ...table, values: table.values.map((cells, j) => (j === c ? cells.map((v, i) => (i === r ? value : v)) : cells)) };
}

/** The message of the DatasetError `f` throws; 'no error' when it throws none. */
function message(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof DatasetError);
    return e.message;
  }
  return 'no error';
}

describe('data/schema', () => {
  it('infers inputs, standardises numeric columns, one-hots categorical ones, and handles missing values', async () => {
    const table = await readCsv(fixture('people.csv'));
    const fitted = fitSchema(table, {
      tasks: [
        { name: 'income', kind: 'classification' },
        { name: 'tags', kind: 'multi-label' },
      ],
    });
    // age: 25, 35, missing, 45 → mean 35, std sqrt(200/3); score: 1.5, missing, 2.5, 3.5 → mean 2.5.
    assert.deepEqual(fitted.featureNames, [
      'age', 'age:missing', 'city=Lyon, FR', 'city=Nice', 'city=Paris', 'city=<missing>', 'city=<unseen>', 'score', 'score:missing',
    ]);
    const age = fitted.inputs[0];
    assert.ok(age.kind === 'numeric');
    assert.equal(age.mean, 35);
    close([age.std], [Math.sqrt(200 / 3)]);
    assert.deepEqual(fitted.tasks[0].vocabulary, ['high', 'low']);
    assert.deepEqual(fitted.tasks[1].vocabulary, ['a', 'b', 'c']);
    assert.deepEqual(JSON.parse(JSON.stringify(fitted)), fitted, 'the fitted schema survives JSON');

    const { dataset, report } = applySchema(fitted, table);
    assert.equal(dataset.length, 4);
    assert.deepEqual(dataset.inputShape, [9]);
    const s = Math.sqrt(200 / 3);
    const ss = Math.sqrt(2 / 3);
    close(dataset.inputs.subarray(0, 18), [
      -10 / s, 0, 0, 0, 1, 0, 0, -1 / ss, 0,
      0, 0, 1, 0, 0, 0, 0, 0, 1,
    ]);
    close(dataset.inputs.subarray(18, 27), [0, 1, 0, 0, 1, 0, 0, 0, 0]);
    assert.deepEqual([...dataset.labels('income')], [0, 1, 0, 0]);
    assert.deepEqual([...dataset.mask('income')!], [1, 1, 0, 1]);
    assert.deepEqual([...dataset.labels('tags')], [1, 1, 0, 0, 1, 0, 0, 0, 1, 1, 0, 1]);
    assert.equal(dataset.mask('tags'), null, 'every sample has tags');
    // The counts have no prototype (a column may be called "toString"): compare their entries.
    const plain = { ...report, missingInputs: { ...report.missingInputs }, unseen: { ...report.unseen }, masked: { ...report.masked } };
    assert.deepEqual(plain, {
      rowsRead: 4, rowsKept: 4, dropped: [], missingInputs: { age: 1, score: 1 }, unseen: {}, masked: { income: 1, tags: 0 },
    });
  });

  it('counts missing values of a column named like an Object.prototype member', () => {
    const rows = [{ toString: '1', y: '0' }, { toString: '', y: '1' }, { toString: '3', y: '1' }];
    const fitted = fitSchema(rows, { inputs: { numeric: ['toString'] }, tasks: [{ name: 'y', kind: 'binary' }] });
    assert.equal(applySchema(fitted, rows).report.missingInputs.toString, 1);
  });

  it('gives unseen categories their own slot and missing numbers the training mean at transform time', () => {
    const train: Row[] = [{ x: '1', c: 'a', y: '3.5' }, { x: '3', c: 'b', y: '1' }];
    const fitted = fitSchema(train, { inputs: { numeric: ['x'], categorical: ['c'] }, tasks: [{ name: 'y', kind: 'regression' }] });
    assert.deepEqual(fitted.featureNames, ['x', 'c=a', 'c=b', 'c=<missing>', 'c=<unseen>']);
    const { dataset, report } = applySchema(fitted, [{ x: 'NA', c: 'z', y: '2' }, { x: '5', c: '?', y: '-1e3' }]);
    close(dataset.inputs, [0, 0, 0, 0, 1, 3, 0, 0, 1, 0]);
    assert.deepEqual([...dataset.labels('y')], [2, -1000]);
    assert.deepEqual({ ...report.unseen }, { c: 1 });
    assert.deepEqual({ ...report.missingInputs }, { x: 1, c: 1 });
  });

  it('reads binary labels as 0/1, true/false or a positive value, and integer classes in numeric order', async () => {
    const table = await readJsonl(fixture('people.jsonl'));
    const fitted = fitSchema(table, {
      inputs: { exclude: ['rating'] },
      tasks: [{ name: 'clicked', kind: 'binary' }, { name: 'rating', kind: 'regression' }],
    });
    assert.deepEqual(fitted.featureNames, ['age', 'age:missing', 'city=Lyon', 'city=Paris', 'city=<missing>', 'city=<unseen>']);
    const { dataset } = applySchema(fitted, table);
    assert.deepEqual([...dataset.labels('clicked')], [1, 0, 0]);
    assert.deepEqual([...dataset.mask('clicked')!], [1, 1, 0]);
    assert.deepEqual([...dataset.mask('rating')!], [1, 0, 1], 'a key a row lacks is a missing label');

    const rows: Row[] = [{ f: 1, k: '10', b: 'yes' }, { f: 2, k: '9', b: 'no' }, { f: 3, k: '2', b: 'maybe' }];
    const f2 = fitSchema(rows, { tasks: [{ name: 'k', kind: 'classification' }, { name: 'b', kind: 'binary', positive: 'yes' }] });
    assert.deepEqual(f2.tasks[0].vocabulary, ['2', '9', '10']);
    const d2 = applySchema(f2, rows).dataset;
    assert.deepEqual([...d2.labels('k')], [2, 1, 0]);
    assert.deepEqual([...d2.labels('b')], [1, 0, 0]);
  });

  it('reads multi-label tasks from several 0/1 columns', () => {
    const rows: Row[] = [{ x: 1, l1: '1', l2: 'false' }, { x: 2, l1: '0', l2: 'true' }, { x: 3, l1: '1', l2: '' }];
    const fitted = fitSchema(rows, { tasks: [{ name: 'tags', kind: 'multi-label', columns: ['l1', 'l2'] }] });
    assert.deepEqual(fitted.featureNames, ['x']);
    const { dataset } = applySchema(fitted, rows, { labels: 'optional' });
    assert.equal(dataset.labelWidth('tags'), 2);
    assert.deepEqual([...dataset.labels('tags')], [1, 0, 0, 1, 0, 0]);
    assert.deepEqual([...dataset.mask('tags')!], [1, 1, 0]);
  });

  it('drops rows without any label when labels are required, and reads unlabelled rows with labels none/optional', () => {
    const train: Row[] = [{ x: '1', y: 'a' }, { x: '2', y: 'b' }];
    const fitted = fitSchema(train, { tasks: [{ name: 'y', kind: 'classification' }] });
    const rows: Row[] = [{ x: '1', y: 'a' }, { x: '7', y: '' }, { x: '3', y: 'b' }];
    const r = applySchema(fitted, rows);
    assert.equal(r.dataset.length, 2);
    close(r.dataset.inputs, [-1, 3]);
    assert.deepEqual(r.report.dropped, [{ reason: 'no label for any task', count: 1, lines: [2] }]);
    assert.equal(r.report.rowsKept, 2);
    const none = applySchema(fitted, [{ x: '2' }], { labels: 'none' });
    assert.equal(none.dataset.length, 1);
    assert.deepEqual([...none.dataset.mask('y')!], [0]);
    assert.equal(applySchema(fitted, [{ x: '2' }], { labels: 'optional' }).report.masked.y, 1);
    assert.throws(() => applySchema(fitted, [{ x: '2' }]), (e: Error) => e instanceof DatasetError && /label column "y" is not in the file/.test(e.message));
  });

  it('names file, line and column for bad values and labels outside the vocabulary', async () => {
    const table = await readCsv(fixture('people.csv'));
    const fitted = fitSchema(table, { inputs: { numeric: ['age'] }, tasks: [{ name: 'income', kind: 'classification' }] });
    const bad = withCell(table, 1, 'age', 'old');
    assert.throws(() => applySchema(fitted, bad), (e: Error) => e instanceof DatasetError && /people\.csv:3: column "age": expected a number .* "old"/.test(e.message));
    assert.throws(() => fitSchema(bad, { inputs: { numeric: ['age'] }, tasks: [{ name: 'income', kind: 'classification' }] }), /people\.csv:3: column "age"/);
    const unknown = withCell(table, 3, 'income', 'medium');
    assert.throws(() => applySchema(fitted, unknown), (e: Error) => e instanceof DatasetError && /people\.csv:5: column "income": label "medium" of task "income" is not one of its training classes \(high, low\)/.test(e.message));
    const flags: Row[] = [{ x: 1, b: '1' }, { x: 2, b: '0' }];
    const fb = fitSchema(flags, { tasks: [{ name: 'b', kind: 'binary' }] });
    assert.throws(() => applySchema(fb, [{ x: 1, b: 'yes' }]), (e: Error) => e instanceof DatasetError && /<rows>:1: column "b": expected 0\/1 or true\/false/.test(e.message));
  });

  it('rejects unknown columns, unknown keys and inconsistent specs', async () => {
    const table = await readCsv(fixture('people.csv'));
    const tasks = [{ name: 'income', kind: 'classification' as const }];
    assert.throws(() => fitSchema(table, { inputs: { numeric: ['agee'] }, tasks }), (e: Error) => e instanceof DatasetError && /people\.csv: .*column "agee" is not in the file/.test(e.message));
    assert.throws(() => fitSchema(table, { tasks: [{ name: 'salary', kind: 'regression' }] }), (e: Error) => e instanceof DatasetError && /"salary"/.test(e.message));
    assert.throws(() => fitSchema(table, { tasks, input: {} } as never), (e: Error) => e instanceof ConfigError && /did you mean "inputs"/.test(e.message));
    assert.throws(() => fitSchema(table, { tasks: [{ name: 'income', kind: 'classification', positive: 'high' }] }), /positive applies only to binary/);
    assert.throws(() => fitSchema(table, { tasks: [{ name: 'income', kind: 'ordinal' as never }] }), ConfigError);
    assert.throws(() => fitSchema(table, { inputs: { numeric: ['income'] }, tasks }), /both an input and a label/);
    assert.throws(() => applySchema({ version: 2 } as unknown as FittedSchema, table), ConfigError);
    assert.throws(() => fitSchema({ source: 'old.csv', columns: ['a'], rows: [{ a: '1' }], lines: [2] } as never, { tasks }), (e: Error) => e instanceof ConfigError && /one array of cells per column/.test(e.message));
    assert.throws(() => applySchema(fitSchema(table, { tasks }), table, { labels: 'some' as never }), ConfigError);
  });

  it('names the other binary label: the one other training value, else not-<positive>', () => {
    const two: Row[] = [{ x: 1, b: 'yes' }, { x: 2, b: ' no' }, { x: 3, b: '' }, { x: 4, b: 'no' }];
    assert.equal(fitSchema(two, { tasks: [{ name: 'b', kind: 'binary', positive: 'yes' }] }).tasks[0].negative, 'no');
    const three: Row[] = [...two, { x: 5, b: 'maybe' }];
    assert.equal(fitSchema(three, { tasks: [{ name: 'b', kind: 'binary', positive: 'yes' }] }).tasks[0].negative, 'not-yes');
    const flags: Row[] = [{ x: 1, b: 1 }, { x: 2, b: 0 }];
    assert.equal(fitSchema(flags, { tasks: [{ name: 'b', kind: 'binary', positive: 1 }] }).tasks[0].negative, '0', 'a JSON number compares as its text');
    assert.equal(fitSchema(flags, { tasks: [{ name: 'b', kind: 'binary' }] }).tasks[0].negative, undefined);
  });

  it('standardises a regression label with mean 1000 and std 50: trains on z-scores, predicts and scores in the original units', async () => {
    // y = 1000 + 50·z with z the standardised x: the label's training mean is 1000 and its population std 50, exactly.
    const n = 64;
    const xs = Array.from({ length: n }, (_, i) => i - (n - 1) / 2);
    const sd = Math.sqrt(xs.reduce((a, x) => a + x * x, 0) / n);
    const rows: Row[] = xs.map((x) => ({ x: String(x), y: String(1000 + (50 * x) / sd) }));
    const fitted = fitSchema(rows, { tasks: [{ name: 'y', kind: 'regression', standardize: true }] });
    const st = fitted.tasks[0].standardize!;
    close([st.mean, st.std], [1000, 50]);
    const { dataset } = applySchema(fitted, rows);
    close(dataset.labels('y'), xs.map((x) => x / sd));
    assert.throws(() => fitSchema(rows, { tasks: [{ name: 'y', kind: 'regression', standardize: 'yes' as never }] }), (e: Error) => e instanceof ConfigError && /Expected true or false for schema\.tasks\[0\]\.standardize/.test(e.message));
    assert.throws(() => fitSchema([{ x: 1, y: '1' }, { x: 2, y: '0' }], { tasks: [{ name: 'y', kind: 'binary', standardize: true }] }), /standardize applies only to regression/);

    const model = new MultiTaskModel(new ReferenceBackend(), {
      inputShape: [1], trunk: [{ type: 'dense', units: 8, activation: 'tanh' }], tasks: [{ name: 'y', kind: 'regression' }], maxBatch: 16, seed: 3,
    });
    model.preprocessing = fitted as unknown as JsonValue;
    const trainer = new Trainer(model, { optimizer: { kind: 'adamw', lr: 0.05 }, batchSize: 16, epochs: 40, seed: 1, progress: false, log: null });
    await trainer.fit(dataset);
    const fresh: Row[] = [{ x: '-10' }, { x: '0.5' }, { x: '12' }];
    const { predictions, length } = await predictRows(model, fresh);
    assert.equal(length, 3);
    for (let i = 0; i < fresh.length; i++) {
      const want = 1000 + (50 * Number(fresh[i].x)) / sd;
      assert.ok(Math.abs(predictions.y[i] - want) < 10, `x ${fresh[i].x}: predicted ${predictions.y[i]}, want ${want} (in the label's units)`);
    }
    // evaluate's mse and mae, in the label's units, equal those of the original-unit predictions.
    const metrics = metricsInOriginalUnits(fitted, await trainer.evaluate(dataset));
    const p = toOriginalUnits(fitted, await model.predict(dataset)).y;
    const ys = rows.map((r) => Number(r.y));
    const mse = ys.reduce((a, y, i) => a + (p[i] - y) ** 2, 0) / n;
    const mae = ys.reduce((a, y, i) => a + Math.abs(p[i] - y), 0) / n;
    assert.ok(Math.abs(metrics.y.mse! - mse) <= 1e-3 * mse, `mse ${metrics.y.mse} vs ${mse}`);
    assert.ok(Math.abs(metrics.y.mae! - mae) <= 1e-3 * mae, `mae ${metrics.y.mae} vs ${mae}`);
    assert.ok(mae < 10, `trained: mae ${mae}`);
  });

  it('gives the same schema, dataset and report from what the CSV reader keeps (codes, numbers) as from the same cells given in code', async () => {
    // n: 6000 distinct numbers (kept as numbers), some missing; c: a category with a missing
    // text and a padded one; z: numeric-looking texts used as categories ('1.50' is not '1.5');
    // y: the label, missing on some rows.
    const n = 6000;
    const rows = Array.from({ length: n }, (_, i) => ({
      n: i % 97 === 0 ? 'NA' : ((i * 7919) % 10007 / 16 - 300).toFixed(i % 4),
      c: i % 50 === 0 ? '?' : i % 31 === 0 ? ' b ' : `v${i % 7}`,
      z: ['1.50', '1.5', '2', '007', '7'][i % 5],
      y: i % 101 === 0 ? '' : String(i % 3),
    }));
    const text = `n,c,z,y\n${rows.map((r) => `${r.n},${r.c},${r.z},${r.y}`).join('\n')}\n`;
    const spec = { inputs: { numeric: ['n'], categorical: ['c', 'z'], encoding: { z: 'embedding:4' as const } }, tasks: [{ name: 'y', kind: 'classification' as const }] };
    // Training on the first 4000 rows picked from the table; the rest has unseen texts.
    const train = Array.from({ length: 4000 }, (_, i) => i);
    const inCode: Table = { source: 'code', columns: ['n', 'c', 'z', 'y'], values: (['n', 'c', 'z', 'y'] as const).map((k) => rows.map((r) => r[k])), lines: rows.map((_, i) => i + 2) };
    const read = await parseCsv(text, {}, 'code');
    const heldOut = rows.map((r, i) => (i >= 4000 && i % 13 === 0 ? { ...r, c: 'new', z: '1.500' } : r));
    const readHeldOut = await parseCsv(`n,c,z,y\n${heldOut.map((r) => `${r.n},${r.c},${r.z},${r.y}`).join('\n')}\n`, {}, 'code');
    const codeHeldOut: Table = { ...inCode, values: (['n', 'c', 'z', 'y'] as const).map((k) => heldOut.map((r) => r[k])) };
    const fitted = fitSchema(pickRows(read, train), spec);
    assert.deepEqual(fitted, fitSchema(pickRows(inCode, train), spec));
    assert.deepEqual((fitted.inputs[2] as { vocabulary: string[] }).vocabulary, ['1.50', '1.5', '2', '007', '7'], 'exact texts, in numeric order, equal numbers as the rows show them');
    const reversed = [...train].reverse();
    assert.deepEqual(fitSchema(pickRows(read, reversed), spec), fitSchema(pickRows(inCode, reversed), spec), 'rows picked in another order');
    assert.deepEqual((fitSchema(pickRows(read, reversed), spec).inputs[2] as { vocabulary: string[] }).vocabulary, ['1.5', '1.50', '2', '7', '007']);
    assert.deepEqual((fitted.inputs[1] as { vocabulary: string[] }).vocabulary, ['b', 'v0', 'v1', 'v2', 'v3', 'v4', 'v5', 'v6']);
    for (const [a, b] of [[readHeldOut, codeHeldOut], [pickRows(readHeldOut, [5999, 4004, 3, 4000]), pickRows(codeHeldOut, [5999, 4004, 3, 4000])]]) {
      const fast = applySchema(fitted, a);
      const plain = applySchema(fitted, b);
      assert.deepEqual(fast.report, plain.report);
      assert.deepEqual(fast.dataset.inputs, plain.dataset.inputs);
      assert.deepEqual(fast.dataset.labels('y'), plain.dataset.labels('y'));
      assert.deepEqual(fast.dataset.mask('y'), plain.dataset.mask('y'));
    }
    assert.ok(applySchema(fitted, readHeldOut).report.unseen.c > 0 && applySchema(fitted, readHeldOut).report.unseen.z > 0);
    // A non-numeric text in the numeric column is still named by file, line and column, and the column read as numbers keeps its texts.
    const bad = await parseCsv(text.replace(`\n${rows[1].n},`, '\nx1,'), {}, 'bad.csv');
    assert.throws(() => applySchema(fitted, bad), (e: Error) => e instanceof DatasetError && /^bad\.csv:3: column "n": expected a number .* "x1"/.test(e.message));
    assert.equal(tableColumn(bad, 'n')[1], 'x1');
    // Inferred, such a column is categorical; with only missing texts beside its numbers, numeric.
    const infer = { tasks: [{ name: 'y', kind: 'classification' as const }], inputs: { exclude: ['c', 'z'] } };
    assert.equal(fitSchema(await parseCsv(text.replace(`\n${rows[1].n},`, '\nx1,'), {}, 'bad.csv'), infer).inputs[0].kind, 'categorical');
    assert.equal(fitSchema(await parseCsv(text.replace(`\n${rows[1].n},`, '\n?,'), {}, 'bad.csv'), infer).inputs[0].kind, 'numeric');
  });

  it('reads every kind of label, and numbers with a numeric missing text, from dictionary codes as from the same cells given in code', async () => {
    // Labels of every kind, read one distinct text at a time from the reader's codes; g: a numeric
    // input of few values whose missing text is a number (-999); h: inferred categorical.
    const n = 300;
    const rows = Array.from({ length: n }, (_, i) => ({
      g: i % 17 === 0 ? '-999' : i % 23 === 0 ? '' : String(i % 6),
      h: `k${i % 4}`,
      cls: i % 29 === 0 ? 'NA' : ['a', 'b', ' c '][i % 3],
      bin: i % 31 === 0 ? '?' : ['1', 'true', '0', 'FALSE'][i % 4],
      pos: i % 47 === 0 ? '' : ['yes', 'no', 'maybe'][i % 3],
      reg: i % 37 === 0 ? '' : String((i % 9) * 1.5),
      m1: String(i % 2),
      m2: i % 41 === 0 ? '' : String((i >> 1) % 2),
      tags: i % 43 === 0 ? '' : ['x|y', 'y', ' z | x '][i % 3],
    }));
    const columns = Object.keys(rows[0]) as (keyof (typeof rows)[0])[];
    const csv = (rs: typeof rows): string => `${columns.join(',')}\n${rs.map((r) => columns.map((k) => r[k]).join(',')).join('\n')}\n`;
    const inCode = (rs: typeof rows): Table => ({ source: 'l.csv', columns, values: columns.map((k) => rs.map((r) => r[k])), lines: rs.map((_, i) => i + 2) });
    const spec = {
      inputs: { numeric: ['g'], exclude: [] as string[] },
      tasks: [
        { name: 'cls', kind: 'classification' as const },
        { name: 'bin', kind: 'binary' as const },
        { name: 'pos', kind: 'binary' as const, positive: 'yes' },
        { name: 'reg', kind: 'regression' as const, standardize: true },
        { name: 'm', kind: 'multi-label' as const, columns: ['m1', 'm2'] },
        { name: 'tags', kind: 'multi-label' as const },
      ],
      missing: ['', '?', 'NA', '-999'],
    };
    const read = await parseCsv(csv(rows), {}, 'l.csv');
    const fitted = fitSchema(read, spec);
    assert.deepEqual(fitted, fitSchema(inCode(rows), spec));
    assert.deepEqual(fitted.tasks.map((t) => t.vocabulary ?? t.width), [['a', 'b', 'c'], 1, 1, 1, 2, ['x', 'y', 'z']]);
    assert.equal((fitted.inputs[0] as { indicator: boolean }).indicator, true, '-999 is missing');
    const inferred = fitSchema(read, { tasks: spec.tasks, missing: spec.missing, inputs: { exclude: ['g'] } });
    assert.deepEqual(inferred, fitSchema(inCode(rows), { tasks: spec.tasks, missing: spec.missing, inputs: { exclude: ['g'] } }));
    assert.equal(inferred.inputs[0].kind, 'categorical');
    const fast = applySchema(fitted, read);
    const plain = applySchema(fitted, inCode(rows));
    assert.deepEqual(fast.report, plain.report);
    assert.deepEqual(fast.dataset.inputs, plain.dataset.inputs);
    for (const t of fitted.tasks) {
      assert.deepEqual(fast.dataset.labels(t.name), plain.dataset.labels(t.name), t.name);
      assert.deepEqual(fast.dataset.mask(t.name), plain.dataset.mask(t.name), t.name);
    }
    assert.ok(Object.values(fast.report.masked).every((m) => m > 0), JSON.stringify(fast.report.masked));
    // A bad value of each kind on rows 150 and 250: the same error, naming the first one's line.
    for (const [column, value] of [['cls', 'd'], ['bin', '2'], ['reg', 'x'], ['m2', 'yes'], ['tags', 'x|w'], ['g', 'seven']] as const) {
      const bad = rows.map((r, i) => (i === 150 || i === 250 ? { ...r, [column]: value } : r));
      const want = message(() => applySchema(fitted, inCode(bad)));
      assert.match(want, new RegExp(`^l\\.csv:152: column "${column}": `));
      const badRead = await parseCsv(csv(bad), {}, 'l.csv');
      assert.equal(message(() => applySchema(fitted, badRead)), want, column);
    }
  });

  it('agrees with a row-by-row reading of labels and inputs: kept rows, masks, counts, and which bad label is named', async () => {
    // Row by row, as applySchema read rows before it read labels a column at a time: per row, per
    // task, a missing cell in any of its columns masks the task, else a cell that cannot be read
    // is an error (the first row, then the first task and column, is named).
    const n = 400;
    const rows = Array.from({ length: n }, (_, i) => ({
      x: i % 11 === 0 ? '' : String(((i * 37) % 101) / 4),
      c: i % 13 === 0 ? 'NA' : `c${(i * 7) % 5}`,
      e: `e${i % 23}`,
      a: i % 5 === 0 ? '' : ['p', 'q', 'r'][i % 3],
      b: i % 7 === 0 ? '?' : String(i % 2),
      m1: i % 9 === 0 ? '' : String((i >> 2) % 2),
      m2: String((i >> 3) % 2),
    }));
    const columns = Object.keys(rows[0]) as (keyof (typeof rows)[0])[];
    const csv = (rs: readonly Record<string, string>[]): string => `${columns.join(',')}\n${rs.map((r) => columns.map((k) => r[k]).join(',')).join('\n')}\n`;
    const spec = {
      inputs: { numeric: ['x'], categorical: ['c', 'e'], encoding: { e: 'embedding:3' as const } },
      tasks: [{ name: 'a', kind: 'classification' as const }, { name: 'b', kind: 'binary' as const }, { name: 'm', kind: 'multi-label' as const, columns: ['m1', 'm2'] }],
    };
    const fitted = fitSchema(await parseCsv(csv(rows), {}, 'r.csv'), spec);
    const missing = new Set(['', '?', 'NA']);
    const reference = (rs: readonly Record<string, string>[], mode: 'required' | 'optional'): { inputs: number[]; labels: number[][]; masks: number[][]; dropped: number; counts?: number[]; error?: string } => {
      const kept: number[] = [];
      const labels: number[][] = [[], [], []];
      const masks: number[][] = [[], [], []];
      for (let r = 0; r < rs.length; r++) {
        const row = rs[r];
        const read: (number[] | null)[] = [];
        for (const t of fitted.tasks) {
          if (t.columns.some((c) => missing.has(row[c]))) { read.push(null); continue; }
          const values = t.columns.map((c) => (t.kind === 'classification' ? t.vocabulary!.indexOf(row[c]) : ['0', '1'].indexOf(row[c])));
          const j = values.indexOf(-1);
          if (j >= 0) return { inputs: [], labels, masks, dropped: 0, error: `r.csv:${r + 2}: column "${t.columns[j]}": ` };
          read.push(values);
        }
        if (mode === 'required' && read.every((v) => v === null)) continue;
        kept.push(r);
        read.forEach((v, ti) => { labels[ti].push(...(v ?? fitted.tasks[ti].columns.map(() => 0))); masks[ti].push(v === null ? 0 : 1); });
      }
      const inputs: number[] = [];
      const [xi, ci, ei] = fitted.inputs as unknown as [{ mean: number; std: number }, { vocabulary: string[] }, { vocabulary: string[] }];
      for (const r of kept) {
        const row = rs[r];
        inputs.push(row.x === '' ? 0 : Math.fround((Number(row.x) - xi.mean) / xi.std), row.x === '' ? 1 : 0);
        const onehot = new Array<number>(ci.vocabulary.length + 2).fill(0);
        onehot[missing.has(row.c) ? ci.vocabulary.length : ci.vocabulary.includes(row.c) ? ci.vocabulary.indexOf(row.c) : ci.vocabulary.length + 1] = 1;
        inputs.push(...onehot, ei.vocabulary.includes(row.e) ? ei.vocabulary.indexOf(row.e) : ei.vocabulary.length + 1);
      }
      const count = (test: (row: Record<string, string>) => boolean): number => kept.filter((r) => test(rs[r])).length;
      const counts = [count((row) => row.x === ''), count((row) => missing.has(row.c)), count((row) => !missing.has(row.c) && !ci.vocabulary.includes(row.c)), count((row) => !ei.vocabulary.includes(row.e))];
      return { inputs, labels, masks, dropped: rs.length - kept.length, counts };
    };
    const unseen = rows.map((r, i) => (i % 17 === 0 ? { ...r, c: 'c9', e: 'e99' } : r));
    const noLabels = unseen.map((r, i) => (i % 3 === 0 ? { ...r, a: '', b: 'NA', m2: '' } : r));
    // Bad labels: in a row whose task also has a missing cell (not an error), in a later task before an earlier one, in the second column.
    const bad = (cells: [number, string, string][]): Record<string, string>[] => noLabels.map((r, i) => cells.reduce((row, [at, k, v]) => (at === i ? { ...row, [k]: v } : row), r));
    const cases = [
      unseen, noLabels,
      bad([[9, 'm1', '5'], [20, 'b', 'yes'], [30, 'a', 'z']]),
      bad([[20, 'a', 'z'], [20, 'b', 'yes']]),
      bad([[21, 'm2', '3'], [21, 'm1', '4'], [40, 'a', 'z']]),
      bad([[21, 'm2', '3'], [250, 'a', 'z']]),
    ];
    for (const [i, rs] of cases.entries()) {
      for (const mode of ['required', 'optional'] as const) {
        const want = reference(rs, mode);
        for (const table of [await parseCsv(csv(rs), {}, 'r.csv'), { source: 'r.csv', columns, values: columns.map((k) => rs.map((r) => r[k])), lines: rs.map((_, r) => r + 2) }]) {
          if (want.error !== undefined) {
            assert.ok(message(() => applySchema(fitted, table, { labels: mode })).startsWith(want.error), `case ${i} ${mode}: ${want.error}`);
            continue;
          }
          const { dataset, report } = applySchema(fitted, table, { labels: mode });
          assert.deepEqual([...dataset.inputs], want.inputs, `case ${i} ${mode}`);
          fitted.tasks.forEach((t, ti) => {
            assert.deepEqual([...dataset.labels(t.name)], want.labels[ti], `case ${i} ${mode} ${t.name}`);
            assert.deepEqual([...(dataset.mask(t.name) ?? new Uint8Array(dataset.length).fill(1))], want.masks[ti], `case ${i} ${mode} ${t.name} mask`);
            assert.equal(report.masked[t.name], want.masks[ti].filter((m) => m === 0).length);
          });
          assert.equal(report.rowsRead - report.rowsKept, want.dropped);
          assert.deepEqual([report.missingInputs.x, report.missingInputs.c, report.unseen.c ?? 0, report.unseen.e ?? 0], want.counts);
        }
      }
      if (i === 1) assert.ok(reference(rs, 'required').dropped > 0);
    }
  });

  it('rejects a standardised input that float32 cannot hold, though the dataset trusts applySchema\'s inputs to be finite', () => {
    const fitted = fitSchema([{ x: 1, y: 0 }, { x: 1 + 1e-10, y: 1 }], { inputs: { numeric: ['x'] }, tasks: [{ name: 'y', kind: 'binary' }] });
    assert.ok(applySchema(fitted, [{ x: 1e20, y: 0 }]).dataset.inputs.every(Number.isFinite));
    assert.throws(() => applySchema(fitted, [{ x: 1, y: 0 }, { x: 1e30, y: 0 }]), (e: Error) => e instanceof ValueError && /finite inputs .* sample 1, feature 0/.test(e.message));
  });
});
