/**
 * bench/data.ts end to end on a small CSV (--rows 500 --no-peers): every stage is measured,
 * the records are well formed, and bad flags are ConfigErrors naming the flag.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseDataBenchOptions } from '../../bench/data.js';
import { applySchema, fitSchema } from '../../ts/data/schema.js';
import { parseCsv } from '../../ts/data/csv.js';
import { ConfigError } from '../../ts/errors.js';

const SCRIPT = fileURLToPath(new URL('../../bench/data.js', import.meta.url));

describe('bench/data', function () {
  this.timeout(60_000);

  it('runs end to end with --rows 500 --no-peers --json', () => {
    const r = spawnSync(process.execPath, [SCRIPT, '--rows', '500', '--reps', '1', '--no-peers', '--json'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const records = JSON.parse(r.stdout) as { stage: string; system: string; unit: string; median: number; rows: number }[];
    const stages = records.map((x) => `${x.stage}:${x.unit}`);
    for (const s of ['papaparse alone:seconds', 'readTable:seconds', 'readTable:cpu-s', 'fitSchema:seconds', 'fitSchema:cpu-s', 'applySchema:seconds', 'applySchema:cpu-s', 'load:cpu-s', 'load:rows/s', 'predict:rows/s', 'epoch:seconds', 'load/epoch:ratio']) {
      assert.ok(stages.includes(s), `missing ${s} in ${stages.join(', ')}`);
    }
    for (const x of records) {
      assert.equal(x.rows, 500);
      assert.equal(x.system, 'hydranet', 'no peer ran under --no-peers');
      // CPU seconds of a stage on 500 rows may round to 0 (the clock's tick).
      assert.ok(Number.isFinite(x.median) && (x.unit === 'cpu-s' ? x.median >= 0 : x.median > 0), `${x.stage}: ${x.median}`);
    }
    // The whole load does take CPU time, and its stages' CPU seconds (one rep) add up to it.
    const cpu = (stage: string): number => records.find((x) => x.stage === stage && x.unit === 'cpu-s')!.median;
    assert.ok(cpu('load') > 0, `load: ${cpu('load')} CPU seconds`);
    assert.ok(Math.abs(cpu('readTable') + cpu('fitSchema') + cpu('applySchema') - cpu('load')) <= 1e-9, 'the stages add up to the load');
  });

  it('prints the table with the goal check', () => {
    const r = spawnSync(process.execPath, [SCRIPT, '--rows', '200', '--reps', '1', '--no-peers'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /goal check: loading/);
  });

  it("the schema's fast paths (made for this bench) keep the meaning: padded missing markers, blank cells, rows with a prototype, numbers parsed once per missing set", async () => {
    const text = 'x,c,y\n1, NA ,a\n\u00a0?\u00a0,u,b\n3,\t,a\n';
    const table = await parseCsv(text);
    const fitted = fitSchema(table, { tasks: [{ name: 'y', kind: 'classification' }] });
    assert.deepEqual(fitted.featureNames, ['x', 'x:missing', 'c=u', 'c=<missing>', 'c=<unseen>']);
    const { report } = applySchema(fitted, table);
    assert.deepEqual({ ...report.missingInputs }, { c: 2, x: 1 });
    // Rows given in code have Object.prototype: an inherited name is still not a value.
    const rows = [{ toString: 'p', y: 'a' }, { toString: 'q', y: 'b' }];
    const f2 = fitSchema(rows, { inputs: { categorical: ['toString'] }, tasks: [{ name: 'y', kind: 'classification' }] });
    const applied = applySchema(f2, [...rows, { y: 'a' }] as never);
    assert.equal(applied.dataset.length, 3);
    // The third row has no own `toString`: it reads as missing, not as Object.prototype's.
    assert.deepEqual([...applied.dataset.inputs.subarray(8, 12)], [0, 0, 1, 0]);
    assert.throws(() => fitSchema([{ x: ' ', y: 'a' }, { x: 'z', y: 'b' }], { inputs: { numeric: ['x'] }, tasks: [{ name: 'y', kind: 'classification' }] }), /expected a number/);
    // A column's numbers are parsed once per missing set: the same table under other missing texts is parsed again.
    const na = await parseCsv('x,y\n1,a\nNA,b\nunknown,a\n', {}, 'na.csv');
    const tasks = [{ name: 'y', kind: 'classification' as const }];
    assert.throws(() => fitSchema(na, { inputs: { numeric: ['x'] }, tasks }), /na\.csv:4: column "x": expected a number .* "unknown"/);
    const longer = fitSchema(na, { inputs: { numeric: ['x'] }, tasks, missing: ['NA', 'unknown'] });
    assert.deepEqual(longer.inputs[0], { column: 'x', kind: 'numeric', mean: 1, std: 1, indicator: true }, 'a missing text longer than the default ones');
    assert.throws(() => fitSchema(na, { inputs: { numeric: ['x'] }, tasks, missing: ['unknown'] }), /na\.csv:3: column "x": expected a number .* "NA"/);
    assert.equal(applySchema(longer, na).report.missingInputs.x, 2);
  });

  it('rejects unknown and malformed flags, naming them', () => {
    assert.throws(() => parseDataBenchOptions(['--rowz', '5']), (e: Error) => e instanceof ConfigError && /--rowz/.test(e.message));
    assert.throws(() => parseDataBenchOptions(['--rows', 'x']), (e: Error) => e instanceof ConfigError && /--rows/.test(e.message));
    assert.deepEqual(parseDataBenchOptions(['--rows', '500', '--no-peers']), { rows: 500, reps: 3, json: false, peers: false });
    assert.deepEqual(parseDataBenchOptions(['--data-threads', '1']), { rows: 100_000, reps: 3, json: false, peers: true, dataThreads: 1 });
    for (const bad of ['0', '1.5', '257', 'two']) {
      assert.throws(() => parseDataBenchOptions(['--data-threads', bad]), (e: Error) => e instanceof ConfigError && /--data-threads/.test(e.message), bad);
    }
  });
});
