/** Image inputs: PNG/JPEG decoding, grayscale/RGB, resizing, CHW layout, the schema's image column and its errors. */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import jpeg from 'jpeg-js';
import pngjs from 'pngjs';
import { readCsv } from '../../ts/data/csv.js';
import { ImageReader, decodeImage, fitImageInput } from '../../ts/data/images.js';
import type { ImageInputSpec } from '../../ts/data/images.js';
import { resizeImage } from '../../ts/data/multimnist.js';
import { applySchema, fitSchema } from '../../ts/data/schema.js';
import type { SchemaSpec } from '../../ts/data/schema.js';
import { ConfigError, DatasetError } from '../../ts/errors.js';

/** RGBA bytes of a width × height image whose pixel p has colour rgb(p). */
function rgba(width: number, height: number, rgb: (p: number) => [number, number, number]): Buffer {
  const data = Buffer.alloc(width * height * 4);
  for (let p = 0; p < width * height; p++) {
    const [r, g, b] = rgb(p);
    data.set([r, g, b, 255], 4 * p);
  }
  return data;
}

function png(width: number, height: number, rgb: (p: number) => [number, number, number], colorType: 0 | 2 | 6 = 6): Buffer {
  const image = new pngjs.PNG({ width, height });
  rgba(width, height, rgb).copy(image.data);
  return pngjs.PNG.sync.write(image, { colorType });
}

const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-6): void => {
  assert.equal(a.length, b.length);
  for (let i = 0; i < b.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= tol, `at ${i}: ${a[i]} vs ${b[i]}`);
};

/** A 2 × 3 image: pixel p = (10p, 100 + 10p, 250 − 10p). */
const pixel = (p: number): [number, number, number] => [10 * p, 100 + 10 * p, 250 - 10 * p];
/** Its C × H × W planes / 255. */
const planes = (channels: 1 | 3): number[] => {
  const out: number[] = [];
  if (channels === 1) for (let p = 0; p < 6; p++) out.push((0.299 * pixel(p)[0] + 0.587 * pixel(p)[1] + 0.114 * pixel(p)[2]) / 255);
  else for (let c = 0; c < 3; c++) for (let p = 0; p < 6; p++) out.push(pixel(p)[c] / 255);
  return out;
};

