/**
 * examples/backend-only runs as a project that depends on hydranet would run it: copied into a
 * temporary folder whose node_modules/hydranet links to this repository (what
 * `npm install` makes of its `"hydranet": "file:../.."`), so `import ... from 'hydranet'`
 * resolves through package.json's `exports` to the built dist/ts. Run on every backend that
 * can run here; a backend that cannot (exit 2, BackendUnavailableError) is reported as skipped.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const example = join(root, 'examples/backend-only');

/** The two task losses of every printed step, in order. */
function lossLines(stdout: string): { ce: number; mse: number }[] {
  return [...stdout.matchAll(/^step +\d+ +softmax-ce ([\d.eE+-]+|NaN) +mse ([\d.eE+-]+|NaN)$/gm)].map((m) => ({ ce: Number(m[1]), mse: Number(m[2]) }));
}

describe('examples/backend-only (the Backend on its own)', function () {
  let dir = '';
  before(function () {
    dir = mkdtempSync(join(tmpdir(), 'hydranet-example-'));
    copyFileSync(join(example, 'index.mjs'), join(dir, 'index.mjs'));
    copyFileSync(join(example, 'package.json'), join(dir, 'package.json'));
    mkdirSync(join(dir, 'node_modules'));
    symlinkSync(root, join(dir, 'node_modules/hydranet'), 'dir');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('uses only createBackend and the kernels, and depends on hydranet as a consumer would', function () {
    const source = readFileSync(join(example, 'index.mjs'), 'utf8');
    const imports = [...source.matchAll(/^import\s*\{([^}]*)\}\s*from\s*'([^']+)'/gm)];
    assert.deepEqual(imports.map((m) => m[2]), ['hydranet'], 'the example imports hydranet, and only by its package name');
    const names = imports[0][1].split(',').map((n) => n.trim()).filter(Boolean);
    const allowed = new Set(['createBackend', 'HeadLayout', 'LossLayout', 'Rng', 'ShapeError', 'ValueError', 'BackendUnavailableError']);
    assert.deepEqual(names.filter((n) => !allowed.has(n)), [], 'the example uses only createBackend, the layouts and the error classes');
    for (const kernel of ['gemm', 'headsForward', 'headsBackward', 'multiLoss', 'activationBackward', 'biasGrad', 'adamwStep', 'read', 'free', 'dispose']) {
      assert.match(source, new RegExp(`backend\\.${kernel}\\(`), `the example never calls backend.${kernel}`);
    }
    const pkg = JSON.parse(readFileSync(join(example, 'package.json'), 'utf8'));
    assert.equal(pkg.dependencies?.hydranet, 'file:../..');
  });

  for (const backend of ['reference', 'cpu', 'webgpu']) {
    it(`trains on ${backend}: both task losses fall, errors are typed`, function () {
      const run = spawnSync(process.execPath, ['index.mjs', backend, '100'], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
      if (run.status === 2 && /is not available here/.test(run.stderr)) {
        console.log(`      skipped: ${run.stderr.trim()}`);
        this.skip();
      }
      assert.equal(run.status, 0, `the example failed on ${backend}:\n${run.stdout}\n${run.stderr}`);
      const losses = lossLines(run.stdout);
      assert.ok(losses.length >= 3, `expected at least 3 loss lines, got:\n${run.stdout}`);
      const first = losses[0];
      const last = losses[losses.length - 1];
      assert.ok(last.ce < first.ce / 4, `softmax-ce did not fall: ${first.ce} → ${last.ce}`);
      assert.ok(last.mse < first.mse / 4, `mse did not fall: ${first.mse} → ${last.mse}`);
      assert.match(run.stdout, /shape checked first: ShapeError/);
      assert.match(run.stdout, /use after free refused: ValueError/);
    });
  }
});
