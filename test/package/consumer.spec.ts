/**
 * hydranet as a dependency of another project (issue 14). The package is packed once: the
 * prepack script (the native build brought up to date, prebuilds/<platform>-<arch>/ filled),
 * then `npm pack --ignore-scripts` (`npm test` compiled the TypeScript just before, so the
 * "prepare" step's second tsc run is skipped). Its file list is checked, and it is installed
 * into two fresh temporary projects at the same time:
 *  (a) with the toolchain, forcing a source build (HYDRANET_BUILD_FROM_SOURCE=1); HYDRANET_CUDA=OFF
 *      keeps that build to the cpu addon (the repository's own `npm ci` builds the CUDA addon
 *      through the same script), and the package's prebuilt addons are removed afterwards, so
 *      the consumers can only run on what was compiled;
 *  (b) with a PATH that holds only node and sh (no cmake, compiler, make or nvcc): the prebuilt
 *      addon is used, nothing is compiled.
 * In each, an ESM consumer (fixtures/consumer/esm.mjs) and a TypeScript consumer
 * (fixtures/consumer/train.mts: type-checked by the repository's TypeScript against the
 * installed declarations, strict, NodeNext; it trains two epochs, checkpoints and reloads) run
 * on the cpu backend. Finally (b) loses its prebuilt addon: the install step prints the one
 * message naming what is missing and succeeds, and createBackend('cpu') throws
 * BackendUnavailableError with the same guidance.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { packageRoot } from '../../ts/backends/native.js';

const root = packageRoot();
const fixture = path.join(root, 'test', 'package', 'fixtures', 'consumer');
const platform = `${process.platform}-${process.arch}`;
const manifest = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  main: string;
  types: string;
  bin: Record<string, string>;
  exports: unknown;
  files: string[];
  scripts: Record<string, string>;
};

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end without blocking the event loop (so the two installs overlap). */
function run(command: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function ok(r: Ran, what: string): Ran {
  assert.equal(r.code, 0, `${what} failed (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  return r;
}

/**
 * This process's environment without what `npm test` added (npm_config_local_prefix and the
 * rest would point the consumer's npm at this repository; the cache and registry are kept) or
 * hydranet's own switches.
 */
function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^(npm_|INIT_CWD$|HYDRANET_)/i.test(key) || /^npm_config_(cache|registry)$/i.test(key)) env[key] = value;
  }
  return { ...env, ...extra };
}

/** npm's own entry, run with this node (so it works under a PATH without npm on it). */
const npmCli = (() => {
  const found = spawnSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).stdout.trim();
  assert.ok(found, 'npm is not on PATH');
  return path.join(path.dirname(realpathSync(found)), 'npm-cli.js');
})();
const npm = (args: string[], cwd: string, env?: NodeJS.ProcessEnv) => run(process.execPath, [npmCli, ...args], { cwd, env });
const INSTALL = ['install', '--prefer-offline', '--no-audit', '--no-fund', '--foreground-scripts'];

/** A fresh consumer project (the fixture's package.json, esm.mjs and train.mts) in `dir`. */
function consumerProject(dir: string): string {
  const app = path.join(dir, 'app');
  cpSync(fixture, app, { recursive: true });
  writeFileSync(
    path.join(app, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        noUncheckedIndexedAccess: true,
        outDir: 'out',
        types: ['node'],
        typeRoots: [path.join(root, 'node_modules', '@types')],
      },
      files: ['train.mts'],
    }),
  );
  return app;
}

interface Consumers {
  esm: { backend: string; c: number[] };
  ts: { backend: string; epochs: number; losses: Record<string, number>[]; parameters: number };
}

/** Runs both consumers of `app` (the TypeScript one type-checked and compiled first) with `env`. */
async function runConsumers(app: string, env: NodeJS.ProcessEnv): Promise<Consumers> {
  const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  ok(await run(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: app }), 'type-checking the TypeScript consumer');
  const esm = ok(await run(process.execPath, ['esm.mjs'], { cwd: app, env }), 'the ESM consumer');
  const ts = ok(await run(process.execPath, [path.join('out', 'train.mjs')], { cwd: app, env }), 'the TypeScript consumer');
  const last = (r: Ran) => JSON.parse(r.stdout.trim().split('\n').at(-1)!) as unknown;
  return { esm: last(esm) as Consumers['esm'], ts: last(ts) as Consumers['ts'] };
}

/** Every relative path `package.json` names for consumers: main, types, bin and exports. */
function namedPaths(): string[] {
  const fromExports = (value: unknown): string[] =>
    typeof value === 'string' ? [value] : value && typeof value === 'object' ? Object.values(value).flatMap(fromExports) : [];
  return [manifest.main, manifest.types, ...Object.values(manifest.bin), ...fromExports(manifest.exports)].map((p) => path.posix.normalize(p));
}

describe('package: hydranet installed as a dependency of another project', function () {
  this.timeout(600_000);
  let work = '';
  let tarball = '';
  let packed: string[] = [];
  let sizes = { size: 0, unpackedSize: 0 };
  let withToolchain: Promise<{ app: string; install: Ran; consumers: Consumers }>;
  let withoutCompiler: Promise<{ app: string; bin: string; install: Ran; consumers: Consumers }>;

  before(async function () {
    work = mkdtempSync(path.join(tmpdir(), 'hydranet-package-'));
    ok(await run(process.execPath, [path.join(root, 'scripts', 'prepack.mjs')], { cwd: root }), 'the prepack script');
    const pack = ok(await npm(['pack', '--ignore-scripts', '--json', '--pack-destination', work], root), 'npm pack');
    const [info] = JSON.parse(pack.stdout) as { filename: string; size: number; unpackedSize: number; files: { path: string }[] }[];
    tarball = path.join(work, info!.filename);
    packed = info!.files.map((f) => f.path);
    sizes = info!;
    console.log(`      packed ${info!.filename}: ${(info!.size / 1e6).toFixed(2)} MB, unpacked ${(info!.unpackedSize / 1e6).toFixed(2)} MB, ${packed.length} files`);

    withToolchain = (async () => {
      const app = consumerProject(path.join(work, 'toolchain'));
      const install = ok(await npm([...INSTALL, tarball], app, cleanEnv({ HYDRANET_BUILD_FROM_SOURCE: '1', HYDRANET_CUDA: 'OFF' })), 'npm install (toolchain)');
      rmSync(path.join(app, 'node_modules', 'hydranet', 'prebuilds'), { recursive: true });
      return { app, install, consumers: await runConsumers(app, cleanEnv()) };
    })();
    withoutCompiler = (async () => {
      const dir = path.join(work, 'no-compiler');
      const bin = path.join(dir, 'bin');
      mkdirSync(bin, { recursive: true });
      const sh = spawnSync('sh', ['-c', 'command -v sh'], { encoding: 'utf8' }).stdout.trim();
      symlinkSync(process.execPath, path.join(bin, 'node'));
      symlinkSync(sh, path.join(bin, 'sh'));
      const app = consumerProject(dir);
      const env = cleanEnv({ PATH: bin });
      const install = ok(await npm([...INSTALL, tarball], app, env), 'npm install (no compiler)');
      return { app, bin, install, consumers: await runConsumers(app, env) };
    })();
    // Neither rejects unobserved while the other is awaited; each test reports its own failure.
    withToolchain.catch(() => undefined);
    withoutCompiler.catch(() => undefined);
  });

  after(function () {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('packs only what a consumer needs: no tests, bench, build intermediates or TypeScript sources', function () {
    const unwanted = packed.filter(
      (p) => /^(test|bench|build|build-gyp|dist\/test|dist\/bench|runs|node_modules|examples)\//.test(p) || (/\.ts$/.test(p) && !/\.d\.ts$/.test(p)) || /\.map$/.test(p),
    );
    assert.deepEqual(unwanted, []);
    const cmake = readFileSync(path.join(root, 'CMakeLists.txt'), 'utf8');
    const nativeSources = [...cmake.matchAll(/^\s*(native\/\S+\.(?:cc|cu))\s*$/gm)].map((m) => m[1]!);
    assert.ok(nativeSources.length > 20, `CMakeLists.txt lists ${nativeSources.length} sources`);
    const shaders = readdirSync(path.join(root, 'shaders'), { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.wgsl'))
      .map((f) => `shaders/${f}`);
    const scripts = [...manifest.scripts.install!.matchAll(/scripts\/\S+\.mjs/g)].map((m) => m[0]);
    assert.deepEqual(scripts, ['scripts/install.mjs']);
    const needed = [
      'package.json',
      'dist/ts/index.js',
      'dist/ts/index.d.ts',
      'CMakeLists.txt',
      'native/layouts.h',
      ...nativeSources,
      ...shaders,
      'scripts/install.mjs',
      'scripts/build-native.mjs',
      'scripts/toolchain.mjs',
      ...(platform === 'linux-x64' ? [`prebuilds/${platform}/hydranet_cpu.node`] : []),
      ...(existsSync(path.join(root, 'build', 'Release', 'hydranet_cuda.node')) ? [`prebuilds/${platform}/hydranet_cuda.node`] : []),
    ];
    assert.deepEqual(needed.filter((p) => !packed.includes(p)), []);
    assert.ok(sizes.size > 0 && sizes.unpackedSize > sizes.size);
  });

  it('has main, types, exports, bin and files that agree with what is packed', function () {
    assert.deepEqual(namedPaths().filter((p) => !packed.includes(p)), []);
    assert.equal(manifest.types, (manifest.exports as Record<string, { types: string }>)['.']!.types.replace(/^\.\//, ''));
    assert.equal(manifest.main, (manifest.exports as Record<string, { import: string }>)['.']!.import.replace(/^\.\//, ''));
    for (const entry of manifest.files.filter((f) => !f.startsWith('!'))) {
      assert.ok(packed.some((p) => p === entry || p.startsWith(`${entry}/`)), `"files" names ${entry}, which packs nothing`);
    }
  });

  it('ships a prebuilt cpu addon without CPU-specific compiler flags (its ISA is chosen at run time)', function () {
    const code = (file: string) =>
      readFileSync(path.join(root, file), 'utf8')
        .split('\n')
        .filter((line) => !/^\s*(#|\/\/)/.test(line))
        .join('\n');
    for (const file of ['CMakeLists.txt', 'binding.gyp']) assert.doesNotMatch(code(file), /-march=|-mtune=native|-mavx|-mfma/, file);
  });

  it('(a) with the toolchain: builds the cpu addon from source, without downloading headers, and consumers train on it', async function () {
    const { app, install, consumers } = await withToolchain;
    assert.match(install.stdout, /hydranet: building the native addon from source \(HYDRANET_BUILD_FROM_SOURCE is set\)/);
    const pkg = path.join(app, 'node_modules', 'hydranet');
    assert.ok(existsSync(path.join(pkg, 'build', 'Release', 'hydranet_cpu.node')));
    assert.ok(!existsSync(path.join(pkg, 'build', 'Release', 'hydranet_cuda.node')), 'HYDRANET_CUDA=OFF builds no CUDA addon');
    // Node-API headers from the npm package node-api-headers: cmake-js fetched nothing.
    const inc = /^CMAKE_JS_INC:\w+=(.*)$/m.exec(readFileSync(path.join(pkg, 'build', 'CMakeCache.txt'), 'utf8'))?.[1] ?? '';
    assert.match(inc, /node_modules\/node-api-headers\/include/);
    assert.doesNotMatch(inc, /\.cmake-js/);
    assert.deepEqual(consumers.esm, { backend: 'cpu', c: [4.5, 0, 10.5, 0] });
    assert.equal(consumers.ts.backend, 'cpu');
    assert.equal(consumers.ts.epochs, 2);
  });

  it('(b) without a compiler on PATH: uses the prebuilt addon, compiles nothing, and consumers train on it', async function () {
    const { app, bin, install, consumers } = await withoutCompiler;
    assert.deepEqual(readdirSync(bin).sort(), ['node', 'sh'], 'PATH holds only node and sh');
    assert.match(install.stdout, new RegExp(`hydranet: using the prebuilt native addon \\(prebuilds/${platform}/hydranet_cpu\\.node`));
    const pkg = path.join(app, 'node_modules', 'hydranet');
    assert.ok(!existsSync(path.join(pkg, 'build')) && !existsSync(path.join(pkg, 'build-gyp')), 'nothing was compiled');
    assert.deepEqual(consumers.esm, { backend: 'cpu', c: [4.5, 0, 10.5, 0] });
    assert.equal(consumers.ts.epochs, 2);
  });

  it('(b) with neither a prebuilt addon nor a toolchain: one message at install, BackendUnavailableError with the fix at use', async function () {
    const { app, bin } = await withoutCompiler;
    const pkg = path.join(app, 'node_modules', 'hydranet');
    renameSync(path.join(pkg, 'prebuilds'), path.join(pkg, 'prebuilds.away'));
    const env = cleanEnv({ PATH: bin });
    const rebuild = ok(await npm(['rebuild', 'hydranet', '--foreground-scripts'], app, env), 'npm rebuild without prebuilt or toolchain');
    const fix = /apt-get install cmake g\+\+ make/;
    assert.match(rebuild.stderr, /hydranet: the native cpu addon is not installed: no prebuilt addon loads on .*missing: cmake, a C\+\+17 compiler \(g\+\+ or clang\+\+\), make \(or ninja\)/s);
    assert.match(rebuild.stderr, fix);
    assert.match(rebuild.stderr, /'reference' and 'webgpu' backends work without/);

    const forced = await run(process.execPath, [path.join(pkg, 'scripts', 'install.mjs')], { cwd: pkg, env: cleanEnv({ PATH: bin, HYDRANET_BUILD_FROM_SOURCE: '1' }) });
    assert.equal(forced.code, 1, 'a source build that was asked for and cannot run fails the install');

    const esm = await run(process.execPath, ['esm.mjs'], { cwd: app, env });
    assert.notEqual(esm.code, 0);
    assert.match(esm.stderr, /BackendUnavailableError: The cpu backend's native addon could not be loaded/);
    assert.match(esm.stderr, /prebuilds\/.*hydranet_cpu\.node \(prebuilt\): not in this package/);
    assert.match(esm.stderr, fix);
  });
});