describe('data/images', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'hydranet-images-'));
    mkdirSync(join(dir, 'table', 'img'), { recursive: true });
    writeFileSync(join(dir, 'table', 'img', 'a.png'), png(3, 2, pixel));
    writeFileSync(join(dir, 'table', 'img', 'b.png'), png(3, 2, (p) => pixel(5 - p), 2));
    writeFileSync(join(dir, 'table', 'img', 'junk.png'), 'not an image');
    writeFileSync(join(dir, 'table', 'img', 'cut.png'), png(3, 2, pixel).subarray(0, 30));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('decodes RGB and grayscale PNGs to RGBA', () => {
    const rgb = decodeImage(png(3, 2, pixel), 'a.png');
    assert.deepEqual([rgb.width, rgb.height], [3, 2]);
    assert.deepEqual([...rgb.data.subarray(4, 8)], [10, 110, 240, 255]);
    const gray = decodeImage(png(3, 2, (p) => [40 * p, 40 * p, 40 * p], 0), 'g.png');
    assert.deepEqual([...gray.data.subarray(8, 12)], [80, 80, 80, 255]);
  });

  it('decodes a JPEG (format from the bytes, not the name)', () => {
    const bytes = jpeg.encode({ width: 8, height: 8, data: rgba(8, 8, () => [200, 100, 50]) }, 100).data;
    const image = decodeImage(bytes, 'photo.png');
    assert.deepEqual([image.width, image.height], [8, 8]);
    for (let p = 0; p < 64; p++) {
      [200, 100, 50].forEach((v, c) => assert.ok(Math.abs(image.data[4 * p + c] - v) <= 3, `pixel ${p} channel ${c}: ${image.data[4 * p + c]}`));
    }
  });

  it('lays images out C × H × W in [0, 1], RGB or luma, at an offset', () => {
    for (const channels of [1, 3] as const) {
      const reader = new ImageReader(fitImageInput({ column: 'path', size: [2, 3], channels }, 'spec'));
      assert.equal(reader.featureSize, channels * 6);
      const out = new Float32Array(2 + channels * 6).fill(-1);
      reader.read(join(dir, 'table', 'img', 'a.png'), out, 2);
      assert.deepEqual([...out.subarray(0, 2)], [-1, -1], 'nothing written before the offset');
      close(out.subarray(2), planes(channels));
    }
  });

  it('resizes each channel plane with the MultiMNIST resizer (nearest and bilinear)', () => {
    const image = decodeImage(png(3, 2, pixel), 'a.png');
    for (const resize of ['nearest', 'bilinear'] as const) {
      const reader = new ImageReader(fitImageInput({ column: 'path', size: [3, 2], channels: 3, resize }, 'spec'));
      const out = new Float32Array(18);
      reader.write(image, out, 0);
      const expected = [0, 1, 2].flatMap((c) => [...resizeImage(planes(3).slice(c * 6, c * 6 + 6), 2, 3, 3, 2, resize)]);
      close(out, expected);
    }
    // Nearest picks the pixel under each output centre: 2 × 3 → 1 × 1 is pixel (1, 1).
    const one = new ImageReader(fitImageInput({ column: 'path', size: [1, 1], channels: 3, resize: 'nearest' }, 'spec'));
    const out = new Float32Array(3);
    one.write(image, out, 0);
    close(out, pixel(4).map((v) => v / 255));
    // A constant image stays constant through any resize, up or down.
    const flat = decodeImage(png(5, 4, () => [51, 102, 204]), 'flat.png');
    for (const size of [[2, 2], [9, 7]] as [number, number][]) {
      const reader = new ImageReader(fitImageInput({ column: 'path', size, channels: 3 }, 'spec'));
      const big = new Float32Array(reader.featureSize);
      reader.write(flat, big, 0);
      const n = size[0] * size[1];
      close(big, [...Array(n).fill(0.2), ...Array(n).fill(0.4), ...Array(n).fill(0.8)], 1e-6);
    }
  });

  it('an image column makes a [C, H, W] dataset, paths relative to the table file', async () => {
    const file = join(dir, 'table', 'train.csv');
    writeFileSync(file, 'path,label\nimg/a.png,cat\nimg/b.png,dog\nimg/absent.png,\n');
    const table = await readCsv(file);
    const spec: SchemaSpec = {
      inputs: { images: [{ column: 'path', size: [2, 3], channels: 3 }] },
      tasks: [{ name: 'label', kind: 'classification' }],
    };
    const fitted = fitSchema(table, spec);
    assert.deepEqual(fitted.inputShape, [3, 2, 3]);
    assert.deepEqual(fitted.featureNames, ['path']);
    assert.deepEqual(fitted.inputs, [{ column: 'path', kind: 'image', size: [2, 3], channels: 3, resize: 'bilinear' }]);
    assert.deepEqual(JSON.parse(JSON.stringify(fitted)), fitted, 'the fitted schema survives JSON');
    const { dataset, report } = applySchema(fitted, table);
    assert.deepEqual(dataset.inputShape, [3, 2, 3]);
    assert.equal(dataset.length, 2, 'the unlabelled row is dropped before its (absent) image is read');
    assert.deepEqual(report.dropped, [{ reason: 'no label for any task', count: 1, lines: [4] }]);
    close(dataset.inputs.subarray(0, 18), planes(3));
    const b = [0, 1, 2].flatMap((c) => [5, 4, 3, 2, 1, 0].map((p) => pixel(p)[c] / 255));
    close(dataset.inputs.subarray(18), b);
    assert.deepEqual([...dataset.labels('label')], [0, 1]);
  });

  it('names file, line, column and path when an image is missing, unreadable or undecodable', async () => {
    const file = join(dir, 'table', 'bad.csv');
    writeFileSync(file, 'path,label\nimg/a.png,cat\nimg/b.png,dog\nimg/nope.png,cat\nimg/junk.png,dog\nimg/cut.png,cat\n,dog\n');
    const table = await readCsv(file);
    const fitted = fitSchema(table, { inputs: { images: [{ column: 'path', size: [2, 2], channels: 1 }] }, tasks: [{ name: 'label', kind: 'classification' }] });
    const cases: [number, RegExp][] = [
      [2, /bad\.csv:4: column "path": image "img\/nope\.png": .*nope\.png: cannot read the image: ENOENT/],
      [3, /bad\.csv:5: column "path": image "img\/junk\.png": .*junk\.png: not a PNG or JPEG image/],
      [4, /bad\.csv:6: column "path": image "img\/cut\.png": .*cut\.png: cannot decode as PNG/],
      [5, /bad\.csv:7: column "path": expected an image file path but received/],
    ];
    for (const [row, message] of cases) {
      const one = { ...table, values: table.values.map((cells) => [cells[0], cells[row]]), lines: [table.lines[0], table.lines[row]] };
      assert.throws(() => applySchema(fitted, one), (e: unknown) => e instanceof DatasetError && message.test(e.message));
    }
  });

  it('rejects bad image specs and images beside other inputs', async () => {
    const rows = [{ path: 'a.png', x: '1', label: 'cat' }, { path: 'b.png', x: '2', label: 'dog' }];
    const tasks: SchemaSpec['tasks'] = [{ name: 'label', kind: 'classification' }];
    const image: ImageInputSpec = { column: 'path', size: [2, 2], channels: 3 };
    const bad = (images: unknown, message: RegExp, extra: object = {}, kind: Function = ConfigError): void => {
      assert.throws(() => fitSchema(rows, { inputs: { images: images as ImageInputSpec[], ...extra }, tasks }), (e: unknown) => e instanceof kind && message.test((e as Error).message));
    };
    bad([image], /^schema\.inputs: "images" cannot be combined with "numeric" or "categorical": a model has one input, .*\[C, H, W\] for a convolutional trunk.*Supported: one image column as the only input/, { numeric: ['x'] });
    bad([image], /^schema\.inputs: "images" cannot be combined/, { categorical: ['x'] });
    bad([image, image], /Expected an array of one image input for schema\.inputs\.images/);
    bad([{ ...image, channels: 2 }], /Expected 1 or 3 for schema\.inputs\.images\[0\]\.channels but received 2/);
    bad([{ ...image, size: [0, 2] }], /Expected \[height, width\] .* for schema\.inputs\.images\[0\]\.size/);
    bad([{ ...image, resize: 'cubic' }], /Expected 'bilinear' or 'nearest' for schema\.inputs\.images\[0\]\.resize/);
    bad([{ ...image, colour: true }], /colour/);
    bad([{ ...image, column: 'label' }], /both an input and a label/);
    bad([{ ...image, column: 'file' }], /schema\.inputs\.images\[0\] column "file" is not in the file/, {}, DatasetError);
  });
});
