#!/usr/bin/env node
/**
 * Real data for `hydranet train --config`: scikit-learn's bundled data sets (BSD-3-Clause
 * copies of UCI data sets; no data is committed here) turned into multi-task CSVs, as a user
 * would: a header row of names, the labels as columns, a seeded 80/20 split into train.csv and
 * test.csv (the held-out rows, for `hydranet evaluate`).
 *
 *   node examples/sklearn-data/make-data.mjs [SKLEARN_DATA_DIR]
 *
 * SKLEARN_DATA_DIR is scikit-learn's sklearn/datasets/data folder: by default the Debian package's
 * (`apt-get install python3-sklearn`: /usr/lib/python3/dist-packages/sklearn/datasets/data), else
 * the one `python3 -c "import sklearn"` finds (`pip install scikit-learn`). The files' quirks, handled
 * here: iris.csv, wine_data.csv and breast_cancer.csv open with a count line
 * ("150,4,setosa,versicolor,virginica"), not a header; the linnerud files are whitespace-separated;
 * the diabetes files are whitespace-separated and gzip, the target in a file of its own.
 *
 * Writes, in this folder: iris/ (species: classification; petal width: regression), wine/
 * (cultivar: classification; alcohol: regression), breast_cancer/ (diagnosis: binary; worst
 * concave points: regression, the other "worst" columns left out), linnerud/ (Chins, Situps,
 * Jumps: three regressions from Weight, Waist, Pulse; 20 rows), diabetes/ (progression:
 * regression; sex: binary), digits/ (digit: classification; odd: binary), each beside its run.json.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';

const OUT = path.dirname(fileURLToPath(import.meta.url));
const DEBIAN = '/usr/lib/python3/dist-packages/sklearn/datasets/data';
function sklearnData() {
  if (process.argv[2]) return process.argv[2];
  if (existsSync(DEBIAN)) return DEBIAN;
  try {
    const dir = execFileSync('python3', ['-c', 'import os, sklearn; print(os.path.dirname(sklearn.__file__))'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return path.join(dir, 'datasets', 'data');
  } catch {
    console.error('scikit-learn not found: apt-get install python3-sklearn, or pip install scikit-learn, or give its datasets/data folder');
    process.exit(2);
  }
}
const SRC = sklearnData();
if (!existsSync(path.join(SRC, 'iris.csv'))) {
  console.error(`${SRC}: not scikit-learn's datasets/data folder (no iris.csv there)`);
  process.exit(2);
}
const text = (f) => f.endsWith('.gz') ? gunzipSync(readFileSync(`${SRC}/${f}`)).toString('utf8') : readFileSync(`${SRC}/${f}`, 'utf8');
const lines = (s) => s.split(/\r?\n/).filter((l) => l.trim() !== '');
// mulberry32: the seeded shuffle of the held-out test split
function rng(seed) { return () => { seed |= 0; seed = (seed + 0x6d2b79f5) | 0; let t = Math.imul(seed ^ (seed >>> 15), 1 | seed); t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t; return ((t ^ (t >>> 14)) >>> 0) / 4294967296; }; }
const field = (s) => /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
function write(name, header, rows) {
  mkdirSync(`${OUT}/${name}`, { recursive: true });
  const r = rng(20260101); const order = rows.map((_, i) => i);
  for (let i = order.length - 1; i > 0; i--) { const j = Math.floor(r() * (i + 1)); [order[i], order[j]] = [order[j], order[i]]; }
  const nTest = Math.round(rows.length * 0.2);
  const test = new Set(order.slice(0, nTest));
  const csv = (rs) => [header.map(field).join(','), ...rs.map((row) => row.map((v) => field(String(v))).join(','))].join('\n') + '\n';
  writeFileSync(`${OUT}/${name}/train.csv`, csv(rows.filter((_, i) => !test.has(i))));
  writeFileSync(`${OUT}/${name}/test.csv`, csv(rows.filter((_, i) => test.has(i))));
  console.log(`${name}: ${rows.length} rows (${rows.length - nTest} train, ${nTest} test), ${header.length} columns`);
}
// iris: the first line "150,4,setosa,versicolor,virginica" is a count line, not a header
{
  const [, ...body] = lines(text('iris.csv'));
  const species = ['setosa', 'versicolor', 'virginica'];
  write('iris', ['sepal length (cm)', 'sepal width (cm)', 'petal length (cm)', 'petal width (cm)', 'species'],
    body.map((l) => { const v = l.split(','); return [...v.slice(0, 4), species[+v[4]]]; }));
}
// wine: class + alcohol
{
  const [, ...body] = lines(text('wine_data.csv'));
  const names = ['alcohol', 'malic_acid', 'ash', 'alcalinity_of_ash', 'magnesium', 'total_phenols', 'flavanoids', 'nonflavanoid_phenols', 'proanthocyanins', 'color_intensity', 'hue', 'od280/od315_of_diluted_wines', 'proline'];
  write('wine', [...names, 'cultivar'], body.map((l) => { const v = l.split(','); return [...v.slice(0, 13), `class_${v[13]}`]; }));
}
// breast cancer: diagnosis + the "worst" columns as targets
{
  const [, ...body] = lines(text('breast_cancer.csv'));
  const base = ['radius', 'texture', 'perimeter', 'area', 'smoothness', 'compactness', 'concavity', 'concave points', 'symmetry', 'fractal dimension'];
  const names = [...base.map((b) => `mean ${b}`), ...base.map((b) => `${b} error`), ...base.map((b) => `worst ${b}`)];
  write('breast_cancer', [...names, 'diagnosis'], body.map((l) => { const v = l.split(','); return [...v.slice(0, 30), v[30] === '0' ? 'malignant' : 'benign']; }));
}
// linnerud: two whitespace-separated files, 20 rows each, joined by row
{
  const ex = lines(text('linnerud_exercise.csv')).map((l) => l.trim().split(/\s+/));
  const ph = lines(text('linnerud_physiological.csv')).map((l) => l.trim().split(/\s+/));
  write('linnerud', [...ph[0], ...ex[0]], ph.slice(1).map((r, i) => [...r, ...ex[i + 1]]));
}
// diabetes: space-separated, gzip, target in a second file
{
  const X = lines(text('diabetes_data_raw.csv.gz')).map((l) => l.trim().split(/\s+/));
  const y = lines(text('diabetes_target.csv.gz')).map((l) => String(Number(l.trim())));
  write('diabetes', ['age', 'sex', 'bmi', 'bp', 's1', 's2', 's3', 's4', 's5', 's6', 'progression'], X.map((r, i) => [...r, y[i]]));
}
// digits: 64 pixels + digit; parity derived
{
  const rows = lines(text('digits.csv.gz')).map((l) => l.split(','));
  const header = [...Array.from({ length: 64 }, (_, k) => `pixel_${Math.floor(k / 8)}_${k % 8}`), 'digit', 'odd'];
  write('digits', header, rows.map((v) => [...v.slice(0, 64), v[64], Number(v[64]) % 2]));
}
