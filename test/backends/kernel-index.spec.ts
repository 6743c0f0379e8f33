/**
 * KERNELS.md, the kernel index, must stay true (in the spirit of build-files.spec.ts): every
 * file it names exists, every WGSL entry point it names is defined in its row's shader, every
 * Backend method is listed (a kernel row, or the tensor and device methods), every export of
 * both native addons is listed, every kernel row's test calls the kernel, and both addons export
 * every kernel under its name. An addon's exports are the entries its sources register
 * (`const Export<entry> export_entry("name", count);`, native/napi_registry.h), each name once; where
 * the addon is built, loading it must give exactly those exports.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ReferenceBackend } from '../../ts/backends/reference.js';

/** The repository root: this spec runs as dist/test/backends/kernel-index.spec.js. */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** One row of the index: the kernel and, per column, the `code spans` of its cell. */
interface Row {
  kernel: string;
  cells: Record<string, string[]>;
}

const COLUMNS = ['reference', 'cpu', 'cuda', 'wgsl', 'launcher', 'test'];

function spans(cell: string): string[] {
  return [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]);
}

function parseIndex(text: string): Row[] {
  const lines = text.split('\n').filter((l) => l.startsWith('|'));
  const header = lines[0].split('|').slice(1, -1).map((c) => c.trim());
  assert.deepEqual(header, ['kernel', ...COLUMNS], 'KERNELS.md table header');
  return lines.slice(2).map((line) => {
    const cells = line.split('|').slice(1, -1);
    const [kernel] = spans(cells[0]);
    return { kernel, cells: Object.fromEntries(COLUMNS.map((c, i) => [c, spans(cells[i + 1])])) };
  });
}

/** The sources of each native addon (relative to the root), and the file it is built into. */
const ADDONS = {
  cpu: { dirs: ['native', 'native/cpu'], ext: /\.cc$/, built: 'build/Release/hydranet_cpu.node' },
  cuda: { dirs: ['native/cuda'], ext: /\.(cc|cu)$/, built: 'build/Release/hydranet_cuda.node' },
};

/** Names the sources of an addon register: `Export<entry> export_entry("name"[, count])` (napi_registry.h). */
function registeredExports(root: string, addon: keyof typeof ADDONS): string[] {
  const { dirs, ext } = ADDONS[addon];
  const files = dirs.flatMap((d) => readdirSync(path.join(root, d)).filter((f) => ext.test(f)).map((f) => path.join(root, d, f)));
  return files.flatMap((f) => [...readFileSync(f, 'utf8').matchAll(/\bExport<[^;]*>\s+\w+\("(\w+)"(?:, \d+)?\);/g)].map((m) => m[1]));
}

/** Every method of the Backend contract, as the reference backend implements it (the prototype chain). */
function backendMethods(): string[] {
  const names = new Set<string>();
  for (let p = ReferenceBackend.prototype; p && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
    for (const name of Object.getOwnPropertyNames(p)) {
      const d = Object.getOwnPropertyDescriptor(p, name);
      if (name !== 'constructor' && typeof d?.value === 'function') names.add(name);
    }
  }
  // Protected helpers of the base classes are not part of the contract.
  for (const helper of ['host', 'unwrap', 'opt']) names.delete(helper);
  return [...names];
}

describe('kernel index (KERNELS.md)', () => {
  const root = ROOT;
  const text = readFileSync(path.join(root, 'KERNELS.md'), 'utf8');
  const rows = parseIndex(text);
  const kernels = new Set(rows.map((r) => r.kernel));
  const notKernels = text.slice(text.indexOf('Not kernels:'));
  const listedOutside = new Set(spans(notKernels.slice(0, notKernels.indexOf('##'))));

  it('names files that exist', () => {
    for (const row of rows) {
      for (const c of COLUMNS) {
        const files = row.cells[c].filter((s) => s.includes('/'));
        assert.ok(files.length > 0, `${row.kernel}: no ${c} file`);
        for (const f of files) assert.ok(existsSync(path.join(root, f)), `${row.kernel}: ${f} does not exist`);
      }
    }
  });

  it('names WGSL entry points that its shaders define', () => {
    for (const row of rows) {
      let file = '';
      for (const s of row.cells.wgsl) {
        if (s.includes('/')) file = readFileSync(path.join(root, s), 'utf8');
        else assert.match(file, new RegExp(`\\bfn ${s}\\(`), `${row.kernel}: ${s} is not an entry point of its shader`);
      }
    }
  });

  it('names cpu functions and cuda launchers that their files define', () => {
    for (const row of rows) {
      for (const c of ['cpu', 'cuda']) {
        let file = '';
        for (const s of row.cells[c]) {
          if (s.includes('/')) file = readFileSync(path.join(root, s), 'utf8');
          else assert.match(file, new RegExp(`^(?:void|int64_t|cudaError_t) ${s}\\(`, 'm'), `${row.kernel}: ${s} is not defined in its ${c} file`);
        }
      }
    }
  });

  it('lists every Backend method', () => {
    for (const name of backendMethods()) {
      assert.ok(kernels.has(name) || listedOutside.has(name), `Backend.${name} is not in KERNELS.md`);
    }
  });

  it('lists every export of both native addons, and both export every kernel once', () => {
    for (const addon of ['cpu', 'cuda'] as const) {
      const exported = registeredExports(root, addon);
      for (const name of exported) assert.ok(kernels.has(name) || listedOutside.has(name), `the ${addon} addon exports ${name}, not in KERNELS.md`);
      for (const k of kernels) assert.ok(exported.includes(k), `the ${addon} addon does not export the kernel ${k}`);
      assert.equal(new Set(exported).size, exported.length, `the ${addon} addon registers a name twice`);
    }
  });

  it('built addons export exactly what their sources register', function () {
    const require = createRequire(import.meta.url);
    const built = (['cpu', 'cuda'] as const).filter((a) => existsSync(path.join(root, ADDONS[a].built)));
    if (built.length === 0) this.skip();
    for (const addon of built) {
      const exports = Object.keys(require(path.join(root, ADDONS[addon].built)) as object).sort();
      assert.deepEqual(exports, [...registeredExports(root, addon)].sort(), `${ADDONS[addon].built}`);
    }
  });

  it("names a test that calls each kernel", () => {
    for (const row of rows) {
      for (const f of row.cells.test) {
        assert.match(readFileSync(path.join(root, f), 'utf8'), new RegExp(`\\.${row.kernel}\\(`), `${f} does not call ${row.kernel}`);
      }
    }
  });
});
